package phantom

import (
	"errors"
	"fmt"
	"math"
)

// Modality is the kind of series a Spec produces.
type Modality string

// The modalities of volume phantoms.
const (
	CT Modality = "CT"
	MR Modality = "MR"
)

// Spec describes a volume phantom: the acquisition grid, the identity
// written into the DICOM headers, and the anatomy sampled on the grid.
//
// The grid follows PS3.3 C.7.6.2.1.1. With IOP = (r, c) (row and column
// direction cosines), voxel (i = column, j = row, k = slice) has its centre
// at
//
//	P(i,j,k) = IPP_k + i·PixelSpacing[1]·r + j·PixelSpacing[0]·c
//	IPP_k    = Origin + k·step
//
// where PixelSpacing[1] is the spacing between columns (the horizontal
// pixel size) and PixelSpacing[0] the spacing between rows (the vertical
// size) — DICOM lists the row spacing first. step is SliceSpacing along the
// normal r×c, or, with GantryTilt, SliceSpacing along LPS +z.
type Spec struct {
	Modality Modality
	// Rows and Columns of each slice; Slices is the number of instances.
	Rows, Columns, Slices int
	// PixelSpacing in DICOM order: [0] is the distance between the centres
	// of adjacent rows, [1] between adjacent columns, in mm.
	PixelSpacing [2]float64
	// SliceSpacing is the distance between the positions of successive
	// slices in mm. Negative values stack the slices against the normal
	// (slice 0 most superior for an axial series, as many scanners order
	// them); the voxel grid is then left-handed.
	SliceSpacing float64
	// SliceThickness is the nominal reconstructed thickness written to
	// (0018,0050); 0 means |SliceSpacing|. It does not change the sampling.
	SliceThickness float64
	// Origin is the ImagePositionPatient of slice 0: the LPS centre of its
	// first transmitted pixel (top-left, i = j = 0).
	Origin LPS
	// Orientation is ImageOrientationPatient; the zero value means Axial.
	Orientation [6]float64
	// GantryTilt, in degrees, makes a CT gantry-tilted series: every
	// slice has orientation TiltedAxial(GantryTilt) but slice positions
	// advance by SliceSpacing along LPS +z (the table), not along the
	// normal, so the grid is sheared. Orientation must be left zero.
	GantryTilt float64
	// Seed selects the noise and the UIDs. The same Spec always produces
	// the same bytes.
	Seed uint64
	// NoiseSigma is the standard deviation of the added noise in the
	// modality's units (HU for CT, intensity for MR); 0 gives exact
	// tissue values. CT noise is Gaussian and added before rounding; MR
	// noise is Rician (the magnitude of the signal plus complex Gaussian
	// noise of this sigma in each channel), as in magnitude images.
	NoiseSigma float64
	// Supersample, when above 1, makes each pixel the mean of n×n×n
	// point samples spread evenly over the voxel (partial-volume edges);
	// 0 or 1 samples the voxel centre only, so every pixel is exactly its
	// tissue's value. Labels (LabelAt, Labels) are always centre samples.
	Supersample int
	// Identity is written into the headers; empty fields take the
	// modality's defaults (DefaultIdentity).
	Identity Identity
	// Anatomy to sample; nil means DefaultAnatomy().
	Anatomy *Anatomy
}

// Identity holds the patient, study and series attributes of a phantom.
type Identity struct {
	PatientName      string
	PatientID        string
	PatientBirthDate string // YYYYMMDD
	PatientSex       string // M, F or O
	StudyDate        string // YYYYMMDD; also series, acquisition and content date
	StudyTime        string // HHMMSS
	StudyID          string
	AccessionNumber  string
	StudyDescription string
	// SeriesNumber 0 takes the default (1).
	SeriesNumber      int
	SeriesDescription string
	InstitutionName   string
}

// DefaultIdentity returns the identity used for empty fields: a patient
// "PHANTOM^<modality>" with fixed dates, so that generated files are
// reproducible and obviously synthetic.
func DefaultIdentity(m Modality) Identity {
	return Identity{
		PatientName:       "PHANTOM^" + string(m),
		PatientID:         "PHANTOM-" + string(m),
		PatientBirthDate:  "19700101",
		PatientSex:        "O",
		StudyDate:         "20240102",
		StudyTime:         "093000",
		StudyID:           string(m) + "1",
		AccessionNumber:   "PH" + string(m) + "0001",
		StudyDescription:  "radmark phantom " + string(m),
		SeriesNumber:      1,
		SeriesDescription: "radmark phantom " + string(m),
		InstitutionName:   "radmark phantom",
	}
}

func (id Identity) withDefaults(m Modality) Identity {
	d := DefaultIdentity(m)
	set := func(v *string, def string) {
		if *v == "" {
			*v = def
		}
	}
	set(&id.PatientName, d.PatientName)
	set(&id.PatientID, d.PatientID)
	set(&id.PatientBirthDate, d.PatientBirthDate)
	set(&id.PatientSex, d.PatientSex)
	set(&id.StudyDate, d.StudyDate)
	set(&id.StudyTime, d.StudyTime)
	set(&id.StudyID, d.StudyID)
	set(&id.AccessionNumber, d.AccessionNumber)
	set(&id.StudyDescription, d.StudyDescription)
	set(&id.SeriesDescription, d.SeriesDescription)
	set(&id.InstitutionName, d.InstitutionName)
	if id.SeriesNumber == 0 {
		id.SeriesNumber = d.SeriesNumber
	}
	return id
}

// CT512 is the benchmark-size CT: 512×512 pixels of 0.7 mm (a 358.4 mm
// field of view), 300 axial slices 1 mm apart and 1 mm thick, covering
// z −150…149 mm. Origin (−179.2, −179.2, −150), so voxel (256, 256, k) lies
// on the z axis and voxel centres are x = −179.2 + 0.7·i, y = −179.2 + 0.7·j,
// z = −150 + k. Default-anatomy lesion voxels (i, j, k): lung nodule
// (176, 256, 192), liver lesion (186, 236, 108), boundary nodule
// (336, 266, 171) — all exact voxel centres.
func CT512() Spec {
	return Spec{
		Modality: CT, Rows: 512, Columns: 512, Slices: 300,
		PixelSpacing: [2]float64{0.7, 0.7}, SliceSpacing: 1, SliceThickness: 1,
		Origin: LPS{-179.2, -179.2, -150},
		Seed:   1,
		Identity: Identity{
			SeriesNumber:      1,
			SeriesDescription: "Phantom CT 0.7 mm 1 mm",
		},
	}
}

// CTSmall is a CT for fast tests: 128×128 pixels of 2 mm (256 mm field of
// view), 64 axial slices 2 mm apart covering z −64…62 mm. Origin
// (−128, −128, −64): voxel centres are x = −128 + 2i, y = −128 + 2j,
// z = −64 + 2k. Lesion centres in voxel indices: lung nodule (36, 64, 53),
// liver lesion (39.5, 57, 11), boundary nodule (92, 67.5, 42.5) — the
// half-integers are exactly between two voxel centres, so each lesion's
// voxels are symmetric about its centre.
func CTSmall() Spec {
	return Spec{
		Modality: CT, Rows: 128, Columns: 128, Slices: 64,
		PixelSpacing: [2]float64{2, 2}, SliceSpacing: 2, SliceThickness: 2,
		Origin: LPS{-128, -128, -64},
		Seed:   1,
		Identity: Identity{
			SeriesNumber:      2,
			SeriesDescription: "Phantom CT 2 mm",
		},
	}
}

// MRSmall is a T1-weighted-like axial MR for fast tests: 128×128 pixels of
// 2 mm, 32 slices 4 mm apart and 3.5 mm thick (a 0.5 mm gap, as MR often
// has), covering z −64…60 mm. Origin (−128, −128, −64). Lesion centres in
// voxel indices: lung nodule (36, 64, 26.5), liver lesion (39.5, 57, 5.5),
// boundary nodule (92, 67.5, 21.25).
func MRSmall() Spec {
	return Spec{
		Modality: MR, Rows: 128, Columns: 128, Slices: 32,
		PixelSpacing: [2]float64{2, 2}, SliceSpacing: 4, SliceThickness: 3.5,
		Origin: LPS{-128, -128, -64},
		Seed:   1,
		Identity: Identity{
			SeriesNumber:      1,
			SeriesDescription: "Phantom MR T1 2 mm",
		},
	}
}

// maxVoxels bounds a phantom's size so a mistyped spec fails with an error
// rather than an attempt to allocate terabytes.
const maxVoxels = 1 << 31

// normalize fills defaults and validates, returning the spec every other
// function works from.
func (s Spec) normalize() (Spec, error) {
	switch s.Modality {
	case CT, MR:
	case "":
		return s, errors.New("phantom: spec has no modality (CT or MR)")
	default:
		return s, fmt.Errorf("phantom: modality %q is not CT or MR", s.Modality)
	}
	if s.Rows < 1 || s.Columns < 1 || s.Rows > 65535 || s.Columns > 65535 {
		return s, fmt.Errorf("phantom: %d rows × %d columns: each must be 1…65535", s.Rows, s.Columns)
	}
	if s.Slices < 1 {
		return s, fmt.Errorf("phantom: %d slices: need at least one", s.Slices)
	}
	if n := float64(s.Rows) * float64(s.Columns) * float64(s.Slices); n > maxVoxels {
		return s, fmt.Errorf("phantom: %d×%d×%d voxels exceed the limit of %d", s.Columns, s.Rows, s.Slices, maxVoxels)
	}
	for _, v := range []float64{s.PixelSpacing[0], s.PixelSpacing[1]} {
		if !(v > 0) || math.IsInf(v, 0) {
			return s, fmt.Errorf("phantom: pixel spacing %v: both values must be positive mm", s.PixelSpacing)
		}
	}
	if s.SliceSpacing == 0 || math.IsNaN(s.SliceSpacing) || math.IsInf(s.SliceSpacing, 0) {
		return s, fmt.Errorf("phantom: slice spacing %g: must be a non-zero number of mm", s.SliceSpacing)
	}
	if s.SliceThickness < 0 || math.IsNaN(s.SliceThickness) {
		return s, fmt.Errorf("phantom: slice thickness %g: must be ≥ 0", s.SliceThickness)
	}
	if s.SliceThickness == 0 {
		s.SliceThickness = math.Abs(s.SliceSpacing)
	}
	if s.GantryTilt != 0 {
		if s.Modality != CT {
			return s, errors.New("phantom: gantry tilt applies to CT only")
		}
		if s.Orientation != ([6]float64{}) {
			return s, errors.New("phantom: set either Orientation or GantryTilt, not both (the tilt defines the orientation)")
		}
		if math.Abs(s.GantryTilt) >= 60 || math.IsNaN(s.GantryTilt) {
			return s, fmt.Errorf("phantom: gantry tilt %g° out of range (−60°, 60°)", s.GantryTilt)
		}
		s.Orientation = TiltedAxial(s.GantryTilt)
	}
	if s.Orientation == ([6]float64{}) {
		s.Orientation = Axial
	}
	if err := checkOrientation(s.Orientation); err != nil {
		return s, err
	}
	if s.NoiseSigma < 0 || math.IsNaN(s.NoiseSigma) || math.IsInf(s.NoiseSigma, 0) {
		return s, fmt.Errorf("phantom: noise sigma %g: must be ≥ 0", s.NoiseSigma)
	}
	if s.Supersample < 0 || s.Supersample > 16 {
		return s, fmt.Errorf("phantom: supersample %d: must be 0…16", s.Supersample)
	}
	if s.Supersample == 0 {
		s.Supersample = 1
	}
	if s.Anatomy == nil {
		a := DefaultAnatomy()
		s.Anatomy = &a
	} else {
		a := *s.Anatomy
		a.Lesions = append([]Lesion(nil), a.Lesions...) // the phantom must not share the caller's slice
		s.Anatomy = &a
	}
	if err := s.Anatomy.Validate(); err != nil {
		return s, err
	}
	s.Identity = s.Identity.withDefaults(s.Modality)
	return s, nil
}
