package main

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/blob/fsblob"
	"github.com/radmark/radmark/labelmap"
	"github.com/radmark/radmark/phantom"
)

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 20; i >= 1; i-- {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 10 * time.Millisecond}, {0.95, 19 * time.Millisecond}, {0.99, 20 * time.Millisecond}, {1, 20 * time.Millisecond}, {0, time.Millisecond}} {
		if got := percentile(d, tc.q); got != tc.want {
			t.Errorf("percentile(%v) = %v, want %v (nearest rank)", tc.q, got, tc.want)
		}
	}
	if percentile(nil, 0.5) != 0 {
		t.Error("percentile of nothing")
	}
}

// TestQuickRun runs the whole measurement on the small phantom: a smoke
// test of the program (the size figures are deterministic; the timings
// are not checked, they are the benchmark's business).
func TestQuickRun(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"-quick", "-edits", "10", "-loads", "2", "-peer", "1", "-dir", t.TempDir()}, &out); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	for _, want := range []string{
		"128×128×64", "| save a one-slice edit (every stroke) |", "| … only the strokes that changed the slice", "| load the whole labelmap | 2 |",
		"| one revision's chunks |", "| stored size < 3% of raw | 1.", "compared voxel for voxel with the edited volume: equal",
		"Reproduce: `go run ./bench/labelmap -quick -edits 10 -loads 2 -peer 1 -seed 1`",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q:\n%s", want, s)
		}
	}
	if err := run(context.Background(), []string{"-edits", "0"}, &out); err == nil {
		t.Error("-edits 0 accepted")
	}
}

// The Go benchmarks share one 512×512×600 labelmap saved in one store.
var (
	setupOnce sync.Once
	setupErr  error
	bvol      *labelmap.Volume
	bstore    *fsblob.Store
	bman      *radmark.Labelmap
	bdir      string
	blabelled []int
)

func TestMain(m *testing.M) {
	code := m.Run()
	if bdir != "" {
		os.RemoveAll(bdir)
	}
	os.Exit(code)
}

func setup(b *testing.B) {
	b.Helper()
	setupOnce.Do(func() {
		var p *phantom.Phantom
		if p, setupErr = phantom.New(spec(false)); setupErr != nil {
			return
		}
		if bvol, setupErr = organMask(p); setupErr != nil {
			return
		}
		if bdir, setupErr = os.MkdirTemp("", "radmark-labelmap-bench-"); setupErr != nil {
			return
		}
		if bstore, setupErr = fsblob.Open(context.Background(), bdir); setupErr != nil {
			return
		}
		var base *radmark.Labelmap
		if base, setupErr = labelmap.NewManifest(0, "2.25.1", bvol.Grid()); setupErr != nil {
			return
		}
		bman, setupErr = labelmap.SaveVolume(context.Background(), bstore, base, bvol, nil)
		for k := range bvol.Slices {
			if !bvol.SliceEmpty(k) {
				blabelled = append(blabelled, k)
			}
		}
	})
	if setupErr != nil {
		b.Fatal(setupErr)
	}
	b.ResetTimer()
}

// reportPercentiles adds p50 and p95 of the individual timings to the
// benchmark's output beside the b.N average.
func reportPercentiles(b *testing.B, d []time.Duration) {
	b.ReportMetric(float64(percentile(d, .5))/1e6, "p50-ms")
	b.ReportMetric(float64(percentile(d, .95))/1e6, "p95-ms")
}

// BenchmarkSaveOneSliceEdit saves a chain of one-slice brush strokes.
func BenchmarkSaveOneSliceEdit(b *testing.B) {
	setup(b)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(uint64(b.N), 1))
	m := bman
	var d []time.Duration
	for b.Loop() {
		b.StopTimer()
		k := blabelled[rng.IntN(len(blabelled))]
		stroke(bvol, k, rng)
		b.StartTimer()
		t0 := time.Now()
		next, err := labelmap.SaveVolume(ctx, bstore, m, bvol, []int{k})
		d = append(d, time.Since(t0))
		if err != nil {
			b.Fatal(err)
		}
		m = next
	}
	bman = m
	reportPercentiles(b, d)
}

// BenchmarkLoad loads the whole labelmap.
func BenchmarkLoad(b *testing.B) {
	setup(b)
	var d []time.Duration
	var size int64
	for _, key := range labelmap.Keys(bman) {
		info, err := bstore.Stat(context.Background(), key)
		if err != nil {
			b.Fatal(err)
		}
		size += info.Size
	}
	b.SetBytes(int64(len(bvol.Voxels)))
	for b.Loop() {
		t0 := time.Now()
		if _, err := labelmap.Load(context.Background(), bstore, bman); err != nil {
			b.Fatal(err)
		}
		d = append(d, time.Since(t0))
	}
	reportPercentiles(b, d)
	b.ReportMetric(100*float64(size)/float64(len(bvol.Voxels)), "%stored")
}

// BenchmarkLoadSlice loads single slices, as a viewer scrolling does.
func BenchmarkLoadSlice(b *testing.B) {
	setup(b)
	rng := rand.New(rand.NewPCG(2, 2))
	var d []time.Duration
	for b.Loop() {
		t0 := time.Now()
		if _, err := labelmap.LoadSlice(context.Background(), bstore, bman, blabelled[rng.IntN(len(blabelled))]); err != nil {
			b.Fatal(err)
		}
		d = append(d, time.Since(t0))
	}
	reportPercentiles(b, d)
}

// BenchmarkEncodeSlice and BenchmarkDecodeSlice time the codec alone on
// a slice through the liver and both lungs.
func BenchmarkEncodeSlice(b *testing.B) {
	setup(b)
	s := bvol.Slice(blabelled[len(blabelled)/2])
	b.SetBytes(int64(len(s)))
	for b.Loop() {
		if _, err := labelmap.EncodeSlice(s, bvol.Columns, bvol.Rows); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeSlice(b *testing.B) {
	setup(b)
	s := bvol.Slice(blabelled[len(blabelled)/2])
	chunk, err := labelmap.EncodeSlice(s, bvol.Columns, bvol.Rows)
	if err != nil {
		b.Fatal(err)
	}
	dst := make([]uint8, len(s))
	b.SetBytes(int64(len(s)))
	for b.Loop() {
		if err := labelmap.DecodeSliceInto(dst, chunk, bvol.Columns, bvol.Rows); err != nil {
			b.Fatal(err)
		}
	}
}
