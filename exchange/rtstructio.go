package exchange

import (
	"context"
	"fmt"
	"strings"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/annotation"
	"github.com/radmark/radmark/dicom"
	"github.com/radmark/radmark/labelmap"
	"github.com/radmark/radmark/rtstruct"
	"github.com/radmark/radmark/seg"
)

// RTSTRUCT returns a revision's segmentation on a series as an RT
// Structure Set: one ROI per segmentation item, named and coloured by its
// label (the label's type as the ROI's identification code), its voxels
// traced slice by slice into CLOSED_PLANAR contours along pixel edges
// (holes are contours of their own), each referencing its slice's image.
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
		alg, name := algorithmOf(it.Source)
		code := l.Type
		roi := rtstruct.ROI{Number: n + 1, Name: truncate(l.Name, 64), Description: truncate(it.Note, 64), Algorithm: alg, AlgorithmName: truncate(name, 64),
			InterpretedType: interpretedType(l), Code: &code}
		roi.Color, roi.HasColor = hexColor(l.Color)
		segmentSlices(layers[it.Segment.Layer], it.Segment.Value, mask, func(k int) error {
			for _, pts := range rtstruct.SliceContours(g, k, mask) {
				roi.Contours = append(roi.Contours, rtstruct.Contour{Type: rtstruct.ClosedPlanar, Points: pts, Images: []rtstruct.Image{image(k)}})
			}
			return nil
		})
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
	ROIs     int
	// Skipped names the ROIs or contours with no voxels to give (points,
	// open polylines, empty ROIs).
	Skipped []string
}

// ImportRTSTRUCT rasterises an RT Structure Set's ROIs onto the series it
// references (opt.Series overrides): each ROI's closed planar contours
// are filled slice by slice, even-odd at pixel centres, into a
// segmentation item; overlapping ROIs go to separate labelmap layers.
// ROIs are labelled by their identification code (the label's type) or
// name; unknown ones are an error unless opt.AddLabels adds labels. The
// revision replaces the set's segmentation on that series and keeps its
// other items. The structure set's frame of reference must be the
// series'.
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
	for i := range ss.ROIs {
		r := &ss.ROIs[i]
		what := fmt.Sprintf("ROI %d (%q)", r.Number, r.Name)
		if r.FrameOfReference != "" && radmark.UID(r.FrameOfReference) != g.FrameOfReferenceUID {
			return nil, radmark.Errorf(radmark.EINVALID, "%s is in frame of reference %s but series %s is in %s", what, r.FrameOfReference, series, g.FrameOfReferenceUID)
		}
		m, skipped, err := rtstruct.Rasterise(g, r)
		if err != nil {
			return nil, fmt.Errorf("series %s: %w", series, err)
		}
		if skipped > 0 {
			res.Skipped = append(res.Skipped, fmt.Sprintf("%s: %d contours that are not closed planar (points or open lines)", what, skipped))
		}
		if len(m) == 0 {
			res.Skipped = append(res.Skipped, what+": no voxels")
			continue
		}
		rois = append(rois, *r)
		masks = append(masks, m)
	}
	if len(rois) == 0 {
		return nil, radmark.Errorf(radmark.EINVALID, "the RTSTRUCT has no ROI with closed contours on series %s (%s)", series, strings.Join(res.Skipped, "; "))
	}
	schema, err := s.Annotations.Schema(ctx, opt.Project, 0)
	if err != nil {
		return nil, fmt.Errorf("project %s: %w", opt.Project, err)
	}
	if schema, err = s.roiLabels(ctx, op, schema, rois, opt.AddLabels); err != nil {
		return nil, err
	}
	layers, items, err := packROIs(g.Columns, g.Rows, g.NumSlices, rois, masks)
	if err != nil {
		return nil, err
	}
	for i := range items {
		items[i].Label = roiLabel(schema, rois[i])
	}
	msg := opt.Message
	if msg == "" {
		msg = "import RTSTRUCT " + ss.SOPInstanceUID
	}
	rev, err := s.saveSegmentation(ctx, op, opt, ser, schema, layers, items, msg)
	if err != nil {
		return nil, err
	}
	res.Revision, res.ROIs = rev, len(rois)
	return res, nil
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
		typ := r.Algorithm
		if typ == "" {
			typ = seg.Manual
		}
		items = append(items, radmark.Item{Kind: radmark.KindSegmentation, Source: sourceOf(typ, r.AlgorithmName), Note: r.Description,
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

// roiLabel finds an ROI's segmentation label: by its identification code
// (the label's type), else by name or id.
func roiLabel(sc *radmark.LabelSchema, r rtstruct.ROI) string {
	if r.Code != nil && r.Code.Value != "" {
		for _, l := range sc.Labels {
			if allows(l, radmark.KindSegmentation) && sameCode(l.Type, *r.Code) {
				return l.ID
			}
		}
	}
	name := strings.TrimSpace(r.Name)
	for _, l := range sc.Labels {
		if allows(l, radmark.KindSegmentation) && name != "" && (strings.EqualFold(l.Name, name) || strings.EqualFold(l.ID, name)) {
			return l.ID
		}
	}
	return ""
}

// roiLabels checks every ROI has a label, adding (with add) one per
// unknown ROI: its name and colour, its identification code as type (a
// radmark-scheme code of its name without one), anatomy or altered
// structure as category by its interpreted type.
func (s *Service) roiLabels(ctx context.Context, op annotation.Op, sc *radmark.LabelSchema, rois []rtstruct.ROI, add bool) (*radmark.LabelSchema, error) {
	var missing []rtstruct.ROI
	for _, r := range rois {
		if roiLabel(sc, r) == "" {
			missing = append(missing, r)
		}
	}
	if len(missing) == 0 {
		return sc, nil
	}
	if !add {
		var names []string
		for _, r := range missing {
			n := fmt.Sprintf("ROI %d %q", r.Number, r.Name)
			if r.Code != nil {
				n += " " + fmtCode(*r.Code)
			}
			names = append(names, n)
		}
		return nil, radmark.Errorf(radmark.EINVALID, "the project's schema has no segmentation label for %s; add them to the schema or import with --add-labels", strings.Join(names, "; "))
	}
	labels := append([]radmark.Label(nil), sc.Labels...)
	taken := map[string]bool{}
	for _, l := range labels {
		taken[l.ID] = true
	}
	for _, r := range missing {
		if roiLabel(&radmark.LabelSchema{Labels: labels}, r) != "" {
			continue
		}
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
		labels = append(labels, radmark.Label{ID: id, Name: name, Color: color, Category: category, Type: typ, Kinds: []radmark.Kind{radmark.KindSegmentation}})
	}
	return s.Annotations.PutSchema(ctx, op, sc.ProjectID, sc.Version, labels, sc.Questions)
}

func clamp8(v int) int { return min(max(v, 0), 255) }
