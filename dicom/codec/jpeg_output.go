package codec

import (
	"encoding/binary"
	"strings"
	"sync"
)

// output turns the decoded component planes into the native frame:
// upsampling subsampled chroma, converting YCbCr to RGB where DICOM says the
// data is YCbCr, undoing the lossless point transform, and interleaving.
func (d *jpegDecoder) output() (*Frame, error) {
	if d.sof == mSOF2 {
		d.finishProgressive()
	}
	in := d.info
	// dcmtk's default (EDC_photometricInterpretation) converts YCbCr to
	// RGB exactly when the dataset's Photometric Interpretation is a YBR
	// one, and otherwise leaves the samples alone whatever the JFIF/Adobe
	// markers or component ids suggest; pydicom agrees for the RGB cases
	// (SC_jpeg_no_color_transform*). gdcm does not convert at all and
	// relabels YBR_FULL_422 as YBR_FULL; we follow dcmtk, as viewers need
	// RGB.
	convert := in.SamplesPerPixel == 3 && isJPEGYCbCr(in.PhotometricInterpretation)
	photometric := in.PhotometricInterpretation
	if convert {
		photometric = "RGB"
	}

	// Full-resolution view of every component.
	planes := make([][]uint16, len(d.comps))
	strides := make([]int, len(d.comps))
	for i := range d.comps {
		planes[i], strides[i] = d.upsample(&d.comps[i])
	}
	f := newFrame(in, photometric)
	w, h := d.width, d.height
	width := in.BitsAllocated / 8
	libBits := jpegLibBits(d.precision)

	if len(d.comps) == 1 {
		p, s, pt := planes[0], strides[0], d.comps[0].pt
		out := f.Data
		switch width {
		case 1:
			for y := 0; y < h; y++ {
				row := p[y*s : y*s+w]
				o := out[y*w : y*w+w]
				for x, v := range row {
					o[x] = byte(v << pt)
				}
			}
		case 2:
			for y := 0; y < h; y++ {
				row := p[y*s : y*s+w]
				o := out[2*y*w : 2*(y*w+w)]
				for x, v := range row {
					binary.LittleEndian.PutUint16(o[2*x:], v<<pt)
				}
			}
		default:
			for y := 0; y < h; y++ {
				row := p[y*s : y*s+w]
				o := out[4*y*w : 4*(y*w+w)]
				for x, v := range row {
					binary.LittleEndian.PutUint32(o[4*x:], uint32(v<<pt))
				}
			}
		}
		return f, nil
	}

	var cc *yccTables
	if convert {
		cc = yccTablesFor(libBits)
	}
	n := len(d.comps)
	i := 0
	var px [4]uint16
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			for c := 0; c < n; c++ {
				px[c] = planes[c][y*strides[c]+x] << d.comps[c].pt
			}
			if cc != nil {
				px[0], px[1], px[2] = cc.rgb(px[0], px[1], px[2])
			}
			for c := 0; c < n; c++ {
				switch width {
				case 1:
					f.Data[i] = byte(px[c])
				case 2:
					binary.LittleEndian.PutUint16(f.Data[i:], px[c])
				default:
					binary.LittleEndian.PutUint32(f.Data[i:], uint32(px[c]))
				}
				i += width
			}
		}
	}
	return f, nil
}

// isJPEGYCbCr reports whether a Photometric Interpretation says the JPEG
// components are YCbCr (YBR_FULL, YBR_FULL_422, and the partial-range
// terms, which dcmtk converts with the same full-range equations).
func isJPEGYCbCr(pi string) bool {
	return strings.HasPrefix(pi, "YBR_") && pi != "YBR_ICT" && pi != "YBR_RCT"
}

// jpegLibBits is the sample size of the libjpeg build dcmtk picks for a
// precision (its 8-, 12- and 16-bit IJG libraries). The colour conversion
// centres chroma on half of that build's range, not the stream's.
func jpegLibBits(precision int) int {
	switch {
	case precision <= 8:
		return 8
	case precision <= 12:
		return 12
	}
	return 16
}

// upsample returns a full-resolution plane of c (and its stride), using the
// same filters as libjpeg's default ("fancy") upsampling so that 4:2:2 and
// 4:2:0 frames match the reference decoders: a triangle filter for 2x
// horizontal and 2x2, and replication for other integral factors.
func (d *jpegDecoder) upsample(c *jpegComponent) ([]uint16, int) {
	hr, vr := d.hmax/c.h, d.vmax/c.v
	if hr == 1 && vr == 1 {
		return c.plane, c.stride
	}
	w, h := d.width, d.height
	out := make([]uint16, w*h)
	in, s := c.plane, c.stride
	dw, dh := c.dw, c.dh
	switch {
	case hr == 2 && vr == 1 && dw > 2:
		tmp := make([]uint16, 2*dw)
		for y := 0; y < h; y++ {
			fancyRow(in[y*s:y*s+dw], tmp)
			copy(out[y*w:y*w+w], tmp)
		}
	case hr == 2 && vr == 2 && dw > 2:
		sums := make([]int, dw)
		tmp := make([]uint16, 2*dw)
		for y := 0; y < h; y++ {
			r := y / 2
			// The nearer input row is r, the farther one above (even output
			// rows) or below (odd); edges repeat the outermost row.
			far := r - 1
			if y%2 == 1 {
				far = r + 1
			}
			far = min(max(far, 0), dh-1)
			near, farRow := in[r*s:r*s+dw], in[far*s:far*s+dw]
			for i := range sums {
				sums[i] = 3*int(near[i]) + int(farRow[i])
			}
			fancySums(sums, tmp)
			copy(out[y*w:y*w+w], tmp)
		}
	default:
		for y := 0; y < h; y++ {
			row := in[(y/vr)*s:]
			o := out[y*w : y*w+w]
			for x := range o {
				o[x] = row[x/hr]
			}
		}
	}
	return out, w
}

// fancyRow doubles a row horizontally: each output sample is 3/4 of the
// nearer input and 1/4 of the farther one, with libjpeg's alternating
// rounding bias (1, 2) and the edge samples copied.
func fancyRow(in, out []uint16) {
	n := len(in)
	out[0] = in[0]
	out[1] = uint16((3*int(in[0]) + int(in[1]) + 2) >> 2)
	for i := 1; i < n-1; i++ {
		v := 3 * int(in[i])
		out[2*i] = uint16((v + int(in[i-1]) + 1) >> 2)
		out[2*i+1] = uint16((v + int(in[i+1]) + 2) >> 2)
	}
	out[2*n-2] = uint16((3*int(in[n-1]) + int(in[n-2]) + 1) >> 2)
	out[2*n-1] = in[n-1]
}

// fancySums is the horizontal half of the 2x2 triangle filter, on column
// sums 3*near+far (so weights 9/16, 3/16, 3/16, 1/16), with libjpeg's
// rounding biases (8, 7).
func fancySums(s []int, out []uint16) {
	n := len(s)
	out[0] = uint16((4*s[0] + 8) >> 4)
	out[1] = uint16((3*s[0] + s[1] + 7) >> 4)
	for i := 1; i < n-1; i++ {
		out[2*i] = uint16((3*s[i] + s[i-1] + 8) >> 4)
		out[2*i+1] = uint16((3*s[i] + s[i+1] + 7) >> 4)
	}
	out[2*n-2] = uint16((3*s[n-1] + s[n-2] + 8) >> 4)
	out[2*n-1] = uint16((4*s[n-1] + 7) >> 4)
}

// yccTables is libjpeg's fixed-point YCbCr→RGB conversion (jdcolor.c),
// which implements the JFIF equations (the same as DICOM YBR_FULL, PS3.3
// C.7.6.3.1.2) with 16 fractional bits:
//
//	R = Y + 1.402 (Cr-c),  G = Y - 0.34414 (Cb-c) - 0.71414 (Cr-c),  B = Y + 1.772 (Cb-c)
type yccTables struct {
	max       int
	crR, cbB  []int
	crG, cbG  []int
	sampleMax uint16
}

const yccScaleBits = 16

func yccFix(x float64) int { return int(x*(1<<yccScaleBits) + 0.5) }

var (
	yccOnce [3]sync.Once
	yccTabs [3]*yccTables
)

func yccTablesFor(bits int) *yccTables {
	i := map[int]int{8: 0, 12: 1, 16: 2}[bits]
	yccOnce[i].Do(func() {
		n := 1 << bits
		center := n / 2
		t := &yccTables{max: n - 1, sampleMax: uint16(n - 1),
			crR: make([]int, n), cbB: make([]int, n), crG: make([]int, n), cbG: make([]int, n)}
		half := 1 << (yccScaleBits - 1)
		for v := 0; v < n; v++ {
			x := v - center
			t.crR[v] = (yccFix(1.40200)*x + half) >> yccScaleBits
			t.cbB[v] = (yccFix(1.77200)*x + half) >> yccScaleBits
			if bits == 16 {
				// dcmtk's 16-bit library computes these two in floating
				// point (the fixed-point products overflow there), and the
				// C conversion truncates toward zero, as Go's does.
				t.crR[v] = int(1.40200*float64(x) + 0.5)
				t.cbB[v] = int(1.77200*float64(x) + 0.5)
			}
			t.crG[v] = -yccFix(0.71414) * x
			t.cbG[v] = -yccFix(0.34414)*x + half
		}
		yccTabs[i] = t
	})
	return yccTabs[i]
}

func (t *yccTables) rgb(y, cb, cr uint16) (uint16, uint16, uint16) {
	m := t.sampleMax
	y, cb, cr = min(y, m), min(cb, m), min(cr, m)
	yy := int(y)
	r := yy + t.crR[cr]
	g := yy + (t.cbG[cb]+t.crG[cr])>>yccScaleBits
	b := yy + t.cbB[cb]
	return t.clamp(r), t.clamp(g), t.clamp(b)
}

func (t *yccTables) clamp(v int) uint16 {
	switch {
	case v < 0:
		return 0
	case v > t.max:
		return uint16(t.max)
	}
	return uint16(v)
}
