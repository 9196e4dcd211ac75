package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/radmark/radmark"
)

// WorkflowStores is a metadata store with the reading workflow.
type WorkflowStores interface {
	Stores
	radmark.WorkflowStore
}

// TestWorkflowStore runs the conformance suite of radmark.WorkflowStore
// against stores made by open: configuration versions, cases and their
// tasks, conditional transitions, atomic claims, comments, and the audit
// event each mutation writes (none for a refused one).
func TestWorkflowStore(t *testing.T, open func(t *testing.T) WorkflowStores) {
	tests := []struct {
		name string
		fn   func(*testing.T, WorkflowStores)
	}{
		{"Config", testWorkflowConfig},
		{"Cases", testWorkflowCases},
		{"Transitions", testWorkflowTransitions},
		{"Claims", testWorkflowClaims},
		{"Comments", testWorkflowComments},
		{"ConcurrentClaims", func(t *testing.T, s WorkflowStores) { TestConcurrentClaims(t, s) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, open(t))
		})
	}
}

func testWorkflowConfig(t *testing.T, s WorkflowStores) {
	p := createProject(t, s, "Workflow")
	if _, err := s.WorkflowConfig(ctx(t), p.ID); radmark.ErrorCode(err) != radmark.ENOTFOUND {
		t.Errorf("config before any: %v", err)
	}
	before := chainLen(t, s)
	c := &radmark.WorkflowConfig{ProjectID: p.ID, Version: 1, Readers: 2, ReaderRoles: []radmark.Role{radmark.RoleAnnotator},
		Assignment: radmark.AssignPull, Quota: 5, Agree: radmark.Agreement{Dice: 0.7, IoU: 0.5, LandmarkMM: 3}, CreatedBy: "alice"}
	ev := NewEvent("alice", "workflow.put", "project", p.ID)
	must(t, s.PutWorkflowConfig(ctx(t), c, ev), "PutWorkflowConfig")
	expectAppended(t, s, before, ev)
	got, err := s.WorkflowConfig(ctx(t), p.ID)
	must(t, err, "WorkflowConfig")
	if got.Version != 1 || got.Readers != 2 || got.Quota != 5 || got.Agree.Dice != 0.7 || !got.CreatedAt.Equal(c.CreatedAt) {
		t.Errorf("config = %+v, want %+v", got, c)
	}
	stale := *c
	before = chainLen(t, s)
	wantCode(t, s.PutWorkflowConfig(ctx(t), &stale, NewEvent("bob", "workflow.put", "project", p.ID)), radmark.ECONFLICT, "version 1 again")
	if n := chainLen(t, s); n != before {
		t.Errorf("a refused put appended %d events", n-before)
	}
	c2 := *c
	c2.Version, c2.Readers = 2, 3
	must(t, s.PutWorkflowConfig(ctx(t), &c2, NewEvent("alice", "workflow.put", "project", p.ID)), "version 2")
	if got, _ := s.WorkflowConfig(ctx(t), p.ID); got.Version != 2 || got.Readers != 3 {
		t.Errorf("current config = %+v", got)
	}
	wantCode(t, s.PutWorkflowConfig(ctx(t), &radmark.WorkflowConfig{ProjectID: "nope", Version: 1, Readers: 1},
		NewEvent("alice", "workflow.put", "project", "nope")), radmark.ENOTFOUND, "missing project")
}

// newCase returns a case on study with n unassigned reads.
func newCase(p radmark.ID, study radmark.UID, n, priority int) radmark.NewCase {
	c := &radmark.Case{ID: NewID("case"), ProjectID: p, StudyUID: study, State: radmark.CaseReading, Readers: n,
		Priority: priority, ConfigVersion: 1, Source: "uid", AddedBy: "alice"}
	nc := radmark.NewCase{Case: c, Event: NewEvent("alice", "case.add", "case", c.ID)}
	for slot := 1; slot <= n; slot++ {
		nc.Tasks = append(nc.Tasks, &radmark.Task{ID: NewID("task"), ProjectID: p, CaseID: c.ID, Kind: radmark.TaskRead,
			Slot: slot, State: radmark.TaskUnassigned, Priority: priority})
	}
	return nc
}

func testWorkflowCases(t *testing.T, s WorkflowStores) {
	p := createProject(t, s, "Cases")
	other := createProject(t, s, "Other")
	before := chainLen(t, s)
	a, b := newCase(p.ID, "1.1", 2, 0), newCase(p.ID, "1.2", 2, 0)
	added, err := s.AddCases(ctx(t), []radmark.NewCase{a, b})
	must(t, err, "AddCases")
	if len(added) != 2 || !added[0] || !added[1] {
		t.Fatalf("added = %v", added)
	}
	expectAppended(t, s, before, a.Event, b.Event)
	// The same study again is skipped (and writes no event); another
	// project may read it too.
	again, third := newCase(p.ID, "1.1", 2, 0), newCase(other.ID, "1.1", 1, 0)
	before = chainLen(t, s)
	added, err = s.AddCases(ctx(t), []radmark.NewCase{again, third})
	must(t, err, "AddCases again")
	if added[0] || !added[1] {
		t.Errorf("added = %v, want [false true]", added)
	}
	expectAppended(t, s, before, third.Event)
	got, err := s.Case(ctx(t), a.Case.ID)
	must(t, err, "Case")
	if got.StudyUID != "1.1" || got.State != radmark.CaseReading || got.Version != 1 || got.Readers != 2 {
		t.Errorf("case = %+v", got)
	}
	if _, err := s.Case(ctx(t), "nope"); radmark.ErrorCode(err) != radmark.ENOTFOUND {
		t.Errorf("missing case: %v", err)
	}
	cases, err := s.Cases(ctx(t), radmark.CaseFilter{ProjectID: p.ID})
	must(t, err, "Cases")
	if len(cases) != 2 || cases[0].ID != a.Case.ID || cases[1].ID != b.Case.ID {
		t.Errorf("cases = %v", cases)
	}
	tasks, err := s.Tasks(ctx(t), radmark.TaskFilter{ProjectID: p.ID})
	must(t, err, "Tasks")
	if len(tasks) != 4 || tasks[0].Slot != 1 || tasks[1].Slot != 2 || tasks[0].StudyUID != "1.1" || tasks[0].State != radmark.TaskUnassigned {
		t.Errorf("tasks = %+v", tasks)
	}
	projects, err := s.ProjectsOfStudy(ctx(t), "1.1")
	must(t, err, "ProjectsOfStudy")
	if len(projects) != 2 {
		t.Errorf("projects of 1.1 = %v", projects)
	}
	if ps, _ := s.ProjectsOfStudy(ctx(t), "9.9"); len(ps) != 0 {
		t.Errorf("projects of 9.9 = %v", ps)
	}
	if _, err := s.AddCases(ctx(t), []radmark.NewCase{newCase("nope", "1.1", 1, 0)}); radmark.ErrorCode(err) != radmark.ENOTFOUND {
		t.Errorf("case of a missing project: %v", err)
	}
}

func testWorkflowTransitions(t *testing.T, s WorkflowStores) {
	p := createProject(t, s, "Transitions")
	nc := newCase(p.ID, "2.1", 2, 0)
	_, err := s.AddCases(ctx(t), []radmark.NewCase{nc})
	must(t, err, "AddCases")
	c, _ := s.Case(ctx(t), nc.Case.ID)
	t1, _ := s.Task(ctx(t), nc.Tasks[0].ID)
	t2, _ := s.Task(ctx(t), nc.Tasks[1].ID)

	assign := func(task *radmark.Task, who string, caseVersion int) error {
		next := *task
		next.State, next.Assignee = radmark.TaskAssigned, who
		cc := *c
		return s.ApplyWorkflowChange(ctx(t), &radmark.WorkflowChange{Case: &cc, CaseExpect: caseVersion,
			Tasks: []radmark.TaskChange{{Task: &next, Expect: task.Version, Event: NewEvent("mgr", "task.assign", "task", task.ID)}}})
	}
	before := chainLen(t, s)
	must(t, assign(t1, "ann", c.Version), "assign read 1")
	if n := chainLen(t, s); n != before+1 {
		t.Errorf("%d events for a transition", n-before)
	}
	got, _ := s.Task(ctx(t), t1.ID)
	if got.State != radmark.TaskAssigned || got.Assignee != "ann" || got.Version != t1.Version+1 {
		t.Errorf("after assign: %+v", got)
	}
	if c2, _ := s.Case(ctx(t), c.ID); c2.Version != c.Version+1 {
		t.Errorf("case version %d after a transition, want %d", c2.Version, c.Version+1)
	}
	// A transition decided on the old case version is stale.
	before = chainLen(t, s)
	err = assign(t2, "bob", c.Version)
	var se *radmark.StaleError
	if radmark.ErrorCode(err) != radmark.ECONFLICT || !errors.As(err, &se) || se.Object != "case" {
		t.Errorf("stale case: %v", err)
	}
	// So is one on an old task version.
	err = assign(t1, "bob", c.Version+1)
	if radmark.ErrorCode(err) != radmark.ECONFLICT || !errors.As(err, &se) || se.Object != "task" {
		t.Errorf("stale task: %v", err)
	}
	// A reader never holds two reads of a case.
	wantCode(t, assign(t2, "ann", c.Version+1), radmark.ECONFLICT, "second read of a case")
	if n := chainLen(t, s); n != before {
		t.Errorf("refused transitions appended %d events", n-before)
	}
	if got, _ := s.Task(ctx(t), t2.ID); got.State != radmark.TaskUnassigned || got.Version != t2.Version {
		t.Errorf("refused transitions changed task 2: %+v", got)
	}
	// New tasks and the case move together.
	c, _ = s.Case(ctx(t), c.ID)
	cc := *c
	cc.State, cc.Disagreement = radmark.CaseArbitration, "reads differ"
	arb := &radmark.Task{ID: NewID("task"), ProjectID: p.ID, CaseID: c.ID, Kind: radmark.TaskArbitration, State: radmark.TaskUnassigned}
	must(t, s.ApplyWorkflowChange(ctx(t), &radmark.WorkflowChange{Case: &cc, CaseExpect: c.Version,
		CaseEvent: NewEvent("rev", "case.arbitration", "case", c.ID), NewTasks: []*radmark.Task{arb},
		NewEvents: []*radmark.AuditEvent{NewEvent("rev", "task.create", "task", arb.ID)}}), "open arbitration")
	if got, _ := s.Case(ctx(t), c.ID); got.State != radmark.CaseArbitration || got.Disagreement != "reads differ" {
		t.Errorf("case = %+v", got)
	}
	if got, err := s.Task(ctx(t), arb.ID); err != nil || got.Kind != radmark.TaskArbitration {
		t.Errorf("arbitration task: %+v %v", got, err)
	}
	if ts, _ := s.Tasks(ctx(t), radmark.TaskFilter{CaseID: c.ID, Kind: radmark.TaskArbitration}); len(ts) != 1 {
		t.Errorf("arbitration tasks: %v", ts)
	}
	wantCode(t, s.ApplyWorkflowChange(ctx(t), &radmark.WorkflowChange{}), radmark.EINVALID, "empty change")
}

func testWorkflowClaims(t *testing.T, s WorkflowStores) {
	p := createProject(t, s, "Claims")
	low, high := newCase(p.ID, "3.1", 2, 0), newCase(p.ID, "3.2", 2, 5)
	caseDue := time.Date(2027, 1, 2, 3, 4, 5, 0, time.UTC)
	high.Case.Due = &caseDue
	_, err := s.AddCases(ctx(t), []radmark.NewCase{low, high})
	must(t, err, "AddCases")
	cfgDue := time.Date(2027, 5, 6, 7, 8, 9, 0, time.UTC)
	claim := func(who string, quota int) (*radmark.Task, error) {
		return s.ClaimTask(ctx(t), radmark.ClaimRequest{ProjectID: p.ID, Kind: radmark.TaskRead, Assignee: who, Quota: quota,
			Due: &cfgDue, Event: NewEvent(who, "task.claim", "task", "")})
	}
	// Priority first, then one read per reader per case.
	a1, err := claim("ann", 0)
	must(t, err, "claim")
	if a1 == nil || a1.CaseID != high.Case.ID || a1.Slot != 1 || a1.Assignee != "ann" || a1.State != radmark.TaskAssigned {
		t.Fatalf("first claim = %+v", a1)
	}
	a2, err := claim("ann", 0)
	must(t, err, "claim")
	if a2 == nil || a2.CaseID != low.Case.ID {
		t.Fatalf("second claim = %+v, want a read of the other case", a2)
	}
	// The case's due date wins over the one the claim proposes.
	if a1.Due == nil || !a1.Due.Equal(caseDue) || a2.Due == nil || !a2.Due.Equal(cfgDue) || a1.AssignedAt == nil {
		t.Errorf("due dates: %v and %v, want %v and %v", a1.Due, a2.Due, caseDue, cfgDue)
	}
	if _, err := claim("ann", 2); radmark.ErrorCode(err) != radmark.EFORBIDDEN {
		t.Errorf("claim over quota: %v", err)
	}
	a3, err := claim("ann", 0)
	if err != nil || a3 != nil {
		t.Errorf("claim with nothing left for ann = %+v, %v", a3, err)
	}
	// The claim's event names the task.
	evs, _ := s.AuditEvents(ctx(t), radmark.AuditFilter{ObjectID: string(a1.ID)})
	if len(evs) != 1 || evs[0].Action != "task.claim" {
		t.Errorf("events of the claimed task: %v", describeEvents(evs))
	}
	b1, _ := claim("bob", 0)
	b2, _ := claim("bob", 0)
	b3, _ := claim("bob", 0)
	if b1 == nil || b2 == nil || b3 != nil || b1.Slot != 2 || b2.Slot != 2 {
		t.Errorf("bob's claims: %+v %+v %+v", b1, b2, b3)
	}
}

// TestConcurrentClaims has many claimers (spread over the given stores,
// which may be separate handles or replicas) pull tasks at once: every
// task is given exactly once, and nobody gets two reads of one case.
func TestConcurrentClaims(t *testing.T, stores ...WorkflowStores) {
	const cases, readers, claimers = 30, 2, 12
	s := stores[0]
	p := createProject(t, s, "Concurrent claims")
	var ncs []radmark.NewCase
	for i := range cases {
		ncs = append(ncs, newCase(p.ID, radmark.UID(fmt.Sprintf("4.%d", i)), readers, i%3))
	}
	_, err := s.AddCases(ctx(t), ncs)
	must(t, err, "AddCases")
	var mu sync.Mutex
	got := map[radmark.ID]string{}
	var wg sync.WaitGroup
	for i := range claimers {
		store := stores[i%len(stores)]
		who := fmt.Sprintf("reader-%d", i)
		wg.Go(func() {
			for {
				task, err := store.ClaimTask(ctx(t), radmark.ClaimRequest{ProjectID: p.ID, Kind: radmark.TaskRead,
					Assignee: who, Event: NewEvent(who, "task.claim", "task", "")})
				if err != nil {
					t.Errorf("claim by %s: %v", who, err)
					return
				}
				if task == nil {
					return
				}
				mu.Lock()
				if prev, dup := got[task.ID]; dup {
					t.Errorf("task %s given to %s and %s", task.ID, prev, who)
				}
				got[task.ID] = who
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(got) != cases*readers {
		t.Errorf("%d tasks claimed, want %d", len(got), cases*readers)
	}
	tasks, err := s.Tasks(ctx(t), radmark.TaskFilter{ProjectID: p.ID})
	must(t, err, "Tasks")
	perCase := map[radmark.ID]map[string]bool{}
	for _, task := range tasks {
		if task.State != radmark.TaskAssigned || got[task.ID] != task.Assignee {
			t.Errorf("task %s: %s for %q, claimed by %q", task.ID, task.State, task.Assignee, got[task.ID])
		}
		if perCase[task.CaseID] == nil {
			perCase[task.CaseID] = map[string]bool{}
		}
		if perCase[task.CaseID][task.Assignee] {
			t.Errorf("%s holds two reads of case %s", task.Assignee, task.CaseID)
		}
		perCase[task.CaseID][task.Assignee] = true
	}
	evs, err := s.AuditEvents(ctx(t), radmark.AuditFilter{Action: "task.claim"})
	must(t, err, "AuditEvents")
	n := 0
	for _, e := range evs {
		if _, ok := got[radmark.ID(e.ObjectID)]; ok {
			n++
		}
	}
	if n != cases*readers {
		t.Errorf("%d claim events, want %d", n, cases*readers)
	}
}

func testWorkflowComments(t *testing.T, s WorkflowStores) {
	p := createProject(t, s, "Comments")
	nc := newCase(p.ID, "5.1", 1, 0)
	_, err := s.AddCases(ctx(t), []radmark.NewCase{nc})
	must(t, err, "AddCases")
	c := &radmark.Comment{ID: NewID("cm"), ProjectID: p.ID, CaseID: nc.Case.ID, TaskID: nc.Tasks[0].ID, Author: "rev",
		Body: "the margin is off", Item: "seg-1", Image: &radmark.ImageRef{SOPInstanceUID: "1.2.3", Frame: 2}, LPS: &[3]float64{1, -2.5, 3}}
	before := chainLen(t, s)
	ev := NewEvent("rev", "comment.add", "comment", c.ID)
	must(t, s.PutComment(ctx(t), c, 0, ev), "PutComment")
	expectAppended(t, s, before, ev)
	got, err := s.Comment(ctx(t), c.ID)
	must(t, err, "Comment")
	if got.Body != c.Body || got.Image == nil || got.Image.Frame != 2 || got.LPS == nil || got.LPS[1] != -2.5 || got.Version != 1 || got.Resolved {
		t.Errorf("comment = %+v", got)
	}
	got.Resolved, got.ResolvedBy = true, "ann"
	must(t, s.PutComment(ctx(t), got, 1, NewEvent("ann", "comment.resolve", "comment", c.ID)), "resolve")
	wantCode(t, s.PutComment(ctx(t), got, 1, NewEvent("ann", "comment.resolve", "comment", c.ID)), radmark.ECONFLICT, "stale resolve")
	list, err := s.Comments(ctx(t), nc.Case.ID)
	must(t, err, "Comments")
	if len(list) != 1 || !list[0].Resolved || list[0].ResolvedBy != "ann" || list[0].Version != 2 {
		t.Errorf("comments = %+v", list)
	}
	wantCode(t, s.DeleteComment(ctx(t), c.ID, 1, NewEvent("rev", "comment.delete", "comment", c.ID)), radmark.ECONFLICT, "stale delete")
	must(t, s.DeleteComment(ctx(t), c.ID, 2, NewEvent("rev", "comment.delete", "comment", c.ID)), "delete")
	if _, err := s.Comment(ctx(t), c.ID); radmark.ErrorCode(err) != radmark.ENOTFOUND {
		t.Errorf("deleted comment: %v", err)
	}
	wantCode(t, s.PutComment(ctx(t), &radmark.Comment{ID: NewID("cm"), ProjectID: p.ID, CaseID: "nope", Author: "rev", Body: "x"}, 0,
		NewEvent("rev", "comment.add", "comment", "x")), radmark.ENOTFOUND, "comment on a missing case")
}
