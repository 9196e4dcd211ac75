// Package job runs long work (exports, dataset releases) in the
// background on any replica: a job is a row in the metadata store, so
// every replica can report it, and the replica that runs it holds a lease
// it renews while it works. A replica that crashes stops renewing; once
// the lease has run out another replica claims the job again, until its
// attempts are used up. The files of finished jobs (exports) can expire:
// Retention deletes them after a while, leased the same way.
//
// Why not River (riverqueue/river, which works on both engines)? radmark's
// SQLite store funnels every write through one connection and one group
// commit (sqlstore); River's SQLite driver needs its own writing pool on
// the same file, so the two would contend through busy_timeout instead of
// queueing, and River's job rows could not commit in the same transaction
// as the audit event of the request that started them. radmark's jobs are
// few and long (minutes of export per job, not thousands per second), need
// a progress figure and a result the API shows, and are claimed every
// second at most: a table with leases is a small amount of SQL that both
// engines already run the same way, with no second migration system.
package job

import (
	"context"
	"encoding/json"
	"time"

	"github.com/radmark/radmark"
)

// State is where a job is.
type State string

// Job states. A running job whose lease ran out is claimed again (or
// failed, when its attempts are used up).
const (
	Queued    State = "queued"
	Running   State = "running"
	Succeeded State = "succeeded"
	Failed    State = "failed"
)

// Job is one piece of background work.
type Job struct {
	ID        radmark.ID      `json:"id"`
	Kind      string          `json:"kind"`
	ProjectID radmark.ID      `json:"projectId,omitempty"`
	Params    json.RawMessage `json:"params"`
	State     State           `json:"state"`
	// Done of Total steps are finished; Message says what is being done.
	Done    int    `json:"done"`
	Total   int    `json:"total"`
	Message string `json:"message,omitempty"`
	// Result is the kind's outcome (e.g. the file to download) once
	// succeeded; Error why it failed.
	Result      json.RawMessage `json:"result,omitempty"`
	Error       string          `json:"error,omitempty"`
	Attempts    int             `json:"attempts"`
	MaxAttempts int             `json:"maxAttempts"`
	// Owner holds the lease until LeaseUntil while the job runs (and,
	// once it has succeeded, while a replica deletes its expired file).
	Owner      string     `json:"owner,omitempty"`
	LeaseUntil *time.Time `json:"leaseUntil,omitempty"`
	CreatedBy  string     `json:"createdBy"`
	CreatedAt  time.Time  `json:"createdAt"`
	UpdatedAt  time.Time  `json:"updatedAt"`
	FinishedAt *time.Time `json:"finishedAt,omitempty"`
	// FileExpiredAt is when the job's file (an export's) was deleted
	// after the server's retention; Result still describes what the file
	// was, but it can no longer be downloaded.
	FileExpiredAt *time.Time `json:"fileExpiredAt,omitempty"`
}

// Finished reports whether the job has ended.
func (j *Job) Finished() bool { return j.State == Succeeded || j.State == Failed }

// Store keeps jobs. Drivers: sqlite and postgres (internal/sqlstore).
type Store interface {
	// CreateJob stores a new queued job with its audit event.
	CreateJob(ctx context.Context, j *Job, ev *radmark.AuditEvent) error
	// Job returns one job; ENOTFOUND if there is none.
	Job(ctx context.Context, id radmark.ID) (*Job, error)
	// Jobs lists the newest jobs of a project ("" : every project).
	Jobs(ctx context.Context, project radmark.ID, limit int) ([]*Job, error)
	// ClaimJob leases the oldest runnable job (queued, or running with a
	// lease expired before now and attempts left) of the given kinds to
	// owner until until, counting an attempt; nil when none is waiting.
	// Running jobs whose lease expired with no attempts left are failed
	// on the way. No job is ever leased to two owners at once.
	ClaimJob(ctx context.Context, owner string, kinds []string, now, until time.Time) (*Job, error)
	// RenewJob records progress and extends the lease; ECONFLICT when
	// owner no longer holds the job (its lease ran out and another
	// replica took it, or it finished).
	RenewJob(ctx context.Context, id radmark.ID, owner string, done, total int, message string, until time.Time) error
	// FinishJob ends a job as Succeeded (with result) or Failed (with
	// errMsg); ECONFLICT when owner no longer holds it. ev may be nil.
	FinishJob(ctx context.Context, id radmark.ID, owner string, state State, result json.RawMessage, errMsg string, ev *radmark.AuditEvent) error
	// ExpireJobFiles leases to owner until until the deletion of the
	// files of at most limit succeeded jobs of the given kinds: jobs
	// finished before cutoff whose files have not expired are marked
	// expired at now (FileExpiredAt), each with the audit event event
	// makes of it, and jobs marked before whose deletion lease ran out
	// (the replica deleting their files stopped) are leased again. No
	// file is ever leased to two owners at once, and a file is not
	// leased again once FileDeleted has recorded it gone.
	ExpireJobFiles(ctx context.Context, owner string, kinds []string, cutoff, now, until time.Time, limit int,
		event func(*Job) *radmark.AuditEvent) ([]*Job, error)
	// FileDeleted records that owner has deleted the file of a job it
	// leased with ExpireJobFiles; ECONFLICT when it no longer holds it.
	FileDeleted(ctx context.Context, id radmark.ID, owner string) error
}
