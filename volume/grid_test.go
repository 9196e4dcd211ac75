package volume_test

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/dicom"
	"github.com/radmark/radmark/volume"
)

// stack makes images of one orientation at the given positions, listed in
// a scrambled order with InstanceNumbers that do not follow position, so
// that sorting by either is told apart.
func stack(iop []float64, positions [][3]float64) []volume.Image {
	var out []volume.Image
	n := len(positions)
	for m := 0; m < n; m++ {
		k := (m*3 + 1) % n // a permutation when gcd(3, n) = 1
		if n%3 == 0 {
			k = n - 1 - m
		}
		sop := fmt.Sprintf("1.2.826.0.1.%d", k)
		ds := imageDS(sop, positions[k][:], iop, []float64{0.5, 0.8}, 20, 10)
		ds.SetInts(dicom.TagInstanceNumber, 100-k*7%13)
		out = append(out, volume.Image{Ref: radmark.ImageRef{SOPInstanceUID: radmark.UID(sop)}, Dataset: ds})
	}
	return out
}

func sop(k int) radmark.UID { return radmark.UID(fmt.Sprintf("1.2.826.0.1.%d", k)) }

// TestGridHandWorked checks grids whose answers are worked out by hand.
// PixelSpacing is 0.5 (rows) \ 0.8 (columns), images 20×10.
func TestGridHandWorked(t *testing.T) {
	s20, c20 := math.Sincos(20 * math.Pi / 180)
	cases := []struct {
		name      string
		iop       []float64
		positions [][3]float64
		// order lists the position index of each grid slice.
		order    []int
		spacing  volume.Vec3
		sliceDir volume.Vec3
		// probe: an index and its LPS.
		probe, probeLPS volume.Vec3
		voxel           float64
		codes           []string
	}{
		{
			name: "axial, listed head first", iop: axial,
			positions: [][3]float64{{-10, -20, 40}, {-10, -20, 37.5}, {-10, -20, 35}, {-10, -20, 32.5}, {-10, -20, 30}},
			order:     []int{4, 3, 2, 1, 0}, spacing: volume.Vec3{0.8, 0.5, 2.5}, sliceDir: volume.Vec3{0, 0, 1},
			probe: volume.Vec3{2, 3, 1.5}, probeLPS: volume.Vec3{-8.4, -18.5, 33.75}, voxel: 1,
		},
		{
			name: "sagittal: slice 0 is the patient's left-most", iop: sagittal,
			positions: [][3]float64{{-6, 0, 0}, {-3, 0, 0}, {0, 0, 0}, {3, 0, 0}},
			order:     []int{3, 2, 1, 0}, spacing: volume.Vec3{0.8, 0.5, 3}, sliceDir: volume.Vec3{-1, 0, 0},
			probe: volume.Vec3{10, 4, 2}, probeLPS: volume.Vec3{-3, 8, -2}, voxel: 1.2,
		},
		{
			name: "coronal", iop: coronal,
			positions: [][3]float64{{0, 4, 0}, {0, 0, 0}, {0, 2, 0}},
			order:     []int{1, 2, 0}, spacing: volume.Vec3{0.8, 0.5, 2}, sliceDir: volume.Vec3{0, 1, 0},
			probe: volume.Vec3{1, 1, 1}, probeLPS: volume.Vec3{0.8, 2, -0.5}, voxel: 0.8,
		},
		{
			name: "oblique plane, positions along its normal", iop: tilted(20),
			positions: [][3]float64{{0, -2 * s20, 2 * c20}, {0, 0, 0}, {0, -4 * s20, 4 * c20}},
			order:     []int{1, 0, 2}, spacing: volume.Vec3{0.8, 0.5, 2}, sliceDir: volume.Vec3{0, -s20, c20},
			probe: volume.Vec3{0, 2, 1}, probeLPS: volume.Vec3{0, c20 - 2*s20, s20 + 2*c20}, voxel: 0.8,
		},
		{
			name: "gantry tilt 20°: table steps 5 mm along z", iop: tilted(20),
			positions: [][3]float64{{0, 0, 10}, {0, 0, 0}, {0, 0, 5}, {0, 0, 15}},
			order:     []int{1, 2, 0, 3}, spacing: volume.Vec3{0.8, 0.5, 5}, sliceDir: volume.Vec3{0, 0, 1},
			probe: volume.Vec3{0, 2, 1}, probeLPS: volume.Vec3{0, c20, 5 + s20}, voxel: 0.8 * 0.5 * 5 * c20,
			codes: []string{"gantry_tilt"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g, err := volume.BuildGrid(stack(tc.iop, tc.positions))
			if err != nil {
				t.Fatal(err)
			}
			if g.NumSlices != len(tc.positions) || g.Columns != 20 || g.Rows != 10 {
				t.Fatalf("grid %d×%d×%d", g.Columns, g.Rows, g.NumSlices)
			}
			for k, want := range tc.order {
				if g.Slices[k].Image.SOPInstanceUID != sop(want) {
					t.Errorf("slice %d is %s, want %s", k, g.Slices[k].Image.SOPInstanceUID, sop(want))
				}
				if got, ok := g.SliceOf(radmark.ImageRef{SOPInstanceUID: sop(want)}); !ok || got != k {
					t.Errorf("SliceOf(%s) = %d, %v; want %d", sop(want), got, ok, k)
				}
			}
			if !near(g.Spacing, tc.spacing, 1e-9) || !near(g.SliceDir, tc.sliceDir, 1e-9) {
				t.Errorf("spacing %v, slice direction %v; want %v, %v", g.Spacing, g.SliceDir, tc.spacing, tc.sliceDir)
			}
			origin := tc.positions[tc.order[0]]
			if !near(g.Origin, origin, 1e-12) {
				t.Errorf("origin %v, want %v", g.Origin, origin)
			}
			if got := g.IndexToLPS(tc.probe[0], tc.probe[1], tc.probe[2]); !near(got, tc.probeLPS, 1e-9) {
				t.Errorf("IndexToLPS(%v) = %v, want %v", tc.probe, got, tc.probeLPS)
			}
			if got := g.LPSToIndex(tc.probeLPS); !near(got, tc.probe, 1e-9) {
				t.Errorf("LPSToIndex(%v) = %v, want %v", tc.probeLPS, got, tc.probe)
			}
			a := g.Affine()
			for _, v := range []volume.Vec3{tc.probe, {0, 0, 0}, {19, 9, float64(g.NumSlices - 1)}, {-3, 12.5, 7}} {
				var p volume.Vec3
				for r := 0; r < 3; r++ {
					p[r] = a[r][0]*v[0] + a[r][1]*v[1] + a[r][2]*v[2] + a[r][3]
				}
				if q := g.IndexToLPS(v[0], v[1], v[2]); !near(p, q, 1e-9) {
					t.Errorf("regular grid: Affine·%v = %v but IndexToLPS = %v", v, p, q)
				}
				if back := g.LPSToIndex(p); !near(back, v, 1e-9) {
					t.Errorf("LPSToIndex(IndexToLPS(%v)) = %v", v, back)
				}
			}
			if a[3] != [4]float64{0, 0, 0, 1} {
				t.Errorf("affine's last row %v", a[3])
			}
			if got := g.VoxelVolume(); math.Abs(got-tc.voxel) > 1e-9 {
				t.Errorf("voxel volume %g, want %g", got, tc.voxel)
			}
			if got := strings.Join(codes(g), ","); got != strings.Join(tc.codes, ",") {
				t.Errorf("findings %v, want %v", g.Findings, tc.codes)
			}
			// Slice k's own plane maps its pixel centres onto the grid.
			for k, s := range g.Slices {
				if got := g.LPSToIndex(s.Plane.ToLPS(7.5, 3.5)); !near(got, volume.Vec3{7, 3, float64(k)}, 1e-9) {
					t.Errorf("pixel (7,3) of slice %d is at grid index %v", k, got)
				}
			}
		})
	}
}

// TestGridUneven: with uneven spacing integral k lands on the actual
// slice, fractional k interpolates between neighbours, the affine keeps
// the mean step, and the finding names the first uneven step.
func TestGridUneven(t *testing.T) {
	zs := []float64{0, 1, 2.2, 3.2, 4.2}
	var pos [][3]float64
	for _, z := range zs {
		pos = append(pos, [3]float64{0, 0, z})
	}
	g, err := volume.BuildGrid(stack(axial, pos))
	if err != nil {
		t.Fatal(err)
	}
	for k, z := range zs {
		if got := g.IndexToLPS(0, 0, float64(k)); math.Abs(got[2]-z) > 1e-12 {
			t.Errorf("slice %d at z %g, want %g", k, got[2], z)
		}
		if got := g.LPSToIndex(volume.Vec3{3, 4, z}); !near(got, volume.Vec3{3 / 0.8, 8, float64(k)}, 1e-9) {
			t.Errorf("z %g → index %v", z, got)
		}
	}
	for _, tc := range []struct{ k, z float64 }{{1.5, 1.6}, {2.25, 2.45}, {-1, -1.05}, {5, 5.25}} {
		if got := g.IndexToLPS(0, 0, tc.k); math.Abs(got[2]-tc.z) > 1e-12 {
			t.Errorf("k %g at z %g, want %g", tc.k, got[2], tc.z)
		}
		if got := g.LPSToIndex(volume.Vec3{0, 0, tc.z}); math.Abs(got[2]-tc.k) > 1e-12 {
			t.Errorf("z %g at k %g, want %g", tc.z, got[2], tc.k)
		}
	}
	if math.Abs(g.Spacing[2]-1.05) > 1e-12 || g.Affine()[2][2] != g.Spacing[2] {
		t.Errorf("mean step %g, affine %v", g.Spacing[2], g.Affine())
	}
	f, ok := finding(g, "uneven_spacing")
	if !ok || f.Slice != 1 || len(g.Findings) != 1 {
		t.Fatalf("findings %+v, want one uneven_spacing at slice 1", g.Findings)
	}
	for _, s := range []string{"1.000 to 1.200 mm", "median of 1.000 mm", "slices 2/5 and 3/5"} {
		if !strings.Contains(f.Message, s) {
			t.Errorf("message %q does not say %q", f.Message, s)
		}
	}
}

func TestGridSingleImage(t *testing.T) {
	ds := imageDS("1.2.3", []float64{1, 2, 3}, axial, []float64{0.5, 0.8}, 20, 10)
	ds.SetFloats(dicom.TagSliceThickness, 5)
	ds.SetFloats(dicom.TagSpacingBetweenSlices, 6)
	g, err := volume.BuildGrid([]volume.Image{{Ref: radmark.ImageRef{SOPInstanceUID: "1.2.3"}, Dataset: ds}})
	if err != nil {
		t.Fatal(err)
	}
	if g.Spacing[2] != 6 || !near(g.SliceDir, volume.Vec3{0, 0, 1}, 0) || math.Abs(g.VoxelVolume()-2.4) > 1e-12 {
		t.Errorf("spacing %v, slice direction %v, voxel %g", g.Spacing, g.SliceDir, g.VoxelVolume())
	}
	if f, ok := finding(g, "single_image"); !ok || f.Slice != 0 || !strings.Contains(f.Message, "6 mm") {
		t.Errorf("findings %+v", g.Findings)
	}
	if got := g.LPSToIndex(volume.Vec3{1, 2, 15}); !near(got, volume.Vec3{0, 0, 2}, 1e-12) {
		t.Errorf("12 mm above the slice is index %v, want k = 2", got)
	}
	ds.Remove(dicom.TagSpacingBetweenSlices)
	if g, _ := volume.BuildGrid([]volume.Image{{Ref: radmark.ImageRef{SOPInstanceUID: "1.2.3"}, Dataset: ds}}); g.Spacing[2] != 5 {
		t.Errorf("without SpacingBetweenSlices the step is %g, want the thickness 5", g.Spacing[2])
	}
}

func TestGridErrors(t *testing.T) {
	if _, err := volume.BuildGrid(nil); radmark.ErrorCode(err) != radmark.EINVALID {
		t.Errorf("no images: %v", err)
	}
	projection := imageDS("1.2.3", nil, nil, []float64{0.1, 0.1}, 20, 10)
	if _, err := volume.BuildGrid([]volume.Image{{Ref: radmark.ImageRef{SOPInstanceUID: "1.2.3"}, Dataset: projection}}); radmark.ErrorCode(err) != radmark.EUNSUPPORTED {
		t.Errorf("a projection image: %v, want EUNSUPPORTED", err)
	}
	// A three-plane localizer: no group holds a majority.
	var imgs []volume.Image
	for n, iop := range [][]float64{axial, sagittal, coronal, axial, sagittal, coronal} {
		id := fmt.Sprintf("1.2.%d", n)
		imgs = append(imgs, volume.Image{Ref: radmark.ImageRef{SOPInstanceUID: radmark.UID(id)}, Dataset: imageDS(id, []float64{0, 0, float64(n)}, iop, []float64{1, 1}, 8, 8)})
	}
	_, err := volume.BuildGrid(imgs)
	if radmark.ErrorCode(err) != radmark.EUNSUPPORTED || !strings.Contains(err.Error(), "2 axial 8×8, 2 sagittal 8×8, 2 coronal 8×8") {
		t.Errorf("three-plane localizer: %v", err)
	}
}

// TestGridJSON: a grid sent as JSON and decoded maps indices exactly as
// the original, uneven spacing and tilt included, and still finds its
// images.
func TestGridJSON(t *testing.T) {
	var pos [][3]float64
	for _, z := range []float64{0, 1, 2.2, 3.2, 4.2, 9} {
		pos = append(pos, [3]float64{0, 0, z})
	}
	for _, iop := range [][]float64{axial, tilted(12)} {
		g, err := volume.BuildGrid(stack(iop, pos))
		if err != nil {
			t.Fatal(err)
		}
		b, err := json.Marshal(g)
		if err != nil {
			t.Fatal(err)
		}
		var d volume.Grid
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatal(err)
		}
		for _, v := range []volume.Vec3{{0, 0, 0}, {3, 4, 1.5}, {19, 9, 4}, {1, 2, -2}, {5, 5, 7.25}} {
			p, q := g.IndexToLPS(v[0], v[1], v[2]), d.IndexToLPS(v[0], v[1], v[2])
			if !near(p, q, 1e-12) || !near(g.LPSToIndex(p), d.LPSToIndex(p), 1e-12) {
				t.Errorf("%v: original %v, decoded %v", v, p, q)
			}
		}
		for k, s := range g.Slices {
			if got, ok := d.SliceOf(s.Image); !ok || got != k {
				t.Errorf("decoded grid finds slice %d at %d, %v", k, got, ok)
			}
		}
		if !strings.Contains(string(b), `"numSlices":6`) || !strings.Contains(string(b), `"code":"gap"`) {
			t.Errorf("JSON %s", b)
		}
	}
}
