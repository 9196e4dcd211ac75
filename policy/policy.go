// Package policy decides every action in radmark: who may do what, in which
// project. The HTTP layer asks it for every route (API and DICOMweb); the
// domain services ask it for finer, object-level decisions (a reader's own
// annotation set, blinding). Keeping the whole matrix in one table makes it
// reviewable and lets a test enumerate it.
package policy

import (
	"context"
	"slices"

	"github.com/radmark/radmark"
)

// Action is something a request does.
type Action string

// Site-level actions (no project).
const (
	OntologyRead  Action = "ontology.read"  // search coded concepts
	ProjectList   Action = "project.list"   // list the projects one belongs to (admins: all)
	ProjectCreate Action = "project.create" // create a project
	UserManage    Action = "user.manage"    // accounts, site roles
	AuditRead     Action = "audit.read"     // the audit trail and its verification
	ArchiveSearch Action = "archive.search" // QIDO-RS (results filtered to visible studies)
	ArchiveWrite  Action = "archive.write"  // STOW-RS
	Self          Action = "self"           // one's own account, sessions and tokens
	DeidLinkage   Action = "deid.linkage"   // read the original identifiers behind a pseudonym (audited)
)

// Project-level actions.
const (
	ProjectRead     Action = "project.read"     // project, schema, members, progress
	ProjectManage   Action = "project.manage"   // settings, schema, members, cases, workflow
	ImagesRead      Action = "images.read"      // the images of the project's cases
	Annotate        Action = "annotate"         // open and save one's own annotation sets
	AnnotationsRead Action = "annotations.read" // others' annotation sets (subject to blinding)
	TaskClaim       Action = "task.claim"       // pull or accept a task, work on it
	TaskAssign      Action = "task.assign"      // assign and reassign tasks
	Review          Action = "review"           // comment, accept, request changes
	Arbitrate       Action = "arbitrate"        // resolve disagreements between reads
	DeidManage      Action = "deid.manage"      // de-identification profile, quarantine review
	Export          Action = "export"           // export files, create and download releases, follow their jobs
)

// siteRule says who may do a site-level action: admins always; Member
// means any user with a role in some project; Anyone means any signed-in
// user.
type siteRule struct{ anyone, member, manager bool }

var site = map[Action]siteRule{
	OntologyRead:  {anyone: true},
	ProjectList:   {anyone: true},
	Self:          {anyone: true},
	ArchiveSearch: {member: true},
	ArchiveWrite:  {manager: true},
	ProjectCreate: {},
	UserManage:    {},
	AuditRead:     {},
	DeidLinkage:   {},
}

// project maps each project-level action to the roles allowed it. Site
// admins may do everything.
var project = map[Action][]radmark.Role{
	ProjectRead:     radmark.Roles,
	ImagesRead:      radmark.Roles,
	ProjectManage:   {radmark.RoleManager},
	Annotate:        {radmark.RoleAnnotator, radmark.RoleRadiologist},
	AnnotationsRead: {radmark.RoleManager, radmark.RoleReviewer, radmark.RoleRadiologist, radmark.RoleViewer},
	TaskClaim:       {radmark.RoleAnnotator, radmark.RoleRadiologist},
	TaskAssign:      {radmark.RoleManager},
	Review:          {radmark.RoleReviewer, radmark.RoleManager},
	Arbitrate:       {radmark.RoleRadiologist, radmark.RoleManager},
	DeidManage:      {radmark.RoleManager},
	Export:          {radmark.RoleManager},
}

// IsProjectAction reports whether a is decided per project.
func IsProjectAction(a Action) bool { _, ok := project[a]; return ok }

// Actions lists every action, for tests and documentation.
func Actions() []Action {
	var out []Action
	for a := range site {
		out = append(out, a)
	}
	for a := range project {
		out = append(out, a)
	}
	slices.Sort(out)
	return out
}

// RolesAllowed returns the project roles allowed a project-level action.
func RolesAllowed(a Action) []radmark.Role { return slices.Clone(project[a]) }

// Memberships is what policy needs of the store.
type Memberships interface {
	// ProjectRoles returns the user's roles in a project (none: not a
	// member).
	ProjectRoles(ctx context.Context, project, user radmark.ID) ([]radmark.Role, error)
	// UserProjects returns every membership of a user.
	UserProjects(ctx context.Context, user radmark.ID) ([]radmark.Membership, error)
}

// Policy decides requests.
type Policy struct {
	Members Memberships
}

// Unauthenticated is the error for a request without a valid identity.
func Unauthenticated(why string) error {
	return radmark.Errorf(radmark.EUNAUTHORIZED, "%s", why)
}

// Decide returns nil if actor may do action (in project, for project-level
// actions), EUNAUTHORIZED without an actor, and EFORBIDDEN with the reason
// otherwise. A project the user is not a member of is reported as not
// found, so its existence does not leak.
func (p *Policy) Decide(ctx context.Context, actor *radmark.Actor, action Action, projectID radmark.ID) error {
	if actor == nil || actor.User == nil {
		return Unauthenticated("sign in, or send a personal API token as a Bearer token")
	}
	if actor.User.Disabled {
		return radmark.Errorf(radmark.EUNAUTHORIZED, "account %s is disabled", actor.User.Name)
	}
	if err := checkScopes(actor, action); err != nil {
		return err
	}
	if actor.User.Admin {
		return nil
	}
	if allowed, ok := project[action]; ok {
		if projectID == "" {
			return radmark.Errorf(radmark.EINTERNAL, "policy: %s needs a project", action)
		}
		roles, err := p.Members.ProjectRoles(ctx, projectID, actor.User.ID)
		if err != nil {
			return err
		}
		if len(roles) == 0 {
			return radmark.Errorf(radmark.ENOTFOUND, "project %s not found (or you are not a member)", projectID)
		}
		for _, r := range roles {
			if slices.Contains(allowed, r) {
				return nil
			}
		}
		return radmark.Errorf(radmark.EFORBIDDEN, "%s needs one of the roles %v in this project; you have %v", action, allowed, roles)
	}
	rule, ok := site[action]
	if !ok {
		return radmark.Errorf(radmark.EINTERNAL, "policy: unknown action %q", action)
	}
	if rule.anyone {
		return nil
	}
	if rule.member || rule.manager {
		ms, err := p.Members.UserProjects(ctx, actor.User.ID)
		if err != nil {
			return err
		}
		for _, m := range ms {
			if rule.member && len(m.Roles) > 0 {
				return nil
			}
			if rule.manager && slices.Contains(m.Roles, radmark.RoleManager) {
				return nil
			}
		}
		if rule.manager {
			return radmark.Errorf(radmark.EFORBIDDEN, "%s needs the manager role in a project, or the site admin role", action)
		}
		return radmark.Errorf(radmark.EFORBIDDEN, "%s needs a role in a project", action)
	}
	return radmark.Errorf(radmark.EFORBIDDEN, "%s needs the site admin role", action)
}

// Token scopes: a token limited to "read" may do only actions that change
// nothing.
var readOnly = map[Action]bool{
	OntologyRead: true, ProjectList: true, ArchiveSearch: true, ProjectRead: true,
	ImagesRead: true, AnnotationsRead: true, AuditRead: true,
}

// Scopes a personal API token may carry.
const (
	ScopeRead  = "read"  // read-only actions
	ScopeWrite = "write" // everything the user may do
)

func checkScopes(actor *radmark.Actor, action Action) error {
	if actor.Via != "token" {
		return nil
	}
	if slices.Contains(actor.TokenScopes, ScopeWrite) {
		return nil
	}
	if slices.Contains(actor.TokenScopes, ScopeRead) && readOnly[action] {
		return nil
	}
	return radmark.Errorf(radmark.EFORBIDDEN, "this API token's scopes %v do not allow %s", actor.TokenScopes, action)
}
