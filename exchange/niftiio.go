package exchange

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/annotation"
	"github.com/radmark/radmark/dataset"
	"github.com/radmark/radmark/dicom"
	"github.com/radmark/radmark/labelmap"
	"github.com/radmark/radmark/nifti"
	"github.com/radmark/radmark/volume"
)

// checkRegular refuses grids NIfTI's single affine cannot describe.
func checkRegular(g *volume.Grid) error {
	for _, f := range g.Findings {
		switch f.Code {
		case volume.FindingGap, volume.FindingUnevenSpacing, volume.FindingDuplicatePosition:
			return radmark.Errorf(radmark.EUNSUPPORTED, "the series' slices are not evenly spaced, so one NIfTI affine cannot place them (%s: %s)", f.Code, f.Message)
		}
	}
	return nil
}

// Affine returns the grid's index → RAS affine NIfTI stores.
func Affine(g *volume.Grid) [4][4]float64 { return nifti.RASFromLPS(g.Affine()) }

// ImageNIfTI returns a series' image volume as NIfTI, in modality units
// (Hounsfield units for CT): integer types with the rescale kept in
// scl_slope/scl_inter when every slice shares one, float32 otherwise.
// Voxel (i, j, k) is column i, row j of grid slice k, as in labelmaps.
func (s *Service) ImageNIfTI(ctx context.Context, series radmark.UID) (*nifti.Image, error) {
	sr, err := s.Series(ctx, series)
	if err != nil {
		return nil, err
	}
	g := sr.Volume.Grid
	if err := checkRegular(g); err != nil {
		return nil, fmt.Errorf("series %s: %w", series, err)
	}
	sr.Volume.SetCacheSize(0)
	n := g.Columns * g.Rows
	vals := make([]float32, n*g.NumSlices)
	shared := true
	slope, inter := g.Slices[0].Slope, g.Slices[0].Intercept
	for _, sl := range g.Slices {
		if sl.LUT != nil || sl.Slope != slope || sl.Intercept != inter || sl.Slope == 0 {
			shared = false
		}
	}
	if !shared {
		slope, inter = 1, 0
	}
	if shared {
		im, ok, err := s.nativeImage(ctx, sr, slope, inter)
		if err != nil || ok {
			return im, err
		}
	}
	// Slices are read, decoded and summarised in parallel (Volume is safe
	// for concurrent use): the range of stored values, and whether every
	// value is one (an integer through the shared rescale).
	type summary struct {
		lo, hi   float64
		integral bool
	}
	sums := make([]summary, g.NumSlices)
	if err := forEachSlice(ctx, g.NumSlices, func(k int) error {
		v, err := sr.Volume.SliceValues(ctx, k)
		if err != nil {
			return err
		}
		copy(vals[k*n:], v)
		sm := summary{lo: math.Inf(1), hi: math.Inf(-1), integral: true}
		for _, x := range v {
			st := math.Round((float64(x) - inter) / slope)
			if d := st*slope + inter - float64(x); d > 1e-3 || d < -1e-3 {
				sm.integral = false
				break
			}
			if st < sm.lo {
				sm.lo = st
			}
			if st > sm.hi {
				sm.hi = st
			}
		}
		sums[k] = sm
		return nil
	}); err != nil {
		return nil, err
	}
	im := &nifti.Image{Dims: [3]int{g.Columns, g.Rows, g.NumSlices}, Affine: Affine(g),
		Description: truncate("radmark "+g.Modality+" series "+string(series), 79)}
	integral := true
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, sm := range sums {
		integral = integral && sm.integral
		lo, hi = min(lo, sm.lo), max(hi, sm.hi)
	}
	var size int
	var put func(dst []byte, x float32)
	stored := func(x float32) float64 { return math.Round((float64(x) - inter) / slope) }
	switch {
	case integral && lo >= math.MinInt16 && hi <= math.MaxInt16:
		im.Datatype, size = nifti.Int16, 2
		put = func(dst []byte, x float32) { binary.LittleEndian.PutUint16(dst, uint16(int16(stored(x)))) }
	case integral && lo >= 0 && hi <= math.MaxUint16:
		im.Datatype, size = nifti.Uint16, 2
		put = func(dst []byte, x float32) { binary.LittleEndian.PutUint16(dst, uint16(stored(x))) }
	case integral && lo >= math.MinInt32 && hi <= math.MaxInt32:
		im.Datatype, size = nifti.Int32, 4
		put = func(dst []byte, x float32) { binary.LittleEndian.PutUint32(dst, uint32(int32(stored(x)))) }
	default:
		slope, inter = 1, 0
		im.Datatype, size = nifti.Float32, 4
		put = func(dst []byte, x float32) { binary.LittleEndian.PutUint32(dst, math.Float32bits(x)) }
	}
	im.Data = make([]byte, size*len(vals))
	if err := forEachSlice(ctx, g.NumSlices, func(k int) error {
		dst := im.Data[k*n*size:]
		for i, x := range vals[k*n : (k+1)*n] {
			put(dst[i*size:], x)
		}
		return nil
	}); err != nil {
		return nil, err
	}
	im.SclSlope, im.SclInter = slope, inter
	return im, nil
}

// LabelsNIfTI returns a revision's segmentation on a series as a NIfTI
// label map aligned with ImageNIfTI's image (same shape and affine).
// With layer < 0 every layer is merged and voxels hold the project's
// label ids (dataset.LabelIDs: the same in every case, as nnU-Net needs);
// a voxel two labels claim is an error. With layer ≥ 0 that layer's raw
// values are written.
func (s *Service) LabelsNIfTI(ctx context.Context, op annotation.Op, rev radmark.ID, series radmark.UID, layer int) (*nifti.Image, error) {
	r, sr, err := s.revisionOn(ctx, op, rev, series)
	if err != nil {
		return nil, err
	}
	return s.labelsImage(ctx, op, r, sr, layer)
}

func (s *Service) labelsImage(ctx context.Context, op annotation.Op, r *revisionData, sr *Series, layer int) (*nifti.Image, error) {
	g := sr.Volume.Grid
	if err := checkRegular(g); err != nil {
		return nil, fmt.Errorf("series %s: %w", sr.UID, err)
	}
	layers, err := s.layers(ctx, op, r, sr)
	if err != nil {
		return nil, err
	}
	im := &nifti.Image{Dims: [3]int{g.Columns, g.Rows, g.NumSlices}, Datatype: nifti.Uint8, Affine: Affine(g),
		SclSlope: 1, Intent: "labels", Description: truncate("radmark labels revision "+string(r.rev.ID), 79)}
	n := g.Columns * g.Rows
	if layer >= 0 {
		v := layers[layer]
		if v == nil {
			return nil, radmark.Errorf(radmark.EINVALID, "revision %s has no labelmap layer %d on series %s", r.rev.ID, layer, sr.UID)
		}
		im.Data = append([]byte(nil), v.Voxels...)
		return im, nil
	}
	ids, _, err := dataset.LabelIDs(r.schema)
	if err != nil {
		return nil, err
	}
	im.Data = make([]byte, n*g.NumSlices)
	owner := make([]string, 256) // label id value → label, for messages
	items := segmentItems(r.rev.Content, layers)
	named := map[radmark.SegmentRef]bool{}
	for _, it := range items {
		named[*it.Segment] = true
	}
	if err := checkNamed(layers, named); err != nil {
		return nil, err
	}
	for _, it := range items {
		id, ok := ids[it.Label]
		if !ok {
			return nil, radmark.Errorf(radmark.EINVALID, "item %q has label %q, which is not a segmentation label of schema version %d", it.ID, it.Label, r.schema.Version)
		}
		owner[id] = it.Label
		v := layers[it.Segment.Layer]
		val := uint8(it.Segment.Value)
		for p, x := range v.Voxels {
			if x != val {
				continue
			}
			if cur := im.Data[p]; cur != 0 && int(cur) != id {
				i, j, k := p%g.Columns, (p/g.Columns)%g.Rows, p/n
				return nil, radmark.Errorf(radmark.EINVALID, "voxel (%d, %d, %d) is both %q and %q (overlapping segments in different layers); export one layer with --layer", i, j, k, owner[cur], it.Label)
			}
			im.Data[p] = uint8(id)
		}
	}
	return im, nil
}

// reorient maps a NIfTI image onto grid g: its index → RAS affine must be
// g's up to a permutation and flip of the axes (as dcm2niix and nnU-Net
// write them), else the grids do not match. It returns, for each of the
// image's voxels, the grid voxel it is.
func reorient(im *nifti.Image, g *volume.Grid) (func(n int) int, error) {
	ours := Affine(g)
	inv, ok := inverse4(ours)
	if !ok {
		return nil, radmark.Errorf(radmark.EINVALID, "the series' grid has a singular affine")
	}
	m := mul4(inv, im.Affine) // their index → our index
	var perm [3]int
	var sign [3]int
	var off [3]int
	dims := [3]int{g.Columns, g.Rows, g.NumSlices}
	mismatch := func(why string) error {
		return radmark.Errorf(radmark.EINVALID, "the NIfTI grid (%d×%d×%d, affine %s) does not match series grid (%d×%d×%d, affine %s): %s",
			im.Dims[0], im.Dims[1], im.Dims[2], fmtAffine(im.Affine), dims[0], dims[1], dims[2], fmtAffine(ours), why)
	}
	used := [3]bool{}
	for r := 0; r < 3; r++ {
		found := -1
		for c := 0; c < 3; c++ {
			e := m[r][c]
			switch {
			case math.Abs(e) < 1e-3:
			case math.Abs(math.Abs(e)-1) < 1e-3 && found < 0 && !used[c]:
				found = c
				sign[r] = int(math.Round(e))
			default:
				return nil, mismatch("its axes are not those of the series (a different orientation or voxel size would need resampling)")
			}
		}
		if found < 0 {
			return nil, mismatch("its axes are not those of the series")
		}
		used[found] = true
		perm[r] = found
		o := m[r][3]
		if math.Abs(o-math.Round(o)) > 1e-2 {
			return nil, mismatch(fmt.Sprintf("its voxels are offset by %.3f of a voxel along axis %d", o-math.Round(o), r))
		}
		off[r] = int(math.Round(o))
	}
	for r := 0; r < 3; r++ {
		if im.Dims[perm[r]] != dims[r] {
			return nil, mismatch("its size differs")
		}
		lo := off[r]
		hi := off[r] + sign[r]*(im.Dims[perm[r]]-1)
		if min(lo, hi) != 0 || max(lo, hi) != dims[r]-1 {
			return nil, mismatch("it covers a different region")
		}
	}
	d0, d1 := im.Dims[0], im.Dims[1]
	return func(n int) int {
		t := [3]int{n % d0, (n / d0) % d1, n / (d0 * d1)}
		var o [3]int
		for r := 0; r < 3; r++ {
			o[r] = off[r] + sign[r]*t[perm[r]]
		}
		return o[0] + dims[0]*(o[1]+dims[1]*o[2])
	}, nil
}

func fmtAffine(m [4][4]float64) string {
	return fmt.Sprintf("[%.4g %.4g %.4g %.4g; %.4g %.4g %.4g %.4g; %.4g %.4g %.4g %.4g]",
		m[0][0], m[0][1], m[0][2], m[0][3], m[1][0], m[1][1], m[1][2], m[1][3], m[2][0], m[2][1], m[2][2], m[2][3])
}

// labelVolume turns a NIfTI label map into a labelmap volume on g.
func labelVolume(im *nifti.Image, g *volume.Grid) (*labelmap.Volume, error) {
	to, err := reorient(im, g)
	if err != nil {
		return nil, err
	}
	v, err := labelmap.NewVolume(labelmap.Grid{Columns: g.Columns, Rows: g.Rows, Slices: g.NumSlices})
	if err != nil {
		return nil, err
	}
	for n := 0; n < im.Len(); n++ {
		x := im.Value(n)
		if x == 0 {
			continue
		}
		if x != math.Trunc(x) || x < 0 || x > 255 {
			return nil, radmark.Errorf(radmark.EINVALID, "the NIfTI holds value %g; a label map holds whole numbers 0..255", x)
		}
		v.Voxels[to(n)] = uint8(x)
	}
	return v, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// forEachSlice runs fn for 0..n-1 on a few workers and returns the first
// error.
func forEachSlice(ctx context.Context, n int, fn func(k int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	next := make(chan int)
	errs := make(chan error, 1)
	var wg sync.WaitGroup
	for w := 0; w < min(n, max(4, 2*runtime.GOMAXPROCS(0))); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range next {
				if err := fn(k); err != nil {
					select {
					case errs <- err:
					default:
					}
					cancel()
				}
			}
		}()
	}
feed:
	for k := 0; k < n; k++ {
		select {
		case next <- k:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
	}
	return ctx.Err()
}

// nativeImage writes the stored values of an integer series whose slices
// share one rescale straight into an int16/uint16 image with that rescale
// in scl_slope/scl_inter, as dcm2niix does, without the detour through
// modality floats. ok is false when the series is not like that (the
// caller converts through modality values instead).
func (s *Service) nativeImage(ctx context.Context, sr *Series, slope, inter float64) (*nifti.Image, bool, error) {
	fsrc, ok := s.Images.(volume.FrameSource)
	if !ok || sr.Header == nil {
		return nil, false, nil
	}
	pi, err := sr.Header.PixelInfo()
	if err != nil || pi.SamplesPerPixel != 1 || pi.PixelTag != dicom.TagPixelData || (pi.BitsAllocated != 8 && pi.BitsAllocated != 16) {
		return nil, false, nil
	}
	stored := pi.BitsStored
	if stored <= 0 || stored > pi.BitsAllocated {
		stored = pi.BitsAllocated
	}
	signed := pi.PixelRepresentation == 1
	g := sr.Volume.Grid
	ins, err := s.Images.Select(ctx, sr.Study, sr.UID, "")
	if err != nil {
		return nil, false, err
	}
	bySOP := map[radmark.UID]*radmark.Instance{}
	for _, in := range ins {
		bySOP[in.SOPInstanceUID] = in
	}
	im := &nifti.Image{Dims: [3]int{g.Columns, g.Rows, g.NumSlices}, Affine: Affine(g), SclSlope: slope, SclInter: inter,
		Datatype: nifti.Int16, Description: truncate("radmark "+g.Modality+" series "+string(sr.UID), 79)}
	if !signed && stored == 16 {
		im.Datatype = nifti.Uint16
	}
	n := g.Columns * g.Rows
	im.Data = make([]byte, 2*n*g.NumSlices)
	mask := uint32(1)<<uint(stored) - 1
	sign := uint32(1) << uint(stored-1)
	errUnlike := errors.New("unlike slices")
	err = forEachSlice(ctx, g.NumSlices, func(k int) error {
		ref := g.Slices[k].Image
		in := bySOP[ref.SOPInstanceUID]
		if in == nil || in.Rows != pi.Rows || in.Columns != pi.Columns {
			return errUnlike
		}
		data, err := fsrc.NativeFrame(ctx, in, max(ref.Frame, 1))
		if err != nil {
			return err
		}
		bytesPer := pi.BitsAllocated / 8
		if len(data) < n*bytesPer {
			return errUnlike // a decoder's other container: let the general path judge
		}
		dst := im.Data[2*k*n : 2*(k+1)*n]
		for i := 0; i < n; i++ {
			var raw uint32
			if bytesPer == 2 {
				raw = uint32(binary.LittleEndian.Uint16(data[2*i:]))
			} else {
				raw = uint32(data[i])
			}
			raw &= mask
			v := int32(raw)
			if signed && raw&sign != 0 {
				v = int32(raw) - int32(mask) - 1
			}
			binary.LittleEndian.PutUint16(dst[2*i:], uint16(v))
		}
		return nil
	})
	if errors.Is(err, errUnlike) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return im, true, nil
}
