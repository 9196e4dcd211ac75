// Package phantom makes synthetic CT, MR and X-ray images whose content
// and geometry are known exactly: the ground truth that tests and
// benchmarks of volumes, segmentations, measurements, exports and viewers
// are checked against. It owns the analytic anatomy, its sampling onto
// DICOM grids, the ground-truth queries (tissue at a point, label of a
// voxel, lesion positions, sizes and voxel counts, the voxel → patient
// affine) and the DICOM instances built from them. It writes them with
// package dicom; it has no other dependency.
//
// # Coordinates
//
// Everything physical is in the DICOM patient coordinate system, LPS
// millimetres: +x towards the patient's left, +y posterior, +z superior
// (head). NIfTI and most research tools use RAS, the same point with x
// and y negated (LPS.RAS, Affine.RAS).
//
// A voxel is addressed (i, j, k): i the column (0 = left-most pixel as
// stored), j the row (0 = top row, the first transmitted), k the slice
// (0 = the first instance, InstanceNumber 1). Pixel data is stored row by
// row, so pixel (i, j) is at offset j·Columns + i. Following PS3.3
// C.7.6.2.1.1, with ImageOrientationPatient = (row direction r, column
// direction c) the centre of voxel (i, j, k) is
//
//	P = IPP_k + i·Δcol·r + j·Δrow·c,   PixelSpacing = Δrow \ Δcol
//
// Note which spacing goes with which index: moving along a row (i) steps
// by the column spacing, the second PixelSpacing value; moving down a
// column (j) steps by the row spacing, the first. IPP_k = Origin + k·step,
// step being SliceSpacing along the normal r×c (or along +z with a gantry
// tilt). Affine expresses this as P = M·(i,j,k) + T; integer indices are
// voxel centres, so a voxel spans index ±0.5.
//
// # Sampling
//
// Every pixel samples the anatomy at its voxel's centre, so with noise 0
// each pixel is exactly its tissue's value and the label map (LabelAt,
// Labels) is its exact segmentation. Shapes are closed: a centre lying on
// a surface is inside (with a 1e-9 relative tolerance, so rounding cannot
// flip it). Optional supersampling averages n³ sub-voxel samples into the
// pixel for partial-volume edges; labels stay centre samples. Noise is
// deterministic, from the spec's seed, one stream per slice.
//
// # Pixel format
//
// CT: 16 bits allocated, 12 stored, unsigned, RescaleIntercept −1024,
// RescaleSlope 1 (stored = HU + 1024, range −1024…3071 HU): the most common
// form real scanners write. MR: the same 12-bit unsigned container holding
// the intensity with no rescale. X-ray: 12-bit unsigned MONOCHROME2,
// rescale identity. All files are explicit VR little endian Part 10 with
// SpecificCharacterSet ISO_IR 192, and UIDs under 2.25 derived from a hash
// of the spec, so the same spec always gives the same bytes.
//
// # Why it is written here
//
// No Go library generates DICOM phantoms, and the Python ones (or shipping
// binary fixtures) would leave the ground truth either outside the test
// or undocumented. The anatomy is a handful of quadrics, so a row-wise
// exact sampler makes the 78-million-voxel benchmark CT in well under a
// second.
package phantom
