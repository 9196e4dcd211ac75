// Package coco owns the COCO object-detection JSON format radmark exports
// for 2D annotations: the dataset document (images, categories,
// annotations with boxes, polygons, keypoints and masks) and COCO's
// compressed run-length encoding of binary masks.
//
// The RLE is written by hand because no Go library implements it; it
// follows pycocotools' maskApi.c exactly (column-major runs starting with
// a run of zeros; counts after the second delta-coded against the count
// two before; 5-bit groups with a continuation bit, offset by 48), so
// pycocotools, Detectron2 and MMDetection decode it unchanged.
package coco

import (
	"errors"
	"fmt"
)

// RLE is a binary mask as COCO stores it: Size is [height, width] and
// Counts the compressed string of column-major run lengths.
type RLE struct {
	Size   [2]int `json:"size"`
	Counts string `json:"counts"`
}

// Runs returns the column-major run lengths of a row-major height×width
// mask (non-zero bytes are foreground), starting with a run of zeros that
// may be empty, as pycocotools' rleEncode does.
func Runs(mask []byte, width, height int) ([]uint32, error) {
	if width < 0 || height < 0 || len(mask) != width*height {
		return nil, fmt.Errorf("coco: mask of %d bytes is not %d×%d", len(mask), width, height)
	}
	var runs []uint32
	var prev bool
	var n uint32
	for x := 0; x < width; x++ {
		for y := 0; y < height; y++ {
			on := mask[y*width+x] != 0
			if on != prev {
				runs = append(runs, n)
				n, prev = 0, on
			}
			n++
		}
	}
	return append(runs, n), nil
}

// Encode compresses a row-major height×width mask.
func Encode(mask []byte, width, height int) (RLE, error) {
	runs, err := Runs(mask, width, height)
	if err != nil {
		return RLE{}, err
	}
	return RLE{Size: [2]int{height, width}, Counts: countsString(runs)}, nil
}

// countsString is pycocotools' rleToString.
func countsString(runs []uint32) string {
	var s []byte
	for i, r := range runs {
		x := int64(r)
		if i > 2 {
			x -= int64(runs[i-2])
		}
		for more := true; more; {
			c := byte(x & 0x1f)
			x >>= 5 // arithmetic shift, as on C's long
			if c&0x10 != 0 {
				more = x != -1
			} else {
				more = x != 0
			}
			if more {
				c |= 0x20
			}
			s = append(s, c+48)
		}
	}
	return string(s)
}

// ParseCounts is pycocotools' rleFrString: the run lengths of a counts
// string.
func ParseCounts(s string) ([]uint32, error) {
	var runs []uint32
	for p := 0; p < len(s); {
		var x int64
		k := 0
		for more := true; more; {
			if p >= len(s) {
				return nil, errors.New("coco: RLE counts end inside a number")
			}
			if k >= 12 {
				return nil, errors.New("coco: RLE count too long")
			}
			c := int64(s[p]) - 48
			if c < 0 || c > 63 {
				return nil, fmt.Errorf("coco: RLE counts hold %q at %d", s[p], p)
			}
			x |= (c & 0x1f) << (5 * k)
			more = c&0x20 != 0
			p++
			k++
			if !more && c&0x10 != 0 {
				x |= -1 << (5 * k)
			}
		}
		if m := len(runs); m > 2 {
			x += int64(runs[m-2])
		}
		if x < 0 || x > 1<<32-1 {
			return nil, fmt.Errorf("coco: RLE run %d has length %d", len(runs), x)
		}
		runs = append(runs, uint32(x))
	}
	return runs, nil
}

// Decode expands an RLE into a row-major height×width mask of 0 and 1.
func Decode(r RLE) ([]byte, error) {
	h, w := r.Size[0], r.Size[1]
	if h < 0 || w < 0 || int64(h)*int64(w) > 1<<31 {
		return nil, fmt.Errorf("coco: RLE size %v is not a mask size", r.Size)
	}
	runs, err := ParseCounts(r.Counts)
	if err != nil {
		return nil, err
	}
	mask := make([]byte, h*w)
	pos := 0
	for i, n := range runs {
		if int64(pos)+int64(n) > int64(h*w) {
			return nil, fmt.Errorf("coco: RLE runs cover more than the %d×%d mask", w, h)
		}
		if i%2 == 1 {
			for j := pos; j < pos+int(n); j++ {
				mask[(j%h)*w+j/h] = 1
			}
		}
		pos += int(n)
	}
	if pos != h*w {
		return nil, fmt.Errorf("coco: RLE runs cover %d of the %d×%d mask's %d pixels", pos, w, h, h*w)
	}
	return mask, nil
}

// Area is the number of foreground pixels of run lengths.
func Area(runs []uint32) int {
	a := 0
	for i := 1; i < len(runs); i += 2 {
		a += int(runs[i])
	}
	return a
}

// BBox is pycocotools' toBbox: [x, y, width, height] of the foreground
// of an h-row mask's runs, all zero for an empty mask.
func BBox(runs []uint32, h int) [4]float64 {
	if h <= 0 {
		return [4]float64{}
	}
	xs, ys, xe, ye := -1, h, 0, 0
	pos := 0
	for i, n := range runs {
		if i%2 == 1 && n > 0 {
			start, end := pos, pos+int(n)-1
			x0, y0 := start/h, start%h
			x1, y1 := end/h, end%h
			if xs < 0 {
				xs = x0
			}
			xe = x1
			if x1 > x0 { // the run wraps into the next column: full height
				y0, y1 = 0, h-1
			}
			ys = min(ys, y0)
			ye = max(ye, y1)
		}
		pos += int(n)
	}
	if xs < 0 {
		return [4]float64{}
	}
	return [4]float64{float64(xs), float64(ys), float64(xe - xs + 1), float64(ye - ys + 1)}
}
