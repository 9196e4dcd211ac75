package httpapi

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/audit"
	"github.com/radmark/radmark/internal/testdb"
)

type failingAppender struct{}

func (failingAppender) AppendAudit(context.Context, ...*radmark.AuditEvent) error {
	return errors.New("database is read-only")
}

// TestDICOMwebReadsAreAudited checks that image reads and searches leave
// an event naming the object, and that nothing is served when the event
// cannot be stored.
func TestDICOMwebReadsAreAudited(t *testing.T) {
	e := newAPIEnv(t, testdb.Engines[0])
	store := e.srv.Annotations.Store
	rec := audit.NewRecorder(store, 0)
	defer rec.Close()
	e.srv.Audit = rec
	ts := httptest.NewServer(e.srv.Handler())
	defer ts.Close()
	study, series, sop := e.ct.StudyInstanceUID, e.ct.SeriesInstanceUID, e.ct.SOPInstanceUID(5)
	get := func(path string) int {
		resp, err := http.Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, tt := range []struct{ path, action, objectType, objectID string }{
		{"/dicomweb/studies/" + study + "/series/" + series + "/instances/" + sop + "/frames/1", "dicomweb.read", "instance", sop},
		{"/dicomweb/studies/" + study + "/metadata", "dicomweb.read", "study", study},
		{"/dicomweb/studies?PatientID=*", "dicomweb.search", "archive", ""},
		{"/dicomweb/studies/" + study + "/series", "dicomweb.search", "study", study},
	} {
		if st := get(tt.path); st != 200 {
			t.Fatalf("GET %s: %d", tt.path, st)
		}
		events, err := store.AuditEvents(t.Context(), radmark.AuditFilter{Action: tt.action, ObjectType: tt.objectType, ObjectID: tt.objectID})
		if err != nil {
			t.Fatal(err)
		}
		if len(events) == 0 || events[len(events)-1].Detail == "" || events[len(events)-1].Actor != "anonymous" {
			t.Errorf("GET %s left no %s event on %s %s: %+v", tt.path, tt.action, tt.objectType, tt.objectID, events)
		}
	}

	// Frames of one series: the first read is recorded and covers the next.
	before, _ := store.AuditEvents(t.Context(), radmark.AuditFilter{Action: "dicomweb.read", Limit: 1000})
	for k := 6; k < 9; k++ {
		if st := get("/dicomweb/studies/" + study + "/series/" + series + "/instances/" + e.ct.SOPInstanceUID(k) + "/frames/1"); st != 200 {
			t.Fatalf("frame %d: %d", k, st)
		}
	}
	after, _ := store.AuditEvents(t.Context(), radmark.AuditFilter{Action: "dicomweb.read", Limit: 1000})
	if len(after) != len(before) {
		t.Errorf("frames of a series already read were recorded again: %d new events", len(after)-len(before))
	}
	if first := before[0]; !strings.Contains(first.Detail, "pixel reads of series "+series) {
		t.Errorf("the first frame read does not say what it covers: %q", first.Detail)
	}

	// An audit trail that cannot record refuses the read.
	broken := audit.NewRecorder(failingAppender{}, 0)
	defer broken.Close()
	srv := &Server{Archive: e.srv.Archive, Audit: broken, Logger: slog.New(slog.DiscardHandler)}
	ts2 := httptest.NewServer(srv.Handler())
	defer ts2.Close()
	resp, err := http.Get(ts2.URL + "/dicomweb/studies/" + study + "/metadata")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("read with a broken audit trail: %d %s", resp.StatusCode, body)
	}
}
