// Package volume owns exact image and series geometry and the pixel values
// behind it:
//
//   - converting between image pixel coordinates and patient LPS
//     millimetres for one image (Plane, PlaneOf), including the frames of
//     enhanced multi-frame objects (Per-frame and Shared Functional
//     Groups), and the spacing to measure with on projection radiographs
//     (ProjectionSpacing);
//   - building a series' voxel grid (BuildGrid, Grid): slice order by
//     position along the normal, spacing, the voxel ↔ LPS mapping and
//     affine, and continuity findings (gaps, uneven spacing, duplicate
//     positions, mixed orientation or size, gantry tilt, images without
//     geometry);
//   - reading pixel values in modality units with the modality LUT
//     applied (Rescale Slope/Intercept, per frame for enhanced objects, or
//     a Modality LUT Sequence): Hounsfield units for CT (Load,
//     Volume.SliceValues, LoadImage).
//
// # Coordinates
//
// They match package radmark's annotation model. Image points are (x, y) =
// (column, row) in pixels with (0,0) the top-left corner of the top-left
// pixel, so the centre of pixel (i, j) is (i+0.5, j+0.5) (the SCOORD
// convention, PS3.3 C.18.6.1.1). Patient points are LPS millimetres.
// ImagePositionPatient is the centre of the first transmitted pixel;
// ImageOrientationPatient[0:3] is the direction of increasing column index
// (along a row), [3:6] that of increasing row index; PixelSpacing[0] is the
// distance between adjacent rows, PixelSpacing[1] between adjacent columns
// (PS3.3 C.7.6.2.1.1). A grid index (i, j, k) = (column, row, slice)
// addresses voxel centres, as NIfTI and dcm2niix do, so image point (x, y)
// on slice k is grid index (x−0.5, y−0.5, k).
//
// # Tolerances
//
// Direction cosines must be unit vectors within 1e-3 and orthogonal within
// 1e-3 (|r·c|); they are then normalised. Images belong to one grid when
// their sizes are equal, their pixel spacings agree within 1e-4 relative
// and their direction cosines within 1e-3 per component. Along the slice
// normal, two slices closer than 0.01 mm are duplicates; a step differing
// from the median step by more than max(0.02 mm, 1 %) is uneven, and one
// larger than 1.5 times the median and than the two slices' mean
// SliceThickness (when known) is a gap: anatomy no slice covers. Slice positions that drift
// across the stack by more than 0.05 mm in the image plane make a sheared
// (gantry-tilted) grid. See Finding for the codes.
//
// # Why it is written here
//
// Geometry is a few hundred lines of linear algebra over the repository's
// own DICOM parser; no Go library does it for DICOM, and the rules here
// (which images form a grid, how a tilted or uneven stack maps to indices)
// are the ones radmark's labelmaps, exports and checks depend on, so they
// are kept in one place and tested against pydicom and dcm2niix.
package volume
