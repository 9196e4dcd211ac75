package render

import (
	"bytes"
	"fmt"
	"image"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/radmark/radmark/dicom"
	"github.com/radmark/radmark/internal/testenv"
)

func TestLinearVOI(t *testing.T) {
	// PS3.3 C.11.2.1.2.1: with c=40, w=400 values up to c-0.5-(w-1)/2 map
	// to the minimum and values above c-0.5+(w-1)/2 to the maximum.
	f := voi(Window{Center: 40, Width: 400})
	tests := []struct {
		x    float64
		want uint8
	}{{-1000, 0}, {-160, 0}, {-159.5, 0}, {39.5, 128}, {239, 255}, {240, 255}, {3000, 255}}
	for _, tt := range tests {
		if got := f(tt.x); got != tt.want {
			t.Errorf("linear(%v) = %d, want %d", tt.x, got, tt.want)
		}
	}
	exact := voi(Window{Center: 0, Width: 100, Function: "LINEAR_EXACT"})
	if exact(-50) != 0 || exact(50) != 255 || exact(0) != 128 {
		t.Errorf("linear exact: %d %d %d", exact(-50), exact(0), exact(50))
	}
	sig := voi(Window{Center: 0, Width: 100, Function: "SIGMOID"})
	if sig(0) != 128 || sig(-1000) != 0 || sig(1000) != 255 {
		t.Errorf("sigmoid: %d %d %d", sig(-1000), sig(0), sig(1000))
	}
}

// readPNM reads a binary PGM (P5) or PPM (P6) with maxval 255.
func readPNM(t *testing.T, path string) (w, h, channels int, pix []byte) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var magic string
	var maxval int
	r := bytes.NewReader(b)
	if _, err := fmt.Fscan(r, &magic, &w, &h, &maxval); err != nil || maxval != 255 {
		t.Fatalf("%s: not an 8-bit PNM (%v)", path, err)
	}
	channels = 1
	if magic == "P6" {
		channels = 3
	}
	pix = b[len(b)-w*h*channels:]
	return w, h, channels, pix
}

// TestAgainstDcmtk renders images with radmark and with dcmtk's dcmj2pnm,
// with an explicit window and with the image's own: the 8-bit results
// must agree within one grey level.
func TestAgainstDcmtk(t *testing.T) {
	data := testenv.SharedData(t)
	dcmj2pnm := testenv.LookPath(t, "dcmj2pnm")
	cases := []struct {
		file   string
		window *Window
	}{
		{"ct/tcia_lung-pet-ct-dx_A0002_chest-8mm/1-15.dcm", &Window{Center: 40, Width: 400}},
		{"ct/tcia_lung-pet-ct-dx_A0002_chest-8mm/1-15.dcm", &Window{Center: -600, Width: 1500}},
		{"ct/tcia_lung-pet-ct-dx_A0002_chest-8mm/1-15.dcm", nil},
		{"mr/tcia_brain-tumor-progression_PGBM-001_T1post/1-12.dcm", nil},
		{"syntaxes/generated_from_tcia-lung-ct-slice15/02_explicit-vr-big-endian_1.2.840.10008.1.2.2.dcm", &Window{Center: 40, Width: 400}},
		{"syntaxes/generated_from_tcia-lung-ct-slice15/08_jpeg-lossless-process14-sv1_1.2.840.10008.1.2.4.70.dcm", &Window{Center: 40, Width: 400}},
		{"xray/dx/highdicom_dx_image.dcm", nil},
		{"syntaxes/pydicom/SC_rgb.dcm", nil},
		{"syntaxes/pydicom/color-pl.dcm", nil},
	}
	for _, c := range cases {
		name := filepath.Base(c.file)
		if c.window != nil {
			name += fmt.Sprintf("@%g,%g", c.window.Center, c.window.Width)
		}
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(data, c.file)
			f, err := dicom.ParseFile(path, dicom.ParseOptions{})
			if err != nil {
				t.Fatal(err)
			}
			pi, err := f.Dataset.PixelInfo()
			if err != nil {
				t.Fatal(err)
			}
			e := f.Dataset.Get(pi.PixelTag)
			locs, err := dicom.LocateFrames(f.Dataset, e, pi)
			if err != nil {
				t.Fatal(err)
			}
			var raw []byte
			ts := f.TransferSyntax.UID
			if e.Encapsulated {
				for _, r := range locs[0].Ranges {
					for _, fr := range e.Fragments {
						if fr.Offset == r.Offset {
							raw = append(raw, fr.Data...)
						}
					}
				}
			} else {
				raw = e.Value[:locs[0].Ranges[0].Length]
				ts = dicom.ExplicitVRLittleEndian // values are little endian in memory
			}
			frame, err := dicom.DecodeFrame(ts, pi, raw, 0)
			if err != nil {
				t.Fatal(err)
			}
			img, err := Frame(f.Dataset, 0, frame, Options{Window: c.window})
			if err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(t.TempDir(), "ref.pnm")
			args := []string{"+op", "+F", "1"}
			switch {
			case c.window != nil:
				args = append(args, "+Ww", strconv.FormatFloat(c.window.Center, 'f', -1, 64), strconv.FormatFloat(c.window.Width, 'f', -1, 64))
			case pi.SamplesPerPixel == 1 && f.Dataset.Has(dicom.TagWindowCenter):
				args = append(args, "+Wi", "1")
			case pi.SamplesPerPixel == 1:
				args = append(args, "+Wm")
			}
			if b, err := exec.Command(dcmj2pnm, append(args, path, out)...).CombinedOutput(); err != nil {
				t.Fatalf("dcmj2pnm: %v %s", err, b)
			}
			w, h, ch, ref := readPNM(t, out)
			if w != pi.Columns || h != pi.Rows {
				t.Fatalf("dcmtk image %dx%d, ours %dx%d", w, h, pi.Columns, pi.Rows)
			}
			worst, differing := 0, 0
			for y := 0; y < h; y++ {
				for x := 0; x < w; x++ {
					ours := pixel(img, x, y, ch)
					for k := 0; k < ch; k++ {
						d := int(ours[k]) - int(ref[(y*w+x)*ch+k])
						if d < 0 {
							d = -d
						}
						if d > 1 {
							differing++
						}
						worst = max(worst, d)
					}
				}
			}
			if differing > 0 {
				t.Errorf("%d samples differ from dcmtk by more than 1 (worst %d)", differing, worst)
			}
		})
	}
}

func pixel(img image.Image, x, y, channels int) []uint8 {
	switch im := img.(type) {
	case *image.Gray:
		return []uint8{im.Pix[y*im.Stride+x]}
	case *image.RGBA:
		p := im.Pix[y*im.Stride+4*x:]
		if channels == 1 {
			return []uint8{p[0]}
		}
		return []uint8{p[0], p[1], p[2]}
	}
	r, g, b, _ := img.At(x, y).RGBA()
	return []uint8{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8)}
}
