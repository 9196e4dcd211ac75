package labelmap

import (
	"bytes"
	"fmt"

	"github.com/radmark/radmark"
)

// Limits on a grid. Columns and rows are DICOM US values. A slice is one
// chunk and is decoded in one piece, so its size is what a corrupt chunk or
// manifest could make a reader allocate at once; 8192×8192 covers every
// cross-sectional and projection image radmark meets. MaxVoxels bounds a
// whole Volume (a 4 GiB allocation).
const (
	MaxColumns     = 65535
	MaxRows        = 65535
	MaxSlices      = 65535
	MaxSliceVoxels = 8192 * 8192
	MaxVoxels      = 1 << 32
)

// Grid is the shape of a labelmap: Columns × Rows × Slices voxels, the
// series' volume grid.
type Grid struct {
	Columns, Rows, Slices int
}

// GridOf returns the grid a manifest declares.
func GridOf(m *radmark.Labelmap) Grid {
	return Grid{Columns: m.Columns, Rows: m.Rows, Slices: m.Slices}
}

func (g Grid) String() string { return fmt.Sprintf("%d×%d×%d", g.Columns, g.Rows, g.Slices) }

// SliceLen is the number of voxels of one slice.
func (g Grid) SliceLen() int { return g.Columns * g.Rows }

// Len is the number of voxels of the grid.
func (g Grid) Len() int { return g.Columns * g.Rows * g.Slices }

// Validate checks that every dimension is positive and the grid within the
// limits; the error is EINVALID.
func (g Grid) Validate() error {
	switch {
	case g.Columns <= 0 || g.Rows <= 0 || g.Slices <= 0:
		return radmark.Errorf(radmark.EINVALID, "labelmap grid %s: columns, rows and slices must be positive", g)
	case g.Columns > MaxColumns || g.Rows > MaxRows:
		return radmark.Errorf(radmark.EINVALID, "labelmap grid %s: columns and rows must be at most %d", g, MaxColumns)
	case g.Slices > MaxSlices:
		return radmark.Errorf(radmark.EINVALID, "labelmap grid %s: more than %d slices", g, MaxSlices)
	case g.Columns*g.Rows > MaxSliceVoxels:
		return radmark.Errorf(radmark.EINVALID, "labelmap grid %s: a slice of %d voxels exceeds the limit of %d", g, g.Columns*g.Rows, MaxSliceVoxels)
	case uint64(g.Columns*g.Rows)*uint64(g.Slices) > MaxVoxels:
		return radmark.Errorf(radmark.EINVALID, "labelmap grid %s: %d voxels exceed the limit of %d", g, uint64(g.Columns*g.Rows)*uint64(g.Slices), uint64(MaxVoxels))
	}
	return nil
}

// Volume is one layer of labels in memory: Columns × Rows × Slices bytes,
// 0 meaning no label and 1…255 the layer's label values. Voxels are in
// DICOM pixel order stacked by slice: i (column) fastest, then j (row),
// then k (slice), so voxel (i, j, k) is Voxels[i + Columns·(j + Rows·k)]
// and slice k is the contiguous run of Columns·Rows bytes that a frame's
// pixel data would hold.
type Volume struct {
	Columns, Rows, Slices int
	Voxels                []uint8
}

// NewVolume returns an empty (all 0) volume on the grid; EINVALID if the
// grid is not valid (see Grid.Validate).
func NewVolume(g Grid) (*Volume, error) {
	if err := g.Validate(); err != nil {
		return nil, err
	}
	return &Volume{Columns: g.Columns, Rows: g.Rows, Slices: g.Slices, Voxels: make([]uint8, g.Len())}, nil
}

// Grid returns the volume's grid.
func (v *Volume) Grid() Grid { return Grid{Columns: v.Columns, Rows: v.Rows, Slices: v.Slices} }

// check reports whether the volume is consistent: a valid grid and exactly
// as many voxels as it needs. Volumes are plain structs, so functions
// taking one from a caller check it before indexing.
func (v *Volume) check() error {
	if v == nil {
		return radmark.Errorf(radmark.EINVALID, "labelmap: nil volume")
	}
	g := v.Grid()
	if err := g.Validate(); err != nil {
		return err
	}
	if len(v.Voxels) != g.Len() {
		return radmark.Errorf(radmark.EINVALID, "labelmap volume %s needs %d voxels, has %d", g, g.Len(), len(v.Voxels))
	}
	return nil
}

// Contains reports whether (i, j, k) is a voxel of the grid.
func (v *Volume) Contains(i, j, k int) bool {
	return i >= 0 && j >= 0 && k >= 0 && i < v.Columns && j < v.Rows && k < v.Slices
}

// Index returns the position of voxel (i, j, k) in Voxels.
func (v *Volume) Index(i, j, k int) int { return i + v.Columns*(j+v.Rows*k) }

// Get returns the label of voxel (i, j, k), 0 outside the grid (so
// neighbourhood code needs no bounds checks of its own).
func (v *Volume) Get(i, j, k int) uint8 {
	if !v.Contains(i, j, k) {
		return 0
	}
	return v.Voxels[v.Index(i, j, k)]
}

// Set labels voxel (i, j, k). Like an index expression it panics when the
// voxel is outside the grid: that is a bug in the caller, not bad input.
func (v *Volume) Set(i, j, k int, label uint8) {
	if !v.Contains(i, j, k) {
		panic(fmt.Sprintf("labelmap: Set(%d, %d, %d) outside the %s grid", i, j, k, v.Grid()))
	}
	v.Voxels[v.Index(i, j, k)] = label
}

// Slice returns slice k's voxels (row by row), sharing memory with the
// volume: writes to it change the volume. It panics if k is out of range.
func (v *Volume) Slice(k int) []uint8 {
	if k < 0 || k >= v.Slices {
		panic(fmt.Sprintf("labelmap: slice %d outside 0..%d", k, v.Slices-1))
	}
	n := v.Columns * v.Rows
	return v.Voxels[k*n : (k+1)*n : (k+1)*n]
}

// SetSlice copies data, Columns·Rows labels row by row, into slice k;
// EINVALID if k is out of range or data has the wrong length.
func (v *Volume) SetSlice(k int, data []uint8) error {
	if k < 0 || k >= v.Slices {
		return radmark.Errorf(radmark.EINVALID, "labelmap: slice %d outside 0..%d", k, v.Slices-1)
	}
	if n := v.Columns * v.Rows; len(data) != n {
		return radmark.Errorf(radmark.EINVALID, "labelmap: slice %d has %d voxels, the %d×%d grid needs %d", k, len(data), v.Columns, v.Rows, n)
	}
	copy(v.Slice(k), data)
	return nil
}

// SliceEmpty reports whether slice k holds no label.
func (v *Volume) SliceEmpty(k int) bool { return isZero(v.Slice(k)) }

// Clone returns a deep copy.
func (v *Volume) Clone() *Volume {
	c := *v
	c.Voxels = append([]uint8(nil), v.Voxels...)
	return &c
}

// Equal reports whether two volumes have the same grid and labels.
func (v *Volume) Equal(w *Volume) bool {
	return v.Grid() == w.Grid() && string(v.Voxels) == string(w.Voxels)
}

// Counts returns the number of voxels holding each label value; index 0
// counts the unlabelled voxels.
func (v *Volume) Counts() [256]int64 {
	var c [256]int64
	countInto(&c, v.Voxels)
	return c
}

// Box is an inclusive bounding box in voxel indices: Min and Max are
// (i, j, k) of the lowest and highest corner voxels.
type Box struct {
	Min [3]int `json:"min"`
	Max [3]int `json:"max"`
}

// extend grows b (which must be valid) to hold voxels i0..i1 of row j,
// slice k.
func (b *Box) extend(i0, i1, j, k int) {
	b.Min[0], b.Max[0] = min(b.Min[0], i0), max(b.Max[0], i1)
	b.Min[1], b.Max[1] = min(b.Min[1], j), max(b.Max[1], j)
	b.Min[2], b.Max[2] = min(b.Min[2], k), max(b.Max[2], k)
}

// Bounds returns the bounding box of every label value present (0, the
// background, is left out).
func (v *Volume) Bounds() map[uint8]Box {
	var acc boxes
	for k := 0; k < v.Slices; k++ {
		acc.addSlice(v.Slice(k), v.Columns, k)
	}
	return acc.result()
}

// boxes accumulates per-value bounding boxes over slices.
type boxes struct {
	seen [256]bool
	box  [256]Box
}

func (b *boxes) addSlice(s []uint8, columns, k int) {
	if isZero(s) {
		return
	}
	for j := 0; j*columns < len(s); j++ {
		row := s[j*columns : (j+1)*columns]
		for i := 0; i < len(row); {
			val := row[i]
			i0 := i
			for i < len(row) && row[i] == val {
				i++
			}
			if val == 0 {
				continue
			}
			if !b.seen[val] {
				b.seen[val] = true
				b.box[val] = Box{Min: [3]int{i0, j, k}, Max: [3]int{i - 1, j, k}}
				continue
			}
			b.box[val].extend(i0, i-1, j, k)
		}
	}
}

func (b *boxes) merge(o *boxes) {
	for val := 1; val < 256; val++ {
		switch {
		case !o.seen[val]:
		case !b.seen[val]:
			b.seen[val], b.box[val] = true, o.box[val]
		default:
			ob := o.box[val]
			b.box[val].extend(ob.Min[0], ob.Max[0], ob.Min[1], ob.Min[2])
			b.box[val].extend(ob.Min[0], ob.Max[0], ob.Max[1], ob.Max[2])
		}
	}
}

func (b *boxes) result() map[uint8]Box {
	out := map[uint8]Box{}
	for val := 1; val < 256; val++ {
		if b.seen[val] {
			out[uint8(val)] = b.box[val]
		}
	}
	return out
}

// countInto adds the label histogram of s to c.
func countInto(c *[256]int64, s []uint8) {
	// Four histograms break the dependency between successive increments
	// of the same counter (long runs of one label), about 2× faster.
	var h [4][256]int64
	n := len(s) &^ 3
	for i := 0; i < n; i += 4 {
		h[0][s[i]]++
		h[1][s[i+1]]++
		h[2][s[i+2]]++
		h[3][s[i+3]]++
	}
	for _, x := range s[n:] {
		h[0][x]++
	}
	for val := range c {
		c[val] += h[0][val] + h[1][val] + h[2][val] + h[3][val]
	}
}

// isZero reports whether every byte of s is 0.
func isZero(s []uint8) bool {
	// bytes.Equal against a block of zeros runs at memory speed; most
	// slices of most labelmaps are empty, and every save and count asks.
	for len(s) >= len(zeros) {
		if !bytes.Equal(s[:len(zeros)], zeros[:]) {
			return false
		}
		s = s[len(zeros):]
	}
	return bytes.Equal(s, zeros[:len(s)])
}

var zeros [4096]uint8
