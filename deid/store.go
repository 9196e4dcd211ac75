package deid

import (
	"context"
	"time"

	"github.com/radmark/radmark"
)

// QuarantineItem is a de-identified instance held for review because it
// may carry burned-in text; BlobKey locates its de-identified bytes.
type QuarantineItem struct {
	ProjectID      radmark.ID `json:"project_id"`
	SOPInstanceUID string     `json:"sop_instance_uid"`
	Reason         string     `json:"reason"`
	BlobKey        string     `json:"blob_key"`
	CreatedAt      time.Time  `json:"created_at"`
	// Linkage, if set, is the instance's sealed linkage, kept in the
	// transaction that records the item.
	Linkage *radmark.SealedLinkage `json:"-"`
}

// Store keeps profiles, sealed linkage and the quarantine. The linkage of
// an instance is written with the instance (radmark.InstanceRecord's
// Linkage, QuarantineItem's Linkage), never on its own. Every mutation
// and every linkage look-up commits with its audit event. Drivers:
// internal/sqlstore (sqlite, postgres); conformance suite: storetest.
type Store interface {
	ProfileSource
	// PutDeidProfile stores version p.Version, which must be the current
	// version + 1 (ECONFLICT otherwise; ENOTFOUND for an unknown project).
	PutDeidProfile(ctx context.Context, project radmark.ID, p *Profile, ev *radmark.AuditEvent) error
	// DeidProfiles lists every version, oldest first.
	DeidProfiles(ctx context.Context, project radmark.ID) ([]*Profile, error)
	// DeidLinkage returns the sealed record of an instance (ENOTFOUND if
	// none); ev records the look-up in the same transaction.
	DeidLinkage(ctx context.Context, project radmark.ID, sopInstanceUID string, ev *radmark.AuditEvent) (keyID string, sealed []byte, err error)
	PutQuarantine(ctx context.Context, q *QuarantineItem, ev *radmark.AuditEvent) error
	Quarantine(ctx context.Context, project radmark.ID) ([]*QuarantineItem, error)
	// ReleaseQuarantine removes an item after review (ENOTFOUND if none).
	ReleaseQuarantine(ctx context.Context, project radmark.ID, sopInstanceUID string, ev *radmark.AuditEvent) error
	// RejectQuarantine removes an item that review discards, and its
	// linkage record with it unless the same instance is stored (released
	// earlier): an instance the project never holds keeps no original
	// identifiers (ENOTFOUND if none).
	RejectQuarantine(ctx context.Context, project radmark.ID, sopInstanceUID string, ev *radmark.AuditEvent) error
}
