package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/radmark/radmark"
)

// CreateSet implements radmark.AnnotationStore.CreateSet. set needs an ID,
// a project, a study and a reader (EINVALID); SeriesUID "" means the whole
// study. A new set has no head (a Head or HeadNumber given is EINVALID). A
// missing project is ENOTFOUND; a set ID already taken, or a set of the same
// project, study, series and reader, is ECONFLICT (the message names the
// existing set). CreatedAt is normalised as in CreateProject, and a zero
// UpdatedAt becomes CreatedAt; set is updated to what was stored.
func (s *Store) CreateSet(ctx context.Context, set *radmark.AnnotationSet, ev *radmark.AuditEvent) error {
	if set == nil {
		return radmark.Errorf(radmark.EINVALID, "create annotation set: no set given")
	}
	what := fmt.Sprintf("create annotation set %s", set.ID)
	switch {
	case set.ID == "":
		return radmark.Errorf(radmark.EINVALID, "%s: the set has no ID", what)
	case set.ProjectID == "":
		return radmark.Errorf(radmark.EINVALID, "%s: the set names no project", what)
	case set.StudyUID == "":
		return radmark.Errorf(radmark.EINVALID, "%s: the set names no study", what)
	case set.Reader == "":
		return radmark.Errorf(radmark.EINVALID, "%s: the set has no reader", what)
	case set.Head != "" || set.HeadNumber != 0:
		return radmark.Errorf(radmark.EINVALID, "%s: a new set has no revisions (head %q, number %d given)", what, set.Head, set.HeadNumber)
	}
	if err := checkText(what, textField{"ID", string(set.ID)}, textField{"project ID", string(set.ProjectID)},
		textField{"study UID", string(set.StudyUID)}, textField{"series UID", string(set.SeriesUID)},
		textField{"reader", set.Reader}); err != nil {
		return err
	}
	if err := errors.Join(checkTime(what+": creation time", set.CreatedAt), checkTime(what+": update time", set.UpdatedAt)); err != nil {
		return err
	}
	created := s.stamp(set.CreatedAt)
	updated := created
	if !set.UpdatedAt.IsZero() {
		updated = Timestamp(set.UpdatedAt)
	}
	err := s.mutate(ctx, what, []*radmark.AuditEvent{ev}, func(tx *sql.Tx) error {
		var one int
		err := tx.QueryRowContext(ctx, s.rebind(`SELECT 1 FROM project WHERE id = ?`), string(set.ProjectID)).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return radmark.Errorf(radmark.ENOTFOUND, "project %s not found", set.ProjectID)
		}
		if err != nil {
			return fmt.Errorf("read project: %w", err)
		}
		// DO NOTHING covers both unique keys (the ID and the reader's case);
		// on PostgreSQL it waits for a concurrent insert of either to commit.
		n, err := s.countReturned(ctx, tx, `INSERT INTO annotation_set (id, project_id, study_uid, series_uid, reader,
	head, head_number, created_at, updated_at)
VALUES (?, ?, ?, ?, ?, NULL, 0, ?, ?) ON CONFLICT DO NOTHING RETURNING id`,
			string(set.ID), string(set.ProjectID), string(set.StudyUID), string(set.SeriesUID), set.Reader,
			s.timeArg(created), s.timeArg(updated))
		if err != nil {
			return fmt.Errorf("insert annotation set: %w", err)
		}
		if n == 0 {
			return s.setConflict(ctx, tx, set)
		}
		return nil
	})
	if err != nil {
		return err
	}
	set.CreatedAt, set.UpdatedAt = created, updated
	return nil
}

// setConflict explains why set could not be inserted.
func (s *Store) setConflict(ctx context.Context, tx *sql.Tx, set *radmark.AnnotationSet) error {
	var existing string
	err := tx.QueryRowContext(ctx, s.rebind(`SELECT id FROM annotation_set
WHERE project_id = ? AND study_uid = ? AND series_uid = ? AND reader = ?`),
		string(set.ProjectID), string(set.StudyUID), string(set.SeriesUID), set.Reader).Scan(&existing)
	switch {
	case err == nil:
		on := "study " + string(set.StudyUID)
		if set.SeriesUID != "" {
			on = "series " + string(set.SeriesUID) + " of study " + string(set.StudyUID)
		}
		return radmark.Errorf(radmark.ECONFLICT, "project %s already has annotation set %s for reader %s on %s",
			set.ProjectID, existing, set.Reader, on)
	case errors.Is(err, sql.ErrNoRows):
		return radmark.Errorf(radmark.ECONFLICT, "annotation set %s already exists", set.ID)
	default:
		return fmt.Errorf("read annotation sets: %w", err)
	}
}

const setSelect = `SELECT id, project_id, study_uid, series_uid, reader, head, head_number, created_at, updated_at
FROM annotation_set`

func scanSet(row scanner) (*radmark.AnnotationSet, error) {
	var (
		set  radmark.AnnotationSet
		head sql.NullString
	)
	err := row.Scan((*string)(&set.ID), (*string)(&set.ProjectID), (*string)(&set.StudyUID), (*string)(&set.SeriesUID),
		&set.Reader, &head, &set.HeadNumber, scanTime(&set.CreatedAt), scanTime(&set.UpdatedAt))
	if err != nil {
		return nil, err
	}
	set.Head = radmark.ID(head.String)
	return &set, nil
}

// Set implements radmark.AnnotationStore.Set (ENOTFOUND if missing).
func (s *Store) Set(ctx context.Context, id radmark.ID) (*radmark.AnnotationSet, error) {
	set, err := scanSet(s.read.QueryRowContext(ctx, s.rebind(setSelect+` WHERE id = ?`), string(id)))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, radmark.Errorf(radmark.ENOTFOUND, "annotation set %s not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("get annotation set %s: %w", id, err)
	}
	return set, nil
}

// Sets implements radmark.AnnotationStore.Sets: the sets matching every
// non-empty field of f (an empty SeriesUID matches sets on whole studies and
// on series alike), in a stable order, CreatedAt then ID, so that pages
// (Limit, Offset; Limit 0 means no limit) neither skip nor repeat sets.
// A negative Limit or Offset is EINVALID.
func (s *Store) Sets(ctx context.Context, f radmark.SetFilter) ([]*radmark.AnnotationSet, error) {
	if f.Limit < 0 || f.Offset < 0 {
		return nil, radmark.Errorf(radmark.EINVALID, "annotation set query: limit %d and offset %d must not be negative", f.Limit, f.Offset)
	}
	if err := checkText("annotation set query", textField{"project ID", string(f.ProjectID)},
		textField{"study UID", string(f.StudyUID)}, textField{"series UID", string(f.SeriesUID)},
		textField{"reader", f.Reader}); err != nil {
		return nil, err
	}
	var where []string
	var args []any
	for _, c := range []struct{ col, value string }{
		{"project_id", string(f.ProjectID)}, {"study_uid", string(f.StudyUID)},
		{"series_uid", string(f.SeriesUID)}, {"reader", f.Reader},
	} {
		if c.value != "" {
			where = append(where, c.col+" = ?")
			args = append(args, c.value)
		}
	}
	q := setSelect
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY created_at, id"
	paging, args := s.limitOffset(f.Limit, f.Offset, args)
	rows, err := s.read.QueryContext(ctx, s.rebind(q+paging), args...)
	if err != nil {
		return nil, fmt.Errorf("list annotation sets: %w", err)
	}
	defer rows.Close()
	out := []*radmark.AnnotationSet{}
	for rows.Next() {
		set, err := scanSet(rows)
		if err != nil {
			return nil, fmt.Errorf("list annotation sets: %w", err)
		}
		out = append(out, set)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list annotation sets: %w", err)
	}
	return out, nil
}

// SaveRevision implements radmark.AnnotationStore.SaveRevision with
// optimistic concurrency. In one transaction with ev it reads the set's
// head under the set row's lock (PostgreSQL: SELECT ... FOR NO KEY UPDATE,
// so concurrent savers of one set queue there and each sees the head the
// previous one left; SQLite: the database's write lock), and
//   - if the head is r.Parent ("" for a set without revisions), stores r
//     with Number = the head's number + 1, its Content as JSON and its
//     ContentHash, and moves the set's head, head number and UpdatedAt
//     (r.CreatedAt) to it;
//   - otherwise stores nothing and returns an ECONFLICT *radmark.Error whose
//     Err is a *radmark.HeadConflict{Expected: r.Parent, Head: the head}:
//     the parent is an older revision of the set, or "" while the set has a
//     head. Of several writers on the same parent exactly one succeeds.
//
// A parent that is no revision of the set is the caller's mistake, not a
// race, and is EINVALID: a revision of another set, or no revision at all
// (revisions are never deleted, so retrying cannot help). A missing set is
// ENOTFOUND; a revision ID already used (by any set) is ECONFLICT; a
// revision without ID, set, content or content hash is EINVALID.
// r.CreatedAt is normalised as in CreateProject. On success r.Number (and
// r.CreatedAt) hold what was stored.
func (s *Store) SaveRevision(ctx context.Context, r *radmark.Revision, ev *radmark.AuditEvent) error {
	if r == nil {
		return radmark.Errorf(radmark.EINVALID, "save revision: no revision given")
	}
	what := fmt.Sprintf("save revision %s of annotation set %s", r.ID, r.SetID)
	switch {
	case r.ID == "":
		return radmark.Errorf(radmark.EINVALID, "%s: the revision has no ID", what)
	case r.SetID == "":
		return radmark.Errorf(radmark.EINVALID, "%s: the revision names no annotation set", what)
	case r.Content == nil:
		return radmark.Errorf(radmark.EINVALID, "%s: the revision has no content", what)
	case r.ContentHash == "":
		return radmark.Errorf(radmark.EINVALID, "%s: the revision has no content hash", what)
	case r.Parent == r.ID:
		return radmark.Errorf(radmark.EINVALID, "%s: a revision cannot be its own parent", what)
	}
	if err := checkText(what, textField{"ID", string(r.ID)}, textField{"set ID", string(r.SetID)},
		textField{"parent", string(r.Parent)}, textField{"author", r.Author}, textField{"message", r.Message},
		textField{"content hash", r.ContentHash}); err != nil {
		return err
	}
	if err := checkTime(what+": creation time", r.CreatedAt); err != nil {
		return err
	}
	content, err := json.Marshal(r.Content)
	if err != nil {
		return radmark.Errorf(radmark.EINVALID, "%s: encode the content: %w", what, err)
	}
	created := s.stamp(r.CreatedAt)
	var number int
	err = s.mutate(ctx, what, []*radmark.AuditEvent{ev}, func(tx *sql.Tx) error {
		var head sql.NullString
		var headNumber int
		err := tx.QueryRowContext(ctx, s.rebind(`SELECT head, head_number FROM annotation_set WHERE id = ?`+s.forUpdate()),
			string(r.SetID)).Scan(&head, &headNumber)
		if errors.Is(err, sql.ErrNoRows) {
			return radmark.Errorf(radmark.ENOTFOUND, "annotation set %s not found", r.SetID)
		}
		if err != nil {
			return fmt.Errorf("read annotation set: %w", err)
		}
		if radmark.ID(head.String) != r.Parent {
			return s.parentError(ctx, tx, r, radmark.ID(head.String))
		}
		number = headNumber + 1
		n, err := s.countReturned(ctx, tx, `INSERT INTO revision (id, set_id, parent, number, author, created_at,
	message, submitted, content_hash, content)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING id`,
			string(r.ID), string(r.SetID), nullID(r.Parent), number, r.Author, s.timeArg(created),
			r.Message, r.Submitted, r.ContentHash, string(content))
		if err != nil {
			return fmt.Errorf("insert revision: %w", err)
		}
		if n == 0 {
			return s.revisionConflict(ctx, tx, r)
		}
		// The head is locked, so it is still what was read; the condition
		// only guards against a future change of the locking.
		n64, err := rowsAffected(tx.ExecContext(ctx, s.rebind(`UPDATE annotation_set SET head = ?, head_number = ?, updated_at = ?
WHERE id = ? AND head_number = ?`), string(r.ID), number, s.timeArg(created), string(r.SetID), headNumber))
		if err != nil {
			return fmt.Errorf("move the set's head: %w", err)
		}
		if n64 != 1 {
			return fmt.Errorf("move the set's head: the set changed under its lock")
		}
		return nil
	})
	if err != nil {
		return err
	}
	r.Number, r.CreatedAt = number, created
	return nil
}

// parentError explains why r.Parent is not the head of its set.
func (s *Store) parentError(ctx context.Context, tx *sql.Tx, r *radmark.Revision, head radmark.ID) error {
	if r.Parent != "" {
		var parentSet string
		err := tx.QueryRowContext(ctx, s.rebind(`SELECT set_id FROM revision WHERE id = ?`), string(r.Parent)).Scan(&parentSet)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return radmark.Errorf(radmark.EINVALID, "parent revision %s does not exist", r.Parent)
		case err != nil:
			return fmt.Errorf("read parent revision: %w", err)
		case radmark.ID(parentSet) != r.SetID:
			return radmark.Errorf(radmark.EINVALID, "parent revision %s belongs to annotation set %s, not %s", r.Parent, parentSet, r.SetID)
		}
	}
	hc := &radmark.HeadConflict{Expected: r.Parent, Head: head}
	msg := fmt.Sprintf("annotation set %s has moved on: its head is revision %s, not %s", r.SetID, head, r.Parent)
	if r.Parent == "" {
		msg = fmt.Sprintf("annotation set %s already has revisions (its head is %s): base the change on the head", r.SetID, head)
	}
	return &radmark.Error{Code: radmark.ECONFLICT, Message: msg, Err: hc}
}

// revisionConflict explains why r could not be inserted.
func (s *Store) revisionConflict(ctx context.Context, tx *sql.Tx, r *radmark.Revision) error {
	var set string
	err := tx.QueryRowContext(ctx, s.rebind(`SELECT set_id FROM revision WHERE id = ?`), string(r.ID)).Scan(&set)
	switch {
	case err == nil:
		return radmark.Errorf(radmark.ECONFLICT, "revision %s already exists (in annotation set %s)", r.ID, set)
	case errors.Is(err, sql.ErrNoRows):
		// (set_id, number) clashed: only possible if the head was moved
		// without its lock.
		return fmt.Errorf("insert revision: annotation set %s already has a revision numbered like the new one", r.SetID)
	default:
		return fmt.Errorf("read revisions: %w", err)
	}
}

const revisionColumns = `id, set_id, parent, number, author, created_at, message, submitted, content_hash`

func scanRevision(row scanner, content *string) (*radmark.Revision, error) {
	var (
		r      radmark.Revision
		parent sql.NullString
	)
	dest := []any{(*string)(&r.ID), (*string)(&r.SetID), &parent, &r.Number, &r.Author, scanTime(&r.CreatedAt),
		&r.Message, &r.Submitted, &r.ContentHash}
	if content != nil {
		dest = append(dest, content)
	}
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	r.Parent = radmark.ID(parent.String)
	return &r, nil
}

// Revision implements radmark.AnnotationStore.Revision: the revision with
// its Content decoded (ENOTFOUND if missing).
func (s *Store) Revision(ctx context.Context, id radmark.ID) (*radmark.Revision, error) {
	var content string
	r, err := scanRevision(s.read.QueryRowContext(ctx, s.rebind(`SELECT `+revisionColumns+`, content FROM revision WHERE id = ?`),
		string(id)), &content)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, radmark.Errorf(radmark.ENOTFOUND, "revision %s not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("get revision %s: %w", id, err)
	}
	r.Content = new(radmark.Content)
	if err := json.Unmarshal([]byte(content), r.Content); err != nil {
		return nil, fmt.Errorf("decode content of revision %s: %w", id, err)
	}
	return r, nil
}

// Revisions implements radmark.AnnotationStore.Revisions: the set's
// revisions, newest (highest Number) first, without Content; an empty list
// for a set without revisions, ENOTFOUND for a missing set.
func (s *Store) Revisions(ctx context.Context, set radmark.ID) ([]*radmark.Revision, error) {
	rows, err := s.read.QueryContext(ctx, s.rebind(`SELECT `+revisionColumns+` FROM revision WHERE set_id = ? ORDER BY number DESC`), string(set))
	if err != nil {
		return nil, fmt.Errorf("list revisions of annotation set %s: %w", set, err)
	}
	defer rows.Close()
	out := []*radmark.Revision{}
	for rows.Next() {
		r, err := scanRevision(rows, nil)
		if err != nil {
			return nil, fmt.Errorf("list revisions of annotation set %s: %w", set, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list revisions of annotation set %s: %w", set, err)
	}
	if len(out) == 0 {
		if _, err := s.Set(ctx, set); err != nil {
			return nil, err
		}
	}
	return out, nil
}
