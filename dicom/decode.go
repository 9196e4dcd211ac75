package dicom

import (
	"fmt"

	"github.com/radmark/radmark/dicom/codec"
)

// CodecInfo describes pi for the codecs.
func CodecInfo(pi PixelInfo) codec.Info {
	return codec.Info{
		Rows:                      pi.Rows,
		Columns:                   pi.Columns,
		SamplesPerPixel:           pi.SamplesPerPixel,
		BitsAllocated:             pi.BitsAllocated,
		BitsStored:                pi.BitsStored,
		PixelRepresentation:       pi.PixelRepresentation,
		PlanarConfiguration:       pi.PlanarConfiguration,
		PhotometricInterpretation: pi.PhotometricInterpretation,
	}
}

// DecodeFrame decodes one frame given in the transfer syntax tsUID (the
// codestream of a compressed frame, or the little-endian bytes of a native
// one) to the canonical layout of codec.Frame: the bytes Explicit VR Little
// Endian would hold for that frame alone, colour interleaved.
func DecodeFrame(tsUID string, pi PixelInfo, data []byte, bitOffset int) (*codec.Frame, error) {
	ts, ok := LookupTransferSyntax(tsUID)
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnsupportedTransferSyntax, tsUID)
	}
	if !ts.Encapsulated || tsUID == EncapsulatedUncompressedExplicitVRLittleEndian {
		out, bits, pm, err := NativeFrame(pi, data, bitOffset, false)
		if err != nil {
			return nil, err
		}
		return &codec.Frame{Data: out, Rows: pi.Rows, Columns: pi.Columns, SamplesPerPixel: pi.SamplesPerPixel, BitsAllocated: bits, PhotometricInterpretation: pm}, nil
	}
	return codec.Decode(tsUID, data, CodecInfo(pi))
}
