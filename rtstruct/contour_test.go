package rtstruct

import (
	"math/rand/v2"
	"testing"
)

// TestTraceFill traces masks (random blobs with holes, pixels touching
// only at corners, the image border) and fills the contours back: every
// pixel must come back, and outer and hole contours wind opposite ways so
// their signed areas sum to the pixel count.
func TestTraceFill(t *testing.T) {
	checker := make([]byte, 6*5)
	for j := 0; j < 5; j++ {
		for i := 0; i < 6; i++ {
			checker[j*6+i] = byte((i + j) % 2)
		}
	}
	ring := make([]byte, 7*7)
	for j := 1; j < 6; j++ {
		for i := 1; i < 6; i++ {
			if i == 1 || i == 5 || j == 1 || j == 5 || (i == 3 && j == 3) {
				ring[j*7+i] = 1
			}
		}
	}
	cases := []struct {
		name       string
		cols, rows int
		mask       []byte
		contours   int
	}{
		{"empty", 4, 3, make([]byte, 12), 0},
		{"one pixel", 1, 1, []byte{1}, 1},
		{"full", 3, 2, []byte{1, 1, 1, 1, 1, 1}, 1},
		{"checkerboard", 6, 5, checker, 15},
		{"ring with island", 7, 7, ring, 3},
	}
	r := rand.New(rand.NewPCG(1, 2))
	for n := 0; n < 200; n++ {
		cols, rows := 1+r.IntN(24), 1+r.IntN(24)
		m := make([]byte, cols*rows)
		p := r.Float64()
		for i := range m {
			if r.Float64() < p {
				m[i] = byte(1 + r.IntN(3))
			}
		}
		cases = append(cases, struct {
			name       string
			cols, rows int
			mask       []byte
			contours   int
		}{"random", cols, rows, m, -1})
	}
	for _, c := range cases {
		polys := Trace(c.mask, c.cols, c.rows)
		if c.contours >= 0 && len(polys) != c.contours {
			t.Errorf("%s: %d contours, want %d", c.name, len(polys), c.contours)
		}
		got := make([]byte, len(c.mask))
		Fill(polys, c.cols, c.rows, func(i, j int) { got[j*c.cols+i]++ })
		count := 0
		for i := range c.mask {
			want := byte(0)
			if c.mask[i] != 0 {
				want, count = 1, count+1
			}
			if got[i] != want {
				t.Fatalf("%s %dx%d: pixel %d filled %d times, mask %d\nmask %v\ncontours %v", c.name, c.cols, c.rows, i, got[i], c.mask[i], c.mask, polys)
			}
		}
		area := 0.0
		for _, p := range polys {
			for k := range p {
				a, b := p[k], p[(k+1)%len(p)]
				area += a[0]*b[1] - b[0]*a[1]
			}
		}
		if area/2 != float64(count) {
			t.Errorf("%s: signed area %v of %d pixels", c.name, area/2, count)
		}
	}
}
