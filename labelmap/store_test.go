package labelmap

import (
	"bytes"
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/blob/fsblob"
	"github.com/radmark/radmark/internal/testenv"
)

// countingStore counts the calls that reach a real blob store and can
// fail puts. (Embedding the interface hides fsblob's PutWithDigest, so
// Save takes its plain-Put path here.)
type countingStore struct {
	radmark.BlobStore
	puts, stats, gets atomic.Int64
	failPut           error
}

func (c *countingStore) Put(ctx context.Context, key string, r io.Reader, size int64) (radmark.BlobInfo, error) {
	c.puts.Add(1)
	if c.failPut != nil {
		return radmark.BlobInfo{}, c.failPut
	}
	return c.BlobStore.Put(ctx, key, r, size)
}

func (c *countingStore) Stat(ctx context.Context, key string) (radmark.BlobInfo, error) {
	c.stats.Add(1)
	return c.BlobStore.Stat(ctx, key)
}

func (c *countingStore) Get(ctx context.Context, key string) (io.ReadCloser, radmark.BlobInfo, error) {
	c.gets.Add(1)
	return c.BlobStore.Get(ctx, key)
}

func (c *countingStore) reset() { c.puts.Store(0); c.stats.Store(0); c.gets.Store(0) }

func (c *countingStore) want(t *testing.T, what string, puts, stats, gets int64) {
	t.Helper()
	if p, s, g := c.puts.Load(), c.stats.Load(), c.gets.Load(); p != puts || s != stats || g != gets {
		t.Errorf("%s: %d puts, %d stats, %d gets; want %d, %d, %d", what, p, s, g, puts, stats, gets)
	}
	c.reset()
}

func openFS(t testing.TB) *fsblob.Store {
	t.Helper()
	s, err := fsblob.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newManifest(t testing.TB, g Grid) *radmark.Labelmap {
	t.Helper()
	m, err := NewManifest(1, "1.2.3.4", g)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func mustLoad(t testing.TB, blobs radmark.BlobStore, m *radmark.Labelmap) *Volume {
	t.Helper()
	v, err := Load(context.Background(), blobs, m)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// storedChunks lists the chunk objects in the store and their total size.
func storedChunks(t testing.TB, blobs radmark.BlobStore) (n int, bytes int64) {
	t.Helper()
	err := blobs.List(context.Background(), "labelmap/", func(bi radmark.BlobInfo) error {
		n++
		bytes += bi.Size
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n, bytes
}

// TestSaveLoadLarge round-trips the 512×512×600 phantom organ mask through
// the file system blob store, then saves and reloads a one-slice edit.
func TestSaveLoadLarge(t *testing.T) {
	testenv.Long(t, "large volume")
	ctx := context.Background()
	fs := openFS(t)
	v := organsAndLesions(t)
	base := newManifest(t, v.Grid())
	m, err := SaveVolume(ctx, fs, base, v, nil)
	if err != nil {
		t.Fatal(err)
	}
	nonEmpty := 0
	for k := range v.Slices {
		if empty := v.SliceEmpty(k); empty != (m.Chunks[k] == "") {
			t.Fatalf("slice %d: empty %v, chunk %q", k, empty, m.Chunks[k])
		} else if !empty {
			nonEmpty++
		}
	}
	objects, size := storedChunks(t, fs)
	if objects != len(Keys(m)) || objects == 0 || objects > nonEmpty {
		t.Errorf("%d chunk objects stored for %d distinct chunks of %d non-empty slices", objects, len(Keys(m)), nonEmpty)
	}
	if pct := 100 * float64(size) / float64(len(v.Voxels)); pct >= 3 {
		t.Errorf("stored %d bytes, %.2f%% of raw; the target is under 3%%", size, pct)
	}
	got := mustLoad(t, fs, m)
	if !got.Equal(v) {
		t.Fatal("loaded volume differs from the saved one")
	}

	stats, err := Stats(ctx, fs, m, 0.7*0.7*0.5)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(v.Stats(0.7*0.7*0.5), stats); diff != "" {
		t.Errorf("stored stats differ from the volume's (-volume +stored):\n%s", diff)
	}

	// A one-slice edit: paint a new lesion (value 9) in slice 300.
	cs := &countingStore{BlobStore: fs}
	edited := got
	const k = 300
	for j := 200; j < 230; j++ {
		for i := 100; i < 140; i++ {
			edited.Set(i, j, k, 9)
		}
	}
	m2, err := SaveVolume(ctx, cs, m, edited, []int{k})
	if err != nil {
		t.Fatal(err)
	}
	cs.want(t, "one-slice edit", 1, 1, 0)
	if n, _ := storedChunks(t, fs); n != objects+1 {
		t.Errorf("%d objects after the edit, want %d", n, objects+1)
	}
	for x := range m.Chunks {
		if (m2.Chunks[x] != m.Chunks[x]) != (x == k) {
			t.Errorf("slice %d: chunk %q → %q", x, m.Chunks[x], m2.Chunks[x])
		}
	}
	if !mustLoad(t, cs, m2).Equal(edited) {
		t.Error("the edited revision does not load as edited")
	}
	if !mustLoad(t, fs, m).Equal(v) {
		t.Error("the first revision changed")
	}
	cs.reset()
	d, err := Diff(ctx, cs, m, m2)
	if err != nil {
		t.Fatal(err)
	}
	want := &Change{Slices: []int{k}, Values: []ValueChange{{Value: 9, Added: 30 * 40, Slices: []int{k}}}}
	for val := range 256 {
		if n := countIn(v.Slice(k)[200*512:230*512], func(j int) bool { x := j % 512; return x >= 100 && x < 140 }, uint8(val)); n > 0 && val != 9 {
			want.Values = append(want.Values, ValueChange{Value: uint8(val), Removed: n, Slices: []int{k}})
		}
	}
	slices.SortFunc(want.Values, func(a, b ValueChange) int { return int(a.Value) - int(b.Value) })
	want.Values = slices.DeleteFunc(want.Values, func(vc ValueChange) bool { return vc.Value == 0 })
	if diff := cmp.Diff(want, d); diff != "" {
		t.Errorf("diff (-want +got):\n%s", diff)
	}
	cs.want(t, "diff of a one-slice edit", 0, 0, 2)
}

// countIn counts the voxels of s equal to val at positions where pick is true.
func countIn(s []uint8, pick func(int) bool, val uint8) int64 {
	var n int64
	for i, x := range s {
		if x == val && pick(i) {
			n++
		}
	}
	return n
}

func TestSaveWritesOnlyWhatChanged(t *testing.T) {
	ctx := context.Background()
	cs := &countingStore{BlobStore: openFS(t)}
	g := Grid{64, 48, 12}
	v := blobs(t, g, 3, 11)
	clear(v.Slice(0)) // an empty slice
	copy(v.Slice(9), v.Slice(8))
	distinct := map[string]bool{}
	for k := range g.Slices {
		if !v.SliceEmpty(k) {
			distinct[string(v.Slice(k))] = true
		}
	}
	base := newManifest(t, g)
	m1, err := SaveVolume(ctx, cs, base, v, nil)
	if err != nil {
		t.Fatal(err)
	}
	n := int64(len(distinct))
	cs.want(t, "first save", n, n, 0)
	if m1.Chunks[0] != "" || m1.Chunks[8] != m1.Chunks[9] || m1.Chunks[8] == "" {
		t.Errorf("chunks %q", m1.Chunks)
	}
	if slices.ContainsFunc(base.Chunks, func(d string) bool { return d != "" }) {
		t.Error("Save modified its base")
	}

	// Saving unchanged slices costs nothing but encoding.
	m2, err := SaveVolume(ctx, cs, m1, v, nil)
	if err != nil {
		t.Fatal(err)
	}
	cs.want(t, "unchanged re-save", 0, 0, 0)
	if !slices.Equal(m1.Chunks, m2.Chunks) {
		t.Error("unchanged re-save changed the manifest")
	}

	// One edited slice: one put.
	w := v.Clone()
	w.Set(10, 10, 3, 77)
	m3, err := SaveVolume(ctx, cs, m1, w, []int{3, 3})
	if err != nil {
		t.Fatal(err)
	}
	cs.want(t, "one edited slice", 1, 1, 0)

	// A slice made equal to a stored chunk: no put.
	copy(w.Slice(5), w.Slice(4))
	m4, err := SaveVolume(ctx, cs, m3, w, []int{5})
	if err != nil {
		t.Fatal(err)
	}
	cs.want(t, "slice equal to another", 0, 1, 0)
	if m4.Chunks[5] != m4.Chunks[4] {
		t.Error("equal slices have different chunks")
	}

	// Erasing a slice: no put, entry "".
	clear(w.Slice(3))
	m5, err := SaveVolume(ctx, cs, m4, w, []int{3})
	if err != nil {
		t.Fatal(err)
	}
	cs.want(t, "erased slice", 0, 0, 0)
	if m5.Chunks[3] != "" {
		t.Errorf("erased slice has chunk %q", m5.Chunks[3])
	}

	// Two slices changed to the same new labels: one put.
	fill(w.Slice(6), 42)
	fill(w.Slice(7), 42)
	m6, err := Save(ctx, cs, m5, map[int][]uint8{6: w.Slice(6), 7: w.Slice(7)})
	if err != nil {
		t.Fatal(err)
	}
	cs.want(t, "two equal new slices", 1, 1, 0)

	// Reverting slice 3 to the first revision: its chunk is still stored.
	m7, err := Save(ctx, cs, m6, map[int][]uint8{3: v.Slice(3)})
	if err != nil {
		t.Fatal(err)
	}
	cs.want(t, "revert", 0, 1, 0)
	if m7.Chunks[3] != m1.Chunks[3] {
		t.Error("reverted slice has a new chunk")
	}
	copy(w.Slice(3), v.Slice(3))
	if !mustLoad(t, cs, m7).Equal(w) {
		t.Error("final revision does not load as edited")
	}
	for _, m := range []*radmark.Labelmap{m1, m2, m3, m4, m5, m6, m7} {
		if err := ValidateManifest(m, g); err != nil || m.Layer != 1 || m.SeriesUID != "1.2.3.4" {
			t.Errorf("manifest %+v: %v", m, err)
		}
	}
}

func TestSaveRejects(t *testing.T) {
	ctx := context.Background()
	cs := &countingStore{BlobStore: openFS(t)}
	g := Grid{8, 4, 3}
	base := newManifest(t, g)
	badEncoding := *base
	badEncoding.Encoding = "nifti"
	v := mustVolume(t, g)
	for _, tc := range []struct {
		name string
		save func() (*radmark.Labelmap, error)
		code string
		want string
	}{
		{"nil base", func() (*radmark.Labelmap, error) { return Save(ctx, cs, nil, nil) }, radmark.EINVALID, "no manifest"},
		{"unknown encoding", func() (*radmark.Labelmap, error) { return Save(ctx, cs, &badEncoding, nil) }, radmark.EUNSUPPORTED, `encoding "nifti"`},
		{"slice out of range", func() (*radmark.Labelmap, error) {
			return Save(ctx, cs, base, map[int][]uint8{3: make([]uint8, 32)})
		}, radmark.EINVALID, "slice 3 outside 0..2"},
		{"negative slice", func() (*radmark.Labelmap, error) {
			return Save(ctx, cs, base, map[int][]uint8{-1: make([]uint8, 32)})
		}, radmark.EINVALID, "slice -1 outside"},
		{"short slice", func() (*radmark.Labelmap, error) {
			return Save(ctx, cs, base, map[int][]uint8{0: make([]uint8, 31)})
		}, radmark.EINVALID, "31 voxels, the 8×4 grid needs 32"},
		{"volume on another grid", func() (*radmark.Labelmap, error) {
			return SaveVolume(ctx, cs, base, mustVolume(t, Grid{8, 4, 4}), nil)
		}, radmark.EINVALID, "does not match"},
		{"inconsistent volume", func() (*radmark.Labelmap, error) {
			return SaveVolume(ctx, cs, base, &Volume{Columns: 8, Rows: 4, Slices: 3, Voxels: make([]uint8, 5)}, nil)
		}, radmark.EINVALID, "needs 96 voxels, has 5"},
		{"dirty out of range", func() (*radmark.Labelmap, error) { return SaveVolume(ctx, cs, base, v, []int{1, 7}) }, radmark.EINVALID, "dirty slice 7"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := tc.save()
			if m != nil || radmark.ErrorCode(err) != tc.code || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, %v; want %s saying %q", m, err, tc.code, tc.want)
			}
			cs.want(t, tc.name, 0, 0, 0)
		})
	}
}

func TestSaveFailedPut(t *testing.T) {
	boom := errors.New("disk full")
	cs := &countingStore{BlobStore: openFS(t), failPut: boom}
	g := Grid{8, 4, 40}
	v := spheres(t, g, 5, 3)
	m, err := SaveVolume(context.Background(), cs, newManifest(t, g), v, nil)
	if m != nil || !errors.Is(err, boom) || !strings.Contains(err.Error(), "labelmap layer 1 slice") {
		t.Errorf("got %v, %v", m, err)
	}
}

func TestSaveRewritesDamagedObject(t *testing.T) {
	ctx := context.Background()
	fs := openFS(t)
	cs := &countingStore{BlobStore: fs}
	g := Grid{16, 16, 1}
	data := disc(16, 16, 8, 8, 5, 1)
	chunk, _ := EncodeSlice(data, 16, 16)
	if _, err := fs.Put(ctx, Key(Digest(chunk)), strings.NewReader("damaged"), 7); err != nil {
		t.Fatal(err)
	}
	m, err := Save(ctx, cs, newManifest(t, g), map[int][]uint8{0: data})
	if err != nil {
		t.Fatal(err)
	}
	cs.want(t, "save over a damaged object", 1, 1, 0)
	if !bytes.Equal(mustLoad(t, fs, m).Voxels, data) {
		t.Error("the rewritten chunk does not load")
	}
}

func TestLoadErrors(t *testing.T) {
	ctx := context.Background()
	fs := openFS(t)
	g := Grid{16, 16, 4}
	v := mustVolume(t, g)
	for k := range 4 {
		copy(v.Slice(k), disc(16, 16, 8, 8, float64(2+k), uint8(k+1)))
	}
	m, err := SaveVolume(ctx, fs, newManifest(t, g), v, nil)
	if err != nil {
		t.Fatal(err)
	}
	put := func(key string, b []byte) {
		t.Helper()
		if _, err := fs.Put(ctx, key, bytes.NewReader(b), int64(len(b))); err != nil {
			t.Fatal(err)
		}
	}
	with := func(k int, d string) *radmark.Labelmap {
		c := *m
		c.Chunks = slices.Clone(m.Chunks)
		c.Chunks[k] = d
		return &c
	}
	// A valid chunk of a 16×8 slice, stored under its own digest.
	other, _ := EncodeSlice(disc(16, 8, 8, 4, 3, 1), 16, 8)
	put(Key(Digest(other)), other)
	// Bytes that are not what their key's digest names.
	fake := strings.Repeat("ab", 32)
	put(Key(fake), other)
	// Something far larger than any chunk of a 16×16 slice.
	huge := strings.Repeat("cd", 32)
	put(Key(huge), make([]byte, 10000))
	missing := strings.Repeat("ef", 32)

	for _, tc := range []struct {
		name    string
		m       *radmark.Labelmap
		slice   int // the bad slice
		code    string
		corrupt bool
		want    string
	}{
		{"missing chunk", with(2, missing), 2, radmark.ENOTFOUND, false, "labelmap layer 1 slice 2: chunk " + missing},
		{"digest mismatch", with(1, fake), 1, radmark.EINTERNAL, true, "the stored bytes have digest " + Digest(other)},
		{"chunk of another grid", with(3, Digest(other)), 3, radmark.EINTERNAL, true, "holds a 16×8 slice"},
		{"oversized object", with(0, huge), 0, radmark.EINTERNAL, true, "10000 bytes is more than a chunk"},
		{"bad digest", with(0, "xyz"), 0, radmark.EINVALID, false, "slice 0: chunk digest"},
		{"wrong chunk count", func() *radmark.Labelmap { c := *m; c.Chunks = c.Chunks[:3]; return &c }(), 0, radmark.EINVALID, false, "3 chunk entries for 4 slices"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := Load(ctx, fs, tc.m)
			if v != nil || radmark.ErrorCode(err) != tc.code || errors.Is(err, ErrCorrupt) != tc.corrupt || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, %v (code %s); want %s (corrupt %v) saying %q", v, err, radmark.ErrorCode(err), tc.code, tc.corrupt, tc.want)
			}
			if _, err := LoadSlice(ctx, fs, tc.m, tc.slice); radmark.ErrorCode(err) != tc.code || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("LoadSlice(%d): %v", tc.slice, err)
			}
			if _, err := Stats(ctx, fs, tc.m, 1); radmark.ErrorCode(err) != tc.code {
				t.Errorf("Stats: %v", err)
			}
		})
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := Load(cancelled, fs, m); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled load: %v", err)
	}
}

func TestLoadSliceAndStats(t *testing.T) {
	ctx := context.Background()
	fs := openFS(t)
	g := Grid{40, 30, 20}
	v := blobs(t, g, 4, 5)
	clear(v.Slice(0))
	m, err := SaveVolume(ctx, fs, newManifest(t, g), v, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k := range g.Slices {
		s, err := LoadSlice(ctx, fs, m, k)
		if err != nil || !bytes.Equal(s, v.Slice(k)) {
			t.Errorf("slice %d: %v", k, err)
		}
	}
	for _, k := range []int{-1, 20} {
		if _, err := LoadSlice(ctx, fs, m, k); radmark.ErrorCode(err) != radmark.EINVALID {
			t.Errorf("LoadSlice(%d): %v", k, err)
		}
	}
	stats, err := Stats(ctx, fs, m, 2)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(v.Stats(2), stats); diff != "" {
		t.Errorf("(-volume +stored):\n%s", diff)
	}
	empty, err := Stats(ctx, fs, newManifest(t, g), 2)
	if err != nil || len(empty) != 0 {
		t.Errorf("stats of an empty labelmap: %v, %v", empty, err)
	}
}

func TestPutChunk(t *testing.T) {
	ctx := context.Background()
	cs := &countingStore{BlobStore: openFS(t)}
	data := disc(20, 10, 9, 5, 4, 3)
	chunk, _ := EncodeSlice(data, 20, 10)
	d, err := PutChunk(ctx, cs, chunk, 20, 10)
	if err != nil || d != Digest(chunk) {
		t.Fatalf("PutChunk = %q, %v", d, err)
	}
	cs.want(t, "new chunk", 1, 1, 0)
	m := newManifest(t, Grid{20, 10, 2})
	m.Chunks[1] = d
	if s, err := LoadSlice(ctx, cs, m, 1); err != nil || !bytes.Equal(s, data) {
		t.Errorf("LoadSlice: %v", err)
	}
	cs.reset()
	if d, err := PutChunk(ctx, cs, chunk, 20, 10); err != nil || d != Digest(chunk) {
		t.Errorf("again: %q, %v", d, err)
	}
	cs.want(t, "known chunk", 0, 1, 0)
	emptyChunk, _ := EncodeSlice(make([]uint8, 200), 20, 10)
	if d, err := PutChunk(ctx, cs, emptyChunk, 20, 10); d != "" || err != nil {
		t.Errorf("empty slice: %q, %v", d, err)
	}
	if _, err := PutChunk(ctx, cs, chunk, 10, 20); !errors.Is(err, ErrCorrupt) || radmark.ErrorCode(err) != radmark.EINVALID {
		t.Errorf("wrong grid: %v", err)
	}
	if _, err := PutChunk(ctx, cs, chunk[:len(chunk)-1], 20, 10); !errors.Is(err, ErrCorrupt) {
		t.Errorf("truncated: %v", err)
	}
	cs.want(t, "rejected chunks", 0, 0, 0)
}

// sizeStore reports a different object size from Get than the object has
// (an S3-like store that does not know it: 0).
type sizeStore struct {
	radmark.BlobStore
	delta int64
	zero  bool
}

func (s *sizeStore) Get(ctx context.Context, key string) (io.ReadCloser, radmark.BlobInfo, error) {
	rc, info, err := s.BlobStore.Get(ctx, key)
	info.Size += s.delta
	if s.zero {
		info.Size = 0
	}
	return rc, info, err
}

func TestLoadReportedSizes(t *testing.T) {
	ctx := context.Background()
	fs := openFS(t)
	g := Grid{24, 16, 3}
	v := blobs(t, g, 2, 8)
	m, err := SaveVolume(ctx, fs, newManifest(t, g), v, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := Load(ctx, &sizeStore{BlobStore: fs, zero: true}, m); err != nil || !got.Equal(v) {
		t.Errorf("store without sizes: %v", err)
	}
	if _, err := Load(ctx, &sizeStore{BlobStore: fs, delta: -1}, m); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "longer than") {
		t.Errorf("understated size: %v", err)
	}
	if _, err := Load(ctx, &sizeStore{BlobStore: fs, delta: 1}, m); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("overstated size: %v", err)
	}
}
