package annotation

import (
	"encoding/json"
	"fmt"
	"sort"

	"github.com/radmark/radmark"
)

// ItemChange is one item that differs between two revisions.
type ItemChange struct {
	ID     string        `json:"id"`
	Before *radmark.Item `json:"before,omitempty"`
	After  *radmark.Item `json:"after,omitempty"`
	// Fields names what changed for a changed item (label, points...).
	Fields []string `json:"fields,omitempty"`
}

// AnswerChange is one answer that differs.
type AnswerChange struct {
	Target string          `json:"target"` // question and what it is about
	Before *radmark.Answer `json:"before,omitempty"`
	After  *radmark.Answer `json:"after,omitempty"`
}

// Diff compares two revisions' content.
type Diff struct {
	From                 radmark.ID     `json:"from"`
	To                   radmark.ID     `json:"to"`
	SchemaVersionChanged bool           `json:"schemaVersionChanged,omitempty"`
	Added                []ItemChange   `json:"added"`
	Removed              []ItemChange   `json:"removed"`
	Changed              []ItemChange   `json:"changed"`
	Answers              []AnswerChange `json:"answers"`
	// Voxels holds the labelmap changes per layer and value, filled by the
	// caller that can read labelmaps.
	Voxels []VoxelChange `json:"voxels"`
}

// VoxelChange counts changed voxels of one label value in one layer.
type VoxelChange struct {
	Layer   int    `json:"layer"`
	Value   int    `json:"value"`
	Item    string `json:"item,omitempty"` // the segmentation item owning the value, if any
	Added   int64  `json:"added"`
	Removed int64  `json:"removed"`
	Slices  []int  `json:"slices"` // slices where it changed
}

// DiffContent compares items and answers of two contents. Items match by
// id; answers by question and target.
func DiffContent(from, to *radmark.Content) *Diff {
	d := &Diff{Added: []ItemChange{}, Removed: []ItemChange{}, Changed: []ItemChange{}, Answers: []AnswerChange{}, Voxels: []VoxelChange{}}
	d.SchemaVersionChanged = from.SchemaVersion != to.SchemaVersion
	before := map[string]*radmark.Item{}
	for i := range from.Items {
		before[from.Items[i].ID] = &from.Items[i]
	}
	after := map[string]*radmark.Item{}
	for i := range to.Items {
		it := &to.Items[i]
		after[it.ID] = it
		b, ok := before[it.ID]
		switch {
		case !ok:
			d.Added = append(d.Added, ItemChange{ID: it.ID, After: it})
		default:
			if fields := changedFields(b, it); len(fields) > 0 {
				d.Changed = append(d.Changed, ItemChange{ID: it.ID, Before: b, After: it, Fields: fields})
			}
		}
	}
	for i := range from.Items {
		if it := &from.Items[i]; after[it.ID] == nil {
			d.Removed = append(d.Removed, ItemChange{ID: it.ID, Before: it})
		}
	}
	ab, aa := answerMap(from.Answers), answerMap(to.Answers)
	keys := map[string]bool{}
	for k := range ab {
		keys[k] = true
	}
	for k := range aa {
		keys[k] = true
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	for _, k := range sorted {
		b, a := ab[k], aa[k]
		if b != nil && a != nil && jsonEqual(b, a) {
			continue
		}
		d.Answers = append(d.Answers, AnswerChange{Target: k, Before: b, After: a})
	}
	return d
}

func answerMap(as []radmark.Answer) map[string]*radmark.Answer {
	m := map[string]*radmark.Answer{}
	for i := range as {
		a := &as[i]
		key := a.Question
		switch {
		case a.SeriesUID != "":
			key += " series " + string(a.SeriesUID)
		case a.Image != nil:
			key += fmt.Sprintf(" image %s/%d", a.Image.SOPInstanceUID, a.Image.Frame)
		case a.Item != "":
			key += " item " + a.Item
		}
		m[key] = a
	}
	return m
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// changedFields names the fields that differ between two versions of an
// item.
func changedFields(a, b *radmark.Item) []string {
	var out []string
	add := func(name string, x, y any) {
		if !jsonEqual(x, y) {
			out = append(out, name)
		}
	}
	add("kind", a.Kind, b.Kind)
	add("label", a.Label, b.Label)
	add("source", a.Source, b.Source)
	add("confidence", a.Confidence, b.Confidence)
	add("author", a.Author, b.Author)
	add("image", a.Image, b.Image)
	add("points", a.Points, b.Points)
	add("lps", a.LPS, b.LPS)
	add("closed", a.Closed, b.Closed)
	add("segment", a.Segment, b.Segment)
	add("note", a.Note, b.Note)
	return out
}
