package exchange

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/annotation"
	"github.com/radmark/radmark/dicom"
	"github.com/radmark/radmark/labelmap"
	"github.com/radmark/radmark/rtstruct"
	"github.com/radmark/radmark/seg"
	"github.com/radmark/radmark/volume"
)

// RTSTRUCT returns a revision's segmentation on a series as an RT
// Structure Set: one ROI per segmentation item, named and coloured by its
// label (the label's type as the ROI's identification code), its voxels
// traced slice by slice into CLOSED_PLANAR contours along pixel edges
// (holes are contours of their own), each referencing its slice's image;
// then one ROI per landmark (a POINT) and per contour (OPEN_PLANAR, or
// CLOSED_PLANAR when closed, which an import fills as a segment) on the
// series' images.
func (s *Service) RTSTRUCT(ctx context.Context, op annotation.Op, rev radmark.ID, series radmark.UID) (*dicom.Dataset, error) {
	r, ser, err := s.revisionOn(ctx, op, rev, series)
	if err != nil {
		return nil, err
	}
	g := ser.Volume.Grid
	if g.FrameOfReferenceUID == "" {
		return nil, radmark.Errorf(radmark.EUNSUPPORTED, "series %s has no frame of reference; an RT structure set needs one", ser.UID)
	}
	layers, err := s.layers(ctx, op, r, ser)
	if err != nil {
		return nil, err
	}
	items := segmentItems(r.rev.Content, layers)
	named := map[radmark.SegmentRef]bool{}
	for _, it := range items {
		named[*it.Segment] = true
	}
	if err := checkNamed(layers, named); err != nil {
		return nil, err
	}
	image := func(k int) rtstruct.Image {
		ref := g.Slices[k].Image
		return rtstruct.Image{SOPClass: ser.SOPClass[ref.SOPInstanceUID], SOPInstance: string(ref.SOPInstanceUID), Frame: ref.Frame}
	}
	var all []rtstruct.Image
	seen := map[rtstruct.Image]bool{}
	for k := range g.Slices {
		if im := image(k); !seen[im] {
			seen[im] = true
			all = append(all, im)
		}
	}
	key := []string{string(r.rev.ID), r.rev.ContentHash, string(ser.UID)}
	ss := &rtstruct.StructureSet{
		SOPInstanceUID: seg.UID(append([]string{"rtstruct-instance"}, key...)...),
		SeriesUID:      seg.UID(append([]string{"rtstruct-series"}, key...)...),
		StudyUID:       string(ser.Study), FrameOfReference: string(g.FrameOfReferenceUID),
		Label: "RADMARK", Name: truncate(fmt.Sprintf("%s revision %d", r.set.Reader, r.rev.Number), 64),
		Referenced: []rtstruct.Series{{UID: string(ser.UID), Images: all}},
	}
	mask := make([]byte, g.Columns*g.Rows)
	for n, it := range items {
		l, ok := labelOf(r.schema, it.Label)
		if !ok {
			return nil, radmark.Errorf(radmark.EINVALID, "item %q has label %q, which schema version %d does not define", it.ID, it.Label, r.schema.Version)
		}
		roi := itemROI(n+1, l, it)
		segmentSlices(layers[it.Segment.Layer], it.Segment.Value, mask, func(k int) error {
			for _, pts := range rtstruct.SliceContours(g, k, mask) {
				roi.Contours = append(roi.Contours, rtstruct.Contour{Type: rtstruct.ClosedPlanar, Points: pts, Images: []rtstruct.Image{image(k)}})
			}
			return nil
		})
		ss.ROIs = append(ss.ROIs, roi)
	}
	for _, it := range r.rev.Content.Items {
		if (it.Kind != radmark.KindLandmark && it.Kind != radmark.KindContour) || it.Image == nil {
			continue
		}
		k, ok := g.SliceOf(*it.Image)
		if !ok {
			continue // on another series
		}
		l, ok := labelOf(r.schema, it.Label)
		if !ok {
			return nil, radmark.Errorf(radmark.EINVALID, "item %q has label %q, which schema version %d does not define", it.ID, it.Label, r.schema.Version)
		}
		c := rtstruct.Contour{Type: rtstruct.Point, Points: it.LPS, Images: []rtstruct.Image{image(k)}}
		if it.Kind == radmark.KindContour {
			c.Type, c.Points = rtstruct.OpenPlanar, nil
			if it.Closed {
				c.Type = rtstruct.ClosedPlanar
			}
			for _, p := range it.Points {
				c.Points = append(c.Points, g.IndexToLPS(p[0]-0.5, p[1]-0.5, float64(k)))
			}
		}
		roi := itemROI(len(ss.ROIs)+1, l, it)
		roi.Contours = []rtstruct.Contour{c}
		ss.ROIs = append(ss.ROIs, roi)
	}
	created := r.rev.CreatedAt.UTC()
	return rtstruct.Encode(ss, ser.Header, rtstruct.Options{
		SeriesNumber:      9800 + r.rev.Number%100,
		SeriesDescription: truncate(fmt.Sprintf("radmark structures, %s revision %d", r.set.Reader, r.rev.Number), 64),
		Date:              created.Format("20060102"), Time: created.Format("150405"),
		Manufacturer: "radmark", Software: s.Software, Interpreter: personName(r.rev.Author),
	})
}

// itemROI is the ROI an item is exported as, without its contours: named,
// coloured and coded by its label, its source as the generation algorithm.
func itemROI(number int, l radmark.Label, it radmark.Item) rtstruct.ROI {
	alg, name := algorithmOf(it.Source)
	code := l.Type
	roi := rtstruct.ROI{Number: number, Name: truncate(l.Name, 64), Description: truncate(it.Note, 64), Algorithm: alg, AlgorithmName: truncate(name, 64),
		InterpretedType: interpretedType(l), Code: &code}
	roi.Color, roi.HasColor = hexColor(l.Color)
	return roi
}

// interpretedType is an RT ROI Interpreted Type for a label: ORGAN for
// anatomy, empty (unknown) otherwise; a lesion's role in a plan (GTV,
// CTV...) is the planner's call, not the annotator's.
func interpretedType(l radmark.Label) string {
	if sameCode(l.Category, radmark.Code{Value: "123037004", Scheme: "SCT"}) || sameCode(l.Category, radmark.Code{Value: "91723000", Scheme: "SCT"}) {
		return "ORGAN"
	}
	return ""
}

func hexColor(s string) ([3]int, bool) {
	var c [3]int
	if len(s) != 7 || s[0] != '#' {
		return c, false
	}
	if _, err := fmt.Sscanf(s[1:], "%02x%02x%02x", &c[0], &c[1], &c[2]); err != nil {
		return c, false
	}
	return c, true
}

// RTImport is what ImportRTSTRUCT saved and what it left out.
type RTImport struct {
	Revision *radmark.Revision
	Series   radmark.UID
	// ROIs is how many ROIs became segments; Points and Lines how many
	// POINT contours became landmarks and OPEN_PLANAR ones open contours.
	ROIs, Points, Lines int
	// Skipped names what has no place on the series: empty ROIs, points
	// off every slice, contours of other types.
	Skipped []string
}

// rtMarkPrefix names the items an RTSTRUCT import places besides
// segments (rtstruct-N): the next import onto the series replaces them,
// as it replaces the segmentation.
const rtMarkPrefix = "rtstruct-"

// ImportRTSTRUCT rasterises an RT Structure Set's ROIs onto the series it
// references (opt.Series overrides): each ROI's closed planar contours
// are filled slice by slice, even-odd at pixel centres, into a
// segmentation item; overlapping ROIs go to separate labelmap layers.
// Its POINT contours (points of interest: markers, fiducials) become
// landmarks on the nearest slice, its OPEN_PLANAR ones open contours on
// the slice they lie on. ROIs are labelled by their identification code
// (the label's type) or name, with a label that allows the item's kind;
// unknown ones are an error unless opt.AddLabels adds labels (or the
// kind to the ROI's label). The revision replaces the set's segmentation
// on that series and the points and lines an earlier RTSTRUCT import put
// there, and keeps its other items; a structure set with points or lines
// only leaves the segmentation as it is. The structure set's frame of
// reference must be the series'.
func (s *Service) ImportRTSTRUCT(ctx context.Context, op annotation.Op, data []byte, opt ImportOptions) (*RTImport, error) {
	f, err := dicom.ParseBytes(data, dicom.ParseOptions{})
	if err != nil {
		return nil, radmark.WrapError(radmark.EINVALID, err, "parse the RTSTRUCT")
	}
	ss, err := rtstruct.Decode(f.Dataset)
	if err != nil {
		return nil, err
	}
	series := opt.Series
	if series == "" {
		var uids []string
		for _, r := range ss.Referenced {
			if r.UID != "" && !strings.Contains(strings.Join(uids, ","), r.UID) {
				uids = append(uids, r.UID)
			}
		}
		switch len(uids) {
		case 0:
			return nil, radmark.Errorf(radmark.EINVALID, "the RTSTRUCT references no series; give one with --series")
		case 1:
			series = radmark.UID(uids[0])
		default:
			return nil, radmark.Errorf(radmark.EINVALID, "the RTSTRUCT references %d series (%s); choose one with --series", len(uids), strings.Join(uids, ", "))
		}
	}
	ser, err := s.Series(ctx, series)
	if err != nil {
		return nil, fmt.Errorf("the RTSTRUCT's referenced series: %w", err)
	}
	g := ser.Volume.Grid
	if ss.StudyUID != "" && radmark.UID(ss.StudyUID) != ser.Study {
		return nil, radmark.Errorf(radmark.EINVALID, "the RTSTRUCT belongs to study %s but series %s is in study %s", ss.StudyUID, series, ser.Study)
	}
	if ss.FrameOfReference != "" && radmark.UID(ss.FrameOfReference) != g.FrameOfReferenceUID {
		return nil, radmark.Errorf(radmark.EINVALID, "the RTSTRUCT's contours are in frame of reference %s but series %s is in %s", ss.FrameOfReference, series, g.FrameOfReferenceUID)
	}
	if _, err := s.targetSet(ctx, op, opt, ser); err != nil {
		return nil, err
	}
	res := &RTImport{Series: series}
	var rois []rtstruct.ROI
	var masks []map[int][]byte
	var marks []radmark.Item
	var markROIs []rtstruct.ROI // the ROI of each mark
	kinds := map[int][]radmark.Kind{}
	for i := range ss.ROIs {
		r := &ss.ROIs[i]
		what := fmt.Sprintf("ROI %d (%q)", r.Number, r.Name)
		if r.FrameOfReference != "" && radmark.UID(r.FrameOfReference) != g.FrameOfReferenceUID {
			return nil, radmark.Errorf(radmark.EINVALID, "%s is in frame of reference %s but series %s is in %s", what, r.FrameOfReference, series, g.FrameOfReferenceUID)
		}
		m, err := rtstruct.Rasterise(g, r)
		if err != nil {
			return nil, fmt.Errorf("series %s: %w", series, err)
		}
		mk, skipped, err := roiMarks(g, r)
		if err != nil {
			return nil, fmt.Errorf("series %s: %w", series, err)
		}
		res.Skipped = append(res.Skipped, skipped...)
		if len(m) > 0 {
			rois = append(rois, *r)
			masks = append(masks, m)
			kinds[r.Number] = append(kinds[r.Number], radmark.KindSegmentation)
		}
		for _, it := range mk {
			marks = append(marks, it)
			markROIs = append(markROIs, *r)
			if !slices.Contains(kinds[r.Number], it.Kind) {
				kinds[r.Number] = append(kinds[r.Number], it.Kind)
			}
			if it.Kind == radmark.KindLandmark {
				res.Points++
			} else {
				res.Lines++
			}
		}
		if len(m) == 0 && len(mk) == 0 && len(skipped) == 0 {
			res.Skipped = append(res.Skipped, what+": no voxels")
		}
	}
	if len(rois) == 0 && len(marks) == 0 {
		return nil, radmark.Errorf(radmark.EINVALID, "the RTSTRUCT has no ROI with contours or points on series %s (%s)", series, strings.Join(res.Skipped, "; "))
	}
	schema, err := s.Annotations.Schema(ctx, opt.Project, 0)
	if err != nil {
		return nil, fmt.Errorf("project %s: %w", opt.Project, err)
	}
	var uses []roiUse
	for _, r := range ss.ROIs {
		if len(kinds[r.Number]) > 0 {
			uses = append(uses, roiUse{r, kinds[r.Number]})
		}
	}
	if schema, err = s.roiLabels(ctx, op, schema, uses, opt.AddLabels); err != nil {
		return nil, err
	}
	layers, items, err := packROIs(g.Columns, g.Rows, g.NumSlices, rois, masks)
	if err != nil {
		return nil, err
	}
	for i := range items {
		items[i].Label = roiLabel(schema, rois[i], radmark.KindSegmentation)
	}
	for i := range marks {
		marks[i].Label = roiLabel(schema, markROIs[i], marks[i].Kind)
	}
	msg := opt.Message
	if msg == "" {
		msg = "import RTSTRUCT " + ss.SOPInstanceUID
	}
	rev, err := s.saveImport(ctx, op, opt, ser, schema, layers, items, importMarks{prefix: rtMarkPrefix, items: marks}, msg)
	if err != nil {
		return nil, err
	}
	res.Revision, res.ROIs = rev, len(rois)
	return res, nil
}

// roiMarks turns an ROI's POINT contours into landmarks and its
// OPEN_PLANAR ones into open contours (closed ones are Rasterise's). A
// point of interest need not lie on a slice (an isocentre seldom does):
// one farther than annotations allow from the nearest slice is reported
// and left out, as are contours of other types; an open line off the
// slices is an error, like a closed one.
func roiMarks(g *volume.Grid, r *rtstruct.ROI) ([]radmark.Item, []string, error) {
	var items []radmark.Item
	var skipped []string
	mark := radmark.Item{Source: roiSource(r), Note: r.Description}
	for n, c := range r.Contours {
		what := fmt.Sprintf("ROI %d (%q) contour %d", r.Number, r.Name, n+1)
		switch c.Type {
		case rtstruct.ClosedPlanar:
		case rtstruct.Point:
			if len(c.Points) != 1 {
				return nil, nil, radmark.Errorf(radmark.EINVALID, "%s is a POINT of %d points", what, len(c.Points))
			}
			p := c.Points[0]
			img := pointImage(g, c, p)
			if d := offPlane(g, img, p); d > maxOffPlane {
				skipped = append(skipped, fmt.Sprintf("%s: point (%.1f, %.1f, %.1f) lies %.1f mm from the nearest slice", what, p[0], p[1], p[2], d))
				continue
			}
			it := mark
			it.Kind, it.LPS, it.Image = radmark.KindLandmark, [][3]float64{p}, img
			items = append(items, it)
		case rtstruct.OpenPlanar:
			if len(c.Points) < 2 {
				return nil, nil, radmark.Errorf(radmark.EINVALID, "%s is an open planar contour of %d points", what, len(c.Points))
			}
			k, pix, err := rtstruct.OnSlice(g, what, c)
			if err != nil {
				return nil, nil, err
			}
			it := mark
			it.Kind, it.Points, it.Image = radmark.KindContour, pix, &g.Slices[k].Image
			items = append(items, it)
		default:
			skipped = append(skipped, fmt.Sprintf("%s: a %s contour has no radmark equivalent", what, c.Type))
		}
	}
	return items, skipped, nil
}

// roiSource is the source of an imported ROI's items: its generation
// algorithm (MANUAL when it gives none) and description.
func roiSource(r *rtstruct.ROI) radmark.Source {
	typ := r.Algorithm
	if typ == "" {
		typ = seg.Manual
	}
	return sourceOf(typ, r.AlgorithmName)
}

// pointImage is the slice a point of interest is placed on: the image
// its contour references when the point lies on it, else the nearest.
func pointImage(g *volume.Grid, c rtstruct.Contour, p [3]float64) *radmark.ImageRef {
	for _, im := range c.Images {
		if k, ok := g.SliceOf(radmark.ImageRef{SOPInstanceUID: radmark.UID(im.SOPInstance), Frame: im.Frame}); ok && offPlane(g, &g.Slices[k].Image, p) <= maxOffPlane {
			return &g.Slices[k].Image
		}
	}
	return nearestImage(g, p)
}

// packROIs puts each ROI's voxels in the first layer where they overlap
// no other ROI, with that layer's next value.
func packROIs(cols, rows, slices int, rois []rtstruct.ROI, masks []map[int][]byte) (map[int]*labelmap.Volume, []radmark.Item, error) {
	layers := map[int]*labelmap.Volume{}
	next := map[int]int{}
	var items []radmark.Item
	for i, r := range rois {
		layer := 0
		for ; ; layer++ {
			if layers[layer] == nil {
				v, err := labelmap.NewVolume(labelmap.Grid{Columns: cols, Rows: rows, Slices: slices})
				if err != nil {
					return nil, nil, err
				}
				layers[layer] = v
			}
			if next[layer] < 255 && !overlaps(layers[layer], masks[i]) {
				break
			}
			if layer >= 15 {
				return nil, nil, radmark.Errorf(radmark.ETOOLARGE, "the RTSTRUCT's ROIs overlap more than 16 layers deep")
			}
		}
		next[layer]++
		value := next[layer]
		for k, m := range masks[i] {
			sl := layers[layer].Slice(k) // shares the volume's memory
			for p, x := range m {
				if x != 0 {
					sl[p] = byte(value)
				}
			}
		}
		items = append(items, radmark.Item{Kind: radmark.KindSegmentation, Source: roiSource(&r), Note: r.Description,
			Segment: &radmark.SegmentRef{Layer: layer, Value: value}})
	}
	return layers, items, nil
}

func overlaps(v *labelmap.Volume, m map[int][]byte) bool {
	for k, mask := range m {
		if v.SliceEmpty(k) {
			continue
		}
		sl := v.Slice(k)
		for p, x := range mask {
			if x != 0 && sl[p] != 0 {
				return true
			}
		}
	}
	return false
}

// roiLabel finds the label of an ROI's items of kind: by its
// identification code (the label's type), else by name or id.
func roiLabel(sc *radmark.LabelSchema, r rtstruct.ROI, kind radmark.Kind) string {
	if i := roiLabelIndex(sc.Labels, r, kind); i >= 0 {
		return sc.Labels[i].ID
	}
	return ""
}

// roiLabelIndex is roiLabel's index in labels (-1: none); kind "" takes
// a label of any kinds.
func roiLabelIndex(labels []radmark.Label, r rtstruct.ROI, kind radmark.Kind) int {
	ok := func(l radmark.Label) bool { return kind == "" || allows(l, kind) }
	if r.Code != nil && r.Code.Value != "" {
		for i, l := range labels {
			if ok(l) && sameCode(l.Type, *r.Code) {
				return i
			}
		}
	}
	name := strings.TrimSpace(r.Name)
	for i, l := range labels {
		if ok(l) && name != "" && (strings.EqualFold(l.Name, name) || strings.EqualFold(l.ID, name)) {
			return i
		}
	}
	return -1
}

// roiUse is an ROI and the kinds of item it becomes.
type roiUse struct {
	roi   rtstruct.ROI
	kinds []radmark.Kind
}

// roiLabels checks every ROI has a label for each kind of item it
// becomes. With add, an ROI whose label lacks a kind gets it, and an
// ROI without a label gets one: its name and colour, its identification
// code as type (a radmark-scheme code of its name without one), anatomy
// or altered structure as category by its interpreted type.
func (s *Service) roiLabels(ctx context.Context, op annotation.Op, sc *radmark.LabelSchema, uses []roiUse, add bool) (*radmark.LabelSchema, error) {
	var missing []string
	for _, u := range uses {
		for _, k := range u.kinds {
			if roiLabel(sc, u.roi, k) == "" {
				n := fmt.Sprintf("ROI %d %q", u.roi.Number, u.roi.Name)
				if u.roi.Code != nil {
					n += " " + fmtCode(*u.roi.Code)
				}
				missing = append(missing, n+" ("+string(k)+")")
			}
		}
	}
	if len(missing) == 0 {
		return sc, nil
	}
	if !add {
		return nil, radmark.Errorf(radmark.EINVALID, "the project's schema has no label for %s; add them to the schema or import with --add-labels", strings.Join(missing, "; "))
	}
	labels := append([]radmark.Label(nil), sc.Labels...)
	taken := map[string]bool{}
	for _, l := range labels {
		taken[l.ID] = true
	}
	for _, u := range uses {
		r := u.roi
		for _, k := range u.kinds {
			if roiLabelIndex(labels, r, k) >= 0 {
				continue
			}
			if i := roiLabelIndex(labels, r, ""); i >= 0 {
				labels[i].Kinds = append(slices.Clone(labels[i].Kinds), k)
				continue
			}
			labels = append(labels, newROILabel(r, k, taken))
		}
	}
	return s.Annotations.PutSchema(ctx, op, sc.ProjectID, sc.Version, labels, sc.Questions)
}

// newROILabel is the label --add-labels makes for an ROI, with an id not
// in taken (which it joins).
func newROILabel(r rtstruct.ROI, kind radmark.Kind, taken map[string]bool) radmark.Label {
	name := strings.TrimSpace(r.Name)
	if name == "" {
		name = fmt.Sprintf("ROI %d", r.Number)
	}
	base := slug(name)
	if base == "" {
		base = "roi"
	}
	id := truncate(base, 60)
	for n := 2; taken[id]; n++ {
		id = fmt.Sprintf("%s-%d", truncate(base, 56), n)
	}
	taken[id] = true
	typ := radmark.Code{Value: truncate(id, 16), Scheme: privateScheme, Meaning: name}
	if r.Code != nil && r.Code.Value != "" {
		typ = *r.Code
	}
	category := radmark.Code{Value: "123037004", Scheme: "SCT", Meaning: "Anatomical Structure"}
	switch strings.ToUpper(r.InterpretedType) {
	case "GTV", "CTV", "PTV", "ITV":
		category = radmark.Code{Value: "49755003", Scheme: "SCT", Meaning: "Morphologically Altered Structure"}
	}
	color := "#ffff00"
	if r.HasColor {
		color = fmt.Sprintf("#%02x%02x%02x", clamp8(r.Color[0]), clamp8(r.Color[1]), clamp8(r.Color[2]))
	}
	return radmark.Label{ID: id, Name: name, Color: color, Category: category, Type: typ, Kinds: []radmark.Kind{kind}}
}

func clamp8(v int) int { return min(max(v, 0), 255) }
