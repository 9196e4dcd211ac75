package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/release"
)

var _ release.Store = (*Store)(nil)

// PutRelease implements release.Store. There is no update or delete:
// the release table's triggers refuse both.
func (s *Store) PutRelease(ctx context.Context, r *release.Release, ev *radmark.AuditEvent) error {
	if r == nil {
		return radmark.Errorf(radmark.EINVALID, "put release: no release")
	}
	if err := r.Validate(); err != nil {
		return err
	}
	what := "put release " + r.ID
	if err := checkText(what, textField{"project ID", string(r.ProjectID)}, textField{"selection", r.Selection}, textField{"creator", r.CreatedBy}); err != nil {
		return err
	}
	created := s.stamp(r.CreatedAt)
	if err := checkTime("release time", created); err != nil {
		return err
	}
	err := s.mutate(ctx, what, []*radmark.AuditEvent{ev}, func(tx *sql.Tx) error {
		if err := s.missingProject(ctx, tx, r.ProjectID); err != nil {
			return err
		}
		var one int
		err := tx.QueryRowContext(ctx, s.rebind(`SELECT 1 FROM release WHERE id = ?`), r.ID).Scan(&one)
		if err == nil {
			return radmark.Errorf(radmark.ECONFLICT, "release %s already exists", r.ID)
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("read release: %w", err)
		}
		_, err = tx.ExecContext(ctx, s.rebind(`INSERT INTO release (id, project_id, schema_version, selection, seed,
	frac_train, frac_val, frac_test, stratify, cases_train, cases_val, cases_test, files, bytes, size, sha256, created_at, created_by)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
			r.ID, string(r.ProjectID), r.SchemaVersion, r.Selection, r.Seed,
			r.Fractions.Train, r.Fractions.Validation, r.Fractions.Test, r.Stratify,
			r.Cases[release.Train], r.Cases[release.Validation], r.Cases[release.Test],
			r.Files, r.Bytes, r.Size, r.SHA256, s.timeArg(created), r.CreatedBy)
		if err != nil {
			return fmt.Errorf("insert release: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	r.CreatedAt = created
	return nil
}

const releaseSelect = `SELECT id, project_id, schema_version, selection, seed, frac_train, frac_val, frac_test, stratify,
	cases_train, cases_val, cases_test, files, bytes, size, sha256, created_at, created_by FROM release`

func scanRelease(row scanner) (*release.Release, error) {
	r := &release.Release{}
	var train, val, test int
	err := row.Scan(&r.ID, (*string)(&r.ProjectID), &r.SchemaVersion, &r.Selection, &r.Seed,
		&r.Fractions.Train, &r.Fractions.Validation, &r.Fractions.Test, &r.Stratify,
		&train, &val, &test, &r.Files, &r.Bytes, &r.Size, &r.SHA256, scanTime(&r.CreatedAt), &r.CreatedBy)
	if err != nil {
		return nil, err
	}
	r.Cases = map[string]int{release.Train: train, release.Validation: val, release.Test: test}
	return r, nil
}

// Release implements release.Store.
func (s *Store) Release(ctx context.Context, id string) (*release.Release, error) {
	r, err := scanRelease(s.read.QueryRowContext(ctx, s.rebind(releaseSelect+` WHERE id = ?`), id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, radmark.Errorf(radmark.ENOTFOUND, "release %s not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("read release %s: %w", id, err)
	}
	return r, nil
}

// Releases implements release.Store.
func (s *Store) Releases(ctx context.Context, project radmark.ID) ([]*release.Release, error) {
	return queryAll(ctx, s, "list releases", releaseSelect+` WHERE project_id = ? ORDER BY created_at DESC, id`,
		[]any{string(project)}, scanRelease)
}
