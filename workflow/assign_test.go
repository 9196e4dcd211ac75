package workflow_test

import (
	"strings"
	"sync"
	"testing"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/internal/testdb"
	"github.com/radmark/radmark/workflow"
)

// TestRoundRobin: new reads are pushed to the eligible readers in turn,
// never two reads of a case to one reader, within the quota; nothing is
// left to pull.
func TestRoundRobin(t *testing.T) {
	for _, engine := range testdb.Engines {
		t.Run(engine.Name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, engine, 6)
			e.configure(radmark.WorkflowConfig{Readers: 2, ReaderRoles: []radmark.Role{radmark.RoleAnnotator}, ReaderUsers: []string{"rad"},
				Assignment: radmark.AssignRoundRobin, Quota: 3, DueDays: 2})
			e.addCases(6)
			tasks, err := e.wf.Tasks(t.Context(), radmark.TaskFilter{ProjectID: e.project.ID})
			if err != nil {
				t.Fatal(err)
			}
			load := map[string]int{}
			perCase := map[string]bool{}
			for _, task := range tasks {
				if task.State != radmark.TaskAssigned || task.Due == nil {
					t.Errorf("task %+v not pushed with a due date", task)
				}
				load[task.Assignee]++
				k := string(task.CaseID) + task.Assignee
				if perCase[k] {
					t.Errorf("%s got two reads of case %s", task.Assignee, task.CaseID)
				}
				perCase[k] = true
			}
			// ann, bob, cat (annotators) and rad (named, radiologist): 12
			// reads, at most 3 each.
			if len(load) != 4 || load["ann"] != 3 || load["bob"] != 3 || load["cat"] != 3 || load["rad"] != 3 {
				t.Errorf("loads %v, want 3 each for ann, bob, cat, rad", load)
			}
			if _, err := e.wf.Next(t.Context(), e.op("ann"), e.project.ID, radmark.TaskRead); radmark.ErrorCode(err) != radmark.EFORBIDDEN {
				t.Errorf("pull in a round-robin workflow: %v", err)
			}
		})
	}
}

// TestQuota: a reader stops getting reads at the quota.
func TestQuota(t *testing.T) {
	e := newEnv(t, testdb.Engines[0], 3)
	e.configure(radmark.WorkflowConfig{Readers: 1, ReaderRoles: []radmark.Role{radmark.RoleAnnotator}, Assignment: radmark.AssignPull, Quota: 2})
	e.addCases(3)
	for range 2 {
		task := e.next("ann")
		if task == nil {
			t.Fatal("no task under the quota")
		}
		e.do("ann", task.ID, workflow.Start, workflow.Args{})
	}
	if _, err := e.wf.Next(t.Context(), e.op("ann"), e.project.ID, radmark.TaskRead); radmark.ErrorCode(err) != radmark.EFORBIDDEN {
		t.Errorf("pull over the quota: %v", err)
	}
	if task := e.next("bob"); task == nil {
		t.Error("bob, under his quota, got nothing")
	}
}

// TestConcurrentAccepts: reviewers accept the last reads of disagreeing
// cases at the same moment; each case moves to arbitration exactly once,
// with one arbitration task.
func TestConcurrentAccepts(t *testing.T) {
	for _, engine := range testdb.Engines {
		t.Run(engine.Name, func(t *testing.T) {
			t.Parallel()
			const n = 4
			e := newEnv(t, engine, n)
			e.configure(radmark.WorkflowConfig{Readers: 2, ReaderRoles: []radmark.Role{radmark.RoleAnnotator}, Assignment: radmark.AssignPull})
			cases := e.addCases(n)
			e.roster.Set("rev2", radmark.RoleReviewer)
			e.users["rev2"] = &radmark.Actor{User: &radmark.User{ID: "user-rev2", Name: "rev2"}}
			var pairs [][2]*radmark.Task
			for range cases {
				ta, tb := e.next("ann"), e.next("bob")
				ta = e.do("ann", ta.ID, workflow.Start, workflow.Args{})
				tb = e.do("bob", tb.ID, workflow.Start, workflow.Args{})
				e.save("ann", ta, read{quality: "good"})
				e.save("bob", tb, read{quality: "poor"})
				e.do("ann", ta.ID, workflow.Submit, workflow.Args{})
				e.do("bob", tb.ID, workflow.Submit, workflow.Args{})
				e.do("rev", ta.ID, workflow.StartReview, workflow.Args{})
				e.do("rev2", tb.ID, workflow.StartReview, workflow.Args{})
				pairs = append(pairs, [2]*radmark.Task{ta, tb})
			}
			var wg sync.WaitGroup
			for _, p := range pairs {
				for i, who := range []string{"rev", "rev2"} {
					wg.Go(func() {
						if _, err := e.wf.Transition(t.Context(), e.op(who), p[i].ID, workflow.Accept, workflow.Args{}); err != nil {
							t.Errorf("%s accepts: %v", who, err)
						}
					})
				}
			}
			wg.Wait()
			for i, c := range cases {
				got, _ := e.wf.Case(t.Context(), c.ID)
				arbs, _ := e.wf.Tasks(t.Context(), radmark.TaskFilter{CaseID: c.ID, Kind: radmark.TaskArbitration})
				if got.State != radmark.CaseArbitration || len(arbs) != 1 {
					t.Errorf("case %d: %s with %d arbitration tasks, want arbitration with 1", i+1, got.State, len(arbs))
				}
				if acts := e.auditActions(c.ID); len(acts) != 3 || acts[0] != "mgr:case.add" || acts[1] != "bob:case.review" || !strings.HasSuffix(acts[2], ":case.arbitration") {
					t.Errorf("case %d audit: %v", i+1, acts)
				}
			}
		})
	}
}
