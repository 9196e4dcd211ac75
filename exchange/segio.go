package exchange

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/annotation"
	"github.com/radmark/radmark/dicom"
	"github.com/radmark/radmark/labelmap"
	"github.com/radmark/radmark/seg"
)

// algorithmOf maps an item's source to a SEG algorithm type: a model's
// output is AUTOMATIC, a person working with a named tool SEMIAUTOMATIC,
// a person alone MANUAL.
func algorithmOf(src radmark.Source) (typ, name string) {
	switch {
	case src.Type == "model":
		return seg.Automatic, strings.TrimSpace(src.Name + " " + src.Version)
	case src.Name != "":
		return seg.Semiautomatic, strings.TrimSpace(src.Name + " " + src.Version)
	}
	return seg.Manual, ""
}

// sourceOf is algorithmOf's inverse.
func sourceOf(typ, name string) radmark.Source {
	name = strings.TrimSpace(name)
	switch typ {
	case seg.Automatic:
		if name == "" {
			name = "unknown"
		}
		n, v, ok := strings.Cut(name, " ")
		if i := strings.LastIndex(name, " "); i > 0 {
			n, v, ok = name[:i], name[i+1:], true
		}
		if !ok || v == "" {
			v = "unknown"
		}
		return radmark.Source{Type: "model", Name: n, Version: v}
	case seg.Semiautomatic:
		n, v, _ := strings.Cut(name, " ")
		if i := strings.LastIndex(name, " "); i > 0 {
			n, v = name[:i], name[i+1:]
		}
		return radmark.Source{Type: "human", Name: n, Version: v}
	}
	return radmark.Source{Type: "human"}
}

// SEG returns a revision's segmentation on a series as a binary DICOM
// SEG: one segment per segmentation item, coded from its label.
func (s *Service) SEG(ctx context.Context, op annotation.Op, rev radmark.ID, series radmark.UID) (*dicom.Dataset, error) {
	r, sr, err := s.revisionOn(ctx, op, rev, series)
	if err != nil {
		return nil, err
	}
	layers, err := s.layers(ctx, op, r, sr)
	if err != nil {
		return nil, err
	}
	var segs []seg.Segment
	named := map[radmark.SegmentRef]bool{}
	for _, it := range segmentItems(r.rev.Content, layers) {
		l, ok := labelOf(r.schema, it.Label)
		if !ok {
			return nil, radmark.Errorf(radmark.EINVALID, "item %q has label %q, which schema version %d does not define", it.ID, it.Label, r.schema.Version)
		}
		alg, name := algorithmOf(it.Source)
		named[*it.Segment] = true
		segs = append(segs, seg.Segment{Number: len(segs) + 1, Label: l.Name, Description: it.Note,
			Category: l.Category, Type: l.Type, TypeModifier: l.TypeModifier, AnatomicRegion: l.AnatomicRegion,
			AnatomicRegionModifier: l.AnatomicRegionModifier, Algorithm: alg, AlgorithmName: name, Color: l.Color,
			Layer: it.Segment.Layer, Value: uint8(it.Segment.Value)})
	}
	if err := checkNamed(layers, named); err != nil {
		return nil, err
	}
	key := []string{string(r.rev.ID), r.rev.ContentHash, string(sr.UID)}
	created := r.rev.CreatedAt.UTC()
	opt := seg.Options{
		SOPInstanceUID:    seg.UID(append([]string{"seg-instance"}, key...)...),
		SeriesInstanceUID: seg.UID(append([]string{"seg-series"}, key...)...),
		SeriesNumber:      9900 + r.rev.Number%100,
		SeriesDescription: truncate(fmt.Sprintf("radmark segmentation, %s revision %d", r.set.Reader, r.rev.Number), 64),
		ContentLabel:      "RADMARK_SEG",
		ContentCreator:    personName(r.rev.Author),
		Date:              created.Format("20060102"),
		Time:              created.Format("150405"),
		SoftwareVersion:   s.Software,
	}
	return seg.Encode(seg.Series{Grid: sr.Volume.Grid, Header: sr.Header, SOPClass: sr.SOPClass, SeriesUID: sr.UID}, layers, segs, opt)
}

// personName makes an actor name a valid PN value (no value or group
// separators, at most 64 characters).
func personName(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '\\' || r == '=' || r < ' ' {
			return '_'
		}
		return r
	}, s)
	s = truncate(s, 63)
	if s != "" && !strings.Contains(s, "^") {
		// The actor is the family name component; without a caret
		// dciodvfy reads it as the retired free-text form.
		s += "^"
	}
	return s
}

// checkNamed refuses labelmap values no segmentation item names: their
// voxels would silently vanish from an export.
func checkNamed(layers map[int]*labelmap.Volume, named map[radmark.SegmentRef]bool) error {
	for _, ly := range sortedLayers(layers) {
		counts := layers[ly].Counts()
		for v := 1; v < 256; v++ {
			if counts[v] > 0 && !named[radmark.SegmentRef{Layer: ly, Value: v}] {
				return radmark.Errorf(radmark.EINVALID, "labelmap layer %d has %d voxels of value %d but no segmentation item names them; label them before exporting", ly, counts[v], v)
			}
		}
	}
	return nil
}

func sortedLayers(m map[int]*labelmap.Volume) []int {
	var out []int
	for l := range m {
		out = append(out, l)
	}
	sort.Ints(out)
	return out
}

// ImportOptions say where an import goes.
type ImportOptions struct {
	Project radmark.ID
	// Reader owns the annotation set the revision is saved in (created
	// when the project has none for the series and reader).
	Reader string
	// Series overrides the series a SEG references (a NIfTI needs it).
	Series radmark.UID
	// AddLabels adds labels for codes the schema lacks instead of
	// refusing them.
	AddLabels bool
	// Source of NIfTI items (a SEG's segments carry their own).
	Source  radmark.Source
	Message string
	// MayWrite, when set, decides whether the import may write into the
	// reader's set on the series (exists=false: the set would be
	// created, and set has no id yet). It is asked as soon as the series
	// is known, before anything is written (labels added to the schema
	// included), and again just before the save. The server asks the
	// workflow's rules through it (blinding, submitted reads, cases
	// written through tasks only), as it does for a save.
	MayWrite func(ctx context.Context, set *radmark.AnnotationSet, exists bool) error
}

// ImportSEG places a SEG on its referenced series and saves its segments
// as a new revision of the reader's annotation set: one labelmap layer
// per group of non-overlapping segments, one segmentation item per
// segment, labelled by matching its coded category and type to the
// project's labels. The revision's segmentation on that series is
// replaced; its other items are kept.
func (s *Service) ImportSEG(ctx context.Context, op annotation.Op, data []byte, opt ImportOptions) (*radmark.Revision, error) {
	f, err := dicom.ParseBytes(data, dicom.ParseOptions{})
	if err != nil {
		return nil, radmark.WrapError(radmark.EINVALID, err, "parse the SEG")
	}
	h, err := seg.ReadHeader(f.Dataset)
	if err != nil {
		return nil, err
	}
	series := opt.Series
	if series == "" {
		series = h.SeriesUID
	}
	if series == "" {
		return nil, radmark.Errorf(radmark.EINVALID, "the SEG names no referenced series; give it with --series")
	}
	sr, err := s.Series(ctx, series)
	if err != nil {
		return nil, fmt.Errorf("the SEG's referenced series: %w", err)
	}
	if h.StudyUID != "" && h.StudyUID != sr.Study {
		return nil, radmark.Errorf(radmark.EINVALID, "the SEG belongs to study %s but series %s is in study %s", h.StudyUID, series, sr.Study)
	}
	if _, err := s.targetSet(ctx, op, opt, sr); err != nil {
		return nil, err
	}
	dec, err := seg.Decode(f, sr.Volume.Grid)
	if err != nil {
		return nil, err
	}
	schema, err := s.Annotations.Schema(ctx, opt.Project, 0)
	if err != nil {
		return nil, fmt.Errorf("project %s: %w", opt.Project, err)
	}
	labels := make([]string, len(dec.Segments))
	var unknown []seg.Segment
	for i, sg := range dec.Segments {
		if id, ok := matchLabel(schema, sg); ok {
			labels[i] = id
		} else {
			unknown = append(unknown, sg)
		}
	}
	if len(unknown) > 0 {
		if !opt.AddLabels {
			var names []string
			for _, sg := range unknown {
				names = append(names, fmt.Sprintf("segment %d %q (category %s, type %s)", sg.Number, sg.Label, fmtCode(sg.Category), fmtCode(sg.Type)))
			}
			return nil, radmark.Errorf(radmark.EINVALID, "the project's schema has no segmentation label for %s; add them to the schema or import with --add-labels", strings.Join(names, "; "))
		}
		if schema, err = s.addLabels(ctx, op, schema, unknown); err != nil {
			return nil, err
		}
		for i, sg := range dec.Segments {
			if labels[i] == "" {
				labels[i], _ = matchLabel(schema, sg)
			}
		}
	}
	var items []radmark.Item
	for i, sg := range dec.Segments {
		items = append(items, radmark.Item{Kind: radmark.KindSegmentation, Label: labels[i],
			Source: sourceOf(sg.Algorithm, sg.AlgorithmName), Note: sg.Description,
			Segment: &radmark.SegmentRef{Layer: sg.Layer, Value: int(sg.Value)}})
	}
	msg := opt.Message
	if msg == "" {
		msg = "import DICOM SEG " + h.SOPInstanceUID
	}
	return s.saveSegmentation(ctx, op, opt, sr, schema, dec.Layers, items, msg)
}

func fmtCode(c radmark.Code) string { return fmt.Sprintf("(%s, %s, %q)", c.Value, c.Scheme, c.Meaning) }

func sameCode(a, b radmark.Code) bool {
	return strings.EqualFold(strings.TrimSpace(a.Value), strings.TrimSpace(b.Value)) && strings.EqualFold(normScheme(a.Scheme), normScheme(b.Scheme))
}

// normScheme treats the retired SNOMED designators as SCT.
func normScheme(s string) string {
	s = strings.ToUpper(strings.TrimSpace(s))
	if s == "SRT" || s == "SNM3" {
		return "SCT"
	}
	return s
}

func sameOptional(a, b *radmark.Code) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return sameCode(*a, *b)
}

// matchLabel finds the segmentation label of a segment by its codes:
// category and type must match; among several, the one whose type
// modifier and anatomic region match too.
func matchLabel(sc *radmark.LabelSchema, sg seg.Segment) (string, bool) {
	best, bestScore := "", -1
	for _, l := range sc.Labels {
		if !allows(l, radmark.KindSegmentation) || !sameCode(l.Category, sg.Category) || !sameCode(l.Type, sg.Type) {
			continue
		}
		score := 0
		if sameOptional(l.TypeModifier, sg.TypeModifier) {
			score += 2
		}
		if sameOptional(l.AnatomicRegion, sg.AnatomicRegion) {
			score++
		}
		if score > bestScore {
			best, bestScore = l.ID, score
		}
	}
	return best, bestScore >= 0
}

func allows(l radmark.Label, k radmark.Kind) bool {
	for _, x := range l.Kinds {
		if x == k {
			return true
		}
	}
	return false
}

// addLabels stores a new schema version with a label for each segment's
// codes.
func (s *Service) addLabels(ctx context.Context, op annotation.Op, sc *radmark.LabelSchema, segs []seg.Segment) (*radmark.LabelSchema, error) {
	labels := append([]radmark.Label(nil), sc.Labels...)
	taken := map[string]bool{}
	for _, l := range labels {
		taken[l.ID] = true
	}
	for _, sg := range segs {
		if _, ok := matchLabel(&radmark.LabelSchema{Labels: labels}, sg); ok {
			continue // two segments with the same codes
		}
		base := slug(sg.Type.Meaning)
		if base == "" {
			base = "segment"
		}
		id := base
		for n := 2; taken[id]; n++ {
			id = fmt.Sprintf("%s-%d", base, n)
		}
		taken[id] = true
		name := sg.Label
		if name == "" {
			name = sg.Type.Meaning
		}
		color := sg.Color
		if color == "" {
			color = "#ffff00"
		}
		labels = append(labels, radmark.Label{ID: id, Name: name, Color: color, Category: sg.Category, Type: sg.Type,
			TypeModifier: sg.TypeModifier, AnatomicRegion: sg.AnatomicRegion, AnatomicRegionModifier: sg.AnatomicRegionModifier,
			Kinds: []radmark.Kind{radmark.KindSegmentation}})
	}
	return s.Annotations.PutSchema(ctx, op, sc.ProjectID, sc.Version, labels, sc.Questions)
}

func slug(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
			dash = false
		} else if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
	}
	return strings.Trim(b.String(), "-")
}

// targetSet finds the import's reader's annotation set on a series or on
// its whole study (nil: there is none yet) and asks opt.MayWrite whether the import may write
// into it, or create it.
func (s *Service) targetSet(ctx context.Context, op annotation.Op, opt ImportOptions, sr *Series) (*radmark.AnnotationSet, error) {
	reader := opt.Reader
	if reader == "" {
		reader = op.Actor
	}
	sets, err := s.Annotations.Sets(ctx, radmark.SetFilter{ProjectID: opt.Project, StudyUID: sr.Study, Reader: reader})
	if err != nil {
		return nil, err
	}
	// The reader's set on the series, else their set on the whole study
	// (a workflow case of a study reads into one).
	var set *radmark.AnnotationSet
	for _, st := range sets {
		if st.SeriesUID == sr.UID || (st.SeriesUID == "" && set == nil) {
			set = st
		}
	}
	if opt.MayWrite != nil {
		check := set
		if check == nil {
			check = &radmark.AnnotationSet{ProjectID: opt.Project, StudyUID: sr.Study, SeriesUID: sr.UID, Reader: reader}
		}
		if err := opt.MayWrite(ctx, check, set != nil); err != nil {
			return nil, err
		}
	}
	return set, nil
}

// readerSet is the import's reader's annotation set on a series, created
// when there is none (both only when opt.MayWrite allows it).
func (s *Service) readerSet(ctx context.Context, op annotation.Op, opt ImportOptions, sr *Series) (*radmark.AnnotationSet, error) {
	set, err := s.targetSet(ctx, op, opt, sr)
	if err != nil || set != nil {
		return set, err
	}
	reader := opt.Reader
	if reader == "" {
		reader = op.Actor
	}
	return s.Annotations.CreateSet(ctx, op, opt.Project, sr.Study, sr.UID, reader)
}

// saveSegmentation saves layers and their items as the next revision of
// the reader's set on the series, replacing the set's segmentation there.
func (s *Service) saveSegmentation(ctx context.Context, op annotation.Op, opt ImportOptions, sr *Series, schema *radmark.LabelSchema, layers map[int]*labelmap.Volume, items []radmark.Item, message string) (*radmark.Revision, error) {
	return s.saveImport(ctx, op, opt, sr, schema, layers, items, importMarks{}, message)
}

// importMarks are the items an import places besides segments, named
// prefix-N: they replace the items named so on the series' images (an
// earlier import's).
type importMarks struct {
	prefix string
	items  []radmark.Item
}

// saveImport is saveSegmentation with marks; with no layers it leaves
// the segmentation as it is.
func (s *Service) saveImport(ctx context.Context, op annotation.Op, opt ImportOptions, sr *Series, schema *radmark.LabelSchema, layers map[int]*labelmap.Volume, items []radmark.Item, marks importMarks, message string) (*radmark.Revision, error) {
	set, err := s.readerSet(ctx, op, opt, sr)
	if err != nil {
		return nil, err
	}
	req := &annotation.SaveRequest{Parent: set.Head, Message: message, SchemaVersion: schema.Version}
	removed := map[string]bool{}
	taken := map[string]bool{}
	if set.Head != "" {
		head, err := s.Annotations.Revision(ctx, op, set.Head)
		if err != nil {
			return nil, err
		}
		onSeries := map[int]bool{}
		for _, m := range head.Content.Labelmaps {
			if m.SeriesUID == sr.UID && len(layers) > 0 {
				onSeries[m.Layer] = true
				if layers[m.Layer] == nil {
					req.Labelmaps = append(req.Labelmaps, annotation.LabelmapEdit{Layer: m.Layer, Remove: true})
				}
			}
		}
		for _, it := range head.Content.Items {
			if it.Kind == radmark.KindSegmentation && it.Segment != nil && (onSeries[it.Segment.Layer] || layers[it.Segment.Layer] != nil) {
				removed[it.ID] = true
				continue
			}
			if marks.prefix != "" && strings.HasPrefix(it.ID, marks.prefix) && it.Image != nil {
				if _, ok := sr.Volume.Grid.SliceOf(*it.Image); ok {
					removed[it.ID] = true
					continue
				}
			}
			taken[it.ID] = true
			req.Items = append(req.Items, it)
		}
		for _, a := range head.Content.Answers {
			if a.Item == "" || !removed[a.Item] {
				req.Answers = append(req.Answers, a)
			}
		}
	}
	for _, it := range items {
		id := fmt.Sprintf("segment-%d-%d", it.Segment.Layer, it.Segment.Value)
		for n := 2; taken[id]; n++ {
			id = fmt.Sprintf("segment-%d-%d-%d", it.Segment.Layer, it.Segment.Value, n)
		}
		taken[id] = true
		it.ID = id
		req.Items = append(req.Items, it)
	}
	n := 0
	for _, it := range marks.items {
		for it.ID == "" || taken[it.ID] {
			n++
			it.ID = fmt.Sprintf("%s%d", marks.prefix, n)
		}
		taken[it.ID] = true
		req.Items = append(req.Items, it)
	}
	for _, l := range sortedLayers(layers) {
		v := layers[l]
		e := annotation.LabelmapEdit{Layer: l, SeriesUID: sr.UID, Columns: v.Columns, Rows: v.Rows, Slices: v.Slices,
			Encoding: "rle", Replace: true, Data: map[string][]byte{}}
		for k := 0; k < v.Slices; k++ {
			if !v.SliceEmpty(k) {
				e.Data[fmt.Sprint(k)] = labelmap.EncodeRuns(v.Slice(k))
			}
		}
		req.Labelmaps = append(req.Labelmaps, e)
	}
	return s.Annotations.Save(ctx, op, set.ID, req)
}
