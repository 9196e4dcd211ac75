package exchange_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"strconv"
	"testing"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/annotation"
	"github.com/radmark/radmark/exchange"
)

// measuredEnv is the phantom with its segments, a length, a landmark and
// answers: a study-level choice and a number on an item.
func measuredEnv(t *testing.T) (*env, *radmark.Revision) {
	e := newEnv(t)
	ser := ctPhantom(t)
	e.ingestDatasets(ser.Instances...)
	labels := testLabels()
	labels[0].Kinds = append(labels[0].Kinds, radmark.KindLength, radmark.KindLandmark, radmark.KindBox2D, radmark.KindContour)
	five := 5.0
	one := 1.0
	qs := []radmark.Question{
		{ID: "quality", Text: "Image quality", Type: radmark.QuestionSingle, Level: radmark.LevelStudy,
			Options: []radmark.Option{{Value: "good"}, {Value: "poor"}}},
		{ID: "malignancy", Text: "Malignancy", Type: radmark.QuestionNumber, Level: radmark.LevelAnnotation,
			Min: &one, Max: &five, Labels: []string{"nodule"}, Unit: &radmark.Code{Value: "{score}", Scheme: "UCUM", Meaning: "score"}},
	}
	var err error
	if e.schema, err = e.ann.PutSchema(t.Context(), e.op, e.project.ID, e.schema.Version, labels, qs); err != nil {
		t.Fatal(err)
	}
	seg := e.annotatePhantom(ser, "reader-1")
	img := &radmark.ImageRef{SOPInstanceUID: radmark.UID(ser.SOPInstanceUID(10))}
	sr, err := e.x.Series(t.Context(), radmark.UID(ser.SeriesInstanceUID))
	if err != nil {
		t.Fatal(err)
	}
	k, _ := sr.Volume.Grid.SliceOf(*img)
	lps := sr.Volume.Grid.IndexToLPS(30, 31, float64(k))
	items := append([]radmark.Item{}, seg.Content.Items...)
	items = append(items,
		radmark.Item{ID: "len", Kind: radmark.KindLength, Label: "nodule", Source: radmark.Source{Type: "human"}, Image: img, Points: [][2]float64{{10.5, 20.5}, {40.5, 60.5}}},
		radmark.Item{ID: "pt", Kind: radmark.KindLandmark, Label: "nodule", Source: radmark.Source{Type: "human"}, Image: img, LPS: [][3]float64{lps}},
		radmark.Item{ID: "box", Kind: radmark.KindBox2D, Label: "nodule", Source: radmark.Source{Type: "human"}, Image: img, Points: [][2]float64{{50, 40}, {20, 10}}},
		radmark.Item{ID: "poly", Kind: radmark.KindContour, Label: "nodule", Source: radmark.Source{Type: "human"}, Image: img, Closed: true, Points: [][2]float64{{10, 10}, {30, 10}, {30, 20}}},
	)
	three := 3.0
	rev, err := e.ann.Save(t.Context(), e.op, seg.SetID, &annotation.SaveRequest{Parent: seg.ID, Items: items, Answers: []radmark.Answer{
		{Question: "quality", Choices: []string{"good"}},
		{Question: "malignancy", Item: "len", Number: &three},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return e, rev
}

func TestMeasurementsTable(t *testing.T) {
	e, rev := measuredEnv(t)
	ctx := t.Context()
	rows, err := e.x.Measurements(ctx, e.op, e.project.ID)
	if err != nil {
		t.Fatal(err)
	}
	want, err := e.ann.Measurements(ctx, e.op, rev.ID)
	if err != nil {
		t.Fatal(err)
	}
	find := func(item, quantity string) *exchange.MeasurementRow {
		for i := range rows {
			if rows[i].Item == item && rows[i].Quantity == quantity {
				return &rows[i]
			}
		}
		t.Fatalf("no row for %s %s among %d rows", item, quantity, len(rows))
		return nil
	}
	for _, m := range want {
		switch m.Item {
		case "len":
			r := find("len", "length")
			if *r.Number != m.Length.Value || r.Unit != "mm" || r.Code != "SCT:27925004" || r.Image == "" {
				t.Errorf("length row %+v, measured %+v", r, m.Length)
			}
		case "pt":
			for i, q := range []string{"x", "y", "z"} {
				if r := find("pt", q); *r.Number != m.Position[i] {
					t.Errorf("landmark %s %v, measured %v", q, *r.Number, m.Position[i])
				}
			}
			if r := find("pt", "value"); r.Unit != "[hnsf'U]" || *r.Number != m.Value.Value {
				t.Errorf("landmark value %+v, measured %+v", r, m.Value)
			}
		case "box":
			if r := find("box", "area"); *r.Number != m.Area.Value || r.Unit != "mm2" {
				t.Errorf("box area row %+v, measured %+v", r, m.Area)
			}
		case "poly":
			if r := find("poly", "mean"); *r.Number != m.Stats.Mean || r.Unit != m.Stats.Unit {
				t.Errorf("contour mean row %+v, measured %+v", r, m.Stats)
			}
		default:
			r := find(m.Item, "volume")
			if m.Volume == nil || *r.Number != m.Volume.Value || r.Unit != "mm3" || r.Revision != rev.ID {
				t.Errorf("segment %s volume row %+v, measured %+v", m.Item, r, m.Volume)
			}
		}
	}
	if r := find("", "answer"); r.Question != "quality" || r.Value != "good" {
		t.Errorf("study answer row %+v", r)
	}
	if r := find("len", "answer"); r.Question != "malignancy" || r.Value != "3" || r.Unit != "{score}" {
		t.Errorf("item answer row %+v", r)
	}

	var buf bytes.Buffer
	if err := exchange.WriteMeasurementsCSV(&buf, rows); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != len(rows)+1 || len(recs[0]) != len(exchange.MeasurementColumns) {
		t.Fatalf("CSV has %d records of %d fields for %d rows", len(recs), len(recs[0]), len(rows))
	}
	col := map[string]int{}
	for i, c := range recs[0] {
		col[c] = i
	}
	for i, rec := range recs[1:] {
		if rec[col["item"]] != rows[i].Item || rec[col["quantity"]] != rows[i].Quantity || rec[col["unit"]] != rows[i].Unit {
			t.Errorf("CSV record %d %v, row %+v", i, rec, rows[i])
		}
		if rows[i].Number != nil {
			if v, err := strconv.ParseFloat(rec[col["value"]], 64); err != nil || v != *rows[i].Number {
				t.Errorf("CSV value %q does not read back as %v", rec[col["value"]], *rows[i].Number)
			}
		}
	}
	buf.Reset()
	if err := exchange.WriteMeasurementsJSON(&buf, rows); err != nil {
		t.Fatal(err)
	}
	var back []exchange.MeasurementRow
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil || len(back) != len(rows) {
		t.Fatalf("JSON reads back as %d rows: %v", len(back), err)
	}

	if _, err := e.x.Measurements(ctx, e.op, "no-such-project"); err == nil {
		t.Error("measurements of an unknown project succeeded")
	}
}
