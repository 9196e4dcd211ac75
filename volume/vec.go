package volume

import "math"

// Vec3 is a point or direction in patient LPS millimetres (or a grid
// index triple).
type Vec3 = [3]float64

func sub(a, b Vec3) Vec3             { return Vec3{a[0] - b[0], a[1] - b[1], a[2] - b[2]} }
func scale(a Vec3, s float64) Vec3   { return Vec3{a[0] * s, a[1] * s, a[2] * s} }
func dot(a, b Vec3) float64          { return a[0]*b[0] + a[1]*b[1] + a[2]*b[2] }
func norm(a Vec3) float64            { return math.Sqrt(dot(a, a)) }
func axpy(s float64, x, y Vec3) Vec3 { return Vec3{s*x[0] + y[0], s*x[1] + y[1], s*x[2] + y[2]} }

func cross(a, b Vec3) Vec3 {
	return Vec3{a[1]*b[2] - a[2]*b[1], a[2]*b[0] - a[0]*b[2], a[0]*b[1] - a[1]*b[0]}
}

// unit returns a scaled to length 1 (a itself when it is zero).
func unit(a Vec3) Vec3 {
	n := norm(a)
	if n == 0 {
		return a
	}
	return scale(a, 1/n)
}

func finite(v ...float64) bool {
	for _, x := range v {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return false
		}
	}
	return true
}

// basis is a 3×3 matrix with columns u, v, w and its inverse, for solving
// p = a·u + b·v + c·w.
type basis struct {
	inv [3][3]float64
	ok  bool
}

func newBasis(u, v, w Vec3) basis {
	// The inverse of [u v w] has rows (v×w, w×u, u×v) / det.
	det := dot(u, cross(v, w))
	if det == 0 || !finite(det) {
		return basis{}
	}
	r0, r1, r2 := cross(v, w), cross(w, u), cross(u, v)
	var b basis
	for i := 0; i < 3; i++ {
		b.inv[0][i] = r0[i] / det
		b.inv[1][i] = r1[i] / det
		b.inv[2][i] = r2[i] / det
	}
	b.ok = true
	return b
}

// solve returns (a, b, c) with p = a·u + b·v + c·w; NaNs when the basis is
// degenerate.
func (b basis) solve(p Vec3) Vec3 {
	if !b.ok {
		return Vec3{math.NaN(), math.NaN(), math.NaN()}
	}
	return Vec3{dot(b.inv[0], p), dot(b.inv[1], p), dot(b.inv[2], p)}
}
