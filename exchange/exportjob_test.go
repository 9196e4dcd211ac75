package exchange_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/exchange"
	"github.com/radmark/radmark/internal/testdb"
	"github.com/radmark/radmark/internal/testenv"
	"github.com/radmark/radmark/job"
)

// TestExportJobs runs every export format but nnunet (which refuses the
// phantom's overlapping layers; cmd/radmark's server test covers it) as a
// background job on both engines: the stored file is byte for byte the offline export (a folder
// export's tar unpacks to the offline folder), and bad requests fail the
// job with a clear error and store nothing.
func TestExportJobs(t *testing.T) {
	for _, eng := range testdb.Engines {
		t.Run(eng.Name, func(t *testing.T) {
			e := newEnvOn(t, eng.Open)
			ser := ctPhantom(t)
			e.ingestDatasets(ser.Instances...)
			rev := e.annotatePhantom(ser, "reader-1")
			series := radmark.UID(ser.SeriesInstanceUID)
			jobs := e.store.(job.Store)
			x := &exchange.Exports{Exchange: e.x, Blobs: e.blobs, TempDir: t.TempDir()}
			runner := &job.Runner{Store: jobs, Owner: "test", Handlers: x.Handlers(), Logger: slog.New(slog.DiscardHandler)}
			layer0, layer1 := 0, 1
			tests := []exchange.ExportRequest{
				{Format: "seg", Series: series},
				{Format: "seg", Revision: rev.ID},
				{Format: "nifti", Series: series},
				// The phantom's layers overlap: each is exported alone.
				{Format: "nifti-labels", Series: series, Layer: &layer0},
				{Format: "nifti-labels", Revision: rev.ID, Layer: &layer1},
				{Format: "rtstruct", Series: series},
				{Format: "sr", Set: rev.SetID},
				{Format: "measurements", Table: "json"},
				{Format: "measurements"},
				{Format: "coco"},
			}
			for _, req := range tests {
				j := runJob(t, runner, jobs, e.project.ID, req)
				if j.State != job.Succeeded {
					t.Fatalf("%+v: job %s: %s", req, j.State, j.Error)
				}
				var res exchange.ExportResult
				if err := json.Unmarshal(j.Result, &res); err != nil {
					t.Fatal(err)
				}
				if res.Format != req.Format || res.Summary == "" || res.Size == 0 || len(res.SHA256) != 64 {
					t.Errorf("%+v: result %+v", req, res)
				}
				rc, info, err := e.blobs.Get(t.Context(), exchange.ExportKey(j.ID))
				if err != nil {
					t.Fatal(err)
				}
				stored, _ := io.ReadAll(rc)
				rc.Close()
				if info.Size != res.Size {
					t.Errorf("%s: stored %d bytes, result says %d", req.Format, info.Size, res.Size)
				}
				if !res.Folder {
					var offline bytes.Buffer
					if _, err := e.x.ExportFile(t.Context(), e.op, e.project.ID, req, &offline); err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(stored, offline.Bytes()) {
						t.Errorf("%+v: the job's file (%d bytes) differs from the offline export (%d bytes)", req, len(stored), offline.Len())
					}
					continue
				}
				dir := filepath.Join(t.TempDir(), "offline")
				if _, err := e.x.ExportFolder(t.Context(), e.op, e.project.ID, req, dir); err != nil {
					t.Fatal(err)
				}
				unpacked := filepath.Join(t.TempDir(), "unpacked")
				if err := exchange.ExtractFolderTar(bytes.NewReader(stored), unpacked); err != nil {
					t.Fatal(err)
				}
				if a, b := testenv.ReadTree(t, dir), testenv.ReadTree(t, unpacked); !equalFiles(a, b) {
					t.Errorf("%s: the job's folder %v differs from the offline export %v", req.Format, keys(b), keys(a))
				}
			}

			// Bad requests: the job fails naming what is wrong; no file.
			other, err := e.ann.CreateProject(t.Context(), e.op, "Other", "")
			if err != nil {
				t.Fatal(err)
			}
			for _, bad := range []struct {
				project radmark.ID
				req     exchange.ExportRequest
				want    string
			}{
				{e.project.ID, exchange.ExportRequest{Format: "seg", Revision: "no-such-revision"}, "no-such-revision"},
				{other.ID, exchange.ExportRequest{Format: "seg", Revision: rev.ID}, "is not in project"},
				{other.ID, exchange.ExportRequest{Format: "nifti", Series: series}, "has no annotation set on series"},
				{e.project.ID, exchange.ExportRequest{Format: "seg"}, "needs a series or a revision"},
				{e.project.ID, exchange.ExportRequest{Format: "measurements", Table: "xml"}, "want csv or json"},
			} {
				if err := e.x.ResolveExport(t.Context(), e.op, bad.project, &bad.req); err == nil || !strings.Contains(err.Error(), bad.want) {
					t.Errorf("resolve %+v: %v, want %q", bad.req, err, bad.want)
				}
				j := runJob(t, runner, jobs, bad.project, bad.req)
				if j.State != job.Failed || !strings.Contains(j.Error, bad.want) {
					t.Errorf("job %+v: %s %q, want failed with %q", bad.req, j.State, j.Error, bad.want)
				}
				if _, _, err := e.blobs.Get(t.Context(), exchange.ExportKey(j.ID)); radmark.ErrorCode(err) != radmark.ENOTFOUND {
					t.Errorf("a failed export job stored a file: %v", err)
				}
			}
			staging, _ := os.ReadDir(x.TempDir)
			if len(staging) != 0 {
				t.Errorf("staging files left: %v", staging)
			}
		})
	}
}

func runJob(t *testing.T, r *job.Runner, s job.Store, project radmark.ID, req exchange.ExportRequest) *job.Job {
	t.Helper()
	ctx := context.Background()
	j, err := job.Enqueue(ctx, s, "reader-1", "", exchange.ExportJobKind(req.Format), project, req)
	if err != nil {
		t.Fatal(err)
	}
	if ran, err := r.RunOne(ctx, []string{j.Kind}); !ran || err != nil {
		t.Fatalf("run job: %v %v", ran, err)
	}
	if j, err = s.Job(ctx, j.ID); err != nil {
		t.Fatal(err)
	}
	return j
}

func equalFiles(a, b map[string][]byte) bool {
	if len(a) != len(b) || len(a) == 0 {
		return false
	}
	for k, v := range a {
		if !bytes.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
