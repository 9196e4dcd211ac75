//go:build cgo

package codec

import (
	"os"
	"testing"
	"time"

	"github.com/radmark/radmark"
)

// Fuzz targets for the cgo bindings: a crash inside CharLS or OpenJPEG
// cannot be recovered, so the bindings' own checks and the libraries'
// robustness are what these exercise. Info comes from the codestream's own
// header, so mutations get past the size check into the decoders.

func FuzzJPEGLS(f *testing.F) {
	addFixtureSeeds(f, func(ts string) bool { return ts == JPEGLSLossless || ts == JPEGLSNearLossless },
		func(_ fixture, frame []byte) { f.Add(frame) })
	f.Fuzz(func(t *testing.T, frame []byte) {
		if len(frame) == 0 {
			t.Skip()
		}
		hd, err := readJPEGLSHeader(frame)
		if err != nil {
			return
		}
		info := Info{Rows: hd.height, Columns: hd.width, SamplesPerPixel: hd.components, BitsAllocated: 8,
			BitsStored: 8, PhotometricInterpretation: "MONOCHROME2"}
		if hd.bits > 8 {
			info.BitsAllocated, info.BitsStored = 16, 16
		}
		if info.check() != nil || info.Rows*info.Columns > fuzzPixelLimit {
			t.Skip()
		}
		fr, err := decodeJPEGLS(frame, info)
		checkDecoded(t, fr, err, info)
	})
}

func FuzzJPEG2000(f *testing.F) {
	j2k := map[string]bool{JPEG2000Lossless: true, JPEG2000: true, HTJ2KLossless: true, HTJ2KLosslessRPCL: true, HTJ2K: true}
	addFixtureSeeds(f, func(ts string) bool { return j2k[ts] },
		func(_ fixture, frame []byte) { f.Add(frame) })
	f.Fuzz(func(t *testing.T, frame []byte) {
		if len(frame) == 0 {
			t.Skip()
		}
		hd, err := readJPEG2000Header(frame)
		if err != nil {
			return
		}
		info := Info{Rows: hd.height, Columns: hd.width, SamplesPerPixel: hd.components, BitsAllocated: 16,
			BitsStored: 16, PhotometricInterpretation: "MONOCHROME2"}
		if hd.components == 3 {
			info.BitsAllocated, info.BitsStored, info.PhotometricInterpretation = 8, 8, "RGB"
		}
		if info.check() != nil || info.Rows*info.Columns > fuzzPixelLimit {
			t.Skip()
		}
		fr, err := decodeJPEG2000(frame, info)
		checkDecoded(t, fr, err, info)
	})
}

// TestCharLSSlowInput keeps a reproducer found by FuzzJPEGLS: a truncated
// 2 KB, 64x64 16-bit near-lossless JPEG-LS stream on which CharLS 2.4.1
// spends 10-15 s of CPU (it reads zero bits past the end of the data and a
// Golomb code of zeros takes it ~2^32 iterations) before reporting it
// corrupt. A cgo call cannot be interrupted, so the binding rejects streams
// without their EOI marker before CharLS sees them; this test keeps that
// guard in place.
func TestCharLSSlowInput(t *testing.T) {
	b, err := os.ReadFile("testdata/charls_slow.jls")
	if err != nil {
		t.Fatal(err)
	}
	info := Info{Rows: 64, Columns: 64, SamplesPerPixel: 1, BitsAllocated: 16, BitsStored: 16}
	start := time.Now()
	_, err = Decode(JPEGLSNearLossless, b, info)
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("decoding took %v", took)
	}
	if radmark.ErrorCode(err) != radmark.EINVALID {
		t.Errorf("got %v, want EINVALID", err)
	}
}
