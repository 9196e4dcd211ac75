package dicom

import (
	"bytes"
	"testing"
)

// TestWriteDatasetSyntax writes a raw dataset in each writable syntax, wraps
// it with WriteFileHeader, and checks that the result is the file WriteFile
// writes and that the raw dataset parses alone when told its syntax.
func TestWriteDatasetSyntax(t *testing.T) {
	for _, ts := range []string{ImplicitVRLittleEndian, ExplicitVRLittleEndian, DeflatedExplicitVRLittleEndian} {
		t.Run(ts, func(t *testing.T) {
			ds := sampleDataset()
			var raw bytes.Buffer
			if err := WriteDatasetSyntax(&raw, ds, ts); err != nil {
				t.Fatal(err)
			}
			f, err := ParseBytes(raw.Bytes(), ParseOptions{TransferSyntax: ts})
			if err != nil {
				t.Fatalf("parse raw dataset: %v", err)
			}
			if f.Meta != nil {
				t.Error("a raw dataset has no file meta")
			}
			if got := f.Dataset.String(TagPatientID); got != "P-0001" {
				t.Errorf("PatientID = %q", got)
			}
			var file bytes.Buffer
			if err := WriteFileHeader(&file, FileMeta{SOPClassUID: ds.String(TagSOPClassUID), SOPInstanceUID: ds.String(TagSOPInstanceUID), TransferSyntax: ts}); err != nil {
				t.Fatal(err)
			}
			file.Write(raw.Bytes())
			var want bytes.Buffer
			if err := WriteFile(&want, ds, WriteOptions{TransferSyntax: ts}); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(file.Bytes(), want.Bytes()) {
				t.Error("header + raw dataset differs from WriteFile's output")
			}
			pf, err := ParseBytes(file.Bytes(), ParseOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if pf.TransferSyntax.UID != ts || pf.Meta.String(TagMediaStorageSOPInstanceUID) != "1.2.3.4.5.6.7" {
				t.Errorf("meta: ts %s, instance %q", pf.TransferSyntax.UID, pf.Meta.String(TagMediaStorageSOPInstanceUID))
			}
		})
	}
}

func TestWriteDatasetSyntaxRefuses(t *testing.T) {
	ds := sampleDataset()
	for _, ts := range []string{ExplicitVRBigEndian, "1.2.3.4", ""} {
		if err := WriteDatasetSyntax(&bytes.Buffer{}, ds, ts); err == nil {
			t.Errorf("syntax %q: no error", ts)
		}
	}
	ds.Put(Element{Tag: TagPixelData, VR: OB, Encapsulated: true, Fragments: []Fragment{{}, {Data: []byte{1, 2}, Length: 2}}})
	if err := WriteDatasetSyntax(&bytes.Buffer{}, ds, ExplicitVRLittleEndian); err == nil {
		t.Error("encapsulated pixel data written as native")
	}
	if err := WriteFileHeader(&bytes.Buffer{}, FileMeta{SOPClassUID: "1.2", TransferSyntax: ImplicitVRLittleEndian}); err == nil {
		t.Error("header without instance UID written")
	}
}
