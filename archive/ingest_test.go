package archive

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/blob/fsblob"
	"github.com/radmark/radmark/dicom"
	"github.com/radmark/radmark/phantom"
	"github.com/radmark/radmark/sqlite"
)

func newService(t *testing.T) (*Service, *sqlite.DB) {
	t.Helper()
	dir := t.TempDir()
	db, err := sqlite.Open(context.Background(), "sqlite://"+filepath.Join(dir, "radmark.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	blobs, err := fsblob.Open(context.Background(), filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	return &Service{Store: db, Blobs: blobs}, db
}

func slice(t *testing.T, k int, comment string) Source {
	t.Helper()
	s, err := phantom.Generate(phantom.CTSmall())
	if err != nil {
		t.Fatal(err)
	}
	ds := s.Instances[k]
	if comment != "" {
		ds.SetString(dicom.TagImageComments, comment)
	}
	var buf bytes.Buffer
	if err := dicom.WriteFile(&buf, ds, dicom.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	return Source{Name: comment, Data: bytes.NewReader(buf.Bytes()), Size: int64(buf.Len())}
}

func blobCount(t *testing.T, s *Service) int {
	n := 0
	if err := s.Blobs.List(context.Background(), "", func(radmark.BlobInfo) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestIngestLifecycle: store, identical re-send, conflict, overwrite, and
// a batch holding two versions of one instance — and after each step the
// blob store holds exactly the blobs the index refers to.
func TestIngestLifecycle(t *testing.T) {
	ctx := context.Background()
	svc, _ := newService(t)
	steps := []struct {
		name      string
		sources   []Source
		overwrite bool
		want      []string // status or error code per source
		blobs     int
	}{
		{"new", []Source{slice(t, 5, "")}, false, []string{"stored"}, 1},
		{"identical", []Source{slice(t, 5, "")}, false, []string{"duplicate"}, 1},
		{"other bytes", []Source{slice(t, 5, "v2")}, false, []string{radmark.ECONFLICT}, 1},
		{"overwrite", []Source{slice(t, 5, "v2")}, true, []string{"replaced"}, 1},
		{"two versions in one batch", []Source{slice(t, 6, "a"), slice(t, 6, "b")}, false, []string{"stored", radmark.ECONFLICT}, 2},
		{"not DICOM", []Source{{Name: "x", Data: bytes.NewReader([]byte("nope")), Size: 4}}, false, []string{radmark.EINVALID}, 2},
	}
	for _, st := range steps {
		res, err := svc.Ingest(ctx, st.sources, IngestOptions{Overwrite: st.overwrite})
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		for i, r := range res {
			got := r.Status.String()
			if r.Err != nil {
				got = radmark.ErrorCode(r.Err)
			}
			if got != st.want[i] {
				t.Errorf("%s: source %d: %s (%v), want %s", st.name, i, got, r.Err, st.want[i])
			}
		}
		if n := blobCount(t, svc); n != st.blobs {
			t.Errorf("%s: %d blobs, want %d", st.name, n, st.blobs)
		}
	}
	in, err := svc.Store.Instance(ctx, radmark.UID(mustSOP(t, slice(t, 5, "v2"))))
	if err != nil {
		t.Fatal(err)
	}
	rc, err := svc.Open(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	rc.Close()
}

func mustSOP(t *testing.T, s Source) string {
	f, err := dicom.Parse(bytesReader(s), s.Size, dicom.ParseOptions{StopAtPixelData: true})
	if err != nil {
		t.Fatal(err)
	}
	return f.Dataset.String(dicom.TagSOPInstanceUID)
}

func bytesReader(s Source) *bytes.Reader { return s.Data.(*bytes.Reader) }

// TestIngestIndexFailureLeavesNoBlob: when the index cannot take the
// instance the blob written for it is removed again.
func TestIngestIndexFailureLeavesNoBlob(t *testing.T) {
	svc, db := newService(t)
	db.Close()
	res, err := svc.Ingest(context.Background(), []Source{slice(t, 3, "")}, IngestOptions{})
	if err == nil && res[0].Err == nil {
		t.Fatal("ingest into a closed index succeeded")
	}
	if n := blobCount(t, svc); n != 0 {
		t.Errorf("%d blobs left behind", n)
	}
}

// TestFramesAndRendering reads frames and renders them from stored
// phantom slices; the HU at a known lesion voxel must come back.
func TestFramesAndRendering(t *testing.T) {
	ctx := context.Background()
	svc, _ := newService(t)
	p, _ := phantom.New(phantom.CTSmall())
	// Lung nodule centre in CTSmall: voxel (36, 64, 53), HU 30.
	src := slice(t, 53, "")
	if _, err := svc.Ingest(ctx, []Source{src}, IngestOptions{}); err != nil {
		t.Fatal(err)
	}
	in, err := svc.Store.Instance(ctx, radmark.UID(mustSOP(t, src)))
	if err != nil {
		t.Fatal(err)
	}
	frame, err := svc.RawFrame(ctx, in, 1)
	if err != nil {
		t.Fatal(err)
	}
	cols, _, _ := p.Dims()
	i := (64*cols + 36) * 2
	stored := int(frame[i]) | int(frame[i+1])<<8
	if hu := stored - 1024; hu != 30 {
		t.Errorf("HU at the nodule centre %d, want 30", hu)
	}
	img, err := svc.Rendered(ctx, in, RenderOptions{MaxWidth: 64})
	if err != nil || img.Bounds().Dx() != 64 {
		t.Errorf("rendered: %v %v", img, err)
	}
	if _, err := svc.RawFrame(ctx, in, 2); radmark.ErrorCode(err) != radmark.ENOTFOUND {
		t.Errorf("frame 2 of a single-frame image: %v", err)
	}
}

// FuzzIndex feeds arbitrary bytes through everything ingest does before
// touching storage: parsing, validation, pixel location, metadata and
// attribute encoding. It must never panic.
func FuzzIndex(f *testing.F) {
	s, err := phantom.Generate(phantom.CTSmall())
	if err != nil {
		f.Fatal(err)
	}
	var buf bytes.Buffer
	if err := dicom.WriteFile(&buf, s.Instances[1], dicom.WriteOptions{}); err != nil {
		f.Fatal(err)
	}
	src := Source{Data: bytes.NewReader(buf.Bytes()), Size: int64(buf.Len())}
	b := make([]byte, src.Size)
	_, _ = src.Data.ReadAt(b, 0)
	f.Add(b)
	f.Add(b[:len(b)/2])
	f.Add([]byte("DICM"))
	svc := &Service{}
	f.Fuzz(func(t *testing.T, data []byte) {
		rec, ds, err := svc.index(Source{Name: "fuzz", Data: bytes.NewReader(data), Size: int64(len(data))})
		if err != nil {
			if radmark.ErrorCode(err) == radmark.EINTERNAL {
				t.Fatalf("internal error on input: %v", err)
			}
			return
		}
		if rec.Instance.SOPInstanceUID == "" || ds == nil {
			t.Fatal("accepted an instance without a SOP Instance UID")
		}
		if _, err := DecodeMetadata(rec.Instance.Metadata, "http://x/"); err != nil {
			t.Fatalf("metadata does not decode: %v", err)
		}
	})
}
