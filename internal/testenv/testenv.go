// Package testenv decides what a test does when something it needs from the
// machine (a program, a server, a data folder) is missing: outside CI it
// skips with the reason; with CI=true it fails, because CI installs
// everything the tests need and a skip there would hide a broken set-up.
package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// InCI reports whether the tests run under CI (CI=true).
func InCI() bool { return os.Getenv("CI") == "true" }

// Missing skips the test outside CI and fails it in CI, with why.
func Missing(tb testing.TB, why string) {
	tb.Helper()
	if InCI() {
		tb.Fatalf("required test dependency missing (CI=true): %s", why)
	}
	tb.Skipf("skipped: %s (set up the machine with .ci/run)", why)
}

// LookPath returns the path of program, or calls Missing.
func LookPath(tb testing.TB, program string) string {
	tb.Helper()
	p, err := exec.LookPath(program)
	if err != nil {
		Missing(tb, program+" is not installed")
	}
	return p
}

// SharedData returns the absolute path of ../shared/data (the shared real
// DICOM corpus beside the repository), or calls Missing.
func SharedData(tb testing.TB) string {
	tb.Helper()
	if d := os.Getenv("RADMARK_SHARED_DATA"); d != "" {
		return d
	}
	dir := filepath.Join(RepoRoot(tb), "..", "shared", "data")
	if _, err := os.Stat(filepath.Join(dir, "MANIFEST.md")); err != nil {
		Missing(tb, "shared test data not found at "+dir)
	}
	abs, _ := filepath.Abs(dir)
	return abs
}

// RepoRoot returns the repository's root directory (where go.mod is).
func RepoRoot(tb testing.TB) string {
	tb.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		tb.Fatal("testenv: cannot locate source file")
	}
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Python returns Debian's python3 (which has pydicom and nibabel), or calls
// Missing. A pyenv python3 on PATH usually lacks them.
func Python(tb testing.TB) string {
	tb.Helper()
	const py = "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import pydicom, nibabel").Run(); err != nil {
		Missing(tb, py+" with pydicom and nibabel is not available")
	}
	return py
}

// Long lets a slow test be left out of a quick `go test -short` on a
// developer's machine. In CI it never skips: -short there would silently
// drop the test, as a missing dependency would.
func Long(tb testing.TB, why string) {
	tb.Helper()
	if testing.Short() && !InCI() {
		tb.Skipf("skipped with -short: %s", why)
	}
}

// ReadTree reads every file under dir, keyed by its slash path relative
// to dir (to compare exported folders file for file).
func ReadTree(tb testing.TB, dir string) map[string][]byte {
	tb.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		out[filepath.ToSlash(rel)], err = os.ReadFile(p)
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
	return out
}
