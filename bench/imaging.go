package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"mime"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// ingestRow is one STOW-RS setting: the time each repetition took.
type ingestRow struct {
	setting stowSetting
	files   int
	bytes   int64
	seconds [2][]float64
	// cpu is the server's CPU time per repetition, in seconds; clientCPU
	// this program's while it sends to that server.
	cpu, clientCPU [2][]float64
}

// cpuPerFile is the median server CPU time per instance.
func (r ingestRow) cpuPerFile(i int) time.Duration {
	return time.Duration(medianFloat(r.cpu[i]) / float64(r.files) * 1e9)
}

// clientCPUPerFile is the median CPU time this program spent per
// instance sending to server i.
func (r ingestRow) clientCPUPerFile(i int) time.Duration {
	return time.Duration(medianFloat(r.clientCPU[i]) / float64(r.files) * 1e9)
}

func (r ingestRow) filesPerSec(i int) float64 {
	return float64(r.files) / medianFloat(r.seconds[i])
}

func (r ingestRow) mbPerSec(i int) float64 {
	return float64(r.bytes) / mb / medianFloat(r.seconds[i])
}

// cliResult is `radmark ingest --data` of the same files.
type cliResult struct {
	files   int
	bytes   int64
	seconds []float64
}

// frameRow is one frame-latency measurement.
type frameRow struct {
	accept  string
	workers int // 1: sequential
	lat     [2]latencies
	// framesPerSec is the concurrent throughput (workers > 1).
	framesPerSec [2][]float64
}

// seriesResult is whole-series retrieval and series metadata.
type seriesResult struct {
	instances int
	bytes     int64 // the DICOM files' bytes, the MB of MB/s
	seconds   [2][]float64
	cpu       [2][]float64 // server CPU time per retrieval, in seconds
	metadata  [2]latencies
	// responseBytes is each server's response size, multipart framing
	// included.
	responseBytes [2]int64
}

// imagingPhases runs the measurements on the 512×512 CT: STOW-RS ingest,
// frames and series retrieval, on one pair of fresh servers.
func (b *bench) imagingPhases(ctx context.Context, rep *report) error {
	servers, stop, err := b.pair(ctx, "imaging")
	defer stop()
	if err != nil {
		return err
	}
	// The CT that frames and series are read from. Storing it first, on
	// both servers and untimed, is also the warm-up of the ingest path.
	b.logf("generating the %s target CT", b.plan.ingestCT)
	target, err := generateCT(b.plan.ingestCT, 1)
	if err != nil {
		return err
	}
	warm := stowBodies(target.files, target.uids, 10)
	for _, s := range servers {
		if _, err := sendStow(ctx, s, warm, 2); err != nil {
			return fmt.Errorf("storing the target CT: %w", err)
		}
	}
	if err := b.checkStored(ctx, servers, target); err != nil {
		return err
	}
	rep.frameDesc = fmt.Sprintf("%d×%d, 16-bit, %d KiB", target.rows, target.columns, len(target.pixels[0])/1024)

	if b.opts.runs("ingest") {
		if err := b.profiled(servers, "ingest", func() error { return b.measureIngest(ctx, servers, rep) }); err != nil {
			return err
		}
		quiesce(servers[:]...)
		if err := b.measureCLIIngest(ctx, target, rep); err != nil {
			return err
		}
	}
	if b.opts.runs("frames") {
		quiesce(servers[:]...)
		if err := b.profiled(servers, "frames", func() error { return b.measureFrames(ctx, servers, target, rep) }); err != nil {
			return err
		}
	}
	if b.opts.runs("series") {
		quiesce(servers[:]...)
		if err := b.profiled(servers, "series", func() error { return b.measureSeries(ctx, servers, target, rep) }); err != nil {
			return err
		}
	}
	for _, s := range servers {
		rep.notes = append(rep.notes, fmt.Sprintf("%s data on disk after the imaging phases: %.0f MB", s.name, float64(s.diskUsage())/mb))
	}
	return nil
}

// measureIngest stores the CT through STOW-RS at each setting. Every
// repetition uses new UIDs (a different seed) so both servers really store
// 300 new instances each time.
func (b *bench) measureIngest(ctx context.Context, servers [2]*server, rep *report) error {
	for si, setting := range b.plan.ingestSettings {
		row := ingestRow{setting: setting}
		for r := 0; r < b.plan.ingestReps; r++ {
			cts, bodies, err := b.ingestWorkload(setting, func(k int) uint64 { return uint64(1000 + 100*si + 10*k + r) })
			if err != nil {
				return err
			}
			row.files, row.bytes = workloadSize(cts)
			for _, s := range inTurn(r, servers) {
				quiesce(servers[:]...)
				cpu, own := s.cpuTime(), ownCPUTime()
				elapsed, err := sendStow(ctx, s, bodies, setting.concurrency)
				if err != nil {
					return err
				}
				row.seconds[index(s)] = append(row.seconds[index(s)], elapsed.Seconds())
				row.cpu[index(s)] = append(row.cpu[index(s)], (s.cpuTime() - cpu).Seconds())
				row.clientCPU[index(s)] = append(row.clientCPU[index(s)], (ownCPUTime() - own).Seconds())
			}
			for _, ct := range cts {
				if err := b.checkStored(ctx, servers, ct); err != nil {
					return err
				}
			}
		}
		b.logf("ingest %v: radmark %.1f files/s, Orthanc %.1f files/s", setting, row.filesPerSec(radmarkIdx), row.filesPerSec(orthancIdx))
		rep.ingest = append(rep.ingest, row)
	}
	return nil
}

// ingestWorkload is what one timed run of setting sends: its CTs (the
// k-th generated with seed(k), new UIDs for a new seed) and their STOW-RS
// bodies.
func (b *bench) ingestWorkload(setting stowSetting, seed func(k int) uint64) ([]*ctSeries, []stowBody, error) {
	var cts []*ctSeries
	var bodies []stowBody
	for k := range setting.seriesCount() {
		ct, err := generateCT(b.plan.ingestCT, seed(k))
		if err != nil {
			return nil, nil, err
		}
		cts = append(cts, ct)
		bodies = append(bodies, stowBodies(ct.files, ct.uids, setting.perRequest)...)
	}
	return cts, bodies, nil
}

// workloadSize is how many files and DICOM bytes cts hold.
func workloadSize(cts []*ctSeries) (files int, bytes int64) {
	for _, ct := range cts {
		files += len(ct.files)
		bytes += ct.bytes
	}
	return files, bytes
}

// measureCLIIngest times `radmark ingest --data` (no server) of the CT's
// files into a fresh data directory, the whole process included.
func (b *bench) measureCLIIngest(ctx context.Context, ct *ctSeries, rep *report) error {
	// Nothing is deleted until the run ends: on this kind of VM (ext4 with
	// online discard) deleting a few hundred MB slows file creation for a
	// while, which would disturb the measurements that follow.
	dir := filepath.Join(b.tmp, "ct-files")
	if err := ct.writeFiles(dir); err != nil {
		return err
	}
	res := &cliResult{files: len(ct.files), bytes: ct.bytes}
	for r := 0; r < b.plan.cliReps; r++ {
		data := filepath.Join(b.tmp, fmt.Sprintf("cli-%d", r))
		cmd := exec.CommandContext(ctx, b.radmarkBin, "ingest", "--quiet", "--data", data, dir)
		cmd.Env = cleanEnv()
		start := time.Now()
		out, err := cmd.CombinedOutput()
		elapsed := time.Since(start)
		if err != nil {
			return fmt.Errorf("radmark ingest: %v: %s", err, out)
		}
		want := fmt.Sprintf("stored %d,", len(ct.files))
		if !strings.Contains(string(out), want) {
			return fmt.Errorf("radmark ingest did not store every file: %s", out)
		}
		res.seconds = append(res.seconds, elapsed.Seconds())
	}
	b.logf("radmark ingest --data: %.1f files/s", float64(res.files)/medianFloat(res.seconds))
	rep.cli = res
	return nil
}

func frameURL(s *server, ct *ctSeries, k int) string {
	return fmt.Sprintf("%s/studies/%s/series/%s/instances/%s/frames/1", s.dicomweb, ct.studyUID, ct.seriesUID, ct.uids[k])
}

// getFrame fetches frame 1 of slice k and checks it is exactly the slice's
// pixel data. The returned latency excludes the check.
func getFrame(ctx context.Context, s *server, ct *ctSeries, k int, accept string) (time.Duration, error) {
	body, ctype, elapsed, err := s.get(ctx, frameURL(s, ct, k), accept)
	if err != nil {
		return 0, err
	}
	parts, _, err := multipartParts(ctype, body)
	if err != nil {
		return 0, fmt.Errorf("%s frame of slice %d: %w", s.name, k, err)
	}
	if len(parts) != 1 || !bytes.Equal(parts[0], ct.pixels[k]) {
		return 0, fmt.Errorf("%s frame of slice %d (Accept: %s): %d parts, not the slice's %d pixel bytes", s.name, k, accept, len(parts), len(ct.pixels[k]))
	}
	return elapsed, nil
}

// measureFrames measures frame latency for both Accept headers:
// sequentially (one request at a time, servers alternating request by
// request) and with concurrent workers (servers alternating round by
// round).
func (b *bench) measureFrames(ctx context.Context, servers [2]*server, ct *ctSeries, rep *report) error {
	rng := rand.New(rand.NewPCG(42, 7))
	for _, accept := range []string{acceptFramesAsStored, acceptFramesDefault} {
		for i := 0; i < b.plan.frameWarm; i++ {
			k := rng.IntN(len(ct.files))
			for _, s := range inTurn(i, servers) {
				if _, err := getFrame(ctx, s, ct, k, accept); err != nil {
					return err
				}
			}
		}
		seq := frameRow{accept: accept, workers: 1}
		for i := 0; i < b.plan.frameSeq; i++ {
			k := rng.IntN(len(ct.files))
			for _, s := range inTurn(i, servers) {
				d, err := getFrame(ctx, s, ct, k, accept)
				if err != nil {
					return err
				}
				seq.lat[index(s)] = append(seq.lat[index(s)], d)
			}
		}
		rep.frames = append(rep.frames, seq)

		conc := frameRow{accept: accept, workers: b.plan.frameConc}
		n := b.plan.frameConc * b.plan.framePerRun
		for round := 0; round < b.plan.frameRounds; round++ {
			picks := make([]int, n)
			for i := range picks {
				picks[i] = rng.IntN(len(ct.files))
			}
			for _, s := range inTurn(round, servers) {
				var mu sync.Mutex
				var lat latencies
				wall, err := parallel(n, b.plan.frameConc, func(i int) error {
					d, err := getFrame(ctx, s, ct, picks[i], accept)
					mu.Lock()
					lat = append(lat, d)
					mu.Unlock()
					return err
				})
				if err != nil {
					return err
				}
				conc.lat[index(s)] = append(conc.lat[index(s)], lat...)
				conc.framesPerSec[index(s)] = append(conc.framesPerSec[index(s)], float64(n)/wall.Seconds())
			}
		}
		rep.frames = append(rep.frames, conc)
		b.logf("frames (%s): sequential median radmark %s, Orthanc %s; %d concurrent median radmark %s, Orthanc %s",
			accept, ms(seq.lat[radmarkIdx].median()), ms(seq.lat[orthancIdx].median()),
			conc.workers, ms(conc.lat[radmarkIdx].median()), ms(conc.lat[orthancIdx].median()))
	}
	return nil
}

func seriesURL(s *server, ct *ctSeries) string {
	return fmt.Sprintf("%s/studies/%s/series/%s", s.dicomweb, ct.studyUID, ct.seriesUID)
}

// verifySeries retrieves the whole series and checks that every part is
// one of the files sent (both servers store them unchanged), each exactly
// once.
func verifySeries(ctx context.Context, s *server, ct *ctSeries) error {
	req, err := http.NewRequestWithContext(ctx, "GET", seriesURL(s, ct), nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", acceptSeriesAsStored)
	want := make(map[[32]byte]bool, len(ct.files))
	for _, f := range ct.files {
		want[sha256.Sum256(f)] = true
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 500))
		return fmt.Errorf("%s series retrieval answered %s: %s", s.name, resp.Status, body)
	}
	n, _, err := streamParts(resp, func(_ int, part io.Reader) (int64, error) {
		h := sha256.New()
		m, err := io.Copy(h, part)
		var sum [32]byte
		copy(sum[:], h.Sum(nil))
		if err == nil && !want[sum] {
			err = fmt.Errorf("a part of %d bytes is none of the stored files (or a repeat)", m)
		}
		delete(want, sum)
		return m, err
	})
	if err != nil {
		return fmt.Errorf("%s series retrieval: %w", s.name, err)
	}
	if n != len(ct.files) {
		return fmt.Errorf("%s series retrieval returned %d instances, not %d", s.name, n, len(ct.files))
	}
	return nil
}

// timeSeries retrieves the whole series and returns the time to the last
// byte and the response size. It reads the body raw: parsing 150 MB of
// multipart in this process costs about as much CPU as serving it, and on
// a shared 2-core machine the client would then limit both servers to the
// same rate. A response shorter than the files sent, or without the
// closing boundary, is an error.
func timeSeries(ctx context.Context, s *server, ct *ctSeries) (time.Duration, int64, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", seriesURL(s, ct), nil)
	if err != nil {
		return 0, 0, err
	}
	req.Header.Set("Accept", acceptSeriesAsStored)
	start := time.Now()
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	tail := &tailWriter{}
	n, err := io.CopyBuffer(tail, resp.Body, make([]byte, 256<<10))
	elapsed := time.Since(start)
	if err != nil {
		return 0, 0, fmt.Errorf("%s series retrieval: %w", s.name, err)
	}
	_, params, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	closing := "--" + params["boundary"] + "--"
	if resp.StatusCode != http.StatusOK || n < ct.bytes || params["boundary"] == "" || !bytes.Contains(tail.last, []byte(closing)) {
		return 0, 0, fmt.Errorf("%s series retrieval: %s, %d bytes, not a complete multipart answer of %d instances", s.name, resp.Status, n, len(ct.files))
	}
	return elapsed, n, nil
}

// tailWriter discards what it is given but keeps the last bytes.
type tailWriter struct{ last []byte }

func (w *tailWriter) Write(p []byte) (int, error) {
	const keep = 256
	w.last = append(w.last, p[max(0, len(p)-keep):]...)
	if len(w.last) > keep {
		w.last = w.last[len(w.last)-keep:]
	}
	return len(p), nil
}

func (b *bench) measureSeries(ctx context.Context, servers [2]*server, ct *ctSeries, rep *report) error {
	res := &seriesResult{instances: len(ct.files), bytes: ct.bytes}
	// The warm-up retrieval of each server is the one fully verified.
	for _, s := range servers {
		if err := verifySeries(ctx, s, ct); err != nil {
			return err
		}
	}
	for r := 0; r < b.plan.seriesReps; r++ {
		for _, s := range inTurn(r, servers) {
			cpu := s.cpuTime()
			elapsed, n, err := timeSeries(ctx, s, ct)
			if err != nil {
				return err
			}
			res.cpu[index(s)] = append(res.cpu[index(s)], (s.cpuTime() - cpu).Seconds())
			res.seconds[index(s)] = append(res.seconds[index(s)], elapsed.Seconds())
			res.responseBytes[index(s)] = n
		}
	}
	for i := 0; i < b.plan.metaWarm+b.plan.metaReps; i++ {
		for _, s := range inTurn(i, servers) {
			body, _, d, err := s.get(ctx, seriesURL(s, ct)+"/metadata", acceptJSON)
			if err != nil {
				return err
			}
			var items []json.RawMessage
			if err := json.Unmarshal(body, &items); err != nil || len(items) != len(ct.files) {
				return fmt.Errorf("%s series metadata: %d items (%v), want %d", s.name, len(items), err, len(ct.files))
			}
			if i >= b.plan.metaWarm {
				res.metadata[index(s)] = append(res.metadata[index(s)], d)
			}
		}
	}
	b.logf("series: radmark %.0f MB/s, Orthanc %.0f MB/s", float64(res.bytes)/mb/medianFloat(res.seconds[radmarkIdx]), float64(res.bytes)/mb/medianFloat(res.seconds[orthancIdx]))
	rep.series = res
	return nil
}
