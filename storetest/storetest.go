// Package storetest is the conformance suite for radmark.ArchiveStore: one
// set of tests, benchmarks and record builders that every driver (sqlite,
// postgres) runs from its own tests, so that the engines cannot drift apart
// in what they store, match, count or reject.
package storetest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/radmark/radmark"
)

// Opener returns a fresh, empty store that is closed when the test ends.
type Opener func(t *testing.T) radmark.ArchiveStore

// TestArchiveStore runs the whole suite against stores made by open.
func TestArchiveStore(t *testing.T, open func(t *testing.T) radmark.ArchiveStore) {
	tests := []struct {
		name string
		fn   func(*testing.T, Opener)
	}{
		{"RoundTrip", testRoundTrip},
		{"EmptyBatch", testEmptyBatch},
		{"PutStatuses", testPutStatuses},
		{"DuplicateChangesNothing", testDuplicateChangesNothing},
		{"Validation", testValidation},
		{"PatientKey", testPatientKey},
		{"AttributesFromNewest", testAttributesFromNewest},
		{"Counters", testCounters},
		{"ReplaceMoves", testReplaceMoves},
		{"ReplaceWithinBatch", testReplaceWithinBatch},
		{"SeriesInOtherStudy", testSeriesInOtherStudy},
		{"LargeBatch", testLargeBatch},
		{"InstanceNotFound", testInstanceNotFound},
		{"PutAudit", testPutAudit},
		{"FindStudies", testFindStudies},
		{"FindSeries", testFindSeries},
		{"FindInstances", testFindInstances},
		{"QueryErrors", testQueryErrors},
		{"ConcurrentPuts", func(t *testing.T, open Opener) { TestConcurrentPuts(t, open(t)) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, open)
		})
	}
}

// Digest returns the hex SHA-256 of s, standing in for an instance's bytes.
func Digest(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// Record returns a complete record for one CT instance; content names a
// version of the instance's bytes (its digest and blob key follow from it).
// Callers change fields as they need.
func Record(study, series, sop radmark.UID, content string) *radmark.InstanceRecord {
	seriesNumber, instanceNumber := 1, 1
	sha := Digest(string(sop) + "/" + content)
	return &radmark.InstanceRecord{
		Study: radmark.Study{
			UID:                    study,
			Patient:                radmark.Patient{ID: "PID-1", Name: "Doe^Jane", BirthDate: "19700101", Sex: "F"},
			Date:                   "20240102",
			Time:                   "101500",
			AccessionNumber:        "ACC-1",
			StudyID:                "1",
			Description:            "CT Chest",
			ReferringPhysicianName: "House^Gregory",
			Attributes:             []byte(`{"0020000D":{"vr":"UI","Value":["` + string(study) + `"]}}`),
		},
		Series: radmark.Series{
			UID:                series,
			StudyUID:           study,
			Modality:           "CT",
			Number:             &seriesNumber,
			Description:        "Axial 1mm",
			BodyPartExamined:   "CHEST",
			PerformedStartDate: "20240102",
			PerformedStartTime: "101600",
			Attributes:         []byte(`{"0020000E":{"vr":"UI","Value":["` + string(series) + `"]}}`),
		},
		Instance: radmark.Instance{
			SOPInstanceUID:    sop,
			SOPClassUID:       "1.2.840.10008.5.1.4.1.1.2",
			SeriesUID:         series,
			StudyUID:          study,
			InstanceNumber:    &instanceNumber,
			TransferSyntaxUID: "1.2.840.10008.1.2.1",
			NumberOfFrames:    1,
			Rows:              512,
			Columns:           512,
			BlobKey:           "sha256/" + sha,
			Size:              525312,
			SHA256:            sha,
			Pixel:             &radmark.PixelLocation{Tag: 0x7FE00010, Offset: 1024, Length: 524288},
			Metadata:          []byte(`{"00080018":{"vr":"UI","Value":["` + string(sop) + `"]}}`),
		},
	}
}

func ctx(t testing.TB) context.Context { return t.Context() }

// put stores records and fails the test on a store error.
func put(t testing.TB, s radmark.ArchiveStore, opts radmark.PutOptions, recs ...*radmark.InstanceRecord) []radmark.PutResult {
	t.Helper()
	res, err := s.PutInstances(ctx(t), recs, opts)
	if err != nil {
		t.Fatalf("PutInstances: %v", err)
	}
	if len(res) != len(recs) {
		t.Fatalf("PutInstances returned %d results for %d records", len(res), len(recs))
	}
	return res
}

// mustPut stores records and fails unless each was stored or a duplicate.
func mustPut(t testing.TB, s radmark.ArchiveStore, recs ...*radmark.InstanceRecord) {
	t.Helper()
	for i, r := range put(t, s, radmark.PutOptions{}, recs...) {
		if r.Err != nil {
			t.Fatalf("record %d (%s): %v", i, recs[i].Instance.SOPInstanceUID, r.Err)
		}
	}
}

func statuses(res []radmark.PutResult) []string {
	out := make([]string, len(res))
	for i, r := range res {
		if r.Err != nil {
			out[i] = "error:" + radmark.ErrorCode(r.Err)
		} else {
			out[i] = r.Status.String()
		}
	}
	return out
}

// studyOnly compares studies without the store-chosen update time.
var studyOpts = cmp.Options{cmpopts.IgnoreFields(radmark.Study{}, "UpdatedAt"), cmpopts.EquateEmpty()}
var seriesOpts = cmp.Options{cmpopts.IgnoreFields(radmark.Series{}, "UpdatedAt"), cmpopts.EquateEmpty()}
var instanceOpts = cmp.Options{cmpopts.IgnoreFields(radmark.Instance{}, "CreatedAt"), cmpopts.EquateEmpty()}

func findStudies(t testing.TB, s radmark.ArchiveStore, q radmark.Query) []*radmark.Study {
	t.Helper()
	out, err := s.FindStudies(ctx(t), q)
	if err != nil {
		t.Fatalf("FindStudies(%+v): %v", q, err)
	}
	return out
}

func findSeries(t testing.TB, s radmark.ArchiveStore, q radmark.Query) []*radmark.Series {
	t.Helper()
	out, err := s.FindSeries(ctx(t), q)
	if err != nil {
		t.Fatalf("FindSeries(%+v): %v", q, err)
	}
	return out
}

func findInstances(t testing.TB, s radmark.ArchiveStore, q radmark.Query) []*radmark.Instance {
	t.Helper()
	out, err := s.FindInstances(ctx(t), q)
	if err != nil {
		t.Fatalf("FindInstances(%+v): %v", q, err)
	}
	return out
}

func getInstance(t testing.TB, s radmark.ArchiveStore, uid radmark.UID) *radmark.Instance {
	t.Helper()
	in, err := s.Instance(ctx(t), uid)
	if err != nil {
		t.Fatalf("Instance(%s): %v", uid, err)
	}
	return in
}

func checkCounts(t testing.TB, s radmark.ArchiveStore, studies, series, instances int) {
	t.Helper()
	a, b, c, err := s.Counts(ctx(t))
	if err != nil {
		t.Fatalf("Counts: %v", err)
	}
	if a != studies || b != series || c != instances {
		t.Errorf("Counts = %d studies, %d series, %d instances; want %d, %d, %d", a, b, c, studies, series, instances)
	}
}

// CheckInvariants verifies that every derived value the store keeps agrees
// with what it holds: study and series counters, ModalitiesInStudy, Counts,
// and that no series or study is empty.
func CheckInvariants(t testing.TB, s radmark.ArchiveStore) {
	t.Helper()
	var nSeries, nInstances int
	studies := findStudies(t, s, radmark.Query{})
	for _, st := range studies {
		series := findSeries(t, s, radmark.Query{StudyUID: st.UID})
		var sum int
		var modalities []string
		for _, se := range series {
			if se.StudyUID != st.UID {
				t.Errorf("series %s of study %s says study %s", se.UID, st.UID, se.StudyUID)
			}
			ins := findInstances(t, s, radmark.Query{StudyUID: st.UID, SeriesUID: se.UID})
			if len(ins) == 0 {
				t.Errorf("series %s is empty but indexed", se.UID)
			}
			if se.NumInstances != len(ins) {
				t.Errorf("series %s: NumInstances = %d, holds %d", se.UID, se.NumInstances, len(ins))
			}
			for _, in := range ins {
				if in.SeriesUID != se.UID || in.StudyUID != st.UID {
					t.Errorf("instance %s found in %s/%s says %s/%s", in.SOPInstanceUID, st.UID, se.UID, in.StudyUID, in.SeriesUID)
				}
			}
			sum += len(ins)
			if se.Modality != "" {
				modalities = append(modalities, se.Modality)
			}
		}
		slices.Sort(modalities)
		modalities = slices.Compact(modalities)
		if len(series) == 0 {
			t.Errorf("study %s is empty but indexed", st.UID)
		}
		if st.NumSeries != len(series) || st.NumInstances != sum {
			t.Errorf("study %s: NumSeries, NumInstances = %d, %d; holds %d, %d", st.UID, st.NumSeries, st.NumInstances, len(series), sum)
		}
		if diff := cmp.Diff(modalities, st.ModalitiesInStudy, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("study %s: ModalitiesInStudy (-want +got):\n%s", st.UID, diff)
		}
		nSeries += len(series)
		nInstances += sum
	}
	if all := findSeries(t, s, radmark.Query{}); len(all) != nSeries {
		t.Errorf("FindSeries finds %d series, studies hold %d", len(all), nSeries)
	}
	if all := findInstances(t, s, radmark.Query{}); len(all) != nInstances {
		t.Errorf("FindInstances finds %d instances, studies hold %d", len(all), nInstances)
	}
	checkCounts(t, s, len(studies), nSeries, nInstances)
}

func testRoundTrip(t *testing.T, open Opener) {
	s := open(t)
	before := time.Now().Add(-time.Second)
	r := Record("1.2.3", "1.2.3.1", "1.2.3.1.1", "v1")
	r.Instance.NumberOfFrames = 3
	r.Instance.Pixel = &radmark.PixelLocation{
		Tag: 0x7FE00010, Offset: 2048, Length: 9000, Encapsulated: true,
		Frames: [][]radmark.ByteRange{{{Offset: 2060, Length: 3000}}, {{Offset: 5068, Length: 1000}, {Offset: 6076, Length: 2000}}, {{Offset: 8084, Length: 900}}},
	}
	r.Instance.Metadata = []byte{0x28, 0xb5, 0x2f, 0xfd, 0x00, 0xff, 0x01} // opaque, need not be text
	r.Study.Patient = radmark.Patient{ID: "ID 7", Issuer: "HOSP", Name: "Müller^Jürgen", BirthDate: "19551105", Sex: "M"}
	if got := statuses(put(t, s, radmark.PutOptions{}, r)); !slices.Equal(got, []string{"stored"}) {
		t.Fatalf("statuses = %v", got)
	}
	after := time.Now().Add(time.Second)

	in := getInstance(t, s, "1.2.3.1.1")
	if diff := cmp.Diff(&r.Instance, in, instanceOpts); diff != "" {
		t.Errorf("Instance (-put +got):\n%s", diff)
	}
	if in.CreatedAt.Before(before) || in.CreatedAt.After(after) || in.CreatedAt.Location() != time.UTC {
		t.Errorf("CreatedAt = %v, want UTC between %v and %v", in.CreatedAt, before, after)
	}

	wantStudy := r.Study
	wantStudy.ModalitiesInStudy, wantStudy.NumSeries, wantStudy.NumInstances = []string{"CT"}, 1, 1
	studies := findStudies(t, s, radmark.Query{})
	if diff := cmp.Diff([]*radmark.Study{&wantStudy}, studies, studyOpts); diff != "" {
		t.Errorf("FindStudies (-want +got):\n%s", diff)
	}
	wantSeries := r.Series
	wantSeries.NumInstances = 1
	if diff := cmp.Diff([]*radmark.Series{&wantSeries}, findSeries(t, s, radmark.Query{}), seriesOpts); diff != "" {
		t.Errorf("FindSeries (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]*radmark.Instance{&r.Instance}, findInstances(t, s, radmark.Query{}), instanceOpts); diff != "" {
		t.Errorf("FindInstances (-want +got):\n%s", diff)
	}
	for _, st := range studies {
		if st.UpdatedAt.Before(before) || st.UpdatedAt.After(after) {
			t.Errorf("study UpdatedAt = %v", st.UpdatedAt)
		}
	}

	// Absent optional values come back absent, not as zero values.
	r2 := Record("1.2.3", "1.2.3.2", "1.2.3.2.1", "v1")
	r2.Series.Number, r2.Instance.InstanceNumber, r2.Instance.Pixel = nil, nil, nil
	r2.Instance.Metadata, r2.Study.Attributes, r2.Series.Attributes = nil, nil, nil
	mustPut(t, s, r2)
	in2 := getInstance(t, s, "1.2.3.2.1")
	if in2.InstanceNumber != nil || in2.Pixel != nil || in2.Metadata != nil {
		t.Errorf("instance without optional values came back as %+v", in2)
	}
	se := findSeries(t, s, radmark.Query{SeriesUID: "1.2.3.2"})
	if len(se) != 1 || se[0].Number != nil || se[0].Attributes != nil {
		t.Errorf("series without number came back as %+v", se)
	}
	CheckInvariants(t, s)
}

func testEmptyBatch(t *testing.T, open Opener) {
	s := open(t)
	res, err := s.PutInstances(ctx(t), nil, radmark.PutOptions{})
	if err != nil || len(res) != 0 {
		t.Fatalf("PutInstances(nil) = %v, %v", res, err)
	}
	checkCounts(t, s, 0, 0, 0)
	if got := findStudies(t, s, radmark.Query{}); len(got) != 0 {
		t.Errorf("empty store finds %d studies", len(got))
	}
}

func testPutStatuses(t *testing.T, open Opener) {
	v1 := Record("1.1", "1.1.1", "1.1.1.1", "v1")
	v2 := Record("1.1", "1.1.1", "1.1.1.1", "v2")
	v3 := Record("1.1", "1.1.1", "1.1.1.1", "v3")
	other := Record("1.1", "1.1.1", "1.1.1.2", "v1")
	tests := []struct {
		name      string
		before    []*radmark.InstanceRecord // stored first
		batch     []*radmark.InstanceRecord
		overwrite bool
		want      []string
		wantPrev  []string
		wantSHA   string // of 1.1.1.1 afterwards
		wantCount int
	}{
		{name: "new", batch: []*radmark.InstanceRecord{v1}, want: []string{"stored"}, wantSHA: v1.Instance.SHA256, wantCount: 1},
		{name: "same bytes again", before: []*radmark.InstanceRecord{v1}, batch: []*radmark.InstanceRecord{v1},
			want: []string{"duplicate"}, wantSHA: v1.Instance.SHA256, wantCount: 1},
		{name: "same bytes, overwrite asked", before: []*radmark.InstanceRecord{v1}, batch: []*radmark.InstanceRecord{v1},
			overwrite: true, want: []string{"duplicate"}, wantSHA: v1.Instance.SHA256, wantCount: 1},
		{name: "other bytes", before: []*radmark.InstanceRecord{v1}, batch: []*radmark.InstanceRecord{v2, other},
			want: []string{"error:conflict", "stored"}, wantSHA: v1.Instance.SHA256, wantCount: 2},
		{name: "other bytes, overwrite", before: []*radmark.InstanceRecord{v1}, batch: []*radmark.InstanceRecord{v2},
			overwrite: true, want: []string{"replaced"}, wantPrev: []string{v1.Instance.BlobKey}, wantSHA: v2.Instance.SHA256, wantCount: 1},
		{name: "twice in one batch", batch: []*radmark.InstanceRecord{v1, v1}, want: []string{"stored", "duplicate"},
			wantSHA: v1.Instance.SHA256, wantCount: 1},
		{name: "conflict in one batch", batch: []*radmark.InstanceRecord{v1, v2}, want: []string{"stored", "error:conflict"},
			wantSHA: v1.Instance.SHA256, wantCount: 1},
		{name: "replaced twice in one batch", before: []*radmark.InstanceRecord{v1}, batch: []*radmark.InstanceRecord{v2, v3},
			overwrite: true, want: []string{"replaced", "replaced"}, wantPrev: []string{v1.Instance.BlobKey, v2.Instance.BlobKey},
			wantSHA: v3.Instance.SHA256, wantCount: 1},
		{name: "replaced back", before: []*radmark.InstanceRecord{v1}, batch: []*radmark.InstanceRecord{v2, v1},
			overwrite: true, want: []string{"replaced", "replaced"}, wantPrev: []string{v1.Instance.BlobKey, v2.Instance.BlobKey},
			wantSHA: v1.Instance.SHA256, wantCount: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := open(t)
			if len(tt.before) > 0 {
				mustPut(t, s, tt.before...)
			}
			res := put(t, s, radmark.PutOptions{Overwrite: tt.overwrite}, tt.batch...)
			if diff := cmp.Diff(tt.want, statuses(res)); diff != "" {
				t.Errorf("statuses (-want +got):\n%s", diff)
			}
			if tt.wantPrev != nil {
				var prev []string
				for _, r := range res {
					prev = append(prev, r.PreviousBlobKey)
				}
				if diff := cmp.Diff(tt.wantPrev, prev); diff != "" {
					t.Errorf("PreviousBlobKey (-want +got):\n%s", diff)
				}
			}
			for i, r := range res {
				if r.Err == nil {
					continue
				}
				msg := radmark.ErrorMessage(r.Err)
				stored, sent := tt.batch[i].Instance.SHA256, tt.batch[i].Instance.SHA256
				if i > 0 && tt.batch[0].Instance.SOPInstanceUID == tt.batch[i].Instance.SOPInstanceUID {
					stored = tt.batch[0].Instance.SHA256
				} else if len(tt.before) > 0 {
					stored = tt.before[0].Instance.SHA256
				}
				if !strings.Contains(msg, "different content") || !strings.Contains(msg, stored[:12]) || !strings.Contains(msg, sent[:12]) {
					t.Errorf("conflict message %q should say the content differs and name %s… and %s…", msg, stored[:12], sent[:12])
				}
			}
			in := getInstance(t, s, "1.1.1.1")
			if in.SHA256 != tt.wantSHA || in.BlobKey != "sha256/"+tt.wantSHA {
				t.Errorf("stored sha256 %s, blob %s; want %s", in.SHA256, in.BlobKey, tt.wantSHA)
			}
			checkCounts(t, s, 1, 1, tt.wantCount)
			CheckInvariants(t, s)
		})
	}
}

func testDuplicateChangesNothing(t *testing.T, open Opener) {
	s := open(t)
	r := Record("1.1", "1.1.1", "1.1.1.1", "v1")
	mustPut(t, s, r)
	before := findStudies(t, s, radmark.Query{})

	dup := Record("1.1", "1.1.1", "1.1.1.1", "v1")
	dup.Study.Description, dup.Study.Patient.Name, dup.Series.Description = "changed", "Changed^Name", "changed"
	dup.Study.Attributes = []byte(`{}`)
	conflict := Record("1.1", "1.1.1", "1.1.1.1", "v2")
	conflict.Study.Description, conflict.Series.Modality = "changed too", "MR"
	if got := statuses(put(t, s, radmark.PutOptions{}, dup, conflict)); !slices.Equal(got, []string{"duplicate", "error:conflict"}) {
		t.Fatalf("statuses = %v", got)
	}
	if diff := cmp.Diff(before, findStudies(t, s, radmark.Query{}), cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("a duplicate or conflict changed the study (-before +after):\n%s", diff)
	}
	se := findSeries(t, s, radmark.Query{})
	if len(se) != 1 || se[0].Description != "Axial 1mm" || se[0].Modality != "CT" {
		t.Errorf("series changed: %+v", se)
	}
}

func testValidation(t *testing.T, open Opener) {
	good := func() *radmark.InstanceRecord { return Record("9.1", "9.1.1", "9.1.1.1", "v1") }
	tests := []struct {
		name   string
		mutate func(r *radmark.InstanceRecord)
	}{
		{"no SOP Instance UID", func(r *radmark.InstanceRecord) { r.Instance.SOPInstanceUID = "" }},
		{"no study UID", func(r *radmark.InstanceRecord) { r.Study.UID, r.Instance.StudyUID, r.Series.StudyUID = "", "", "" }},
		{"no series UID", func(r *radmark.InstanceRecord) { r.Series.UID, r.Instance.SeriesUID = "", "" }},
		{"instance names another study", func(r *radmark.InstanceRecord) { r.Instance.StudyUID = "9.2" }},
		{"instance names another series", func(r *radmark.InstanceRecord) { r.Instance.SeriesUID = "9.1.2" }},
		{"series names another study", func(r *radmark.InstanceRecord) { r.Series.StudyUID = "9.2" }},
		{"no digest", func(r *radmark.InstanceRecord) { r.Instance.SHA256 = "" }},
		{"no blob key", func(r *radmark.InstanceRecord) { r.Instance.BlobKey = "" }},
		{"negative size", func(r *radmark.InstanceRecord) { r.Instance.Size = -1 }},
		{"name not UTF-8", func(r *radmark.InstanceRecord) { r.Study.Patient.Name = "Doe\xff^J" }},
		{"NUL in description", func(r *radmark.InstanceRecord) { r.Series.Description = "a\x00b" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := open(t)
			bad := good()
			tt.mutate(bad)
			ok := Record("9.5", "9.5.1", "9.5.1.1", "v1")
			res := put(t, s, radmark.PutOptions{Overwrite: true}, bad, ok)
			if diff := cmp.Diff([]string{"error:invalid", "stored"}, statuses(res)); diff != "" {
				t.Fatalf("statuses (-want +got):\n%s", diff)
			}
			if msg := radmark.ErrorMessage(res[0].Err); msg == "" || msg == "internal error" {
				t.Errorf("message %q does not say what is wrong", msg)
			}
			checkCounts(t, s, 1, 1, 1)
		})
	}
	t.Run("nil record", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		res := put(t, s, radmark.PutOptions{}, nil, good())
		if diff := cmp.Diff([]string{"error:invalid", "stored"}, statuses(res)); diff != "" {
			t.Fatalf("statuses (-want +got):\n%s", diff)
		}
	})
	t.Run("UIDs filled from the study and series", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		r := good()
		r.Instance.StudyUID, r.Instance.SeriesUID, r.Series.StudyUID = "", "", ""
		mustPut(t, s, r)
		in := getInstance(t, s, "9.1.1.1")
		if in.StudyUID != "9.1" || in.SeriesUID != "9.1.1" {
			t.Errorf("instance placed in %s/%s", in.StudyUID, in.SeriesUID)
		}
	})
}

func testPatientKey(t *testing.T, open Opener) {
	s := open(t)
	// Empty PatientID and issuer are a valid key, shared by both studies:
	// the patient's attributes come from the newest record.
	a := Record("1.1", "1.1.1", "1.1.1.1", "v1")
	a.Study.Patient = radmark.Patient{Name: "Anonymous^A", Sex: "F"}
	b := Record("1.2", "1.2.1", "1.2.1.1", "v1")
	b.Study.Patient = radmark.Patient{Name: "Anonymous^B", Sex: "O"}
	// Same PatientID, other issuer: another patient.
	c := Record("1.3", "1.3.1", "1.3.1.1", "v1")
	c.Study.Patient = radmark.Patient{ID: "", Issuer: "OTHER", Name: "Other^C"}
	mustPut(t, s, a)
	mustPut(t, s, b, c)
	got := map[radmark.UID]radmark.Patient{}
	for _, st := range findStudies(t, s, radmark.Query{}) {
		got[st.UID] = st.Patient
	}
	want := map[radmark.UID]radmark.Patient{
		"1.1": {Name: "Anonymous^B", Sex: "O"},
		"1.2": {Name: "Anonymous^B", Sex: "O"},
		"1.3": {Issuer: "OTHER", Name: "Other^C"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("patients (-want +got):\n%s", diff)
	}
	// A filter on the empty PatientID with empty issuer finds both.
	res := findStudies(t, s, radmark.Query{Filters: []radmark.Filter{{Key: radmark.KeyPatientName, Kind: radmark.MatchSingle, Values: []string{"anonymous^b"}}}})
	if len(res) != 2 {
		t.Errorf("PatientName=anonymous^b finds %d studies, want 2", len(res))
	}
	// A study whose patient changes moves to the new patient.
	d := Record("1.3", "1.3.1", "1.3.1.2", "v1")
	d.Study.Patient = radmark.Patient{ID: "NEW", Name: "New^D"}
	mustPut(t, s, d)
	st := findStudies(t, s, radmark.Query{StudyUID: "1.3"})
	if len(st) != 1 || st[0].Patient.ID != "NEW" || st[0].Patient.Name != "New^D" {
		t.Errorf("study 1.3 after a record with another patient: %+v", st)
	}
	CheckInvariants(t, s)
}

func testAttributesFromNewest(t *testing.T, open Opener) {
	s := open(t)
	r1 := Record("1.1", "1.1.1", "1.1.1.1", "v1")
	mustPut(t, s, r1)
	r2 := Record("1.1", "1.1.1", "1.1.1.2", "v1")
	r2.Study.Description, r2.Study.Date, r2.Study.AccessionNumber = "Corrected", "20240103", "ACC-2"
	r2.Study.Attributes = []byte(`{"new":true}`)
	r2.Series.Description, r2.Series.BodyPartExamined = "Corrected series", "ABDOMEN"
	r2.Series.Attributes = []byte(`{"series":2}`)
	r3 := Record("1.1", "1.1.1", "1.1.1.3", "v1")
	r3.Study.Description, r3.Study.Attributes = "Newest", []byte(`{"newest":true}`)
	r3.Series.Attributes = []byte(`{"series":3}`)
	r3.Study.Date, r3.Study.AccessionNumber = "20240103", "ACC-2"
	r3.Series.Description, r3.Series.BodyPartExamined = "Corrected series", "ABDOMEN"
	mustPut(t, s, r2, r3)
	st := findStudies(t, s, radmark.Query{})
	if len(st) != 1 {
		t.Fatalf("%d studies", len(st))
	}
	if st[0].Description != "Newest" || st[0].Date != "20240103" || st[0].AccessionNumber != "ACC-2" || string(st[0].Attributes) != `{"newest":true}` {
		t.Errorf("study not updated from the newest record: %+v", st[0])
	}
	se := findSeries(t, s, radmark.Query{})
	if len(se) != 1 || se[0].Description != "Corrected series" || se[0].BodyPartExamined != "ABDOMEN" || string(se[0].Attributes) != `{"series":3}` {
		t.Errorf("series not updated from the newest record: %+v", se)
	}
	// An attribute removed by the newest record is removed.
	r4 := Record("1.1", "1.1.1", "1.1.1.4", "v1")
	r4.Study.Attributes, r4.Study.Description = nil, ""
	mustPut(t, s, r4)
	st = findStudies(t, s, radmark.Query{})
	if st[0].Attributes != nil || st[0].Description != "" {
		t.Errorf("study keeps attributes the newest record lacks: %+v", st[0])
	}
	CheckInvariants(t, s)
}

func testCounters(t *testing.T, open Opener) {
	s := open(t)
	var recs []*radmark.InstanceRecord
	add := func(study, series radmark.UID, modality string, n int) {
		for i := range n {
			r := Record(study, series, radmark.UID(fmt.Sprintf("%s.%d", series, i+1)), "v1")
			r.Series.Modality = modality
			recs = append(recs, r)
		}
	}
	add("1.1", "1.1.1", "MR", 5)
	add("1.1", "1.1.2", "CT", 3)
	add("1.1", "1.1.3", "MR", 2)
	add("1.1", "1.1.4", "", 1)
	add("1.2", "1.2.1", "SR", 1)
	mustPut(t, s, recs[:4]...)
	mustPut(t, s, recs[4:]...)
	want := map[radmark.UID]string{"1.1": "4 series, 11 instances, [CT MR]", "1.2": "1 series, 1 instances, [SR]"}
	got := map[radmark.UID]string{}
	for _, st := range findStudies(t, s, radmark.Query{}) {
		got[st.UID] = fmt.Sprintf("%d series, %d instances, %v", st.NumSeries, st.NumInstances, st.ModalitiesInStudy)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("study counters (-want +got):\n%s", diff)
	}
	checkCounts(t, s, 2, 5, 12)
	CheckInvariants(t, s)
}

func testReplaceMoves(t *testing.T, open Opener) {
	s := open(t)
	ow := radmark.PutOptions{Overwrite: true}
	a1 := Record("1.1", "1.1.1", "X", "v1")
	a2 := Record("1.1", "1.1.1", "Y", "v1")
	sr := Record("1.1", "1.1.2", "Z", "v1")
	sr.Series.Modality = "SR"
	mustPut(t, s, a1, a2, sr)

	// Z moves to a new series of the same study: its old series goes.
	z2 := Record("1.1", "1.1.3", "Z", "v2")
	z2.Series.Modality = "PR"
	if got := statuses(put(t, s, ow, z2)); !slices.Equal(got, []string{"replaced"}) {
		t.Fatalf("statuses = %v", got)
	}
	checkSeriesUIDs(t, s, "1.1", "1.1.1", "1.1.3")
	st := findStudies(t, s, radmark.Query{})
	if len(st) != 1 || !slices.Equal(st[0].ModalitiesInStudy, []string{"CT", "PR"}) || st[0].NumSeries != 2 || st[0].NumInstances != 3 {
		t.Errorf("after moving Z: %+v", st)
	}
	CheckInvariants(t, s)

	// X moves to another study of another patient; Y and Z stay.
	x2 := Record("2.1", "2.1.1", "X", "v2")
	x2.Study.Patient = radmark.Patient{ID: "P2", Name: "Second^Patient"}
	if got := statuses(put(t, s, ow, x2)); !slices.Equal(got, []string{"replaced"}) {
		t.Fatalf("statuses = %v", got)
	}
	checkCounts(t, s, 2, 3, 3)
	CheckInvariants(t, s)

	// Y and Z move out too: study 1.1 is left empty and goes.
	y2 := Record("2.1", "2.1.1", "Y", "v2")
	z3 := Record("2.1", "2.1.2", "Z", "v3")
	if got := statuses(put(t, s, ow, y2, z3)); !slices.Equal(got, []string{"replaced", "replaced"}) {
		t.Fatalf("statuses = %v", got)
	}
	checkCounts(t, s, 1, 2, 3)
	if got := findStudies(t, s, radmark.Query{StudyUID: "1.1"}); len(got) != 0 {
		t.Errorf("empty study 1.1 still indexed: %+v", got[0])
	}
	in := getInstance(t, s, "Z")
	if in.StudyUID != "2.1" || in.SeriesUID != "2.1.2" || in.SHA256 != z3.Instance.SHA256 {
		t.Errorf("Z is at %s/%s with %s", in.StudyUID, in.SeriesUID, in.SHA256)
	}
	// The old study's UID can be used again from scratch.
	mustPut(t, s, Record("1.1", "1.1.9", "W", "v1"))
	CheckInvariants(t, s)
	checkCounts(t, s, 2, 3, 4)
}

func checkSeriesUIDs(t testing.TB, s radmark.ArchiveStore, study radmark.UID, want ...radmark.UID) {
	t.Helper()
	var got []radmark.UID
	for _, se := range findSeries(t, s, radmark.Query{StudyUID: study}) {
		got = append(got, se.UID)
	}
	if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("series of %s (-want +got):\n%s", study, diff)
	}
}

func testReplaceWithinBatch(t *testing.T, open Opener) {
	s := open(t)
	// Stored into a new series, then moved by a later record of the same
	// batch: the first series never appears.
	first := Record("1.1", "1.1.1", "X", "v1")
	moved := Record("1.1", "1.1.2", "X", "v2")
	res := put(t, s, radmark.PutOptions{Overwrite: true}, first, moved)
	if diff := cmp.Diff([]string{"stored", "replaced"}, statuses(res)); diff != "" {
		t.Fatalf("statuses (-want +got):\n%s", diff)
	}
	if res[1].PreviousBlobKey != first.Instance.BlobKey {
		t.Errorf("PreviousBlobKey = %q, want %q", res[1].PreviousBlobKey, first.Instance.BlobKey)
	}
	checkSeriesUIDs(t, s, "1.1", "1.1.2")
	checkCounts(t, s, 1, 1, 1)
	CheckInvariants(t, s)
}

func testSeriesInOtherStudy(t *testing.T, open Opener) {
	s := open(t)
	mustPut(t, s, Record("1.1", "1.1.1", "X", "v1"))
	wrong := Record("2.1", "1.1.1", "Y", "v1")
	res := put(t, s, radmark.PutOptions{Overwrite: true}, wrong, Record("2.1", "2.1.1", "Z", "v1"))
	if diff := cmp.Diff([]string{"error:conflict", "stored"}, statuses(res)); diff != "" {
		t.Fatalf("statuses (-want +got):\n%s", diff)
	}
	// Within one batch too.
	res = put(t, s, radmark.PutOptions{}, Record("3.1", "3.1.1", "A", "v1"), Record("4.1", "3.1.1", "B", "v1"))
	if diff := cmp.Diff([]string{"stored", "error:conflict"}, statuses(res)); diff != "" {
		t.Fatalf("statuses (-want +got):\n%s", diff)
	}
	checkCounts(t, s, 3, 3, 3)
	CheckInvariants(t, s)
}

func testLargeBatch(t *testing.T, open Opener) {
	s := open(t)
	// More records than one statement carries, over several studies.
	var recs []*radmark.InstanceRecord
	for i := range 1234 {
		study := radmark.UID(fmt.Sprintf("1.%d", i%3))
		r := Record(study, study+".1", radmark.UID(fmt.Sprintf("%s.1.%d", study, i)), "v1")
		n := i
		r.Instance.InstanceNumber = &n
		recs = append(recs, r)
	}
	res := put(t, s, radmark.PutOptions{}, recs...)
	for i, r := range res {
		if r.Err != nil || r.Status != radmark.PutStored {
			t.Fatalf("record %d: %v %v", i, r.Status, r.Err)
		}
	}
	checkCounts(t, s, 3, 3, 1234)
	// Again, with half of them new bytes: all replaced in one batch.
	for i := range recs {
		if i%2 == 0 {
			recs[i] = Record(recs[i].Study.UID, recs[i].Series.UID, recs[i].Instance.SOPInstanceUID, "v2")
		}
	}
	var replaced, dups int
	for _, r := range put(t, s, radmark.PutOptions{Overwrite: true}, recs...) {
		switch {
		case r.Err != nil:
			t.Fatal(r.Err)
		case r.Status == radmark.PutReplaced:
			replaced++
		case r.Status == radmark.PutDuplicate:
			dups++
		}
	}
	if replaced != 617 || dups != 617 {
		t.Errorf("replaced %d, duplicates %d; want 617, 617", replaced, dups)
	}
	CheckInvariants(t, s)
}

func testInstanceNotFound(t *testing.T, open Opener) {
	s := open(t)
	mustPut(t, s, Record("1.1", "1.1.1", "1.1.1.1", "v1"))
	_, err := s.Instance(ctx(t), "1.1.1.2")
	if code := radmark.ErrorCode(err); code != radmark.ENOTFOUND {
		t.Errorf("Instance(missing) = %v (code %q), want %s", err, code, radmark.ENOTFOUND)
	}
}
