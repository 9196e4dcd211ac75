package workflow

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/labelmap"
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-12 }

func TestDice(t *testing.T) {
	mask := func(bits string) []bool {
		out := make([]bool, len(bits))
		for i, c := range bits {
			out[i] = c == '1'
		}
		return out
	}
	for _, tt := range []struct {
		a, b string
		want float64
	}{
		{"1100", "1100", 1},
		{"1100", "0011", 0},
		{"1110", "0111", 2 * 2.0 / 6}, // |A∩B|=2, |A|=|B|=3
		{"0000", "0000", 1},
		{"1000", "0000", 0},
		{"1111", "1000", 2 * 1.0 / 5},
	} {
		if got := Dice(mask(tt.a), mask(tt.b)); !near(got, tt.want) {
			t.Errorf("Dice(%s, %s) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
	if got := Dice(nil, mask("0000")); got != 1 {
		t.Errorf("Dice of nothing and an empty mask = %v", got)
	}
	if got := Dice(mask("11"), mask("111")); got != 0 {
		t.Errorf("Dice of masks on different grids = %v", got)
	}
}

func TestIoUAndDistance(t *testing.T) {
	b2 := func(x0, y0, x1, y1 float64) box { return box{lo: [3]float64{x0, y0}, hi: [3]float64{x1, y1}, dim: 2} }
	b3 := func(lo, hi [3]float64) box { return box{lo: lo, hi: hi, dim: 3} }
	for _, tt := range []struct {
		a, b box
		want float64
	}{
		{b2(0, 0, 10, 10), b2(0, 0, 10, 10), 1},
		{b2(0, 0, 10, 10), b2(5, 0, 15, 10), 50.0 / 150},
		{b2(0, 0, 10, 10), b2(10, 0, 20, 10), 0}, // touching edges share no area
		{b2(0, 0, 4, 4), b2(1, 1, 3, 3), 4.0 / 16},
		{b3([3]float64{0, 0, 0}, [3]float64{2, 2, 2}), b3([3]float64{1, 1, 1}, [3]float64{3, 3, 3}), 1.0 / 15},
	} {
		if got := IoU(tt.a, tt.b); !near(got, tt.want) {
			t.Errorf("IoU(%v, %v) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
	if got := Distance([3]float64{1, 2, 3}, [3]float64{4, 6, 3}); !near(got, 5) {
		t.Errorf("distance = %v, want 5", got)
	}
}

// memVolumes serves labelmaps from memory, keyed by the manifest's first
// chunk digest field (a test name).
type memVolumes map[string]*labelmap.Volume

func (m memVolumes) load(_ context.Context, lm *radmark.Labelmap) (*labelmap.Volume, error) {
	return m[lm.Chunks[0]], nil
}

func TestCompare(t *testing.T) {
	img := &radmark.ImageRef{SOPInstanceUID: "1.2.3"}
	human := radmark.Source{Type: "human"}
	// Two 4×4×1 label maps: read A labels 4 voxels, read B 3 of them
	// plus 1 other: Dice = 2·3/8 = 0.75.
	va := &labelmap.Volume{Columns: 4, Rows: 4, Slices: 1, Voxels: make([]uint8, 16)}
	vb := &labelmap.Volume{Columns: 4, Rows: 4, Slices: 1, Voxels: make([]uint8, 16)}
	for _, i := range []int{0, 1, 2, 3} {
		va.Voxels[i] = 1
	}
	for _, i := range []int{0, 1, 2, 7} {
		vb.Voxels[i] = 2 // another value, same label
	}
	vols := memVolumes{"a": va, "b": vb}
	seg := func(value int, chunk string) ([]radmark.Item, []radmark.Labelmap) {
		return []radmark.Item{{ID: "s", Kind: radmark.KindSegmentation, Label: "liver", Source: human, Segment: &radmark.SegmentRef{Layer: 0, Value: value}}},
			[]radmark.Labelmap{{Layer: 0, Columns: 4, Rows: 4, Slices: 1, Chunks: []string{chunk}}}
	}
	ia, la := seg(1, "a")
	ib, lb := seg(2, "b")
	a := &radmark.Content{Items: ia, Labelmaps: la,
		Answers: []radmark.Answer{{Question: "quality", Choices: []string{"good"}}}}
	b := &radmark.Content{Items: ib, Labelmaps: lb,
		Answers: []radmark.Answer{{Question: "quality", Choices: []string{"good"}}}}
	a.Items = append(a.Items,
		radmark.Item{ID: "b1", Kind: radmark.KindBox2D, Label: "nodule", Source: human, Image: img, Points: [][2]float64{{0, 0}, {10, 10}}},
		radmark.Item{ID: "l1", Kind: radmark.KindLandmark, Label: "carina", Source: human, Image: img, LPS: [][3]float64{{0, 0, 0}}})
	b.Items = append(b.Items,
		radmark.Item{ID: "b1", Kind: radmark.KindBox2D, Label: "nodule", Source: human, Image: img, Points: [][2]float64{{10, 10}, {2, 0}}},
		radmark.Item{ID: "l1", Kind: radmark.KindLandmark, Label: "carina", Source: human, Image: img, LPS: [][3]float64{{3, 4, 0}}})

	run := func(agree radmark.Agreement) []Finding {
		t.Helper()
		fs, err := Compare(t.Context(), a, b, agree, vols.load)
		if err != nil {
			t.Fatal(err)
		}
		return fs
	}
	// Dice 0.75, IoU 80/100 = 0.8, distance 5 mm.
	if fs := run(radmark.Agreement{Dice: 0.75, IoU: 0.8, LandmarkMM: 5}); len(fs) != 0 {
		t.Errorf("at the bounds the reads agree, got %+v", fs)
	}
	fs := run(radmark.Agreement{Dice: 0.76, IoU: 0.81, LandmarkMM: 4.99})
	if len(fs) != 3 || fs[0].Kind != "segment" || !near(fs[0].Value, 0.75) || fs[1].Kind != "box" || !near(fs[1].Value, 0.8) ||
		fs[2].Kind != "landmark" || !near(fs[2].Value, 5) {
		t.Errorf("just past the bounds: %+v", fs)
	}
	// A different answer, an extra box, a missing landmark.
	b.Answers[0].Choices = []string{"poor"}
	b.Items = append(b.Items, radmark.Item{ID: "b2", Kind: radmark.KindBox2D, Label: "nodule", Source: human, Image: img, Points: [][2]float64{{50, 50}, {60, 60}}})
	b.Items = b.Items[:len(b.Items)-2]
	b.Items = append(b.Items, radmark.Item{ID: "b2", Kind: radmark.KindBox2D, Label: "nodule", Source: human, Image: img, Points: [][2]float64{{50, 50}, {60, 60}}})
	fs = run(radmark.Agreement{Dice: 0.5, IoU: 0.5, LandmarkMM: 10})
	var kinds []string
	for _, f := range fs {
		kinds = append(kinds, f.Kind+":"+f.Message)
	}
	got := strings.Join(kinds, "\n")
	for _, want := range []string{"answer:question quality: good vs poor", "box:boxes of nodule: 1 found by one read only", "landmark:landmarks carina: 1 placed by one read only"} {
		if !strings.Contains(got, want) {
			t.Errorf("findings lack %q:\n%s", want, got)
		}
	}
	if len(fs) != 3 {
		t.Errorf("%d findings:\n%s", len(fs), got)
	}
}
