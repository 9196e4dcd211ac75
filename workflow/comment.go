package workflow

import (
	"context"
	"fmt"
	"math"
	"strings"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/policy"
)

// CommentRequest is a new review comment.
type CommentRequest struct {
	TaskID radmark.ID        `json:"taskId,omitempty"`
	Body   string            `json:"body"`
	Item   string            `json:"item,omitempty"`
	Image  *radmark.ImageRef `json:"image,omitempty"`
	LPS    *[3]float64       `json:"lps,omitempty"`
}

// AddComment adds a reviewer's comment to a case: on the whole case, or
// on one read (TaskID), optionally pinned to one of its items or to a
// point (LPS mm, on an image).
func (s *Service) AddComment(ctx context.Context, op Op, caseID radmark.ID, req CommentRequest) (*radmark.Comment, error) {
	if op.Actor == nil || op.Actor.User == nil {
		return nil, unauthenticated()
	}
	c, err := s.Store.Case(ctx, caseID)
	if err != nil {
		return nil, err
	}
	roles, err := s.roles(ctx, c.ProjectID, op.Actor)
	if err != nil {
		return nil, err
	}
	if len(roles) == 0 {
		return nil, radmark.Errorf(radmark.ENOTFOUND, "case %s not found", caseID)
	}
	if !mayDo(roles, policy.Review) {
		return nil, forbidden("commenting needs one of the roles %v", policy.RolesAllowed(policy.Review))
	}
	body := strings.TrimSpace(req.Body)
	if body == "" || len(body) > 10000 {
		return nil, radmark.Errorf(radmark.EINVALID, "a comment needs a body of 1-10000 bytes")
	}
	if req.LPS != nil {
		for _, v := range req.LPS {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, radmark.Errorf(radmark.EINVALID, "a comment's LPS point must be finite")
			}
		}
	}
	if req.Item != "" && req.TaskID == "" {
		return nil, radmark.Errorf(radmark.EINVALID, "a comment on item %s must name the read (taskId) it is in", req.Item)
	}
	if req.TaskID != "" {
		t, err := s.Store.Task(ctx, req.TaskID)
		if err != nil || t.CaseID != caseID {
			return nil, radmark.Errorf(radmark.EINVALID, "task %s is not a task of case %s", req.TaskID, caseID)
		}
		if req.Item != "" {
			if t.Revision == "" {
				return nil, radmark.Errorf(radmark.EINVALID, "read %s has no submitted revision to pin a comment to", t.ID)
			}
			rev, err := s.revision(ctx, t.Revision)
			if err != nil {
				return nil, err
			}
			found := false
			for _, it := range rev.Content.Items {
				found = found || it.ID == req.Item
			}
			if !found {
				return nil, radmark.Errorf(radmark.EINVALID, "revision %s has no item %s", rev.ID, req.Item)
			}
		}
	}
	cm := &radmark.Comment{ID: newID(), ProjectID: c.ProjectID, CaseID: caseID, TaskID: req.TaskID, Author: op.name(),
		Body: body, Item: req.Item, Image: req.Image, LPS: req.LPS}
	ev := s.event(op.Actor, op.RequestID, "comment.add", "comment", cm.ID, "case "+string(caseID))
	if err := s.Store.PutComment(ctx, cm, 0, ev); err != nil {
		return nil, err
	}
	return cm, nil
}

// commentVisible hides comments on a read from the other readers of the
// case while it is blinded.
func (s *Service) commentVisible(ctx context.Context, actor *radmark.Actor, roles []radmark.Role, cs *caseState, cm *radmark.Comment) bool {
	if cm.TaskID == "" || actor.IsAdmin() || cs.c.State != radmark.CaseReading {
		return true
	}
	if hasAny(roles, []radmark.Role{radmark.RoleManager, radmark.RoleReviewer}) && !cs.isReader(actor.Name()) {
		return true
	}
	for _, t := range cs.tasks {
		if t.ID == cm.TaskID {
			return t.Assignee == actor.Name()
		}
	}
	return false
}

// Comments lists a case's comments that actor may see.
func (s *Service) Comments(ctx context.Context, actor *radmark.Actor, caseID radmark.ID) ([]*radmark.Comment, error) {
	if actor == nil || actor.User == nil {
		return nil, unauthenticated()
	}
	cs, err := s.loadCase(ctx, caseID)
	if err != nil {
		return nil, err
	}
	roles, err := s.roles(ctx, cs.c.ProjectID, actor)
	if err != nil {
		return nil, err
	}
	if len(roles) == 0 {
		return nil, radmark.Errorf(radmark.ENOTFOUND, "case %s not found", caseID)
	}
	all, err := s.Store.Comments(ctx, caseID)
	if err != nil {
		return nil, err
	}
	out := []*radmark.Comment{}
	for _, cm := range all {
		if s.commentVisible(ctx, actor, roles, cs, cm) {
			out = append(out, cm)
		}
	}
	return out, nil
}

// CommentChange edits a comment: its author may change the body or
// delete it; the reader it is addressed to (or anyone on a case-level
// comment who works on the case), its author and managers may resolve or
// reopen it.
type CommentChange struct {
	Body     *string `json:"body,omitempty"`
	Resolved *bool   `json:"resolved,omitempty"`
	// Version is the comment version the change is based on (0: any).
	Version int `json:"version,omitempty"`
}

// UpdateComment applies a change to a comment.
func (s *Service) UpdateComment(ctx context.Context, op Op, id radmark.ID, ch CommentChange) (*radmark.Comment, error) {
	cm, cs, roles, err := s.commentFor(ctx, op, id)
	if err != nil {
		return nil, err
	}
	if ch.Version != 0 && ch.Version != cm.Version {
		return nil, radmark.Errorf(radmark.ECONFLICT, "comment %s is at version %d, not %d; reload it", id, cm.Version, ch.Version)
	}
	name := op.name()
	manager := hasAny(roles, []radmark.Role{radmark.RoleManager}) || op.Actor.IsAdmin()
	action := "comment.edit"
	if ch.Body != nil {
		if cm.Author != name {
			return nil, forbidden("only the author (%s) edits a comment", cm.Author)
		}
		b := strings.TrimSpace(*ch.Body)
		if b == "" || len(b) > 10000 {
			return nil, radmark.Errorf(radmark.EINVALID, "a comment needs a body of 1-10000 bytes")
		}
		cm.Body = b
	}
	if ch.Resolved != nil {
		addressed := cs.isReader(name)
		if cm.TaskID != "" {
			addressed = false
			for _, t := range cs.tasks {
				if t.ID == cm.TaskID && t.Assignee == name {
					addressed = true
				}
			}
		}
		for _, t := range cs.tasks {
			if t.Kind == radmark.TaskArbitration && t.Assignee == name && cm.TaskID == "" {
				addressed = true
			}
		}
		if !addressed && cm.Author != name && !manager {
			return nil, forbidden("only the reader a comment is addressed to, its author or a manager resolves it")
		}
		cm.Resolved = *ch.Resolved
		cm.ResolvedBy = ""
		action = "comment.reopen"
		if cm.Resolved {
			cm.ResolvedBy, action = name, "comment.resolve"
		}
	}
	ev := s.event(op.Actor, op.RequestID, action, "comment", cm.ID, fmt.Sprintf("version %d", cm.Version+1))
	if err := s.Store.PutComment(ctx, cm, cm.Version, ev); err != nil {
		return nil, err
	}
	return cm, nil
}

// DeleteComment removes a comment (its author or a manager).
func (s *Service) DeleteComment(ctx context.Context, op Op, id radmark.ID) error {
	cm, _, roles, err := s.commentFor(ctx, op, id)
	if err != nil {
		return err
	}
	if cm.Author != op.name() && !hasAny(roles, []radmark.Role{radmark.RoleManager}) && !op.Actor.IsAdmin() {
		return forbidden("only the author (%s) or a manager deletes a comment", cm.Author)
	}
	return s.Store.DeleteComment(ctx, id, cm.Version, s.event(op.Actor, op.RequestID, "comment.delete", "comment", id, "case "+string(cm.CaseID)))
}

func (s *Service) commentFor(ctx context.Context, op Op, id radmark.ID) (*radmark.Comment, *caseState, []radmark.Role, error) {
	if op.Actor == nil || op.Actor.User == nil {
		return nil, nil, nil, unauthenticated()
	}
	cm, err := s.Store.Comment(ctx, id)
	if err != nil {
		return nil, nil, nil, err
	}
	cs, err := s.loadCase(ctx, cm.CaseID)
	if err != nil {
		return nil, nil, nil, err
	}
	roles, err := s.roles(ctx, cm.ProjectID, op.Actor)
	if err != nil {
		return nil, nil, nil, err
	}
	if len(roles) == 0 || !s.commentVisible(ctx, op.Actor, roles, cs, cm) {
		return nil, nil, nil, radmark.Errorf(radmark.ENOTFOUND, "comment %s not found", id)
	}
	return cm, cs, roles, nil
}
