package workflow

import (
	"context"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/policy"
)

// caseOfSet finds the case an annotation set belongs to (a case on its
// series, or on its whole study); nil when the set is on no case.
func (s *Service) caseOfSet(ctx context.Context, set *radmark.AnnotationSet) (*radmark.Case, error) {
	cases, err := s.Store.Cases(ctx, radmark.CaseFilter{ProjectID: set.ProjectID, StudyUID: set.StudyUID})
	if err != nil {
		return nil, err
	}
	var whole *radmark.Case
	for _, c := range cases {
		if c.SeriesUID == set.SeriesUID {
			return c, nil
		}
		if c.SeriesUID == "" {
			whole = c
		}
	}
	return whole, nil
}

// CanReadSet decides whether actor may see an annotation set, beyond the
// project-level policy: readers are blinded. Its own reader always sees
// a set. While the set's case is being read (some read not submitted),
// nobody else does but managers, admins and reviewers who do not read the
// case; once every read was submitted, the case's readers see each
// other's reads and members with AnnotationsRead see them too (viewers
// only once the case is done). Sets on no case follow the policy's
// AnnotationsRead roles. A non-member gets ENOTFOUND, so the set's
// existence does not leak; a blinded reader EFORBIDDEN.
func (s *Service) CanReadSet(ctx context.Context, actor *radmark.Actor, set *radmark.AnnotationSet) error {
	if actor == nil || actor.User == nil {
		return unauthenticated()
	}
	if actor.IsAdmin() {
		return nil
	}
	roles, err := s.roles(ctx, set.ProjectID, actor)
	if err != nil {
		return err
	}
	if len(roles) == 0 {
		return radmark.Errorf(radmark.ENOTFOUND, "annotation set %s not found", set.ID)
	}
	name := actor.Name()
	if set.Reader == name {
		return nil
	}
	c, err := s.caseOfSet(ctx, set)
	if err != nil {
		return err
	}
	mayRead := mayDo(roles, policy.AnnotationsRead)
	if c == nil {
		if mayRead {
			return nil
		}
		return forbidden("reading others' annotation sets needs one of the roles %v", policy.RolesAllowed(policy.AnnotationsRead))
	}
	tasks, err := s.Store.Tasks(ctx, radmark.TaskFilter{CaseID: c.ID})
	if err != nil {
		return err
	}
	isReader := false
	for _, t := range tasks {
		if t.Kind == radmark.TaskRead && t.Assignee == name {
			isReader = true
		}
	}
	manager := hasAny(roles, []radmark.Role{radmark.RoleManager})
	reviewer := hasAny(roles, []radmark.Role{radmark.RoleReviewer})
	switch c.State {
	case radmark.CaseReading:
		if manager || (reviewer && !isReader) {
			return nil
		}
		return forbidden("the reads of case %s are blinded until every read is submitted", c.ID)
	case radmark.CaseDone:
		if mayRead || isReader {
			return nil
		}
	default:
		if isReader || (mayRead && !(len(roles) == 1 && roles[0] == radmark.RoleViewer)) {
			return nil
		}
		if mayRead {
			return forbidden("viewers see the results of case %s once it is done", c.ID)
		}
	}
	return forbidden("reading others' annotation sets needs one of the roles %v", policy.RolesAllowed(policy.AnnotationsRead))
}

// CanWriteSet decides whether actor may save to an annotation set: only
// its reader, and for a set of a task only while that task is in progress
// and the reader may still do it. Sets of studies that are cases of the
// project are written through tasks only.
func (s *Service) CanWriteSet(ctx context.Context, actor *radmark.Actor, set *radmark.AnnotationSet) error {
	if actor == nil || actor.User == nil {
		return unauthenticated()
	}
	roles, err := s.roles(ctx, set.ProjectID, actor)
	if err != nil {
		return err
	}
	name := actor.Name()
	if len(roles) == 0 {
		if set.Reader == name {
			return forbidden("you are no longer a member of project %s, so annotation set %s is closed to you", set.ProjectID, set.ID)
		}
		return radmark.Errorf(radmark.ENOTFOUND, "annotation set %s not found", set.ID)
	}
	if set.Reader != name {
		return forbidden("annotation set %s is %s's; only its reader saves to it", set.ID, set.Reader)
	}
	tasks, err := s.Store.Tasks(ctx, radmark.TaskFilter{SetID: set.ID})
	if err != nil {
		return err
	}
	for _, t := range tasks {
		if t.Assignee != name {
			continue
		}
		cs, err := s.loadCase(ctx, t.CaseID)
		if err != nil {
			return err
		}
		if err := s.checkAssignee(ctx, cs, t, name, roles); err != nil {
			return err
		}
		if t.State != radmark.TaskInProgress {
			return &radmark.Error{Code: radmark.ECONFLICT,
				Message: "your " + string(t.Kind) + " task " + string(t.ID) + " is " + string(t.State) + ", not in progress: its annotations change only while it is in progress",
				Err:     &TransitionError{Task: t.ID, Kind: t.Kind, State: t.State, Allowed: Allowed(t)}}
		}
		return nil
	}
	if len(tasks) > 0 {
		return forbidden("the task of annotation set %s was reassigned; it is no longer yours to change", set.ID)
	}
	c, err := s.caseOfSet(ctx, set)
	if err != nil {
		return err
	}
	if c != nil {
		return forbidden("study %s is case %s of this project: annotate it through your task", set.StudyUID, c.ID)
	}
	if !mayDo(roles, policy.Annotate) {
		return forbidden("annotating needs one of the roles %v", policy.RolesAllowed(policy.Annotate))
	}
	return nil
}

// CanCreateSet decides whether actor may open an annotation set of their
// own on a study (or series) of a project outside a task: not on the
// project's cases, whose sets the workflow opens when a task starts.
func (s *Service) CanCreateSet(ctx context.Context, actor *radmark.Actor, project radmark.ID, study, series radmark.UID) error {
	if actor == nil || actor.User == nil {
		return unauthenticated()
	}
	set := &radmark.AnnotationSet{ProjectID: project, StudyUID: study, SeriesUID: series, Reader: actor.Name()}
	c, err := s.caseOfSet(ctx, set)
	if err != nil {
		return err
	}
	if c != nil {
		return forbidden("study %s is case %s of this project: annotate it through your task (the set opens when the task starts)", study, c.ID)
	}
	return nil
}

// CanWriteSetFor decides whether actor, managing the project, may write
// into another reader's annotation set (an import of a model's output or
// of another tool's reads): never into a set on one of the project's
// cases, whose reads change only through their tasks, so a blinded or
// submitted read stays its reader's.
func (s *Service) CanWriteSetFor(ctx context.Context, actor *radmark.Actor, set *radmark.AnnotationSet) error {
	if actor == nil || actor.User == nil {
		return unauthenticated()
	}
	c, err := s.caseOfSet(ctx, set)
	if err != nil {
		return err
	}
	if c != nil {
		return forbidden("study %s is case %s of this project: its reads change only through their tasks, so nothing is written into %s's annotation set there", set.StudyUID, c.ID, set.Reader)
	}
	return nil
}
