package annotation

import (
	"context"
	"fmt"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/labelmap"
)

// Project returns a project.
func (s *Service) Project(ctx context.Context, id radmark.ID) (*radmark.Project, error) {
	return s.Store.Project(ctx, id)
}

// Projects lists projects.
func (s *Service) Projects(ctx context.Context) ([]*radmark.Project, error) {
	return s.Store.Projects(ctx)
}

// Schema returns a schema version (0: the current one).
func (s *Service) Schema(ctx context.Context, project radmark.ID, version int) (*radmark.LabelSchema, error) {
	if _, err := s.Store.Project(ctx, project); err != nil {
		return nil, err
	}
	sc, err := s.Store.Schema(ctx, project, version)
	if radmark.ErrorCode(err) == radmark.ENOTFOUND {
		if version == 0 {
			return nil, radmark.Errorf(radmark.ENOTFOUND, "project %s has no label schema yet", project)
		}
		return nil, radmark.Errorf(radmark.ENOTFOUND, "project %s has no schema version %d", project, version)
	}
	return sc, err
}

// Set returns an annotation set.
func (s *Service) Set(ctx context.Context, id radmark.ID) (*radmark.AnnotationSet, error) {
	return s.Store.Set(ctx, id)
}

// Sets lists annotation sets.
func (s *Service) Sets(ctx context.Context, f radmark.SetFilter) ([]*radmark.AnnotationSet, error) {
	return s.Store.Sets(ctx, f)
}

// Revisions lists a set's history, newest first.
func (s *Service) Revisions(ctx context.Context, set radmark.ID) ([]*radmark.Revision, error) {
	if _, err := s.Store.Set(ctx, set); err != nil {
		return nil, err
	}
	return s.Store.Revisions(ctx, set)
}

// Revert makes a new revision of set whose content is that of an earlier
// revision target; parent must be the current head.
func (s *Service) Revert(ctx context.Context, op Op, set radmark.ID, parent, target radmark.ID, message string) (*radmark.Revision, error) {
	st, err := s.Store.Set(ctx, set)
	if err != nil {
		return nil, err
	}
	if parent != st.Head {
		return nil, conflict(st.Head, parent)
	}
	t, err := s.Store.Revision(ctx, target)
	if err != nil {
		return nil, err
	}
	if t.SetID != set {
		return nil, invalid("revision %s belongs to another annotation set", target)
	}
	head, err := s.Store.Revision(ctx, st.Head)
	if err != nil {
		return nil, err
	}
	if message == "" {
		message = fmt.Sprintf("revert to revision %d", t.Number)
	}
	return s.commit(ctx, op, st, head, t.Content, message, false, "revision.revert")
}

// Diff compares two revisions of one study: items, answers and, per
// labelmap layer and label value, the voxels added and removed.
func (s *Service) Diff(ctx context.Context, op Op, from, to radmark.ID) (*Diff, error) {
	a, err := s.Store.Revision(ctx, from)
	if err != nil {
		return nil, err
	}
	b, err := s.Store.Revision(ctx, to)
	if err != nil {
		return nil, err
	}
	if a.SetID != b.SetID {
		sa, err := s.Store.Set(ctx, a.SetID)
		if err != nil {
			return nil, err
		}
		sb, err := s.Store.Set(ctx, b.SetID)
		if err != nil {
			return nil, err
		}
		if sa.StudyUID != sb.StudyUID {
			return nil, invalid("revisions %s and %s annotate different studies", from, to)
		}
	}
	d := DiffContent(a.Content, b.Content)
	d.From, d.To = from, to
	layersA, layersB := map[int]*radmark.Labelmap{}, map[int]*radmark.Labelmap{}
	for i := range a.Content.Labelmaps {
		layersA[a.Content.Labelmaps[i].Layer] = &a.Content.Labelmaps[i]
	}
	for i := range b.Content.Labelmaps {
		layersB[b.Content.Labelmaps[i].Layer] = &b.Content.Labelmaps[i]
	}
	owner := map[radmark.SegmentRef]string{}
	for _, c := range []*radmark.Content{a.Content, b.Content} {
		for _, it := range c.Items {
			if it.Segment != nil {
				owner[*it.Segment] = it.ID
			}
		}
	}
	for layer := 0; layer < maxLayers; layer++ {
		ma, mb := layersA[layer], layersB[layer]
		if ma == nil && mb == nil {
			continue
		}
		// A layer present on one side only compares with an empty one.
		if ma == nil {
			if ma, err = labelmap.NewManifest(layer, mb.SeriesUID, labelmap.GridOf(mb)); err != nil {
				return nil, err
			}
		}
		if mb == nil {
			if mb, err = labelmap.NewManifest(layer, ma.SeriesUID, labelmap.GridOf(ma)); err != nil {
				return nil, err
			}
		}
		if labelmap.GridOf(ma) != labelmap.GridOf(mb) {
			return nil, invalid("labelmap layer %d has grid %s in one revision and %s in the other", layer, labelmap.GridOf(ma), labelmap.GridOf(mb))
		}
		ch, err := labelmap.Diff(ctx, s.Blobs, ma, mb)
		if err != nil {
			return nil, err
		}
		for _, vc := range ch.Values {
			d.Voxels = append(d.Voxels, VoxelChange{
				Layer: layer, Value: int(vc.Value), Item: owner[radmark.SegmentRef{Layer: layer, Value: int(vc.Value)}],
				Added: vc.Added, Removed: vc.Removed, Slices: vc.Slices,
			})
		}
	}
	if err := s.audited(ctx, op, "revision.diff", "revision", string(to), b.ContentHash); err != nil {
		return nil, err
	}
	return d, nil
}

// LabelmapSlice returns slice k of a revision's labelmap layer (an audited
// read), and the layer's manifest.
func (s *Service) LabelmapSlice(ctx context.Context, op Op, rev radmark.ID, layer, k int) ([]uint8, *radmark.Labelmap, error) {
	m, err := s.labelmapOf(ctx, rev, layer)
	if err != nil {
		return nil, nil, err
	}
	if k < 0 || k >= m.Slices {
		return nil, nil, radmark.Errorf(radmark.ENOTFOUND, "slice %d is outside 0..%d", k, m.Slices-1)
	}
	data, err := labelmap.LoadSlice(ctx, s.Blobs, m, k)
	if err != nil {
		return nil, nil, err
	}
	return data, m, s.audited(ctx, op, "labelmap.read", "revision", string(rev), "")
}

// Labelmap returns a revision's whole labelmap layer (an audited read).
func (s *Service) Labelmap(ctx context.Context, op Op, rev radmark.ID, layer int) (*labelmap.Volume, *radmark.Labelmap, error) {
	m, err := s.labelmapOf(ctx, rev, layer)
	if err != nil {
		return nil, nil, err
	}
	v, err := labelmap.Load(ctx, s.Blobs, m)
	if err != nil {
		return nil, nil, err
	}
	return v, m, s.audited(ctx, op, "labelmap.read", "revision", string(rev), "")
}

func (s *Service) labelmapOf(ctx context.Context, rev radmark.ID, layer int) (*radmark.Labelmap, error) {
	r, err := s.Store.Revision(ctx, rev)
	if err != nil {
		return nil, err
	}
	for i := range r.Content.Labelmaps {
		if r.Content.Labelmaps[i].Layer == layer {
			return &r.Content.Labelmaps[i], nil
		}
	}
	return nil, radmark.Errorf(radmark.ENOTFOUND, "revision %s has no labelmap layer %d", rev, layer)
}

// Audit returns audit events.
func (s *Service) Audit(ctx context.Context, f radmark.AuditFilter) ([]*radmark.AuditEvent, error) {
	return s.Store.AuditEvents(ctx, f)
}

// VerifyAudit checks the whole chain: it returns how many events it read
// and the first broken link (nil if the chain holds).
func (s *Service) VerifyAudit(ctx context.Context) (int64, *radmark.AuditBreak, error) {
	v := radmark.NewAuditVerifier()
	var broken *radmark.AuditBreak
	err := s.Store.ScanAudit(ctx, func(e *radmark.AuditEvent) error {
		if b := v.Next(e); b != nil && broken == nil {
			broken = b
		}
		return nil
	})
	return v.Count(), broken, err
}
