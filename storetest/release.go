package storetest

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/job"
	"github.com/radmark/radmark/release"
)

// ReleaseStores is a metadata store with releases and jobs.
type ReleaseStores interface {
	Stores
	release.Store
	job.Store
}

// TestReleaseStore runs the conformance suite of release.Store and
// job.Store against stores made by open. tamper runs raw SQL on the
// store's database, to prove that the database itself refuses to change
// or delete a release.
func TestReleaseStore(t *testing.T, open func(t *testing.T) (ReleaseStores, Tamper)) {
	tests := []struct {
		name string
		fn   func(*testing.T, ReleaseStores, Tamper)
	}{
		{"Releases", testReleases},
		{"ReleasesImmutable", testReleasesImmutable},
		{"Jobs", testJobs},
		{"JobLeases", testJobLeases},
		{"JobClaimsConcurrent", testJobClaimsConcurrent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, tamper := open(t)
			tt.fn(t, s, tamper)
		})
	}
}

func newRelease(project radmark.ID, n int) *release.Release {
	return &release.Release{ID: Digest(fmt.Sprint("release ", n)), ProjectID: project, SchemaVersion: 2, Selection: "workflow",
		Seed: -7, Fractions: release.DefaultFractions, Stratify: true,
		Cases: map[string]int{release.Train: 7, release.Validation: 2, release.Test: 1},
		Files: 12, Bytes: 1 << 20, Size: 1<<20 + 8192, SHA256: Digest(fmt.Sprint("tar ", n)), CreatedBy: "alice"}
}

func testReleases(t *testing.T, s ReleaseStores, _ Tamper) {
	p := createProject(t, s, "Release")
	before := chainLen(t, s)
	r := newRelease(p.ID, 1)
	ev := NewEvent("alice", "release.create", "release", radmark.ID(r.ID))
	must(t, s.PutRelease(ctx(t), r, ev), "PutRelease")
	expectAppended(t, s, before, ev)
	got, err := s.Release(ctx(t), r.ID)
	must(t, err, "Release")
	if fmt.Sprint(got) != fmt.Sprint(r) {
		t.Errorf("Release = %+v, want %+v", got, r)
	}
	before = chainLen(t, s)
	again := newRelease(p.ID, 1)
	again.Seed = 99
	wantCode(t, s.PutRelease(ctx(t), again, NewEvent("alice", "release.create", "release", radmark.ID(r.ID))), radmark.ECONFLICT, "same id again")
	wantCode(t, s.PutRelease(ctx(t), newRelease("no-such-project", 2), NewEvent("alice", "release.create", "release", "x")), radmark.ENOTFOUND, "unknown project")
	bad := newRelease(p.ID, 3)
	bad.ID = "not-a-hash"
	wantCode(t, s.PutRelease(ctx(t), bad, NewEvent("alice", "release.create", "release", "x")), radmark.EINVALID, "bad id")
	bad = newRelease(p.ID, 3)
	bad.Fractions = release.Fractions{Train: 0.5}
	wantCode(t, s.PutRelease(ctx(t), bad, NewEvent("alice", "release.create", "release", "x")), radmark.EINVALID, "bad fractions")
	expectAppended(t, s, before)
	_, err = s.Release(ctx(t), Digest("none"))
	wantCode(t, err, radmark.ENOTFOUND, "missing release")

	r2 := newRelease(p.ID, 4)
	r2.CreatedAt = r.CreatedAt.Add(time.Second)
	must(t, s.PutRelease(ctx(t), r2, NewEvent("alice", "release.create", "release", radmark.ID(r2.ID))), "PutRelease 2")
	list, err := s.Releases(ctx(t), p.ID)
	must(t, err, "Releases")
	if len(list) != 2 || list[0].ID != r2.ID || list[1].ID != r.ID {
		t.Errorf("Releases = %v, want newest first", list)
	}
}

func testReleasesImmutable(t *testing.T, s ReleaseStores, tamper Tamper) {
	p := createProject(t, s, "Immutable")
	r := newRelease(p.ID, 1)
	must(t, s.PutRelease(ctx(t), r, NewEvent("alice", "release.create", "release", radmark.ID(r.ID))), "PutRelease")
	for _, stmt := range []string{
		`UPDATE release SET seed = 1 WHERE id = '` + r.ID + `'`,
		`UPDATE release SET sha256 = 'x'`,
		`DELETE FROM release WHERE id = '` + r.ID + `'`,
		`DELETE FROM release`,
	} {
		err := tamper(stmt)
		if err == nil || !strings.Contains(err.Error(), "releases are immutable") {
			t.Errorf("%s: %v, want the database to refuse (releases are immutable)", stmt, err)
		}
	}
	got, err := s.Release(ctx(t), r.ID)
	must(t, err, "Release")
	if got.Seed != r.Seed || got.SHA256 != r.SHA256 {
		t.Errorf("the release changed: %+v", got)
	}
}

func newJob(project radmark.ID, kind string) *job.Job {
	return &job.Job{ID: NewID("job"), Kind: kind, ProjectID: project, Params: json.RawMessage(`{"format":"seg"}`), MaxAttempts: 2, CreatedBy: "alice"}
}

func testJobs(t *testing.T, s ReleaseStores, _ Tamper) {
	p := createProject(t, s, "Jobs")
	before := chainLen(t, s)
	j := newJob(p.ID, "export")
	ev := NewEvent("alice", "job.create", "job", j.ID)
	must(t, s.CreateJob(ctx(t), j, ev), "CreateJob")
	expectAppended(t, s, before, ev)
	got, err := s.Job(ctx(t), j.ID)
	must(t, err, "Job")
	if got.State != job.Queued || string(got.Params) != `{"format":"seg"}` || got.ProjectID != p.ID || got.Attempts != 0 || got.LeaseUntil != nil {
		t.Errorf("Job = %+v", got)
	}
	before = chainLen(t, s)
	wantCode(t, s.CreateJob(ctx(t), newJob("nope", "export"), NewEvent("alice", "job.create", "job", "x")), radmark.ENOTFOUND, "unknown project")
	bad := newJob(p.ID, "export")
	bad.Params = json.RawMessage(`{`)
	wantCode(t, s.CreateJob(ctx(t), bad, NewEvent("alice", "job.create", "job", "x")), radmark.EINVALID, "bad params")
	expectAppended(t, s, before)
	_, err = s.Job(ctx(t), "missing")
	wantCode(t, err, radmark.ENOTFOUND, "missing job")

	now := time.Now().UTC()
	none, err := s.ClaimJob(ctx(t), "replica-a", []string{"release"}, now, now.Add(time.Minute))
	must(t, err, "ClaimJob other kind")
	if none != nil {
		t.Fatalf("claimed %s of another kind", none.ID)
	}
	c, err := s.ClaimJob(ctx(t), "replica-a", []string{"export"}, now, now.Add(time.Minute))
	must(t, err, "ClaimJob")
	if c == nil || c.ID != j.ID || c.State != job.Running || c.Owner != "replica-a" || c.Attempts != 1 {
		t.Fatalf("claimed %+v", c)
	}
	must(t, s.RenewJob(ctx(t), j.ID, "replica-a", 3, 10, "case 3 of 10", now.Add(2*time.Minute)), "RenewJob")
	wantCode(t, s.RenewJob(ctx(t), j.ID, "replica-b", 4, 10, "", now.Add(2*time.Minute)), radmark.ECONFLICT, "renew by another")
	got, _ = s.Job(ctx(t), j.ID)
	if got.Done != 3 || got.Total != 10 || got.Message != "case 3 of 10" {
		t.Errorf("progress = %+v", got)
	}
	before = chainLen(t, s)
	fin := NewEvent("alice", "job.succeeded", "job", j.ID)
	must(t, s.FinishJob(ctx(t), j.ID, "replica-a", job.Succeeded, json.RawMessage(`{"file":"x.dcm"}`), "", fin), "FinishJob")
	expectAppended(t, s, before, fin)
	got, _ = s.Job(ctx(t), j.ID)
	if got.State != job.Succeeded || string(got.Result) != `{"file":"x.dcm"}` || got.FinishedAt == nil || got.Done != 10 || got.Owner != "" {
		t.Errorf("finished job = %+v", got)
	}
	wantCode(t, s.FinishJob(ctx(t), j.ID, "replica-a", job.Failed, nil, "again", nil), radmark.ECONFLICT, "finish twice")
	list, err := s.Jobs(ctx(t), p.ID, 10)
	must(t, err, "Jobs")
	if len(list) != 1 || list[0].ID != j.ID {
		t.Errorf("Jobs = %v", list)
	}
}

// testJobLeases: a job whose runner stopped renewing is claimed again by
// another replica once its lease ran out, and failed once its attempts
// are used up; the old runner can no longer report on it.
func testJobLeases(t *testing.T, s ReleaseStores, _ Tamper) {
	p := createProject(t, s, "Leases")
	j := newJob(p.ID, "export")
	must(t, s.CreateJob(ctx(t), j, NewEvent("alice", "job.create", "job", j.ID)), "CreateJob")
	t0 := time.Now().UTC()
	c, err := s.ClaimJob(ctx(t), "crashed", []string{"export"}, t0, t0.Add(time.Minute))
	must(t, err, "ClaimJob")
	if c == nil {
		t.Fatal("nothing claimed")
	}
	if c2, _ := s.ClaimJob(ctx(t), "other", []string{"export"}, t0.Add(30*time.Second), t0.Add(2*time.Minute)); c2 != nil {
		t.Fatalf("a leased job was claimed again before its lease ran out")
	}
	c, err = s.ClaimJob(ctx(t), "other", []string{"export"}, t0.Add(61*time.Second), t0.Add(2*time.Minute))
	must(t, err, "ClaimJob after expiry")
	if c == nil || c.Owner != "other" || c.Attempts != 2 {
		t.Fatalf("after the lease ran out: %+v", c)
	}
	wantCode(t, s.RenewJob(ctx(t), j.ID, "crashed", 1, 2, "", t0.Add(3*time.Minute)), radmark.ECONFLICT, "renew by the old owner")
	// The second runner dies too: no attempt is left, so the job fails.
	c, err = s.ClaimJob(ctx(t), "third", []string{"export"}, t0.Add(3*time.Minute), t0.Add(4*time.Minute))
	must(t, err, "ClaimJob with no attempts left")
	if c != nil {
		t.Fatalf("claimed a job with no attempts left: %+v", c)
	}
	got, _ := s.Job(ctx(t), j.ID)
	if got.State != job.Failed || !strings.Contains(got.Error, "lease expired") || got.FinishedAt == nil {
		t.Errorf("abandoned job = %+v", got)
	}
}

// testJobClaimsConcurrent: claimers racing for jobs never share one.
func testJobClaimsConcurrent(t *testing.T, s ReleaseStores, _ Tamper) {
	p := createProject(t, s, "Race")
	const jobs, claimers = 12, 4
	for range jobs {
		j := newJob(p.ID, "export")
		must(t, s.CreateJob(ctx(t), j, NewEvent("alice", "job.create", "job", j.ID)), "CreateJob")
	}
	var mu sync.Mutex
	got := map[radmark.ID]string{}
	var wg sync.WaitGroup
	for c := range claimers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			owner := fmt.Sprint("replica-", c)
			for {
				now := time.Now().UTC()
				j, err := s.ClaimJob(ctx(t), owner, []string{"export"}, now, now.Add(time.Hour))
				if err != nil {
					t.Error(err)
					return
				}
				if j == nil {
					return
				}
				mu.Lock()
				if prev, dup := got[j.ID]; dup {
					t.Errorf("job %s claimed by %s and %s", j.ID, prev, owner)
				}
				got[j.ID] = owner
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(got) != jobs {
		t.Errorf("%d jobs claimed, want %d", len(got), jobs)
	}
}
