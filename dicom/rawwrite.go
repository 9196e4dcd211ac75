package dicom

import (
	"bufio"
	"compress/flate"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
)

// FileMeta is what WriteFileHeader writes as file meta information.
type FileMeta struct {
	SOPClassUID    string
	SOPInstanceUID string
	TransferSyntax string
	// SourceAETitle, if set, is written as (0002,0016).
	SourceAETitle string
}

// WriteFileHeader writes the preamble, "DICM" and the file meta information
// group. The dataset, encoded in m.TransferSyntax, follows it unchanged: this
// is how a dataset received as bytes (a DIMSE C-STORE) becomes a Part 10 file
// without being decoded and re-encoded.
func WriteFileHeader(w io.Writer, m FileMeta) error {
	if m.SOPClassUID == "" || m.SOPInstanceUID == "" {
		return errors.New("dicom: file meta lacks SOPClassUID or SOPInstanceUID")
	}
	if m.TransferSyntax == "" {
		return errors.New("dicom: file meta lacks the transfer syntax")
	}
	meta := &Dataset{}
	meta.SetBytes(TagFileMetaInformationVersion, OB, []byte{0, 1})
	meta.SetString(TagMediaStorageSOPClassUID, m.SOPClassUID)
	meta.SetString(TagMediaStorageSOPInstanceUID, m.SOPInstanceUID)
	meta.SetString(TagTransferSyntaxUID, m.TransferSyntax)
	meta.SetString(TagImplementationClassUID, ImplementationClassUID)
	meta.SetString(TagImplementationVersionName, ImplementationVersionName)
	if m.SourceAETitle != "" {
		meta.SetString(TagSourceApplicationEntityTitle, m.SourceAETitle)
	}
	var body strings.Builder
	mw := &writer{w: bufio.NewWriter(&body), meta: true}
	if err := mw.dataset(meta); err != nil {
		return err
	}
	if err := mw.w.Flush(); err != nil {
		return err
	}
	hdr := make([]byte, 128+4+12, 128+4+12+body.Len())
	copy(hdr[128:], "DICM")
	// (0002,0000) UL group length, then the rest of the meta.
	copy(hdr[132:], []byte{0x02, 0x00, 0x00, 0x00, 'U', 'L', 4, 0})
	binary.LittleEndian.PutUint32(hdr[140:], uint32(body.Len()))
	hdr = append(hdr, body.String()...)
	_, err := w.Write(hdr)
	return err
}

// WriteDatasetSyntax writes ds without preamble or file meta in the transfer
// syntax tsUID, as DIMSE carries a dataset: implicit or explicit VR little
// endian, deflated explicit VR little endian, or an encapsulated syntax when
// the pixel data already is encapsulated. Big endian is not written.
func WriteDatasetSyntax(w io.Writer, ds *Dataset, tsUID string) error {
	ts, ok := LookupTransferSyntax(tsUID)
	if !ok || ts.BigEndian {
		return fmt.Errorf("dicom: cannot write transfer syntax %q", tsUID)
	}
	if !ts.Encapsulated {
		if e := ds.Get(TagPixelData); e != nil && e.Encapsulated {
			return fmt.Errorf("dicom: encapsulated pixel data cannot be written in %s", ts.Name)
		}
	}
	if ts.Deflated {
		fw, err := flate.NewWriter(w, flate.DefaultCompression)
		if err != nil {
			return err
		}
		if err := WriteDataset(fw, ds, false); err != nil {
			return err
		}
		return fw.Close()
	}
	return WriteDataset(w, ds, !ts.ExplicitVR)
}
