package workflow_test

import (
	"testing"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/internal/testdb"
	"github.com/radmark/radmark/workflow"
)

// TestAccountRoster reads memberships from the account store: disabled
// accounts and removed members are not readers.
func TestAccountRoster(t *testing.T) {
	for _, engine := range testdb.Engines {
		t.Run(engine.Name, func(t *testing.T) {
			store := engine.Open(t)
			us, ok := store.(radmark.UserStore)
			if !ok {
				t.Fatalf("%T is not an account store", store)
			}
			ctx := t.Context()
			p := &radmark.Project{ID: "proj-1", Name: "P", CreatedBy: "mgr"}
			ev := func(action string) *radmark.AuditEvent {
				return &radmark.AuditEvent{ID: radmark.ID("ev-" + action), Actor: "mgr", Action: action}
			}
			if err := store.CreateProject(ctx, p, ev("project")); err != nil {
				t.Fatal(err)
			}
			for i, name := range []string{"ann", "bob", "cat"} {
				u := &radmark.User{ID: radmark.ID("user-" + name), Name: name}
				if err := us.CreateUser(ctx, u, radmark.Credentials{PasswordHash: "x"}, ev("user"+name)); err != nil {
					t.Fatal(err)
				}
				roles := []radmark.Role{radmark.RoleAnnotator}
				if i == 1 {
					roles = []radmark.Role{radmark.RoleReviewer, radmark.RoleManager}
				}
				if err := us.SetMembership(ctx, &radmark.Membership{ProjectID: p.ID, UserID: u.ID, Roles: roles}, ev("member"+name)); err != nil {
					t.Fatal(err)
				}
			}
			cat, _ := us.UserByName(ctx, "cat")
			cat.Disabled = true
			if err := us.UpdateUser(ctx, cat, ev("disable")); err != nil {
				t.Fatal(err)
			}
			r := workflow.AccountRoster{Accounts: us}
			got, err := r.ProjectMembers(ctx, p.ID)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 2 || len(got["ann"]) != 1 || got["ann"][0] != radmark.RoleAnnotator || len(got["bob"]) != 2 || got["cat"] != nil {
				t.Errorf("members = %v", got)
			}
			if err := us.RemoveMembership(ctx, p.ID, "user-ann", ev("remove")); err != nil {
				t.Fatal(err)
			}
			if got, _ := r.ProjectMembers(ctx, p.ID); got["ann"] != nil {
				t.Errorf("a removed member is still listed: %v", got)
			}
		})
	}
}
