// Package nifti reads and writes NIfTI-1 single-file images (.nii and
// gzip-compressed .nii.gz): the header, the voxel data and the voxel →
// world (RAS millimetre) affine in its qform and sform forms.
//
// Why it is written here: no maintained Go library for NIfTI is served to
// this project (the few Go packages there are read only, ignore the
// qform/sform rules or are unmaintained), and the format is one 348-byte
// header plus raw voxels. The rules followed are those of the NIfTI-1
// standard header (nifti1.h) as nibabel and dcm2niix apply them: the sform
// is the affine when sform_code > 0, else the qform when qform_code > 0,
// else the voxel sizes alone.
//
// Coordinates: NIfTI world space is RAS+ (+x towards the patient's right,
// +y anterior, +z superior), DICOM's is LPS+; RASFromLPS converts a DICOM
// index → LPS affine. Voxel
// (i, j, k) is stored with i fastest, and integer indices are voxel
// centres, as in package volume's grids.
package nifti

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/radmark/radmark"
)

// Datatype codes (nifti1.h) this package reads and writes.
const (
	Uint8   int16 = 2
	Int16   int16 = 4
	Int32   int16 = 8
	Float32 int16 = 16
	Float64 int16 = 64
	Int8    int16 = 256
	Uint16  int16 = 512
	Uint32  int16 = 768
)

// Transform codes (nifti1.h): what space an affine maps to.
const (
	XformUnknown = 0
	XformScanner = 1 // scanner-based anatomical coordinates, as dcm2niix writes
	XformAligned = 2
)

const (
	headerSize = 348
	voxOffset  = 352 // header + the 4-byte extension flag
	// MaxVoxels bounds an image read from outside input: 2^31 voxels.
	MaxVoxels = 1 << 31
)

// Image is a 3D NIfTI image (a 4th dimension of size 1 is accepted on
// read).
type Image struct {
	// Dims are the sizes along i, j, k.
	Dims     [3]int
	Datatype int16
	// Affine maps (i, j, k, 1) to RAS millimetres; it is written as the
	// sform and, when its 3×3 part is a rotation times voxel sizes (no
	// shear), as the qform too.
	Affine [4][4]float64
	// SclSlope and SclInter scale stored values to real ones (slope 0
	// means none).
	SclSlope, SclInter float64
	// Description is the header's 80-byte descrip.
	Description string
	// Intent names the data (for example "labels"); 16 bytes at most.
	Intent string
	// Data is the voxels, little endian, i fastest.
	Data []byte
}

// bytesPer returns a datatype's size in bytes.
func bytesPer(dt int16) (int, error) {
	switch dt {
	case Uint8, Int8:
		return 1, nil
	case Int16, Uint16:
		return 2, nil
	case Int32, Uint32, Float32:
		return 4, nil
	case Float64:
		return 8, nil
	}
	return 0, fmt.Errorf("NIfTI datatype %d is not supported (want uint8, int8, int16, uint16, int32, uint32, float32 or float64)", dt)
}

// Len returns the number of voxels.
func (im *Image) Len() int { return im.Dims[0] * im.Dims[1] * im.Dims[2] }

// At returns voxel n's stored value (before scaling).
func (im *Image) At(n int) float64 {
	d := im.Data
	switch im.Datatype {
	case Uint8:
		return float64(d[n])
	case Int8:
		return float64(int8(d[n]))
	case Int16:
		return float64(int16(binary.LittleEndian.Uint16(d[2*n:])))
	case Uint16:
		return float64(binary.LittleEndian.Uint16(d[2*n:]))
	case Int32:
		return float64(int32(binary.LittleEndian.Uint32(d[4*n:])))
	case Uint32:
		return float64(binary.LittleEndian.Uint32(d[4*n:]))
	case Float32:
		return float64(math.Float32frombits(binary.LittleEndian.Uint32(d[4*n:])))
	case Float64:
		return math.Float64frombits(binary.LittleEndian.Uint64(d[8*n:]))
	}
	return math.NaN()
}

// Value returns voxel n's real value: the stored one scaled by
// scl_slope/scl_inter when a slope is set.
func (im *Image) Value(n int) float64 {
	v := im.At(n)
	if im.SclSlope != 0 && finite(im.SclSlope, im.SclInter) {
		return v*im.SclSlope + im.SclInter
	}
	return v
}

// RASFromLPS converts an index → LPS affine (DICOM) to the index → RAS
// affine NIfTI stores: the first two rows change sign.
func RASFromLPS(m [4][4]float64) [4][4]float64 {
	for c := 0; c < 4; c++ {
		m[0][c], m[1][c] = -m[0][c], -m[1][c]
	}
	return m
}

// Encode writes im as a .nii stream.
func Encode(w io.Writer, im *Image) error {
	size, err := bytesPer(im.Datatype)
	if err != nil {
		return err
	}
	for _, d := range im.Dims {
		if d < 1 || d > math.MaxInt16 {
			return fmt.Errorf("NIfTI dimension %d is out of range 1..32767", d)
		}
	}
	if len(im.Data) != im.Len()*size {
		return fmt.Errorf("NIfTI data holds %d bytes, %d×%d×%d voxels of %d bytes need %d", len(im.Data), im.Dims[0], im.Dims[1], im.Dims[2], size, im.Len()*size)
	}
	for r := 0; r < 3; r++ {
		for c := 0; c < 4; c++ {
			if !finite(im.Affine[r][c]) {
				return errors.New("NIfTI affine has a non-finite entry")
			}
		}
	}
	h := make([]byte, voxOffset)
	le := binary.LittleEndian
	le.PutUint32(h[0:], headerSize)
	h[38] = 'r'
	le.PutUint16(h[40:], 3)
	for i, d := range im.Dims {
		le.PutUint16(h[42+2*i:], uint16(d))
	}
	for i := 4; i <= 7; i++ {
		le.PutUint16(h[40+2*i:], 1)
	}
	le.PutUint16(h[70:], uint16(im.Datatype))
	le.PutUint16(h[72:], uint16(8*size))
	q, ok := quaternOf(im.Affine)
	putF := func(off int, v float64) { le.PutUint32(h[off:], math.Float32bits(float32(v))) }
	putF(76, q.qfac)
	for i := 0; i < 3; i++ {
		putF(80+4*i, q.voxel[i])
	}
	putF(92, 1) // pixdim[4]
	putF(108, voxOffset)
	putF(112, im.SclSlope)
	putF(116, im.SclInter)
	h[123] = 2 // xyzt_units: millimetres
	copy(h[148:228], truncate(im.Description, 79))
	if ok {
		le.PutUint16(h[252:], XformScanner)
	}
	le.PutUint16(h[254:], XformScanner)
	putF(256, q.b)
	putF(260, q.c)
	putF(264, q.d)
	putF(268, im.Affine[0][3])
	putF(272, im.Affine[1][3])
	putF(276, im.Affine[2][3])
	for r := 0; r < 3; r++ {
		for c := 0; c < 4; c++ {
			putF(280+16*r+4*c, im.Affine[r][c])
		}
	}
	copy(h[328:344], truncate(im.Intent, 15))
	copy(h[344:], "n+1\x00")
	if _, err := w.Write(h); err != nil {
		return err
	}
	_, err = w.Write(im.Data)
	return err
}

// Write writes im as .nii.gz (gzip with no name and no time stamp, so
// the same image always gives the same bytes).
func Write(w io.Writer, im *Image) error {
	zw, err := gzip.NewWriterLevel(w, gzip.BestSpeed)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(zw, 1<<20)
	if err := Encode(bw, im); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	return zw.Close()
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// ErrFormat is wrapped by every error about a file that is not a valid
// NIfTI-1 image.
var ErrFormat = errors.New("not a valid NIfTI-1 image")

func formatErr(format string, args ...any) error {
	return radmark.Errorf(radmark.EINVALID, "%w: %s", ErrFormat, fmt.Sprintf(format, args...))
}

// Read reads a .nii or .nii.gz image (gzip is recognised by its magic
// bytes). Data is returned little endian whatever the file's byte order.
func Read(r io.Reader) (*Image, error) {
	br := bufio.NewReader(r)
	head, err := br.Peek(2)
	if err != nil {
		return nil, formatErr("the file is empty or shorter than a header")
	}
	var src io.Reader = br
	if head[0] == 0x1f && head[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, formatErr("gzip: %v", err)
		}
		defer zr.Close()
		src = zr
	}
	h := make([]byte, headerSize)
	if _, err := io.ReadFull(src, h); err != nil {
		return nil, formatErr("the header is truncated (%v)", err)
	}
	var bo binary.ByteOrder = binary.LittleEndian
	switch {
	case binary.LittleEndian.Uint32(h) == headerSize:
	case binary.BigEndian.Uint32(h) == headerSize:
		bo = binary.BigEndian
	default:
		return nil, formatErr("sizeof_hdr is not 348 (a NIfTI-2 or Analyze file?)")
	}
	magic := string(h[344:347])
	if magic != "n+1" {
		if magic == "ni1" {
			return nil, formatErr("a two-file (.hdr/.img) NIfTI pair is not supported; convert it to a single .nii")
		}
		return nil, formatErr("the magic is %q, not \"n+1\"", magic)
	}
	i16 := func(off int) int { return int(int16(bo.Uint16(h[off:]))) }
	f32 := func(off int) float64 { return float64(math.Float32frombits(bo.Uint32(h[off:]))) }
	ndim := i16(40)
	if ndim < 1 || ndim > 7 {
		return nil, formatErr("dim[0] = %d is not 1..7", ndim)
	}
	im := &Image{Datatype: int16(i16(70)), SclSlope: f32(112), SclInter: f32(116)}
	im.Description = strings.TrimRight(string(h[148:228]), "\x00")
	im.Intent = strings.TrimRight(string(h[328:344]), "\x00")
	im.Dims = [3]int{1, 1, 1}
	for i := 1; i <= ndim; i++ {
		d := i16(40 + 2*i)
		if d < 1 {
			return nil, formatErr("dim[%d] = %d", i, d)
		}
		if i <= 3 {
			im.Dims[i-1] = d
		} else if d != 1 {
			return nil, radmark.Errorf(radmark.EUNSUPPORTED, "the NIfTI image has %d dimensions (dim[%d] = %d); only 3D images are supported", ndim, i, d)
		}
	}
	size, err := bytesPer(im.Datatype)
	if err != nil {
		return nil, radmark.Errorf(radmark.EUNSUPPORTED, "%v", err)
	}
	if int64(im.Dims[0])*int64(im.Dims[1])*int64(im.Dims[2]) > MaxVoxels {
		return nil, formatErr("%d×%d×%d voxels is more than this reader accepts", im.Dims[0], im.Dims[1], im.Dims[2])
	}
	off := f32(108)
	if off < headerSize || off != math.Trunc(off) || off > 1<<24 {
		return nil, formatErr("vox_offset %g is invalid", off)
	}
	if _, err := io.CopyN(io.Discard, src, int64(off)-headerSize); err != nil {
		return nil, formatErr("the file ends before vox_offset %g", off)
	}
	n := im.Len() * size
	// Read what is there rather than allocate what the header claims: a
	// few bytes of header must not reserve gigabytes.
	var buf bytes.Buffer
	if m, _ := io.CopyN(&buf, src, int64(n)); m != int64(n) {
		return nil, formatErr("the voxel data is truncated: %d×%d×%d voxels of %d bytes need %d bytes, the file holds %d", im.Dims[0], im.Dims[1], im.Dims[2], size, n, m)
	}
	im.Data = buf.Bytes()
	if bo == binary.BigEndian && size > 1 {
		for p := 0; p < n; p += size {
			b := im.Data[p : p+size]
			for a, z := 0, size-1; a < z; a, z = a+1, z-1 {
				b[a], b[z] = b[z], b[a]
			}
		}
	}
	pix := [4]float64{f32(76), f32(80), f32(84), f32(88)}
	switch {
	case i16(254) > 0:
		for r := 0; r < 3; r++ {
			for c := 0; c < 4; c++ {
				im.Affine[r][c] = f32(280 + 16*r + 4*c)
			}
		}
	case i16(252) > 0:
		im.Affine = fromQuatern(f32(256), f32(260), f32(264), [3]float64{f32(268), f32(272), f32(276)}, pix)
	default:
		for i := 0; i < 3; i++ {
			im.Affine[i][i] = math.Abs(pix[i+1])
			if im.Affine[i][i] == 0 {
				im.Affine[i][i] = 1
			}
		}
	}
	im.Affine[3][3] = 1
	for r := 0; r < 3; r++ {
		for c := 0; c < 4; c++ {
			if !finite(im.Affine[r][c]) {
				return nil, formatErr("the affine has a non-finite entry")
			}
		}
	}
	return im, nil
}

// Decode reads an image from bytes.
func Decode(b []byte) (*Image, error) { return Read(bytes.NewReader(b)) }

type quatern struct {
	b, c, d float64
	voxel   [3]float64
	qfac    float64
}

// quaternOf returns the qform of an affine (nifti_mat44_to_quatern); ok
// is false when the 3×3 part is not a rotation times voxel sizes (a
// sheared, gantry-tilted grid), which a qform cannot hold.
func quaternOf(m [4][4]float64) (q quatern, ok bool) {
	var r [3][3]float64
	for c := 0; c < 3; c++ {
		n := math.Sqrt(m[0][c]*m[0][c] + m[1][c]*m[1][c] + m[2][c]*m[2][c])
		if n == 0 {
			n = 1
		}
		q.voxel[c] = n
		for i := 0; i < 3; i++ {
			r[i][c] = m[i][c] / n
		}
	}
	ok = true
	for a := 0; a < 3; a++ {
		for b := a + 1; b < 3; b++ {
			if math.Abs(r[0][a]*r[0][b]+r[1][a]*r[1][b]+r[2][a]*r[2][b]) > 1e-4 {
				ok = false
			}
		}
	}
	det := r[0][0]*(r[1][1]*r[2][2]-r[1][2]*r[2][1]) - r[0][1]*(r[1][0]*r[2][2]-r[1][2]*r[2][0]) + r[0][2]*(r[1][0]*r[2][1]-r[1][1]*r[2][0])
	q.qfac = 1
	if det < 0 {
		q.qfac = -1
		for i := 0; i < 3; i++ {
			r[i][2] = -r[i][2]
		}
	}
	var a, b, c, d float64
	if s := r[0][0] + r[1][1] + r[2][2] + 1; s > 0.5 {
		a = 0.5 * math.Sqrt(s)
		b = 0.25 * (r[2][1] - r[1][2]) / a
		c = 0.25 * (r[0][2] - r[2][0]) / a
		d = 0.25 * (r[1][0] - r[0][1]) / a
	} else {
		xd := 1 + r[0][0] - (r[1][1] + r[2][2])
		yd := 1 + r[1][1] - (r[0][0] + r[2][2])
		zd := 1 + r[2][2] - (r[0][0] + r[1][1])
		switch {
		case xd > 1:
			b = 0.5 * math.Sqrt(xd)
			c = 0.25 * (r[0][1] + r[1][0]) / b
			d = 0.25 * (r[0][2] + r[2][0]) / b
			a = 0.25 * (r[2][1] - r[1][2]) / b
		case yd > 1:
			c = 0.5 * math.Sqrt(yd)
			b = 0.25 * (r[0][1] + r[1][0]) / c
			d = 0.25 * (r[1][2] + r[2][1]) / c
			a = 0.25 * (r[0][2] - r[2][0]) / c
		default:
			d = 0.5 * math.Sqrt(zd)
			b = 0.25 * (r[0][2] + r[2][0]) / d
			c = 0.25 * (r[1][2] + r[2][1]) / d
			a = 0.25 * (r[1][0] - r[0][1]) / d
		}
		if a < 0 {
			b, c, d = -b, -c, -d
		}
	}
	q.b, q.c, q.d = b, c, d
	return q, ok
}

// fromQuatern builds the qform affine (nifti_quatern_to_mat44).
func fromQuatern(b, c, d float64, offset [3]float64, pix [4]float64) [4][4]float64 {
	a := 1 - (b*b + c*c + d*d)
	if a < 1e-7 {
		n := 1 / math.Sqrt(b*b+c*c+d*d)
		b, c, d, a = b*n, c*n, d*n, 0
	} else {
		a = math.Sqrt(a)
	}
	qfac := 1.0
	if pix[0] < 0 {
		qfac = -1
	}
	x, y, z := math.Abs(pix[1]), math.Abs(pix[2]), math.Abs(pix[3])
	if x == 0 {
		x = 1
	}
	if y == 0 {
		y = 1
	}
	if z == 0 {
		z = 1
	}
	z *= qfac
	var m [4][4]float64
	m[0] = [4]float64{(a*a + b*b - c*c - d*d) * x, 2 * (b*c - a*d) * y, 2 * (b*d + a*c) * z, offset[0]}
	m[1] = [4]float64{2 * (b*c + a*d) * x, (a*a + c*c - b*b - d*d) * y, 2 * (c*d - a*b) * z, offset[1]}
	m[2] = [4]float64{2 * (b*d - a*c) * x, 2 * (c*d + a*b) * y, (a*a + d*d - c*c - b*b) * z, offset[2]}
	m[3][3] = 1
	return m
}

func finite(v ...float64) bool {
	for _, x := range v {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return false
		}
	}
	return true
}
