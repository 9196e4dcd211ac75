package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/exchange"
	"github.com/radmark/radmark/internal/testdb"
	"github.com/radmark/radmark/job"
	"github.com/radmark/radmark/release"
)

// TestExportRetention, on both engines: the files of export jobs finished
// longer ago than the retention are deleted by two sweepers racing (each
// file once, neither fails), their jobs stay and say the file expired, the
// download answers 410 saying why and how to export again; a newer export
// and a release are kept; a sweeper that stops between marking and
// deleting leaves the file to another once its lease has run out; and a
// retention of 0 keeps everything.
func TestExportRetention(t *testing.T) {
	for _, eng := range testdb.Engines {
		t.Run(eng.Name, func(t *testing.T) {
			e := newAuthzEnvOn(t, eng)
			ctx := t.Context()
			jobs := e.srv.Jobs
			keep := 7 * 24 * time.Hour
			e.srv.Exports.Keep = keep
			blobs := e.srv.Exports.Blobs
			runner := &job.Runner{Store: jobs, Owner: "runner", Logger: slog.New(slog.DiscardHandler),
				Handlers: e.srv.Exports.Handlers()}
			runner.Handlers[release.JobKind] = e.srv.Releases.RunJob
			start := func(path, body string) *job.Job {
				t.Helper()
				st, b := e.call(t, "mgr", "POST", apiRoot+"/projects/"+string(e.project)+path, body)
				var j job.Job
				if st != http.StatusAccepted || json.Unmarshal(b, &j) != nil {
					t.Fatalf("POST %s: %d %s", path, st, b)
				}
				if ran, err := runner.RunOne(ctx, []string{j.Kind}); !ran || err != nil {
					t.Fatalf("run %s: %v %v", j.Kind, ran, err)
				}
				got, err := jobs.Job(ctx, j.ID)
				if err != nil || got.State != job.Succeeded {
					t.Fatalf("job %s: %+v %v", j.Kind, got, err)
				}
				time.Sleep(5 * time.Millisecond) // each job finishes at its own time
				return got
			}
			rel := start("/releases", `{"revisions":["`+string(e.revision.ID)+`"],"fractions":{"train":1,"validation":0,"test":0},"seed":1}`)
			var old []*job.Job
			for range 4 {
				old = append(old, start("/exports", `{"format":"measurements","table":"json"}`))
			}
			newer := start("/exports", `{"format":"measurements"}`)
			// now puts the retention's cutoff between the old exports and the newer one.
			now := old[len(old)-1].FinishedAt.Add(keep + newer.FinishedAt.Sub(*old[len(old)-1].FinishedAt)/2)

			var mu sync.Mutex
			deletes := map[radmark.ID]int{}
			sweeper := func(owner string) *job.Retention {
				r := e.srv.Exports.Retention(jobs, slog.New(slog.DiscardHandler))
				r.Owner, r.Batch = owner, 1
				del := r.Delete
				r.Delete = func(ctx context.Context, j *job.Job) error {
					mu.Lock()
					deletes[j.ID]++
					mu.Unlock()
					return del(ctx, j)
				}
				return r
			}
			var wg sync.WaitGroup
			counts, errs := make([]int, 2), make([]error, 2)
			for i, r := range []*job.Retention{sweeper("replica-a"), sweeper("replica-b")} {
				wg.Go(func() { counts[i], errs[i] = r.Sweep(ctx, now) })
			}
			wg.Wait()
			if errs[0] != nil || errs[1] != nil {
				t.Fatalf("racing sweeps failed: %v, %v", errs[0], errs[1])
			}
			if counts[0]+counts[1] != len(old) {
				t.Errorf("the sweeps deleted %d + %d files, want %d", counts[0], counts[1], len(old))
			}
			for _, j := range old {
				if deletes[j.ID] != 1 {
					t.Errorf("the file of job %s was deleted %d times, want once", j.ID, deletes[j.ID])
				}
			}
			if len(deletes) != len(old) {
				t.Errorf("deleted the files of %d jobs, want the %d old exports: %v", len(deletes), len(old), deletes)
			}

			for _, j := range old {
				if _, err := blobs.Stat(ctx, exchange.ExportKey(j.ID)); radmark.ErrorCode(err) != radmark.ENOTFOUND {
					t.Errorf("the file of old export %s is still there: %v", j.ID, err)
				}
				st, b := e.call(t, "mgr", "GET", apiRoot+"/jobs/"+string(j.ID), "")
				var got job.Job
				if st != 200 || json.Unmarshal(b, &got) != nil || got.FileExpiredAt == nil || got.State != job.Succeeded ||
					got.Owner != "" || got.LeaseUntil != nil || len(got.Result) == 0 {
					t.Errorf("old export job: %d %s", st, b)
				}
				st, b = e.call(t, "mgr", "GET", apiRoot+"/jobs/"+string(j.ID)+"/file", "")
				var p Problem
				if st != http.StatusGone || json.Unmarshal(b, &p) != nil || p.Code != radmark.EGONE ||
					!strings.Contains(p.Detail, "expired") || !strings.Contains(p.Detail, "retention of 7 days") ||
					!strings.Contains(p.Detail, "start the export again (POST /api/v1/projects/"+string(e.project)+"/exports") {
					t.Errorf("download of an expired export: %d %s", st, b)
				}
			}
			events, err := e.store.AuditEvents(ctx, radmark.AuditFilter{Action: "job.file.expire"})
			if err != nil || len(events) != len(old) {
				t.Errorf("audit events of expired files: %d, %v; want %d", len(events), err, len(old))
			}

			// The newer export and the release are kept.
			if st, b := e.call(t, "mgr", "GET", apiRoot+"/jobs/"+string(newer.ID)+"/file", ""); st != 200 || !strings.Contains(string(b), "\n") {
				t.Errorf("download of the newer export: %d %s", st, b)
			}
			var rr release.Result
			if err := json.Unmarshal(rel.Result, &rr); err != nil || rr.Release == nil {
				t.Fatalf("release result %s: %v", rel.Result, err)
			}
			if _, err := blobs.Stat(ctx, release.ArchiveKey(rr.Release.ID)); err != nil {
				t.Errorf("the release's archive: %v", err)
			}
			if st, _ := e.call(t, "mgr", "GET", apiRoot+"/releases/"+rr.Release.ID+"/archive?format=tar", ""); st != 200 {
				t.Errorf("download of the release: %d", st)
			}
			for _, id := range []radmark.ID{newer.ID, rel.ID} {
				if j, _ := jobs.Job(ctx, id); j.FileExpiredAt != nil {
					t.Errorf("job %s (%s) was marked expired", id, j.Kind)
				}
			}
			// A second sweep at the same time finds nothing to do.
			if n, err := sweeper("replica-a").Sweep(ctx, now); n != 0 || err != nil {
				t.Errorf("a second sweep: %d, %v", n, err)
			}

			// A sweeper that fails between marking and deleting (as one
			// that stops would) leaves the file leased until its lease
			// runs out; then another deletes it.
			later := newer.FinishedAt.Add(keep + time.Second)
			failing := sweeper("replica-c")
			failing.Delete = func(context.Context, *job.Job) error { return errors.New("object store unreachable") }
			if n, err := failing.Sweep(ctx, later); n != 0 || err == nil || !strings.Contains(err.Error(), "object store unreachable") {
				t.Errorf("a failing sweep: %d, %v", n, err)
			}
			if j, _ := jobs.Job(ctx, newer.ID); j.FileExpiredAt == nil || j.Owner != "replica-c" {
				t.Errorf("the failed file is not marked and leased: %+v", j)
			}
			if st, _ := e.call(t, "mgr", "GET", apiRoot+"/jobs/"+string(newer.ID)+"/file", ""); st != http.StatusGone {
				t.Errorf("download of a file being deleted: %d, want 410", st)
			}
			other := sweeper("replica-d")
			if n, err := other.Sweep(ctx, later.Add(time.Minute)); n != 0 || err != nil {
				t.Errorf("a sweep while another holds the lease: %d, %v", n, err)
			}
			if _, err := blobs.Stat(ctx, exchange.ExportKey(newer.ID)); err != nil {
				t.Errorf("the leased file was deleted by another sweeper: %v", err)
			}
			if n, err := other.Sweep(ctx, later.Add(failing.Lease+time.Second)); n != 1 || err != nil {
				t.Errorf("a sweep once the lease ran out: %d, %v", n, err)
			}
			if _, err := blobs.Stat(ctx, exchange.ExportKey(newer.ID)); radmark.ErrorCode(err) != radmark.ENOTFOUND {
				t.Errorf("the file is still there: %v", err)
			}
			if deletes[newer.ID] != 1 {
				t.Errorf("the newer export's file was deleted %d times, want once", deletes[newer.ID])
			}
			if events, _ := e.store.AuditEvents(ctx, radmark.AuditFilter{Action: "job.file.expire", ObjectID: string(newer.ID)}); len(events) != 1 {
				t.Errorf("a file leased twice has %d audit events, want 1", len(events))
			}
			if _, err := blobs.Stat(ctx, release.ArchiveKey(rr.Release.ID)); err != nil {
				t.Errorf("the release's archive after the later sweeps: %v", err)
			}
		})
	}
}

// TestExportRetentionZeroKeepsFiles: with a retention of 0 no sweeper is
// made, and one made by hand refuses to sweep, however old the files.
func TestExportRetentionZeroKeepsFiles(t *testing.T) {
	e := newAuthzEnvOn(t, testdb.Engines[0])
	ctx := t.Context()
	e.srv.Exports.Keep = 0
	if r := e.srv.Exports.Retention(e.srv.Jobs, nil); r != nil {
		t.Fatalf("a retention of 0 made a sweeper: %+v", r)
	}
	st, b := e.call(t, "mgr", "POST", apiRoot+"/projects/"+string(e.project)+"/exports", `{"format":"measurements"}`)
	var j job.Job
	if st != http.StatusAccepted || json.Unmarshal(b, &j) != nil {
		t.Fatalf("start an export: %d %s", st, b)
	}
	runner := &job.Runner{Store: e.srv.Jobs, Handlers: e.srv.Exports.Handlers(), Logger: slog.New(slog.DiscardHandler)}
	if ran, err := runner.RunOne(ctx, []string{j.Kind}); !ran || err != nil {
		t.Fatalf("run: %v %v", ran, err)
	}
	r := &job.Retention{Store: e.srv.Jobs, Kinds: []string{j.Kind}, Keep: 0,
		Delete: func(ctx context.Context, j *job.Job) error {
			return e.srv.Exports.Blobs.Delete(ctx, exchange.ExportKey(j.ID))
		}}
	if n, err := r.Sweep(ctx, time.Now().Add(100*365*24*time.Hour)); n != 0 || radmark.ErrorCode(err) != radmark.EINVALID {
		t.Errorf("a sweep with retention 0: %d, %v", n, err)
	}
	if st, _ := e.call(t, "mgr", "GET", apiRoot+"/jobs/"+string(j.ID)+"/file", ""); st != 200 {
		t.Errorf("download with retention 0: %d", st)
	}
}
