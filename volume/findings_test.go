package volume_test

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/dicom"
	"github.com/radmark/radmark/phantom"
	"github.com/radmark/radmark/volume"
)

// tinyCT is a 16×16×12 CT phantom with 16 mm pixels and 2 mm slices: its
// geometry is real DICOM, its pixels are few.
func tinyCT() phantom.Spec {
	return phantom.Spec{Modality: phantom.CT, Rows: 16, Columns: 16, Slices: 12,
		PixelSpacing: [2]float64{16, 16}, SliceSpacing: 2, Origin: phantom.LPS{-128, -128, -12}, Seed: 3}
}

func generate(t testing.TB, spec phantom.Spec) *phantom.Series {
	t.Helper()
	s, err := phantom.Generate(spec)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// images turns a phantom series into grid images, listed last slice first.
func images(s *phantom.Series) []volume.Image {
	var out []volume.Image
	for k := len(s.Instances) - 1; k >= 0; k-- {
		ds := s.Instances[k]
		out = append(out, volume.Image{Ref: radmark.ImageRef{SOPInstanceUID: radmark.UID(ds.String(dicom.TagSOPInstanceUID))}, Dataset: ds})
	}
	return out
}

// copyImage clones image ds under a new SOP Instance UID.
func copyImage(ds *dicom.Dataset, sop string) volume.Image {
	c := &dicom.Dataset{Elements: slices.Clone(ds.Elements)}
	c.SetString(dicom.TagSOPInstanceUID, sop)
	return volume.Image{Ref: radmark.ImageRef{SOPInstanceUID: radmark.UID(sop)}, Dataset: c}
}

// TestGridMatchesPhantomAffine compares the grid built from the phantom's
// DICOM headers with the phantom's own affine (its ground truth, computed
// from the spec, not from DICOM), on axial, oblique, sagittal, coronal and
// gantry-tilted series, and on one stacked against the normal.
func TestGridMatchesPhantomAffine(t *testing.T) {
	specs := map[string]func(*phantom.Spec){
		"axial":           func(s *phantom.Spec) {},
		"double oblique":  func(s *phantom.Spec) { s.Orientation = phantom.Oblique(20, 35) },
		"sagittal":        func(s *phantom.Spec) { s.Orientation = phantom.Sagittal },
		"coronal":         func(s *phantom.Spec) { s.Orientation = phantom.Coronal },
		"gantry tilt 15°": func(s *phantom.Spec) { s.GantryTilt = 15 },
		"head first":      func(s *phantom.Spec) { s.SliceSpacing = -2.5 },
		"anisotropic":     func(s *phantom.Spec) { s.PixelSpacing = [2]float64{12, 16.5}; s.Rows = 20 },
	}
	for name, modify := range specs {
		t.Run(name, func(t *testing.T) {
			spec := tinyCT()
			modify(&spec)
			s := generate(t, spec)
			p := s.Phantom
			g, err := volume.BuildGrid(images(s))
			if err != nil {
				t.Fatal(err)
			}
			cols, rows, n := p.Dims()
			if g.Columns != cols || g.Rows != rows || g.NumSlices != n {
				t.Fatalf("grid %d×%d×%d, phantom %d×%d×%d", g.Columns, g.Rows, g.NumSlices, cols, rows, n)
			}
			// Our slice k is the phantom's slice kp: the same order when
			// the phantom stacks along the normal, reversed otherwise.
			reversed := spec.SliceSpacing < 0
			pk := func(k int) int {
				if reversed {
					return n - 1 - k
				}
				return k
			}
			var maxErr float64
			for _, v := range [][3]int{{0, 0, 0}, {cols - 1, 0, 0}, {0, rows - 1, n - 1}, {cols - 1, rows - 1, n - 1}, {5, 7, 3}, {11, 2, 9}} {
				want := volume.Vec3(p.VoxelCentre(v[0], v[1], pk(v[2])))
				got := g.IndexToLPS(float64(v[0]), float64(v[1]), float64(v[2]))
				maxErr = math.Max(maxErr, dist(got, want))
				if back := g.LPSToIndex(want); !near(back, volume.Vec3{float64(v[0]), float64(v[1]), float64(v[2])}, 1e-6) {
					t.Errorf("LPSToIndex(%v) = %v, want %v", want, back, v)
				}
			}
			if maxErr > 1e-6 {
				t.Errorf("voxel centres differ from the phantom's by up to %g mm", maxErr)
			}
			if !reversed {
				want := p.Affine().Matrix4()
				got := g.Affine()
				for r := 0; r < 4; r++ {
					for c := 0; c < 4; c++ {
						if math.Abs(got[r][c]-want[r][c]) > 1e-6 {
							t.Fatalf("affine\n%v\nwant the phantom's\n%v", got, want)
						}
					}
				}
			}
			if math.Abs(g.VoxelVolume()-p.VoxelVolume()) > 1e-6 {
				t.Errorf("voxel volume %g, phantom %g", g.VoxelVolume(), p.VoxelVolume())
			}
			tilt := spec.GantryTilt != 0
			if g.Has(volume.FindingGantryTilt) != tilt || len(g.Findings) != map[bool]int{false: 0, true: 1}[tilt] {
				t.Errorf("findings %+v", g.Findings)
			}
			if tilt {
				f, _ := finding(g, volume.FindingGantryTilt)
				if !strings.Contains(f.Message, "15.00°") || !strings.Contains(f.Message, "GantryDetectorTilt is 15°") {
					t.Errorf("tilt message %q", f.Message)
				}
			}
		})
	}
}

// TestGridFindings breaks a phantom series in the ways real series break
// and checks each finding and the slice it names.
func TestGridFindings(t *testing.T) {
	setZ := func(ds *dicom.Dataset, z float64) {
		p := ds.Floats(dicom.TagImagePositionPatient)
		ds.SetFloats(dicom.TagImagePositionPatient, p[0], p[1], z)
	}
	cases := []struct {
		name string
		// edit changes the phantom's images (slice k at z = −12 + 2k).
		edit   func(t *testing.T, s *phantom.Series) []volume.Image
		slices int
		want   map[string]int // code → Slice
		msg    []string
	}{
		{
			name: "gap: slice 5 missing",
			edit: func(t *testing.T, s *phantom.Series) []volume.Image {
				imgs := images(s)
				return slices.DeleteFunc(imgs, func(im volume.Image) bool { return im.Dataset == s.Instances[5] })
			},
			slices: 11, want: map[string]int{"gap": 4},
			msg: []string{"gap of 4.00 mm between slices 5/11 and 6/11", "spacing is 2.00 mm", "about 1 slice(s) missing"},
		},
		{
			name: "gap: three slices missing",
			edit: func(t *testing.T, s *phantom.Series) []volume.Image {
				imgs := images(s)
				return slices.DeleteFunc(imgs, func(im volume.Image) bool {
					return im.Dataset == s.Instances[2] || im.Dataset == s.Instances[3] || im.Dataset == s.Instances[4]
				})
			},
			slices: 9, want: map[string]int{"gap": 1},
			msg: []string{"gap of 8.00 mm between slices 2/9 and 3/9", "about 3 slice(s) missing"},
		},
		{
			name: "uneven: slice 7 moved up 0.5 mm",
			edit: func(t *testing.T, s *phantom.Series) []volume.Image {
				setZ(s.Instances[7], 2.5)
				return images(s)
			},
			slices: 12, want: map[string]int{"uneven_spacing": 6},
			msg: []string{"from 1.500 to 2.500 mm", "2 step(s)", "slices 7/12 and 8/12 (2.500 mm)"},
		},
		{
			name: "duplicate: slice 7 sent twice",
			edit: func(t *testing.T, s *phantom.Series) []volume.Image {
				dup := copyImage(s.Instances[7], "2.25.999")
				dup.Dataset.SetInts(dicom.TagInstanceNumber, 100)
				return append(images(s), dup)
			},
			slices: 13, want: map[string]int{"duplicate_position": 8},
			msg: []string{"slices 8/13 and 9/13 are at the same position (2.00 mm", "2.25.999"},
		},
		{
			name: "mixed orientation: a sagittal image in the series",
			edit: func(t *testing.T, s *phantom.Series) []volume.Image {
				extra := copyImage(s.Instances[3], "2.25.777")
				extra.Dataset.SetFloats(dicom.TagImageOrientationPatient, 0, 1, 0, 0, 0, -1)
				return append(images(s), extra)
			},
			slices: 12, want: map[string]int{"mixed_orientation": -1},
			msg: []string{"1 image(s) in another orientation", "2.25.777 (sagittal 16×16", "grid of 12 axial 16×16"},
		},
		{
			name: "mixed size: a smaller image",
			edit: func(t *testing.T, s *phantom.Series) []volume.Image {
				extra := copyImage(s.Instances[3], "2.25.778")
				extra.Dataset.SetInts(dicom.TagRows, 8)
				return append(images(s), extra)
			},
			slices: 12, want: map[string]int{"mixed_size": -1},
			msg: []string{"2.25.778 (axial 16×8"},
		},
		{
			name: "mixed size: other pixel spacing",
			edit: func(t *testing.T, s *phantom.Series) []volume.Image {
				extra := copyImage(s.Instances[3], "2.25.779")
				extra.Dataset.SetFloats(dicom.TagPixelSpacing, 8, 8)
				return append(images(s), extra)
			},
			slices: 12, want: map[string]int{"mixed_size": -1},
			msg: []string{"spacing 8×8 mm"},
		},
		{
			name: "missing geometry: an image without position",
			edit: func(t *testing.T, s *phantom.Series) []volume.Image {
				extra := copyImage(s.Instances[3], "2.25.780")
				extra.Dataset.Remove(dicom.TagImagePositionPatient)
				return append(images(s), extra)
			},
			slices: 12, want: map[string]int{"missing_geometry": -1},
			msg: []string{"2.25.780", "no ImagePositionPatient"},
		},
		{
			name: "several at once",
			edit: func(t *testing.T, s *phantom.Series) []volume.Image {
				imgs := slices.DeleteFunc(images(s), func(im volume.Image) bool { return im.Dataset == s.Instances[9] })
				dup := copyImage(s.Instances[2], "2.25.781")
				dup.Dataset.SetInts(dicom.TagInstanceNumber, 0) // sorts before its twin
				return append(imgs, dup)
			},
			slices: 12, want: map[string]int{"duplicate_position": 3, "gap": 9},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := generate(t, tinyCT())
			g, err := volume.BuildGrid(tc.edit(t, s))
			if err != nil {
				t.Fatal(err)
			}
			if g.NumSlices != tc.slices {
				t.Errorf("%d slices, want %d", g.NumSlices, tc.slices)
			}
			got := map[string]int{}
			var all []string
			for _, f := range g.Findings {
				got[f.Code] = f.Slice
				all = append(all, f.Message)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("findings %v, want %v\n%s", got, tc.want, strings.Join(all, "\n"))
			}
			for _, m := range tc.msg {
				if !strings.Contains(strings.Join(all, "\n"), m) {
					t.Errorf("no finding says %q:\n%s", m, strings.Join(all, "\n"))
				}
			}
			// Slices stay in position order, so every image keeps its place.
			for k := 1; k < g.NumSlices; k++ {
				if g.Slices[k].Plane.Position[2] < g.Slices[k-1].Plane.Position[2] {
					t.Errorf("slice %d below slice %d", k, k-1)
				}
			}
		})
	}
}

// TestGridDuplicatesCapped: a 4D series (the same 12 positions 30 times)
// gets a bounded list of findings with a summary, not 348 of them.
func TestGridDuplicatesCapped(t *testing.T) {
	s := generate(t, tinyCT())
	var imgs []volume.Image
	for r := 0; r < 30; r++ {
		for k, ds := range s.Instances {
			im := copyImage(ds, fmt.Sprintf("2.25.%d.%d", r, k))
			im.Dataset.SetInts(dicom.TagInstanceNumber, r*100+k)
			imgs = append(imgs, im)
		}
	}
	g, err := volume.BuildGrid(imgs)
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Findings) != 21 {
		t.Fatalf("%d findings, want 20 and a summary", len(g.Findings))
	}
	if last := g.Findings[20]; last.Code != "duplicate_position" || last.Slice != -1 || !strings.Contains(last.Message, "and 328 more") {
		t.Errorf("summary %+v", last)
	}
	if g.Has(volume.FindingGap) || g.Has(volume.FindingUnevenSpacing) {
		t.Errorf("duplicates must not read as gaps or uneven steps: %+v", g.Findings)
	}
}
