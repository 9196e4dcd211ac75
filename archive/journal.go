package archive

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/radmark/radmark"
)

// The index journal. With a blob store that journals (fsblob with its
// journal on), an instance costs two durable writes in a row: its bytes'
// append to the journal, then the index commit. When the index can also
// commit without waiting for the disk and make itself durable on demand
// (SQLite: PutOptions.Unsynced and SyncFiles), the index record is written
// into the journal with the bytes, so the one append makes both durable;
// the journal passes a record only after the index's barrier has run, and
// after a crash gives back the records past its checkpoint, which
// EnableIndexJournal indexes again (an instance already indexed is a
// duplicate, so that is idempotent).

// syncingPutter is a blob store that can write the owner's record with an
// object and finish the disk write while the index transaction is
// prepared (fsblob.Store.PutRecordSyncing): pending is nil when the object
// was stored the plain way.
type syncingPutter interface {
	PutRecordSyncing(ctx context.Context, key string, r io.Reader, size int64, digest func() (string, error), meta []byte) (pending radmark.PendingBlob, info radmark.BlobInfo, err error)
}

// syncingCommitter is a staged upload that can do the same
// (fsblob.Staged.CommitRecordSyncing); when pending is nil, done and
// journaled say whether the journal took it all the same.
type syncingCommitter interface {
	CommitRecordSyncing(ctx context.Context, key string, meta []byte) (pending radmark.PendingBlob, info radmark.BlobInfo, done func(), journaled bool, err error)
}

// hashingCommitter is a staged upload that can also be named before its
// digest is known and hashed while the journal's disk write runs
// (fsblob.Staged.CommitRecordHashing); sum is the digest either way.
type hashingCommitter interface {
	CommitRecordHashing(ctx context.Context, key string, meta []byte) (pending radmark.PendingBlob, info radmark.BlobInfo, sum string, done func(), journaled bool, err error)
}

// journalRecovery is the blob store's side of recovery.
type journalRecovery interface {
	RecoveredMeta() [][]byte
	SetIndexBarrier(func(context.Context) error)
}

// indexBarrier is an index that can make unsynced commits durable.
type indexBarrier interface {
	SyncFiles(ctx context.Context) error
}

// journalMeta is what the journal keeps of an instance's indexing.
type journalMeta struct {
	Record    *radmark.InstanceRecord
	Overwrite bool `json:",omitempty"`
	// Audit is the event of the request that sent the instance, while it
	// was not yet stored with an earlier batch of that request
	// (RequestAudit).
	Audit *radmark.AuditEvent `json:",omitempty"`
}

// EnableIndexJournal indexes again the records the blob journal replayed
// at start, then turns the index journal on, if the blob store and the
// index both can (otherwise it does nothing and returns nil). Call it
// once, before ingesting. It returns how many replayed records were
// indexed anew.
func (s *Service) EnableIndexJournal(ctx context.Context) (int, error) {
	rec, ok := s.Blobs.(journalRecovery)
	barrier, ok2 := s.Store.(indexBarrier)
	if !ok || !ok2 {
		return 0, nil
	}
	if _, ok := s.Blobs.(syncingPutter); !ok {
		return 0, nil
	}
	restored := 0
	for _, raw := range rec.RecoveredMeta() {
		var m journalMeta
		if err := json.Unmarshal(raw, &m); err != nil || m.Record == nil {
			// Written by this program, checked by the journal's CRC: a
			// record that does not decode is a bug, not damage.
			return restored, fmt.Errorf("archive: a journaled index record does not decode: %v", err)
		}
		inst := &m.Record.Instance
		if inst.SHA256 == "" {
			// Hashed while the append was made durable (putHashingLater):
			// the journal computed the digest again at its replay.
			info, err := s.Blobs.Stat(ctx, inst.BlobKey)
			if err != nil {
				return restored, fmt.Errorf("archive: the bytes of journaled instance %s: %w", inst.SOPInstanceUID, err)
			}
			inst.SHA256 = info.SHA256
		}
		opts := radmark.PutOptions{Overwrite: m.Overwrite, Replay: true}
		if m.Audit != nil {
			// Appended unless the lost commit was not lost after all, or
			// an earlier record of the same request brought it back.
			opts.Audit = []*radmark.AuditEvent{m.Audit}
		}
		res, err := s.Store.PutInstances(ctx, []*radmark.InstanceRecord{m.Record}, opts)
		if err != nil {
			return restored, fmt.Errorf("archive: index a journaled instance again: %w", err)
		}
		switch {
		case res[0].Err != nil:
			// It failed the same way when it was first sent (a conflict),
			// and the client was told so.
			s.logger().Info("journaled instance not indexed again", "sop_instance_uid", inst.SOPInstanceUID, "err", res[0].Err)
		case res[0].Status != radmark.PutDuplicate:
			restored++
		}
		if res[0].Err != nil || res[0].Status == radmark.PutDuplicate {
			// Bytes under a fresh key that the index does not name (its
			// discard was lost in the crash) are nobody's.
			s.discardBlob(ctx, &prepared{record: m.Record, key: inst.BlobKey, wrote: true})
		}
	}
	if err := barrier.SyncFiles(ctx); err != nil {
		return restored, fmt.Errorf("archive: make the index durable: %w", err)
	}
	rec.SetIndexBarrier(barrier.SyncFiles)
	s.journalIndex = true
	return restored, nil
}
