package phantom

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
)

// The voxel sampler. Its one rule: every label it produces equals
// classify(VoxelCentre(i,j,k), all shapes) — LabelAt, the reference — bit
// for bit. It is fast because it works row by row: a row of voxel centres
// is a line p(t) = start + t·step (t = column index), and each quadric
// shape meets a line in one interval that a quadratic equation gives.
// Voxels well inside the interval are filled without testing; only the
// voxels near its ends (and every voxel of the spine, which is not a
// quadric) get the exact point test. Shapes are painted from the lowest
// precedence to the highest, so each voxel ends with the label of the
// first shape in precedence order that contains it, as classify returns.

// spanMargin widens "may contain" and narrows "surely contains" intervals:
// 1e-6 relative on the quadric (and 1e-6 mm on the planes), a thousand
// times the shapes' own surface tolerance and far above rounding error, so
// voxels filled without a test are certainly inside.
const spanMargin = 1e-6

// interval is a closed range of the line parameter t; empty when lo > hi.
type interval struct{ lo, hi float64 }

var (
	emptyInterval = interval{1, 0}
	wholeLine     = interval{math.Inf(-1), math.Inf(1)}
)

func (a interval) empty() bool { return !(a.lo <= a.hi) }

func (a interval) intersect(b interval) interval {
	return interval{math.Max(a.lo, b.lo), math.Min(a.hi, b.hi)}
}

// quadricSpans returns where Σ(u+t·w)² ≤ 1±spanMargin: the interval that
// may be inside and the interval surely inside.
func quadricSpans(u, w []float64) (maybe, surely interval) {
	var a, b, c float64
	for n := range u {
		a += w[n] * w[n]
		b += 2 * u[n] * w[n]
		c += u[n] * u[n]
	}
	return quadraticLE(a, b, c-1-spanMargin), quadraticLE(a, b, c-1+spanMargin)
}

// quadraticLE returns the interval where a·t² + b·t + c ≤ 0, for a ≥ 0.
func quadraticLE(a, b, c float64) interval {
	if a == 0 {
		// The line runs parallel to the shape's axis: inside everywhere or
		// nowhere (b is then 0 too).
		if c <= 0 {
			return wholeLine
		}
		return emptyInterval
	}
	disc := b*b - 4*a*c
	if disc < 0 {
		return emptyInterval
	}
	// The numerically stable pair of roots.
	sq := math.Sqrt(disc)
	q := -(b + math.Copysign(sq, b)) / 2
	if q == 0 {
		return interval{0, 0}
	}
	r1, r2 := q/a, c/q
	if r1 > r2 {
		r1, r2 = r2, r1
	}
	return interval{r1, r2}
}

// slabSpans returns where lo ≤ s + t·d ≤ hi, widened and narrowed by
// spanMargin mm.
func slabSpans(s, d, lo, hi float64) (maybe, surely interval) {
	f := func(lo, hi float64) interval {
		if d == 0 {
			if s >= lo && s <= hi {
				return wholeLine
			}
			return emptyInterval
		}
		t0, t1 := (lo-s)/d, (hi-s)/d
		if t0 > t1 {
			t0, t1 = t1, t0
		}
		return interval{t0, t1}
	}
	return f(lo-spanMargin, hi+spanMargin), f(lo+spanMargin, hi-spanMargin)
}

// spans returns the intervals of the line start + t·step that may be and
// surely are inside sh. For the spine, which is not a quadric, nothing is
// sure and the bounding box bounds what may be.
func (sh *shape) spans(start, step LPS) (maybe, surely interval) {
	switch sh.kind {
	case kindLesion:
		l := sh.sphere
		var u, w [3]float64
		for a := 0; a < 3; a++ {
			u[a], w[a] = (start[a]-l.Centre[a])/l.Radius, step[a]/l.Radius
		}
		return quadricSpans(u[:], w[:])
	case kindLung, kindLiver:
		e := sh.ell
		var u, w [3]float64
		for a := 0; a < 3; a++ {
			u[a], w[a] = (start[a]-e.Centre[a])/e.Semi[a], step[a]/e.Semi[a]
		}
		return quadricSpans(u[:], w[:])
	case kindCore, kindBody:
		c := sh.cyl
		u := [2]float64{(start[0] - c.CentreX) / c.SemiX, (start[1] - c.CentreY) / c.SemiY}
		w := [2]float64{step[0] / c.SemiX, step[1] / c.SemiY}
		qm, qs := quadricSpans(u[:], w[:])
		zm, zs := slabSpans(start[2], step[2], c.ZMin, c.ZMax)
		return qm.intersect(zm), qs.intersect(zs)
	}
	maybe = wholeLine
	for a := 0; a < 3; a++ {
		m, _ := slabSpans(start[a], step[a], sh.bounds.Min[a], sh.bounds.Max[a])
		maybe = maybe.intersect(m)
	}
	return maybe, emptyInterval
}

// clampIndex converts a line parameter to a column index in [-1, cols].
func clampIndex(t float64, cols int) int {
	return int(math.Max(-1, math.Min(t, float64(cols))))
}

// labelRow fills row (the labels of row j of slice k) with centre samples.
func (p *Phantom) labelRow(j, k int, row []Tissue) {
	cols := len(row)
	for i := range row {
		row[i] = Air
	}
	start := p.VoxelCentre(0, j, k)
	step := p.affine.Column(0)
	end := p.VoxelCentre(cols-1, j, k)
	var seg box
	for a := 0; a < 3; a++ {
		seg.Min[a], seg.Max[a] = math.Min(start[a], end[a]), math.Max(start[a], end[a])
	}
	seg = seg.grow(1e-6)
	for n := len(p.shapes) - 1; n >= 0; n-- {
		sh := &p.shapes[n]
		if !sh.bounds.overlaps(seg) {
			continue
		}
		maybe, surely := sh.spans(start, step)
		if maybe.empty() {
			continue
		}
		// Test every voxel that may be inside except the interior of the
		// sure interval, kept one voxel clear of its ends.
		lo := max(clampIndex(math.Floor(maybe.lo), cols)-1, 0)
		hi := min(clampIndex(math.Ceil(maybe.hi), cols)+1, cols-1)
		fillLo, fillHi := hi+1, hi
		if !surely.empty() {
			fillLo = max(clampIndex(math.Ceil(surely.lo), cols)+1, lo)
			fillHi = min(clampIndex(math.Floor(surely.hi), cols)-1, hi)
		}
		for i := lo; i <= hi; i++ {
			if i >= fillLo && i <= fillHi {
				for ; i <= fillHi; i++ {
					row[i] = sh.label
				}
				i--
				continue
			}
			if t := sh.at(p.VoxelCentre(i, j, k)); t != Air {
				row[i] = t
			}
		}
	}
}

// sampleSlice computes slice k: the centre label of every voxel into labels
// (if not nil; else a scratch buffer) and the stored pixel values,
// little-endian, into pixels (if not nil).
func (p *Phantom) sampleSlice(k int, labels []Tissue, pixels []byte) {
	s := p.spec
	cols := s.Columns
	if labels == nil {
		labels = make([]Tissue, s.Rows*cols)
	}
	for j := 0; j < s.Rows; j++ {
		p.labelRow(j, k, labels[j*cols:(j+1)*cols])
	}
	if pixels == nil {
		return
	}
	var rng *rand.Rand
	if s.NoiseSigma > 0 {
		// One stream per slice, so slices can be made in any order and on
		// any number of goroutines with the same result.
		rng = rand.New(rand.NewPCG(s.Seed, splitmix64(uint64(k)+0x9e3779b97f4a7c15)))
	}
	if s.Supersample <= 1 && rng == nil {
		var lut [256]uint16
		for t := range lut {
			lut[t] = p.StoredValue(p.value[t])
		}
		for n, t := range labels {
			binary.LittleEndian.PutUint16(pixels[2*n:], lut[t])
		}
		return
	}
	var average func(i, j int) float64
	if s.Supersample > 1 {
		average = p.supersampler(k)
	}
	for j := 0; j < s.Rows; j++ {
		for i := 0; i < cols; i++ {
			v := p.value[labels[j*cols+i]]
			if average != nil {
				v = average(i, j)
			}
			if rng != nil {
				if s.Modality == MR {
					re, im := v+s.NoiseSigma*rng.NormFloat64(), s.NoiseSigma*rng.NormFloat64()
					v = math.Sqrt(re*re + im*im)
				} else {
					v += s.NoiseSigma * rng.NormFloat64()
				}
			}
			binary.LittleEndian.PutUint16(pixels[2*(j*cols+i):], p.StoredValue(v))
		}
	}
}

// supersampler returns a function giving the mean modality value of n×n×n
// point samples spread evenly over voxel (i, j) of slice k, at offsets
// ((a+½)/n − ½) voxel along each axis. It is the slow path (n³ point
// tests per voxel), culled to the shapes whose bounding boxes come within
// a voxel's half-diagonal of the voxel centre.
func (p *Phantom) supersampler(k int) func(i, j int) float64 {
	n := p.spec.Supersample
	var sub []LPS
	f := func(x int) float64 { return (float64(x)+0.5)/float64(n) - 0.5 }
	for c := 0; c < n; c++ {
		for b := 0; b < n; b++ {
			for a := 0; a < n; a++ {
				sub = append(sub, p.affine.Column(0).Scale(f(a)).Add(p.affine.Column(1).Scale(f(b))).Add(p.affine.Column(2).Scale(f(c))))
			}
		}
	}
	reach := 0.5*(p.affine.Column(0).Norm()+p.affine.Column(1).Norm()+p.affine.Column(2).Norm()) + 1e-6
	active := make([]shape, 0, len(p.shapes))
	return func(i, j int) float64 {
		centre := p.VoxelCentre(i, j, k)
		near := box{centre, centre}.grow(reach)
		active = active[:0]
		for _, sh := range p.shapes {
			if sh.bounds.overlaps(near) {
				active = append(active, sh)
			}
		}
		if len(active) == 0 {
			return p.value[Air]
		}
		sum := 0.0
		for _, d := range sub {
			sum += p.value[classify(centre.Add(d), active)]
		}
		return sum / float64(len(sub))
	}
}
