package fsblob

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/internal/testenv"
)

// TestFileSizeLimit makes the kernel refuse a write mid-Put, the closest an
// unprivileged test gets to a full disk: RLIMIT_FSIZE turns writes past the
// limit into EFBIG (the Go runtime ignores the accompanying SIGXFSZ). The
// limit is process-wide, so this test must not run in parallel.
func TestFileSizeLimit(t *testing.T) {
	s := openStore(t)
	mustPut(t, s, "kept", "previous")

	var saved syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &saved); err != nil {
		t.Fatal(err)
	}
	const limit = 1 << 20
	if saved.Cur < limit {
		t.Skipf("RLIMIT_FSIZE is already %d", saved.Cur)
	}
	restore := func() {
		if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &saved); err != nil {
			t.Fatalf("restoring RLIMIT_FSIZE: %v", err)
		}
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &syscall.Rlimit{Cur: limit, Max: saved.Max}); err != nil {
		t.Fatal(err)
	}
	defer restore()

	big := io.LimitReader(zeros{}, 2*limit)
	_, errNew := s.Put(t.Context(), "new/big", big, -1)
	big = io.LimitReader(zeros{}, 2*limit)
	_, errKept := s.Put(t.Context(), "kept", big, 2*limit)
	restore()

	for _, err := range []error{errNew, errKept} {
		if !errors.Is(err, syscall.EFBIG) {
			t.Fatalf("Put past RLIMIT_FSIZE: %v, want EFBIG", err)
		}
	}
	if _, err := s.Stat(t.Context(), "new/big"); radmark.ErrorCode(err) != radmark.ENOTFOUND {
		t.Fatalf("partial object visible after EFBIG: %v", err)
	}
	if _, err := os.Lstat(s.path("new")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a failed Put created folders: %v", err)
	}
	wantObject(t, s, "kept", "previous")
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// TestSHA256Kept checks that the digest Put records travels with the file:
// Stat and Get report it, and a file replaced behind the store's back (no
// attribute, or a forged one) reports none rather than a wrong one.
func TestSHA256Kept(t *testing.T) {
	s := openStore(t)
	probe := s.path("probe")
	if err := os.WriteFile(probe, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	err := syscall.Setxattr(probe, sha256Attr, []byte("x"), 0)
	os.Remove(probe)
	if err != nil {
		t.Skipf("this file system keeps no user xattrs (%v): SHA256 is reported empty, as allowed", err)
	}

	data := "some DICOM bytes"
	h := sha256.Sum256([]byte(data))
	want := hex.EncodeToString(h[:])
	mustPut(t, s, "obj", data)
	info, err := s.Stat(t.Context(), "obj")
	if err != nil || info.SHA256 != want {
		t.Fatalf("Stat = %+v, %v; want SHA256 %s", info, err, want)
	}
	rc, ginfo, err := s.Get(t.Context(), "obj")
	if err != nil {
		t.Fatal(err)
	}
	rc.Close()
	if ginfo.SHA256 != want {
		t.Fatalf("Get SHA256 = %q, want %s", ginfo.SHA256, want)
	}

	for name, value := range map[string]string{
		"upper case": strings.ToUpper(want),
		"not hex":    strings.Repeat("z", 64),
		"too long":   want + "0",
		"too short":  want[:63],
	} {
		if err := syscall.Setxattr(s.path("obj"), sha256Attr, []byte(value), 0); err != nil {
			t.Fatal(err)
		}
		if info, err := s.Stat(t.Context(), "obj"); err != nil || info.SHA256 != "" {
			t.Errorf("Stat with a %s attribute: SHA256 %q, %v; want empty", name, info.SHA256, err)
		}
	}
	if err := os.WriteFile(s.path("obj"), []byte("replaced"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Removexattr(s.path("obj"), sha256Attr); err != nil {
		t.Fatal(err)
	}
	if info, err := s.Stat(t.Context(), "obj"); err != nil || info.SHA256 != "" || info.Size != int64(len("replaced")) {
		t.Errorf("Stat of a file without the attribute = %+v, %v", info, err)
	}
}

// TestFirstUnwritten checks the FIEMAP reading against files whose
// layout is known: allocated and never written, written in part, written
// all through, and with a hole.
func TestFirstUnwritten(t *testing.T) {
	const size = 8 << 20
	dir := t.TempDir()
	file := func(name string) *os.File {
		f, err := os.OpenFile(filepath.Join(dir, name), os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	probe := file("probe")
	if err := allocate(probe, size); err != nil {
		t.Fatal(err)
	}
	if firstUnwritten(probe, size) == size {
		testenv.Missing(t, fmt.Sprintf("a file system with unwritten extents and FIEMAP (ext4, XFS) under %s", dir))
	}
	zeros := make([]byte, 1<<20)
	write := func(f *os.File, from, to int64) {
		for off := from; off < to; off += int64(len(zeros)) {
			if _, err := f.WriteAt(zeros, off); err != nil {
				t.Fatal(err)
			}
		}
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
	}
	part := file("part")
	if err := allocate(part, size); err != nil {
		t.Fatal(err)
	}
	write(part, 0, 3<<20)
	all := file("all")
	if err := allocate(all, size); err != nil {
		t.Fatal(err)
	}
	write(all, 0, size)
	holed := file("holed")
	write(holed, 0, 2<<20)
	write(holed, 5<<20, size)
	for _, tc := range []struct {
		name string
		f    *os.File
		want int64
	}{
		{"allocated", probe, 0},
		{"written in part", part, 3 << 20},
		{"written", all, size},
		{"holed", holed, 2 << 20},
	} {
		if got := firstUnwritten(tc.f, size); got != tc.want {
			t.Errorf("%s: firstUnwritten = %d, want %d", tc.name, got, tc.want)
		}
	}
}
