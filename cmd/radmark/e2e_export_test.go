package main

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/radmark/radmark/internal/testenv"
)

// TestExportAndReleaseThroughServer runs the CLI as a user would: exports
// and a release offline on a data folder, then the same through a real
// `radmark serve` on it as background jobs (--server): the server's SEG,
// NIfTI and nnU-Net exports are the offline bytes, imports work through
// it, releases made either way verify, and a tampered release file fails
// verify naming the file.
func TestExportAndReleaseThroughServer(t *testing.T) {
	data, ser, rev := exchangeDataDir(t)
	series := ser.SeriesInstanceUID
	out := t.TempDir()
	path := func(name string) string { return filepath.Join(out, name) }
	cli := func(args ...string) string {
		t.Helper()
		stdout, stderr, code := runCLI(t, args...)
		if code != 0 {
			t.Fatalf("radmark %s: exit %d\n%s%s", strings.Join(args, " "), code, stdout, stderr)
		}
		return stdout + stderr
	}

	// Offline, before the server holds the data folder.
	offline := map[string][]string{
		"seg":          {"seg", "--series", series, "--out", path("offline-seg.dcm")},
		"nifti":        {"nifti", "--series", series, "--out", path("offline.nii.gz")},
		"nifti-labels": {"nifti-labels", "--series", series, "--out", path("offline-labels.nii.gz")},
		"nnunet":       {"nnunet", "--project", "Phantom", "--out", path("offline-nnunet")},
	}
	for _, args := range offline {
		cli(append(append([]string{"export"}, args...), "--data", data)...)
	}
	cli("release", "create", "--project", "Phantom", "--revision", string(rev), "--seed", "7", "--out", path("offline-release.tar"), "--data", data)
	if o := cli("release", "verify", path("offline-release.tar")); !strings.Contains(o, "is intact") {
		t.Errorf("verify said %q", o)
	}

	s := startServer(t, "--data", data)
	remote := func(args ...string) []string {
		return append(args, "--project", "Phantom", "--server", s.URL, "--token", s.Token)
	}
	for format, want := range map[string]string{"seg": "offline-seg.dcm", "nifti": "offline.nii.gz", "nifti-labels": "offline-labels.nii.gz"} {
		got := path("server-" + want)
		o := cli(append([]string{"export"}, remote(format, "--series", series, "--out", got)...)...)
		if !strings.Contains(o, "export job") || !strings.Contains(o, "100%") {
			t.Errorf("%s: no job progress shown: %q", format, o)
		}
		a, b := readBytes(t, path(want)), readBytes(t, got)
		if !bytes.Equal(a, b) {
			t.Errorf("%s: the server's export (%d bytes) differs from the offline one (%d bytes)", format, len(b), len(a))
		}
	}
	cli(append([]string{"export"}, remote("nnunet", "--out", path("server-nnunet"))...)...)
	a, b := testenv.ReadTree(t, path("offline-nnunet")), testenv.ReadTree(t, path("server-nnunet"))
	if len(a) == 0 || len(a) != len(b) {
		t.Errorf("nnunet: the server's folder has %d files, the offline one %d", len(b), len(a))
	}
	for name, content := range a {
		if !bytes.Equal(content, b[name]) {
			t.Errorf("nnunet: %s differs", name)
		}
	}

	// Bad input through the server: a clear error, nothing written.
	bad := path("bad.dcm")
	stdout, stderr, code := runCLI(t, append([]string{"export"}, remote("seg", "--revision", "no-such-revision", "--out", bad)...)...)
	if code == 0 || !strings.Contains(stderr, "no-such-revision") {
		t.Errorf("export of an unknown revision: exit %d: %s%s", code, stdout, stderr)
	}
	if _, err := os.Stat(bad); !os.IsNotExist(err) {
		t.Errorf("a failed export left %s", bad)
	}
	stdout, stderr, code = runCLI(t, append([]string{"export"}, remote("coco", "--out", path("server-nnunet"))...)...)
	if code == 0 || !strings.Contains(stderr, "already exists") {
		t.Errorf("export into an existing folder: exit %d: %s%s", code, stdout, stderr)
	}
	ents, _ := os.ReadDir(out)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") || strings.HasSuffix(e.Name(), ".tar") && !strings.Contains(e.Name(), "release") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}

	// An import through the server, then its export again.
	if o := cli(append([]string{"import"}, remote("seg", path("offline-seg.dcm"), "--reader", "reader-2")...)...); !strings.Contains(o, "saved revision") {
		t.Errorf("import through the server said %q", o)
	}

	// A release through the server verifies; so does its zip.
	for _, name := range []string{"server-release.tar", "server-release.zip"} {
		o := cli(append([]string{"release", "create"}, remote("--revision", string(rev), "--seed", "7", "--out", path(name))...)...)
		if !strings.Contains(o, "release job") || !strings.Contains(o, "wrote") {
			t.Errorf("release through the server said %q", o)
		}
		if o := cli("release", "verify", path(name)); !strings.Contains(o, "is intact") {
			t.Errorf("verify %s said %q", name, o)
		}
	}

	// One changed byte in one file: verify fails and names the file.
	tampered, file := tamperTar(t, path("server-release.tar"))
	stdout, stderr, code = runCLI(t, "release", "verify", tampered)
	if code == 0 || !strings.Contains(stderr, file) {
		t.Errorf("verify of a release with %s changed: exit %d: %s%s", file, code, stdout, stderr)
	}
}

func readBytes(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// tamperTar copies a release tar with one byte of its first dataset.json
// (or else its first file after the manifest) changed, and returns the
// copy and the changed file's path inside the release.
func tamperTar(t *testing.T, name string) (string, string) {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var buf bytes.Buffer
	tr, tw := tar.NewReader(f), tar.NewWriter(&buf)
	changed := ""
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if changed == "" && h.Typeflag == tar.TypeReg && !strings.HasSuffix(h.Name, "manifest.json") && len(body) > 0 {
			body[len(body)/2] ^= 0x20
			_, changed, _ = strings.Cut(h.Name, "/")
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if changed == "" {
		t.Fatal("the release has no file to change")
	}
	out := filepath.Join(t.TempDir(), "tampered.tar")
	if err := os.WriteFile(out, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return out, changed
}
