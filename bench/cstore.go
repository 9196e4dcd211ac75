package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// cstoreResult is the DIMSE C-STORE phase: the CT sent by dcmtk's
// storescu, one association per repetition.
type cstoreResult struct {
	files   int
	bytes   int64
	seconds [2][]float64
	// cpu is the server's CPU time per repetition, in seconds.
	cpu      [2][]float64
	storescu string // its version line
	profile  string // the radmark project's de-identification profile
}

func (r *cstoreResult) filesPerSec(i int) float64 {
	return float64(r.files) / medianFloat(r.seconds[i])
}

func (r *cstoreResult) mbPerSec(i int) float64 {
	return float64(r.bytes) / mb / medianFloat(r.seconds[i])
}

func (r *cstoreResult) cpuPerFile(i int) time.Duration {
	return time.Duration(medianFloat(r.cpu[i]) / float64(r.files) * 1e9)
}

// cstoreProjectAE is the radmark project AE title the phase stores into:
// what it receives is de-identified into the project.
const cstoreProjectAE = "BENCHPROJ"

// cstoreProfile is the project's profile: the basic profile, no option.
const cstoreProfile = `{"name": "basic", "options": {}}`

// cstorePhase starts radmark with a DIMSE port and a project AE title
// whose project has a de-identification profile (and a linkage key), and
// Orthanc with its DICOM port on, then sends the CT to both with
// storescu, alternating.
func (b *bench) cstorePhase(ctx context.Context, rep *report) error {
	storescu, err := exec.LookPath("storescu")
	if err != nil {
		return fmt.Errorf("the cstore phase needs dcmtk's storescu: %w (install dcmtk: scripts/install-deps.sh test)", err)
	}
	var servers [2]*server
	defer stopAll(servers[:])
	rdir, odir := filepath.Join(b.tmp, "dimse-radmark"), filepath.Join(b.tmp, "dimse-orthanc")
	for _, d := range []string{rdir, odir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	if servers[radmarkIdx], err = b.startDeidRadmark(ctx, b.radmarkBin, rdir); err != nil {
		return err
	}
	if servers[orthancIdx], err = startOrthanc(ctx, b.opts.orthanc, b.opts.orthancPlugin, b.shim, odir, true); err != nil {
		return err
	}
	if b.env != nil && b.env.dicomwebVersion == "" {
		noteOrthancPlugin(ctx, servers[orthancIdx], b.env)
	}
	b.logf("cstore: radmark AE %s at 127.0.0.1:%d, Orthanc AE %s at 127.0.0.1:%d", servers[radmarkIdx].dicomAE,
		servers[radmarkIdx].dicomPort, servers[orthancIdx].dicomAE, servers[orthancIdx].dicomPort)

	res := &cstoreResult{storescu: firstLine(commandOutput(ctx, "", storescu, "--version")), profile: cstoreProfile}
	err = b.profiled(servers, "cstore", func() error { return b.measureCStore(ctx, storescu, servers, res) })
	if err != nil {
		return err
	}
	b.logf("cstore: radmark %.1f files/s, Orthanc %.1f files/s", res.filesPerSec(radmarkIdx), res.filesPerSec(orthancIdx))
	rep.cstore = res
	return nil
}

// measureCStore sends a new copy of the CT to each server in turn, once
// untimed (the warm-up), then cstoreReps times.
func (b *bench) measureCStore(ctx context.Context, storescu string, servers [2]*server, res *cstoreResult) error {
	stored := 0 // instances radmark's archive holds
	// Repetition -1 is the warm-up, untimed.
	for r := -1; r < b.plan.cstoreReps; r++ {
		// The files are written before the clock starts and kept until
		// the run ends (see measureCLIIngest on deleting).
		ct, files, err := b.cstoreFiles(uint64(5000+r+1), fmt.Sprintf("cstore-files-%d", r+1))
		if err != nil {
			return err
		}
		res.files, res.bytes = len(ct.files), ct.bytes
		for _, s := range inTurn(r+1, servers) {
			quiesce(servers[:]...)
			cpu := s.cpuTime()
			elapsed, err := sendCStore(ctx, storescu, s, files)
			if err != nil {
				return err
			}
			if r >= 0 {
				res.seconds[index(s)] = append(res.seconds[index(s)], elapsed.Seconds())
				res.cpu[index(s)] = append(res.cpu[index(s)], (s.cpuTime() - cpu).Seconds())
			}
		}
		stored += len(ct.files)
		if err := checkCStored(ctx, servers, ct, stored); err != nil {
			return err
		}
	}
	return nil
}

// cstoreFiles writes a new copy of the ingest CT (seed) as files into
// b.tmp/dir, for storescu.
func (b *bench) cstoreFiles(seed uint64, dir string) (*ctSeries, []string, error) {
	ct, err := generateCT(b.plan.ingestCT, seed)
	if err != nil {
		return nil, nil, err
	}
	dir = filepath.Join(b.tmp, dir)
	if err := ct.writeFiles(dir); err != nil {
		return nil, nil, err
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.dcm"))
	return ct, files, err
}

// startDeidRadmark makes, through the API, a project with a reading
// workflow and a de-identification profile, then restarts radmark with a
// DIMSE port whose project AE title leads into that project: the
// project's ID is known only once it exists.
func (b *bench) startDeidRadmark(ctx context.Context, bin, dir string) (*server, error) {
	s, err := startRadmark(ctx, bin, dir, b.prof != nil)
	if err != nil {
		return nil, err
	}
	var project struct{ ID string }
	err = s.api(ctx, "POST", "/api/v1/projects", `{"name": "C-STORE benchmark"}`, &project)
	if err == nil {
		err = s.api(ctx, "PUT", "/api/v1/projects/"+project.ID+"/workflow",
			`{"baseVersion": 0, "readers": 1, "readerRoles": ["annotator"], "assignment": "pull"}`, nil)
	}
	if err == nil {
		err = s.api(ctx, "PUT", "/api/v1/projects/"+project.ID+"/deid/profiles", cstoreProfile, nil)
	}
	s.stop()
	if err != nil {
		return nil, fmt.Errorf("radmark project for the cstore phase: %w", err)
	}
	// A linkage key, so every instance's original→pseudonym record is
	// sealed and kept, as a site running de-identification would.
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	keyFile := filepath.Join(dir, "linkage.key")
	if err := os.WriteFile(keyFile, []byte(hex.EncodeToString(key)), 0o600); err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	s, err = startRadmark(ctx, bin, dir, b.prof != nil, "--dicom-port", strconv.Itoa(port), "--dicom-bind", "127.0.0.1",
		"--dicom-projects", cstoreProjectAE+" project="+project.ID, "--deid-key-file", keyFile)
	if err != nil {
		return nil, err
	}
	s.dicomPort, s.dicomAE = port, cstoreProjectAE
	return s, nil
}

// api calls radmark's JSON API and decodes the answer into out (if set).
func (s *server) api(ctx context.Context, method, path, body string, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, s.root+path, strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s answered %s: %.300s", method, path, resp.Status, b)
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

// sendCStore sends files to s's DICOM port in one association with
// storescu, TCP_NODELAY on, and returns the time the whole command took.
func sendCStore(ctx context.Context, storescu string, s *server, files []string) (time.Duration, error) {
	args := append([]string{"-aet", "BENCHSCU", "-aec", s.dicomAE, "127.0.0.1", strconv.Itoa(s.dicomPort)}, files...)
	cmd := exec.CommandContext(ctx, storescu, args...)
	cmd.Env = append(cleanEnv(), "TCP_NODELAY=1")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	elapsed := time.Since(start)
	if err != nil {
		return 0, fmt.Errorf("storescu to %s: %v: %.1000s", s.name, err, out.String())
	}
	// storescu exits 0 even when a C-STORE fails; it logs the failure.
	if strings.Contains(out.String(), "E: ") {
		return 0, fmt.Errorf("storescu to %s reported errors: %.1000s", s.name, out.String())
	}
	return elapsed, nil
}

// checkCStored checks that Orthanc holds the CT's series and that radmark
// holds want de-identified instances in all and not the original study.
func checkCStored(ctx context.Context, servers [2]*server, ct *ctSeries, want int) error {
	o := servers[orthancIdx]
	n, err := countSeriesInstances(ctx, o, ct.studyUID, ct.seriesUID)
	if err != nil {
		return err
	}
	if n != len(ct.files) {
		return fmt.Errorf("the Orthanc server holds %d instances of the series after storescu sent %d", n, len(ct.files))
	}
	return checkDeidStored(ctx, servers[radmarkIdx], ct, want)
}

// checkDeidStored checks that radmark server r holds want de-identified
// instances in all and not the original study of ct.
func checkDeidStored(ctx context.Context, r *server, ct *ctSeries, want int) error {
	body, _, _, err := r.get(ctx, r.dicomweb+"/instances?limit=100000", acceptJSON)
	if err != nil {
		return err
	}
	n, err := qidoCount(body)
	if err != nil {
		return err
	}
	if n != want {
		return fmt.Errorf("%s holds %d instances after %d were sent to its project AE", r.name, n, want)
	}
	body, _, _, err = r.get(ctx, r.dicomweb+"/studies?StudyInstanceUID="+ct.studyUID, acceptJSON)
	if err != nil {
		return err
	}
	if n, err = qidoCount(body); err != nil || n != 0 {
		return fmt.Errorf("%s's archive holds the original study %s (%d matches, %v): not de-identified", r.name, ct.studyUID, n, err)
	}
	return nil
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	for _, l := range strings.Split(s, "\n") {
		if l = strings.Trim(strings.TrimSpace(l), "$"); l != "" {
			return strings.TrimSpace(l)
		}
	}
	return s
}
