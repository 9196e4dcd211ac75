package phantom

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/radmark/radmark/dicom"
	"github.com/radmark/radmark/internal/testenv"
)

// peerSpecs are the series checked with the real DICOM tools.
func peerSpecs() map[string]Spec {
	g := geometrySpecs()
	return map[string]Spec{
		"CT":          CTSmall(),
		"MR":          MRSmall(),
		"CT oblique":  g["oblique"],
		"CT tilt":     g["gantry tilt"],
		"MR sagittal": g["sagittal"],
	}
}

// TestDciodvfy runs dicom3tools' IOD verifier on a slice of each series
// and on the X-ray: errors fail the test, warnings are logged.
func TestDciodvfy(t *testing.T) {
	bin := testenv.LookPath(t, "dciodvfy")
	files := map[string]string{}
	for name, spec := range peerSpecs() {
		spec.Slices = 3
		_, paths := writeSeries(t, spec)
		files[name] = paths[1]
	}
	dir := t.TempDir()
	for name, xs := range map[string]XRaySpec{"DX": XRaySmall()} {
		im, err := GenerateXRay(xs)
		if err != nil {
			t.Fatal(err)
		}
		files[name] = filepath.Join(dir, "dx.dcm")
		if err := im.WriteFile(files[name]); err != nil {
			t.Fatal(err)
		}
	}
	for name, path := range files {
		out, err := exec.Command(bin, path).CombinedOutput()
		text := string(out)
		if err != nil && !strings.Contains(text, "Image") {
			t.Errorf("%s: dciodvfy failed: %v\n%s", name, err, text)
			continue
		}
		if strings.Contains(text, "Error") {
			t.Errorf("%s: dciodvfy reports errors:\n%s", name, text)
			continue
		}
		t.Logf("%s: dciodvfy says (warnings allowed):\n%s", name, text)
	}
}

// TestDcmdump checks that dcmtk parses the files cleanly and reads the
// geometry we wrote.
func TestDcmdump(t *testing.T) {
	bin := testenv.LookPath(t, "dcmdump")
	dump := func(path string) (string, error) {
		cmd := exec.Command(bin, "-q", path)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err == nil && stderr.Len() > 0 {
			err = fmt.Errorf("messages on stderr: %s", stderr.String())
		}
		return string(out), err
	}
	im, err := GenerateXRay(XRaySmall())
	if err != nil {
		t.Fatal(err)
	}
	dx := filepath.Join(t.TempDir(), "dx.dcm")
	if err := im.WriteFile(dx); err != nil {
		t.Fatal(err)
	}
	out, err := dump(dx)
	if err != nil {
		t.Errorf("DX: dcmdump: %v", err)
	}
	for _, want := range []string{"(0018,1164) DS [1.4\\1.4]", "(0020,0020) CS [L\\F]", "# 150000, 1 PixelData", "(0008,2218) SQ"} {
		if !strings.Contains(out, want) {
			t.Errorf("DX: dcmdump output lacks %q", want)
		}
	}
	for name, spec := range peerSpecs() {
		spec.Slices = 2
		s, paths := writeSeries(t, spec)
		out, err := dump(paths[1])
		if err != nil {
			t.Errorf("%s: dcmdump: %v", name, err)
			continue
		}
		ipp := s.Phantom.SlicePosition(1)
		for _, want := range []string{
			fmt.Sprintf("(0020,0032) DS [%s\\%s\\%s]", ds(ipp[0]), ds(ipp[1]), ds(ipp[2])),
			fmt.Sprintf("(0028,0010) US %d", spec.Rows),
			fmt.Sprintf("(0028,0011) US %d", spec.Columns),
			fmt.Sprintf("(0028,0030) DS [%s\\%s]", ds(spec.PixelSpacing[0]), ds(spec.PixelSpacing[1])),
			"(7fe0,0010) OW",
			fmt.Sprintf("# %d, 1 PixelData", 2*spec.Rows*spec.Columns),
			"(0008,0005) CS [ISO_IR 192]",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("%s: dcmdump output lacks %q", name, want)
			}
		}
	}
}

// pydicomScript prints, for each file, what pydicom makes of it: the
// pixel array after the modality LUT and the geometry attributes.
const pydicomScript = `
import json, sys
import pydicom
from pydicom.pixel_data_handlers.util import apply_modality_lut
out = []
for path in sys.argv[1:]:
    ds = pydicom.dcmread(path)
    arr = ds.pixel_array
    if "RescaleSlope" in ds or "RescaleIntercept" in ds:
        arr = apply_modality_lut(arr, ds)
    out.append({
        "shape": list(arr.shape),
        "values": [float(v) for v in arr.ravel()],
        "ipp": [float(v) for v in ds.get("ImagePositionPatient", [])],
        "iop": [float(v) for v in ds.get("ImageOrientationPatient", [])],
        "spacing": [float(v) for v in ds.PixelSpacing],
        "patient": str(ds.PatientName),
    })
json.dump(out, sys.stdout)
`

type pydicomImage struct {
	Shape   []int
	Values  []float64
	IPP     []float64
	IOP     []float64
	Spacing []float64
	Patient string
}

func runPydicom(t *testing.T, paths ...string) []pydicomImage {
	t.Helper()
	py := testenv.Python(t)
	out, err := exec.Command(py, append([]string{"-c", pydicomScript}, paths...)...).Output()
	if err != nil {
		t.Fatalf("pydicom: %v %s", err, stderrOf(err))
	}
	var imgs []pydicomImage
	if err := json.Unmarshal(out, &imgs); err != nil {
		t.Fatal(err)
	}
	return imgs
}

// TestPydicom reads whole slices with pydicom and compares every pixel,
// after pydicom applies the rescale, with the ground truth; non-square
// anisotropic images make a transposition show.
func TestPydicom(t *testing.T) {
	testenv.Python(t)
	type job struct {
		name string
		p    *Phantom
		ks   []int // slices read: those through a lesion centre
		at   int   // index of the first in the batch
	}
	specs := peerSpecs()
	specs["CT anisotropic"] = geometrySpecs()["anisotropic"]
	var jobs []job
	var files []string
	for name, spec := range specs {
		s, paths := writeSeries(t, spec)
		j := job{name: name, p: s.Phantom, at: len(files)}
		for _, l := range s.Phantom.Lesions() {
			if _, _, k, ok := s.Phantom.NearestVoxel(l.Centre); ok && slicesIndex(j.ks, k) < 0 {
				j.ks = append(j.ks, k)
			}
		}
		if len(j.ks) == 0 {
			j.ks = []int{spec.Slices / 2}
		}
		for _, k := range j.ks {
			files = append(files, paths[k])
		}
		jobs = append(jobs, j)
	}
	imgs := runPydicom(t, files...) // one interpreter for all: importing pydicom is the slow part
	for _, jb := range jobs {
		spec, p := jb.p.Spec(), jb.p
		for n, k := range jb.ks {
			img := imgs[jb.at+n]
			if len(img.Shape) != 2 || img.Shape[0] != spec.Rows || img.Shape[1] != spec.Columns {
				t.Fatalf("%s: pixel_array shape %v, want [%d %d] (rows, columns)", jb.name, img.Shape, spec.Rows, spec.Columns)
			}
			if ipp := p.SlicePosition(k); !near(LPS{img.IPP[0], img.IPP[1], img.IPP[2]}, ipp, 1e-9) {
				t.Errorf("%s slice %d: pydicom IPP %v, want %v", jb.name, k, img.IPP, ipp)
			}
			bad := 0
			for j := 0; j < spec.Rows; j++ {
				for i := 0; i < spec.Columns; i++ {
					want := p.Value(p.LabelAt(i, j, k))
					if got := img.Values[j*spec.Columns+i]; got != want && bad < 5 {
						bad++
						t.Errorf("%s slice %d pixel (column %d, row %d): pydicom %g, want %g", jb.name, k, i, j, got, want)
					}
				}
			}
		}
		// The lesion centres specifically: pydicom's value there is the
		// lesion's HU (or MR intensity).
		for n, l := range p.Lesions() {
			i, j, k, ok := p.NearestVoxel(l.Centre)
			if !ok {
				continue
			}
			want := float64(l.HU)
			if spec.Modality == MR {
				want = float64(l.MR)
			}
			img := imgs[jb.at+slicesIndex(jb.ks, k)]
			if got := img.Values[j*spec.Columns+i]; got != want {
				t.Errorf("%s: pydicom reads %g at the centre of lesion %d (%s), want %g", jb.name, got, n, l.Name, want)
			}
		}
	}
}

func slicesIndex(ks []int, k int) int {
	for n, v := range ks {
		if v == k {
			return n
		}
	}
	return -1
}

func stderrOf(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return string(ee.Stderr)
	}
	return ""
}

// ds formats a number as the package writes a DS value.
func ds(v float64) string { return dicom.FormatDS(v) }

// niftiScript reports, for each value given, the voxels of a NIfTI image
// holding exactly that value (after its scaling): their count and centroid
// in voxel indices, and the centroid mapped to RAS by the sform and by the
// qform.
const niftiScript = `
import json, sys
import nibabel as nib, numpy as np
img = nib.load(sys.argv[1])
data = np.asarray(img.dataobj, dtype=np.float64)
sform, scode = img.get_sform(coded=True)
qform, qcode = img.get_qform(coded=True)
out = {"shape": list(data.shape), "sform_code": int(scode), "qform_code": int(qcode),
       "zooms": [float(z) for z in img.header.get_zooms()], "values": []}
for v in json.loads(sys.argv[2]):
    idx = np.argwhere(data == v)
    entry = {"value": v, "count": int(len(idx))}
    if len(idx):
        c = np.r_[idx.mean(axis=0)[:3], 1.0]
        entry["sform"] = [float(x) for x in (sform @ c)[:3]] if sform is not None else None
        entry["qform"] = [float(x) for x in (qform @ c)[:3]] if qform is not None else None
    out["values"].append(entry)
json.dump(out, sys.stdout)
`

// alignedObliqueSpec is a double-oblique, anisotropic, non-square grid
// whose origin is solved so the lung nodule's centre is exactly voxel
// (40, 45, 50).
func alignedObliqueSpec(t *testing.T) Spec {
	s := Spec{Modality: CT, Rows: 100, Columns: 120, Slices: 64,
		PixelSpacing: [2]float64{2.5, 2.0}, SliceSpacing: 2.2, SliceThickness: 2.2,
		Orientation: Oblique(15, 10)}
	p := mustNew(t, s)
	s.Origin = DefaultAnatomy().Lesions[0].Centre.Sub(p.VoxelCentre(40, 45, 50))
	return s
}

// TestDcm2niix converts series with dcm2niix and checks with nibabel that
// the NIfTI affine puts each lesion where the phantom says it is: the
// centroid of the voxels holding the lesion's value, mapped by the sform
// and by the qform, must equal the centroid of the lesion's voxels in LPS
// (x and y negated for RAS) within 0.01 mm. Where the lesion's centre is
// on the grid's symmetry points, that centroid is the centre itself.
func TestDcm2niix(t *testing.T) {
	bin := testenv.LookPath(t, "dcm2niix")
	py := testenv.Python(t)
	specs := map[string]Spec{
		"CTSmall":          CTSmall(),
		"oblique aligned":  alignedObliqueSpec(t),
		"MRSmall":          MRSmall(),
		"descending slice": geometrySpecs()["descending"],
	}
	for name, spec := range specs {
		t.Run(name, func(t *testing.T) {
			s, paths := writeSeries(t, spec)
			p := s.Phantom
			out := t.TempDir()
			cmd := exec.Command(bin, "-z", "n", "-b", "n", "-f", "phantom", "-o", out, filepath.Dir(paths[0]))
			if log, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("dcm2niix: %v\n%s", err, log)
			}
			niis, _ := filepath.Glob(filepath.Join(out, "*.nii"))
			if len(niis) != 1 {
				entries, _ := os.ReadDir(out)
				t.Fatalf("dcm2niix made %d NIfTI files (%v), want 1", len(niis), entries)
			}
			truths := p.LesionTruths()
			var values []float64
			for _, lt := range truths {
				values = append(values, p.Value(lt.Label))
			}
			arg, _ := json.Marshal(values)
			raw, err := exec.Command(py, "-c", niftiScript, niis[0], string(arg)).Output()
			if err != nil {
				t.Fatalf("nibabel: %v %s", err, stderrOf(err))
			}
			var res struct {
				Shape     []int
				SformCode int `json:"sform_code"`
				QformCode int `json:"qform_code"`
				Zooms     []float64
				Values    []struct {
					Value        float64
					Count        int
					Sform, Qform []float64
				}
			}
			if err := json.Unmarshal(raw, &res); err != nil {
				t.Fatal(err)
			}
			if res.SformCode == 0 || res.QformCode == 0 {
				t.Errorf("sform_code %d, qform_code %d: both should be set", res.SformCode, res.QformCode)
			}
			centroids := p.lesionCentroids()
			checked := 0
			for n, lt := range truths {
				if !lt.Complete {
					continue
				}
				got := res.Values[n]
				if got.Count != lt.VoxelCount {
					t.Errorf("lesion %d (%s): %d NIfTI voxels hold %g, phantom has %d", n, lt.Name, got.Count, got.Value, lt.VoxelCount)
					continue
				}
				want := centroids[n].RAS()
				if symmetric(lt.Index) {
					if c := lt.Centre.RAS(); math.Abs(c[0]-want[0]) > 1e-9 || math.Abs(c[1]-want[1]) > 1e-9 || math.Abs(c[2]-want[2]) > 1e-9 {
						t.Errorf("lesion %d: voxel centroid %v is not the centre %v", n, want, c)
					}
				}
				for form, ras := range map[string][]float64{"sform": got.Sform, "qform": got.Qform} {
					d := math.Hypot(math.Hypot(ras[0]-want[0], ras[1]-want[1]), ras[2]-want[2])
					if d > 0.01 {
						t.Errorf("lesion %d (%s): the %s puts it at RAS %.4f, want %.4f (off by %.4f mm)", n, lt.Name, form, ras, want, d)
					}
					t.Logf("lesion %d (%s, centre on symmetry point %v): %s centroid RAS %.4f, truth %.4f, |Δ| %.2g mm", n, lt.Name, symmetric(lt.Index), form, ras, want, d)
				}
				checked++
			}
			if checked < 2 {
				t.Errorf("only %d lesions lie wholly in the grid", checked)
			}
		})
	}
}

// symmetric reports whether a continuous index is on the lattice's
// symmetry points (every coordinate an integer or a half-integer), where
// a sphere's voxels are symmetric about its centre.
func symmetric(idx [3]float64) bool {
	for _, v := range idx {
		f := math.Abs(2*v - math.Round(2*v))
		if f > 1e-9 {
			return false
		}
	}
	return true
}

// lesionCentroids returns the mean LPS position of the voxels of each
// lesion.
func (p *Phantom) lesionCentroids() []LPS {
	labels := p.Labels()
	cols, rows, slices := p.Dims()
	n := len(p.Lesions())
	sums := make([]LPS, n)
	counts := make([]int, n)
	for k := 0; k < slices; k++ {
		for j := 0; j < rows; j++ {
			for i := 0; i < cols; i++ {
				if t := labels[i+cols*(j+rows*k)]; t.IsLesion() {
					sums[t.LesionIndex()] = sums[t.LesionIndex()].Add(p.VoxelCentre(i, j, k))
					counts[t.LesionIndex()]++
				}
			}
		}
	}
	for m := range sums {
		sums[m] = sums[m].Scale(1 / float64(counts[m]))
	}
	return sums
}
