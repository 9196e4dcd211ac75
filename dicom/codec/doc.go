// Package codec decodes compressed DICOM pixel data, one frame at a time.
//
// It owns the step from a frame's compressed bytes (its fragments
// concatenated; finding them is the dicom package's job) to the bytes an
// uncompressed Explicit VR Little Endian encoding of the same frame would
// hold: samples row-major, colour interleaved (planar configuration 0), each
// sample in BitsAllocated/8 little-endian bytes (BitsAllocated 1: packed,
// LSB first), the stored bits as the codestream gives them, with no rescale
// or windowing. That is what gdcmconv --raw and dcmtk's dcmdrle/dcmdjpeg/
// dcmdjpls produce, and the tests compare every frame of the shared corpus
// with them. radmark does not encode compressed syntaxes.
//
// # Transfer syntaxes and why each decoder was chosen
//
//   - RLE Lossless (PS3.5 Annex G): pure Go. The format is a few lines of
//     PackBits; 8-, 16- and 32-bit samples, 1 or 3 per pixel, and 1-bit
//     segmentations.
//   - JPEG Baseline (.50), Extended (.51), Lossless (.57, .70), and the
//     retired spectral-selection and progressive syntaxes (.53, .55): one
//     pure-Go decoder written here (jpeg*.go). It is hand-written because
//     nothing available does the job: Go's image/jpeg has no 12-bit, no
//     lossless process, and upsamples 4:2:2 chroma differently from
//     libjpeg (up to 42 grey levels apart); Debian 12's libjpeg-turbo 2.1
//     has neither lossless nor 12-bit; and the one pure-Go DICOM codec
//     module on the proxy cannot be fetched under its own module path and
//     gets colour JPEG wrong (../shared/research/go-dicom.md §6–7). It
//     reproduces libjpeg 6b — the library inside dcmtk and gdcm — where
//     the standard leaves room: the "islow" integer IDCT and its range
//     limiting, "fancy" triangle-filter chroma upsampling, and the
//     fixed-point YCbCr→RGB conversion, so lossy frames decode to exactly
//     the reference pixels, not merely close to them.
//   - JPEG-LS (.80, .81): a thin cgo binding to CharLS 2.4 (libcharls-dev).
//   - JPEG 2000 (.90, .91) and HTJ2K (.201, .202, .203): a thin cgo binding
//     to OpenJPEG 2.5 (libopenjp2-7-dev) with an in-memory stream; 2.5 is
//     the first OpenJPEG that decodes HTJ2K code-blocks.
//
// CharLS and OpenJPEG are the reference-grade decoders the DICOM toolkits
// themselves use; they were exact and two to three times faster than the
// pure-Go alternatives measured, and OpenJPEG fails cleanly where a pure-Go
// JPEG 2000 decoder exhausted memory on a corrupt header. Writing those two
// codecs anew would be a large, risky job for no gain. The cgo files build
// only with cgo; without it, Decode returns EUNSUPPORTED for those syntaxes
// and Supported reports false.
//
// # Colour
//
// The output Photometric Interpretation is in Frame. JPEG data is
// converted from YCbCr to RGB when the dataset says YBR_* (YBR_FULL_422
// frames come back as full-resolution RGB), and left alone otherwise,
// whatever JFIF or Adobe markers say — dcmtk's default, and pydicom's
// behaviour for RGB-labelled JPEG. gdcm differs: it leaves YBR_FULL
// unconverted. JPEG 2000 with a multiple-component transform (YBR_RCT,
// YBR_ICT) comes back RGB, as from gdcm and pydicom. RLE and JPEG-LS
// output keeps the dataset's colour space.
//
// # Outside input
//
// Frames and the Info describing them come from files and network peers.
// Every decoder checks the codestream's own header (size, components,
// precision) against Info before allocating; allocations are bounded by
// Rows*Columns*SamplesPerPixel and by MaxFrameBytes; the pure-Go decoders
// run behind recover(); and errors carry radmark codes: EINVALID for
// corrupt or contradictory data, EUNSUPPORTED for syntaxes or codestream
// features not decoded (arithmetic coding, hierarchical JPEG, DNL,
// subsampled JPEG 2000 components), ETOOLARGE above MaxFrameBytes.
// Truncated or corrupt entropy-coded JPEG data is an error rather than the
// grey-filled image libjpeg produces with a warning.
package codec
