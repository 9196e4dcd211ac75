package archive

import (
	"context"
	"io"

	"github.com/radmark/radmark"
)

// Uploads. A blob store that can take an object's bytes before its key is
// known (fsblob does) lets an instance be received straight into the
// store: the bytes are written once, hashed on the way, and named by their
// digest when the instance is ingested. Without that, the receiver keeps
// the bytes in memory or a spool file and the store copies them.

// stager is a blob store that can stage objects. The writer it returns
// must implement stagedBlob; it is typed io.WriteCloser so that the store
// needs no type of this package.
type stager interface {
	Stage(ctx context.Context) (io.WriteCloser, error)
}

// stagedBlob is an object being written whose key is not known yet.
type stagedBlob interface {
	io.WriteCloser // Close abandons it unless it was committed
	io.ReaderAt
	Size() int64
	SHA256() string
	Commit(ctx context.Context, key string) (radmark.BlobInfo, error)
}

// syncer is a staged blob that can be made durable before it is named,
// so that the fsync overlaps with parsing and checking the instance.
type syncer interface {
	Sync() error
}

// keyedSyncer is a syncer that wants the key the blob will be committed
// under (a journaling store writes key and bytes in one record).
type keyedSyncer interface {
	SyncAs(key string) error
}

// Upload is an instance being received into the blob store; see
// NewUpload.
type Upload struct {
	st stagedBlob
}

// NewUpload starts receiving an instance into the blob store. It returns
// nil and no error when the store cannot take bytes before their key is
// known; the caller then keeps them itself and makes a Source of them.
// Write the bytes, then pass Source to Ingest or Batch.Add, which own the
// upload from then on; Close abandons an upload not handed over.
func (s *Service) NewUpload(ctx context.Context) (*Upload, error) {
	sg, ok := s.Blobs.(stager)
	if !ok {
		return nil, nil
	}
	w, err := sg.Stage(ctx)
	if err != nil {
		return nil, radmark.WrapError(radmark.EUNAVAILABLE, err, "the blob store is unavailable")
	}
	st, ok := w.(stagedBlob)
	if !ok {
		_ = w.Close()
		return nil, nil
	}
	return &Upload{st: st}, nil
}

// Write appends p to the instance's bytes.
func (u *Upload) Write(p []byte) (int, error) { return u.st.Write(p) }

// Size is how many bytes were written.
func (u *Upload) Size() int64 { return u.st.Size() }

// Close abandons the upload if it was not ingested; it is safe after
// ingest, and more than once.
func (u *Upload) Close() error { return u.st.Close() }

// Source is the upload as a source to ingest. Its digest is left to the
// ingest, which may compute it while the bytes are being made durable.
func (u *Upload) Source(name string) Source {
	return Source{Name: name, Data: u.st, Size: u.st.Size(), staged: u.st}
}
