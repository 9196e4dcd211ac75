package httpapi

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/exchange"
	"github.com/radmark/radmark/job"
)

// TestExportAndImportRoutes: only managers start export jobs and download
// their files, a bad request fails before any job is queued, the file is
// there once the job has succeeded (409 before), and importing for another
// reader than oneself needs a manager.
func TestExportAndImportRoutes(t *testing.T) {
	e := newAuthzEnv(t)
	jobs := e.store.(job.Store)
	x := &exchange.Service{Annotations: e.srv.Annotations, Images: e.srv.Archive, Software: "test"}
	e.srv.Jobs, e.srv.Exports = jobs, &exchange.Exports{Exchange: x, Blobs: e.srv.Annotations.Blobs, TempDir: t.TempDir()}
	e.ts = httptest.NewServer(e.srv.Handler())
	t.Cleanup(e.ts.Close)
	exports := apiRoot + "/projects/" + string(e.project) + "/exports"

	for _, tt := range []struct {
		user, body string
		status     int
		want       string
	}{
		{"ann", `{"format":"measurements"}`, http.StatusForbidden, ""},
		{"view", `{"format":"measurements"}`, http.StatusForbidden, ""},
		{"mgr", `{"format":"xml"}`, http.StatusBadRequest, "unknown export format"},
		{"mgr", `{"format":"seg","revision":"no-such-revision"}`, http.StatusNotFound, "no-such-revision"},
		{"mgr", `{"format":"nifti","series":"1.2.3.4"}`, http.StatusNotFound, "no annotation set on series 1.2.3.4"},
	} {
		if st, b := e.call(t, tt.user, "POST", exports, tt.body); st != tt.status || !strings.Contains(string(b), tt.want) {
			t.Errorf("%s POST exports %s = %d %s, want %d with %q", tt.user, tt.body, st, b, tt.status, tt.want)
		}
	}
	if list, err := jobs.Jobs(t.Context(), e.project, 10); err != nil || len(list) != 0 {
		t.Fatalf("refused requests queued jobs: %v %v", list, err)
	}

	st, b := e.call(t, "mgr", "POST", exports, `{"format":"measurements","table":"json"}`)
	var j job.Job
	if st != http.StatusAccepted || json.Unmarshal(b, &j) != nil || j.Kind != "export.measurements" {
		t.Fatalf("start an export: %d %s", st, b)
	}
	file := apiRoot + "/jobs/" + string(j.ID) + "/file"
	if st, b := e.call(t, "mgr", "GET", file, ""); st != http.StatusConflict || !strings.Contains(string(b), "queued") {
		t.Errorf("the file of a queued job: %d %s", st, b)
	}
	runner := &job.Runner{Store: jobs, Handlers: e.srv.Exports.Handlers(), Logger: slog.New(slog.DiscardHandler)}
	if ran, err := runner.RunOne(context.Background(), []string{j.Kind}); !ran || err != nil {
		t.Fatalf("run the job: %v %v", ran, err)
	}
	if st, b := e.call(t, "ann", "GET", file, ""); st != http.StatusForbidden {
		t.Errorf("an annotator downloaded an export: %d %s", st, b)
	}
	st, b = e.call(t, "mgr", "GET", file, "")
	var rows []map[string]any
	if st != 200 || json.Unmarshal(b, &rows) != nil {
		t.Errorf("download: %d %s", st, b)
	}
	if st, b := e.call(t, "mgr", "GET", apiRoot+"/jobs/"+string(j.ID), ""); st != 200 || !strings.Contains(string(b), `"succeeded"`) {
		t.Errorf("the job: %d %s", st, b)
	}

	imports := apiRoot + "/projects/" + string(e.project)
	for _, tt := range []struct {
		user, path string
		status     int
		want       string
	}{
		{"ann", "/readers/ann2/imports?format=seg", http.StatusForbidden, ""},
		{"view", "/imports?format=seg", http.StatusForbidden, ""},
		{"mgr", "/imports?format=seg", http.StatusForbidden, ""},
		{"ann", "/imports?format=xml", http.StatusBadRequest, "no file"},
		{"ann", "/imports?format=seg", http.StatusBadRequest, "SEG"},
		{"mgr", "/readers/model-x/imports?format=seg", http.StatusBadRequest, "SEG"},
		{"mgr", "/readers/model-x/imports?format=xml", http.StatusBadRequest, "unknown import format"},
	} {
		body := "not a DICOM file"
		if strings.Contains(tt.want, "no file") {
			body = ""
		}
		st, b := e.call(t, tt.user, "POST", imports+tt.path, body)
		if st != tt.status || !strings.Contains(string(b), tt.want) {
			t.Errorf("%s POST %s = %d %s, want %d with %q", tt.user, tt.path, st, b, tt.status, tt.want)
		}
		if st == http.StatusBadRequest && !strings.Contains(string(b), radmark.EINVALID) {
			t.Errorf("%s POST %s: %s", tt.user, tt.path, b)
		}
	}
}
