package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"strconv"
	"strings"
	"time"
)

// report collects the results of a run and renders them as Markdown.
type report struct {
	opts     options
	plan     plan
	env      environment
	started  time.Time
	finished time.Time

	ingest []ingestRow
	cli    *cliResult
	fill   *fillResult
	qido   []qidoRow
	frames []frameRow
	series *seriesResult
	cstore *cstoreResult
	notes  []string
	// frameDesc describes the CT's frames, e.g. "512×512, 16-bit, 512 KiB".
	frameDesc string
}

// Targets from the issue that asked for this benchmark.
const (
	ingestTarget = 2.0 // radmark's STOW-RS rate at least 2× Orthanc's
	frameTarget  = 1.0 // frame latency at or below Orthanc's
	cstoreTarget = 2.0 // radmark's C-STORE rate, de-identifying, at least 2× Orthanc's
)

// thousands formats n with thousands separators: 100,000.
func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func passFail(ok bool) string {
	if ok {
		return "PASS"
	}
	return "**FAIL**"
}

// speedupRange is "a×" or "a×–b×" over the rows.
func speedupRange(v []speedup) string {
	if len(v) == 0 {
		return "not measured"
	}
	lo, hi := v[0], v[0]
	for _, s := range v {
		lo, hi = speedup(math.Min(float64(lo), float64(s))), speedup(math.Max(float64(hi), float64(s)))
	}
	if lo == hi {
		return lo.String()
	}
	return lo.String() + " – " + hi.String()
}

func acceptLabel(accept string) string {
	switch accept {
	case acceptFramesAsStored:
		return "as stored (`transfer-syntax=*`, what Cornerstone sends)"
	case acceptFramesDefault:
		return "uncompressed default (no `transfer-syntax`)"
	}
	return "`" + accept + "`"
}

func (r *report) markdown() string {
	var w strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&w, format+"\n", args...) }
	p("## Results: %s run, %s", r.plan.name, r.started.Format("2006-01-02 15:04 MST"))
	p("")
	p("Command of this run: `%s` (%s).", r.opts.command, r.finished.Sub(r.started).Round(time.Second))
	p("Reproduce: `make build && go run ./bench -radmark bin/radmark -out BENCHMARKS.md`%s.", map[bool]string{true: " -quick", false: ""}[r.plan.name == "quick"])
	p("")
	p("**Speed-up** is how many times better radmark is: radmark/Orthanc for rates, Orthanc/radmark for latencies; **>1 means radmark is better**.")
	p("Both servers run at the same time on the same machine and are measured alternately (radmark first on even turns, Orthanc first on odd ones) after a warm-up.")
	p("")
	r.targets(p)
	r.environmentTable(p)
	r.ingestTable(p)
	r.qidoTables(p)
	r.frameTables(p)
	r.seriesTable(p)
	r.cstoreTable(p)
	if len(r.notes) > 0 {
		p("### Notes of this run")
		p("")
		for _, n := range r.notes {
			p("- %s", n)
		}
		p("")
	}
	return strings.TrimRight(w.String(), "\n") + "\n"
}

func (r *report) targets(p func(string, ...any)) {
	p("### Targets")
	p("")
	p("| target | measured speed-up | result |")
	p("|---|---|---|")
	if len(r.ingest) > 0 {
		var v []speedup
		ok := true
		for _, row := range r.ingest {
			s := rateSpeedup(row.filesPerSec(radmarkIdx), row.filesPerSec(orthancIdx))
			v = append(v, s)
			ok = ok && float64(s) >= ingestTarget
		}
		p("| STOW-RS ingest rate ≥ %.0f× Orthanc's, at every setting | %s | %s |", ingestTarget, speedupRange(v), passFail(ok))
	}
	if len(r.frames) > 0 {
		var v []speedup
		ok := true
		for _, row := range r.frames {
			s := latencySpeedup(row.lat[radmarkIdx].median(), row.lat[orthancIdx].median())
			v = append(v, s)
			ok = ok && float64(s) >= frameTarget
		}
		p("| WADO-RS frame latency ≤ Orthanc's (median; both Accept headers, sequential and concurrent) | %s | %s |", speedupRange(v), passFail(ok))
	}
	if c := r.cstore; c != nil {
		s := rateSpeedup(c.filesPerSec(radmarkIdx), c.filesPerSec(orthancIdx))
		p("| DIMSE C-STORE rate, de-identifying into a project, ≥ %.0f× Orthanc's | %s | %s |", cstoreTarget, s, passFail(float64(s) >= cstoreTarget))
	}
	p("")
}

func (r *report) environmentTable(p func(string, ...any)) {
	e := r.env
	p("### Environment")
	p("")
	p("| | |")
	p("|---|---|")
	p("| date | %s to %s |", r.started.Format(time.RFC3339), r.finished.Format(time.RFC3339))
	p("| CPU | %s, %d cores |", e.cpu, e.cores)
	p("| memory | %s |", e.memory)
	p("| load average (1, 5, 15 min) | %s at start, %s at end |", e.loadStart, e.loadEnd)
	p("| OS | %s |", e.kernel)
	p("| radmark | `%s`, binary %s, tree %s; embedded default storage (SQLite + folder), `--log-level warn` |", e.radmarkVersion, e.radmarkBinary, e.treeCommit)
	p("| Orthanc | %s, DICOMweb plugin %s; default configuration except: fresh storage and index directories, DICOM port off (on, with `TCP_NODELAY=1`, in the C-STORE phase), HTTP and DICOM bound to 127.0.0.1 only |", e.orthancVersion, e.dicomwebVersion)
	p("| client | this program (Go %s), HTTP/1.1 keep-alive, no `Accept-Encoding` |", e.goVersion)
	p("| storage | both servers' data under %s (%s) |", e.tempDir, e.tempFS)
	p("")
}

// quiesceNote says how timed runs start, and what that leaves out of
// radmark's figures.
const quiesceNote = "Before each timed run the benchmark waits until neither server has used CPU for 300 ms and then runs `sync`, so that work left from the run before — radmark's blob journal moving objects into its folder tree, either server's files being written back by the kernel — lands in nobody's time. radmark's journal keeps a burst's objects in its log and moves them when uploads pause (or when a quarter of its 512 MiB is left free): for a single 300-slice CT that copy happens after the clock stops and is in neither the time nor the CPU column; the \"CTs back to back\" row sends more than the journal holds, so there the mover runs during the upload (it then writes around the page cache and frees the log segment by segment)."

func (r *report) ingestTable(p func(string, ...any)) {
	if len(r.ingest) == 0 {
		return
	}
	row0 := r.ingest[0]
	p("### 1. STOW-RS ingest: %d-slice CT (%s), %.1f MB", row0.files, r.plan.ingestCT, float64(row0.bytes)/mb)
	p("")
	p("| uploader setting | radmark files/s | radmark MB/s | Orthanc files/s | Orthanc MB/s | speed-up | target ≥ %.0f× | server CPU per file: radmark | Orthanc | client CPU per file, sending to radmark / Orthanc |", ingestTarget)
	p("|---|---:|---:|---:|---:|---:|---|---:|---:|---:|")
	for _, row := range r.ingest {
		s := rateSpeedup(row.filesPerSec(radmarkIdx), row.filesPerSec(orthancIdx))
		p("| %s | %.1f | %.1f | %.1f | %.1f | %s | %s | %s | %s | %s / %s |", row.setting,
			row.filesPerSec(radmarkIdx), row.mbPerSec(radmarkIdx),
			row.filesPerSec(orthancIdx), row.mbPerSec(orthancIdx), s, passFail(float64(s) >= ingestTarget),
			ms(row.cpuPerFile(radmarkIdx)), ms(row.cpuPerFile(orthancIdx)),
			ms(row.clientCPUPerFile(radmarkIdx)), ms(row.clientCPUPerFile(orthancIdx)))
	}
	if c := r.cli; c != nil {
		t := medianFloat(c.seconds)
		p("| `radmark ingest --data` (offline CLI, no server; whole process) | %.1f | %.1f | — | — | — | — | — | — | — |", float64(c.files)/t, float64(c.bytes)/mb/t)
	}
	p("")
	p("Median of %d repetitions per setting (CLI: %d). Each repetition stores %d new instances (a new seed gives new UIDs, same pixels), or, where the setting says \"CTs back to back\", that many such CTs as new studies in one timed run; they are sent as `multipart/related; type=\"application/dicom\"` bodies built before the clock starts; the time runs from the first request to the last response. Every instance must appear in the response's ReferencedSOPSequence and none in FailedSOPSequence, and QIDO-RS must then find all of them. Server CPU is the server process's user + system time over the repetition (from /proc), divided by the files; client CPU is this program's own (getrusage) over the same time: on this machine the uploader shares the cores with the server it sends to.",
		r.plan.ingestReps, r.plan.cliReps, row0.files)
	p("")
	p(quiesceNote)
	p("")
}

func (r *report) qidoTables(p func(string, ...any)) {
	if r.fill == nil {
		return
	}
	f := r.fill
	p("### 2. QIDO-RS study search with %s indexed instances", thousands(f.instances))
	p("")
	p("Data set: %s studies × 2 series × %d instances of 16×16-pixel CT (%.1f KB each, %.1f MB in all; %d patients with two studies each, 40 family names, study dates 2010–2024); generated in %.1f s.",
		thousands(f.studies), r.plan.instancesPerSeries, float64(f.bytes)/float64(f.instances)/1e3, float64(f.bytes)/mb, (f.studies+1)/2, f.generateSeconds)
	p("")
	p("| fill | radmark | Orthanc | speed-up |")
	p("|---|---:|---:|---:|")
	p("| method | %s | %s | |", f.method[radmarkIdx], f.method[orthancIdx])
	p("| time | %.1f s | %.1f s | %s |", f.seconds[radmarkIdx], f.seconds[orthancIdx], latencySpeedup(time.Duration(f.seconds[radmarkIdx]*1e9), time.Duration(f.seconds[orthancIdx]*1e9)))
	p("| instances/s | %.0f | %.0f | %s |", float64(f.instances)/f.seconds[radmarkIdx], float64(f.instances)/f.seconds[orthancIdx], rateSpeedup(float64(f.instances)/f.seconds[radmarkIdx], float64(f.instances)/f.seconds[orthancIdx]))
	p("| server CPU per instance | %s | %s | %s |", ms(time.Duration(f.cpu[radmarkIdx]/float64(f.instances)*1e9)), ms(time.Duration(f.cpu[orthancIdx]/float64(f.instances)*1e9)), rateSpeedup(f.cpu[orthancIdx], f.cpu[radmarkIdx]))
	p("")
	p("The servers took turns in chunks of %d studies; each time is the sum of that server's turns. %s", r.plan.fillChunk, f.orthancTrial)
	p("")
	if len(r.qido) == 0 {
		return
	}
	p("| `GET /studies?…` | studies matched (median) | radmark median | radmark p95 | Orthanc median | Orthanc p95 | speed-up (median) | speed-up (p95) |")
	p("|---|---:|---:|---:|---:|---:|---:|---:|")
	for _, row := range r.qido {
		res := make([]float64, len(row.results))
		for i, v := range row.results {
			res[i] = float64(v)
		}
		rl, ol := row.lat[radmarkIdx], row.lat[orthancIdx]
		p("| `%s` | %.0f | %s | %s | %s | %s | %s | %s |", row.label, medianFloat(res),
			ms(rl.median()), ms(rl.p95()), ms(ol.median()), ms(ol.p95()),
			latencySpeedup(rl.median(), ol.median()), latencySpeedup(rl.p95(), ol.p95()))
	}
	p("")
	p("%d requests per query kind and server after %d warm-up requests, the servers alternating request by request with the same random query (random family name and 3-year date range; random study). Each answer's result count is checked against the count expected from the generated data.", r.plan.qidoReqs, r.plan.qidoWarm)
	for _, row := range r.qido {
		for i, name := range []string{"radmark", "Orthanc"} {
			if row.mismatches[i] > 0 {
				p("")
				p("**%s returned an unexpected number of studies for `%s` in %d requests**, e.g. %s.", name, row.label, row.mismatches[i], row.example[i])
			}
		}
	}
	p("")
}

func (r *report) frameTables(p func(string, ...any)) {
	if len(r.frames) == 0 {
		return
	}
	p("### 3. WADO-RS frame latency: `GET …/instances/{uid}/frames/1` of random slices (%s)", r.frameDesc)
	p("")
	p("| Accept `multipart/related; type=\"application/octet-stream\"…` | requests in flight | radmark median | radmark p95 | Orthanc median | Orthanc p95 | speed-up (median) | speed-up (p95) | target ≤ Orthanc |")
	p("|---|---:|---:|---:|---:|---:|---:|---:|---|")
	for _, row := range r.frames {
		rl, ol := row.lat[radmarkIdx], row.lat[orthancIdx]
		s := latencySpeedup(rl.median(), ol.median())
		p("| %s | %d | %s | %s | %s | %s | %s | %s | %s |", acceptLabel(row.accept), row.workers,
			ms(rl.median()), ms(rl.p95()), ms(ol.median()), ms(ol.p95()), s, latencySpeedup(rl.p95(), ol.p95()), passFail(float64(s) >= frameTarget))
	}
	p("")
	p("| Accept | concurrent requests | radmark frames/s | Orthanc frames/s | speed-up |")
	p("|---|---:|---:|---:|---:|")
	for _, row := range r.frames {
		if row.workers < 2 {
			continue
		}
		rf, of := medianFloat(row.framesPerSec[radmarkIdx]), medianFloat(row.framesPerSec[orthancIdx])
		p("| %s | %d | %.0f | %.0f | %s |", acceptLabel(row.accept), row.workers, rf, of, rateSpeedup(rf, of))
	}
	p("")
	p("Sequential: %d requests per server after %d warm-up requests, alternating request by request, same slice for both. Concurrent: %d rounds of %d workers × %d requests, the servers alternating round by round; frames/s is the median over rounds. Latency is the time to the last byte; every frame is then checked byte for byte against the phantom's pixel data.",
		r.plan.frameSeq, r.plan.frameWarm, r.plan.frameRounds, r.plan.frameConc, r.plan.framePerRun)
	p("")
}

func (r *report) seriesTable(p func(string, ...any)) {
	s := r.series
	if s == nil {
		return
	}
	p("### 4. WADO-RS series retrieval and metadata")
	p("")
	rr, or := float64(s.bytes)/mb/medianFloat(s.seconds[radmarkIdx]), float64(s.bytes)/mb/medianFloat(s.seconds[orthancIdx])
	rm, om := s.metadata[radmarkIdx], s.metadata[orthancIdx]
	p("| | radmark | Orthanc | speed-up |")
	p("|---|---:|---:|---:|")
	p("| whole series, `multipart/related; type=\"application/dicom\"; transfer-syntax=*` (%d instances, %.1f MB): MB/s | %.0f | %.0f | %s |", s.instances, float64(s.bytes)/mb, rr, or, rateSpeedup(rr, or))
	p("| whole series: seconds | %.2f s | %.2f s | %s |", medianFloat(s.seconds[radmarkIdx]), medianFloat(s.seconds[orthancIdx]), rateSpeedup(rr, or))
	rc, oc := medianFloat(s.cpu[radmarkIdx]), medianFloat(s.cpu[orthancIdx])
	p("| whole series: server CPU time | %.2f s | %.2f s | %s |", rc, oc, rateSpeedup(oc, rc))
	p("| series metadata (`…/series/{uid}/metadata`, %d instances): median | %s | %s | %s |", s.instances, ms(rm.median()), ms(om.median()), latencySpeedup(rm.median(), om.median()))
	p("| series metadata: p95 | %s | %s | %s |", ms(rm.p95()), ms(om.p95()), latencySpeedup(rm.p95(), om.p95()))
	p("")
	p("Series: median of %d retrievals per server after one warm-up retrieval each, which is parsed and verified: every part is one of the files sent, byte for byte. The timed retrievals read the body raw to the last byte (checking its size and closing boundary) because parsing the multipart here would make this process, on the same CPUs, the limit; MB/s counts the DICOM bytes (responses with framing: radmark %.1f MB, Orthanc %.1f MB). Metadata: %d requests per server after %d warm-up, each answer checked to hold %d instances.",
		r.plan.seriesReps, float64(s.responseBytes[radmarkIdx])/mb, float64(s.responseBytes[orthancIdx])/mb, r.plan.metaReps, r.plan.metaWarm, s.instances)
	p("")
}

func (r *report) cstoreTable(p func(string, ...any)) {
	c := r.cstore
	if c == nil {
		return
	}
	p("### 5. DIMSE C-STORE: %d-slice CT (%s), %.1f MB, with `storescu`", c.files, r.plan.ingestCT, float64(c.bytes)/mb)
	p("")
	p("| | radmark (project AE, de-identifying) | Orthanc (DICOM port) | speed-up |")
	p("|---|---:|---:|---:|")
	rf, of := c.filesPerSec(radmarkIdx), c.filesPerSec(orthancIdx)
	p("| files/s | %.1f | %.1f | %s |", rf, of, rateSpeedup(rf, of))
	p("| MB/s | %.1f | %.1f | %s |", c.mbPerSec(radmarkIdx), c.mbPerSec(orthancIdx), rateSpeedup(c.mbPerSec(radmarkIdx), c.mbPerSec(orthancIdx)))
	p("| seconds per association (%d files) | %.2f s | %.2f s | %s |", c.files, medianFloat(c.seconds[radmarkIdx]), medianFloat(c.seconds[orthancIdx]), rateSpeedup(rf, of))
	rc, oc := c.cpuPerFile(radmarkIdx), c.cpuPerFile(orthancIdx)
	p("| server CPU per file | %s | %s | %s |", ms(rc), ms(oc), latencySpeedup(rc, oc))
	p("")
	p("Median of %d repetitions after one warm-up; each repetition writes a new copy of the CT (new UIDs) to files before the clock starts, then runs `TCP_NODELAY=1 storescu -aet BENCHSCU -aec AE 127.0.0.1 PORT` with all %d files, one association, against each server in turn; the time is the whole command; each run starts after the wait described under STOW-RS ingest. %s. radmark receives on a project AE title (`--dicom-projects`) whose project has the de-identification profile `%s` (PS3.15 Annex E basic profile, no option) and a linkage key: each instance is de-identified, checked by the PHI scanner, its sealed linkage kept, and only the copy stored. After each repetition Orthanc must hold the series and radmark the expected number of instances, none in the original study.",
		r.plan.cstoreReps, c.files, c.storescu, c.profile)
	p("")
}

// Markers delimit the part of BENCHMARKS.md the program owns; text
// outside them (the method, the analysis) is kept.
const (
	beginMarker = "<!-- bench:results:begin (written by `go run ./bench -out`; edit outside these markers) -->"
	endMarker   = "<!-- bench:results:end -->"
)

const defaultHeader = `# radmark benchmarks

radmark against Orthanc, measured in one command as ratios: see bench/main.go
for what is measured and how.

`

// updateMarkdownFile replaces the results section of path with md,
// creating the file (or the section) if needed. It writes through a
// temporary file so an interrupted run never leaves half a file.
func updateMarkdownFile(path, md string) error {
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	section := beginMarker + "\n" + md + endMarker + "\n"
	var out []byte
	i, j := bytes.Index(old, []byte(beginMarker)), bytes.Index(old, []byte(endMarker))
	switch {
	case len(old) == 0:
		out = []byte(defaultHeader + section)
	case i >= 0 && j > i:
		out = append(append(append([]byte{}, old[:i]...), section...), bytes.TrimPrefix(old[j+len(endMarker):], []byte("\n"))...)
	default:
		out = append(append(bytes.TrimRight(old, "\n"), "\n\n"...), section...)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, out, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
