//go:build linux

package fsblob

import (
	"bytes"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/archive"
	"github.com/radmark/radmark/dicom"
	"github.com/radmark/radmark/phantom"
	"github.com/radmark/radmark/sqlite"
)

// TestJournalReindexesAfterCrash stores instances through the archive with
// the index journal on (index commits unsynced, the records in the blob
// journal with the bytes), crashes before any checkpoint, and restarts
// with an index that lost every one of those commits: the restart indexes
// them all again from the journal, and their bytes are served. Once the
// index is durable again nothing is replayed a second time.
func TestJournalReindexesAfterCrash(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	blobDir := filepath.Join(dir, "blobs")
	openIndex := func(name string) *sqlite.DB { return openIndexAt(t, filepath.Join(dir, name)) }
	sources, encoded := phantomSources(t, 6)
	want := map[radmark.UID][]byte{}
	for i, src := range sources {
		want[radmark.UID(src.Name)] = encoded[i]
	}

	blobs := openJournaled(t, blobDir, 8<<20, 2)
	svc := &archive.Service{Store: openIndex("before.db"), Blobs: blobs}
	if n, err := svc.EnableIndexJournal(ctx); err != nil || n != 0 {
		t.Fatalf("EnableIndexJournal on a fresh journal: %d, %v", n, err)
	}
	moving := holdMover(t, blobs)
	// The request's audit event goes with the records, in the journal too.
	request := &archive.RequestAudit{Event: &radmark.AuditEvent{ID: "stow-1", Time: time.Now(), Actor: "modality", Action: "dicomweb.store", ObjectType: "archive"}}
	res, err := svc.Ingest(ctx, sources, archive.IngestOptions{Audit: request})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Err != nil || r.Status != radmark.PutStored {
			t.Fatalf("%s: %v %v", r.Name, r.Status, r.Err)
		}
	}
	if !request.Stored() || request.Event.Seq != 1 {
		t.Fatalf("the request's event was not stored with its instances: stored %v, seq %d", request.Stored(), request.Event.Seq)
	}
	crash(blobs, moving)

	// The index the restart finds has none of the unsynced commits.
	blobs2 := openJournaled(t, blobDir, 8<<20, 2)
	if got := len(blobs2.RecoveredMeta()); got != len(sources) {
		t.Fatalf("%d index records recovered, want %d", got, len(sources))
	}
	index := openIndex("after.db")
	svc2 := &archive.Service{Store: index, Blobs: blobs2}
	n, err := svc2.EnableIndexJournal(ctx)
	if err != nil || n != len(sources) {
		t.Fatalf("EnableIndexJournal after the crash: %d indexed again, %v; want %d", n, err, len(sources))
	}
	// Every record carried the event; it is back on the chain once.
	events, err := index.AuditEvents(ctx, radmark.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 1 || events[0].ID != "stow-1" || events[0].Hash != events[0].ComputeHash() {
		t.Fatalf("audit chain after the replay: %+v, want the request's event once", events)
	}
	for uid, b := range want {
		inst, err := index.Instance(ctx, uid)
		if err != nil {
			t.Fatalf("instance %s not indexed again: %v", uid, err)
		}
		got, err := readObject(blobs2, inst.BlobKey)
		if err != nil || got != string(b) {
			t.Fatalf("instance %s: blob %v, %d bytes", uid, err, len(got))
		}
		if inst.SHA256 != digest(b) {
			t.Errorf("instance %s indexed again with sha256 %q, want %s", uid, inst.SHA256, digest(b))
		}
	}
	if err := blobs2.Close(); err != nil {
		t.Fatal(err)
	}
	blobs3 := openJournaled(t, blobDir, 8<<20, 2)
	if got := len(blobs3.RecoveredMeta()); got != 0 {
		t.Fatalf("%d index records replayed again after a clean stop", got)
	}
}

func openIndexAt(t *testing.T, path string) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(t.Context(), "sqlite://"+path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// phantomSources encodes the first n slices of a small phantom CT as
// sources named by their SOP Instance UIDs, with their bytes.
func phantomSources(t *testing.T, n int) ([]archive.Source, [][]byte) {
	t.Helper()
	ser, err := phantom.Generate(phantom.CTSmall())
	if err != nil {
		t.Fatal(err)
	}
	var sources []archive.Source
	var encoded [][]byte
	for _, ds := range ser.Instances[:n] {
		var buf bytes.Buffer
		if err := dicom.WriteFile(&buf, ds, dicom.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
		b := buf.Bytes()
		encoded = append(encoded, b)
		sources = append(sources, archive.Source{Name: ds.String(dicom.TagSOPInstanceUID), Data: bytes.NewReader(b), Size: int64(len(b)), Bytes: b})
	}
	return sources, encoded
}

// blobKeys lists the store's keys under "dicom/".
func blobKeys(t *testing.T, s *Store) []string {
	t.Helper()
	var keys []string
	if err := s.List(t.Context(), "dicom/", func(bi radmark.BlobInfo) error {
		keys = append(keys, bi.Key)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return keys
}

// checkStored checks that r is a new instance, indexed with the digest of
// want, whose blob holds want.
func checkStored(t *testing.T, index *sqlite.DB, blobs *Store, r archive.Result, want []byte) {
	t.Helper()
	if r.Err != nil || r.Status != radmark.PutStored {
		t.Fatalf("%s: %v %v", r.Name, r.Status, r.Err)
	}
	inst, err := index.Instance(t.Context(), r.SOPInstanceUID)
	if err != nil {
		t.Fatal(err)
	}
	if inst.SHA256 != digest(want) {
		t.Errorf("%s indexed with sha256 %s, want %s", r.Name, inst.SHA256, digest(want))
	}
	if got, err := readObject(blobs, inst.BlobKey); err != nil || got != string(want) {
		t.Errorf("%s: blob %s: %v, %d bytes", r.Name, inst.BlobKey, err, len(got))
	}
}

// TestJournalArchiveHashesWhileSyncing: with the index journal on, a new
// instance is stored under a fresh key and hashed while the append is
// made durable; the index still gets the right digest. A re-send of the
// same bytes writes nothing, one with other bytes is a conflict that
// leaves nothing behind, and a replayed record of an instance indexed
// meanwhile leaves no orphan bytes.
func TestJournalArchiveHashesWhileSyncing(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	index := openIndexAt(t, filepath.Join(dir, "index.db"))
	sources, encoded := phantomSources(t, 3)
	blobDir := filepath.Join(dir, "blobs")
	blobs := openJournaled(t, blobDir, 8<<20, 2)
	svc := &archive.Service{Store: index, Blobs: blobs}
	if _, err := svc.EnableIndexJournal(ctx); err != nil {
		t.Fatal(err)
	}
	ingest := func(srcs []archive.Source) []archive.Result {
		t.Helper()
		res, err := svc.Ingest(ctx, srcs, archive.IngestOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	for i, r := range ingest(sources) {
		checkStored(t, index, blobs, r, encoded[i])
	}
	stored := blobKeys(t, blobs)
	if len(stored) != len(sources) {
		t.Fatalf("blobs after the first send: %q", stored)
	}

	for _, r := range ingest(sources) {
		if r.Err != nil || r.Status != radmark.PutDuplicate {
			t.Errorf("re-send of %s: %v %v; want a duplicate", r.Name, r.Status, r.Err)
		}
	}
	changed := slices.Clone(encoded[0])
	changed[len(changed)-1] ^= 0xff
	conflict := ingest([]archive.Source{{Name: "changed", Data: bytes.NewReader(changed), Size: int64(len(changed)), Bytes: changed}})
	if radmark.ErrorCode(conflict[0].Err) != radmark.ECONFLICT {
		t.Errorf("other bytes under a stored SOP Instance UID: %v %v; want a conflict", conflict[0].Status, conflict[0].Err)
	}
	if keys := blobKeys(t, blobs); !slices.Equal(keys, stored) {
		t.Errorf("blobs after the re-sends: %q; want %q", keys, stored)
	}

	// A journaled record of an instance the index has under another
	// key (the discard that answered a concurrent duplicate, lost in a
	// crash): the restart indexes nothing and leaves no orphan. Another
	// index over the same blobs makes that record.
	other := openIndexAt(t, filepath.Join(dir, "other.db"))
	svcOther := &archive.Service{Store: other, Blobs: blobs}
	if _, err := svcOther.EnableIndexJournal(ctx); err != nil {
		t.Fatal(err)
	}
	moving := holdMover(t, blobs)
	res, err := svcOther.Ingest(ctx, sources[:1], archive.IngestOptions{})
	if err != nil || res[0].Status != radmark.PutStored {
		t.Fatalf("ingest into the other index: %+v, %v", res, err)
	}
	if keys := blobKeys(t, blobs); len(keys) != len(stored)+1 {
		t.Fatalf("blobs with the other index's copy: %q", keys)
	}
	crash(blobs, moving)
	blobs2 := openJournaled(t, blobDir, 8<<20, 2)
	svc2 := &archive.Service{Store: index, Blobs: blobs2}
	if n, err := svc2.EnableIndexJournal(ctx); err != nil || n != 0 {
		t.Fatalf("EnableIndexJournal: %d indexed again, %v; want none", n, err)
	}
	if keys := blobKeys(t, blobs2); !slices.Equal(keys, stored) {
		t.Errorf("blobs after the restart: %q; want %q", keys, stored)
	}
}

// TestJournalConcurrentIngestsFailingSync sends slices one per request,
// many at once, with the index journal on, so that requests arrive while
// a group commit runs (and then wait for their own appends before they
// queue for the next one). First every append is made durable: all are
// stored, indexed with their digests and readable. Then the log's
// fdatasync fails: each request either succeeds (an object written the
// plain way once the log is given up) or fails as unavailable, and in
// both cases the index and the blobs agree — nothing indexed without its
// bytes, no bytes left that the index does not name.
func TestJournalConcurrentIngestsFailingSync(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	index := openIndexAt(t, filepath.Join(dir, "index.db"))
	sources, encoded := phantomSources(t, 48)
	blobs := openJournaled(t, filepath.Join(dir, "blobs"), 8<<20, 4)
	// The journal's goroutines read the failpoint: it is set before any
	// runs, and switched by the flag.
	var failing atomic.Bool
	blobs.failpoint = func(op, path string) error {
		if failing.Load() && op == "sync" && strings.Contains(path, journalDirName) {
			return errDiskFull(op, path)
		}
		return nil
	}
	svc := &archive.Service{Store: index, Blobs: blobs}
	if _, err := svc.EnableIndexJournal(ctx); err != nil {
		t.Fatal(err)
	}
	sendAll := func(srcs []archive.Source) []archive.Result {
		t.Helper()
		results := make([]archive.Result, len(srcs))
		var wg sync.WaitGroup
		for i := range srcs {
			wg.Go(func() {
				// A failed commit fails the request too; its result
				// says how.
				res, err := svc.Ingest(ctx, srcs[i:i+1], archive.IngestOptions{})
				if len(res) != 1 {
					results[i] = archive.Result{Name: srcs[i].Name, Err: fmt.Errorf("no result: %w", err)}
					return
				}
				results[i] = res[0]
			})
		}
		wg.Wait()
		return results
	}
	half := len(sources) / 2
	for i, r := range sendAll(sources[:half]) {
		checkStored(t, index, blobs, r, encoded[i])
	}

	failing.Store(true)
	failed := 0
	for i, r := range sendAll(sources[half:]) {
		inst, err := index.Instance(ctx, radmark.UID(sources[half+i].Name))
		switch {
		case r.Err == nil:
			if err != nil {
				t.Errorf("%s: stored, but not in the index: %v", r.Name, err)
			} else if got, err := readObject(blobs, inst.BlobKey); err != nil || got != string(encoded[half+i]) {
				t.Errorf("%s: blob %s: %v, %d bytes", r.Name, inst.BlobKey, err, len(got))
			}
		case radmark.ErrorCode(r.Err) != radmark.EUNAVAILABLE:
			t.Errorf("%s: %v; want stored or unavailable", r.Name, r.Err)
		case err == nil:
			t.Errorf("%s: refused (%v), but indexed", r.Name, r.Err)
		case !strings.Contains(radmark.ErrorMessage(r.Err), "blob store"):
			t.Errorf("%s: %q; want it to blame the blob store, whose sync failed", r.Name, radmark.ErrorMessage(r.Err))
		default:
			failed++
		}
	}
	if failed == 0 {
		t.Error("no ingest failed while the log's fdatasync did")
	}
	failing.Store(false)
	_, _, n, err := index.Counts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if keys := blobKeys(t, blobs); len(keys) != n {
		t.Errorf("%d blobs for %d indexed instances: %q", len(keys), n, keys)
	}
}
