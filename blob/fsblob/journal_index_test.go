//go:build linux

package fsblob

import (
	"bytes"
	"path/filepath"
	"testing"

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
	openIndex := func(name string) *sqlite.DB {
		db, err := sqlite.Open(ctx, "sqlite://"+filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	ser, err := phantom.Generate(phantom.CTSmall())
	if err != nil {
		t.Fatal(err)
	}
	var sources []archive.Source
	want := map[radmark.UID][]byte{}
	for _, ds := range ser.Instances[:6] {
		var buf bytes.Buffer
		if err := dicom.WriteFile(&buf, ds, dicom.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
		b := buf.Bytes()
		sources = append(sources, archive.Source{Name: ds.String(dicom.TagSOPInstanceUID), Data: bytes.NewReader(b), Size: int64(len(b))})
		want[radmark.UID(ds.String(dicom.TagSOPInstanceUID))] = b
	}

	blobs := openJournaled(t, blobDir, 8<<20, 2)
	svc := &archive.Service{Store: openIndex("before.db"), Blobs: blobs}
	if n, err := svc.EnableIndexJournal(ctx); err != nil || n != 0 {
		t.Fatalf("EnableIndexJournal on a fresh journal: %d, %v", n, err)
	}
	moving := holdMover(t, blobs)
	res, err := svc.Ingest(ctx, sources, archive.IngestOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Err != nil || r.Status != radmark.PutStored {
			t.Fatalf("%s: %v %v", r.Name, r.Status, r.Err)
		}
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
	for uid, b := range want {
		inst, err := index.Instance(ctx, uid)
		if err != nil {
			t.Fatalf("instance %s not indexed again: %v", uid, err)
		}
		got, err := readObject(blobs2, inst.BlobKey)
		if err != nil || got != string(b) {
			t.Fatalf("instance %s: blob %v, %d bytes", uid, err, len(got))
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
