package dimse

import (
	"strings"

	"github.com/radmark/radmark/dicom"
)

// SOP classes of the services radmark offers.
const (
	VerificationSOPClass   = "1.2.840.10008.1.1"
	PatientRootFind        = "1.2.840.10008.5.1.4.1.2.1.1"
	PatientRootMove        = "1.2.840.10008.5.1.4.1.2.1.2"
	PatientRootGet         = "1.2.840.10008.5.1.4.1.2.1.3"
	StudyRootFind          = "1.2.840.10008.5.1.4.1.2.2.1"
	StudyRootMove          = "1.2.840.10008.5.1.4.1.2.2.2"
	StudyRootGet           = "1.2.840.10008.5.1.4.1.2.2.3"
	storageSOPClassPrefix  = "1.2.840.10008.5.1.4.1.1."
	implementationUIDDIMSE = dicom.ImplementationClassUID
)

// otherStorage lists the Storage SOP Classes outside 1.2.840.10008.5.1.4.1.1
// (PS3.4 B.5: non-patient objects, RT delivery instructions, templates).
var otherStorage = map[string]bool{
	"1.2.840.10008.5.1.4.34.7":  true, // RT Beams Delivery Instruction
	"1.2.840.10008.5.1.4.34.10": true, // RT Brachy Application Setup Delivery Instruction
	"1.2.840.10008.5.1.4.38.1":  true, // Hanging Protocol
	"1.2.840.10008.5.1.4.39.1":  true, // Color Palette
	"1.2.840.10008.5.1.4.43.1":  true, // Generic Implant Template
	"1.2.840.10008.5.1.4.44.1":  true, // Implant Assembly Template
	"1.2.840.10008.5.1.4.45.1":  true, // Implant Template Group
}

// IsStorageSOPClass reports whether uid is a Storage SOP Class: every class
// under 1.2.840.10008.5.1.4.1.1 (image, waveform, SR, SEG, RT, PR, document,
// ... storage) and the non-patient storage classes.
func IsStorageSOPClass(uid string) bool {
	return (strings.HasPrefix(uid, storageSOPClassPrefix) && len(uid) > len(storageSOPClassPrefix)) || otherStorage[uid]
}

type service int

const (
	svcNone service = iota
	svcEcho
	svcStore
	svcFind
	svcMove
	svcGet
)

// model is the query/retrieve information model of a SOP class.
type model int

const (
	patientRoot model = iota + 1
	studyRoot
)

func serviceOf(abstract string) (service, model) {
	switch abstract {
	case VerificationSOPClass:
		return svcEcho, 0
	case PatientRootFind:
		return svcFind, patientRoot
	case StudyRootFind:
		return svcFind, studyRoot
	case PatientRootMove:
		return svcMove, patientRoot
	case StudyRootMove:
		return svcMove, studyRoot
	case PatientRootGet:
		return svcGet, patientRoot
	case StudyRootGet:
		return svcGet, studyRoot
	}
	if IsStorageSOPClass(abstract) {
		return svcStore, 0
	}
	return svcNone, 0
}

// chooseTransferSyntax picks the syntax to accept from those proposed:
// storage takes the first syntax radmark can store (compressed ones are kept
// as received); every other service needs a little endian uncompressed one.
func chooseTransferSyntax(svc service, proposed []string) string {
	for _, ts := range proposed {
		if svc == svcStore {
			if _, ok := dicom.LookupTransferSyntax(ts); ok {
				return ts
			}
			continue
		}
		if ts == dicom.ExplicitVRLittleEndian || ts == dicom.ImplicitVRLittleEndian {
			return ts
		}
	}
	return ""
}
