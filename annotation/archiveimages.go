package annotation

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/dicom"
	"github.com/radmark/radmark/volume"
)

// ArchiveImages serves Images from archived instances (archive.Service
// is a volume.Source). Series volumes are cached: parsing 600 CT headers
// on every save would dominate its time. A cached volume is used only
// while the series still holds the same instances.
type ArchiveImages struct {
	Source volume.Source
	// Volumes is how many series volumes to keep (default 4); each holds
	// its headers and a bounded cache of decoded slices.
	Volumes int

	mu      sync.Mutex
	volumes []*cachedVolume // most recently used last
	images  []*cachedImage
}

type cachedVolume struct {
	series  radmark.UID
	version string
	vol     *volume.Volume
	err     error
	ready   chan struct{}
}

type cachedImage struct {
	sop     radmark.UID
	frame   int
	version string
	geo     *ImageGeometry
	values  []float32
}

// maxCachedImages bounds the projection images kept decoded (a large
// radiograph is tens of megabytes of float32).
const maxCachedImages = 4

// CheckStudy implements Images.
func (a *ArchiveImages) CheckStudy(ctx context.Context, study, series radmark.UID) error {
	_, err := a.Source.Select(ctx, study, series, "")
	return err
}

// Series implements Images.
func (a *ArchiveImages) Series(ctx context.Context, study radmark.UID) ([]radmark.UID, error) {
	ins, err := a.Source.Select(ctx, study, "", "")
	if err != nil {
		return nil, err
	}
	var out []radmark.UID
	seen := map[radmark.UID]bool{}
	for _, in := range ins {
		if !seen[in.SeriesUID] {
			seen[in.SeriesUID] = true
			out = append(out, in.SeriesUID)
		}
	}
	return out, nil
}

// seriesVersion identifies what a series holds now, so a cached volume
// built from other instances is not used.
func seriesVersion(ins []*radmark.Instance) string {
	var newest time.Time
	for _, in := range ins {
		if in.CreatedAt.After(newest) {
			newest = in.CreatedAt
		}
	}
	return fmt.Sprintf("%d/%d", len(ins), newest.UnixNano())
}

func (a *ArchiveImages) volume(ctx context.Context, study, series radmark.UID) (*volume.Volume, error) {
	ins, err := a.Source.Select(ctx, study, series, "")
	if err != nil {
		return nil, err
	}
	version := seriesVersion(ins)
	a.mu.Lock()
	var c *cachedVolume
	for i, v := range a.volumes {
		if v.series == series && v.version == version {
			c = v
			a.volumes = append(append(a.volumes[:i:i], a.volumes[i+1:]...), v)
			break
		}
	}
	if c == nil {
		c = &cachedVolume{series: series, version: version, ready: make(chan struct{})}
		limit := a.Volumes
		if limit <= 0 {
			limit = 4
		}
		for i := 0; i < len(a.volumes); i++ {
			if a.volumes[i].series == series {
				a.volumes = append(a.volumes[:i], a.volumes[i+1:]...)
				i--
			}
		}
		if len(a.volumes) >= limit {
			a.volumes = a.volumes[len(a.volumes)-limit+1:]
		}
		a.volumes = append(a.volumes, c)
		a.mu.Unlock()
		// Loading is not tied to this request's context: other requests
		// may be waiting for the same volume.
		c.vol, c.err = volume.Load(context.WithoutCancel(ctx), a.Source, study, series)
		close(c.ready)
		if c.err != nil {
			a.mu.Lock()
			for i, v := range a.volumes {
				if v == c {
					a.volumes = append(a.volumes[:i], a.volumes[i+1:]...)
					break
				}
			}
			a.mu.Unlock()
		}
	} else {
		a.mu.Unlock()
	}
	select {
	case <-c.ready:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return c.vol, c.err
}

// Grid implements Images.
func (a *ArchiveImages) Grid(ctx context.Context, study, series radmark.UID) (*volume.Grid, error) {
	v, err := a.volume(ctx, study, series)
	if err != nil {
		return nil, err
	}
	return v.Grid, nil
}

// SliceValues implements Images.
func (a *ArchiveImages) SliceValues(ctx context.Context, study, series radmark.UID, k int) ([]float32, error) {
	v, err := a.volume(ctx, study, series)
	if err != nil {
		return nil, err
	}
	return v.SliceValues(ctx, k)
}

// Image implements Images.
func (a *ArchiveImages) Image(ctx context.Context, study radmark.UID, ref radmark.ImageRef) (*ImageGeometry, error) {
	in, err := a.instance(ctx, study, ref)
	if err != nil {
		return nil, err
	}
	if v, err := a.volume(ctx, study, in.SeriesUID); err == nil {
		if k, ok := v.Grid.SliceOf(ref); ok {
			return gridImageGeometry(in, v.Grid, k, ref), nil
		}
	} else if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	c, err := a.image(ctx, in, ref, false)
	if err != nil {
		return nil, err
	}
	return c.geo, nil
}

// ImageValues implements Images.
func (a *ArchiveImages) ImageValues(ctx context.Context, study radmark.UID, ref radmark.ImageRef) ([]float32, error) {
	in, err := a.instance(ctx, study, ref)
	if err != nil {
		return nil, err
	}
	if v, err := a.volume(ctx, study, in.SeriesUID); err == nil {
		if k, ok := v.Grid.SliceOf(ref); ok {
			return v.SliceValues(ctx, k)
		}
	}
	c, err := a.image(ctx, in, ref, true)
	if err != nil {
		return nil, err
	}
	return c.values, nil
}

// instance finds ref's instance in study and checks the frame number.
func (a *ArchiveImages) instance(ctx context.Context, study radmark.UID, ref radmark.ImageRef) (*radmark.Instance, error) {
	ins, err := a.Source.Select(ctx, study, "", ref.SOPInstanceUID)
	if err != nil {
		return nil, err
	}
	in := ins[0]
	switch {
	case in.Pixel == nil || in.Rows == 0:
		return nil, radmark.Errorf(radmark.EINVALID, "instance %s has no image", ref.SOPInstanceUID)
	case in.NumberOfFrames > 1 && (ref.Frame < 1 || ref.Frame > in.NumberOfFrames):
		return nil, radmark.Errorf(radmark.EINVALID, "instance %s has frames 1..%d; frame %d is not one", ref.SOPInstanceUID, in.NumberOfFrames, ref.Frame)
	case in.NumberOfFrames <= 1 && ref.Frame != 0:
		return nil, radmark.Errorf(radmark.EINVALID, "instance %s is a single-frame image: its frame is 0, not %d", ref.SOPInstanceUID, ref.Frame)
	}
	return in, nil
}

func gridImageGeometry(in *radmark.Instance, g *volume.Grid, k int, ref radmark.ImageRef) *ImageGeometry {
	thickness := 1.0
	if g.NumSlices > 1 {
		thickness = g.Spacing[2] / 2
	}
	return &ImageGeometry{
		StudyUID: in.StudyUID, SeriesUID: in.SeriesUID, Ref: ref,
		Columns: g.Columns, Rows: g.Rows, Plane: g.Slices[k].Plane, Patient: true,
		Calibrated: true, SpacingNote: "pixel spacing in the patient",
		Thickness: thickness, Modality: g.Modality,
	}
}

// image returns the geometry (and with values, the pixels) of an image
// that is not part of a series grid: a projection radiograph, or a lone
// cross-sectional image.
func (a *ArchiveImages) image(ctx context.Context, in *radmark.Instance, ref radmark.ImageRef, values bool) (*cachedImage, error) {
	version := in.SHA256
	a.mu.Lock()
	for i, c := range a.images {
		if c.sop == ref.SOPInstanceUID && c.frame == ref.Frame && c.version == version && (c.values != nil || !values) {
			a.images = append(append(a.images[:i:i], a.images[i+1:]...), c)
			a.mu.Unlock()
			return c, nil
		}
	}
	a.mu.Unlock()

	c := &cachedImage{sop: ref.SOPInstanceUID, frame: ref.Frame, version: version}
	if values {
		slice, vals, err := volume.LoadImage(ctx, a.Source, in.StudyUID, in.SeriesUID, in.SOPInstanceUID, ref.Frame)
		if err != nil {
			return nil, err
		}
		c.values = vals
		ds, err := a.header(ctx, in)
		if err != nil {
			return nil, err
		}
		c.geo = loneImageGeometry(in, ds, ref, slice.Plane)
	} else {
		ds, err := a.header(ctx, in)
		if err != nil {
			return nil, err
		}
		plane, err := volume.PlaneOf(ds, ref.Frame)
		if err != nil {
			// A projection image: measure on the detector plane.
			plane = volume.Plane{RowDir: volume.Vec3{1, 0, 0}, ColDir: volume.Vec3{0, 1, 0}, RowSpacing: 1, ColSpacing: 1, Columns: in.Columns, Rows: in.Rows}
			if row, col, _, ok := volume.ProjectionSpacing(ds); ok {
				plane.RowSpacing, plane.ColSpacing = row, col
			}
		}
		c.geo = loneImageGeometry(in, ds, ref, plane)
	}
	a.mu.Lock()
	if len(a.images) >= maxCachedImages {
		a.images = a.images[1:]
	}
	a.images = append(a.images, c)
	a.mu.Unlock()
	return c, nil
}

func loneImageGeometry(in *radmark.Instance, ds *dicom.Dataset, ref radmark.ImageRef, plane volume.Plane) *ImageGeometry {
	g := &ImageGeometry{
		StudyUID: in.StudyUID, SeriesUID: in.SeriesUID, Ref: ref,
		Columns: in.Columns, Rows: in.Rows, Plane: plane, Thickness: 1,
	}
	if m := ds.Strings(dicom.NewTag(0x0008, 0x0060)); len(m) > 0 {
		g.Modality = m[0]
	}
	if _, err := volume.PlaneOf(ds, ref.Frame); err == nil {
		g.Patient, g.Calibrated, g.SpacingNote = true, true, "pixel spacing in the patient"
		if t, ok := ds.Float(dicom.NewTag(0x0018, 0x0050)); ok && t > 0 && !math.IsNaN(t) {
			g.Thickness = t / 2
		}
		return g
	}
	if _, _, note, ok := volume.ProjectionSpacing(ds); ok {
		g.Calibrated, g.SpacingNote = true, note
	} else {
		g.SpacingNote = "no pixel spacing: measurements are in pixels"
	}
	return g
}

// header parses an instance's header, up to its pixel data.
func (a *ArchiveImages) header(ctx context.Context, in *radmark.Instance) (*dicom.Dataset, error) {
	rc, err := a.Source.Open(ctx, in)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	f, err := dicom.Parse(rc, in.Size, dicom.ParseOptions{StopAtPixelData: true})
	if err != nil {
		return nil, radmark.Errorf(radmark.EINTERNAL, "read the header of instance %s: %w", in.SOPInstanceUID, err)
	}
	return f.Dataset, nil
}
