package job_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/internal/testdb"
	"github.com/radmark/radmark/job"
)

func TestRunner(t *testing.T) {
	for _, eng := range testdb.Engines {
		t.Run(eng.Name, func(t *testing.T) {
			db := eng.Open(t)
			s := db.(job.Store)
			ctx := t.Context()
			p := &radmark.Project{ID: "p1", Name: "Jobs", CreatedBy: "alice"}
			if err := db.CreateProject(ctx, p, &radmark.AuditEvent{ID: "ev-p1", Actor: "alice", Action: "project.create", ObjectType: "project", ObjectID: "p1"}); err != nil {
				t.Fatal(err)
			}
			seen := make(chan [2]int, 10)
			r := &job.Runner{Store: s, Owner: "a", Lease: 300 * time.Millisecond, Handlers: map[string]job.Handler{
				"ok": func(ctx context.Context, j *job.Job, p job.Progress) (json.RawMessage, error) {
					p(1, 2, "half")
					time.Sleep(250 * time.Millisecond) // long enough for a progress report
					got, _ := s.Job(ctx, j.ID)
					seen <- [2]int{got.Done, got.Total}
					return json.RawMessage(`{"n":1}`), nil
				},
				"bad": func(context.Context, *job.Job, job.Progress) (json.RawMessage, error) {
					return nil, errors.New("no such series")
				},
				"panic": func(context.Context, *job.Job, job.Progress) (json.RawMessage, error) { panic("boom") },
			}}
			for _, tt := range []struct {
				kind, state, result, err string
			}{
				{"ok", "succeeded", `{"n":1}`, ""},
				{"bad", "failed", "", "no such series"},
				{"panic", "failed", "", "job panicked: boom"},
			} {
				j, err := job.Enqueue(ctx, s, "alice", "req-1", tt.kind, p.ID, map[string]string{"format": "seg"})
				if err != nil {
					t.Fatal(err)
				}
				ran, err := r.RunOne(ctx, []string{tt.kind})
				if !ran || err != nil {
					t.Fatalf("%s: RunOne = %v, %v", tt.kind, ran, err)
				}
				got, _ := s.Job(ctx, j.ID)
				if string(got.State) != tt.state || string(got.Result) != tt.result || got.Error != tt.err {
					t.Errorf("%s: job %+v", tt.kind, got)
				}
			}
			if pr := <-seen; pr != [2]int{1, 2} {
				t.Errorf("progress while running: %v, want 1 of 2", pr)
			}
			if ran, err := r.RunOne(ctx, []string{"ok"}); ran || err != nil {
				t.Errorf("RunOne with nothing queued = %v, %v", ran, err)
			}
		})
	}
}
