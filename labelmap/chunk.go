package labelmap

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/klauspost/compress/zstd"

	"github.com/radmark/radmark"
)

// The chunk format; FORMAT.md is its specification.
const (
	// Magic opens every chunk.
	Magic = "RMLM"
	// FormatVersion is the version of the chunk header written and read.
	FormatVersion = 1
	// headerLen is the size of the fixed chunk header.
	headerLen = 16
)

// Chunk payload encodings (byte 5 of the header).
const (
	// EncodingZstd: the payload is a zstd frame of the slice's raw bytes.
	EncodingZstd = 1
	// EncodingRLEZstd: the payload is a zstd frame of the slice's run-length
	// code (label byte, uvarint run length − 1, …).
	EncodingRLEZstd = 2
)

// Encoding is the value of radmark.Labelmap.Encoding for labelmaps whose
// chunks follow this package's format (FORMAT.md); it names the format,
// each chunk's header names its payload encoding.
const Encoding = "radmark-labelmap-v1"

// ErrCorrupt is wrapped by every error about a chunk whose bytes are not a
// valid chunk (or not the chunk its digest names).
var ErrCorrupt = errors.New("corrupt labelmap chunk")

// How EncodeSlice picks a payload, by the length of the slice's run-length
// code against the raw slice (FORMAT.md has the measurements): up to 1/8
// (runs of 8 voxels or more on average: every organ, lesion and blob mask
// measured) run-length code under zstd is smaller and faster, so only that
// is tried; beyond the raw size (the code expands: noise) only the raw
// bytes are compressed; in between both are, and the smaller chunk kept.
const rleAlwaysBelow = 8 // rle ≤ n/8: rle+zstd only

var (
	encoder *zstd.Encoder
	decoder *zstd.Decoder
)

func init() {
	var err error
	// SpeedDefault: on run-length code of typical masks the other levels
	// change the size by 1–3 % (FORMAT.md). One encoder and one decoder
	// serve every goroutine (EncodeAll/DecodeAll are safe for concurrent
	// use), with as many parallel streams as there are CPUs.
	encoder, err = zstd.NewWriter(nil,
		zstd.WithEncoderLevel(zstd.SpeedDefault),
		zstd.WithEncoderConcurrency(runtime.GOMAXPROCS(0)),
		zstd.WithEncoderCRC(true),
		// Single-segment frames always carry Frame_Content_Size, which
		// the format requires (small frames would otherwise omit it).
		zstd.WithSingleSegment(true))
	if err != nil {
		panic(err)
	}
	// The decoder never needs more than a slice's run-length code (at most
	// 2 bytes a voxel); DecodeAll is further held to the capacity of the
	// buffer it is given, which decodeSlice sizes exactly.
	decoder, err = zstd.NewReader(nil,
		zstd.WithDecoderConcurrency(runtime.GOMAXPROCS(0)),
		zstd.WithDecoderMaxMemory(2*MaxSliceVoxels),
		zstd.WithDecoderMaxWindow(2*MaxSliceVoxels),
		zstd.WithDecodeAllCapLimit(true),
		zstd.WithDecoderLowmem(true))
	if err != nil {
		panic(err)
	}
}

// checkSliceShape validates columns and rows against the limits.
func checkSliceShape(columns, rows int) error {
	return Grid{Columns: columns, Rows: rows, Slices: 1}.Validate()
}

// EncodeSlice returns the chunk of one slice: columns·rows labels, row by
// row. The encoding is chosen per slice (run-length code under zstd, or
// zstd of the raw bytes when that is smaller for a noisy slice), and is
// deterministic: the same slice always gives the same chunk, so equal
// slices share one stored object. An empty slice encodes like any other,
// though Save stores none (its manifest entry is ""). EINVALID if the
// shape is outside the limits or data has the wrong length.
func EncodeSlice(data []uint8, columns, rows int) ([]byte, error) {
	if err := checkSliceShape(columns, rows); err != nil {
		return nil, err
	}
	if len(data) != columns*rows {
		return nil, radmark.Errorf(radmark.EINVALID, "labelmap: a %d×%d slice has %d voxels, got %d", columns, rows, columns*rows, len(data))
	}
	return encodeSlice(data, columns, rows), nil
}

// encodeSlice is EncodeSlice for a checked shape.
func encodeSlice(data []uint8, columns, rows int) []byte {
	n := len(data)
	rle := getBuf(n / 16)
	defer putBuf(rle)
	*rle = appendRLE((*rle)[:0], data)
	if len(*rle) > n {
		return encoder.EncodeAll(data, appendHeader(make([]byte, 0, headerLen+n/2), EncodingZstd, columns, rows))
	}
	out := encoder.EncodeAll(*rle, appendHeader(make([]byte, 0, headerLen+len(*rle)/2+64), EncodingRLEZstd, columns, rows))
	if len(*rle) > n/rleAlwaysBelow {
		if raw := encoder.EncodeAll(data, appendHeader(make([]byte, 0, len(out)), EncodingZstd, columns, rows)); len(raw) < len(out) {
			out = raw
		}
	}
	return out
}

func appendHeader(dst []byte, encoding byte, columns, rows int) []byte {
	dst = append(dst, Magic...)
	dst = append(dst, FormatVersion, encoding, 0, 0)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(columns))
	return binary.LittleEndian.AppendUint32(dst, uint32(rows))
}

// ChunkHeader is the decoded fixed header of a chunk.
type ChunkHeader struct {
	Version  int
	Encoding int
	Columns  int
	Rows     int
}

// ParseHeader reads and checks a chunk's header: magic, version, a known
// encoding, zero flags and a slice shape within the limits. Errors wrap
// ErrCorrupt (EINVALID) for malformed bytes; an unknown version or
// encoding is EUNSUPPORTED.
func ParseHeader(chunk []byte) (ChunkHeader, error) {
	if len(chunk) < headerLen {
		return ChunkHeader{}, corrupt("%d bytes is shorter than the %d-byte header", len(chunk), headerLen)
	}
	if string(chunk[:4]) != Magic {
		return ChunkHeader{}, corrupt("magic %q is not %q", chunk[:4], Magic)
	}
	h := ChunkHeader{
		Version:  int(chunk[4]),
		Encoding: int(chunk[5]),
		Columns:  int(binary.LittleEndian.Uint32(chunk[8:])),
		Rows:     int(binary.LittleEndian.Uint32(chunk[12:])),
	}
	if h.Version != FormatVersion {
		return h, radmark.Errorf(radmark.EUNSUPPORTED, "labelmap chunk: format version %d is not supported (radmark reads version %d)", h.Version, FormatVersion)
	}
	if h.Encoding != EncodingZstd && h.Encoding != EncodingRLEZstd {
		return h, radmark.Errorf(radmark.EUNSUPPORTED, "labelmap chunk: encoding %d is not supported (1 = zstd, 2 = rle+zstd)", h.Encoding)
	}
	if flags := binary.LittleEndian.Uint16(chunk[6:]); flags != 0 {
		return h, corrupt("reserved flags are %#04x, must be 0", flags)
	}
	if h.Columns <= 0 || h.Rows <= 0 || h.Columns > MaxColumns || h.Rows > MaxRows || h.Columns*h.Rows > MaxSliceVoxels {
		return h, corrupt("slice shape %d×%d is outside the limits", h.Columns, h.Rows)
	}
	return h, nil
}

// DecodeSlice decodes a chunk that must hold a columns × rows slice and
// returns its labels. It checks the header against the expected shape
// before allocating anything, allocates no more than the slice (plus the
// slice's run-length code, at most twice the slice), and never panics:
// every malformed chunk is an error wrapping ErrCorrupt.
func DecodeSlice(chunk []byte, columns, rows int) ([]uint8, error) {
	if err := checkSliceShape(columns, rows); err != nil {
		return nil, err
	}
	if _, err := checkHeader(chunk, columns, rows); err != nil {
		return nil, err
	}
	out := make([]uint8, columns*rows)
	if err := decodeInto(out, chunk); err != nil {
		return nil, err
	}
	return out, nil
}

// DecodeSliceInto is DecodeSlice writing into dst, which must hold
// exactly columns·rows labels (a Volume's Slice, for one). On error dst's
// contents are unspecified.
func DecodeSliceInto(dst []uint8, chunk []byte, columns, rows int) error {
	if err := checkSliceShape(columns, rows); err != nil {
		return err
	}
	if len(dst) != columns*rows {
		return radmark.Errorf(radmark.EINVALID, "labelmap: a %d×%d slice needs a buffer of %d voxels, got %d", columns, rows, columns*rows, len(dst))
	}
	if _, err := checkHeader(chunk, columns, rows); err != nil {
		return err
	}
	return decodeInto(dst, chunk)
}

// checkHeader parses the header and compares its shape with the expected.
func checkHeader(chunk []byte, columns, rows int) (ChunkHeader, error) {
	h, err := ParseHeader(chunk)
	if err != nil {
		return h, err
	}
	if h.Columns != columns || h.Rows != rows {
		return h, corrupt("chunk holds a %d×%d slice, the labelmap's grid has %d×%d", h.Columns, h.Rows, columns, rows)
	}
	return h, nil
}

// decodeInto decodes a chunk whose header checkHeader accepted for
// len(dst) voxels.
func decodeInto(dst []uint8, chunk []byte) error {
	payload := chunk[headerLen:]
	n := len(dst)
	limit := n // the zstd content: the raw slice…
	if chunk[5] == EncodingRLEZstd {
		limit = 2 * n // …or its run-length code, at most 2 bytes a voxel
	}
	size, err := frameContentSize(payload, limit)
	if err != nil {
		return err
	}
	if chunk[5] == EncodingZstd {
		if size != n {
			return corrupt("zstd content is %d bytes, the slice has %d voxels", size, n)
		}
		// DecodeAll appends to dst[:0] and may not grow it beyond its
		// capacity (WithDecodeAllCapLimit): the slice is decoded in place.
		out, err := decoder.DecodeAll(payload, dst[:0:n])
		if err != nil {
			return corrupt("zstd: %v", err)
		}
		if len(out) != n || &out[0] != &dst[0] {
			return corrupt("zstd content is %d bytes, the slice has %d voxels", len(out), n)
		}
		return nil
	}
	buf := getBuf(size)
	defer putBuf(buf)
	rle, err := decoder.DecodeAll(payload, (*buf)[:0:size])
	if err != nil {
		return corrupt("zstd: %v", err)
	}
	if len(rle) != size {
		return corrupt("zstd content is %d bytes, its frame says %d", len(rle), size)
	}
	return expandRLE(dst, rle)
}

// frameContentSize reads the zstd frame header of payload and returns the
// declared content size, which the format requires and which must not
// exceed limit.
func frameContentSize(payload []byte, limit int) (int, error) {
	var zh zstd.Header
	if err := zh.Decode(payload); err != nil {
		return 0, corrupt("zstd frame header: %v", err)
	}
	switch {
	case zh.Skippable:
		return 0, corrupt("payload starts with a skippable zstd frame")
	case zh.DictionaryID != 0:
		return 0, corrupt("zstd frame needs dictionary %d; chunks use none", zh.DictionaryID)
	case !zh.HasFCS:
		return 0, corrupt("zstd frame does not declare its content size")
	case zh.FrameContentSize > uint64(limit):
		return 0, corrupt("zstd content of %d bytes exceeds the %d a slice can need", zh.FrameContentSize, limit)
	}
	return int(zh.FrameContentSize), nil
}

// appendRLE appends the run-length code of s: for each maximal run of one
// label, the label byte and the run's length − 1 as a uvarint.
func appendRLE(dst []byte, s []uint8) []byte {
	for i := 0; i < len(s); {
		val := s[i]
		j := i + 1
		// Skip ahead eight bytes at a time inside long runs of 0.
		if val == 0 {
			for j+8 <= len(s) && binary.LittleEndian.Uint64(s[j:]) == 0 {
				j += 8
			}
		}
		for j < len(s) && s[j] == val {
			j++
		}
		dst = append(dst, val)
		dst = binary.AppendUvarint(dst, uint64(j-i-1))
		i = j
	}
	return dst
}

// expandRLE decodes run-length code into dst, which the runs must fill
// exactly.
func expandRLE(dst []uint8, rle []byte) error {
	at := 0
	for len(rle) > 0 {
		val := rle[0]
		run, w := binary.Uvarint(rle[1:])
		if w <= 0 {
			return corrupt("run-length code: bad run length at byte %d", len(rle))
		}
		rle = rle[1+w:]
		if run >= uint64(len(dst)-at) {
			return corrupt("run-length code: runs cover more than the slice's %d voxels", len(dst))
		}
		end := at + int(run) + 1
		if val == 0 {
			clear(dst[at:end])
		} else {
			fill(dst[at:end], val)
		}
		at = end
	}
	if at != len(dst) {
		return corrupt("run-length code: runs cover %d of the slice's %d voxels", at, len(dst))
	}
	return nil
}

// fill sets every byte of s to val, doubling the copied prefix (memmove
// speed on long runs).
func fill(s []uint8, val uint8) {
	if len(s) == 0 {
		return
	}
	s[0] = val
	for n := 1; n < len(s); n *= 2 {
		copy(s[n:], s[:n])
	}
}

func corrupt(format string, args ...any) error {
	return &radmark.Error{Code: radmark.EINVALID, Message: "labelmap chunk: " + fmt.Sprintf(format, args...), Err: ErrCorrupt}
}

// Digest returns the digest that names a chunk: the lowercase hex sha256 of
// its bytes.
func Digest(chunk []byte) string {
	sum := sha256.Sum256(chunk)
	return hex.EncodeToString(sum[:])
}

// ValidDigest reports whether d is a well-formed chunk digest: 64
// lowercase hex digits.
func ValidDigest(d string) bool {
	if len(d) != 2*sha256.Size {
		return false
	}
	for i := 0; i < len(d); i++ {
		if c := d[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// Key returns the blob key of the chunk with digest d (which must be
// valid): "labelmap/<first two hex digits>/<digest>".
func Key(d string) string { return "labelmap/" + d[:2] + "/" + d }

// Encode returns the chunks of v's non-empty slices by slice index,
// encoded in parallel. Empty slices have no entry.
func Encode(v *Volume) (map[int][]byte, error) {
	if err := v.check(); err != nil {
		return nil, err
	}
	chunks := make([][]byte, v.Slices)
	parallel(v.Slices, func(k int) {
		if s := v.Slice(k); !isZero(s) {
			chunks[k] = encodeSlice(s, v.Columns, v.Rows)
		}
	})
	out := map[int][]byte{}
	for k, c := range chunks {
		if c != nil {
			out[k] = c
		}
	}
	return out, nil
}

// parallel calls fn(0…n-1) on up to GOMAXPROCS goroutines.
func parallel(n int, fn func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(n, runtime.GOMAXPROCS(0)) {
		wg.Go(func() {
			for k := int(next.Add(1) - 1); k < n; k = int(next.Add(1) - 1) {
				fn(k)
			}
		})
	}
	wg.Wait()
}

// bufPool holds scratch buffers for run-length code.
var bufPool sync.Pool

func getBuf(n int) *[]byte {
	if b, ok := bufPool.Get().(*[]byte); ok && cap(*b) >= n {
		return b
	}
	b := make([]byte, 0, max(n, 4096))
	return &b
}

func putBuf(b *[]byte) {
	// Keep the pool from pinning a huge buffer after one noisy slice of a
	// large grid.
	if cap(*b) <= 4<<20 {
		bufPool.Put(b)
	}
}

// EncodeRuns returns the run-length code of a slice (FORMAT.md: for each
// run of one label, the label byte and the run's length − 1 as a uvarint)
// without the chunk header and zstd. Clients that cannot run zstd (a
// browser) send slices this way.
func EncodeRuns(s []uint8) []byte { return appendRLE(nil, s) }

// DecodeRuns expands run-length code into a columns×rows slice; the runs
// must cover it exactly. Errors wrap ErrCorrupt.
func DecodeRuns(runs []byte, columns, rows int) ([]uint8, error) {
	if err := checkSliceShape(columns, rows); err != nil {
		return nil, err
	}
	dst := make([]uint8, columns*rows)
	if err := expandRLE(dst, runs); err != nil {
		return nil, err
	}
	return dst, nil
}
