package volume

import (
	"encoding/binary"
	"math"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/dicom"
)

// LUT is a Modality LUT Sequence item (PS3.3 C.11.1.1): stored values
// below First map to Data[0], above First+len(Data)−1 to the last entry.
type LUT struct {
	First int       `json:"first"`
	Data  []float64 `json:"data"`
}

// apply maps a stored value to modality units.
func (l *LUT) apply(v float64) float64 {
	i := int(math.Floor(v)) - l.First
	switch {
	case i < 0:
		i = 0
	case i >= len(l.Data):
		i = len(l.Data) - 1
	}
	return l.Data[i]
}

// modalityLUT returns the rescale of frame index idx (0-based): for
// enhanced objects from the Pixel Value Transformation functional group,
// else the top-level Rescale Slope/Intercept, else a Modality LUT
// Sequence; identity when none is present.
func modalityLUT(ds *dicom.Dataset, idx int) (slope, intercept float64, lut *LUT) {
	slope, intercept = 1, 0
	if src := frameAttr(ds, idx, dicom.TagPixelValueTransformationSequence, dicom.TagRescaleSlope); src != nil {
		if v, ok := src.Float(dicom.TagRescaleSlope); ok && v != 0 && finite(v) {
			slope = v
		}
	}
	if src := frameAttr(ds, idx, dicom.TagPixelValueTransformationSequence, dicom.TagRescaleIntercept); src != nil {
		if v, ok := src.Float(dicom.TagRescaleIntercept); ok && finite(v) {
			intercept = v
		}
		return slope, intercept, nil
	}
	if items := ds.Items(dicom.TagModalityLUTSequence); len(items) > 0 && items[0] != nil {
		if l := readLUT(items[0], ds.IntOr(dicom.TagPixelRepresentation, 0) == 1); l != nil {
			return 1, 0, l
		}
	}
	return slope, intercept, nil
}

// readLUT reads LUT Descriptor and LUT Data; nil when they are unusable.
func readLUT(item *dicom.Dataset, signed bool) *LUT {
	e := item.Get(dicom.TagLUTDescriptor)
	if e == nil {
		return nil
	}
	desc := e.Ints()
	if len(desc) != 3 {
		return nil
	}
	n, first := int(desc[0]), int(desc[1])
	if n == 0 {
		n = 1 << 16
	}
	if e.VR == dicom.US && signed && first >= 1<<15 {
		// The first mapped value has the pixel data's signedness (PS3.3
		// C.11.1.1.1), whatever VR the writer chose.
		first -= 1 << 16
	}
	data := item.Get(dicom.TagLUTData)
	if data == nil {
		return nil
	}
	vals := data.Ints()
	if len(vals) < n || n <= 0 {
		return nil
	}
	l := &LUT{First: first, Data: make([]float64, n)}
	for i := range l.Data {
		l.Data[i] = float64(vals[i])
	}
	return l
}

// modalityValues converts one decoded frame (the canonical layout of
// codec.Frame: little endian, samples row-major) to modality units.
func modalityValues(pi dicom.PixelInfo, data []byte, s *Slice) ([]float32, error) {
	if pi.SamplesPerPixel != 1 {
		return nil, radmark.Errorf(radmark.EUNSUPPORTED, "image %s is colour (%d samples per pixel, %s): it has no modality values", describeRef(s.Image), pi.SamplesPerPixel, pi.PhotometricInterpretation)
	}
	n := pi.Rows * pi.Columns
	// The decoder may have produced another container than the header
	// declares (an 8-bit JPEG in a 16-bit header); the length says which.
	bits := pi.BitsAllocated
	switch {
	case bits != 1 && len(data) >= n*bits/8:
	case len(data) >= 2*n && bits > 16:
		bits = 16
	case len(data) >= n && bits > 8:
		bits = 8
	case bits == 1 && len(data) >= (n+7)/8:
	default:
		return nil, radmark.Errorf(radmark.EINVALID, "image %s: decoded frame has %d bytes, too few for %d×%d pixels of %d bits", describeRef(s.Image), len(data), pi.Columns, pi.Rows, pi.BitsAllocated)
	}
	stored := pi.BitsStored
	if stored <= 0 || stored > bits {
		stored = bits
	}
	signed := pi.PixelRepresentation == 1
	mask := uint64(1)<<uint(stored) - 1
	sign := uint64(1) << uint(stored-1)
	out := make([]float32, n)
	for i := 0; i < n; i++ {
		var v float64
		switch {
		case bits == 1:
			v = float64((data[i/8] >> (i % 8)) & 1)
		case bits == 32 && pi.PixelTag == dicom.TagFloatPixelData:
			v = float64(math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:])))
		case bits == 64:
			v = math.Float64frombits(binary.LittleEndian.Uint64(data[8*i:]))
		default:
			var raw uint64
			switch bits {
			case 8:
				raw = uint64(data[i])
			case 16:
				raw = uint64(binary.LittleEndian.Uint16(data[2*i:]))
			case 32:
				raw = uint64(binary.LittleEndian.Uint32(data[4*i:]))
			}
			raw &= mask
			if signed && raw&sign != 0 {
				v = float64(int64(raw) - int64(mask) - 1)
			} else {
				v = float64(raw)
			}
		}
		if s.LUT != nil {
			v = s.LUT.apply(v)
		} else {
			v = v*s.Slope + s.Intercept
		}
		out[i] = float32(v)
	}
	return out, nil
}
