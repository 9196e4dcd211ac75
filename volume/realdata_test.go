package volume_test

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/dicom"
	"github.com/radmark/radmark/dicom/codec"
	"github.com/radmark/radmark/internal/testenv"
	"github.com/radmark/radmark/volume"
)

// Real series of ../shared/data (see its MANIFEST.md).
const (
	lungCT      = "ct/tcia_lung-pet-ct-dx_A0002_chest-8mm"
	abdomenCT   = "ct/tcia_tcga-thca_DE-A4MA_abdomen-subset-56of269"
	tiltCT      = "ct/dcm_qa_ct_ge-head_gantry-tilt_variable-spacing"
	obliqueMR   = "mr/tcia_brain-tumor-progression_PGBM-001_T1post"
	enhancedMR  = "mr/siemens-xa30_enhanced-mr_3d-t1w/t1w_enhanced_96frames.dcm"
	enhancedEPI = "mr/enhanced-multiframe/siemens_XA10_6_1.dcm"
	enhancedCT  = "multiframe/eCT_Supplemental.dcm"
	legacyCT    = "annotations/dcmqi_23x38x3/legacy-converted-enhanced-ct/mf.dcm"
	smallCT     = "annotations/dcmqi_23x38x3/images"
)

// peer runs testdata/peer.py (pydicom, numpy, nibabel) in mode with the
// request on stdin and decodes its JSON answer.
func peer(t *testing.T, req any, ans any, args ...string) {
	t.Helper()
	py := testenv.Python(t)
	b, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(py, append([]string{filepath.Join("testdata", "peer.py")}, args...)...)
	cmd.Stdin = bytes.NewReader(b)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("peer.py %v: %v\n%s", args, err, stderr.String())
	}
	if err := json.Unmarshal(out, ans); err != nil {
		t.Fatalf("peer.py %v answered %q: %v", args, out, err)
	}
}

// seriesFiles lists the DICOM files of a folder, or the one file named.
func seriesFiles(t *testing.T, data, rel string) []string {
	t.Helper()
	p := filepath.Join(data, rel)
	if strings.HasSuffix(rel, ".dcm") {
		return []string{p}
	}
	files, err := filepath.Glob(filepath.Join(p, "*.dcm"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no DICOM files in %s", p)
	}
	sort.Strings(files)
	return files
}

func header(t *testing.T, path string) *dicom.Dataset {
	t.Helper()
	f, err := dicom.ParseFile(path, dicom.ParseOptions{StopAtPixelData: true})
	if err != nil {
		t.Fatal(err)
	}
	return f.Dataset
}

// loadFiles loads the series formed by files through a memory Source.
func loadFiles(t *testing.T, files []string) (*volume.Volume, *memSource) {
	t.Helper()
	src := fileSource(t, files...)
	in := src.ins[0]
	v, err := volume.Load(context.Background(), src, in.StudyUID, in.SeriesUID)
	if err != nil {
		t.Fatal(err)
	}
	return v, src
}

// samplePixels returns pixel indices covering an image: its corners,
// centre and a spread of others.
func samplePixels(cols, rows, n int) [][2]int {
	out := [][2]int{{0, 0}, {cols - 1, 0}, {0, rows - 1}, {cols - 1, rows - 1}, {cols / 2, rows / 2}}
	x := uint32(12345)
	for len(out) < n {
		x = x*1664525 + 1013904223
		i := int(x>>8) % cols
		x = x*1664525 + 1013904223
		out = append(out, [2]int{i, int(x>>8) % rows})
	}
	return out
}

type pixelEntry struct {
	Path   string       `json:"path"`
	Frame  int          `json:"frame"`
	Points [][5]float64 `json:"points"`
}

// TestPlaneAgainstPydicom compares pixel → LPS with numpy's IPP +
// i·Δcol·r + j·Δrow·c on the files' own attributes read by pydicom: axial
// CT, gantry-tilted CT, oblique MR, enhanced multi-frame MR and CT
// (per-frame and shared functional groups), a legacy converted enhanced
// CT, a CT localizer and a big-endian MR. The same is done through grids
// (IndexToLPS at every slice), including the tilted, unevenly spaced one.
func TestPlaneAgainstPydicom(t *testing.T) {
	data := testenv.SharedData(t)
	type item struct {
		rel    string
		frames []int
	}
	items := []item{
		{lungCT + "/1-01.dcm", nil}, {lungCT + "/1-30.dcm", nil},
		{tiltCT + "/01.dcm", nil}, {tiltCT + "/28.dcm", nil},
		{obliqueMR + "/1-01.dcm", nil}, {obliqueMR + "/1-13.dcm", nil}, {obliqueMR + "/1-24.dcm", nil},
		{enhancedMR, []int{1, 2, 48, 96}},
		{enhancedEPI, []int{1, 3, 6}},
		{enhancedCT, []int{1, 2}},
		{legacyCT, []int{1, 2, 3}},
		{"xray/ct-localizer/philips_ingenuity_phantom_localizer.dcm", nil},
		{"syntaxes/dcm_qa_ts_siemens-mr/3.dcm", nil},
		{"other/tcia_prostate-mri_mr_slice.dcm", nil},
	}
	var req []pixelEntry
	for _, it := range items {
		path := filepath.Join(data, it.rel)
		ds := header(t, path)
		frames := it.frames
		if frames == nil {
			frames = []int{0}
		}
		for _, f := range frames {
			p, err := volume.PlaneOf(ds, f)
			if err != nil {
				t.Fatalf("%s frame %d: %v", it.rel, f, err)
			}
			e := pixelEntry{Path: path, Frame: f}
			for _, px := range samplePixels(p.Columns, p.Rows, 12) {
				q := p.ToLPS(float64(px[0])+0.5, float64(px[1])+0.5)
				e.Points = append(e.Points, [5]float64{float64(px[0]), float64(px[1]), q[0], q[1], q[2]})
				if x, y, off := p.FromLPS(q); math.Abs(x-float64(px[0])-0.5) > 1e-9 || math.Abs(y-float64(px[1])-0.5) > 1e-9 || math.Abs(off) > 1e-9 {
					t.Errorf("%s: FromLPS(ToLPS) of pixel %v gave (%g, %g, %g)", it.rel, px, x, y, off)
				}
			}
			req = append(req, e)
		}
	}
	// Through grids: every slice of the tilted CT and the oblique MR, and
	// every 7th frame of the enhanced MR.
	for _, rel := range []string{tiltCT, obliqueMR, enhancedMR} {
		files := seriesFiles(t, data, rel)
		v, src := loadFiles(t, files)
		pathOf := map[radmark.UID]string{}
		for n, in := range src.ins {
			pathOf[in.SOPInstanceUID] = files[n]
		}
		g := v.Grid
		for k := 0; k < g.NumSlices; k++ {
			if rel == enhancedMR && k%7 != 0 {
				continue
			}
			s := g.Slices[k]
			e := pixelEntry{Path: pathOf[s.Image.SOPInstanceUID], Frame: s.Image.Frame}
			for _, px := range samplePixels(g.Columns, g.Rows, 6) {
				q := g.IndexToLPS(float64(px[0]), float64(px[1]), float64(k))
				e.Points = append(e.Points, [5]float64{float64(px[0]), float64(px[1]), q[0], q[1], q[2]})
			}
			req = append(req, e)
		}
	}
	var ans struct {
		Max     float64 `json:"max_mm"`
		Entries []struct {
			Path  string  `json:"path"`
			Frame int     `json:"frame"`
			Max   float64 `json:"max_mm"`
		} `json:"entries"`
	}
	peer(t, req, &ans, "pixels")
	if len(ans.Entries) != len(req) {
		t.Fatalf("pydicom answered %d of %d entries", len(ans.Entries), len(req))
	}
	for _, e := range ans.Entries {
		if !(e.Max < 1e-3) {
			t.Errorf("%s frame %d: %g mm from pydicom", e.Path, e.Frame, e.Max)
		}
	}
	t.Logf("pixel → LPS: %d images, max difference from pydicom/numpy %.3g mm", len(req), ans.Max)
}

// TestGridAgainstDcm2niix converts series with dcm2niix and compares the
// voxel lattice (our affine against its sform, in LPS) and, at sampled
// voxels of every slice, the voxel centre and the value in modality units
// (ours from SliceValues, its from the NIfTI data and scaling). dcm2niix
// flips and permutes axes, so lattices are compared through their
// voxel-centre mappings, not as raw matrices.
func TestGridAgainstDcm2niix(t *testing.T) {
	data := testenv.SharedData(t)
	dcm2niix := testenv.LookPath(t, "dcm2niix")
	testenv.Python(t)
	for _, rel := range []string{lungCT, abdomenCT, obliqueMR, enhancedMR, enhancedEPI, enhancedCT, legacyCT, smallCT} {
		t.Run(rel, func(t *testing.T) {
			files := seriesFiles(t, data, rel)
			in := filepath.Join(t.TempDir(), "in")
			out := filepath.Join(t.TempDir(), "out")
			for _, d := range []string{in, out} {
				if err := os.MkdirAll(d, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			for _, f := range files {
				b, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(in, filepath.Base(f)), b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			cmd := exec.Command(dcm2niix, "-z", "n", "-b", "n", "-f", "out", "-o", out, in)
			if log, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("dcm2niix: %v\n%s", err, log)
			}
			niis, _ := filepath.Glob(filepath.Join(out, "*.nii"))
			if len(niis) != 1 {
				t.Fatalf("dcm2niix wrote %v, want one NIfTI", niis)
			}

			v, _ := loadFiles(t, files)
			g := v.Grid
			if len(g.Findings) != 0 {
				t.Errorf("findings on a regular series: %+v", g.Findings)
			}
			var req struct {
				Points [][4]float64 `json:"points"`
			}
			ctx := context.Background()
			for k := 0; k < g.NumSlices; k++ {
				vals, err := v.SliceValues(ctx, k)
				if err != nil {
					t.Fatal(err)
				}
				for _, px := range samplePixels(g.Columns, g.Rows, 40) {
					q := g.IndexToLPS(float64(px[0]), float64(px[1]), float64(k))
					req.Points = append(req.Points, [4]float64{q[0], q[1], q[2], float64(vals[px[1]*g.Columns+px[0]])})
				}
			}
			var ans struct {
				Sform    [4][4]float64 `json:"sform"`
				Shape    []int         `json:"shape"`
				MaxMM    float64       `json:"max_mm"`
				MaxValue float64       `json:"max_value_diff"`
				Outside  int           `json:"outside"`
			}
			peer(t, req, &ans, "nifti", niis[0])
			if n := ans.Shape[0] * ans.Shape[1] * ans.Shape[2]; n != g.Columns*g.Rows*g.NumSlices {
				t.Errorf("NIfTI shape %v, grid %d×%d×%d", ans.Shape, g.Columns, g.Rows, g.NumSlices)
			}
			if ans.Outside != 0 || !(ans.MaxMM < 1e-3) || !(ans.MaxValue < 1e-3) {
				t.Errorf("sampled voxels: %d outside the NIfTI, centres up to %g mm apart, values up to %g apart", ans.Outside, ans.MaxMM, ans.MaxValue)
			}
			affErr := compareLattice(t, g, ans.Sform, ans.Shape)
			t.Logf("%s: %d×%d×%d, affine corners within %.3g mm of dcm2niix's voxel centres, %d sampled voxels within %.3g mm, values within %.3g",
				rel, g.Columns, g.Rows, g.NumSlices, affErr, len(req.Points), ans.MaxMM, ans.MaxValue)
		})
	}
}

// compareLattice checks that Affine's voxel centres are dcm2niix's: M =
// B⁻¹·A (B the sform in LPS) must be a signed permutation with an integer
// translation mapping the grid onto the NIfTI's index box, and each corner
// of the grid must land within 1e-3 mm of a NIfTI voxel centre. It returns
// the largest corner distance.
func compareLattice(t *testing.T, g *volume.Grid, sform [4][4]float64, shape []int) float64 {
	t.Helper()
	b := sform
	for c := 0; c < 4; c++ {
		b[0][c], b[1][c] = -b[0][c], -b[1][c] // RAS → LPS
	}
	binv, ok := invert4(b)
	if !ok {
		t.Fatalf("singular sform %v", sform)
	}
	a := g.Affine()
	m := mul4(binv, a)
	for c := 0; c < 3; c++ {
		ones := 0
		for r := 0; r < 3; r++ {
			switch v := math.Abs(m[r][c]); {
			case math.Abs(v-1) < 1e-4:
				ones++
			case v > 1e-4:
				t.Fatalf("grid axis %d is not a NIfTI axis: B⁻¹A =\n%v", c, m)
			}
		}
		if ones != 1 {
			t.Fatalf("grid axis %d maps to %d NIfTI axes: B⁻¹A =\n%v", c, ones, m)
		}
	}
	var worst float64
	for _, corner := range [][3]int{{0, 0, 0}, {1, 0, 0}, {0, 1, 0}, {0, 0, 1}, {1, 1, 0}, {1, 0, 1}, {0, 1, 1}, {1, 1, 1}} {
		v := [4]float64{float64(corner[0] * (g.Columns - 1)), float64(corner[1] * (g.Rows - 1)), float64(corner[2] * (g.NumSlices - 1)), 1}
		p := apply4(a, v)
		u := apply4(binv, p)
		var r [4]float64
		for n := 0; n < 3; n++ {
			r[n] = math.Round(u[n])
			if r[n] < 0 || int(r[n]) >= shape[n] {
				t.Errorf("grid corner %v falls outside the NIfTI at %v", corner, u)
			}
		}
		r[3] = 1
		q := apply4(b, r)
		worst = math.Max(worst, math.Sqrt((p[0]-q[0])*(p[0]-q[0])+(p[1]-q[1])*(p[1]-q[1])+(p[2]-q[2])*(p[2]-q[2])))
	}
	if !(worst < 1e-3) {
		t.Errorf("grid corners lie up to %g mm from dcm2niix's voxel centres", worst)
	}
	return worst
}

func apply4(m [4][4]float64, v [4]float64) [4]float64 {
	var out [4]float64
	for r := 0; r < 4; r++ {
		for c := 0; c < 4; c++ {
			out[r] += m[r][c] * v[c]
		}
	}
	return out
}

func mul4(a, b [4][4]float64) [4][4]float64 {
	var out [4][4]float64
	for r := 0; r < 4; r++ {
		for c := 0; c < 4; c++ {
			for k := 0; k < 4; k++ {
				out[r][c] += a[r][k] * b[k][c]
			}
		}
	}
	return out
}

// invert4 inverts a 4×4 matrix by Gauss-Jordan elimination with partial
// pivoting.
func invert4(m [4][4]float64) ([4][4]float64, bool) {
	var a [4][8]float64
	for r := 0; r < 4; r++ {
		copy(a[r][:4], m[r][:])
		a[r][4+r] = 1
	}
	for c := 0; c < 4; c++ {
		p := c
		for r := c + 1; r < 4; r++ {
			if math.Abs(a[r][c]) > math.Abs(a[p][c]) {
				p = r
			}
		}
		if math.Abs(a[p][c]) < 1e-12 {
			return [4][4]float64{}, false
		}
		a[c], a[p] = a[p], a[c]
		d := a[c][c]
		for k := range a[c] {
			a[c][k] /= d
		}
		for r := 0; r < 4; r++ {
			if r != c && a[r][c] != 0 {
				f := a[r][c]
				for k := range a[r] {
					a[r][k] -= f * a[c][k]
				}
			}
		}
	}
	var inv [4][4]float64
	for r := 0; r < 4; r++ {
		copy(inv[r][:], a[r][4:])
	}
	return inv, true
}

// TestGantryTiltSeries: the GE head CT with an 18.5° tilt and slices that
// change from 4 mm to 7 mm is one sheared grid with two findings and no
// gap; integral indices land on the actual slices (checked against
// pydicom in TestPlaneAgainstPydicom).
func TestGantryTiltSeries(t *testing.T) {
	data := testenv.SharedData(t)
	v, _ := loadFiles(t, seriesFiles(t, data, tiltCT))
	g := v.Grid
	if got := strings.Join(codes(g), ","); got != "gantry_tilt,uneven_spacing" {
		t.Fatalf("findings %+v", g.Findings)
	}
	tilt, _ := finding(g, volume.FindingGantryTilt)
	if !strings.Contains(tilt.Message, "advance at 18.50°") || !strings.Contains(tilt.Message, "GantryDetectorTilt is 18.5°") {
		t.Errorf("tilt finding %q", tilt.Message)
	}
	uneven, _ := finding(g, volume.FindingUnevenSpacing)
	if uneven.Slice != 13 || !strings.Contains(uneven.Message, "from 1.081 to 6.999 mm") {
		t.Errorf("uneven finding %+v", uneven)
	}
	for k := 0; k < g.NumSlices; k++ {
		want := g.Slices[k].Plane.Position
		if got := g.IndexToLPS(0, 0, float64(k)); !near(got, want, 1e-9) {
			t.Errorf("slice %d at %v, its image at %v", k, got, want)
		}
		if got := g.LPSToIndex(g.Slices[k].Plane.ToLPS(100.5, 200.5)); !near(got, volume.Vec3{100, 200, float64(k)}, 1e-6) {
			t.Errorf("pixel (100,200) of slice %d at index %v", k, got)
		}
	}
}

type valueEntry struct {
	Path    string       `json:"path"`
	Frame   int          `json:"frame"`
	Samples [][3]float64 `json:"samples"`
}

// TestValuesAgainstPydicom compares values in modality units with
// pydicom's pixel_array through the rescale or Modality LUT: CT in HU,
// MR, big-endian and RLE encodings, a Modality LUT Sequence, a CR with a
// fractional slope, float pixel data, multi-frame frames with functional
// group rescale, and an enhanced MR without geometry.
func TestValuesAgainstPydicom(t *testing.T) {
	data := testenv.SharedData(t)
	type item struct {
		rel   string
		frame int
	}
	items := []item{
		{lungCT + "/1-15.dcm", 0},
		{obliqueMR + "/1-12.dcm", 0},
		{"syntaxes/dcm_qa_ts_siemens-mr/3.dcm", 0},
		{"syntaxes/pydicom/MR_small_RLE.dcm", 0},
		{"syntaxes/pydicom/mlut_18.dcm", 0},
		{"annotations/highdicom/cr-16px/cr_image_pydicom-dicomdirtests-CR1_6154.dcm", 0},
		{"multiframe/parametric_map_float.dcm", 0},
		{"multiframe/emri_small_big_endian.dcm", 1},
		{"multiframe/emri_small_big_endian.dcm", 10},
		{enhancedCT, 2},
		{enhancedMR, 50},
		{legacyCT, 3},
	}
	ctx := context.Background()
	var req []valueEntry
	for _, it := range items {
		path := filepath.Join(data, it.rel)
		src := fileSource(t, path)
		in := src.ins[0]
		s, vals, err := volume.LoadImage(ctx, src, in.StudyUID, in.SeriesUID, in.SOPInstanceUID, it.frame)
		if err != nil {
			t.Fatalf("%s frame %d: %v", it.rel, it.frame, err)
		}
		if len(vals) != s.Plane.Columns*s.Plane.Rows {
			t.Fatalf("%s: %d values for %d×%d", it.rel, len(vals), s.Plane.Columns, s.Plane.Rows)
		}
		e := valueEntry{Path: path, Frame: it.frame}
		for _, px := range samplePixels(s.Plane.Columns, s.Plane.Rows, 400) {
			e.Samples = append(e.Samples, [3]float64{float64(px[0]), float64(px[1]), float64(vals[px[1]*s.Plane.Columns+px[0]])})
		}
		req = append(req, e)
	}
	var ans struct {
		Max     float64 `json:"max_diff"`
		Entries []struct {
			Path  string  `json:"path"`
			Frame int     `json:"frame"`
			Max   float64 `json:"max_diff"`
			Rel   float64 `json:"max_rel"`
		} `json:"entries"`
	}
	peer(t, req, &ans, "values")
	if len(ans.Entries) != len(req) {
		t.Fatalf("pydicom answered %d of %d entries", len(ans.Entries), len(req))
	}
	for _, e := range ans.Entries {
		// float32 keeps 24 bits: relative differences up to 1e-7 are rounding.
		if !(e.Rel < 1e-6) {
			t.Errorf("%s frame %d: values differ from pydicom's by up to %g (relative %g)", e.Path, e.Frame, e.Max, e.Rel)
		}
	}
	t.Logf("values: %d images, max difference from pydicom %.3g", len(req), ans.Max)
}

// TestSyntaxesAgree decodes one CT slice stored in twelve transfer
// syntaxes: the lossless ones must give exactly the values of the
// uncompressed original, the lossy ones values close to them.
func TestSyntaxesAgree(t *testing.T) {
	data := testenv.SharedData(t)
	files, _ := filepath.Glob(filepath.Join(data, "syntaxes/generated_from_tcia-lung-ct-slice15/*.dcm"))
	if len(files) != 12 {
		t.Fatalf("%d files, want 12", len(files))
	}
	sort.Strings(files)
	ctx := context.Background()
	load := func(path string) (*volume.Slice, []float32, error) {
		src := fileSource(t, path)
		in := src.ins[0]
		return volume.LoadImage(ctx, src, in.StudyUID, in.SeriesUID, in.SOPInstanceUID, 0)
	}
	refSlice, ref, err := load(files[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files[1:] {
		pf, err := dicom.ParseFile(f, dicom.ParseOptions{StopAtPixelData: true})
		if err != nil {
			t.Fatal(err)
		}
		uid := pf.TransferSyntax.UID
		syntax, _ := dicom.LookupTransferSyntax(uid)
		if syntax.Encapsulated && !codec.Supported(uid) {
			t.Logf("%s: %s is not decodable in this build", filepath.Base(f), syntax.Name)
			continue
		}
		s, vals, err := load(f)
		if err != nil {
			t.Errorf("%s: %v", filepath.Base(f), err)
			continue
		}
		if s.Plane != refSlice.Plane {
			t.Errorf("%s: plane %+v differs", filepath.Base(f), s.Plane)
		}
		var maxDiff, sum float64
		for i := range ref {
			d := math.Abs(float64(vals[i] - ref[i]))
			maxDiff = math.Max(maxDiff, d)
			sum += d
		}
		mean := sum / float64(len(ref))
		switch {
		case !syntax.Lossy && maxDiff != 0:
			t.Errorf("%s (%s, lossless): values differ by up to %g HU", filepath.Base(f), syntax.Name, maxDiff)
		case syntax.Lossy && mean > 25:
			t.Errorf("%s (%s, lossy): mean difference %g HU", filepath.Base(f), syntax.Name, mean)
		}
		t.Logf("%-60s max |Δ| %6.1f HU, mean %5.2f HU", filepath.Base(f), maxDiff, mean)
	}
}

// TestEnhanced4DSeries: four enhanced MR instances, each one time point
// of the same six positions, form a grid of 24 frames with every repeat
// reported as a duplicate position and nothing else.
func TestEnhanced4DSeries(t *testing.T) {
	data := testenv.SharedData(t)
	v, _ := loadFiles(t, seriesFiles(t, data, "mr/enhanced-multiframe"))
	g := v.Grid
	if g.NumSlices != 24 || len(g.Findings) != 18 {
		t.Fatalf("%d slices, %d findings: %+v", g.NumSlices, len(g.Findings), g.Findings)
	}
	for n, f := range g.Findings {
		if f.Code != volume.FindingDuplicatePosition || f.Slice != n/3*4+n%3+1 {
			t.Errorf("finding %d: %+v", n, f)
		}
	}
	// Every frame of a time point is a slice, and its values come from
	// that frame.
	ctx := context.Background()
	for _, k := range []int{0, 5, 23} {
		vals, err := v.SliceValues(ctx, k)
		if err != nil || len(vals) != 64*64 {
			t.Fatalf("slice %d: %d values, %v", k, len(vals), err)
		}
	}
}
