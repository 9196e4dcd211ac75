// Package rtstruct owns DICOM RT Structure Sets as radmark writes and
// reads them: regions of interest (ROIs) as planar contours in patient
// LPS millimetres on the slices of a referenced series, with their
// names, colours, generation algorithm and identification codes.
//
// Encode writes the RT Structure Set IOD (RT Series, Structure Set, ROI
// Contour, RT ROI Observations); Decode reads one back, tolerating the
// files other planning systems write (no preamble, implicit VR).
// SliceContours traces a binary mask slice into contours along pixel
// edges, holes as separate contours, and Rasterise fills contours back
// onto a series grid by the even-odd rule at pixel centres, so a traced
// mask comes back exactly.
//
// It is written by hand because no Go DICOM library models RT structure
// sets or turns masks into contours and back; the maintained libraries
// that do (pydicom with rt-utils, dcmrtstruct2nii, plastimatch) are
// Python or C++. It works on package dicom's datasets and package
// volume's grids.
package rtstruct

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/dicom"
)

// SOPClass is RT Structure Set Storage.
const SOPClass = "1.2.840.10008.5.1.4.1.1.481.3"

// studyComponentClass is the SOP class RT Referenced Study Sequence items
// name (the retired Detached Study Management SOP Class, as PS3.3 still
// requires and planning systems write).
const studyComponentClass = "1.2.840.10008.3.1.2.3.1"

// Tags of the RT Structure Set IOD's own modules.
var (
	tagStructureSetLabel      = dicom.NewTag(0x3006, 0x0002)
	tagStructureSetName       = dicom.NewTag(0x3006, 0x0004)
	tagStructureSetDate       = dicom.NewTag(0x3006, 0x0008)
	tagStructureSetTime       = dicom.NewTag(0x3006, 0x0009)
	tagRefFrameOfRefSeq       = dicom.NewTag(0x3006, 0x0010)
	tagRTRefStudySeq          = dicom.NewTag(0x3006, 0x0012)
	tagRTRefSeriesSeq         = dicom.NewTag(0x3006, 0x0014)
	tagContourImageSeq        = dicom.NewTag(0x3006, 0x0016)
	tagStructureSetROISeq     = dicom.NewTag(0x3006, 0x0020)
	tagROINumber              = dicom.NewTag(0x3006, 0x0022)
	tagRefFrameOfRefUID       = dicom.NewTag(0x3006, 0x0024)
	tagROIName                = dicom.NewTag(0x3006, 0x0026)
	tagROIDescription         = dicom.NewTag(0x3006, 0x0028)
	tagROIDisplayColor        = dicom.NewTag(0x3006, 0x002A)
	tagROIGenerationAlgorithm = dicom.NewTag(0x3006, 0x0036)
	tagROIGenerationDesc      = dicom.NewTag(0x3006, 0x0038)
	tagROIContourSeq          = dicom.NewTag(0x3006, 0x0039)
	tagContourSeq             = dicom.NewTag(0x3006, 0x0040)
	tagContourGeometricType   = dicom.NewTag(0x3006, 0x0042)
	tagNumberOfContourPoints  = dicom.NewTag(0x3006, 0x0046)
	tagContourNumber          = dicom.NewTag(0x3006, 0x0048)
	tagContourData            = dicom.NewTag(0x3006, 0x0050)
	tagRTROIObservationsSeq   = dicom.NewTag(0x3006, 0x0080)
	tagObservationNumber      = dicom.NewTag(0x3006, 0x0082)
	tagReferencedROINumber    = dicom.NewTag(0x3006, 0x0084)
	tagRTROIIdentCodeSeq      = dicom.NewTag(0x3006, 0x0086)
	tagRTROIInterpretedType   = dicom.NewTag(0x3006, 0x00A4)
	tagROIInterpreter         = dicom.NewTag(0x3006, 0x00A6)

	tagSOPClassUID          = dicom.NewTag(0x0008, 0x0016)
	tagSOPInstanceUID       = dicom.NewTag(0x0008, 0x0018)
	tagModality             = dicom.NewTag(0x0008, 0x0060)
	tagManufacturer         = dicom.NewTag(0x0008, 0x0070)
	tagSeriesDescription    = dicom.NewTag(0x0008, 0x103E)
	tagOperatorsName        = dicom.NewTag(0x0008, 0x1070)
	tagRefSOPClassUID       = dicom.NewTag(0x0008, 0x1150)
	tagRefSOPInstanceUID    = dicom.NewTag(0x0008, 0x1155)
	tagRefFrameNumber       = dicom.NewTag(0x0008, 0x1160)
	tagSoftwareVersions     = dicom.NewTag(0x0018, 0x1020)
	tagStudyInstanceUID     = dicom.NewTag(0x0020, 0x000D)
	tagSeriesInstanceUID    = dicom.NewTag(0x0020, 0x000E)
	tagSeriesNumber         = dicom.NewTag(0x0020, 0x0011)
	tagInstanceNumber       = dicom.NewTag(0x0020, 0x0013)
	tagFrameOfReferenceUID  = dicom.NewTag(0x0020, 0x0052)
	tagPositionRefIndicator = dicom.NewTag(0x0020, 0x1040)
	tagCodeValue            = dicom.NewTag(0x0008, 0x0100)
	tagCodingScheme         = dicom.NewTag(0x0008, 0x0102)
	tagCodeMeaning          = dicom.NewTag(0x0008, 0x0104)
)

// Contour geometric types.
const (
	ClosedPlanar  = "CLOSED_PLANAR"
	Point         = "POINT"
	OpenPlanar    = "OPEN_PLANAR"
	OpenNonplanar = "OPEN_NONPLANAR"
)

// Image is a referenced image (Frame 0 for single-frame instances).
type Image struct {
	SOPClass    string
	SOPInstance string
	Frame       int
}

// Contour is one contour of an ROI: its points in patient LPS mm and the
// images it lies on.
type Contour struct {
	Type   string
	Points [][3]float64
	Images []Image
}

// ROI is one region of interest.
type ROI struct {
	Number      int
	Name        string
	Description string
	// Color is the ROI Display Color; HasColor says whether the file
	// gives one.
	Color    [3]int
	HasColor bool
	// Algorithm is the ROI Generation Algorithm: AUTOMATIC,
	// SEMIAUTOMATIC or MANUAL ("" when unknown).
	Algorithm string
	// AlgorithmName is the ROI Generation Description.
	AlgorithmName string
	// InterpretedType is the RT ROI Interpreted Type (ORGAN, GTV, ...).
	InterpretedType string
	// Code is the RT ROI Identification Code, if any.
	Code             *radmark.Code
	FrameOfReference string
	Contours         []Contour
}

// Series is a referenced series and its images.
type Series struct {
	UID    string
	Images []Image
}

// StructureSet is an RT Structure Set.
type StructureSet struct {
	SOPInstanceUID   string
	SeriesUID        string
	StudyUID         string
	Label, Name      string
	FrameOfReference string
	// Referenced are the series the structure set's frame of reference
	// lists.
	Referenced []Series
	ROIs       []ROI
}

// Options are what Encode writes besides the structures.
type Options struct {
	SeriesNumber      int
	SeriesDescription string
	Date, Time        string // YYYYMMDD, HHMMSS
	Manufacturer      string
	Software          string
	Interpreter       string // ROI Interpreter (PN)
}

// copied are the Patient and General Study attributes Encode copies from
// a referenced image (type 2: present, empty when the image lacks them).
var copied = []dicom.Tag{
	dicom.NewTag(0x0010, 0x0010), dicom.NewTag(0x0010, 0x0020), dicom.NewTag(0x0010, 0x0030), dicom.NewTag(0x0010, 0x0040),
	dicom.NewTag(0x0020, 0x000D), dicom.NewTag(0x0008, 0x0020), dicom.NewTag(0x0008, 0x0030), dicom.NewTag(0x0008, 0x0090),
	dicom.NewTag(0x0020, 0x0010), dicom.NewTag(0x0008, 0x0050),
}

// Encode writes ss as an RT Structure Set; source is a referenced
// image's header, whose patient and study it copies.
func Encode(ss *StructureSet, source *dicom.Dataset, opt Options) (*dicom.Dataset, error) {
	switch {
	case source == nil:
		return nil, fmt.Errorf("rtstruct: no source image header")
	case ss.SOPInstanceUID == "" || ss.SeriesUID == "" || ss.FrameOfReference == "" || ss.StudyUID == "":
		return nil, fmt.Errorf("rtstruct: a structure set needs its instance, series, study and frame of reference UIDs")
	case len(ss.Referenced) == 0:
		return nil, fmt.Errorf("rtstruct: a structure set references at least one series")
	}
	ds := &dicom.Dataset{}
	if e := source.Get(dicom.NewTag(0x0008, 0x0005)); e != nil {
		ds.Put(*e)
	}
	for _, t := range copied {
		if e := source.Get(t); e != nil {
			ds.Put(*e)
		} else {
			ds.SetString(t)
		}
	}
	ds.SetString(tagStudyInstanceUID, ss.StudyUID)
	ds.SetString(tagSOPClassUID, SOPClass)
	ds.SetString(tagSOPInstanceUID, ss.SOPInstanceUID)
	ds.SetString(tagModality, "RTSTRUCT")
	ds.SetString(tagSeriesInstanceUID, ss.SeriesUID)
	ds.SetInts(tagSeriesNumber, opt.SeriesNumber)
	if opt.SeriesDescription != "" {
		ds.SetString(tagSeriesDescription, opt.SeriesDescription)
	}
	ds.SetString(tagOperatorsName)
	ds.SetString(tagManufacturer, opt.Manufacturer)
	if opt.Software != "" {
		ds.SetString(tagSoftwareVersions, opt.Software)
	}
	ds.SetInts(tagInstanceNumber, 1)
	// Frame of Reference module (the IOD has it since 2019)
	ds.SetString(tagFrameOfReferenceUID, ss.FrameOfReference)
	if e := source.Get(tagPositionRefIndicator); e != nil && source.String(tagFrameOfReferenceUID) == ss.FrameOfReference {
		ds.Put(*e)
	} else {
		ds.SetString(tagPositionRefIndicator)
	}
	label := ss.Label
	if label == "" {
		label = "RADMARK"
	}
	ds.SetString(tagStructureSetLabel, label)
	if ss.Name != "" {
		ds.SetString(tagStructureSetName, ss.Name)
	}
	ds.SetString(tagStructureSetDate, opt.Date)
	ds.SetString(tagStructureSetTime, opt.Time)

	var series []*dicom.Dataset
	for _, s := range ss.Referenced {
		it := &dicom.Dataset{}
		it.SetString(tagSeriesInstanceUID, s.UID)
		it.SetItems(tagContourImageSeq, imageItems(s.Images)...)
		series = append(series, it)
	}
	study := &dicom.Dataset{}
	study.SetString(tagRefSOPClassUID, studyComponentClass)
	study.SetString(tagRefSOPInstanceUID, ss.StudyUID)
	study.SetItems(tagRTRefSeriesSeq, series...)
	frame := &dicom.Dataset{}
	frame.SetString(tagFrameOfReferenceUID, ss.FrameOfReference)
	frame.SetItems(tagRTRefStudySeq, study)
	ds.SetItems(tagRefFrameOfRefSeq, frame)

	roiItems := []*dicom.Dataset{}
	contourItems := []*dicom.Dataset{}
	observations := []*dicom.Dataset{}
	for n, r := range ss.ROIs {
		if r.Number <= 0 {
			return nil, fmt.Errorf("rtstruct: ROI %q has number %d", r.Name, r.Number)
		}
		it := &dicom.Dataset{}
		it.SetInts(tagROINumber, r.Number)
		it.SetString(tagRefFrameOfRefUID, ss.FrameOfReference)
		it.SetString(tagROIName, r.Name)
		if r.Description != "" {
			it.SetString(tagROIDescription, r.Description)
		}
		it.SetString(tagROIGenerationAlgorithm, r.Algorithm)
		if r.AlgorithmName != "" {
			it.SetString(tagROIGenerationDesc, r.AlgorithmName)
		}
		roiItems = append(roiItems, it)

		rc := &dicom.Dataset{}
		if r.HasColor {
			rc.SetInts(tagROIDisplayColor, r.Color[0], r.Color[1], r.Color[2])
		}
		var contours []*dicom.Dataset
		for i, c := range r.Contours {
			ci := &dicom.Dataset{}
			if len(c.Images) > 0 {
				ci.SetItems(tagContourImageSeq, imageItems(c.Images)...)
			}
			ci.SetString(tagContourGeometricType, c.Type)
			ci.SetInts(tagNumberOfContourPoints, len(c.Points))
			ci.SetInts(tagContourNumber, i+1)
			data := make([]float64, 0, 3*len(c.Points))
			for _, p := range c.Points {
				data = append(data, p[0], p[1], p[2])
			}
			ci.SetFloats(tagContourData, data...)
			contours = append(contours, ci)
		}
		if len(contours) > 0 {
			rc.SetItems(tagContourSeq, contours...)
		}
		rc.SetInts(tagReferencedROINumber, r.Number)
		contourItems = append(contourItems, rc)

		ob := &dicom.Dataset{}
		ob.SetInts(tagObservationNumber, n+1)
		ob.SetInts(tagReferencedROINumber, r.Number)
		if r.Code != nil {
			c := &dicom.Dataset{}
			c.SetString(tagCodeValue, r.Code.Value)
			c.SetString(tagCodingScheme, r.Code.Scheme)
			c.SetString(tagCodeMeaning, r.Code.Meaning)
			ob.SetItems(tagRTROIIdentCodeSeq, c)
		}
		ob.SetString(tagRTROIInterpretedType, r.InterpretedType)
		ob.SetString(tagROIInterpreter, opt.Interpreter)
		observations = append(observations, ob)
	}
	ds.SetItems(tagStructureSetROISeq, roiItems...)
	ds.SetItems(tagROIContourSeq, contourItems...)
	ds.SetItems(tagRTROIObservationsSeq, observations...)
	return ds, nil
}

func imageItems(images []Image) []*dicom.Dataset {
	out := make([]*dicom.Dataset, 0, len(images))
	for _, im := range images {
		it := &dicom.Dataset{}
		it.SetString(tagRefSOPClassUID, im.SOPClass)
		it.SetString(tagRefSOPInstanceUID, im.SOPInstance)
		if im.Frame > 0 {
			it.SetInts(tagRefFrameNumber, im.Frame)
		}
		out = append(out, it)
	}
	return out
}

// maxPoints bounds one contour, so a hostile file cannot make Decode
// allocate without limit beyond what the file itself holds.
const maxPoints = 1 << 22

// Decode reads an RT Structure Set.
func Decode(ds *dicom.Dataset) (*StructureSet, error) {
	if c := ds.String(tagSOPClassUID); c != SOPClass {
		if c == "" {
			c = "none"
		}
		return nil, radmark.Errorf(radmark.EINVALID, "SOP class %s is not RT Structure Set Storage", c)
	}
	ss := &StructureSet{SOPInstanceUID: ds.String(tagSOPInstanceUID), SeriesUID: ds.String(tagSeriesInstanceUID),
		StudyUID: ds.String(tagStudyInstanceUID), Label: ds.String(tagStructureSetLabel), Name: ds.String(tagStructureSetName)}
	ss.FrameOfReference = ds.String(tagFrameOfReferenceUID)
	for _, f := range ds.Items(tagRefFrameOfRefSeq) {
		if ss.FrameOfReference == "" {
			ss.FrameOfReference = f.String(tagFrameOfReferenceUID)
		}
		for _, st := range f.Items(tagRTRefStudySeq) {
			for _, se := range st.Items(tagRTRefSeriesSeq) {
				s := Series{UID: se.String(tagSeriesInstanceUID)}
				imgs, err := readImages(se)
				if err != nil {
					return nil, err
				}
				s.Images = imgs
				ss.Referenced = append(ss.Referenced, s)
			}
		}
	}
	byNumber := map[int]int{}
	for i, it := range ds.Items(tagStructureSetROISeq) {
		n, ok := it.Int(tagROINumber)
		if !ok {
			return nil, radmark.Errorf(radmark.EINVALID, "structure set ROI %d has no ROI Number", i+1)
		}
		if _, dup := byNumber[n]; dup {
			return nil, radmark.Errorf(radmark.EINVALID, "ROI number %d is used twice", n)
		}
		byNumber[n] = len(ss.ROIs)
		ss.ROIs = append(ss.ROIs, ROI{Number: n, Name: it.String(tagROIName), Description: it.String(tagROIDescription),
			Algorithm: it.String(tagROIGenerationAlgorithm), AlgorithmName: it.String(tagROIGenerationDesc), FrameOfReference: it.String(tagRefFrameOfRefUID)})
	}
	for i, rc := range ds.Items(tagROIContourSeq) {
		n, ok := rc.Int(tagReferencedROINumber)
		idx, known := byNumber[n]
		if !ok || !known {
			return nil, radmark.Errorf(radmark.EINVALID, "ROI contour %d references ROI %d, which the structure set does not define", i+1, n)
		}
		r := &ss.ROIs[idx]
		if e := rc.Get(tagROIDisplayColor); e != nil {
			if c := e.Ints(); len(c) == 3 {
				r.Color, r.HasColor = [3]int{int(c[0]), int(c[1]), int(c[2])}, true
			}
		}
		for j, c := range rc.Items(tagContourSeq) {
			what := fmt.Sprintf("ROI %d (%q) contour %d", n, r.Name, j+1)
			e := c.Get(tagContourData)
			if e == nil {
				return nil, radmark.Errorf(radmark.EINVALID, "%s has no Contour Data", what)
			}
			if len(e.Value) > 17*3*maxPoints {
				return nil, radmark.Errorf(radmark.ETOOLARGE, "%s has more than %d points", what, maxPoints)
			}
			data, err := parseDS(e.Value)
			if err != nil {
				return nil, radmark.Errorf(radmark.EINVALID, "%s: %v", what, err)
			}
			if len(data) == 0 || len(data)%3 != 0 {
				return nil, radmark.Errorf(radmark.EINVALID, "%s has %d coordinates, not x/y/z triples", what, len(data))
			}
			if np, ok := c.Int(tagNumberOfContourPoints); ok && np != len(data)/3 {
				return nil, radmark.Errorf(radmark.EINVALID, "%s says %d points but holds %d", what, np, len(data)/3)
			}
			ct := Contour{Type: strings.TrimSpace(c.String(tagContourGeometricType))}
			for k := 0; k < len(data); k += 3 {
				ct.Points = append(ct.Points, [3]float64{data[k], data[k+1], data[k+2]})
			}
			if ct.Images, err = readImages(c); err != nil {
				return nil, err
			}
			r.Contours = append(r.Contours, ct)
		}
	}
	for _, ob := range ds.Items(tagRTROIObservationsSeq) {
		n, _ := ob.Int(tagReferencedROINumber)
		idx, known := byNumber[n]
		if !known {
			continue
		}
		ss.ROIs[idx].InterpretedType = ob.String(tagRTROIInterpretedType)
		if codes := ob.Items(tagRTROIIdentCodeSeq); len(codes) > 0 {
			ss.ROIs[idx].Code = &radmark.Code{Value: codes[0].String(tagCodeValue), Scheme: codes[0].String(tagCodingScheme), Meaning: codes[0].String(tagCodeMeaning)}
		}
	}
	return ss, nil
}

func readImages(ds *dicom.Dataset) ([]Image, error) {
	var out []Image
	for _, im := range ds.Items(tagContourImageSeq) {
		img := Image{SOPClass: im.String(tagRefSOPClassUID), SOPInstance: im.String(tagRefSOPInstanceUID)}
		if f, ok := im.Int(tagRefFrameNumber); ok {
			img.Frame = f
		}
		out = append(out, img)
	}
	return out, nil
}

// parseDS reads a DS value list, each value a finite number.
func parseDS(b []byte) ([]float64, error) {
	s := strings.Trim(string(b), " \x00")
	if s == "" {
		return nil, nil
	}
	parts := strings.Split(s, `\`)
	out := make([]float64, len(parts))
	for i, p := range parts {
		v, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || v != v || v > 1e300 || v < -1e300 {
			return nil, fmt.Errorf("coordinate %d is %q, not a number", i+1, p)
		}
		out[i] = v
	}
	return out, nil
}
