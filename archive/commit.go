package archive

import (
	"context"
	"sync"

	"github.com/radmark/radmark"
)

// Group commit. Every index transaction costs a durable commit (an fsync
// of the database's log), and on SQLite commits are serialised behind one
// writer. Uploaders often send one instance per request, several requests
// at a time; committing each alone made concurrent uploads queue on the
// writer. So requests that arrive while a commit is running are gathered
// and indexed together in the next one: one transaction, one fsync.
// Results are split back per request, and a failure of one record still
// fails only that record (the store guarantees it).

// maxGroup bounds how many records one group commit holds.
const maxGroup = 512

type indexJob struct {
	ctx     context.Context
	records []*radmark.InstanceRecord
	opts    radmark.PutOptions
	done    chan indexDone
	// lead is signalled when this job's caller is to commit pending
	// groups, its own among them.
	lead chan struct{}
}

type indexDone struct {
	results []radmark.PutResult
	err     error
}

type committer struct {
	mu      sync.Mutex
	pending []*indexJob
	running bool // a caller is committing (the leader)
}

// putInstances indexes records, grouped with other callers' records that
// are waiting at the same time. The caller that finds no commit running
// commits itself (no hand-over to another goroutine when uploads come one
// at a time); callers arriving meanwhile queue, and when the leader's own
// records are done it hands the lead to the first of them.
func (s *Service) putInstances(ctx context.Context, records []*radmark.InstanceRecord, opts radmark.PutOptions) ([]radmark.PutResult, error) {
	job := &indexJob{ctx: ctx, records: records, opts: opts, done: make(chan indexDone, 1), lead: make(chan struct{}, 1)}
	c := &s.commit
	c.mu.Lock()
	busy := c.running
	c.mu.Unlock()
	if busy && opts.BeforeCommit != nil {
		// This job would queue behind the running commit anyway: it does
		// its own waiting (its blobs' appends) first, so that the group
		// it joins is not held up by it, nor it by appends that began
		// after its own. BeforeCommit runs again in the transaction, and
		// must give the same answer.
		if err := opts.BeforeCommit(); err != nil {
			return nil, err
		}
	}
	c.mu.Lock()
	c.pending = append(c.pending, job)
	leader := !c.running
	c.running = true
	c.mu.Unlock()
	if !leader {
		// The commit may happen even if ctx ends meanwhile; the caller's
		// blobs stay consistent because discardBlob checks the index
		// before deleting. So wait for it either way.
		select {
		case d := <-job.done:
			return d.results, d.err
		case <-job.lead:
		}
	}
	for {
		select {
		case d := <-job.done:
			s.handOver()
			return d.results, d.err
		default:
		}
		s.commitGroup()
	}
}

// handOver passes the lead to the first waiting job, or ends the run.
func (s *Service) handOver() {
	c := &s.commit
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.pending) == 0 {
		c.running = false
		return
	}
	c.pending[0].lead <- struct{}{}
}

// commitGroup commits the first pending job and every later job with the
// same options, up to maxGroup records, in one transaction.
func (s *Service) commitGroup() {
	c := &s.commit
	c.mu.Lock()
	first := c.pending[0]
	group := []*indexJob{first}
	n := len(first.records)
	rest := c.pending[:0:0]
	for _, j := range c.pending[1:] {
		if j.opts.Overwrite == first.opts.Overwrite && j.opts.Unsynced == first.opts.Unsynced && n+len(j.records) <= maxGroup {
			group = append(group, j)
			n += len(j.records)
		} else {
			rest = append(rest, j)
		}
	}
	c.pending = rest
	c.mu.Unlock()

	all := make([]*radmark.InstanceRecord, 0, n)
	for _, j := range group {
		all = append(all, j.records...)
	}
	// A group runs on behalf of several requests: it must not fail
	// because the first of them went away.
	opts := first.opts
	opts.Audit = nil
	for _, j := range group {
		opts.Audit = append(opts.Audit, j.opts.Audit...)
	}
	opts.BeforeCommit = func() error {
		for _, j := range group {
			if j.opts.BeforeCommit != nil {
				if err := j.opts.BeforeCommit(); err != nil {
					return err
				}
			}
		}
		return nil
	}
	results, err := s.Store.PutInstances(context.WithoutCancel(first.ctx), all, opts)
	off := 0
	for _, j := range group {
		d := indexDone{err: err}
		if err == nil {
			d.results = results[off : off+len(j.records)]
		}
		off += len(j.records)
		j.done <- d
	}
}
