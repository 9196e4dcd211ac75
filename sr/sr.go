// Package sr owns DICOM Structured Reports as radmark reads them: the
// content tree of an SR document (TID 1500 Measurement Reports among
// them) with coded concepts, numeric measurements with their UCUM units,
// spatial coordinates (SCOORD on an image, SCOORD3D in a frame of
// reference) and image references.
//
// It is written by hand because no Go DICOM library models SR content;
// it works on package dicom's datasets.
package sr

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/radmark/radmark/dicom"
)

// Tags of the SR Document Content module.
var (
	tagValueType          = dicom.NewTag(0x0040, 0xA040)
	tagConceptName        = dicom.NewTag(0x0040, 0xA043)
	tagRelationshipType   = dicom.NewTag(0x0040, 0xA010)
	tagContentSequence    = dicom.NewTag(0x0040, 0xA730)
	tagTextValue          = dicom.NewTag(0x0040, 0xA160)
	tagConceptCode        = dicom.NewTag(0x0040, 0xA168)
	tagMeasuredValue      = dicom.NewTag(0x0040, 0xA300)
	tagNumericValue       = dicom.NewTag(0x0040, 0xA30A)
	tagUnitsCode          = dicom.NewTag(0x0040, 0x08EA)
	tagFloatingValue      = dicom.NewTag(0x0040, 0xA161)
	tagGraphicType        = dicom.NewTag(0x0070, 0x0023)
	tagGraphicData        = dicom.NewTag(0x0070, 0x0022)
	tagReferencedFrameUID = dicom.NewTag(0x3006, 0x0024)
	tagUID                = dicom.NewTag(0x0040, 0xA124)
	tagReferencedSOP      = dicom.NewTag(0x0008, 0x1199)
	tagRefSOPClass        = dicom.NewTag(0x0008, 0x1150)
	tagRefSOPInstance     = dicom.NewTag(0x0008, 0x1155)
	tagRefFrameNumber     = dicom.NewTag(0x0008, 0x1160)
	tagRefSegmentNumber   = dicom.NewTag(0x0062, 0x000B)
	tagDateTime           = dicom.NewTag(0x0040, 0xA120)
	tagDate               = dicom.NewTag(0x0040, 0xA121)
	tagTime               = dicom.NewTag(0x0040, 0xA122)
	tagPersonName         = dicom.NewTag(0x0040, 0xA123)
	tagContinuity         = dicom.NewTag(0x0040, 0xA050)
	tagContentTemplate    = dicom.NewTag(0x0040, 0xA504)
	tagMappingResource    = dicom.NewTag(0x0008, 0x0105)
	tagTemplateIdentifier = dicom.NewTag(0x0040, 0xDB00)
	tagCodeValue          = dicom.NewTag(0x0008, 0x0100)
	tagCodingScheme       = dicom.NewTag(0x0008, 0x0102)
	tagCodeMeaning        = dicom.NewTag(0x0008, 0x0104)
	tagLongCodeValue      = dicom.NewTag(0x0008, 0x0119)
	tagURNCodeValue       = dicom.NewTag(0x0008, 0x0120)
)

// Code is a coded concept.
type Code struct {
	Value   string `json:"value"`
	Scheme  string `json:"scheme"`
	Meaning string `json:"meaning"`
}

// Num is a NUM content item's measured value.
type Num struct {
	Value float64 `json:"value"`
	Unit  Code    `json:"unit"`
}

// Graphic is a SCOORD (image pixels, column/row pairs) or SCOORD3D
// (patient mm, x/y/z triples in FrameOfReference) content item's value.
type Graphic struct {
	Type             string    `json:"type"`
	Data             []float64 `json:"data"`
	FrameOfReference string    `json:"frameOfReference,omitempty"`
}

// ImageRef is a referenced SOP instance (an IMAGE or COMPOSITE value, or
// a SCOORD's selected image).
type ImageRef struct {
	SOPClassUID    string `json:"sopClassUID"`
	SOPInstanceUID string `json:"sopInstanceUID"`
	Frames         []int  `json:"frames,omitempty"`
	Segments       []int  `json:"segments,omitempty"`
}

// Node is one content item and its children.
type Node struct {
	Relationship string     `json:"relationship,omitempty"`
	ValueType    string     `json:"valueType"`
	Concept      *Code      `json:"concept,omitempty"`
	Text         string     `json:"text,omitempty"` // TEXT, DATETIME, DATE, TIME, PNAME, UIDREF values
	Code         *Code      `json:"code,omitempty"`
	Num          *Num       `json:"num,omitempty"`
	Graphic      *Graphic   `json:"graphic,omitempty"`
	Refs         []ImageRef `json:"refs,omitempty"`
	// Template is a CONTAINER's DCMR template identifier ("1500").
	Template string  `json:"template,omitempty"`
	Children []*Node `json:"children,omitempty"`
}

// maxDepth bounds nesting; real reports are a few levels deep.
const maxDepth = 64

// Parse reads the content tree of an SR document.
func Parse(ds *dicom.Dataset) (*Node, error) {
	return parseNode(ds, "", 0)
}

func codeOf(ds *dicom.Dataset) *Code {
	v := ds.String(tagCodeValue)
	if v == "" {
		v = ds.String(tagLongCodeValue)
	}
	if v == "" {
		v = ds.String(tagURNCodeValue)
	}
	return &Code{Value: v, Scheme: ds.String(tagCodingScheme), Meaning: ds.String(tagCodeMeaning)}
}

func firstCode(ds *dicom.Dataset, t dicom.Tag) *Code {
	items := ds.Items(t)
	if len(items) == 0 {
		return nil
	}
	return codeOf(items[0])
}

func parseNode(ds *dicom.Dataset, path string, depth int) (*Node, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("sr: content nested deeper than %d at %s", maxDepth, path)
	}
	n := &Node{Relationship: ds.String(tagRelationshipType), ValueType: strings.TrimSpace(ds.String(tagValueType)), Concept: firstCode(ds, tagConceptName)}
	if n.ValueType == "" {
		return nil, fmt.Errorf("sr: content item %s has no Value Type", pathOr(path))
	}
	switch n.ValueType {
	case "TEXT":
		n.Text = ds.String(tagTextValue)
	case "CODE":
		if n.Code = firstCode(ds, tagConceptCode); n.Code == nil {
			return nil, fmt.Errorf("sr: CODE content item %s has no Concept Code Sequence", pathOr(path))
		}
	case "NUM":
		mv := ds.Items(tagMeasuredValue)
		if len(mv) > 0 { // an empty sequence means no value (a Numeric Value Qualifier says why)
			s := strings.TrimSpace(mv[0].String(tagNumericValue))
			v, err := strconv.ParseFloat(s, 64)
			if err != nil {
				return nil, fmt.Errorf("sr: NUM content item %s has Numeric Value %q", pathOr(path), s)
			}
			if f := mv[0].Floats(tagFloatingValue); len(f) == 1 {
				v = f[0] // the exact value a decimal string could not hold
			}
			unit := firstCode(mv[0], tagUnitsCode)
			if unit == nil {
				return nil, fmt.Errorf("sr: NUM content item %s has no Measurement Units", pathOr(path))
			}
			n.Num = &Num{Value: v, Unit: *unit}
		}
	case "SCOORD", "SCOORD3D":
		n.Graphic = &Graphic{Type: ds.String(tagGraphicType), Data: ds.Floats(tagGraphicData), FrameOfReference: ds.String(tagReferencedFrameUID)}
		dim := 2
		if n.ValueType == "SCOORD3D" {
			dim = 3
		}
		if len(n.Graphic.Data) == 0 || len(n.Graphic.Data)%dim != 0 {
			return nil, fmt.Errorf("sr: %s content item %s has %d graphic data values", n.ValueType, pathOr(path), len(n.Graphic.Data))
		}
	case "CONTAINER":
		for _, t := range ds.Items(tagContentTemplate) {
			n.Template = t.String(tagTemplateIdentifier)
		}
	case "DATETIME":
		n.Text = ds.String(tagDateTime)
	case "DATE":
		n.Text = ds.String(tagDate)
	case "TIME":
		n.Text = ds.String(tagTime)
	case "PNAME":
		n.Text = ds.String(tagPersonName)
	case "UIDREF":
		n.Text = ds.String(tagUID)
	}
	for _, r := range ds.Items(tagReferencedSOP) {
		ref := ImageRef{SOPClassUID: r.String(tagRefSOPClass), SOPInstanceUID: r.String(tagRefSOPInstance)}
		for _, s := range r.Strings(tagRefFrameNumber) {
			f, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil {
				return nil, fmt.Errorf("sr: content item %s references frame %q", pathOr(path), s)
			}
			ref.Frames = append(ref.Frames, f)
		}
		if seg := r.Get(tagRefSegmentNumber); seg != nil {
			for _, s := range r.Strings(tagRefSegmentNumber) {
				if v, err := strconv.Atoi(strings.TrimSpace(s)); err == nil {
					ref.Segments = append(ref.Segments, v)
				}
			}
		}
		n.Refs = append(n.Refs, ref)
	}
	for i, c := range ds.Items(tagContentSequence) {
		child, err := parseNode(c, fmt.Sprintf("%s%d.", path, i+1), depth+1)
		if err != nil {
			return nil, err
		}
		n.Children = append(n.Children, child)
	}
	return n, nil
}

func pathOr(p string) string {
	if p == "" {
		return "(root)"
	}
	return strings.TrimSuffix(p, ".")
}

// Walk calls fn for every node, depth first, with its path of 1-based
// positions (nil for the root).
func (n *Node) Walk(fn func(path []int, n *Node)) {
	var walk func(path []int, n *Node)
	walk = func(path []int, n *Node) {
		fn(path, n)
		for i, c := range n.Children {
			walk(append(path[:len(path):len(path)], i+1), c)
		}
	}
	walk(nil, n)
}
