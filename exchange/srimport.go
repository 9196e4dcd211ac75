package exchange

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/annotation"
	"github.com/radmark/radmark/dicom"
	"github.com/radmark/radmark/sr"
	"github.com/radmark/radmark/volume"
)

// SRImport is what ImportSR saved and what it left out.
type SRImport struct {
	Revision *radmark.Revision
	Series   radmark.UID
	// Items and Answers count what the report gave.
	Items, Answers int
	// Skipped names each measurement group or content item that has no
	// radmark equivalent, and why.
	Skipped []string
}

// derivedConcepts are the measurements radmark computes from an item's
// geometry (numNodes writes them): its own reports' values of these are
// not answers, the server recomputes them.
var derivedConcepts = map[string]bool{
	"SCT:410668003": true, "SCT:1483009": true, "SCT:103339001": true, "SCT:103340004": true,
	"SCT:42798000": true, "SCT:118565006": true, "SCT:373098007": true, "SCT:386136009": true,
	"SCT:255605001": true, "SCT:56851009": true,
}

func codeKey(c *sr.Code) string {
	if c == nil {
		return ""
	}
	return normScheme(c.Scheme) + ":" + strings.TrimSpace(c.Value)
}

func is(c *sr.Code, want *sr.Code) bool { return c != nil && codeKey(c) == codeKey(want) }

func rcode(c *sr.Code) radmark.Code {
	return radmark.Code{Value: c.Value, Scheme: c.Scheme, Meaning: c.Meaning}
}

// srGroup is one measurement group as read.
type srGroup struct {
	n          int // 1-based position among the report's groups
	tracking   string
	kind       radmark.Kind // radmark's own reports record it
	label      string
	finding    *sr.Code
	category   *sr.Code
	site       *sr.Code
	source     radmark.Source
	confidence *float64
	note       string
	region     *sr.Node      // the SCOORD or SCOORD3D
	image      *sr.ImageRef  // the region's selected image, or the group's Source image
	values     []*sr.Node    // NUM, CODE and TEXT items that may answer questions
	what       string        // for messages
	item       *radmark.Item // the item made of it
}

func readGroup(n int, g *sr.Node) *srGroup {
	out := &srGroup{n: n, source: radmark.Source{Type: "human"}}
	var algName, algVersion string
	for _, c := range g.Children {
		switch {
		case is(c.Concept, dcmCode("112039", "")) && c.ValueType == "TEXT":
			out.tracking = c.Text
		case is(c.Concept, dcmCode("112040", "")):
		case is(c.Concept, conceptKind) && c.Code != nil:
			out.kind = radmark.Kind(c.Code.Value)
		case is(c.Concept, conceptLabel):
			out.label = c.Text
		case is(c.Concept, dcmCode("121071", "")) && c.Code != nil:
			out.finding = c.Code
		case is(c.Concept, sctCode("276214006", "")) && c.Code != nil:
			out.category = c.Code
		case is(c.Concept, sctCode("363698007", "")) && c.Code != nil,
			is(c.Concept, &sr.Code{Value: "G-C0E3", Scheme: "SRT"}) && c.Code != nil:
			out.site = c.Code
		case is(c.Concept, conceptAlgorithm):
			algName = c.Text
		case is(c.Concept, conceptAlgVersion):
			algVersion = c.Text
		case is(c.Concept, conceptConfidence) && c.Num != nil:
			v := c.Num.Value
			out.confidence = &v
		case is(c.Concept, conceptComment) && c.ValueType == "TEXT":
			out.note = c.Text
		case (c.ValueType == "SCOORD" || c.ValueType == "SCOORD3D") && c.Graphic != nil && out.region == nil:
			out.region = c
			for _, s := range c.Children {
				if s.ValueType == "IMAGE" && len(s.Refs) > 0 {
					out.image = &s.Refs[0]
				}
			}
		case c.ValueType == "IMAGE" && len(c.Refs) > 0 && out.image == nil:
			out.image = &c.Refs[0]
		case c.ValueType == "NUM" || c.ValueType == "CODE" || c.ValueType == "TEXT":
			out.values = append(out.values, c)
		}
	}
	if algName != "" {
		out.source = radmark.Source{Type: "model", Name: algName, Version: algVersion}
	}
	out.what = fmt.Sprintf("measurement group %d", n)
	if out.tracking != "" {
		out.what += fmt.Sprintf(" (%q)", out.tracking)
	}
	return out
}

// ImportSR reads a TID 1500 Measurement Report onto the series it
// references (opt.Series overrides) and saves its measurement groups as
// a new revision of the reader's annotation set: each group with an image
// region becomes an item (radmark's own reports record each item's kind
// and label; for others the kind follows the graphic type: a point is a
// landmark, a 2-point polyline a length, a longer one a contour, a circle
// or ellipse an ellipse ROI, 4 points a bidirectional), labelled by its
// label id or by matching its coded Finding (and Finding Site) to the
// project's labels. NUM, CODE and TEXT content items answer the schema's
// questions whose concept they carry, except the measurements radmark
// computes itself. The revision replaces the set's items and answers but
// keeps its segmentation (SEG import carries that). Codes the schema lacks
// are an error unless opt.AddLabels adds labels and number questions for
// them.
func (s *Service) ImportSR(ctx context.Context, op annotation.Op, data []byte, opt ImportOptions) (*SRImport, error) {
	f, err := dicom.ParseBytes(data, dicom.ParseOptions{})
	if err != nil {
		return nil, radmark.WrapError(radmark.EINVALID, err, "parse the SR")
	}
	ds := f.Dataset
	if class := ds.String(dicom.NewTag(0x0008, 0x0016)); !strings.HasPrefix(class, "1.2.840.10008.5.1.4.1.1.88.") {
		return nil, radmark.Errorf(radmark.EINVALID, "SOP class %s is not a structured report", class)
	}
	root, err := sr.Parse(ds)
	if err != nil {
		return nil, radmark.WrapError(radmark.EINVALID, err, "read the SR content")
	}
	if !is(root.Concept, dcmCode("126000", "")) {
		title := "none"
		if root.Concept != nil {
			title = fmt.Sprintf("%s (%s, %s)", root.Concept.Meaning, root.Concept.Value, root.Concept.Scheme)
		}
		return nil, radmark.Errorf(radmark.EINVALID, "the SR is not a TID 1500 Imaging Measurement Report (its document title is %s)", title)
	}
	series, err := s.srSeries(ctx, ds, root, opt.Series)
	if err != nil {
		return nil, err
	}
	ser, err := s.Series(ctx, series)
	if err != nil {
		return nil, fmt.Errorf("the SR's referenced series: %w", err)
	}
	if study := radmark.UID(ds.String(dicom.NewTag(0x0020, 0x000D))); study != "" && study != ser.Study {
		return nil, radmark.Errorf(radmark.EINVALID, "the SR belongs to study %s but series %s is in study %s", study, series, ser.Study)
	}
	if _, err := s.targetSet(ctx, op, opt, ser); err != nil {
		return nil, err
	}
	schema, err := s.Annotations.Schema(ctx, opt.Project, 0)
	if err != nil {
		return nil, fmt.Errorf("project %s: %w", opt.Project, err)
	}
	res := &SRImport{Series: series}
	var groups []*srGroup
	var evaluations []*sr.Node
	for _, c := range root.Children {
		switch {
		case is(c.Concept, dcmCode("126010", "")):
			for _, g := range c.Children {
				if is(g.Concept, dcmCode("125007", "")) && g.ValueType == "CONTAINER" {
					groups = append(groups, readGroup(len(groups)+1, g))
				}
			}
		case is(c.Concept, &sr.Code{Value: "C0034375", Scheme: "UMLS"}):
			evaluations = append(evaluations, c.Children...)
		}
	}
	grid := ser.Volume.Grid
	var items []*srGroup
	for _, g := range groups {
		it, why, err := groupItem(g, grid)
		if err != nil {
			return nil, err
		}
		if why != "" {
			res.Skipped = append(res.Skipped, g.what+": "+why)
			continue
		}
		g.item = it
		items = append(items, g)
	}
	if schema, err = s.labelGroups(ctx, op, schema, items, opt.AddLabels); err != nil {
		return nil, err
	}
	// answers: each group's values, then the report's evaluations
	var answers []radmark.Answer
	var pending []answerCandidate
	for _, g := range items {
		for _, v := range g.values {
			pending = append(pending, answerCandidate{node: v, group: g})
		}
	}
	for _, v := range evaluations {
		pending = append(pending, answerCandidate{node: v})
	}
	if schema, err = s.questionsFor(ctx, op, schema, pending, opt.AddLabels); err != nil {
		return nil, err
	}
	ids := itemIDs(items)
	for _, p := range pending {
		a, why := answerOf(p, schema, grid, ser.UID, ids)
		if why != "" {
			res.Skipped = append(res.Skipped, why)
			continue
		}
		if a == nil {
			continue
		}
		if n := len(answers); n > 0 && len(a.Choices) == 1 && mergeChoice(&answers[n-1], a) {
			continue
		}
		answers = append(answers, *a)
	}
	var out []radmark.Item
	for _, g := range items {
		g.item.ID = ids[g]
		out = append(out, *g.item)
	}
	msg := opt.Message
	if msg == "" {
		msg = "import DICOM SR " + ds.String(dicom.NewTag(0x0008, 0x0018))
	}
	rev, err := s.saveItems(ctx, op, opt, ser, schema, out, answers, msg)
	if err != nil {
		return nil, err
	}
	res.Revision, res.Items, res.Answers = rev, len(out), len(answers)
	return res, nil
}

// mergeChoice adds a multiple-choice answer's next choice (each is its
// own CODE item) to the previous answer to the same question and target.
func mergeChoice(prev, a *radmark.Answer) bool {
	if prev.Question != a.Question || prev.Item != a.Item || prev.SeriesUID != a.SeriesUID || len(prev.Choices) == 0 ||
		(prev.Image == nil) != (a.Image == nil) || (prev.Image != nil && *prev.Image != *a.Image) {
		return false
	}
	prev.Choices = append(prev.Choices, a.Choices...)
	return true
}

// srSeries is the series an SR's items go on: want, else the one series
// of its evidence, else the series of the images its content references.
func (s *Service) srSeries(ctx context.Context, ds *dicom.Dataset, root *sr.Node, want radmark.UID) (radmark.UID, error) {
	if want != "" {
		return want, nil
	}
	seen := map[string]bool{}
	var list []string
	add := func(uid string) {
		if uid != "" && !seen[uid] {
			seen[uid] = true
			list = append(list, uid)
		}
	}
	for _, t := range []dicom.Tag{dicom.NewTag(0x0040, 0xA375), dicom.NewTag(0x0040, 0xA385)} {
		for _, st := range ds.Items(t) {
			for _, se := range st.Items(dicom.NewTag(0x0008, 0x1115)) {
				add(se.String(dicom.NewTag(0x0020, 0x000E)))
			}
		}
	}
	if len(list) == 0 {
		var missing []string
		root.Walk(func(_ []int, n *sr.Node) {
			if n.ValueType != "IMAGE" {
				return
			}
			for _, r := range n.Refs {
				ins, err := s.Images.Select(ctx, "", "", radmark.UID(r.SOPInstanceUID))
				if err != nil || len(ins) == 0 {
					missing = append(missing, r.SOPInstanceUID)
					continue
				}
				add(string(ins[0].SeriesUID))
			}
		})
		if len(list) == 0 && len(missing) > 0 {
			return "", radmark.Errorf(radmark.ENOTFOUND, "the SR references images that are not in the archive (%s) and names no series; ingest them or give --series", strings.Join(firstN(missing, 3), ", "))
		}
	}
	if len(list) == 0 {
		// a report of no image region names no image: its study's one
		// series, then
		if study := radmark.UID(ds.String(dicom.NewTag(0x0020, 0x000D))); study != "" {
			if ins, err := s.Images.Select(ctx, study, "", ""); err == nil {
				for _, in := range ins {
					add(string(in.SeriesUID))
				}
			}
		}
		if len(list) > 1 {
			return "", radmark.Errorf(radmark.EINVALID, "the SR references no image, and its study has %d series (%s); choose one with --series", len(list), strings.Join(list, ", "))
		}
	}
	// evidence may name series the report only cites (a SEG, a map)
	var held []string
	for _, uid := range list {
		if ins, err := s.Images.Select(ctx, "", radmark.UID(uid), ""); err == nil && len(ins) > 0 {
			held = append(held, uid)
		}
	}
	switch {
	case len(list) == 0:
		return "", radmark.Errorf(radmark.EINVALID, "the SR references no series; give one with --series")
	case len(held) == 0:
		return "", radmark.Errorf(radmark.ENOTFOUND, "the SR references series %s, none of which is in the archive; ingest its images or give --series", strings.Join(list, ", "))
	case len(held) == 1:
		return radmark.UID(held[0]), nil
	}
	return "", radmark.Errorf(radmark.EINVALID, "the SR references %d archived series (%s); choose one with --series", len(held), strings.Join(held, ", "))
}

func firstN(s []string, n int) []string {
	if len(s) > n {
		return append(s[:n:n], fmt.Sprintf("and %d more", len(s)-n))
	}
	return s
}

// groupItem makes a group's item (without id and label), or says why the
// group has none.
func groupItem(g *srGroup, grid *volume.Grid) (*radmark.Item, string, error) {
	it := &radmark.Item{Kind: g.kind, Source: g.source, Confidence: g.confidence, Note: g.note}
	switch g.kind {
	case radmark.KindSegmentation:
		return nil, "a segmentation; import its DICOM SEG", nil
	case radmark.KindClassification:
		return it, "", nil
	case "":
	default:
		if !slices.Contains(radmark.Kinds, g.kind) {
			return nil, "", radmark.Errorf(radmark.EINVALID, "%s has unknown annotation kind %q", g.what, g.kind)
		}
	}
	r := g.region
	if r == nil {
		return nil, "no image region to place it (its values have no item to belong to)", nil
	}
	gr := r.Graphic
	var img *radmark.ImageRef
	slice := -1
	if g.image != nil {
		ref := radmark.ImageRef{SOPInstanceUID: radmark.UID(g.image.SOPInstanceUID)}
		if len(g.image.Frames) > 0 {
			ref.Frame = g.image.Frames[0]
		}
		k, ok := grid.SliceOf(ref)
		if !ok {
			return nil, "", radmark.Errorf(radmark.EINVALID, "%s is on image %s, which is not in the series", g.what, ref.SOPInstanceUID)
		}
		img, slice = &ref, k
	}
	if r.ValueType == "SCOORD" {
		if img == nil {
			return nil, "", radmark.Errorf(radmark.EINVALID, "%s has image coordinates but names no image they are on", g.what)
		}
		pts := make([][2]float64, 0, len(gr.Data)/2)
		for i := 0; i+1 < len(gr.Data); i += 2 {
			pts = append(pts, [2]float64{gr.Data[i], gr.Data[i+1]})
		}
		it.Image = img
		return planarItem(g, it, pts, grid, slice)
	}
	if gr.FrameOfReference != "" && grid.FrameOfReferenceUID != "" && radmark.UID(gr.FrameOfReference) != grid.FrameOfReferenceUID {
		return nil, "", radmark.Errorf(radmark.EINVALID, "%s is in frame of reference %s, the series in %s", g.what, gr.FrameOfReference, grid.FrameOfReferenceUID)
	}
	pts := make([][3]float64, 0, len(gr.Data)/3)
	for i := 0; i+2 < len(gr.Data); i += 3 {
		pts = append(pts, [3]float64{gr.Data[i], gr.Data[i+1], gr.Data[i+2]})
	}
	return volumeItem(g, it, pts, gr.Type, grid, img)
}

// planarItem fills an item from SCOORD points on its image.
func planarItem(g *srGroup, it *radmark.Item, pts [][2]float64, grid *volume.Grid, slice int) (*radmark.Item, string, error) {
	typ := g.region.Graphic.Type
	closed := len(pts) >= 4 && pts[0] == pts[len(pts)-1]
	bad := func() (*radmark.Item, string, error) {
		return nil, "", radmark.Errorf(radmark.EINVALID, "%s: a %s cannot be a %d-point %s", g.what, it.Kind, len(pts), typ)
	}
	if it.Kind == "" {
		switch {
		case typ == "POINT":
			it.Kind = radmark.KindLandmark
		case typ == "CIRCLE" || typ == "ELLIPSE":
			it.Kind = radmark.KindEllipseROI
		case typ == "MULTIPOINT" && len(pts) == 4:
			it.Kind = radmark.KindBidirectional
		case typ == "POLYLINE" && len(pts) == 2:
			it.Kind = radmark.KindLength
		case typ == "POLYLINE" || typ == "POLYGON":
			it.Kind = radmark.KindContour
		default:
			return nil, fmt.Sprintf("a %d-point %s has no radmark equivalent", len(pts), typ), nil
		}
	}
	switch it.Kind {
	case radmark.KindLandmark:
		if len(pts) != 1 {
			return bad()
		}
		// SCOORD's (0,0) is the top-left pixel's corner, the grid's its centre
		it.LPS = [][3]float64{grid.IndexToLPS(pts[0][0]-0.5, pts[0][1]-0.5, float64(slice))}
	case radmark.KindBox2D, radmark.KindRectangleROI:
		switch {
		case typ == "POLYLINE" && len(pts) == 5 && closed:
			it.Points = [][2]float64{pts[0], pts[2]}
		default:
			return bad()
		}
	case radmark.KindEllipseROI:
		switch {
		case typ == "CIRCLE" && len(pts) == 2:
			r := math.Hypot(pts[1][0]-pts[0][0], pts[1][1]-pts[0][1])
			it.Points = [][2]float64{{pts[0][0] - r, pts[0][1] - r}, {pts[0][0] + r, pts[0][1] + r}}
		case typ == "ELLIPSE" && len(pts) == 4:
			it.Points = ellipseCorners(pts)
		default:
			return bad()
		}
	case radmark.KindContour:
		it.Points = pts
		if closed || typ == "POLYGON" {
			it.Closed = true
			if closed {
				it.Points = pts[:len(pts)-1]
			}
		}
	case radmark.KindLength, radmark.KindAngle, radmark.KindBidirectional:
		it.Points = pts
	default:
		return bad()
	}
	return it, "", nil
}

// ellipseCorners are the corners of an ELLIPSE's bounding box. An axis-
// aligned ellipse (as radmark writes them) gives back the corners in the
// order they were written: the horizontal axis holds the columns, the
// vertical one the rows.
func ellipseCorners(p [][2]float64) [][2]float64 {
	a, b := [2][2]float64{p[0], p[1]}, [2][2]float64{p[2], p[3]}
	if a[0][1] == a[1][1] && b[0][0] == b[1][0] {
		return [][2]float64{{a[0][0], b[0][1]}, {a[1][0], b[1][1]}}
	}
	if a[0][0] == a[1][0] && b[0][1] == b[1][1] {
		return [][2]float64{{b[0][0], a[0][1]}, {b[1][0], a[1][1]}}
	}
	// rotated: the half-extents of an ellipse with semi-axes u and v are
	// sqrt(ux²+vx²) and sqrt(uy²+vy²)
	c := [2]float64{(a[0][0] + a[1][0]) / 2, (a[0][1] + a[1][1]) / 2}
	u := [2]float64{(a[1][0] - a[0][0]) / 2, (a[1][1] - a[0][1]) / 2}
	v := [2]float64{(b[1][0] - b[0][0]) / 2, (b[1][1] - b[0][1]) / 2}
	hx, hy := math.Hypot(u[0], v[0]), math.Hypot(u[1], v[1])
	return [][2]float64{{c[0] - hx, c[1] - hy}, {c[0] + hx, c[1] + hy}}
}

// volumeItem fills an item from SCOORD3D points.
func volumeItem(g *srGroup, it *radmark.Item, pts [][3]float64, typ string, grid *volume.Grid, img *radmark.ImageRef) (*radmark.Item, string, error) {
	bad := func() (*radmark.Item, string, error) {
		return nil, "", radmark.Errorf(radmark.EINVALID, "%s: a %s cannot be a %d-point %s", g.what, it.Kind, len(pts), typ)
	}
	if it.Kind == "" {
		switch {
		case typ == "POINT":
			it.Kind = radmark.KindLandmark
		case typ == "POLYLINE" && len(pts) == 2:
			it.Kind = radmark.KindLength
		case typ == "MULTIPOINT" && len(pts) == 4:
			it.Kind = radmark.KindBidirectional
		case (typ == "POLYGON" || typ == "POLYLINE") && len(pts) >= 3:
			// a contour is drawn on an image: the points must lie on one slice
			k, pix, ok := onOneSlice(grid, pts)
			if !ok {
				return nil, fmt.Sprintf("a %d-point %s that does not lie on one slice of the series", len(pts), typ), nil
			}
			closed := typ == "POLYGON" || (len(pts) >= 4 && pts[0] == pts[len(pts)-1])
			if closed && pts[0] == pts[len(pts)-1] {
				pix = pix[:len(pix)-1]
			}
			it.Kind, it.Points, it.Closed = radmark.KindContour, pix, closed
			it.Image = &grid.Slices[k].Image
			return it, "", nil
		default:
			return nil, fmt.Sprintf("a %d-point %s has no radmark equivalent", len(pts), typ), nil
		}
	}
	switch it.Kind {
	case radmark.KindLandmark:
		if len(pts) != 1 {
			return bad()
		}
		it.LPS = pts
		if img == nil || offPlane(grid, img, pts[0]) > maxOffPlane {
			// the image a foreign report names need not be the one the
			// point is on: take the nearest slice
			img = nearestImage(grid, pts[0])
			if d := offPlane(grid, img, pts[0]); d > maxOffPlane {
				return nil, fmt.Sprintf("point (%.1f, %.1f, %.1f) lies %.1f mm from the nearest slice of the series", pts[0][0], pts[0][1], pts[0][2], d), nil
			}
		}
		it.Image = img
	case radmark.KindBox3D:
		if len(pts) != 8 {
			return bad()
		}
		it.LPS = [][3]float64{pts[0], pts[7]}
	case radmark.KindLength, radmark.KindAngle, radmark.KindBidirectional:
		it.LPS = pts
		if img != nil {
			for _, p := range pts {
				if offPlane(grid, img, p) > maxOffPlane {
					img = nil // measured in the volume, not on that image
				}
			}
		}
		it.Image = img
	default:
		return bad()
	}
	return it, "", nil
}

// maxOffPlane is how far (mm) a patient point may lie from the image it
// is placed on; annotation.CheckGeometry refuses more.
const maxOffPlane = 1.0

// offPlane is a patient point's distance from an image's plane.
func offPlane(grid *volume.Grid, img *radmark.ImageRef, p [3]float64) float64 {
	k, ok := grid.SliceOf(*img)
	if !ok {
		return math.Inf(1)
	}
	n, o := grid.Normal(), grid.Slices[k].Plane.Position
	return math.Abs((p[0]-o[0])*n[0] + (p[1]-o[1])*n[1] + (p[2]-o[2])*n[2])
}

// nearestImage is the series' slice nearest a patient point.
func nearestImage(grid *volume.Grid, p [3]float64) *radmark.ImageRef {
	k := min(max(int(math.Round(grid.LPSToIndex(p)[2])), 0), grid.NumSlices-1)
	return &grid.Slices[k].Image
}

// onOneSlice maps patient points to image points when they all lie on one
// slice (within a hundredth of the slice spacing).
func onOneSlice(grid *volume.Grid, pts [][3]float64) (int, [][2]float64, bool) {
	k := -1
	var out [][2]float64
	for _, p := range pts {
		ijk := grid.LPSToIndex(p)
		kk := int(math.Round(ijk[2]))
		if math.Abs(ijk[2]-float64(kk)) > 0.01 || kk < 0 || kk >= grid.NumSlices || (k >= 0 && kk != k) {
			return 0, nil, false
		}
		k = kk
		out = append(out, [2]float64{ijk[0] + 0.5, ijk[1] + 0.5})
	}
	return k, out, true
}

// itemIDs gives each item its tracking identifier as id where it is a
// valid, unused one, else "sr-N".
func itemIDs(gs []*srGroup) map[*srGroup]string {
	out := map[*srGroup]string{}
	used := map[string]bool{}
	for _, g := range gs {
		if id := g.tracking; id != "" && len(id) <= 64 && !used[id] {
			out[g], used[id] = id, true
		}
	}
	for _, g := range gs {
		if out[g] != "" {
			continue
		}
		id := fmt.Sprintf("sr-%d", g.n)
		for n := 2; used[id]; n++ {
			id = fmt.Sprintf("sr-%d-%d", g.n, n)
		}
		out[g], used[id] = id, true
	}
	return out
}

// labelGroups gives each item its label: the recorded label id when the
// schema has it and allows the kind, else the label whose type is the
// group's Finding (with the best matching Finding Site). With add, the
// schema gains labels, or kinds on existing ones, for the rest.
func (s *Service) labelGroups(ctx context.Context, op annotation.Op, schema *radmark.LabelSchema, gs []*srGroup, add bool) (*radmark.LabelSchema, error) {
	var missing []*srGroup
	assign := func(sc *radmark.LabelSchema) {
		missing = missing[:0]
		for _, g := range gs {
			g.item.Label = findLabel(sc, g)
			if g.item.Label == "" {
				missing = append(missing, g)
			}
		}
	}
	assign(schema)
	if len(missing) == 0 {
		return schema, nil
	}
	if !add {
		var names []string
		for _, g := range missing {
			f := "no Finding"
			if g.finding != nil {
				f = "finding " + fmtCode(rcode(g.finding))
			}
			names = append(names, fmt.Sprintf("%s (%s, %s)", g.what, g.item.Kind, f))
		}
		return nil, radmark.Errorf(radmark.EINVALID, "the project's schema has no label for %s; add them to the schema or import with --add-labels", strings.Join(names, "; "))
	}
	labels := append([]radmark.Label(nil), schema.Labels...)
	taken := map[string]bool{}
	for _, l := range labels {
		taken[l.ID] = true
	}
	for _, g := range missing {
		if findLabel(&radmark.LabelSchema{Labels: labels}, g) != "" {
			continue
		}
		if g.finding == nil {
			return nil, radmark.Errorf(radmark.EINVALID, "%s has no Finding to make a label of; add the label to the schema", g.what)
		}
		// a label with the finding's codes that lacks the kind gains it
		found := false
		for i := range labels {
			if sameCode(labels[i].Type, rcode(g.finding)) && (g.site == nil || labels[i].AnatomicRegion == nil || sameCode(*labels[i].AnatomicRegion, rcode(g.site))) {
				labels[i].Kinds = append(slices.Clone(labels[i].Kinds), g.item.Kind)
				found = true
				break
			}
		}
		if found {
			continue
		}
		base := slug(g.finding.Meaning)
		if base == "" {
			base = "finding"
		}
		id := base
		for n := 2; taken[id]; n++ {
			id = fmt.Sprintf("%s-%d", base, n)
		}
		taken[id] = true
		category := radmark.Code{Value: "49755003", Scheme: "SCT", Meaning: "Morphologically Altered Structure"}
		if g.category != nil {
			category = rcode(g.category)
		}
		l := radmark.Label{ID: id, Name: g.finding.Meaning, Color: "#ffff00", Category: category, Type: rcode(g.finding), Kinds: []radmark.Kind{g.item.Kind}}
		if l.Name == "" {
			l.Name = id
		}
		if g.site != nil {
			site := rcode(g.site)
			l.AnatomicRegion = &site
		}
		labels = append(labels, l)
	}
	sc, err := s.Annotations.PutSchema(ctx, op, schema.ProjectID, schema.Version, labels, schema.Questions)
	if err != nil {
		return nil, err
	}
	assign(sc)
	if len(missing) > 0 {
		return nil, radmark.Errorf(radmark.EINTERNAL, "%s still has no label after adding labels", missing[0].what)
	}
	return sc, nil
}

func findLabel(sc *radmark.LabelSchema, g *srGroup) string {
	if l, ok := labelOf(sc, g.label); ok && allows(l, g.item.Kind) {
		return l.ID
	}
	if g.finding == nil {
		return ""
	}
	best, bestScore := "", -1
	for _, l := range sc.Labels {
		if !allows(l, g.item.Kind) || !sameCode(l.Type, rcode(g.finding)) {
			continue
		}
		score := 0
		if g.site != nil && l.AnatomicRegion != nil && sameCode(*l.AnatomicRegion, rcode(g.site)) {
			score = 2
		} else if (g.site == nil) == (l.AnatomicRegion == nil) {
			score = 1
		}
		if score > bestScore {
			best, bestScore = l.ID, score
		}
	}
	return best
}

// answerCandidate is a content item that may answer a question: of a
// group (annotation level) or of the report (the other levels).
type answerCandidate struct {
	node  *sr.Node
	group *srGroup
}

// derivation is a NUM's Derivation modifier (Mean, Maximum...), if any.
func derivation(n *sr.Node) *sr.Code {
	for _, c := range n.Children {
		if is(c.Concept, dcmCode("121401", "")) && c.Code != nil {
			return c.Code
		}
	}
	return nil
}

// questionOf finds the question a content item answers: by its concept
// (radmark's reports code questions without a concept by id), and for a
// NUM with a Derivation by the id questionsFor gives it.
func questionOf(sc *radmark.LabelSchema, n *sr.Node) *radmark.Question {
	if n.Concept == nil {
		return nil
	}
	if d := derivation(n); d != nil && n.ValueType == "NUM" {
		q, ok := sc.Question(slug(n.Concept.Meaning + " " + d.Meaning))
		if ok {
			return &q
		}
		return nil
	}
	for i := range sc.Questions {
		q := &sc.Questions[i]
		if q.Concept != nil && sameCode(*q.Concept, rcode(n.Concept)) {
			return q
		}
		if q.Concept == nil && n.Concept.Scheme == privateScheme && n.Concept.Value == q.ID {
			return q
		}
	}
	return nil
}

// ours says whether a group's value is one radmark computes from the
// geometry of an item radmark exported.
func (p answerCandidate) derived() bool {
	return p.group != nil && p.group.kind != "" && p.node.ValueType == "NUM" && derivedConcepts[codeKey(p.node.Concept)] && derivation(p.node) == nil
}

// questionsFor adds (with add) an annotation-level number question for
// each group NUM no question takes; without add they are an error.
func (s *Service) questionsFor(ctx context.Context, op annotation.Op, schema *radmark.LabelSchema, ps []answerCandidate, add bool) (*radmark.LabelSchema, error) {
	var qs []radmark.Question
	var missing []string
	seen := map[string]bool{}
	for _, p := range ps {
		n := p.node
		if p.group == nil || n.ValueType != "NUM" || n.Num == nil || n.Concept == nil || p.derived() || is(n.Concept, conceptConfidence) {
			continue
		}
		if questionOf(schema, n) != nil {
			continue
		}
		name := n.Concept.Meaning
		if d := derivation(n); d != nil {
			name += " " + d.Meaning
		}
		id := slug(name)
		if id == "" || seen[id] {
			continue
		}
		seen[id] = true
		if _, taken := schema.Question(id); taken {
			return nil, radmark.Errorf(radmark.EINVALID, "%s measures %s, and the schema's question %q has another concept", p.group.what, fmtCode(rcode(n.Concept)), id)
		}
		missing = append(missing, fmt.Sprintf("%s %s", name, fmtCode(rcode(n.Concept))))
		q := radmark.Question{ID: id, Text: name, Type: radmark.QuestionNumber, Level: radmark.LevelAnnotation}
		if derivation(n) == nil {
			c := rcode(n.Concept)
			q.Concept = &c
		}
		if n.Num.Unit.Value != "" {
			u := rcode(&n.Num.Unit)
			q.Unit = &u
		}
		qs = append(qs, q)
	}
	if len(qs) == 0 {
		return schema, nil
	}
	if !add {
		return nil, radmark.Errorf(radmark.EINVALID, "the project's schema has no question for the measurements %s; add them to the schema or import with --add-labels", strings.Join(missing, "; "))
	}
	return s.Annotations.PutSchema(ctx, op, schema.ProjectID, schema.Version, schema.Labels, append(slices.Clone(schema.Questions), qs...))
}

// answerOf turns a content item into an answer, or says why it has none;
// (nil, "") for items that are no answer at all (radmark's derived
// measurements).
func answerOf(p answerCandidate, sc *radmark.LabelSchema, grid *volume.Grid, series radmark.UID, ids map[*srGroup]string) (*radmark.Answer, string) {
	n := p.node
	if p.derived() || (p.group != nil && is(n.Concept, conceptConfidence)) {
		return nil, ""
	}
	where := "the report's evaluations"
	if p.group != nil {
		where = p.group.what
	}
	concept := "no concept"
	if n.Concept != nil {
		concept = fmt.Sprintf("%s %s", n.Concept.Meaning, fmtCode(rcode(n.Concept)))
	}
	q := questionOf(sc, n)
	if q == nil {
		return nil, fmt.Sprintf("%s: %s %s answers no question of the schema", where, n.ValueType, concept)
	}
	a := &radmark.Answer{Question: q.ID}
	switch q.Level {
	case radmark.LevelAnnotation:
		if p.group == nil {
			return nil, fmt.Sprintf("%s: %s answers annotation-level question %q outside a measurement group", where, concept, q.ID)
		}
		a.Item = ids[p.group]
	case radmark.LevelSeries:
		a.SeriesUID = series
	case radmark.LevelImage:
		for _, c := range n.Children {
			if c.ValueType == "IMAGE" && len(c.Refs) > 0 {
				ref := radmark.ImageRef{SOPInstanceUID: radmark.UID(c.Refs[0].SOPInstanceUID)}
				if len(c.Refs[0].Frames) > 0 {
					ref.Frame = c.Refs[0].Frames[0]
				}
				if _, ok := grid.SliceOf(ref); ok {
					a.Image = &ref
				}
			}
		}
		if a.Image == nil {
			return nil, fmt.Sprintf("%s: %s answers image-level question %q but names no image of the series", where, concept, q.ID)
		}
	}
	switch {
	case n.ValueType == "NUM" && q.Type == radmark.QuestionNumber:
		if n.Num == nil {
			return nil, fmt.Sprintf("%s: %s has no value", where, concept)
		}
		v := n.Num.Value
		a.Number = &v
	case n.ValueType == "TEXT" && q.Type == radmark.QuestionText:
		a.Text = n.Text
	case n.ValueType == "CODE" && (q.Type == radmark.QuestionSingle || q.Type == radmark.QuestionMultiple):
		for _, o := range q.Options {
			if (o.Code != nil && sameCode(*o.Code, rcode(n.Code))) || (o.Code == nil && n.Code.Scheme == privateScheme && n.Code.Value == o.Value) {
				a.Choices = []string{o.Value}
			}
		}
		if a.Choices == nil {
			return nil, fmt.Sprintf("%s: %s answers %s, which is no option of question %q", where, concept, fmtCode(rcode(n.Code)), q.ID)
		}
	default:
		return nil, fmt.Sprintf("%s: a %s cannot answer %s question %q", where, n.ValueType, q.Type, q.ID)
	}
	return a, ""
}

// saveItems saves items and answers as the next revision of the reader's
// set on the series: they replace the set's items and answers, except its
// segmentation items (with their answers) and labelmaps, which stay.
func (s *Service) saveItems(ctx context.Context, op annotation.Op, opt ImportOptions, ser *Series, schema *radmark.LabelSchema, items []radmark.Item, answers []radmark.Answer, message string) (*radmark.Revision, error) {
	set, err := s.readerSet(ctx, op, opt, ser)
	if err != nil {
		return nil, err
	}
	req := &annotation.SaveRequest{Parent: set.Head, Message: message, SchemaVersion: schema.Version}
	taken := map[string]bool{}
	if set.Head != "" {
		head, err := s.Annotations.Revision(ctx, op, set.Head)
		if err != nil {
			return nil, err
		}
		kept := map[string]bool{}
		for _, it := range head.Content.Items {
			if it.Kind == radmark.KindSegmentation {
				kept[it.ID], taken[it.ID] = true, true
				req.Items = append(req.Items, it)
			}
		}
		for _, a := range head.Content.Answers {
			if a.Item != "" && kept[a.Item] {
				req.Answers = append(req.Answers, a)
			}
		}
	}
	renamed := map[string]string{}
	for _, it := range items {
		if taken[it.ID] {
			id := it.ID
			for n := 2; taken[id]; n++ {
				id = fmt.Sprintf("%s-%d", it.ID, n)
			}
			renamed[it.ID], it.ID = id, id
		}
		taken[it.ID] = true
		req.Items = append(req.Items, it)
	}
	for _, a := range answers {
		if id, ok := renamed[a.Item]; ok && a.Item != "" {
			a.Item = id
		}
		req.Answers = append(req.Answers, a)
	}
	return s.Annotations.Save(ctx, op, set.ID, req)
}
