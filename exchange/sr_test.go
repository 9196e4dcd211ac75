package exchange_test

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/radmark/radmark/dicom"
	"github.com/radmark/radmark/internal/testenv"
	"github.com/radmark/radmark/sr"
)

func TestSRExport(t *testing.T) {
	e, rev := measuredEnv(t)
	ctx := t.Context()
	ds, err := e.x.SR(ctx, e.op, rev.ID)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "report.sr.dcm")
	data := writeDICOM(t, path, ds)
	dciodvfy(t, path)
	py := testenv.Python(t)
	if out, err := exec.Command(py, "-c", "import pydicom,sys; d=pydicom.dcmread(sys.argv[1]); print(d.SOPClassUID, len(d.ContentSequence))", path).CombinedOutput(); err != nil {
		t.Errorf("pydicom: %v\n%s", err, out)
	}
	again, err := e.x.SR(ctx, e.op, rev.ID)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := dicom.WriteFile(&buf, again, dicom.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), data) {
		t.Error("the SR export is not reproducible")
	}
	f, err := dicom.Parse(bytes.NewReader(data), int64(len(data)), dicom.ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	root, err := sr.Parse(f.Dataset)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := e.ann.Measurements(ctx, e.op, rev.ID)
	if err != nil {
		t.Fatal(err)
	}
	// every item's group carries its tracking id, and its length/volume/area
	got := map[string]map[string]float64{}
	for _, group := range root.Children[len(root.Children)-2].Children {
		id := ""
		vals := map[string]float64{}
		for _, c := range group.Children {
			if c.Concept != nil && c.Concept.Value == "112039" {
				id = c.Text
			}
			if c.Num != nil {
				vals[c.Concept.Meaning+" "+c.Num.Unit.Value] = c.Num.Value
				vals[c.Concept.Value+" "+c.Num.Unit.Value] = c.Num.Value
			}
		}
		got[id] = vals
	}
	if qe := root.Children[len(root.Children)-1]; qe.Concept.Value != "C0034375" || len(qe.Children) != 1 || qe.Children[0].Code.Value != "good" {
		t.Errorf("study answers in SR: %+v", qe)
	}
	if got["len"]["malignancy {score}"] != 3 {
		t.Errorf("item answer in SR: %v", got["len"])
	}
	for _, m := range ms {
		vals, ok := got[m.Item]
		if !ok {
			t.Errorf("item %s has no measurement group", m.Item)
			continue
		}
		if m.Length != nil && vals["Length "+m.Length.Unit] != m.Length.Value {
			t.Errorf("item %s length %v in SR, measured %v", m.Item, vals, m.Length)
		}
		if m.Volume != nil && vals["Volume "+m.Volume.Unit] != m.Volume.Value {
			t.Errorf("item %s volume %v in SR, measured %v", m.Item, vals, m.Volume)
		}
		if m.Area != nil && vals["Area "+m.Area.Unit] != m.Area.Value {
			t.Errorf("item %s area %v in SR, measured %v", m.Item, vals, m.Area)
		}
	}
}
