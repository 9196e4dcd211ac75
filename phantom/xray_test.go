package phantom

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/radmark/radmark/dicom"
)

func TestXRayKnownPixels(t *testing.T) {
	im, err := GenerateXRay(XRayChest())
	if err != nil {
		t.Fatal(err)
	}
	// x = column, y = row; values worked out from the documented shapes.
	for _, c := range []struct {
		x, y, want int
		what       string
	}{
		{5, 5, 50, "background"},
		{500, 600, 2200, "spine centre"},
		{500, 60, 2200, "spine top (600−540)"},
		{500, 59, 1400, "above the spine: body"},
		{320, 504, 500, "right lung centre"},
		{680, 504, 500, "left lung centre"},
		{150, 600, 1400, "body beside the lungs"},
		{200, 144, 4000, "marker disk centre"},
		{230, 144, 4000, "marker disk edge (r 30)"},
		{231, 144, 50, "just outside the disk"},
		{800, 1020, 3500, "marker bar centre"},
		{740, 1044, 3500, "marker bar corner"},
		{739, 1020, 1400, "left of the bar: body"},
		{999, 1199, 50, "last pixel"},
	} {
		if got := im.ValueAt(c.x, c.y); got != c.want {
			t.Errorf("%s: ValueAt(%d, %d) = %d, want %d", c.what, c.x, c.y, got, c.want)
		}
	}

	path := filepath.Join(t.TempDir(), "dx.dcm")
	if err := im.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	ds := parse(t, path)
	for tag, want := range map[dicom.Tag]string{
		dicom.TagSOPClassUID: DigitalXRayPresentationStorage, dicom.TagModality: "DX",
		dicom.TagPatientOrientation: "L", dicom.TagViewPosition: "PA", dicom.TagPresentationLUTShape: "IDENTITY",
		dicom.TagSpecificCharacterSet: "ISO_IR 192", dicom.TagPatientName: "PHANTOM^DX",
	} {
		if got := ds.String(tag); got != want {
			t.Errorf("%s: %q, want %q", tag, got, want)
		}
	}
	if got := strings.Join(ds.Strings(dicom.TagPatientOrientation), `\`); got != `L\F` {
		t.Errorf("PatientOrientation %q", got)
	}
	for _, tag := range []dicom.Tag{dicom.TagPixelSpacing, dicom.TagImagerPixelSpacing} {
		if got := ds.Floats(tag); len(got) != 2 || got[0] != 0.35 || got[1] != 0.35 {
			t.Errorf("%s %v", tag, got)
		}
	}
	values := modalityValues(t, ds)
	if ds.IntOr(dicom.TagRows, 0) != 1200 || ds.IntOr(dicom.TagColumns, 0) != 1000 {
		t.Fatalf("size %dx%d", ds.IntOr(dicom.TagColumns, 0), ds.IntOr(dicom.TagRows, 0))
	}
	for y := 0; y < 1200; y++ {
		for x := 0; x < 1000; x++ {
			if got, want := values[y*1000+x], float64(im.ValueAt(x, y)); got != want {
				t.Fatalf("pixel (column %d, row %d): %g in the file, want %g", x, y, got, want)
			}
		}
	}
}

// TestXRayPydicom: pydicom sees the same image (non-square, so a
// transposition shows) with the disk at its documented place.
func TestXRayPydicom(t *testing.T) {
	im, err := GenerateXRay(XRaySmall())
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "dx.dcm")
	if err := im.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	img := runPydicom(t, path)[0]
	if len(img.Shape) != 2 || img.Shape[0] != 300 || img.Shape[1] != 250 {
		t.Fatalf("pixel_array shape %v, want [300 250]", img.Shape)
	}
	if got := img.Values[36*250+50]; got != 4000 {
		t.Errorf("disk centre (column 50, row 36) reads %g, want 4000", got)
	}
	for y := 0; y < 300; y++ {
		for x := 0; x < 250; x++ {
			if got, want := img.Values[y*250+x], float64(im.ValueAt(x, y)); got != want {
				t.Fatalf("pydicom pixel (column %d, row %d) = %g, want %g", x, y, got, want)
			}
		}
	}
}

func TestXRayNoiseAndValidation(t *testing.T) {
	s := XRaySmall()
	s.NoiseSigma = 30
	a, err := GenerateXRay(s)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := GenerateXRay(s)
	if string(a.Dataset.Get(dicom.TagPixelData).Value) != string(b.Dataset.Get(dicom.TagPixelData).Value) {
		t.Error("the same spec gave different noise")
	}
	if a.Dataset.String(dicom.TagSOPInstanceUID) != b.Dataset.String(dicom.TagSOPInstanceUID) {
		t.Error("the same spec gave different UIDs")
	}
	clean, _ := GenerateXRay(XRaySmall())
	if clean.Dataset.String(dicom.TagSOPInstanceUID) == a.Dataset.String(dicom.TagSOPInstanceUID) {
		t.Error("noise should change the instance UID")
	}
	for _, c := range []struct {
		edit func(*XRaySpec)
		want string
	}{
		{func(s *XRaySpec) { s.Rows = 0 }, "rows"},
		{func(s *XRaySpec) { s.PixelSpacing[0] = -1 }, "pixel spacing"},
		{func(s *XRaySpec) { s.Shapes = []Shape2D{{Name: "x", RX: 0, RY: 1}} }, `shape 0 ("x")`},
		{func(s *XRaySpec) { s.Shapes = []Shape2D{{Name: "x", RX: 1, RY: 1, Value: 5000}} }, "value 5000"},
		{func(s *XRaySpec) { s.Background = -2 }, "background"},
	} {
		s := XRaySmall()
		c.edit(&s)
		if _, err := GenerateXRay(s); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("error %v, want one mentioning %q", err, c.want)
		}
	}
}
