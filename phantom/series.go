package phantom

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/radmark/radmark/dicom"
)

// SOP classes of the generated instances.
const (
	CTImageStorage = "1.2.840.10008.5.1.4.1.1.2"
	MRImageStorage = "1.2.840.10008.5.1.4.1.1.4"
)

// Window is a VOI LUT window preset (PS3.3 C.11.2) in modality units.
type Window struct {
	Center, Width float64
	Explanation   string
}

// CTWindows returns the presets written into CT slices, the first being
// the default a viewer shows: soft tissue 40/400, lung −600/1500, bone
// 400/1800, and a narrow liver window 80/150 that separates the 60 HU
// liver from the 100 HU lesion.
func CTWindows() []Window {
	return []Window{
		{40, 400, "SOFT TISSUE"},
		{-600, 1500, "LUNG"},
		{400, 1800, "BONE"},
		{80, 150, "LIVER"},
	}
}

// MRWindows returns the presets written into MR slices: 600/1200 spanning
// air to fat, and 450/500 for the soft tissues.
func MRWindows() []Window {
	return []Window{
		{600, 1200, "FULL RANGE"},
		{450, 500, "SOFT TISSUE"},
	}
}

// Series is a generated phantom series: one dataset per slice, index k.
type Series struct {
	Phantom             *Phantom
	Instances           []*dicom.Dataset
	StudyInstanceUID    string
	SeriesInstanceUID   string
	FrameOfReferenceUID string
}

// Generate makes every slice of the phantom described by spec, in parallel.
// The result depends only on spec.
func Generate(spec Spec) (*Series, error) {
	p, err := New(spec)
	if err != nil {
		return nil, err
	}
	s := p.newSeries()
	tmpl := p.template(s)
	s.Instances = make([]*dicom.Dataset, p.spec.Slices)
	parallel(p.spec.Slices, func(k int) {
		s.Instances[k] = p.slice(s, tmpl, k)
	})
	return s, nil
}

func (p *Phantom) newSeries() *Series {
	sk := studyKey(p.spec.Modality, p.spec.Identity, p.spec.Seed)
	return &Series{
		Phantom:             p,
		StudyInstanceUID:    deriveUID(uidDomain, "study", sk),
		FrameOfReferenceUID: deriveUID(uidDomain, "frame-of-reference", sk),
		SeriesInstanceUID:   deriveUID(uidDomain, "series", seriesKey(p.spec)),
	}
}

// SOPInstanceUID returns the UID of slice k.
func (s *Series) SOPInstanceUID(k int) string {
	return deriveUID(uidDomain, "instance", s.SeriesInstanceUID, strconv.Itoa(k))
}

// FileName returns the name WriteDir gives slice k: the modality and the
// 1-based instance number, zero-padded so names sort in slice order.
func (s *Series) FileName(k int) string {
	width := max(4, len(strconv.Itoa(len(s.Instances))))
	return fmt.Sprintf("%s%0*d.dcm", s.Phantom.spec.Modality, width, k+1)
}

// Write writes slice k as a DICOM Part 10 file (explicit VR little endian).
func (s *Series) Write(k int, w io.Writer) error {
	if k < 0 || k >= len(s.Instances) {
		return fmt.Errorf("phantom: slice %d out of range 0…%d", k, len(s.Instances)-1)
	}
	return dicom.WriteFile(w, s.Instances[k], dicom.WriteOptions{})
}

// WriteDir writes every slice into dir (created if needed) as FileName(k)
// and returns the paths in slice order. Each file is written under a
// temporary name and renamed, so a file with a final name is complete.
func (s *Series) WriteDir(dir string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("phantom: %w", err)
	}
	paths := make([]string, len(s.Instances))
	errs := make([]error, len(s.Instances))
	parallel(len(s.Instances), func(k int) {
		paths[k] = filepath.Join(dir, s.FileName(k))
		errs[k] = writeFileAtomic(paths[k], func(w io.Writer) error { return s.Write(k, w) })
	})
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return paths, nil
}

// writeFileAtomic writes path through a temporary file in the same folder.
func writeFileAtomic(path string, write func(io.Writer) error) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("phantom: %w", err)
	}
	tmp := f.Name()
	err = write(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("phantom: writing %s: %w", path, err)
	}
	return nil
}

// Slice builds the dataset of slice k alone, for callers that stream a
// large series instead of holding it (Generate builds all of them).
func (p *Phantom) Slice(k int) (*dicom.Dataset, error) {
	if k < 0 || k >= p.spec.Slices {
		return nil, fmt.Errorf("phantom: slice %d out of range 0…%d", k, p.spec.Slices-1)
	}
	s := p.newSeries()
	return p.slice(s, p.template(s), k), nil
}

// slice completes a copy of the series template with what differs per
// slice: identity, position and pixels.
func (p *Phantom) slice(s *Series, tmpl *dicom.Dataset, k int) *dicom.Dataset {
	ds := &dicom.Dataset{Elements: slices.Clone(tmpl.Elements)}
	ds.SetString(dicom.TagSOPInstanceUID, s.SOPInstanceUID(k))
	ds.SetInts(dicom.TagInstanceNumber, k+1)
	ipp := p.SlicePosition(k)
	ds.SetFloats(dicom.TagImagePositionPatient, ipp[0], ipp[1], ipp[2])
	ds.SetFloats(dicom.TagSliceLocation, p.SliceLocation(k))
	pixels := make([]byte, 2*p.spec.Rows*p.spec.Columns)
	p.sampleSlice(k, nil, pixels)
	ds.SetBytes(dicom.TagPixelData, dicom.OW, pixels)
	return ds
}

// Attributes the dicom package has no constant for.
const (
	tagSoftwareVersions        dicom.Tag = 0x00181020
	tagScanningSequence        dicom.Tag = 0x00180020
	tagSequenceVariant         dicom.Tag = 0x00180021
	tagScanOptions             dicom.Tag = 0x00180022
	tagMRAcquisitionType       dicom.Tag = 0x00180023
	tagRepetitionTime          dicom.Tag = 0x00180080
	tagEchoTime                dicom.Tag = 0x00180081
	tagNumberOfAverages        dicom.Tag = 0x00180083
	tagImagingFrequency        dicom.Tag = 0x00180084
	tagImagedNucleus           dicom.Tag = 0x00180085
	tagEchoNumbers             dicom.Tag = 0x00180086
	tagMagneticFieldStrength   dicom.Tag = 0x00180087
	tagEchoTrainLength         dicom.Tag = 0x00180091
	tagPixelBandwidth          dicom.Tag = 0x00180095
	tagFlipAngle               dicom.Tag = 0x00181314
	tagDataCollectionDiameter  dicom.Tag = 0x00180090
	tagReconstructionDiameter  dicom.Tag = 0x00181100
	tagDistanceSourceToDet     dicom.Tag = 0x00181110
	tagDistanceSourceToPatient dicom.Tag = 0x00181111
	tagRotationDirection       dicom.Tag = 0x00181140
	tagExposureTime            dicom.Tag = 0x00181150
	tagXRayTubeCurrent         dicom.Tag = 0x00181151
	tagExposure                dicom.Tag = 0x00181152
	tagFilterType              dicom.Tag = 0x00181160
	tagFocalSpots              dicom.Tag = 0x00181190
)

// template holds the attributes every slice of the series shares.
func (p *Phantom) template(s *Series) *dicom.Dataset {
	sp := p.spec
	id := sp.Identity
	ds := &dicom.Dataset{}
	setCommon(ds, id, string(sp.Modality))
	ds.SetString(dicom.TagStudyInstanceUID, s.StudyInstanceUID)
	ds.SetString(dicom.TagSeriesInstanceUID, s.SeriesInstanceUID)

	// Frame of Reference: one per study (see studyKey). The reference
	// indicator is type 2 and meaningless for a phantom, so empty.
	ds.SetString(dicom.TagFrameOfReferenceUID, s.FrameOfReferenceUID)
	ds.SetString(dicom.TagPositionReferenceIndicator)
	ds.SetString(dicom.TagPatientPosition, "HFS")
	ds.SetString(dicom.TagBodyPartExamined, "CHEST")
	ds.SetInts(dicom.TagAcquisitionNumber, 1)

	// Image Plane.
	iop := sp.Orientation
	ds.SetFloats(dicom.TagImageOrientationPatient, iop[:]...)
	// Patient Orientation is optional beside IOP, but it is what a human
	// (and some viewers' orientation markers) read.
	ds.SetString(dicom.TagPatientOrientation,
		orientationLetters(LPS{iop[0], iop[1], iop[2]}), orientationLetters(LPS{iop[3], iop[4], iop[5]}))
	ds.SetFloats(dicom.TagPixelSpacing, sp.PixelSpacing[0], sp.PixelSpacing[1])
	ds.SetFloats(dicom.TagSliceThickness, sp.SliceThickness)

	// Image Pixel: 16 bits allocated, 12 stored, unsigned.
	ds.SetInts(dicom.TagSamplesPerPixel, 1)
	ds.SetString(dicom.TagPhotometricInterpretation, "MONOCHROME2")
	ds.SetInts(dicom.TagRows, sp.Rows)
	ds.SetInts(dicom.TagColumns, sp.Columns)
	ds.SetInts(dicom.TagBitsAllocated, 16)
	ds.SetInts(dicom.TagBitsStored, bitsStored)
	ds.SetInts(dicom.TagHighBit, bitsStored-1)
	ds.SetInts(dicom.TagPixelRepresentation, 0)

	windows := CTWindows()
	switch sp.Modality {
	case CT:
		ds.SetString(dicom.TagSOPClassUID, CTImageStorage)
		ds.SetString(dicom.TagImageType, "ORIGINAL", "PRIMARY", "AXIAL")
		ds.SetFloats(dicom.TagRescaleIntercept, -ctRescaleOffset)
		ds.SetFloats(dicom.TagRescaleSlope, 1)
		ds.SetString(dicom.TagRescaleType, "HU")
		ds.SetFloats(dicom.TagKVP, 120)
		ds.SetFloats(tagDataCollectionDiameter, 500)
		ds.SetFloats(tagReconstructionDiameter, float64(sp.Columns)*sp.PixelSpacing[1])
		ds.SetFloats(tagDistanceSourceToDet, 1040)
		ds.SetFloats(tagDistanceSourceToPatient, 570)
		ds.SetFloats(dicom.TagGantryDetectorTilt, sp.GantryTilt)
		ds.SetString(tagRotationDirection, "CW")
		ds.SetInts(tagExposureTime, 500)
		ds.SetInts(tagXRayTubeCurrent, 200)
		ds.SetInts(tagExposure, 100)
		ds.SetString(tagFilterType, "BODY")
		ds.SetFloats(tagFocalSpots, 1.2)
		ds.SetString(dicom.TagConvolutionKernel, "STANDARD")
	case MR:
		windows = MRWindows()
		ds.SetString(dicom.TagSOPClassUID, MRImageStorage)
		ds.SetString(dicom.TagImageType, "ORIGINAL", "PRIMARY", "OTHER")
		ds.SetString(tagScanningSequence, "SE")
		ds.SetString(tagSequenceVariant, "NONE")
		ds.SetString(tagScanOptions)
		ds.SetString(tagMRAcquisitionType, "2D")
		ds.SetFloats(tagRepetitionTime, 500)
		ds.SetFloats(tagEchoTime, 15)
		ds.SetInts(tagEchoTrainLength, 1)
		ds.SetInts(tagEchoNumbers, 1)
		ds.SetFloats(tagNumberOfAverages, 1)
		ds.SetFloats(tagImagingFrequency, 63.87)
		ds.SetString(tagImagedNucleus, "1H")
		ds.SetFloats(tagMagneticFieldStrength, 1.5)
		ds.SetFloats(tagPixelBandwidth, 130)
		ds.SetFloats(tagFlipAngle, 90)
		ds.SetFloats(dicom.TagSpacingBetweenSlices, p.planeSpacing())
	}
	setWindows(ds, windows)
	return ds
}

// planeSpacing is the distance between adjacent slice planes, measured
// along the normal (with gantry tilt, less than the table step).
func (p *Phantom) planeSpacing() float64 {
	d := p.affine.Column(2).Dot(p.normal)
	if d < 0 {
		d = -d
	}
	return d
}

func setWindows(ds *dicom.Dataset, ws []Window) {
	c := make([]float64, len(ws))
	w := make([]float64, len(ws))
	e := make([]string, len(ws))
	for i, win := range ws {
		c[i], w[i], e[i] = win.Center, win.Width, win.Explanation
	}
	ds.SetFloats(dicom.TagWindowCenter, c...)
	ds.SetFloats(dicom.TagWindowWidth, w...)
	ds.SetString(dicom.TagWindowCenterWidthExplanation, e...)
}

// setCommon writes the Patient, General Study, General Series, General
// Equipment, General Image and SOP Common attributes every phantom image
// has.
func setCommon(ds *dicom.Dataset, id Identity, modality string) {
	ds.SetString(dicom.TagSpecificCharacterSet, "ISO_IR 192")
	for _, t := range []dicom.Tag{dicom.TagInstanceCreationDate, dicom.TagStudyDate, dicom.TagSeriesDate, dicom.TagAcquisitionDate, dicom.TagContentDate} {
		ds.SetString(t, id.StudyDate)
	}
	for _, t := range []dicom.Tag{dicom.TagInstanceCreationTime, dicom.TagStudyTime, dicom.TagSeriesTime, dicom.TagAcquisitionTime, dicom.TagContentTime} {
		ds.SetString(t, id.StudyTime)
	}
	ds.SetString(dicom.TagAccessionNumber, id.AccessionNumber)
	ds.SetString(dicom.TagModality, modality)
	ds.SetString(dicom.TagManufacturer, "radmark")
	ds.SetString(dicom.TagInstitutionName, id.InstitutionName)
	ds.SetString(dicom.TagReferringPhysicianName)
	ds.SetString(dicom.TagStudyDescription, id.StudyDescription)
	ds.SetString(dicom.TagSeriesDescription, id.SeriesDescription)
	ds.SetString(dicom.TagManufacturerModelName, "phantom")
	ds.SetString(tagSoftwareVersions, "radmark phantom v1")
	ds.SetString(dicom.TagPatientName, id.PatientName)
	ds.SetString(dicom.TagPatientID, id.PatientID)
	ds.SetString(dicom.TagPatientBirthDate, id.PatientBirthDate)
	ds.SetString(dicom.TagPatientSex, id.PatientSex)
	ds.SetString(dicom.TagStudyID, id.StudyID)
	ds.SetInts(dicom.TagSeriesNumber, id.SeriesNumber)
	ds.SetString(dicom.TagLossyImageCompression, "00")
	ds.SetString(dicom.TagBurnedInAnnotation, "NO")
}
