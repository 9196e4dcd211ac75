package exchange_test

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/coco"
	"github.com/radmark/radmark/exchange"
)

func TestCOCOExport(t *testing.T) {
	e, rev := measuredEnv(t)
	ctx := t.Context()
	dir := filepath.Join(t.TempDir(), "coco")
	ds, err := e.x.WriteCOCO(ctx, e.op, e.project.ID, dir)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, exchange.COCOFile)
	var check struct {
		Errors []string `json:"errors"`
		Masks  map[string]struct {
			Area   int      `json:"area"`
			BBox   [4]int   `json:"bbox"`
			Pixels [][2]int `json:"pixels"`
		} `json:"masks"`
	}
	python(t, &check, "coco_check.py", path)
	if len(check.Masks) == 0 {
		t.Fatal("coco_check.py found no RLE masks")
	}
	for _, msg := range check.Errors {
		t.Error("coco_check.py:", msg)
	}

	ser := ctPhantom(t)
	sr, err := e.x.Series(ctx, radmark.UID(ser.SeriesInstanceUID))
	if err != nil {
		t.Fatal(err)
	}
	g := sr.Volume.Grid
	sliceOf := map[int]int{} // image id → slice
	for _, im := range ds.Images {
		k, ok := g.SliceOf(radmark.ImageRef{SOPInstanceUID: radmark.UID(im.FileName)})
		if !ok || im.Width != g.Columns || im.Height != g.Rows || im.SOPUID != im.FileName {
			t.Fatalf("image %+v is not a slice of the phantom", im)
		}
		sliceOf[im.ID] = k
	}
	items := map[string]radmark.Item{}
	for _, it := range rev.Content.Items {
		items[it.ID] = it
	}
	seen := map[string]int{}
	for _, a := range ds.Annotations {
		it := items[a.Item]
		seen[it.ID]++
		cat := ds.Categories[a.CategoryID-1]
		if cat.Label != it.Label || cat.Code == "" {
			t.Errorf("annotation %d of item %s has category %+v", a.ID, it.ID, cat)
		}
		switch it.Kind {
		case radmark.KindSegmentation:
			k := sliceOf[a.ImageID]
			v, _, err := e.ann.Labelmap(ctx, e.op, rev.ID, it.Segment.Layer)
			if err != nil {
				t.Fatal(err)
			}
			want := 0
			for _, x := range v.Slice(k) {
				if int(x) == it.Segment.Value {
					want++
				}
			}
			m := check.Masks[strconv.Itoa(a.ID)]
			if m.Area != want || int(a.Area) != want || [4]float64{float64(m.BBox[0]), float64(m.BBox[1]), float64(m.BBox[2]), float64(m.BBox[3])} != a.BBox {
				t.Errorf("segment %s slice %d: python reads area %d bbox %v, radmark wrote %v %v, labelmap has %d", it.ID, k, m.Area, m.BBox, a.Area, a.BBox, want)
			}
			for _, p := range m.Pixels {
				if x := v.Slice(k)[p[1]*g.Columns+p[0]]; int(x) != it.Segment.Value {
					t.Fatalf("segment %s slice %d: python's mask pixel %v holds %d", it.ID, k, p, x)
				}
			}
			rle := a.Segmentation.(coco.RLE)
			if back, err := coco.Decode(rle); err != nil || len(back) != g.Columns*g.Rows {
				t.Errorf("RLE does not decode: %v", err)
			}
		case radmark.KindBox2D:
			if a.BBox != [4]float64{20, 10, 30, 30} || a.Area != 900 {
				t.Errorf("box annotation %+v", a)
			}
		case radmark.KindContour:
			if a.BBox != [4]float64{10, 10, 20, 10} || a.Area != 100 {
				t.Errorf("contour annotation %+v", a)
			}
		case radmark.KindLandmark:
			if len(a.Keypoints) != 3 || math.Abs(a.Keypoints[0]-30.5) > 1e-6 || math.Abs(a.Keypoints[1]-31.5) > 1e-6 || a.NumKeypoints != 1 {
				t.Errorf("landmark keypoints %v, want pixel centre (30.5, 31.5)", a.Keypoints)
			}
		default:
			t.Errorf("item %s of kind %s exported", it.ID, it.Kind)
		}
	}
	for _, id := range []string{"n1", "n2", "ll", "lv", "box", "poly", "pt"} {
		if seen[id] == 0 {
			t.Errorf("item %s not in the COCO export", id)
		}
	}
	if _, err := e.x.WriteCOCO(ctx, e.op, e.project.ID, dir); err == nil {
		t.Error("an export over an existing folder succeeded")
	}
	raw, _ := os.ReadFile(path)
	var generic map[string]any
	if err := json.Unmarshal(raw, &generic); err != nil {
		t.Fatal(err)
	}
}
