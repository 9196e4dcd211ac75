package annotation

import (
	"context"
	"fmt"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/labelmap"
	"github.com/radmark/radmark/volume"
)

// gridTolerance is how far (in voxels) a patient point may lie outside a
// grid's outermost voxel centres and still be on it: half a voxel is the
// voxel's own extent, the rest absorbs rounding in clients.
const gridTolerance = 0.5 + 1e-3

// imageTolerance is how far (in pixels) an image point may lie outside
// the image's edges: rounding in clients only.
const imageTolerance = 1e-3

// geometryChecker checks a revision's items against the images they are
// on, loading each image's geometry once.
type geometryChecker struct {
	s      *Service
	set    *radmark.AnnotationSet
	images map[radmark.ImageRef]*ImageGeometry
	grids  []*volume.Grid // the grids LPS points may lie in; nil until needed
}

// checkGeometry checks every item's coordinates against the referenced
// images: image points inside the image, patient points on the image
// they were placed on or inside a series grid of the set, images in the
// set's study (and series).
func (s *Service) checkGeometry(ctx context.Context, set *radmark.AnnotationSet, c *radmark.Content) error {
	if s.Images == nil {
		return nil
	}
	gc := &geometryChecker{s: s, set: set, images: map[radmark.ImageRef]*ImageGeometry{}}
	for i := range c.Items {
		it := &c.Items[i]
		if err := gc.item(ctx, it); err != nil {
			if radmark.ErrorCode(err) == radmark.EINVALID || radmark.ErrorCode(err) == radmark.ENOTFOUND {
				return invalid("item %d (%q): %v", i+1, it.ID, radmark.ErrorMessage(err))
			}
			return fmt.Errorf("item %d (%q): %w", i+1, it.ID, err)
		}
	}
	for i := range c.Answers {
		a := &c.Answers[i]
		switch {
		case a.Image != nil:
			if _, err := gc.image(ctx, *a.Image); err != nil {
				return invalid("answer %d (question %q): %v", i+1, a.Question, radmark.ErrorMessage(err))
			}
		case a.SeriesUID != "":
			if set.SeriesUID != "" && a.SeriesUID != set.SeriesUID {
				return invalid("answer %d (question %q): this set annotates series %s, not %s", i+1, a.Question, set.SeriesUID, a.SeriesUID)
			}
			if err := s.Images.CheckStudy(ctx, set.StudyUID, a.SeriesUID); err != nil {
				return invalid("answer %d (question %q): series %s is not in study %s", i+1, a.Question, a.SeriesUID, set.StudyUID)
			}
		}
	}
	return nil
}

func (gc *geometryChecker) image(ctx context.Context, ref radmark.ImageRef) (*ImageGeometry, error) {
	if g, ok := gc.images[ref]; ok {
		return g, nil
	}
	g, err := gc.s.Images.Image(ctx, gc.set.StudyUID, ref)
	if radmark.ErrorCode(err) == radmark.ENOTFOUND {
		return nil, invalid("image %s is not in study %s", ref.SOPInstanceUID, gc.set.StudyUID)
	}
	if err != nil {
		return nil, err
	}
	if gc.set.SeriesUID != "" && g.SeriesUID != gc.set.SeriesUID {
		return nil, invalid("image %s is in series %s; this set annotates series %s", ref.SOPInstanceUID, g.SeriesUID, gc.set.SeriesUID)
	}
	gc.images[ref] = g
	return g, nil
}

func (gc *geometryChecker) item(ctx context.Context, it *radmark.Item) error {
	var g *ImageGeometry
	if it.Image != nil {
		var err error
		if g, err = gc.image(ctx, *it.Image); err != nil {
			return err
		}
	}
	for n, p := range it.Points {
		if p[0] < -imageTolerance || p[1] < -imageTolerance || p[0] > float64(g.Columns)+imageTolerance || p[1] > float64(g.Rows)+imageTolerance {
			return invalid("point %d (%.2f, %.2f) is outside the %d×%d image (x 0..%d, y 0..%d)", n+1, p[0], p[1], g.Columns, g.Rows, g.Columns, g.Rows)
		}
	}
	if len(it.LPS) == 0 {
		return nil
	}
	if g != nil {
		// Patient points placed on an image must lie on it.
		if !g.Patient {
			return invalid("image %s is a projection image with no patient coordinates: give image points", it.Image.SOPInstanceUID)
		}
		for n, p := range it.LPS {
			x, y, off := g.Plane.FromLPS(p)
			if off < -g.Thickness-1e-3 || off > g.Thickness+1e-3 {
				return invalid("patient point %d (%.2f, %.2f, %.2f) lies %.2f mm off image %s (at most %.2f mm)", n+1, p[0], p[1], p[2], abs(off), it.Image.SOPInstanceUID, g.Thickness)
			}
			if x < -imageTolerance || y < -imageTolerance || x > float64(g.Columns)+imageTolerance || y > float64(g.Rows)+imageTolerance {
				return invalid("patient point %d (%.2f, %.2f, %.2f) falls at image point (%.2f, %.2f), outside the %d×%d image", n+1, p[0], p[1], p[2], x, y, g.Columns, g.Rows)
			}
		}
		return nil
	}
	grids, err := gc.gridsOfSet(ctx)
	if err != nil {
		return err
	}
	if len(grids) == 0 {
		return invalid("the set's images have no patient geometry (projection images): give image points")
	}
	for n, p := range it.LPS {
		if !insideAny(grids, p) {
			return invalid("patient point %d (%.2f, %.2f, %.2f) is outside the volume of %s", n+1, p[0], p[1], p[2], gc.setScope())
		}
	}
	return nil
}

func (gc *geometryChecker) setScope() string {
	if gc.set.SeriesUID != "" {
		return "series " + string(gc.set.SeriesUID)
	}
	return "every series of study " + string(gc.set.StudyUID)
}

// gridsOfSet returns the grids of the set's series (or of every series of
// its study that forms one).
func (gc *geometryChecker) gridsOfSet(ctx context.Context) ([]*volume.Grid, error) {
	if gc.grids != nil {
		return gc.grids, nil
	}
	series := []radmark.UID{gc.set.SeriesUID}
	if gc.set.SeriesUID == "" {
		var err error
		if series, err = gc.s.Images.Series(ctx, gc.set.StudyUID); err != nil {
			return nil, err
		}
	}
	gc.grids = []*volume.Grid{}
	for _, se := range series {
		g, err := gc.s.Images.Grid(ctx, gc.set.StudyUID, se)
		switch radmark.ErrorCode(err) {
		case "":
			gc.grids = append(gc.grids, g)
		case radmark.EUNSUPPORTED, radmark.EINVALID:
			// Not a volume (projection images): nothing to place points in.
		default:
			return nil, err
		}
	}
	return gc.grids, nil
}

func insideAny(grids []*volume.Grid, p volume.Vec3) bool {
	for _, g := range grids {
		if insideGrid(g, p) {
			return true
		}
	}
	return false
}

func insideGrid(g *volume.Grid, p volume.Vec3) bool {
	idx := g.LPSToIndex(p)
	dims := [3]int{g.Columns, g.Rows, g.NumSlices}
	for a := 0; a < 3; a++ {
		if idx[a] < -gridTolerance || idx[a] > float64(dims[a]-1)+gridTolerance {
			return false
		}
	}
	return true
}

// checkLabelmapGrid checks that a labelmap's shape is its series' grid:
// slice k of the labelmap is slice k of the grid (volume.Grid's order,
// by position along the slice normal).
func (s *Service) checkLabelmapGrid(ctx context.Context, study, series radmark.UID, grid labelmap.Grid) error {
	if s.Images == nil {
		return nil
	}
	if series == "" {
		return invalid("a labelmap needs the series it is on")
	}
	g, err := s.Images.Grid(ctx, study, series)
	switch radmark.ErrorCode(err) {
	case "":
	case radmark.ENOTFOUND:
		return invalid("series %s is not in study %s", series, study)
	case radmark.EUNSUPPORTED, radmark.EINVALID:
		return invalid("series %s has no voxel grid for a labelmap: %v", series, radmark.ErrorMessage(err))
	default:
		return err
	}
	if g.Columns != grid.Columns || g.Rows != grid.Rows || g.NumSlices != grid.Slices {
		return invalid("a labelmap on series %s must be %d×%d×%d (columns×rows×slices), not %d×%d×%d", series, g.Columns, g.Rows, g.NumSlices, grid.Columns, grid.Rows, grid.Slices)
	}
	return nil
}

func abs(v float64) float64 {
	if v < 0 {
		return -v
	}
	return v
}
