package volume

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/dicom"
)

// Source is what volume needs of the archive (*archive.Service satisfies
// it).
type Source interface {
	// Select returns the instances of a study, series or single instance
	// (empty UIDs widen the selection); ENOTFOUND if there is none.
	Select(ctx context.Context, study, series, sop radmark.UID) ([]*radmark.Instance, error)
	// Open returns an instance's stored bytes.
	Open(ctx context.Context, in *radmark.Instance) (io.ReadCloser, error)
}

// FrameSource is a Source that can also return one frame uncompressed,
// little endian, in the layout of Explicit VR Little Endian pixel data
// (1-based n), reading only that frame's bytes. *archive.Service
// implements it; with other sources frames are read from Open's bytes and
// decoded here.
type FrameSource interface {
	Source
	NativeFrame(ctx context.Context, in *radmark.Instance, n int) ([]byte, error)
}

// DefaultCacheBytes bounds the decoded slices a Volume keeps (float32
// values): 256 MiB, a 512×512 CT of 256 slices.
const DefaultCacheBytes = 256 << 20

// maxHeaderReaders bounds how many instance headers Load reads at once.
const maxHeaderReaders = 8

// decodeSlots bounds concurrent frame decoding to the CPUs: decoding is
// CPU-bound, and a cgo codec cannot be interrupted.
var decodeSlots = make(chan struct{}, runtime.GOMAXPROCS(0))

// Volume is a series' grid and lazy access to its pixel values. It is
// safe for concurrent use.
type Volume struct {
	Grid *Grid

	src    Source
	slices []sliceSource // by grid slice

	mu         sync.Mutex
	cacheBytes int64
	used       int64
	lru        *list.List            // of *cacheEntry, most recent at the front
	entries    map[int]*list.Element // by slice
	inflight   map[int]*call
	// last keeps the most recently parsed whole instance (when frames are
	// read without a FrameSource), so the frames of one multi-frame
	// instance are not each parsed from scratch.
	lastSOP  radmark.UID
	lastFile *dicom.File
}

type sliceSource struct {
	in     *radmark.Instance
	header *dicom.Dataset
	frame  int // 1-based frame number to read
}

type cacheEntry struct {
	k      int
	values []float32
}

type call struct {
	done   chan struct{}
	values []float32
	err    error
}

// maxLastFile bounds the whole instance kept parsed between frames.
const maxLastFile = 64 << 20

// Load reads the header of every instance of a series (up to its pixel
// data, which is not read) and builds the grid of all their frames.
// Instances without pixel data are skipped; an instance whose header
// cannot be read is left out with an "unreadable" finding. Errors: those
// of src.Select (ENOTFOUND), and of BuildGrid (EUNSUPPORTED for a series
// that is not a volume).
func Load(ctx context.Context, src Source, study, series radmark.UID) (*Volume, error) {
	ins, err := src.Select(ctx, study, series, "")
	if err != nil {
		return nil, err
	}
	headers := make([]*dicom.Dataset, len(ins))
	errs := make([]error, len(ins))
	sem := make(chan struct{}, maxHeaderReaders)
	var wg sync.WaitGroup
	for n, in := range ins {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			headers[n], errs[n] = readHeader(ctx, src, in)
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var images []Image
	var unreadable []string
	bySource := map[radmark.ImageRef]sliceSource{}
	for n, in := range ins {
		if errs[n] != nil {
			if radmark.ErrorCode(errs[n]) == radmark.EUNAVAILABLE || errors.Is(errs[n], context.Canceled) {
				return nil, errs[n]
			}
			unreadable = append(unreadable, fmt.Sprintf("%s: %v", in.SOPInstanceUID, errs[n]))
			continue
		}
		ds := headers[n]
		if _, err := ds.PixelInfo(); err != nil {
			continue // not an image (or an unusable one): nothing to place
		}
		frames := ds.IntOr(dicom.TagNumberOfFrames, 1)
		if frames <= 1 {
			ref := radmark.ImageRef{SOPInstanceUID: in.SOPInstanceUID}
			images = append(images, Image{Ref: ref, Dataset: ds})
			bySource[ref] = sliceSource{in: in, header: ds, frame: 1}
			continue
		}
		for f := 1; f <= frames; f++ {
			ref := radmark.ImageRef{SOPInstanceUID: in.SOPInstanceUID, Frame: f}
			images = append(images, Image{Ref: ref, Dataset: ds})
			bySource[ref] = sliceSource{in: in, header: ds, frame: f}
		}
	}
	if len(images) == 0 {
		if len(unreadable) > 0 {
			return nil, radmark.Errorf(radmark.EINVALID, "series %s: no instance header could be read (%s)", series, summarize(unreadable))
		}
		return nil, radmark.Errorf(radmark.EUNSUPPORTED, "series %s has no images (no instance has pixel data)", series)
	}
	g, err := BuildGrid(images)
	if err != nil {
		return nil, err
	}
	if len(unreadable) > 0 {
		g.Findings = append(g.Findings, Finding{Code: FindingUnreadable, Slice: -1,
			Message: fmt.Sprintf("%d instance(s) whose header could not be read were left out: %s", len(unreadable), summarize(unreadable))})
	}
	v := newVolume(src, g)
	for k, s := range g.Slices {
		v.slices[k] = bySource[s.Image]
	}
	return v, nil
}

func newVolume(src Source, g *Grid) *Volume {
	return &Volume{
		Grid: g, src: src, slices: make([]sliceSource, len(g.Slices)),
		cacheBytes: DefaultCacheBytes, lru: list.New(),
		entries: map[int]*list.Element{}, inflight: map[int]*call{},
	}
}

// SetCacheSize sets how many bytes of decoded slices v keeps (0 keeps
// none), evicting the least recently used beyond it.
func (v *Volume) SetCacheSize(bytes int64) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.cacheBytes = max(bytes, 0)
	v.evictLocked()
}

// readHeader parses an instance up to its pixel data.
func readHeader(ctx context.Context, src Source, in *radmark.Instance) (*dicom.Dataset, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rc, err := src.Open(ctx, in)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	size := in.Size
	if size <= 0 {
		size = -1
	}
	f, err := dicom.Parse(rc, size, dicom.ParseOptions{StopAtPixelData: true, BulkDataThreshold: 1 << 20})
	if err != nil {
		return nil, fmt.Errorf("parse header: %w", err)
	}
	return f.Dataset, nil
}

// SliceValues returns slice k's Columns×Rows values, row by row, in
// modality units (Hounsfield units for CT): the stored values through the
// slice's modality LUT. Frames are decoded on first use in any transfer
// syntax dicom.DecodeFrame supports and kept in a bounded cache. The
// returned slice is the caller's.
func (v *Volume) SliceValues(ctx context.Context, k int) ([]float32, error) {
	if k < 0 || k >= len(v.slices) {
		return nil, radmark.Errorf(radmark.EINVALID, "slice %d does not exist: the grid has slices 0..%d", k, len(v.slices)-1)
	}
	v.mu.Lock()
	if e, ok := v.entries[k]; ok {
		v.lru.MoveToFront(e)
		vals := e.Value.(*cacheEntry).values
		v.mu.Unlock()
		return append([]float32(nil), vals...), nil
	}
	if c, ok := v.inflight[k]; ok {
		v.mu.Unlock()
		select {
		case <-c.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if c.err != nil {
			return nil, c.err
		}
		return append([]float32(nil), c.values...), nil
	}
	c := &call{done: make(chan struct{})}
	v.inflight[k] = c
	v.mu.Unlock()

	// Decoding is not tied to this caller's context: others may wait for
	// the same slice.
	c.values, c.err = v.decode(context.WithoutCancel(ctx), k)
	v.mu.Lock()
	delete(v.inflight, k)
	if c.err == nil {
		size := int64(len(c.values)) * 4
		if size <= v.cacheBytes {
			v.entries[k] = v.lru.PushFront(&cacheEntry{k: k, values: c.values})
			v.used += size
			v.evictLocked()
		}
	}
	v.mu.Unlock()
	close(c.done)
	if c.err != nil {
		return nil, c.err
	}
	return append([]float32(nil), c.values...), nil
}

func (v *Volume) evictLocked() {
	for v.used > v.cacheBytes && v.lru.Len() > 0 {
		e := v.lru.Back()
		ce := e.Value.(*cacheEntry)
		v.lru.Remove(e)
		delete(v.entries, ce.k)
		v.used -= int64(len(ce.values)) * 4
	}
}

func (v *Volume) decode(ctx context.Context, k int) ([]float32, error) {
	s := v.slices[k]
	slice := &v.Grid.Slices[k]
	if s.in == nil {
		return nil, radmark.Errorf(radmark.EINTERNAL, "slice %d has no source instance", k)
	}
	return frameValues(ctx, v.src, s.in, s.header, s.frame, slice, v.parsedCache)
}

// parsedCache returns the cached whole instance, or parses and keeps it.
func (v *Volume) parsedCache(ctx context.Context, in *radmark.Instance) (*dicom.File, error) {
	v.mu.Lock()
	if v.lastSOP == in.SOPInstanceUID && v.lastFile != nil {
		f := v.lastFile
		v.mu.Unlock()
		return f, nil
	}
	v.mu.Unlock()
	f, err := parseWhole(ctx, v.src, in)
	if err != nil {
		return nil, err
	}
	if pi, err := f.Dataset.PixelInfo(); err == nil && pi.NumberOfFrames > 1 && pi.NativeLength() <= maxLastFile {
		v.mu.Lock()
		v.lastSOP, v.lastFile = in.SOPInstanceUID, f
		v.mu.Unlock()
	}
	return f, nil
}

type parser func(ctx context.Context, in *radmark.Instance) (*dicom.File, error)

// frameValues reads, decodes and rescales frame n (1-based) of in.
func frameValues(ctx context.Context, src Source, in *radmark.Instance, header *dicom.Dataset, n int, s *Slice, parse parser) ([]float32, error) {
	pi, err := header.PixelInfo()
	if err != nil {
		return nil, radmark.WrapError(radmark.EINVALID, err, fmt.Sprintf("instance %s has no usable pixel data", in.SOPInstanceUID))
	}
	if pi.SamplesPerPixel != 1 {
		return modalityValues(pi, nil, s) // the colour error
	}
	if fs, ok := src.(FrameSource); ok {
		data, err := fs.NativeFrame(ctx, in, n)
		if err != nil {
			return nil, err
		}
		return modalityValues(pi, data, s)
	}
	f, err := parse(ctx, in)
	if err != nil {
		return nil, err
	}
	fpi, err := f.Dataset.PixelInfo()
	if err != nil {
		return nil, radmark.WrapError(radmark.EINVALID, err, fmt.Sprintf("instance %s has no usable pixel data", in.SOPInstanceUID))
	}
	if n < 1 || n > fpi.NumberOfFrames {
		return nil, radmark.Errorf(radmark.EINVALID, "instance %s has %d frame(s); frame %d does not exist", in.SOPInstanceUID, fpi.NumberOfFrames, n)
	}
	e := f.Dataset.Get(fpi.PixelTag)
	locs, err := dicom.LocateFrames(f.Dataset, e, fpi)
	if err != nil {
		return nil, radmark.WrapError(radmark.EINVALID, err, fmt.Sprintf("instance %s: cannot locate frame %d", in.SOPInstanceUID, n))
	}
	loc := locs[n-1]
	var data []byte
	ts := f.TransferSyntax.UID
	if e.Encapsulated {
		for _, r := range loc.Ranges {
			for _, fr := range e.Fragments {
				if fr.Offset == r.Offset {
					data = append(data, fr.Data...)
					break
				}
			}
		}
	} else {
		// Parsed native values are little endian whatever the syntax.
		ts = dicom.ExplicitVRLittleEndian
		for _, r := range loc.Ranges {
			start := r.Offset - e.Offset
			if start < 0 || start+r.Length > int64(len(e.Value)) {
				return nil, radmark.Errorf(radmark.EINVALID, "instance %s: pixel data is shorter than frame %d", in.SOPInstanceUID, n)
			}
			data = append(data, e.Value[start:start+r.Length]...)
		}
	}
	decodeSlots <- struct{}{}
	fr, err := dicom.DecodeFrame(ts, fpi, data, loc.BitOffset)
	<-decodeSlots
	if err != nil {
		code := radmark.ErrorCode(err)
		if code != radmark.EUNSUPPORTED && code != radmark.ETOOLARGE {
			code = radmark.EINVALID
		}
		if errors.Is(err, dicom.ErrUnsupportedTransferSyntax) {
			code = radmark.EUNSUPPORTED
		}
		return nil, radmark.WrapError(code, err, fmt.Sprintf("decode frame %d of instance %s (%s)", n, in.SOPInstanceUID, dicom.UIDName(ts)))
	}
	return modalityValues(fpi, fr.Data, s)
}

// parseWhole reads and parses a whole instance.
func parseWhole(ctx context.Context, src Source, in *radmark.Instance) (*dicom.File, error) {
	rc, err := src.Open(ctx, in)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return nil, fmt.Errorf("read instance %s: %w", in.SOPInstanceUID, err)
	}
	f, err := dicom.ParseBytes(b, dicom.ParseOptions{})
	if err != nil {
		return nil, radmark.WrapError(radmark.EINVALID, err, fmt.Sprintf("parse instance %s", in.SOPInstanceUID))
	}
	return f, nil
}

// LoadImage reads one 2D image: its plane and its values in modality
// units. frame is 1-based for multi-frame instances, 0 for single-frame
// ones.
//
// A projection image (no ImagePositionPatient / ImageOrientationPatient:
// CR, DX, MG, most XA) gets a detector plane: Position zero, RowDir
// (1,0,0), ColDir (0,1,0) and the spacing of ProjectionSpacing, or 1 mm
// (that is, pixels) when it has none. Its "LPS" is then a flat detector
// coordinate, good for distances on the image only. Geometry that is
// present but malformed is an EINVALID error.
func LoadImage(ctx context.Context, src Source, study, series, sop radmark.UID, frame int) (*Slice, []float32, error) {
	ins, err := src.Select(ctx, study, series, sop)
	if err != nil {
		return nil, nil, err
	}
	var in *radmark.Instance
	for _, x := range ins {
		if x.SOPInstanceUID == sop {
			in = x
			break
		}
	}
	if in == nil {
		return nil, nil, radmark.Errorf(radmark.ENOTFOUND, "instance %s not found", sop)
	}
	header, err := readHeader(ctx, src, in)
	if err != nil {
		return nil, nil, radmark.WrapError(radmark.EINVALID, err, fmt.Sprintf("read the header of instance %s", sop))
	}
	pi, err := header.PixelInfo()
	if err != nil {
		return nil, nil, radmark.WrapError(radmark.EINVALID, err, fmt.Sprintf("instance %s has no usable pixel data", sop))
	}
	switch {
	case frame < 0:
		return nil, nil, radmark.Errorf(radmark.EINVALID, "frame %d: frames are numbered from 1 (0 for a single-frame image)", frame)
	case pi.NumberOfFrames > 1 && (frame < 1 || frame > pi.NumberOfFrames):
		return nil, nil, radmark.Errorf(radmark.EINVALID, "instance %s has frames 1..%d; frame %d is not one of them", sop, pi.NumberOfFrames, frame)
	case pi.NumberOfFrames == 1 && frame > 1:
		return nil, nil, radmark.Errorf(radmark.EINVALID, "instance %s is a single-frame image; frame %d does not exist", sop, frame)
	}
	ref := radmark.ImageRef{SOPInstanceUID: sop}
	if pi.NumberOfFrames > 1 {
		ref.Frame = frame
	}
	plane, err := PlaneOf(header, ref.Frame)
	switch radmark.ErrorCode(err) {
	case "":
	case radmark.EUNSUPPORTED:
		plane = Plane{RowDir: Vec3{1, 0, 0}, ColDir: Vec3{0, 1, 0}, RowSpacing: 1, ColSpacing: 1, Columns: pi.Columns, Rows: pi.Rows}
		if r, c, _, ok := ProjectionSpacing(header); ok {
			plane.RowSpacing, plane.ColSpacing = r, c
		}
	default:
		return nil, nil, err
	}
	slope, intercept, lut := modalityLUT(header, max(ref.Frame-1, 0))
	s := &Slice{Image: ref, Plane: plane, Slope: slope, Intercept: intercept, LUT: lut}
	parse := func(ctx context.Context, in *radmark.Instance) (*dicom.File, error) { return parseWhole(ctx, src, in) }
	vals, err := frameValues(ctx, src, in, header, max(frame, 1), s, parse)
	if err != nil {
		return nil, nil, err
	}
	return s, vals, nil
}
