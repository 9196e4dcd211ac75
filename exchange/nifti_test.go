package exchange_test

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/exchange"
	"github.com/radmark/radmark/internal/testenv"
	"github.com/radmark/radmark/nifti"
	"github.com/radmark/radmark/phantom"
)

type comparison struct {
	OursShape   []int       `json:"ours_shape"`
	RefShape    []int       `json:"ref_shape"`
	IndexMap    [][]float64 `json:"index_map"`
	AffineErr   float64     `json:"affine_err_mm"`
	Permutation bool        `json:"permutation_ok"`
	OffsetOK    bool        `json:"offset_ok"`
	SameShape   bool        `json:"same_shape"`
	MaxAbsDiff  *float64    `json:"max_abs_diff"`
	Voxels      int         `json:"voxels"`
}

// dcm2niix converts the DICOM files in dir and returns the one NIfTI it
// wrote (without tilt correction or cropping, so the grid is the series').
func dcm2niix(t *testing.T, dir string) string {
	t.Helper()
	bin := testenv.LookPath(t, "dcm2niix")
	out := t.TempDir()
	cmd := exec.Command(bin, "-z", "y", "-b", "n", "-f", "ref", "-o", out, dir)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("dcm2niix %s: %v\n%s", dir, err, b)
	}
	files, _ := filepath.Glob(filepath.Join(out, "*.nii.gz"))
	var main []string
	for _, f := range files {
		if !strings.Contains(filepath.Base(f), "Tilt") {
			main = append(main, f)
		}
	}
	if len(main) != 1 {
		t.Fatalf("dcm2niix wrote %v for %s", files, dir)
	}
	return main[0]
}

// compareWithDcm2niix exports series as NIfTI and compares it with
// dcm2niix's conversion of the files in dir: the affine to 1e-4 mm once
// the axes are matched, and every voxel.
func compareWithDcm2niix(t *testing.T, e *env, series radmark.UID, dir string) {
	t.Helper()
	im, err := e.x.ImageNIfTI(t.Context(), series)
	if err != nil {
		t.Fatal(err)
	}
	ours := filepath.Join(t.TempDir(), "ours.nii.gz")
	writeNIfTI(t, ours, im)
	ref := dcm2niix(t, dir)
	var c comparison
	python(t, &c, "compare_nifti.py", ours, ref)
	// DICOM positions are decimal strings: a stack's positions may stray
	// from any one regular affine by their rounding (the XA30 MPRAGE's
	// first step is 2.0001 mm, the rest 2 mm). dcm2niix anchors its affine
	// at one end of the stack, radmark at slice 0; both must agree to 1e-4
	// mm beyond that rounding.
	sr, err := e.x.Series(t.Context(), series)
	if err != nil {
		t.Fatal(err)
	}
	g := sr.Volume.Grid
	a := g.Affine()
	var stray float64
	for k, sl := range g.Slices {
		for r := 0; r < 3; r++ {
			stray = max(stray, math.Abs(a[r][2]*float64(k)+a[r][3]-sl.Plane.Position[r]))
		}
	}
	t.Logf("ours %v, dcm2niix %v, index map %v, affine error %.2g mm, DICOM positions stray %.2g mm from a regular grid", c.OursShape, c.RefShape, c.IndexMap, c.AffineErr, stray)
	switch {
	case !c.Permutation || !c.OffsetOK:
		t.Errorf("the grids are not the same up to axis order and direction: index map %v", c.IndexMap)
	case c.AffineErr > 1e-4+stray:
		t.Errorf("affine differs from dcm2niix's by %g mm (positions stray %g mm)", c.AffineErr, stray)
	case !c.SameShape:
		t.Errorf("shape %v, dcm2niix %v", c.OursShape, c.RefShape)
	case c.MaxAbsDiff == nil || *c.MaxAbsDiff > 1e-3:
		t.Errorf("voxels differ from dcm2niix's by up to %v", c.MaxAbsDiff)
	}
}

// TestImageNIfTIPhantomMatchesDcm2niix covers axial and double-oblique
// phantom CTs.
func TestImageNIfTIPhantomMatchesDcm2niix(t *testing.T) {
	oblique := phantom.CTSmall()
	oblique.Orientation = phantom.Oblique(20, 15)
	oblique.Slices = 24
	for name, spec := range map[string]phantom.Spec{"axial": phantom.CTSmall(), "oblique": oblique} {
		t.Run(name, func(t *testing.T) {
			ser, err := phantom.Generate(spec)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			if _, err := ser.WriteDir(dir); err != nil {
				t.Fatal(err)
			}
			e := newEnv(t)
			e.ingestDatasets(ser.Instances...)
			compareWithDcm2niix(t, e, radmark.UID(ser.SeriesInstanceUID), dir)
		})
	}
}

// TestImageNIfTISharedMatchesDcm2niix covers every CT/MR volume of the
// shared data that dcm2niix converts without resampling: axial CT,
// oblique MR, and enhanced multi-frame MR and CT.
func TestImageNIfTISharedMatchesDcm2niix(t *testing.T) {
	data := testenv.SharedData(t)
	for _, rel := range []string{
		"ct/tcia_lung-pet-ct-dx_A0002_chest-8mm",
		"ct/tcia_tcga-thca_DE-A4MA_abdomen-subset-56of269",
		"mr/tcia_brain-tumor-progression_PGBM-001_T1post",
		"mr/siemens-xa30_enhanced-mr_3d-t1w/t1w_enhanced_96frames.dcm",
		"multiframe/eCT_Supplemental.dcm",
		"annotations/dcmqi_liver-seg_ct-3slice/images",
	} {
		t.Run(rel, func(t *testing.T) {
			files := dicomFiles(t, filepath.Join(data, rel))
			dir := t.TempDir()
			for _, f := range files {
				if err := os.Symlink(f, filepath.Join(dir, filepath.Base(f))); err != nil {
					t.Fatal(err)
				}
			}
			e := newEnv(t)
			e.ingestFiles(files...)
			ins, err := e.archive.Select(t.Context(), "", "", "")
			if err != nil {
				t.Fatal(err)
			}
			compareWithDcm2niix(t, e, ins[0].SeriesUID, dir)
		})
	}
}

// TestImageNIfTIRefusesUnevenSlices: the GE head CT's slice spacing
// varies (dcm2niix too says NIfTI cannot hold it), so the export refuses
// instead of writing a misplaced volume.
func TestImageNIfTIRefusesUnevenSlices(t *testing.T) {
	data := testenv.SharedData(t)
	e := newEnv(t)
	e.ingestFiles(dicomFiles(t, filepath.Join(data, "ct/dcm_qa_ct_ge-head_gantry-tilt_variable-spacing"))...)
	ins, _ := e.archive.Select(t.Context(), "", "", "")
	_, err := e.x.ImageNIfTI(t.Context(), ins[0].SeriesUID)
	if radmark.ErrorCode(err) != radmark.EUNSUPPORTED || !strings.Contains(err.Error(), "evenly spaced") {
		t.Fatalf("err = %v, want EUNSUPPORTED about uneven slices", err)
	}
}

// TestLabelsNIfTIAlignsWithImage: the label map has the image's shape and
// affine, and nibabel finds each lesion's label at the lesion's LPS centre.
func TestLabelsNIfTIAlignsWithImage(t *testing.T) {
	e := newEnv(t)
	ser := ctPhantom(t)
	e.ingestDatasets(ser.Instances...)
	rev := e.annotatePhantom(ser, "reader-1")
	dir := t.TempDir()
	img, err := e.x.ImageNIfTI(t.Context(), radmark.UID(ser.SeriesInstanceUID))
	if err != nil {
		t.Fatal(err)
	}
	writeNIfTI(t, filepath.Join(dir, "img.nii.gz"), img)
	// Layers 0 and 1 overlap at the liver lesion: the merged map refuses.
	if _, err := e.x.LabelsNIfTI(t.Context(), e.op, rev.ID, "", -1); err == nil || !strings.Contains(err.Error(), "--layer") {
		t.Fatalf("merged export of overlapping layers: err = %v", err)
	}
	lab, err := e.x.LabelsNIfTI(t.Context(), e.op, rev.ID, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	first := writeNIfTI(t, filepath.Join(dir, "lab.nii.gz"), lab)
	again, _ := e.x.LabelsNIfTI(t.Context(), e.op, rev.ID, "", 0)
	var buf bytes.Buffer
	_ = nifti.Write(&buf, again)
	if !bytes.Equal(first, buf.Bytes()) {
		t.Error("two label exports of one revision differ")
	}
	for n, l := range ser.Phantom.LesionTruths() {
		var got struct {
			SameShape  bool    `json:"same_shape"`
			AffineDiff float64 `json:"affine_diff"`
			Index      []int   `json:"index"`
			Label      int     `json:"label"`
		}
		c := l.Centre
		python(t, &got, "check_labels.py", filepath.Join(dir, "img.nii.gz"), filepath.Join(dir, "lab.nii.gz"),
			fmt.Sprint(c[0]), fmt.Sprint(c[1]), fmt.Sprint(c[2]))
		if !got.SameShape || got.AffineDiff > 1e-6 {
			t.Fatalf("label map and image differ: %+v", got)
		}
		if got.Label != n+1 {
			t.Errorf("lesion %d at LPS %v: nibabel reads label %d at voxel %v, want %d", n, c, got.Label, got.Index, n+1)
		}
	}
}

// TestNIfTILabelImport imports a label map written the way dcm2niix lays
// out images (rows flipped) and gets the phantom's voxels back.
func TestNIfTILabelImport(t *testing.T) {
	e := newEnv(t)
	ser := ctPhantom(t)
	e.ingestDatasets(ser.Instances...)
	rev := e.annotatePhantom(ser, "reader-1")
	lab, err := e.x.LabelsNIfTI(t.Context(), e.op, rev.ID, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	// Values 1 and 3 are nodules, 2 the liver lesion: as project label ids
	// (nodule 1, liver 2, liver-lesion 3) map them explicitly.
	values := map[int]string{1: "nodule", 2: "liver-lesion", 3: "nodule"}
	flipped := flipRows(lab)
	back, err := e.x.ImportNIfTI(t.Context(), e.op, encode(t, flipped), exchange.ImportOptions{Project: e.project.ID, Reader: "model", Series: radmark.UID(ser.SeriesInstanceUID),
		Source: radmark.Source{Type: "model", Name: "net", Version: "1"}}, values)
	if err != nil {
		t.Fatal(err)
	}
	a, _, _ := e.ann.Labelmap(t.Context(), e.op, rev.ID, 0)
	b, _, _ := e.ann.Labelmap(t.Context(), e.op, back.ID, 0)
	if !a.Equal(b) {
		t.Error("the imported label map differs from the exported one")
	}
	// A label map on another grid is refused, naming the mismatch.
	small := *lab
	small.Dims[2]--
	small.Data = small.Data[:len(small.Data)-small.Dims[0]*small.Dims[1]]
	_, err = e.x.ImportNIfTI(t.Context(), e.op, encode(t, &small), exchange.ImportOptions{Project: e.project.ID, Reader: "model", Series: radmark.UID(ser.SeriesInstanceUID)}, values)
	if radmark.ErrorCode(err) != radmark.EINVALID || !strings.Contains(err.Error(), "does not match series grid") {
		t.Errorf("mismatched grid: err = %v", err)
	}
}

func encode(t *testing.T, im *nifti.Image) []byte {
	var buf bytes.Buffer
	if err := nifti.Write(&buf, im); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// flipRows reverses j and adjusts the affine so every voxel keeps its
// world position.
func flipRows(im *nifti.Image) *nifti.Image {
	out := *im
	nx, ny, nz := im.Dims[0], im.Dims[1], im.Dims[2]
	out.Data = make([]byte, len(im.Data))
	for k := 0; k < nz; k++ {
		for j := 0; j < ny; j++ {
			copy(out.Data[(k*ny+(ny-1-j))*nx:][:nx], im.Data[(k*ny+j)*nx:][:nx])
		}
	}
	for r := 0; r < 3; r++ {
		out.Affine[r][3] += out.Affine[r][1] * float64(ny-1)
		out.Affine[r][1] = -out.Affine[r][1]
	}
	return &out
}

// TestNNUNetPhantom exports a project with two cases and validates the
// layout with nibabel against nnU-Net v2's rules.
func TestNNUNetPhantom(t *testing.T) {
	e := newEnv(t)
	ser := ctPhantom(t)
	e.ingestDatasets(ser.Instances...)
	rev := e.annotatePhantom(ser, "reader-1")
	// nnU-Net needs one label per voxel: the second reader's revision
	// keeps only layer 0 (the lesions); the first's overlapping liver
	// layer must be refused with a clear error.
	dir := filepath.Join(t.TempDir(), "Dataset001_Phantom")
	if _, err := e.x.NNUNet(t.Context(), e.op, e.project.ID, dir); err == nil || !strings.Contains(err.Error(), "overlapping") {
		t.Fatalf("overlapping layers: err = %v", err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("a failed export left %s behind", dir)
	}
	segData, err := e.x.SEG(t.Context(), e.op, rev.ID, "")
	if err != nil {
		t.Fatal(err)
	}
	_ = segData
	// Drop the liver layer by importing a lesion-only NIfTI as reader-1.
	lab, _ := e.x.LabelsNIfTI(t.Context(), e.op, rev.ID, "", 0)
	values := map[int]string{1: "nodule", 2: "liver-lesion", 3: "nodule"}
	if _, err := e.x.ImportNIfTI(t.Context(), e.op, encode(t, lab), exchange.ImportOptions{Project: e.project.ID, Reader: "reader-1", Series: radmark.UID(ser.SeriesInstanceUID)}, values); err != nil {
		t.Fatal(err)
	}
	if _, err := e.x.ImportNIfTI(t.Context(), e.op, encode(t, lab), exchange.ImportOptions{Project: e.project.ID, Reader: "reader-2", Series: radmark.UID(ser.SeriesInstanceUID)}, values); err != nil {
		t.Fatal(err)
	}
	sum, err := e.x.NNUNet(t.Context(), e.op, e.project.ID, dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Cases) != 2 {
		t.Fatalf("%d cases, want 2", len(sum.Cases))
	}
	var got struct {
		Errors []string `json:"errors"`
		Cases  []struct {
			Case   string `json:"case"`
			Values []int  `json:"values"`
		} `json:"cases"`
		Dataset struct {
			ChannelNames map[string]string `json:"channel_names"`
			Labels       map[string]int    `json:"labels"`
		} `json:"dataset"`
	}
	python(t, &got, "check_nnunet.py", dir)
	if len(got.Errors) > 0 {
		t.Fatalf("nnU-Net layout: %v", got.Errors)
	}
	if got.Dataset.ChannelNames["0"] != "CT" || got.Dataset.Labels["nodule"] != 1 || got.Dataset.Labels["liver"] != 2 || got.Dataset.Labels["liver-lesion"] != 3 {
		t.Errorf("dataset.json: %+v", got.Dataset)
	}
	for _, c := range got.Cases {
		if fmt.Sprint(c.Values) != "[0 1 3]" {
			t.Errorf("case %s holds %v, want background, nodule (1) and liver lesion (3)", c.Case, c.Values)
		}
	}
}

// TestLabelsNIfTIGantryTilt: a gantry-tilted grid is written with a
// sheared sform, and nibabel still finds each lesion at its LPS centre.
func TestLabelsNIfTIGantryTilt(t *testing.T) {
	spec := phantom.CTSmall()
	spec.GantryTilt = 15
	ser, err := phantom.Generate(spec)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t)
	e.ingestDatasets(ser.Instances...)
	rev := e.annotatePhantom(ser, "reader-1")
	dir := t.TempDir()
	img, err := e.x.ImageNIfTI(t.Context(), radmark.UID(ser.SeriesInstanceUID))
	if err != nil {
		t.Fatal(err)
	}
	writeNIfTI(t, filepath.Join(dir, "img.nii.gz"), img)
	lab, err := e.x.LabelsNIfTI(t.Context(), e.op, rev.ID, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	writeNIfTI(t, filepath.Join(dir, "lab.nii.gz"), lab)
	checked := 0
	for n, l := range ser.Phantom.LesionTruths() {
		if !l.Complete {
			continue // the tilted slab does not cover it
		}
		checked++
		var got struct {
			SameShape bool  `json:"same_shape"`
			Index     []int `json:"index"`
			Label     int   `json:"label"`
		}
		c := l.Centre
		python(t, &got, "check_labels.py", filepath.Join(dir, "img.nii.gz"), filepath.Join(dir, "lab.nii.gz"),
			fmt.Sprint(c[0]), fmt.Sprint(c[1]), fmt.Sprint(c[2]))
		if !got.SameShape || got.Label != n+1 {
			t.Errorf("tilted lesion %d at LPS %v: nibabel reads label %d at voxel %v, want %d", n, c, got.Label, got.Index, n+1)
		}
	}
	if checked < 2 {
		t.Fatalf("only %d lesions lie inside the tilted grid", checked)
	}
}
