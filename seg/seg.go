// Package seg writes and reads DICOM Segmentation objects (SEG,
// Segmentation Storage 1.2.840.10008.5.1.4.1.1.66.4) on a series' voxel
// grid: radmark's labelmap layers become binary segments coded with the
// label schema's category and type, and SEGs from other tools (dcmqi,
// highdicom, binary or fractional, overlapping or not) become labelmap
// layers again.
//
// A written SEG holds one frame per segment and non-empty slice (empty
// frames are omitted), ordered by segment, then slice along the normal;
// every frame carries its exact Plane Position (Patient) from the source
// image it derives from, its Derivation Image reference and its dimension
// index values (segment number, slice). Orientation and pixel measures are
// shared. Overlapping segments — kept in separate labelmap layers — are
// separate segments.
//
// It is built on the repository's own dicom package; the functional-group
// layout follows PS3.3 A.51 and C.8.20 and was checked against how
// highdicom and dcmqi write SEGs, and against dciodvfy.
package seg

import (
	"crypto/sha256"
	"fmt"
	"math"
	"math/big"
	"strings"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/dicom"
	"github.com/radmark/radmark/labelmap"
	"github.com/radmark/radmark/volume"
)

// SOPClassUID is Segmentation Storage.
const SOPClassUID = "1.2.840.10008.5.1.4.1.1.66.4"

// Algorithm types of a segment (SegmentAlgorithmType).
const (
	Manual        = "MANUAL"
	Semiautomatic = "SEMIAUTOMATIC"
	Automatic     = "AUTOMATIC"
)

// Segment describes one segment. Its voxels are those of labelmap layer
// Layer that hold Value.
type Segment struct {
	Number      int // 1-based SegmentNumber
	Label       string
	Description string
	Category    radmark.Code
	Type        radmark.Code
	// Optional codes.
	TypeModifier           *radmark.Code
	AnatomicRegion         *radmark.Code
	AnatomicRegionModifier *radmark.Code
	// Algorithm is MANUAL, SEMIAUTOMATIC or AUTOMATIC; AlgorithmName is
	// required for the latter two.
	Algorithm     string
	AlgorithmName string
	// Color is #rrggbb ("" for none), written as the recommended CIELab
	// display value.
	Color string
	Layer int
	Value uint8
}

// Series is what a SEG is derived from: the series' grid and the
// attributes a SEG copies from its source images.
type Series struct {
	Grid *volume.Grid
	// Header is one source image's dataset (patient, study, frame of
	// reference and slice thickness are taken from it).
	Header *dicom.Dataset
	// SOPClass of every source instance.
	SOPClass map[radmark.UID]string
	// SeriesUID of the source images.
	SeriesUID radmark.UID
}

// Options are the identifying attributes of the SEG written.
type Options struct {
	SOPInstanceUID    string
	SeriesInstanceUID string
	SeriesNumber      int
	SeriesDescription string
	ContentLabel      string // a Code String: upper case, digits, space, _
	ContentCreator    string // a person name, "" for none
	// Date and Time of the content (YYYYMMDD, HHMMSS): given, so the same
	// revision always gives the same bytes.
	Date, Time      string
	SoftwareVersion string
}

// UID derives a DICOM UID from parts: 2.25 followed by the decimal value
// of the first 128 bits of their SHA-256 (PS3.5 B.2), so the same input
// always names the same object.
func UID(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		fmt.Fprintf(h, "%d:%s|", len(p), p)
	}
	sum := h.Sum(nil)
	n := new(big.Int).SetBytes(sum[:16])
	return "2.25." + n.String()
}

func code(c radmark.Code) *dicom.Dataset {
	ds := &dicom.Dataset{}
	ds.SetString(tagCodeValue, c.Value)
	ds.SetString(tagCodingSchemeDesignator, c.Scheme)
	ds.SetString(tagCodeMeaning, c.Meaning)
	return ds
}

func readCode(ds *dicom.Dataset, t dicom.Tag) (radmark.Code, bool) {
	items := ds.Items(t)
	if len(items) == 0 {
		return radmark.Code{}, false
	}
	it := items[0]
	c := radmark.Code{Value: strings.TrimSpace(it.String(tagCodeValue)), Scheme: strings.TrimSpace(it.String(tagCodingSchemeDesignator)), Meaning: strings.TrimSpace(it.String(tagCodeMeaning))}
	if c.Value == "" {
		// Long Code Value / URN Code Value.
		c.Value = strings.TrimSpace(it.String(dicom.NewTag(0x0008, 0x0119)))
		if c.Value == "" {
			c.Value = strings.TrimSpace(it.String(dicom.NewTag(0x0008, 0x0120)))
		}
	}
	return c, true
}

// Encode builds a binary SEG of segs over layers (labelmap volumes on
// s.Grid, by layer number).
func Encode(s Series, layers map[int]*labelmap.Volume, segs []Segment, opt Options) (*dicom.Dataset, error) {
	g := s.Grid
	if g == nil || s.Header == nil {
		return nil, radmark.Errorf(radmark.EINVALID, "a SEG needs the source series' grid and a source image header")
	}
	if len(segs) == 0 {
		return nil, radmark.Errorf(radmark.EINVALID, "the revision has no segmentation to export: no labelmap value is named by a segmentation item")
	}
	for _, sg := range segs {
		v := layers[sg.Layer]
		if v == nil {
			return nil, radmark.Errorf(radmark.EINVALID, "segment %d (%s) refers to labelmap layer %d, which the revision does not have", sg.Number, sg.Label, sg.Layer)
		}
		if v.Columns != g.Columns || v.Rows != g.Rows || v.Slices != g.NumSlices {
			return nil, radmark.Errorf(radmark.EINVALID, "labelmap layer %d is %s but series %s is %d×%d×%d", sg.Layer, v.Grid(), s.SeriesUID, g.Columns, g.Rows, g.NumSlices)
		}
		if sg.Category.Value == "" || sg.Type.Value == "" {
			return nil, radmark.Errorf(radmark.EINVALID, "segment %d (%s) has no coded category and type", sg.Number, sg.Label)
		}
	}
	h := s.Header
	ds := &dicom.Dataset{}
	ds.SetString(tagSpecificCharacterSet, "ISO_IR 192")
	ds.SetString(tagSOPClassUID, SOPClassUID)
	ds.SetString(tagSOPInstanceUID, opt.SOPInstanceUID)
	ds.SetString(tagImageType, "DERIVED", "PRIMARY")
	for _, t := range []dicom.Tag{tagInstanceCreationDate, tagSeriesDate, tagContentDate} {
		ds.SetString(t, opt.Date)
	}
	for _, t := range []dicom.Tag{tagInstanceCreationTime, tagSeriesTime, tagContentTime} {
		ds.SetString(t, opt.Time)
	}
	// Patient and study: copied from the source, type 2 when absent.
	for _, t := range []dicom.Tag{tagPatientName, tagPatientID, tagPatientBirthDate, tagPatientSex,
		tagStudyInstanceUID, tagStudyDate, tagStudyTime, tagReferringPhysicianName, tagStudyID, tagAccessionNumber,
		tagFrameOfReferenceUID, tagPositionReferenceIndicator} {
		if e := h.Get(t); e != nil && e.Items == nil {
			ds.Put(dicom.Element{Tag: t, VR: e.VR, Value: []byte(strings.Join(h.Strings(t), `\`))})
		} else {
			ds.SetString(t)
		}
	}
	if ds.String(tagStudyInstanceUID) == "" || ds.String(tagFrameOfReferenceUID) == "" {
		return nil, radmark.Errorf(radmark.EINVALID, "the source images of series %s lack a Study Instance UID or Frame of Reference UID", s.SeriesUID)
	}
	ds.SetString(tagModality, "SEG")
	ds.SetString(tagSeriesInstanceUID, opt.SeriesInstanceUID)
	ds.SetInts(tagSeriesNumber, opt.SeriesNumber)
	if opt.SeriesDescription != "" {
		ds.SetString(tagSeriesDescription, opt.SeriesDescription)
	}
	ds.SetInts(tagInstanceNumber, 1)
	ds.SetString(tagManufacturer, "radmark")
	ds.SetString(tagManufacturerModelName, "radmark")
	ds.SetString(tagDeviceSerialNumber, "0")
	sw := opt.SoftwareVersion
	if sw == "" {
		sw = "radmark"
	}
	ds.SetString(tagSoftwareVersions, sw)
	label := opt.ContentLabel
	if label == "" {
		label = "SEGMENTATION"
	}
	ds.SetString(tagContentLabel, label)
	ds.SetString(tagContentDescription, opt.SeriesDescription)
	ds.SetString(tagContentCreatorName, opt.ContentCreator)

	// Segments.
	var segItems []*dicom.Dataset
	for _, sg := range segs {
		it := &dicom.Dataset{}
		it.SetInts(tagSegmentNumber, sg.Number)
		it.SetString(tagSegmentLabel, truncate(sg.Label, 64))
		desc := LayerHint(sg.Layer, sg.Value)
		if sg.Description != "" {
			desc = truncate(sg.Description, 64-len(desc)-1) + " " + desc
		}
		it.SetString(tagSegmentDescription, desc)
		alg := sg.Algorithm
		if alg == "" {
			alg = Manual
		}
		it.SetString(tagSegmentAlgorithmType, alg)
		if alg != Manual {
			name := sg.AlgorithmName
			if name == "" {
				name = "unknown"
			}
			it.SetString(tagSegmentAlgorithmName, truncate(name, 64))
		}
		it.SetItems(tagSegmentedPropertyCategoryCode, code(sg.Category))
		typ := code(sg.Type)
		if sg.TypeModifier != nil {
			typ.SetItems(tagSegmentedPropertyTypeModifierSq, code(*sg.TypeModifier))
		}
		it.SetItems(tagSegmentedPropertyTypeCode, typ)
		if sg.AnatomicRegion != nil {
			ar := code(*sg.AnatomicRegion)
			if sg.AnatomicRegionModifier != nil {
				ar.SetItems(tagAnatomicRegionModifierSeq, code(*sg.AnatomicRegionModifier))
			}
			it.SetItems(tagAnatomicRegionSequence, ar)
		}
		if lab, ok := cielab(sg.Color); ok {
			it.SetIntsVR(tagRecommendedDisplayCIELabValue, dicom.US, lab[:]...)
		}
		segItems = append(segItems, it)
	}
	ds.SetString(tagSegmentationType, "BINARY")
	ds.SetItems(tagSegmentSequence, segItems...)

	// Image pixel.
	ds.SetInts(tagSamplesPerPixel, 1)
	ds.SetString(tagPhotometricInterpretation, "MONOCHROME2")
	ds.SetInts(tagRows, g.Rows)
	ds.SetInts(tagColumns, g.Columns)
	ds.SetInts(tagBitsAllocated, 1)
	ds.SetInts(tagBitsStored, 1)
	ds.SetInts(tagHighBit, 0)
	ds.SetInts(tagPixelRepresentation, 0)
	ds.SetString(tagLossyImageCompression, "00")

	// Shared functional groups.
	first := g.Slices[0].Plane
	shared := &dicom.Dataset{}
	pm := &dicom.Dataset{}
	pm.SetFloats(tagPixelSpacing, first.RowSpacing, first.ColSpacing)
	thick := g.Spacing[2]
	if v, ok := h.Float(tagSliceThickness); ok && v > 0 {
		thick = v
	}
	pm.SetFloats(tagSliceThickness, thick)
	if g.NumSlices > 1 {
		pm.SetFloats(tagSpacingBetweenSlices, g.Spacing[2])
	}
	shared.SetItems(tagPixelMeasuresSequence, pm)
	po := &dicom.Dataset{}
	po.SetFloats(tagImageOrientationPatient, first.RowDir[0], first.RowDir[1], first.RowDir[2], first.ColDir[0], first.ColDir[1], first.ColDir[2])
	shared.SetItems(tagPlaneOrientationSequence, po)
	ds.SetItems(tagSharedFunctionalGroups, shared)

	// Dimensions: segment number, then position.
	dimOrg := UID(opt.SOPInstanceUID, "dimension-organization")
	org := &dicom.Dataset{}
	org.SetString(tagDimensionOrganizationUID, dimOrg)
	ds.SetItems(tagDimensionOrganizationSeq, org)
	ds.SetString(tagDimensionOrganizationType, "3D")
	dim := func(ptr, group dicom.Tag, label string) *dicom.Dataset {
		d := &dicom.Dataset{}
		d.SetString(tagDimensionOrganizationUID, dimOrg)
		d.SetBytes(tagDimensionIndexPointer, dicom.AT, atValue(ptr))
		d.SetBytes(tagFunctionalGroupPointer, dicom.AT, atValue(group))
		d.SetString(tagDimensionDescriptionLabel, label)
		return d
	}
	ds.SetItems(tagDimensionIndexSequence,
		dim(tagReferencedSegmentNumber, tagSegmentIdentificationSequence, "ReferencedSegmentNumber"),
		dim(tagImagePositionPatient, tagPlanePositionSequence, "ImagePositionPatient"))

	// Frames.
	derivation := radmark.Code{Value: "113076", Scheme: "DCM", Meaning: "Segmentation"}
	purpose := radmark.Code{Value: "121322", Scheme: "DCM", Meaning: "Source image for image processing operation"}
	frameBits := g.Rows * g.Columns
	var frames []*dicom.Dataset
	var bits []byte
	nbits := 0
	referenced := map[radmark.UID]bool{}
	for _, sg := range segs {
		v := layers[sg.Layer]
		for k := 0; k < g.NumSlices; k++ {
			sl := v.Slice(k)
			if !containsValue(sl, sg.Value) {
				continue
			}
			need := (nbits + frameBits + 7) / 8
			if cap(bits) < need {
				nb := make([]byte, len(bits), max(need, 2*cap(bits)))
				copy(nb, bits)
				bits = nb
			}
			bits = bits[:need]
			for p, x := range sl {
				if x == sg.Value {
					b := nbits + p
					bits[b>>3] |= 1 << (b & 7)
				}
			}
			nbits += frameBits
			src := g.Slices[k]
			class := s.SOPClass[src.Image.SOPInstanceUID]
			if class == "" {
				return nil, radmark.Errorf(radmark.EINVALID, "the SOP class of source image %s is unknown", src.Image.SOPInstanceUID)
			}
			referenced[src.Image.SOPInstanceUID] = true
			fg := &dicom.Dataset{}
			srcItem := &dicom.Dataset{}
			srcItem.SetString(tagReferencedSOPClassUID, class)
			srcItem.SetString(tagReferencedSOPInstanceUID, string(src.Image.SOPInstanceUID))
			if src.Image.Frame > 0 {
				srcItem.SetInts(tagReferencedFrameNumber, src.Image.Frame)
			}
			srcItem.SetItems(tagPurposeOfReferenceCodeSeq, code(purpose))
			der := &dicom.Dataset{}
			der.SetItems(tagDerivationCodeSequence, code(derivation))
			der.SetItems(tagSourceImageSequence, srcItem)
			fg.SetItems(tagDerivationImageSequence, der)
			fc := &dicom.Dataset{}
			fc.SetIntsVR(tagDimensionIndexValues, dicom.UL, sg.Number, k+1)
			fg.SetItems(tagFrameContentSequence, fc)
			pp := &dicom.Dataset{}
			pos := src.Plane.Position
			pp.SetFloats(tagImagePositionPatient, pos[0], pos[1], pos[2])
			fg.SetItems(tagPlanePositionSequence, pp)
			si := &dicom.Dataset{}
			si.SetIntsVR(tagReferencedSegmentNumber, dicom.US, sg.Number)
			fg.SetItems(tagSegmentIdentificationSequence, si)
			frames = append(frames, fg)
		}
	}
	if len(frames) == 0 {
		return nil, radmark.Errorf(radmark.EINVALID, "every segment is empty: a SEG needs at least one labelled voxel")
	}
	ds.SetInts(tagNumberOfFrames, len(frames))
	ds.SetItems(tagPerFrameFunctionalGroups, frames...)
	if len(bits)%2 == 1 {
		bits = append(bits, 0)
	}
	ds.SetBytes(tagPixelData, dicom.OB, bits)

	// Common instance reference: the source images used, in grid order.
	var refs []*dicom.Dataset
	for _, sl := range g.Slices {
		uid := sl.Image.SOPInstanceUID
		if !referenced[uid] {
			continue
		}
		delete(referenced, uid) // a multi-frame source is listed once
		r := &dicom.Dataset{}
		r.SetString(tagReferencedSOPClassUID, s.SOPClass[uid])
		r.SetString(tagReferencedSOPInstanceUID, string(uid))
		refs = append(refs, r)
	}
	rs := &dicom.Dataset{}
	rs.SetString(tagSeriesInstanceUID, string(s.SeriesUID))
	rs.SetItems(tagReferencedInstanceSequence, refs...)
	ds.SetItems(tagReferencedSeriesSequence, rs)
	return ds, nil
}

func atValue(t dicom.Tag) []byte {
	return []byte{byte(t.Group()), byte(t.Group() >> 8), byte(t.Element()), byte(t.Element() >> 8)}
}

func containsValue(s []uint8, v uint8) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) > n {
		return string(r[:n])
	}
	return s
}

// cielab converts #rrggbb (sRGB) to DICOM's scaled CIELab (PS3.3
// C.10.7.1.1: L* 0..100 and a*, b* −128..127 mapped to 0..65535), D65.
func cielab(hex string) ([3]int, bool) {
	var r, g, b int
	if len(hex) != 7 || hex[0] != '#' {
		return [3]int{}, false
	}
	if _, err := fmt.Sscanf(hex[1:], "%02x%02x%02x", &r, &g, &b); err != nil {
		return [3]int{}, false
	}
	lin := func(c int) float64 {
		v := float64(c) / 255
		if v <= 0.04045 {
			return v / 12.92
		}
		return math.Pow((v+0.055)/1.055, 2.4)
	}
	R, G, B := lin(r), lin(g), lin(b)
	x := (0.4124564*R + 0.3575761*G + 0.1804375*B) / 0.95047
	y := 0.2126729*R + 0.7151522*G + 0.0721750*B
	z := (0.0193339*R + 0.1191920*G + 0.9503041*B) / 1.08883
	f := func(t float64) float64 {
		if t > 216.0/24389 {
			return math.Cbrt(t)
		}
		return (24389.0/27*t + 16) / 116
	}
	L := 116*f(y) - 16
	A := 500 * (f(x) - f(y))
	Bb := 200 * (f(y) - f(z))
	clamp := func(v float64) int { return int(math.Round(math.Min(math.Max(v, 0), 65535))) }
	return [3]int{clamp(L * 65535 / 100), clamp((A + 128) * 65535 / 255), clamp((Bb + 128) * 65535 / 255)}, true
}

// colorOf converts DICOM's scaled CIELab back to #rrggbb.
func colorOf(lab []float64) string {
	if len(lab) != 3 {
		return ""
	}
	L := lab[0] * 100 / 65535
	A := lab[1]*255/65535 - 128
	B := lab[2]*255/65535 - 128
	fy := (L + 16) / 116
	fx := fy + A/500
	fz := fy - B/200
	inv := func(t float64) float64 {
		if t*t*t > 216.0/24389 {
			return t * t * t
		}
		return (116*t - 16) * 27 / 24389
	}
	x, y, z := inv(fx)*0.95047, inv(fy), inv(fz)*1.08883
	R := 3.2404542*x - 1.5371385*y - 0.4985314*z
	G := -0.9692660*x + 1.8760108*y + 0.0415560*z
	Bl := 0.0556434*x - 0.2040259*y + 1.0572252*z
	gam := func(v float64) int {
		if v <= 0.0031308 {
			v *= 12.92
		} else {
			v = 1.055*math.Pow(v, 1/2.4) - 0.055
		}
		return int(math.Round(math.Min(math.Max(v, 0), 1) * 255))
	}
	return fmt.Sprintf("#%02x%02x%02x", gam(R), gam(G), gam(Bl))
}
