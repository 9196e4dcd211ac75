package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/url"
	"runtime"
	"strings"
	"time"
)

// fillResult is how long each server took to index the QIDO-RS data set.
type fillResult struct {
	studies, instances int
	bytes              int64
	method             [2]string
	seconds            [2]float64
	cpu                [2]float64 // server CPU time during its turns
	generateSeconds    float64
	orthancTrial       string
}

// qidoRow is one kind of study search.
type qidoRow struct {
	label string
	lat   [2]latencies
	// results is the number of studies each request of this kind matched
	// (the same on both servers, or the mismatch is recorded).
	results    []int
	mismatches [2]int
	example    [2]string // first mismatch, for the report
}

// qidoPhase fills a fresh pair of servers with many small studies and
// measures study searches on them.
func (b *bench) qidoPhase(ctx context.Context, rep *report) error {
	start := time.Now()
	b.logf("generating %d studies (%d instances)", b.plan.studies, b.plan.instances())
	studies, err := generateStudies(b.plan.studies, b.plan.instancesPerSeries)
	if err != nil {
		return err
	}
	fill := &fillResult{studies: len(studies), generateSeconds: time.Since(start).Seconds()}
	for _, st := range studies {
		fill.instances += len(st.files)
		for _, f := range st.files {
			fill.bytes += int64(len(f))
		}
	}
	servers, stop, err := b.pair(ctx, "qido")
	defer stop()
	if err != nil {
		return err
	}
	if err := b.profiled(servers, "fill", func() error { return b.fill(ctx, servers, studies, fill) }); err != nil {
		return err
	}
	rep.fill = fill
	return b.profiled(servers, "qido", func() error { return b.measureQIDO(ctx, servers, studies, rep) })
}

// generateStudies makes the fill's studies on every CPU.
func generateStudies(n, perSeries int) ([]*smallStudy, error) {
	studies := make([]*smallStudy, n)
	_, err := parallel(n, runtime.GOMAXPROCS(0), func(i int) error {
		st, err := generateStudy(i, perSeries)
		studies[i] = st
		return err
	})
	return studies, err
}

// fill stores the studies on both servers, each in the fastest way we
// found for it. radmark: STOW-RS, one study (100 instances) per request,
// the plan's concurrency, as a PACS forwarding studies or a bulk uploader
// does. Orthanc: whichever is faster of the same STOW-RS and its native
// REST API (POST /instances, one file per request, same concurrency); the
// first two chunks try one each and the rest use the faster. The servers
// take turns chunk by chunk so that both see the same machine conditions;
// each server's time is the sum of its turns.
func (b *bench) fill(ctx context.Context, servers [2]*server, studies []*smallStudy, res *fillResult) error {
	setting := b.plan.fill
	stowMethod := "STOW-RS, " + setting.String()
	restMethod := fmt.Sprintf("REST `POST /instances`, 1 file/request × %d concurrent", setting.concurrency)
	res.method = [2]string{stowMethod, ""}
	var trial [2]float64 // Orthanc's instances/s by STOW-RS, by REST
	var elapsed [2]time.Duration
	send := func(s *server, chunk []*smallStudy, method string) (time.Duration, error) {
		if method == restMethod {
			var files [][]byte
			for _, st := range chunk {
				files = append(files, st.files...)
			}
			return parallel(len(files), setting.concurrency, func(i int) error { return s.postInstance(ctx, files[i]) })
		}
		var bodies []stowBody
		for _, st := range chunk {
			bodies = append(bodies, stowBodies(st.files, st.uids, setting.perRequest)...)
		}
		return sendStow(ctx, s, bodies, setting.concurrency)
	}
	turn := 0
	for c := 0; c < len(studies); c += b.plan.fillChunk {
		chunk := studies[c:min(c+b.plan.fillChunk, len(studies))]
		n := 0
		for _, st := range chunk {
			n += len(st.files)
		}
		for _, s := range inTurn(turn, servers) {
			method := stowMethod
			if s.name == "Orthanc" {
				switch {
				case turn == 1:
					method = restMethod
				case turn > 1 && trial[1] > trial[0]:
					method = restMethod
				}
			}
			cpu := s.cpuTime()
			d, err := send(s, chunk, method)
			if err != nil {
				return err
			}
			elapsed[index(s)] += d
			res.cpu[index(s)] += (s.cpuTime() - cpu).Seconds()
			if s.name == "Orthanc" && turn < 2 {
				trial[turn] = float64(n) / d.Seconds()
			}
		}
		turn++
		if turn%5 == 0 {
			b.logf("fill: %d of %d studies", min(c+b.plan.fillChunk, len(studies)), len(studies))
		}
	}
	res.method[orthancIdx] = stowMethod
	if trial[1] > trial[0] {
		res.method[orthancIdx] = restMethod
	}
	res.orthancTrial = fmt.Sprintf("Orthanc's trial on the first two chunks: STOW-RS (%s) %.0f instances/s, REST %.0f instances/s; the faster filled the rest.", setting, trial[0], trial[1])
	for i := range elapsed {
		res.seconds[i] = elapsed[i].Seconds()
	}
	// Every instance was acknowledged; check the study count as well.
	for _, s := range servers {
		body, _, _, err := s.get(ctx, fmt.Sprintf("%s/studies?limit=%d", s.dicomweb, len(studies)+10), acceptJSON)
		if err != nil {
			return err
		}
		n, err := qidoCount(body)
		if err != nil {
			return err
		}
		if n != len(studies) {
			return fmt.Errorf("%s finds %d studies after storing %d", s.name, n, len(studies))
		}
	}
	b.logf("fill: radmark %.0f s, Orthanc %.0f s", res.seconds[radmarkIdx], res.seconds[orthancIdx])
	return nil
}

// qidoKind is a study search: a label for the report and a generator of
// concrete queries with the number of studies they must match.
type qidoKind struct {
	label string
	query func(rng *rand.Rand) (query string, want int)
}

func qidoKinds(studies []*smallStudy) []qidoKind {
	const limit = 100
	return []qidoKind{
		{
			label: "PatientName=FAMILY*&StudyDate=YYYY0101-YYYY1231 (3 years)&limit=100",
			query: func(rng *rand.Rand) (string, int) {
				family := familyNames[rng.IntN(len(familyNames))]
				from := fillFirstYear + rng.IntN(fillYears-2)
				lo, hi := fmt.Sprintf("%04d0101", from), fmt.Sprintf("%04d1231", from+2)
				want := 0
				for _, st := range studies {
					if strings.HasPrefix(st.patientName, family) && st.studyDate >= lo && st.studyDate <= hi {
						want++
					}
				}
				q := "PatientName=" + queryEscape(family+"*") + "&StudyDate=" + lo + "-" + hi + fmt.Sprintf("&limit=%d", limit)
				return q, min(want, limit)
			},
		},
		{
			label: "StudyInstanceUID=UID",
			query: func(rng *rand.Rand) (string, int) {
				return "StudyInstanceUID=" + studies[rng.IntN(len(studies))].studyUID, 1
			},
		},
		{
			label: "limit=100",
			query: func(*rand.Rand) (string, int) { return fmt.Sprintf("limit=%d", limit), min(limit, len(studies)) },
		},
	}
}

// queryEscape escapes a query value as browsers' encodeURIComponent does,
// which OHIF uses: the wildcard `*` stays literal. (Orthanc 1.10 with
// DICOMweb 1.7 treats a percent-encoded %2A as a literal asterisk and
// finds nothing, so Go's url.QueryEscape would make Orthanc look wrong.)
func queryEscape(v string) string {
	return strings.ReplaceAll(url.QueryEscape(v), "%2A", "*")
}

func (b *bench) measureQIDO(ctx context.Context, servers [2]*server, studies []*smallStudy, rep *report) error {
	rng := rand.New(rand.NewPCG(7, 42))
	for _, kind := range qidoKinds(studies) {
		row := qidoRow{label: kind.label}
		for i := 0; i < b.plan.qidoWarm+b.plan.qidoReqs; i++ {
			q, want := kind.query(rng)
			for _, s := range inTurn(i, servers) {
				body, _, d, err := s.get(ctx, s.dicomweb+"/studies?"+q, acceptJSON)
				if err != nil {
					return err
				}
				n, err := qidoCount(body)
				if err != nil {
					return fmt.Errorf("%s: %w", s.name, err)
				}
				if n != want {
					if row.mismatches[index(s)] == 0 {
						row.example[index(s)] = fmt.Sprintf("?%s gave %d, expected %d", q, n, want)
					}
					row.mismatches[index(s)]++
				}
				if i >= b.plan.qidoWarm {
					row.lat[index(s)] = append(row.lat[index(s)], d)
				}
			}
			if i >= b.plan.qidoWarm {
				row.results = append(row.results, want)
			}
		}
		b.logf("QIDO %s: median radmark %s, Orthanc %s", kind.label, ms(row.lat[radmarkIdx].median()), ms(row.lat[orthancIdx].median()))
		rep.qido = append(rep.qido, row)
	}
	return nil
}
