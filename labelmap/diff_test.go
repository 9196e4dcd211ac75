package labelmap

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/radmark/radmark"
)

// bruteDiff compares two volumes voxel by voxel.
func bruteDiff(a, b *Volume) *Change {
	c := &Change{Slices: []int{}, Values: []ValueChange{}}
	per := map[uint8]*ValueChange{}
	touch := func(val uint8, k int) *ValueChange {
		vc := per[val]
		if vc == nil {
			vc = &ValueChange{Value: val, Slices: []int{}}
			per[val] = vc
		}
		if len(vc.Slices) == 0 || vc.Slices[len(vc.Slices)-1] != k {
			vc.Slices = append(vc.Slices, k)
		}
		return vc
	}
	for k := range a.Slices {
		changed := false
		for j := range a.Rows {
			for i := range a.Columns {
				x, y := a.Get(i, j, k), b.Get(i, j, k)
				if x == y {
					continue
				}
				changed = true
				if x != 0 {
					touch(x, k).Removed++
				}
				if y != 0 {
					touch(y, k).Added++
				}
			}
		}
		if changed {
			c.Slices = append(c.Slices, k)
		}
	}
	for val := range 256 {
		if vc := per[uint8(val)]; vc != nil {
			c.Values = append(c.Values, *vc)
		}
	}
	return c
}

func TestDiff(t *testing.T) {
	ctx := context.Background()
	cs := &countingStore{BlobStore: openFS(t)}
	g := Grid{67, 45, 16} // odd sizes: the 8-byte comparison has tails
	a := blobs(t, g, 3, 21)
	b := a.Clone()
	// Slice 2: a new value painted over others.
	for j := 5; j < 20; j++ {
		for i := 3; i < 30; i++ {
			b.Set(i, j, 2, 9)
		}
	}
	// Slice 7: every voxel of value 1 relabelled 2.
	for x, val := range b.Slice(7) {
		if val == 1 {
			b.Slice(7)[x] = 2
		}
	}
	// Slice 11: erased. Slice 15: one voxel in the last byte.
	clear(b.Slice(11))
	b.Set(66, 44, 15, 200)

	want := bruteDiff(a, b)
	if len(want.Slices) < 3 {
		t.Fatalf("the test edits changed only slices %v", want.Slices)
	}
	got, err := DiffVolumes(a, b)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("DiffVolumes (-want +got):\n%s", diff)
	}

	ma, err := SaveVolume(ctx, cs, newManifest(t, g), a, nil)
	if err != nil {
		t.Fatal(err)
	}
	mb, err := SaveVolume(ctx, cs, ma, b, nil)
	if err != nil {
		t.Fatal(err)
	}
	changed, err := ChangedSlices(ma, mb)
	if err != nil || !slices.Equal(changed, want.Slices) {
		t.Errorf("ChangedSlices = %v, %v; want %v", changed, err, want.Slices)
	}
	cs.reset()
	got, err = Diff(ctx, cs, ma, mb)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Diff (-want +got):\n%s", diff)
	}
	// Only the changed slices are read: both sides, except the erased one.
	reads := int64(2*len(want.Slices) - 1)
	if ma.Chunks[11] == "" {
		t.Fatal("slice 11 was empty to begin with")
	}
	cs.want(t, "diff", 0, 0, reads)

	// Reversed, the additions become removals.
	back, err := Diff(ctx, cs, mb, ma)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(bruteDiff(b, a), back); diff != "" {
		t.Errorf("reverse Diff (-want +got):\n%s", diff)
	}

	// Equal manifests: nothing read, nothing changed.
	cs.reset()
	same, err := Diff(ctx, cs, ma, ma)
	if err != nil || !same.Empty() || len(same.Values) != 0 {
		t.Errorf("Diff of a manifest with itself = %+v, %v", same, err)
	}
	cs.want(t, "equal manifests", 0, 0, 0)
}

// TestDiffEqualLabelsOtherChunk: two chunks with different bytes (here a
// raw-zstd chunk instead of the run-length one) but equal labels are not a
// change.
func TestDiffEqualLabelsOtherChunk(t *testing.T) {
	ctx := context.Background()
	fs := openFS(t)
	g := Grid{32, 16, 2}
	v := mustVolume(t, g)
	copy(v.Slice(1), disc(32, 16, 15, 8, 6, 4))
	m, err := SaveVolume(ctx, fs, newManifest(t, g), v, nil)
	if err != nil {
		t.Fatal(err)
	}
	raw := handChunk(t, EncodingZstd, 32, 16, v.Slice(1))
	d, err := PutChunk(ctx, fs, raw, 32, 16)
	if err != nil {
		t.Fatal(err)
	}
	m2 := *m
	m2.Chunks = []string{"", d}
	if d == m.Chunks[1] {
		t.Fatal("the hand-made chunk is the encoder's")
	}
	c, err := Diff(ctx, fs, m, &m2)
	if err != nil || !c.Empty() {
		t.Errorf("Diff = %+v, %v; want no change", c, err)
	}
}

func TestDiffRejects(t *testing.T) {
	ctx := context.Background()
	fs := openFS(t)
	a := newManifest(t, Grid{8, 8, 4})
	b := newManifest(t, Grid{8, 8, 5})
	if _, err := Diff(ctx, fs, a, b); radmark.ErrorCode(err) != radmark.EINVALID || !strings.Contains(err.Error(), "different grids") {
		t.Errorf("Diff across grids: %v", err)
	}
	if _, err := DiffVolumes(mustVolume(t, Grid{8, 8, 4}), mustVolume(t, Grid{8, 4, 8})); radmark.ErrorCode(err) != radmark.EINVALID {
		t.Errorf("DiffVolumes across grids: %v", err)
	}
	bad := *a
	bad.Chunks = []string{"", "", "", "nothex"}
	if _, err := Diff(ctx, fs, a, &bad); radmark.ErrorCode(err) != radmark.EINVALID {
		t.Errorf("Diff with a bad manifest: %v", err)
	}
	missing := *a
	missing.Chunks = []string{"", strings.Repeat("0", 64), "", ""}
	if _, err := Diff(ctx, fs, a, &missing); radmark.ErrorCode(err) != radmark.ENOTFOUND {
		t.Errorf("Diff with a missing chunk: %v", err)
	}
}
