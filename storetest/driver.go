package storetest

import (
	"slices"
	"testing"

	"github.com/radmark/radmark"
)

// TestFailingRecord checks the per-record fallback: s must refuse to index
// the instance with SOP Instance UID poison at the database level (drivers
// install a trigger). The other records of its batch are still indexed;
// alone, it makes PutInstances fail as a whole, with nothing indexed.
func TestFailingRecord(t *testing.T, s radmark.ArchiveStore, poison radmark.UID) {
	t.Helper()
	recs := []*radmark.InstanceRecord{
		Record("1.1", "1.1.1", "1.1.1.1", "v1"),
		Record("1.1", "1.1.1", poison, "v1"),
		Record("1.1", "1.1.2", "1.1.2.1", "v1"),
	}
	res := put(t, s, radmark.PutOptions{}, recs...)
	if got := statuses(res); !slices.Equal(got, []string{"stored", "error:internal", "stored"}) {
		t.Fatalf("statuses = %v, want stored, error:internal, stored", got)
	}
	checkCounts(t, s, 1, 2, 2)
	CheckInvariants(t, s)

	res, err := s.PutInstances(t.Context(), recs[1:2], radmark.PutOptions{})
	if err == nil {
		t.Errorf("PutInstances of the failing record alone = %v, want an error", statuses(res))
	}
	checkCounts(t, s, 1, 2, 2)
}

// TestPatientCleanup checks that patients left without studies (after a
// replace moved their last instance away, or their study changed patient)
// are removed. countPatients reads the driver's patient table.
func TestPatientCleanup(t *testing.T, s radmark.ArchiveStore, countPatients func() int) {
	t.Helper()
	a := Record("1.1", "1.1.1", "X", "v1")
	a.Study.Patient = radmark.Patient{ID: "P1"}
	b := Record("2.1", "2.1.1", "Y", "v1")
	b.Study.Patient = radmark.Patient{ID: "P2"}
	mustPut(t, s, a, b)
	if n := countPatients(); n != 2 {
		t.Fatalf("%d patients, want 2", n)
	}
	moved := Record("2.1", "2.1.1", "X", "v2")
	moved.Study.Patient = radmark.Patient{ID: "P2"}
	if got := statuses(put(t, s, radmark.PutOptions{Overwrite: true}, moved)); !slices.Equal(got, []string{"replaced"}) {
		t.Fatalf("statuses = %v", got)
	}
	if n := countPatients(); n != 1 {
		t.Errorf("%d patients after P1's only study emptied, want 1", n)
	}
	c := Record("2.1", "2.1.1", "Z", "v1")
	c.Study.Patient = radmark.Patient{ID: "P3"}
	mustPut(t, s, c)
	if n := countPatients(); n != 1 {
		t.Errorf("%d patients after study 2.1 changed patient, want 1", n)
	}
	st := findStudies(t, s, radmark.Query{})
	if len(st) != 1 || st[0].Patient.ID != "P3" {
		t.Errorf("studies: %+v", st)
	}
	CheckInvariants(t, s)
}
