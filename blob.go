package radmark

import (
	"context"
	"io"
	"time"
)

// BlobInfo describes one stored object.
type BlobInfo struct {
	Key     string
	Size    int64
	SHA256  string // hex digest of the object's bytes, computed while writing
	ModTime time.Time
}

// PendingBlob is an object a blob store has written but not yet made
// durable: its owner overlaps other work with the disk, then calls Wait,
// which makes it durable and visible, or Abandon. Indexed tells the store
// that the owner's own record of the object (an index row) is committed.
type PendingBlob interface {
	Wait() (BlobInfo, error)
	Abandon()
	Indexed()
}

// BlobStore keeps immutable objects by key. It is shaped like S3 so an
// object-storage driver can implement it as well as the local filesystem
// driver: whole-object put, get, ranged get, delete and list by prefix.
type BlobStore interface {
	// Put stores the bytes of r under key atomically: readers see either
	// the previous object or the complete new one, never a partial write, and
	// once Put returns the object survives a crash. size is the expected
	// length, or -1 if unknown; a mismatch fails the put and stores nothing.
	Put(ctx context.Context, key string, r io.Reader, size int64) (BlobInfo, error)
	// Get opens the object; ENOTFOUND if there is none. The caller closes it.
	Get(ctx context.Context, key string) (io.ReadCloser, BlobInfo, error)
	// GetRange opens length bytes starting at offset; EINVALID if the range
	// lies outside the object.
	GetRange(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error)
	// Stat describes the object without reading it (SHA256 may be empty).
	Stat(ctx context.Context, key string) (BlobInfo, error)
	// Delete removes the object; deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error
	// List calls fn for every object whose key starts with prefix, in key
	// order, until fn returns an error (which List then returns).
	List(ctx context.Context, prefix string, fn func(BlobInfo) error) error
}
