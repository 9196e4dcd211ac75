package job

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/radmark/radmark"
)

// MaxAttempts is how often a job is tried before it is failed: a job that
// crashes its replica must not crash every replica in turn.
const MaxAttempts = 3

// Progress reports how far a job is.
type Progress func(done, total int, message string)

// Handler does one kind of job; its result is stored as the job's Result.
// It must stop when ctx ends (the lease was lost or the server stops).
type Handler func(ctx context.Context, j *Job, progress Progress) (json.RawMessage, error)

// Enqueue stores a new job of kind for project, with the audit event of
// the actor who asked for it.
func Enqueue(ctx context.Context, s Store, actor, requestID, kind string, project radmark.ID, params any) (*Job, error) {
	raw, err := json.Marshal(params)
	if err != nil {
		return nil, radmark.Errorf(radmark.EINVALID, "job parameters: %v", err)
	}
	id, err := uuid.NewV7()
	if err != nil {
		return nil, err
	}
	j := &Job{ID: radmark.ID(id.String()), Kind: kind, ProjectID: project, Params: raw, MaxAttempts: MaxAttempts, CreatedBy: actor}
	evID, err := uuid.NewV7()
	if err != nil {
		return nil, err
	}
	ev := &radmark.AuditEvent{ID: radmark.ID(evID.String()), Time: time.Now().UTC(), Actor: actor, Action: "job.create", ObjectType: "job",
		ObjectID: string(j.ID), RequestID: requestID, Detail: fmt.Sprintf(`{"kind":%q,"project":%q,"params":%s}`, kind, project, raw)}
	if err := s.CreateJob(ctx, j, ev); err != nil {
		return nil, err
	}
	return j, nil
}

// Runner claims jobs of the kinds it has handlers for and runs them one
// at a time, renewing each job's lease while it runs.
type Runner struct {
	Store    Store
	Handlers map[string]Handler
	// Owner names this replica in leases (default: a random id).
	Owner string
	// Lease is how long a claim lasts without renewal (default 1 min);
	// it is renewed every third of it. Poll is the wait when no job is
	// waiting (default 1 s).
	Lease  time.Duration
	Poll   time.Duration
	Logger *slog.Logger
}

func (r *Runner) defaults() {
	if r.Owner == "" {
		var b [8]byte
		_, _ = rand.Read(b[:])
		r.Owner = "replica-" + hex.EncodeToString(b[:])
	}
	if r.Lease <= 0 {
		r.Lease = time.Minute
	}
	if r.Poll <= 0 {
		r.Poll = time.Second
	}
	if r.Logger == nil {
		r.Logger = slog.Default()
	}
}

// Run works until ctx ends.
func (r *Runner) Run(ctx context.Context) {
	r.defaults()
	kinds := make([]string, 0, len(r.Handlers))
	for k := range r.Handlers {
		kinds = append(kinds, k)
	}
	for ctx.Err() == nil {
		ran, err := r.RunOne(ctx, kinds)
		if err != nil && ctx.Err() == nil {
			r.Logger.Error("background jobs", "err", err)
		}
		if ran {
			continue
		}
		select {
		case <-ctx.Done():
		case <-time.After(r.Poll):
		}
	}
}

// RunOne claims and runs one job; false when none was waiting.
func (r *Runner) RunOne(ctx context.Context, kinds []string) (bool, error) {
	r.defaults()
	now := time.Now().UTC()
	j, err := r.Store.ClaimJob(ctx, r.Owner, kinds, now, now.Add(r.Lease))
	if err != nil || j == nil {
		return false, err
	}
	log := r.Logger.With("job", j.ID, "kind", j.Kind, "attempt", j.Attempts)
	log.Info("job started")
	jobCtx, cancel := context.WithCancel(ctx)
	defer cancel()

	var mu sync.Mutex
	done, total, message := 0, 0, "started"
	renew := func() error {
		mu.Lock()
		d, t, m := done, total, message
		mu.Unlock()
		return r.Store.RenewJob(ctx, j.ID, r.Owner, d, t, m, time.Now().UTC().Add(r.Lease))
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(min(r.Lease/3, time.Second))
		defer tick.Stop()
		lastRenew := time.Now()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			// Progress goes out every tick; the lease at least every
			// third of its length either way.
			if err := renew(); err != nil {
				if radmark.ErrorCode(err) == radmark.ECONFLICT {
					log.Warn("job lease lost; stopping", "err", err)
					cancel()
					return
				}
				if time.Since(lastRenew) > r.Lease*2/3 {
					log.Error("job lease cannot be renewed; stopping", "err", err)
					cancel()
					return
				}
				continue
			}
			lastRenew = time.Now()
		}
	}()
	result, runErr := r.run(jobCtx, j, func(d, t int, m string) {
		mu.Lock()
		done, total, message = d, t, m
		mu.Unlock()
	})
	close(stop)
	wg.Wait()
	if ctx.Err() != nil {
		// The server is stopping: leave the job to be claimed again.
		return true, nil
	}
	state, msg := Succeeded, ""
	if runErr != nil {
		state, msg = Failed, runErr.Error()
		result = nil
		log.Warn("job failed", "err", runErr)
	} else {
		log.Info("job done")
	}
	if err := r.Store.FinishJob(ctx, j.ID, r.Owner, state, result, msg, nil); err != nil {
		return true, fmt.Errorf("finish job %s: %w", j.ID, err)
	}
	return true, nil
}

// run calls the handler, turning a panic into an error.
func (r *Runner) run(ctx context.Context, j *Job, p Progress) (res json.RawMessage, err error) {
	h, ok := r.Handlers[j.Kind]
	if !ok {
		return nil, fmt.Errorf("no handler for jobs of kind %q", j.Kind)
	}
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("job panicked: %v", v)
		}
	}()
	return h(ctx, j, p)
}
