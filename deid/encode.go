package deid

import (
	"bytes"

	"github.com/radmark/radmark/dicom"
)

// Encode writes a de-identified dataset ds (made from f) as a Part 10
// file: compressed pixel data and deflated data sets stay in their
// transfer syntax, everything else is written as Explicit VR Little
// Endian. One syntax for all
// uncompressed data makes the result independent of how the original
// travelled (storescu converts implicit to explicit VR, STOW-RS sends the
// file as is), so the same instance received by two doors is one
// instance, not a conflict. For the same reason group lengths
// (gggg,0000), retired and dependent on the encoding, are left out.
func Encode(f *dicom.File, ds *dicom.Dataset) ([]byte, error) {
	var b bytes.Buffer
	if err := EncodeTo(&b, f, ds); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// EncodeTo is Encode appending to b, so a caller encoding one instance
// after another can reuse the memory.
func EncodeTo(b *bytes.Buffer, f *dicom.File, ds *dicom.Dataset) error {
	ts := dicom.ExplicitVRLittleEndian
	known, ok := dicom.LookupTransferSyntax(f.TransferSyntax.UID)
	if px := ds.Get(dicom.TagPixelData); ok && px != nil && px.Encapsulated && known.Encapsulated {
		ts = known.UID
	}
	if ok && known.Deflated {
		// Deflated data sets stay deflated: they were made small on purpose.
		ts = known.UID
	}
	return dicom.WriteFile(b, withoutGroupLengths(ds), dicom.WriteOptions{TransferSyntax: ts})
}

// withoutGroupLengths returns ds without group length elements, at any
// depth; ds is not changed.
func withoutGroupLengths(ds *dicom.Dataset) *dicom.Dataset {
	out := *ds
	out.Elements = make([]dicom.Element, 0, len(ds.Elements))
	for _, e := range ds.Elements {
		if e.Tag.Element() == 0 {
			continue
		}
		if len(e.Items) > 0 {
			items := make([]*dicom.Dataset, len(e.Items))
			for i, it := range e.Items {
				items[i] = withoutGroupLengths(it)
			}
			e.Items = items
		}
		out.Elements = append(out.Elements, e)
	}
	return &out
}
