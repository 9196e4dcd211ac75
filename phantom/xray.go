package phantom

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"

	"github.com/radmark/radmark/dicom"
)

// DigitalXRayPresentationStorage is the SOP class of the 2D phantom:
// Digital X-Ray Image Storage – For Presentation.
const DigitalXRayPresentationStorage = "1.2.840.10008.5.1.4.1.1.1.1"

// ShapeKind is the geometry of a 2D shape.
type ShapeKind uint8

// The 2D shape kinds.
const (
	// Ellipse: pixels with ((x−CX)/RX)² + ((y−CY)/RY)² ≤ 1.
	Ellipse ShapeKind = iota
	// Rect: pixels with |x−CX| ≤ RX and |y−CY| ≤ RY.
	Rect
)

// Shape2D is a uniform shape on a 2D image, in pixel coordinates: x is
// the column index and y the row index, the centre of pixel (column c, row
// r) being (c, r) and pixel (0,0) the first transmitted (top-left). A pixel
// belongs to a shape when its centre is inside or on the boundary.
type Shape2D struct {
	Name   string
	Kind   ShapeKind
	CX, CY float64 // centre
	RX, RY float64 // semi-axes (Ellipse) or half-width and half-height (Rect)
	Value  int     // stored pixel value, 0…4095
}

// Contains reports whether the pixel centre (x, y) is in the shape.
func (s Shape2D) Contains(x, y float64) bool {
	dx, dy := (x-s.CX)/s.RX, (y-s.CY)/s.RY
	if s.Kind == Rect {
		return math.Abs(dx) <= 1+surfaceTolerance && math.Abs(dy) <= 1+surfaceTolerance
	}
	return dx*dx+dy*dy <= 1+surfaceTolerance
}

// XRaySpec describes a 2D projection radiograph phantom.
type XRaySpec struct {
	Rows, Columns int
	// PixelSpacing in DICOM order (row spacing, column spacing), mm at the
	// detector. It is written both as Imager Pixel Spacing and, with an
	// estimated magnification of 1, as Pixel Spacing, so a distance of d
	// pixels along a row is d·PixelSpacing[1] mm.
	PixelSpacing [2]float64
	// Background is the stored value outside every shape (air).
	Background int
	// Shapes are painted in order, later ones over earlier; nil means
	// DefaultXRayShapes(Rows, Columns).
	Shapes     []Shape2D
	Seed       uint64
	NoiseSigma float64 // Gaussian, in stored-value units; 0 = exact
	Identity   Identity
}

// XRayChest is a PA chest radiograph the size of a 35 × 42 cm detector:
// 1200 rows × 1000 columns of 0.35 mm. Its shapes (DefaultXRayShapes):
//
//	body         ellipse centre (500, 600) semi-axes (400, 552) value 1400
//	right lung   ellipse centre (320, 504) semi-axes (140, 336) value 500
//	left lung    ellipse centre (680, 504) semi-axes (140, 336) value 500
//	spine        rect    centre (500, 600) half-sizes (35, 540)  value 2200
//	marker disk  ellipse centre (200, 144) semi-axes (30, 30)    value 4000
//	marker bar   rect    centre (800, 1020) half-sizes (60, 24)  value 3500
//
// (x = column, y = row). The disk (upper image left, the patient's right)
// and the bar (lower image right) make any flip or transpose visible.
func XRayChest() XRaySpec {
	return XRaySpec{Rows: 1200, Columns: 1000, PixelSpacing: [2]float64{0.35, 0.35}, Background: 50, Seed: 1}
}

// XRaySmall is a quick 300 × 250 version of XRayChest with 1.4 mm pixels:
// body (125, 150) semi (100, 138), lungs (80, 126) and (170, 126) semi
// (35, 84), spine rect (125, 150) half (9, 135), disk (50, 36) r 8, bar
// (200, 255) half (15, 6).
func XRaySmall() XRaySpec {
	return XRaySpec{Rows: 300, Columns: 250, PixelSpacing: [2]float64{1.4, 1.4}, Background: 50, Seed: 1}
}

// DefaultXRayShapes returns the chest-like shapes for an image of the
// given size. Every coordinate is a fraction of the width W (columns) or
// height H (rows) rounded to a whole pixel, so the shapes are centred on
// pixel centres: body ellipse (W/2, H/2) semi-axes (0.4W, 0.46H); lungs
// ellipses (0.32W, 0.42H) and (0.68W, 0.42H), semi-axes (0.14W, 0.28H);
// spine rect (W/2, H/2) half-sizes (0.035W, 0.45H); marker disk (0.2W,
// 0.12H) radius 0.03W; marker bar rect (0.8W, 0.85H) half-sizes (0.06W,
// 0.02H).
func DefaultXRayShapes(rows, columns int) []Shape2D {
	w, h := float64(columns), float64(rows)
	r := math.Round
	return []Shape2D{
		{Name: "body", Kind: Ellipse, CX: r(0.5 * w), CY: r(0.5 * h), RX: r(0.4 * w), RY: r(0.46 * h), Value: 1400},
		{Name: "right lung", Kind: Ellipse, CX: r(0.32 * w), CY: r(0.42 * h), RX: r(0.14 * w), RY: r(0.28 * h), Value: 500},
		{Name: "left lung", Kind: Ellipse, CX: r(0.68 * w), CY: r(0.42 * h), RX: r(0.14 * w), RY: r(0.28 * h), Value: 500},
		{Name: "spine", Kind: Rect, CX: r(0.5 * w), CY: r(0.5 * h), RX: r(0.035 * w), RY: r(0.45 * h), Value: 2200},
		{Name: "marker disk", Kind: Ellipse, CX: r(0.2 * w), CY: r(0.12 * h), RX: r(0.03 * w), RY: r(0.03 * w), Value: 4000},
		{Name: "marker bar", Kind: Rect, CX: r(0.8 * w), CY: r(0.85 * h), RX: r(0.06 * w), RY: r(0.02 * h), Value: 3500},
	}
}

// XRayImage is a generated radiograph and its ground truth.
type XRayImage struct {
	Spec    XRaySpec // with defaults filled
	Dataset *dicom.Dataset
}

// ShapeAt returns the index in Spec.Shapes of the topmost shape covering
// the centre of pixel (column x, row y), or −1 for background.
func (im *XRayImage) ShapeAt(x, y int) int {
	return shapeAt(im.Spec.Shapes, float64(x), float64(y))
}

func shapeAt(shapes []Shape2D, x, y float64) int {
	for n := len(shapes) - 1; n >= 0; n-- {
		if shapes[n].Contains(x, y) {
			return n
		}
	}
	return -1
}

// ValueAt returns the noise-free stored value of pixel (x, y).
func (im *XRayImage) ValueAt(x, y int) int {
	if n := im.ShapeAt(x, y); n >= 0 {
		return im.Spec.Shapes[n].Value
	}
	return im.Spec.Background
}

// Write writes the image as a DICOM Part 10 file (explicit VR little
// endian).
func (im *XRayImage) Write(w io.Writer) error {
	return dicom.WriteFile(w, im.Dataset, dicom.WriteOptions{})
}

// WriteFile writes the image to path atomically (temporary file, rename).
func (im *XRayImage) WriteFile(path string) error {
	return writeFileAtomic(path, im.Write)
}

// Attributes of the DX modules the dicom package has no constant for.
const (
	tagPresentationIntentType     dicom.Tag = 0x00080068
	tagImageLaterality            dicom.Tag = 0x00200062
	tagPixelIntensityRelationship dicom.Tag = 0x00281040
	tagPixelIntensityRelSign      dicom.Tag = 0x00281041
	tagDetectorType               dicom.Tag = 0x00187004
	tagEstimatedMagnification     dicom.Tag = 0x00181114
	tagPixelSpacingCalibration    dicom.Tag = 0x00280A02
	tagPixelSpacingCalibrationDsc dicom.Tag = 0x00280A04
	tagPositionerType             dicom.Tag = 0x00181508
	tagAnatomicRegionSequence     dicom.Tag = 0x00082218
	tagViewCodeSequence           dicom.Tag = 0x00540220
	tagAcquisitionContextSequence dicom.Tag = 0x00400555
	tagCodeValue                  dicom.Tag = 0x00080100
	tagCodingSchemeDesignator     dicom.Tag = 0x00080102
	tagCodeMeaning                dicom.Tag = 0x00080104
)

// code returns a Code Sequence Macro item (PS3.3 8.8).
func code(value, scheme, meaning string) *dicom.Dataset {
	ds := &dicom.Dataset{}
	ds.SetString(tagCodeValue, value)
	ds.SetString(tagCodingSchemeDesignator, scheme)
	ds.SetString(tagCodeMeaning, meaning)
	return ds
}

func (s XRaySpec) normalize() (XRaySpec, error) {
	if s.Rows < 1 || s.Columns < 1 || s.Rows > 65535 || s.Columns > 65535 {
		return s, fmt.Errorf("phantom: x-ray %d rows × %d columns: each must be 1…65535", s.Rows, s.Columns)
	}
	if !(s.PixelSpacing[0] > 0) || !(s.PixelSpacing[1] > 0) || math.IsInf(s.PixelSpacing[0], 0) || math.IsInf(s.PixelSpacing[1], 0) {
		return s, fmt.Errorf("phantom: x-ray pixel spacing %v: both values must be positive mm", s.PixelSpacing)
	}
	if s.NoiseSigma < 0 || math.IsNaN(s.NoiseSigma) || math.IsInf(s.NoiseSigma, 0) {
		return s, fmt.Errorf("phantom: noise sigma %g: must be ≥ 0", s.NoiseSigma)
	}
	if s.Background < 0 || s.Background > maxStored {
		return s, fmt.Errorf("phantom: background %d outside 0…%d", s.Background, maxStored)
	}
	if s.Shapes == nil {
		s.Shapes = DefaultXRayShapes(s.Rows, s.Columns)
	} else {
		s.Shapes = append([]Shape2D(nil), s.Shapes...)
	}
	for n, sh := range s.Shapes {
		if !(sh.RX > 0) || !(sh.RY > 0) {
			return s, fmt.Errorf("phantom: shape %d (%q): sizes %g × %g must be positive", n, sh.Name, sh.RX, sh.RY)
		}
		if sh.Value < 0 || sh.Value > maxStored {
			return s, fmt.Errorf("phantom: shape %d (%q): value %d outside 0…%d", n, sh.Name, sh.Value, maxStored)
		}
		if sh.Kind != Ellipse && sh.Kind != Rect {
			return s, fmt.Errorf("phantom: shape %d (%q): unknown kind %d", n, sh.Name, sh.Kind)
		}
	}
	if s.Identity.SeriesDescription == "" {
		s.Identity.SeriesDescription = "Phantom chest PA"
	}
	s.Identity = s.Identity.withDefaults("DX")
	return s, nil
}

// GenerateXRay makes a Digital X-Ray For Presentation image: a PA chest
// with patient orientation L\F (columns run towards the patient's left,
// rows towards the feet), 12-bit MONOCHROME2 (brighter is denser).
func GenerateXRay(spec XRaySpec) (*XRayImage, error) {
	s, err := spec.normalize()
	if err != nil {
		return nil, err
	}
	if s.Shapes == nil {
		return nil, errors.New("phantom: no shapes")
	}
	pixels := make([]byte, 2*s.Rows*s.Columns)
	var rng *rand.Rand
	if s.NoiseSigma > 0 {
		rng = rand.New(rand.NewPCG(s.Seed, splitmix64(0x5852)))
	}
	for y := 0; y < s.Rows; y++ {
		for x := 0; x < s.Columns; x++ {
			v := float64(s.Background)
			if n := shapeAt(s.Shapes, float64(x), float64(y)); n >= 0 {
				v = float64(s.Shapes[n].Value)
			}
			if rng != nil {
				v += s.NoiseSigma * rng.NormFloat64()
			}
			v = math.Min(math.Max(math.Round(v), 0), maxStored)
			binary.LittleEndian.PutUint16(pixels[2*(y*s.Columns+x):], uint16(v))
		}
	}

	// Like seriesKey: the whole normalised spec names the image.
	kb, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("phantom: encoding spec: %w", err)
	}
	b := string(kb)
	key := studyKey("DX", s.Identity, s.Seed)
	ds := &dicom.Dataset{}
	setCommon(ds, s.Identity, "DX")
	ds.SetString(dicom.TagSOPClassUID, DigitalXRayPresentationStorage)
	ds.SetString(dicom.TagSOPInstanceUID, deriveUID(uidDomain, "dx-instance", b))
	ds.SetString(dicom.TagStudyInstanceUID, deriveUID(uidDomain, "study", key))
	ds.SetString(dicom.TagSeriesInstanceUID, deriveUID(uidDomain, "dx-series", b))
	ds.SetString(dicom.TagImageType, "ORIGINAL", "PRIMARY")
	ds.SetString(tagPresentationIntentType, "FOR PRESENTATION")
	ds.SetInts(dicom.TagInstanceNumber, 1)
	ds.SetInts(dicom.TagAcquisitionNumber, 1)
	ds.SetString(dicom.TagPatientOrientation, "L", "F")
	ds.SetString(dicom.TagBodyPartExamined, "CHEST")
	ds.SetString(dicom.TagViewPosition, "PA")
	ds.SetString(tagImageLaterality, "U")
	ds.SetFloats(dicom.TagKVP, 125)
	ds.SetFloats(tagDistanceSourceToDet, 1800)
	ds.SetInts(tagExposureTime, 10)
	ds.SetInts(tagXRayTubeCurrent, 250)
	ds.SetString(tagDetectorType, "DIRECT")
	ds.SetString(tagPositionerType, "COLUMN")
	// Coded anatomy and view (SNOMED CT, CIDs 4031 and 4010), and an
	// empty acquisition context: the DX IOD requires all three.
	ds.SetItems(tagAnatomicRegionSequence, code("43799004", "SCT", "Chest"))
	ds.SetItems(tagViewCodeSequence, code("399348003", "SCT", "postero-anterior"))
	ds.SetItems(tagAcquisitionContextSequence)

	// Geometry: the same spacing at the detector and, with magnification
	// 1, at the patient, so measurements in mm need no correction.
	ds.SetFloats(dicom.TagImagerPixelSpacing, s.PixelSpacing[0], s.PixelSpacing[1])
	ds.SetFloats(dicom.TagPixelSpacing, s.PixelSpacing[0], s.PixelSpacing[1])
	ds.SetFloats(tagEstimatedMagnification, 1)
	ds.SetString(tagPixelSpacingCalibration, "GEOMETRY")
	ds.SetString(tagPixelSpacingCalibrationDsc, "phantom: magnification 1 by construction")

	ds.SetInts(dicom.TagSamplesPerPixel, 1)
	ds.SetString(dicom.TagPhotometricInterpretation, "MONOCHROME2")
	ds.SetInts(dicom.TagRows, s.Rows)
	ds.SetInts(dicom.TagColumns, s.Columns)
	ds.SetInts(dicom.TagBitsAllocated, 16)
	ds.SetInts(dicom.TagBitsStored, bitsStored)
	ds.SetInts(dicom.TagHighBit, bitsStored-1)
	ds.SetInts(dicom.TagPixelRepresentation, 0)
	ds.SetString(tagPixelIntensityRelationship, "LOG")
	ds.SetInts(tagPixelIntensityRelSign, 1)
	ds.SetFloats(dicom.TagRescaleIntercept, 0)
	ds.SetFloats(dicom.TagRescaleSlope, 1)
	ds.SetString(dicom.TagRescaleType, "US")
	ds.SetString(dicom.TagPresentationLUTShape, "IDENTITY")
	setWindows(ds, []Window{{2048, 4096, "FULL RANGE"}, {1400, 2000, "CHEST"}})
	ds.SetBytes(dicom.TagPixelData, dicom.OW, pixels)
	return &XRayImage{Spec: s, Dataset: ds}, nil
}
