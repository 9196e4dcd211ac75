package fsblob

import (
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
	w   tempWriter
	mu  sync.Mutex
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
	n, err := st.w.Write(p)
	if err != nil {
		st.err = fmt.Errorf("fsblob: stage: %w", err)
	}
	return n, st.err
}

// ReadAt reads the bytes written so far.
func (st *Staged) ReadAt(p []byte, off int64) (int, error) {
	if off >= st.w.n {
		return 0, io.EOF
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
func (st *Staged) SHA256() string { return hex.EncodeToString(st.w.h.Sum(nil)) }

// Commit stores the bytes written as the object at key, as Put would
// (atomically, durably, replacing an object already there), and returns
// what Put returns. The object can no longer be written. If Commit fails,
// nothing is stored and the temp file is gone, except, as for Put, when
// only making the rename durable failed.
func (st *Staged) Commit(ctx context.Context, key string) (radmark.BlobInfo, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.done {
		return radmark.BlobInfo{}, fmt.Errorf("fsblob: commit %s: the staged object was committed or closed", blob.QuoteKey(key))
	}
	st.done = true
	fail := func(err error) (radmark.BlobInfo, error) {
		return radmark.BlobInfo{}, fmt.Errorf("fsblob: put %s: %w", blob.QuoteKey(key), err)
	}
	if err := blob.CheckKey(key); err != nil {
		st.remove()
		return radmark.BlobInfo{}, err
	}
	if st.err != nil {
		st.remove()
		return fail(st.err)
	}
	info, err := st.commit(ctx, key)
	if err != nil {
		if info.Key == "" {
			st.remove()
		}
		return fail(err)
	}
	return info, nil
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
	st.w.f.Close() // may already be closed by a failed Commit; the error is moot
	if err := os.Remove(st.w.f.Name()); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("fsblob: discard staged object: %w", err)
	}
	return nil
}
