package codec

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// testImage makes planes of a smooth pattern with noise and a few extreme
// samples (0 and the maximum, so 16-bit streams need the 32768 difference).
func testImage(w, h, comps, precision int, seed uint64) [][]uint16 {
	rng := rand.New(rand.NewPCG(seed, 1))
	maxv := 1<<precision - 1
	planes := make([][]uint16, comps)
	for c := range planes {
		p := make([]uint16, w*h)
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				v := (x*(c+3)*maxv/(w*4) + y*maxv/(h*2) + rng.IntN(maxv/8+1)) % (maxv + 1)
				switch rng.IntN(40) {
				case 0:
					v = 0
				case 1:
					v = maxv
				}
				p[y*w+x] = uint16(v)
			}
		}
		planes[c] = p
	}
	return planes
}

// nativeOf is what a lossless decode of planes must give: interleaved
// samples, point transform applied, in bitsAllocated little-endian words.
func nativeOf(planes [][]uint16, pt, bitsAllocated int) []byte {
	n := len(planes[0])
	width := bitsAllocated / 8
	out := make([]byte, n*len(planes)*width)
	for i := 0; i < n; i++ {
		for c := range planes {
			v := planes[c][i] >> pt << pt
			o := (i*len(planes) + c) * width
			if width == 1 {
				out[o] = byte(v)
			} else {
				binary.LittleEndian.PutUint16(out[o:], v)
			}
		}
	}
	return out
}

type losslessCase struct {
	name string
	p    losslessParams
}

func losslessCases() []losslessCase {
	var cases []losslessCase
	for prec := 2; prec <= 16; prec++ {
		for pred := 1; pred <= 7; pred++ {
			p := losslessParams{width: 23 + prec, height: 9 + pred, precision: prec, comps: 1, predictor: pred}
			// Vary the rest deterministically over the matrix.
			switch (prec + pred) % 4 {
			case 1:
				p.pt = min(prec-1, 1+pred%3)
			case 2:
				p.restartRows = 1 + pred%3
			case 3:
				p.comps = 3
				p.separateScans = pred%2 == 0
				p.restartRows = pred % 3
			}
			cases = append(cases, losslessCase{fmt.Sprintf("p%d_sv%d_pt%d_c%d_rst%d_sep%v", prec, pred, p.pt, p.comps, p.restartRows, p.separateScans), p})
		}
	}
	return cases
}

func (c losslessCase) info() Info {
	ba := 8
	if c.p.precision > 8 {
		ba = 16
	}
	pi := "MONOCHROME2"
	if c.p.comps == 3 {
		pi = "RGB"
	}
	return Info{Rows: c.p.height, Columns: c.p.width, SamplesPerPixel: c.p.comps, BitsAllocated: ba,
		BitsStored: c.p.precision, PhotometricInterpretation: pi}
}

// TestLosslessRoundTrip decodes lossless streams of every precision 2..16
// and predictor, with point transforms, restart intervals, and
// interleaved and per-component colour scans: the output must be the
// input exactly (after the point transform).
func TestLosslessRoundTrip(t *testing.T) {
	for i, c := range losslessCases() {
		t.Run(c.name, func(t *testing.T) {
			planes := testImage(c.p.width, c.p.height, c.p.comps, c.p.precision, uint64(i))
			stream := encodeLossless(c.p, planes)
			f, err := Decode(JPEGLossless, stream, c.info())
			if err != nil {
				t.Fatal(err)
			}
			want := nativeOf(planes, c.p.pt, c.info().BitsAllocated)
			if n, d := maxSampleDiff(f.Data, want, c.info().BitsAllocated); n > 0 {
				t.Fatalf("%d samples differ, by up to %d", n, d)
			}
		})
	}
}

type dctCase struct {
	name        string
	p           dctParams
	photometric string
}

func dctCases() []dctCase {
	sampling := map[string][]encComponent{
		"mono":  {{1, 1}},
		"444":   {{1, 1}, {1, 1}, {1, 1}},
		"422":   {{2, 1}, {1, 1}, {1, 1}},
		"420":   {{2, 2}, {1, 1}, {1, 1}},
		"440":   {{1, 2}, {1, 1}, {1, 1}},
		"411":   {{4, 1}, {1, 1}, {1, 1}},
		"2x2in": {{2, 2}, {2, 1}, {1, 2}},
	}
	var cases []dctCase
	i := 0
	for _, prec := range []int{8, 12} {
		for _, name := range []string{"mono", "444", "422", "420", "440", "411", "2x2in"} {
			for _, variant := range []string{"plain", "restart", "separate", "odd"} {
				i++
				p := dctParams{width: 40, height: 24, precision: prec, comps: sampling[name], seed: uint64(i), extreme: i%3 == 0}
				switch variant {
				case "restart":
					p.restart = 1 + i%5
				case "separate":
					p.separateScans = len(p.comps) > 1
					p.restart = 2 * (i % 2)
				case "odd":
					p.width, p.height = 37+i%5, 19+i%7
				}
				pi := "MONOCHROME2"
				if len(p.comps) == 3 {
					pi = "YBR_FULL_422"
					if name == "444" {
						pi = "YBR_FULL"
					}
					if variant == "separate" {
						pi = "RGB" // no colour conversion: raw upsampled components
					}
				}
				cases = append(cases, dctCase{fmt.Sprintf("%dbit_%s_%s", prec, name, variant), p, pi})
			}
		}
	}
	return cases
}

func (c dctCase) info() Info {
	ba := 8
	if c.p.precision == 12 {
		ba = 16
	}
	return Info{Rows: c.p.height, Columns: c.p.width, SamplesPerPixel: len(c.p.comps), BitsAllocated: ba,
		BitsStored: c.p.precision, PhotometricInterpretation: c.photometric}
}

func (c dctCase) ts() string {
	if c.p.precision == 12 {
		return JPEGExtended12Bit
	}
	return JPEGBaseline8Bit
}

// TestDCTStreams checks that generated DCT streams of every sampling
// layout decode, deterministically; TestGeneratedAgainstDcmtk checks the
// pixels against dcmtk.
func TestDCTStreams(t *testing.T) {
	for _, c := range dctCases() {
		t.Run(c.name, func(t *testing.T) {
			stream := encodeDCT(c.p)
			a, err := Decode(c.ts(), stream, c.info())
			if err != nil {
				t.Fatal(err)
			}
			b, err := Decode(c.ts(), stream, c.info())
			if err != nil {
				t.Fatal(err)
			}
			if n, _ := maxSampleDiff(a.Data, b.Data, c.info().BitsAllocated); n != 0 {
				t.Fatal("decoding twice gave different pixels")
			}
			if c.photometric != "RGB" && len(c.p.comps) == 3 && a.PhotometricInterpretation != "RGB" {
				t.Errorf("photometric %s, want RGB", a.PhotometricInterpretation)
			}
		})
	}
}

// TestGeneratedAgainstDcmtk wraps the generated lossless and DCT streams in
// DICOM files and compares our pixels with dcmtk's (dcmdjpeg), which
// checks the predictors, the IDCT with its clamping, upsampling and colour
// conversion on inputs real files rarely reach.
func TestGeneratedAgainstDcmtk(t *testing.T) {
	dir := t.TempDir()
	type gen struct {
		name   string
		ts     string
		info   Info
		stream []byte
	}
	var gens []gen
	for _, c := range losslessCases() {
		planes := testImage(c.p.width, c.p.height, c.p.comps, c.p.precision, uint64(len(gens)))
		gens = append(gens, gen{"lossless_" + c.name, JPEGLossless, c.info(), encodeLossless(c.p, planes)})
	}
	// dcmtk converts lossless YCbCr too when the dataset says YBR_FULL,
	// centring chroma on its 8-, 12- or 16-bit library's range.
	for _, prec := range []int{2, 8, 10, 12, 16} {
		p := losslessParams{width: 21, height: 13, precision: prec, comps: 3, predictor: 1 + prec%7}
		info := losslessCase{p: p}.info()
		info.PhotometricInterpretation = "YBR_FULL"
		gens = append(gens, gen{fmt.Sprintf("lossless_ybr_full_p%d", prec), JPEGLossless, info,
			encodeLossless(p, testImage(p.width, p.height, 3, prec, uint64(prec)))})
	}
	for _, c := range dctCases() {
		gens = append(gens, gen{"dct_" + c.name, c.ts(), c.info(), encodeDCT(c.p)})
	}
	var files []string
	for i, g := range gens {
		frame := filepath.Join(dir, fmt.Sprintf("%d.jpg", i))
		if err := os.WriteFile(frame, g.stream, 0o644); err != nil {
			t.Fatal(err)
		}
		spec, _ := json.Marshal(map[string]any{
			"ts": g.ts, "rows": g.info.Rows, "columns": g.info.Columns, "samples": g.info.SamplesPerPixel,
			"bits_allocated": g.info.BitsAllocated, "bits_stored": g.info.BitsStored, "pixel_representation": 0,
			"photometric": g.info.PhotometricInterpretation, "frames": []string{frame},
		})
		name := filepath.Join(dir, fmt.Sprintf("%d.json", i))
		if err := os.WriteFile(name, spec, 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, name+"=dcmtk")
	}
	corpus := loadCorpus(t, "/", files)
	for i, c := range corpus {
		g := gens[i]
		t.Run(g.name, func(t *testing.T) {
			if c.Error != "" {
				t.Fatalf("dcmtk: %s", c.Error)
			}
			f, err := Decode(g.ts, g.stream, g.info)
			if err != nil {
				t.Fatal(err)
			}
			if f.PhotometricInterpretation != c.RefPhotometric {
				t.Errorf("photometric %s, dcmtk %s", f.PhotometricInterpretation, c.RefPhotometric)
			}
			if n, d := maxSampleDiff(f.Data, c.frames[0].reference, g.info.BitsAllocated); n > 0 || len(f.Data) != len(c.frames[0].reference) {
				t.Errorf("%d samples differ from dcmtk, by up to %d (%d/%d bytes)", n, d, len(f.Data), len(c.frames[0].reference))
			}
		})
	}
}
