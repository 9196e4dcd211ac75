package dicom

import (
	"bytes"
	"encoding/binary"
	"testing"
	"unsafe"
)

// within reports whether v lies inside b (shares its memory).
func within(v, b []byte) bool {
	if len(v) == 0 || len(b) == 0 {
		return false
	}
	start, end := uintptr(unsafe.Pointer(&b[0])), uintptr(unsafe.Pointer(&b[0]))+uintptr(len(b))
	p := uintptr(unsafe.Pointer(&v[0]))
	return p >= start && p < end
}

func TestShareBulkData(t *testing.T) {
	big := make([]byte, 64*64*2)
	for i := range big {
		big[i] = byte(i * 7)
	}
	ds := sampleDataset()
	ds.SetInts(TagRows, 64)
	ds.SetInts(TagColumns, 64)
	ds.SetBytes(TagPixelData, OW, big)
	ds.SetBytes(NewTag(0x0009, 0x1001), OB, big[:5000]) // private, bulk
	ds.SetBytes(NewTag(0x0009, 0x1002), OB, []byte{1, 2, 3, 4})

	for _, ts := range []string{ExplicitVRLittleEndian, ImplicitVRLittleEndian, DeflatedExplicitVRLittleEndian} {
		in := encode(t, ds, ts)
		orig := bytes.Clone(in)
		shared, err := ParseBytes(in, ParseOptions{ShareBulkData: true})
		if err != nil {
			t.Fatal(err)
		}
		copied, err := ParseBytes(in, ParseOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if a, b := MarshalJSON(shared.Dataset, JSONOptions{}), MarshalJSON(copied.Dataset, JSONOptions{}); !bytes.Equal(a, b) {
			t.Errorf("%s: shared and copied parses differ:\n%s\n%s", ts, a, b)
		}
		px, small := shared.Dataset.Get(TagPixelData).Value, shared.Dataset.Get(NewTag(0x0009, 0x1002)).Value
		wantShared := ts != DeflatedExplicitVRLittleEndian // inflated bytes are not the input
		if within(px, in) != wantShared || within(shared.Dataset.Get(NewTag(0x0009, 0x1001)).Value, in) != wantShared {
			t.Errorf("%s: bulk values shared %v, want %v", ts, within(px, in), wantShared)
		}
		if within(small, in) || within(copied.Dataset.Get(TagPixelData).Value, in) {
			t.Errorf("%s: a small value, or one parsed without ShareBulkData, shares the input", ts)
		}
		if cap(px) != len(px) {
			t.Errorf("%s: shared value has room %d past its end: an append would write into the input", ts, cap(px)-len(px))
		}
		if !bytes.Equal(in, orig) {
			t.Errorf("%s: parsing changed the input", ts)
		}
	}
}

// TestShareBulkDataEncapsulated shares fragments, and never big-endian
// values, which are swapped into little-endian copies.
func TestShareBulkDataEncapsulated(t *testing.T) {
	frag := bytes.Repeat([]byte{0xFF, 0xD8, 1, 2}, 2000)
	ds := sampleDataset()
	ds.Put(Element{Tag: TagPixelData, VR: OB, Encapsulated: true, Length: UndefinedLength,
		Fragments: []Fragment{{}, {Data: frag, Length: uint32(len(frag))}}})
	in := encode(t, ds, JPEGBaseline8Bit)
	f, err := ParseBytes(in, ParseOptions{ShareBulkData: true})
	if err != nil {
		t.Fatal(err)
	}
	fr := f.Dataset.Get(TagPixelData).Fragments
	if len(fr) != 2 || !bytes.Equal(fr[1].Data, frag) || !within(fr[1].Data, in) {
		t.Errorf("fragment not shared or wrong: %d fragments", len(fr))
	}

	words := make([]byte, 8000)
	for i := 0; i < len(words); i += 2 {
		binary.BigEndian.PutUint16(words[i:], uint16(i))
	}
	be := explicitElement(binary.BigEndian, NewTag(0x0066, 0x0040), OL, words)
	orig := bytes.Clone(be)
	g, err := ParseBytes(be, ParseOptions{TransferSyntax: ExplicitVRBigEndian, ShareBulkData: true})
	if err != nil {
		t.Fatal(err)
	}
	if v := g.Dataset.Get(NewTag(0x0066, 0x0040)).Value; within(v, be) || !bytes.Equal(be, orig) {
		t.Error("a big-endian value was shared, or the input swapped in place")
	}
}
