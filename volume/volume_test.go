package volume_test

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/archive"
	"github.com/radmark/radmark/blob/fsblob"
	"github.com/radmark/radmark/dicom"
	"github.com/radmark/radmark/phantom"
	"github.com/radmark/radmark/sqlite"
	"github.com/radmark/radmark/volume"
)

var _ volume.FrameSource = (*archive.Service)(nil)

// phantomSource encodes a phantom series in transfer syntax ts, slices
// added to the source in a scrambled order.
func phantomSource(t testing.TB, s *phantom.Series, ts string) *memSource {
	t.Helper()
	src := newMemSource(t)
	n := len(s.Instances)
	for m := 0; m < n; m++ {
		src.add(t, encode(t, s.Instances[(m*7+3)%n], ts))
	}
	return src
}

func studySeries(s *phantom.Series) (radmark.UID, radmark.UID) {
	return radmark.UID(s.StudyInstanceUID), radmark.UID(s.SeriesInstanceUID)
}

// phantomSlice maps grid slice k to the phantom's slice index through
// patient coordinates (the phantom's own inverse affine).
func phantomSlice(t testing.TB, p *phantom.Phantom, g *volume.Grid, k int) int {
	t.Helper()
	_, _, kp := p.Index(phantom.LPS(g.IndexToLPS(0, 0, float64(k))))
	if math.Abs(kp-math.Round(kp)) > 1e-6 {
		t.Fatalf("grid slice %d lies between phantom slices (%g)", k, kp)
	}
	return int(math.Round(kp))
}

// checkSlice compares every value of grid slice k with the phantom's
// tissue value at that voxel, through want (which maps HU to the expected
// value).
func checkSlice(t testing.TB, p *phantom.Phantom, g *volume.Grid, k int, vals []float32, want func(hu float64) float64) {
	t.Helper()
	kp := phantomSlice(t, p, g, k)
	if len(vals) != g.Columns*g.Rows {
		t.Fatalf("slice %d: %d values, want %d", k, len(vals), g.Columns*g.Rows)
	}
	bad := 0
	for j := 0; j < g.Rows; j++ {
		for i := 0; i < g.Columns; i++ {
			w := want(p.Value(p.LabelAt(i, j, kp)))
			if got := float64(vals[j*g.Columns+i]); math.Abs(got-w) > 1e-3 {
				if bad++; bad <= 3 {
					t.Errorf("slice %d voxel (%d,%d): %g, want %g", k, i, j, got, w)
				}
			}
		}
	}
}

func identity(hu float64) float64 { return hu }

// TestLoadPhantomCT loads a phantom CT through a Source, stacked head
// first and listed out of order, and checks Hounsfield units at the
// lesions' centres and over whole slices.
func TestLoadPhantomCT(t *testing.T) {
	ctx := context.Background()
	for _, headFirst := range []bool{false, true} {
		t.Run(fmt.Sprintf("head first %v", headFirst), func(t *testing.T) {
			spec := phantom.CTSmall()
			if headFirst {
				spec.SliceSpacing, spec.Origin[2] = -2, 62
			}
			s := generate(t, spec)
			p := s.Phantom
			src := phantomSource(t, s, "")
			study, series := studySeries(s)
			v, err := volume.Load(ctx, src, study, series)
			if err != nil {
				t.Fatal(err)
			}
			g := v.Grid
			if g.NumSlices != 64 || g.Columns != 128 || len(g.Findings) != 0 || g.Modality != "CT" {
				t.Fatalf("grid %d×%d×%d %s, findings %+v", g.Columns, g.Rows, g.NumSlices, g.Modality, g.Findings)
			}
			if g.Origin[2] != -64 || g.SliceDir != (volume.Vec3{0, 0, 1}) {
				t.Errorf("slice 0 at %v, direction %v: want the most inferior first", g.Origin, g.SliceDir)
			}
			for _, sl := range g.Slices {
				if sl.Slope != 1 || sl.Intercept != -1024 {
					t.Fatalf("rescale %g/%g, want 1/-1024", sl.Slope, sl.Intercept)
				}
			}
			for _, lt := range p.LesionTruths() {
				idx := g.LPSToIndex(volume.Vec3(lt.Centre))
				pi, pj, pk := p.Index(lt.Centre)
				if math.Abs(idx[0]-pi) > 1e-6 || math.Abs(idx[1]-pj) > 1e-6 || math.Abs(g.IndexToLPS(idx[0], idx[1], idx[2])[2]-lt.Centre[2]) > 1e-6 {
					t.Errorf("%s centre %v at index %v; the phantom says (%g, %g, %g)", lt.Name, lt.Centre, idx, pi, pj, pk)
				}
				i, j, k := int(math.Round(idx[0])), int(math.Round(idx[1])), int(math.Round(idx[2]))
				if got := p.LabelAt(i, j, phantomSlice(t, p, g, k)); got != lt.Label {
					t.Fatalf("voxel %d,%d,%d is %v, not lesion %s", i, j, k, got, lt.Name)
				}
				vals, err := v.SliceValues(ctx, k)
				if err != nil {
					t.Fatal(err)
				}
				hu := float64(vals[j*g.Columns+i])
				if want := p.Value(lt.Label); hu != want {
					t.Errorf("%s: %g HU at its centre, want %g", lt.Name, hu, want)
				}
				checkSlice(t, p, g, k, vals, identity)
			}
		})
	}
}

// TestRescaleApplied: values follow the header's slope and intercept
// (stored = HU + 1024 in the phantom).
func TestRescaleApplied(t *testing.T) {
	ctx := context.Background()
	s := generate(t, tinyCT())
	for _, ds := range s.Instances {
		ds.SetFloats(dicom.TagRescaleSlope, 0.5)
		ds.SetFloats(dicom.TagRescaleIntercept, -7)
	}
	study, series := studySeries(s)
	v, err := volume.Load(ctx, phantomSource(t, s, ""), study, series)
	if err != nil {
		t.Fatal(err)
	}
	for k := 0; k < v.Grid.NumSlices; k += 5 {
		vals, err := v.SliceValues(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		checkSlice(t, s.Phantom, v.Grid, k, vals, func(hu float64) float64 { return (hu+1024)*0.5 - 7 })
	}
}

// TestTransferSyntaxes: implicit VR and deflated encodings give the same
// values as explicit VR little endian.
func TestTransferSyntaxes(t *testing.T) {
	ctx := context.Background()
	s := generate(t, tinyCT())
	study, series := studySeries(s)
	for _, ts := range []string{dicom.ImplicitVRLittleEndian, dicom.DeflatedExplicitVRLittleEndian} {
		v, err := volume.Load(ctx, phantomSource(t, s, ts), study, series)
		if err != nil {
			t.Fatalf("%s: %v", ts, err)
		}
		for k := 0; k < v.Grid.NumSlices; k++ {
			vals, err := v.SliceValues(ctx, k)
			if err != nil {
				t.Fatalf("%s slice %d: %v", ts, k, err)
			}
			checkSlice(t, s.Phantom, v.Grid, k, vals, identity)
		}
	}
}

// TestSliceCache: decoded slices are served from a bounded cache, one
// decode serves concurrent callers, and callers get their own copy.
func TestSliceCache(t *testing.T) {
	ctx := context.Background()
	s := generate(t, tinyCT())
	src := phantomSource(t, s, "")
	study, series := studySeries(s)
	v, err := volume.Load(ctx, src, study, series)
	if err != nil {
		t.Fatal(err)
	}
	opens := src.openCount()
	if opens != 12 {
		t.Errorf("Load opened instances %d times, want 12", opens)
	}
	var wg sync.WaitGroup
	results := make([][]float32, 16)
	for n := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			vals, err := v.SliceValues(ctx, 4)
			if err != nil {
				t.Error(err)
			}
			results[n] = vals
		}()
	}
	wg.Wait()
	if got := src.openCount() - opens; got != 1 {
		t.Errorf("16 concurrent reads of one slice opened it %d times, want 1", got)
	}
	for _, r := range results[1:] {
		if !slices.Equal(r, results[0]) {
			t.Fatal("concurrent readers got different values")
		}
	}
	results[0][0] = 12345
	again, _ := v.SliceValues(ctx, 4)
	if again[0] == 12345 {
		t.Error("a caller's change reached the cache")
	}

	sliceBytes := int64(16 * 16 * 4)
	v.SetCacheSize(3 * sliceBytes)
	for k := 0; k < 5; k++ {
		if _, err := v.SliceValues(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	before := src.openCount()
	v.SliceValues(ctx, 4) // cached
	v.SliceValues(ctx, 2) // cached
	if src.openCount() != before {
		t.Error("recent slices were not cached")
	}
	v.SliceValues(ctx, 0) // evicted
	if src.openCount() != before+1 {
		t.Error("the least recently used slice was not evicted")
	}
	for _, k := range []int{-1, 12} {
		if _, err := v.SliceValues(ctx, k); radmark.ErrorCode(err) != radmark.EINVALID {
			t.Errorf("slice %d: %v", k, err)
		}
	}
}

// TestLoadThroughArchive runs Load against a real archive.Service (sqlite
// and file blobs), which reads frames by range through FrameSource, and
// compares with the phantom.
func TestLoadThroughArchive(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := sqlite.Open(ctx, "sqlite://"+filepath.Join(dir, "radmark.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	blobs, err := fsblob.Open(ctx, filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	svc := &archive.Service{Store: db, Blobs: blobs}
	spec := tinyCT()
	spec.GantryTilt = 12
	s := generate(t, spec)
	var sources []archive.Source
	for k, ds := range s.Instances {
		b := encode(t, ds, "")
		sources = append(sources, archive.Source{Name: fmt.Sprint(k), Data: bytes.NewReader(b), Size: int64(len(b))})
	}
	res, err := svc.Ingest(ctx, sources, archive.IngestOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	study, series := studySeries(s)
	v, err := volume.Load(ctx, svc, study, series)
	if err != nil {
		t.Fatal(err)
	}
	if !v.Grid.Has(volume.FindingGantryTilt) || math.Abs(v.Grid.VoxelVolume()-s.Phantom.VoxelVolume()) > 1e-9 {
		t.Errorf("findings %+v, voxel %g", v.Grid.Findings, v.Grid.VoxelVolume())
	}
	for k := 0; k < v.Grid.NumSlices; k++ {
		vals, err := v.SliceValues(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		checkSlice(t, s.Phantom, v.Grid, k, vals, identity)
	}
	// One image by itself.
	sl, vals, err := volume.LoadImage(ctx, svc, study, series, v.Grid.Slices[3].Image.SOPInstanceUID, 0)
	if err != nil {
		t.Fatal(err)
	}
	if sl.Plane != v.Grid.Slices[3].Plane {
		t.Errorf("LoadImage plane %+v, grid's %+v", sl.Plane, v.Grid.Slices[3].Plane)
	}
	checkSlice(t, s.Phantom, v.Grid, 3, vals, identity)
}

// TestLoadImageProjection: a DX radiograph gets the detector plane with
// its pixel spacing, and its stored values.
func TestLoadImageProjection(t *testing.T) {
	ctx := context.Background()
	im, err := phantom.GenerateXRay(phantom.XRaySmall())
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := im.Write(&buf); err != nil {
		t.Fatal(err)
	}
	src := newMemSource(t, buf.Bytes())
	in := src.ins[0]
	sl, vals, err := volume.LoadImage(ctx, src, in.StudyUID, in.SeriesUID, in.SOPInstanceUID, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := volume.Plane{RowDir: volume.Vec3{1, 0, 0}, ColDir: volume.Vec3{0, 1, 0}, RowSpacing: 1.4, ColSpacing: 1.4, Columns: 250, Rows: 300}
	if sl.Plane != want || sl.Image.Frame != 0 {
		t.Errorf("plane %+v, want %+v", sl.Plane, want)
	}
	if d := dist(sl.Plane.ToLPS(10.5, 0.5), sl.Plane.ToLPS(0.5, 0.5)); math.Abs(d-14) > 1e-12 {
		t.Errorf("10 columns measure %g mm, want 14", d)
	}
	bad := 0
	for y := 0; y < 300; y++ {
		for x := 0; x < 250; x++ {
			if got, w := vals[y*250+x], float32(im.ValueAt(x, y)); got != w {
				if bad++; bad < 4 {
					t.Errorf("pixel (%d,%d) = %g, want %g", x, y, got, w)
				}
			}
		}
	}
	// Frame numbers are checked; a series of one radiograph is no volume.
	if _, _, err := volume.LoadImage(ctx, src, in.StudyUID, in.SeriesUID, in.SOPInstanceUID, 2); radmark.ErrorCode(err) != radmark.EINVALID {
		t.Errorf("frame 2 of a single-frame image: %v", err)
	}
	if _, err := volume.Load(ctx, src, in.StudyUID, in.SeriesUID); radmark.ErrorCode(err) != radmark.EUNSUPPORTED {
		t.Errorf("Load of a radiograph: %v, want EUNSUPPORTED", err)
	}
	if _, _, err := volume.LoadImage(ctx, src, in.StudyUID, in.SeriesUID, "1.2.3.4", 0); radmark.ErrorCode(err) != radmark.ENOTFOUND {
		t.Errorf("unknown instance: %v", err)
	}
}

// TestModalityLUTAndColour: a Modality LUT Sequence maps stored values
// (clamping at both ends), and colour images have no modality values.
func TestModalityLUTAndColour(t *testing.T) {
	ctx := context.Background()
	ds := imageDS("1.2.826.0.9.1", nil, nil, nil, 4, 1)
	ds.SetString(dicom.TagStudyInstanceUID, "1.2.826.0.9")
	ds.SetString(dicom.TagSeriesInstanceUID, "1.2.826.0.9.0")
	ds.SetString(dicom.TagSOPClassUID, "1.2.840.10008.5.1.4.1.1.7")
	ds.SetInts(dicom.TagSamplesPerPixel, 1)
	ds.SetString(dicom.TagPhotometricInterpretation, "MONOCHROME2")
	ds.SetInts(dicom.TagBitsAllocated, 16)
	ds.SetInts(dicom.TagBitsStored, 12)
	ds.SetInts(dicom.TagHighBit, 11)
	ds.SetInts(dicom.TagPixelRepresentation, 1)
	// Stored -3, 0, 2, 100 (12-bit two's complement in 16 bits; high bits
	// set to garbage on purpose where the value is positive).
	ds.SetBytes(dicom.TagPixelData, dicom.OW, []byte{0xFD, 0x0F, 0, 0, 2, 0xF0, 100, 0})
	lut := &dicom.Dataset{}
	lut.SetIntsVR(dicom.TagLUTDescriptor, dicom.US, 3, 65535, 16) // 3 entries from -1
	lut.SetIntsVR(dicom.TagLUTData, dicom.US, 10, 20, 30)
	ds.SetItems(dicom.TagModalityLUTSequence, lut)
	src := newMemSource(t, encode(t, ds, ""))
	sl, vals, err := volume.LoadImage(ctx, src, "", "", "1.2.826.0.9.1", 0)
	if err != nil {
		t.Fatal(err)
	}
	if sl.LUT == nil || !slices.Equal(vals, []float32{10, 20, 30, 30}) {
		t.Errorf("values %v, want [10 20 30 30] through the LUT", vals)
	}
	ds.Remove(dicom.TagModalityLUTSequence)
	ds.SetFloats(dicom.TagRescaleSlope, 2)
	ds.SetFloats(dicom.TagRescaleIntercept, 1)
	ds.SetString(dicom.TagSOPInstanceUID, "1.2.826.0.9.2")
	src.add(t, encode(t, ds, ""))
	if _, vals, err := volume.LoadImage(ctx, src, "", "", "1.2.826.0.9.2", 0); err != nil || !slices.Equal(vals, []float32{-5, 1, 5, 201}) {
		t.Errorf("signed rescaled values %v (%v), want [-5 1 5 201]", vals, err)
	}

	rgb := imageDS("1.2.826.0.9.3", nil, nil, nil, 2, 1)
	rgb.SetString(dicom.TagSOPClassUID, "1.2.840.10008.5.1.4.1.1.7")
	rgb.SetInts(dicom.TagSamplesPerPixel, 3)
	rgb.SetString(dicom.TagPhotometricInterpretation, "RGB")
	rgb.SetInts(dicom.TagBitsAllocated, 8)
	rgb.SetInts(dicom.TagBitsStored, 8)
	rgb.SetBytes(dicom.TagPixelData, dicom.OB, []byte{1, 2, 3, 4, 5, 6})
	src.add(t, encode(t, rgb, ""))
	if _, _, err := volume.LoadImage(ctx, src, "", "", "1.2.826.0.9.3", 0); radmark.ErrorCode(err) != radmark.EUNSUPPORTED || !strings.Contains(err.Error(), "colour") {
		t.Errorf("RGB image: %v, want EUNSUPPORTED", err)
	}
}

// TestLoadUnreadable: an instance whose bytes do not parse is left out
// with a finding; the rest still forms the grid.
func TestLoadUnreadable(t *testing.T) {
	ctx := context.Background()
	s := generate(t, tinyCT())
	src := phantomSource(t, s, "")
	broken := src.ins[5]
	src.data[broken.SOPInstanceUID] = []byte("DICM? no.")
	study, series := studySeries(s)
	v, err := volume.Load(ctx, src, study, series)
	if err != nil {
		t.Fatal(err)
	}
	f, ok := finding(v.Grid, volume.FindingUnreadable)
	if v.Grid.NumSlices != 11 || !ok || !strings.Contains(f.Message, string(broken.SOPInstanceUID)) {
		t.Errorf("%d slices, findings %+v", v.Grid.NumSlices, v.Grid.Findings)
	}
	if !v.Grid.Has(volume.FindingGap) {
		t.Errorf("the missing slice is not reported as a gap: %+v", v.Grid.Findings)
	}
}
