package labelmap

import (
	"context"
	"encoding/binary"
	"slices"
	"sync"

	"github.com/radmark/radmark"
)

// Change is what differs between two labelmaps on one grid.
type Change struct {
	// Slices lists, ascending, the slices where any voxel differs.
	Slices []int `json:"slices"`
	// Values has one entry per label value (1…255) whose voxels changed,
	// ascending by value.
	Values []ValueChange `json:"values"`
}

// ValueChange counts the voxels of one label value that changed. A voxel
// relabelled from 3 to 5 is removed from 3 and added to 5.
type ValueChange struct {
	Value uint8 `json:"value"`
	// Added counts voxels that hold Value after and did not before;
	// Removed those that held it before and no longer do.
	Added   int64 `json:"added"`
	Removed int64 `json:"removed"`
	// Slices lists, ascending, the slices where the value changed.
	Slices []int `json:"slices"`
}

// Empty reports whether nothing changed.
func (c *Change) Empty() bool { return len(c.Slices) == 0 }

// sliceChange is the change of one slice: per value added and removed.
type sliceChange struct {
	k              int
	added, removed [256]int64
}

// diffSlice compares two slices; ok is false when they are equal.
func diffSlice(k int, a, b []uint8) (sc *sliceChange, ok bool) {
	n := len(a)
	i := 0
	for ; i+8 <= n; i += 8 {
		if binary.LittleEndian.Uint64(a[i:]) != binary.LittleEndian.Uint64(b[i:]) {
			break
		}
	}
	if i+8 > n && string(a[i:]) == string(b[i:]) {
		return nil, false
	}
	sc = &sliceChange{k: k}
	for ; i+8 <= n; i += 8 {
		if binary.LittleEndian.Uint64(a[i:]) == binary.LittleEndian.Uint64(b[i:]) {
			continue
		}
		for x := i; x < i+8; x++ {
			if a[x] != b[x] {
				sc.removed[a[x]]++
				sc.added[b[x]]++
			}
		}
	}
	for x := i; x < n; x++ {
		if a[x] != b[x] {
			sc.removed[a[x]]++
			sc.added[b[x]]++
		}
	}
	return sc, true
}

// collect merges per-slice changes (any order) into a Change.
func collect(changes []*sliceChange) *Change {
	slices.SortFunc(changes, func(x, y *sliceChange) int { return x.k - y.k })
	c := &Change{Slices: []int{}, Values: []ValueChange{}}
	var per [256]*ValueChange
	for _, sc := range changes {
		c.Slices = append(c.Slices, sc.k)
		for val := 1; val < 256; val++ {
			if sc.added[val] == 0 && sc.removed[val] == 0 {
				continue
			}
			if per[val] == nil {
				per[val] = &ValueChange{Value: uint8(val), Slices: []int{}}
			}
			per[val].Added += sc.added[val]
			per[val].Removed += sc.removed[val]
			per[val].Slices = append(per[val].Slices, sc.k)
		}
	}
	for _, vc := range per {
		if vc != nil {
			c.Values = append(c.Values, *vc)
		}
	}
	return c
}

// DiffVolumes compares two volumes on the same grid (EINVALID otherwise):
// from a to b.
func DiffVolumes(a, b *Volume) (*Change, error) {
	if err := a.check(); err != nil {
		return nil, err
	}
	if err := b.check(); err != nil {
		return nil, err
	}
	if a.Grid() != b.Grid() {
		return nil, radmark.Errorf(radmark.EINVALID, "labelmaps on different grids (%s and %s) cannot be compared", a.Grid(), b.Grid())
	}
	results := make([]*sliceChange, a.Slices)
	parallel(a.Slices, func(k int) {
		results[k], _ = diffSlice(k, a.Slice(k), b.Slice(k))
	})
	return collect(slices.DeleteFunc(results, func(sc *sliceChange) bool { return sc == nil })), nil
}

// Diff compares two revisions of a labelmap on the same grid, from a to
// b. Slices whose chunk digests are equal are equal and never read; only
// the others are read (in parallel) and compared voxel by voxel.
func Diff(ctx context.Context, blobs radmark.BlobStore, a, b *radmark.Labelmap) (*Change, error) {
	ks, err := ChangedSlices(a, b)
	if err != nil {
		return nil, err
	}
	n := a.Columns * a.Rows
	var (
		mu      sync.Mutex
		changes []*sliceChange
		bufs    = sync.Pool{New: func() any { s := make([]uint8, 2*n); return &s }}
	)
	err = forEach(ctx, len(ks), func(ctx context.Context, x int) error {
		k := ks[x]
		buf := bufs.Get().(*[]uint8)
		defer bufs.Put(buf)
		sa, sb := (*buf)[:n], (*buf)[n:]
		if err := readSlice(ctx, blobs, a, k, sa); err != nil {
			return err
		}
		if err := readSlice(ctx, blobs, b, k, sb); err != nil {
			return err
		}
		if sc, ok := diffSlice(k, sa, sb); ok {
			mu.Lock()
			changes = append(changes, sc)
			mu.Unlock()
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return collect(changes), nil
}
