package release

import (
	"context"
	"time"

	"github.com/radmark/radmark"
)

// Release is the record of one release; its files are in the blob store.
type Release struct {
	// ID is the sha256 of the manifest (hex).
	ID            string     `json:"id"`
	ProjectID     radmark.ID `json:"projectId"`
	SchemaVersion int        `json:"schemaVersion"`
	Selection     string     `json:"selection"`
	Seed          int64      `json:"seed"`
	Fractions     Fractions  `json:"fractions"`
	Stratify      bool       `json:"stratify"`
	// Cases counts the cases of each part (train, validation, test).
	Cases map[string]int `json:"cases"`
	// Files and Bytes count the files of the manifest and their bytes.
	Files int   `json:"files"`
	Bytes int64 `json:"bytes"`
	// Size and SHA256 describe the release's tar archive (blob
	// ArchiveKey(ID)).
	Size      int64     `json:"size"`
	SHA256    string    `json:"sha256"`
	CreatedAt time.Time `json:"createdAt"`
	CreatedBy string    `json:"createdBy"`
}

// ArchiveKey is the blob of a release's tar archive; ManifestKey its
// manifest.
func ArchiveKey(id string) string { return "releases/" + id + "/release.tar" }

// ManifestKey is the blob holding a release's manifest.json.
func ManifestKey(id string) string { return "releases/" + id + "/" + ManifestName }

// Validate checks a record before it is stored.
func (r *Release) Validate() error {
	switch {
	case !IsID(r.ID):
		return radmark.Errorf(radmark.EINVALID, "release id %q is not 64 hex digits", r.ID)
	case r.ProjectID == "":
		return radmark.Errorf(radmark.EINVALID, "release %s names no project", r.ID)
	case !IsID(r.SHA256) || r.Size <= 0:
		return radmark.Errorf(radmark.EINVALID, "release %s has no archive", r.ID)
	case r.CreatedBy == "":
		return radmark.Errorf(radmark.EINVALID, "release %s names no creator", r.ID)
	}
	return r.Fractions.Validate()
}

// Store keeps release records. There is no method to change or delete
// one: releases are immutable, and the drivers' tables refuse UPDATE and
// DELETE as well.
type Store interface {
	// PutRelease stores a new release with its audit event; ECONFLICT if
	// the id is already stored, ENOTFOUND if the project is unknown.
	PutRelease(ctx context.Context, r *Release, ev *radmark.AuditEvent) error
	// Release returns one release; ENOTFOUND if there is none.
	Release(ctx context.Context, id string) (*Release, error)
	// Releases lists a project's releases, newest first.
	Releases(ctx context.Context, project radmark.ID) ([]*Release, error)
}
