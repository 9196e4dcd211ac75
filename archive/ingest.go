package archive

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/dicom"
)

// Service is the archive. Store and Blobs are required.
type Service struct {
	Store  radmark.ArchiveStore
	Blobs  radmark.BlobStore
	Logger *slog.Logger
	Now    func() time.Time
	// MaxInstanceSize rejects larger objects (0: 4 GiB).
	MaxInstanceSize int64
	// VerifyPixelData decodes compressed frames at ingest, so a corrupt
	// codestream is refused at the door rather than found by a viewer.
	VerifyPixelData bool
	// Decode decodes one compressed frame for verification; nil disables
	// verification of compressed data.
	Decode func(ts string, frame []byte, pi dicom.PixelInfo) error

	commit committer
	// journalIndex: index records go into the blob journal with their
	// instances and are committed unsynced (see EnableIndexJournal).
	journalIndex bool
}

func (s *Service) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

func (s *Service) maxSize() int64 {
	if s.MaxInstanceSize > 0 {
		return s.MaxInstanceSize
	}
	return 4 << 30
}

// Source is one object to ingest.
type Source struct {
	// Name identifies the source in results and logs (a path, "part 3").
	Name string
	Data io.ReaderAt
	Size int64
	// Bytes, if set, are Data's bytes held in memory, which are then
	// parsed without being copied. They must not change until Ingest
	// returns, and are not used after.
	Bytes []byte
	// SHA256 is the hex digest of the bytes if the caller computed it while
	// receiving them; otherwise Ingest computes it.
	SHA256 string
	// Linkage, if set, is the sealed linkage of a de-identified instance,
	// indexed with it in one transaction (radmark.InstanceRecord.Linkage).
	Linkage *radmark.SealedLinkage

	// staged is set for an Upload: the bytes are in the blob store
	// already, waiting for their key.
	staged stagedBlob
}

// IngestOptions change how existing instances are treated.
type IngestOptions struct {
	// Overwrite replaces an instance stored with other bytes instead of
	// refusing it as a conflict.
	Overwrite bool
	// StudyUID, if set, requires every instance to belong to that study
	// (STOW-RS to /studies/{study}).
	StudyUID radmark.UID
	// Audit, if set, is the audit event of the request that sends the
	// instances, stored with them: see RequestAudit.
	Audit *RequestAudit
}

// RequestAudit is the audit event of a request that stores instances
// (STOW-RS). It is appended to the audit chain in the index transaction
// of the request's instances — the first one that commits, when the
// request is ingested in several batches — and is written into their
// blob-journal records with them, so that the request and its record
// become durable together: with one commit, and, where the index commits
// unsynced, with the one journal append that already makes the instances
// durable (a replay after a crash appends the event again, if it was
// lost). A request that indexes nothing records its event itself
// (Stored reports false).
type RequestAudit struct {
	Event  *radmark.AuditEvent
	stored atomic.Bool
}

// Stored reports whether the event is on the chain.
func (a *RequestAudit) Stored() bool { return a.stored.Load() }

// pending is the event while it still waits for a commit, or nil.
func (a *RequestAudit) pending() *radmark.AuditEvent {
	if a == nil || a.Stored() {
		return nil
	}
	return a.Event
}

// Result is what happened to one source.
type Result struct {
	Name           string
	SOPClassUID    radmark.UID
	SOPInstanceUID radmark.UID
	StudyUID       radmark.UID
	SeriesUID      radmark.UID
	TransferSyntax string
	// Status is set when the instance is in the archive after the call.
	Status radmark.PutStatus
	// Err is a *radmark.Error saying why the source was refused.
	Err error
}

type prepared struct {
	res    *Result
	record *radmark.InstanceRecord
	key    string
	// wrote reports that this ingest put the blob (so it may remove it
	// if indexing fails).
	wrote bool
	// journaled: the record went into the blob journal with the bytes, so
	// the index may commit it unsynced; indexed must then be called once
	// that commit is over.
	journaled bool
	indexed   func()
	// pending is the journal append whose fdatasync runs while the index
	// transaction is prepared: waited for before it commits (see
	// syncingPutter), or abandoned.
	pending radmark.PendingBlob
}

// waitPending makes the pending appends durable (the index transaction's
// BeforeCommit).
func waitPending(indexed []*prepared) error {
	for _, p := range indexed {
		if p.pending != nil {
			if _, err := p.pending.Wait(); err != nil {
				return appendError{err}
			}
		}
	}
	return nil
}

// appendError is a blob append that failed to become durable: the blob
// store, not the index, failed the batch.
type appendError struct{ err error }

func (e appendError) Error() string { return e.err.Error() }
func (e appendError) Unwrap() error { return e.err }

// abandonPending gives up the appends never waited for: their objects
// never become visible, so there is nothing to discard (Wait, after
// Abandon, reports whether the object was published).
func abandonPending(indexed []*prepared) {
	for _, p := range indexed {
		if p.pending != nil {
			p.pending.Abandon()
			if _, err := p.pending.Wait(); err != nil {
				p.wrote = false
			}
		}
	}
}

// Ingest validates, stores and indexes sources. Each source succeeds or
// fails on its own; the returned error is only for a failure of the store
// itself. A source whose blob was stored but whose index row was not is
// removed again, so nothing is ever half-stored.
func (s *Service) Ingest(ctx context.Context, sources []Source, opts IngestOptions) ([]Result, error) {
	b := s.NewBatch(ctx, opts)
	for _, src := range sources {
		b.Add(src)
	}
	return b.Finish()
}

// Batch ingests sources as they arrive, as Ingest does: each source is
// validated and its blob stored while the caller goes on receiving the
// next, and all are indexed together by Finish (one transaction, shared
// with other batches finishing at the same time). A Batch is used by one
// goroutine.
type Batch struct {
	s     *Service
	ctx   context.Context
	opts  IngestOptions
	items []*batchItem
	// next is the source added last, not started yet: it starts when
	// another is added, or runs in Finish's goroutine (so a one-instance
	// upload needs no other goroutine).
	next  *batchItem
	wg    sync.WaitGroup
	slots chan struct{} // bounds the sources prepared at once
}

type batchItem struct {
	src  Source
	res  Result
	prep *prepared
}

// NewBatch starts a batch; Finish must be called.
func (s *Service) NewBatch(ctx context.Context, opts IngestOptions) *Batch {
	return &Batch{s: s, ctx: ctx, opts: opts, slots: make(chan struct{}, runtime.GOMAXPROCS(0)*2)}
}

// Add ingests src. Its data must stay readable until Finish returns.
func (b *Batch) Add(src Source) {
	// Start making an upload's bytes durable now: the fsync is the
	// longest step of storing it, and needs nothing but the bytes (and
	// their digest, which names them). An upload then found invalid or a
	// duplicate costs an fsync.
	if _, ok := src.staged.(syncingCommitter); ok && b.s.journalIndex {
		// The journal writes the upload with its index record, which the
		// header parse makes: nothing to start early.
	} else if sy, ok := src.staged.(keyedSyncer); ok {
		src.SHA256 = src.staged.SHA256()
		key := blobKey(src.SHA256)
		go func() { _ = sy.SyncAs(key) }()
	} else if sy, ok := src.staged.(syncer); ok {
		go func() { _ = sy.Sync() }()
	}
	if b.next != nil {
		it := b.next
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			b.prepare(it)
		}()
	}
	b.next = &batchItem{src: src, res: Result{Name: src.Name}}
	b.items = append(b.items, b.next)
}

func (b *Batch) prepare(it *batchItem) {
	b.slots <- struct{}{}
	defer func() { <-b.slots }()
	p, err := b.s.prepare(b.ctx, it.src, &it.res, b.opts)
	if err != nil {
		it.res.Err = err
		return
	}
	it.prep = p
}

// Finish waits for the sources added, indexes them and returns their
// results in the order they were added.
func (b *Batch) Finish() ([]Result, error) {
	if b.next != nil {
		b.prepare(b.next)
		b.next = nil
	}
	b.wg.Wait()
	results := make([]Result, len(b.items))
	for i, it := range b.items {
		if it.prep != nil {
			it.prep.res = &results[i]
		}
		results[i] = it.res
	}
	s, ctx := b.s, b.ctx
	var records []*radmark.InstanceRecord
	var indexed []*prepared
	for _, it := range b.items {
		if p := it.prep; p != nil && p.record != nil {
			records = append(records, p.record)
			indexed = append(indexed, p)
		}
	}
	if len(records) == 0 {
		return results, nil
	}
	// The index may commit without waiting for the disk only when every
	// record is in the blob journal with its bytes.
	unsynced := true
	for _, p := range indexed {
		unsynced = unsynced && p.journaled
	}
	defer func() {
		for _, p := range indexed {
			p.indexDone()
		}
	}()
	var events []*radmark.AuditEvent
	if ev := b.opts.Audit.pending(); ev != nil {
		events = []*radmark.AuditEvent{ev}
	}
	// Each pending append is waited for before the index commits, or
	// abandoned when it does not.
	puts, err := s.putInstances(ctx, records, radmark.PutOptions{Overwrite: b.opts.Overwrite, Unsynced: unsynced,
		BeforeCommit: func() error { return waitPending(indexed) }, Audit: events})
	if err == nil && events != nil {
		b.opts.Audit.stored.Store(true)
	}
	abandonPending(indexed)
	for _, p := range indexed {
		p.indexDone()
	}
	if err != nil {
		unavailable := "the archive index is unavailable"
		if errors.As(err, new(appendError)) {
			unavailable = "the blob store is unavailable"
		}
		for _, p := range indexed {
			s.discardBlob(ctx, p)
			p.res.Err = radmark.WrapError(radmark.EUNAVAILABLE, err, unavailable)
		}
		return results, fmt.Errorf("index instances: %w", err)
	}
	for i, put := range puts {
		p := indexed[i]
		if put.Err != nil {
			p.res.Err = put.Err
			s.discardBlob(ctx, p)
			continue
		}
		p.res.Status = put.Status
		if put.Status == radmark.PutDuplicate {
			// A concurrent ingest indexed the same instance first: bytes
			// this one wrote under a fresh key are nobody's.
			s.discardBlob(ctx, p)
		}
		if put.Status == radmark.PutReplaced && put.PreviousBlobKey != "" && put.PreviousBlobKey != p.key {
			if err := s.Blobs.Delete(ctx, put.PreviousBlobKey); err != nil {
				s.logger().Warn("delete replaced blob", "key", put.PreviousBlobKey, "err", err)
			}
		}
	}
	return results, nil
}

// indexDone tells the blob journal that this record's index commit is
// over (see prepared.indexed); safe to call more than once.
func (p *prepared) indexDone() {
	if p.indexed != nil {
		p.indexed()
		p.indexed = nil
	}
}

// discardBlob removes a blob this ingest wrote when its instance did not
// get indexed, unless the index refers to it after all (a concurrent ingest
// of the very same bytes).
func (s *Service) discardBlob(ctx context.Context, p *prepared) {
	if !p.wrote {
		return
	}
	if inst, err := s.Store.Instance(ctx, p.record.Instance.SOPInstanceUID); err == nil && inst.BlobKey == p.key {
		return
	}
	if err := s.Blobs.Delete(context.WithoutCancel(ctx), p.key); err != nil {
		s.logger().Warn("delete unindexed blob", "key", p.key, "err", err)
	}
}

// digestPutter is a blob store that can take a digest computed while the
// bytes were received instead of hashing them again.
type digestPutter interface {
	PutWithDigest(ctx context.Context, key string, r io.Reader, size int64, sha256Hex string) (radmark.BlobInfo, error)
}

// blobKey addresses an instance's bytes by their digest.
func blobKey(sum string) string { return "dicom/" + sum[:2] + "/" + sum }

// newBlobKey names the bytes of an instance the index has never seen
// before their digest is known: 128 random bits, in the same folders as
// digest keys (and told apart from them by length). The digest is then
// computed while the journal's fdatasync runs instead of before it; the
// index still records it, and every reader that checks bytes checks them
// against the index, never against the key.
func newBlobKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	h := hex.EncodeToString(b[:])
	return "dicom/" + h[:2] + "/" + h
}

// hashLater starts hashing src's bytes on another goroutine and returns
// the function that waits for the digest (as often as called).
func hashLater(src Source) func() (string, error) {
	done := make(chan struct{})
	var sum string
	var err error
	go func() {
		defer close(done)
		sum, err = hashSource(src)
	}()
	return func() (string, error) {
		<-done
		return sum, err
	}
}

// hashSource is the hex SHA-256 of src's bytes.
func hashSource(src Source) (string, error) {
	if src.Bytes != nil && int64(len(src.Bytes)) == src.Size {
		sum := sha256.Sum256(src.Bytes)
		return hex.EncodeToString(sum[:]), nil
	}
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(src.Data, 0, src.Size)); err != nil {
		return "", radmark.WrapError(radmark.EINTERNAL, err, "read object")
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// knownInstance returns the indexed instance uid, or nil if the index
// does not have it (or cannot say). A re-send is hashed first, as before
// the fresh keys: its bytes, if the same, are then found by the key the
// index names, and nothing is written.
func (s *Service) knownInstance(ctx context.Context, uid radmark.UID) *radmark.Instance {
	// No cancellation watcher for a point read (the SQLite driver starts
	// a goroutine per statement for one, a thread wake-up per instance).
	inst, err := s.Store.Instance(context.WithoutCancel(ctx), uid)
	if err != nil {
		if radmark.ErrorCode(err) != radmark.ENOTFOUND {
			// The index decides in its transaction anyway; a fresh key
			// costs a discard at worst.
			s.logger().Debug("look up instance before storing", "sop_instance_uid", uid, "err", err)
		}
		return nil
	}
	return inst
}

func (s *Service) prepare(ctx context.Context, src Source, res *Result, opts IngestOptions) (*prepared, error) {
	if src.staged != nil {
		// Whatever happens, the staged bytes are committed below or
		// abandoned here.
		defer src.staged.Close()
	}
	if err := ctx.Err(); err != nil {
		return nil, radmark.WrapError(radmark.EUNAVAILABLE, err, "ingest cancelled")
	}
	if src.Size > s.maxSize() {
		return nil, radmark.Errorf(radmark.ETOOLARGE, "object of %d bytes exceeds the limit of %d bytes", src.Size, s.maxSize())
	}
	var digest func() (string, error)
	if src.SHA256 == "" && src.staged == nil && src.Bytes != nil && int64(len(src.Bytes)) == src.Size {
		// Bytes in memory are hashed from the start, on another core,
		// while they are parsed, looked up and written. Whatever the
		// outcome the hash is over before this returns: the caller may
		// reuse the bytes then.
		digest = hashLater(src)
		defer func() { _, _ = digest() }()
	}
	inst, ds, err := s.index(src)
	if err != nil {
		return nil, err
	}
	rec := inst
	rec.Linkage = src.Linkage
	res.SOPClassUID = rec.Instance.SOPClassUID
	res.SOPInstanceUID = rec.Instance.SOPInstanceUID
	res.StudyUID = rec.Study.UID
	res.SeriesUID = rec.Series.UID
	res.TransferSyntax = string(rec.Instance.TransferSyntaxUID)
	if opts.StudyUID != "" && rec.Study.UID != opts.StudyUID {
		return nil, radmark.Errorf(radmark.ECONFLICT, "instance belongs to study %s, not to the study %s the request names", rec.Study.UID, opts.StudyUID)
	}
	if s.VerifyPixelData {
		if err := s.verifyPixels(src, ds, rec); err != nil {
			return nil, err
		}
	}
	sp, canPutSyncing := s.Blobs.(syncingPutter)
	hc, canCommitHashing := src.staged.(hashingCommitter)
	var known *radmark.Instance
	if src.SHA256 == "" && s.journalIndex && (src.staged == nil && canPutSyncing || canCommitHashing) {
		if known = s.knownInstance(ctx, rec.Instance.SOPInstanceUID); known == nil {
			// The instance is new: name its bytes before hashing them, so
			// the hash runs while the journal's disk write does.
			if canCommitHashing {
				return s.commitHashingLater(ctx, src, res, rec, hc, opts)
			}
			if digest == nil {
				digest = hashLater(src)
			}
			return s.putHashingLater(ctx, src, res, rec, sp, digest, opts)
		}
	}
	sum := src.SHA256
	switch {
	case sum != "":
	case src.staged != nil:
		sum = src.staged.SHA256()
	case digest != nil:
		if sum, err = digest(); err != nil {
			return nil, err
		}
	default:
		if sum, err = hashSource(src); err != nil {
			return nil, err
		}
	}
	key := blobKey(sum)
	if known != nil && known.SHA256 == sum {
		// A re-send of stored bytes, perhaps under a fresh key: the Stat
		// below finds them, and nothing is written.
		key = known.BlobKey
	}
	rec.Instance.SHA256 = sum
	rec.Instance.BlobKey = key
	rec.Instance.Size = src.Size
	p := &prepared{res: res, record: rec, key: key}

	// The index decides duplicate and conflict in its transaction; an
	// existing blob under this key means the bytes are stored already. A
	// conflicting instance costs a blob write that discardBlob undoes.
	if _, err := s.Blobs.Stat(ctx, key); err != nil {
		if radmark.ErrorCode(err) != radmark.ENOTFOUND {
			return nil, radmark.WrapError(radmark.EUNAVAILABLE, err, "the blob store is unavailable")
		}
		var info radmark.BlobInfo
		body := io.NewSectionReader(src.Data, 0, src.Size)
		var meta []byte
		if s.journalIndex {
			if meta, err = encodeJournalMeta(rec, opts); err != nil {
				return nil, err
			}
		}
		sc, canCommitSyncing := src.staged.(syncingCommitter)
		dp, canPutDigest := s.Blobs.(digestPutter)
		switch {
		case meta != nil && src.staged != nil && canCommitSyncing:
			p.pending, info, p.indexed, p.journaled, err = sc.CommitRecordSyncing(ctx, key, meta)
			if p.pending != nil {
				p.indexed = p.pending.Indexed
			}
		case meta != nil && src.staged == nil && canPutSyncing:
			p.pending, info, err = sp.PutRecordSyncing(ctx, key, body, src.Size, func() (string, error) { return sum, nil }, meta)
			if p.pending != nil {
				p.journaled, p.indexed = true, p.pending.Indexed
			}
		case src.staged != nil:
			info, err = src.staged.Commit(ctx, key)
		case canPutDigest:
			info, err = dp.PutWithDigest(ctx, key, body, src.Size, sum)
		default:
			info, err = s.Blobs.Put(ctx, key, body, src.Size)
		}
		if err != nil {
			return nil, radmark.WrapError(radmark.EUNAVAILABLE, err, "the blob store is unavailable")
		}
		if info.SHA256 != "" && info.SHA256 != sum {
			p.indexDone()
			// The bytes changed under us (or the digest given was wrong):
			// never index an object under a digest it does not have.
			_ = s.Blobs.Delete(ctx, key)
			return nil, radmark.Errorf(radmark.EINVALID, "content changed while storing (sha256 %s, expected %s)", info.SHA256, sum)
		}
		p.wrote = true
	}
	return p, nil
}

// putHashingLater stores a new instance's bytes under a fresh key through
// the journal while digest, started by the caller, hashes them: the
// record the journal keeps has no digest (EnableIndexJournal gets it from
// the blob store after a crash), the index row has it.
func (s *Service) putHashingLater(ctx context.Context, src Source, res *Result, rec *radmark.InstanceRecord, sp syncingPutter, digest func() (string, error), opts IngestOptions) (*prepared, error) {
	p, meta, err := freshlyNamed(src, res, rec, opts)
	if err != nil {
		return nil, err
	}
	key := p.key
	var info radmark.BlobInfo
	p.pending, info, err = sp.PutRecordSyncing(ctx, key, io.NewSectionReader(src.Data, 0, src.Size), src.Size, digest, meta)
	sum, hashErr := digest()
	if err != nil {
		return nil, radmark.WrapError(radmark.EUNAVAILABLE, err, "the blob store is unavailable")
	}
	p.wrote = true
	if p.pending != nil {
		p.journaled, p.indexed = true, p.pending.Indexed
	}
	if hashErr == nil && info.SHA256 != "" && info.SHA256 != sum {
		hashErr = radmark.Errorf(radmark.EINVALID, "content changed while storing (sha256 %s, expected %s)", info.SHA256, sum)
	}
	if hashErr != nil {
		// Never indexed: the pending append is given up, a plain write
		// removed.
		abandonPending([]*prepared{p})
		p.indexDone()
		if p.wrote {
			_ = s.Blobs.Delete(context.WithoutCancel(ctx), key)
		}
		return nil, hashErr
	}
	rec.Instance.SHA256 = sum
	return p, nil
}

// commitHashingLater is putHashingLater for an upload staged in the blob
// store: it is named with a fresh key and hashed while its journal append
// is made durable.
func (s *Service) commitHashingLater(ctx context.Context, src Source, res *Result, rec *radmark.InstanceRecord, hc hashingCommitter, opts IngestOptions) (*prepared, error) {
	p, meta, err := freshlyNamed(src, res, rec, opts)
	if err != nil {
		return nil, err
	}
	// The upload hashes the bytes it holds itself, so the digest is the
	// blob's whichever way the store took them.
	var sum string
	p.pending, _, sum, p.indexed, p.journaled, err = hc.CommitRecordHashing(ctx, p.key, meta)
	if err != nil {
		return nil, radmark.WrapError(radmark.EUNAVAILABLE, err, "the blob store is unavailable")
	}
	p.wrote = true
	if p.pending != nil {
		p.indexed = p.pending.Indexed
	}
	rec.Instance.SHA256 = sum
	return p, nil
}

// freshlyNamed names a new instance's bytes with a fresh key and encodes
// the record the journal keeps, before the digest is known.
func freshlyNamed(src Source, res *Result, rec *radmark.InstanceRecord, opts IngestOptions) (*prepared, []byte, error) {
	key := newBlobKey()
	rec.Instance.BlobKey = key
	rec.Instance.Size = src.Size
	meta, err := encodeJournalMeta(rec, opts)
	if err != nil {
		return nil, nil, err
	}
	return &prepared{res: res, record: rec, key: key}, meta, nil
}

// encodeJournalMeta is the record the journal keeps of an instance's
// indexing (see EnableIndexJournal).
func encodeJournalMeta(rec *radmark.InstanceRecord, opts IngestOptions) ([]byte, error) {
	meta, err := json.Marshal(journalMeta{Record: rec, Overwrite: opts.Overwrite, Audit: opts.Audit.pending()})
	if err != nil {
		return nil, radmark.WrapError(radmark.EINTERNAL, err, "encode the index record")
	}
	return meta, nil
}

// parseErr turns a parser error into a client-facing domain error.
func parseErr(err error) error {
	switch {
	case errors.Is(err, dicom.ErrUnsupportedTransferSyntax):
		return radmark.WrapError(radmark.EUNSUPPORTED, err, err.Error())
	default:
		return radmark.WrapError(radmark.EINVALID, err, err.Error())
	}
}

// index parses the object's header and builds its index record.
func (s *Service) index(src Source) (*radmark.InstanceRecord, *dicom.Dataset, error) {
	opts := dicom.ParseOptions{SkipPixelData: true, BulkDataThreshold: 64 << 10}
	var f *dicom.File
	var err error
	if src.Bytes != nil && int64(len(src.Bytes)) == src.Size {
		f, err = dicom.ParseBytes(src.Bytes, opts)
	} else {
		f, err = dicom.Parse(io.NewSectionReader(src.Data, 0, src.Size), src.Size, opts)
	}
	if err != nil {
		return nil, nil, parseErr(err)
	}
	ds := f.Dataset
	uid := func(t dicom.Tag, name string) (radmark.UID, error) {
		v := ds.String(t)
		if v == "" {
			return "", radmark.Errorf(radmark.EINVALID, "missing %s %s", name, t)
		}
		if !plausibleUID(v) {
			return "", radmark.Errorf(radmark.EINVALID, "%s %q is not a valid UID", name, v)
		}
		return radmark.UID(v), nil
	}
	var rec radmark.InstanceRecord
	if rec.Instance.SOPInstanceUID, err = uid(dicom.TagSOPInstanceUID, "SOPInstanceUID"); err != nil {
		return nil, nil, err
	}
	if rec.Instance.SOPClassUID, err = uid(dicom.TagSOPClassUID, "SOPClassUID"); err != nil {
		return nil, nil, err
	}
	if rec.Study.UID, err = uid(dicom.TagStudyInstanceUID, "StudyInstanceUID"); err != nil {
		return nil, nil, err
	}
	if rec.Series.UID, err = uid(dicom.TagSeriesInstanceUID, "SeriesInstanceUID"); err != nil {
		return nil, nil, err
	}
	if f.Meta != nil {
		if m := f.Meta.String(dicom.TagMediaStorageSOPInstanceUID); m != "" && m != string(rec.Instance.SOPInstanceUID) {
			// dcmtk and pydicom read such files; the dataset is what the
			// instance is, so index it by the dataset's UID and say so.
			s.logger().Warn("file meta and dataset disagree on the SOP Instance UID; the dataset's is used",
				"source", src.Name, "meta", m, "dataset", rec.Instance.SOPInstanceUID)
		}
	}
	if cs := ds.Charset(); cs.Unknown() != "" {
		s.logger().Warn("unknown Specific Character Set; text read as UTF-8 or Latin-1", "source", src.Name, "term", cs.Unknown())
	}
	rec.Study.Patient = radmark.Patient{
		ID:        ds.String(dicom.TagPatientID),
		Issuer:    ds.String(dicom.TagIssuerOfPatientID),
		Name:      personName(ds),
		BirthDate: ds.String(dicom.TagPatientBirthDate),
		Sex:       ds.String(dicom.TagPatientSex),
	}
	rec.Study.Date = ds.String(dicom.TagStudyDate)
	rec.Study.Time = ds.String(dicom.TagStudyTime)
	rec.Study.AccessionNumber = ds.String(dicom.TagAccessionNumber)
	rec.Study.StudyID = ds.String(dicom.TagStudyID)
	rec.Study.Description = ds.String(dicom.TagStudyDescription)
	rec.Study.ReferringPhysicianName = strings.TrimRight(ds.String(dicom.TagReferringPhysicianName), "^= ")
	rec.Study.Attributes = attributesJSON(ds, studyLevelTags)

	rec.Series.StudyUID = rec.Study.UID
	rec.Series.Modality = ds.String(dicom.TagModality)
	rec.Series.Number = optionalInt(ds, dicom.TagSeriesNumber)
	rec.Series.Description = ds.String(dicom.TagSeriesDescription)
	rec.Series.BodyPartExamined = ds.String(dicom.TagBodyPartExamined)
	rec.Series.PerformedStartDate = ds.String(dicom.TagPerformedProcedureStepStartDate)
	rec.Series.PerformedStartTime = ds.String(dicom.TagPerformedProcedureStepStartTime)
	rec.Series.Attributes = attributesJSON(ds, seriesLevelTags)

	in := &rec.Instance
	in.SeriesUID = rec.Series.UID
	in.StudyUID = rec.Study.UID
	in.InstanceNumber = optionalInt(ds, dicom.TagInstanceNumber)
	in.TransferSyntaxUID = radmark.UID(f.TransferSyntax.UID)
	in.Rows = ds.IntOr(dicom.TagRows, 0)
	in.Columns = ds.IntOr(dicom.TagColumns, 0)
	pixel, frames, err := locatePixels(f)
	if err != nil {
		return nil, nil, err
	}
	in.Pixel = pixel
	in.NumberOfFrames = frames
	in.Metadata = instanceMetadata(ds)
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	in.CreatedAt = now().UTC()
	return &rec, ds, nil
}

// personName is PatientName without the empty trailing components some
// writers pad with ("DOE^JOHN^^^").
func personName(ds *dicom.Dataset) string {
	return strings.TrimRight(ds.String(dicom.TagPatientName), "^= ")
}

func optionalInt(ds *dicom.Dataset, t dicom.Tag) *int {
	if v, ok := ds.Int(t); ok {
		return &v
	}
	return nil
}

// plausibleUID accepts what real archives carry: digits and dots, at most
// 64 characters. Components with leading zeros break PS3.5 9.1 but occur in
// the field, and refusing them would refuse real studies.
func plausibleUID(s string) bool {
	if len(s) == 0 || len(s) > 64 || s[0] == '.' || s[len(s)-1] == '.' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if (s[i] < '0' || s[i] > '9') && s[i] != '.' {
			return false
		}
	}
	return true
}

// locatePixels checks the pixel data against the Image Pixel module and
// records where every frame lies in the stored bytes.
func locatePixels(f *dicom.File) (*radmark.PixelLocation, int, error) {
	ds := f.Dataset
	pi, err := ds.PixelInfo()
	if errors.Is(err, dicom.ErrNoPixelData) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, radmark.WrapError(radmark.EINVALID, err, "invalid image pixel description: "+err.Error())
	}
	e := ds.Get(pi.PixelTag)
	if e.Encapsulated != f.TransferSyntax.Encapsulated && pi.PixelTag == dicom.TagPixelData {
		if e.Encapsulated {
			return nil, 0, radmark.Errorf(radmark.EINVALID, "pixel data is encapsulated but the transfer syntax %s is not", f.TransferSyntax.Name)
		}
		return nil, 0, radmark.Errorf(radmark.EINVALID, "transfer syntax %s requires encapsulated pixel data", f.TransferSyntax.Name)
	}
	locs, err := dicom.LocateFrames(ds, e, pi)
	if err != nil {
		return nil, 0, radmark.WrapError(radmark.EINVALID, err, "pixel data: "+err.Error())
	}
	loc := &radmark.PixelLocation{
		Tag:          uint32(pi.PixelTag),
		Offset:       e.Offset,
		Length:       int64(e.Length),
		Encapsulated: e.Encapsulated,
		Deflated:     f.TransferSyntax.Deflated,
	}
	if e.Encapsulated {
		loc.Length = -1
		loc.Frames = make([][]radmark.ByteRange, len(locs))
		for i, l := range locs {
			for _, r := range l.Ranges {
				loc.Frames[i] = append(loc.Frames[i], radmark.ByteRange{Offset: r.Offset, Length: r.Length})
			}
		}
	}
	return loc, pi.NumberOfFrames, nil
}

// verifyPixels decodes the compressed frames of an instance so a corrupt
// codestream is refused at ingest. Large multi-frame objects are sampled
// (first and last frame) to keep ingest fast.
func (s *Service) verifyPixels(src Source, ds *dicom.Dataset, rec *radmark.InstanceRecord) error {
	px := rec.Instance.Pixel
	if px == nil || !px.Encapsulated || s.Decode == nil {
		return nil
	}
	ts := string(rec.Instance.TransferSyntaxUID)
	pi, err := ds.PixelInfo()
	if err != nil {
		return nil
	}
	frames := []int{}
	if int64(len(px.Frames))*int64(pi.Rows)*int64(pi.Columns) <= 64<<20 {
		for i := range px.Frames {
			frames = append(frames, i)
		}
	} else {
		frames = append(frames, 0, len(px.Frames)-1)
	}
	for _, i := range frames {
		data, err := readRanges(src.Data, px.Frames[i])
		if err != nil {
			return radmark.WrapError(radmark.EINVALID, err, "read frame "+strconv.Itoa(i+1))
		}
		decodeSlots <- struct{}{}
		err = s.Decode(ts, data, pi)
		<-decodeSlots
		if err != nil {
			if radmark.ErrorCode(err) == radmark.EUNSUPPORTED {
				// Stored as received; viewers with the codec can show it.
				s.logger().Info("compressed pixel data not verifiable here", "source", src.Name, "transfer_syntax", ts, "err", err)
				return nil
			}
			return radmark.WrapError(radmark.EINVALID, err, fmt.Sprintf("frame %d does not decode: %s", i+1, radmark.ErrorMessage(err)))
		}
	}
	return nil
}

func readRanges(r io.ReaderAt, ranges []radmark.ByteRange) ([]byte, error) {
	var n int64
	for _, rg := range ranges {
		n += rg.Length
	}
	out := make([]byte, 0, n)
	for _, rg := range ranges {
		start := len(out)
		out = out[:start+int(rg.Length)]
		if _, err := r.ReadAt(out[start:], rg.Offset); err != nil {
			return nil, err
		}
	}
	return out, nil
}
