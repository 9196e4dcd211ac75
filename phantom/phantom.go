package phantom

import "math"

// Phantom is a validated Spec with its geometry worked out: the ground
// truth that generated images are compared against. It is immutable and
// safe for concurrent use.
type Phantom struct {
	spec    Spec
	affine  Affine
	inverse InverseAffine
	normal  LPS
	shapes  []shape
	// value is the modality value (HU or MR intensity) of each label.
	value [256]float64
}

// New validates spec and prepares the phantom.
func New(spec Spec) (*Phantom, error) {
	s, err := spec.normalize()
	if err != nil {
		return nil, err
	}
	p := &Phantom{spec: s}
	iop := s.Orientation
	row := LPS{iop[0], iop[1], iop[2]} // direction of increasing column index i
	col := LPS{iop[3], iop[4], iop[5]} // direction of increasing row index j
	p.normal = row.Cross(col)
	step := p.normal.Scale(s.SliceSpacing)
	if s.GantryTilt != 0 {
		step = LPS{0, 0, s.SliceSpacing}
	}
	// Column spacing (PixelSpacing[1]) goes with the row direction, row
	// spacing (PixelSpacing[0]) with the column direction: moving one
	// column along a row advances by the column spacing.
	di := row.Scale(s.PixelSpacing[1])
	dj := col.Scale(s.PixelSpacing[0])
	for r := 0; r < 3; r++ {
		p.affine.M[r] = [3]float64{di[r], dj[r], step[r]}
	}
	p.affine.T = s.Origin
	if p.inverse, err = p.affine.Inverse(); err != nil {
		return nil, err
	}
	p.shapes = s.Anatomy.shapes()
	for t := Tissue(0); t < numFixedTissues; t++ {
		p.value[t] = float64(tissueIntensities[t].of(s.Modality))
	}
	for n, l := range s.Anatomy.Lesions {
		p.value[FirstLesion+Tissue(n)] = float64(l.Intensity.of(s.Modality))
	}
	return p, nil
}

func (in Intensity) of(m Modality) int {
	if m == MR {
		return in.MR
	}
	return in.HU
}

// Spec returns the spec with every default filled in.
func (p *Phantom) Spec() Spec { return p.spec }

// Anatomy returns the sampled anatomy.
func (p *Phantom) Anatomy() Anatomy { return *p.spec.Anatomy }

// Lesions returns the lesions; lesion n has label FirstLesion+n.
func (p *Phantom) Lesions() []Lesion { return append([]Lesion(nil), p.spec.Anatomy.Lesions...) }

// Affine returns the voxel index → LPS mapping.
func (p *Phantom) Affine() Affine { return p.affine }

// Normal returns the unit slice normal, row direction × column direction.
func (p *Phantom) Normal() LPS { return p.normal }

// Dims returns the grid size (columns, rows, slices), the extents of the
// indices i, j, k.
func (p *Phantom) Dims() (columns, rows, slices int) {
	return p.spec.Columns, p.spec.Rows, p.spec.Slices
}

// VoxelVolume returns the volume of one voxel in mm³ (the sampling volume:
// pixel area times slice spacing, not thickness).
func (p *Phantom) VoxelVolume() float64 {
	m := p.affine.M
	return math.Abs(m[0][0]*(m[1][1]*m[2][2]-m[1][2]*m[2][1]) -
		m[0][1]*(m[1][0]*m[2][2]-m[1][2]*m[2][0]) +
		m[0][2]*(m[1][0]*m[2][1]-m[1][1]*m[2][0]))
}

// SlicePosition returns the ImagePositionPatient of slice k.
func (p *Phantom) SlicePosition(k int) LPS { return p.affine.Apply(0, 0, float64(k)) }

// SliceLocation returns the SliceLocation written for slice k: the signed
// distance of the slice plane from the LPS origin along the normal
// (IPP·normal), which for axial slices is z.
func (p *Phantom) SliceLocation(k int) float64 { return p.SlicePosition(k).Dot(p.normal) }

// VoxelCentre returns the LPS centre of voxel (i, j, k). Every sample of
// the phantom is computed through this one expression, so labels and
// pixels agree to the last bit.
func (p *Phantom) VoxelCentre(i, j, k int) LPS {
	return p.affine.Apply(float64(i), float64(j), float64(k))
}

// Index returns the continuous voxel index of an LPS point; integers are
// voxel centres.
func (p *Phantom) Index(pt LPS) (i, j, k float64) { return p.inverse.Apply(pt) }

// NearestVoxel returns the voxel whose centre is nearest pt in index space
// (halves round away from zero) and whether it lies inside the grid.
func (p *Phantom) NearestVoxel(pt LPS) (i, j, k int, ok bool) {
	fi, fj, fk := p.Index(pt)
	i, j, k = int(math.Round(fi)), int(math.Round(fj)), int(math.Round(fk))
	return i, j, k, p.inBounds(i, j, k)
}

func (p *Phantom) inBounds(i, j, k int) bool {
	return i >= 0 && j >= 0 && k >= 0 && i < p.spec.Columns && j < p.spec.Rows && k < p.spec.Slices
}

// Tissue returns what occupies the LPS point pt.
func (p *Phantom) Tissue(pt LPS) Tissue { return classify(pt, p.shapes) }

// LabelAt returns the tissue at the centre of voxel (i, j, k) — the label
// map that goes with the images. Indices outside the grid are Air.
func (p *Phantom) LabelAt(i, j, k int) Tissue {
	if !p.inBounds(i, j, k) {
		return Air
	}
	return classify(p.VoxelCentre(i, j, k), p.shapes)
}

// Value returns the modality value of a tissue: HU for CT, intensity for
// MR. With noise 0 and no supersampling, the pixel of every voxel labelled
// t has exactly this value after rescaling.
func (p *Phantom) Value(t Tissue) float64 { return p.value[t] }

// StoredValue converts a modality value to the stored pixel value: HU+1024
// for CT (RescaleIntercept −1024, slope 1), the value itself for MR; both
// clamped to the 12 stored bits.
func (p *Phantom) StoredValue(v float64) uint16 {
	if p.spec.Modality == CT {
		v += ctRescaleOffset
	}
	v = math.Round(v)
	switch {
	case v < 0:
		return 0
	case v > maxStored:
		return maxStored
	}
	return uint16(v)
}

const (
	// ctRescaleOffset is −RescaleIntercept: stored = HU + 1024, so air
	// (−1000) is 24 and 12 bits reach 3071 HU.
	ctRescaleOffset = 1024
	bitsStored      = 12
	maxStored       = 1<<bitsStored - 1
)

// Labels returns the label volume, indexed i + Columns·(j + Rows·k).
func (p *Phantom) Labels() []Tissue {
	s := p.spec
	n := s.Columns * s.Rows
	out := make([]Tissue, n*s.Slices)
	parallel(s.Slices, func(k int) {
		p.sampleSlice(k, out[k*n:(k+1)*n], nil)
	})
	return out
}

// LesionTruth is the ground truth of one lesion on the phantom's grid.
type LesionTruth struct {
	Lesion
	Label Tissue
	// Index is the continuous voxel index (i, j, k) of the centre.
	Index [3]float64
	// AnalyticVolume is 4/3·π·r³ in mm³.
	AnalyticVolume float64
	// VoxelCount is the number of voxels labelled with this lesion, and
	// VoxelVolume that count times the voxel volume.
	VoxelCount  int
	VoxelVolume float64
	// Complete reports that the whole sphere lies inside the grid (no
	// voxel of it is cut off by the edges of the volume).
	Complete bool
}

// LesionTruths returns the ground truth of every lesion.
func (p *Phantom) LesionTruths() []LesionTruth {
	out := make([]LesionTruth, len(p.spec.Anatomy.Lesions))
	for n, l := range p.spec.Anatomy.Lesions {
		i, j, k := p.Index(l.Centre)
		count, complete := p.countLesion(n)
		out[n] = LesionTruth{
			Lesion:         l,
			Label:          FirstLesion + Tissue(n),
			Index:          [3]float64{i, j, k},
			AnalyticVolume: l.Volume(),
			VoxelCount:     count,
			VoxelVolume:    float64(count) * p.VoxelVolume(),
			Complete:       complete,
		}
	}
	return out
}

// LesionVoxelCount returns the number of voxels labelled as lesion n.
func (p *Phantom) LesionVoxelCount(n int) int {
	c, _ := p.countLesion(n)
	return c
}

// countLesion counts the voxels of lesion n inside the sphere's bounding
// box in index space (exact for any affine, see halfExtent) and reports
// whether that box lies wholly inside the grid.
func (p *Phantom) countLesion(n int) (count int, complete bool) {
	l := p.spec.Anatomy.Lesions[n]
	label := FirstLesion + Tissue(n)
	c := [3]float64{}
	c[0], c[1], c[2] = p.Index(l.Centre)
	dims := [3]int{p.spec.Columns, p.spec.Rows, p.spec.Slices}
	var lo, hi [3]int
	complete = true
	for a := 0; a < 3; a++ {
		e := p.inverse.halfExtent(a, l.Radius) + 1e-6
		lo[a], hi[a] = int(math.Ceil(c[a]-e)), int(math.Floor(c[a]+e))
		if lo[a] < 0 {
			lo[a], complete = 0, false
		}
		if hi[a] > dims[a]-1 {
			hi[a], complete = dims[a]-1, false
		}
	}
	for k := lo[2]; k <= hi[2]; k++ {
		for j := lo[1]; j <= hi[1]; j++ {
			for i := lo[0]; i <= hi[0]; i++ {
				if p.LabelAt(i, j, k) == label {
					count++
				}
			}
		}
	}
	return count, complete
}

// splitmix64 scrambles a counter into a well-mixed seed.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}
