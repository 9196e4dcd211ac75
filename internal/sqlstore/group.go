package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"sync"

	"github.com/radmark/radmark"
)

// Group commit. SQLite has one writer and every commit is an fsync of the
// WAL, so writers that arrive together each wait for the others' fsyncs:
// 200 annotators saving at once queue behind ~250 commits a second. On
// SQLite, mutations that arrive while one transaction is running are
// therefore run together in the next transaction, each inside its own
// savepoint: a mutation that fails (a conflict, a validation error) rolls
// back to its savepoint alone, and the others commit with one fsync. A
// caller returns only once its mutation is committed, as before. The
// first waiting caller runs the batches (no background goroutine), until
// no mutation is pending.
//
// PostgreSQL keeps one transaction per mutation: its writers lock rows,
// not the database, and the server groups WAL flushes itself.

type groupReq struct {
	ctx    context.Context
	staged []radmark.AuditEvent
	change func(tx *sql.Tx) error
	done   chan error
}

type grouper struct {
	mu      sync.Mutex
	pending []*groupReq
	running bool
}

// maxGroup bounds one transaction's mutations, so one commit does not
// hold the writer for long.
const maxGroup = 128

func (s *Store) groupMutate(ctx context.Context, staged []radmark.AuditEvent, change func(tx *sql.Tx) error) error {
	req := &groupReq{ctx: ctx, staged: staged, change: change, done: make(chan error, 1)}
	g := &s.group
	g.mu.Lock()
	g.pending = append(g.pending, req)
	if g.running {
		g.mu.Unlock()
		return <-req.done
	}
	g.running = true
	g.mu.Unlock()
	for {
		g.mu.Lock()
		n := min(len(g.pending), maxGroup)
		batch := g.pending[:n:n]
		g.pending = g.pending[n:]
		if n == 0 {
			g.running = false
			g.mu.Unlock()
			break
		}
		g.mu.Unlock()
		s.runGroup(batch)
	}
	return <-req.done
}

// runGroup runs a batch in one transaction and answers every request.
func (s *Store) runGroup(batch []*groupReq) {
	ctx := context.Background()
	fail := func(reqs []*groupReq, err error) {
		for _, r := range reqs {
			r.done <- err
		}
	}
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		fail(batch, fmt.Errorf("begin: %w", err))
		return
	}
	var ok []*groupReq
	for i, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.done <- err
			continue
		}
		if _, err := tx.ExecContext(ctx, "SAVEPOINT mutation"); err != nil {
			_ = tx.Rollback()
			fail(ok, fmt.Errorf("savepoint: %w", err))
			fail(batch[i:], fmt.Errorf("savepoint: %w", err))
			return
		}
		err := s.applyMutation(r.ctx, tx, r.staged, r.change)
		if err != nil {
			if _, rerr := tx.ExecContext(ctx, "ROLLBACK TO mutation"); rerr != nil {
				// The transaction is unusable: nothing of the batch stays.
				_ = tx.Rollback()
				fail(ok, fmt.Errorf("roll back a failed mutation: %w", rerr))
				r.done <- err
				fail(batch[i+1:], fmt.Errorf("roll back a failed mutation: %w", rerr))
				return
			}
		}
		if _, rerr := tx.ExecContext(ctx, "RELEASE mutation"); rerr != nil {
			_ = tx.Rollback()
			fail(ok, fmt.Errorf("release savepoint: %w", rerr))
			if err == nil {
				err = fmt.Errorf("release savepoint: %w", rerr)
			}
			r.done <- err
			fail(batch[i+1:], fmt.Errorf("release savepoint: %w", rerr))
			return
		}
		if err != nil {
			r.done <- err
			continue
		}
		ok = append(ok, r)
	}
	if len(ok) == 0 {
		_ = tx.Rollback()
		return
	}
	if err := tx.Commit(); err != nil {
		fail(ok, fmt.Errorf("commit: %w", err))
		return
	}
	fail(ok, nil)
}
