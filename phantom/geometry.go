package phantom

import (
	"errors"
	"fmt"
	"math"
	"strings"
)

// LPS is a point or direction in the DICOM patient coordinate system, in
// millimetres: +x towards the patient's Left, +y towards Posterior, +z
// towards the head (Superior) (PS3.3 C.7.6.2.1.1).
type LPS [3]float64

// Add returns a+b.
func (a LPS) Add(b LPS) LPS { return LPS{a[0] + b[0], a[1] + b[1], a[2] + b[2]} }

// Sub returns a-b.
func (a LPS) Sub(b LPS) LPS { return LPS{a[0] - b[0], a[1] - b[1], a[2] - b[2]} }

// Scale returns s*a.
func (a LPS) Scale(s float64) LPS { return LPS{s * a[0], s * a[1], s * a[2]} }

// Dot returns the scalar product.
func (a LPS) Dot(b LPS) float64 { return a[0]*b[0] + a[1]*b[1] + a[2]*b[2] }

// Cross returns the vector product a×b.
func (a LPS) Cross(b LPS) LPS {
	return LPS{a[1]*b[2] - a[2]*b[1], a[2]*b[0] - a[0]*b[2], a[0]*b[1] - a[1]*b[0]}
}

// Norm returns the Euclidean length.
func (a LPS) Norm() float64 { return math.Sqrt(a.Dot(a)) }

// RAS returns the point in the RAS convention NIfTI and most research tools
// use: x and y negated.
func (a LPS) RAS() [3]float64 { return [3]float64{-a[0], -a[1], a[2]} }

// Affine maps continuous voxel indices to patient LPS millimetres:
//
//	p = M · (i, j, k) + T
//
// where i is the column (0 = left-most pixel of the stored image), j the
// row (0 = top row) and k the slice (0 = the first instance). The columns
// of M are the steps of one voxel along i, j and k; T is the centre of
// voxel (0,0,0), the ImagePositionPatient of the first slice. Integer
// indices address voxel centres.
type Affine struct {
	M [3][3]float64
	T LPS
}

// Apply maps the voxel index (i, j, k) to LPS.
func (a Affine) Apply(i, j, k float64) LPS {
	var p LPS
	for r := 0; r < 3; r++ {
		p[r] = a.M[r][0]*i + a.M[r][1]*j + a.M[r][2]*k + a.T[r]
	}
	return p
}

// Column returns the step in LPS of one voxel along index axis c (0 = i,
// 1 = j, 2 = k).
func (a Affine) Column(c int) LPS { return LPS{a.M[0][c], a.M[1][c], a.M[2][c]} }

// Matrix4 returns the homogeneous 4×4 form, row-major.
func (a Affine) Matrix4() [4][4]float64 {
	var m [4][4]float64
	for r := 0; r < 3; r++ {
		copy(m[r][:3], a.M[r][:])
		m[r][3] = a.T[r]
	}
	m[3][3] = 1
	return m
}

// RAS returns the same mapping with RAS output (rows x and y negated): the
// form of a NIfTI sform/qform for this voxel order.
func (a Affine) RAS() [4][4]float64 {
	m := a.Matrix4()
	for c := 0; c < 4; c++ {
		m[0][c], m[1][c] = -m[0][c], -m[1][c]
	}
	return m
}

// Inverse returns the mapping from LPS to continuous voxel indices.
func (a Affine) Inverse() (InverseAffine, error) {
	m := a.M
	det := m[0][0]*(m[1][1]*m[2][2]-m[1][2]*m[2][1]) -
		m[0][1]*(m[1][0]*m[2][2]-m[1][2]*m[2][0]) +
		m[0][2]*(m[1][0]*m[2][1]-m[1][1]*m[2][0])
	if math.Abs(det) < 1e-12 {
		return InverseAffine{}, errors.New("phantom: voxel axes are degenerate (affine not invertible)")
	}
	var inv [3][3]float64
	inv[0][0] = (m[1][1]*m[2][2] - m[1][2]*m[2][1]) / det
	inv[0][1] = (m[0][2]*m[2][1] - m[0][1]*m[2][2]) / det
	inv[0][2] = (m[0][1]*m[1][2] - m[0][2]*m[1][1]) / det
	inv[1][0] = (m[1][2]*m[2][0] - m[1][0]*m[2][2]) / det
	inv[1][1] = (m[0][0]*m[2][2] - m[0][2]*m[2][0]) / det
	inv[1][2] = (m[0][2]*m[1][0] - m[0][0]*m[1][2]) / det
	inv[2][0] = (m[1][0]*m[2][1] - m[1][1]*m[2][0]) / det
	inv[2][1] = (m[0][1]*m[2][0] - m[0][0]*m[2][1]) / det
	inv[2][2] = (m[0][0]*m[1][1] - m[0][1]*m[1][0]) / det
	return InverseAffine{M: inv, T: a.T}, nil
}

// InverseAffine maps LPS to continuous voxel indices: (i,j,k) = M·(p - T).
type InverseAffine struct {
	M [3][3]float64
	T LPS
}

// Apply returns the continuous index (i, j, k) of p.
func (v InverseAffine) Apply(p LPS) (i, j, k float64) {
	d := p.Sub(v.T)
	return v.M[0][0]*d[0] + v.M[0][1]*d[1] + v.M[0][2]*d[2],
		v.M[1][0]*d[0] + v.M[1][1]*d[1] + v.M[1][2]*d[2],
		v.M[2][0]*d[0] + v.M[2][1]*d[1] + v.M[2][2]*d[2]
}

// halfExtent returns how far, in index units along axis a, a ball of radius
// r reaches from its centre: r times the length of row a of the inverse.
// This is exact for any affine, sheared ones included.
func (v InverseAffine) halfExtent(a int, r float64) float64 {
	return r * math.Sqrt(v.M[a][0]*v.M[a][0]+v.M[a][1]*v.M[a][1]+v.M[a][2]*v.M[a][2])
}

// Axial is the ImageOrientationPatient of an axial slice as a supine,
// head-first patient is usually imaged: rows run towards the patient's
// left, columns towards posterior.
var Axial = [6]float64{1, 0, 0, 0, 1, 0}

// Coronal is the ImageOrientationPatient of a coronal slice: rows towards
// the left, columns towards the feet.
var Coronal = [6]float64{1, 0, 0, 0, 0, -1}

// Sagittal is the ImageOrientationPatient of a sagittal slice: rows
// towards posterior, columns towards the feet.
var Sagittal = [6]float64{0, 1, 0, 0, 0, -1}

// TiltedAxial returns an axial orientation rotated by deg degrees about the
// patient's left-right axis: the row direction stays (1,0,0) and the column
// direction becomes (0, cos θ, sin θ), so the slice normal is
// (0, -sin θ, cos θ). Positive angles lean the top of the image towards the
// head.
func TiltedAxial(deg float64) [6]float64 {
	s, c := math.Sincos(deg * math.Pi / 180)
	return [6]float64{1, 0, 0, 0, c, s}
}

// Oblique returns an axial orientation rotated by a degrees about the
// patient's left-right axis and then by b degrees about the
// anterior-posterior axis: a double-oblique plane whose rows and columns
// both leave the axial plane.
func Oblique(a, b float64) [6]float64 {
	sa, ca := math.Sincos(a * math.Pi / 180)
	sb, cb := math.Sincos(b * math.Pi / 180)
	// Rotation about x by a, then about y by b, applied to the axial axes.
	row := LPS{cb, 0, -sb}
	col := LPS{sb * sa, ca, cb * sa}
	return [6]float64{row[0], row[1], row[2], col[0], col[1], col[2]}
}

// checkOrientation verifies that IOP holds two orthogonal unit vectors, as
// PS3.3 C.7.6.2.1.1 requires.
func checkOrientation(iop [6]float64) error {
	r := LPS{iop[0], iop[1], iop[2]}
	c := LPS{iop[3], iop[4], iop[5]}
	const tol = 1e-6
	if math.Abs(r.Norm()-1) > tol || math.Abs(c.Norm()-1) > tol {
		return fmt.Errorf("phantom: ImageOrientationPatient %v: direction cosines must be unit vectors", iop)
	}
	if math.Abs(r.Dot(c)) > tol {
		return fmt.Errorf("phantom: ImageOrientationPatient %v: row and column directions are not orthogonal", iop)
	}
	return nil
}

// orientationLetters returns the Patient Orientation (0020,0020) code of a
// direction: the anatomical letters of its components in order of
// decreasing magnitude, leaving out components too small to matter (PS3.3
// C.7.6.1.1.1).
func orientationLetters(d LPS) string {
	pos := [3]byte{'L', 'P', 'H'}
	neg := [3]byte{'R', 'A', 'F'}
	idx := []int{0, 1, 2}
	// Insertion sort by decreasing magnitude, stable for ties.
	for a := 1; a < 3; a++ {
		for b := a; b > 0 && math.Abs(d[idx[b]]) > math.Abs(d[idx[b-1]]); b-- {
			idx[b], idx[b-1] = idx[b-1], idx[b]
		}
	}
	var sb strings.Builder
	for _, a := range idx {
		switch {
		case d[a] > 1e-4:
			sb.WriteByte(pos[a])
		case d[a] < -1e-4:
			sb.WriteByte(neg[a])
		}
	}
	return sb.String()
}
