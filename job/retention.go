package job

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/radmark/radmark"
)

// Retention deletes the files of succeeded jobs (exports) once they have
// been finished longer than Keep. The job rows stay, marked with
// FileExpiredAt, so the API can say the file expired rather than that it
// never existed. Any number of replicas may sweep at once: each file is
// marked and leased to one of them in the store (ExpireJobFiles) before it
// is deleted, so it is deleted once; a replica that stops between marking
// and deleting leaves the file to another once its lease has run out.
type Retention struct {
	Store Store
	// Kinds are the job kinds whose files expire; Delete removes the file
	// of one of their jobs (deleting a missing file must not be an error:
	// a replica may have stopped after deleting it and before recording
	// so).
	Kinds  []string
	Delete func(ctx context.Context, j *Job) error
	// Keep is how long after a job finished its file is kept; it must be
	// positive (a server that keeps files forever runs no Retention).
	Keep time.Duration
	// Interval is the wait between sweeps (default a quarter of Keep, at
	// most an hour, at least a second). Lease is how long a replica holds
	// the files it is deleting (default 5 min). Batch is how many files a
	// lease covers (default 100). Owner names the replica (default a
	// random id).
	Interval time.Duration
	Lease    time.Duration
	Batch    int
	Owner    string
	Logger   *slog.Logger
}

// RetentionActor is the actor of the audit events of expired files.
const RetentionActor = "radmark-retention"

func (r *Retention) defaults() {
	if r.Interval <= 0 {
		r.Interval = max(min(r.Keep/4, time.Hour), time.Second)
	}
	if r.Lease <= 0 {
		r.Lease = 5 * time.Minute
	}
	if r.Batch <= 0 {
		r.Batch = 100
	}
	if r.Owner == "" {
		r.Owner = "retention-" + uuid.NewString()
	}
	if r.Logger == nil {
		r.Logger = slog.Default()
	}
}

// Run sweeps at once and then every Interval until ctx ends.
func (r *Retention) Run(ctx context.Context) {
	r.defaults()
	for ctx.Err() == nil {
		n, err := r.Sweep(ctx, time.Now().UTC())
		if err != nil && ctx.Err() == nil {
			r.Logger.Error("expire job files", "err", err)
		}
		if n > 0 {
			r.Logger.Info("expired job files", "files", n, "retention", r.Keep.String())
		}
		select {
		case <-ctx.Done():
		case <-time.After(r.Interval):
		}
	}
}

// Sweep deletes the files of the jobs that finished more than Keep before
// now, returning how many it deleted. A file that cannot be deleted is
// reported in the error and tried again (by any replica) once its lease
// has run out; the others are still deleted.
func (r *Retention) Sweep(ctx context.Context, now time.Time) (int, error) {
	r.defaults()
	if r.Keep <= 0 {
		return 0, radmark.Errorf(radmark.EINVALID, "job file retention %s: it must be positive", r.Keep)
	}
	if r.Store == nil || r.Delete == nil || len(r.Kinds) == 0 {
		return 0, radmark.Errorf(radmark.EINVALID, "job file retention needs a store, job kinds and a way to delete their files")
	}
	deleted := 0
	var errs []error
	seen := map[radmark.ID]bool{}
	for ctx.Err() == nil {
		leased, err := r.Store.ExpireJobFiles(ctx, r.Owner, r.Kinds, now.Add(-r.Keep), now, now.Add(r.Lease), r.Batch, r.event)
		if err != nil {
			return deleted, errors.Join(append(errs, err)...)
		}
		for _, j := range leased {
			if seen[j.ID] {
				// Leased again within one sweep (which a store must not
				// do): stop rather than loop.
				return deleted, errors.Join(errs...)
			}
			seen[j.ID] = true
			if err := r.Delete(ctx, j); err != nil {
				errs = append(errs, fmt.Errorf("delete the file of job %s: %w", j.ID, err))
				continue
			}
			if err := r.Store.FileDeleted(ctx, j.ID, r.Owner); err != nil {
				errs = append(errs, err)
				continue
			}
			deleted++
		}
		// A failed file stays leased to this owner until the lease runs
		// out, so it is not leased again in this sweep.
		if len(leased) < r.Batch {
			break
		}
	}
	return deleted, errors.Join(errs...)
}

// event is the audit event of a file marked expired.
func (r *Retention) event(j *Job) *radmark.AuditEvent {
	id, err := uuid.NewV7()
	if err != nil {
		id = uuid.New()
	}
	finished := ""
	if j.FinishedAt != nil {
		finished = j.FinishedAt.UTC().Format(time.RFC3339)
	}
	return &radmark.AuditEvent{ID: radmark.ID(id.String()), Time: time.Now().UTC(), Actor: RetentionActor, Action: "job.file.expire",
		ObjectType: "job", ObjectID: string(j.ID),
		Detail: fmt.Sprintf(`{"kind":%q,"project":%q,"finishedAt":%q,"retention":%q}`, j.Kind, j.ProjectID, finished, r.Keep.String())}
}
