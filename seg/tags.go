package seg

import "github.com/radmark/radmark/dicom"

// Tags of the Segmentation IOD and the modules it shares. TestTagKeywords
// checks each against the data dictionary.
const (
	tagSpecificCharacterSet       dicom.Tag = 0x00080005
	tagImageType                  dicom.Tag = 0x00080008
	tagInstanceCreationDate       dicom.Tag = 0x00080012
	tagInstanceCreationTime       dicom.Tag = 0x00080013
	tagSOPClassUID                dicom.Tag = 0x00080016
	tagSOPInstanceUID             dicom.Tag = 0x00080018
	tagStudyDate                  dicom.Tag = 0x00080020
	tagSeriesDate                 dicom.Tag = 0x00080021
	tagContentDate                dicom.Tag = 0x00080023
	tagStudyTime                  dicom.Tag = 0x00080030
	tagSeriesTime                 dicom.Tag = 0x00080031
	tagContentTime                dicom.Tag = 0x00080033
	tagAccessionNumber            dicom.Tag = 0x00080050
	tagModality                   dicom.Tag = 0x00080060
	tagManufacturer               dicom.Tag = 0x00080070
	tagReferringPhysicianName     dicom.Tag = 0x00080090
	tagCodeValue                  dicom.Tag = 0x00080100
	tagCodingSchemeDesignator     dicom.Tag = 0x00080102
	tagCodeMeaning                dicom.Tag = 0x00080104
	tagSeriesDescription          dicom.Tag = 0x0008103E
	tagManufacturerModelName      dicom.Tag = 0x00081090
	tagReferencedSeriesSequence   dicom.Tag = 0x00081115
	tagReferencedInstanceSequence dicom.Tag = 0x0008114A
	tagReferencedSOPClassUID      dicom.Tag = 0x00081150
	tagReferencedSOPInstanceUID   dicom.Tag = 0x00081155
	tagReferencedFrameNumber      dicom.Tag = 0x00081160
	tagSourceImageSequence        dicom.Tag = 0x00082112
	tagAnatomicRegionSequence     dicom.Tag = 0x00082218
	tagAnatomicRegionModifierSeq  dicom.Tag = 0x00082220
	tagDerivationImageSequence    dicom.Tag = 0x00089124
	tagDerivationCodeSequence     dicom.Tag = 0x00089215

	tagPatientName      dicom.Tag = 0x00100010
	tagPatientID        dicom.Tag = 0x00100020
	tagPatientBirthDate dicom.Tag = 0x00100030
	tagPatientSex       dicom.Tag = 0x00100040

	tagSliceThickness       dicom.Tag = 0x00180050
	tagSpacingBetweenSlices dicom.Tag = 0x00180088
	tagDeviceSerialNumber   dicom.Tag = 0x00181000
	tagSoftwareVersions     dicom.Tag = 0x00181020

	tagStudyInstanceUID           dicom.Tag = 0x0020000D
	tagSeriesInstanceUID          dicom.Tag = 0x0020000E
	tagStudyID                    dicom.Tag = 0x00200010
	tagSeriesNumber               dicom.Tag = 0x00200011
	tagInstanceNumber             dicom.Tag = 0x00200013
	tagImagePositionPatient       dicom.Tag = 0x00200032
	tagImageOrientationPatient    dicom.Tag = 0x00200037
	tagFrameOfReferenceUID        dicom.Tag = 0x00200052
	tagPositionReferenceIndicator dicom.Tag = 0x00201040
	tagFrameContentSequence       dicom.Tag = 0x00209111
	tagPlanePositionSequence      dicom.Tag = 0x00209113
	tagPlaneOrientationSequence   dicom.Tag = 0x00209116
	tagDimensionIndexValues       dicom.Tag = 0x00209157
	tagDimensionOrganizationUID   dicom.Tag = 0x00209164
	tagDimensionIndexPointer      dicom.Tag = 0x00209165
	tagFunctionalGroupPointer     dicom.Tag = 0x00209167
	tagDimensionOrganizationSeq   dicom.Tag = 0x00209221
	tagDimensionIndexSequence     dicom.Tag = 0x00209222
	tagDimensionOrganizationType  dicom.Tag = 0x00209311
	tagDimensionDescriptionLabel  dicom.Tag = 0x00209421

	tagSamplesPerPixel           dicom.Tag = 0x00280002
	tagPhotometricInterpretation dicom.Tag = 0x00280004
	tagNumberOfFrames            dicom.Tag = 0x00280008
	tagRows                      dicom.Tag = 0x00280010
	tagColumns                   dicom.Tag = 0x00280011
	tagPixelSpacing              dicom.Tag = 0x00280030
	tagBitsAllocated             dicom.Tag = 0x00280100
	tagBitsStored                dicom.Tag = 0x00280101
	tagHighBit                   dicom.Tag = 0x00280102
	tagPixelRepresentation       dicom.Tag = 0x00280103
	tagLossyImageCompression     dicom.Tag = 0x00282110
	tagPixelMeasuresSequence     dicom.Tag = 0x00289110

	tagPurposeOfReferenceCodeSeq dicom.Tag = 0x0040A170

	tagSegmentationType                dicom.Tag = 0x00620001
	tagSegmentSequence                 dicom.Tag = 0x00620002
	tagSegmentedPropertyCategoryCode   dicom.Tag = 0x00620003
	tagSegmentNumber                   dicom.Tag = 0x00620004
	tagSegmentLabel                    dicom.Tag = 0x00620005
	tagSegmentDescription              dicom.Tag = 0x00620006
	tagSegmentAlgorithmType            dicom.Tag = 0x00620008
	tagSegmentAlgorithmName            dicom.Tag = 0x00620009
	tagSegmentIdentificationSequence   dicom.Tag = 0x0062000A
	tagReferencedSegmentNumber         dicom.Tag = 0x0062000B
	tagRecommendedDisplayCIELabValue   dicom.Tag = 0x0062000D
	tagMaximumFractionalValue          dicom.Tag = 0x0062000E
	tagSegmentedPropertyTypeCode       dicom.Tag = 0x0062000F
	tagSegmentationFractionalType      dicom.Tag = 0x00620010
	tagSegmentedPropertyTypeModifierSq dicom.Tag = 0x00620011

	tagContentLabel       dicom.Tag = 0x00700080
	tagContentDescription dicom.Tag = 0x00700081
	tagContentCreatorName dicom.Tag = 0x00700084

	tagSharedFunctionalGroups   dicom.Tag = 0x52009229
	tagPerFrameFunctionalGroups dicom.Tag = 0x52009230
	tagPixelData                dicom.Tag = 0x7FE00010
)
