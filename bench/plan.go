package main

import (
	"fmt"
	"strconv"
	"strings"
)

// stowSetting is how an uploader sends files: perRequest files in one
// multipart/related body, concurrency bodies in flight at a time; series
// CTs (new studies) back to back in one timed run, when more than one.
type stowSetting struct {
	perRequest  int
	concurrency int
	series      int
}

func (s stowSetting) String() string {
	str := fmt.Sprintf("%d file(s)/request × %d concurrent", s.perRequest, s.concurrency)
	if s.series > 1 {
		str += fmt.Sprintf(", %d CTs back to back", s.series)
	}
	return str
}

// parseStowSetting reads FILESxCONCURRENT or FILESxCONCURRENTxCTS.
func parseStowSetting(spec string) (stowSetting, error) {
	parts := strings.Split(spec, "x")
	if len(parts) < 2 || len(parts) > 3 {
		return stowSetting{}, fmt.Errorf("%q is not FILESxCONCURRENT or FILESxCONCURRENTxCTS (e.g. 1x4 or 1x4x4)", spec)
	}
	n := []int{0, 0, 1}
	for i, p := range parts {
		v, err := strconv.Atoi(p)
		if err != nil || v < 1 || v > 1000 {
			return stowSetting{}, fmt.Errorf("%q: %q is not a count from 1 to 1000", spec, p)
		}
		n[i] = v
	}
	return stowSetting{perRequest: n[0], concurrency: n[1], series: n[2]}, nil
}

// seriesCount is how many CTs one timed run sends.
func (s stowSetting) seriesCount() int { return max(1, s.series) }

// plan holds the sizes and repetition counts of a run. The full plan is
// what BENCHMARKS.md reports; the quick plan checks the same code paths in
// a few minutes; the smoke plan (tests only) in seconds.
type plan struct {
	name string

	// ingestCT selects the CT ingested: "CT512" (the benchmark size) or
	// "CTSmall" (smoke test).
	ingestCT string
	// ingestSettings are tried in order, each ingestReps times per server,
	// each repetition with fresh UIDs so nothing is a duplicate.
	ingestSettings []stowSetting
	ingestReps     int
	cliReps        int

	// Fill for QIDO-RS: studies × (2 series × instancesPerSeries), sent
	// one study per request (fill.perRequest ≥ 2×instancesPerSeries) with
	// fill.concurrency requests in flight.
	studies            int
	instancesPerSeries int
	fill               stowSetting
	// fillChunk is how many studies one server receives before the other
	// server's turn.
	fillChunk int
	qidoWarm  int
	qidoReqs  int

	frameWarm   int
	frameSeq    int
	frameConc   int // workers of the concurrent frame test
	frameRounds int // alternating rounds of the concurrent test
	framePerRun int // requests per worker per round

	seriesReps int
	metaWarm   int
	metaReps   int

	// cstoreReps is how many times the ingest CT is sent over DIMSE to
	// each server (after one warm-up), one association each.
	cstoreReps int
}

func fullPlan() plan {
	return plan{
		name:     "full",
		ingestCT: "CT512",
		ingestSettings: []stowSetting{
			{1, 1, 1}, {1, 4, 1}, {10, 2, 1}, {50, 2, 1},
			// Sustained: more than radmark's blob journal holds before its
			// mover must run while uploads continue.
			{1, 4, 4},
		},
		ingestReps:         5,
		cliReps:            3,
		studies:            1000,
		instancesPerSeries: 50,
		fill:               stowSetting{100, 4, 1},
		fillChunk:          50,
		qidoWarm:           20,
		qidoReqs:           300,
		frameWarm:          30,
		frameSeq:           300,
		frameConc:          4,
		frameRounds:        10,
		framePerRun:        15,
		seriesReps:         5,
		metaWarm:           3,
		metaReps:           30,
		cstoreReps:         5,
	}
}

func quickPlan() plan {
	p := fullPlan()
	p.name = "quick"
	p.ingestSettings = []stowSetting{{1, 1, 1}, {10, 2, 1}}
	p.ingestReps = 2
	p.cliReps = 1
	p.studies = 100
	p.fillChunk = 25
	p.qidoWarm = 5
	p.qidoReqs = 60
	p.frameWarm = 10
	p.frameSeq = 60
	p.frameRounds = 4
	p.framePerRun = 10
	p.seriesReps = 2
	p.metaWarm = 1
	p.metaReps = 8
	p.cstoreReps = 2
	return p
}

// smokePlan is for bench_test.go: every phase, tiny sizes.
func smokePlan() plan {
	return plan{
		name:               "smoke",
		ingestCT:           "CTSmall",
		ingestSettings:     []stowSetting{{1, 2, 1}, {8, 2, 2}},
		ingestReps:         1,
		cliReps:            1,
		studies:            6,
		instancesPerSeries: 5,
		fill:               stowSetting{10, 2, 1},
		fillChunk:          2,
		qidoWarm:           1,
		qidoReqs:           4,
		frameWarm:          1,
		frameSeq:           4,
		frameConc:          2,
		frameRounds:        2,
		framePerRun:        2,
		seriesReps:         1,
		metaWarm:           1,
		metaReps:           2,
		cstoreReps:         1,
	}
}

func (p plan) instances() int { return p.studies * 2 * p.instancesPerSeries }
