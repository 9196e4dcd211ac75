package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/radmark/radmark"
)

// The reading workflow (radmark.WorkflowStore): configurations, cases,
// tasks and comments. Every transition of a case's tasks also moves the
// case's version (ApplyWorkflowChange writes the case row first, on the
// version the caller read), so the transitions of one case are serialised
// whatever the replicas: the second of two concurrent ones finds the case
// moved on (ECONFLICT with a *radmark.StaleError) and the service reads
// again. Claims and assignments first take a transaction-level advisory
// lock on the assignee's name (PostgreSQL; SQLite's write lock already
// serialises), so "this user holds no other read of the case" and the
// quota stay true until commit; the pull query takes the best unassigned
// task with FOR UPDATE SKIP LOCKED, so concurrent claimers never get the
// same task and never wait for each other. The unique index
// task_one_read_per_reader is the backstop.

// mutateWith runs change in a writing transaction and appends the events
// it returns, which it may build from what it read (a claim learns its
// task only inside the transaction).
func (s *Store) mutateWith(ctx context.Context, what string, change func(tx *sql.Tx) ([]*radmark.AuditEvent, error)) error {
	var events []*radmark.AuditEvent
	var staged []radmark.AuditEvent
	err := s.mutate(ctx, what, nil, func(tx *sql.Tx) error {
		evs, err := change(tx)
		if err != nil {
			return err
		}
		st, err := s.stageEvents(what, evs)
		if err != nil {
			return err
		}
		if err := s.appendEvents(ctx, tx, st); err != nil {
			return err
		}
		events, staged = evs, st
		return nil
	})
	if err != nil {
		return err
	}
	for i, e := range events {
		*e = staged[i]
	}
	return nil
}

// queryAll runs a query on the read pool and scans every row.
func queryAll[T any](ctx context.Context, s *Store, what, q string, args []any, scan func(scanner) (T, error)) ([]T, error) {
	rows, err := s.read.QueryContext(ctx, s.rebind(q), args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}

// optTime returns an optional time as the dialect stores it.
func (s *Store) optTime(t *time.Time) any {
	if t == nil || t.IsZero() {
		return nil
	}
	return s.timeArg(Timestamp(*t))
}

func optTimePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func normTime(t *time.Time) *time.Time {
	if t == nil || t.IsZero() {
		return nil
	}
	v := Timestamp(*t)
	return &v
}

// PutWorkflowConfig implements radmark.WorkflowStore.PutWorkflowConfig.
func (s *Store) PutWorkflowConfig(ctx context.Context, c *radmark.WorkflowConfig, ev *radmark.AuditEvent) error {
	if c == nil || c.ProjectID == "" || c.Version < 1 {
		return radmark.Errorf(radmark.EINVALID, "put workflow configuration: a project and a version from 1 are needed")
	}
	what := fmt.Sprintf("put workflow configuration version %d of project %s", c.Version, c.ProjectID)
	if err := checkText(what, textField{"project ID", string(c.ProjectID)}, textField{"creator", c.CreatedBy}); err != nil {
		return err
	}
	created := s.stamp(c.CreatedAt)
	stored := *c
	stored.CreatedAt = created
	content, err := json.Marshal(&stored)
	if err != nil {
		return radmark.Errorf(radmark.EINVALID, "%s: encode: %w", what, err)
	}
	err = s.mutate(ctx, what, []*radmark.AuditEvent{ev}, func(tx *sql.Tx) error {
		var one int
		err := tx.QueryRowContext(ctx, s.rebind(`SELECT 1 FROM project WHERE id = ?`+s.forUpdate()), string(c.ProjectID)).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return radmark.Errorf(radmark.ENOTFOUND, "project %s not found", c.ProjectID)
		}
		if err != nil {
			return fmt.Errorf("read project: %w", err)
		}
		var current int
		if err := tx.QueryRowContext(ctx, s.rebind(`SELECT coalesce(max(version), 0) FROM workflow_config WHERE project_id = ?`),
			string(c.ProjectID)).Scan(&current); err != nil {
			return fmt.Errorf("read workflow version: %w", err)
		}
		if c.Version != current+1 {
			return radmark.Errorf(radmark.ECONFLICT, "project %s's workflow is at version %d, so the next one is %d, not %d",
				c.ProjectID, current, current+1, c.Version)
		}
		_, err = tx.ExecContext(ctx, s.rebind(`INSERT INTO workflow_config (project_id, version, content, created_at, created_by)
VALUES (?, ?, ?, ?, ?)`), string(c.ProjectID), c.Version, string(content), s.timeArg(created), c.CreatedBy)
		if err != nil {
			return fmt.Errorf("insert workflow configuration: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	c.CreatedAt = created
	return nil
}

// WorkflowConfig implements radmark.WorkflowStore.WorkflowConfig.
func (s *Store) WorkflowConfig(ctx context.Context, project radmark.ID) (*radmark.WorkflowConfig, error) {
	var content string
	err := s.read.QueryRowContext(ctx, s.rebind(`SELECT content FROM workflow_config WHERE project_id = ?
ORDER BY version DESC LIMIT 1`), string(project)).Scan(&content)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, radmark.Errorf(radmark.ENOTFOUND, "project %s has no workflow configuration", project)
	}
	if err != nil {
		return nil, fmt.Errorf("get workflow configuration of %s: %w", project, err)
	}
	var c radmark.WorkflowConfig
	if err := json.Unmarshal([]byte(content), &c); err != nil {
		return nil, fmt.Errorf("decode workflow configuration of %s: %w", project, err)
	}
	c.CreatedAt = c.CreatedAt.UTC()
	return &c, nil
}

const caseColumns = `id, project_id, study_uid, series_uid, state, priority, due, readers, config_version,
	final_set, final_revision, outcome, disagreement, source, added_by, created_at, updated_at, version`

func scanCase(row scanner) (*radmark.Case, error) {
	var c radmark.Case
	var due time.Time
	err := row.Scan((*string)(&c.ID), (*string)(&c.ProjectID), (*string)(&c.StudyUID), (*string)(&c.SeriesUID),
		(*string)(&c.State), &c.Priority, scanTime(&due), &c.Readers, &c.ConfigVersion, (*string)(&c.FinalSet),
		(*string)(&c.FinalRevision), &c.Outcome, &c.Disagreement, &c.Source, &c.AddedBy, scanTime(&c.CreatedAt),
		scanTime(&c.UpdatedAt), &c.Version)
	if err != nil {
		return nil, err
	}
	c.Due = optTimePtr(due)
	return &c, nil
}

const taskColumns = `id, project_id, case_id, kind, slot, state, assignee, reviewer, set_id, revision, priority,
	due, work_seconds, started_at, assigned_at, submitted_at, created_at, updated_at, version`

// taskSelect joins the case for the task's study and series.
const taskSelect = `SELECT t.id, t.project_id, t.case_id, c.study_uid, c.series_uid, t.kind, t.slot, t.state,
	t.assignee, t.reviewer, t.set_id, t.revision, t.priority, t.due, t.work_seconds, t.started_at,
	t.assigned_at, t.submitted_at, t.created_at, t.updated_at, t.version
FROM task t JOIN reading_case c ON c.id = t.case_id`

func scanTask(row scanner) (*radmark.Task, error) {
	var t radmark.Task
	var due, started, assigned, submitted time.Time
	err := row.Scan((*string)(&t.ID), (*string)(&t.ProjectID), (*string)(&t.CaseID), (*string)(&t.StudyUID),
		(*string)(&t.SeriesUID), (*string)(&t.Kind), &t.Slot, (*string)(&t.State), &t.Assignee, &t.Reviewer,
		(*string)(&t.SetID), (*string)(&t.Revision), &t.Priority, scanTime(&due), &t.WorkSeconds,
		scanTime(&started), scanTime(&assigned), scanTime(&submitted), scanTime(&t.CreatedAt),
		scanTime(&t.UpdatedAt), &t.Version)
	if err != nil {
		return nil, err
	}
	t.Due, t.StartedAt, t.AssignedAt, t.SubmittedAt = optTimePtr(due), optTimePtr(started), optTimePtr(assigned), optTimePtr(submitted)
	return &t, nil
}

func taskText(what string, t *radmark.Task) error {
	return checkText(what, textField{"ID", string(t.ID)}, textField{"assignee", t.Assignee},
		textField{"reviewer", t.Reviewer}, textField{"set", string(t.SetID)}, textField{"revision", string(t.Revision)})
}

func (s *Store) insertTask(ctx context.Context, tx *sql.Tx, t *radmark.Task) error {
	if t.ID == "" || t.CaseID == "" || t.ProjectID == "" || t.Kind == "" || t.State == "" {
		return radmark.Errorf(radmark.EINVALID, "a new task needs an ID, a project, a case, a kind and a state")
	}
	if err := taskText("insert task", t); err != nil {
		return err
	}
	t.CreatedAt = s.stamp(t.CreatedAt)
	t.UpdatedAt = t.CreatedAt
	t.Due, t.StartedAt, t.AssignedAt, t.SubmittedAt = normTime(t.Due), normTime(t.StartedAt), normTime(t.AssignedAt), normTime(t.SubmittedAt)
	if t.Version == 0 {
		t.Version = 1
	}
	n, err := s.countReturned(ctx, tx, `INSERT INTO task (`+taskColumns+`)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING id`,
		string(t.ID), string(t.ProjectID), string(t.CaseID), string(t.Kind), t.Slot, string(t.State), t.Assignee,
		t.Reviewer, string(t.SetID), string(t.Revision), t.Priority, s.optTime(t.Due), t.WorkSeconds,
		s.optTime(t.StartedAt), s.optTime(t.AssignedAt), s.optTime(t.SubmittedAt), s.timeArg(t.CreatedAt),
		s.timeArg(t.UpdatedAt), t.Version)
	if err != nil {
		return fmt.Errorf("insert task: %w", err)
	}
	if n == 0 {
		return radmark.Errorf(radmark.ECONFLICT, "task %s (or the %s task %d of case %s, or %s's read of it) already exists",
			t.ID, t.Kind, t.Slot, t.CaseID, t.Assignee)
	}
	return nil
}

// AddCases implements radmark.WorkflowStore.AddCases in one transaction.
func (s *Store) AddCases(ctx context.Context, cases []radmark.NewCase) ([]bool, error) {
	var added []bool
	err := s.mutateWith(ctx, fmt.Sprintf("add %d cases", len(cases)), func(tx *sql.Tx) ([]*radmark.AuditEvent, error) {
		added = make([]bool, len(cases))
		var events []*radmark.AuditEvent
		checked := map[radmark.ID]bool{}
		for _, nc := range cases {
			if nc.Case != nil && !checked[nc.Case.ProjectID] {
				checked[nc.Case.ProjectID] = true
				if err := s.missingProject(ctx, tx, nc.Case.ProjectID); err != nil {
					return nil, err
				}
			}
		}
		for i, nc := range cases {
			c := nc.Case
			if c == nil || c.ID == "" || c.ProjectID == "" || c.StudyUID == "" || c.Readers < 1 {
				return nil, radmark.Errorf(radmark.EINVALID, "add case: a case needs an ID, a project, a study and at least one reader")
			}
			if err := checkText("add case", textField{"ID", string(c.ID)}, textField{"study", string(c.StudyUID)},
				textField{"series", string(c.SeriesUID)}, textField{"added by", c.AddedBy}, textField{"source", c.Source}); err != nil {
				return nil, err
			}
			c.CreatedAt = s.stamp(c.CreatedAt)
			c.UpdatedAt = c.CreatedAt
			c.Due = normTime(c.Due)
			if c.Version == 0 {
				c.Version = 1
			}
			n, err := s.countReturned(ctx, tx, `INSERT INTO reading_case (`+caseColumns+`)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING id`,
				string(c.ID), string(c.ProjectID), string(c.StudyUID), string(c.SeriesUID), string(c.State), c.Priority,
				s.optTime(c.Due), c.Readers, c.ConfigVersion, string(c.FinalSet), string(c.FinalRevision), c.Outcome,
				c.Disagreement, c.Source, c.AddedBy, s.timeArg(c.CreatedAt), s.timeArg(c.UpdatedAt), c.Version)
			if err != nil {
				return nil, fmt.Errorf("insert case: %w", err)
			}
			if n == 0 {
				var existing string
				err := tx.QueryRowContext(ctx, s.rebind(`SELECT id FROM reading_case WHERE id = ?`), string(c.ID)).Scan(&existing)
				if err == nil {
					return nil, radmark.Errorf(radmark.ECONFLICT, "case %s already exists", c.ID)
				}
				continue // the project already reads this study/series
			}
			for _, t := range nc.Tasks {
				t.CreatedAt = c.CreatedAt
				if err := s.insertTask(ctx, tx, t); err != nil {
					return nil, err
				}
			}
			added[i] = true
			if nc.Event != nil {
				events = append(events, nc.Event)
			}
		}
		return events, nil
	})
	if err != nil {
		return nil, err
	}
	return added, nil
}

func (s *Store) missingProject(ctx context.Context, tx *sql.Tx, project radmark.ID) error {
	var one int
	err := tx.QueryRowContext(ctx, s.rebind(`SELECT 1 FROM project WHERE id = ?`), string(project)).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return radmark.Errorf(radmark.ENOTFOUND, "project %s not found", project)
	}
	if err != nil {
		return fmt.Errorf("read project: %w", err)
	}
	return nil
}

// Case implements radmark.WorkflowStore.Case.
func (s *Store) Case(ctx context.Context, id radmark.ID) (*radmark.Case, error) {
	c, err := scanCase(s.read.QueryRowContext(ctx, s.rebind(`SELECT `+caseColumns+` FROM reading_case WHERE id = ?`), string(id)))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, radmark.Errorf(radmark.ENOTFOUND, "case %s not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("get case %s: %w", id, err)
	}
	return c, nil
}

// Cases implements radmark.WorkflowStore.Cases, oldest first.
func (s *Store) Cases(ctx context.Context, f radmark.CaseFilter) ([]*radmark.Case, error) {
	if f.Limit < 0 || f.Offset < 0 {
		return nil, radmark.Errorf(radmark.EINVALID, "case query: limit and offset must not be negative")
	}
	var where []string
	var args []any
	for _, c := range []struct{ col, v string }{{"project_id", string(f.ProjectID)}, {"study_uid", string(f.StudyUID)}, {"state", string(f.State)}} {
		if c.v != "" {
			where = append(where, c.col+" = ?")
			args = append(args, c.v)
		}
	}
	q := `SELECT ` + caseColumns + ` FROM reading_case`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY created_at, id"
	paging, args := s.limitOffset(f.Limit, f.Offset, args)
	return queryAll(ctx, s, "list cases", q+paging, args, scanCase)
}

// Task implements radmark.WorkflowStore.Task.
func (s *Store) Task(ctx context.Context, id radmark.ID) (*radmark.Task, error) {
	t, err := scanTask(s.read.QueryRowContext(ctx, s.rebind(taskSelect+` WHERE t.id = ?`), string(id)))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, radmark.Errorf(radmark.ENOTFOUND, "task %s not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("get task %s: %w", id, err)
	}
	return t, nil
}

// Tasks implements radmark.WorkflowStore.Tasks, in case order then kind
// and slot.
func (s *Store) Tasks(ctx context.Context, f radmark.TaskFilter) ([]*radmark.Task, error) {
	if f.Limit < 0 || f.Offset < 0 {
		return nil, radmark.Errorf(radmark.EINVALID, "task query: limit and offset must not be negative")
	}
	var where []string
	var args []any
	for _, c := range []struct{ col, v string }{{"t.project_id", string(f.ProjectID)}, {"t.case_id", string(f.CaseID)},
		{"t.kind", string(f.Kind)}, {"t.assignee", f.Assignee}, {"t.reviewer", f.Reviewer}, {"t.set_id", string(f.SetID)}} {
		if c.v != "" {
			where = append(where, c.col+" = ?")
			args = append(args, c.v)
		}
	}
	if len(f.States) > 0 {
		where = append(where, "t.state IN ("+placeholders(len(f.States))+")")
		for _, st := range f.States {
			args = append(args, string(st))
		}
	}
	q := taskSelect
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY t.created_at, t.case_id, t.kind DESC, t.slot"
	paging, args := s.limitOffset(f.Limit, f.Offset, args)
	return queryAll(ctx, s, "list tasks", q+paging, args, scanTask)
}

// lockAssignees serialises, on PostgreSQL, the transactions that give
// tasks to the same users (see the comment at the top).
func (s *Store) lockAssignees(ctx context.Context, tx *sql.Tx, names []string) error {
	names = slices.Compact(slices.Sorted(slices.Values(names)))
	if len(names) > 0 && names[0] == "" {
		names = names[1:]
	}
	return s.advisoryLock(ctx, tx, "assignee", names)
}

// readOfCase reports a read of the case held by assignee other than task.
func (s *Store) readOfCase(ctx context.Context, tx *sql.Tx, caseID, task radmark.ID, assignee string) (radmark.ID, error) {
	var other string
	err := tx.QueryRowContext(ctx, s.rebind(`SELECT id FROM task WHERE case_id = ? AND kind = 'read' AND assignee = ? AND id <> ?`),
		string(caseID), assignee, string(task)).Scan(&other)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read tasks of case: %w", err)
	}
	return radmark.ID(other), nil
}

// ApplyWorkflowChange implements radmark.WorkflowStore.ApplyWorkflowChange.
func (s *Store) ApplyWorkflowChange(ctx context.Context, ch *radmark.WorkflowChange) error {
	if ch == nil || (ch.Case == nil && len(ch.Tasks) == 0 && len(ch.NewTasks) == 0) {
		return radmark.Errorf(radmark.EINVALID, "workflow change: nothing to change")
	}
	what := "workflow change"
	if ch.Case != nil {
		what += " of case " + string(ch.Case.ID)
	}
	now := s.now()
	return s.mutateWith(ctx, what, func(tx *sql.Tx) ([]*radmark.AuditEvent, error) {
		var names []string
		for _, tc := range ch.Tasks {
			names = append(names, tc.Task.Assignee)
		}
		for _, t := range ch.NewTasks {
			names = append(names, t.Assignee)
		}
		if err := s.lockAssignees(ctx, tx, names); err != nil {
			return nil, err
		}
		var events []*radmark.AuditEvent
		if c := ch.Case; c != nil {
			if err := checkText(what, textField{"final set", string(c.FinalSet)}, textField{"final revision", string(c.FinalRevision)},
				textField{"outcome", c.Outcome}, textField{"disagreement", c.Disagreement}); err != nil {
				return nil, err
			}
			n, err := rowsAffected(tx.ExecContext(ctx, s.rebind(`UPDATE reading_case SET state = ?, priority = ?, due = ?,
	final_set = ?, final_revision = ?, outcome = ?, disagreement = ?, updated_at = ?, version = ?
WHERE id = ? AND version = ?`), string(c.State), c.Priority, s.optTime(c.Due), string(c.FinalSet), string(c.FinalRevision),
				c.Outcome, c.Disagreement, s.timeArg(now), ch.CaseExpect+1, string(c.ID), ch.CaseExpect))
			if err != nil {
				return nil, fmt.Errorf("update case: %w", err)
			}
			if n != 1 {
				if _, err := s.Case(ctx, c.ID); err != nil {
					return nil, err
				}
				return nil, &radmark.Error{Code: radmark.ECONFLICT, Message: fmt.Sprintf("case %s changed meanwhile (it is no longer at version %d); reload it", c.ID, ch.CaseExpect),
					Err: &radmark.StaleError{Object: "case", ID: c.ID}}
			}
			if ch.CaseEvent != nil {
				events = append(events, ch.CaseEvent)
			}
		}
		for _, tc := range ch.Tasks {
			t := tc.Task
			if err := taskText(what, t); err != nil {
				return nil, err
			}
			if t.Kind == radmark.TaskRead && t.Assignee != "" {
				other, err := s.readOfCase(ctx, tx, t.CaseID, t.ID, t.Assignee)
				if err != nil {
					return nil, err
				}
				if other != "" {
					return nil, radmark.Errorf(radmark.ECONFLICT, "%s already holds read %s of case %s: reads of a case are independent", t.Assignee, other, t.CaseID)
				}
			}
			n, err := rowsAffected(tx.ExecContext(ctx, s.rebind(`UPDATE task SET state = ?, assignee = ?, reviewer = ?, set_id = ?,
	revision = ?, priority = ?, due = ?, work_seconds = ?, started_at = ?, assigned_at = ?, submitted_at = ?,
	updated_at = ?, version = ?
WHERE id = ? AND version = ?`), string(t.State), t.Assignee, t.Reviewer, string(t.SetID), string(t.Revision), t.Priority,
				s.optTime(t.Due), t.WorkSeconds, s.optTime(t.StartedAt), s.optTime(t.AssignedAt), s.optTime(t.SubmittedAt),
				s.timeArg(now), tc.Expect+1, string(t.ID), tc.Expect))
			if err != nil {
				return nil, fmt.Errorf("update task: %w", err)
			}
			if n != 1 {
				if _, err := s.Task(ctx, t.ID); err != nil {
					return nil, err
				}
				return nil, &radmark.Error{Code: radmark.ECONFLICT, Message: fmt.Sprintf("task %s changed meanwhile (it is no longer at version %d); reload it", t.ID, tc.Expect),
					Err: &radmark.StaleError{Object: "task", ID: t.ID}}
			}
			if tc.Event != nil {
				events = append(events, tc.Event)
			}
		}
		for _, t := range ch.NewTasks {
			if err := s.insertTask(ctx, tx, t); err != nil {
				return nil, err
			}
		}
		return append(events, ch.NewEvents...), nil
	})
}

// ClaimTask implements radmark.WorkflowStore.ClaimTask.
func (s *Store) ClaimTask(ctx context.Context, r radmark.ClaimRequest) (*radmark.Task, error) {
	if r.ProjectID == "" || r.Assignee == "" || r.Kind == "" || r.Event == nil {
		return nil, radmark.Errorf(radmark.EINVALID, "claim a task: a project, a kind, an assignee and an audit event are needed")
	}
	if err := checkText("claim a task", textField{"assignee", r.Assignee}); err != nil {
		return nil, err
	}
	now := s.stamp(r.Now)
	var claimed radmark.ID
	err := s.mutateWith(ctx, "claim a task for "+r.Assignee, func(tx *sql.Tx) ([]*radmark.AuditEvent, error) {
		claimed = ""
		if err := s.lockAssignees(ctx, tx, []string{r.Assignee}); err != nil {
			return nil, err
		}
		if r.Quota > 0 && r.Kind == radmark.TaskRead {
			var held int
			if err := tx.QueryRowContext(ctx, s.rebind(`SELECT count(*) FROM task WHERE project_id = ? AND kind = 'read' AND assignee = ?`),
				string(r.ProjectID), r.Assignee).Scan(&held); err != nil {
				return nil, fmt.Errorf("count the user's reads: %w", err)
			}
			if held >= r.Quota {
				return nil, radmark.Errorf(radmark.EFORBIDDEN, "%s holds %d reads of this project, its per-user quota", r.Assignee, held)
			}
		}
		q := `SELECT t.id FROM task t WHERE t.project_id = ? AND t.kind = ? AND t.state = 'unassigned'
	AND NOT EXISTS (SELECT 1 FROM task o WHERE o.case_id = t.case_id AND o.assignee = ?)`
		args := []any{string(r.ProjectID), string(r.Kind), r.Assignee}
		if len(r.Exclude) > 0 {
			q += ` AND t.case_id NOT IN (` + placeholders(len(r.Exclude)) + `)`
			for _, id := range r.Exclude {
				args = append(args, string(id))
			}
		}
		q += ` ORDER BY t.priority DESC, t.created_at, t.case_id, t.slot LIMIT 1`
		if s.dialect == Postgres {
			q += ` FOR UPDATE SKIP LOCKED`
		}
		var id string
		err := tx.QueryRowContext(ctx, s.rebind(q), args...).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("find a task: %w", err)
		}
		// The case's due date wins over the workflow's.
		n, err := rowsAffected(tx.ExecContext(ctx, s.rebind(`UPDATE task SET state = 'assigned', assignee = ?, assigned_at = ?,
	due = coalesce((SELECT c.due FROM reading_case c WHERE c.id = task.case_id), ?), updated_at = ?, version = version + 1
WHERE id = ? AND state = 'unassigned'`),
			r.Assignee, s.timeArg(now), s.optTime(r.Due), s.timeArg(now), id))
		if err != nil {
			return nil, fmt.Errorf("assign task: %w", err)
		}
		if n != 1 {
			return nil, fmt.Errorf("assign task %s: it changed under its lock", id)
		}
		claimed = radmark.ID(id)
		r.Event.ObjectType, r.Event.ObjectID = "task", id
		return []*radmark.AuditEvent{r.Event}, nil
	})
	if err != nil || claimed == "" {
		return nil, err
	}
	// Read from the writer: a read replica might lag behind.
	t, err := scanTask(s.write.QueryRowContext(ctx, s.rebind(taskSelect+` WHERE t.id = ?`), string(claimed)))
	if err != nil {
		return nil, fmt.Errorf("read claimed task %s: %w", claimed, err)
	}
	return t, nil
}

// ProjectsOfStudy implements radmark.WorkflowStore.ProjectsOfStudy.
func (s *Store) ProjectsOfStudy(ctx context.Context, study radmark.UID) ([]radmark.ID, error) {
	return queryAll(ctx, s, "projects of study "+string(study), `SELECT DISTINCT project_id FROM reading_case WHERE study_uid = ? ORDER BY project_id`,
		[]any{string(study)}, func(row scanner) (radmark.ID, error) {
			var id string
			err := row.Scan(&id)
			return radmark.ID(id), err
		})
}

const commentColumns = `id, project_id, case_id, task_id, author, body, item, image, lps, resolved, resolved_by,
	created_at, updated_at, version`

func scanComment(row scanner) (*radmark.Comment, error) {
	var c radmark.Comment
	var image, lps sql.NullString
	err := row.Scan((*string)(&c.ID), (*string)(&c.ProjectID), (*string)(&c.CaseID), (*string)(&c.TaskID), &c.Author,
		&c.Body, &c.Item, &image, &lps, &c.Resolved, &c.ResolvedBy, scanTime(&c.CreatedAt), scanTime(&c.UpdatedAt), &c.Version)
	if err != nil {
		return nil, err
	}
	if image.Valid {
		c.Image = new(radmark.ImageRef)
		if err := json.Unmarshal([]byte(image.String), c.Image); err != nil {
			return nil, err
		}
	}
	if lps.Valid {
		c.LPS = new([3]float64)
		if err := json.Unmarshal([]byte(lps.String), c.LPS); err != nil {
			return nil, err
		}
	}
	return &c, nil
}

func optJSON(v any, isNil bool) (any, error) {
	if isNil {
		return nil, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return string(b), nil
}

// PutComment implements radmark.WorkflowStore.PutComment: expect 0 adds
// the comment (Version 1); otherwise the stored comment must be at
// Version expect (else ECONFLICT) and moves to expect+1.
func (s *Store) PutComment(ctx context.Context, c *radmark.Comment, expect int, ev *radmark.AuditEvent) error {
	if c == nil || c.ID == "" || c.CaseID == "" || c.ProjectID == "" || c.Author == "" {
		return radmark.Errorf(radmark.EINVALID, "put comment: a comment needs an ID, a project, a case and an author")
	}
	what := "put comment " + string(c.ID)
	if err := checkText(what, textField{"ID", string(c.ID)}, textField{"task", string(c.TaskID)}, textField{"author", c.Author},
		textField{"body", c.Body}, textField{"item", c.Item}, textField{"resolved by", c.ResolvedBy}); err != nil {
		return err
	}
	image, err := optJSON(c.Image, c.Image == nil)
	if err != nil {
		return radmark.Errorf(radmark.EINVALID, "%s: %w", what, err)
	}
	lps, err := optJSON(c.LPS, c.LPS == nil)
	if err != nil {
		return radmark.Errorf(radmark.EINVALID, "%s: %w", what, err)
	}
	now := s.now()
	err = s.mutate(ctx, what, []*radmark.AuditEvent{ev}, func(tx *sql.Tx) error {
		if expect == 0 {
			var one int
			err := tx.QueryRowContext(ctx, s.rebind(`SELECT 1 FROM reading_case WHERE id = ?`), string(c.CaseID)).Scan(&one)
			if errors.Is(err, sql.ErrNoRows) {
				return radmark.Errorf(radmark.ENOTFOUND, "case %s not found", c.CaseID)
			}
			if err != nil {
				return fmt.Errorf("read case: %w", err)
			}
			_, err = tx.ExecContext(ctx, s.rebind(`INSERT INTO review_comment (`+commentColumns+`)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)`), string(c.ID), string(c.ProjectID), string(c.CaseID), string(c.TaskID),
				c.Author, c.Body, c.Item, image, lps, c.Resolved, c.ResolvedBy, s.timeArg(now), s.timeArg(now))
			if err != nil {
				return fmt.Errorf("insert comment: %w", err)
			}
			return nil
		}
		n, err := rowsAffected(tx.ExecContext(ctx, s.rebind(`UPDATE review_comment SET body = ?, resolved = ?, resolved_by = ?,
	updated_at = ?, version = ? WHERE id = ? AND version = ?`), c.Body, c.Resolved, c.ResolvedBy, s.timeArg(now), expect+1, string(c.ID), expect))
		if err != nil {
			return fmt.Errorf("update comment: %w", err)
		}
		if n != 1 {
			if _, err := s.Comment(ctx, c.ID); err != nil {
				return err
			}
			return radmark.Errorf(radmark.ECONFLICT, "comment %s changed meanwhile (it is no longer at version %d); reload it", c.ID, expect)
		}
		return nil
	})
	if err != nil {
		return err
	}
	c.Version = expect + 1
	c.UpdatedAt = now
	if expect == 0 {
		c.CreatedAt = now
	}
	return nil
}

// DeleteComment implements radmark.WorkflowStore.DeleteComment.
func (s *Store) DeleteComment(ctx context.Context, id radmark.ID, expect int, ev *radmark.AuditEvent) error {
	return s.mutate(ctx, "delete comment "+string(id), []*radmark.AuditEvent{ev}, func(tx *sql.Tx) error {
		n, err := rowsAffected(tx.ExecContext(ctx, s.rebind(`DELETE FROM review_comment WHERE id = ? AND version = ?`), string(id), expect))
		if err != nil {
			return fmt.Errorf("delete comment: %w", err)
		}
		if n != 1 {
			if _, err := s.Comment(ctx, id); err != nil {
				return err
			}
			return radmark.Errorf(radmark.ECONFLICT, "comment %s changed meanwhile (it is no longer at version %d); reload it", id, expect)
		}
		return nil
	})
}

// Comment implements radmark.WorkflowStore.Comment.
func (s *Store) Comment(ctx context.Context, id radmark.ID) (*radmark.Comment, error) {
	c, err := scanComment(s.read.QueryRowContext(ctx, s.rebind(`SELECT `+commentColumns+` FROM review_comment WHERE id = ?`), string(id)))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, radmark.Errorf(radmark.ENOTFOUND, "comment %s not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("get comment %s: %w", id, err)
	}
	return c, nil
}

// Comments implements radmark.WorkflowStore.Comments, oldest first.
func (s *Store) Comments(ctx context.Context, caseID radmark.ID) ([]*radmark.Comment, error) {
	return queryAll(ctx, s, "list comments", `SELECT `+commentColumns+` FROM review_comment WHERE case_id = ? ORDER BY created_at, id`,
		[]any{string(caseID)}, scanComment)
}
