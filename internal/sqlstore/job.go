package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/job"
)

var _ job.Store = (*Store)(nil)

// CreateJob implements job.Store.
func (s *Store) CreateJob(ctx context.Context, j *job.Job, ev *radmark.AuditEvent) error {
	if j == nil || j.ID == "" || j.Kind == "" || j.CreatedBy == "" {
		return radmark.Errorf(radmark.EINVALID, "create job: id, kind and creator are needed")
	}
	if j.MaxAttempts < 1 {
		return radmark.Errorf(radmark.EINVALID, "create job %s: max attempts %d", j.ID, j.MaxAttempts)
	}
	what := "create job " + string(j.ID)
	params := string(j.Params)
	if params == "" {
		params = "{}"
	}
	if !json.Valid([]byte(params)) {
		return radmark.Errorf(radmark.EINVALID, "%s: params are not JSON", what)
	}
	if err := checkText(what, textField{"kind", j.Kind}, textField{"creator", j.CreatedBy}, textField{"project ID", string(j.ProjectID)}); err != nil {
		return err
	}
	now := s.stamp(j.CreatedAt)
	err := s.mutate(ctx, what, []*radmark.AuditEvent{ev}, func(tx *sql.Tx) error {
		var project any
		if j.ProjectID != "" {
			if err := s.missingProject(ctx, tx, j.ProjectID); err != nil {
				return err
			}
			project = string(j.ProjectID)
		}
		_, err := tx.ExecContext(ctx, s.rebind(`INSERT INTO job (id, kind, project_id, params, state, max_attempts, created_by, created_at, updated_at)
VALUES (?, ?, ?, ?, 'queued', ?, ?, ?, ?)`), string(j.ID), j.Kind, project, params, j.MaxAttempts, j.CreatedBy, s.timeArg(now), s.timeArg(now))
		if err != nil {
			return fmt.Errorf("insert job: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	j.State, j.CreatedAt, j.UpdatedAt, j.Params = job.Queued, now, now, json.RawMessage(params)
	return nil
}

const jobSelect = `SELECT id, kind, coalesce(project_id, ''), params, state, done, total, message, result, error,
	attempts, max_attempts, owner, lease_until, created_by, created_at, updated_at, finished_at, file_expired_at FROM job`

func scanJob(row scanner) (*job.Job, error) {
	j := &job.Job{}
	var params string
	var result sql.NullString
	var lease, finished, fileExpired time.Time
	err := row.Scan((*string)(&j.ID), &j.Kind, (*string)(&j.ProjectID), &params, (*string)(&j.State), &j.Done, &j.Total,
		&j.Message, &result, &j.Error, &j.Attempts, &j.MaxAttempts, &j.Owner, scanTime(&lease), &j.CreatedBy,
		scanTime(&j.CreatedAt), scanTime(&j.UpdatedAt), scanTime(&finished), scanTime(&fileExpired))
	if err != nil {
		return nil, err
	}
	j.Params = json.RawMessage(params)
	if result.Valid {
		j.Result = json.RawMessage(result.String)
	}
	if !lease.IsZero() {
		j.LeaseUntil = &lease
	}
	if !finished.IsZero() {
		j.FinishedAt = &finished
	}
	j.FileExpiredAt = timePtr(fileExpired)
	return j, nil
}

// Job implements job.Store.
func (s *Store) Job(ctx context.Context, id radmark.ID) (*job.Job, error) {
	j, err := scanJob(s.read.QueryRowContext(ctx, s.rebind(jobSelect+` WHERE id = ?`), string(id)))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, radmark.Errorf(radmark.ENOTFOUND, "job %s not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("read job %s: %w", id, err)
	}
	return j, nil
}

// Jobs implements job.Store.
func (s *Store) Jobs(ctx context.Context, project radmark.ID, limit int) ([]*job.Job, error) {
	q, args := jobSelect, []any{}
	if project != "" {
		q += ` WHERE project_id = ?`
		args = append(args, string(project))
	}
	q += ` ORDER BY created_at DESC, id DESC`
	paging, args := s.limitOffset(limit, 0, args)
	return queryAll(ctx, s, "list jobs", q+paging, args, scanJob)
}

// ClaimJob implements job.Store. On PostgreSQL the candidate row is
// locked with SKIP LOCKED, so claimers on several replicas never wait on
// or take the same job; on SQLite the single writer serialises them.
func (s *Store) ClaimJob(ctx context.Context, owner string, kinds []string, now, until time.Time) (*job.Job, error) {
	if owner == "" || len(kinds) == 0 {
		return nil, radmark.Errorf(radmark.EINVALID, "claim job: an owner and kinds are needed")
	}
	now, until = Timestamp(now), Timestamp(until)
	var claimed *job.Job
	err := s.mutate(ctx, "claim job", nil, func(tx *sql.Tx) error {
		claimed = nil
		_, err := tx.ExecContext(ctx, s.rebind(`UPDATE job SET state = 'failed', owner = '', lease_until = NULL, finished_at = ?, updated_at = ?,
	error = 'its runner stopped (lease expired) on every attempt'
WHERE state = 'running' AND lease_until < ? AND attempts >= max_attempts`), s.timeArg(now), s.timeArg(now), s.timeArg(now))
		if err != nil {
			return fmt.Errorf("fail abandoned jobs: %w", err)
		}
		marks := strings.TrimSuffix(strings.Repeat("?, ", len(kinds)), ", ")
		args := []any{s.timeArg(now)}
		for _, k := range kinds {
			args = append(args, k)
		}
		lock := ""
		if s.dialect == Postgres {
			lock = " FOR UPDATE SKIP LOCKED"
		}
		var id string
		err = tx.QueryRowContext(ctx, s.rebind(`SELECT id FROM job
WHERE (state = 'queued' OR (state = 'running' AND lease_until < ?)) AND kind IN (`+marks+`)
ORDER BY created_at, id LIMIT 1`+lock), args...).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("find job: %w", err)
		}
		if _, err := tx.ExecContext(ctx, s.rebind(`UPDATE job SET state = 'running', owner = ?, lease_until = ?, attempts = attempts + 1,
	updated_at = ?, error = '' WHERE id = ?`), owner, s.timeArg(until), s.timeArg(now), id); err != nil {
			return fmt.Errorf("lease job: %w", err)
		}
		claimed, err = scanJob(tx.QueryRowContext(ctx, s.rebind(jobSelect+` WHERE id = ?`), id))
		return err
	})
	if err != nil {
		return nil, err
	}
	return claimed, nil
}

// RenewJob implements job.Store.
func (s *Store) RenewJob(ctx context.Context, id radmark.ID, owner string, done, total int, message string, until time.Time) error {
	what := "renew job " + string(id)
	if err := checkText(what, textField{"message", message}); err != nil {
		return err
	}
	now := s.now()
	return s.mutate(ctx, what, nil, func(tx *sql.Tx) error {
		n, err := rowsAffected(tx.ExecContext(ctx, s.rebind(`UPDATE job SET done = ?, total = ?, message = ?, lease_until = ?, updated_at = ?
WHERE id = ? AND owner = ? AND state = 'running'`), done, total, message, s.timeArg(Timestamp(until)), s.timeArg(now), string(id), owner))
		if err != nil {
			return err
		}
		if n == 0 {
			return radmark.Errorf(radmark.ECONFLICT, "job %s is no longer held by %s", id, owner)
		}
		return nil
	})
}

// FinishJob implements job.Store.
func (s *Store) FinishJob(ctx context.Context, id radmark.ID, owner string, state job.State, result json.RawMessage, errMsg string, ev *radmark.AuditEvent) error {
	if state != job.Succeeded && state != job.Failed {
		return radmark.Errorf(radmark.EINVALID, "finish job %s as %q", id, state)
	}
	what := "finish job " + string(id)
	if err := checkText(what, textField{"error", errMsg}); err != nil {
		return err
	}
	var res any
	if result != nil {
		if !json.Valid(result) {
			return radmark.Errorf(radmark.EINVALID, "%s: result is not JSON", what)
		}
		res = string(result)
	}
	var events []*radmark.AuditEvent
	if ev != nil {
		events = append(events, ev)
	}
	now := s.now()
	return s.mutate(ctx, what, events, func(tx *sql.Tx) error {
		n, err := rowsAffected(tx.ExecContext(ctx, s.rebind(`UPDATE job SET state = ?, result = ?, error = ?, owner = '', lease_until = NULL,
	finished_at = ?, updated_at = ?, done = CASE WHEN CAST(? AS TEXT) = 'succeeded' THEN total ELSE done END
WHERE id = ? AND owner = ? AND state = 'running'`), string(state), res, errMsg, s.timeArg(now), s.timeArg(now), string(state), string(id), owner))
		if err != nil {
			return err
		}
		if n == 0 {
			return radmark.Errorf(radmark.ECONFLICT, "job %s is no longer held by %s", id, owner)
		}
		return nil
	})
}

// ExpireJobFiles implements job.Store. A finished job's owner and
// lease_until are free (ClaimJob, RenewJob and FinishJob only touch
// queued and running jobs), so they hold the lease on deleting its file.
// On PostgreSQL the rows are locked with SKIP LOCKED, so sweepers on
// several replicas never wait on or take the same file; a row a sweeper
// has just leased no longer matches once it is read again. On SQLite the
// single writer serialises them.
func (s *Store) ExpireJobFiles(ctx context.Context, owner string, kinds []string, cutoff, now, until time.Time, limit int,
	event func(*job.Job) *radmark.AuditEvent) ([]*job.Job, error) {
	if owner == "" || len(kinds) == 0 || limit < 1 {
		return nil, radmark.Errorf(radmark.EINVALID, "expire job files: an owner, kinds and a positive limit are needed")
	}
	cutoff, now, until = Timestamp(cutoff), Timestamp(now), Timestamp(until)
	args := []any{s.timeArg(cutoff), s.timeArg(now)}
	for _, k := range kinds {
		args = append(args, k)
	}
	args = append(args, limit)
	lock := ""
	if s.dialect == Postgres {
		lock = " FOR UPDATE SKIP LOCKED"
	}
	var leased []*job.Job
	err := s.mutateChosen(ctx, "expire job files", func(tx *sql.Tx) ([]*radmark.AuditEvent, error) {
		leased = nil
		rows, err := tx.QueryContext(ctx, s.rebind(`SELECT id, file_expired_at IS NOT NULL FROM job
WHERE state = 'succeeded' AND ((file_expired_at IS NULL AND finished_at < ?) OR (file_expired_at IS NOT NULL AND lease_until < ?))
	AND kind IN (`+placeholders(len(kinds))+`)
ORDER BY finished_at, id LIMIT ?`+lock), args...)
		if err != nil {
			return nil, fmt.Errorf("find expired job files: %w", err)
		}
		type candidate struct {
			id         string
			wasExpired bool
		}
		var found []candidate
		for rows.Next() {
			var c candidate
			if err := rows.Scan(&c.id, &c.wasExpired); err != nil {
				rows.Close()
				return nil, err
			}
			found = append(found, c)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
		var events []*radmark.AuditEvent
		for _, c := range found {
			id := c.id
			if _, err := tx.ExecContext(ctx, s.rebind(`UPDATE job SET file_expired_at = coalesce(file_expired_at, ?), owner = ?, lease_until = ?,
	updated_at = ? WHERE id = ?`), s.timeArg(now), owner, s.timeArg(until), s.timeArg(now), id); err != nil {
				return nil, fmt.Errorf("lease the file of job %s: %w", id, err)
			}
			j, err := scanJob(tx.QueryRowContext(ctx, s.rebind(jobSelect+` WHERE id = ?`), id))
			if err != nil {
				return nil, fmt.Errorf("read job %s: %w", id, err)
			}
			if !c.wasExpired && event != nil {
				if ev := event(j); ev != nil {
					events = append(events, ev)
				}
			}
			leased = append(leased, j)
		}
		return events, nil
	})
	if err != nil {
		return nil, err
	}
	return leased, nil
}

// FileDeleted implements job.Store.
func (s *Store) FileDeleted(ctx context.Context, id radmark.ID, owner string) error {
	what := "record the deleted file of job " + string(id)
	now := s.now()
	return s.mutate(ctx, what, nil, func(tx *sql.Tx) error {
		n, err := rowsAffected(tx.ExecContext(ctx, s.rebind(`UPDATE job SET owner = '', lease_until = NULL, updated_at = ?
WHERE id = ? AND owner = ? AND state = 'succeeded' AND file_expired_at IS NOT NULL`), s.timeArg(now), string(id), owner))
		if err != nil {
			return err
		}
		if n == 0 {
			return radmark.Errorf(radmark.ECONFLICT, "the file of job %s is no longer being deleted by %s", id, owner)
		}
		return nil
	})
}
