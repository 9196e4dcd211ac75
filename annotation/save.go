package annotation

import (
	"context"
	"fmt"
	"sort"
	"strconv"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/labelmap"
)

// LabelmapEdit changes one labelmap layer in a save. Slices maps slice
// index k (as a decimal string, since JSON object keys are strings) to the
// slice's data in Encoding: "raw" (Columns×Rows bytes, column fastest),
// "rle" (labelmap.EncodeRuns' run code) or "chunk" (a labelmap chunk). Only
// the slices given change; an all-zero slice clears it.
type LabelmapEdit struct {
	Layer     int               `json:"layer"`
	SeriesUID radmark.UID       `json:"seriesUID"`
	Columns   int               `json:"columns"`
	Rows      int               `json:"rows"`
	Slices    int               `json:"slices"`
	Encoding  string            `json:"encoding"`
	Data      map[string][]byte `json:"data,omitempty"`
	// Replace starts from an empty layer instead of the parent's; Remove
	// drops the layer.
	Replace bool `json:"replace,omitempty"`
	Remove  bool `json:"remove,omitempty"`
}

// SaveRequest is one save of an annotation set: the complete list of
// items and answers (the revision is a snapshot), and the labelmap slices
// that changed since Parent.
type SaveRequest struct {
	// Parent is the revision the change was made on: the set's head
	// ("" for the first save). A stale parent is a conflict.
	Parent  radmark.ID `json:"parent"`
	Message string     `json:"message,omitempty"`
	// Submit declares the annotation complete: required questions must be
	// answered.
	Submit bool `json:"submit,omitempty"`
	// SchemaVersion the content follows; 0 means the project's current one.
	SchemaVersion int              `json:"schemaVersion,omitempty"`
	Items         []radmark.Item   `json:"items"`
	Answers       []radmark.Answer `json:"answers,omitempty"`
	Labelmaps     []LabelmapEdit   `json:"labelmaps,omitempty"`
}

// ConflictError is returned by Save for a stale parent: it carries the
// set's head, so the client can show the other writer's change.
type ConflictError struct {
	Head     radmark.ID
	Expected radmark.ID
}

func (e *ConflictError) Error() string {
	if e.Expected == "" {
		return fmt.Sprintf("the annotation set already has revision %s; base the change on it", e.Head)
	}
	return fmt.Sprintf("revision %s is not the head of the annotation set any more (the head is %s); reload and apply the change again", e.Expected, e.Head)
}

func conflict(head, expected radmark.ID) error {
	ce := &ConflictError{Head: head, Expected: expected}
	return &radmark.Error{Code: radmark.ECONFLICT, Message: ce.Error(), Err: ce}
}

// Save stores a new revision of set id. Nothing is stored unless every
// check passes and the parent is still the head; labelmap chunks written
// for a save that then fails are unreferenced (and shared by content, so
// a retry reuses them).
func (s *Service) Save(ctx context.Context, op Op, id radmark.ID, req *SaveRequest) (*radmark.Revision, error) {
	set, err := s.Store.Set(ctx, id)
	if err != nil {
		return nil, err
	}
	if req.Parent != set.Head {
		return nil, conflict(set.Head, req.Parent)
	}
	schema, err := s.schemaFor(ctx, set.ProjectID, req.SchemaVersion)
	if err != nil {
		return nil, err
	}
	var parent *radmark.Revision
	if req.Parent != "" {
		if parent, err = s.Store.Revision(ctx, req.Parent); err != nil {
			return nil, err
		}
	}
	content := &radmark.Content{SchemaVersion: schema.Version, Items: req.Items, Answers: req.Answers}
	if content.Items == nil {
		content.Items = []radmark.Item{}
	}
	var base *radmark.Content
	if parent != nil {
		base = parent.Content
	}
	stampAuthors(content, base, op.Actor)
	if content.Labelmaps, err = s.applyLabelmapEdits(ctx, set, base, req.Labelmaps); err != nil {
		return nil, err
	}
	if err := ValidateContent(content, schema, req.Submit); err != nil {
		return nil, err
	}
	if err := s.checkGeometry(ctx, set, content); err != nil {
		return nil, err
	}
	return s.commit(ctx, op, set, parent, content, req.Message, req.Submit, "revision.save")
}

// commit stores content as the set's next revision after parent.
func (s *Service) commit(ctx context.Context, op Op, set *radmark.AnnotationSet, parent *radmark.Revision, content *radmark.Content, message string, submit bool, action string) (*radmark.Revision, error) {
	rev := &radmark.Revision{
		ID: NewID(), SetID: set.ID, Author: op.Actor, CreatedAt: s.now(), Message: message,
		Submitted: submit, ContentHash: ContentHash(content), Content: content,
	}
	before := ""
	if parent != nil {
		rev.Parent = parent.ID
		before = parent.ContentHash
	}
	ev := s.event(op, action, "annotation_set", string(set.ID), before, rev.ContentHash, "revision "+string(rev.ID))
	if err := s.Store.SaveRevision(ctx, rev, ev); err != nil {
		var hc *radmark.HeadConflict
		if asHeadConflict(err, &hc) {
			return nil, conflict(hc.Head, hc.Expected)
		}
		return nil, err
	}
	return rev, nil
}

func (s *Service) schemaFor(ctx context.Context, project radmark.ID, version int) (*radmark.LabelSchema, error) {
	sc, err := s.Store.Schema(ctx, project, version)
	if radmark.ErrorCode(err) == radmark.ENOTFOUND {
		if version == 0 {
			return nil, invalid("the project has no label schema yet; define one before annotating")
		}
		return nil, invalid("the project has no schema version %d", version)
	}
	return sc, err
}

// stampAuthors sets the author of every item and answer that is new or
// changed since base to actor, and keeps the original author of the rest:
// authorship is not the client's to claim.
func stampAuthors(c *radmark.Content, base *radmark.Content, actor string) {
	oldItems := map[string]radmark.Item{}
	oldAnswers := map[string]radmark.Answer{}
	if base != nil {
		for _, it := range base.Items {
			oldItems[it.ID] = it
		}
		for _, a := range base.Answers {
			oldAnswers[answerKey(&a)] = a
		}
	}
	for i := range c.Items {
		it := &c.Items[i]
		if old, ok := oldItems[it.ID]; ok {
			it.Author = old.Author
			if len(changedFields(&old, it)) == 0 {
				continue
			}
		}
		it.Author = actor
	}
	for i := range c.Answers {
		a := &c.Answers[i]
		if old, ok := oldAnswers[answerKey(a)]; ok {
			a.Author = old.Author
			if jsonEqual(old, *a) {
				continue
			}
		}
		a.Author = actor
	}
}

func answerKey(a *radmark.Answer) string {
	k := a.Question + "|" + string(a.SeriesUID) + "|" + a.Item
	if a.Image != nil {
		k += "|" + string(a.Image.SOPInstanceUID) + "/" + strconv.Itoa(a.Image.Frame)
	}
	return k
}

// applyLabelmapEdits returns the labelmaps of the new revision: base's
// with the edits applied. Only changed slices are written.
func (s *Service) applyLabelmapEdits(ctx context.Context, set *radmark.AnnotationSet, base *radmark.Content, edits []LabelmapEdit) ([]radmark.Labelmap, error) {
	layers := map[int]*radmark.Labelmap{}
	if base != nil {
		for i := range base.Labelmaps {
			m := base.Labelmaps[i]
			layers[m.Layer] = &m
		}
	}
	seen := map[int]bool{}
	for _, e := range edits {
		what := fmt.Sprintf("labelmap layer %d", e.Layer)
		if seen[e.Layer] {
			return nil, invalid("%s is edited twice in one save", what)
		}
		seen[e.Layer] = true
		if e.Layer < 0 || e.Layer >= maxLayers {
			return nil, invalid("%s: layers are 0..%d", what, maxLayers-1)
		}
		if e.Remove {
			delete(layers, e.Layer)
			continue
		}
		if set.SeriesUID != "" && e.SeriesUID != set.SeriesUID {
			return nil, invalid("%s: labelmaps of this set are on series %s, not %q", what, set.SeriesUID, e.SeriesUID)
		}
		grid := labelmap.Grid{Columns: e.Columns, Rows: e.Rows, Slices: e.Slices}
		if err := grid.Validate(); err != nil {
			return nil, invalid("%s: %v", what, radmark.ErrorMessage(err))
		}
		if err := s.checkLabelmapGrid(ctx, set.StudyUID, e.SeriesUID, grid); err != nil {
			return nil, err
		}
		m := layers[e.Layer]
		if m != nil && (m.SeriesUID != e.SeriesUID || labelmap.GridOf(m) != grid) {
			if !e.Replace {
				return nil, invalid("%s: the layer is a %s labelmap on series %s; an edit of a %s labelmap on %s must replace it", what, labelmap.GridOf(m), m.SeriesUID, grid, e.SeriesUID)
			}
		}
		if m == nil || e.Replace {
			nm, err := labelmap.NewManifest(e.Layer, e.SeriesUID, grid)
			if err != nil {
				return nil, invalid("%s: %v", what, radmark.ErrorMessage(err))
			}
			m = nm
		}
		changed := map[int][]uint8{}
		for key, data := range e.Data {
			k, err := strconv.Atoi(key)
			if err != nil || k < 0 || k >= grid.Slices {
				return nil, invalid("%s: slice %q is not an index 0..%d", what, key, grid.Slices-1)
			}
			var slice []uint8
			switch e.Encoding {
			case "raw":
				if len(data) != grid.SliceLen() {
					return nil, invalid("%s slice %d: %d bytes, a %d×%d slice has %d", what, k, len(data), grid.Columns, grid.Rows, grid.SliceLen())
				}
				slice = data
			case "rle":
				slice, err = labelmap.DecodeRuns(data, grid.Columns, grid.Rows)
			case "chunk":
				slice, err = labelmap.DecodeSlice(data, grid.Columns, grid.Rows)
			default:
				return nil, invalid("%s: encoding %q is not raw, rle or chunk", what, e.Encoding)
			}
			if err != nil {
				return nil, invalid("%s slice %d: %v", what, k, err)
			}
			changed[k] = slice
		}
		nm, err := labelmap.Save(ctx, s.Blobs, m, changed)
		if err != nil {
			return nil, err
		}
		layers[e.Layer] = nm
	}
	out := make([]radmark.Labelmap, 0, len(layers))
	for _, m := range layers {
		out = append(out, *m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Layer < out[j].Layer })
	return out, nil
}
