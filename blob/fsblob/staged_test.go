package fsblob

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"slices"
	"syscall"
	"testing"
)

func stage(t *testing.T, s *Store, ctx context.Context) *Staged {
	t.Helper()
	w, err := s.Stage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return w.(*Staged)
}

func TestStagedCommit(t *testing.T) {
	s := openStore(t)
	data := bytes.Repeat([]byte("0123456789abcdef"), 50_000) // 800 KB, written in several pieces
	st := stage(t, s, t.Context())
	for chunk := range slices.Chunk(data, 100_000) {
		if _, err := st.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	sum := sha256.Sum256(data)
	if st.Size() != int64(len(data)) || st.SHA256() != hex.EncodeToString(sum[:]) {
		t.Fatalf("size %d, sha256 %s", st.Size(), st.SHA256())
	}
	// What was written reads back before the commit, to the end and no further.
	head := make([]byte, 32)
	if n, err := st.ReadAt(head, 0); n != 32 || err != nil || !bytes.Equal(head, data[:32]) {
		t.Fatalf("ReadAt(0) = %d, %v, %q", n, err, head)
	}
	if n, err := st.ReadAt(head, int64(len(data))-10); n != 10 || err != io.EOF {
		t.Fatalf("ReadAt at the end = %d, %v", n, err)
	}
	if _, err := st.ReadAt(head, int64(len(data))); err != io.EOF {
		t.Fatalf("ReadAt past the end: %v", err)
	}
	info, err := st.Commit(t.Context(), "dicom/ab/object")
	if err != nil {
		t.Fatal(err)
	}
	if info.Key != "dicom/ab/object" || info.Size != int64(len(data)) || info.SHA256 != hex.EncodeToString(sum[:]) {
		t.Fatalf("info = %+v", info)
	}
	wantObject(t, s, "dicom/ab/object", string(data))
	if got, err := s.Stat(t.Context(), "dicom/ab/object"); err != nil || got.SHA256 != info.SHA256 {
		t.Fatalf("Stat = %+v, %v", got, err)
	}
	// Committed: no more writes or commits; Close is harmless.
	if _, err := st.Write([]byte("x")); err == nil {
		t.Fatal("write after commit accepted")
	}
	if _, err := st.Commit(t.Context(), "other"); err == nil {
		t.Fatal("second commit accepted")
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	wantObject(t, s, "dicom/ab/object", string(data))
}

func TestStagedAbandoned(t *testing.T) {
	s := openStore(t)

	// Closed without a commit: nothing stored, no temp file (openStore
	// checks), Close again is fine.
	st := stage(t, s, t.Context())
	st.Write([]byte("abandoned"))
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Commit(t.Context(), "k"); err == nil {
		t.Fatal("commit after close accepted")
	}

	// A write after the context ended fails, and so does the commit.
	ctx, cancel := context.WithCancel(t.Context())
	st = stage(t, s, ctx)
	st.Write([]byte("first"))
	cancel()
	if _, err := st.Write([]byte("second")); !errors.Is(err, context.Canceled) {
		t.Fatalf("write after cancel: %v", err)
	}
	if _, err := st.Commit(t.Context(), "k"); !errors.Is(err, context.Canceled) {
		t.Fatalf("commit after a failed write: %v", err)
	}

	// A bad key, and a failing fsync: nothing stored, nothing left.
	st = stage(t, s, t.Context())
	st.Write([]byte("v"))
	if _, err := st.Commit(t.Context(), "../k"); err == nil {
		t.Fatal("bad key accepted")
	}
	st = stage(t, s, t.Context())
	st.Write([]byte("v"))
	s.failpoint = func(op, path string) error {
		if op == "sync" {
			return errDiskFull(op, path)
		}
		return nil
	}
	if _, err := st.Commit(t.Context(), "k"); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("commit with a failing fsync: %v", err)
	}
	s.failpoint = nil
	if _, err := readObject(s, "k"); err == nil {
		t.Fatal("object stored by a failed commit")
	}

	// A write error (a full disk) sticks: the object cannot be committed.
	st = stage(t, s, t.Context())
	s.failpoint = func(op, path string) error {
		if op == "write" {
			return errDiskFull(op, path)
		}
		return nil
	}
	if _, err := st.Write([]byte("v")); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("write on a full disk: %v", err)
	}
	s.failpoint = nil
	if _, err := st.Commit(t.Context(), "k"); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("commit after a failed write: %v", err)
	}
}

// TestStagedSync makes the bytes durable before the commit names them, as
// the archive does while it parses the instance, and fails the commit when
// that fsync failed.
func TestStagedSync(t *testing.T) {
	s := openStore(t)
	st := stage(t, s, t.Context())
	st.Write([]byte("synced first"))
	if err := st.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := st.Sync(); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Commit(t.Context(), "a/b"); err != nil {
		t.Fatal(err)
	}
	wantObject(t, s, "a/b", "synced first")

	st = stage(t, s, t.Context())
	st.Write([]byte("v"))
	s.failpoint = func(op, path string) error {
		if op == "sync" {
			return errDiskFull(op, path)
		}
		return nil
	}
	if err := st.Sync(); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Sync on a failing disk: %v", err)
	}
	s.failpoint = nil
	if _, err := st.Commit(t.Context(), "a/c"); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("commit after a failed Sync: %v", err)
	}
	if _, err := readObject(s, "a/c"); err == nil {
		t.Fatal("object stored after a failed Sync")
	}
}
