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
)

// CreateProject implements radmark.ProjectStore.CreateProject. p needs an
// ID and a name that is not blank (EINVALID); an ID already taken is
// ECONFLICT. p.SchemaVersion must be 0 (a project starts without schema;
// PutSchema adds versions). p.CreatedAt is stored in UTC to the microsecond
// (the zero time: the store's Now) and p is updated to what was stored.
func (s *Store) CreateProject(ctx context.Context, p *radmark.Project, ev *radmark.AuditEvent) error {
	if p == nil {
		return radmark.Errorf(radmark.EINVALID, "create project: no project given")
	}
	what := fmt.Sprintf("create project %s", p.ID)
	if err := validateProject(what, p); err != nil {
		return err
	}
	if p.SchemaVersion != 0 {
		return radmark.Errorf(radmark.EINVALID, "%s: a new project has no schema (version %d given); add one with PutSchema", what, p.SchemaVersion)
	}
	if err := checkTime(what+": creation time", p.CreatedAt); err != nil {
		return err
	}
	created := s.stamp(p.CreatedAt)
	err := s.mutate(ctx, what, []*radmark.AuditEvent{ev}, func(tx *sql.Tx) error {
		n, err := s.countReturned(ctx, tx, `INSERT INTO project (id, name, description, created_at, created_by, schema_version)
VALUES (?, ?, ?, ?, ?, 0) ON CONFLICT (id) DO NOTHING RETURNING id`,
			string(p.ID), p.Name, p.Description, s.timeArg(created), p.CreatedBy)
		if err != nil {
			return fmt.Errorf("insert project: %w", err)
		}
		if n == 0 {
			return radmark.Errorf(radmark.ECONFLICT, "project %s already exists", p.ID)
		}
		return nil
	})
	if err != nil {
		return err
	}
	p.CreatedAt = created
	return nil
}

func validateProject(what string, p *radmark.Project) error {
	switch {
	case p.ID == "":
		return radmark.Errorf(radmark.EINVALID, "%s: the project has no ID", what)
	case strings.TrimSpace(p.Name) == "":
		return radmark.Errorf(radmark.EINVALID, "%s: the project has no name", what)
	}
	return checkText(what, textField{"ID", string(p.ID)}, textField{"name", p.Name},
		textField{"description", p.Description}, textField{"creator", p.CreatedBy})
}

// UpdateProject implements radmark.ProjectStore.UpdateProject: it stores
// p's Name and Description (a blank name is EINVALID; a missing project
// ENOTFOUND). The other fields are not the caller's to change: p is updated
// to the stored CreatedAt, CreatedBy and SchemaVersion.
func (s *Store) UpdateProject(ctx context.Context, p *radmark.Project, ev *radmark.AuditEvent) error {
	if p == nil {
		return radmark.Errorf(radmark.EINVALID, "update project: no project given")
	}
	what := fmt.Sprintf("update project %s", p.ID)
	if err := validateProject(what, p); err != nil {
		return err
	}
	var stored radmark.Project
	err := s.mutate(ctx, what, []*radmark.AuditEvent{ev}, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, s.rebind(`UPDATE project SET name = ?, description = ? WHERE id = ?
RETURNING created_at, created_by, schema_version`), p.Name, p.Description, string(p.ID)).
			Scan(scanTime(&stored.CreatedAt), &stored.CreatedBy, &stored.SchemaVersion)
		if errors.Is(err, sql.ErrNoRows) {
			return radmark.Errorf(radmark.ENOTFOUND, "project %s not found", p.ID)
		}
		if err != nil {
			return fmt.Errorf("update project: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	p.CreatedAt, p.CreatedBy, p.SchemaVersion = stored.CreatedAt, stored.CreatedBy, stored.SchemaVersion
	return nil
}

const projectSelect = `SELECT id, name, description, created_at, created_by, schema_version FROM project`

func scanProject(row scanner) (*radmark.Project, error) {
	var p radmark.Project
	if err := row.Scan((*string)(&p.ID), &p.Name, &p.Description, scanTime(&p.CreatedAt), &p.CreatedBy, &p.SchemaVersion); err != nil {
		return nil, err
	}
	return &p, nil
}

// Project implements radmark.ProjectStore.Project (ENOTFOUND if missing).
func (s *Store) Project(ctx context.Context, id radmark.ID) (*radmark.Project, error) {
	p, err := scanProject(s.read.QueryRowContext(ctx, s.rebind(projectSelect+` WHERE id = ?`), string(id)))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, radmark.Errorf(radmark.ENOTFOUND, "project %s not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("get project %s: %w", id, err)
	}
	return p, nil
}

// Projects implements radmark.ProjectStore.Projects: every project, ordered
// by name (byte-wise, on both engines) and then ID.
func (s *Store) Projects(ctx context.Context) ([]*radmark.Project, error) {
	rows, err := s.read.QueryContext(ctx, projectSelect+` ORDER BY name, id`)
	if err != nil {
		return nil, fmt.Errorf("list projects: %w", err)
	}
	defer rows.Close()
	out := []*radmark.Project{}
	for rows.Next() {
		p, err := scanProject(rows)
		if err != nil {
			return nil, fmt.Errorf("list projects: %w", err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list projects: %w", err)
	}
	return out, nil
}

// schemaDoc is the stored JSON of a label schema's content. Its fields have
// no omitempty, so nil and empty lists each come back as they were given.
type schemaDoc struct {
	Labels    []radmark.Label    `json:"labels"`
	Questions []radmark.Question `json:"questions"`
}

// PutSchema implements radmark.ProjectStore.PutSchema. sc.Version must be
// the project's SchemaVersion + 1, read under the project row's lock in the
// writing transaction: ECONFLICT otherwise, so of two writers of the same
// next version exactly one succeeds and the other learns that the schema
// moved on (nothing is lost silently). The version's content (labels and
// questions, as JSON) and hash are stored and the project's SchemaVersion
// moves to it, in one transaction with ev. A missing project is ENOTFOUND;
// a version below 1 or a schema without hash is EINVALID. sc.CreatedAt is
// normalised as in CreateProject.
func (s *Store) PutSchema(ctx context.Context, sc *radmark.LabelSchema, ev *radmark.AuditEvent) error {
	if sc == nil {
		return radmark.Errorf(radmark.EINVALID, "put schema: no schema given")
	}
	what := fmt.Sprintf("put schema version %d of project %s", sc.Version, sc.ProjectID)
	switch {
	case sc.ProjectID == "":
		return radmark.Errorf(radmark.EINVALID, "%s: the schema names no project", what)
	case sc.Version < 1:
		return radmark.Errorf(radmark.EINVALID, "%s: versions start at 1", what)
	case sc.Hash == "":
		return radmark.Errorf(radmark.EINVALID, "%s: the schema has no hash", what)
	}
	if err := checkText(what, textField{"project ID", string(sc.ProjectID)}, textField{"hash", sc.Hash},
		textField{"creator", sc.CreatedBy}); err != nil {
		return err
	}
	if err := checkTime(what+": creation time", sc.CreatedAt); err != nil {
		return err
	}
	content, err := json.Marshal(schemaDoc{Labels: sc.Labels, Questions: sc.Questions})
	if err != nil {
		return radmark.Errorf(radmark.EINVALID, "%s: encode the schema: %w", what, err)
	}
	created := s.stamp(sc.CreatedAt)
	err = s.mutate(ctx, what, []*radmark.AuditEvent{ev}, func(tx *sql.Tx) error {
		var current int
		err := tx.QueryRowContext(ctx, s.rebind(`SELECT schema_version FROM project WHERE id = ?`+s.forUpdate()),
			string(sc.ProjectID)).Scan(&current)
		if errors.Is(err, sql.ErrNoRows) {
			return radmark.Errorf(radmark.ENOTFOUND, "project %s not found", sc.ProjectID)
		}
		if err != nil {
			return fmt.Errorf("read project: %w", err)
		}
		if sc.Version != current+1 {
			return radmark.Errorf(radmark.ECONFLICT, "project %s's label schema is at version %d, so the next one is %d, not %d",
				sc.ProjectID, current, current+1, sc.Version)
		}
		if _, err := tx.ExecContext(ctx, s.rebind(`INSERT INTO label_schema (project_id, version, content, hash, created_at, created_by)
VALUES (?, ?, ?, ?, ?, ?)`), string(sc.ProjectID), sc.Version, string(content), sc.Hash, s.timeArg(created), sc.CreatedBy); err != nil {
			return fmt.Errorf("insert schema: %w", err)
		}
		n, err := rowsAffected(tx.ExecContext(ctx, s.rebind(`UPDATE project SET schema_version = ? WHERE id = ? AND schema_version = ?`),
			sc.Version, string(sc.ProjectID), current))
		if err != nil {
			return fmt.Errorf("move project's schema version: %w", err)
		}
		if n != 1 {
			return fmt.Errorf("move project's schema version: the project changed under its lock")
		}
		return nil
	})
	if err != nil {
		return err
	}
	sc.CreatedAt = created
	return nil
}

// Schema implements radmark.ProjectStore.Schema: version 0 means the
// project's current one. ENOTFOUND for a missing project, a project without
// schema yet, or a version it does not have; EINVALID for a negative
// version.
func (s *Store) Schema(ctx context.Context, project radmark.ID, version int) (*radmark.LabelSchema, error) {
	if version < 0 {
		return nil, radmark.Errorf(radmark.EINVALID, "schema version %d of project %s: versions start at 1 (0: the current one)", version, project)
	}
	var (
		current int
		found   sql.NullInt64
		content sql.NullString
		hash    sql.NullString
		by      sql.NullString
		created time.Time
	)
	err := s.read.QueryRowContext(ctx, s.rebind(`SELECT p.schema_version, ls.version, ls.content, ls.hash, ls.created_at, ls.created_by
FROM project p
LEFT JOIN label_schema ls ON ls.project_id = p.id AND ls.version = CASE WHEN ? = 0 THEN p.schema_version ELSE ? END
WHERE p.id = ?`), version, version, string(project)).Scan(&current, &found, &content, &hash, scanTime(&created), &by)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, radmark.Errorf(radmark.ENOTFOUND, "project %s not found", project)
	}
	if err != nil {
		return nil, fmt.Errorf("get schema of project %s: %w", project, err)
	}
	if !found.Valid {
		if version == 0 {
			return nil, radmark.Errorf(radmark.ENOTFOUND, "project %s has no label schema yet", project)
		}
		return nil, radmark.Errorf(radmark.ENOTFOUND, "project %s has no label schema version %d (the current one is %d)", project, version, current)
	}
	var doc schemaDoc
	if err := json.Unmarshal([]byte(content.String), &doc); err != nil {
		return nil, fmt.Errorf("decode schema version %d of project %s: %w", found.Int64, project, err)
	}
	return &radmark.LabelSchema{
		ProjectID: project, Version: int(found.Int64), Labels: doc.Labels, Questions: doc.Questions,
		CreatedAt: created, CreatedBy: by.String, Hash: hash.String,
	}, nil
}
