package fsblob

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// pattern is n bytes that differ from block to block, so that a block
// written at the wrong offset shows.
func pattern(n, seed int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i/251 + i*7 + seed)
	}
	return b
}

// cachedPages is how many of the file's pages are in the page cache.
func cachedPages(t *testing.T, path string) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || st.Size() == 0 {
		return 0
	}
	m, err := unix.Mmap(int(f.Fd()), 0, int(st.Size()), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(m)
	vec := make([]byte, (len(m)+os.Getpagesize()-1)/os.Getpagesize())
	if _, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&m[0])), uintptr(len(m)), uintptr(unsafe.Pointer(&vec[0]))); errno != 0 {
		t.Fatal(errno)
	}
	n := 0
	for _, v := range vec {
		n += int(v & 1)
	}
	return n
}

func TestWriteDirect(t *testing.T) {
	dir := t.TempDir()
	buf := alignedBytes(4 * directAlign)
	for _, size := range []int{0, 1, 100, directAlign - 1, directAlign, directAlign + 1, 4 * directAlign, 4*directAlign + 17, 9*directAlign + 4095, 538_910} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			data := pattern(size, size)
			f, err := os.Create(filepath.Join(dir, fmt.Sprint(size)))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			err = writeDirect(f, bytes.NewReader(data), int64(size), buf)
			if errors.Is(err, errDirectUnsupported) {
				// The fallback must find the file as it was.
				if err := rewind(f); err != nil {
					t.Fatal(err)
				}
				if st, err := f.Stat(); err != nil || st.Size() != 0 {
					t.Fatalf("after a refused O_DIRECT write the file has %d bytes (%v)", st.Size(), err)
				}
				t.Logf("O_DIRECT refused here: %v", err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(f.Name())
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, data) {
				t.Fatalf("read back %d bytes, want the %d written", len(got), size)
			}
		})
	}
	t.Run("short source", func(t *testing.T) {
		f, err := os.Create(filepath.Join(dir, "short"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		err = writeDirect(f, bytes.NewReader(pattern(3*directAlign, 1)), 5*directAlign, buf)
		if !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, errDirectUnsupported) {
			t.Fatalf("a source shorter than the size: %v, want io.ErrUnexpectedEOF", err)
		}
	})
}

// TestJournalMovesDirectUnderPressure: while segments run out the mover
// writes objects into the tree around the page cache, from memory and
// from the log alike, with their digests; when segments are free it
// writes through the page cache, so that what was just uploaded stays
// cached.
func TestJournalMovesDirectUnderPressure(t *testing.T) {
	s := openJournaled(t, "", 1<<20, 4)
	j := s.j
	release := holdMover(t, s)
	want := map[string][]byte{}
	put := func(key string, data []byte, staged bool) {
		t.Helper()
		want[key] = data
		if !staged {
			if _, err := s.Put(t.Context(), key, bytes.NewReader(data), int64(len(data))); err != nil {
				t.Fatal(err)
			}
			return
		}
		w, err := s.Stage(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(data); err != nil {
			t.Fatal(err)
		}
		if _, err := w.(*Staged).Commit(t.Context(), key); err != nil {
			t.Fatal(err)
		}
	}
	// Two objects fill a segment: six leave one of four free, the low mark.
	for i := range 6 {
		put(fmt.Sprintf("p/%d", i), pattern(400<<10+i*1013, i), i%2 == 1)
	}
	j.mu.Lock()
	direct, queued := j.moverDirect(), len(j.queue)
	j.mu.Unlock()
	if !direct || queued != 6 {
		t.Fatalf("with 6 objects queued in 3 of 4 segments: direct %v, %d queued", direct, queued)
	}
	if err := j.moveQueued(nil); err != nil {
		t.Fatal(err)
	}
	if j.noDirect {
		t.Log("O_DIRECT refused here: the mover wrote through the page cache")
	}
	for key, data := range want {
		path := s.path(key)
		if !j.noDirect {
			// Only the tail shorter than a block went through the cache.
			if n := cachedPages(t, path); n > 1 {
				t.Errorf("%s: %d pages cached after a move under pressure, want at most the tail's", key, n)
			}
		}
		got, err := os.ReadFile(path)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%s in the tree: %d bytes (%v), want the %d put", key, len(got), err, len(data))
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		sum := getSHA256(f)
		f.Close()
		if sum != digest(data) {
			t.Errorf("%s: recorded digest %q, want %q", key, sum, digest(data))
		}
	}

	// With segments free again the mover writes through the page cache.
	if err := j.checkpoint(); err != nil {
		t.Fatal(err)
	}
	put("q/0", pattern(300<<10, 9), false)
	j.mu.Lock()
	direct = j.moverDirect()
	j.mu.Unlock()
	if direct {
		t.Fatal("the mover writes around the page cache with segments free")
	}
	if err := j.moveQueued(nil); err != nil {
		t.Fatal(err)
	}
	if n := cachedPages(t, s.path("q/0")); n < 75 {
		t.Errorf("q/0: %d of its 75 pages cached after a move with segments free", n)
	}
	release()
	for key, data := range want {
		if got, err := readObject(s, key); err != nil || got != string(data) {
			t.Errorf("Get(%s): %d bytes (%v), want %d", key, len(got), err, len(data))
		}
	}
	if got, err := readObject(s, "q/0"); err != nil || got != string(pattern(300<<10, 9)) {
		t.Errorf("Get(q/0): %d bytes (%v), want the %d put", len(got), err, 300<<10)
	}
}

// TestJournalMovesWhereODirectIsRefused: a file system that refuses
// O_DIRECT gets the mover's buffered writes, and the objects whole.
func TestJournalMovesWhereODirectIsRefused(t *testing.T) {
	s := openJournaled(t, "", 1<<20, 4)
	j := s.j
	refused := 0
	s.failpoint = func(op, _ string) error {
		if op == "direct" {
			refused++
			return errDirectUnsupported
		}
		return nil
	}
	release := holdMover(t, s)
	want := map[string][]byte{}
	for i := range 6 {
		key := fmt.Sprintf("r/%d", i)
		want[key] = pattern(400<<10+i*333, i)
		if _, err := s.Put(t.Context(), key, bytes.NewReader(want[key]), int64(len(want[key]))); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.moveQueued(nil); err != nil {
		t.Fatal(err)
	}
	release()
	if refused != 1 || !j.noDirect {
		t.Errorf("O_DIRECT tried %d times (noDirect %v), want once and then given up", refused, j.noDirect)
	}
	for key, data := range want {
		got, err := os.ReadFile(s.path(key))
		if err != nil || !bytes.Equal(got, data) {
			t.Errorf("%s in the tree: %d bytes (%v), want the %d put", key, len(got), err, len(data))
		}
	}
}
