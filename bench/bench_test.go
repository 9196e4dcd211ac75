package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/radmark/radmark/internal/testenv"
)

func TestLatencyStats(t *testing.T) {
	var l latencies
	for i := 1; i <= 20; i++ {
		l = append(l, time.Duration(i)*time.Millisecond)
	}
	if got := l.median(); got != 10500*time.Microsecond {
		t.Errorf("median = %v, want 10.5ms", got)
	}
	if got := l.p95(); got != 19*time.Millisecond {
		t.Errorf("p95 = %v, want 19ms (nearest rank)", got)
	}
	if got := latencySpeedup(10*time.Millisecond, 25*time.Millisecond); float64(got) != 2.5 {
		t.Errorf("latency speed-up = %v, want 2.5 (Orthanc/radmark)", got)
	}
	if got := rateSpeedup(50, 100); float64(got) != 0.5 {
		t.Errorf("rate speed-up = %v, want 0.5 (radmark/Orthanc)", got)
	}
}

func TestThousands(t *testing.T) {
	for n, want := range map[int]string{0: "0", 999: "999", 1000: "1,000", 10000: "10,000", 100000: "100,000", 1234567: "1,234,567"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestStowBodyRoundTrip(t *testing.T) {
	files := [][]byte{[]byte("first file"), []byte("second\r\n--file")}
	b := newStowBody(files, []string{"1.2.3", "1.2.4"})
	parts, types, err := multipartParts(b.contentType, b.body)
	if err != nil {
		t.Fatal(err)
	}
	if len(parts) != 2 || !bytes.Equal(parts[0], files[0]) || !bytes.Equal(parts[1], files[1]) {
		t.Fatalf("parts = %q, want %q", parts, files)
	}
	if types[0] != "application/dicom" || b.bytes != int64(len(files[0])+len(files[1])) {
		t.Errorf("part type %q, bytes %d", types[0], b.bytes)
	}
}

func TestCheckStowResponse(t *testing.T) {
	ok := `{"00081199":{"vr":"SQ","Value":[{"00081155":{"vr":"UI","Value":["1.2.3"]}},{"00081155":{"vr":"UI","Value":["1.2.4"]}}]}}`
	if err := checkStowResponse("x", []byte(ok), []string{"1.2.3", "1.2.4"}); err != nil {
		t.Errorf("all acknowledged: %v", err)
	}
	if err := checkStowResponse("x", []byte(ok), []string{"1.2.3", "1.2.5"}); err == nil {
		t.Error("an instance missing from ReferencedSOPSequence was not noticed")
	}
	failed := `{"00081198":{"vr":"SQ","Value":[{"00081155":{"vr":"UI","Value":["1.2.4"]}}]},"00081199":{"vr":"SQ","Value":[{"00081155":{"vr":"UI","Value":["1.2.3"]}}]}}`
	if err := checkStowResponse("x", []byte(failed), []string{"1.2.3", "1.2.4"}); err == nil {
		t.Error("a FailedSOPSequence item was not noticed")
	}
}

func TestUpdateMarkdownFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "BENCHMARKS.md")
	if err := updateMarkdownFile(path, "first\n"); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	// Hand-written text around the section must survive an update.
	edited := strings.Replace(string(b), beginMarker, "analysis by hand\n\n"+beginMarker, 1) + "\nfooter\n"
	if err := os.WriteFile(path, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := updateMarkdownFile(path, "second\n"); err != nil {
		t.Fatal(err)
	}
	b, _ = os.ReadFile(path)
	got := string(b)
	for _, want := range []string{"analysis by hand", "second\n", "footer"} {
		if !strings.Contains(got, want) {
			t.Errorf("updated file lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "first") || strings.Count(got, beginMarker) != 1 {
		t.Errorf("old results not replaced exactly once:\n%s", got)
	}
}

func TestGenerateStudyDeterministic(t *testing.T) {
	a, err := generateStudy(3, 2)
	if err != nil {
		t.Fatal(err)
	}
	b, err := generateStudy(3, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.files) != 4 || a.studyUID != b.studyUID || !bytes.Equal(a.files[3], b.files[3]) {
		t.Fatalf("study 3 differs between two generations or has %d files", len(a.files))
	}
	c, err := generateStudy(2, 2)
	if err != nil {
		t.Fatal(err)
	}
	if c.studyUID == a.studyUID || c.uids[0] == a.uids[0] {
		t.Error("studies 2 and 3 share UIDs")
	}
	if c.patientName != a.patientName {
		t.Error("studies 2 and 3 should belong to one patient (two studies per patient)")
	}
}

// TestSmoke runs every phase at a miniature size against the real
// servers: radmark built from this tree and Debian's Orthanc. It checks
// that the harness works end to end, not any speed (the full benchmark is
// `make bench`, minutes long, never part of go test).
func TestSmoke(t *testing.T) {
	testenv.Long(t, "starts two servers")
	o := options{
		orthanc:       "/usr/sbin/Orthanc",
		orthancPlugin: "/usr/share/orthanc/plugins/libOrthancDicomWeb.so",
		radmarkSrc:    testenv.RepoRoot(t),
		workDir:       t.TempDir(),
	}
	for _, f := range []string{o.orthanc, o.orthancPlugin} {
		if _, err := os.Stat(f); err != nil {
			testenv.Missing(t, "Orthanc with its DICOMweb plugin ("+f+")")
		}
	}
	testenv.LookPath(t, "cc")
	testenv.LookPath(t, "storescu")
	o.radmark = filepath.Join(t.TempDir(), "radmark")
	build := exec.Command("go", "build", "-o", o.radmark, "./cmd/radmark")
	build.Dir = o.radmarkSrc
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build radmark: %v\n%s", err, out)
	}
	smoke := smokePlan()
	o.plan = &smoke
	o.out = filepath.Join(t.TempDir(), "BENCHMARKS.md")
	o.command = "go test ./bench -run TestSmoke"

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	err := runWith(ctx, o, &stdout, &stderr)
	if err != nil {
		t.Fatalf("smoke run: %v\n%s", err, stderr.String())
	}
	md, err := os.ReadFile(o.out)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("progress:\n%s\nreport:\n%s", stderr.String(), md)
	for _, want := range []string{
		"### Targets", "### Environment", "### 1. STOW-RS ingest", "`radmark ingest --data`",
		"### 2. QIDO-RS", "### 3. WADO-RS frame latency", "### 4. WADO-RS series retrieval", "### 5. DIMSE C-STORE",
		"Orthanc 1.", "DICOMweb plugin 1.",
	} {
		if !strings.Contains(string(md), want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if !strings.Contains(string(md), "| STOW-RS ingest rate ≥") || !strings.Contains(string(md), "| WADO-RS frame latency ≤") ||
		!strings.Contains(string(md), "| DIMSE C-STORE rate") {
		t.Error("report lacks the PASS/FAIL lines of the targets")
	}
	// Every ingest row says how much CPU the uploader spent with each server (not zero: it sent the files).
	if rows := regexp.MustCompile(`(?m)^\| 1 file\(s\)/request .*\| ([0-9.]+) ms / ([0-9.]+) ms \|$`).FindAllStringSubmatch(string(md), -1); len(rows) == 0 {
		t.Error("the ingest table has no client CPU column")
	} else {
		for _, r := range rows {
			if r[1] == "0.00" || r[2] == "0.00" {
				t.Errorf("client CPU per file %s / %s ms", r[1], r[2])
			}
		}
	}
	if strings.Contains(string(md), "unexpected number of studies") {
		t.Error("the servers' QIDO-RS answers did not match the generated data")
	}
	// Nothing is left running or on disk.
	entries, _ := os.ReadDir(o.workDir)
	if len(entries) != 0 {
		t.Errorf("temporary files left in %s: %v", o.workDir, entries)
	}
}

// TestVersusSmoke compares a radmark build with itself (-versus): both
// servers store every CT of every setting and every C-STORE round, and
// the tables have a row per setting, and one for C-STORE, with both
// rates.
func TestVersusSmoke(t *testing.T) {
	testenv.Long(t, "starts four servers")
	testenv.LookPath(t, "storescu")
	o := options{radmarkSrc: testenv.RepoRoot(t), workDir: t.TempDir()}
	o.radmark = filepath.Join(t.TempDir(), "radmark")
	build := exec.Command("go", "build", "-o", o.radmark, "./cmd/radmark")
	build.Dir = o.radmarkSrc
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build radmark: %v\n%s", err, out)
	}
	o.versus = o.radmark
	smoke := smokePlan()
	o.plan = &smoke
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	if err := runWith(ctx, o, &stdout, &stderr); err != nil {
		t.Fatalf("versus run: %v\n%s", err, stderr.String())
	}
	t.Logf("%s", stdout.String())
	rows := []string{"| one association, "}
	for _, setting := range smoke.ingestSettings {
		rows = append(rows, "| "+setting.String()+" |")
	}
	for _, prefix := range rows {
		row := ""
		for line := range strings.Lines(stdout.String()) {
			if strings.HasPrefix(line, prefix) {
				row = line
			}
		}
		cells := strings.Split(row, "|")
		if len(cells) != 7 || strings.TrimSpace(cells[2]) == "0.0" || strings.TrimSpace(cells[3]) == "0.0" {
			t.Errorf("no row with both rates for %s: %q", prefix, row)
		}
	}
	if entries, _ := os.ReadDir(o.workDir); len(entries) != 0 {
		t.Errorf("temporary files left in %s: %v", o.workDir, entries)
	}
}

func TestVersusOptions(t *testing.T) {
	for _, args := range [][]string{
		{"-versus", "b", "-radmark", "a", "-out", "x.md"},
		{"-versus", "b", "-radmark", "a", "-only", "qido"},
		{"-versus", "b", "-radmark", "a", "-only", "ingest,frames"},
		{"-versus", "b", "-radmark", "a", "-profile", "p"},
		{"-versus", "b"},
	} {
		if _, err := parseOptions(args, io.Discard); err == nil {
			t.Errorf("parseOptions(%q) accepted", args)
		}
	}
	for _, only := range []string{"ingest", "cstore", "ingest,cstore"} {
		if o, err := parseOptions([]string{"-versus", "b", "-radmark", "a", "-only", only}, io.Discard); err != nil || o.versus != "b" {
			t.Errorf("parseOptions of a valid -versus run (-only %s): %+v, %v", only, o, err)
		}
	}
}

func TestIngestOption(t *testing.T) {
	o, err := parseOptions([]string{"-radmark", "a", "-ingest", "1x4x4, 10x2"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := []stowSetting{{1, 4, 4}, {10, 2, 1}}
	if !slices.Equal(o.ingest, want) {
		t.Errorf("-ingest 1x4x4,10x2 gave %v, want %v", o.ingest, want)
	}
	for _, bad := range []string{"1", "1x", "0x4", "1x4x4x4", "axb", "1x2000", ""} {
		if _, err := parseOptions([]string{"-radmark", "a", "-ingest", bad + ",1x1"}, io.Discard); err == nil {
			t.Errorf("-ingest %q accepted", bad+",1x1")
		}
	}
	if _, err := parseOptions([]string{"-radmark", "a", "-ingest", "1x1", "-out", "x.md"}, io.Discard); err == nil {
		t.Error("-ingest with -out accepted")
	}
}
