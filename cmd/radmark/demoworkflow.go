package main

import (
	"context"
	"fmt"
	"io"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/annotation"
	"github.com/radmark/radmark/auth"
	"github.com/radmark/radmark/workflow"
)

// demoWorkflowName is the second demo project: the demo studies as cases of
// a reading workflow, so `make run` shows a working task queue. The first
// demo project stays without cases (personal annotation sets).
const demoWorkflowName = "Demo: reading workflow"

// demoWorkflowRoles are the demo accounts' roles in the workflow project.
var demoWorkflowRoles = map[string][]radmark.Role{
	"admin":      {radmark.RoleManager},
	"annotator1": {radmark.RoleAnnotator},
	"annotator2": {radmark.RoleAnnotator},
	"reviewer":   {radmark.RoleReviewer},
}

// createDemoWorkflow makes (or completes) the workflow demo project: the
// demo schema, one pull-queue reader per case from the annotators, the demo
// accounts as members, and studies as cases (the first one with a higher
// priority, so the queue hands it out first). Run again, it changes nothing.
func createDemoWorkflow(ctx context.Context, db metaStore, studies []radmark.UID, stdout io.Writer) error {
	if len(studies) == 0 {
		return fmt.Errorf("the workflow demo project needs studies")
	}
	actor := &radmark.Actor{User: &radmark.User{Name: "radmark-demo"}, Via: "cli"}
	projects, err := db.Projects(ctx)
	if err != nil {
		return err
	}
	var project *radmark.Project
	for _, p := range projects {
		if p.Name == demoWorkflowName {
			project = p
		}
	}
	if project == nil {
		labels, questions, err := demoSchema()
		if err != nil {
			return err
		}
		svc := &annotation.Service{Store: db}
		op := annotation.Op{Actor: actor.Name()}
		if project, err = svc.CreateProject(ctx, op, demoWorkflowName, "The demo studies as cases of a reading workflow: annotators pull tasks, the reviewer accepts or requests changes."); err != nil {
			return err
		}
		if _, err := svc.PutSchema(ctx, op, project.ID, 0, labels, questions); err != nil {
			return err
		}
	}
	accounts := &auth.Service{Store: db}
	for _, name := range sortedKeys(demoWorkflowRoles) {
		u, err := db.UserByName(ctx, name)
		if err != nil {
			return fmt.Errorf("demo account %s: %w", name, err)
		}
		have, err := db.ProjectRoles(ctx, project.ID, u.ID)
		if err != nil {
			return err
		}
		if joinRoles(have) != joinRoles(demoWorkflowRoles[name]) {
			if _, err := accounts.SetMembership(ctx, auth.Op{Actor: actor.Name()}, project.ID, u.ID, demoWorkflowRoles[name]); err != nil {
				return fmt.Errorf("demo account %s: %w", name, err)
			}
		}
	}
	reading := &workflow.Service{Store: db, Archive: db, Roster: workflow.AccountRoster{Accounts: db}}
	op := workflow.Op{Actor: actor}
	cfg, err := reading.Config(ctx, project.ID)
	if err != nil {
		return err
	}
	if cfg.Version == 0 {
		cfg = &radmark.WorkflowConfig{ProjectID: project.ID, Readers: 1, ReaderRoles: []radmark.Role{radmark.RoleAnnotator},
			Assignment: radmark.AssignPull, DueDays: 7}
		if _, err := reading.PutConfig(ctx, op, cfg, 0); err != nil {
			return err
		}
	}
	added := 0
	for i, study := range studies {
		priority := 0
		if i == 0 {
			priority = 1
		}
		res, err := reading.AddCases(ctx, op, project.ID, workflow.AddRequest{Studies: []workflow.CaseRef{{StudyUID: study}}, Priority: &priority})
		if err != nil {
			return fmt.Errorf("workflow demo case %s: %w", study, err)
		}
		added += len(res.Added)
	}
	fmt.Fprintf(stdout, "demo project %q (%s): %d cases added, %d in all; 1 reader per case from the annotators, pull queue (Next task)\n",
		project.Name, project.ID, added, len(studies))
	return nil
}
