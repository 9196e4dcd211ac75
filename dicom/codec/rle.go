package codec

import (
	"encoding/binary"

	"github.com/radmark/radmark"
)

// decodeRLE decodes one RLE Lossless frame (PS3.5 Annex G).
//
// A frame is a 64-byte header (the number of segments and up to 15 segment
// offsets, little endian) followed by PackBits segments. Each segment holds
// one byte plane of one sample: for every sample, its most significant byte
// first (G.2). Segments are therefore ordered sample 0 MSB..LSB, sample 1
// MSB..LSB, ..., and the output interleaves them back into little-endian,
// colour-by-pixel samples whatever PlanarConfiguration says (RLE has its
// own plane order; dcmtk and pydicom ignore the attribute for RLE too).
//
// BitsAllocated 1 (binary SEG) is one segment of packed bits, which is the
// native encoding of the frame already.
func decodeRLE(src []byte, info Info) (*Frame, error) {
	if len(src) < 64 {
		return nil, invalidf("frame of %d bytes is shorter than the 64-byte RLE header", len(src))
	}
	bytesPerSample := info.BitsAllocated / 8
	if info.BitsAllocated == 1 {
		bytesPerSample = 1
	}
	want := info.SamplesPerPixel * bytesPerSample
	n := int(binary.LittleEndian.Uint32(src))
	if n != want {
		return nil, invalidf("RLE header has %d segments, %d samples of %d bits need %d",
			n, info.SamplesPerPixel, info.BitsAllocated, want)
	}
	var offsets [16]int
	for i := 0; i < n; i++ {
		offsets[i] = int(binary.LittleEndian.Uint32(src[4+4*i:]))
		if offsets[i] < 64 || offsets[i] > len(src) || (i > 0 && offsets[i] < offsets[i-1]) {
			return nil, invalidf("RLE segment %d offset %d is outside the %d-byte frame or out of order",
				i, offsets[i], len(src))
		}
	}
	offsets[n] = len(src)

	f := newFrame(info, info.PhotometricInterpretation)
	segLen := info.Rows * info.Columns // bytes each segment decodes to
	stride := want                     // distance between a plane's bytes in the output
	if info.BitsAllocated == 1 {
		segLen = len(f.Data)
		stride = 1
	}
	for i := 0; i < n; i++ {
		sample, byteOfSample := i/bytesPerSample, i%bytesPerSample
		// Segment byte 0 is the most significant byte; little-endian output
		// puts it last within the sample.
		start := sample*bytesPerSample + (bytesPerSample - 1 - byteOfSample)
		if err := unpackBits(src[offsets[i]:offsets[i+1]], f.Data, start, stride, segLen); err != nil {
			return nil, invalidf("RLE segment %d: %v", i, radmark.ErrorMessage(err))
		}
	}
	return f, nil
}

// unpackBits decodes one PackBits segment into dst[start], dst[start+stride],
// ... for exactly count bytes. Bytes left in the segment after count are
// ignored: encoders pad segments to even length, and some encode each row
// separately with a trailing byte. A segment that runs out early is corrupt.
func unpackBits(seg, dst []byte, start, stride, count int) error {
	out, written := start, 0
	for i := 0; i < len(seg) && written < count; {
		h := int(int8(seg[i]))
		i++
		switch {
		case h >= 0: // h+1 literal bytes
			run := h + 1
			if i+run > len(seg) {
				return invalidf("literal run of %d bytes passes the end of the segment", run)
			}
			if run > count-written {
				run = count - written
			}
			for _, b := range seg[i : i+run] {
				dst[out] = b
				out += stride
			}
			i += h + 1
			written += run
		case h != -128: // the next byte repeated 1-h times
			if i >= len(seg) {
				return invalidf("replicate run passes the end of the segment")
			}
			run := 1 - h
			if run > count-written {
				run = count - written
			}
			b := seg[i]
			i++
			for k := 0; k < run; k++ {
				dst[out] = b
				out += stride
			}
			written += run
		}
		// -128 is a no-op (PS3.5 G.3.1).
	}
	if written < count {
		return invalidf("decoded %d bytes, the frame needs %d", written, count)
	}
	return nil
}
