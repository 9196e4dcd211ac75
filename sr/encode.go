package sr

import (
	"strconv"

	"github.com/radmark/radmark/dicom"
)

// Encode writes n's content item attributes and its children into ds
// (the document dataset for the root, an item of the parent's Content
// Sequence otherwise). Parse reads back the same tree.
func (n *Node) Encode(ds *dicom.Dataset) {
	if n.Relationship != "" {
		ds.SetString(tagRelationshipType, n.Relationship)
	}
	ds.SetString(tagValueType, n.ValueType)
	if n.Concept != nil {
		ds.SetItems(tagConceptName, encodeCode(n.Concept))
	}
	switch n.ValueType {
	case "CONTAINER":
		ds.SetString(tagContinuity, "SEPARATE")
		if n.Template != "" {
			t := &dicom.Dataset{}
			t.SetString(tagMappingResource, "DCMR")
			t.SetString(tagTemplateIdentifier, n.Template)
			ds.SetItems(tagContentTemplate, t)
		}
	case "TEXT":
		ds.SetString(tagTextValue, n.Text)
	case "CODE":
		if n.Code != nil {
			ds.SetItems(tagConceptCode, encodeCode(n.Code))
		}
	case "NUM":
		if n.Num != nil {
			mv := &dicom.Dataset{}
			text := FormatDS(n.Num.Value)
			mv.SetString(tagNumericValue, text)
			if v, err := strconv.ParseFloat(text, 64); err != nil || v != n.Num.Value {
				mv.SetFloatsVR(tagFloatingValue, dicom.FD, n.Num.Value)
			}
			mv.SetItems(tagUnitsCode, encodeCode(&n.Num.Unit))
			ds.SetItems(tagMeasuredValue, mv)
		} else {
			ds.SetItems(tagMeasuredValue)
		}
	case "SCOORD", "SCOORD3D":
		if g := n.Graphic; g != nil {
			ds.SetString(tagGraphicType, g.Type)
			ds.SetFloats(tagGraphicData, g.Data...)
			if n.ValueType == "SCOORD3D" {
				ds.SetString(tagReferencedFrameUID, g.FrameOfReference)
			}
		}
	case "DATETIME":
		ds.SetString(tagDateTime, n.Text)
	case "DATE":
		ds.SetString(tagDate, n.Text)
	case "TIME":
		ds.SetString(tagTime, n.Text)
	case "PNAME":
		ds.SetString(tagPersonName, n.Text)
	case "UIDREF":
		ds.SetString(tagUID, n.Text)
	}
	if len(n.Refs) > 0 {
		var items []*dicom.Dataset
		for _, r := range n.Refs {
			it := &dicom.Dataset{}
			it.SetString(tagRefSOPClass, r.SOPClassUID)
			it.SetString(tagRefSOPInstance, r.SOPInstanceUID)
			if len(r.Frames) > 0 {
				it.SetInts(tagRefFrameNumber, r.Frames...)
			}
			if len(r.Segments) > 0 {
				it.SetInts(tagRefSegmentNumber, r.Segments...)
			}
			items = append(items, it)
		}
		ds.SetItems(tagReferencedSOP, items...)
	}
	if len(n.Children) > 0 {
		items := make([]*dicom.Dataset, len(n.Children))
		for i, c := range n.Children {
			items[i] = &dicom.Dataset{}
			c.Encode(items[i])
		}
		ds.SetItems(tagContentSequence, items...)
	}
}

func encodeCode(c *Code) *dicom.Dataset {
	ds := &dicom.Dataset{}
	switch {
	case len(c.Value) > 16 && (len(c.Value) > 4 && c.Value[:4] == "urn:" || len(c.Value) > 5 && c.Value[:5] == "http:"):
		ds.SetString(tagURNCodeValue, c.Value)
	case len(c.Value) > 16:
		ds.SetString(tagLongCodeValue, c.Value)
	default:
		ds.SetString(tagCodeValue, c.Value)
	}
	ds.SetString(tagCodingScheme, c.Scheme)
	ds.SetString(tagCodeMeaning, c.Meaning)
	return ds
}

// FormatDS formats v as a DICOM decimal string (at most 16 characters),
// as exactly as that allows.
func FormatDS(v float64) string {
	for p := 16; p > 0; p-- {
		s := strconv.FormatFloat(v, 'g', p, 64)
		if len(s) <= 16 {
			return s
		}
	}
	return strconv.FormatFloat(v, 'g', 1, 64)
}
