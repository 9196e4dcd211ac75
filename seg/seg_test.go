package seg

import (
	"bytes"
	"strings"
	"testing"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/dicom"
	"github.com/radmark/radmark/labelmap"
	"github.com/radmark/radmark/volume"
)

func TestTagKeywords(t *testing.T) {
	for tag, kw := range map[dicom.Tag]string{
		tagSegmentSequence: "SegmentSequence", tagSegmentedPropertyTypeCode: "SegmentedPropertyTypeCodeSequence",
		tagReferencedSegmentNumber: "ReferencedSegmentNumber", tagSegmentIdentificationSequence: "SegmentIdentificationSequence",
		tagDimensionIndexValues: "DimensionIndexValues", tagFunctionalGroupPointer: "FunctionalGroupPointer",
		tagSharedFunctionalGroups: "SharedFunctionalGroupsSequence", tagPerFrameFunctionalGroups: "PerFrameFunctionalGroupsSequence",
		tagDerivationImageSequence: "DerivationImageSequence", tagPurposeOfReferenceCodeSeq: "PurposeOfReferenceCodeSequence",
		tagRecommendedDisplayCIELabValue: "RecommendedDisplayCIELabValue", tagAnatomicRegionModifierSeq: "AnatomicRegionModifierSequence",
		tagSegmentedPropertyTypeModifierSq: "SegmentedPropertyTypeModifierCodeSequence", tagDimensionOrganizationType: "DimensionOrganizationType",
		tagContentCreatorName: "ContentCreatorName", tagMaximumFractionalValue: "MaximumFractionalValue",
	} {
		if got := tag.Keyword(); got != kw {
			t.Errorf("%s is %s, want %s", tag, got, kw)
		}
	}
}

func TestColorRoundTrip(t *testing.T) {
	for _, c := range []string{"#ff0000", "#00ff00", "#0000ff", "#808080", "#123456"} {
		lab, ok := cielab(c)
		if !ok {
			t.Fatal(c)
		}
		if got := colorOf([]float64{float64(lab[0]), float64(lab[1]), float64(lab[2])}); got != c {
			t.Errorf("%s → %v → %s", c, lab, got)
		}
	}
}

// smallSEG encodes a two-segment SEG on a 4×3×2 grid.
func smallSEG(t testing.TB) ([]byte, *volume.Grid) {
	var images []volume.Image
	for k := 0; k < 2; k++ {
		ds := &dicom.Dataset{}
		ds.SetString(tagSOPInstanceUID, "1.2.3."+string(rune('1'+k)))
		ds.SetString(tagImagePositionPatient, "0", "0", []string{"0", "2"}[k])
		ds.SetString(tagImageOrientationPatient, "1", "0", "0", "0", "1", "0")
		ds.SetString(tagPixelSpacing, "1", "1")
		ds.SetInts(tagRows, 3)
		ds.SetInts(tagColumns, 4)
		images = append(images, volume.Image{Ref: radmark.ImageRef{SOPInstanceUID: radmark.UID("1.2.3." + string(rune('1'+k)))}, Dataset: ds})
	}
	g, err := volume.BuildGrid(images)
	if err != nil {
		t.Fatal(err)
	}
	h := &dicom.Dataset{}
	h.SetString(tagStudyInstanceUID, "1.2.9")
	h.SetString(tagFrameOfReferenceUID, "1.2.8")
	v, _ := labelmap.NewVolume(labelmap.Grid{Columns: 4, Rows: 3, Slices: 2})
	v.Set(1, 1, 0, 1)
	v.Set(3, 2, 1, 2)
	code := radmark.Code{Value: "1", Scheme: "SCT", Meaning: "x"}
	ds, err := Encode(Series{Grid: g, Header: h, SeriesUID: "1.2.7", SOPClass: map[radmark.UID]string{"1.2.3.1": "1.2.840.10008.5.1.4.1.1.2", "1.2.3.2": "1.2.840.10008.5.1.4.1.1.2"}},
		map[int]*labelmap.Volume{0: v},
		[]Segment{{Number: 1, Label: "a", Category: code, Type: code, Layer: 0, Value: 1}, {Number: 2, Label: "b", Category: code, Type: code, Algorithm: Automatic, AlgorithmName: "m 1", Layer: 0, Value: 2}},
		Options{SOPInstanceUID: "1.2.6", SeriesInstanceUID: "1.2.5", Date: "20260101", Time: "000000"})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := dicom.WriteFile(&buf, ds, dicom.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), g
}

func TestEncodeDecode(t *testing.T) {
	b, g := smallSEG(t)
	f, err := dicom.ParseBytes(b, dicom.ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if n := f.Dataset.IntOr(tagNumberOfFrames, 0); n != 2 {
		t.Errorf("%d frames, want 2 (empty frames omitted)", n)
	}
	d, err := Decode(f, g)
	if err != nil {
		t.Fatal(err)
	}
	v := d.Layers[0]
	if v == nil || v.Get(1, 1, 0) != 1 || v.Get(3, 2, 1) != 2 || d.Voxels[1] != 1 || d.Voxels[2] != 1 {
		t.Fatalf("decoded %+v", d)
	}
	if d.Segments[1].Algorithm != Automatic || d.Segments[1].AlgorithmName != "m 1" || strings.Contains(d.Segments[0].Description, "radmark") {
		t.Errorf("segments %+v", d.Segments)
	}
	// Not a SEG.
	f.Dataset.SetString(tagSOPClassUID, "1.2.840.10008.5.1.4.1.1.2")
	if _, err := Decode(f, g); err == nil || !strings.Contains(err.Error(), "not a DICOM SEG") {
		t.Errorf("CT as SEG: %v", err)
	}
}

func FuzzDecode(f *testing.F) {
	b, g := smallSEG(f)
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		pf, err := dicom.ParseBytes(b, dicom.ParseOptions{})
		if err != nil {
			return
		}
		_, _ = Decode(pf, g)
	})
}
