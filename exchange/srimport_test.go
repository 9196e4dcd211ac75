package exchange_test

import (
	"math"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/annotation"
	"github.com/radmark/radmark/exchange"
	"github.com/radmark/radmark/internal/testdb"
	"github.com/radmark/radmark/internal/testenv"
)

// allKindsEnv saves, on top of the phantom's segmentation, one item of
// every kind an SR carries, with model sources, confidences and notes,
// and answers at every question level.
func allKindsEnv(t *testing.T) (*env, *radmark.Revision) {
	t.Helper()
	return allKindsEnvOn(t, testdb.SQLite)
}

// allKindsEnvOn is allKindsEnv on an engine's store.
func allKindsEnvOn(t *testing.T, open func(testing.TB) testdb.Store) (*env, *radmark.Revision) {
	t.Helper()
	e := newEnvOn(t, open)
	ser := ctPhantom(t)
	e.ingestDatasets(ser.Instances...)
	labels := testLabels()
	for _, k := range radmark.Kinds {
		if k != radmark.KindSegmentation {
			labels[0].Kinds = append(labels[0].Kinds, k)
		}
	}
	labels[2].Kinds = append(labels[2].Kinds, radmark.KindLength, radmark.KindBox3D)
	one, five := 1.0, 5.0
	qs := []radmark.Question{
		{ID: "quality", Text: "Image quality", Type: radmark.QuestionSingle, Level: radmark.LevelStudy,
			Options: []radmark.Option{{Value: "good"}, {Value: "poor"}}},
		{ID: "phase", Text: "Contrast phase", Type: radmark.QuestionSingle, Level: radmark.LevelSeries,
			Options: []radmark.Option{{Value: "arterial", Code: &radmark.Code{Value: "RID11082", Scheme: "RADLEX", Meaning: "arterial phase"}}, {Value: "venous"}}},
		{ID: "artefact", Text: "Artefacts", Type: radmark.QuestionMultiple, Level: radmark.LevelImage,
			Options: []radmark.Option{{Value: "motion"}, {Value: "metal"}, {Value: "noise"}}},
		{ID: "malignancy", Text: "Malignancy", Type: radmark.QuestionNumber, Level: radmark.LevelAnnotation,
			Min: &one, Max: &five, Unit: &radmark.Code{Value: "{score}", Scheme: "UCUM", Meaning: "score"},
			Concept: &radmark.Code{Value: "RID49502", Scheme: "RADLEX", Meaning: "malignancy score"}},
		{ID: "comment", Text: "Comment on the finding", Type: radmark.QuestionText, Level: radmark.LevelAnnotation},
	}
	var err error
	if e.schema, err = e.ann.PutSchema(t.Context(), e.op, e.project.ID, e.schema.Version, labels, qs); err != nil {
		t.Fatal(err)
	}
	seg := e.annotatePhantom(ser, "reader-1")
	s, err := e.x.Series(t.Context(), radmark.UID(ser.SeriesInstanceUID))
	if err != nil {
		t.Fatal(err)
	}
	g := s.Volume.Grid
	img := func(n int) *radmark.ImageRef {
		return &radmark.ImageRef{SOPInstanceUID: radmark.UID(ser.SOPInstanceUID(n))}
	}
	k10, _ := g.SliceOf(*img(10))
	k12, _ := g.SliceOf(*img(12))
	lps := func(i, j, k float64) [3]float64 { return g.IndexToLPS(i, j, k) }
	human := radmark.Source{Type: "human"}
	model := radmark.Source{Type: "model", Name: "lesion net", Version: "2.1.0"}
	conf := 0.8125
	items := append([]radmark.Item{}, seg.Content.Items...)
	items = append(items,
		radmark.Item{ID: "pt", Kind: radmark.KindLandmark, Label: "nodule", Source: human, Image: img(10), LPS: [][3]float64{lps(30.25, 31.7, float64(k10))}, Note: "carina"},
		radmark.Item{ID: "len", Kind: radmark.KindLength, Label: "nodule", Source: model, Confidence: &conf, Image: img(10), Points: [][2]float64{{10.5, 20.25}, {40.1, 60.3}}},
		radmark.Item{ID: "len3d", Kind: radmark.KindLength, Label: "liver-lesion", Source: human, LPS: [][3]float64{lps(3, 4, 2), lps(20, 30, 7.5)}},
		radmark.Item{ID: "len3d-img", Kind: radmark.KindLength, Label: "nodule", Source: human, Image: img(12), LPS: [][3]float64{lps(5, 5, float64(k12)), lps(9, 9, float64(k12))}},
		radmark.Item{ID: "ang", Kind: radmark.KindAngle, Label: "nodule", Source: human, Image: img(10), Points: [][2]float64{{10, 10}, {20.5, 12}, {15, 30}}},
		radmark.Item{ID: "bidi", Kind: radmark.KindBidirectional, Label: "nodule", Source: human, Image: img(11), Points: [][2]float64{{10, 10}, {30, 30}, {25, 15}, {15, 25}}},
		radmark.Item{ID: "bidi3d", Kind: radmark.KindBidirectional, Label: "nodule", Source: human, LPS: [][3]float64{lps(10, 10, 4), lps(30, 30, 4), lps(25, 15, 4), lps(15, 25, 4)}},
		radmark.Item{ID: "box", Kind: radmark.KindBox2D, Label: "nodule", Source: model, Image: img(10), Points: [][2]float64{{50.3, 40}, {20, 10.9}}},
		radmark.Item{ID: "rect", Kind: radmark.KindRectangleROI, Label: "nodule", Source: human, Image: img(9), Points: [][2]float64{{5, 6}, {25.5, 16}}},
		radmark.Item{ID: "ell", Kind: radmark.KindEllipseROI, Label: "nodule", Source: human, Image: img(9), Points: [][2]float64{{30, 40.5}, {12, 20}}},
		radmark.Item{ID: "ell-tall", Kind: radmark.KindEllipseROI, Label: "nodule", Source: human, Image: img(9), Points: [][2]float64{{10, 5}, {14, 35}}},
		radmark.Item{ID: "poly", Kind: radmark.KindContour, Label: "nodule", Source: human, Image: img(10), Closed: true, Points: [][2]float64{{10, 10}, {30.7, 10}, {30, 20}}},
		radmark.Item{ID: "line", Kind: radmark.KindContour, Label: "nodule", Source: human, Image: img(10), Points: [][2]float64{{1, 2}, {3, 4}, {5, 7}}},
		radmark.Item{ID: "cube", Kind: radmark.KindBox3D, Label: "liver-lesion", Source: human, LPS: [][3]float64{lps(40, 40, 8), lps(20, 25, 3)}},
		radmark.Item{ID: "cls", Kind: radmark.KindClassification, Label: "nodule", Source: human, Note: "whole-study impression"},
	)
	three, four := 3.0, 4.5
	rev, err := e.ann.Save(t.Context(), e.op, seg.SetID, &annotation.SaveRequest{Parent: seg.ID, Items: items, Answers: []radmark.Answer{
		{Question: "quality", Choices: []string{"good"}},
		{Question: "phase", SeriesUID: radmark.UID(ser.SeriesInstanceUID), Choices: []string{"arterial"}},
		{Question: "artefact", Image: img(10), Choices: []string{"motion", "noise"}},
		{Question: "malignancy", Item: "len", Number: &three},
		{Question: "malignancy", Item: "cls", Number: &four},
		{Question: "comment", Item: "box", Text: "irregular margin"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return e, rev
}

// f32 is what an SR keeps of a coordinate: Graphic Data is FL.
func f32(v float64) float64 { return float64(float32(v)) }

// asStored rounds an item's coordinates as an SR stores them and drops
// what a save stamps.
func asStored(it radmark.Item) radmark.Item {
	it.Author = ""
	if it.Points != nil {
		pts := make([][2]float64, len(it.Points))
		for i, p := range it.Points {
			pts[i] = [2]float64{f32(p[0]), f32(p[1])}
		}
		it.Points = pts
	}
	if it.LPS != nil {
		pts := make([][3]float64, len(it.LPS))
		for i, p := range it.LPS {
			pts[i] = [3]float64{f32(p[0]), f32(p[1]), f32(p[2])}
		}
		it.LPS = pts
	}
	return it
}

// TestSRRoundTrip exports a revision with every kind an SR carries as a
// TID 1500 report, imports it as another reader, and gets the same items
// and answers back (coordinates to the FL precision of Graphic Data), on
// both engines.
func TestSRRoundTrip(t *testing.T) {
	for _, eng := range testdb.Engines {
		t.Run(eng.Name, func(t *testing.T) { testSRRoundTrip(t, eng.Open) })
	}
}

func testSRRoundTrip(t *testing.T, open func(testing.TB) testdb.Store) {
	e, rev := allKindsEnvOn(t, open)
	ctx := t.Context()
	ds, err := e.x.SR(ctx, e.op, rev.ID)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "all.sr.dcm")
	data := writeDICOM(t, path, ds)
	dciodvfy(t, path)
	var tree []map[string]any
	python(t, &tree, "../../sr/testdata/tree.py", path)
	if len(tree) < 50 {
		t.Errorf("pydicom reads %d content items", len(tree))
	}

	res, err := e.x.ImportSR(ctx, e.op, data, exchange.ImportOptions{Project: e.project.ID, Reader: "reader-2"})
	if err != nil {
		t.Fatal(err)
	}
	var segs []string
	for _, s := range res.Skipped {
		if !strings.Contains(s, "a segmentation; import its DICOM SEG") {
			t.Errorf("skipped: %s", s)
		} else {
			segs = append(segs, s)
		}
	}
	if len(segs) != 4 {
		t.Errorf("skipped %d segmentation groups, want 4: %v", len(segs), segs)
	}
	got, err := e.ann.Revision(ctx, e.op, res.Revision.ID)
	if err != nil {
		t.Fatal(err)
	}
	var want []radmark.Item
	for _, it := range rev.Content.Items {
		if it.Kind != radmark.KindSegmentation {
			want = append(want, asStored(it))
		}
	}
	var have []radmark.Item
	for _, it := range got.Content.Items {
		it.Author = ""
		have = append(have, it)
	}
	byID := func(s []radmark.Item) { sort.Slice(s, func(a, b int) bool { return s[a].ID < s[b].ID }) }
	byID(want)
	byID(have)
	if len(have) != len(want) {
		t.Fatalf("imported %d items, want %d", len(have), len(want))
	}
	for i := range want {
		if !reflect.DeepEqual(have[i], want[i]) {
			t.Errorf("item %s:\n got  %+v\n want %+v", want[i].ID, have[i], want[i])
		}
	}
	clean := func(as []radmark.Answer) []radmark.Answer {
		out := slices.Clone(as)
		for i := range out {
			out[i].Author = ""
		}
		sort.Slice(out, func(a, b int) bool { return out[a].Question+out[a].Item < out[b].Question+out[b].Item })
		return out
	}
	if g, w := clean(got.Content.Answers), clean(rev.Content.Answers); !reflect.DeepEqual(g, w) {
		t.Errorf("answers:\n got  %+v\n want %+v", g, w)
	}
	if res.Items != len(want) || res.Answers != len(rev.Content.Answers) {
		t.Errorf("result counts %d items, %d answers", res.Items, res.Answers)
	}

	// Imported into the exporter's own set, the segmentation stays and
	// the measurements are the same.
	again, err := e.x.ImportSR(ctx, e.op, data, exchange.ImportOptions{Project: e.project.ID, Reader: "reader-1"})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(again.Revision.Content.Items); n != len(rev.Content.Items) || len(again.Revision.Content.Labelmaps) != 2 {
		t.Errorf("import into the exporter's set: %d items, %d labelmaps", n, len(again.Revision.Content.Labelmaps))
	}
	before, err := e.ann.Measurements(ctx, e.op, rev.ID)
	if err != nil {
		t.Fatal(err)
	}
	after, err := e.ann.Measurements(ctx, e.op, again.Revision.ID)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]annotation.Measurement{}
	for _, x := range after {
		m[x.Item] = x
	}
	for _, b := range before {
		a, ok := m[b.Item]
		if !ok {
			t.Errorf("item %s lost its measurement", b.Item)
			continue
		}
		if b.Length != nil && (a.Length == nil || math.Abs(a.Length.Value-b.Length.Value) > 1e-3) {
			t.Errorf("item %s length %v, was %v", b.Item, a.Length, b.Length)
		}
		if b.Area != nil && (a.Area == nil || math.Abs(a.Area.Value-b.Area.Value) > 1e-3*b.Area.Value) {
			t.Errorf("item %s area %v, was %v", b.Item, a.Area, b.Area)
		}
	}
}

type pyGroup struct {
	Tracking string   `json:"tracking"`
	Finding  []string `json:"finding"`
	Region   *struct {
		VT    string    `json:"vt"`
		Type  string    `json:"type"`
		Data  []float64 `json:"data"`
		Frame string    `json:"frame"`
	} `json:"region"`
	Nums []struct {
		Concept []string `json:"concept"`
		Value   float64  `json:"value"`
		Unit    string   `json:"unit"`
	} `json:"nums"`
}

// TestImportSharedSR imports highdicom's TID 1500 reports onto the CT
// they reference and checks every group against pydicom's reading: the
// item's coordinates are the report's, each measurement an answer with
// the report's value; groups with no place on the series are reported.
func TestImportSharedSR(t *testing.T) {
	dir := filepath.Join(testenv.SharedData(t), "annotations", "highdicom", "ct-128px")
	e := newEnv(t)
	e.ingestFiles(filepath.Join(dir, "ct_image.dcm"))
	ctx := t.Context()
	for _, name := range []string{"sr_document.dcm", "sr_document_with_multiple_groups.dcm"} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, name)
			var groups []pyGroup
			python(t, &groups, "read_sr_groups.py", path)
			if _, err := e.x.ImportSR(ctx, e.op, readFile(t, path), exchange.ImportOptions{Project: e.project.ID, Reader: "strict-" + name}); err == nil || !strings.Contains(err.Error(), "--add-labels") {
				t.Fatalf("import without --add-labels: %v", err)
			}
			res, err := e.x.ImportSR(ctx, e.op, readFile(t, path), exchange.ImportOptions{Project: e.project.ID, Reader: name, AddLabels: true})
			if err != nil {
				t.Fatal(err)
			}
			rev := res.Revision
			schema, err := e.ann.Schema(ctx, e.project.ID, rev.Content.SchemaVersion)
			if err != nil {
				t.Fatal(err)
			}
			items := map[string]radmark.Item{}
			for _, it := range rev.Content.Items {
				items[it.ID] = it
			}
			placed := 0
			for _, g := range groups {
				it, ok := items[g.Tracking]
				if g.Region == nil || g.Region.VT == "SCOORD3D" {
					// Image0001 measures the whole image; the vertebra's
					// point lies 52 mm from the one CT slice
					if ok {
						t.Errorf("group %s became item %+v", g.Tracking, it)
					}
					if !slices.ContainsFunc(res.Skipped, func(s string) bool { return strings.Contains(s, g.Tracking) }) {
						t.Errorf("group %s is neither imported nor reported: %v", g.Tracking, res.Skipped)
					}
					continue
				}
				if !ok {
					t.Errorf("group %s is not imported (skipped: %v)", g.Tracking, res.Skipped)
					continue
				}
				placed++
				if l, _ := schema.Label(it.Label); l.Type.Value != g.Finding[0] {
					t.Errorf("%s: label %q has type %v, finding %v", g.Tracking, it.Label, l.Type, g.Finding)
				}
				d := g.Region.Data
				var want [][2]float64
				switch g.Region.Type {
				case "CIRCLE":
					r := math.Hypot(d[2]-d[0], d[3]-d[1])
					want = [][2]float64{{d[0] - r, d[1] - r}, {d[0] + r, d[1] + r}}
					if it.Kind != radmark.KindEllipseROI {
						t.Errorf("%s: circle imported as %s", g.Tracking, it.Kind)
					}
				case "POLYLINE":
					for i := 0; i+1 < len(d); i += 2 {
						want = append(want, [2]float64{d[i], d[i+1]})
					}
					if it.Kind != radmark.KindContour || it.Closed {
						t.Errorf("%s: open polyline imported as %s closed=%v", g.Tracking, it.Kind, it.Closed)
					}
				}
				if !reflect.DeepEqual(it.Points, want) {
					t.Errorf("%s: points %v, pydicom %v", g.Tracking, it.Points, want)
				}
				for _, n := range g.Nums {
					found := false
					for _, a := range rev.Content.Answers {
						q, _ := schema.Question(a.Question)
						if a.Item == it.ID && q.Concept != nil && q.Concept.Value == n.Concept[0] && a.Number != nil {
							found = true
							if *a.Number != n.Value || q.Unit == nil || q.Unit.Value != n.Unit {
								t.Errorf("%s: %s answered %v %v, pydicom %v %s", g.Tracking, n.Concept[2], *a.Number, q.Unit, n.Value, n.Unit)
							}
						}
					}
					if !found {
						t.Errorf("%s: measurement %v not imported", g.Tracking, n.Concept)
					}
				}
			}
			if placed == 0 || res.Items != placed {
				t.Errorf("%d items imported, %d groups placed", res.Items, placed)
			}
		})
	}
}

func TestImportSRBadInput(t *testing.T) {
	e, rev := allKindsEnv(t)
	ctx := t.Context()
	ds, err := e.x.SR(ctx, e.op, rev.ID)
	if err != nil {
		t.Fatal(err)
	}
	data := writeDICOM(t, filepath.Join(t.TempDir(), "r.dcm"), ds)
	dcmqi := readFile(t, filepath.Join(testenv.SharedData(t), "annotations", "dcmqi_sr-tid1500", "sr.dcm"))
	text := readFile(t, filepath.Join(testenv.SharedData(t), "annotations", "pydicom_rt-sr", "reportsi.dcm"))
	seg := readFile(t, filepath.Join(testenv.SharedData(t), "annotations", "highdicom", "ct-128px", "seg_image_ct_binary_single_frame.dcm"))
	for _, c := range []struct {
		name string
		data []byte
		opt  exchange.ImportOptions
		want string
	}{
		{"not DICOM", []byte("hello"), exchange.ImportOptions{Project: e.project.ID}, "parse the SR"},
		{"a SEG", seg, exchange.ImportOptions{Project: e.project.ID}, "is not a structured report"},
		{"a basic text SR", text, exchange.ImportOptions{Project: e.project.ID}, "not a TID 1500"},
		{"images not archived", dcmqi, exchange.ImportOptions{Project: e.project.ID}, "none of which is in the archive"},
		{"unknown series", data, exchange.ImportOptions{Project: e.project.ID, Series: "1.2.3.4"}, "1.2.3.4"},
		{"unknown project", data, exchange.ImportOptions{Project: "nope"}, "nope"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := e.x.ImportSR(ctx, e.op, c.data, c.opt)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one saying %q", err, c.want)
			}
		})
	}
	// nothing was saved by the failures
	sets, err := e.ann.Sets(ctx, radmark.SetFilter{ProjectID: e.project.ID})
	if err != nil || len(sets) != 1 {
		t.Errorf("%d sets after failed imports: %v", len(sets), err)
	}
}
