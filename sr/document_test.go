package sr

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/radmark/radmark/dicom"
	"github.com/radmark/radmark/internal/testenv"
	"github.com/radmark/radmark/phantom"
)

func dcm(v, meaning string) *Code { return &Code{Value: v, Scheme: "DCM", Meaning: meaning} }

// tid1500 is a Measurement Report with one measurement group: a length
// with its SCOORD3D polyline, on an image of the phantom.
func tid1500(img *dicom.Dataset) *Node {
	class, uid := img.String(dicom.NewTag(0x0008, 0x0016)), img.String(dicom.NewTag(0x0008, 0x0018))
	frame := img.String(dicom.NewTag(0x0020, 0x0052))
	return &Node{ValueType: "CONTAINER", Concept: dcm("126000", "Imaging Measurement Report"), Template: "1500", Children: []*Node{
		{Relationship: "HAS CONCEPT MOD", ValueType: "CODE", Concept: dcm("121049", "Language of Content Item and Descendants"), Code: &Code{"en-US", "RFC5646", "English (United States)"}},
		{Relationship: "HAS OBS CONTEXT", ValueType: "CODE", Concept: dcm("121005", "Observer Type"), Code: dcm("121006", "Person")},
		{Relationship: "HAS OBS CONTEXT", ValueType: "PNAME", Concept: dcm("121008", "Person Observer Name"), Text: "Doe^Jane"},
		{Relationship: "HAS CONCEPT MOD", ValueType: "CODE", Concept: dcm("121058", "Procedure reported"), Code: &Code{"77477000", "SCT", "Computed Tomography"}},
		{Relationship: "CONTAINS", ValueType: "CONTAINER", Concept: dcm("111028", "Image Library"), Children: []*Node{
			{Relationship: "CONTAINS", ValueType: "CONTAINER", Concept: dcm("126200", "Image Library Group"), Children: []*Node{
				{Relationship: "CONTAINS", ValueType: "IMAGE", Refs: []ImageRef{{SOPClassUID: class, SOPInstanceUID: uid}}},
			}},
		}},
		{Relationship: "CONTAINS", ValueType: "CONTAINER", Concept: dcm("126010", "Imaging Measurements"), Children: []*Node{
			{Relationship: "CONTAINS", ValueType: "CONTAINER", Concept: dcm("125007", "Measurement Group"), Template: "1410", Children: []*Node{
				{Relationship: "HAS OBS CONTEXT", ValueType: "TEXT", Concept: dcm("112039", "Tracking Identifier"), Text: "len"},
				{Relationship: "HAS OBS CONTEXT", ValueType: "UIDREF", Concept: dcm("112040", "Tracking Unique Identifier"), Text: "2.25.12345"},
				{Relationship: "CONTAINS", ValueType: "CODE", Concept: dcm("121071", "Finding"), Code: &Code{"27925004", "SCT", "Nodule"}},
				{Relationship: "CONTAINS", ValueType: "NUM", Concept: &Code{"410668003", "SCT", "Length"}, Num: &Num{Value: 12.5, Unit: Code{"mm", "UCUM", "millimeter"}}, Children: []*Node{
					{Relationship: "INFERRED FROM", ValueType: "SCOORD3D", Graphic: &Graphic{Type: "POLYLINE", Data: []float64{1, 2, 3, 11, 2, 3}, FrameOfReference: frame}},
				}},
			}},
		}},
	}}
}

func TestDocumentPassesDciodvfy(t *testing.T) {
	bin := testenv.LookPath(t, "dciodvfy")
	py := testenv.Python(t)
	ser, err := phantom.Generate(phantom.CTSmall())
	if err != nil {
		t.Fatal(err)
	}
	img := ser.Instances[0]
	content := tid1500(img)
	doc := &Document{Source: img, SeriesUID: "2.25.1001", InstanceUID: "2.25.1002", SeriesNumber: 900, Date: "20260101", Time: "120000",
		Manufacturer: "radmark", Software: "test", Content: content,
		Evidence: []Evidence{{Study: ser.StudyInstanceUID, Series: ser.SeriesInstanceUID, SOPClass: img.String(dicom.NewTag(0x0008, 0x0016)), SOPInstance: ser.SOPInstanceUID(0)}}}
	ds, err := doc.Dataset()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := dicom.WriteFile(&buf, ds, dicom.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "sr.dcm")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	out, _ := exec.Command(bin, path).CombinedOutput()
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "Error") {
			t.Error("dciodvfy:", l)
		}
	}
	t.Logf("dciodvfy:\n%s", out)
	// pydicom reads the same tree.
	pyOut, err := exec.Command(py, "testdata/tree.py", path).Output()
	if err != nil {
		t.Fatalf("tree.py: %v", err)
	}
	var want []pyItem
	if err := json.Unmarshal(pyOut, &want); err != nil {
		t.Fatal(err)
	}
	n := 0
	content.Walk(func([]int, *Node) { n++ })
	if len(want) != n {
		t.Errorf("pydicom reads %d content items, radmark wrote %d", len(want), n)
	}
	f, err := dicom.Parse(bytes.NewReader(buf.Bytes()), int64(buf.Len()), dicom.ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse(f.Dataset)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(content)
	b, _ := json.Marshal(back)
	if !bytes.Equal(a, b) {
		t.Errorf("read back:\n%s\nwrote:\n%s", b, a)
	}
}
