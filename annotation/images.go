package annotation

import (
	"context"

	"github.com/radmark/radmark"
)

// Images is what annotation needs of the archive: that a study (and
// series) exists, and the geometry of images and series grids to check
// coordinates and compute measurements.
type Images interface {
	// CheckStudy returns ENOTFOUND unless the study (and, when given, its
	// series) is archived.
	CheckStudy(ctx context.Context, study, series radmark.UID) error
}
