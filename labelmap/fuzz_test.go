package labelmap

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/radmark/radmark"
)

// FuzzDecodeSlice feeds arbitrary bytes to the decoder as a chunk of a
// small grid: it must never panic, must return ErrCorrupt or EUNSUPPORTED
// for what it rejects, and what it accepts must be a whole slice that
// re-encodes to a chunk decoding to the same slice.
func FuzzDecodeSlice(f *testing.F) {
	seeds := [][]uint8{
		disc(16, 8, 7, 4, 3, 1),
		randomSlice(16*8, 0.5, 5, 1),
		make([]uint8, 16*8),
	}
	for _, s := range seeds {
		c, err := EncodeSlice(s, 16, 8)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(c, uint8(16), uint8(8))
	}
	f.Add([]byte("RMLM\x01\x02\x00\x00\x10\x00\x00\x00\x08\x00\x00\x00"), uint8(16), uint8(8))
	f.Add([]byte{}, uint8(1), uint8(1))
	f.Fuzz(func(t *testing.T, chunk []byte, columns, rows uint8) {
		c, r := int(columns), int(rows)
		data, err := DecodeSlice(chunk, c, r)
		if err != nil {
			var e *radmark.Error
			if !errors.As(err, &e) || (e.Code != radmark.EUNSUPPORTED && !errors.Is(err, ErrCorrupt) && e.Code != radmark.EINVALID) {
				t.Fatalf("unexpected error %#v", err)
			}
			if c > 0 && r > 0 && e.Code == radmark.EINVALID && !errors.Is(err, ErrCorrupt) {
				t.Fatalf("a rejected chunk does not wrap ErrCorrupt: %v", err)
			}
			return
		}
		if len(data) != c*r {
			t.Fatalf("decoded %d voxels for a %d×%d slice", len(data), c, r)
		}
		again, err := EncodeSlice(data, c, r)
		if err != nil {
			t.Fatal(err)
		}
		back, err := DecodeSlice(again, c, r)
		if err != nil || !bytes.Equal(back, data) {
			t.Fatalf("re-encoded chunk does not round-trip: %v", err)
		}
	})
}

// FuzzRunLengthCode reaches the run-length decoder with arbitrary code:
// the bytes are wrapped in a valid zstd frame and header (mutating a
// compressed chunk seldom gets past zstd). Decoding must never panic and
// must accept exactly the code whose runs fill the slice.
func FuzzRunLengthCode(f *testing.F) {
	f.Add(appendRLE(nil, disc(16, 8, 7, 4, 3, 1)), uint8(16), uint8(8))
	f.Add(appendRLE(nil, randomSlice(16*8, 0.3, 4, 5)), uint8(16), uint8(8))
	f.Add([]byte{0, 0xff, 0x01}, uint8(16), uint8(16))
	f.Add([]byte{7, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01}, uint8(2), uint8(2))
	f.Fuzz(func(t *testing.T, code []byte, columns, rows uint8) {
		c, r := max(int(columns), 1), max(int(rows), 1)
		chunk := appendHeader(nil, EncodingRLEZstd, c, r)
		chunk = encoder.EncodeAll(code, chunk)
		data, err := DecodeSlice(chunk, c, r)
		// A reference decoder, written for clarity.
		var want []uint8
		ok := len(code) <= 2*c*r
		for rest := code; ok && len(rest) > 0; {
			run, w := binary.Uvarint(rest[1:])
			if w <= 0 || run >= uint64(c*r-len(want)) {
				ok = false
				break
			}
			want = append(want, bytes.Repeat(rest[:1], int(run)+1)...)
			rest = rest[1+w:]
		}
		ok = ok && len(want) == c*r
		switch {
		case ok && err != nil:
			t.Fatalf("valid code rejected: %v", err)
		case !ok && err == nil:
			t.Fatalf("invalid code accepted as %d voxels", len(data))
		case !ok && !errors.Is(err, ErrCorrupt):
			t.Fatalf("rejection does not wrap ErrCorrupt: %v", err)
		case ok && !bytes.Equal(data, want):
			t.Fatal("decoded labels differ from the reference decoder's")
		}
	})
}
