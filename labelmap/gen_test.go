package labelmap

import (
	"math"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/radmark/radmark/phantom"
)

// Test masks. Each generator is deterministic (fixed seeds) so sizes in
// FORMAT.md can be reproduced exactly.

// bigGrid is the size radiologists segment on: a thin-slice 512×512 CT.
var bigGrid = Grid{Columns: 512, Rows: 512, Slices: 600}

// phantomSpec is phantom.CT512 with 600 slices of 0.5 mm over the same
// 300 mm, so the anatomy is the benchmark CT's, sampled twice as finely.
func phantomSpec() phantom.Spec {
	s := phantom.CT512()
	s.Slices = 600
	s.SliceSpacing, s.SliceThickness = 0.5, 0.5
	return s
}

var (
	phantomOnce   sync.Once
	phantomTissue []phantom.Tissue
	phantomErr    error
)

// phantomLabels returns the phantom's ground-truth tissue labels on
// phantomSpec's grid, computed once per test binary (about a second).
func phantomLabels(t testing.TB) []phantom.Tissue {
	t.Helper()
	phantomOnce.Do(func() {
		var p *phantom.Phantom
		p, phantomErr = phantom.New(phantomSpec())
		if phantomErr == nil {
			phantomTissue = p.Labels()
		}
	})
	if phantomErr != nil {
		t.Fatal(phantomErr)
	}
	return phantomTissue
}

// organsAndLesions is the typical radiologist's mask: lungs 1, liver 2,
// each lesion 3, 4, 5…; everything else unlabelled.
func organsAndLesions(t testing.TB) *Volume {
	return fromPhantom(t, func(ts phantom.Tissue) uint8 {
		switch {
		case ts == phantom.Lung:
			return 1
		case ts == phantom.Liver:
			return 2
		case ts.IsLesion():
			return 3 + uint8(ts.LesionIndex())
		}
		return 0
	})
}

// lesionsOnly is a sparse mask: the phantom's three lesions.
func lesionsOnly(t testing.TB) *Volume {
	return fromPhantom(t, func(ts phantom.Tissue) uint8 {
		if ts.IsLesion() {
			return 1 + uint8(ts.LesionIndex())
		}
		return 0
	})
}

// allTissues is a dense whole-body multi-label map (what a
// TotalSegmentator-like model outputs): every tissue its own label.
func allTissues(t testing.TB) *Volume {
	return fromPhantom(t, func(ts phantom.Tissue) uint8 { return uint8(ts) })
}

func fromPhantom(t testing.TB, label func(phantom.Tissue) uint8) *Volume {
	t.Helper()
	tissue := phantomLabels(t)
	v := mustVolume(t, bigGrid)
	var lut [256]uint8
	for i := range lut {
		lut[i] = label(phantom.Tissue(i))
	}
	for i, ts := range tissue {
		v.Voxels[i] = lut[ts]
	}
	return v
}

func mustVolume(t testing.TB, g Grid) *Volume {
	t.Helper()
	v, err := NewVolume(g)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// spheres paints n balls of random centre and radius (4…40 voxels), label
// 1 + index mod 255, later balls over earlier ones.
func spheres(t testing.TB, g Grid, n int, seed uint64) *Volume {
	v := mustVolume(t, g)
	r := rand.New(rand.NewPCG(seed, 1))
	for b := 0; b < n; b++ {
		ci, cj, ck := r.Float64()*float64(g.Columns), r.Float64()*float64(g.Rows), r.Float64()*float64(g.Slices)
		rad := 4 + 36*r.Float64()
		label := uint8(1 + b%255)
		paint(v, ci, cj, ck, rad, rad, rad, func(float64, float64) float64 { return 1 }, label)
	}
	return v
}

// blobs paints n organ-like shapes: ellipsoids of 20…90 voxels whose
// radius wobbles with direction by low-frequency harmonics (irregular,
// lobulated outlines rather than clean quadrics).
func blobs(t testing.TB, g Grid, n int, seed uint64) *Volume {
	v := mustVolume(t, g)
	r := rand.New(rand.NewPCG(seed, 2))
	for b := 0; b < n; b++ {
		ci, cj, ck := r.Float64()*float64(g.Columns), r.Float64()*float64(g.Rows), r.Float64()*float64(g.Slices)
		ri, rj, rk := 20+70*r.Float64(), 20+70*r.Float64(), 20+70*r.Float64()
		a1, a2, a3 := 0.08+0.1*r.Float64(), 0.05+0.08*r.Float64(), 0.03+0.05*r.Float64()
		p1, p2, p3 := 2*math.Pi*r.Float64(), 2*math.Pi*r.Float64(), 2*math.Pi*r.Float64()
		wobble := func(theta, phi float64) float64 {
			return 1 + a1*math.Sin(3*theta+p1)*math.Cos(2*phi+p2) + a2*math.Sin(5*phi+p3) + a3*math.Cos(7*theta+p1+p2)
		}
		paint(v, ci, cj, ck, ri, rj, rk, wobble, uint8(1+b%255))
	}
	return v
}

// paint labels the voxels inside an ellipsoid whose radius along a
// direction (theta polar, phi azimuth) is scaled by shape.
func paint(v *Volume, ci, cj, ck, ri, rj, rk float64, shape func(theta, phi float64) float64, label uint8) {
	const slack = 1.3 // shape never exceeds 1.3
	k0, k1 := max(0, int(ck-rk*slack)), min(v.Slices-1, int(ck+rk*slack)+1)
	j0, j1 := max(0, int(cj-rj*slack)), min(v.Rows-1, int(cj+rj*slack)+1)
	i0, i1 := max(0, int(ci-ri*slack)), min(v.Columns-1, int(ci+ri*slack)+1)
	for k := k0; k <= k1; k++ {
		z := (float64(k) - ck) / rk
		for j := j0; j <= j1; j++ {
			y := (float64(j) - cj) / rj
			for i := i0; i <= i1; i++ {
				x := (float64(i) - ci) / ri
				d := math.Sqrt(x*x + y*y + z*z)
				if d > slack {
					continue
				}
				theta, phi := 0.0, math.Atan2(y, x)
				if d > 0 {
					theta = math.Acos(z / d)
				}
				if d <= shape(theta, phi) {
					v.Voxels[v.Index(i, j, k)] = label
				}
			}
		}
	}
}

// noise is the worst case: every voxel independently labelled with
// probability density, with a label drawn from 1…labels.
func noise(t testing.TB, g Grid, density float64, labels int, seed uint64) *Volume {
	v := mustVolume(t, g)
	r := rand.New(rand.NewPCG(seed, 3))
	for i := range v.Voxels {
		if r.Float64() < density {
			v.Voxels[i] = uint8(1 + r.IntN(labels))
		}
	}
	return v
}

// noisyEdges is a model's raw output: the organ mask with each voxel
// near a boundary flipped to background or a neighbour's label with
// probability 0.3 (ragged, speckled edges).
func noisyEdges(t testing.TB, seed uint64) *Volume {
	v := organsAndLesions(t)
	out := v.Clone()
	r := rand.New(rand.NewPCG(seed, 4))
	for k := 0; k < v.Slices; k++ {
		for j := 1; j < v.Rows-1; j++ {
			for i := 1; i < v.Columns-1; i++ {
				c := v.Get(i, j, k)
				n := [4]uint8{v.Get(i-1, j, k), v.Get(i+1, j, k), v.Get(i, j-1, k), v.Get(i, j+1, k)}
				if n[0] == c && n[1] == c && n[2] == c && n[3] == c {
					continue
				}
				if r.Float64() < 0.3 {
					out.Set(i, j, k, n[r.IntN(4)])
				}
			}
		}
	}
	return out
}
