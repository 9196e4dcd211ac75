package fsblob

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/blob"
)

// Staged is an object written before its key is known, for keys computed
// from the bytes (content addressing): the bytes go straight into a temp
// file as they arrive, hashed on the way, and Commit names the object once
// the digest (and whatever else decides the key) is known. Receiving an
// upload this way writes it once, instead of collecting it in memory or a
// spool file first and copying it into the store after.
//
// Until Commit, the bytes can be read back with ReadAt (to parse a header,
// say); Close abandons an object that is not to be stored. A Staged is for
// one goroutine at a time, except that Close may be called once Commit has
// begun, from anywhere, and then waits for it.
type Staged struct {
	s   *Store
	ctx context.Context
	w   tempWriter // w.f is nil while the bytes are in memory
	// With a journal the bytes are kept in memory (pooled chunks) rather
	// than a temp file, whose creation alone costs most of a millisecond,
	// and are appended to the journal by SyncAs or Commit. An object too
	// large for the journal, or arriving when too many bytes are held
	// already, moves to a temp file and goes the plain way.
	chunks [][]byte
	held   int64   // bytes of memory counted in the journal's stagedMem
	rec    *record // the journal record SyncAs wrote, not yet published
	// hashed is how many of the bytes held in memory w.h has seen: they
	// are hashed when the digest is first asked for, not as they arrive,
	// so that an object named without its digest (CommitRecordHashing)
	// is hashed while its append is made durable, off the request's path.
	hashed int64
	hashMu sync.Mutex
	mu     sync.Mutex
	// done is set once the temp file is gone: renamed by Commit or removed
	// by Close or a failed Commit.
	done bool
	err  error // a write error; the object can no longer be committed

	syncOnce sync.Once
	syncErr  error
}

// Stage starts an object whose key will be given to Commit. The writer
// returned is a *Staged; it is typed io.WriteCloser so that callers can ask
// for the methods they need without depending on this package. Writes fail
// once ctx ends.
func (s *Store) Stage(ctx context.Context) (io.WriteCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("fsblob: stage: %w", err)
	}
	if s.j != nil {
		return &Staged{s: s, ctx: ctx, w: tempWriter{s: s, h: sha256.New()}}, nil
	}
	f, err := s.createTemp()
	if err != nil {
		return nil, fmt.Errorf("fsblob: stage: %w", err)
	}
	return &Staged{s: s, ctx: ctx, w: tempWriter{s: s, f: f, h: sha256.New()}}, nil
}

// Write appends p to the object.
func (st *Staged) Write(p []byte) (int, error) {
	if st.err != nil {
		return 0, st.err
	}
	if st.done {
		return 0, errors.New("fsblob: write to a staged object that was committed or closed")
	}
	if err := st.ctx.Err(); err != nil {
		st.err = fmt.Errorf("fsblob: stage: %w", err)
		return 0, st.err
	}
	if st.w.f == nil {
		if st.s.j.holdStaged(st, int64(len(p))) {
			st.writeMem(p)
			return len(p), nil
		}
		if err := st.spill(); err != nil {
			st.err = fmt.Errorf("fsblob: stage: %w", err)
			return 0, st.err
		}
	}
	n, err := st.w.Write(p)
	if err != nil {
		st.err = fmt.Errorf("fsblob: stage: %w", err)
	}
	return n, st.err
}

// writeMem appends p to the in-memory chunks (hashed later: see hashed).
func (st *Staged) writeMem(p []byte) {
	st.w.n += int64(len(p))
	for len(p) > 0 {
		if k := len(st.chunks); k == 0 || len(st.chunks[k-1]) == cap(st.chunks[k-1]) {
			b := copyBuffers.Get().(*[]byte)
			st.chunks = append(st.chunks, (*b)[:0])
		}
		last := &st.chunks[len(st.chunks)-1]
		n := min(len(p), cap(*last)-len(*last))
		*last = append(*last, p[:n]...)
		p = p[n:]
	}
}

// spill moves the bytes held in memory to a temp file; the object then
// goes the plain way.
func (st *Staged) spill() error {
	f, err := st.s.createTemp()
	if err != nil {
		return err
	}
	// From here on the temp file's writer hashes what arrives.
	st.catchUpHash(st.chunks)
	st.w.f = f
	if err := writeChunks(f, st.chunks); err != nil {
		return err
	}
	st.freeMem()
	return nil
}

// freeMem returns the chunks to the pool.
func (st *Staged) freeMem() {
	freeChunks(st.chunks)
	st.chunks = nil
	if st.held > 0 {
		st.s.j.releaseStaged(st.held)
		st.held = 0
	}
}

func freeChunks(chunks [][]byte) {
	for _, c := range chunks {
		c = c[:cap(c)]
		copyBuffers.Put(&c)
	}
}

// writeChunks writes chunks to f in order.
func writeChunks(f *os.File, chunks [][]byte) error {
	for _, c := range chunks {
		if _, err := f.Write(c); err != nil {
			return err
		}
	}
	return nil
}

// memReader reads the chunks in order.
func (st *Staged) memReader() io.Reader { return chunkReader(st.chunks) }

// chunkReader reads chunks in order.
func chunkReader(chunks [][]byte) io.Reader {
	rs := make([]io.Reader, len(chunks))
	for i, c := range chunks {
		rs[i] = bytes.NewReader(c)
	}
	return io.MultiReader(rs...)
}

// ReadAt reads the bytes written so far.
func (st *Staged) ReadAt(p []byte, off int64) (int, error) {
	if off >= st.w.n {
		return 0, io.EOF
	}
	if st.w.f == nil {
		n := 0
		for _, c := range st.chunks {
			if off >= int64(len(c)) {
				off -= int64(len(c))
				continue
			}
			k := copy(p[n:], c[off:])
			n += k
			off = 0
			if n == len(p) {
				return n, nil
			}
		}
		return n, io.EOF
	}
	if rest := st.w.n - off; int64(len(p)) > rest {
		n, err := st.w.f.ReadAt(p[:rest], off)
		if err == nil {
			err = io.EOF
		}
		return n, err
	}
	return st.w.f.ReadAt(p, off)
}

// Size is how many bytes have been written.
func (st *Staged) Size() int64 { return st.w.n }

// SHA256 is the hex digest of the bytes written so far.
func (st *Staged) SHA256() string {
	if st.w.f == nil {
		st.catchUpHash(st.chunks)
	}
	st.hashMu.Lock()
	defer st.hashMu.Unlock()
	return hex.EncodeToString(st.w.h.Sum(nil))
}

// catchUpHash feeds the hash the bytes of chunks (the object's bytes held
// in memory, in order) it has not seen yet.
func (st *Staged) catchUpHash(chunks [][]byte) {
	st.hashMu.Lock()
	defer st.hashMu.Unlock()
	skip := st.hashed
	for _, c := range chunks {
		if skip >= int64(len(c)) {
			skip -= int64(len(c))
			continue
		}
		st.w.h.Write(c[skip:])
		st.hashed += int64(len(c)) - skip
		skip = 0
	}
}

// Commit stores the bytes written as the object at key, as Put would
// (atomically, durably, replacing an object already there), and returns
// what Put returns. The object can no longer be written. If Commit fails,
// nothing is stored and the temp file is gone, except, as for Put, when
// only making the rename durable failed.
func (st *Staged) Commit(ctx context.Context, key string) (radmark.BlobInfo, error) {
	info, _, err := st.commitWith(ctx, key, nil)
	return info, err
}

// CommitRecordSyncing is Commit that, when the object goes through the
// journal, writes meta with it and does not wait for the fdatasync (see
// Store.PutRecordSyncing). pending is nil when the journal could not take
// the object that way: it was then committed by commitRecord, and info,
// done and journaled are its.
func (st *Staged) CommitRecordSyncing(ctx context.Context, key string, meta []byte) (pending radmark.PendingBlob, info radmark.BlobInfo, done func(), journaled bool, err error) {
	if p := st.startSyncing(ctx, key, meta, false); p != nil {
		return p, radmark.BlobInfo{}, func() {}, true, nil
	}
	info, done, journaled, err = st.commitRecord(ctx, key, meta)
	return nil, info, done, journaled, err
}

// CommitRecordHashing is CommitRecordSyncing for a key that does not come
// from the object's digest (a fresh name): the bytes, held in memory
// unhashed since they arrived, are hashed while the append's fdatasync
// runs, and sum is their digest. The journal's record keeps no digest (a
// replay computes it, as for PutRecordSyncing). When the journal cannot
// take the object that way, it is committed as by CommitRecordSyncing, and
// sum is its digest all the same.
func (st *Staged) CommitRecordHashing(ctx context.Context, key string, meta []byte) (pending radmark.PendingBlob, info radmark.BlobInfo, sum string, done func(), journaled bool, err error) {
	if p := st.startSyncing(ctx, key, meta, true); p != nil {
		// The chunks are the record's now, and stay as they are until
		// the record is published (Wait, after the digest below) or
		// abandoned (only by this caller, after this returns).
		st.catchUpHash(p.rec.mem)
		sum = st.SHA256()
		p.digest = func() (string, error) { return sum, nil }
		return p, radmark.BlobInfo{}, sum, func() {}, true, nil
	}
	sum = st.SHA256()
	info, done, journaled, err = st.commitRecord(ctx, key, meta)
	return nil, info, sum, done, journaled, err
}

// startSyncing appends the staged bytes and meta to the journal and starts
// its fdatasync, if it can; the memory holding the bytes goes with the
// record. With hashLater the record's digest is left to the caller
// (digestLater). nil leaves everything to commitRecord, which also
// reports whatever made this give up.
func (st *Staged) startSyncing(ctx context.Context, key string, meta []byte, hashLater bool) *SyncingPut {
	j := st.s.j
	st.mu.Lock()
	defer st.mu.Unlock()
	if j == nil || meta == nil || st.done || st.err != nil || st.syncErr != nil || st.w.f != nil ||
		st.w.n > j.maxObject() || blob.CheckKey(key) != nil {
		return nil
	}
	if st.rec != nil {
		// An early append (SyncAs) without the record: superseded.
		j.abandon(st.rec)
		st.rec = nil
	}
	sum := digestLater
	if !hashLater {
		sum = st.SHA256()
	}
	rec, err := j.write(ctx, key, meta, st.memReader(), st.w.n, sum)
	if err != nil {
		return nil
	}
	st.done = true
	rec.mem, rec.held = st.chunks, st.held
	st.chunks, st.held = nil, 0
	return j.startSync(rec)
}

// commitRecord is Commit that, when the object goes through the journal
// (with its fdatasync), writes meta with it. journaled says it did; done
// must then be called once the caller's own commit that meta describes is
// over, whatever its outcome.
func (st *Staged) commitRecord(ctx context.Context, key string, meta []byte) (info radmark.BlobInfo, done func(), journaled bool, err error) {
	info, rec, err := st.commitWith(ctx, key, meta)
	if err != nil || rec == nil {
		return info, func() {}, false, err
	}
	return info, func() { st.s.j.indexed(rec) }, true, nil
}

// commitWith commits; rec is the journal record published, if any.
func (st *Staged) commitWith(ctx context.Context, key string, meta []byte) (radmark.BlobInfo, *record, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.done {
		return radmark.BlobInfo{}, nil, fmt.Errorf("fsblob: commit %s: the staged object was committed or closed", blob.QuoteKey(key))
	}
	st.done = true
	fail := func(err error) (radmark.BlobInfo, *record, error) {
		return radmark.BlobInfo{}, nil, fmt.Errorf("fsblob: put %s: %w", blob.QuoteKey(key), err)
	}
	if err := blob.CheckKey(key); err != nil {
		st.remove()
		return radmark.BlobInfo{}, nil, err
	}
	if st.err != nil {
		st.remove()
		return fail(st.err)
	}
	if st.w.f == nil {
		info, rec, done, err := st.commitJournal(ctx, key, meta)
		if done {
			st.freeMem()
			if err != nil {
				return fail(err)
			}
			return info, rec, nil
		}
		// The journal cannot take it now: the plain way.
		if err := st.spill(); err != nil {
			st.remove()
			return fail(err)
		}
		if err := st.s.settleKey(key); err != nil {
			st.remove()
			return fail(err)
		}
	}
	info, err := st.commit(ctx, key)
	if err != nil {
		if info.Key == "" {
			st.remove()
		}
		return fail(err)
	}
	return info, nil, nil
}

// commitJournal publishes the record SyncAs wrote for key, or appends one
// now. done is false when the journal cannot take the object.
func (st *Staged) commitJournal(ctx context.Context, key string, meta []byte) (radmark.BlobInfo, *record, bool, error) {
	j := st.s.j
	if st.rec != nil && (st.rec.key != key || meta != nil) {
		j.abandon(st.rec)
		st.rec = nil
	}
	if st.rec == nil {
		if st.syncErr != nil {
			return radmark.BlobInfo{}, nil, true, st.syncErr
		}
		if st.w.n > j.maxObject() {
			return radmark.BlobInfo{}, nil, false, nil
		}
		rec, err := j.append(ctx, key, meta, st.memReader(), st.w.n, st.SHA256())
		if errors.Is(err, errJournalFull) {
			return radmark.BlobInfo{}, nil, false, nil
		}
		if err != nil {
			return radmark.BlobInfo{}, nil, true, err
		}
		st.rec = rec
	}
	rec := st.rec
	st.rec = nil
	// The mover writes the object from these chunks; they are its now.
	rec.mem, rec.held = st.chunks, st.held
	st.chunks, st.held = nil, 0
	return j.publish(rec), rec, true, nil
}

// SyncAs makes the bytes written durable ahead of Commit under the key
// Commit will be given, as Sync does for a store without a journal: with
// one, the bytes are appended to it now, and Commit only makes them
// visible. A key other than Commit's is not an error; the early append is
// then wasted.
func (st *Staged) SyncAs(key string) error {
	st.mu.Lock()
	if st.w.f != nil || st.done {
		st.mu.Unlock()
		return st.Sync()
	}
	defer st.mu.Unlock()
	if st.rec != nil || st.err != nil || st.w.n > st.s.j.maxObject() {
		return st.err
	}
	rec, err := st.s.j.append(st.ctx, key, nil, st.memReader(), st.w.n, st.SHA256())
	if errors.Is(err, errJournalFull) {
		return nil // Commit goes the plain way
	}
	if err != nil {
		st.syncErr = err
		return err
	}
	st.rec = rec
	return nil
}

// Sync makes the bytes written durable ahead of Commit, which then only
// has to name them: a caller can overlap the fsync with deciding the key
// (parsing, looking up). It is called after the last Write, at most once
// at a time with Commit (Commit waits for it), and its error is also
// Commit's.
func (st *Staged) Sync() error {
	st.syncOnce.Do(func() {
		if st.err != nil {
			st.syncErr = st.err
			return
		}
		if st.w.f == nil {
			return // in memory: made durable by SyncAs or Commit
		}
		st.syncErr = st.s.syncTemp(st.w.f, st.SHA256())
	})
	return st.syncErr
}

func (st *Staged) commit(ctx context.Context, key string) (radmark.BlobInfo, error) {
	if err := st.Sync(); err != nil {
		return radmark.BlobInfo{}, err
	}
	return st.s.finishSynced(ctx, key, st.w.f, st.SHA256())
}

// Close abandons the object unless it was committed; it is safe to call
// more than once, and after Commit.
func (st *Staged) Close() error {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.done {
		return nil
	}
	st.done = true
	return st.remove()
}

func (st *Staged) remove() error {
	if st.w.f == nil {
		if st.rec != nil {
			st.s.j.abandon(st.rec)
			st.rec = nil
		}
		st.freeMem()
		return nil
	}
	st.freeMem()
	st.w.f.Close() // may already be closed by a failed Commit; the error is moot
	if err := os.Remove(st.w.f.Name()); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("fsblob: discard staged object: %w", err)
	}
	return nil
}
