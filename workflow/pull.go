package workflow

import (
	"context"
	"fmt"
	"slices"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/policy"
)

// Next gives the actor their next task of a kind in a project: a task
// already assigned to them and not started, else the best unassigned one
// they may take (highest priority, then oldest case), claimed atomically
// by the database so that no two readers, on any replica, get the same.
// It returns nil when nothing is waiting. Reads are pulled only in
// projects whose assignment is pull.
func (s *Service) Next(ctx context.Context, op Op, project radmark.ID, kind radmark.TaskKind) (*radmark.Task, error) {
	if op.Actor == nil || op.Actor.User == nil {
		return nil, unauthenticated()
	}
	if kind == "" {
		kind = radmark.TaskRead
	}
	if kind != radmark.TaskRead && kind != radmark.TaskArbitration {
		return nil, radmark.Errorf(radmark.EINVALID, "task kind must be read or arbitration, not %q", kind)
	}
	name := op.name()
	roles, err := s.roles(ctx, project, op.Actor)
	if err != nil {
		return nil, err
	}
	if len(roles) == 0 {
		return nil, radmark.Errorf(radmark.ENOTFOUND, "project %s not found (or you are not a member)", project)
	}
	cfg, err := s.Store.WorkflowConfig(ctx, project)
	if radmark.ErrorCode(err) == radmark.ENOTFOUND {
		return nil, radmark.Errorf(radmark.EINVALID, "project %s has no workflow yet", project)
	}
	if err != nil {
		return nil, err
	}
	var exclude []radmark.ID
	switch kind {
	case radmark.TaskRead:
		if cfg.Assignment != radmark.AssignPull {
			return nil, forbidden("this project assigns reads %s, so there is no queue to pull from", cfg.Assignment)
		}
		if !readerEligible(cfg, name, roles) {
			return nil, forbidden("you may not read this project's cases (readers: roles %v, users %v)", cfg.ReaderRoles, cfg.ReaderUsers)
		}
	case radmark.TaskArbitration:
		if !mayDo(roles, policy.Arbitrate) {
			return nil, forbidden("arbitration needs one of the roles %v", policy.RolesAllowed(policy.Arbitrate))
		}
	}
	mine, err := s.Store.Tasks(ctx, radmark.TaskFilter{ProjectID: project, Kind: kind, Assignee: name,
		States: []radmark.TaskState{radmark.TaskAssigned}, Limit: 1})
	if err != nil {
		return nil, err
	}
	if len(mine) > 0 {
		return mine[0], nil
	}
	if kind == radmark.TaskArbitration {
		// An arbiter may not take a case they read.
		read, err := s.Store.Tasks(ctx, radmark.TaskFilter{ProjectID: project, Kind: radmark.TaskRead, Assignee: name})
		if err != nil {
			return nil, err
		}
		for _, t := range read {
			if !slices.Contains(exclude, t.CaseID) {
				exclude = append(exclude, t.CaseID)
			}
		}
	}
	now := s.now()
	quota := 0
	if kind == radmark.TaskRead {
		quota = cfg.Quota
	}
	ev := s.event(op.Actor, op.RequestID, "task.claim", "task", "", fmt.Sprintf("claim: %s → %s (next task)", radmark.TaskUnassigned, radmark.TaskAssigned))
	return s.Store.ClaimTask(ctx, radmark.ClaimRequest{ProjectID: project, Kind: kind, Assignee: name, Quota: quota,
		Exclude: exclude, Now: now, Due: dueDate(cfg, nil, now), Event: ev})
}
