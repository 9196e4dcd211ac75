package codec

import (
	"encoding/binary"
	"testing"

	"github.com/radmark/radmark"
)

// The fuzz targets call the decoders directly, without Decode's recover(),
// so that a panic is a failure, and check that whatever the input, a
// decoder returns either a frame of exactly the declared size or a coded
// error. Seeds: testdata/fuzz/<target> (the smallest fixtures), every
// fixture of the target's syntaxes (addFixtureSeeds) and the f.Add calls.

// fuzzPixelLimit keeps one execution fast; frames beyond it are skipped.
const fuzzPixelLimit = 1 << 18

func checkDecoded(t *testing.T, f *Frame, err error, info Info) {
	t.Helper()
	if err != nil {
		if c := radmark.ErrorCode(err); c != radmark.EINVALID && c != radmark.EUNSUPPORTED {
			t.Fatalf("error code %q: %v", c, err)
		}
		return
	}
	if int64(len(f.Data)) != info.frameBytes() {
		t.Fatalf("decoded %d bytes, info needs %d", len(f.Data), info.frameBytes())
	}
}

// addFixtureSeeds adds the frames of the committed fixtures whose transfer
// syntax keep accepts, through add (which supplies the other arguments).
func addFixtureSeeds(f *testing.F, keep func(ts string) bool, add func(fx fixture, frame []byte)) {
	for _, fx := range loadFixtures(f) {
		if keep(fx.TS) {
			add(fx, fx.frame(f))
		}
	}
}

func isJPEG(ts string) bool {
	s, ok := syntaxes[ts]
	return ok && s.pureGo && ts != RLELossless
}

func FuzzRLE(f *testing.F) {
	addFixtureSeeds(f, func(ts string) bool { return ts == RLELossless }, func(fx fixture, frame []byte) {
		f.Add(frame, uint16(fx.Rows), uint16(fx.Columns), fx.Samples == 3, uint8(map[int]int{1: 0, 8: 1, 16: 2, 32: 3}[fx.BitsAllocated]))
	})
	f.Add(append(rleHeader(1, 64), 0xFC, 7, 0x80, 1, 1, 2), uint16(2), uint16(5), false, uint8(1))
	f.Add(append(rleHeader(2, 64, 66), 0xFF, 7, 0xFF, 9), uint16(1), uint16(2), false, uint8(2))
	f.Fuzz(func(t *testing.T, frame []byte, rows, cols uint16, rgb bool, bits uint8) {
		info := Info{Rows: int(rows), Columns: int(cols), SamplesPerPixel: 1,
			BitsAllocated: []int{1, 8, 16, 32}[bits%4], PhotometricInterpretation: "MONOCHROME2"}
		info.BitsStored = info.BitsAllocated
		if rgb {
			info.SamplesPerPixel, info.PhotometricInterpretation = 3, "RGB"
		}
		if info.check() != nil || info.Rows*info.Columns > fuzzPixelLimit || len(frame) == 0 {
			t.Skip()
		}
		fr, err := decodeRLE(frame, info)
		checkDecoded(t, fr, err, info)
	})
}

// sniffSOF finds the frame header so the fuzzer's Info agrees with the
// stream and mutations reach the entropy decoder, not just the size check.
func sniffSOF(b []byte) (precision, rows, cols, comps int, ok bool) {
	for i := 0; i+10 < len(b); i++ {
		if b[i] == 0xFF && b[i+1] >= 0xC0 && b[i+1] <= 0xC3 {
			return int(b[i+4]), int(binary.BigEndian.Uint16(b[i+5:])), int(binary.BigEndian.Uint16(b[i+7:])), int(b[i+9]), true
		}
	}
	return 0, 0, 0, 0, false
}

func FuzzJPEG(f *testing.F) {
	addFixtureSeeds(f, isJPEG, func(_ fixture, frame []byte) { f.Add(frame) })
	f.Add(encodeLossless(losslessParams{width: 7, height: 5, precision: 12, comps: 1, predictor: 4, restartRows: 2},
		testImage(7, 5, 1, 12, 1)))
	f.Add(encodeDCT(dctParams{width: 19, height: 11, precision: 8, comps: []encComponent{{2, 2}, {1, 1}, {1, 1}}, restart: 2, seed: 3}))
	f.Add(encodeDCT(dctParams{width: 9, height: 17, precision: 12, comps: []encComponent{{1, 1}}, seed: 4}))
	f.Fuzz(func(t *testing.T, frame []byte) {
		precision, rows, cols, comps, ok := sniffSOF(frame)
		if !ok || rows*cols*max(comps, 1) > fuzzPixelLimit {
			t.Skip()
		}
		info := Info{Rows: rows, Columns: cols, SamplesPerPixel: comps, BitsAllocated: 8, BitsStored: 8,
			PhotometricInterpretation: "MONOCHROME2"}
		if precision > 8 {
			info.BitsAllocated, info.BitsStored = 16, 16
		}
		if comps == 3 {
			info.PhotometricInterpretation = "YBR_FULL_422"
		}
		if info.check() != nil {
			t.Skip()
		}
		fr, err := decodeJPEG(frame, info)
		checkDecoded(t, fr, err, info)
	})
}
