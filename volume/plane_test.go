package volume_test

import (
	"math"
	"strings"
	"testing"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/dicom"
	"github.com/radmark/radmark/volume"
)

var (
	axial    = []float64{1, 0, 0, 0, 1, 0}
	sagittal = []float64{0, 1, 0, 0, 0, -1}
	coronal  = []float64{1, 0, 0, 0, 0, -1}
)

// tilted returns an axial orientation rotated by deg about the patient's
// left-right axis: rows along +x, columns along (0, cos, sin).
func tilted(deg float64) []float64 {
	s, c := math.Sincos(deg * math.Pi / 180)
	return []float64{1, 0, 0, 0, c, s}
}

// TestPlaneToLPS checks pixel → LPS on hand-worked cases. Pixel spacing
// differs between rows (0.5 mm) and columns (0.8 mm) so that swapping
// them shows.
func TestPlaneToLPS(t *testing.T) {
	c30, s30 := math.Sqrt(3)/2, 0.5
	cases := []struct {
		name       string
		iop        []float64
		x, y       float64
		want       volume.Vec3
		wantNormal volume.Vec3
	}{
		// IPP (-100, -50, 20), PixelSpacing 0.5 (rows) \ 0.8 (columns).
		{"axial first pixel centre", axial, 0.5, 0.5, volume.Vec3{-100, -50, 20}, volume.Vec3{0, 0, 1}},
		{"axial top-left corner", axial, 0, 0, volume.Vec3{-100.4, -50.25, 20}, volume.Vec3{0, 0, 1}},
		{"axial pixel (3,2)", axial, 3.5, 2.5, volume.Vec3{-97.6, -49, 20}, volume.Vec3{0, 0, 1}},
		{"sagittal pixel (3,2)", sagittal, 3.5, 2.5, volume.Vec3{-100, -47.6, 19}, volume.Vec3{-1, 0, 0}},
		{"coronal pixel (3,2)", coronal, 3.5, 2.5, volume.Vec3{-97.6, -50, 19}, volume.Vec3{0, 1, 0}},
		{"tilted 30° pixel (3,2)", tilted(30), 3.5, 2.5, volume.Vec3{-97.6, -50 + c30, 20 + s30}, volume.Vec3{0, -s30, c30}},
		{"axial far corner", axial, 20, 10, volume.Vec3{-100 + 19.5*0.8, -50 + 9.5*0.5, 20}, volume.Vec3{0, 0, 1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := volume.PlaneOf(imageDS("1.2.3", []float64{-100, -50, 20}, tc.iop, []float64{0.5, 0.8}, 20, 10), 0)
			if err != nil {
				t.Fatal(err)
			}
			if got := p.ToLPS(tc.x, tc.y); !near(got, tc.want, 1e-9) {
				t.Errorf("ToLPS(%g, %g) = %v, want %v", tc.x, tc.y, got, tc.want)
			}
			if got := p.Normal(); !near(got, tc.wantNormal, 1e-12) {
				t.Errorf("Normal = %v, want %v", got, tc.wantNormal)
			}
			x, y, off := p.FromLPS(tc.want)
			if math.Abs(x-tc.x) > 1e-9 || math.Abs(y-tc.y) > 1e-9 || math.Abs(off) > 1e-9 {
				t.Errorf("FromLPS(%v) = (%g, %g, %g), want (%g, %g, 0)", tc.want, x, y, off, tc.x, tc.y)
			}
		})
	}
}

// TestPlaneRoundTrip: q = ToLPS(x, y) + offset·Normal comes back as (x, y,
// offset), on orientations including a double oblique one with cosines
// given to 6 decimals (so not exactly orthogonal), and distances along rows
// and columns are the column and row spacings.
func TestPlaneRoundTrip(t *testing.T) {
	doubleOblique := []float64{0.819152, 0, -0.573576, 0.196175, 0.939693, 0.280166}
	for _, iop := range [][]float64{axial, sagittal, coronal, tilted(-17.5), doubleOblique} {
		p, err := volume.PlaneOf(imageDS("1.2.3", []float64{12.5, -301.25, 88}, iop, []float64{0.7, 1.3}, 64, 48), 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, pt := range [][3]float64{{0, 0, 0}, {0.5, 0.5, 0}, {63.25, 47.75, 3.5}, {-4, 100, -12}, {32, 24, 0.001}} {
			n := p.Normal()
			q := p.ToLPS(pt[0], pt[1])
			q = volume.Vec3{q[0] + pt[2]*n[0], q[1] + pt[2]*n[1], q[2] + pt[2]*n[2]}
			x, y, off := p.FromLPS(q)
			if math.Abs(x-pt[0]) > 1e-9 || math.Abs(y-pt[1]) > 1e-9 || math.Abs(off-pt[2]) > 1e-9 {
				t.Errorf("IOP %v: round trip of %v gave (%g, %g, %g)", iop, pt, x, y, off)
			}
		}
		if d := dist(p.ToLPS(0.5, 0.5), p.ToLPS(10.5, 0.5)); math.Abs(d-13) > 1e-9 {
			t.Errorf("IOP %v: 10 columns span %g mm, want 13 (column spacing 1.3)", iop, d)
		}
		if d := dist(p.ToLPS(0.5, 0.5), p.ToLPS(0.5, 10.5)); math.Abs(d-7) > 1e-9 {
			t.Errorf("IOP %v: 10 rows span %g mm, want 7 (row spacing 0.7)", iop, d)
		}
	}
}

func TestPlaneContains(t *testing.T) {
	p := volume.Plane{Columns: 20, Rows: 10}
	for _, tc := range []struct {
		x, y float64
		want bool
	}{
		{0, 0, true}, {20, 10, true}, {10, 5, true}, {-0.001, 5, false}, {20.001, 5, false}, {5, 10.5, false}, {5, -1, false},
	} {
		if got := p.Contains(tc.x, tc.y); got != tc.want {
			t.Errorf("Contains(%g, %g) = %v, want %v", tc.x, tc.y, got, tc.want)
		}
	}
}

// TestPlaneOfMalformed: broken geometry gives an error with the right code
// that says what is wrong.
func TestPlaneOfMalformed(t *testing.T) {
	ipp, ps := []float64{1, 2, 3}, []float64{0.5, 0.5}
	raw := func(ds *dicom.Dataset, tag dicom.Tag, s string) *dicom.Dataset {
		ds.SetStringVR(tag, dicom.DS, s)
		return ds
	}
	cases := []struct {
		name  string
		ds    *dicom.Dataset
		frame int
		code  string
		msg   string
	}{
		{"no geometry (projection)", imageDS("1", nil, nil, ps, 4, 4), 0, radmark.EUNSUPPORTED, "no patient geometry"},
		{"missing IPP", imageDS("1", nil, axial, ps, 4, 4), 0, radmark.EINVALID, "no ImagePositionPatient"},
		{"missing IOP", imageDS("1", ipp, nil, ps, 4, 4), 0, radmark.EINVALID, "no ImageOrientationPatient"},
		{"missing spacing", imageDS("1", ipp, axial, nil, 4, 4), 0, radmark.EINVALID, "no PixelSpacing"},
		{"IOP with 5 values", imageDS("1", ipp, []float64{1, 0, 0, 0, 1}, ps, 4, 4), 0, radmark.EINVALID, "ImageOrientationPatient has 5 value(s), needs 6"},
		{"IPP with 2 values", imageDS("1", []float64{1, 2}, axial, ps, 4, 4), 0, radmark.EINVALID, "ImagePositionPatient has 2 value(s), needs 3"},
		{"zero spacing", imageDS("1", ipp, axial, []float64{0, 0.5}, 4, 4), 0, radmark.EINVALID, "PixelSpacing 0\\0.5: both values must be positive"},
		{"negative spacing", imageDS("1", ipp, axial, []float64{0.5, -1}, 4, 4), 0, radmark.EINVALID, "must be positive"},
		{"NaN position", raw(imageDS("1", nil, axial, ps, 4, 4), dicom.TagImagePositionPatient, `1\NaN\3`), 0, radmark.EINVALID, "must be finite"},
		{"infinite spacing", raw(imageDS("1", ipp, axial, nil, 4, 4), dicom.TagPixelSpacing, `Inf\1`), 0, radmark.EINVALID, "must be finite"},
		{"text in IOP", raw(imageDS("1", ipp, nil, ps, 4, 4), dicom.TagImageOrientationPatient, `1\0\0\0\one\0`), 0, radmark.EINVALID, "not all values are numbers"},
		{"non-unit cosines", imageDS("1", ipp, []float64{2, 0, 0, 0, 1, 0}, ps, 4, 4), 0, radmark.EINVALID, "must be unit vectors"},
		{"zero cosines", imageDS("1", ipp, []float64{0, 0, 0, 0, 0, 0}, ps, 4, 4), 0, radmark.EINVALID, "must be unit vectors"},
		{"non-orthogonal cosines", imageDS("1", ipp, []float64{1, 0, 0, 0.0499376, 0.998752, 0}, ps, 4, 4), 0, radmark.EINVALID, "not orthogonal (87.14° apart)"},
		{"no rows", imageDS("1", ipp, axial, ps, 4, 0), 0, radmark.EINVALID, "image size 4×0"},
		{"frame of single-frame", imageDS("1", ipp, axial, ps, 4, 4), 2, radmark.EINVALID, "single frame"},
		{"negative frame", imageDS("1", ipp, axial, ps, 4, 4), -1, radmark.EINVALID, "numbered from 1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := volume.PlaneOf(tc.ds, tc.frame)
			if err == nil {
				t.Fatal("no error")
			}
			if got := radmark.ErrorCode(err); got != tc.code {
				t.Errorf("code %q, want %q (%v)", got, tc.code, err)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q does not say %q", err, tc.msg)
			}
		})
	}
	// Tolerated: cosines written with 5 digits.
	if _, err := volume.PlaneOf(imageDS("1", ipp, []float64{0.70711, 0.70711, 0, 0, 0, -1}, ps, 4, 4), 0); err != nil {
		t.Errorf("5-digit cosines: %v", err)
	}
}

// enhanced builds a 3-frame enhanced header: orientation and spacing
// shared, positions per frame, frame 3 with its own orientation and
// spacing, and rescale per frame.
func enhanced() *dicom.Dataset {
	ds := &dicom.Dataset{}
	ds.SetString(dicom.TagSOPInstanceUID, "1.2.9")
	ds.SetInts(dicom.TagRows, 4)
	ds.SetInts(dicom.TagColumns, 6)
	ds.SetInts(dicom.TagNumberOfFrames, 3)
	item := func(t dicom.Tag, v ...float64) *dicom.Dataset {
		d := &dicom.Dataset{}
		d.SetFloats(t, v...)
		return d
	}
	shared := &dicom.Dataset{}
	shared.SetItems(dicom.TagPlaneOrientationSequence, item(dicom.TagImageOrientationPatient, sagittal...))
	shared.SetItems(dicom.TagPixelMeasuresSequence, item(dicom.TagPixelSpacing, 2, 3))
	ds.SetItems(dicom.TagSharedFunctionalGroupsSequence, shared)
	var frames []*dicom.Dataset
	for f := 0; f < 3; f++ {
		fr := &dicom.Dataset{}
		fr.SetItems(dicom.TagPlanePositionSequence, item(dicom.TagImagePositionPatient, 10*float64(f), 0, 0))
		pvt := &dicom.Dataset{}
		pvt.SetFloats(dicom.TagRescaleSlope, float64(f+1))
		pvt.SetFloats(dicom.TagRescaleIntercept, -100*float64(f))
		fr.SetItems(dicom.TagPixelValueTransformationSequence, pvt)
		if f == 2 {
			fr.SetItems(dicom.TagPlaneOrientationSequence, item(dicom.TagImageOrientationPatient, axial...))
			fr.SetItems(dicom.TagPixelMeasuresSequence, item(dicom.TagPixelSpacing, 0.5, 0.25))
		}
		frames = append(frames, fr)
	}
	ds.SetItems(dicom.TagPerFrameFunctionalGroupsSequence, frames...)
	return ds
}

func TestPlaneOfEnhanced(t *testing.T) {
	ds := enhanced()
	p2, err := volume.PlaneOf(ds, 2)
	if err != nil {
		t.Fatal(err)
	}
	// Frame 2: position (10,0,0), shared sagittal orientation, spacing 2\3.
	if want := (volume.Vec3{10, 3, -2}); !near(p2.ToLPS(1.5, 1.5), want, 1e-12) {
		t.Errorf("frame 2 pixel (1,1) at %v, want %v", p2.ToLPS(1.5, 1.5), want)
	}
	p3, err := volume.PlaneOf(ds, 3)
	if err != nil {
		t.Fatal(err)
	}
	// Frame 3 overrides orientation and spacing.
	if want := (volume.Vec3{20.25, 0.5, 0}); !near(p3.ToLPS(1.5, 1.5), want, 1e-12) {
		t.Errorf("frame 3 pixel (1,1) at %v, want %v", p3.ToLPS(1.5, 1.5), want)
	}
	for _, f := range []int{0, 4} {
		if _, err := volume.PlaneOf(ds, f); radmark.ErrorCode(err) != radmark.EINVALID || !strings.Contains(err.Error(), "frames 1..3") {
			t.Errorf("frame %d: %v, want EINVALID naming frames 1..3", f, err)
		}
	}
}

func TestProjectionSpacing(t *testing.T) {
	const (
		ps   = dicom.TagPixelSpacing
		ips  = dicom.TagImagerPixelSpacing
		ermf = dicom.Tag(0x00181114)
		typ  = dicom.Tag(0x00280A02)
		nsps = dicom.Tag(0x00182010)
	)
	type attr struct {
		tag dicom.Tag
		val string
	}
	cases := []struct {
		name     string
		attrs    []attr
		row, col float64
		note     string
		ok       bool
	}{
		{"pixel spacing only", []attr{{ps, `0.2\0.25`}}, 0.2, 0.25, "calibration is not stated", true},
		{"equal to imager spacing", []attr{{ps, `0.1\0.1`}, {ips, `0.1\0.1`}}, 0.1, 0.1, "calibrated at detector", true},
		{"corrected by the modality", []attr{{ps, `0.09\0.09`}, {ips, `0.1\0.1`}}, 0.09, 0.09, "in the patient", true},
		{"geometry calibration", []attr{{ps, `0.09\0.09`}, {ips, `0.1\0.1`}, {typ, "GEOMETRY"}}, 0.09, 0.09, "geometric magnification", true},
		{"fiducial calibration", []attr{{ps, `0.3\0.3`}, {typ, "FIDUCIAL"}}, 0.3, 0.3, "fiducial", true},
		{"imager spacing with ERMF", []attr{{ips, `0.15\0.2`}, {ermf, "1.25"}}, 0.12, 0.16, "magnification factor 1.25", true},
		{"imager spacing only", []attr{{ips, `0.15\0.2`}}, 0.15, 0.2, "calibrated at detector", true},
		{"zero pixel spacing falls back", []attr{{ps, `0.000\0.000`}, {ips, `0.1\0.1`}}, 0.1, 0.1, "calibrated at detector", true},
		{"scanned film", []attr{{nsps, `0.5\0.5`}}, 0.5, 0.5, "digitised film", true},
		{"none", nil, 0, 0, "", false},
		{"zero pixel spacing alone", []attr{{ps, `0.000\0.000`}}, 0, 0, "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ds := &dicom.Dataset{}
			for _, a := range tc.attrs {
				ds.SetStringVR(a.tag, dicom.DS, a.val)
				if a.tag == typ {
					ds.SetStringVR(a.tag, dicom.CS, a.val)
				}
			}
			row, col, note, ok := volume.ProjectionSpacing(ds)
			if ok != tc.ok || math.Abs(row-tc.row) > 1e-12 || math.Abs(col-tc.col) > 1e-12 {
				t.Errorf("got (%g, %g, ok %v), want (%g, %g, ok %v)", row, col, ok, tc.row, tc.col, tc.ok)
			}
			if !strings.Contains(note, tc.note) {
				t.Errorf("note %q does not say %q", note, tc.note)
			}
		})
	}
}
