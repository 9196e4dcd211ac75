package phantom

import (
	"fmt"
	"math"
)

// Tissue labels what occupies a point of the phantom. Labels below
// FirstLesion are the fixed tissues; lesion n of Anatomy.Lesions (0-based)
// is FirstLesion+n. Air is 0, so a label volume doubles as a mask.
type Tissue uint8

// The fixed tissues.
const (
	Air Tissue = iota
	Fat
	SoftTissue
	Lung
	Liver
	CancellousBone
	CorticalBone
	numFixedTissues
)

// FirstLesion is the label of the first lesion; lesion n is FirstLesion+n.
const FirstLesion Tissue = 16

// MaxLesions bounds the number of lesions so lesion labels fit a Tissue.
const MaxLesions = 256 - int(FirstLesion)

// IsLesion reports whether t labels a lesion.
func (t Tissue) IsLesion() bool { return t >= FirstLesion }

// LesionIndex returns the index in Anatomy.Lesions of a lesion label.
func (t Tissue) LesionIndex() int { return int(t - FirstLesion) }

func (t Tissue) String() string {
	switch t {
	case Air:
		return "air"
	case Fat:
		return "fat"
	case SoftTissue:
		return "soft tissue"
	case Lung:
		return "lung"
	case Liver:
		return "liver"
	case CancellousBone:
		return "cancellous bone"
	case CorticalBone:
		return "cortical bone"
	}
	if t.IsLesion() {
		return fmt.Sprintf("lesion %d", t.LesionIndex())
	}
	return fmt.Sprintf("tissue(%d)", uint8(t))
}

// Intensity is what a tissue shows in each modality.
type Intensity struct {
	// HU is the CT number in Hounsfield units.
	HU int
	// MR is a T1-weighted-like magnitude (0–4095): fat and fatty marrow
	// bright, liver brighter than muscle, air, lung and cortical bone dark.
	MR int
}

// tissueIntensities are the values of the fixed tissues, by label. They
// are all distinct (from each other and from the default lesions) in each
// modality, so with noise 0 a value identifies its tissue.
var tissueIntensities = [numFixedTissues]Intensity{
	Air:            {HU: -1000, MR: 0},
	Fat:            {HU: -100, MR: 1100},
	SoftTissue:     {HU: 40, MR: 400},
	Lung:           {HU: -850, MR: 40},
	Liver:          {HU: 60, MR: 550},
	CancellousBone: {HU: 300, MR: 700},
	CorticalBone:   {HU: 700, MR: 60},
}

// Intensity returns the values of a fixed tissue (false for lesions, whose
// values are in their Lesion):
//
//	tissue           CT HU   MR
//	air              −1000      0
//	fat               −100   1100
//	soft tissue         40    400
//	lung              −850     40
//	liver               60    550
//	cancellous bone    300    700
//	cortical bone      700     60
func (t Tissue) Intensity() (Intensity, bool) {
	if t >= numFixedTissues {
		return Intensity{}, false
	}
	return tissueIntensities[t], true
}

// Ellipsoid is an axis-aligned ellipsoid in LPS.
type Ellipsoid struct {
	Centre LPS
	Semi   [3]float64 // semi-axes along x, y, z in mm
}

// Contains reports whether p is inside or on the surface.
func (e Ellipsoid) Contains(p LPS) bool {
	dx := (p[0] - e.Centre[0]) / e.Semi[0]
	dy := (p[1] - e.Centre[1]) / e.Semi[1]
	dz := (p[2] - e.Centre[2]) / e.Semi[2]
	return dx*dx+dy*dy+dz*dz <= 1+surfaceTolerance
}

// Volume returns the analytic volume 4/3·π·a·b·c in mm³.
func (e Ellipsoid) Volume() float64 { return 4.0 / 3 * math.Pi * e.Semi[0] * e.Semi[1] * e.Semi[2] }

func (e Ellipsoid) bounds() box {
	return box{e.Centre.Sub(LPS(e.Semi)), e.Centre.Add(LPS(e.Semi))}
}

// EllipticCylinder is an elliptic cylinder whose axis runs along z.
type EllipticCylinder struct {
	CentreX, CentreY float64
	SemiX, SemiY     float64
	ZMin, ZMax       float64
}

// Contains reports whether p is inside or on the surface.
func (c EllipticCylinder) Contains(p LPS) bool {
	if p[2] < c.ZMin-surfaceTolerance || p[2] > c.ZMax+surfaceTolerance {
		return false
	}
	dx := (p[0] - c.CentreX) / c.SemiX
	dy := (p[1] - c.CentreY) / c.SemiY
	return dx*dx+dy*dy <= 1+surfaceTolerance
}

// Volume returns π·a·b·height in mm³.
func (c EllipticCylinder) Volume() float64 { return math.Pi * c.SemiX * c.SemiY * (c.ZMax - c.ZMin) }

func (c EllipticCylinder) bounds() box {
	return box{LPS{c.CentreX - c.SemiX, c.CentreY - c.SemiY, c.ZMin}, LPS{c.CentreX + c.SemiX, c.CentreY + c.SemiY, c.ZMax}}
}

// Spine is a column of vertebrae along z: each vertebra a cylindrical body
// (cortical shell around cancellous bone) with a posterior spinous process
// (a cortical box), separated by soft-tissue discs.
type Spine struct {
	CentreX, CentreY float64 // axis of the vertebral bodies
	Radius           float64 // of a vertebral body
	Cortex           float64 // thickness of the cortical shell and end plates
	// The first vertebra starts at ZMin; vertebra n spans
	// [ZMin + n·Period, ZMin + n·Period + Height]; none starts past ZMax.
	ZMin, ZMax     float64
	Period, Height float64
	// The spinous process spans x in CentreX ± ProcessHalfWidth and y from
	// the back of the body (CentreY + Radius) to CentreY + Radius +
	// ProcessLength, over the same z as its vertebra.
	ProcessHalfWidth, ProcessLength float64
}

// tissue returns CorticalBone, CancellousBone or Air (not in the spine).
func (s Spine) tissue(p LPS) Tissue {
	if s.Period <= 0 || p[2] < s.ZMin-surfaceTolerance || p[2] > s.ZMax+surfaceTolerance {
		return Air
	}
	n := math.Floor((p[2] - s.ZMin + surfaceTolerance) / s.Period)
	dz := p[2] - (s.ZMin + n*s.Period) // position within the vertebra
	if dz > s.Height+surfaceTolerance {
		return Air // a disc
	}
	dx, dy := p[0]-s.CentreX, p[1]-s.CentreY
	r2 := dx*dx + dy*dy
	if r2 <= s.Radius*s.Radius*(1+surfaceTolerance) {
		inner := s.Radius - s.Cortex
		// The cortex is closed, the cancellous core open, so points on
		// the boundary are cortical.
		if r2 < inner*inner*(1-surfaceTolerance) && dz > s.Cortex+surfaceTolerance && dz < s.Height-s.Cortex-surfaceTolerance {
			return CancellousBone
		}
		return CorticalBone
	}
	if math.Abs(dx) <= s.ProcessHalfWidth+surfaceTolerance && dy >= s.Radius-surfaceTolerance && dy <= s.Radius+s.ProcessLength+surfaceTolerance {
		return CorticalBone
	}
	return Air
}

func (s Spine) bounds() box {
	return box{
		LPS{s.CentreX - s.Radius, s.CentreY - s.Radius, s.ZMin},
		LPS{s.CentreX + s.Radius, s.CentreY + s.Radius + s.ProcessLength, s.ZMax},
	}
}

// Lesion is a spherical lesion with known centre, radius and intensity.
type Lesion struct {
	Name   string
	Centre LPS
	Radius float64 // mm
	Intensity
}

// Contains reports whether p is inside or on the sphere.
func (l Lesion) Contains(p LPS) bool {
	d := p.Sub(l.Centre)
	return d.Dot(d) <= l.Radius*l.Radius*(1+surfaceTolerance)
}

// Volume returns the analytic volume 4/3·π·r³ in mm³.
func (l Lesion) Volume() float64 { return 4.0 / 3 * math.Pi * l.Radius * l.Radius * l.Radius }

func (l Lesion) bounds() box {
	r := LPS{l.Radius, l.Radius, l.Radius}
	return box{l.Centre.Sub(r), l.Centre.Add(r)}
}

// Anatomy is the analytic phantom, in patient LPS millimetres. Where shapes
// overlap the first match in this order wins: lesions (in list order),
// spine (cortical, cancellous), lungs, liver, the soft-tissue core of the
// body, the body's fat layer, air.
type Anatomy struct {
	// Body is the skin surface. Inside it is fat, except the core: the
	// same ellipse shrunk by FatThickness on each semi-axis (same z range),
	// which is soft tissue.
	Body         EllipticCylinder
	FatThickness float64
	// Lungs are the right (x < 0) and left lung.
	Lungs   [2]Ellipsoid
	Liver   Ellipsoid
	Spine   Spine
	Lesions []Lesion
}

// surfaceTolerance makes every shape closed with a little slack — relative
// on the quadric forms (about 1e-8 mm for the default lesions), absolute
// in mm on the planes (the body's ends, the spine's plates and process) —
// so a voxel centre that lies exactly on a surface in exact arithmetic
// (common, since the default shapes sit on round millimetres) counts as
// inside whatever the last bit of floating-point rounding says. Another
// implementation of the same definitions then counts the same voxels.
const surfaceTolerance = 1e-9

// DefaultAnatomy returns the standard phantom: a slim adult chest–upper
// abdomen 240 mm wide and 180 mm deep, 400 mm long, centred on the LPS
// origin, with three lesions. Lesion centres sit on multiples of 7 mm in x
// and y and on whole millimetres in z, so on the CT presets they fall on
// voxel centres or exactly half-way between (see the presets). All values:
//
//	body       elliptic cylinder, centre (0,0), semi-axes 120 × 90 mm, z −200…200
//	fat layer  10 mm (core semi-axes 110 × 80 mm)
//	right lung ellipsoid centre (−55, 0, 70), semi-axes (40, 55, 80)
//	left lung  ellipsoid centre (55, 0, 70), semi-axes (40, 55, 80)
//	liver      ellipsoid centre (−50, −10, −55), semi-axes (50, 55, 45)
//	spine      bodies r 15 mm at (0, 50), 2 mm cortex, 20 mm high every 25 mm
//	           from z −200.5 (discs 5 mm), spinous process 8 × 15 mm
//	lesion 0   "lung nodule"  centre (−56, 0, 42),   r 10 mm, 30 HU, MR 450
//	lesion 1   "liver lesion" centre (−49, −14, −42), r 15 mm, 100 HU, MR 250
//	lesion 2   "boundary nodule" centre (56, 7, 21),  r 6 mm, −20 HU, MR 350:
//	           its centre is half-way between two slices of CTSmall, so
//	           its voxels split evenly across them and a half-voxel error
//	           in slice placement shows as asymmetry.
func DefaultAnatomy() Anatomy {
	return Anatomy{
		Body:         EllipticCylinder{CentreX: 0, CentreY: 0, SemiX: 120, SemiY: 90, ZMin: -200, ZMax: 200},
		FatThickness: 10,
		Lungs: [2]Ellipsoid{
			{Centre: LPS{-55, 0, 70}, Semi: [3]float64{40, 55, 80}},
			{Centre: LPS{55, 0, 70}, Semi: [3]float64{40, 55, 80}},
		},
		Liver: Ellipsoid{Centre: LPS{-50, -10, -55}, Semi: [3]float64{50, 55, 45}},
		Spine: Spine{
			CentreX: 0, CentreY: 50, Radius: 15, Cortex: 2,
			ZMin: -200.5, ZMax: 200, Period: 25, Height: 20,
			ProcessHalfWidth: 4, ProcessLength: 15,
		},
		Lesions: []Lesion{
			{Name: "lung nodule", Centre: LPS{-56, 0, 42}, Radius: 10, Intensity: Intensity{HU: 30, MR: 450}},
			{Name: "liver lesion", Centre: LPS{-49, -14, -42}, Radius: 15, Intensity: Intensity{HU: 100, MR: 250}},
			{Name: "boundary nodule", Centre: LPS{56, 7, 21}, Radius: 6, Intensity: Intensity{HU: -20, MR: 350}},
		},
	}
}

// Validate checks the anatomy for shapes that cannot be evaluated.
func (a Anatomy) Validate() error {
	b := a.Body
	if b.SemiX <= 0 || b.SemiY <= 0 || b.ZMax < b.ZMin {
		return fmt.Errorf("phantom: body %+v: semi-axes must be positive and ZMax ≥ ZMin", b)
	}
	if a.FatThickness < 0 || a.FatThickness >= math.Min(b.SemiX, b.SemiY) {
		return fmt.Errorf("phantom: fat thickness %g mm must be ≥ 0 and less than the body's smallest semi-axis", a.FatThickness)
	}
	for n, e := range []Ellipsoid{a.Lungs[0], a.Lungs[1], a.Liver} {
		if e.Semi[0] <= 0 || e.Semi[1] <= 0 || e.Semi[2] <= 0 {
			return fmt.Errorf("phantom: organ %d: ellipsoid semi-axes %v must be positive", n, e.Semi)
		}
	}
	s := a.Spine
	if s.Period < 0 || s.Height < 0 || s.Radius < 0 || s.Cortex < 0 || (s.Period > 0 && s.Height > s.Period) {
		return fmt.Errorf("phantom: spine %+v: sizes must be ≥ 0 and Height ≤ Period", s)
	}
	if len(a.Lesions) > MaxLesions {
		return fmt.Errorf("phantom: %d lesions, at most %d fit the label range", len(a.Lesions), MaxLesions)
	}
	for n, l := range a.Lesions {
		if l.Radius <= 0 {
			return fmt.Errorf("phantom: lesion %d (%q): radius %g mm must be positive", n, l.Name, l.Radius)
		}
	}
	return nil
}

// box is an axis-aligned bounding box in LPS.
type box struct{ Min, Max LPS }

func (b box) overlaps(o box) bool {
	for a := 0; a < 3; a++ {
		if b.Max[a] < o.Min[a] || o.Max[a] < b.Min[a] {
			return false
		}
	}
	return true
}

func (b box) grow(d float64) box {
	g := LPS{d, d, d}
	return box{b.Min.Sub(g), b.Max.Add(g)}
}

// shapeKind orders the shapes of the classifier by precedence.
type shapeKind uint8

const (
	kindLesion shapeKind = iota
	kindSpine
	kindLung
	kindLiver
	kindCore
	kindBody
)

// shape is one term of the classifier; only one of its geometry fields is
// used, by kind.
type shape struct {
	kind   shapeKind
	label  Tissue // for lesions, lungs, liver, core, body
	bounds box
	sphere Lesion
	ell    Ellipsoid
	cyl    EllipticCylinder
	spine  Spine
}

// at returns the tissue the shape gives p, or Air if it does not contain p.
func (s *shape) at(p LPS) Tissue {
	switch s.kind {
	case kindLesion:
		if s.sphere.Contains(p) {
			return s.label
		}
	case kindSpine:
		return s.spine.tissue(p)
	case kindLung, kindLiver:
		if s.ell.Contains(p) {
			return s.label
		}
	case kindCore, kindBody:
		if s.cyl.Contains(p) {
			return s.label
		}
	}
	return Air
}

// classify returns what occupies p, given the shapes (in precedence order)
// that may contain it. Shapes that cannot contain p may be left out of the
// list without changing the answer.
func classify(p LPS, shapes []shape) Tissue {
	for i := range shapes {
		if t := shapes[i].at(p); t != Air {
			return t
		}
	}
	return Air
}

// shapes lists the anatomy's classifier terms in precedence order.
func (a Anatomy) shapes() []shape {
	var out []shape
	for n, l := range a.Lesions {
		out = append(out, shape{kind: kindLesion, label: FirstLesion + Tissue(n), sphere: l, bounds: l.bounds()})
	}
	if a.Spine.Period > 0 && a.Spine.Height > 0 {
		out = append(out, shape{kind: kindSpine, spine: a.Spine, bounds: a.Spine.bounds()})
	}
	for _, l := range a.Lungs {
		out = append(out, shape{kind: kindLung, label: Lung, ell: l, bounds: l.bounds()})
	}
	out = append(out, shape{kind: kindLiver, label: Liver, ell: a.Liver, bounds: a.Liver.bounds()})
	core := a.Body
	core.SemiX -= a.FatThickness
	core.SemiY -= a.FatThickness
	out = append(out, shape{kind: kindCore, label: SoftTissue, cyl: core, bounds: core.bounds()})
	out = append(out, shape{kind: kindBody, label: Fat, cyl: a.Body, bounds: a.Body.bounds()})
	return out
}
