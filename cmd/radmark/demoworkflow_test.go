package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/workflow"
)

func TestDemoWorkflowProject(t *testing.T) {
	ctx := t.Context()
	db := openData(t, t.TempDir())
	var out bytes.Buffer
	studies := []radmark.UID{"1.2.826.0.1.3680043.10.1.1", "1.2.826.0.1.3680043.10.1.2"}
	if err := createDemoWorkflow(ctx, db, studies, &out); err == nil {
		t.Error("the workflow demo was made without the demo accounts")
	}
	if err := createDemoProject(ctx, db, &out); err != nil {
		t.Fatal(err)
	}
	if err := setUpDemoAccounts(ctx, db, &out); err != nil {
		t.Fatal(err)
	}
	for range 2 { // a second run changes nothing
		out.Reset()
		if err := createDemoWorkflow(ctx, db, studies, &out); err != nil {
			t.Fatal(err)
		}
	}
	if !strings.Contains(out.String(), "0 cases added, 2 in all") {
		t.Errorf("second run: %q", out.String())
	}
	projects, err := db.Projects(ctx)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]radmark.ID{}
	for _, p := range projects {
		byName[p.Name] = p.ID
	}
	wf, first := byName[demoWorkflowName], byName[demoProjectName]
	if wf == "" || first == "" || len(projects) != 2 {
		t.Fatalf("projects %v", byName)
	}
	reading := &workflow.Service{Store: db, Archive: db, Roster: workflow.AccountRoster{Accounts: db}}
	if cs, err := reading.Cases(ctx, radmark.CaseFilter{ProjectID: first}); err != nil || len(cs) != 0 {
		t.Errorf("the first demo project has cases %v (%v): its annotation sets are personal", cs, err)
	}
	cfg, err := reading.Config(ctx, wf)
	if err != nil || cfg.Version != 1 || cfg.Readers != 1 || cfg.Assignment != radmark.AssignPull {
		t.Fatalf("workflow %+v (%v)", cfg, err)
	}
	tasks, err := reading.Tasks(ctx, radmark.TaskFilter{ProjectID: wf})
	if err != nil || len(tasks) != len(studies) {
		t.Fatalf("tasks %v (%v), want one read per study", tasks, err)
	}
	for _, task := range tasks {
		if task.State != radmark.TaskUnassigned || task.Kind != radmark.TaskRead {
			t.Errorf("task %s is %s %s, want an unassigned read", task.ID, task.Kind, task.State)
		}
	}
	for name, want := range demoWorkflowRoles {
		u, err := db.UserByName(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		have, err := db.ProjectRoles(ctx, wf, u.ID)
		if err != nil || joinRoles(have) != joinRoles(want) {
			t.Errorf("%s has roles %v (%v), want %v", name, have, err, want)
		}
	}
	// annotator1's next task is the first study's (its case has the higher priority).
	u, err := db.UserByName(ctx, "annotator1")
	if err != nil {
		t.Fatal(err)
	}
	next, err := reading.Next(ctx, workflow.Op{Actor: &radmark.Actor{User: u, Via: "session"}}, wf, radmark.TaskRead)
	if err != nil {
		t.Fatal(err)
	}
	if next == nil || next.StudyUID != studies[0] || next.Assignee != "annotator1" || next.State != radmark.TaskAssigned {
		t.Errorf("next task %+v, want the first study's, assigned to annotator1", next)
	}
	// The reviewer reads nothing.
	r, err := db.UserByName(ctx, "reviewer")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reading.Next(ctx, workflow.Op{Actor: &radmark.Actor{User: r, Via: "session"}}, wf, radmark.TaskRead); radmark.ErrorCode(err) != radmark.EFORBIDDEN {
		t.Errorf("the reviewer pulled a read: %v", err)
	}
}
