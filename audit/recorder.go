// Package audit records events on radmark's audit hash chain from many
// requests at once. Appending to the chain is serialised by the store (each
// event carries the hash of the one before), so one transaction per event
// would make every audited read wait in line; Recorder groups the events
// that arrive while a batch is being written into the next batch (group
// commit), and each caller still returns only once its event is stored.
package audit

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/radmark/radmark"
)

// Appender is the store's side of the chain.
type Appender interface {
	AppendAudit(ctx context.Context, events ...*radmark.AuditEvent) error
}

// DefaultMaxBatch bounds one batch.
const DefaultMaxBatch = 512

type pending struct {
	ev   *radmark.AuditEvent
	done chan error
}

// Recorder appends events in batches. It is safe for concurrent use.
type Recorder struct {
	store    Appender
	maxBatch int
	queue    chan pending
	stop     chan struct{}
	stopped  chan struct{}
	// mu orders enqueues before Close: an event is queued only while the
	// recorder is open, so the final drain sees every queued event.
	mu     sync.RWMutex
	closed bool
}

// ErrClosed is returned by Record after Close.
var ErrClosed = errors.New("audit recorder is closed")

// NewRecorder starts a recorder writing to store; maxBatch <= 0 means
// DefaultMaxBatch.
func NewRecorder(store Appender, maxBatch int) *Recorder {
	if maxBatch <= 0 {
		maxBatch = DefaultMaxBatch
	}
	r := &Recorder{store: store, maxBatch: maxBatch, queue: make(chan pending, maxBatch),
		stop: make(chan struct{}), stopped: make(chan struct{})}
	go r.run()
	return r
}

// Record stores ev on the chain and returns once it is stored (or the
// batch failed, in which case nothing of the batch is stored). ctx bounds
// the wait; an event whose caller gave up may still be stored.
func (r *Recorder) Record(ctx context.Context, ev *radmark.AuditEvent) error {
	p := pending{ev: ev, done: make(chan error, 1)}
	r.mu.RLock()
	if r.closed {
		r.mu.RUnlock()
		return ErrClosed
	}
	select {
	case r.queue <- p:
		r.mu.RUnlock()
	case <-ctx.Done():
		r.mu.RUnlock()
		return ctx.Err()
	}
	select {
	case err := <-p.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops the recorder after the events already queued are stored.
func (r *Recorder) Close() {
	r.mu.Lock()
	if !r.closed {
		r.closed = true
		close(r.stop)
	}
	r.mu.Unlock()
	<-r.stopped
}

func (r *Recorder) run() {
	defer close(r.stopped)
	batch := make([]pending, 0, r.maxBatch)
	for {
		select {
		case p := <-r.queue:
			batch = append(batch[:0], p)
		case <-r.stop:
			// Store whatever is still queued, then stop.
			for {
				select {
				case p := <-r.queue:
					r.flush([]pending{p})
				default:
					return
				}
			}
		}
	drain:
		for len(batch) < r.maxBatch {
			select {
			case p := <-r.queue:
				batch = append(batch, p)
			default:
				break drain
			}
		}
		r.flush(batch)
	}
}

func (r *Recorder) flush(batch []pending) {
	events := make([]*radmark.AuditEvent, len(batch))
	for i, p := range batch {
		events[i] = p.ev
	}
	// The batch is not tied to any one caller's context.
	err := r.store.AppendAudit(context.Background(), events...)
	if err != nil {
		err = fmt.Errorf("record audit event: %w", err)
	}
	for _, p := range batch {
		p.done <- err
	}
}
