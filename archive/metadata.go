package archive

import (
	"bytes"
	"fmt"
	"sync"

	"github.com/klauspost/compress/zstd"

	"github.com/radmark/radmark/dicom"
)

// Instance metadata is stored as the instance's DICOM JSON, compressed with
// zstd (a CT header's 6 KB becomes about 1.5 KB, which matters with
// millions of rows). Bulk data in it points at bulkPlaceholder+path; the
// placeholder becomes the instance's real bulkdata URL when served, so the
// stored form does not depend on the server's address.
const bulkPlaceholder = "radmark-bulk:"

// inlineBinaryLimit: binary values up to this size are inlined in metadata,
// larger ones are referenced by BulkDataURI.
const inlineBinaryLimit = 1024

var (
	zenc, _ = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1))
	zdec, _ = zstd.NewReader(nil, zstd.WithDecoderConcurrency(0))
	bufs    = sync.Pool{New: func() any { return new(bytes.Buffer) }}
)

// instanceMetadata encodes ds as stored metadata.
func instanceMetadata(ds *dicom.Dataset) []byte {
	buf := bufs.Get().(*bytes.Buffer)
	defer bufs.Put(buf)
	buf.Reset()
	dicom.AppendJSON(buf, ds, dicom.JSONOptions{BulkDataURI: bulkURI})
	return zenc.EncodeAll(buf.Bytes(), nil)
}

func bulkURI(path string, e *dicom.Element) string {
	if e.Bulk || e.Encapsulated || len(e.Value) > inlineBinaryLimit {
		return bulkPlaceholder + path
	}
	return ""
}

// DecodeMetadata returns the stored metadata as DICOM JSON, with every
// BulkDataURI made absolute under bulkBase (the instance's URL followed by
// "/bulkdata/").
func DecodeMetadata(stored []byte, bulkBase string) ([]byte, error) {
	raw, err := zdec.DecodeAll(stored, nil)
	if err != nil {
		return nil, fmt.Errorf("decode stored metadata: %w", err)
	}
	if bulkBase == "" {
		return raw, nil
	}
	return bytes.ReplaceAll(raw, []byte(`"`+bulkPlaceholder), []byte(`"`+bulkBase)), nil
}

// attributesJSON encodes the top-level elements of ds whose tags are in
// keep, as a DICOM JSON object.
func attributesJSON(ds *dicom.Dataset, keep map[dicom.Tag]bool) []byte {
	return dicom.MarshalJSON(ds, dicom.JSONOptions{
		Keep:        func(t dicom.Tag) bool { return keep[t] },
		BulkDataURI: func(string, *dicom.Element) string { return "" },
	})
}
