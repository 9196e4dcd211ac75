package annotation

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/radmark/radmark"
)

// Store is what the annotation service needs of the metadata store.
type Store interface {
	radmark.ProjectStore
	radmark.AnnotationStore
	radmark.AuditStore
}

// Service runs annotation work: projects and schemas, annotation sets and
// revisions, measurements. Every mutation is stored with its audit event
// in one transaction; reads of annotations are audited too.
type Service struct {
	Store Store
	// Blobs keeps labelmap chunks (content-addressed, shared by revisions).
	Blobs radmark.BlobStore
	// Images gives the geometry and pixels of archived images; nil skips
	// geometry checks (tests of pure logic only).
	Images Images
	Now    func() time.Time
}

// Op says who does something and in which request, for the audit trail.
type Op struct {
	Actor     string
	RequestID string
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

// NewID returns a new UUIDv7 identifier.
func NewID() radmark.ID {
	id, err := uuid.NewV7()
	if err != nil {
		// Only a broken random source fails here.
		panic(fmt.Sprintf("annotation: new id: %v", err))
	}
	return radmark.ID(id.String())
}

func (s *Service) event(op Op, action, objectType, objectID, before, after, detail string) *radmark.AuditEvent {
	actor := op.Actor
	if actor == "" {
		actor = "anonymous"
	}
	return &radmark.AuditEvent{
		ID: NewID(), Time: s.now(), Actor: actor, Action: action, ObjectType: objectType,
		ObjectID: objectID, BeforeHash: before, AfterHash: after, RequestID: op.RequestID, Detail: detail,
	}
}

// audited records a read.
func (s *Service) audited(ctx context.Context, op Op, action, objectType, objectID, hash string) error {
	if err := s.Store.AppendAudit(ctx, s.event(op, action, objectType, objectID, "", hash, "")); err != nil {
		return fmt.Errorf("audit %s: %w", action, err)
	}
	return nil
}

// CreateProject makes a project with no schema yet.
func (s *Service) CreateProject(ctx context.Context, op Op, name, description string) (*radmark.Project, error) {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 200 {
		return nil, invalid("a project needs a name of 1-200 characters")
	}
	p := &radmark.Project{ID: NewID(), Name: name, Description: description, CreatedAt: s.now(), CreatedBy: op.Actor}
	if err := s.Store.CreateProject(ctx, p, s.event(op, "project.create", "project", string(p.ID), "", hashJSON(p), "")); err != nil {
		return nil, err
	}
	return p, nil
}

// UpdateProject renames or re-describes a project.
func (s *Service) UpdateProject(ctx context.Context, op Op, id radmark.ID, name, description *string) (*radmark.Project, error) {
	p, err := s.Store.Project(ctx, id)
	if err != nil {
		return nil, err
	}
	before := hashJSON(p)
	if name != nil {
		if n := strings.TrimSpace(*name); n == "" || len(n) > 200 {
			return nil, invalid("a project needs a name of 1-200 characters")
		} else {
			p.Name = n
		}
	}
	if description != nil {
		p.Description = *description
	}
	if err := s.Store.UpdateProject(ctx, p, s.event(op, "project.update", "project", string(p.ID), before, hashJSON(p), "")); err != nil {
		return nil, err
	}
	return p, nil
}

// PutSchema stores a new version of a project's label schema. base is the
// version the editor started from (the current one, else ECONFLICT).
func (s *Service) PutSchema(ctx context.Context, op Op, project radmark.ID, base int, labels []radmark.Label, questions []radmark.Question) (*radmark.LabelSchema, error) {
	if err := ValidateSchema(labels, questions); err != nil {
		return nil, err
	}
	p, err := s.Store.Project(ctx, project)
	if err != nil {
		return nil, err
	}
	if base != p.SchemaVersion {
		return nil, radmark.Errorf(radmark.ECONFLICT, "the schema is at version %d, not %d: reload it and apply the change again", p.SchemaVersion, base)
	}
	if labels == nil {
		labels = []radmark.Label{}
	}
	sc := &radmark.LabelSchema{ProjectID: project, Version: base + 1, Labels: labels, Questions: questions,
		CreatedAt: s.now(), CreatedBy: op.Actor, Hash: SchemaHash(labels, questions)}
	prev := ""
	if base > 0 {
		if old, err := s.Store.Schema(ctx, project, base); err == nil {
			prev = old.Hash
		}
	}
	ev := s.event(op, "schema.put", "project", string(project), prev, sc.Hash, fmt.Sprintf("version %d", sc.Version))
	if err := s.Store.PutSchema(ctx, sc, ev); err != nil {
		return nil, err
	}
	return sc, nil
}

// CreateSet opens an annotation set for reader (the actor when empty) on
// a study, or one series of it.
func (s *Service) CreateSet(ctx context.Context, op Op, project radmark.ID, study, series radmark.UID, reader string) (*radmark.AnnotationSet, error) {
	if reader == "" {
		reader = op.Actor
	}
	if reader == "" {
		return nil, invalid("an annotation set needs a reader")
	}
	if _, err := s.Store.Project(ctx, project); err != nil {
		return nil, err
	}
	if s.Images != nil {
		if err := s.Images.CheckStudy(ctx, study, series); err != nil {
			return nil, err
		}
	}
	now := s.now()
	set := &radmark.AnnotationSet{ID: NewID(), ProjectID: project, StudyUID: study, SeriesUID: series, Reader: reader, CreatedAt: now, UpdatedAt: now}
	if err := s.Store.CreateSet(ctx, set, s.event(op, "set.create", "annotation_set", string(set.ID), "", hashJSON(set), "")); err != nil {
		return nil, err
	}
	return set, nil
}

// Revision returns a revision with its content (an audited read).
func (s *Service) Revision(ctx context.Context, op Op, id radmark.ID) (*radmark.Revision, error) {
	r, err := s.Store.Revision(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := s.audited(ctx, op, "revision.read", "revision", string(r.ID), r.ContentHash); err != nil {
		return nil, err
	}
	return r, nil
}

func asHeadConflict(err error, target **radmark.HeadConflict) bool { return errors.As(err, target) }
