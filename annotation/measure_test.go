package annotation_test

import (
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/annotation"
	"github.com/radmark/radmark/dicom"
	"github.com/radmark/radmark/internal/testdb"
	"github.com/radmark/radmark/internal/testenv"
	"github.com/radmark/radmark/phantom"
)

func byItem(ms []annotation.Measurement) map[string]annotation.Measurement {
	out := map[string]annotation.Measurement{}
	for _, m := range ms {
		out[m.Item] = m
	}
	return out
}

func near(t *testing.T, what string, got, want, tol float64) {
	t.Helper()
	if math.IsNaN(got) || math.Abs(got-want) > tol {
		t.Errorf("%s = %.6f, want %.6f ± %g", what, got, want, tol)
	}
}

// TestPhantomMeasurements checks every measurement kind on the phantom CT
// against its analytic geometry: 2 mm pixels and slices, tissue values
// exact (no noise).
func TestPhantomMeasurements(t *testing.T) {
	e := newEnv(t, testdb.Engines[0])
	set := e.ctSet("reader-1")
	req := e.everyKind()
	r, err := e.svc.Save(t.Context(), e.op, set.ID, req)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := e.svc.Measurements(t.Context(), e.op, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	m := byItem(ms)
	near(t, "image length", m["len-img"].Length.Value, 20, 1e-9)
	near(t, "patient length", m["len-lps"].Length.Value, 12, 1e-9)
	near(t, "angle", m["angle"].Angle.Value, 90, 1e-9)
	near(t, "bidirectional long", m["bidir"].LongAxis.Value, 20, 1e-9)
	near(t, "bidirectional short", m["bidir"].ShortAxis.Value, 16, 1e-9)
	near(t, "polyline length", m["polyline"].Length.Value, 2*(10+20), 1e-9)
	near(t, "contour area", m["contour"].Area.Value, 80*80, 1e-6)
	near(t, "box3d volume", m["box3d"].Volume.Value, 24*24*20, 1e-6)
	// The ellipse (radius 4 px = 8 mm) sits inside the lung nodule (30 HU,
	// radius 10 mm) on its centre slice.
	near(t, "ellipse area", m["ellipse"].Area.Value, math.Pi*8*8, 1e-9)
	st := m["ellipse"].Stats
	if st == nil || st.Count == 0 || st.Min != 30 || st.Max != 30 || st.Mean != 30 || st.SD != 0 || st.Unit != "[hnsf'U]" {
		t.Errorf("ellipse stats = %+v, want all 30 HU", st)
	}
	// The 8×8 px rectangle's 64 pixel centres; its corners reach outside
	// the nodule into lung (−850 HU).
	rs := m["rect"].Stats
	if rs.Count != 64 || rs.Max != 30 || rs.Min != -850 {
		t.Errorf("rectangle stats = %+v, want 64 pixels from −850 to 30 HU", rs)
	}
	near(t, "rectangle area", m["rect"].Area.Value, 16*16, 1e-9)
	// The painted ball of radius 5 voxels is the nodule's own voxels.
	_, count := sphereSlices(128, 128, 64, 36, 64, 53, 5, 1)
	seg := m["seg-nodule"]
	near(t, "segment volume", seg.Volume.Value, float64(count)*8, 1e-6)
	if seg.Stats.Mean != 30 || seg.Stats.SD != 0 || seg.Stats.Count != count {
		t.Errorf("segment stats = %+v, want %d voxels of 30 HU", seg.Stats, count)
	}
	want := ctVoxel(36, 64, 53)
	for a := range 3 {
		near(t, "segment centroid", seg.Position[a], want[a], 1e-9)
	}
	// The landmark's value is the phantom's tissue at that voxel.
	p := e.ct.Phantom
	wantHU := p.Value(p.LabelAt(64, 60, 40))
	if lm := m["carina"]; lm.Value == nil || lm.Value.Value != wantHU {
		t.Errorf("landmark value = %+v, want %v HU", lm.Value, wantHU)
	}
}

// TestSphereVolume segments a sphere of radius 15 mm on a 1 mm phantom by
// thresholding the served pixel values, and checks the server's volume
// against 4/3·π·r³ (within 2%) and its HU statistics.
func TestSphereVolume(t *testing.T) {
	e := newEnv(t, testdb.Engines[0])
	liver := phantom.DefaultAnatomy().Lesions[1] // r 15 mm, 100 HU in liver (60 HU)
	spec := phantom.Spec{
		Modality: phantom.CT, Rows: 64, Columns: 64, Slices: 48,
		PixelSpacing: [2]float64{1, 1}, SliceSpacing: 1,
		Origin: phantom.LPS{liver.Centre[0] - 32, liver.Centre[1] - 32, liver.Centre[2] - 24},
		Seed:   7,
	}
	s, err := phantom.Generate(spec)
	if err != nil {
		t.Fatal(err)
	}
	ingest(t, e.archive, s.Instances...)
	ctx := t.Context()
	study, series := radmark.UID(s.StudyInstanceUID), radmark.UID(s.SeriesInstanceUID)
	set, err := e.svc.CreateSet(ctx, e.op, e.project.ID, study, series, "reader-1")
	if err != nil {
		t.Fatal(err)
	}
	data := map[string][]byte{}
	for k := range 48 {
		vals, err := e.svc.Images.SliceValues(ctx, study, series, k)
		if err != nil {
			t.Fatal(err)
		}
		mask := make([]byte, len(vals))
		found := false
		for i, v := range vals {
			if v >= 80 && v <= 120 {
				mask[i], found = 1, true
			}
		}
		if found {
			data[strconv.Itoa(k)] = mask
		}
	}
	r, err := e.svc.Save(ctx, e.op, set.ID, &annotation.SaveRequest{
		Items:     []radmark.Item{{ID: "lesion", Kind: radmark.KindSegmentation, Label: "liver", Source: human(), Segment: &radmark.SegmentRef{Layer: 0, Value: 1}}},
		Labelmaps: []annotation.LabelmapEdit{{Layer: 0, SeriesUID: series, Columns: 64, Rows: 64, Slices: 48, Encoding: "raw", Data: data}},
	})
	if err != nil {
		t.Fatal(err)
	}
	ms, err := e.svc.Measurements(ctx, e.op, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	got := ms[0]
	analytic := 4.0 / 3 * math.Pi * 15 * 15 * 15
	if rel := math.Abs(got.Volume.Value-analytic) / analytic; rel > 0.02 {
		t.Errorf("sphere volume %.1f mm³, analytic %.1f mm³: %.2f%% off (limit 2%%)", got.Volume.Value, analytic, 100*rel)
	}
	t.Logf("sphere r=15 mm at 1 mm: %.1f mm³ vs %.1f mm³ (%.3f%%)", got.Volume.Value, analytic, 100*(got.Volume.Value-analytic)/analytic)
	if got.Stats.Mean != 100 || got.Stats.SD != 0 {
		t.Errorf("lesion HU = %+v, want 100 ± 0", got.Stats)
	}
	for a := range 3 {
		near(t, "centroid", got.Position[a], liver.Centre[a], 1e-6)
	}
}

// TestRealCTHandCalculation measures on a real chest CT from ../shared/data
// and compares with the same quantities computed independently from the
// files with pydicom and numpy.
func TestRealCTHandCalculation(t *testing.T) {
	dir := filepath.Join(testenv.SharedData(t), "ct", "tcia_lung-pet-ct-dx_A0002_chest-8mm")
	python := debianPython(t)
	files, _ := filepath.Glob(filepath.Join(dir, "*.dcm"))
	if len(files) != 30 {
		t.Fatalf("%d files in %s, want 30", len(files), dir)
	}
	sort.Strings(files)
	e := newEnv(t, testdb.Engines[0])
	var datasets []*dicom.Dataset
	for _, f := range files {
		df, err := dicom.ParseFile(f, dicom.ParseOptions{})
		if err != nil {
			t.Fatal(err)
		}
		datasets = append(datasets, df.Dataset)
	}
	ingest(t, e.archive, datasets...)
	ds := datasets[0]
	study := radmark.UID(ds.Strings(dicom.NewTag(0x0020, 0x000D))[0])
	series := radmark.UID(ds.Strings(dicom.NewTag(0x0020, 0x000E))[0])
	ctx := t.Context()

	// The slice with the lesion (instance 18) and its grid index.
	target := filepath.Join(dir, "1-18.dcm")
	tds, err := dicom.ParseFile(target, dicom.ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ref := &radmark.ImageRef{SOPInstanceUID: radmark.UID(tds.Dataset.Strings(dicom.NewTag(0x0008, 0x0018))[0])}
	grid, err := e.svc.Images.Grid(ctx, study, series)
	if err != nil {
		t.Fatal(err)
	}
	k, ok := grid.SliceOf(*ref)
	if !ok {
		t.Fatal("instance 18 is not in the grid")
	}
	// A block of voxels: columns 300..339, rows 280..309, grid slices k-1..k+1.
	const i0, i1, j0, j1 = 300, 340, 280, 310
	data := map[string][]byte{}
	for kk := k - 1; kk <= k+1; kk++ {
		s := make([]byte, 512*512)
		for j := j0; j < j1; j++ {
			for i := i0; i < i1; i++ {
				s[j*512+i] = 1
			}
		}
		data[strconv.Itoa(kk)] = s
	}
	set, err := e.svc.CreateSet(ctx, e.op, e.project.ID, study, series, "reader-1")
	if err != nil {
		t.Fatal(err)
	}
	r, err := e.svc.Save(ctx, e.op, set.ID, &annotation.SaveRequest{
		Items: []radmark.Item{
			{ID: "rect", Kind: radmark.KindRectangleROI, Label: "nodule", Source: human(), Image: ref, Points: [][2]float64{{i0, j0}, {i1, j1}}},
			{ID: "len", Kind: radmark.KindLength, Label: "nodule", Source: human(), Image: ref, Points: [][2]float64{{100.5, 200.5}, {400.5, 260.5}}},
			{ID: "seg", Kind: radmark.KindSegmentation, Label: "nodule", Source: human(), Segment: &radmark.SegmentRef{Layer: 0, Value: 1}},
		},
		Labelmaps: []annotation.LabelmapEdit{{Layer: 0, SeriesUID: series, Columns: 512, Rows: 512, Slices: grid.NumSlices, Encoding: "raw", Data: data}},
	})
	m := e.measure(r, err)

	script := `
import sys, json, glob, numpy as np, pydicom
d = sys.argv[1]; i0, i1, j0, j1 = 300, 340, 280, 310
dss = [pydicom.dcmread(f) for f in glob.glob(d + "/*.dcm")]
hu = lambda ds: ds.pixel_array.astype(np.float64) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
t = [ds for ds in dss if int(ds.InstanceNumber) == 18][0]
roi = hu(t)[j0:j1, i0:i1]
ps = [float(v) for v in t.PixelSpacing]
length = float(np.hypot(300 * ps[1], 60 * ps[0]))
z = float(t.ImagePositionPatient[2])
byz = sorted(dss, key=lambda ds: float(ds.ImagePositionPatient[2]))
zs = [float(ds.ImagePositionPatient[2]) for ds in byz]
k = zs.index(z)
block = np.concatenate([hu(ds)[j0:j1, i0:i1].ravel() for ds in byz[k-1:k+2]])
spacing = (zs[-1] - zs[0]) / (len(zs) - 1)
print(json.dumps({"mean": roi.mean(), "sd": roi.std(), "min": roi.min(), "max": roi.max(), "count": roi.size,
  "length": length, "area": (i1-i0)*ps[1]*(j1-j0)*ps[0],
  "volume": block.size * ps[0] * ps[1] * spacing, "segmean": block.mean(), "segsd": block.std(), "segcount": block.size}))
`
	out, err := exec.Command(python, "-c", script, dir).Output()
	if err != nil {
		t.Fatalf("pydicom reference: %v", err)
	}
	var ref2 struct {
		Mean, SD, Min, Max, Length, Area, Volume, SegMean, SegSD float64
		Count, SegCount                                          int
	}
	if err := json.Unmarshal(out, &ref2); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	st := m["rect"].Stats
	if st.Count != ref2.Count {
		t.Errorf("ROI count %d, pydicom %d", st.Count, ref2.Count)
	}
	near(t, "ROI mean HU", st.Mean, ref2.Mean, 1e-6)
	near(t, "ROI SD HU", st.SD, ref2.SD, 1e-6)
	near(t, "ROI min HU", st.Min, ref2.Min, 1e-9)
	near(t, "ROI max HU", st.Max, ref2.Max, 1e-9)
	near(t, "ROI area", m["rect"].Area.Value, ref2.Area, 1e-6)
	near(t, "length", m["len"].Length.Value, ref2.Length, 1e-6)
	near(t, "segment volume", m["seg"].Volume.Value, ref2.Volume, 1e-3)
	near(t, "segment mean HU", m["seg"].Stats.Mean, ref2.SegMean, 1e-6)
	near(t, "segment SD HU", m["seg"].Stats.SD, ref2.SegSD, 1e-6)
	if m["seg"].Stats.Count != ref2.SegCount {
		t.Errorf("segment voxels %d, pydicom %d", m["seg"].Stats.Count, ref2.SegCount)
	}
	t.Logf("real CT: ROI mean %.3f HU (pydicom %.3f), length %.4f mm, segment %.1f mm³", st.Mean, ref2.Mean, m["len"].Length.Value, m["seg"].Volume.Value)
}

// TestMultiFrameEnhancedMR annotates frames of a real 96-frame enhanced MR
// (sagittal 3D T1w, 2 mm isotropic): frame references are checked, image
// points map through each frame's own plane (compared with the frame's
// ImagePositionPatient as pydicom reads it), and segments and lengths
// measure in millimetres.
func TestMultiFrameEnhancedMR(t *testing.T) {
	path := filepath.Join(testenv.SharedData(t), "mr", "siemens-xa30_enhanced-mr_3d-t1w", "t1w_enhanced_96frames.dcm")
	python := debianPython(t)
	df, err := dicom.ParseFile(path, dicom.ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, testdb.Engines[0])
	ingest(t, e.archive, df.Dataset)
	ctx := t.Context()
	ds := df.Dataset
	study := radmark.UID(ds.Strings(dicom.NewTag(0x0020, 0x000D))[0])
	series := radmark.UID(ds.Strings(dicom.NewTag(0x0020, 0x000E))[0])
	sop := radmark.UID(ds.Strings(dicom.NewTag(0x0008, 0x0018))[0])

	out, err := exec.Command(python, "-c", `
import sys, json, pydicom
ds = pydicom.dcmread(sys.argv[1], stop_before_pixels=True)
f = ds.PerFrameFunctionalGroupsSequence[49]
print(json.dumps([float(v) for v in f.PlanePositionSequence[0].ImagePositionPatient]))
`, path).Output()
	if err != nil {
		t.Fatalf("pydicom: %v", err)
	}
	var ipp50 [3]float64
	if err := json.Unmarshal(out, &ipp50); err != nil {
		t.Fatal(err)
	}
	frame50 := &radmark.ImageRef{SOPInstanceUID: sop, Frame: 50}
	g, err := e.svc.Images.Image(ctx, study, *frame50)
	if err != nil {
		t.Fatal(err)
	}
	// The centre of the first pixel of frame 50 is that frame's IPP.
	first := g.Plane.ToLPS(0.5, 0.5)
	for a := range 3 {
		near(t, "frame 50 pixel (0,0) centre", first[a], ipp50[a], 1e-4)
	}
	grid, err := e.svc.Images.Grid(ctx, study, series)
	if err != nil {
		t.Fatal(err)
	}
	k, ok := grid.SliceOf(*frame50)
	if !ok || grid.NumSlices != 96 {
		t.Fatalf("frame 50 in a %d-slice grid: %v", grid.NumSlices, ok)
	}
	set, err := e.svc.CreateSet(ctx, e.op, e.project.ID, study, series, "reader-1")
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []struct {
		frame int
		want  string
	}{{0, "frames 1..96"}, {97, "frames 1..96"}} {
		_, err := e.svc.Save(ctx, e.op, set.ID, &annotation.SaveRequest{Items: []radmark.Item{{ID: "b", Kind: radmark.KindBox2D, Label: "nodule", Source: human(),
			Image: &radmark.ImageRef{SOPInstanceUID: sop, Frame: bad.frame}, Points: [][2]float64{{1, 1}, {5, 5}}}}})
		if radmark.ErrorCode(err) != radmark.EINVALID || !strings.Contains(radmark.ErrorMessage(err), bad.want) {
			t.Errorf("frame %d: %v", bad.frame, err)
		}
	}
	mask := make([]byte, 128*128)
	for j := 60; j < 70; j++ {
		for i := 60; i < 70; i++ {
			mask[j*128+i] = 1
		}
	}
	centre := g.Plane.ToLPS(64.5, 64.5)
	other, _ := e.svc.Images.Image(ctx, study, radmark.ImageRef{SOPInstanceUID: sop, Frame: 60})
	r, err := e.svc.Save(ctx, e.op, set.ID, &annotation.SaveRequest{
		Items: []radmark.Item{
			{ID: "box", Kind: radmark.KindBox2D, Label: "nodule", Source: human(), Image: frame50, Points: [][2]float64{{60, 60}, {70, 70}}},
			{ID: "len", Kind: radmark.KindLength, Label: "nodule", Source: human(), Image: frame50, Points: [][2]float64{{10.5, 10.5}, {20.5, 10.5}}},
			{ID: "lm", Kind: radmark.KindLandmark, Label: "carina", Source: human(), Image: frame50, LPS: [][3]float64{centre}},
			{ID: "seg", Kind: radmark.KindSegmentation, Label: "nodule", Source: human(), Segment: &radmark.SegmentRef{Layer: 0, Value: 1}},
		},
		Labelmaps: []annotation.LabelmapEdit{{Layer: 0, SeriesUID: series, Columns: 128, Rows: 128, Slices: 96, Encoding: "raw", Data: map[string][]byte{strconv.Itoa(k): mask}}},
	})
	m := e.measure(r, err)
	colSpacing := g.Plane.ColSpacing
	near(t, "length", m["len"].Length.Value, 10*colSpacing, 1e-9)
	near(t, "box width", m["box"].Width.Value, 10*colSpacing, 1e-9)
	near(t, "segment volume", m["seg"].Volume.Value, 100*grid.VoxelVolume(), 1e-6)
	segCentre := g.Plane.ToLPS(65, 65)
	for a := range 3 {
		near(t, "segment centroid", m["seg"].Position[a], segCentre[a], 1e-6)
	}
	// A landmark placed on frame 50 at frame 60's position is off its image.
	_, err = e.svc.Save(ctx, e.op, set.ID, &annotation.SaveRequest{Parent: r.ID, Items: []radmark.Item{
		{ID: "lm", Kind: radmark.KindLandmark, Label: "carina", Source: human(), Image: frame50, LPS: [][3]float64{other.Plane.ToLPS(64.5, 64.5)}},
	}})
	if radmark.ErrorCode(err) != radmark.EINVALID || !strings.Contains(radmark.ErrorMessage(err), "off image") {
		t.Errorf("landmark off its frame: %v", err)
	}
}

// debianPython returns Debian's python3, which has pydicom (a pyenv python3
// on PATH may not).
func debianPython(t *testing.T) string {
	t.Helper()
	const python = "/usr/bin/python3"
	if _, err := os.Stat(python); err != nil {
		testenv.Missing(t, "Debian's /usr/bin/python3 is not installed")
	}
	return python
}

// measure returns the measurements of a saved revision by item.
func (e *env) measure(r *radmark.Revision, saveErr error) map[string]annotation.Measurement {
	e.t.Helper()
	if saveErr != nil {
		e.t.Fatal(saveErr)
	}
	ms, err := e.svc.Measurements(e.t.Context(), e.op, r.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	return byItem(ms)
}
