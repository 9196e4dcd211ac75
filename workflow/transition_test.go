package workflow_test

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/internal/testdb"
	"github.com/radmark/radmark/workflow"
)

var good = read{quality: "good", cube: &[6]int{4, 8, 4, 8, 2, 4}}

// TestTransitions walks two reads of a case through every transition,
// trying the forbidden ones (wrong state: 409 with the allowed
// transitions; wrong person: 403) and checking blinding on the way.
func TestTransitions(t *testing.T) {
	for _, engine := range testdb.Engines {
		t.Run(engine.Name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, engine, 1)
			ctx := t.Context()
			e.configure(radmark.WorkflowConfig{Readers: 2, ReaderRoles: []radmark.Role{radmark.RoleAnnotator}, Assignment: radmark.AssignPull})
			c := e.addCases(1)[0]
			try := func(user string, id radmark.ID, tr workflow.Transition, args workflow.Args) error {
				_, err := e.wf.Transition(ctx, e.op(user), id, tr, args)
				return err
			}
			conflict := func(user string, id radmark.ID, tr workflow.Transition, allowed ...workflow.Transition) {
				t.Helper()
				te := wantErr(t, try(user, id, tr, workflow.Args{}), radmark.ECONFLICT, fmt.Sprintf("%s %s", user, tr))
				if te == nil || !slices.Equal(te.Allowed, allowed) {
					t.Errorf("%s %s: allowed %+v, want %v", user, tr, te, allowed)
				}
			}
			forbid := func(user string, id radmark.ID, tr workflow.Transition, args workflow.Args) {
				t.Helper()
				wantErr(t, try(user, id, tr, args), radmark.EFORBIDDEN, fmt.Sprintf("%s %s", user, tr))
			}

			t1 := e.next("ann")
			if t1 == nil || t1.CaseID != c.ID || t1.Slot != 1 || t1.State != radmark.TaskAssigned || t1.Assignee != "ann" {
				t.Fatalf("ann's next task: %+v", t1)
			}
			if again := e.next("ann"); again.ID != t1.ID {
				t.Errorf("next task while one waits unstarted: %s, want %s", again.ID, t1.ID)
			}
			forbid("bob", t1.ID, workflow.Start, workflow.Args{})
			conflict("ann", t1.ID, workflow.Submit, workflow.Assign, workflow.Release, workflow.Start)
			conflict("rev", t1.ID, workflow.StartReview, workflow.Assign, workflow.Release, workflow.Start)
			conflict("rad", t1.ID, workflow.Resolve, workflow.Assign, workflow.Release, workflow.Start)
			e.do("ann", t1.ID, workflow.Release, workflow.Args{})
			conflict("ann", t1.ID, workflow.Release, workflow.Assign, workflow.Claim)
			forbid("rev", t1.ID, workflow.Claim, workflow.Args{}) // not a reader
			forbid("ann", t1.ID, workflow.Assign, workflow.Args{Assignee: "ann"})
			e.do("ann", t1.ID, workflow.Claim, workflow.Args{})
			stale := t1.Version
			wantErr(t, try("ann", t1.ID, workflow.Start, workflow.Args{Expect: &stale}), radmark.ECONFLICT, "start on a stale version")
			t1 = e.do("ann", t1.ID, workflow.Start, workflow.Args{})
			if t1.State != radmark.TaskInProgress || t1.SetID == "" || t1.StartedAt == nil {
				t.Fatalf("started: %+v", t1)
			}
			wantErr(t, try("ann", t1.ID, workflow.Submit, workflow.Args{}), radmark.ECONFLICT, "submit before any save")
			e.save("ann", t1, read{quality: ""}) // incomplete: saved, not submittable
			wantErr(t, try("ann", t1.ID, workflow.Submit, workflow.Args{}), radmark.EINVALID, "submit without the required answer")

			t2 := e.next("bob")
			if t2 == nil || t2.CaseID != c.ID || t2.Slot != 2 {
				t.Fatalf("bob's next task: %+v", t2)
			}
			// Nobody holds two reads of one case.
			wantErr(t, try("mgr", t2.ID, workflow.Assign, workflow.Args{Assignee: "ann"}), radmark.ECONFLICT, "second read for ann")
			if n := e.next("ann"); n != nil {
				t.Errorf("ann got another task: %+v", n)
			}
			t2 = e.do("bob", t2.ID, workflow.Start, workflow.Args{})
			e.save("bob", t2, good)
			annSet, bobSet := e.set(t1.SetID), e.set(t2.SetID)

			// Blinding while reads are open.
			for _, c := range []struct {
				user string
				set  *radmark.AnnotationSet
				code string
			}{
				{"ann", annSet, ""}, {"ann", bobSet, radmark.EFORBIDDEN}, {"bob", annSet, radmark.EFORBIDDEN},
				{"rev", bobSet, ""}, {"mgr", bobSet, ""}, {"root", bobSet, ""}, {"rad", bobSet, radmark.EFORBIDDEN},
				{"vic", bobSet, radmark.EFORBIDDEN}, {"cat", bobSet, radmark.EFORBIDDEN}, {"eve", bobSet, radmark.ENOTFOUND},
			} {
				if err := e.wf.CanReadSet(ctx, e.users[c.user], c.set); radmark.ErrorCode(err) != c.code {
					t.Errorf("while reading, %s reads %s's set: %v, want %q", c.user, c.set.Reader, err, c.code)
				}
			}
			if err := e.wf.CanWriteSet(ctx, e.users["ann"], annSet); err != nil {
				t.Errorf("ann writes her set: %v", err)
			}
			wantErr(t, e.wf.CanWriteSet(ctx, e.users["ann"], bobSet), radmark.EFORBIDDEN, "ann writes bob's set")
			wantErr(t, e.wf.CanReadSet(ctx, nil, bobSet), radmark.EUNAUTHORIZED, "anonymous reads a set")
			wantErr(t, e.wf.CanCreateSet(ctx, e.users["cat"], e.project.ID, c.StudyUID, c.SeriesUID), radmark.EFORBIDDEN, "a set of one's own on a case")
			if err := e.wf.CanCreateSet(ctx, e.users["cat"], e.project.ID, "1.2.3.4", ""); err != nil {
				t.Errorf("a set on a study that is no case: %v", err)
			}

			e.save("ann", t1, good)
			t1 = e.do("ann", t1.ID, workflow.Submit, workflow.Args{})
			if t1.State != radmark.TaskSubmitted || t1.Revision != e.set(t1.SetID).Head || t1.WorkSeconds <= 0 {
				t.Errorf("submitted: %+v", t1)
			}
			wantErr(t, e.wf.CanWriteSet(ctx, e.users["ann"], annSet), radmark.ECONFLICT, "ann writes her submitted set")
			if err := e.wf.CanReadSet(ctx, e.users["ann"], bobSet); radmark.ErrorCode(err) != radmark.EFORBIDDEN {
				t.Errorf("ann reads bob's open read after submitting: %v", err)
			}
			t2 = e.do("bob", t2.ID, workflow.Submit, workflow.Args{})
			if cs, _ := e.wf.Case(ctx, c.ID); cs.State != radmark.CaseReview {
				t.Errorf("case after both submits: %s", cs.State)
			}
			if err := e.wf.CanReadSet(ctx, e.users["ann"], bobSet); err != nil {
				t.Errorf("ann reads bob's set in review: %v", err)
			}
			if err := e.wf.CanReadSet(ctx, e.users["vic"], bobSet); radmark.ErrorCode(err) != radmark.EFORBIDDEN {
				t.Errorf("a viewer reads a read in review: %v", err)
			}

			// Review.
			forbid("ann", t1.ID, workflow.StartReview, workflow.Args{})
			conflict("rev", t1.ID, workflow.Accept, workflow.StartReview)
			e.do("rev", t1.ID, workflow.StartReview, workflow.Args{})
			forbid("cat", t1.ID, workflow.Accept, workflow.Args{})
			t1 = e.do("rev", t1.ID, workflow.RequestChanges, workflow.Args{})
			if t1.State != radmark.TaskChangesRequested || t1.Reviewer != "rev" {
				t.Errorf("changes requested: %+v", t1)
			}
			cm, err := e.wf.AddComment(ctx, e.op("rev"), c.ID, workflow.CommentRequest{TaskID: t1.ID, Body: "extend the liver to slice 4", Item: "liver"})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.wf.AddComment(ctx, e.op("ann"), c.ID, workflow.CommentRequest{Body: "x"}); radmark.ErrorCode(err) != radmark.EFORBIDDEN {
				t.Errorf("an annotator comments: %v", err)
			}
			if _, err := e.wf.AddComment(ctx, e.op("rev"), c.ID, workflow.CommentRequest{TaskID: t1.ID, Body: "x", Item: "nope"}); radmark.ErrorCode(err) != radmark.EINVALID {
				t.Errorf("a comment on a missing item: %v", err)
			}
			pin := [3]float64{-20, -20, -4}
			if _, err := e.wf.AddComment(ctx, e.op("rev"), c.ID, workflow.CommentRequest{Body: "check the apex", LPS: &pin}); err != nil {
				t.Fatal(err)
			}
			list, err := e.wf.Comments(ctx, e.users["ann"], c.ID)
			if err != nil || len(list) != 2 || list[0].Item != "liver" || list[1].LPS == nil {
				t.Fatalf("ann's comments: %+v %v", list, err)
			}
			yes := true
			if _, err := e.wf.UpdateComment(ctx, e.op("cat"), cm.ID, workflow.CommentChange{Resolved: &yes}); radmark.ErrorCode(err) != radmark.EFORBIDDEN {
				t.Errorf("another reader resolves: %v", err)
			}
			cm, err = e.wf.UpdateComment(ctx, e.op("ann"), cm.ID, workflow.CommentChange{Resolved: &yes, Version: 1})
			if err != nil || !cm.Resolved || cm.ResolvedBy != "ann" {
				t.Fatalf("ann resolves: %+v %v", cm, err)
			}
			e.do("ann", t1.ID, workflow.Start, workflow.Args{})
			e.save("ann", t1, good)
			e.do("ann", t1.ID, workflow.Submit, workflow.Args{})
			e.do("rev", t1.ID, workflow.StartReview, workflow.Args{})
			t1 = e.do("rev", t1.ID, workflow.Accept, workflow.Args{})
			e.do("rev", t2.ID, workflow.StartReview, workflow.Args{})
			e.do("mgr", t2.ID, workflow.Accept, workflow.Args{}) // a manager may decide for the reviewer
			cs, _ := e.wf.Case(ctx, c.ID)
			if cs.State != radmark.CaseDone || cs.Outcome != "agreed" || cs.FinalRevision != t1.Revision {
				t.Errorf("case: %+v", cs)
			}
			conflict("ann", t1.ID, workflow.Start)
			conflict("mgr", t1.ID, workflow.Assign)
			if err := e.wf.CanReadSet(ctx, e.users["vic"], bobSet); err != nil {
				t.Errorf("a viewer reads a done case: %v", err)
			}

			want := []string{"ann:task.claim", "ann:task.release", "ann:task.claim", "ann:task.start", "ann:task.submit",
				"rev:task.review", "rev:task.request_changes", "ann:task.start", "ann:task.submit", "rev:task.review", "rev:task.accept"}
			if got := e.auditActions(t1.ID); !slices.Equal(got, want) {
				t.Errorf("audit of read 1:\n got %v\nwant %v", got, want)
			}
			if got := e.auditActions(c.ID); !slices.Equal(got, []string{"mgr:case.add", "bob:case.review", "mgr:case.done"}) {
				t.Errorf("audit of the case: %v", got)
			}
		})
	}
}

// TestReassignment: a manual workflow, a reader removed mid-task and the
// task given to another.
func TestReassignment(t *testing.T) {
	for _, engine := range testdb.Engines {
		t.Run(engine.Name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, engine, 2)
			ctx := t.Context()
			e.configure(radmark.WorkflowConfig{Readers: 1, ReaderRoles: []radmark.Role{radmark.RoleAnnotator}, Assignment: radmark.AssignManual, DueDays: 3})
			e.addCases(2)
			if _, err := e.wf.Next(ctx, e.op("ann"), e.project.ID, radmark.TaskRead); radmark.ErrorCode(err) != radmark.EFORBIDDEN {
				t.Errorf("pull in a manual workflow: %v", err)
			}
			tasks, _ := e.wf.Tasks(ctx, radmark.TaskFilter{ProjectID: e.project.ID})
			task := tasks[0]
			if _, err := e.wf.Transition(ctx, e.op("ann"), task.ID, workflow.Claim, workflow.Args{}); radmark.ErrorCode(err) != radmark.EFORBIDDEN {
				t.Errorf("claim in a manual workflow: %v", err)
			}
			if _, err := e.wf.Transition(ctx, e.op("mgr"), task.ID, workflow.Assign, workflow.Args{Assignee: "rev"}); radmark.ErrorCode(err) != radmark.EFORBIDDEN {
				t.Errorf("assign to a reviewer: %v", err)
			}
			task = e.do("mgr", task.ID, workflow.Assign, workflow.Args{Assignee: "ann"})
			if task.Due == nil || task.Due.Sub(*task.AssignedAt).Hours() != 72 {
				t.Errorf("due date: %v after %v", task.Due, task.AssignedAt)
			}
			task = e.do("ann", task.ID, workflow.Start, workflow.Args{})
			e.save("ann", task, good)
			annSet := e.set(task.SetID)

			// Removed from the project mid-task: refused with 403.
			e.roster.Set("ann")
			_, err := e.wf.Transition(ctx, e.op("ann"), task.ID, workflow.Submit, workflow.Args{})
			if radmark.ErrorCode(err) != radmark.EFORBIDDEN || !strings.Contains(radmark.ErrorMessage(err), "reassign") {
				t.Errorf("removed reader submits: %v", err)
			}
			wantErr(t, e.wf.CanWriteSet(ctx, e.users["ann"], annSet), radmark.EFORBIDDEN, "removed reader saves")
			// A role taken away is refused too.
			e.roster.Set("ann", radmark.RoleViewer)
			wantErr(t, e.wf.CanWriteSet(ctx, e.users["ann"], annSet), radmark.EFORBIDDEN, "reader turned viewer saves")
			task = e.do("mgr", task.ID, workflow.Assign, workflow.Args{Assignee: "bob"})
			if task.Assignee != "bob" || task.SetID != "" || task.State != radmark.TaskAssigned {
				t.Errorf("reassigned: %+v", task)
			}
			wantErr(t, e.wf.CanWriteSet(ctx, e.users["bob"], annSet), radmark.EFORBIDDEN, "bob writes ann's set")
			task = e.do("bob", task.ID, workflow.Start, workflow.Args{})
			if task.SetID == annSet.ID {
				t.Errorf("bob works in ann's set")
			}
			e.save("bob", task, good)
			task = e.do("bob", task.ID, workflow.Submit, workflow.Args{})
			if acts := e.auditActions(task.ID); !slices.Contains(acts, "mgr:task.assign") || len(acts) != 5 {
				t.Errorf("audit: %v", acts)
			}
			p, err := e.wf.Progress(ctx, e.project.ID)
			if err != nil || p.Cases != 2 || p.ReadsBy[radmark.TaskSubmitted] != 1 || p.ReadsBy[radmark.TaskUnassigned] != 1 || len(p.Readers) != 1 || p.Readers[0].User != "bob" {
				t.Errorf("progress: %+v %v", p, err)
			}
		})
	}
}

// TestConcurrentPulls: readers pulling at once never share a task nor
// read one case twice.
func TestConcurrentPulls(t *testing.T) {
	for _, engine := range testdb.Engines {
		t.Run(engine.Name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, engine, 8)
			e.configure(radmark.WorkflowConfig{Readers: 2, ReaderRoles: []radmark.Role{radmark.RoleAnnotator}, Assignment: radmark.AssignPull})
			e.addCases(8)
			const readers = 6
			var mu sync.Mutex
			got := map[radmark.ID]string{}
			var wg sync.WaitGroup
			for i := range readers {
				name := fmt.Sprint("r", i)
				e.roster.Set(name, radmark.RoleAnnotator)
				e.users[name] = &radmark.Actor{User: &radmark.User{ID: radmark.ID("user-" + name), Name: name}}
				op := e.op(name)
				wg.Go(func() {
					for {
						task, err := e.wf.Next(t.Context(), op, e.project.ID, radmark.TaskRead)
						if err != nil || task == nil {
							if err != nil {
								t.Errorf("%s: %v", name, err)
							}
							return
						}
						mu.Lock()
						if prev, ok := got[task.ID]; ok {
							t.Errorf("task %s given to %s and %s", task.ID, prev, name)
						}
						got[task.ID] = name
						mu.Unlock()
						if _, err := e.wf.Transition(t.Context(), op, task.ID, workflow.Start, workflow.Args{}); err != nil {
							t.Errorf("%s starts: %v", name, err)
							return
						}
					}
				})
			}
			wg.Wait()
			if len(got) != 16 {
				t.Errorf("%d tasks pulled, want 16", len(got))
			}
			tasks, _ := e.wf.Tasks(t.Context(), radmark.TaskFilter{ProjectID: e.project.ID})
			seen := map[string]bool{}
			for _, task := range tasks {
				k := string(task.CaseID) + "/" + task.Assignee
				if seen[k] || task.Assignee != got[task.ID] || task.State != radmark.TaskInProgress {
					t.Errorf("task %+v (pulled by %s)", task, got[task.ID])
				}
				seen[k] = true
			}
		})
	}
}
