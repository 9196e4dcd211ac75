//go:build linux

package fsblob

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/blob/blobtest"
)

// openJournaled opens a journaling store with small segments in dir (a
// fresh folder when dir is ""), closing it when the test ends.
func openJournaled(t *testing.T, dir string, segSize int64, segs int) *Store {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	s, err := OpenWith(t.Context(), dir, Options{Journal: true, JournalSegmentSize: segSize, JournalSegments: segs})
	if err != nil {
		t.Fatal(err)
	}
	if !s.Journaled() {
		t.Fatal("the store does not journal")
	}
	t.Cleanup(func() {
		wantNoTemps(t, s)
	})
	t.Cleanup(func() {
		if s.j != nil && !s.j.closed {
			if err := s.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		}
	})
	return s
}

// holdMover keeps the mover from moving anything until the returned func
// is called, so that objects stay in the journal only.
func holdMover(t *testing.T, s *Store) func() {
	j := s.j
	j.work.Lock()
	var once sync.Once
	release := func() { once.Do(j.work.Unlock) }
	t.Cleanup(release)
	return release
}

// crash stops the journal as a killed process would: nothing moved or
// checkpointed after this, files and lock released. The mover must be
// held (holdMover) so that nothing reaches the tree behind the test's
// back.
func crash(s *Store, release func()) {
	j := s.j
	j.mu.Lock()
	j.closed = true
	j.mu.Unlock()
	close(j.stop)
	j.release()
	release()
	<-j.done
	s.j = nil
}

func inTree(s *Store, key string) bool {
	_, err := os.Stat(s.path(key))
	return err == nil
}

// waitUntil polls cond until it holds, failing the test at deadline.
func waitUntil(t *testing.T, deadline time.Time, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// knownDigest is PutRecordSyncing's digest of data, given at once.
func knownDigest(data string) func() (string, error) {
	return func() (string, error) { return digest([]byte(data)), nil }
}

func digest(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func TestJournalConformance(t *testing.T) {
	blobtest.TestBlobStore(t, func(t *testing.T) radmark.BlobStore { return openJournaled(t, "", 4<<20, 3) })
}

// TestJournalReplay acknowledges objects through the journal, crashes
// before any reaches the folder tree, and finds them all after reopening.
func TestJournalReplay(t *testing.T) {
	dir := t.TempDir()
	s := openJournaled(t, dir, 1<<20, 4)
	moving := holdMover(t, s)
	want := map[string][]byte{}
	for i := range 12 {
		data := bytes.Repeat([]byte{byte(i)}, 1000*(i+1))
		key := fmt.Sprintf("dicom/%02x/obj%d", i, i)
		if i%2 == 0 {
			mustPut(t, s, key, string(data))
		} else {
			st := stage(t, s, t.Context())
			st.Write(data)
			if err := st.SyncAs(key); err != nil {
				t.Fatal(err)
			}
			if _, err := st.Commit(t.Context(), key); err != nil {
				t.Fatal(err)
			}
		}
		want[key] = data
	}
	// Overwritten while pending: the newer bytes win after replay too.
	mustPut(t, s, "dicom/00/obj0", "second version")
	want["dicom/00/obj0"] = []byte("second version")
	// Written to the journal but never committed: not an object now.
	st := stage(t, s, t.Context())
	st.Write([]byte("abandoned"))
	if err := st.SyncAs("dicom/ff/abandoned"); err != nil {
		t.Fatal(err)
	}
	st.Close()
	if _, err := s.Stat(t.Context(), "dicom/ff/abandoned"); radmark.ErrorCode(err) != radmark.ENOTFOUND {
		t.Fatalf("abandoned object visible: %v", err)
	}
	for key, data := range want {
		wantObject(t, s, key, string(data))
		if inTree(s, key) {
			t.Fatalf("%s reached the tree while the mover was held", key)
		}
	}
	crash(s, moving)

	s2 := openJournaled(t, dir, 1<<20, 4)
	if inTree(s2, "dicom/ff/abandoned") {
		t.Error("an abandoned record was replayed")
	}
	for key, data := range want {
		if !inTree(s2, key) {
			t.Errorf("%s not in the tree after replay", key)
		}
		wantObject(t, s2, key, string(data))
		info, err := s2.Stat(t.Context(), key)
		if err != nil || info.SHA256 != digest(data) {
			t.Errorf("Stat(%s) = %+v, %v", key, info, err)
		}
	}
	// A replay leaves nothing to replay twice: deleting an object and
	// reopening again must not bring it back.
	if err := s2.Delete(t.Context(), "dicom/01/obj1"); err != nil {
		t.Fatal(err)
	}
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}
	s3 := openJournaled(t, dir, 1<<20, 4)
	if _, err := readObject(s3, "dicom/01/obj1"); radmark.ErrorCode(err) != radmark.ENOTFOUND {
		t.Fatalf("deleted object back after reopening: %v", err)
	}
	wantObject(t, s3, "dicom/02/obj2", string(want["dicom/02/obj2"]))
}

// TestJournalTornRecords damages records the way a crash in the middle of
// writing them would: replay skips a record whose bytes do not match its
// trailer, keeps the others, and stops at a header that was never written.
func TestJournalTornRecords(t *testing.T) {
	dir := t.TempDir()
	s := openJournaled(t, dir, 1<<20, 2)
	moving := holdMover(t, s)
	for i := range 3 {
		mustPut(t, s, fmt.Sprintf("k/%d", i), strings.Repeat(string(rune('a'+i)), 5000))
	}
	rec := s.j.pending["k/1"]
	seg := filepath.Join(s.j.dir, fmt.Sprintf("seg-%d", rec.seg.idx))
	crash(s, moving)
	f, err := os.OpenFile(seg, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("X"), rec.dataOff()+100); err != nil {
		t.Fatal(err)
	}
	f.Close()

	s2 := openJournaled(t, dir, 1<<20, 2)
	wantObject(t, s2, "k/0", strings.Repeat("a", 5000))
	wantObject(t, s2, "k/2", strings.Repeat("c", 5000))
	if _, err := readObject(s2, "k/1"); radmark.ErrorCode(err) != radmark.ENOTFOUND {
		t.Fatalf("torn record replayed: %v", err)
	}
}

// TestJournalDeleteSettles deletes objects still in the journal; a crash
// right after must not bring them back.
func TestJournalDeleteSettles(t *testing.T) {
	dir := t.TempDir()
	s := openJournaled(t, dir, 1<<20, 2)
	mustPut(t, s, "a/gone", "patient data the user deleted")
	mustPut(t, s, "a/kept", "kept")
	if err := s.Delete(t.Context(), "a/gone"); err != nil {
		t.Fatal(err)
	}
	crash(s, holdMover(t, s))
	s2 := openJournaled(t, dir, 1<<20, 2)
	if _, err := readObject(s2, "a/gone"); radmark.ErrorCode(err) != radmark.ENOTFOUND {
		t.Fatalf("deleted object back after a crash: %v", err)
	}
	wantObject(t, s2, "a/kept", "kept")
}

// TestJournalReusesSegments writes many times the journal's size: the
// mover and checkpoints free segments for reuse, and a crash at the end
// replays only what was not yet checkpointed, never a stale record of a
// reused segment (a deleted object stays deleted).
func TestJournalReusesSegments(t *testing.T) {
	dir := t.TempDir()
	s := openJournaled(t, dir, 64<<10, 2)
	want := map[string]string{}
	for i := range 300 {
		key := fmt.Sprintf("obj/%03d", i)
		data := strings.Repeat(fmt.Sprintf("%03d", i), 3000) // 9 KB
		mustPut(t, s, key, data)
		want[key] = data
		if i%7 == 0 {
			if err := s.Delete(t.Context(), key); err != nil {
				t.Fatal(err)
			}
			delete(want, key)
		}
	}
	segs, _ := filepath.Glob(filepath.Join(dir, journalDirName, "seg-*"))
	if len(segs) > 2 {
		t.Fatalf("journal grew to %d segments, limit 2", len(segs))
	}
	crash(s, holdMover(t, s))
	s2 := openJournaled(t, dir, 64<<10, 2)
	n := 0
	err := s2.List(t.Context(), "obj/", func(info radmark.BlobInfo) error {
		n++
		if _, ok := want[info.Key]; !ok {
			t.Errorf("%s is back", info.Key)
		}
		return nil
	})
	if err != nil || n != len(want) {
		t.Fatalf("listed %d objects (%v), want %d", n, err, len(want))
	}
	for key, data := range want {
		wantObject(t, s2, key, data)
	}
}

// TestJournalPendingReads reads objects that are only in the journal:
// whole, by range, by Stat and in List, merged in key order with the tree.
func TestJournalPendingReads(t *testing.T) {
	s := openJournaled(t, "", 1<<20, 2)
	mustPut(t, s, "p/b", "in the tree") // moved below
	if err := s.j.settle(); err != nil {
		t.Fatal(err)
	}
	release := holdMover(t, s)
	defer release()
	mustPut(t, s, "p/a", "pending a")
	mustPut(t, s, "p/c", "pending c")
	mustPut(t, s, "p/b", "newer b")
	if !inTree(s, "p/b") || inTree(s, "p/a") {
		t.Fatal("unexpected tree state")
	}
	wantObject(t, s, "p/b", "newer b")
	rc, err := s.GetRange(t.Context(), "p/c", 3, 4)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if string(b) != "ding" {
		t.Fatalf("range = %q", b)
	}
	var keys []string
	if err := s.List(t.Context(), "p/", func(info radmark.BlobInfo) error {
		keys = append(keys, fmt.Sprintf("%s:%d", info.Key, info.Size))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(keys, " "); got != "p/a:9 p/b:7 p/c:9" {
		t.Fatalf("List = %s", got)
	}
	// A key that would need a pending object to be a folder is refused
	// now, not found unplaceable by the mover later.
	if _, err := s.Put(t.Context(), "p/a/b", strings.NewReader("x"), 1); radmark.ErrorCode(err) != radmark.ECONFLICT {
		t.Fatalf("Put under a pending object: %v", err)
	}
	if _, err := s.Put(t.Context(), "p", strings.NewReader("x"), 1); radmark.ErrorCode(err) != radmark.ECONFLICT {
		t.Fatalf("Put of a pending object's folder: %v", err)
	}
}

// TestJournalFallbacks: objects too large for the journal, and writes
// while every segment waits for the mover, go the plain way (in the tree
// at once); a second store on the same root does not journal.
func TestJournalFallbacks(t *testing.T) {
	dir := t.TempDir()
	s := openJournaled(t, dir, 64<<10, 1)
	big := strings.Repeat("x", 40<<10)
	mustPut(t, s, "big", big)
	if !inTree(s, "big") {
		t.Fatal("an object larger than half a segment went through the journal")
	}
	release := holdMover(t, s)
	for i := range 10 {
		mustPut(t, s, fmt.Sprintf("f/%d", i), strings.Repeat("y", 20<<10))
	}
	if !inTree(s, "f/9") {
		t.Fatal("a full journal did not fall back to plain writes")
	}
	release()

	other, err := OpenWith(t.Context(), dir, Options{Journal: true})
	if err != nil {
		t.Fatal(err)
	}
	if other.Journaled() {
		t.Fatal("a second store journals in the same root")
	}
	wantObject(t, other, "f/9", strings.Repeat("y", 20<<10))
	// Staged uploads larger than the journal takes move to a temp file.
	st := stage(t, s, t.Context())
	st.Write([]byte(big))
	if _, err := st.Commit(t.Context(), "staged/big"); err != nil {
		t.Fatal(err)
	}
	if !inTree(s, "staged/big") {
		t.Fatal("large staged object not written the plain way")
	}
}

// TestJournalConcurrent puts, reads and deletes from many goroutines
// while the mover and checkpoints run (meant for -race).
func TestJournalConcurrent(t *testing.T) {
	s := openJournaled(t, "", 256<<10, 3)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 60 {
				key := fmt.Sprintf("c/%d/%d", g, i%10)
				// 3 to 20 KB: under pressure the mover writes whole blocks
				// around the page cache and the tail through it.
				data := strings.Repeat(fmt.Sprintf("%d-%d;", g, i), 500+(i%7)*400)
				if i%3 == 0 {
					st := stage(t, s, t.Context())
					st.Write([]byte(data))
					st.SyncAs(key)
					if _, err := st.Commit(t.Context(), key); err != nil {
						t.Error(err)
						return
					}
				} else if _, err := s.Put(t.Context(), key, strings.NewReader(data), int64(len(data))); err != nil {
					t.Error(err)
					return
				}
				if got, err := readObject(s, key); err != nil || got != data {
					t.Errorf("read back %s: %v", key, err)
					return
				}
				if i%11 == 0 {
					if err := s.Delete(t.Context(), key); err != nil {
						t.Error(err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
}

// TestJournalMoverWaitsForAPause checks when the mover runs: not while
// uploads arrive and segments are plentiful, but once they pause, once
// free segments run low, or once an object has waited long.
func TestJournalMoverWaitsForAPause(t *testing.T) {
	s := openJournaled(t, "", 1<<20, 8)
	j := s.j
	release := holdMover(t, s)
	mustPut(t, s, "burst/a", "first")
	mustPut(t, s, "burst/b", "second")

	j.mu.Lock()
	now := j.lastAppend
	free := len(j.free)
	tests := []struct {
		name string
		at   time.Time
		free int
		want bool
	}{
		{"uploads arriving", now.Add(moveIdle / 2), free, false},
		{"uploads paused", now.Add(moveIdle), free, true},
		{"free segments low", now, j.lowWater(), true},
		{"object waited long", now.Add(moveMaxAge), free, true},
	}
	for _, tc := range tests {
		j.free = j.segs[:tc.free]
		if got := j.moveDue(tc.at); got != tc.want {
			t.Errorf("%s: moveDue = %v, want %v", tc.name, got, tc.want)
		}
	}
	j.free = j.segs[len(j.segs)-free:]
	j.mu.Unlock()

	// Released, the mover finds the pause and moves both, then a
	// checkpoint lets their segment go.
	release()
	deadline := time.Now().Add(10 * time.Second)
	waitUntil(t, deadline, "the mover to move the objects after uploads paused", func() bool {
		return inTree(s, "burst/a") && inTree(s, "burst/b")
	})
	waitUntil(t, deadline, "a checkpoint after the objects were moved", func() bool {
		j.mu.Lock()
		defer j.mu.Unlock()
		return j.cpSeq == j.nextSeq && len(j.pending) == 0
	})
	wantObject(t, s, "burst/a", "first")
}

// TestJournalQueuedMemoryBound checks that staged uploads waiting for the
// mover keep at most maxQueuedMemory in memory; the rest is read back
// from the log.
func TestJournalQueuedMemoryBound(t *testing.T) {
	s := openJournaled(t, "", 64<<20, 8)
	holdMover(t, s)
	chunk := strings.Repeat("x", 1<<20)
	for i := range 80 {
		w, err := s.Stage(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		st := w.(*Staged)
		if _, err := io.WriteString(st, chunk); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Commit(t.Context(), fmt.Sprintf("mem/%02d", i)); err != nil {
			t.Fatal(err)
		}
	}
	j := s.j
	j.mu.Lock()
	queued, held := j.queuedMem, j.stagedMem
	j.mu.Unlock()
	if queued > maxQueuedMemory || held > maxQueuedMemory {
		t.Errorf("queued records hold %d bytes (%d staged), bound %d", queued, held, maxQueuedMemory)
	}
	wantObject(t, s, "mem/79", chunk)
}

// TestJournalSyncingPut: an object appended with PutRecordSyncing is
// invisible until Wait, visible and replayed with its record after it; one
// abandoned is never seen, nor replayed.
func TestJournalSyncingPut(t *testing.T) {
	dir := t.TempDir()
	s := openJournaled(t, dir, 1<<20, 4)
	moving := holdMover(t, s)
	put := func(key, data string) radmark.PendingBlob {
		t.Helper()
		p, _, err := s.PutRecordSyncing(t.Context(), key, strings.NewReader(data), int64(len(data)), knownDigest(data), []byte("record of "+key))
		if err != nil || p == nil {
			t.Fatalf("PutRecordSyncing(%s) = %v, %v; want a pending object", key, p, err)
		}
		return p
	}
	kept := put("dicom/aa/kept", "kept bytes")
	if _, err := s.Stat(t.Context(), "dicom/aa/kept"); radmark.ErrorCode(err) != radmark.ENOTFOUND {
		t.Fatalf("object visible before Wait: %v", err)
	}
	info, err := kept.Wait()
	if err != nil || info.SHA256 != digest([]byte("kept bytes")) {
		t.Fatalf("Wait = %+v, %v", info, err)
	}
	if again, err := kept.Wait(); err != nil || again != info {
		t.Fatalf("second Wait = %+v, %v; want the first answer", again, err)
	}
	kept.Abandon() // after Wait: no effect
	wantObject(t, s, "dicom/aa/kept", "kept bytes")
	kept.Indexed()

	dropped := put("dicom/bb/dropped", "dropped bytes")
	dropped.Abandon()
	if _, err := dropped.Wait(); err == nil {
		t.Fatal("Wait after Abandon succeeded")
	}
	if _, err := s.Stat(t.Context(), "dicom/bb/dropped"); radmark.ErrorCode(err) != radmark.ENOTFOUND {
		t.Fatalf("abandoned object visible: %v", err)
	}
	crash(s, moving)

	s2 := openJournaled(t, dir, 1<<20, 4)
	wantObject(t, s2, "dicom/aa/kept", "kept bytes")
	if inTree(s2, "dicom/bb/dropped") {
		t.Error("an abandoned pending object was replayed")
	}
	metas := map[string]bool{}
	for _, m := range s2.RecoveredMeta() {
		metas[string(m)] = true
	}
	if !metas["record of dicom/aa/kept"] || metas["record of dicom/bb/dropped"] {
		t.Errorf("recovered records %v; want the kept object's only", metas)
	}
}

// TestJournalStagedSyncing: a staged upload committed with its record
// through CommitRecordSyncing becomes visible at Wait; one abandoned gives
// its memory back and is never seen.
func TestJournalStagedSyncing(t *testing.T) {
	s := openJournaled(t, "", 1<<20, 4)
	commit := func(key, data string) radmark.PendingBlob {
		t.Helper()
		st := stage(t, s, t.Context())
		st.Write([]byte(data))
		p, _, _, journaled, err := st.CommitRecordSyncing(t.Context(), key, []byte("record"))
		st.Close()
		if err != nil || p == nil || !journaled {
			t.Fatalf("CommitRecordSyncing(%s) = %v, journaled %v, %v; want a pending object", key, p, journaled, err)
		}
		return p
	}
	kept := commit("up/kept", "uploaded bytes")
	if _, err := s.Stat(t.Context(), "up/kept"); radmark.ErrorCode(err) != radmark.ENOTFOUND {
		t.Fatalf("object visible before Wait: %v", err)
	}
	if info, err := kept.Wait(); err != nil || info.SHA256 != digest([]byte("uploaded bytes")) {
		t.Fatalf("Wait = %+v, %v", info, err)
	}
	kept.Indexed()
	wantObject(t, s, "up/kept", "uploaded bytes")

	dropped := commit("up/dropped", "dropped upload")
	dropped.Abandon()
	if _, err := s.Stat(t.Context(), "up/dropped"); radmark.ErrorCode(err) != radmark.ENOTFOUND {
		t.Fatalf("abandoned upload visible: %v", err)
	}
	j := s.j
	j.mu.Lock()
	queued, held := j.queuedMem, j.stagedMem
	j.mu.Unlock()
	if held != queued {
		t.Errorf("staged memory %d bytes, of which %d for queued records: the abandoned upload's memory is still counted", held, queued)
	}
}

// TestJournalStagedHashing: an upload held in memory is hashed only when
// asked (CommitRecordHashing: while its append is made durable), giving
// the digest of every byte whatever the order of writes and questions;
// the record keeps no digest and a replay computes it; an upload too
// large for the journal goes the plain way with the same digest.
func TestJournalStagedHashing(t *testing.T) {
	dir := t.TempDir()
	s := openJournaled(t, dir, 1<<20, 4)
	moving := holdMover(t, s)
	ctx := t.Context()
	data := make([]byte, 300<<10)
	for i := range data {
		data[i] = byte(i*7 + i>>11)
	}
	st := stage(t, s, ctx)
	for off := 0; off < len(data); off += 7001 {
		st.Write(data[off:min(off+7001, len(data))])
		if off == 140042 {
			// Asked halfway: the digest so far, and the rest is hashed
			// from where this stopped.
			if got := st.SHA256(); got != digest(data[:off+7001]) {
				t.Fatalf("digest of the first %d bytes %s, want %s", off+7001, got, digest(data[:off+7001]))
			}
		}
	}
	p, _, sum, _, journaled, err := st.CommitRecordHashing(ctx, "hashing/kept", []byte("record of hashing/kept"))
	st.Close()
	if err != nil || p == nil || !journaled || sum != digest(data) {
		t.Fatalf("CommitRecordHashing = %v, journaled %v, sum %s, %v; want a pending object with digest %s", p, journaled, sum, err, digest(data))
	}
	if info, err := p.Wait(); err != nil || info.SHA256 != sum {
		t.Fatalf("Wait = %+v, %v", info, err)
	}
	p.Indexed()
	wantObject(t, s, "hashing/kept", string(data))

	big := bytes.Repeat([]byte("y"), 700<<10)
	st = stage(t, s, ctx)
	st.Write(big)
	p, info, sum, done, _, err := st.CommitRecordHashing(ctx, "hashing/big", []byte("record"))
	st.Close()
	if err != nil || p != nil || sum != digest(big) || info.SHA256 != sum {
		t.Fatalf("CommitRecordHashing of a large upload = %v, %+v, sum %s, %v; want a plain commit", p, info, sum, err)
	}
	done()
	crash(s, moving)

	s2 := openJournaled(t, dir, 1<<20, 4)
	if info, err := s2.Stat(ctx, "hashing/kept"); err != nil || info.SHA256 != digest(data) {
		t.Errorf("replayed Stat = %+v, %v; want the digest computed at replay", info, err)
	}
	wantObject(t, s2, "hashing/kept", string(data))
	wantObject(t, s2, "hashing/big", string(big))
}

// TestJournalDigestLater: PutRecordSyncing makes the append durable
// without the digest, asks for it only at Wait, and publishes nothing
// when it is not given; a replay computes the digest the record left
// out.
func TestJournalDigestLater(t *testing.T) {
	dir := t.TempDir()
	s := openJournaled(t, dir, 1<<20, 4)
	moving := holdMover(t, s)
	ctx := t.Context()
	put := func(key, data string, digest func() (string, error)) radmark.PendingBlob {
		t.Helper()
		p, _, err := s.PutRecordSyncing(ctx, key, strings.NewReader(data), int64(len(data)), digest, []byte("record of "+key))
		if err != nil || p == nil {
			t.Fatalf("PutRecordSyncing(%s) = %v, %v; want a pending object", key, p, err)
		}
		return p
	}

	hashed := make(chan struct{})
	asked := false
	late := put("later/kept", "kept bytes", func() (string, error) {
		asked = true
		<-hashed
		return digest([]byte("kept bytes")), nil
	})
	if asked {
		t.Fatal("PutRecordSyncing asked for the digest before Wait")
	}
	close(hashed)
	if info, err := late.Wait(); err != nil || info.SHA256 != digest([]byte("kept bytes")) {
		t.Fatalf("Wait = %+v, %v; want the digest given late", info, err)
	}
	late.Indexed()

	for _, tc := range []struct {
		key    string
		digest func() (string, error)
	}{
		{"later/failed", func() (string, error) { return "", errors.New("read failed") }},
		{"later/short", func() (string, error) { return "abcd", nil }},
		{"later/upper", func() (string, error) { return strings.ToUpper(digest([]byte("bad bytes"))), nil }},
	} {
		p := put(tc.key, "bad bytes", tc.digest)
		if _, err := p.Wait(); err == nil {
			t.Errorf("%s: Wait succeeded without a valid digest", tc.key)
		}
		if _, err := s.Stat(ctx, tc.key); radmark.ErrorCode(err) != radmark.ENOTFOUND {
			t.Errorf("%s: object without a valid digest visible: %v", tc.key, err)
		}
	}

	// Too large for the journal: written the plain way, digest asked at once.
	big := strings.Repeat("x", 600<<10)
	p, info, err := s.PutRecordSyncing(ctx, "later/big", strings.NewReader(big), int64(len(big)), knownDigest(big), []byte("record"))
	if err != nil || p != nil || info.SHA256 != digest([]byte(big)) {
		t.Fatalf("PutRecordSyncing of a large object = %v, %+v, %v; want a plain put", p, info, err)
	}
	crash(s, moving)

	s2 := openJournaled(t, dir, 1<<20, 4)
	if info, err := s2.Stat(ctx, "later/kept"); err != nil || info.SHA256 != digest([]byte("kept bytes")) {
		t.Errorf("replayed Stat = %+v, %v; want the digest computed at replay", info, err)
	}
	wantObject(t, s2, "later/kept", "kept bytes")
	for _, key := range []string{"later/failed", "later/short", "later/upper"} {
		if _, err := s2.Stat(ctx, key); radmark.ErrorCode(err) != radmark.ENOTFOUND {
			t.Errorf("%s replayed: %v", key, err)
		}
	}
	metas := map[string]bool{}
	for _, m := range s2.RecoveredMeta() {
		metas[string(m)] = true
	}
	if !metas["record of later/kept"] || len(metas) != 1 {
		t.Errorf("recovered records %v; want later/kept's only", metas)
	}
}

// TestJournalPrewritesFreshSegments: once the journal is in sustained use
// (a segment filled up) and uploads pause, the mover writes zeros over
// the free segments' unwritten blocks, stopping when uploads resume; the
// objects and a replay are unaffected.
func TestJournalPrewritesFreshSegments(t *testing.T) {
	const segSize = 3 * prewriteChunk
	dir := t.TempDir()
	s := openJournaled(t, dir, segSize, 4)
	j := s.j
	release := holdMover(t, s)

	j.mu.Lock()
	for _, sg := range j.segs {
		// As allocated on a file system with unwritten extents (the
		// reading of which TestFirstUnwritten checks).
		sg.written = 0
	}
	now := j.lastAppend
	for _, tc := range []struct {
		name    string
		rotated bool
		queued  bool
		at      time.Time
		want    bool
	}{
		{"no segment filled yet", false, false, now.Add(moveIdle), false},
		{"objects wait to be moved", true, true, now.Add(moveIdle), false},
		{"uploads arriving", true, false, now.Add(moveIdle / 2), false},
		{"uploads paused, in sustained use", true, false, now.Add(moveIdle), true},
	} {
		j.rotated = tc.rotated
		j.queue = nil
		if tc.queued {
			j.queue = []*record{{modTime: now}}
		}
		if got := j.prewriteDue(tc.at); got != tc.want {
			t.Errorf("%s: prewriteDue = %v, want %v", tc.name, got, tc.want)
		}
	}
	j.rotated, j.queue = false, nil
	j.mu.Unlock()

	// An upload arriving stops a prewrite after its chunk.
	j.mu.Lock()
	j.rotated = true
	sg := j.free[len(j.free)-1]
	j.lastAppend = time.Now()
	j.mu.Unlock()
	if upTo, err := j.prewrite(sg, 0); err != nil || upTo != prewriteChunk {
		t.Fatalf("prewrite while uploads arrive = %d, %v; want one chunk, %d", upTo, err, prewriteChunk)
	}
	// So does a Delete waiting to settle its key.
	j.mu.Lock()
	j.lastAppend = time.Now().Add(-time.Minute)
	j.mu.Unlock()
	j.settling.Add(1)
	upTo, err := j.prewrite(sg, prewriteChunk)
	j.settling.Add(-1)
	if err != nil || upTo != 2*prewriteChunk {
		t.Fatalf("prewrite while a Delete waits = %d, %v; want one chunk more, %d", upTo, err, 2*prewriteChunk)
	}
	j.mu.Lock()
	j.rotated = false
	j.mu.Unlock()

	// Fill more than a segment, then pause: every free segment ends up
	// written.
	chunk := strings.Repeat("x", segSize/3)
	for i := range 5 {
		mustPut(t, s, fmt.Sprintf("fill/%d", i), chunk)
	}
	release()
	// Well before the mover's idle timer (checkpointEvery/4): the pause
	// itself must wake it.
	waitUntil(t, time.Now().Add(5*time.Second), "the free segments to be prewritten after uploads paused", func() bool {
		j.mu.Lock()
		defer j.mu.Unlock()
		return j.rotated && !slices.ContainsFunc(j.free, j.unwritten) && len(j.free) > 0
	})
	for i := range 5 {
		wantObject(t, s, fmt.Sprintf("fill/%d", i), chunk)
	}
	mustPut(t, s, "after/prewrite", "appended into a prewritten segment")
	moving := holdMover(t, s)
	j.mu.Lock()
	written := map[int]int64{}
	for _, sg := range j.segs {
		written[sg.idx] = max(sg.written, sg.used)
	}
	j.mu.Unlock()
	crash(s, moving)
	s2 := openJournaled(t, dir, segSize, 4)
	wantObject(t, s2, "after/prewrite", "appended into a prewritten segment")
	for i := range 5 {
		wantObject(t, s2, fmt.Sprintf("fill/%d", i), chunk)
	}
	// The file system tells the restart what was written (where it
	// can: TestFirstUnwritten).
	for _, sg := range s2.j.segs {
		if sg.written < written[sg.idx] {
			t.Errorf("segment %d found at open counts %d bytes written, want at least %d", sg.idx, sg.written, written[sg.idx])
		}
	}
}

// TestJournalFreesSegmentsOneByOne: while segments run short the mover
// checkpoints after each segment's records are in the tree, so uploads
// get space back before the whole queue is moved.
func TestJournalFreesSegmentsOneByOne(t *testing.T) {
	s := openJournaled(t, "", 1<<20, 4)
	j := s.j
	release := holdMover(t, s)
	data := strings.Repeat("s", 400<<10) // two to a segment
	for i := range 6 {
		mustPut(t, s, fmt.Sprintf("seg/%d", i), data)
	}
	j.mu.Lock()
	free, queued := len(j.free), len(j.queue)
	j.mu.Unlock()
	if free != 1 || queued != 6 {
		t.Fatalf("6 objects in 4 segments of two: %d free, %d queued; want 1 and 6", free, queued)
	}
	freed, err := j.moveWhileDue()
	if err != nil {
		t.Fatal(err)
	}
	j.mu.Lock()
	queued = len(j.queue)
	j.mu.Unlock()
	if !freed || queued != 4 {
		t.Fatalf("the mover under pressure moved %d records (freed %v); want the first segment's two, then a checkpoint", 6-queued, freed)
	}
	if err := j.checkpoint(); err != nil {
		t.Fatal(err)
	}
	j.mu.Lock()
	free = len(j.free)
	j.mu.Unlock()
	if free != 2 {
		t.Fatalf("after moving one segment's records and a checkpoint: %d segments free, want 2", free)
	}
	// With segments to spare again the rest waits in the log for a pause.
	if err := j.moveAndCheckpoint(); err != nil {
		t.Fatal(err)
	}
	release()
	for i := range 6 {
		key := fmt.Sprintf("seg/%d", i)
		if moved := inTree(s, key); moved != (i < 2) {
			t.Errorf("%s in the tree: %v, want %v", key, moved, i < 2)
		}
		if got, err := readObject(s, key); err != nil || got != data {
			t.Errorf("Get(%s): %d bytes, %v", key, len(got), err)
		}
	}
}
