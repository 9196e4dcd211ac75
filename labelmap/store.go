package labelmap

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/radmark/radmark"
)

// digestPutter is implemented by blob stores that can take the sha256 the
// caller already computed instead of hashing the body again (fsblob).
type digestPutter interface {
	PutWithDigest(ctx context.Context, key string, r io.Reader, size int64, sha256Hex string) (radmark.BlobInfo, error)
}

// Save stores a new revision of a labelmap: base with the slices in changed
// (slice index → Columns·Rows labels, row by row) replaced. Only the
// changed slices are encoded, and only chunks that are new are written:
// an empty slice stores nothing (its entry becomes ""), a slice encoding
// to base's chunk keeps it, and a chunk already in the store (another
// revision's, another slice's) is not written again. Chunks are written
// before Save returns the new manifest, so a manifest the caller commits
// never points at a missing chunk; if Save fails, the chunks it wrote are
// unreferenced and harmless.
//
// base is not modified. EINVALID for a bad base (CheckManifest), a slice
// index outside the grid or a slice of the wrong length; a failed write
// is returned as the blob store reported it.
func Save(ctx context.Context, blobs radmark.BlobStore, base *radmark.Labelmap, changed map[int][]uint8) (*radmark.Labelmap, error) {
	if err := CheckManifest(base); err != nil {
		return nil, err
	}
	n := base.Columns * base.Rows
	ks := make([]int, 0, len(changed))
	for k, data := range changed {
		if k < 0 || k >= base.Slices {
			return nil, radmark.Errorf(radmark.EINVALID, "labelmap layer %d: slice %d outside 0..%d", base.Layer, k, base.Slices-1)
		}
		if len(data) != n {
			return nil, radmark.Errorf(radmark.EINVALID, "labelmap layer %d slice %d: %d voxels, the %d×%d grid needs %d", base.Layer, k, len(data), base.Columns, base.Rows, n)
		}
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return save(ctx, blobs, base, ks, func(k int) []uint8 { return changed[k] })
}

// SaveVolume is Save for an edited Volume: dirty lists the slices that
// may have changed since base (repeats are fine); nil means every slice
// (a first save, or a whole-volume replacement). v must be on base's grid.
func SaveVolume(ctx context.Context, blobs radmark.BlobStore, base *radmark.Labelmap, v *Volume, dirty []int) (*radmark.Labelmap, error) {
	if err := CheckManifest(base); err != nil {
		return nil, err
	}
	if err := v.check(); err != nil {
		return nil, err
	}
	if v.Grid() != GridOf(base) {
		return nil, radmark.Errorf(radmark.EINVALID, "labelmap layer %d: volume grid %s does not match the labelmap's %s", base.Layer, v.Grid(), GridOf(base))
	}
	var ks []int
	if dirty == nil {
		ks = make([]int, v.Slices)
		for k := range ks {
			ks[k] = k
		}
	} else {
		for _, k := range dirty {
			if k < 0 || k >= v.Slices {
				return nil, radmark.Errorf(radmark.EINVALID, "labelmap layer %d: dirty slice %d outside 0..%d", base.Layer, k, v.Slices-1)
			}
		}
		ks = slices.Compact(slices.Sorted(slices.Values(dirty)))
	}
	return save(ctx, blobs, base, ks, v.Slice)
}

// save encodes slices ks (sorted, distinct, valid) of the labelmap in
// parallel, writes the new chunks and returns the new manifest.
func save(ctx context.Context, blobs radmark.BlobStore, base *radmark.Labelmap, ks []int, slice func(k int) []uint8) (*radmark.Labelmap, error) {
	digests := make([]string, len(ks))
	chunks := make([][]byte, len(ks))
	parallel(len(ks), func(x int) {
		data := slice(ks[x])
		if isZero(data) {
			return
		}
		c := encodeSlice(data, base.Columns, base.Rows)
		digests[x] = Digest(c)
		if digests[x] != base.Chunks[ks[x]] {
			chunks[x] = c
		}
	})
	// Write each new chunk once, even if several slices share it.
	var writes []int
	seen := map[string]bool{}
	for x, c := range chunks {
		if c != nil && !seen[digests[x]] {
			seen[digests[x]] = true
			writes = append(writes, x)
		}
	}
	err := forEach(ctx, len(writes), func(ctx context.Context, w int) error {
		x := writes[w]
		if err := putChunk(ctx, blobs, digests[x], chunks[x]); err != nil {
			return fmt.Errorf("labelmap layer %d slice %d: %w", base.Layer, ks[x], err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := *base
	out.Encoding = Encoding
	out.Chunks = slices.Clone(base.Chunks)
	for x, k := range ks {
		out.Chunks[k] = digests[x]
	}
	return &out, nil
}

// PutChunk stores a chunk made elsewhere (a client that encodes slices
// itself) for a labelmap with columns × rows slices, after checking that
// it decodes to such a slice, and returns its digest; "" for a chunk of an
// empty slice, which is not stored. EINVALID (wrapping ErrCorrupt) for a
// chunk that does not decode.
func PutChunk(ctx context.Context, blobs radmark.BlobStore, chunk []byte, columns, rows int) (string, error) {
	data, err := DecodeSlice(chunk, columns, rows)
	if err != nil {
		return "", err
	}
	if isZero(data) {
		return "", nil
	}
	d := Digest(chunk)
	if err := putChunk(ctx, blobs, d, chunk); err != nil {
		return "", err
	}
	return d, nil
}

// putChunk writes a chunk under its key unless the store already has it.
// An object of the right size and digest (or of the right size, when the
// store does not know digests) is the same chunk: content addressing makes
// a second write pointless.
func putChunk(ctx context.Context, blobs radmark.BlobStore, digest string, chunk []byte) error {
	key := Key(digest)
	info, err := blobs.Stat(ctx, key)
	switch {
	case err == nil && info.Size == int64(len(chunk)) && (info.SHA256 == "" || info.SHA256 == digest):
		return nil
	case err != nil && radmark.ErrorCode(err) != radmark.ENOTFOUND:
		return fmt.Errorf("chunk %s: %w", digest, err)
	}
	// Missing, or a damaged object under the key: (re)write it.
	if dp, ok := blobs.(digestPutter); ok {
		info, err = dp.PutWithDigest(ctx, key, bytes.NewReader(chunk), int64(len(chunk)), digest)
	} else {
		info, err = blobs.Put(ctx, key, bytes.NewReader(chunk), int64(len(chunk)))
	}
	if err != nil {
		return fmt.Errorf("chunk %s: %w", digest, err)
	}
	if info.SHA256 != "" && info.SHA256 != digest {
		return radmark.Errorf(radmark.EINTERNAL, "chunk %s: the blob store recorded digest %s", digest, info.SHA256)
	}
	return nil
}

// Load reads a whole labelmap into a Volume, reading and decoding chunks in
// parallel. Each chunk is checked against its digest and its header
// against the grid. Errors: the manifest's (CheckManifest); ENOTFOUND (from
// the store) for a missing chunk; EINTERNAL wrapping ErrCorrupt for a
// stored chunk that does not match its digest or does not decode.
func Load(ctx context.Context, blobs radmark.BlobStore, m *radmark.Labelmap) (*Volume, error) {
	if err := CheckManifest(m); err != nil {
		return nil, err
	}
	v, err := NewVolume(GridOf(m))
	if err != nil {
		return nil, err
	}
	// Slices sharing a chunk are read once and copied.
	byDigest := map[string][]int{}
	var order []string
	for k, d := range m.Chunks {
		if d == "" {
			continue
		}
		if byDigest[d] == nil {
			order = append(order, d)
		}
		byDigest[d] = append(byDigest[d], k)
	}
	err = forEach(ctx, len(order), func(ctx context.Context, x int) error {
		d := order[x]
		ks := byDigest[d]
		if err := readSlice(ctx, blobs, m, ks[0], v.Slice(ks[0])); err != nil {
			return err
		}
		for _, k := range ks[1:] {
			copy(v.Slice(k), v.Slice(ks[0]))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return v, nil
}

// LoadSlice reads slice k of a labelmap (all 0 for an empty slice).
func LoadSlice(ctx context.Context, blobs radmark.BlobStore, m *radmark.Labelmap, k int) ([]uint8, error) {
	if err := CheckManifest(m); err != nil {
		return nil, err
	}
	if k < 0 || k >= m.Slices {
		return nil, radmark.Errorf(radmark.EINVALID, "labelmap layer %d: slice %d outside 0..%d", m.Layer, k, m.Slices-1)
	}
	out := make([]uint8, m.Columns*m.Rows)
	if err := readSlice(ctx, blobs, m, k, out); err != nil {
		return nil, err
	}
	return out, nil
}

// readSlice reads slice k of a checked manifest into dst (len
// Columns·Rows), which it zeroes for an empty slice.
func readSlice(ctx context.Context, blobs radmark.BlobStore, m *radmark.Labelmap, k int, dst []uint8) error {
	d := m.Chunks[k]
	if d == "" {
		clear(dst)
		return nil
	}
	chunk, err := readChunk(ctx, blobs, d, len(dst))
	if err == nil {
		err = DecodeSliceInto(dst, chunk, m.Columns, m.Rows)
	}
	if err != nil {
		msg := fmt.Sprintf("labelmap layer %d slice %d: chunk %s", m.Layer, k, d)
		if radmark.ErrorCode(err) == radmark.EINVALID || radmark.ErrorCode(err) == radmark.EUNSUPPORTED {
			// Stored data that does not decode is damage, not bad input.
			return radmark.WrapError(radmark.EINTERNAL, err, msg)
		}
		return fmt.Errorf("%s: %w", msg, err)
	}
	return nil
}

// maxChunkLen bounds the size of a valid chunk of an n-voxel slice: the
// header and a zstd frame of at most 2n bytes of run-length code (blocks
// of 128 KiB, 3 bytes of block header each, frame header and checksum).
func maxChunkLen(n int) int64 {
	return int64(headerLen + 2*n + 3*(2*n/(128<<10)+1) + 32)
}

// readChunk reads the chunk with digest d and checks its digest; it reads
// no more than a valid chunk of an n-voxel slice can hold.
func readChunk(ctx context.Context, blobs radmark.BlobStore, d string, n int) ([]byte, error) {
	rc, info, err := blobs.Get(ctx, Key(d))
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	limit := maxChunkLen(n)
	if info.Size > limit {
		return nil, fmt.Errorf("%w: %d bytes is more than a chunk of a %d-voxel slice can hold", ErrCorrupt, info.Size, n)
	}
	r := io.LimitReader(rc, limit+1)
	var data []byte
	if info.Size > 0 {
		// The usual case: read exactly the size the store reported, then
		// make sure nothing follows.
		data = make([]byte, info.Size)
		if _, err := io.ReadFull(r, data); err != nil {
			return nil, fmt.Errorf("reading %d bytes: %w", info.Size, err)
		}
		var one [1]byte
		if _, err := io.ReadFull(r, one[:]); err != io.EOF {
			return nil, fmt.Errorf("%w: the object is longer than the %d bytes its store reported", ErrCorrupt, info.Size)
		}
	} else if data, err = io.ReadAll(r); err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%w: more than the %d bytes a chunk of a %d-voxel slice can hold", ErrCorrupt, limit, n)
	}
	if got := Digest(data); got != d {
		return nil, fmt.Errorf("%w: the stored bytes have digest %s", ErrCorrupt, got)
	}
	return data, nil
}

// forEach calls fn(ctx, 0…n-1) on a bounded number of goroutines (chunk
// I/O: enough in flight to hide a remote store's latency) and returns the
// first error, cancelling the rest.
func forEach(ctx context.Context, n int, fn func(ctx context.Context, i int) error) error {
	if n == 0 {
		return ctx.Err()
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var (
		next  atomic.Int64
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	for range min(n, ioWorkers()) {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				if ctx.Err() != nil {
					return
				}
				if err := fn(ctx, i); err != nil {
					once.Do(func() { first = err; cancel(err) })
					return
				}
			}
		})
	}
	wg.Wait()
	if first != nil {
		return first
	}
	return context.Cause(ctx)
}

func ioWorkers() int { return min(max(8, 2*runtime.GOMAXPROCS(0)), 32) }
