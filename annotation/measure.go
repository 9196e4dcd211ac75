package annotation

import (
	"context"
	"fmt"
	"math"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/labelmap"
	"github.com/radmark/radmark/volume"
)

// Quantity is a measured value with its UCUM unit: "mm", "mm2", "mm3",
// "deg", "[hnsf'U]" (Hounsfield units), "{pixel}" or "{pixels}2" when the
// image has no pixel spacing, "1" for unitless pixel values.
type Quantity struct {
	Value float64 `json:"value"`
	Unit  string  `json:"unit"`
}

// Stats summarise the pixel values inside a region, in modality units
// (rescale slope and intercept applied). SD is the population standard
// deviation, as OHIF and Cornerstone report it.
type Stats struct {
	Count int     `json:"count"`
	Mean  float64 `json:"mean"`
	SD    float64 `json:"sd"`
	Min   float64 `json:"min"`
	Max   float64 `json:"max"`
	Unit  string  `json:"unit"`
}

// Measurement is what the server computes for one item from the stored
// pixels and exact geometry.
type Measurement struct {
	Item  string       `json:"item"`
	Kind  radmark.Kind `json:"kind"`
	Label string       `json:"label"`

	Length    *Quantity `json:"length,omitempty"`    // length, polyline, perimeter of a closed contour
	Angle     *Quantity `json:"angle,omitempty"`     // angle
	LongAxis  *Quantity `json:"longAxis,omitempty"`  // bidirectional
	ShortAxis *Quantity `json:"shortAxis,omitempty"` // bidirectional
	Width     *Quantity `json:"width,omitempty"`     // boxes and ROIs: along the image row (box3d: L)
	Height    *Quantity `json:"height,omitempty"`    // along the image column (box3d: P)
	Depth     *Quantity `json:"depth,omitempty"`     // box3d: S
	Area      *Quantity `json:"area,omitempty"`      // ROIs, boxes, closed contours
	Volume    *Quantity `json:"volume,omitempty"`    // segments, 3D boxes
	// Position is a landmark's point, or a segment's centroid, in LPS mm.
	Position *[3]float64 `json:"position,omitempty"`
	// Value is the pixel value at a landmark.
	Value *Quantity `json:"value,omitempty"`
	Stats *Stats    `json:"stats,omitempty"`
	// Notes say what the numbers rest on (spacing source, uneven slices).
	Notes []string `json:"notes,omitempty"`
}

// Measurements computes every item's measurements for a revision (an
// audited read).
func (s *Service) Measurements(ctx context.Context, op Op, rev radmark.ID) ([]Measurement, error) {
	r, err := s.Store.Revision(ctx, rev)
	if err != nil {
		return nil, err
	}
	set, err := s.Store.Set(ctx, r.SetID)
	if err != nil {
		return nil, err
	}
	if s.Images == nil {
		return nil, radmark.Errorf(radmark.EUNAVAILABLE, "measurements need the image archive")
	}
	m := &measurer{s: s, set: set, content: r.Content}
	out := make([]Measurement, 0, len(r.Content.Items))
	for i := range r.Content.Items {
		it := &r.Content.Items[i]
		if it.Kind == radmark.KindClassification {
			continue
		}
		ms, err := m.item(ctx, it)
		if err != nil {
			return nil, fmt.Errorf("measure item %q: %w", it.ID, err)
		}
		out = append(out, *ms)
	}
	if err := s.audited(ctx, op, "revision.measure", "revision", string(r.ID), r.ContentHash); err != nil {
		return nil, err
	}
	return out, nil
}

type measurer struct {
	s       *Service
	set     *radmark.AnnotationSet
	content *radmark.Content
}

func valueUnit(modality string) string {
	if modality == "CT" {
		return "[hnsf'U]"
	}
	return "1"
}

func (m *measurer) item(ctx context.Context, it *radmark.Item) (*Measurement, error) {
	out := &Measurement{Item: it.ID, Kind: it.Kind, Label: it.Label}
	if it.Kind == radmark.KindSegmentation {
		return out, m.segment(ctx, it, out)
	}
	if it.Kind == radmark.KindBox3D {
		a, b := it.LPS[0], it.LPS[1]
		w, h, d := math.Abs(b[0]-a[0]), math.Abs(b[1]-a[1]), math.Abs(b[2]-a[2])
		out.Width, out.Height, out.Depth = &Quantity{w, "mm"}, &Quantity{h, "mm"}, &Quantity{d, "mm"}
		out.Volume = &Quantity{w * h * d, "mm3"}
		return out, nil
	}
	var g *ImageGeometry
	if it.Image != nil {
		var err error
		if g, err = m.s.Images.Image(ctx, m.set.StudyUID, *it.Image); err != nil {
			return nil, err
		}
		if g.SpacingNote != "" && !g.Patient {
			out.Notes = append(out.Notes, g.SpacingNote)
		}
	}
	// Points in millimetres: LPS as given, image points through the plane.
	pts := make([]volume.Vec3, 0, max(len(it.Points), len(it.LPS)))
	pts = append(pts, it.LPS...)
	for _, p := range it.Points {
		pts = append(pts, g.Plane.ToLPS(p[0], p[1]))
	}
	lengthUnit, areaUnit := "mm", "mm2"
	if g != nil && !g.Calibrated && len(it.Points) > 0 {
		lengthUnit, areaUnit = "{pixel}", "{pixels}2"
	}
	switch it.Kind {
	case radmark.KindLength:
		out.Length = &Quantity{dist(pts[0], pts[1]), lengthUnit}
	case radmark.KindAngle:
		out.Angle = &Quantity{angle(pts[0], pts[1], pts[2]), "deg"}
	case radmark.KindBidirectional:
		out.LongAxis = &Quantity{dist(pts[0], pts[1]), lengthUnit}
		out.ShortAxis = &Quantity{dist(pts[2], pts[3]), lengthUnit}
	case radmark.KindLandmark:
		p := [3]float64(it.LPS[0])
		out.Position = &p
		if g != nil {
			x, y, _ := g.Plane.FromLPS(it.LPS[0])
			if v, ok, err := m.pixelAt(ctx, g, x, y); err != nil {
				return nil, err
			} else if ok {
				out.Value = &Quantity{v, valueUnit(g.Modality)}
			}
		}
	case radmark.KindBox2D, radmark.KindRectangleROI, radmark.KindEllipseROI:
		a, b := it.Points[0], it.Points[1]
		w := math.Abs(b[0]-a[0]) * g.Plane.ColSpacing
		h := math.Abs(b[1]-a[1]) * g.Plane.RowSpacing
		out.Width, out.Height = &Quantity{w, lengthUnit}, &Quantity{h, lengthUnit}
		area := w * h
		if it.Kind == radmark.KindEllipseROI {
			area = math.Pi * w / 2 * h / 2
		}
		out.Area = &Quantity{area, areaUnit}
		if it.Kind != radmark.KindBox2D {
			inside := rectInside(a, b)
			if it.Kind == radmark.KindEllipseROI {
				inside = ellipseInside(a, b)
			}
			st, err := m.regionStats(ctx, g, boundsOf(it.Points, g), inside)
			if err != nil {
				return nil, err
			}
			out.Stats = st
		}
	case radmark.KindContour:
		perimeter := 0.0
		for i := 1; i < len(pts); i++ {
			perimeter += dist(pts[i-1], pts[i])
		}
		if it.Closed {
			perimeter += dist(pts[len(pts)-1], pts[0])
			area := 0.0
			for i := range it.Points {
				p, q := it.Points[i], it.Points[(i+1)%len(it.Points)]
				area += p[0]*q[1] - q[0]*p[1]
			}
			out.Area = &Quantity{math.Abs(area) / 2 * g.Plane.ColSpacing * g.Plane.RowSpacing, areaUnit}
			st, err := m.regionStats(ctx, g, boundsOf(it.Points, g), polygonInside(it.Points))
			if err != nil {
				return nil, err
			}
			out.Stats = st
		}
		out.Length = &Quantity{perimeter, lengthUnit}
	}
	return out, nil
}

func dist(a, b volume.Vec3) float64 {
	return math.Sqrt((a[0]-b[0])*(a[0]-b[0]) + (a[1]-b[1])*(a[1]-b[1]) + (a[2]-b[2])*(a[2]-b[2]))
}

// angle returns the angle at vertex b between rays b→a and b→c, degrees.
func angle(a, b, c volume.Vec3) float64 {
	u := volume.Vec3{a[0] - b[0], a[1] - b[1], a[2] - b[2]}
	v := volume.Vec3{c[0] - b[0], c[1] - b[1], c[2] - b[2]}
	// atan2 of |u×v| and u·v stays exact near 0 and 180 degrees.
	cx := volume.Vec3{u[1]*v[2] - u[2]*v[1], u[2]*v[0] - u[0]*v[2], u[0]*v[1] - u[1]*v[0]}
	cross := math.Sqrt(cx[0]*cx[0] + cx[1]*cx[1] + cx[2]*cx[2])
	dot := u[0]*v[0] + u[1]*v[1] + u[2]*v[2]
	return math.Atan2(cross, dot) * 180 / math.Pi
}

// pixelBounds is the range of pixel indices whose centres may be inside a
// region: columns [i0, i1), rows [j0, j1).
type pixelBounds struct{ i0, i1, j0, j1 int }

func boundsOf(points [][2]float64, g *ImageGeometry) pixelBounds {
	minX, minY, maxX, maxY := math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)
	for _, p := range points {
		minX, maxX = math.Min(minX, p[0]), math.Max(maxX, p[0])
		minY, maxY = math.Min(minY, p[1]), math.Max(maxY, p[1])
	}
	// Pixel i's centre is i+0.5: the first centre >= minX is ceil(minX-0.5).
	b := pixelBounds{
		i0: int(math.Ceil(minX - 0.5)), i1: int(math.Floor(maxX-0.5)) + 1,
		j0: int(math.Ceil(minY - 0.5)), j1: int(math.Floor(maxY-0.5)) + 1,
	}
	b.i0, b.j0 = max(b.i0, 0), max(b.j0, 0)
	b.i1, b.j1 = min(b.i1, g.Columns), min(b.j1, g.Rows)
	return b
}

// A region test takes a pixel centre (x, y).
type regionTest func(x, y float64) bool

func rectInside(a, b [2]float64) regionTest {
	x0, x1 := math.Min(a[0], b[0]), math.Max(a[0], b[0])
	y0, y1 := math.Min(a[1], b[1]), math.Max(a[1], b[1])
	return func(x, y float64) bool { return x >= x0 && x <= x1 && y >= y0 && y <= y1 }
}

func ellipseInside(a, b [2]float64) regionTest {
	cx, cy := (a[0]+b[0])/2, (a[1]+b[1])/2
	rx, ry := math.Abs(b[0]-a[0])/2, math.Abs(b[1]-a[1])/2
	return func(x, y float64) bool {
		dx, dy := (x-cx)/rx, (y-cy)/ry
		return dx*dx+dy*dy <= 1
	}
}

// polygonInside is the even-odd rule on a closed polygon.
func polygonInside(poly [][2]float64) regionTest {
	return func(x, y float64) bool {
		in := false
		for i, j := 0, len(poly)-1; i < len(poly); j, i = i, i+1 {
			pi, pj := poly[i], poly[j]
			if (pi[1] > y) != (pj[1] > y) && x < (pj[0]-pi[0])*(y-pi[1])/(pj[1]-pi[1])+pi[0] {
				in = !in
			}
		}
		return in
	}
}

// statsAccumulator sums in float64, with Welford's update so the SD of
// a large, nearly uniform region is not lost to cancellation.
type statsAccumulator struct {
	n        int
	mean, m2 float64
	min, max float64
}

func (a *statsAccumulator) add(v float64) {
	a.n++
	if a.n == 1 {
		a.min, a.max = v, v
	} else {
		a.min, a.max = math.Min(a.min, v), math.Max(a.max, v)
	}
	d := v - a.mean
	a.mean += d / float64(a.n)
	a.m2 += d * (v - a.mean)
}

func (a *statsAccumulator) stats(unit string) *Stats {
	if a.n == 0 {
		return &Stats{Unit: unit}
	}
	return &Stats{Count: a.n, Mean: a.mean, SD: math.Sqrt(a.m2 / float64(a.n)), Min: a.min, Max: a.max, Unit: unit}
}

func (m *measurer) regionStats(ctx context.Context, g *ImageGeometry, b pixelBounds, inside regionTest) (*Stats, error) {
	vals, err := m.s.Images.ImageValues(ctx, m.set.StudyUID, g.Ref)
	if err != nil {
		return nil, err
	}
	var acc statsAccumulator
	for j := b.j0; j < b.j1; j++ {
		for i := b.i0; i < b.i1; i++ {
			if inside(float64(i)+0.5, float64(j)+0.5) {
				acc.add(float64(vals[j*g.Columns+i]))
			}
		}
	}
	return acc.stats(valueUnit(g.Modality)), nil
}

// pixelAt returns the value of the pixel containing image point (x, y).
func (m *measurer) pixelAt(ctx context.Context, g *ImageGeometry, x, y float64) (float64, bool, error) {
	i, j := int(math.Floor(x)), int(math.Floor(y))
	if i < 0 || j < 0 || i >= g.Columns || j >= g.Rows {
		return 0, false, nil
	}
	vals, err := m.s.Images.ImageValues(ctx, m.set.StudyUID, g.Ref)
	if err != nil {
		return 0, false, err
	}
	return float64(vals[j*g.Columns+i]), true, nil
}

// segment measures a segmentation item: voxel count × voxel volume, the
// centroid, and the values of the voxels in the series' pixels.
func (m *measurer) segment(ctx context.Context, it *radmark.Item, out *Measurement) error {
	var lm *radmark.Labelmap
	for i := range m.content.Labelmaps {
		if m.content.Labelmaps[i].Layer == it.Segment.Layer {
			lm = &m.content.Labelmaps[i]
		}
	}
	if lm == nil {
		return radmark.Errorf(radmark.EINTERNAL, "labelmap layer %d is missing", it.Segment.Layer)
	}
	g, err := m.s.Images.Grid(ctx, m.set.StudyUID, lm.SeriesUID)
	if err != nil {
		return err
	}
	if g.Columns != lm.Columns || g.Rows != lm.Rows || g.NumSlices != lm.Slices {
		return radmark.Errorf(radmark.ECONFLICT, "series %s is now %d×%d×%d and no longer matches its %d×%d×%d labelmap", lm.SeriesUID, g.Columns, g.Rows, g.NumSlices, lm.Columns, lm.Rows, lm.Slices)
	}
	for _, f := range g.Findings {
		if f.Code == "gap" || f.Code == "uneven_spacing" {
			out.Notes = append(out.Notes, "volume assumes even slice spacing, but: "+f.Message)
		}
	}
	modality := g.Modality
	value := uint8(it.Segment.Value)
	var acc statsAccumulator
	var sum volume.Vec3
	for k, digest := range lm.Chunks {
		if digest == "" {
			continue
		}
		labels, err := labelmap.LoadSlice(ctx, m.s.Blobs, lm, k)
		if err != nil {
			return err
		}
		var vals []float32
		for idx, l := range labels {
			if l != value {
				continue
			}
			if vals == nil {
				if vals, err = m.s.Images.SliceValues(ctx, m.set.StudyUID, lm.SeriesUID, k); err != nil {
					return err
				}
			}
			acc.add(float64(vals[idx]))
			p := g.IndexToLPS(float64(idx%g.Columns), float64(idx/g.Columns), float64(k))
			sum[0], sum[1], sum[2] = sum[0]+p[0], sum[1]+p[1], sum[2]+p[2]
		}
	}
	out.Volume = &Quantity{float64(acc.n) * g.VoxelVolume(), "mm3"}
	out.Stats = acc.stats(valueUnit(modality))
	if acc.n > 0 {
		n := float64(acc.n)
		out.Position = &[3]float64{sum[0] / n, sum[1] / n, sum[2] / n}
	}
	return nil
}
