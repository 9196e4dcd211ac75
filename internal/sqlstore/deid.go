package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/deid"
)

var _ deid.Store = (*Store)(nil)

// PutDeidProfile implements deid.Store.
func (s *Store) PutDeidProfile(ctx context.Context, project radmark.ID, p *deid.Profile, ev *radmark.AuditEvent) error {
	if p == nil {
		return radmark.Errorf(radmark.EINVALID, "put de-identification profile: no profile")
	}
	if err := p.Validate(); err != nil {
		return radmark.Errorf(radmark.EINVALID, "put de-identification profile of project %s: %w", project, err)
	}
	what := fmt.Sprintf("put de-identification profile version %d of project %s", p.Version, project)
	if err := checkText(what, textField{"project ID", string(project)}, textField{"creator", p.CreatedBy}); err != nil {
		return err
	}
	stored := *p
	stored.CreatedAt = s.stamp(p.CreatedAt)
	content, err := json.Marshal(&stored)
	if err != nil {
		return radmark.Errorf(radmark.EINVALID, "%s: encode: %w", what, err)
	}
	err = s.mutate(ctx, what, []*radmark.AuditEvent{ev}, func(tx *sql.Tx) error {
		if err := s.missingProject(ctx, tx, project); err != nil {
			return err
		}
		var current int
		if err := tx.QueryRowContext(ctx, s.rebind(`SELECT coalesce(max(version), 0) FROM deid_profile WHERE project_id = ?`),
			string(project)).Scan(&current); err != nil {
			return fmt.Errorf("read profile version: %w", err)
		}
		if p.Version != current+1 {
			return radmark.Errorf(radmark.ECONFLICT, "project %s's de-identification profile is at version %d, so the next one is %d, not %d",
				project, current, current+1, p.Version)
		}
		_, err := tx.ExecContext(ctx, s.rebind(`INSERT INTO deid_profile (project_id, version, content, created_at, created_by)
VALUES (?, ?, ?, ?, ?)`), string(project), p.Version, string(content), s.timeArg(stored.CreatedAt), p.CreatedBy)
		if err != nil {
			return fmt.Errorf("insert profile: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	p.CreatedAt = stored.CreatedAt
	return nil
}

func scanProfile(row scanner) (*deid.Profile, error) {
	var content string
	if err := row.Scan(&content); err != nil {
		return nil, err
	}
	var p deid.Profile
	if err := json.Unmarshal([]byte(content), &p); err != nil {
		return nil, fmt.Errorf("decode profile: %w", err)
	}
	return &p, nil
}

// CurrentDeidProfile implements deid.ProfileSource: deid.ErrNoProfile when
// the project has none.
func (s *Store) CurrentDeidProfile(ctx context.Context, project string) (*deid.Profile, error) {
	p, err := scanProfile(s.read.QueryRowContext(ctx, s.rebind(`SELECT content FROM deid_profile WHERE project_id = ?
ORDER BY version DESC LIMIT 1`), project))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("project %s: %w", project, deid.ErrNoProfile)
	}
	if err != nil {
		return nil, fmt.Errorf("read de-identification profile of project %s: %w", project, err)
	}
	return p, nil
}

// DeidProfiles implements deid.Store.
func (s *Store) DeidProfiles(ctx context.Context, project radmark.ID) ([]*deid.Profile, error) {
	return queryAll(ctx, s, "list de-identification profiles", `SELECT content FROM deid_profile WHERE project_id = ? ORDER BY version`,
		[]any{string(project)}, scanProfile)
}

// checkLinkage refuses a sealed linkage record the store cannot keep.
func checkLinkage(what, sop string, l *radmark.SealedLinkage) error {
	if l.ProjectID == "" || l.KeyID == "" || len(l.Sealed) == 0 || sop == "" {
		return radmark.Errorf(radmark.EINVALID, "%s: its linkage record lacks the project, key id or sealed bytes", what)
	}
	return checkText(what, textField{"linkage project ID", string(l.ProjectID)}, textField{"linkage key id", l.KeyID})
}

// putLinkage keeps the sealed linkage of instance sop in tx, replacing an
// earlier one (a re-sent instance: the same original gives the same
// pseudonyms). The caller has checked the project exists.
func (s *Store) putLinkage(ctx context.Context, tx *sql.Tx, sop string, l *radmark.SealedLinkage) error {
	_, err := tx.ExecContext(ctx, s.rebind(`INSERT INTO deid_linkage (project_id, sop_uid, key_id, sealed, created_at) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (project_id, sop_uid) DO UPDATE SET key_id = excluded.key_id, sealed = excluded.sealed, created_at = excluded.created_at`),
		string(l.ProjectID), sop, l.KeyID, l.Sealed, s.timeArg(s.now()))
	if err != nil {
		return fmt.Errorf("keep linkage of %s: %w", sop, err)
	}
	return nil
}

// DeidLinkage implements deid.Store: the look-up and its audit event
// commit together, so no record is read unaudited.
func (s *Store) DeidLinkage(ctx context.Context, project radmark.ID, sopInstanceUID string, ev *radmark.AuditEvent) (string, []byte, error) {
	var keyID string
	var sealed []byte
	what := fmt.Sprintf("look up linkage of %s in project %s", sopInstanceUID, project)
	err := s.mutate(ctx, what, []*radmark.AuditEvent{ev}, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, s.rebind(`SELECT key_id, sealed FROM deid_linkage WHERE project_id = ? AND sop_uid = ?`),
			string(project), sopInstanceUID).Scan(&keyID, &sealed)
		if errors.Is(err, sql.ErrNoRows) {
			return radmark.Errorf(radmark.ENOTFOUND, "no linkage of %s in project %s", sopInstanceUID, project)
		}
		return err
	})
	if err != nil {
		return "", nil, err
	}
	return keyID, sealed, nil
}

// PutQuarantine implements deid.Store.
func (s *Store) PutQuarantine(ctx context.Context, q *deid.QuarantineItem, ev *radmark.AuditEvent) error {
	if q == nil || q.ProjectID == "" || q.SOPInstanceUID == "" || q.Reason == "" || q.BlobKey == "" {
		return radmark.Errorf(radmark.EINVALID, "quarantine: project, SOP Instance UID, reason and blob key are needed")
	}
	what := fmt.Sprintf("quarantine %s in project %s", q.SOPInstanceUID, q.ProjectID)
	if err := checkText(what, textField{"reason", q.Reason}, textField{"blob key", q.BlobKey}, textField{"SOP Instance UID", q.SOPInstanceUID}); err != nil {
		return err
	}
	if q.Linkage != nil {
		if q.Linkage.ProjectID != q.ProjectID {
			return radmark.Errorf(radmark.EINVALID, "%s: its linkage record is of project %s", what, q.Linkage.ProjectID)
		}
		if err := checkLinkage(what, q.SOPInstanceUID, q.Linkage); err != nil {
			return err
		}
	}
	created := s.stamp(q.CreatedAt)
	err := s.mutate(ctx, what, []*radmark.AuditEvent{ev}, func(tx *sql.Tx) error {
		if err := s.missingProject(ctx, tx, q.ProjectID); err != nil {
			return err
		}
		var one int
		err := tx.QueryRowContext(ctx, s.rebind(`SELECT 1 FROM deid_quarantine WHERE project_id = ? AND sop_uid = ?`), string(q.ProjectID), q.SOPInstanceUID).Scan(&one)
		if err == nil {
			return radmark.Errorf(radmark.ECONFLICT, "%s is already in quarantine", q.SOPInstanceUID)
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		_, err = tx.ExecContext(ctx, s.rebind(`INSERT INTO deid_quarantine (project_id, sop_uid, reason, blob_key, created_at) VALUES (?, ?, ?, ?, ?)`),
			string(q.ProjectID), q.SOPInstanceUID, q.Reason, q.BlobKey, s.timeArg(created))
		if err != nil || q.Linkage == nil {
			return err
		}
		return s.putLinkage(ctx, tx, q.SOPInstanceUID, q.Linkage)
	})
	if err != nil {
		return err
	}
	q.CreatedAt = created
	return nil
}

// Quarantine implements deid.Store.
func (s *Store) Quarantine(ctx context.Context, project radmark.ID) ([]*deid.QuarantineItem, error) {
	return queryAll(ctx, s, "list quarantine", `SELECT project_id, sop_uid, reason, blob_key, created_at FROM deid_quarantine
WHERE project_id = ? ORDER BY created_at, sop_uid`, []any{string(project)}, func(row scanner) (*deid.QuarantineItem, error) {
		q := &deid.QuarantineItem{}
		err := row.Scan((*string)(&q.ProjectID), &q.SOPInstanceUID, &q.Reason, &q.BlobKey, scanTime(&q.CreatedAt))
		return q, err
	})
}

// ReleaseQuarantine implements deid.Store.
func (s *Store) ReleaseQuarantine(ctx context.Context, project radmark.ID, sopInstanceUID string, ev *radmark.AuditEvent) error {
	return s.leaveQuarantine(ctx, project, sopInstanceUID, ev, false)
}

// RejectQuarantine implements deid.Store.
func (s *Store) RejectQuarantine(ctx context.Context, project radmark.ID, sopInstanceUID string, ev *radmark.AuditEvent) error {
	return s.leaveQuarantine(ctx, project, sopInstanceUID, ev, true)
}

// leaveQuarantine removes a reviewed item, and with dropLinkage its
// linkage record in the same transaction.
func (s *Store) leaveQuarantine(ctx context.Context, project radmark.ID, sopInstanceUID string, ev *radmark.AuditEvent, dropLinkage bool) error {
	what := fmt.Sprintf("release %s from quarantine", sopInstanceUID)
	if dropLinkage {
		what = fmt.Sprintf("reject %s from quarantine", sopInstanceUID)
	}
	return s.mutate(ctx, what, []*radmark.AuditEvent{ev}, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.rebind(`DELETE FROM deid_quarantine WHERE project_id = ? AND sop_uid = ?`), string(project), sopInstanceUID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return radmark.Errorf(radmark.ENOTFOUND, "%s is not in quarantine of project %s", sopInstanceUID, project)
		}
		if !dropLinkage {
			return nil
		}
		// The same de-identified instance may be stored already (a copy
		// released earlier, sent again and held again): its linkage stays
		// with the stored one.
		_, err = tx.ExecContext(ctx, s.rebind(`DELETE FROM deid_linkage WHERE project_id = ? AND sop_uid = ?
AND NOT EXISTS (SELECT 1 FROM instance WHERE sop_uid = ?)`), string(project), sopInstanceUID, sopInstanceUID)
		return err
	})
}
