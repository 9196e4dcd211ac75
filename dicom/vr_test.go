package dicom

import (
	"bytes"
	"encoding/binary"
	"math"
	"testing"
)

// explicitElement encodes one explicit-VR element in the given byte order.
func explicitElement(order binary.ByteOrder, t Tag, vr VR, value []byte) []byte {
	var b bytes.Buffer
	var hdr [12]byte
	order.PutUint16(hdr[0:], t.Group())
	order.PutUint16(hdr[2:], t.Element())
	hdr[4], hdr[5] = byte(vr>>8), byte(vr)
	if vr.longLength() {
		order.PutUint32(hdr[8:], uint32(len(value)))
		b.Write(hdr[:12])
	} else {
		order.PutUint16(hdr[6:], uint16(len(value)))
		b.Write(hdr[:8])
	}
	b.Write(value)
	return b.Bytes()
}

// TestBinaryVRs reads every binary VR, including OF/OD/OL/OV/SV/UV that
// the Go library we started from corrupts or cannot read, in both byte
// orders.
func TestBinaryVRs(t *testing.T) {
	for _, order := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
		f32 := func(vals ...float32) []byte {
			b := make([]byte, 4*len(vals))
			for i, v := range vals {
				order.PutUint32(b[4*i:], math.Float32bits(v))
			}
			return b
		}
		f64 := func(vals ...float64) []byte {
			b := make([]byte, 8*len(vals))
			for i, v := range vals {
				order.PutUint64(b[8*i:], math.Float64bits(v))
			}
			return b
		}
		u16 := func(vals ...uint16) []byte {
			b := make([]byte, 2*len(vals))
			for i, v := range vals {
				order.PutUint16(b[2*i:], v)
			}
			return b
		}
		u32 := func(vals ...uint32) []byte {
			b := make([]byte, 4*len(vals))
			for i, v := range vals {
				order.PutUint32(b[4*i:], v)
			}
			return b
		}
		u64 := func(vals ...uint64) []byte {
			b := make([]byte, 8*len(vals))
			for i, v := range vals {
				order.PutUint64(b[8*i:], v)
			}
			return b
		}
		var ds []byte
		ds = append(ds, explicitElement(order, TagRows, US, u16(512))...)
		ds = append(ds, explicitElement(order, NewTag(0x0028, 0x9099), SS, u16(0xFFFE))...) // -2
		ds = append(ds, explicitElement(order, NewTag(0x0066, 0x0016), OF, f32(1.5, -2.25, 3e10))...)
		ds = append(ds, explicitElement(order, NewTag(0x0066, 0x0023), OD, f64(math.Pi, -1e-300))...)
		ds = append(ds, explicitElement(order, NewTag(0x0066, 0x0040), OL, u32(7, 0xFFFFFFFF))...)
		ds = append(ds, explicitElement(order, NewTag(0x0066, 0x0129), OV, u64(1<<40, 3))...)
		ds = append(ds, explicitElement(order, NewTag(0x0072, 0x0082), SV, u64(uint64(math.MaxUint64-4)))...) // -5
		ds = append(ds, explicitElement(order, NewTag(0x0072, 0x0083), UV, u64(math.MaxUint64))...)
		ds = append(ds, explicitElement(order, NewTag(0x0018, 0x9328), FD, f64(12.5))...)
		ds = append(ds, explicitElement(order, NewTag(0x0008, 0x9459), FL, f32(0.25))...)
		ds = append(ds, explicitElement(order, TagFrameIncrementPointer, AT, u16(0x0018, 0x1063))...)
		ts := ExplicitVRLittleEndian
		if order == binary.BigEndian {
			ts = ExplicitVRBigEndian
		}
		f, err := ParseBytes(ds, ParseOptions{TransferSyntax: ts})
		if err != nil {
			t.Fatalf("%v: %v", order, err)
		}
		d := f.Dataset
		check := func(name string, got, want any) {
			t.Helper()
			if !equalAny(got, want) {
				t.Errorf("%v %s = %v, want %v", order, name, got, want)
			}
		}
		check("US", d.Get(TagRows).Ints(), []int64{512})
		check("SS", d.Get(NewTag(0x0028, 0x9099)).Ints(), []int64{-2})
		check("OF", d.Get(NewTag(0x0066, 0x0016)).Floats(), []float64{1.5, -2.25, float64(float32(3e10))})
		check("OD", d.Get(NewTag(0x0066, 0x0023)).Floats(), []float64{math.Pi, -1e-300})
		check("OL", d.Get(NewTag(0x0066, 0x0040)).Ints(), []int64{7, 0xFFFFFFFF})
		check("OV", d.Get(NewTag(0x0066, 0x0129)).Uints(), []uint64{1 << 40, 3})
		check("SV", d.Get(NewTag(0x0072, 0x0082)).Ints(), []int64{-5})
		check("UV", d.Get(NewTag(0x0072, 0x0083)).Uints(), []uint64{math.MaxUint64})
		check("FD", d.Get(NewTag(0x0018, 0x9328)).Floats(), []float64{12.5})
		check("FL", d.Get(NewTag(0x0008, 0x9459)).Floats(), []float64{0.25})
		check("AT", d.Get(TagFrameIncrementPointer).Tags(), []Tag{NewTag(0x0018, 0x1063)})
		js := string(MarshalJSON(d, JSONOptions{}))
		for _, want := range []string{`"00720083":{"vr":"UV","Value":[18446744073709551615]}`, `"00720082":{"vr":"SV","Value":[-5]}`, `"00280009":{"vr":"AT","Value":["00181063"]}`} {
			if !bytes.Contains([]byte(js), []byte(want)) {
				t.Errorf("%v: JSON lacks %s:\n%s", order, want, js)
			}
		}
	}
}

func equalAny(a, b any) bool {
	switch x := a.(type) {
	case []int64:
		y := b.([]int64)
		if len(x) != len(y) {
			return false
		}
		for i := range x {
			if x[i] != y[i] {
				return false
			}
		}
		return true
	case []uint64:
		y := b.([]uint64)
		if len(x) != len(y) {
			return false
		}
		for i := range x {
			if x[i] != y[i] {
				return false
			}
		}
		return true
	case []float64:
		y := b.([]float64)
		if len(x) != len(y) {
			return false
		}
		for i := range x {
			if x[i] != y[i] {
				return false
			}
		}
		return true
	case []Tag:
		y := b.([]Tag)
		return len(x) == len(y) && (len(x) == 0 || x[0] == y[0])
	}
	return false
}
