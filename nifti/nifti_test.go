package nifti

import (
	"bytes"
	"encoding/binary"
	"math"
	"testing"
)

func testImage() *Image {
	im := &Image{Dims: [3]int{3, 2, 2}, Datatype: Int16, SclSlope: 1, SclInter: -1024,
		Affine:      [4][4]float64{{-0.7, 0, 0, 90}, {0, -0.7, 0, 120}, {0, 0, 2.5, -60}, {0, 0, 0, 1}},
		Description: "test", Intent: "labels"}
	im.Data = make([]byte, 2*im.Len())
	for n := 0; n < im.Len(); n++ {
		binary.LittleEndian.PutUint16(im.Data[2*n:], uint16(int16(n*100-300)))
	}
	return im
}

func TestRoundTrip(t *testing.T) {
	for _, gz := range []bool{false, true} {
		im := testImage()
		var buf bytes.Buffer
		var err error
		if gz {
			err = Write(&buf, im)
		} else {
			err = Encode(&buf, im)
		}
		if err != nil {
			t.Fatal(err)
		}
		got, err := Decode(buf.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		if got.Dims != im.Dims || got.Datatype != im.Datatype || !bytes.Equal(got.Data, im.Data) || got.Description != "test" || got.Intent != "labels" {
			t.Fatalf("gzip %v: got %+v", gz, got)
		}
		for r := 0; r < 4; r++ {
			for c := 0; c < 4; c++ {
				if math.Abs(got.Affine[r][c]-im.Affine[r][c]) > 1e-5 {
					t.Fatalf("affine[%d][%d] = %g, want %g", r, c, got.Affine[r][c], im.Affine[r][c])
				}
			}
		}
		if v := got.Value(4); v != 100-1024 {
			t.Errorf("Value(4) = %g", v)
		}
	}
}

// TestQformMatchesSform: the qform written is the same affine (checked by
// reading it back with the sform switched off).
func TestQformMatchesSform(t *testing.T) {
	s, c := math.Sincos(0.3)
	im := testImage()
	im.Affine = [4][4]float64{{-0.7 * c, 0, 2.5 * s, 90}, {0, -0.7, 0, 120}, {-0.7 * s, 0, -2.5 * c, -60}, {0, 0, 0, 1}}
	var buf bytes.Buffer
	if err := Encode(&buf, im); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	binary.LittleEndian.PutUint16(b[254:], 0)
	got, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	for r := 0; r < 3; r++ {
		for c := 0; c < 4; c++ {
			if math.Abs(got.Affine[r][c]-im.Affine[r][c]) > 1e-4 {
				t.Fatalf("qform affine[%d][%d] = %g, want %g", r, c, got.Affine[r][c], im.Affine[r][c])
			}
		}
	}
}

func TestBadInput(t *testing.T) {
	var buf bytes.Buffer
	_ = Encode(&buf, testImage())
	good := buf.Bytes()
	for name, b := range map[string][]byte{
		"empty":     nil,
		"short":     good[:100],
		"truncated": good[:len(good)-3],
		"magic":     append(append([]byte{}, good[:344]...), append([]byte("xxxx"), good[348:]...)...),
	} {
		if _, err := Decode(b); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func FuzzRead(f *testing.F) {
	var buf bytes.Buffer
	_ = Encode(&buf, testImage())
	f.Add(buf.Bytes())
	buf.Reset()
	_ = Write(&buf, testImage())
	f.Add(buf.Bytes())
	f.Fuzz(func(t *testing.T, b []byte) {
		im, err := Decode(b)
		if err != nil {
			return
		}
		for n := 0; n < im.Len(); n++ {
			_ = im.Value(n)
		}
	})
}
