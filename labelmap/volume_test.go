package labelmap

import (
	"math"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/phantom"
)

func TestGridValidate(t *testing.T) {
	for _, tc := range []struct {
		g    Grid
		want string // "" for valid
	}{
		{Grid{512, 512, 600}, ""},
		{Grid{1, 1, 1}, ""},
		{Grid{8192, 8192, 64}, ""},
		{Grid{0, 512, 1}, "must be positive"},
		{Grid{512, -1, 1}, "must be positive"},
		{Grid{512, 512, 0}, "must be positive"},
		{Grid{65536, 1, 1}, "at most 65535"},
		{Grid{1, 1, 65536}, "more than 65535 slices"},
		{Grid{8193, 8192, 1}, "exceeds the limit"},
		{Grid{8192, 8192, 65535}, "voxels exceed the limit"},
	} {
		err := tc.g.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.g, err)
		case tc.want != "" && (radmark.ErrorCode(err) != radmark.EINVALID || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: err %v, want EINVALID saying %q", tc.g, err, tc.want)
		}
	}
	if _, err := NewVolume(Grid{0, 1, 1}); radmark.ErrorCode(err) != radmark.EINVALID {
		t.Errorf("NewVolume of a bad grid: %v", err)
	}
}

func TestVolumeAccess(t *testing.T) {
	v := mustVolume(t, Grid{4, 3, 2})
	v.Set(1, 2, 1, 7)
	if got := v.Voxels[1+4*(2+3*1)]; got != 7 {
		t.Errorf("Set wrote %d at i + Columns·(j + Rows·k)", got)
	}
	if v.Get(1, 2, 1) != 7 || v.Get(0, 0, 0) != 0 {
		t.Error("Get does not read what Set wrote")
	}
	for _, p := range [][3]int{{-1, 0, 0}, {4, 0, 0}, {0, 3, 0}, {0, 0, 2}, {0, 0, -1}} {
		if v.Contains(p[0], p[1], p[2]) || v.Get(p[0], p[1], p[2]) != 0 {
			t.Errorf("%v: Contains or Get outside the grid", p)
		}
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("Set outside the grid did not panic")
			}
		}()
		v.Set(4, 0, 0, 1)
	}()
	s := v.Slice(1)
	if len(s) != 12 || s[1+4*2] != 7 {
		t.Errorf("Slice(1) = %v", s)
	}
	s[0] = 9 // Slice shares memory
	if v.Get(0, 0, 1) != 9 {
		t.Error("Slice does not share the volume's memory")
	}
	if grown := append(v.Slice(0), 99); len(grown) != 13 || v.Get(0, 0, 1) != 9 {
		t.Error("appending to Slice(0) overwrote slice 1")
	}
	if v.SliceEmpty(1) || !v.SliceEmpty(0) {
		t.Error("SliceEmpty")
	}
	if err := v.SetSlice(0, []uint8{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}); err != nil || v.Get(3, 2, 0) != 12 {
		t.Errorf("SetSlice: %v", err)
	}
	for _, tc := range []struct {
		k    int
		data []uint8
		want string
	}{{2, make([]uint8, 12), "outside 0..1"}, {-1, make([]uint8, 12), "outside"}, {0, make([]uint8, 11), "has 11 voxels"}} {
		if err := v.SetSlice(tc.k, tc.data); radmark.ErrorCode(err) != radmark.EINVALID || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("SetSlice(%d, %d voxels): %v", tc.k, len(tc.data), err)
		}
	}
	c := v.Clone()
	if !c.Equal(v) {
		t.Error("Clone differs")
	}
	c.Set(0, 0, 0, 200)
	if c.Equal(v) || v.Get(0, 0, 0) == 200 {
		t.Error("Clone shares memory")
	}
}

// bruteStats computes counts and boxes voxel by voxel.
func bruteStats(v *Volume) map[uint8]ValueStats {
	out := map[uint8]ValueStats{}
	for k := 0; k < v.Slices; k++ {
		for j := 0; j < v.Rows; j++ {
			for i := 0; i < v.Columns; i++ {
				val := v.Get(i, j, k)
				if val == 0 {
					continue
				}
				s, ok := out[val]
				if !ok {
					s = ValueStats{Value: val, Bounds: Box{Min: [3]int{i, j, k}, Max: [3]int{i, j, k}}}
				}
				s.Voxels++
				for a, x := range [3]int{i, j, k} {
					s.Bounds.Min[a] = min(s.Bounds.Min[a], x)
					s.Bounds.Max[a] = max(s.Bounds.Max[a], x)
				}
				out[val] = s
			}
		}
	}
	return out
}

func TestCountsBoundsStats(t *testing.T) {
	v := blobs(t, Grid{96, 80, 40}, 6, 7)
	// A single voxel and a value touching every face of the grid.
	v.Set(95, 79, 39, 200)
	v.Set(0, 40, 20, 201)
	v.Set(50, 0, 0, 201)
	want := bruteStats(v)
	counts := v.Counts()
	var total int64
	for val, c := range counts {
		total += c
		if val > 0 && c != want[uint8(val)].Voxels {
			t.Errorf("Counts[%d] = %d, want %d", val, c, want[uint8(val)].Voxels)
		}
	}
	if total != int64(len(v.Voxels)) {
		t.Errorf("counts sum to %d, want %d", total, len(v.Voxels))
	}
	bounds := v.Bounds()
	if len(bounds) != len(want) {
		t.Errorf("%d boxes, want %d", len(bounds), len(want))
	}
	for val, w := range want {
		if bounds[val] != w.Bounds {
			t.Errorf("Bounds[%d] = %+v, want %+v", val, bounds[val], w.Bounds)
		}
	}
	stats := v.Stats(0.5)
	if len(stats) != len(want) {
		t.Fatalf("%d stats, want %d", len(stats), len(want))
	}
	for x, s := range stats {
		w := want[s.Value]
		w.VolumeMM3 = float64(w.Voxels) * 0.5
		if diff := cmp.Diff(w, s); diff != "" {
			t.Errorf("value %d (-want +got):\n%s", s.Value, diff)
		}
		if x > 0 && stats[x-1].Value >= s.Value {
			t.Error("stats not in ascending value order")
		}
	}
	for _, unknown := range []float64{0, -1, math.NaN(), math.Inf(1)} {
		if s := v.Stats(unknown); s[0].VolumeMM3 != 0 {
			t.Errorf("voxel volume %v gave %v mm³", unknown, s[0].VolumeMM3)
		}
	}
	if s := mustVolume(t, Grid{3, 3, 3}).Stats(1); s == nil || len(s) != 0 {
		t.Errorf("empty volume stats = %#v", s)
	}
}

// TestStatsMatchPhantomTruth checks the voxel counts and volumes of the
// phantom's lesions against the phantom's own ground truth.
func TestStatsMatchPhantomTruth(t *testing.T) {
	p, err := phantom.New(phantom.CTSmall())
	if err != nil {
		t.Fatal(err)
	}
	c, r, s := p.Dims()
	v := mustVolume(t, Grid{c, r, s})
	for i, ts := range p.Labels() {
		if ts.IsLesion() {
			v.Voxels[i] = uint8(ts)
		}
	}
	stats := v.Stats(p.VoxelVolume())
	truths := p.LesionTruths()
	if len(stats) != len(truths) {
		t.Fatalf("%d values, want %d lesions", len(stats), len(truths))
	}
	for x, lt := range truths {
		st := stats[x]
		if st.Value != uint8(lt.Label) || st.Voxels != int64(lt.VoxelCount) || math.Abs(st.VolumeMM3-lt.VoxelVolume) > 1e-9*lt.VoxelVolume {
			t.Errorf("lesion %d: got value %d, %d voxels, %g mm³; truth %d, %d voxels, %g mm³",
				x, st.Value, st.Voxels, st.VolumeMM3, lt.Label, lt.VoxelCount, lt.VoxelVolume)
		}
		// The box is centred on the lesion's centre (within a voxel).
		for a := 0; a < 3; a++ {
			mid := float64(st.Bounds.Min[a]+st.Bounds.Max[a]) / 2
			if math.Abs(mid-lt.Index[a]) > 0.5+1e-9 {
				t.Errorf("lesion %d axis %d: box %v–%v, centre %.1f", x, a, st.Bounds.Min[a], st.Bounds.Max[a], lt.Index[a])
			}
		}
	}
}
