package labelmap

import (
	"context"
	"math"
	"sync"

	"github.com/radmark/radmark"
)

// ValueStats describes one label value of a labelmap.
type ValueStats struct {
	Value  uint8 `json:"value"`
	Voxels int64 `json:"voxels"`
	// VolumeMM3 is Voxels times the voxel volume, 0 when that is unknown.
	VolumeMM3 float64 `json:"volumeMM3"`
	// Bounds is the bounding box of the value's voxels.
	Bounds Box `json:"bounds"`
}

// statsAcc accumulates counts and boxes over slices.
type statsAcc struct {
	counts [256]int64
	boxes  boxes
}

func (s *statsAcc) addSlice(data []uint8, columns, k int) {
	if isZero(data) {
		return
	}
	countInto(&s.counts, data)
	s.boxes.addSlice(data, columns, k)
}

func (s *statsAcc) merge(o *statsAcc) {
	for val := range s.counts {
		s.counts[val] += o.counts[val]
	}
	s.boxes.merge(&o.boxes)
}

// result lists every value present (not 0), ascending.
func (s *statsAcc) result(voxelVolume float64) []ValueStats {
	if !(voxelVolume > 0) || math.IsInf(voxelVolume, 0) {
		voxelVolume = 0
	}
	out := []ValueStats{}
	for val := 1; val < 256; val++ {
		if s.counts[val] > 0 {
			out = append(out, ValueStats{
				Value: uint8(val), Voxels: s.counts[val],
				VolumeMM3: float64(s.counts[val]) * voxelVolume,
				Bounds:    s.boxes.box[val],
			})
		}
	}
	return out
}

// Stats returns, for each label value present, its voxel count, its
// volume given the volume of one voxel in mm³ (0 or less: unknown, and
// VolumeMM3 is left 0), and its bounding box.
func (v *Volume) Stats(voxelVolume float64) []ValueStats {
	accs := make([]statsAcc, v.Slices)
	parallel(v.Slices, func(k int) { accs[k].addSlice(v.Slice(k), v.Columns, k) })
	var total statsAcc
	for k := range accs {
		total.merge(&accs[k])
	}
	return total.result(voxelVolume)
}

// Stats is Volume.Stats for a stored labelmap, computed slice by slice
// without holding the volume: only non-empty slices are read.
func Stats(ctx context.Context, blobs radmark.BlobStore, m *radmark.Labelmap, voxelVolume float64) ([]ValueStats, error) {
	if err := CheckManifest(m); err != nil {
		return nil, err
	}
	var ks []int
	for k, d := range m.Chunks {
		if d != "" {
			ks = append(ks, k)
		}
	}
	n := m.Columns * m.Rows
	var (
		mu    sync.Mutex
		total statsAcc
		bufs  = sync.Pool{New: func() any { s := make([]uint8, n); return &s }}
	)
	err := forEach(ctx, len(ks), func(ctx context.Context, x int) error {
		buf := bufs.Get().(*[]uint8)
		defer bufs.Put(buf)
		if err := readSlice(ctx, blobs, m, ks[x], *buf); err != nil {
			return err
		}
		one := new(statsAcc)
		one.addSlice(*buf, m.Columns, ks[x])
		mu.Lock()
		total.merge(one)
		mu.Unlock()
		return nil
	})
	if err != nil {
		return nil, err
	}
	return total.result(voxelVolume), nil
}
