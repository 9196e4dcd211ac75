package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/radmark/radmark"
)

// fill indexes studies × seriesPer × instancesPer instances, one
// PutInstances per study (a STOW-RS request's worth). Patient names repeat
// every 200 studies; study dates step three days from 2015.
func fill(tb testing.TB, s radmark.ArchiveStore, studies, seriesPer, instancesPer int) {
	tb.Helper()
	base := time.Date(2015, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range studies {
		study := radmark.UID(fmt.Sprintf("1.2.826.0.1.3680043.10.1.%d", i))
		recs := make([]*radmark.InstanceRecord, 0, seriesPer*instancesPer)
		for j := range seriesPer {
			series := radmark.UID(fmt.Sprintf("%s.%d", study, j+1))
			for k := range instancesPer {
				r := Record(study, series, radmark.UID(fmt.Sprintf("%s.%d", series, k+1)), "v1")
				r.Study.Patient = radmark.Patient{ID: fmt.Sprintf("PID%05d", i), Name: fmt.Sprintf("Name%03d^Given", i%200), Sex: "O"}
				r.Study.Date = base.AddDate(0, 0, 3*i).Format("20060102")
				r.Study.Time = fmt.Sprintf("%02d%02d00", i%24, i%60)
				r.Series.Modality = []string{"CT", "MR", "PT"}[j%3]
				n, m := j+1, k+1
				r.Series.Number, r.Instance.InstanceNumber = &n, &m
				recs = append(recs, r)
			}
		}
		res, err := s.PutInstances(tb.Context(), recs, radmark.PutOptions{})
		if err != nil {
			tb.Fatal(err)
		}
		for _, r := range res {
			if r.Err != nil {
				tb.Fatal(r.Err)
			}
		}
	}
}

// BenchmarkFindStudies indexes 100,000 instances (1000 studies × 2 series ×
// 50 instances) and measures a QIDO-RS study search as a worklist makes it:
// a PatientName prefix and a StudyDate range, first 100 results.
func BenchmarkFindStudies(b *testing.B, open func(testing.TB) radmark.ArchiveStore) {
	s := open(b)
	start := time.Now()
	fill(b, s, 1000, 2, 50)
	took := time.Since(start)
	b.Logf("indexed 100000 instances in %v (%.0f instances/s)", took.Round(time.Millisecond), 100000/took.Seconds())

	q := radmark.Query{Limit: 100, Filters: []radmark.Filter{
		{Key: radmark.KeyPatientName, Kind: radmark.MatchWildcard, Values: []string{"name1*"}},
		{Key: radmark.KeyStudyDate, Kind: radmark.MatchRange, Lo: "20170101", Hi: "20211231"},
	}}
	start = time.Now()
	got, err := s.FindStudies(b.Context(), q)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("first search, before planner statistics: %v", time.Since(start).Round(time.Microsecond))
	// Measure the steady state, as when autovacuum or PRAGMA optimize has
	// caught up with the load.
	if a, ok := s.(interface{ Analyze(context.Context) error }); ok {
		if err := a.Analyze(b.Context()); err != nil {
			b.Fatal(err)
		}
	}
	if len(got) != 100 || got[0].NumInstances != 100 || got[0].NumSeries != 2 {
		b.Fatalf("search found %d studies (first: %+v), want 100 of 100 instances each", len(got), got[0])
	}
	for b.Loop() {
		if _, err := s.FindStudies(b.Context(), q); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPutInstances measures ingest into the index: batches of new
// instances (250 per series, 4 series per study), one PutInstances per
// batch. batch=1 is C-STORE without batching; batch=100 a STOW-RS request.
func BenchmarkPutInstances(b *testing.B, open func(testing.TB) radmark.ArchiveStore) {
	for _, size := range []int{1, 100} {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			s := open(b)
			next := 0
			recs := make([]*radmark.InstanceRecord, size)
			for b.Loop() {
				for i := range recs {
					n := next
					next++
					study := radmark.UID(fmt.Sprintf("1.2.3.%d", n/1000))
					series := radmark.UID(fmt.Sprintf("%s.%d", study, n/250%4))
					recs[i] = Record(study, series, radmark.UID(fmt.Sprintf("%s.%d", series, n)), "v1")
				}
				res, err := s.PutInstances(b.Context(), recs, radmark.PutOptions{})
				if err != nil {
					b.Fatal(err)
				}
				for _, r := range res {
					if r.Err != nil || r.Status != radmark.PutStored {
						b.Fatalf("%v %v", r.Status, r.Err)
					}
				}
			}
			b.ReportMetric(float64(next)/b.Elapsed().Seconds(), "instances/s")
		})
	}
}
