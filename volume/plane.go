package volume

import (
	"fmt"
	"math"
	"strings"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/dicom"
)

// Attributes the dicom package has no constant for.
const (
	tagEstimatedRadiographicMagnification dicom.Tag = 0x00181114
	tagNominalScannedPixelSpacing         dicom.Tag = 0x00182010
	tagPixelSpacingCalibrationType        dicom.Tag = 0x00280A02
	tagPixelSpacingCalibrationDescription dicom.Tag = 0x00280A04
)

// Tolerances on direction cosines (see the package doc).
const (
	unitTolerance       = 1e-3 // | |r| - 1 |
	orthogonalTolerance = 1e-3 // |r·c|
)

// Plane is the geometry of one image (one frame).
type Plane struct {
	Position   Vec3    `json:"position"`   // LPS of the centre of pixel (0,0)
	RowDir     Vec3    `json:"rowDir"`     // unit, direction of increasing column index
	ColDir     Vec3    `json:"colDir"`     // unit, direction of increasing row index
	RowSpacing float64 `json:"rowSpacing"` // PixelSpacing[0]: distance between adjacent rows (mm)
	ColSpacing float64 `json:"colSpacing"` // PixelSpacing[1]: distance between adjacent columns (mm)
	Columns    int     `json:"columns"`
	Rows       int     `json:"rows"`
}

// ToLPS maps an image point (x = column, y = row, SCOORD convention: the
// centre of pixel (i, j) is (i+0.5, j+0.5)) to patient LPS.
func (p Plane) ToLPS(x, y float64) Vec3 {
	q := axpy((x-0.5)*p.ColSpacing, p.RowDir, p.Position)
	return axpy((y-0.5)*p.RowSpacing, p.ColDir, q)
}

// FromLPS is ToLPS's inverse: the image point q projects to, and offset,
// the signed distance of q from the plane along Normal(). Direction
// cosines that are not exactly orthogonal are handled exactly: q =
// ToLPS(x, y) + offset·Normal().
func (p Plane) FromLPS(q Vec3) (x, y, offset float64) {
	b := newBasis(scale(p.RowDir, p.ColSpacing), scale(p.ColDir, p.RowSpacing), p.Normal())
	s := b.solve(sub(q, p.Position))
	return s[0] + 0.5, s[1] + 0.5, s[2]
}

// Normal returns the unit normal RowDir × ColDir.
func (p Plane) Normal() Vec3 { return unit(cross(p.RowDir, p.ColDir)) }

// Contains reports whether image point (x, y) lies on the image: 0 ≤ x ≤
// Columns and 0 ≤ y ≤ Rows (the edges of the outer pixels included).
func (p Plane) Contains(x, y float64) bool {
	return x >= 0 && y >= 0 && x <= float64(p.Columns) && y <= float64(p.Rows)
}

// PlaneOf returns the geometry of one image of ds. frame is 1-based for
// multi-frame instances and 0 for single-frame ones (1 is accepted too).
// Enhanced objects take Plane Position, Plane Orientation and Pixel
// Measures from the frame's Per-frame Functional Groups item, else the
// Shared Functional Groups, else the top level; classic objects from the
// Image Plane module, which then applies to every frame.
//
// Errors: EUNSUPPORTED when the image has no patient geometry at all (no
// ImagePositionPatient and no ImageOrientationPatient, as in projection
// radiographs: see ProjectionSpacing); EINVALID when the geometry is
// incomplete or degenerate (one of them missing, wrong value counts,
// non-finite values, cosines that are not unit or not orthogonal, spacing
// that is not positive) or the frame does not exist.
func PlaneOf(ds *dicom.Dataset, frame int) (Plane, error) {
	var p Plane
	frames := ds.IntOr(dicom.TagNumberOfFrames, 1)
	if frames < 1 {
		frames = 1
	}
	switch {
	case frame < 0:
		return p, radmark.Errorf(radmark.EINVALID, "frame %d: frames are numbered from 1 (0 for a single-frame image)", frame)
	case frames > 1 && (frame < 1 || frame > frames):
		return p, radmark.Errorf(radmark.EINVALID, "the image has frames 1..%d; frame %d is not one of them", frames, frame)
	case frames == 1 && frame > 1:
		return p, radmark.Errorf(radmark.EINVALID, "the image has a single frame; frame %d does not exist", frame)
	}
	idx := max(frame-1, 0)
	p.Rows = ds.IntOr(dicom.TagRows, 0)
	p.Columns = ds.IntOr(dicom.TagColumns, 0)
	where := "image"
	if frames > 1 {
		where = fmt.Sprintf("frame %d", frame)
	}

	ippSrc := frameAttr(ds, idx, dicom.TagPlanePositionSequence, dicom.TagImagePositionPatient)
	iopSrc := frameAttr(ds, idx, dicom.TagPlaneOrientationSequence, dicom.TagImageOrientationPatient)
	psSrc := frameAttr(ds, idx, dicom.TagPixelMeasuresSequence, dicom.TagPixelSpacing)
	switch {
	case ippSrc == nil && iopSrc == nil:
		return p, radmark.Errorf(radmark.EUNSUPPORTED, "%s has no patient geometry (no ImagePositionPatient or ImageOrientationPatient): a projection image has no position in the patient", where)
	case ippSrc == nil:
		return p, radmark.Errorf(radmark.EINVALID, "%s has ImageOrientationPatient but no ImagePositionPatient", where)
	case iopSrc == nil:
		return p, radmark.Errorf(radmark.EINVALID, "%s has ImagePositionPatient but no ImageOrientationPatient", where)
	case psSrc == nil:
		return p, radmark.Errorf(radmark.EINVALID, "%s has ImagePositionPatient and ImageOrientationPatient but no PixelSpacing", where)
	}
	ipp, err := numbers(ippSrc, dicom.TagImagePositionPatient, "ImagePositionPatient", 3)
	if err != nil {
		return p, radmark.Errorf(radmark.EINVALID, "%s: %v", where, err)
	}
	iop, err := numbers(iopSrc, dicom.TagImageOrientationPatient, "ImageOrientationPatient", 6)
	if err != nil {
		return p, radmark.Errorf(radmark.EINVALID, "%s: %v", where, err)
	}
	ps, err := numbers(psSrc, dicom.TagPixelSpacing, "PixelSpacing", 2)
	if err != nil {
		return p, radmark.Errorf(radmark.EINVALID, "%s: %v", where, err)
	}
	r, c := Vec3{iop[0], iop[1], iop[2]}, Vec3{iop[3], iop[4], iop[5]}
	if nr, nc := norm(r), norm(c); math.Abs(nr-1) > unitTolerance || math.Abs(nc-1) > unitTolerance {
		return p, radmark.Errorf(radmark.EINVALID, "%s: ImageOrientationPatient %s: the row and column direction cosines must be unit vectors (lengths %.6g and %.6g)", where, joinFloats(iop), nr, nc)
	}
	r, c = unit(r), unit(c)
	if d := dot(r, c); math.Abs(d) > orthogonalTolerance {
		return p, radmark.Errorf(radmark.EINVALID, "%s: ImageOrientationPatient %s: the row and column directions are not orthogonal (%.2f° apart)", where, joinFloats(iop), math.Acos(math.Max(-1, math.Min(1, d)))*180/math.Pi)
	}
	if !(ps[0] > 0) || !(ps[1] > 0) {
		return p, radmark.Errorf(radmark.EINVALID, "%s: PixelSpacing %s: both values must be positive millimetres", where, joinFloats(ps))
	}
	if p.Rows <= 0 || p.Columns <= 0 {
		return p, radmark.Errorf(radmark.EINVALID, "%s: image size %d×%d (Columns×Rows) is not positive", where, p.Columns, p.Rows)
	}
	p.Position = Vec3{ipp[0], ipp[1], ipp[2]}
	p.RowDir, p.ColDir = r, c
	p.RowSpacing, p.ColSpacing = ps[0], ps[1]
	return p, nil
}

// numbers reads exactly n finite numbers of tag t from ds.
func numbers(ds *dicom.Dataset, t dicom.Tag, name string, n int) ([]float64, error) {
	raw := ds.Strings(t)
	v := ds.Floats(t)
	if e := ds.Get(t); e != nil && (e.VR == dicom.DS || e.VR == dicom.IS) && len(raw) != len(v) {
		return nil, fmt.Errorf("%s %q: not all values are numbers", name, strings.Join(raw, `\`))
	}
	if len(v) != n {
		return nil, fmt.Errorf("%s has %d value(s), needs %d", name, len(v), n)
	}
	if !finite(v...) {
		return nil, fmt.Errorf("%s %s: values must be finite numbers", name, joinFloats(v))
	}
	return v, nil
}

func joinFloats(v []float64) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = fmt.Sprintf("%g", x)
	}
	return strings.Join(s, `\`)
}

// frameAttr finds the dataset holding attribute t for frame index idx
// (0-based): the frame's Per-frame Functional Groups item's macro group,
// else the Shared Functional Groups', else the top level; nil if none.
func frameAttr(ds *dicom.Dataset, idx int, group, t dicom.Tag) *dicom.Dataset {
	if items := ds.Items(dicom.TagPerFrameFunctionalGroupsSequence); idx < len(items) && items[idx] != nil {
		if g := items[idx].Items(group); len(g) > 0 && g[0] != nil && g[0].Has(t) {
			return g[0]
		}
	}
	if shared := ds.Items(dicom.TagSharedFunctionalGroupsSequence); len(shared) > 0 && shared[0] != nil {
		if g := shared[0].Items(group); len(g) > 0 && g[0] != nil && g[0].Has(t) {
			return g[0]
		}
	}
	if ds.Has(t) {
		return ds
	}
	return nil
}

// ProjectionSpacing returns the pixel spacing to measure with on a
// projection radiograph (CR, DX, MG, XA, RF, scanned film) and a note
// saying what the millimetres mean, following PS3.3 10.7.1.3 (Pixel
// Spacing Calibration) and C.8.11.7 (DX Detector):
//
//   - Pixel Spacing (0028,0030) when present: spacing in the patient,
//     calibrated as Pixel Spacing Calibration Type says (GEOMETRY: for
//     the magnification; FIDUCIAL: against a marker of known size). Equal
//     to Imager Pixel Spacing without a calibration type, it has not been
//     corrected for magnification: "calibrated at detector".
//   - else Imager Pixel Spacing (0018,1164), divided by the Estimated
//     Radiographic Magnification Factor (0018,1114) when that is present
//     (an estimate at the plane of interest), otherwise as measured at the
//     detector's front plane: objects appear magnified.
//   - else Nominal Scanned Pixel Spacing (0018,2010) of digitised film.
//
// row is the distance between rows and col between columns (the DICOM
// order); ok is false when none gives two positive numbers.
func ProjectionSpacing(ds *dicom.Dataset) (row, col float64, note string, ok bool) {
	pair := func(t dicom.Tag) (float64, float64, bool) {
		v := ds.Floats(t)
		if len(v) != 2 || !finite(v...) || !(v[0] > 0) || !(v[1] > 0) {
			return 0, 0, false
		}
		return v[0], v[1], true
	}
	ir, ic, haveImager := pair(dicom.TagImagerPixelSpacing)
	if r, c, ok := pair(dicom.TagPixelSpacing); ok {
		calib := strings.ToUpper(strings.TrimSpace(ds.String(tagPixelSpacingCalibrationType)))
		desc := strings.TrimSpace(ds.String(tagPixelSpacingCalibrationDescription))
		switch {
		case calib == "GEOMETRY":
			note = "calibrated for geometric magnification (Pixel Spacing Calibration Type GEOMETRY)"
		case calib == "FIDUCIAL":
			note = "calibrated against a fiducial of known size (Pixel Spacing Calibration Type FIDUCIAL)"
		case haveImager && sameSpacing(r, c, ir, ic):
			note = "calibrated at detector: Pixel Spacing equals Imager Pixel Spacing, not corrected for magnification"
		case haveImager:
			note = "in the patient: Pixel Spacing differs from Imager Pixel Spacing (corrected by the modality)"
		default:
			note = "Pixel Spacing; its calibration is not stated"
		}
		if desc != "" {
			note += " — " + desc
		}
		return r, c, note, true
	}
	if haveImager {
		if m, ok := ds.Float(tagEstimatedRadiographicMagnification); ok && finite(m) && m > 0 {
			return ir / m, ic / m, fmt.Sprintf("Imager Pixel Spacing corrected by the estimated radiographic magnification factor %g: approximate, at the plane of interest", m), true
		}
		return ir, ic, "calibrated at detector (Imager Pixel Spacing): objects in the patient appear magnified", true
	}
	if r, c, ok := pair(tagNominalScannedPixelSpacing); ok {
		return r, c, "Nominal Scanned Pixel Spacing of digitised film: the film's scale, not the patient's", true
	}
	return 0, 0, "", false
}

func sameSpacing(a0, a1, b0, b1 float64) bool {
	return math.Abs(a0-b0) <= 1e-6*math.Max(a0, b0) && math.Abs(a1-b1) <= 1e-6*math.Max(a1, b1)
}
