package dicom

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// ErrNoPixelData is returned for datasets without pixel data.
var ErrNoPixelData = errors.New("no pixel data")

// PixelInfo is the Image Pixel module (PS3.3 C.7.6.3) of a dataset, with
// the number of frames.
type PixelInfo struct {
	Rows, Columns             int
	SamplesPerPixel           int
	BitsAllocated, BitsStored int
	HighBit                   int
	PixelRepresentation       int // 0 unsigned, 1 two's complement
	PlanarConfiguration       int // 0 interleaved, 1 by plane
	PhotometricInterpretation string
	NumberOfFrames            int
	// PixelTag is the element holding the pixels: Pixel Data, or Float /
	// Double Float Pixel Data.
	PixelTag Tag
}

// Limits on what radmark will decode, so a header cannot ask for an
// absurd allocation.
const (
	maxDimension = 1 << 16
	maxFrames    = 1 << 20
)

// PixelInfo reads and checks the Image Pixel module.
func (ds *Dataset) PixelInfo() (PixelInfo, error) {
	var pi PixelInfo
	switch {
	case ds.Has(TagPixelData):
		pi.PixelTag = TagPixelData
	case ds.Has(TagFloatPixelData):
		pi.PixelTag = TagFloatPixelData
	case ds.Has(TagDoubleFloatPixelData):
		pi.PixelTag = TagDoubleFloatPixelData
	default:
		return pi, ErrNoPixelData
	}
	pi.Rows = ds.IntOr(TagRows, 0)
	pi.Columns = ds.IntOr(TagColumns, 0)
	pi.SamplesPerPixel = ds.IntOr(TagSamplesPerPixel, 1)
	pi.BitsAllocated = ds.IntOr(TagBitsAllocated, 0)
	pi.BitsStored = ds.IntOr(TagBitsStored, pi.BitsAllocated)
	pi.HighBit = ds.IntOr(TagHighBit, pi.BitsStored-1)
	pi.PixelRepresentation = ds.IntOr(TagPixelRepresentation, 0)
	pi.PlanarConfiguration = ds.IntOr(TagPlanarConfiguration, 0)
	pi.PhotometricInterpretation = strings.TrimSpace(ds.String(TagPhotometricInterpretation))
	pi.NumberOfFrames = ds.IntOr(TagNumberOfFrames, 1)
	switch pi.PixelTag {
	case TagFloatPixelData:
		pi.BitsAllocated, pi.BitsStored = 32, 32
	case TagDoubleFloatPixelData:
		pi.BitsAllocated, pi.BitsStored = 64, 64
	}
	if pi.NumberOfFrames < 1 {
		pi.NumberOfFrames = 1
	}
	switch {
	case pi.Rows <= 0 || pi.Columns <= 0 || pi.Rows > maxDimension || pi.Columns > maxDimension:
		return pi, fmt.Errorf("%w: image size %dx%d", ErrMalformed, pi.Columns, pi.Rows)
	case pi.SamplesPerPixel != 1 && pi.SamplesPerPixel != 3 && pi.SamplesPerPixel != 4:
		return pi, fmt.Errorf("%w: SamplesPerPixel %d", ErrMalformed, pi.SamplesPerPixel)
	case pi.BitsAllocated != 1 && pi.BitsAllocated != 8 && pi.BitsAllocated != 16 && pi.BitsAllocated != 32 && pi.BitsAllocated != 64:
		return pi, fmt.Errorf("%w: BitsAllocated %d", ErrMalformed, pi.BitsAllocated)
	case pi.BitsStored < 1 || pi.BitsStored > pi.BitsAllocated:
		return pi, fmt.Errorf("%w: BitsStored %d with BitsAllocated %d", ErrMalformed, pi.BitsStored, pi.BitsAllocated)
	case pi.NumberOfFrames > maxFrames:
		return pi, fmt.Errorf("%w: NumberOfFrames %d", ErrMalformed, pi.NumberOfFrames)
	}
	if pi.HighBit < pi.BitsStored-1 || pi.HighBit >= pi.BitsAllocated {
		// Many writers get HighBit wrong; the stored bits are what matter.
		pi.HighBit = pi.BitsStored - 1
	}
	return pi, nil
}

// FrameBits returns the size of one native frame in bits.
func (pi PixelInfo) FrameBits() int64 {
	return int64(pi.Rows) * int64(pi.Columns) * int64(pi.SamplesPerPixel) * int64(pi.BitsAllocated)
}

// NativeLength returns the byte length native pixel data of all frames
// must have (before the padding to an even length).
func (pi PixelInfo) NativeLength() int64 {
	bits := pi.FrameBits() * int64(pi.NumberOfFrames)
	n := (bits + 7) / 8
	if strings.HasPrefix(pi.PhotometricInterpretation, "YBR_FULL_422") || strings.HasPrefix(pi.PhotometricInterpretation, "YBR_PARTIAL_422") {
		// Two luminance samples share one pair of chrominance samples.
		n = int64(pi.Rows) * int64(pi.Columns) * 2 * int64(pi.BitsAllocated/8) * int64(pi.NumberOfFrames)
	}
	return n
}

// ByteRange is a run of bytes in the encoded object.
type ByteRange struct {
	Offset, Length int64
}

// FrameLocation says where one frame's bytes are.
type FrameLocation struct {
	// Ranges hold the frame: one range for native data, the fragments for
	// encapsulated data.
	Ranges []ByteRange
	// BitOffset is where a 1-bit native frame starts inside its first byte.
	BitOffset int
}

// LocateFrames finds every frame of the pixel data element e (which must
// come from ds, parsed with the transfer syntax ts). Native pixel data must
// be complete: a value shorter than the image needs is reported as
// truncated rather than served as garbage.
func LocateFrames(ds *Dataset, e *Element, pi PixelInfo) ([]FrameLocation, error) {
	if e.Encapsulated {
		return locateEncapsulated(ds, e, pi)
	}
	need := pi.NativeLength()
	if int64(e.Length) < need {
		return nil, fmt.Errorf("%w: pixel data has %d bytes but %d rows x %d columns x %d samples x %d bits x %d frames need %d",
			ErrTruncated, e.Length, pi.Rows, pi.Columns, pi.SamplesPerPixel, pi.BitsAllocated, pi.NumberOfFrames, need)
	}
	locs := make([]FrameLocation, pi.NumberOfFrames)
	frameBits := pi.FrameBits()
	frameBytes := need / int64(pi.NumberOfFrames)
	for i := range locs {
		if pi.BitsAllocated == 1 {
			start := int64(i) * frameBits
			first := start / 8
			last := (start + frameBits + 7) / 8
			locs[i] = FrameLocation{Ranges: []ByteRange{{e.Offset + first, last - first}}, BitOffset: int(start % 8)}
			continue
		}
		locs[i] = FrameLocation{Ranges: []ByteRange{{e.Offset + int64(i)*frameBytes, frameBytes}}}
	}
	return locs, nil
}

// locateEncapsulated maps fragments to frames (PS3.5 A.4): by the Extended
// Offset Table, else the Basic Offset Table, else one frame for all
// fragments of a single-frame image, else one fragment per frame, else by
// the codestream start markers the fragments begin with.
func locateEncapsulated(ds *Dataset, e *Element, pi PixelInfo) ([]FrameLocation, error) {
	if len(e.Fragments) == 0 {
		return nil, fmt.Errorf("%w: encapsulated pixel data without a Basic Offset Table item", ErrMalformed)
	}
	frags := e.Fragments[1:]
	n := pi.NumberOfFrames
	if len(frags) == 0 {
		return nil, fmt.Errorf("%w: encapsulated pixel data has no fragments", ErrTruncated)
	}
	rangeOf := func(f Fragment) ByteRange { return ByteRange{f.Offset, int64(f.Length)} }
	// Offsets in the tables count from the first fragment's item tag.
	base := frags[0].Offset - 8
	byItemOffset := func(offsets []uint64) ([]FrameLocation, bool) {
		if len(offsets) != n {
			return nil, false
		}
		locs := make([]FrameLocation, n)
		fi := 0
		for i := 0; i < n; i++ {
			end := uint64(1 << 63)
			if i+1 < n {
				end = offsets[i+1]
			}
			if i > 0 && offsets[i] < offsets[i-1] {
				return nil, false
			}
			for fi < len(frags) && uint64(frags[fi].Offset-8-base) < offsets[i] {
				fi++
			}
			for fi < len(frags) && uint64(frags[fi].Offset-8-base) < end {
				if uint64(frags[fi].Offset-8-base) >= offsets[i] {
					locs[i].Ranges = append(locs[i].Ranges, rangeOf(frags[fi]))
				}
				fi++
			}
			if len(locs[i].Ranges) == 0 {
				return nil, false
			}
		}
		return locs, true
	}
	if eot := ds.Get(TagExtendedOffsetTable); eot != nil && eot.Value != nil {
		if locs, ok := byItemOffset(eot.Uints()); ok {
			return locs, nil
		}
	}
	if bot := e.Fragments[0].Data; len(bot) >= 4 {
		offsets := make([]uint64, len(bot)/4)
		for i := range offsets {
			offsets[i] = uint64(binary.LittleEndian.Uint32(bot[4*i:]))
		}
		if locs, ok := byItemOffset(offsets); ok {
			return locs, nil
		}
	}
	if n == 1 {
		loc := FrameLocation{}
		for _, f := range frags {
			loc.Ranges = append(loc.Ranges, rangeOf(f))
		}
		return []FrameLocation{loc}, nil
	}
	if len(frags) == n {
		locs := make([]FrameLocation, n)
		for i, f := range frags {
			locs[i] = FrameLocation{Ranges: []ByteRange{rangeOf(f)}}
		}
		return locs, nil
	}
	var locs []FrameLocation
	for _, f := range frags {
		if len(locs) == 0 || startsFrame(f.Head) {
			locs = append(locs, FrameLocation{})
		}
		locs[len(locs)-1].Ranges = append(locs[len(locs)-1].Ranges, rangeOf(f))
	}
	if len(locs) != n {
		return nil, fmt.Errorf("%w: cannot tell which of %d fragments belong to which of %d frames", ErrMalformed, len(frags), n)
	}
	return locs, nil
}

// startsFrame reports whether a fragment begins a codestream: JPEG and
// JPEG-LS (SOI), JPEG 2000 (SOC+SIZ, or the JP2 signature box).
func startsFrame(head []byte) bool {
	if len(head) < 4 {
		return false
	}
	switch {
	case head[0] == 0xFF && head[1] == 0xD8:
		return true
	case head[0] == 0xFF && head[1] == 0x4F && head[2] == 0xFF && head[3] == 0x51:
		return true
	case head[0] == 0 && head[1] == 0 && head[2] == 0 && head[3] == 0x0C:
		return true
	}
	return false
}

// NativeFrame converts one native frame's bytes (as stored: big-endian if
// the transfer syntax is) to the canonical layout the codecs produce:
// little-endian samples, interleaved colour, 1-bit data packed LSB first
// from the frame's first pixel. YBR_FULL_422 is expanded to full chroma.
func NativeFrame(pi PixelInfo, data []byte, bitOffset int, bigEndian bool) (out []byte, bitsAllocated int, photometric string, err error) {
	photometric = pi.PhotometricInterpretation
	pixels := pi.Rows * pi.Columns
	if pi.BitsAllocated == 1 {
		n := int64(pixels * pi.SamplesPerPixel)
		if int64(len(data))*8 < int64(bitOffset)+n {
			return nil, 0, "", fmt.Errorf("%w: 1-bit frame shorter than %d pixels", ErrTruncated, pixels)
		}
		if bitOffset == 0 {
			return append([]byte(nil), data[:(n+7)/8]...), 1, photometric, nil
		}
		// Realign a frame that starts inside a byte (frames of 1-bit data
		// follow each other without padding). Bits are packed least
		// significant first (PS3.5 8.1.1).
		out = make([]byte, (n+7)/8)
		for i := int64(0); i < n; i++ {
			bit := int64(bitOffset) + i
			if data[bit/8]&(1<<(bit%8)) != 0 {
				out[i/8] |= 1 << (i % 8)
			}
		}
		return out, 1, photometric, nil
	}
	bytesPerSample := pi.BitsAllocated / 8
	if strings.HasPrefix(photometric, "YBR_FULL_422") && pi.SamplesPerPixel == 3 && bytesPerSample == 1 {
		return expandYBR422(pi, data)
	}
	need := pixels * pi.SamplesPerPixel * bytesPerSample
	if len(data) < need {
		return nil, 0, "", fmt.Errorf("%w: frame has %d bytes, needs %d", ErrTruncated, len(data), need)
	}
	out = make([]byte, need)
	copy(out, data[:need])
	if bigEndian && bytesPerSample > 1 {
		swapWords(out, bytesPerSample)
	}
	if pi.SamplesPerPixel > 1 && pi.PlanarConfiguration == 1 {
		planar := out
		out = make([]byte, need)
		spp := pi.SamplesPerPixel
		for s := 0; s < spp; s++ {
			plane := planar[s*pixels*bytesPerSample:]
			for p := 0; p < pixels; p++ {
				copy(out[(p*spp+s)*bytesPerSample:(p*spp+s+1)*bytesPerSample], plane[p*bytesPerSample:(p+1)*bytesPerSample])
			}
		}
	}
	return out, pi.BitsAllocated, photometric, nil
}

// expandYBR422 turns Y Y Cb Cr groups into full YBR samples.
func expandYBR422(pi PixelInfo, data []byte) ([]byte, int, string, error) {
	pixels := pi.Rows * pi.Columns
	if len(data) < pixels*2 {
		return nil, 0, "", fmt.Errorf("%w: YBR_FULL_422 frame has %d bytes, needs %d", ErrTruncated, len(data), pixels*2)
	}
	out := make([]byte, pixels*3)
	for i := 0; i+1 < pixels; i += 2 {
		g := data[i*2 : i*2+4]
		out[i*3], out[i*3+1], out[i*3+2] = g[0], g[2], g[3]
		out[i*3+3], out[i*3+4], out[i*3+5] = g[1], g[2], g[3]
	}
	return out, 8, "YBR_FULL", nil
}
