package codec

import (
	"bytes"
	"compress/flate"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/radmark/radmark"
)

// fixture is one entry of testdata/fixtures/fixtures.json, made by
// testdata/mkfixtures.py: a small compressed frame and the sha256 of what
// a reference decoder (dcmtk, gdcm, OpenJPH, or the same data stored
// uncompressed) makes of it.
type fixture struct {
	Name                string `json:"name"`
	TS                  string `json:"ts"`
	Rows                int    `json:"rows"`
	Columns             int    `json:"columns"`
	Samples             int    `json:"samples"`
	BitsAllocated       int    `json:"bits_allocated"`
	BitsStored          int    `json:"bits_stored"`
	PixelRepresentation int    `json:"pixel_representation"`
	Photometric         string `json:"photometric"`
	WantPhotometric     string `json:"want_photometric"`
	Size                int    `json:"size"`
	SHA256              string `json:"sha256"`
	Tolerance           int    `json:"tolerance"`
	Source              string `json:"source"`
	Reference           string `json:"reference"`
}

func (f fixture) info() Info {
	return Info{Rows: f.Rows, Columns: f.Columns, SamplesPerPixel: f.Samples,
		BitsAllocated: f.BitsAllocated, BitsStored: f.BitsStored,
		PixelRepresentation: f.PixelRepresentation, PhotometricInterpretation: f.Photometric}
}

func (f fixture) frame(tb testing.TB) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "fixtures", f.Name+".bin"))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func loadFixtures(tb testing.TB) []fixture {
	tb.Helper()
	b, err := os.ReadFile("testdata/fixtures/fixtures.json")
	if err != nil {
		tb.Fatal(err)
	}
	var fs []fixture
	if err := json.Unmarshal(b, &fs); err != nil {
		tb.Fatal(err)
	}
	return fs
}

// TestFixtures decodes the committed fixtures and compares the output with
// the reference decoders' recorded output: the core check that runs
// without ../shared or any external tool.
func TestFixtures(t *testing.T) {
	for _, fx := range loadFixtures(t) {
		t.Run(fx.Name, func(t *testing.T) {
			if !Supported(fx.TS) {
				t.Skipf("%s is not supported in this build (cgo off?)", fx.TS)
			}
			f, err := Decode(fx.TS, fx.frame(t), fx.info())
			if err != nil {
				t.Fatal(err)
			}
			if len(f.Data) != fx.Size {
				t.Fatalf("decoded %d bytes, want %d", len(f.Data), fx.Size)
			}
			if f.PhotometricInterpretation != fx.WantPhotometric {
				t.Errorf("photometric %q, want %q", f.PhotometricInterpretation, fx.WantPhotometric)
			}
			if f.Rows != fx.Rows || f.Columns != fx.Columns || f.SamplesPerPixel != fx.Samples || f.BitsAllocated != fx.BitsAllocated {
				t.Errorf("frame %dx%dx%d at %d bits, want %dx%dx%d at %d", f.Columns, f.Rows, f.SamplesPerPixel, f.BitsAllocated,
					fx.Columns, fx.Rows, fx.Samples, fx.BitsAllocated)
			}
			if fx.Tolerance > 0 {
				ref, err := os.ReadFile(filepath.Join("testdata", "fixtures", fx.Name+".ref.bin"))
				if err != nil {
					t.Fatal(err)
				}
				n, d := maxSampleDiff(f.Data, ref, fx.BitsAllocated)
				if d > fx.Tolerance {
					t.Errorf("%d samples differ from %s by up to %d (tolerance %d)", n, fx.Reference, d, fx.Tolerance)
				}
				return
			}
			sum := sha256.Sum256(f.Data)
			if got := hex.EncodeToString(sum[:]); got != fx.SHA256 {
				t.Errorf("sha256 %s, want %s (%s decoded by %s)", got, fx.SHA256, fx.Source, fx.Reference)
			}
		})
	}
}

func TestSupported(t *testing.T) {
	for _, ts := range []string{RLELossless, JPEGBaseline8Bit, JPEGExtended12Bit, JPEGLossless, JPEGLosslessSV1,
		JPEGSpectralSelection, JPEGFullProgression} {
		if !Supported(ts) {
			t.Errorf("Supported(%s) = false; pure-Go syntaxes are always supported", ts)
		}
	}
	for ts, want := range map[string]bool{
		JPEGLSLossless: haveCharLS, JPEGLSNearLossless: haveCharLS,
		JPEG2000Lossless: haveOpenJPEG, JPEG2000: haveOpenJPEG,
		HTJ2KLossless: haveHTJ2K, HTJ2KLosslessRPCL: haveHTJ2K, HTJ2K: haveHTJ2K,
	} {
		if Supported(ts) != want {
			t.Errorf("Supported(%s) = %v, want %v for this build", ts, Supported(ts), want)
		}
	}
	for _, ts := range []string{explicitVRLittleEndian, "1.2.840.10008.1.2", "1.2.840.10008.1.2.4.58", "", "junk"} {
		if Supported(ts) {
			t.Errorf("Supported(%q) = true", ts)
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	mono16 := Info{Rows: 64, Columns: 64, SamplesPerPixel: 1, BitsAllocated: 16, BitsStored: 16, PhotometricInterpretation: "MONOCHROME2"}
	jpegCT := fixtureByName(t, "jpll_mr16_sv1")
	for _, tc := range []struct {
		name  string
		ts    string
		frame []byte
		info  Info
		code  string
		msg   string
	}{
		{"unknown syntax", "1.2.3", []byte{1}, mono16, radmark.EUNSUPPORTED, "not a compressed syntax"},
		{"native syntax", explicitVRLittleEndian, []byte{1}, mono16, radmark.EUNSUPPORTED, "not a compressed syntax"},
		{"empty frame", RLELossless, nil, mono16, radmark.EINVALID, "empty frame"},
		{"zero rows", RLELossless, []byte{1}, Info{Columns: 1, SamplesPerPixel: 1, BitsAllocated: 8, BitsStored: 8}, radmark.EINVALID, "out of range"},
		{"4 samples", RLELossless, []byte{1}, Info{Rows: 1, Columns: 1, SamplesPerPixel: 4, BitsAllocated: 8, BitsStored: 8}, radmark.EINVALID, "SamplesPerPixel"},
		{"12 bits allocated", RLELossless, []byte{1}, Info{Rows: 1, Columns: 1, SamplesPerPixel: 1, BitsAllocated: 12, BitsStored: 12}, radmark.EINVALID, "BitsAllocated"},
		{"stored above allocated", RLELossless, []byte{1}, Info{Rows: 1, Columns: 1, SamplesPerPixel: 1, BitsAllocated: 8, BitsStored: 9}, radmark.EINVALID, "BitsStored"},
		{"huge frame", RLELossless, []byte{1}, Info{Rows: 65535, Columns: 65535, SamplesPerPixel: 3, BitsAllocated: 32, BitsStored: 32}, radmark.ETOOLARGE, "above the limit"},
		{"RLE short header", RLELossless, make([]byte, 10), mono16, radmark.EINVALID, "64-byte RLE header"},
		{"RLE segment count", RLELossless, rleHeader(1, 64), mono16, radmark.EINVALID, "segments"},
		{"RLE offset outside", RLELossless, rleHeader(2, 64, 9999), mono16, radmark.EINVALID, "outside"},
		{"RLE short segment", RLELossless, append(rleHeader(2, 64, 66), 0x00, 7, 0x00, 7), mono16, radmark.EINVALID, "decoded 1 bytes"},
		{"not JPEG", JPEGBaseline8Bit, []byte("hello"), mono16, radmark.EINVALID, "SOI"},
		{"JPEG size mismatch", JPEGLossless, jpegCT, Info{Rows: 32, Columns: 64, SamplesPerPixel: 1, BitsAllocated: 16, BitsStored: 16}, radmark.EINVALID, "dataset says 64x32"},
		{"JPEG components mismatch", JPEGLossless, jpegCT, Info{Rows: 64, Columns: 64, SamplesPerPixel: 3, BitsAllocated: 16, BitsStored: 16}, radmark.EINVALID, "components"},
		{"JPEG precision above allocated", JPEGLossless, jpegCT, Info{Rows: 64, Columns: 64, SamplesPerPixel: 1, BitsAllocated: 8, BitsStored: 8}, radmark.EINVALID, "exceeds BitsAllocated"},
		{"JPEG truncated", JPEGLossless, jpegCT[:len(jpegCT)/2], mono16, radmark.EINVALID, ""},
		{"JPEG arithmetic", JPEGBaseline8Bit, []byte{0xFF, 0xD8, 0xFF, 0xC9, 0, 11, 8, 0, 64, 0, 64, 1, 1, 0x11, 0}, mono16, radmark.EUNSUPPORTED, "SOF9"},
		{"JPEG 1-bit", JPEGBaseline8Bit, []byte{0xFF, 0xD8}, Info{Rows: 8, Columns: 8, SamplesPerPixel: 1, BitsAllocated: 1, BitsStored: 1}, radmark.EINVALID, "BitsAllocated 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Decode(tc.ts, tc.frame, tc.info)
			if err == nil {
				t.Fatalf("no error, frame %+v", f)
			}
			if got := radmark.ErrorCode(err); got != tc.code {
				t.Errorf("code %q, want %q (%v)", got, tc.code, err)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q does not say %q", err, tc.msg)
			}
			var re *radmark.Error
			if !errors.As(err, &re) {
				t.Errorf("error %v is not a *radmark.Error", err)
			}
		})
	}
}

const explicitVRLittleEndian = "1.2.840.10008.1.2.1"

func fixtureByName(tb testing.TB, name string) []byte {
	tb.Helper()
	for _, fx := range loadFixtures(tb) {
		if fx.Name == name {
			return fx.frame(tb)
		}
	}
	tb.Fatalf("no fixture %s", name)
	return nil
}

func rleHeader(n int, offsets ...int) []byte {
	h := make([]byte, 64)
	h[0] = byte(n)
	for i, o := range offsets {
		h[4+4*i] = byte(o)
		h[5+4*i] = byte(o >> 8)
	}
	return h
}

// TestRLEByteOrder checks the segment order of PS3.5 G.2 on a hand-made
// frame: segment 0 is the most significant byte of sample 0.
func TestRLEByteOrder(t *testing.T) {
	info := Info{Rows: 1, Columns: 2, SamplesPerPixel: 3, BitsAllocated: 16, BitsStored: 16, PhotometricInterpretation: "RGB"}
	// Six segments of two bytes each, as literal runs.
	var segs [][]byte
	for s := 0; s < 6; s++ {
		segs = append(segs, []byte{1, byte(0x10*s + 1), byte(0x10*s + 2)})
	}
	offs := []int{}
	pos := 64
	for _, s := range segs {
		offs = append(offs, pos)
		pos += len(s)
	}
	frame := rleHeader(6, offs...)
	for _, s := range segs {
		frame = append(frame, s...)
	}
	f, err := Decode(RLELossless, frame, info)
	if err != nil {
		t.Fatal(err)
	}
	// Pixel 0: R = seg0[0]<<8|seg1[0], G = seg2[0]<<8|seg3[0], B = seg4/5.
	want := []byte{0x11, 0x01, 0x31, 0x21, 0x51, 0x41, 0x12, 0x02, 0x32, 0x22, 0x52, 0x42}
	if !bytes.Equal(f.Data, want) {
		t.Errorf("got % x, want % x", f.Data, want)
	}
}

// TestRLERuns covers replicate runs, the -128 no-op, and trailing padding.
func TestRLERuns(t *testing.T) {
	info := Info{Rows: 2, Columns: 5, SamplesPerPixel: 1, BitsAllocated: 8, BitsStored: 8, PhotometricInterpretation: "MONOCHROME2"}
	seg := []byte{0xFC, 7, 0x80, 0x01, 1, 2, 0xFE, 9, 0x00}
	f, err := Decode(RLELossless, append(rleHeader(1, 64), seg...), info)
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{7, 7, 7, 7, 7, 1, 2, 9, 9, 9}
	if !bytes.Equal(f.Data, want) {
		t.Errorf("got %v, want %v", f.Data, want)
	}
}

// TestConcurrentDecode runs every fixture from several goroutines at once:
// decoders share only read-only tables (run it with -race).
func TestConcurrentDecode(t *testing.T) {
	fxs := loadFixtures(t)
	frames := make([][]byte, len(fxs))
	for i, fx := range fxs {
		frames[i] = fx.frame(t)
	}
	done := make(chan error)
	for g := 0; g < 4; g++ {
		go func() {
			var err error
			for i, fx := range fxs {
				if !Supported(fx.TS) {
					continue
				}
				if _, e := Decode(fx.TS, frames[i], fx.info()); e != nil && err == nil {
					err = e
				}
			}
			done <- err
		}()
	}
	for g := 0; g < 4; g++ {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

// TestMutations feeds every fixture truncated at many points and with
// bytes overwritten to Decode: whatever the damage, the result is a frame
// of the declared size or a coded error — and no crash, which matters most
// for the cgo codecs, where a crash cannot be recovered.
func TestMutations(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, fx := range loadFixtures(t) {
		if !Supported(fx.TS) {
			continue
		}
		t.Run(fx.Name, func(t *testing.T) {
			orig := fx.frame(t)
			try := func(b []byte) {
				f, err := Decode(fx.TS, b, fx.info())
				if err != nil {
					if c := radmark.ErrorCode(err); c != radmark.EINVALID && c != radmark.EUNSUPPORTED {
						t.Fatalf("error code %q: %v", c, err)
					}
					return
				}
				if int64(len(f.Data)) != fx.info().frameBytes() {
					t.Fatalf("decoded %d bytes, want %d", len(f.Data), fx.info().frameBytes())
				}
			}
			for i := 1; i <= 16; i++ {
				try(orig[:len(orig)*i/17])
			}
			for i := 0; i < 40; i++ {
				b := bytes.Clone(orig)
				for k := 0; k <= i%4; k++ {
					b[rng.IntN(len(b))] = byte(rng.IntN(256))
				}
				try(b)
			}
		})
	}
}

// TestWiderBitsAllocated: a dataset may allocate more bits than the
// codestream's precision (16-bit JPEG data in 32-bit words); samples are
// then written zero-extended into the wider words.
func TestWiderBitsAllocated(t *testing.T) {
	for _, name := range []string{"jpll_mr16_sv1", "jpeg_ct8", "j2k_mr16_signed"} {
		var fx fixture
		for _, f := range loadFixtures(t) {
			if f.Name == name {
				fx = f
			}
		}
		if !Supported(fx.TS) {
			continue
		}
		narrow, err := Decode(fx.TS, fx.frame(t), fx.info())
		if err != nil {
			t.Fatal(err)
		}
		info := fx.info()
		info.BitsAllocated = 32
		wide, err := Decode(fx.TS, fx.frame(t), info)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		in := fx.BitsAllocated / 8
		for i := 0; i < len(narrow.Data)/in; i++ {
			var want uint32
			for k := in - 1; k >= 0; k-- {
				want = want<<8 | uint32(narrow.Data[i*in+k])
			}
			if fx.PixelRepresentation == 1 && fx.TS == JPEG2000Lossless {
				want = uint32(int32(int16(want))) // J2K gives signed values
			}
			if got := binary.LittleEndian.Uint32(wide.Data[4*i:]); got != want {
				t.Fatalf("%s sample %d: %#x, want %#x", name, i, got, want)
			}
		}
	}
}

func TestDeflatedImageFrame(t *testing.T) {
	info := Info{Rows: 4, Columns: 5, SamplesPerPixel: 1, BitsAllocated: 16, BitsStored: 16, PhotometricInterpretation: "MONOCHROME2"}
	native := make([]byte, 40)
	for i := range native {
		native[i] = byte(i * 7)
	}
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, flate.BestCompression)
	_, _ = w.Write(native)
	_ = w.Close()
	f, err := Decode(DeflatedImageFrame, buf.Bytes(), info)
	if err != nil || !bytes.Equal(f.Data, native) {
		t.Fatalf("Decode = %v, %v", f, err)
	}
	// Too long, too short and not deflate at all are refused.
	for name, in := range map[string][]byte{"long": append(native, 1, 2), "short": native[:30]} {
		buf.Reset()
		w, _ := flate.NewWriter(&buf, flate.BestCompression)
		_, _ = w.Write(in)
		_ = w.Close()
		if _, err := Decode(DeflatedImageFrame, buf.Bytes(), info); radmark.ErrorCode(err) != radmark.EINVALID {
			t.Errorf("%s: err %v, want EINVALID", name, err)
		}
	}
	if _, err := Decode(DeflatedImageFrame, []byte("not deflate"), info); radmark.ErrorCode(err) != radmark.EINVALID {
		t.Errorf("garbage: err %v", err)
	}
}
