package annotation

import (
	"context"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/volume"
)

// ImageGeometry is what annotation knows of one image: where it is and
// how its pixels map to millimetres.
type ImageGeometry struct {
	StudyUID  radmark.UID
	SeriesUID radmark.UID
	Ref       radmark.ImageRef
	Columns   int
	Rows      int
	// Plane maps image points to patient LPS millimetres. For a
	// projection image (no patient position, e.g. a chest X-ray) it maps
	// to detector-plane millimetres instead: Position zero, RowDir (1,0,0),
	// ColDir (0,1,0), and Patient is false.
	Plane   volume.Plane
	Patient bool
	// Calibrated says the pixel spacing is known; when false, lengths are
	// in pixels. SpacingNote says where the spacing came from.
	Calibrated  bool
	SpacingNote string
	// Thickness is how far (mm) a patient point may lie off the plane and
	// still be on this image: half the distance to the next slice, or half
	// the slice thickness for a lone image.
	Thickness float64
	// Modality of the image's series (CT values are Hounsfield units).
	Modality string
}

// Images is what annotation needs of the archive: that a study (and
// series) exists, and the geometry and pixel values of images and series
// grids, to check coordinates and compute measurements.
type Images interface {
	// CheckStudy returns ENOTFOUND unless the study (and, when given, its
	// series) is archived.
	CheckStudy(ctx context.Context, study, series radmark.UID) error
	// Image returns the geometry of one image of a study: ENOTFOUND if the
	// study has no such instance, EINVALID for a frame the instance does
	// not have.
	Image(ctx context.Context, study radmark.UID, ref radmark.ImageRef) (*ImageGeometry, error)
	// Series lists the series of a study.
	Series(ctx context.Context, study radmark.UID) ([]radmark.UID, error)
	// Grid returns a series' voxel grid; EUNSUPPORTED when its images do
	// not form one (projection images, no geometry).
	Grid(ctx context.Context, study, series radmark.UID) (*volume.Grid, error)
	// SliceValues returns slice k of a series grid in modality units.
	SliceValues(ctx context.Context, study, series radmark.UID, k int) ([]float32, error)
	// ImageValues returns one image's pixels in modality units.
	ImageValues(ctx context.Context, study radmark.UID, ref radmark.ImageRef) ([]float32, error)
}
