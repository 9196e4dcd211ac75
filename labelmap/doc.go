// Package labelmap owns radmark's voxel segmentations: one layer of labels
// on a series grid in memory (Volume), its storage as compressed,
// content-addressed chunks of one slice each (the chunk format, FORMAT.md),
// the manifests that list them (radmark.Labelmap), and what is computed
// from them: diffs between revisions and per-label statistics.
//
// # Model
//
// A labelmap layer is Columns × Rows × Slices voxels of uint8 labels on
// the grid of its series: 0 is no label, 1…255 the layer's label values
// (overlapping segments go to different layers). Voxels are in DICOM
// order, i (column) fastest, then j (row), then k (slice): slice k is the
// Columns·Rows bytes a frame's pixel data would hold.
//
// Each non-empty slice is stored as one chunk (a 16-byte header and the
// slice compressed) under the blob key "labelmap/<d[:2]>/<d>", d being the
// lowercase hex sha256 of the chunk's bytes. A revision's manifest lists
// one digest per slice, "" for a slice with no label. Chunks are immutable
// and shared: every revision, every layer and every slice with the same
// labels points at the same object, so saving an edit writes only the
// slices it changed — one chunk of a few hundred bytes for a brush stroke
// — and the manifest records the new digests. A slice is the unit because
// it is what a radiologist paints and a viewer shows; whole-volume formats
// (NIfTI, NRRD, DICOM SEG) would rewrite everything on every save.
//
// # Saving and loading
//
// Save and SaveVolume encode the changed slices in parallel, skip those
// whose chunk is unchanged or already stored, write the rest durably, and
// only then return the new manifest. A manifest the caller commits thus
// never points at a missing chunk, and a failed save leaves only
// unreferenced chunks behind (invisible, like an ingest's orphan blobs).
// Load reads and decodes chunks in parallel, checking each against its
// digest and its header against the grid; LoadSlice reads one slice;
// Stats counts labels slice by slice without holding the volume; Diff
// reads only the slices whose digests differ.
//
// # Chunk format
//
// Chunks are "RMLM", format version 1, a payload encoding, columns and
// rows, then one zstd frame of either the slice's run-length code (label
// byte, uvarint run length − 1) or, for noisy slices where that is
// larger, the raw slice. FORMAT.md specifies every byte and records the
// measurements behind the choice: run-length code under zstd stores the
// phantom's organs and lesions at 0.15 % of raw, about half of what zstd
// alone achieves, and decodes faster. Decoding checks the header against
// the expected grid before allocating, allocates at most the slice and its
// run-length code, and returns an error wrapping ErrCorrupt for any
// malformed chunk (fuzzed).
//
// Compression is github.com/klauspost/compress/zstd; the run-length coder
// is written here because it is a dozen lines specific to label runs.
//
// # Errors
//
// Bad input (grids, manifests, slices, chunks) is radmark.EINVALID, an
// unknown format version or encoding EUNSUPPORTED; a stored chunk that is
// missing is the store's ENOTFOUND, one that is damaged EINTERNAL (wrapping
// ErrCorrupt). Grids are limited to 65535 columns, rows and slices, 8192²
// voxels a slice and 2³² voxels in all.
package labelmap
