package phantom

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/radmark/radmark/dicom"
)

// writeSeries generates spec and writes it to a temporary folder.
func writeSeries(t testing.TB, spec Spec) (*Series, []string) {
	t.Helper()
	s, err := Generate(spec)
	if err != nil {
		t.Fatal(err)
	}
	paths, err := s.WriteDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s, paths
}

func parse(t testing.TB, path string) *dicom.Dataset {
	t.Helper()
	f, err := dicom.ParseFile(path, dicom.ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if f.TransferSyntax.UID != dicom.ExplicitVRLittleEndian {
		t.Fatalf("%s: transfer syntax %s", path, f.TransferSyntax.UID)
	}
	return f.Dataset
}

// modalityValues returns slice pixels after the modality LUT
// (rescale slope and intercept), as the file says to apply it.
func modalityValues(t testing.TB, ds *dicom.Dataset) []float64 {
	t.Helper()
	pi, err := ds.PixelInfo()
	if err != nil {
		t.Fatal(err)
	}
	if pi.BitsAllocated != 16 || pi.PixelRepresentation != 0 || pi.SamplesPerPixel != 1 {
		t.Fatalf("pixel format %+v", pi)
	}
	raw := ds.Get(dicom.TagPixelData).Value
	if len(raw) != 2*pi.Rows*pi.Columns {
		t.Fatalf("pixel data %d bytes for %d×%d", len(raw), pi.Columns, pi.Rows)
	}
	slope, ok := ds.Float(dicom.TagRescaleSlope)
	if !ok {
		slope = 1
	}
	intercept, _ := ds.Float(dicom.TagRescaleIntercept)
	out := make([]float64, pi.Rows*pi.Columns)
	for n := range out {
		out[n] = float64(binary.LittleEndian.Uint16(raw[2*n:]))*slope + intercept
	}
	return out
}

// TestWrittenGeometryAndPixels reads every written slice back and checks,
// from the DICOM attributes alone (the PS3.3 C.7.6.2.1.1 equation written
// out here, not the package's affine), that each pixel holds the value of
// the tissue at the point the attributes say it samples.
func TestWrittenGeometryAndPixels(t *testing.T) {
	for name, spec := range geometrySpecs() {
		t.Run(name, func(t *testing.T) {
			s, paths := writeSeries(t, spec)
			p := s.Phantom
			if len(paths) != spec.Slices {
				t.Fatalf("%d files for %d slices", len(paths), spec.Slices)
			}
			for k, path := range paths {
				ds := parse(t, path)
				if got := ds.IntOr(dicom.TagInstanceNumber, 0); got != k+1 {
					t.Fatalf("%s: InstanceNumber %d", path, got)
				}
				ipp := ds.Floats(dicom.TagImagePositionPatient)
				iop := ds.Floats(dicom.TagImageOrientationPatient)
				ps := ds.Floats(dicom.TagPixelSpacing)
				rows, cols := ds.IntOr(dicom.TagRows, 0), ds.IntOr(dicom.TagColumns, 0)
				if len(ipp) != 3 || len(iop) != 6 || len(ps) != 2 || rows != spec.Rows || cols != spec.Columns {
					t.Fatalf("%s: IPP %v IOP %v PixelSpacing %v size %dx%d", path, ipp, iop, ps, cols, rows)
				}
				at := func(i, j int) LPS {
					// P = IPP + X·Δi·i + Y·Δj·j, with X the row direction
					// (iop[0:3]), Δi the column spacing (ps[1]), Y the
					// column direction (iop[3:6]), Δj the row spacing (ps[0]).
					var pt LPS
					for a := 0; a < 3; a++ {
						pt[a] = ipp[a] + iop[a]*ps[1]*float64(i) + iop[3+a]*ps[0]*float64(j)
					}
					return pt
				}
				values := modalityValues(t, ds)
				for j := 0; j < rows; j++ {
					for i := 0; i < cols; i++ {
						pt := at(i, j)
						if c := p.VoxelCentre(i, j, k); !near(pt, c, 1e-9) {
							t.Fatalf("slice %d voxel (%d,%d): attributes give %v, phantom %v", k, i, j, pt, c)
						}
						if got, want := values[j*cols+i], p.Value(p.Tissue(pt)); got != want {
							t.Fatalf("slice %d pixel (column %d, row %d) at %v: %g, want %g (%v)", k, i, j, pt, got, want, p.Tissue(pt))
						}
					}
				}
				n := p.Normal()
				if loc, _ := ds.Float(dicom.TagSliceLocation); math.Abs(loc-(LPS{ipp[0], ipp[1], ipp[2]}).Dot(n)) > 1e-9 {
					t.Errorf("slice %d: SliceLocation %g, IPP·normal %g", k, loc, (LPS{ipp[0], ipp[1], ipp[2]}).Dot(n))
				}
			}
		})
	}
}

func TestWrittenAttributes(t *testing.T) {
	for _, c := range []struct {
		spec     Spec
		sopClass string
		want     map[dicom.Tag]string
	}{
		{CTSmall(), CTImageStorage, map[dicom.Tag]string{
			dicom.TagSpecificCharacterSet: "ISO_IR 192", dicom.TagModality: "CT",
			dicom.TagManufacturer: "radmark", dicom.TagManufacturerModelName: "phantom",
			dicom.TagPatientName: "PHANTOM^CT", dicom.TagPatientID: "PHANTOM-CT", dicom.TagStudyDate: "20240102",
			dicom.TagRescaleType: "HU", dicom.TagRescaleIntercept: "-1024", dicom.TagRescaleSlope: "1",
			dicom.TagPhotometricInterpretation: "MONOCHROME2", dicom.TagSliceThickness: "2", dicom.TagImageType: "ORIGINAL",
			dicom.TagWindowCenterWidthExplanation: "SOFT TISSUE",
		}},
		{MRSmall(), MRImageStorage, map[dicom.Tag]string{
			dicom.TagSpecificCharacterSet: "ISO_IR 192", dicom.TagModality: "MR",
			dicom.TagPatientName: "PHANTOM^MR", dicom.TagSliceThickness: "3.5", dicom.TagSpacingBetweenSlices: "4",
		}},
	} {
		s, paths := writeSeries(t, c.spec)
		ds := parse(t, paths[0])
		if got := ds.String(dicom.TagSOPClassUID); got != c.sopClass {
			t.Errorf("SOPClassUID %s, want %s", got, c.sopClass)
		}
		for tag, want := range c.want {
			if got := ds.String(tag); got != want {
				t.Errorf("%s %s: %q, want %q", c.spec.Modality, tag, got, want)
			}
		}
		for tag, want := range map[dicom.Tag]string{
			dicom.TagStudyInstanceUID: s.StudyInstanceUID, dicom.TagSeriesInstanceUID: s.SeriesInstanceUID,
			dicom.TagFrameOfReferenceUID: s.FrameOfReferenceUID, dicom.TagSOPInstanceUID: s.SOPInstanceUID(0),
		} {
			if got := ds.String(tag); got != want {
				t.Errorf("%s: %s, want %s", tag, got, want)
			}
		}
		if got := ds.IntOr(dicom.TagBitsStored, 0); got != 12 {
			t.Errorf("BitsStored %d", got)
		}
	}
}

// TestHUAtKnownPoints: lesion centres hold the lesion's HU, the corner of
// the field of view is air at −1000 HU.
func TestHUAtKnownPoints(t *testing.T) {
	s, paths := writeSeries(t, CTSmall())
	p := s.Phantom
	check := func(i, j, k int, want float64, what string) {
		t.Helper()
		v := modalityValues(t, parse(t, paths[k]))
		if got := v[j*128+i]; got != want {
			t.Errorf("%s: voxel (%d,%d,%d) is %g HU, want %g", what, i, j, k, got, want)
		}
	}
	for _, l := range p.Lesions() {
		i, j, k, ok := p.NearestVoxel(l.Centre)
		if !ok {
			t.Fatalf("%s outside the grid", l.Name)
		}
		check(i, j, k, float64(l.HU), l.Name)
	}
	check(0, 0, 0, -1000, "corner")
	check(127, 127, 63, -1000, "far corner")
	check(64, 64, 32, 40, "centre (soft tissue)")
}

// TestLesionCountFromFiles counts the lung nodule's voxels in files
// written on a 1 mm grid and compares with 4/3·π·r³ and with the
// phantom's own count.
func TestLesionCountFromFiles(t *testing.T) {
	l := DefaultAnatomy().Lesions[0]
	spec := Spec{Modality: CT, Rows: 48, Columns: 48, Slices: 30, PixelSpacing: [2]float64{1, 1}, SliceSpacing: 1,
		Origin: l.Centre.Sub(LPS{23.5, 23.5, 14.5})} // centre half-way between voxels on every axis
	s, paths := writeSeries(t, spec)
	count := 0
	for _, path := range paths {
		for _, v := range modalityValues(t, parse(t, path)) {
			if v == float64(l.HU) {
				count++
			}
		}
	}
	if want := s.Phantom.LesionVoxelCount(0); count != want {
		t.Errorf("files hold %d nodule voxels, phantom counts %d", count, want)
	}
	if rel := math.Abs(float64(count)-l.Volume()) / l.Volume(); rel > 0.03 {
		t.Errorf("%d voxels of 1 mm³ vs analytic %.1f mm³ (%.2f%%)", count, l.Volume(), 100*rel)
	}
	t.Logf("nodule r=%g: %d voxels, analytic %.2f mm³", l.Radius, count, l.Volume())
}

func TestDeterministic(t *testing.T) {
	digest := func(spec Spec) ([32]byte, *Series) {
		s, err := Generate(spec)
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		for k := range s.Instances {
			if err := s.Write(k, h); err != nil {
				t.Fatal(err)
			}
		}
		var sum [32]byte
		copy(sum[:], h.Sum(nil))
		return sum, s
	}
	noisy := CTSmall()
	noisy.NoiseSigma = 15
	a, sa := digest(noisy)
	b, _ := digest(noisy)
	if a != b {
		t.Fatal("the same spec gave different bytes")
	}
	reseeded := noisy
	reseeded.Seed = 2
	c, sc := digest(reseeded)
	if a == c || sa.SeriesInstanceUID == sc.SeriesInstanceUID || sa.StudyInstanceUID == sc.StudyInstanceUID {
		t.Error("a new seed must change pixels and UIDs")
	}
	// Another grid of the same patient and seed: same study and frame of
	// reference (same anatomy in the same frame), new series.
	_, s512 := digest(func() Spec { s := CT512(); s.Slices = 2; return s }())
	if s512.StudyInstanceUID != sa.StudyInstanceUID || s512.FrameOfReferenceUID != sa.FrameOfReferenceUID || s512.SeriesInstanceUID == sa.SeriesInstanceUID {
		t.Error("CT512 and CTSmall of one patient should share study and frame of reference, not series")
	}
	uid := regexp.MustCompile(`^2\.25\.(0|[1-9][0-9]*)$`)
	seen := map[string]bool{}
	for _, u := range []string{sa.StudyInstanceUID, sa.SeriesInstanceUID, sa.FrameOfReferenceUID, sa.SOPInstanceUID(0), sa.SOPInstanceUID(1)} {
		if !uid.MatchString(u) || len(u) > 64 {
			t.Errorf("UID %q is not a valid 2.25 UID", u)
		}
		if seen[u] {
			t.Errorf("UID %s used twice", u)
		}
		seen[u] = true
	}
}

// TestNoise checks the documented noise: Gaussian with the given sigma
// around the tissue value for CT; Rician for MR, whose mean is σ·√(π/2) in
// air and about √(A²+σ²) at a high signal A.
func TestNoise(t *testing.T) {
	for _, c := range []struct {
		spec     Spec
		tissue   Tissue
		wantMean float64
	}{
		{func() Spec { s := CTSmall(); s.NoiseSigma = 20; return s }(), SoftTissue, 40},
		{func() Spec { s := MRSmall(); s.NoiseSigma = 20; return s }(), SoftTissue, math.Sqrt(400*400 + 20*20)},
		{func() Spec { s := MRSmall(); s.NoiseSigma = 20; return s }(), Air, 20 * math.Sqrt(math.Pi/2)},
	} {
		s, err := Generate(c.spec)
		if err != nil {
			t.Fatal(err)
		}
		p := s.Phantom
		var sum, sum2, n float64
		cols, rows, _ := p.Dims()
		for k, ds := range s.Instances {
			raw := ds.Get(dicom.TagPixelData).Value
			for j := 0; j < rows; j++ {
				for i := 0; i < cols; i++ {
					if p.LabelAt(i, j, k) != c.tissue {
						continue
					}
					v := float64(binary.LittleEndian.Uint16(raw[2*(j*cols+i):]))
					if c.spec.Modality == CT {
						v -= 1024
					}
					sum += v
					sum2 += v * v
					n++
				}
			}
		}
		mean := sum / n
		sd := math.Sqrt(sum2/n - mean*mean)
		if math.Abs(mean-c.wantMean) > 0.3 {
			t.Errorf("%s %v: mean %.2f over %.0f voxels, want %.2f", c.spec.Modality, c.tissue, mean, n, c.wantMean)
		}
		if c.tissue != Air && math.Abs(sd-20) > 1 {
			t.Errorf("%s %v: standard deviation %.2f, want 20", c.spec.Modality, c.tissue, sd)
		}
	}
}

// TestSupersample: pixels well inside a tissue keep its exact value;
// pixels on an edge take values between the two tissues.
func TestSupersample(t *testing.T) {
	spec := CTSmall()
	spec.Supersample = 4
	spec.Slices = 1
	spec.Origin[2] = 42 // CTSmall's slice 53, through the nodule's centre
	s, err := Generate(spec)
	if err != nil {
		t.Fatal(err)
	}
	p := s.Phantom
	values := modalityValues(t, s.Instances[0])
	// Row 64 through the nodule (columns 31…41 at 2 mm, r 10 mm).
	row := values[64*128 : 65*128]
	if row[36] != 30 {
		t.Errorf("nodule centre %g HU, want 30", row[36])
	}
	edge := 0
	for i := 20; i < 50; i++ {
		if row[i] > -850 && row[i] < 30 {
			edge++
		}
	}
	if edge == 0 {
		t.Error("no partial-volume pixel at the nodule's edge")
	}
	// Labels stay centre samples.
	if p.LabelAt(36, 64, 0) != FirstLesion {
		t.Error("label of the nodule centre")
	}
}

func TestWriteDirNamesAndAtomicity(t *testing.T) {
	spec := CTSmall()
	spec.Slices = 3
	s, paths := writeSeries(t, spec)
	dir := filepath.Dir(paths[0])
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if want := []string{"CT0001.dcm", "CT0002.dcm", "CT0003.dcm"}; !equalStrings(names, want) {
		t.Errorf("files %v, want %v (and no temporary files left)", names, want)
	}
	var buf bytes.Buffer
	if err := s.Write(1, &buf); err != nil {
		t.Fatal(err)
	}
	onDisk, _ := os.ReadFile(paths[1])
	if !bytes.Equal(onDisk, buf.Bytes()) {
		t.Error("WriteDir and Write disagree")
	}
	if err := s.Write(3, &buf); err == nil {
		t.Error("Write accepted slice 3 of 3")
	}
	// Slice builds one dataset alone, identical to Generate's.
	one, err := s.Phantom.Slice(2)
	if err != nil {
		t.Fatal(err)
	}
	var a, b bytes.Buffer
	if err := dicom.WriteFile(&a, one, dicom.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(2, &b); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Error("Phantom.Slice differs from Generate")
	}
	if _, err := s.WriteDir(filepath.Join(paths[0], "sub")); err == nil {
		t.Error("WriteDir under a file succeeded")
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
