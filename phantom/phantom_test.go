package phantom

import (
	"math"
	"strings"
	"testing"
)

// geometrySpecs are small grids that exercise every way the voxel → LPS
// mapping can go wrong: anisotropic pixels (rows and columns swapped shows),
// non-square images, oblique and double-oblique planes, a sheared
// (gantry-tilted) stack, slices stacked against the normal, and non-axial
// planes.
func geometrySpecs() map[string]Spec {
	small := func(m Modality) Spec {
		return Spec{Modality: m, Rows: 72, Columns: 88, Slices: 40,
			PixelSpacing: [2]float64{3.2, 2.9}, SliceSpacing: 3.1,
			Origin: LPS{-125, -110, -60}}
	}
	oblique := small(CT)
	oblique.Orientation = Oblique(17, -11)
	oblique.Origin = LPS{-120, -100, -75}
	tilt := small(CT)
	tilt.GantryTilt = 20
	descending := small(CT)
	descending.SliceSpacing = -3.1
	descending.Origin = LPS{-125, -110, 60}
	coronal := small(MR)
	coronal.Orientation = Coronal
	coronal.Origin = LPS{-125, -60, 100}
	sagittal := small(MR)
	sagittal.Orientation = Sagittal
	sagittal.Origin = LPS{-60, -115, 100}
	return map[string]Spec{
		"CTSmall":     CTSmall(),
		"MRSmall":     MRSmall(),
		"anisotropic": small(CT),
		"oblique":     oblique,
		"gantry tilt": tilt,
		"descending":  descending,
		"coronal":     coronal,
		"sagittal":    sagittal,
	}
}

func mustNew(t testing.TB, s Spec) *Phantom {
	t.Helper()
	p, err := New(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func near(a, b LPS, tol float64) bool {
	return math.Abs(a[0]-b[0]) <= tol && math.Abs(a[1]-b[1]) <= tol && math.Abs(a[2]-b[2]) <= tol
}

// TestVoxelCentreConvention pins the PS3.3 C.7.6.2.1.1 convention with
// numbers worked out by hand: one column step is the column spacing
// (PixelSpacing[1]) along the row direction, one row step the row spacing
// (PixelSpacing[0]) along the column direction.
func TestVoxelCentreConvention(t *testing.T) {
	s := Spec{Modality: CT, Rows: 10, Columns: 20, Slices: 5,
		PixelSpacing: [2]float64{0.5, 0.8}, SliceSpacing: 2.5, Origin: LPS{-10, 20, 30}}
	p := mustNew(t, s)
	for _, c := range []struct {
		i, j, k int
		want    LPS
	}{
		{0, 0, 0, LPS{-10, 20, 30}},
		{1, 0, 0, LPS{-9.2, 20, 30}},  // + column spacing 0.8 along x
		{0, 1, 0, LPS{-10, 20.5, 30}}, // + row spacing 0.5 along y
		{0, 0, 1, LPS{-10, 20, 32.5}},
		{19, 9, 4, LPS{-10 + 19*0.8, 20 + 9*0.5, 30 + 4*2.5}},
	} {
		if got := p.VoxelCentre(c.i, c.j, c.k); !near(got, c.want, 1e-12) {
			t.Errorf("VoxelCentre(%d,%d,%d) = %v, want %v", c.i, c.j, c.k, got, c.want)
		}
	}
	// Coronal: rows run left, columns run to the feet, slices go anterior
	// (normal = (1,0,0)×(0,0,−1) = (0,1,0)... posterior).
	s.Orientation = Coronal
	p = mustNew(t, s)
	if n := p.Normal(); !near(n, LPS{0, 1, 0}, 1e-15) {
		t.Errorf("coronal normal %v", n)
	}
	if got, want := p.VoxelCentre(2, 3, 1), (LPS{-10 + 1.6, 20 + 2.5, 30 - 1.5}); !near(got, want, 1e-12) {
		t.Errorf("coronal VoxelCentre(2,3,1) = %v, want %v", got, want)
	}
	if v := p.VoxelVolume(); math.Abs(v-0.5*0.8*2.5) > 1e-12 {
		t.Errorf("VoxelVolume %g", v)
	}
}

func TestAffineInverseAndRAS(t *testing.T) {
	for name, s := range geometrySpecs() {
		p := mustNew(t, s)
		a := p.Affine()
		for _, ijk := range [][3]int{{0, 0, 0}, {5, 7, 3}, {s.Columns - 1, s.Rows - 1, s.Slices - 1}} {
			pt := p.VoxelCentre(ijk[0], ijk[1], ijk[2])
			if got := a.Apply(float64(ijk[0]), float64(ijk[1]), float64(ijk[2])); got != pt {
				t.Errorf("%s: Apply %v != VoxelCentre %v", name, got, pt)
			}
			i, j, k := p.Index(pt)
			if math.Abs(i-float64(ijk[0])) > 1e-9 || math.Abs(j-float64(ijk[1])) > 1e-9 || math.Abs(k-float64(ijk[2])) > 1e-9 {
				t.Errorf("%s: Index(VoxelCentre(%v)) = %g,%g,%g", name, ijk, i, j, k)
			}
			m := a.RAS()
			ras := [3]float64{}
			for r := 0; r < 3; r++ {
				ras[r] = m[r][0]*float64(ijk[0]) + m[r][1]*float64(ijk[1]) + m[r][2]*float64(ijk[2]) + m[r][3]
			}
			if want := pt.RAS(); math.Abs(ras[0]-want[0]) > 1e-9 || math.Abs(ras[1]-want[1]) > 1e-9 || math.Abs(ras[2]-want[2]) > 1e-9 {
				t.Errorf("%s: RAS affine gives %v, want %v", name, ras, want)
			}
		}
	}
}

// TestLabelsMatchLabelAt checks the fast row sampler against the point
// classifier, voxel by voxel, on every geometry.
func TestLabelsMatchLabelAt(t *testing.T) {
	for name, s := range geometrySpecs() {
		t.Run(name, func(t *testing.T) {
			p := mustNew(t, s)
			labels := p.Labels()
			cols, rows, slices := p.Dims()
			seen := map[Tissue]int{}
			bad := 0
			for k := 0; k < slices; k++ {
				for j := 0; j < rows; j++ {
					for i := 0; i < cols; i++ {
						got, want := labels[i+cols*(j+rows*k)], p.LabelAt(i, j, k)
						seen[want]++
						if got != want && bad < 10 {
							bad++
							t.Errorf("voxel (%d,%d,%d) at %v: Labels %v, LabelAt %v", i, j, k, p.VoxelCentre(i, j, k), got, want)
						}
					}
				}
			}
			// The grids are chosen to cut through every fixed tissue.
			for _, tis := range []Tissue{Air, Fat, SoftTissue, Lung} {
				if seen[tis] == 0 {
					t.Errorf("no voxel of %v: the test grid misses the anatomy", tis)
				}
			}
		})
	}
}

func TestTissueAtKnownPoints(t *testing.T) {
	p := mustNew(t, CTSmall())
	for _, c := range []struct {
		pt   LPS
		want Tissue
	}{
		{LPS{0, 0, 0}, SoftTissue},
		{LPS{200, 0, 0}, Air},
		{LPS{0, 0, 201}, Air},                 // beyond the body's end
		{LPS{115, 0, 0}, Fat},                 // between core (110) and skin (120)
		{LPS{0, -85, 0}, Fat},                 // anterior fat (core 80, skin 90)
		{LPS{120, 0, 0}, Fat},                 // on the skin: surfaces are inside
		{LPS{-55, 0, 70}, Lung},               // right lung centre
		{LPS{55, 30, 100}, Lung},              // left lung
		{LPS{-60, 0, -75}, Liver},             // liver, away from its lesion
		{LPS{-56, 0, 42}, FirstLesion},        // nodule centre
		{LPS{-56, 0, 52}, FirstLesion},        // on the nodule's surface
		{LPS{-56, 0, 52.01}, Lung},            // just outside it
		{LPS{-49, -14, -42}, FirstLesion + 1}, // liver lesion in the liver
		{LPS{56, 7, 21}, FirstLesion + 2},
		{LPS{0, 50, -0.5 + 10}, CancellousBone}, // mid-vertebra (z −0.5…19.5)
		{LPS{0, 36, 9.5}, CorticalBone},         // within 2 mm of the body's rim
		{LPS{0, 50, -0.5 + 1}, CorticalBone},    // end plate
		{LPS{0, 50, -3}, SoftTissue},            // disc (z −5.5…−0.5)
		{LPS{0, 70, 5}, CorticalBone},           // spinous process
		{LPS{5, 70, 5}, SoftTissue},             // beside it
	} {
		if got := p.Tissue(c.pt); got != c.want {
			t.Errorf("Tissue(%v) = %v, want %v", c.pt, got, c.want)
		}
	}
}

// TestPresetGroundTruth pins the documented lesion positions on the preset
// grids, and checks every lesion lies wholly inside each preset.
func TestPresetGroundTruth(t *testing.T) {
	for _, c := range []struct {
		name string
		spec Spec
		want [][3]float64
		// volumeTol bounds |voxelised − analytic| / analytic: tight on the
		// sub-millimetre grid, loose on the coarse ones, where a 6 mm
		// sphere is a handful of 2×2×4 mm voxels.
		volumeTol float64
	}{
		{"CT512", CT512(), [][3]float64{{176, 256, 192}, {186, 236, 108}, {336, 266, 171}}, 0.01},
		{"CTSmall", CTSmall(), [][3]float64{{36, 64, 53}, {39.5, 57, 11}, {92, 67.5, 42.5}}, 0.1},
		{"MRSmall", MRSmall(), [][3]float64{{36, 64, 26.5}, {39.5, 57, 5.5}, {92, 67.5, 21.25}}, 0.15},
	} {
		p := mustNew(t, c.spec)
		truths := p.LesionTruths()
		if len(truths) != len(c.want) {
			t.Fatalf("%s: %d lesions", c.name, len(truths))
		}
		for n, lt := range truths {
			for a := 0; a < 3; a++ {
				if math.Abs(lt.Index[a]-c.want[n][a]) > 1e-9 {
					t.Errorf("%s lesion %d index %v, want %v", c.name, n, lt.Index, c.want[n])
					break
				}
			}
			if !lt.Complete {
				t.Errorf("%s lesion %d (%s) is cut by the volume's edge", c.name, n, lt.Name)
			}
			if i, j, k, ok := p.NearestVoxel(lt.Centre); !ok || p.LabelAt(i, j, k) != lt.Label {
				t.Errorf("%s: nearest voxel (%d,%d,%d) of lesion %d is %v", c.name, i, j, k, n, p.LabelAt(i, j, k))
			}
			if rel := math.Abs(lt.VoxelVolume-lt.AnalyticVolume) / lt.AnalyticVolume; rel > c.volumeTol {
				t.Errorf("%s lesion %d: voxel volume %.1f vs analytic %.1f mm³", c.name, n, lt.VoxelVolume, lt.AnalyticVolume)
			}
		}
	}
}

// TestLesionVoxelCount1mm compares the voxelised sphere with 4/3·π·r³ on a
// 1 mm grid centred on each lesion. On a lattice point the count is the
// number of integer points in a ball, known exactly: 4169 for r = 10,
// 14147 for r = 15, 925 for r = 6.
func TestLesionVoxelCount1mm(t *testing.T) {
	want := []int{4169, 14147, 925}
	for n, l := range DefaultAnatomy().Lesions {
		s := Spec{Modality: CT, Rows: 41, Columns: 41, Slices: 41, PixelSpacing: [2]float64{1, 1}, SliceSpacing: 1,
			Origin: l.Centre.Sub(LPS{20, 20, 20})}
		p := mustNew(t, s)
		got := p.LesionVoxelCount(n)
		if got != want[n] {
			t.Errorf("lesion %d (r %g): %d voxels, want %d", n, l.Radius, got, want[n])
		}
		if rel := math.Abs(float64(got)-l.Volume()) / l.Volume(); rel > 0.03 {
			t.Errorf("lesion %d: %d mm³ voxelised vs %.1f analytic (%.1f%%)", n, got, l.Volume(), 100*rel)
		}
		// Count the label volume too: the same voxels, nothing else.
		count := 0
		for _, tis := range p.Labels() {
			if tis == FirstLesion+Tissue(n) {
				count++
			}
		}
		if count != got {
			t.Errorf("lesion %d: label volume has %d voxels, LesionVoxelCount %d", n, count, got)
		}
	}
}

// TestBoundaryNoduleSymmetric: the boundary nodule's centre lies half-way
// between CTSmall slices 42 and 43, so both hold the same number of its
// voxels; a half-slice error in positions would break the tie.
func TestBoundaryNoduleSymmetric(t *testing.T) {
	p := mustNew(t, CTSmall())
	label := FirstLesion + 2
	perSlice := map[int]int{}
	for k := 38; k <= 47; k++ {
		for j := 0; j < 128; j++ {
			for i := 0; i < 128; i++ {
				if p.LabelAt(i, j, k) == label {
					perSlice[k]++
				}
			}
		}
	}
	if perSlice[42] == 0 || perSlice[42] != perSlice[43] || perSlice[41] != perSlice[44] || perSlice[40] != perSlice[45] {
		t.Errorf("boundary nodule voxels per slice %v: not symmetric about 42.5", perSlice)
	}
	total := 0
	for _, c := range perSlice {
		total += c
	}
	if total != p.LesionVoxelCount(2) {
		t.Errorf("per-slice total %d != LesionVoxelCount %d", total, p.LesionVoxelCount(2))
	}
}

func TestIntensitiesDistinct(t *testing.T) {
	for _, m := range []Modality{CT, MR} {
		s := CTSmall()
		s.Modality = m
		p := mustNew(t, s)
		seen := map[float64]Tissue{}
		labels := []Tissue{Air, Fat, SoftTissue, Lung, Liver, CancellousBone, CorticalBone}
		for n := range p.Lesions() {
			labels = append(labels, FirstLesion+Tissue(n))
		}
		for _, tis := range labels {
			v := p.Value(tis)
			if other, dup := seen[v]; dup {
				t.Errorf("%s: %v and %v share the value %g", m, other, tis, v)
			}
			seen[v] = tis
		}
	}
}

func TestSpecValidation(t *testing.T) {
	bad := func(edit func(*Spec)) Spec { s := CTSmall(); edit(&s); return s }
	for _, c := range []struct {
		name string
		spec Spec
		want string
	}{
		{"no modality", bad(func(s *Spec) { s.Modality = "" }), "no modality"},
		{"modality", bad(func(s *Spec) { s.Modality = "PT" }), `"PT" is not CT or MR`},
		{"rows", bad(func(s *Spec) { s.Rows = 0 }), "rows"},
		{"slices", bad(func(s *Spec) { s.Slices = 0 }), "slices"},
		{"huge", bad(func(s *Spec) { s.Rows, s.Columns, s.Slices = 65535, 65535, 1000 }), "exceed"},
		{"spacing", bad(func(s *Spec) { s.PixelSpacing[1] = 0 }), "pixel spacing"},
		{"slice spacing", bad(func(s *Spec) { s.SliceSpacing = 0 }), "slice spacing"},
		{"not unit", bad(func(s *Spec) { s.Orientation = [6]float64{2, 0, 0, 0, 1, 0} }), "unit vectors"},
		{"not orthogonal", bad(func(s *Spec) { s.Orientation = [6]float64{1, 0, 0, 0.6, 0.8, 0} }), "orthogonal"},
		{"tilt and orientation", bad(func(s *Spec) { s.GantryTilt = 10; s.Orientation = Coronal }), "not both"},
		{"tilt MR", bad(func(s *Spec) { s.Modality = MR; s.GantryTilt = 10 }), "CT only"},
		{"noise", bad(func(s *Spec) { s.NoiseSigma = -1 }), "noise"},
		{"supersample", bad(func(s *Spec) { s.Supersample = 99 }), "supersample"},
		{"lesion radius", bad(func(s *Spec) { a := DefaultAnatomy(); a.Lesions[1].Radius = 0; s.Anatomy = &a }), `lesion 1 ("liver lesion")`},
	} {
		_, err := New(c.spec)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one mentioning %q", c.name, err, c.want)
		}
		if _, gerr := Generate(c.spec); gerr == nil {
			t.Errorf("%s: Generate accepted the spec", c.name)
		}
	}
}

// TestSpecIsCopied: changing the caller's anatomy after New must not
// change the phantom.
func TestSpecIsCopied(t *testing.T) {
	a := DefaultAnatomy()
	s := CTSmall()
	s.Anatomy = &a
	p := mustNew(t, s)
	a.Lesions[0].Radius = 50
	if r := p.Lesions()[0].Radius; r != 10 {
		t.Errorf("lesion radius changed to %g through the caller's anatomy", r)
	}
}

func TestPatientOrientationLetters(t *testing.T) {
	for _, c := range []struct {
		iop      [6]float64
		row, col string
	}{
		{Axial, "L", "P"},
		{Coronal, "L", "F"},
		{Sagittal, "P", "F"},
		{TiltedAxial(20), "L", "PH"},
		{TiltedAxial(-70), "L", "FP"},
		{[6]float64{-1, 0, 0, 0, -1, 0}, "R", "A"},
	} {
		r := orientationLetters(LPS{c.iop[0], c.iop[1], c.iop[2]})
		col := orientationLetters(LPS{c.iop[3], c.iop[4], c.iop[5]})
		if r != c.row || col != c.col {
			t.Errorf("IOP %v: %s\\%s, want %s\\%s", c.iop, r, col, c.row, c.col)
		}
	}
}
