package main

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/radmark/radmark/dicom"
	"github.com/radmark/radmark/internal/testenv"
	"github.com/radmark/radmark/phantom"
)

const lungCT = "ct/tcia_lung-pet-ct-dx_A0002_chest-8mm"

// node runs an e2e/ script and returns its JSON report; it fails the test
// on a non-zero exit, quoting the report's error.
func node(t *testing.T, script string, args ...string) map[string]any {
	t.Helper()
	stdout, stderr, code := runNode(t, script, args...)
	var report map[string]any
	_ = json.Unmarshal([]byte(stdout), &report)
	if code != 0 {
		t.Fatalf("%s failed (exit %d): %v\nstderr:\n%s", script, code, report["error"], tail(stderr, 3000))
	}
	return report
}

// runNode runs an e2e/ script and returns its output and exit code.
func runNode(t *testing.T, script string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	nodeBin := testenv.LookPath(t, "node")
	dir := filepath.Join(testenv.RepoRoot(t), "e2e")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "playwright-core")); err != nil {
		testenv.Missing(t, "e2e/node_modules is missing (run npm ci in e2e/)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, nodeBin, append([]string{script}, args...)...)
	cmd.Dir = dir
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return o.String(), e.String(), ee.ExitCode()
	}
	if err != nil {
		t.Fatalf("%s: %v", script, err)
	}
	return o.String(), e.String(), 0
}

func studyUIDOf(t *testing.T, path string) string {
	t.Helper()
	f, err := dicom.ParseFile(path, dicom.ParseOptions{StopAtPixelData: true})
	if err != nil {
		t.Fatal(err)
	}
	return f.Dataset.String(dicom.TagStudyInstanceUID)
}

// TestDicomwebClient drives radmark with the npm dicomweb-client package:
// searches, metadata, study/instance/frame retrieval and WADO-URI; then
// dcmdump must read every instance it retrieved.
func TestDicomwebClient(t *testing.T) {
	data := testenv.SharedData(t)
	dcmdump := testenv.LookPath(t, "dcmdump")
	srv := startServer(t)
	if out, _, code := runCLI(t, "ingest", "--quiet", "--server", srv.URL, "--token", srv.Token, filepath.Join(data, lungCT)); code != 0 {
		t.Fatalf("ingest: %s", out)
	}
	out := t.TempDir()
	study := studyUIDOf(t, filepath.Join(data, lungCT, "1-01.dcm"))
	report := node(t, "dicomweb-client-check.mjs", "--token", srv.Token, "--url", srv.DICOMweb(), "--study", study, "--out", out, "--wado-uri", srv.DICOMweb()+"/wado")
	files, _ := filepath.Glob(filepath.Join(out, "*.dcm"))
	if len(files) != 30 {
		t.Errorf("dicomweb-client retrieved %d instances, want 30", len(files))
	}
	for _, f := range files {
		if b, err := exec.Command(dcmdump, "-q", f).CombinedOutput(); err != nil {
			t.Errorf("dcmdump %s: %v %s", filepath.Base(f), err, b)
		}
	}
	t.Logf("dicomweb-client: %v", report["totals"])
}

// TestOHIFViewer loads the built OHIF viewer in headless Chromium against
// radmark (cross-origin, through radmark's CORS support), checks the study
// list shows the study and the viewer renders it.
func TestOHIFViewer(t *testing.T) {
	data := testenv.SharedData(t)
	testenv.LookPath(t, "chromium")
	srv := startServer(t, "--cors", "*")
	if out, _, code := runCLI(t, "ingest", "--quiet", "--server", srv.URL, "--token", srv.Token, filepath.Join(data, lungCT)); code != 0 {
		t.Fatalf("ingest: %s", out)
	}
	study := studyUIDOf(t, filepath.Join(data, lungCT, "1-01.dcm"))
	shot := filepath.Join(t.TempDir(), "ohif.png")
	report := node(t, "ohif-check.mjs", "--dicomweb", srv.DICOMweb(), "--study", study, "--screenshot", shot, "--mode", "cors", "--token", srv.Token)
	if st, err := os.Stat(shot); err != nil || st.Size() < 10000 {
		t.Errorf("screenshot missing or tiny: %v", err)
	}
	if errs, _ := report["consoleErrors"].([]any); len(errs) > 0 {
		t.Errorf("the viewer logged errors: %v", errs)
	}
}

// TestIngestCLI ingests the whole shared corpus with the CLI, offline into
// a data folder and through a server: both say the same, the malformed
// files are refused with a reason, and the server keeps serving.
func TestIngestCLI(t *testing.T) {
	data := testenv.SharedData(t)
	offline, _, code := runCLI(t, "ingest", "--quiet", "--data", t.TempDir(), data)
	if code != 1 {
		t.Fatalf("offline ingest exit %d, want 1 (some files are refused):\n%s", code, offline)
	}
	srv := startServer(t)
	online, _, code := runCLI(t, "ingest", "--quiet", "--server", srv.URL, "--token", srv.Token, data)
	if code != 1 {
		t.Fatalf("ingest through the server exit %d, want 1:\n%s", code, online)
	}
	summary := func(s string) string { return strings.SplitN(s, "\n", 2)[0] }
	if summary(offline) != summary(online) {
		t.Errorf("offline and server ingest disagree:\n%s\n%s", summary(offline), summary(online))
	}
	var stored, rejected int
	fmt.Sscanf(summary(online), "stored %d", &stored)
	if stored < 240 {
		t.Errorf("only %d stored: %s", stored, summary(online))
	}
	generated, _ := filepath.Glob(filepath.Join(data, "malformed", "generated", "*"))
	for _, g := range generated {
		if !strings.Contains(online, "rejected "+g+": ") {
			t.Errorf("%s was not refused with a reason", g)
		}
		rejected++
	}
	for _, line := range strings.Split(online, "\n") {
		if strings.HasPrefix(line, "  rejected ") && !strings.Contains(line, ": ") {
			t.Errorf("rejection without a reason: %q", line)
		}
	}
	if r, _ := get(t, srv.URL+"/healthz", ""); r.StatusCode != http.StatusOK {
		t.Errorf("server unhealthy after the corpus: %d", r.StatusCode)
	}
	// A .zip of a series is read entry by entry.
	zipPath := filepath.Join(t.TempDir(), "lung.zip")
	zf, err := os.Create(zipPath)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(zf)
	slices, _ := filepath.Glob(filepath.Join(data, lungCT, "*.dcm"))
	for _, p := range slices {
		w, _ := zw.Create("study/" + filepath.Base(p))
		b, _ := os.ReadFile(p)
		_, _ = w.Write(b)
	}
	_ = zw.Close()
	_ = zf.Close()
	if out, _, code := runCLI(t, "ingest", "--quiet", "--data", t.TempDir(), zipPath); code != 0 || !strings.HasPrefix(out, "stored 30,") {
		t.Errorf("zip ingest: %d %s", code, out)
	}
	// Ingesting again changes nothing: every stored instance is a duplicate.
	again, _, _ := runCLI(t, "ingest", "--quiet", "--server", srv.URL, "--token", srv.Token, filepath.Join(data, lungCT))
	if !strings.HasPrefix(again, "stored 0, duplicate 30") {
		t.Errorf("re-ingest: %s", summary(again))
	}
}

// phantomSlice returns one encoded slice of the small CT phantom, after
// edit changes its dataset.
func phantomSlice(t *testing.T, k int, edit func(ds *dicom.Dataset)) []byte {
	t.Helper()
	s, err := phantom.Generate(phantom.CTSmall())
	if err != nil {
		t.Fatal(err)
	}
	ds := s.Instances[k]
	if edit != nil {
		edit(ds)
	}
	var buf bytes.Buffer
	if err := dicom.WriteFile(&buf, ds, dicom.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestBadInput sends what goes wrong in the field; each gets a clear
// per-request or per-instance error, nothing is half-stored, and the
// server keeps serving.
func TestBadInput(t *testing.T) {
	srv := startServer(t, "--max-upload", "100000000")
	good := phantomSlice(t, 10, nil)
	stowURL := srv.DICOMweb() + "/studies"

	truncated := good[:len(good)-1000]
	// A raw dataset (no file meta, implicit VR) without SOPInstanceUID.
	sNoSOP, _ := phantom.Generate(phantom.CTSmall())
	sNoSOP.Instances[11].Remove(dicom.TagSOPInstanceUID)
	var noSOPBuf bytes.Buffer
	if err := dicom.WriteDataset(&noSOPBuf, sNoSOP.Instances[11], true); err != nil {
		t.Fatal(err)
	}
	noSOP := noSOPBuf.Bytes()
	unknownTS := phantomSlice(t, 12, nil)
	// Rewrite the Transfer Syntax UID in the file meta to a private one of
	// the same length.
	unknownTS = bytes.Replace(unknownTS, []byte(dicom.ExplicitVRLittleEndian+"\x00"), []byte("1.2.3.4.5.6.7.8.9.1"), 1)
	otherBytes := phantomSlice(t, 10, func(ds *dicom.Dataset) { ds.SetString(dicom.TagImageComments, "changed") })

	tests := []struct {
		name   string
		parts  [][]byte
		ctype  string
		status int
		reason string // FailureReason (hex) and words of the comment
	}{
		{"not DICOM", [][]byte{[]byte("hello, this is not DICOM")}, "", 409, "49152 not a DICOM file"},
		{"truncated", [][]byte{truncated}, "", 409, "49152 truncated"},
		{"missing SOPInstanceUID", [][]byte{noSOP}, "", 409, "49152 missing SOPInstanceUID"},
		{"unknown transfer syntax", [][]byte{unknownTS}, "", 409, "49442 unsupported transfer syntax"},
		{"wrong content type", [][]byte{good}, "application/json", 415, ""},
		{"json metadata STOW", [][]byte{good}, `multipart/related; type="application/dicom+json"; boundary=x`, 415, ""},
		{"good", [][]byte{good}, "", 200, ""},
		{"same again", [][]byte{good}, "", 200, ""},
		{"same UID other bytes", [][]byte{otherBytes}, "", 409, "273 different content"},
		{"mixed", [][]byte{good, truncated}, "", 202, "49152 truncated"},
	}
	for _, tt := range tests {
		status, resp := stow(t, stowURL, tt.ctype, tt.parts...)
		if status != tt.status {
			t.Errorf("%s: status %d, want %d: %s", tt.name, status, tt.status, resp.raw)
			continue
		}
		if tt.reason != "" {
			f := resp.failures()
			if len(f) != 1 || !containsAll(f[0], strings.Fields(tt.reason)) {
				t.Errorf("%s: failures %q, want %q", tt.name, f, tt.reason)
			}
		}
	}
	// A body over the limit is refused from its Content-Length, unread.
	req, _ := http.NewRequest(http.MethodPost, stowURL, strings.NewReader("x"))
	req.ContentLength = 2 << 30
	req.Header.Set("Content-Type", `multipart/related; type="application/dicom"; boundary=x`)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("2 GB body: status %d, want 413", resp.StatusCode)
		}
		resp.Body.Close()
	}
	// Overwrite replaces.
	if status, resp := stow(t, stowURL+"?overwrite=true", "", otherBytes); status != 200 {
		t.Errorf("overwrite: %d %s", status, resp.raw)
	}
	// Exactly one instance is stored, and it is the overwritten one.
	r, body := get(t, srv.DICOMweb()+"/instances", "application/dicom+json")
	var all []dicomJSON
	_ = json.Unmarshal(body, &all)
	if r.StatusCode != 200 || len(all) != 1 {
		t.Fatalf("instances after bad input: %d %s", r.StatusCode, body)
	}
	// A study path that does not match the instance.
	if status, resp := stow(t, stowURL+"/1.2.3.4", "", good); status != 409 {
		t.Errorf("study mismatch: %d %s", status, resp.raw)
	}
	// Bad QIDO and WADO requests.
	for _, c := range []struct {
		url, accept string
		status      int
	}{
		{"/studies?StudyDate=notadate", "", 400},
		{"/studies?limit=-3", "", 400},
		{"/studies", "application/dicom+xml", 406},
		{"/studies/1.2.3/series/4.5.6/instances/7.8.9", "", 404},
		{"/studies/not-a-uid", "", 400},
		{"/wado?requestType=WADO&studyUID=1&seriesUID=2", "", 400},
	} {
		if r, body := get(t, srv.DICOMweb()+c.url, c.accept); r.StatusCode != c.status {
			t.Errorf("GET %s: %d, want %d: %s", c.url, r.StatusCode, c.status, body)
		}
	}
	if r, _ := get(t, srv.URL+"/readyz", ""); r.StatusCode != 200 {
		t.Errorf("readyz %d", r.StatusCode)
	}
	if r, body := get(t, srv.URL+"/status", ""); r.StatusCode != 200 || !bytes.Contains(body, []byte("<td>Instances</td><td>1</td>")) {
		t.Errorf("home page %d: %s", r.StatusCode, body)
	}
}

func containsAll(s string, words []string) bool {
	for _, w := range words {
		if !strings.Contains(s, w) {
			return false
		}
	}
	return true
}

// TestPostgresBackend runs the server on PostgreSQL (a fresh schema) and
// checks a phantom series goes in and comes out.
func TestPostgresBackend(t *testing.T) {
	base := os.Getenv("RADMARK_TEST_POSTGRES")
	if base == "" {
		base = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		testenv.Missing(t, "PostgreSQL is not reachable: "+err.Error())
	}
	schema := fmt.Sprintf("radmark_e2e_%d", time.Now().UnixNano())
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = conn.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
		conn.Close(context.Background())
	})
	srv := startServer(t, "--db", base+"&search_path="+schema)
	dir := t.TempDir()
	s, err := phantom.Generate(phantom.CTSmall())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.WriteDir(dir); err != nil {
		t.Fatal(err)
	}
	if out, _, code := runCLI(t, "ingest", "--quiet", "--server", srv.URL, "--token", srv.Token, dir); code != 0 || !strings.HasPrefix(out, "stored 64,") {
		t.Fatalf("ingest on PostgreSQL: %s", out)
	}
	r, body := get(t, srv.DICOMweb()+"/studies?PatientName=phantom*", "application/dicom+json")
	var studies []dicomJSON
	if r.StatusCode != 200 || json.Unmarshal(body, &studies) != nil || len(studies) != 1 || studies[0].raw("00201208") != `["64"]` {
		t.Errorf("QIDO on PostgreSQL: %d %s", r.StatusCode, body)
	}
	r, _ = get(t, srv.DICOMweb()+"/studies/"+s.StudyInstanceUID+"/series/"+s.SeriesInstanceUID+"/instances/"+s.SOPInstanceUID(20)+"/rendered", "image/png")
	if r.StatusCode != 200 || r.Header.Get("Content-Type") != "image/png" {
		t.Errorf("rendered on PostgreSQL: %d", r.StatusCode)
	}
}
