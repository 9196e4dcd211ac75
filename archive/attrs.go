package archive

import (
	"github.com/radmark/radmark/dicom"
)

// studyLevelTags are the patient- and study-level attributes kept with a
// study for QIDO-RS responses: the Patient, General Study and Patient Study
// modules (PS3.3 C.7.1.1, C.7.2.1, C.7.2.2) and the identification
// attributes PS3.18 Table 6.7.1-2 names.
var studyLevelTags = tagSet(
	dicom.TagPatientName, dicom.TagPatientID, dicom.TagIssuerOfPatientID,
	dicom.TagPatientBirthDate, 0x00100032, dicom.TagPatientSex,
	dicom.TagOtherPatientIDs, 0x00101001, 0x00101002, dicom.TagEthnicGroup,
	dicom.TagPatientComments, 0x00102201, 0x00102292, 0x00102297, 0x00102298,
	dicom.TagPatientIdentityRemoved, 0x00120063, 0x00120064,
	dicom.TagStudyInstanceUID, dicom.TagStudyDate, dicom.TagStudyTime,
	dicom.TagReferringPhysicianName, 0x00080096, dicom.TagStudyID,
	dicom.TagAccessionNumber, 0x00080051, dicom.TagStudyDescription,
	dicom.TagProcedureCodeSequence, 0x00081060, 0x00081080, 0x00321060,
	dicom.TagTimezoneOffsetFromUTC, dicom.TagPatientAge, dicom.TagPatientSize,
	dicom.TagPatientWeight, 0x001021B0, 0x00380010, 0x00380500,
)

// seriesLevelTags are the series-level attributes kept with a series: the
// General Series, Frame of Reference and General Equipment modules.
var seriesLevelTags = tagSet(
	dicom.TagModality, dicom.TagSeriesInstanceUID, dicom.TagSeriesNumber,
	dicom.TagSeriesDescription, 0x0008103F, dicom.TagLaterality,
	dicom.TagSeriesDate, dicom.TagSeriesTime, 0x00081050, 0x00081052,
	dicom.TagProtocolName, 0x00081070, dicom.TagBodyPartExamined,
	dicom.TagPatientPosition, dicom.TagPerformedProcedureStepStartDate,
	dicom.TagPerformedProcedureStepStartTime, 0x00400253, 0x00400254,
	dicom.TagRequestAttributesSequence, 0x00081111, dicom.TagManufacturer,
	dicom.TagInstitutionName, 0x00080081, dicom.TagStationName,
	dicom.TagInstitutionalDepartmentName, dicom.TagManufacturerModelName,
	0x00181000, 0x00181020, dicom.TagFrameOfReferenceUID,
	dicom.TagPositionReferenceIndicator, 0x00400260, 0x00400280,
)

// instanceQIDOTags are returned for instance-level queries without
// includefield (PS3.18 Table 6.7.1-2a), besides the UIDs.
var instanceQIDOTags = tagSet(
	dicom.TagSOPClassUID, dicom.TagSOPInstanceUID, dicom.TagInstanceNumber,
	dicom.TagRows, dicom.TagColumns, dicom.TagBitsAllocated,
	dicom.TagNumberOfFrames, dicom.TagStudyInstanceUID, dicom.TagSeriesInstanceUID,
)

func tagSet(tags ...dicom.Tag) map[dicom.Tag]bool {
	m := make(map[dicom.Tag]bool, len(tags))
	for _, t := range tags {
		m[t] = true
	}
	return m
}
