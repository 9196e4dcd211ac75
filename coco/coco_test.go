package coco

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"os/exec"
	"slices"
	"testing"

	"github.com/radmark/radmark/internal/testenv"
)

func maskOf(w, h int, on ...[2]int) []byte {
	m := make([]byte, w*h)
	for _, p := range on {
		m[p[1]*w+p[0]] = 1
	}
	return m
}

// Hand-computed from maskApi.c: column-major runs, counts after the
// second coded as the difference to the count two before.
func TestEncodeGolden(t *testing.T) {
	for _, tc := range []struct {
		name   string
		w, h   int
		mask   []byte
		runs   []uint32
		counts string
		bbox   [4]float64
	}{
		{"empty", 2, 2, maskOf(2, 2), []uint32{4}, "4", [4]float64{}},
		{"full", 2, 2, maskOf(2, 2, [2]int{0, 0}, [2]int{1, 0}, [2]int{0, 1}, [2]int{1, 1}), []uint32{0, 4}, "04", [4]float64{0, 0, 2, 2}},
		// 3×2 (w×h) with (1,0) and (1,1) on: column-major 0 0 1 1 0 0.
		{"column", 3, 2, maskOf(3, 2, [2]int{1, 0}, [2]int{1, 1}), []uint32{2, 2, 2}, "222", [4]float64{1, 0, 1, 2}},
		// runs 1,1,1,1: the fourth is coded 1-1 = 0.
		{"delta", 2, 2, maskOf(2, 2, [2]int{0, 1}, [2]int{1, 1}), []uint32{1, 1, 1, 1}, "1110", [4]float64{0, 1, 2, 1}},
		// a run of 40 needs two groups: 40 = 8 + 1<<5 → '8'|0x20 = 'X', then '1'.
		{"long", 1, 41, func() []byte {
			m := make([]byte, 41)
			for i := 1; i < 41; i++ {
				m[i] = 1
			}
			return m
		}(), []uint32{1, 40}, "1X1", [4]float64{0, 1, 1, 40}},
		// a negative delta: runs 0,5,1,1 → 1-5 = -4 → (-4 & 31)=28 → 'L'.
		{"negative", 1, 7, []byte{1, 1, 1, 1, 1, 0, 1}, []uint32{0, 5, 1, 1}, "051L", [4]float64{0, 0, 1, 7}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			runs, err := Runs(tc.mask, tc.w, tc.h)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(runs, tc.runs) {
				t.Errorf("runs %v, want %v", runs, tc.runs)
			}
			r, err := Encode(tc.mask, tc.w, tc.h)
			if err != nil {
				t.Fatal(err)
			}
			if r.Counts != tc.counts || r.Size != [2]int{tc.h, tc.w} {
				t.Errorf("got %+v, want counts %q size [%d %d]", r, tc.counts, tc.h, tc.w)
			}
			if b := BBox(runs, tc.h); b != tc.bbox {
				t.Errorf("bbox %v, want %v", b, tc.bbox)
			}
			back, err := Decode(r)
			if err != nil || !bytes.Equal(back, tc.mask) {
				t.Errorf("decode: %v, %v, want %v", back, err, tc.mask)
			}
		})
	}
}

func randomMasks() []struct {
	W, H int
	Mask []byte
} {
	rng := rand.New(rand.NewPCG(6, 1500))
	var out []struct {
		W, H int
		Mask []byte
	}
	for i := 0; i < 60; i++ {
		w, h := 1+rng.IntN(70), 1+rng.IntN(70)
		m := make([]byte, w*h)
		// blobs with long runs, plus noise, so counts range from 0 to thousands
		cx, cy, r := rng.IntN(w), rng.IntN(h), rng.IntN(40)
		noise := rng.Float64() * 0.2
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				if (x-cx)*(x-cx)+(y-cy)*(y-cy) < r*r || rng.Float64() < noise {
					m[y*w+x] = 1
				}
			}
		}
		out = append(out, struct {
			W, H int
			Mask []byte
		}{w, h, m})
	}
	return out
}

// TestEncodeMatchesPython compares with a transcription of pycocotools'
// C encoder run by Debian's python3.
func TestEncodeMatchesPython(t *testing.T) {
	py := testenv.Python(t)
	cases := randomMasks()
	type in struct {
		H    int   `json:"h"`
		W    int   `json:"w"`
		Mask []int `json:"mask"`
	}
	var ins []in
	for _, c := range cases {
		ints := make([]int, len(c.Mask))
		for i, v := range c.Mask {
			ints[i] = int(v)
		}
		ins = append(ins, in{c.H, c.W, ints})
	}
	body, _ := json.Marshal(ins)
	cmd := exec.Command(py, "testdata/rle.py")
	cmd.Stdin = bytes.NewReader(body)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python: %v", err)
	}
	var want []string
	if err := json.Unmarshal(out, &want); err != nil {
		t.Fatal(err)
	}
	for i, c := range cases {
		r, err := Encode(c.Mask, c.W, c.H)
		if err != nil {
			t.Fatal(err)
		}
		if r.Counts != want[i] {
			t.Errorf("case %d (%d×%d): counts %q, python %q", i, c.W, c.H, r.Counts, want[i])
		}
		back, err := Decode(r)
		if err != nil || !bytes.Equal(back, c.Mask) {
			t.Errorf("case %d: decode does not give the mask back: %v", i, err)
		}
	}
}

func TestDecodeRejects(t *testing.T) {
	for _, r := range []RLE{
		{Size: [2]int{2, 2}, Counts: "5"},   // too many pixels
		{Size: [2]int{2, 2}, Counts: "3"},   // too few
		{Size: [2]int{2, 2}, Counts: "X"},   // ends inside a number
		{Size: [2]int{2, 2}, Counts: "1 3"}, // not a counts character
		{Size: [2]int{-1, 2}, Counts: ""},   // bad size
	} {
		if _, err := Decode(r); err == nil {
			t.Errorf("Decode(%+v) accepted", r)
		}
	}
}

func FuzzParseCounts(f *testing.F) {
	f.Add("051L")
	f.Add("1X1")
	f.Fuzz(func(t *testing.T, s string) {
		runs, err := ParseCounts(s)
		if err != nil {
			return
		}
		if again, err := ParseCounts(countsString(runs)); err != nil || !slices.Equal(again, runs) {
			t.Fatalf("%q: runs %v do not survive re-encoding: %v %v", s, runs, again, err)
		}
	})
}
