package deid

import (
	"bytes"

	"github.com/radmark/radmark/dicom"
)

// Encode writes a de-identified dataset ds (made from f) as a Part 10 file in the
// original's transfer syntax where radmark can write it (big endian data
// sets are read into little endian and written so).
func Encode(f *dicom.File, ds *dicom.Dataset) ([]byte, error) {
	ts := f.TransferSyntax.UID
	if known, ok := dicom.LookupTransferSyntax(ts); !ok || known.BigEndian {
		ts = dicom.ExplicitVRLittleEndian
	}
	if px := ds.Get(dicom.TagPixelData); px == nil || !px.Encapsulated {
		if known, _ := dicom.LookupTransferSyntax(ts); known.Encapsulated {
			ts = dicom.ExplicitVRLittleEndian
		}
	}
	var b bytes.Buffer
	if err := dicom.WriteFile(&b, ds, dicom.WriteOptions{TransferSyntax: ts}); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
