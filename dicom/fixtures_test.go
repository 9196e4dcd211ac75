package dicom

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// sampleDataset builds a small image dataset exercising many VRs.
func sampleDataset() *Dataset {
	ds := &Dataset{}
	ds.SetString(TagSpecificCharacterSet, "ISO_IR 192")
	ds.SetString(TagImageType, "ORIGINAL", "PRIMARY", "AXIAL")
	ds.SetString(TagSOPClassUID, "1.2.840.10008.5.1.4.1.1.2")
	ds.SetString(TagSOPInstanceUID, "1.2.3.4.5.6.7")
	ds.SetString(TagStudyDate, "20240131")
	ds.SetString(TagModality, "CT")
	ds.SetString(TagPatientName, "Müller^Jörg=ミュラー^ヨルク")
	ds.SetString(TagPatientID, "P-0001")
	ds.SetString(TagStudyInstanceUID, "1.2.3.4")
	ds.SetString(TagSeriesInstanceUID, "1.2.3.4.5")
	ds.SetInts(TagSeriesNumber, 3)
	ds.SetInts(TagInstanceNumber, 12)
	ds.SetFloats(TagImagePositionPatient, -125.5, -130.25, 47.5)
	ds.SetFloats(TagImageOrientationPatient, 1, 0, 0, 0, 1, 0)
	ds.SetFloats(TagPixelSpacing, 0.48828125, 0.48828125)
	ds.SetFloats(TagRescaleIntercept, -1024)
	ds.SetFloats(TagRescaleSlope, 1)
	ref := &Dataset{}
	ref.SetString(TagReferencedSOPClassUID, "1.2.840.10008.5.1.4.1.1.2")
	ref.SetString(TagReferencedSOPInstanceUID, "1.2.3.4.5.6.8")
	ds.SetItems(TagReferencedSOPSequence, ref, &Dataset{})
	ds.SetInts(TagSamplesPerPixel, 1)
	ds.SetString(TagPhotometricInterpretation, "MONOCHROME2")
	ds.SetInts(TagRows, 4)
	ds.SetInts(TagColumns, 3)
	ds.SetInts(TagBitsAllocated, 16)
	ds.SetInts(TagBitsStored, 12)
	ds.SetInts(TagHighBit, 11)
	ds.SetInts(TagPixelRepresentation, 1)
	ds.SetFloatsVR(NewTag(0x0018, 0x9328), FD, 12.5)                  // ExposureTime in ms, FD
	ds.SetFloatsVR(NewTag(0x0008, 0x9459), FL, 1.5)                   // RecommendedDisplayFrameRateInFloat, FL
	ds.SetIntsVR(NewTag(0x0072, 0x0082), SV, -1<<40, 7)               // SV
	ds.SetIntsVR(NewTag(0x0072, 0x0083), UV, 1<<50)                   // UV
	ds.SetBytes(NewTag(0x0009, 0x0010), LO, []byte("RADMARK "))       // private creator
	ds.SetBytes(NewTag(0x0009, 0x1001), OB, []byte{1, 2, 3, 4, 5, 6}) // private OB
	px := make([]byte, 4*3*2)
	for i := 0; i < 12; i++ {
		binary.LittleEndian.PutUint16(px[2*i:], uint16(int16(i*100-500)))
	}
	ds.SetBytes(TagPixelData, OW, px)
	return ds
}

// encode writes ds as a Part 10 file in the given syntax.
func encode(t testing.TB, ds *Dataset, ts string) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteFile(&buf, ds, WriteOptions{TransferSyntax: ts}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
