package volume

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/dicom"
)

// Tolerances of BuildGrid (see the package doc).
const (
	directionTolerance = 1e-3  // per component, for images to share a grid
	spacingTolerance   = 1e-4  // relative, for pixel spacings to be equal
	duplicateDistance  = 0.01  // mm along the normal
	unevenAbsolute     = 0.02  // mm
	unevenRelative     = 0.01  // of the median step
	gapFactor          = 1.5   // a step this many times the median is a gap
	shearTolerance     = 0.05  // mm of in-plane drift over the stack
	maxFindingsPerCode = 20    // beyond this, one summary finding
	minSliceFallback   = 1e-12 // a stack shorter than this has no direction
)

// Finding codes.
const (
	FindingGap               = "gap"                // slices missing: a step much larger than the series' spacing and the slices' thickness
	FindingUnevenSpacing     = "uneven_spacing"     // steps differ from the median spacing
	FindingMixedOrientation  = "mixed_orientation"  // images in another orientation were left out of the grid
	FindingDuplicatePosition = "duplicate_position" // two slices at the same position (phases, echoes, repeats)
	FindingMixedSize         = "mixed_size"         // images of another size or pixel spacing were left out
	FindingGantryTilt        = "gantry_tilt"        // slices advance obliquely to their normal: a sheared grid
	FindingSingleImage       = "single_image"       // the grid has one slice; its thickness is assumed
	FindingMissingGeometry   = "missing_geometry"   // images without (valid) patient geometry were left out
	FindingUnreadable        = "unreadable"         // Load: an instance's header could not be read; left out
)

// Finding is a continuity finding of a grid.
type Finding struct {
	Code string `json:"code"`
	// Message is for a person: what and where. It numbers slices from 1
	// in grid order, as viewers do ("slice 5/30"); Slice is 0-based.
	Message string `json:"message"`
	// Slice is the first grid slice concerned (for a gap or uneven step,
	// the slice before it; for a duplicate, the second of the pair), -1
	// when the finding concerns images left out of the grid or the grid as
	// a whole.
	Slice int `json:"slice"`
}

// Image is one image to place in a grid: an instance's dataset (for a
// multi-frame instance the whole instance's, with Ref.Frame naming the
// frame, 1-based; 0 for single-frame instances).
type Image struct {
	Ref     radmark.ImageRef
	Dataset *dicom.Dataset
}

// Slice is one image of a grid, in grid order.
type Slice struct {
	Image radmark.ImageRef `json:"image"` // SOPInstanceUID and frame (0 single-frame)
	Plane Plane            `json:"plane"`
	// Slope and Intercept are the modality LUT's rescale (1 and 0 when
	// absent); for enhanced objects from the frame's Pixel Value
	// Transformation. LUT, when not nil, is a Modality LUT Sequence that
	// replaces the rescale.
	Slope     float64 `json:"slope"`
	Intercept float64 `json:"intercept"`
	LUT       *LUT    `json:"lut,omitempty"`
}

// Grid is a series' voxel grid: index (i = column, j = row, k = slice),
// integer indices at voxel centres.
//
// Slices are sorted by position along the normal of the first image
// (ascending, so for axial images slice 0 is the most inferior), not by
// InstanceNumber; ties keep InstanceNumber, SOP Instance UID and frame
// order.
//
// IndexToLPS and LPSToIndex follow the slices' actual positions: for k
// between two slices the position is interpolated linearly between theirs,
// and beyond the ends it is extrapolated by Spacing[2] along SliceDir. On
// a regular grid that is exactly Affine(); on an uneven one integral k
// still lands on slice k, where Affine() would not. Affine() is the
// regular approximation (first slice, mean step), which is what NIfTI can
// hold and what dcm2niix writes for regular series.
type Grid struct {
	Columns   int `json:"columns"`
	Rows      int `json:"rows"`
	NumSlices int `json:"numSlices"`
	// Origin is the LPS of the centre of voxel (0,0,0).
	Origin Vec3 `json:"origin"`
	// RowDir and ColDir are the first slice's direction cosines; SliceDir
	// is the unit vector from slice 0 towards the last slice (not
	// orthogonal to the image plane with a gantry tilt), the normal for a
	// single slice.
	RowDir   Vec3 `json:"rowDir"`
	ColDir   Vec3 `json:"colDir"`
	SliceDir Vec3 `json:"sliceDir"`
	// Spacing is mm per index step along i, j and k: the column spacing
	// PixelSpacing[1], the row spacing PixelSpacing[0], and the mean
	// distance between consecutive slice positions (for a single slice,
	// SpacingBetweenSlices, else SliceThickness, else 1).
	Spacing  Vec3      `json:"spacing"`
	Slices   []Slice   `json:"slices"`
	Findings []Finding `json:"findings"`
	// Modality and FrameOfReferenceUID of the first slice.
	Modality            string      `json:"modality,omitempty"`
	FrameOfReferenceUID radmark.UID `json:"frameOfReferenceUID,omitempty"`

	normal    Vec3
	heights   []float64 // position of each slice along normal, relative to slice 0
	thickness []float64 // SliceThickness of each slice, 0 when unknown
	inPlane   basis     // solves for (i, j, offset) in the columns (s0·RowDir, s1·ColDir, normal)
	index     map[radmark.ImageRef]int
}

// candidate is an image with readable geometry.
type candidate struct {
	img      Image
	plane    Plane
	instance int
	order    int
}

// BuildGrid places images in one voxel grid. Images without valid
// geometry, and images whose orientation, size or pixel spacing differ
// from the largest group of alike images, are left out with a finding.
//
// Errors: EINVALID for no images; EUNSUPPORTED when no image has patient
// geometry, or when no group of alike images holds more than half of
// those that have it (several stacks in one series: a localizer with
// three planes, say).
func BuildGrid(images []Image) (*Grid, error) {
	if len(images) == 0 {
		return nil, radmark.Errorf(radmark.EINVALID, "no images to build a grid from")
	}
	g := &Grid{}
	var cands []candidate
	var noGeometry []string
	var firstErr error
	for n, im := range images {
		p, err := PlaneOf(im.Dataset, im.Ref.Frame)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			noGeometry = append(noGeometry, describeRef(im.Ref)+": "+radmark.ErrorMessage(err))
			continue
		}
		cands = append(cands, candidate{img: im, plane: p, instance: im.Dataset.IntOr(dicom.TagInstanceNumber, 0), order: n})
	}
	if len(cands) == 0 {
		if len(images) == 1 {
			return nil, firstErr
		}
		return nil, radmark.Errorf(radmark.EUNSUPPORTED, "none of the %d images has usable patient geometry, so they form no volume (first: %s)", len(images), noGeometry[0])
	}
	if len(noGeometry) > 0 {
		g.Findings = append(g.Findings, Finding{Code: FindingMissingGeometry, Slice: -1,
			Message: fmt.Sprintf("%d image(s) without usable patient geometry were left out of the grid: %s", len(noGeometry), summarize(noGeometry))})
	}

	// Group alike images; the largest group is the grid.
	type group struct {
		ref     Plane
		members []candidate
	}
	var groups []*group
	for _, c := range cands {
		var found *group
		for _, gr := range groups {
			if alike(gr.ref, c.plane) {
				found = gr
				break
			}
		}
		if found == nil {
			found = &group{ref: c.plane}
			groups = append(groups, found)
		}
		found.members = append(found.members, c)
	}
	best := groups[0]
	for _, gr := range groups[1:] {
		if len(gr.members) > len(best.members) {
			best = gr
		}
	}
	if len(groups) > 1 && 2*len(best.members) <= len(cands) {
		var parts []string
		for _, gr := range groups {
			parts = append(parts, fmt.Sprintf("%d %s %d×%d", len(gr.members), orientationName(gr.ref), gr.ref.Columns, gr.ref.Rows))
		}
		return nil, radmark.Errorf(radmark.EUNSUPPORTED, "the images form no single volume: they fall into %d groups of different orientation or size (%s) and none holds more than half", len(groups), strings.Join(parts, ", "))
	}
	var otherOrientation, otherSize []string
	for _, gr := range groups {
		if gr == best {
			continue
		}
		for _, c := range gr.members {
			what := fmt.Sprintf("%s (%s %d×%d, spacing %g×%g mm)", describeRef(c.img.Ref), orientationName(c.plane), c.plane.Columns, c.plane.Rows, c.plane.RowSpacing, c.plane.ColSpacing)
			if sameDirections(best.ref, c.plane) {
				otherSize = append(otherSize, what)
			} else {
				otherOrientation = append(otherOrientation, what)
			}
		}
	}
	refDesc := fmt.Sprintf("%s %d×%d with %g×%g mm pixels", orientationName(best.ref), best.ref.Columns, best.ref.Rows, best.ref.RowSpacing, best.ref.ColSpacing)
	if len(otherOrientation) > 0 {
		g.Findings = append(g.Findings, Finding{Code: FindingMixedOrientation, Slice: -1,
			Message: fmt.Sprintf("%d image(s) in another orientation were left out of the grid of %d %s images: %s", len(otherOrientation), len(best.members), refDesc, summarize(otherOrientation))})
	}
	if len(otherSize) > 0 {
		g.Findings = append(g.Findings, Finding{Code: FindingMixedSize, Slice: -1,
			Message: fmt.Sprintf("%d image(s) of another size or pixel spacing were left out of the grid of %d %s images: %s", len(otherSize), len(best.members), refDesc, summarize(otherSize))})
	}

	// Order by position along the normal.
	members := best.members
	normal := best.ref.Normal()
	height := func(c candidate) float64 { return dot(c.plane.Position, normal) }
	sort.SliceStable(members, func(a, b int) bool {
		ha, hb := height(members[a]), height(members[b])
		if ha != hb {
			return ha < hb
		}
		ca, cb := members[a], members[b]
		if c := cmp.Compare(ca.instance, cb.instance); c != 0 {
			return c < 0
		}
		if c := strings.Compare(string(ca.img.Ref.SOPInstanceUID), string(cb.img.Ref.SOPInstanceUID)); c != 0 {
			return c < 0
		}
		if c := cmp.Compare(ca.img.Ref.Frame, cb.img.Ref.Frame); c != 0 {
			return c < 0
		}
		return ca.order < cb.order
	})

	first := members[0]
	g.Columns, g.Rows, g.NumSlices = first.plane.Columns, first.plane.Rows, len(members)
	g.RowDir, g.ColDir = first.plane.RowDir, first.plane.ColDir
	g.normal = unit(cross(g.RowDir, g.ColDir))
	g.Origin = first.plane.Position
	g.Modality = strings.TrimSpace(first.img.Dataset.String(dicom.TagModality))
	g.FrameOfReferenceUID = radmark.UID(strings.TrimSpace(first.img.Dataset.String(dicom.TagFrameOfReferenceUID)))
	g.Slices = make([]Slice, len(members))
	g.index = make(map[radmark.ImageRef]int, len(members))
	g.heights = make([]float64, len(members))
	g.thickness = make([]float64, len(members))
	for k, c := range members {
		slope, intercept, lut := modalityLUT(c.img.Dataset, max(c.img.Ref.Frame-1, 0))
		g.Slices[k] = Slice{Image: c.img.Ref, Plane: c.plane, Slope: slope, Intercept: intercept, LUT: lut}
		g.index[c.img.Ref] = k
		g.thickness[k] = sliceThickness(c.img.Dataset, max(c.img.Ref.Frame-1, 0))
		g.heights[k] = dot(sub(c.plane.Position, g.Origin), g.normal)
		if k > 0 && g.heights[k] < g.heights[k-1] {
			// The sort used the first image's normal; the first slice's
			// may differ within directionTolerance.
			g.heights[k] = g.heights[k-1]
		}
	}

	last := g.Slices[len(members)-1].Plane.Position
	span := sub(last, g.Origin)
	if g.NumSlices > 1 {
		var sum float64
		for k := 1; k < g.NumSlices; k++ {
			sum += norm(sub(g.Slices[k].Plane.Position, g.Slices[k-1].Plane.Position))
		}
		g.Spacing[2] = sum / float64(g.NumSlices-1)
	}
	if g.NumSlices > 1 && norm(span) > minSliceFallback && g.Spacing[2] > minSliceFallback {
		g.SliceDir = unit(span)
	} else {
		g.SliceDir = g.normal
		g.Spacing[2] = nominalThickness(first.img.Dataset, max(first.img.Ref.Frame-1, 0))
	}
	g.Spacing[0], g.Spacing[1] = first.plane.ColSpacing, first.plane.RowSpacing
	g.inPlane = newBasis(scale(g.RowDir, g.Spacing[0]), scale(g.ColDir, g.Spacing[1]), g.normal)
	g.Findings = append(g.Findings, g.continuity(first.img.Dataset)...)
	return g, nil
}

// alike reports whether two planes can share a grid.
func alike(a, b Plane) bool {
	return a.Columns == b.Columns && a.Rows == b.Rows && sameDirections(a, b) &&
		math.Abs(a.RowSpacing-b.RowSpacing) <= spacingTolerance*a.RowSpacing &&
		math.Abs(a.ColSpacing-b.ColSpacing) <= spacingTolerance*a.ColSpacing
}

func sameDirections(a, b Plane) bool {
	for i := 0; i < 3; i++ {
		if math.Abs(a.RowDir[i]-b.RowDir[i]) > directionTolerance || math.Abs(a.ColDir[i]-b.ColDir[i]) > directionTolerance {
			return false
		}
	}
	return true
}

// sliceThickness returns a frame's SliceThickness, 0 when unknown.
func sliceThickness(ds *dicom.Dataset, idx int) float64 {
	if src := frameAttr(ds, idx, dicom.TagPixelMeasuresSequence, dicom.TagSliceThickness); src != nil {
		if v, ok := src.Float(dicom.TagSliceThickness); ok && finite(v) && v > 0 {
			return v
		}
	}
	return 0
}

// nominalThickness is the slice step of a single-slice grid.
func nominalThickness(ds *dicom.Dataset, idx int) float64 {
	for _, t := range []dicom.Tag{dicom.TagSpacingBetweenSlices, dicom.TagSliceThickness} {
		src := frameAttr(ds, idx, dicom.TagPixelMeasuresSequence, t)
		if src == nil {
			continue
		}
		if v, ok := src.Float(t); ok && finite(v) && v > 0 {
			return v
		}
	}
	return 1
}

// continuity finds gaps, uneven and duplicate steps, shear and single
// slices.
func (g *Grid) continuity(first *dicom.Dataset) []Finding {
	n := g.NumSlices
	if n == 1 {
		return []Finding{{Code: FindingSingleImage, Slice: 0,
			Message: fmt.Sprintf("the grid has a single slice; its thickness is taken as %g mm", g.Spacing[2])}}
	}
	var out []Finding
	counts := map[string]int{}
	addCapped := func(f Finding) {
		counts[f.Code]++
		if counts[f.Code] <= maxFindingsPerCode {
			out = append(out, f)
		}
	}
	steps := make([]float64, n-1)
	var distinct []float64
	for k := range steps {
		steps[k] = g.heights[k+1] - g.heights[k]
		if steps[k] >= duplicateDistance {
			distinct = append(distinct, steps[k])
		}
	}
	for k, s := range steps {
		if s < duplicateDistance {
			addCapped(Finding{Code: FindingDuplicatePosition, Slice: k + 1,
				Message: fmt.Sprintf("slices %d/%d and %d/%d are at the same position (%.2f mm along the normal; %s and %s)", k+1, n, k+2, n, g.heights[k]+dot(g.Origin, g.normal), describeRef(g.Slices[k].Image), describeRef(g.Slices[k+1].Image))})
		}
	}
	if len(distinct) > 0 {
		median := medianOf(distinct)
		tol := math.Max(unevenAbsolute, unevenRelative*median)
		var uneven []int
		lo, hi := math.Inf(1), math.Inf(-1)
		for k, s := range steps {
			if s < duplicateDistance {
				continue
			}
			lo, hi = math.Min(lo, s), math.Max(hi, s)
			// A gap leaves anatomy uncovered: the step is much larger than
			// the usual one and than the slices' thickness (a series that
			// changes from 4 mm to 7 mm slices has long steps but no gap).
			var covered float64
			if g.thickness[k] > 0 && g.thickness[k+1] > 0 {
				covered = (g.thickness[k] + g.thickness[k+1]) / 2
			}
			switch {
			case s > gapFactor*median && (covered == 0 || s > covered+tol):
				missing := int(math.Round(s/median)) - 1
				addCapped(Finding{Code: FindingGap, Slice: k,
					Message: fmt.Sprintf("gap of %.2f mm between slices %d/%d and %d/%d where the series' spacing is %.2f mm: about %d slice(s) missing", s, k+1, n, k+2, n, median, max(missing, 1))})
			case math.Abs(s-median) > tol:
				uneven = append(uneven, k)
			}
		}
		if len(uneven) > 0 {
			k := uneven[0]
			out = append(out, Finding{Code: FindingUnevenSpacing, Slice: k,
				Message: fmt.Sprintf("slice spacing is uneven: steps range from %.3f to %.3f mm around a median of %.3f mm, %d step(s) off by more than %.3f mm, first between slices %d/%d and %d/%d (%.3f mm)", lo, hi, median, len(uneven), tol, k+1, n, k+2, n, steps[k])})
		}
	}
	for code, c := range counts {
		if c > maxFindingsPerCode {
			out = append(out, Finding{Code: code, Slice: -1, Message: fmt.Sprintf("… and %d more %s findings", c-maxFindingsPerCode, code)})
		}
	}
	// Shear: how far the last slice drifts in the image plane.
	span := sub(g.Slices[n-1].Plane.Position, g.Origin)
	along := dot(span, g.normal)
	drift := norm(sub(span, scale(g.normal, along)))
	if drift > shearTolerance && math.Abs(along) > duplicateDistance {
		angle := math.Atan2(drift, math.Abs(along)) * 180 / math.Pi
		msg := fmt.Sprintf("slice positions advance at %.2f° to the slice normal (%.2f mm sideways over %.2f mm): the grid is sheared", angle, drift, math.Abs(along))
		if tilt, ok := first.Float(dicom.TagGantryDetectorTilt); ok && tilt != 0 {
			msg += fmt.Sprintf("; GantryDetectorTilt is %g°", tilt)
		}
		out = append(out, Finding{Code: FindingGantryTilt, Slice: -1, Message: msg})
	}
	return out
}

func medianOf(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func describeRef(r radmark.ImageRef) string {
	if r.Frame > 0 {
		return fmt.Sprintf("%s frame %d", r.SOPInstanceUID, r.Frame)
	}
	return string(r.SOPInstanceUID)
}

// summarize lists up to three items and counts the rest.
func summarize(items []string) string {
	if len(items) <= 3 {
		return strings.Join(items, "; ")
	}
	return strings.Join(items[:3], "; ") + fmt.Sprintf("; and %d more", len(items)-3)
}

// orientationName names a plane's orientation: axial, coronal or sagittal
// when its normal is within 10° of an axis (else oblique).
func orientationName(p Plane) string {
	n := p.Normal()
	names := [3]string{"sagittal", "coronal", "axial"}
	for a := 0; a < 3; a++ {
		if math.Abs(n[a]) >= math.Cos(10*math.Pi/180) {
			return names[a]
		}
	}
	return "oblique"
}

// Normal returns the unit normal of the grid's image planes (RowDir ×
// ColDir).
func (g *Grid) Normal() Vec3 { return unit(cross(g.RowDir, g.ColDir)) }

// geometry is what the index ↔ LPS mapping needs beyond the exported
// fields.
type geometry struct {
	normal  Vec3
	heights []float64 // nil: a regular grid without per-slice positions
	inPlane basis
}

// geom returns the mapping's geometry: cached by BuildGrid, or derived
// from the exported fields for a Grid made otherwise (decoded from JSON,
// or written as a literal). Without one Slice per slice the grid is
// taken as regular.
func (g *Grid) geom() geometry {
	if g.heights != nil && len(g.heights) == g.NumSlices {
		return geometry{normal: g.normal, heights: g.heights, inPlane: g.inPlane}
	}
	ge := geometry{normal: g.Normal()}
	ge.inPlane = newBasis(scale(g.RowDir, g.Spacing[0]), scale(g.ColDir, g.Spacing[1]), ge.normal)
	if len(g.Slices) == g.NumSlices && g.NumSlices > 0 {
		ge.heights = make([]float64, g.NumSlices)
		for k, s := range g.Slices {
			ge.heights[k] = dot(sub(s.Plane.Position, g.Origin), ge.normal)
			if k > 0 && ge.heights[k] < ge.heights[k-1] {
				ge.heights = nil
				break
			}
		}
	}
	return ge
}

// slicePosition returns the LPS of index (0, 0, k), following the slices'
// positions (see Grid).
func (g *Grid) slicePosition(k float64, ge geometry) Vec3 {
	n := g.NumSlices
	switch {
	case ge.heights == nil || n <= 1 || k <= 0:
		return axpy(k*g.Spacing[2], g.SliceDir, g.Origin)
	case k >= float64(n-1):
		return axpy((k-float64(n-1))*g.Spacing[2], g.SliceDir, g.Slices[n-1].Plane.Position)
	}
	k0 := int(math.Floor(k))
	t := k - float64(k0)
	a := g.Slices[k0].Plane.Position
	if t == 0 {
		return a
	}
	b := g.Slices[k0+1].Plane.Position
	return axpy(t, sub(b, a), a)
}

// IndexToLPS maps a continuous grid index (i = column, j = row, k =
// slice; integers at voxel centres) to LPS: the position of slice k (see
// Grid) + i·Spacing[0]·RowDir + j·Spacing[1]·ColDir.
func (g *Grid) IndexToLPS(i, j, k float64) Vec3 {
	p := g.slicePosition(k, g.geom())
	p = axpy(i*g.Spacing[0], g.RowDir, p)
	return axpy(j*g.Spacing[1], g.ColDir, p)
}

// LPSToIndex is IndexToLPS's inverse. A point between two slices gets the
// fractional k of its distance along the normal between theirs.
func (g *Grid) LPSToIndex(p Vec3) Vec3 {
	ge := g.geom()
	d := dot(sub(p, g.Origin), ge.normal)
	n := g.NumSlices
	var k float64
	perSlice := g.Spacing[2] * dot(g.SliceDir, ge.normal) // normal distance per index step outside the stack
	h := ge.heights
	switch {
	case h == nil || n <= 1 || d <= 0:
		k = d / perSlice
	case d >= h[n-1]:
		k = float64(n-1) + (d-h[n-1])/perSlice
	default:
		// The last slice at or below d; heights are non-decreasing.
		k0 := sort.Search(n, func(k int) bool { return h[k] > d }) - 1
		k = float64(k0)
		if k0 < n-1 {
			if step := h[k0+1] - h[k0]; step > 0 {
				k += (d - h[k0]) / step
			}
		}
	}
	ij := ge.inPlane.solve(sub(p, g.slicePosition(k, ge)))
	return Vec3{ij[0], ij[1], k}
}

// Affine returns the 4×4 matrix taking (i, j, k, 1) to (L, P, S, 1) on the
// regular approximation of the grid: columns Spacing[0]·RowDir,
// Spacing[1]·ColDir, Spacing[2]·SliceDir and Origin. Negate its first two
// rows for the RAS matrix NIfTI stores.
func (g *Grid) Affine() [4][4]float64 {
	var m [4][4]float64
	cols := [4]Vec3{scale(g.RowDir, g.Spacing[0]), scale(g.ColDir, g.Spacing[1]), scale(g.SliceDir, g.Spacing[2]), g.Origin}
	for c := 0; c < 4; c++ {
		for r := 0; r < 3; r++ {
			m[r][c] = cols[c][r]
		}
	}
	m[3][3] = 1
	return m
}

// VoxelVolume returns the volume of one voxel in mm³:
// |(RowDir·s0 × ColDir·s1) · SliceDir·s2|, which for a sheared grid is the
// pixel area times the distance between slice planes.
func (g *Grid) VoxelVolume() float64 {
	return math.Abs(dot(cross(scale(g.RowDir, g.Spacing[0]), scale(g.ColDir, g.Spacing[1])), scale(g.SliceDir, g.Spacing[2])))
}

// SliceOf returns the grid slice holding an image.
func (g *Grid) SliceOf(ref radmark.ImageRef) (int, bool) {
	if g.index != nil {
		k, ok := g.index[ref]
		return k, ok
	}
	for k, s := range g.Slices {
		if s.Image == ref {
			return k, true
		}
	}
	return 0, false
}

// Has reports whether a finding with the code exists.
func (g *Grid) Has(code string) bool {
	return slices.ContainsFunc(g.Findings, func(f Finding) bool { return f.Code == code })
}
