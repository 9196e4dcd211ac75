package storetest

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/radmark/radmark"
)

// TestConcurrentPuts has several writers per handle ingest overlapping
// batches at the same time: the same SOP instances with other bytes
// (conflicts, or replaces that move them between series, studies and
// patients), into shared studies and series. All handles must be open on
// the same (initially empty) store; pass several to test writers in
// different connection pools or processes.
//
// Afterwards every counter must be exact, no series or study may be empty,
// and exactly one writer may have been told "stored" for each instance.
func TestConcurrentPuts(t *testing.T, stores ...radmark.ArchiveStore) {
	scenarios := []struct {
		name                           string
		studies, patients, seriesPer   int
		sops, rounds, batch, perHandle int
		// Each record names a random patient, so studies keep changing
		// patient and patients keep losing their last study.
		patientPerRecord bool
	}{
		// Many instances in few series: counters under contention.
		{name: "crowded", studies: 3, patients: 2, seriesPer: 3, sops: 60, rounds: 12, batch: 10, perHandle: 4},
		// Few instances spread thin: series, studies and patients keep
		// emptying (and being deleted) while others fill them again.
		{name: "churn", studies: 6, patients: 4, seriesPer: 2, sops: 10, rounds: 25, batch: 3, perHandle: 4},
		{name: "patients", studies: 8, patients: 6, seriesPer: 1, sops: 40, rounds: 20, batch: 4, perHandle: 4, patientPerRecord: true},
	}
	var indexed int64
	for sc, c := range scenarios {
		modalities := []string{"CT", "MR", "SR"}
		var stored atomic.Int64
		var wg sync.WaitGroup
		for si, s := range stores {
			for w := range c.perHandle {
				wg.Go(func() {
					rng := rand.New(rand.NewPCG(uint64(sc), uint64(si*100+w)))
					for range c.rounds {
						recs := make([]*radmark.InstanceRecord, c.batch)
						for i := range recs {
							st := rng.IntN(c.studies)
							study := radmark.UID(fmt.Sprintf("7.%d.%d", sc, st))
							k := rng.IntN(c.seriesPer)
							series := radmark.UID(fmt.Sprintf("%s.%d", study, k))
							sop := radmark.UID(fmt.Sprintf("7.%d.99.%d", sc, rng.IntN(c.sops)))
							// The bytes depend on the placement: the same
							// bytes are always in the same series.
							r := Record(study, series, sop, fmt.Sprintf("%s/v%d", series, rng.IntN(2)))
							p := st % c.patients
							if c.patientPerRecord {
								p = rng.IntN(c.patients)
							}
							r.Study.Patient = radmark.Patient{Name: fmt.Sprintf("Patient^%d", p)}
							if p > 0 { // patient 0 has the empty key
								r.Study.Patient.ID = fmt.Sprintf("P%d", p)
							}
							r.Series.Modality = modalities[k%len(modalities)]
							recs[i] = r
						}
						opts := radmark.PutOptions{Overwrite: rng.IntN(3) > 0}
						res, err := s.PutInstances(t.Context(), recs, opts)
						if err != nil {
							t.Errorf("%s: PutInstances: %v", c.name, err)
							return
						}
						for i, r := range res {
							switch {
							case r.Err != nil && radmark.ErrorCode(r.Err) != radmark.ECONFLICT:
								t.Errorf("%s: record %s: %v", c.name, recs[i].Instance.SOPInstanceUID, r.Err)
							case r.Err != nil && opts.Overwrite:
								// Series never change study here, so
								// overwrite resolves every conflict.
								t.Errorf("%s: record %s: conflict despite overwrite: %v", c.name, recs[i].Instance.SOPInstanceUID, r.Err)
							case r.Err == nil && r.Status == radmark.PutStored:
								stored.Add(1)
							}
						}
					}
				})
			}
		}
		wg.Wait()
		if t.Failed() {
			return
		}
		indexed += stored.Load()
		for _, s := range stores {
			CheckInvariants(t, s)
			_, _, n, err := s.Counts(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if int64(n) != indexed {
				t.Errorf("%s: %d instances indexed, but %d puts reported stored", c.name, n, indexed)
			}
		}
	}
}
