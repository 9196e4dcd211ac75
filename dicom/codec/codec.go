package codec

import (
	"fmt"
	"runtime/debug"

	"github.com/radmark/radmark"
)

// Transfer syntaxes whose frames Decode understands (PS3.5 Annex A, PS3.6
// Table A-1).
const (
	RLELossless        = "1.2.840.10008.1.2.5"
	JPEGBaseline8Bit   = "1.2.840.10008.1.2.4.50"
	JPEGExtended12Bit  = "1.2.840.10008.1.2.4.51"
	JPEGLossless       = "1.2.840.10008.1.2.4.57"
	JPEGLosslessSV1    = "1.2.840.10008.1.2.4.70"
	JPEGLSLossless     = "1.2.840.10008.1.2.4.80"
	JPEGLSNearLossless = "1.2.840.10008.1.2.4.81"
	JPEG2000Lossless   = "1.2.840.10008.1.2.4.90"
	JPEG2000           = "1.2.840.10008.1.2.4.91"
	HTJ2KLossless      = "1.2.840.10008.1.2.4.201"
	HTJ2KLosslessRPCL  = "1.2.840.10008.1.2.4.202"
	HTJ2K              = "1.2.840.10008.1.2.4.203"

	// Retired syntaxes for spectral selection and full progression
	// (processes 6 & 8, 10 & 12), still met in old archives; dcmtk writes
	// them with dcmcjpeg +es/+ep. The same decoder handles them.
	JPEGSpectralSelection = "1.2.840.10008.1.2.4.53"
	JPEGFullProgression   = "1.2.840.10008.1.2.4.55"
)

// MaxFrameBytes bounds the decoded size of one frame. Info comes from a
// dataset header, which is outside input too: without a bound, a header
// claiming 65535x65535x3 at 32 bits would ask for 51 GB before a single
// codestream byte is read. 1 GiB is far above any real radiology frame
// (a 4664x3064 mammogram is 29 MB).
const MaxFrameBytes = 1 << 30

// Info describes the frame as the dataset declares it (Image Pixel module).
type Info struct {
	Rows, Columns, SamplesPerPixel, BitsAllocated, BitsStored, PixelRepresentation, PlanarConfiguration int
	PhotometricInterpretation                                                                           string
}

// Frame is a decoded frame.
type Frame struct {
	// Data holds exactly the bytes an uncompressed Explicit VR Little Endian
	// encoding of the frame would hold: samples row-major, colour samples
	// interleaved (planar configuration 0), each sample in BitsAllocated/8
	// bytes little endian, the stored bits as the codestream gives them (no
	// rescale, no sign extension the codestream does not make). With
	// BitsAllocated 1 the pixels are packed LSB first, ceil(n/8) bytes.
	Data                                          []byte
	Rows, Columns, SamplesPerPixel, BitsAllocated int
	// PhotometricInterpretation is the one after decoding, e.g. "RGB" when a
	// JPEG decoder converted YBR_FULL_422.
	PhotometricInterpretation string
}

// decoder decodes one frame whose Info has passed Info.check; it may assume
// frameBytes(info) is within MaxFrameBytes.
type decoder func(frame []byte, info Info) (*Frame, error)

type syntax struct {
	name   string
	decode decoder
	// pureGo decoders run behind recover(): a panic there is a bug reached
	// by outside input, and must cost one frame, not the process.
	pureGo bool
}

// syntaxes maps each supported transfer syntax to its decoder. The cgo
// entries are filled by init functions in the cgo files or, without cgo, by
// stubs that report EUNSUPPORTED.
var syntaxes = map[string]*syntax{
	RLELossless:           {name: "RLE Lossless", decode: decodeRLE, pureGo: true},
	JPEGBaseline8Bit:      {name: "JPEG Baseline", decode: decodeJPEG, pureGo: true},
	JPEGExtended12Bit:     {name: "JPEG Extended", decode: decodeJPEG, pureGo: true},
	JPEGLossless:          {name: "JPEG Lossless", decode: decodeJPEG, pureGo: true},
	JPEGSpectralSelection: {name: "JPEG Spectral Selection (retired)", decode: decodeJPEG, pureGo: true},
	JPEGFullProgression:   {name: "JPEG Full Progression (retired)", decode: decodeJPEG, pureGo: true},
	JPEGLosslessSV1:       {name: "JPEG Lossless SV1", decode: decodeJPEG, pureGo: true},
	JPEGLSLossless:        {name: "JPEG-LS Lossless", decode: decodeJPEGLS},
	JPEGLSNearLossless: {name: "JPEG-LS Near-Lossless",
		decode: decodeJPEGLS},
	JPEG2000Lossless:  {name: "JPEG 2000 Lossless", decode: decodeJPEG2000},
	JPEG2000:          {name: "JPEG 2000", decode: decodeJPEG2000},
	HTJ2KLossless:     {name: "HTJ2K Lossless", decode: decodeHTJ2K},
	HTJ2KLosslessRPCL: {name: "HTJ2K Lossless RPCL", decode: decodeHTJ2K},
	HTJ2K:             {name: "HTJ2K", decode: decodeHTJ2K},
}

// Supported reports whether Decode can decode frames of the transfer
// syntax in this build. JPEG-LS and JPEG 2000 need a cgo build with
// CharLS and OpenJPEG; HTJ2K also needs an OpenJPEG that decodes it.
func Supported(transferSyntaxUID string) bool {
	s, ok := syntaxes[transferSyntaxUID]
	if !ok {
		return false
	}
	switch transferSyntaxUID {
	case JPEGLSLossless, JPEGLSNearLossless:
		return haveCharLS
	case JPEG2000Lossless, JPEG2000:
		return haveOpenJPEG
	case HTJ2KLossless, HTJ2KLosslessRPCL, HTJ2K:
		return haveHTJ2K
	}
	return s.decode != nil
}

// Decode decodes one frame of compressed pixel data: frame is the frame's
// compressed bytes (its fragments concatenated) and info what the dataset
// declares about it. Errors carry a radmark code: EUNSUPPORTED for a
// transfer syntax or codestream feature this package does not decode,
// EINVALID for corrupt data or a codestream that contradicts info,
// ETOOLARGE for a frame above MaxFrameBytes.
func Decode(transferSyntaxUID string, frame []byte, info Info) (f *Frame, err error) {
	s, ok := syntaxes[transferSyntaxUID]
	if !ok {
		return nil, radmark.Errorf(radmark.EUNSUPPORTED, "codec: transfer syntax %q is not a compressed syntax radmark decodes", transferSyntaxUID)
	}
	if err := info.check(); err != nil {
		return nil, radmark.Errorf(radmark.ErrorCode(err), "codec: %s: %w", s.name, err)
	}
	if len(frame) == 0 {
		return nil, radmark.Errorf(radmark.EINVALID, "codec: %s: empty frame", s.name)
	}
	if s.pureGo {
		defer func() {
			if r := recover(); r != nil {
				f = nil
				err = radmark.Errorf(radmark.EINVALID, "codec: %s: decoder failed on this data (%v)", s.name, r)
				// Keep the trace for the logs: a panic here is a bug.
				err = fmt.Errorf("%w\n%s", err, debug.Stack())
			}
		}()
	}
	f, err = s.decode(frame, info)
	if err != nil {
		return nil, radmark.Errorf(radmark.ErrorCode(err), "codec: %s: %w", s.name, err)
	}
	return f, nil
}

// check validates what the dataset claims before anything is allocated.
func (in Info) check() error {
	switch {
	case in.Rows < 1 || in.Rows > 0xFFFF || in.Columns < 1 || in.Columns > 0xFFFF:
		return invalidf("frame size %dx%d is out of range", in.Columns, in.Rows)
	case in.SamplesPerPixel != 1 && in.SamplesPerPixel != 3:
		return invalidf("SamplesPerPixel %d is not 1 or 3", in.SamplesPerPixel)
	case in.BitsAllocated != 1 && in.BitsAllocated != 8 && in.BitsAllocated != 16 && in.BitsAllocated != 32:
		return invalidf("BitsAllocated %d is not 1, 8, 16 or 32", in.BitsAllocated)
	case in.BitsAllocated == 1 && in.SamplesPerPixel != 1:
		return invalidf("BitsAllocated 1 with %d samples per pixel (1-bit data is monochrome)", in.SamplesPerPixel)
	case in.BitsStored < 1 || in.BitsStored > in.BitsAllocated:
		return invalidf("BitsStored %d does not fit BitsAllocated %d", in.BitsStored, in.BitsAllocated)
	case in.PixelRepresentation != 0 && in.PixelRepresentation != 1:
		return invalidf("PixelRepresentation %d is not 0 or 1", in.PixelRepresentation)
	}
	if n := in.frameBytes(); n > MaxFrameBytes {
		return radmark.Errorf(radmark.ETOOLARGE, "frame of %dx%dx%d at %d bits is %d bytes, above the limit of %d",
			in.Columns, in.Rows, in.SamplesPerPixel, in.BitsAllocated, n, MaxFrameBytes)
	}
	return nil
}

// frameBytes is the size of the decoded frame in native encoding.
func (in Info) frameBytes() int64 {
	n := int64(in.Rows) * int64(in.Columns) * int64(in.SamplesPerPixel)
	if in.BitsAllocated == 1 {
		return (n + 7) / 8
	}
	return n * int64(in.BitsAllocated/8)
}

// newFrame allocates the output frame for info. Its size is bounded by
// Info.check, and decoders call it only after checking the codestream's own
// header against info.
func newFrame(info Info, photometric string) *Frame {
	return &Frame{
		Data:                      make([]byte, info.frameBytes()),
		Rows:                      info.Rows,
		Columns:                   info.Columns,
		SamplesPerPixel:           info.SamplesPerPixel,
		BitsAllocated:             info.BitsAllocated,
		PhotometricInterpretation: photometric,
	}
}

func invalidf(format string, args ...any) error {
	return radmark.Errorf(radmark.EINVALID, format, args...)
}

func unsupportedf(format string, args ...any) error {
	return radmark.Errorf(radmark.EUNSUPPORTED, format, args...)
}
