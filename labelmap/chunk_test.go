package labelmap

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/radmark/radmark"
)

var update = flag.Bool("update", false, "rewrite the golden chunks in testdata/")

// disc returns a columns×rows slice with a filled disc of label val.
func disc(columns, rows int, ci, cj, r float64, val uint8) []uint8 {
	s := make([]uint8, columns*rows)
	for j := 0; j < rows; j++ {
		for i := 0; i < columns; i++ {
			if di, dj := float64(i)-ci, float64(j)-cj; di*di+dj*dj <= r*r {
				s[j*columns+i] = val
			}
		}
	}
	return s
}

func randomSlice(n int, density float64, labels int, seed uint64) []uint8 {
	r := rand.New(rand.NewPCG(seed, 9))
	s := make([]uint8, n)
	for i := range s {
		if r.Float64() < density {
			s[i] = uint8(1 + r.IntN(labels))
		}
	}
	return s
}

func TestSliceRoundTrip(t *testing.T) {
	long := make([]uint8, 512*512)
	fill(long[1000:200000], 7) // a run needing a 3-byte uvarint
	twoDiscs := disc(512, 512, 200, 250, 80, 1)
	for i, x := range disc(512, 512, 300, 250, 60, 2) {
		if x != 0 {
			twoDiscs[i] = x
		}
	}
	rowCrossing := make([]uint8, 16*4)
	fill(rowCrossing[10:40], 3) // runs cross row ends
	for _, tc := range []struct {
		name          string
		columns, rows int
		data          []uint8
		encoding      int
	}{
		{"empty", 512, 512, make([]uint8, 512*512), EncodingRLEZstd},
		{"one voxel", 1, 1, []uint8{9}, EncodingZstd}, // 1 raw byte beats a 2-byte run
		{"one empty voxel", 1, 1, []uint8{0}, EncodingZstd},
		{"full 255", 64, 32, bytes.Repeat([]uint8{255}, 64*32), EncodingRLEZstd},
		{"single voxel in corner", 512, 512, func() []uint8 { s := make([]uint8, 512*512); s[len(s)-1] = 1; return s }(), EncodingRLEZstd},
		{"disc", 512, 512, disc(512, 512, 256, 256, 100, 1), EncodingRLEZstd},
		{"two labels", 512, 512, twoDiscs, EncodingRLEZstd},
		{"long run", 512, 512, long, EncodingRLEZstd},
		{"runs across rows", 16, 4, rowCrossing, EncodingRLEZstd},
		{"non-square", 3, 700, disc(3, 700, 1, 350, 200, 4), EncodingRLEZstd},
		{"noise", 512, 512, randomSlice(512*512, 0.5, 8, 1), EncodingZstd},
		{"all values", 256, 1, func() []uint8 {
			s := make([]uint8, 256)
			for i := range s {
				s[i] = uint8(i)
			}
			return s
		}(), EncodingZstd},
	} {
		t.Run(tc.name, func(t *testing.T) {
			chunk, err := EncodeSlice(tc.data, tc.columns, tc.rows)
			if err != nil {
				t.Fatal(err)
			}
			h, err := ParseHeader(chunk)
			if err != nil {
				t.Fatal(err)
			}
			want := ChunkHeader{Version: 1, Encoding: tc.encoding, Columns: tc.columns, Rows: tc.rows}
			if h != want {
				t.Errorf("header %+v, want %+v", h, want)
			}
			got, err := DecodeSlice(chunk, tc.columns, tc.rows)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tc.data) {
				t.Fatal("decoded slice differs")
			}
			again, _ := EncodeSlice(tc.data, tc.columns, tc.rows)
			if !bytes.Equal(again, chunk) {
				t.Error("encoding is not deterministic")
			}
			dst := bytes.Repeat([]uint8{0xEE}, len(tc.data))
			if err := DecodeSliceInto(dst, chunk, tc.columns, tc.rows); err != nil || !bytes.Equal(dst, tc.data) {
				t.Errorf("DecodeSliceInto: %v, equal %v", err, bytes.Equal(dst, tc.data))
			}
		})
	}
}

func TestEncodeSliceRejects(t *testing.T) {
	for _, tc := range []struct {
		name          string
		data          []uint8
		columns, rows int
		want          string
	}{
		{"short", make([]uint8, 10), 4, 4, "has 16 voxels, got 10"},
		{"zero columns", nil, 0, 4, "must be positive"},
		{"too wide", nil, MaxColumns + 1, 1, "at most 65535"},
		{"slice too large", nil, 10000, 10000, "exceeds the limit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := EncodeSlice(tc.data, tc.columns, tc.rows)
			if radmark.ErrorCode(err) != radmark.EINVALID || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err %v, want EINVALID saying %q", err, tc.want)
			}
		})
	}
}

// handChunk builds a chunk from FORMAT.md's description alone, not from
// EncodeSlice: header bytes, then a zstd frame of content.
func handChunk(t *testing.T, encoding byte, columns, rows uint32, content []byte) []byte {
	t.Helper()
	c := []byte{'R', 'M', 'L', 'M', 1, encoding, 0, 0}
	c = binary.LittleEndian.AppendUint32(c, columns)
	c = binary.LittleEndian.AppendUint32(c, rows)
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithSingleSegment(true))
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	return enc.EncodeAll(content, c)
}

func TestDecodeFormatByHand(t *testing.T) {
	// A 5×2 slice: row 0 = 0 0 3 3 3, row 1 = 3 3 0 0 1.
	want := []uint8{0, 0, 3, 3, 3, 3, 3, 0, 0, 1}
	rle := []byte{0, 1, 3, 4, 0, 1, 1, 0} // runs (0,2) (3,5) (0,2) (1,1)
	for _, c := range []struct {
		name  string
		chunk []byte
	}{
		{"rle+zstd", handChunk(t, 2, 5, 2, rle)},
		{"zstd", handChunk(t, 1, 5, 2, want)},
		// Readers accept runs that are not maximal (two runs of 3).
		{"split runs", handChunk(t, 2, 5, 2, []byte{0, 1, 3, 1, 3, 2, 0, 1, 1, 0})},
	} {
		got, err := DecodeSlice(c.chunk, 5, 2)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: got %v, %v; want %v", c.name, got, err, want)
		}
	}
	// And the encoder writes exactly that run-length code.
	if got := appendRLE(nil, want); !bytes.Equal(got, rle) {
		t.Errorf("appendRLE = %v, want %v", got, rle)
	}
}

func TestDecodeSliceRejects(t *testing.T) {
	good, err := EncodeSlice(disc(32, 16, 10, 8, 5, 2), 32, 16)
	if err != nil {
		t.Fatal(err)
	}
	noisy, err := EncodeSlice(randomSlice(32*16, 0.5, 200, 2), 32, 16)
	if err != nil || noisy[5] != EncodingZstd {
		t.Fatalf("noisy slice: %v, encoding %d", err, noisy[5])
	}
	with := func(c []byte, at int, b ...byte) []byte {
		c = bytes.Clone(c)
		copy(c[at:], b)
		return c
	}
	n := 32 * 16
	// A frame of unknown content size, as a streaming encoder writes.
	var streamed bytes.Buffer
	streamed.Write(good[:headerLen])
	zw, _ := zstd.NewWriter(&streamed)
	zw.Write(appendRLE(nil, make([]uint8, n)))
	zw.Close()
	skippable := append(bytes.Clone(good[:headerLen]), 0x50, 0x2A, 0x4D, 0x18, 0, 0, 0, 0)
	skippable = append(skippable, good[headerLen:]...)

	for _, tc := range []struct {
		name  string
		chunk []byte
		code  string
		want  string
	}{
		{"empty", nil, radmark.EINVALID, "shorter than the 16-byte header"},
		{"short header", good[:10], radmark.EINVALID, "shorter than"},
		{"bad magic", with(good, 0, 'X'), radmark.EINVALID, "magic"},
		{"future version", with(good, 4, 2), radmark.EUNSUPPORTED, "format version 2"},
		{"unknown encoding", with(good, 5, 9), radmark.EUNSUPPORTED, "encoding 9"},
		{"encoding 0", with(good, 5, 0), radmark.EUNSUPPORTED, "encoding 0"},
		{"flags", with(good, 6, 1), radmark.EINVALID, "reserved flags"},
		{"other columns", with(good, 8, 33), radmark.EINVALID, "33×16 slice"},
		{"other rows", with(good, 12, 15), radmark.EINVALID, "32×15 slice"},
		{"zero shape", with(good, 8, 0, 0, 0, 0), radmark.EINVALID, "outside the limits"},
		{"huge shape", with(good, 8, 0xff, 0xff, 0xff, 0xff), radmark.EINVALID, "outside the limits"},
		{"no payload", good[:headerLen], radmark.EINVALID, "zstd frame header"},
		{"payload not zstd", append(bytes.Clone(good[:headerLen]), "not zstd at all"...), radmark.EINVALID, "zstd frame header"},
		{"truncated payload", good[:len(good)-3], radmark.EINVALID, "zstd"},
		{"flipped payload byte", with(good, len(good)-6, good[len(good)-6]^0x55), radmark.EINVALID, "zstd"},
		{"unknown content size", streamed.Bytes(), radmark.EINVALID, "does not declare its content size"},
		{"skippable frame", skippable, radmark.EINVALID, "skippable"},
		{"trailing bytes", append(bytes.Clone(good), 1, 2, 3), radmark.EINVALID, "zstd"},
		{"second frame", append(bytes.Clone(good), good[headerLen:]...), radmark.EINVALID, "zstd"},
		{"raw of wrong size", handChunk(t, 1, 32, 16, make([]byte, n-1)), radmark.EINVALID, "511 bytes"},
		{"raw too long", handChunk(t, 1, 32, 16, make([]byte, n+1)), radmark.EINVALID, "exceeds"},
		{"rle longer than 2 bytes a voxel", handChunk(t, 2, 32, 16, make([]byte, 2*n+1)), radmark.EINVALID, "exceeds"},
		{"rle short", handChunk(t, 2, 32, 16, []byte{1, 10}), radmark.EINVALID, "cover 11 of the slice's 512"},
		{"rle overflows slice", handChunk(t, 2, 32, 16, []byte{1, 0x80, 0x04}), radmark.EINVALID, "more than the slice"},
		{"rle runs past the end", handChunk(t, 2, 32, 16, []byte{1, 0xfe, 0x03, 2, 1}), radmark.EINVALID, "more than the slice"},
		{"rle bad varint", handChunk(t, 2, 32, 16, []byte{1, 0xff}), radmark.EINVALID, "bad run length"},
		{"rle varint overflow", handChunk(t, 2, 32, 16, append([]byte{1}, bytes.Repeat([]byte{0xff}, 11)...)), radmark.EINVALID, "bad run length"},
		{"rle empty", handChunk(t, 2, 32, 16, nil), radmark.EINVALID, "cover 0 of"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeSlice(tc.chunk, 32, 16)
			if err == nil {
				t.Fatalf("decoded %d voxels, want an error", len(got))
			}
			if radmark.ErrorCode(err) != tc.code || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err %q (code %s), want %s saying %q", err, radmark.ErrorCode(err), tc.code, tc.want)
			}
			if tc.code == radmark.EINVALID && !errors.Is(err, ErrCorrupt) {
				t.Errorf("err %v does not wrap ErrCorrupt", err)
			}
			if err := DecodeSliceInto(make([]uint8, n), tc.chunk, 32, 16); err == nil {
				t.Error("DecodeSliceInto accepted it")
			}
		})
	}
	if err := DecodeSliceInto(make([]uint8, n-1), good, 32, 16); radmark.ErrorCode(err) != radmark.EINVALID {
		t.Errorf("short buffer: %v", err)
	}
	if _, err := DecodeSlice(good, 0, 16); radmark.ErrorCode(err) != radmark.EINVALID {
		t.Errorf("zero columns: %v", err)
	}
}

// TestGoldenChunks pins the bytes of the format: decoding the stored
// chunks must always work (old revisions stay readable), and encoding must
// reproduce them (a change means new digests for equal slices, which must
// be deliberate: run with -update and say why in the commit).
func TestGoldenChunks(t *testing.T) {
	for _, g := range []struct {
		file          string
		columns, rows int
		data          []uint8
	}{
		{"disc-24x16.rmlm", 24, 16, disc(24, 16, 11, 7, 6, 3)},
		{"noise-16x8.rmlm", 16, 8, randomSlice(16*8, 0.6, 40, 3)},
	} {
		path := filepath.Join("testdata", g.file)
		chunk, err := EncodeSlice(g.data, g.columns, g.rows)
		if err != nil {
			t.Fatal(err)
		}
		if *update {
			if err := os.WriteFile(path, chunk, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		golden, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeSlice(golden, g.columns, g.rows)
		if err != nil || !bytes.Equal(got, g.data) {
			t.Errorf("%s: decodes to the wrong slice (%v)", g.file, err)
		}
		if !bytes.Equal(chunk, golden) {
			t.Errorf("%s: the encoder's bytes changed (digests of equal slices change too); run with -update if that is intended", g.file)
		}
	}
}

func TestDigestAndKey(t *testing.T) {
	d := Digest([]byte("abc"))
	if d != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Errorf("Digest = %s", d)
	}
	if !ValidDigest(d) {
		t.Error("a digest is not valid")
	}
	if k := Key(d); k != "labelmap/ba/"+d {
		t.Errorf("Key = %s", k)
	}
	for _, bad := range []string{"", "ba78", strings.ToUpper(d), d + "0", d[:63] + "g", "../" + d[3:]} {
		if ValidDigest(bad) {
			t.Errorf("ValidDigest(%q) = true", bad)
		}
	}
}

func TestEncode(t *testing.T) {
	v := mustVolume(t, Grid{64, 48, 10})
	paint(v, 30, 20, 4, 10, 8, 3, func(float64, float64) float64 { return 1 }, 5)
	chunks, err := Encode(v)
	if err != nil {
		t.Fatal(err)
	}
	for k := 0; k < v.Slices; k++ {
		c, ok := chunks[k]
		if ok == v.SliceEmpty(k) {
			t.Errorf("slice %d: chunk present %v, slice empty %v", k, ok, v.SliceEmpty(k))
			continue
		}
		if ok {
			got, err := DecodeSlice(c, 64, 48)
			if err != nil || !bytes.Equal(got, v.Slice(k)) {
				t.Errorf("slice %d: %v", k, err)
			}
		}
	}
	if len(chunks) == 0 {
		t.Fatal("no chunks")
	}
	if _, err := Encode(&Volume{Columns: 2, Rows: 2, Slices: 2, Voxels: make([]uint8, 7)}); radmark.ErrorCode(err) != radmark.EINVALID {
		t.Errorf("inconsistent volume: %v", err)
	}
}

func TestRunsRoundTrip(t *testing.T) {
	s := make([]uint8, 12*7)
	for i := 20; i < 40; i++ {
		s[i] = 3
	}
	s[83] = 255
	got, err := DecodeRuns(EncodeRuns(s), 12, 7)
	if err != nil || string(got) != string(s) {
		t.Fatalf("round trip: %v", err)
	}
	if _, err := DecodeRuns(EncodeRuns(s[:80]), 12, 7); !errors.Is(err, ErrCorrupt) {
		t.Errorf("short runs: %v", err)
	}
	if _, err := DecodeRuns([]byte{1, 0xFF}, 12, 7); !errors.Is(err, ErrCorrupt) {
		t.Errorf("bad varint: %v", err)
	}
}
