package workflow

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/annotation"
	"github.com/radmark/radmark/policy"
)

// Transition is something done to a task.
type Transition string

// The transitions. Who may do each is checked in Service.Transition:
//
//	assign          unassigned|assigned|in_progress|changes_requested → assigned   a manager (TaskAssign), to an eligible user
//	claim           unassigned → assigned                                         an eligible reader (pull workflows) or arbiter
//	release         assigned → unassigned                                         the assignee or a manager
//	start           assigned|changes_requested → in_progress                      the assignee
//	submit          in_progress → submitted (reads)                               the assignee; the set's head must be complete
//	review          submitted → in_review (reads)                                 a reviewer who does not read the case
//	accept          in_review → accepted (reads)                                  the task's reviewer or a manager
//	request_changes in_review → changes_requested (reads)                         the task's reviewer or a manager
//	resolve         in_progress → resolved (arbitrations)                         the assignee
const (
	Assign         Transition = "assign"
	Claim          Transition = "claim"
	Release        Transition = "release"
	Start          Transition = "start"
	Submit         Transition = "submit"
	StartReview    Transition = "review"
	Accept         Transition = "accept"
	RequestChanges Transition = "request_changes"
	Resolve        Transition = "resolve"
)

type rule struct {
	kinds []radmark.TaskKind
	from  []radmark.TaskState
	to    radmark.TaskState
}

var (
	both  = []radmark.TaskKind{radmark.TaskRead, radmark.TaskArbitration}
	reads = []radmark.TaskKind{radmark.TaskRead}
)

var rules = map[Transition]rule{
	Assign:         {both, []radmark.TaskState{radmark.TaskUnassigned, radmark.TaskAssigned, radmark.TaskInProgress, radmark.TaskChangesRequested}, radmark.TaskAssigned},
	Claim:          {both, []radmark.TaskState{radmark.TaskUnassigned}, radmark.TaskAssigned},
	Release:        {both, []radmark.TaskState{radmark.TaskAssigned}, radmark.TaskUnassigned},
	Start:          {both, []radmark.TaskState{radmark.TaskAssigned, radmark.TaskChangesRequested}, radmark.TaskInProgress},
	Submit:         {reads, []radmark.TaskState{radmark.TaskInProgress}, radmark.TaskSubmitted},
	StartReview:    {reads, []radmark.TaskState{radmark.TaskSubmitted}, radmark.TaskInReview},
	Accept:         {reads, []radmark.TaskState{radmark.TaskInReview}, radmark.TaskAccepted},
	RequestChanges: {reads, []radmark.TaskState{radmark.TaskInReview}, radmark.TaskChangesRequested},
	Resolve:        {[]radmark.TaskKind{radmark.TaskArbitration}, []radmark.TaskState{radmark.TaskInProgress}, radmark.TaskResolved},
}

// Transitions lists every transition in a fixed order.
var Transitions = []Transition{Assign, Claim, Release, Start, Submit, StartReview, Accept, RequestChanges, Resolve}

// Action returns the policy action a transition needs at project level.
func (t Transition) Action() policy.Action {
	switch t {
	case Assign:
		return policy.TaskAssign
	case StartReview, Accept, RequestChanges:
		return policy.Review
	case Resolve:
		return policy.Arbitrate
	}
	return policy.TaskClaim
}

// Allowed lists the transitions a task of its kind may take from its
// state (whoever asks).
func Allowed(t *radmark.Task) []Transition {
	out := []Transition{}
	for _, tr := range Transitions {
		r := rules[tr]
		if slices.Contains(r.kinds, t.Kind) && slices.Contains(r.from, t.State) {
			out = append(out, tr)
		}
	}
	return out
}

// TransitionError is the detail of a transition refused because of the
// task's state (ECONFLICT): the transitions its state allows.
type TransitionError struct {
	Task       radmark.ID
	Kind       radmark.TaskKind
	State      radmark.TaskState
	Transition Transition
	Allowed    []Transition
}

func (e *TransitionError) Error() string {
	allowed := make([]string, len(e.Allowed))
	for i, a := range e.Allowed {
		allowed[i] = string(a)
	}
	list := strings.Join(allowed, ", ")
	if list == "" {
		list = "none"
	}
	return fmt.Sprintf("%s task %s is %s: it cannot %s; allowed from %s: %s", e.Kind, e.Task, e.State, e.Transition, e.State, list)
}

func transitionConflict(t *radmark.Task, tr Transition) error {
	te := &TransitionError{Task: t.ID, Kind: t.Kind, State: t.State, Transition: tr, Allowed: Allowed(t)}
	return &radmark.Error{Code: radmark.ECONFLICT, Message: te.Error(), Err: te}
}

func forbidden(format string, args ...any) error {
	return radmark.Errorf(radmark.EFORBIDDEN, format, args...)
}

// Decision is how an arbitration resolves a case.
type Decision struct {
	// Pick names the read task whose accepted revision becomes final.
	Pick radmark.ID `json:"pick,omitempty"`
	// Merge names read tasks to merge (see Merge) into the arbiter's set.
	Merge []radmark.ID `json:"merge,omitempty"`
	// Edit takes the head of the arbiter's own set, which they edited
	// (starting from scratch or from a merge), as final.
	Edit bool `json:"edit,omitempty"`
	// Note explains the decision (kept in the audit trail).
	Note string `json:"note,omitempty"`
}

// Args are a transition's parameters.
type Args struct {
	// Expect, when set, is the task version the caller saw: a task that
	// changed since is ECONFLICT rather than re-evaluated.
	Expect   *int
	Assignee string    // assign
	Decision *Decision // resolve
}

// Transition applies tr to a task as op's actor. Every check runs on the
// state read, and the change commits only if neither the task nor its
// case moved meanwhile; when they did (and Expect is not set) the
// transition is evaluated again on the new state.
func (s *Service) Transition(ctx context.Context, op Op, taskID radmark.ID, tr Transition, args Args) (*radmark.Task, error) {
	if op.Actor == nil || op.Actor.User == nil {
		return nil, unauthenticated()
	}
	if _, ok := rules[tr]; !ok {
		return nil, radmark.Errorf(radmark.EINVALID, "unknown transition %q (transitions: %v)", tr, Transitions)
	}
	for attempt := 1; ; attempt++ {
		t, err := s.transitionOnce(ctx, op, taskID, tr, args)
		if err == nil || !isStale(err) || args.Expect != nil || attempt == 8 {
			return t, err
		}
	}
}

// caseState is a case with its tasks and the project's workflow, as read
// at the start of a transition.
type caseState struct {
	cfg   *radmark.WorkflowConfig
	c     *radmark.Case
	tasks []*radmark.Task
}

func (cs *caseState) readers() []string {
	var out []string
	for _, t := range cs.tasks {
		if t.Kind == radmark.TaskRead && t.Assignee != "" {
			out = append(out, t.Assignee)
		}
	}
	return out
}

func (cs *caseState) isReader(name string) bool { return slices.Contains(cs.readers(), name) }

func (s *Service) loadCase(ctx context.Context, caseID radmark.ID) (*caseState, error) {
	c, err := s.Store.Case(ctx, caseID)
	if err != nil {
		return nil, err
	}
	cfg, err := s.Config(ctx, c.ProjectID)
	if err != nil {
		return nil, err
	}
	tasks, err := s.Store.Tasks(ctx, radmark.TaskFilter{CaseID: caseID})
	if err != nil {
		return nil, err
	}
	return &caseState{cfg: cfg, c: c, tasks: tasks}, nil
}

func (s *Service) transitionOnce(ctx context.Context, op Op, taskID radmark.ID, tr Transition, args Args) (*radmark.Task, error) {
	t, err := s.Store.Task(ctx, taskID)
	if err != nil {
		return nil, err
	}
	cs, err := s.loadCase(ctx, t.CaseID)
	if err != nil {
		return nil, err
	}
	// Use the task as listed with its case (the same read, or newer).
	for _, x := range cs.tasks {
		if x.ID == t.ID {
			t = x
		}
	}
	if args.Expect != nil && *args.Expect != t.Version {
		te := &TransitionError{Task: t.ID, Kind: t.Kind, State: t.State, Transition: tr, Allowed: Allowed(t)}
		return nil, &radmark.Error{Code: radmark.ECONFLICT,
			Message: fmt.Sprintf("task %s is at version %d, not %d: it changed meanwhile; reload it (%s)", t.ID, t.Version, *args.Expect, te.Error()),
			Err:     te}
	}
	r := rules[tr]
	if !slices.Contains(r.kinds, t.Kind) || !slices.Contains(r.from, t.State) {
		return nil, transitionConflict(t, tr)
	}
	name := op.name()
	roles, err := s.roles(ctx, t.ProjectID, op.Actor)
	if err != nil {
		return nil, err
	}
	if len(roles) == 0 {
		if t.Assignee == name || t.Reviewer == name {
			return nil, forbidden("you are no longer a member of project %s; a manager can reassign task %s", t.ProjectID, t.ID)
		}
		return nil, radmark.Errorf(radmark.ENOTFOUND, "task %s not found (or you are not a member of its project)", t.ID)
	}
	now := s.now()
	next := *t
	next.State = r.to
	ch := &radmark.WorkflowChange{Case: cs.c, CaseExpect: cs.c.Version}
	caseNext := *cs.c
	ch.Case = &caseNext
	detail := fmt.Sprintf("%s: %s → %s", tr, t.State, r.to)

	stopWork := func() {
		if next.StartedAt != nil {
			next.WorkSeconds += now.Sub(*next.StartedAt).Seconds()
			next.StartedAt = nil
		}
	}
	switch tr {
	case Assign:
		if !mayDo(roles, policy.TaskAssign) {
			return nil, forbidden("assigning tasks needs one of the roles %v", policy.RolesAllowed(policy.TaskAssign))
		}
		if args.Assignee == "" {
			return nil, radmark.Errorf(radmark.EINVALID, "say whom to assign the task to")
		}
		if err := s.checkWorker(ctx, cs, t, args.Assignee); err != nil {
			return nil, err
		}
		if t.Assignee == args.Assignee && t.State == radmark.TaskAssigned {
			return t, nil
		}
		stopWork()
		next.Assignee, next.SetID, next.Revision, next.AssignedAt = args.Assignee, "", "", &now
		next.Due = dueDate(cs.cfg, cs.c, now)
		if t.Assignee != "" {
			detail += fmt.Sprintf(" (reassigned from %s to %s)", t.Assignee, args.Assignee)
		} else {
			detail += " (to " + args.Assignee + ")"
		}
	case Claim:
		if t.Kind == radmark.TaskRead && cs.cfg.Assignment != radmark.AssignPull && !mayDo(roles, policy.TaskAssign) {
			return nil, forbidden("this project assigns reads %s; ask a manager", strings.ReplaceAll(cs.cfg.Assignment, "_", "-"))
		}
		if err := s.checkWorker(ctx, cs, t, name); err != nil {
			return nil, err
		}
		if t.Kind == radmark.TaskRead && cs.cfg.Quota > 0 {
			held, err := s.Store.Tasks(ctx, radmark.TaskFilter{ProjectID: t.ProjectID, Kind: radmark.TaskRead, Assignee: name})
			if err != nil {
				return nil, err
			}
			if len(held) >= cs.cfg.Quota {
				return nil, forbidden("you hold %d reads of this project, its per-user quota", len(held))
			}
		}
		next.Assignee, next.AssignedAt = name, &now
		next.Due = dueDate(cs.cfg, cs.c, now)
	case Release:
		if t.Assignee != name && !mayDo(roles, policy.TaskAssign) {
			return nil, forbidden("only the assignee (%s) or a manager may release this task", t.Assignee)
		}
		next.Assignee, next.AssignedAt, next.Due, next.SetID = "", nil, nil, ""
	case Start:
		if err := s.checkAssignee(ctx, cs, t, name, roles); err != nil {
			return nil, err
		}
		if next.SetID == "" {
			set, err := s.openSet(ctx, op, cs.c, name)
			if err != nil {
				return nil, err
			}
			next.SetID = set.ID
		}
		next.StartedAt = &now
	case Submit:
		if err := s.checkAssignee(ctx, cs, t, name, roles); err != nil {
			return nil, err
		}
		head, err := s.completeHead(ctx, t.SetID)
		if err != nil {
			return nil, err
		}
		stopWork()
		next.Revision, next.SubmittedAt = head.ID, &now
		detail += " revision " + string(head.ID)
		if caseNext.State == radmark.CaseReading && allReads(cs.tasks, t.ID, func(x *radmark.Task) bool {
			return x.State != radmark.TaskUnassigned && x.State != radmark.TaskAssigned && x.State != radmark.TaskInProgress
		}) {
			caseNext.State = radmark.CaseReview
		}
	case StartReview:
		if !mayDo(roles, policy.Review) {
			return nil, forbidden("reviewing needs one of the roles %v", policy.RolesAllowed(policy.Review))
		}
		if cs.isReader(name) {
			return nil, forbidden("%s reads this case and cannot review its reads", name)
		}
		next.Reviewer = name
	case Accept, RequestChanges:
		if !mayDo(roles, policy.Review) {
			return nil, forbidden("reviewing needs one of the roles %v", policy.RolesAllowed(policy.Review))
		}
		if t.Reviewer != name && !hasAny(roles, []radmark.Role{radmark.RoleManager}) && !op.Actor.IsAdmin() {
			return nil, forbidden("%s reviews this task; only they or a manager may decide", t.Reviewer)
		}
		if tr == Accept {
			if err := s.afterAccept(ctx, op, cs, t, &caseNext, ch); err != nil {
				return nil, err
			}
		}
	case Resolve:
		if err := s.checkAssignee(ctx, cs, t, name, roles); err != nil {
			return nil, err
		}
		if args.Decision == nil {
			return nil, radmark.Errorf(radmark.EINVALID, "resolving an arbitration needs a decision: pick, merge or edit")
		}
		final, outcome, err := s.decide(ctx, op, cs, t, args.Decision)
		if err != nil {
			return nil, err
		}
		stopWork()
		next.Revision, next.SubmittedAt = final.ID, &now
		caseNext.State, caseNext.FinalSet, caseNext.FinalRevision, caseNext.Outcome = radmark.CaseDone, final.SetID, final.ID, outcome
		detail += fmt.Sprintf(" (%s, final revision %s) %s", outcome, final.ID, args.Decision.Note)
	}
	ch.Tasks = []radmark.TaskChange{{Task: &next, Expect: t.Version,
		Event: s.event(op.Actor, op.RequestID, "task."+string(tr), "task", t.ID, strings.TrimSpace(detail))}}
	if caseNext.State != cs.c.State {
		ch.CaseEvent = s.event(op.Actor, op.RequestID, "case."+string(caseNext.State), "case", cs.c.ID,
			strings.TrimSpace(fmt.Sprintf("%s → %s %s", cs.c.State, caseNext.State, caseNext.Disagreement)))
	}
	if err := s.Store.ApplyWorkflowChange(ctx, ch); err != nil {
		return nil, err
	}
	return s.Store.Task(ctx, t.ID)
}

// allReads reports whether every read of the case but except satisfies
// ok (except being the task that moves now, to a state that satisfies it).
func allReads(tasks []*radmark.Task, except radmark.ID, ok func(*radmark.Task) bool) bool {
	for _, x := range tasks {
		if x.Kind == radmark.TaskRead && x.ID != except && !ok(x) {
			return false
		}
	}
	return true
}

// checkWorker checks that user may hold task: an eligible reader who
// holds no other read of the case, or for an arbitration an arbiter who
// reads none of it.
func (s *Service) checkWorker(ctx context.Context, cs *caseState, t *radmark.Task, user string) error {
	roles, err := s.memberRoles(ctx, t.ProjectID, user)
	if err != nil {
		return err
	}
	switch t.Kind {
	case radmark.TaskRead:
		if !readerEligible(cs.cfg, user, roles) {
			return forbidden("%s may not read this project's cases (readers: roles %v, users %v; %s has %v)",
				user, cs.cfg.ReaderRoles, cs.cfg.ReaderUsers, user, roles)
		}
		for _, x := range cs.tasks {
			if x.Kind == radmark.TaskRead && x.ID != t.ID && x.Assignee == user {
				return radmark.Errorf(radmark.ECONFLICT, "%s already holds read %d of this case: reads of a case are independent", user, x.Slot)
			}
		}
	case radmark.TaskArbitration:
		if !mayDo(roles, policy.Arbitrate) {
			return forbidden("%s may not arbitrate (it needs one of the roles %v)", user, policy.RolesAllowed(policy.Arbitrate))
		}
		if cs.isReader(user) {
			return forbidden("%s read this case and cannot arbitrate it", user)
		}
	}
	return nil
}

// checkAssignee checks that the actor is the task's assignee and still
// may do its work (a member removed from the project, or whose role was
// taken away, is refused and the task can be reassigned).
func (s *Service) checkAssignee(ctx context.Context, cs *caseState, t *radmark.Task, name string, roles []radmark.Role) error {
	if t.Assignee != name {
		if t.Assignee == "" {
			return forbidden("task %s is assigned to nobody; claim it first", t.ID)
		}
		return forbidden("task %s is assigned to %s, not to you", t.ID, t.Assignee)
	}
	switch t.Kind {
	case radmark.TaskRead:
		if !readerEligible(cs.cfg, name, roles) {
			return forbidden("you may no longer read this project's cases; a manager can reassign task %s", t.ID)
		}
	case radmark.TaskArbitration:
		if !mayDo(roles, policy.Arbitrate) {
			return forbidden("you may no longer arbitrate in this project; a manager can reassign task %s", t.ID)
		}
	}
	return nil
}

// openSet opens (or finds again) the reader's annotation set on the case.
func (s *Service) openSet(ctx context.Context, op Op, c *radmark.Case, reader string) (*radmark.AnnotationSet, error) {
	if s.Annotations == nil {
		return nil, radmark.Errorf(radmark.EUNAVAILABLE, "no annotation service")
	}
	set, err := s.Annotations.CreateSet(ctx, op.annotationOp(), c.ProjectID, c.StudyUID, c.SeriesUID, reader)
	if radmark.ErrorCode(err) != radmark.ECONFLICT {
		return set, err
	}
	sets, lerr := s.Annotations.Store.Sets(ctx, radmark.SetFilter{ProjectID: c.ProjectID, StudyUID: c.StudyUID, SeriesUID: c.SeriesUID, Reader: reader})
	if lerr != nil {
		return nil, lerr
	}
	for _, x := range sets {
		if x.SeriesUID == c.SeriesUID {
			return x, nil
		}
	}
	return nil, err
}

// completeHead returns the head revision of a set, checked complete
// against its schema (required questions answered).
func (s *Service) completeHead(ctx context.Context, setID radmark.ID) (*radmark.Revision, error) {
	if setID == "" || s.Annotations == nil {
		return nil, radmark.Errorf(radmark.ECONFLICT, "the task has no annotation set: start it first")
	}
	set, err := s.Annotations.Store.Set(ctx, setID)
	if err != nil {
		return nil, err
	}
	if set.Head == "" {
		return nil, radmark.Errorf(radmark.ECONFLICT, "annotation set %s has no revision yet: save the annotations before submitting", setID)
	}
	head, err := s.revision(ctx, set.Head)
	if err != nil {
		return nil, err
	}
	if !head.Submitted {
		schema, err := s.Annotations.Store.Schema(ctx, set.ProjectID, head.Content.SchemaVersion)
		if err != nil {
			return nil, err
		}
		if err := annotation.ValidateContent(head.Content, schema, true); err != nil {
			return nil, err
		}
	}
	return head, nil
}

// afterAccept moves the case on when the last read is accepted: a single
// read, or reads that agree, make the case done (the first read is its
// result); reads that disagree open an arbitration task.
func (s *Service) afterAccept(ctx context.Context, op Op, cs *caseState, t *radmark.Task, caseNext *radmark.Case, ch *radmark.WorkflowChange) error {
	if !allReads(cs.tasks, t.ID, func(x *radmark.Task) bool { return x.State == radmark.TaskAccepted }) {
		return nil
	}
	var accepted []*radmark.Task
	for _, x := range cs.tasks {
		if x.Kind == radmark.TaskRead {
			accepted = append(accepted, x)
		}
	}
	slices.SortFunc(accepted, func(a, b *radmark.Task) int { return a.Slot - b.Slot })
	first := accepted[0]
	if first.ID == t.ID {
		first = t
	}
	if len(accepted) == 1 {
		caseNext.State, caseNext.FinalSet, caseNext.FinalRevision, caseNext.Outcome = radmark.CaseDone, first.SetID, first.Revision, "single"
		return nil
	}
	findings, err := s.Agreement(ctx, cs.cfg, accepted)
	if err != nil {
		return err
	}
	if len(findings) == 0 {
		caseNext.State, caseNext.FinalSet, caseNext.FinalRevision, caseNext.Outcome = radmark.CaseDone, first.SetID, first.Revision, "agreed"
		return nil
	}
	msgs := make([]string, len(findings))
	for i, f := range findings {
		msgs[i] = f.Message
	}
	caseNext.State, caseNext.Disagreement = radmark.CaseArbitration, strings.Join(msgs, "; ")
	arb := &radmark.Task{ID: newID(), ProjectID: t.ProjectID, CaseID: t.CaseID, Kind: radmark.TaskArbitration,
		State: radmark.TaskUnassigned, Priority: cs.c.Priority}
	for _, x := range cs.tasks {
		if x.Kind == radmark.TaskArbitration {
			return fmt.Errorf("case %s already has arbitration task %s", cs.c.ID, x.ID)
		}
	}
	ch.NewTasks = append(ch.NewTasks, arb)
	ch.NewEvents = append(ch.NewEvents, s.event(op.Actor, op.RequestID, "task.create", "task", arb.ID, "arbitration of case "+string(cs.c.ID)))
	return nil
}

// Agreement compares every pair of accepted reads (their submitted
// revisions) and returns the findings of the pairs that disagree.
func (s *Service) Agreement(ctx context.Context, cfg *radmark.WorkflowConfig, reads []*radmark.Task) ([]Finding, error) {
	revs := make([]*radmark.Revision, len(reads))
	for i, r := range reads {
		if r.Revision == "" {
			return nil, fmt.Errorf("read %s has no submitted revision", r.ID)
		}
		rev, err := s.revision(ctx, r.Revision)
		if err != nil {
			return nil, err
		}
		revs[i] = rev
	}
	var out []Finding
	for i := range revs {
		for j := i + 1; j < len(revs); j++ {
			fs, err := Compare(ctx, revs[i].Content, revs[j].Content, cfg.Agree, s.loadVolumes())
			if err != nil {
				return nil, err
			}
			for _, f := range fs {
				f.Message = fmt.Sprintf("reads %d and %d: %s", reads[i].Slot, reads[j].Slot, f.Message)
				out = append(out, f)
			}
		}
	}
	return out, nil
}

// decide carries out an arbitration decision and returns the final
// revision.
func (s *Service) decide(ctx context.Context, op Op, cs *caseState, t *radmark.Task, d *Decision) (*radmark.Revision, string, error) {
	n := 0
	if d.Pick != "" {
		n++
	}
	if len(d.Merge) > 0 {
		n++
	}
	if d.Edit {
		n++
	}
	if n != 1 {
		return nil, "", radmark.Errorf(radmark.EINVALID, "a decision is exactly one of pick, merge or edit")
	}
	readOf := func(id radmark.ID) (*radmark.Task, error) {
		for _, x := range cs.tasks {
			if x.ID == id && x.Kind == radmark.TaskRead {
				if x.Revision == "" {
					return nil, radmark.Errorf(radmark.EINVALID, "read %s has no submitted revision", id)
				}
				return x, nil
			}
		}
		return nil, radmark.Errorf(radmark.EINVALID, "task %s is not a read of case %s", id, cs.c.ID)
	}
	switch {
	case d.Pick != "":
		r, err := readOf(d.Pick)
		if err != nil {
			return nil, "", err
		}
		rev, err := s.revision(ctx, r.Revision)
		return rev, "picked", err
	case len(d.Merge) > 0:
		var revs []*radmark.Revision
		for _, id := range d.Merge {
			r, err := readOf(id)
			if err != nil {
				return nil, "", err
			}
			rev, err := s.revision(ctx, r.Revision)
			if err != nil {
				return nil, "", err
			}
			revs = append(revs, rev)
		}
		rev, err := s.merge(ctx, op, t, revs)
		return rev, "merged", err
	default:
		rev, err := s.completeHead(ctx, t.SetID)
		return rev, "edited", err
	}
}

// timeSince is the seconds between two times, for progress.
func timeSince(from *time.Time, now time.Time) float64 {
	if from == nil {
		return 0
	}
	return now.Sub(*from).Seconds()
}
