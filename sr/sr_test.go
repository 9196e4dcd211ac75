package sr

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/radmark/radmark/dicom"
	"github.com/radmark/radmark/internal/testenv"
)

type pyItem struct {
	Path        []int     `json:"path"`
	VT          string    `json:"vt"`
	Concept     []string  `json:"concept"`
	Num         *float64  `json:"num"`
	Unit        []string  `json:"unit"`
	Code        []string  `json:"code"`
	GraphicType string    `json:"graphicType"`
	Data        []float64 `json:"data"`
	Text        *string   `json:"text"`
	Refs        []string  `json:"refs"`
}

func codeList(c *Code) []string {
	if c == nil {
		return nil
	}
	return []string{c.Value, c.Scheme, c.Meaning}
}

func readSR(t *testing.T, path string) *Node {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := dicom.Parse(bytes.NewReader(b), int64(len(b)), dicom.ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n, err := Parse(f.Dataset)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestSharedReportsMatchPydicom reads the TID 1500 reports of the shared
// data and compares every content item with pydicom's reading.
func TestSharedReportsMatchPydicom(t *testing.T) {
	data := testenv.SharedData(t)
	py := testenv.Python(t)
	for _, rel := range []string{
		"annotations/dcmqi_sr-tid1500/sr.dcm",
		"annotations/highdicom/ct-128px/sr_document.dcm",
		"annotations/highdicom/ct-128px/sr_document_with_multiple_groups.dcm",
	} {
		t.Run(filepath.Base(filepath.Dir(rel))+"/"+filepath.Base(rel), func(t *testing.T) {
			path := filepath.Join(data, rel)
			out, err := exec.Command(py, "testdata/tree.py", path).Output()
			if err != nil {
				t.Fatalf("tree.py: %v", err)
			}
			var want []pyItem
			if err := json.Unmarshal(out, &want); err != nil {
				t.Fatal(err)
			}
			root := readSR(t, path)
			var got []pyItem
			nums, coords := 0, 0
			root.Walk(func(p []int, n *Node) {
				it := pyItem{Path: append([]int{}, p...), VT: n.ValueType, Concept: codeList(n.Concept), Code: codeList(n.Code), Refs: []string{}}
				if n.Num != nil {
					it.Num, it.Unit = &n.Num.Value, codeList(&n.Num.Unit)
					nums++
				}
				if n.Graphic != nil {
					it.GraphicType, it.Data = n.Graphic.Type, n.Graphic.Data
					coords++
				}
				if n.ValueType == "TEXT" || n.ValueType == "UIDREF" {
					it.Text = &n.Text
				}
				for _, r := range n.Refs {
					it.Refs = append(it.Refs, r.SOPInstanceUID)
				}
				got = append(got, it)
			})
			if len(got) != len(want) {
				t.Fatalf("%d content items, pydicom reads %d", len(got), len(want))
			}
			if nums == 0 {
				t.Error("no measurement read")
			}
			for i := range want {
				g, w := got[i], want[i]
				if p := w.Path; p == nil {
					w.Path = []int{}
					if g.Path == nil {
						g.Path = []int{}
					}
				}
				ok := slices.Equal(g.Path, w.Path) && g.VT == w.VT && slices.Equal(g.Concept, w.Concept) &&
					slices.Equal(g.Code, w.Code) && slices.Equal(g.Unit, w.Unit) && g.GraphicType == w.GraphicType &&
					slices.Equal(g.Refs, w.Refs) && (g.Num == nil) == (w.Num == nil) && (g.Text == nil || w.Text == nil || *g.Text == *w.Text) &&
					len(g.Data) == len(w.Data)
				if ok && g.Num != nil && *g.Num != *w.Num {
					ok = false
				}
				for j := range g.Data {
					// GraphicData is FL: both read the same float32
					if math.Float32frombits(math.Float32bits(float32(g.Data[j]))) != float32(w.Data[j]) {
						ok = false
					}
				}
				if !ok {
					t.Errorf("item %v: radmark %+v, pydicom %+v", w.Path, g, w)
				}
			}
			t.Logf("%d content items, %d measurements, %d coordinates", len(got), nums, coords)
		})
	}
}

func TestParseRejects(t *testing.T) {
	num := &dicom.Dataset{}
	num.SetString(tagValueType, "NUM")
	mv := &dicom.Dataset{}
	mv.SetString(tagNumericValue, "abc")
	num.SetItems(tagMeasuredValue, mv)
	noVT := &dicom.Dataset{}
	coord := &dicom.Dataset{}
	coord.SetString(tagValueType, "SCOORD3D")
	coord.SetString(tagGraphicType, "POINT")
	coord.SetFloats(tagGraphicData, 1, 2)
	for name, ds := range map[string]*dicom.Dataset{"bad number": num, "no value type": noVT, "2 values for a 3D point": coord} {
		if _, err := Parse(ds); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, name := range []string{"sr_document.dcm", "sr_document_with_multiple_groups.dcm"} {
		if b, err := os.ReadFile(filepath.Join(testenv.RepoRoot(f), "..", "shared", "data", "annotations", "highdicom", "ct-128px", name)); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		file, err := dicom.Parse(bytes.NewReader(b), int64(len(b)), dicom.ParseOptions{})
		if err != nil {
			return
		}
		Parse(file.Dataset) // must not panic or hang
	})
}

// TestEncodeRoundTrip writes the shared reports' trees and reads them back.
func TestEncodeRoundTrip(t *testing.T) {
	data := testenv.SharedData(t)
	for _, rel := range []string{
		"annotations/dcmqi_sr-tid1500/sr.dcm",
		"annotations/highdicom/ct-128px/sr_document_with_multiple_groups.dcm",
	} {
		n := readSR(t, filepath.Join(data, rel))
		ds := &dicom.Dataset{}
		n.Encode(ds)
		ds.SetString(dicom.NewTag(0x0008, 0x0016), "1.2.840.10008.5.1.4.1.1.88.34")
		ds.SetString(dicom.NewTag(0x0008, 0x0018), "2.25.1")
		var buf bytes.Buffer
		if err := dicom.WriteFile(&buf, ds, dicom.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
		f, err := dicom.Parse(bytes.NewReader(buf.Bytes()), int64(buf.Len()), dicom.ParseOptions{})
		if err != nil {
			t.Fatal(err)
		}
		back, err := Parse(f.Dataset)
		if err != nil {
			t.Fatal(err)
		}
		a, _ := json.Marshal(n)
		b, _ := json.Marshal(back)
		if !bytes.Equal(a, b) {
			t.Errorf("%s: the tree changes when written and read back", rel)
		}
	}
}

func TestFormatDS(t *testing.T) {
	for v, want := range map[float64]string{1: "1", 12.5: "12.5", 1.0 / 3: "0.33333333333333", -1234567.891234567: "-1234567.8912346", 1e-20: "1e-20"} {
		if got := FormatDS(v); got != want || len(got) > 16 {
			t.Errorf("FormatDS(%v) = %q, want %q", v, got, want)
		}
	}
}
