package audit_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/audit"
	"github.com/radmark/radmark/internal/testdb"
)

type countingAppender struct {
	audit.Appender
	calls atomic.Int64
	fail  error
}

func (c *countingAppender) AppendAudit(ctx context.Context, events ...*radmark.AuditEvent) error {
	c.calls.Add(1)
	if c.fail != nil {
		return c.fail
	}
	return c.Appender.AppendAudit(ctx, events...)
}

func event(n int) *radmark.AuditEvent {
	return &radmark.AuditEvent{ID: radmark.ID(fmt.Sprintf("0190aaaa-0000-7000-8000-%012d", n)), Time: time.Now().UTC(),
		Actor: "reader", Action: "instance.read", ObjectType: "instance", ObjectID: fmt.Sprint("1.2.", n)}
}

func TestRecorderBatchesAndKeepsTheChain(t *testing.T) {
	for _, engine := range testdb.Engines {
		t.Run(engine.Name, func(t *testing.T) {
			store := engine.Open(t)
			app := &countingAppender{Appender: store}
			rec := audit.NewRecorder(app, 0)
			const n = 400
			var wg sync.WaitGroup
			errs := make(chan error, n)
			for i := range n {
				wg.Go(func() { errs <- rec.Record(t.Context(), event(i)) })
			}
			wg.Wait()
			rec.Close()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			v := radmark.NewAuditVerifier()
			var broken *radmark.AuditBreak
			if err := store.ScanAudit(t.Context(), func(e *radmark.AuditEvent) error {
				if b := v.Next(e); b != nil && broken == nil {
					broken = b
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if broken != nil || v.Count() != n {
				t.Fatalf("chain: %d events, broken %v", v.Count(), broken)
			}
			if calls := app.calls.Load(); calls >= n {
				t.Errorf("%d appends for %d events: nothing was batched", calls, n)
			} else {
				t.Logf("%d events in %d appends", n, calls)
			}
			if err := rec.Record(t.Context(), event(n)); !errors.Is(err, audit.ErrClosed) {
				t.Errorf("Record after Close = %v", err)
			}
		})
	}
}

func TestRecorderReportsFailure(t *testing.T) {
	boom := errors.New("disk full")
	rec := audit.NewRecorder(&countingAppender{fail: boom}, 0)
	defer rec.Close()
	if err := rec.Record(t.Context(), event(1)); !errors.Is(err, boom) {
		t.Fatalf("Record = %v, want the store's error", err)
	}
}
