package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/archive"
	"github.com/radmark/radmark/audit"
	"github.com/radmark/radmark/blob/fsblob"
	"github.com/radmark/radmark/internal/testdb"
	"github.com/radmark/radmark/phantom"
)

// plainBlobs hides everything of a blob store but radmark.BlobStore, as a
// store that cannot stage uploads (S3, say) would look to the archive.
type plainBlobs struct{ radmark.BlobStore }

type stowEnv struct {
	url   string
	store radmark.ArchiveStore
	blobs *fsblob.Store
}

func newStowEnv(t *testing.T, staging bool) *stowEnv {
	t.Helper()
	store := testdb.SQLite(t)
	blobs, err := fsblob.Open(t.Context(), filepath.Join(t.TempDir(), "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	var b radmark.BlobStore = blobs
	if !staging {
		b = plainBlobs{blobs}
	}
	srv := &Server{Archive: &archive.Service{Store: store, Blobs: b}, Version: "test", Logger: slog.New(slog.DiscardHandler), TempDir: t.TempDir()}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return &stowEnv{url: ts.URL, store: store, blobs: blobs}
}

type stowPart struct {
	contentType string
	data        []byte
}

func stowBody(parts []stowPart, broken bool) (string, []byte) {
	var buf bytes.Buffer
	const boundary = "stow-test-boundary"
	for _, p := range parts {
		fmt.Fprintf(&buf, "--%s\r\nContent-Type: %s\r\n\r\n", boundary, p.contentType)
		buf.Write(p.data)
		buf.WriteString("\r\n")
	}
	if broken {
		fmt.Fprintf(&buf, "--%s\r\nContent-Type: application/dicom\r\n\r\nthe body ends inside this part", boundary)
	} else {
		fmt.Fprintf(&buf, "--%s--\r\n", boundary)
	}
	return `multipart/related; type="application/dicom"; boundary=` + boundary, buf.Bytes()
}

// stow posts parts and returns the status and the SOP Instance UIDs of the
// referenced and failed sequences.
func (e *stowEnv) stow(t *testing.T, parts []stowPart, broken bool) (int, []string, []string) {
	t.Helper()
	ct, body := stowBody(parts, broken)
	req, _ := http.NewRequest("POST", e.url+"/dicomweb/studies", bytes.NewReader(body))
	req.Header.Set("Content-Type", ct)
	req.Header.Set("Accept", "application/dicom+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var doc map[string]struct {
		Value []map[string]struct {
			Value []any
		}
	}
	_ = json.Unmarshal(raw, &doc)
	uids := func(tag string) []string {
		var out []string
		for _, item := range doc[tag].Value {
			uid := ""
			if v := item["00081155"].Value; len(v) > 0 {
				uid, _ = v[0].(string)
			}
			out = append(out, uid)
		}
		return out
	}
	return resp.StatusCode, uids("00081199"), uids("00081198")
}

// check verifies that exactly the instances in want are indexed, each with
// its bytes stored under its digest, that no other blob is stored, and
// that no upload was left behind in the store's temp folder.
func (e *stowEnv) check(t *testing.T, want map[string][]byte) {
	t.Helper()
	ctx := context.Background()
	var keys []string
	for uid, data := range want {
		in, err := e.store.Instance(ctx, radmark.UID(uid))
		if err != nil {
			t.Fatalf("instance %s: %v", uid, err)
		}
		rc, _, err := e.blobs.Get(ctx, in.BlobKey)
		if err != nil {
			t.Fatalf("blob of %s: %v", uid, err)
		}
		got, _ := io.ReadAll(rc)
		rc.Close()
		if !bytes.Equal(got, data) {
			t.Fatalf("blob of %s differs from the part sent", uid)
		}
		keys = append(keys, in.BlobKey)
	}
	var stored []string
	if err := e.blobs.List(ctx, "", func(bi radmark.BlobInfo) error { stored = append(stored, bi.Key); return nil }); err != nil {
		t.Fatal(err)
	}
	slices.Sort(keys)
	slices.Sort(stored)
	if !slices.Equal(keys, stored) {
		t.Fatalf("blobs stored %q, indexed %q", stored, keys)
	}
	temps := 0
	_ = filepath.WalkDir(filepath.Join(e.blobs.Root(), ".tmp"), func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			temps++
		}
		return nil
	})
	if temps != 0 {
		t.Fatalf("%d temp files left behind", temps)
	}
	_, _, n, err := e.store.Counts(ctx)
	if err != nil || n != len(want) {
		t.Fatalf("index holds %d instances (%v), want %d", n, err, len(want))
	}
}

// TestStowIngest sends STOW-RS bodies through the server to a real archive,
// with parts received straight into the blob store and, for a store that
// cannot take them so, through memory: valid, refused and duplicate parts,
// a conflict, and a body that breaks.
func TestStowIngest(t *testing.T) {
	ct, err := phantom.Generate(phantom.CTSmall())
	if err != nil {
		t.Fatal(err)
	}
	files := make([][]byte, 6)
	uids := make([]string, 6)
	for k := range files {
		var buf bytes.Buffer
		if err := ct.Write(k, &buf); err != nil {
			t.Fatal(err)
		}
		files[k], uids[k] = buf.Bytes(), ct.SOPInstanceUID(k)
	}
	dcm := func(b []byte) stowPart { return stowPart{"application/dicom", b} }
	for _, staging := range []bool{true, false} {
		t.Run(fmt.Sprintf("staging=%v", staging), func(t *testing.T) {
			e := newStowEnv(t, staging)
			want := map[string][]byte{}

			parts := []stowPart{dcm(files[0]), {"application/pdf", []byte("%PDF")}, dcm(files[1]), dcm([]byte("not DICOM at all")), dcm(files[2])}
			status, ok, failed := e.stow(t, parts, false)
			if status != http.StatusAccepted || !slices.Equal(ok, uids[:3]) || len(failed) != 2 {
				t.Fatalf("mixed body: %d, referenced %q, failed %q", status, ok, failed)
			}
			for k := range 3 {
				want[uids[k]] = files[k]
			}
			e.check(t, want)

			// The same instances again are duplicates: stored once.
			status, ok, _ = e.stow(t, []stowPart{dcm(files[1]), dcm(files[0])}, false)
			if status != http.StatusOK || !slices.Equal(ok, []string{uids[1], uids[0]}) {
				t.Fatalf("duplicates: %d, referenced %q", status, ok)
			}
			e.check(t, want)

			// Other bytes under a stored SOP Instance UID: a conflict, and
			// the new bytes are not kept.
			changed := bytes.Clone(files[0])
			changed[len(changed)-1] ^= 0xff
			status, _, failed = e.stow(t, []stowPart{dcm(changed)}, false)
			if status != http.StatusConflict || !slices.Equal(failed, uids[:1]) {
				t.Fatalf("conflict: %d, failed %q", status, failed)
			}
			e.check(t, want)

			// A body that breaks after two complete parts: an error, the
			// complete parts are stored and indexed, nothing else is kept.
			status, _, _ = e.stow(t, []stowPart{dcm(files[3]), dcm(files[4])}, true)
			if status != http.StatusBadRequest {
				t.Fatalf("broken body: %d", status)
			}
			want[uids[3]], want[uids[4]] = files[3], files[4]
			e.check(t, want)

			// Many parts, more than one ingest batch.
			var many []stowPart
			for range batchParts + 3 {
				many = append(many, dcm(files[5]))
			}
			status, ok, _ = e.stow(t, many, false)
			if status != http.StatusOK || len(ok) != batchParts+3 || strings.Trim(strings.Join(ok, ""), uids[5]) != "" {
				t.Fatalf("many parts: %d, %d referenced", status, len(ok))
			}
			want[uids[5]] = files[5]
			e.check(t, want)
		})
	}
}

// gatedAppender is an audit store that holds every append until release
// is closed, and fails them when fail is set.
type gatedAppender struct {
	called  chan struct{}
	release chan struct{}
	fail    bool
}

func (g *gatedAppender) AppendAudit(context.Context, ...*radmark.AuditEvent) error {
	select {
	case g.called <- struct{}{}:
	default:
	}
	<-g.release
	if g.fail {
		return errors.New("database is read-only")
	}
	return nil
}

// TestStowStoresItsAuditEvent checks where a store request's audit event
// goes: with the instances it stores, in their index transaction, so a
// request that stores something needs nothing else of the audit trail;
// a request that stores nothing records its event through the trail
// before it is answered, and is answered 503 when that fails.
func TestStowStoresItsAuditEvent(t *testing.T) {
	ct, err := phantom.Generate(phantom.CTSmall())
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := ct.Write(0, &buf); err != nil {
		t.Fatal(err)
	}
	file, uid := buf.Bytes(), ct.SOPInstanceUID(0)
	notDICOM := []stowPart{{"application/dicom", []byte("not a DICOM file")}}
	for _, trailWorks := range []bool{false, true} {
		t.Run(fmt.Sprintf("trail works=%v", trailWorks), func(t *testing.T) {
			store := testdb.SQLite(t)
			blobs, err := fsblob.Open(t.Context(), filepath.Join(t.TempDir(), "blobs"))
			if err != nil {
				t.Fatal(err)
			}
			app := &gatedAppender{called: make(chan struct{}, 1), release: make(chan struct{}), fail: !trailWorks}
			rec := audit.NewRecorder(app, 0)
			var releaseOnce sync.Once
			release := func() { releaseOnce.Do(func() { close(app.release) }) }
			defer rec.Close()
			srv := &Server{Archive: &archive.Service{Store: store, Blobs: blobs}, Audit: rec, Version: "test", Logger: slog.New(slog.DiscardHandler), TempDir: t.TempDir()}
			ts := httptest.NewServer(srv.Handler())
			defer ts.Close()
			// Released before the server and the recorder close, which
			// wait for the request and its event.
			defer release()
			e := &stowEnv{url: ts.URL, store: store, blobs: blobs}
			stores := func() []*radmark.AuditEvent {
				t.Helper()
				events, err := store.AuditEvents(t.Context(), radmark.AuditFilter{Action: "dicomweb.store"})
				if err != nil {
					t.Fatal(err)
				}
				return events
			}

			// Stored: the event is on the chain, though the trail's own
			// appender was never asked (it would hold the answer back).
			status, ok, _ := e.stow(t, []stowPart{{"application/dicom", file}}, false)
			if status != http.StatusOK || !slices.Equal(ok, []string{uid}) {
				t.Fatalf("store: %d, referenced %q", status, ok)
			}
			if events := stores(); len(events) != 1 || events[0].Actor != "anonymous" {
				t.Fatalf("events of the store request: %+v", events)
			}
			e.check(t, map[string][]byte{uid: file})

			// Nothing stored: the answer waits for the trail.
			type answer struct{ status int }
			answered := make(chan answer, 1)
			go func() {
				status, _, _ := e.stow(t, notDICOM, false)
				answered <- answer{status}
			}()
			<-app.called
			time.Sleep(200 * time.Millisecond)
			select {
			case a := <-answered:
				t.Fatalf("answered %d before the audit event was stored", a.status)
			default:
			}
			release()
			a := <-answered
			want := http.StatusConflict
			if !trailWorks {
				want = http.StatusServiceUnavailable
			}
			if a.status != want {
				t.Fatalf("a request storing nothing, its event stored=%v: %d, want %d", trailWorks, a.status, want)
			}
			e.check(t, map[string][]byte{uid: file})
		})
	}
}
