package workflow

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/annotation"
	"github.com/radmark/radmark/labelmap"
	"github.com/radmark/radmark/policy"
)

// Store is what the workflow needs of the metadata store.
type Store interface {
	radmark.WorkflowStore
}

// Roster is what the workflow needs to know of accounts: the enabled
// members of a project by user name, with their roles. The account store
// implements it.
type Roster interface {
	ProjectMembers(ctx context.Context, project radmark.ID) (map[string][]radmark.Role, error)
}

// Service runs the reading workflow of projects.
type Service struct {
	Store Store
	// Annotations opens, reads and saves the readers' annotation sets.
	Annotations *annotation.Service
	// Archive answers the queries that add cases.
	Archive radmark.ArchiveStore
	Roster  Roster
	Now     func() time.Time
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

func newID() radmark.ID {
	id, err := uuid.NewV7()
	if err != nil {
		panic(fmt.Sprintf("workflow: new id: %v", err))
	}
	return radmark.ID(id.String())
}

func (s *Service) event(actor *radmark.Actor, requestID, action, objectType string, id radmark.ID, detail string) *radmark.AuditEvent {
	return &radmark.AuditEvent{ID: newID(), Time: s.now(), Actor: actor.Name(), Action: action, ObjectType: objectType,
		ObjectID: string(id), RequestID: requestID, Detail: detail}
}

// Op is who acts and in which request.
type Op struct {
	Actor     *radmark.Actor
	RequestID string
}

func (o Op) name() string { return o.Actor.Name() }

func (o Op) annotationOp() annotation.Op {
	return annotation.Op{Actor: o.name(), RequestID: o.RequestID}
}

func unauthenticated() error {
	return radmark.Errorf(radmark.EUNAUTHORIZED, "sign in, or send a personal API token as a Bearer token")
}

// roles returns the actor's roles in a project: every role for site
// admins, none for a non-member.
func (s *Service) roles(ctx context.Context, project radmark.ID, actor *radmark.Actor) ([]radmark.Role, error) {
	if actor.IsAdmin() {
		return radmark.Roles, nil
	}
	if actor == nil || actor.User == nil || actor.User.Disabled {
		return nil, nil
	}
	return s.memberRoles(ctx, project, actor.Name())
}

func (s *Service) memberRoles(ctx context.Context, project radmark.ID, name string) ([]radmark.Role, error) {
	if s.Roster == nil {
		return nil, radmark.Errorf(radmark.EUNAVAILABLE, "the workflow has no account roster")
	}
	m, err := s.Roster.ProjectMembers(ctx, project)
	if err != nil {
		return nil, err
	}
	return m[name], nil
}

func hasAny(roles []radmark.Role, allowed []radmark.Role) bool {
	for _, r := range roles {
		if slices.Contains(allowed, r) {
			return true
		}
	}
	return false
}

func mayDo(roles []radmark.Role, a policy.Action) bool { return hasAny(roles, policy.RolesAllowed(a)) }

// readerEligible reports whether a user with roles may read the
// project's cases under cfg.
func readerEligible(cfg *radmark.WorkflowConfig, name string, roles []radmark.Role) bool {
	if !mayDo(roles, policy.TaskClaim) {
		return false
	}
	return hasAny(roles, cfg.ReaderRoles) || slices.Contains(cfg.ReaderUsers, name)
}

// DefaultConfig is the workflow of a project that has none yet: two
// blinded readers among annotators and radiologists, pulled.
func DefaultConfig(project radmark.ID) *radmark.WorkflowConfig {
	return &radmark.WorkflowConfig{ProjectID: project, Readers: 2,
		ReaderRoles: []radmark.Role{radmark.RoleAnnotator, radmark.RoleRadiologist}, Assignment: radmark.AssignPull,
		Agree: radmark.Agreement{Dice: DefaultDice, IoU: DefaultIoU, LandmarkMM: DefaultLandmarkMM}}
}

// ValidateConfig checks a configuration's values.
func ValidateConfig(c *radmark.WorkflowConfig) error {
	bad := func(format string, args ...any) error {
		return radmark.Errorf(radmark.EINVALID, "workflow: "+format, args...)
	}
	switch {
	case c.Readers < 1 || c.Readers > 10:
		return bad("readers must be 1..10, not %d", c.Readers)
	case len(c.ReaderRoles) == 0 && len(c.ReaderUsers) == 0:
		return bad("say who may read: readerRoles, readerUsers or both")
	case c.Assignment != radmark.AssignPull && c.Assignment != radmark.AssignRoundRobin && c.Assignment != radmark.AssignManual:
		return bad("assignment must be pull, round_robin or manual, not %q", c.Assignment)
	case c.Quota < 0:
		return bad("quota must not be negative")
	case c.DueDays < 0 || c.DueDays > 3650:
		return bad("dueDays must be 0..3650")
	case c.Agree.Dice < 0 || c.Agree.Dice > 1 || c.Agree.IoU < 0 || c.Agree.IoU > 1:
		return bad("agreement dice and iou must lie in [0, 1]")
	case c.Agree.LandmarkMM < 0:
		return bad("agreement landmarkMM must not be negative")
	}
	for _, r := range c.ReaderRoles {
		if !slices.Contains(policy.RolesAllowed(policy.TaskClaim), r) {
			return bad("role %q cannot read (reading roles: %v)", r, policy.RolesAllowed(policy.TaskClaim))
		}
	}
	for _, u := range c.ReaderUsers {
		if strings.TrimSpace(u) == "" {
			return bad("readerUsers holds an empty name")
		}
	}
	return nil
}

// Config returns the project's workflow (DefaultConfig, version 0, when
// none was stored).
func (s *Service) Config(ctx context.Context, project radmark.ID) (*radmark.WorkflowConfig, error) {
	c, err := s.Store.WorkflowConfig(ctx, project)
	if radmark.ErrorCode(err) == radmark.ENOTFOUND {
		return DefaultConfig(project), nil
	}
	return c, err
}

// PutConfig stores the next version of the project's workflow, based on
// version base (the current one, else ECONFLICT).
func (s *Service) PutConfig(ctx context.Context, op Op, c *radmark.WorkflowConfig, base int) (*radmark.WorkflowConfig, error) {
	if op.Actor == nil {
		return nil, unauthenticated()
	}
	if err := ValidateConfig(c); err != nil {
		return nil, err
	}
	c.Version, c.CreatedAt, c.CreatedBy = base+1, s.now(), op.name()
	c.Agree = withDefaults(c.Agree)
	ev := s.event(op.Actor, op.RequestID, "workflow.put", "project", c.ProjectID, fmt.Sprintf("version %d", c.Version))
	if err := s.Store.PutWorkflowConfig(ctx, c, ev); err != nil {
		return nil, err
	}
	return c, nil
}

// CaseRef names a study, or one series of it, to add as a case.
type CaseRef struct {
	StudyUID  radmark.UID `json:"studyUID"`
	SeriesUID radmark.UID `json:"seriesUID,omitempty"`
}

// AddRequest adds cases: the listed studies/series and every study a
// query over the archive finds.
type AddRequest struct {
	Studies  []CaseRef
	Query    *radmark.Query
	Source   string // "uid", "query", or intake's door: "upload", "stow", "dimse", "quarantine" (default: uid, or query with Query)
	Priority *int
	Due      *time.Time
}

// AddResult says what AddCases did.
type AddResult struct {
	Added   []*radmark.Case `json:"added"`
	Skipped []CaseRef       `json:"skipped"` // already cases of the project
}

// AddCases adds studies (or series) to a project as cases, each with its
// read tasks: unassigned, or pushed round-robin to the eligible readers
// with the fewest open reads.
func (s *Service) AddCases(ctx context.Context, op Op, project radmark.ID, req AddRequest) (*AddResult, error) {
	if op.Actor == nil {
		return nil, unauthenticated()
	}
	cfg, err := s.Store.WorkflowConfig(ctx, project)
	if radmark.ErrorCode(err) == radmark.ENOTFOUND {
		return nil, radmark.Errorf(radmark.EINVALID, "project %s has no workflow yet: put its workflow configuration before adding cases", project)
	}
	if err != nil {
		return nil, err
	}
	refs := slices.Clone(req.Studies)
	source := req.Source
	if req.Query != nil {
		if s.Archive == nil {
			return nil, radmark.Errorf(radmark.EUNAVAILABLE, "no archive to query")
		}
		q := *req.Query
		q.Level = radmark.StudyLevel
		studies, err := s.Archive.FindStudies(ctx, q)
		if err != nil {
			return nil, err
		}
		for _, st := range studies {
			refs = append(refs, CaseRef{StudyUID: st.UID})
		}
		if source == "" {
			source = "query"
		}
	}
	if source == "" {
		source = "uid"
	}
	if len(refs) == 0 {
		return &AddResult{Added: []*radmark.Case{}, Skipped: []CaseRef{}}, nil
	}
	if len(refs) > 10000 {
		return nil, radmark.Errorf(radmark.ETOOLARGE, "at most 10000 cases at once, not %d", len(refs))
	}
	seen := map[CaseRef]bool{}
	for _, r := range refs {
		if r.StudyUID == "" {
			return nil, radmark.Errorf(radmark.EINVALID, "a case needs a study UID")
		}
		if seen[r] {
			return nil, radmark.Errorf(radmark.EINVALID, "study %s series %q is listed twice", r.StudyUID, r.SeriesUID)
		}
		seen[r] = true
		if s.Annotations != nil && s.Annotations.Images != nil {
			if err := s.Annotations.Images.CheckStudy(ctx, r.StudyUID, r.SeriesUID); err != nil {
				if radmark.ErrorCode(err) == radmark.ENOTFOUND {
					return nil, radmark.Errorf(radmark.EINVALID, "study %s (series %q) is not in the archive", r.StudyUID, r.SeriesUID)
				}
				return nil, err
			}
		}
	}
	priority := cfg.Priority
	if req.Priority != nil {
		priority = *req.Priority
	}
	push, err := s.pusher(ctx, cfg)
	if err != nil {
		return nil, err
	}
	now := s.now()
	var news []radmark.NewCase
	for _, r := range refs {
		c := &radmark.Case{ID: newID(), ProjectID: project, StudyUID: r.StudyUID, SeriesUID: r.SeriesUID, State: radmark.CaseReading,
			Priority: priority, Due: req.Due, Readers: cfg.Readers, ConfigVersion: cfg.Version, Source: source,
			AddedBy: op.name(), CreatedAt: now}
		nc := radmark.NewCase{Case: c, Event: s.event(op.Actor, op.RequestID, "case.add", "case", c.ID,
			fmt.Sprintf("study %s series %q, %d reads", r.StudyUID, r.SeriesUID, cfg.Readers))}
		var taken []string
		for slot := 1; slot <= cfg.Readers; slot++ {
			t := &radmark.Task{ID: newID(), ProjectID: project, CaseID: c.ID, Kind: radmark.TaskRead, Slot: slot,
				State: radmark.TaskUnassigned, Priority: priority}
			if push != nil {
				if who := push.next(taken); who != "" {
					taken = append(taken, who)
					t.State, t.Assignee, t.AssignedAt = radmark.TaskAssigned, who, &now
					t.Due = dueDate(cfg, c, now)
				}
			}
			nc.Tasks = append(nc.Tasks, t)
		}
		news = append(news, nc)
	}
	added, err := s.Store.AddCases(ctx, news)
	if err != nil {
		return nil, err
	}
	res := &AddResult{Added: []*radmark.Case{}, Skipped: []CaseRef{}}
	for i, nc := range news {
		if added[i] {
			res.Added = append(res.Added, nc.Case)
		} else {
			res.Skipped = append(res.Skipped, refs[i])
		}
	}
	return res, nil
}

func dueDate(cfg *radmark.WorkflowConfig, c *radmark.Case, assigned time.Time) *time.Time {
	if c != nil && c.Due != nil {
		d := *c.Due
		return &d
	}
	if cfg.DueDays > 0 {
		d := assigned.Add(time.Duration(cfg.DueDays) * 24 * time.Hour)
		return &d
	}
	return nil
}

// pusher deals reads out round-robin: each goes to the eligible reader
// with the fewest open reads (ties by name), which visits every reader
// in turn when loads are equal.
type pusher struct {
	names []string
	load  map[string]int
	quota int
}

func (s *Service) pusher(ctx context.Context, cfg *radmark.WorkflowConfig) (*pusher, error) {
	if cfg.Assignment != radmark.AssignRoundRobin {
		return nil, nil
	}
	if s.Roster == nil {
		return nil, radmark.Errorf(radmark.EUNAVAILABLE, "the workflow has no account roster")
	}
	members, err := s.Roster.ProjectMembers(ctx, cfg.ProjectID)
	if err != nil {
		return nil, err
	}
	p := &pusher{load: map[string]int{}, quota: cfg.Quota}
	for name, roles := range members {
		if readerEligible(cfg, name, roles) {
			p.names = append(p.names, name)
		}
	}
	slices.Sort(p.names)
	tasks, err := s.Store.Tasks(ctx, radmark.TaskFilter{ProjectID: cfg.ProjectID, Kind: radmark.TaskRead})
	if err != nil {
		return nil, err
	}
	for _, t := range tasks {
		if t.Assignee != "" {
			p.load[t.Assignee]++
		}
	}
	return p, nil
}

func (p *pusher) next(exclude []string) string {
	best := ""
	for _, n := range p.names {
		if slices.Contains(exclude, n) || (p.quota > 0 && p.load[n] >= p.quota) {
			continue
		}
		if best == "" || p.load[n] < p.load[best] {
			best = n
		}
	}
	if best != "" {
		p.load[best]++
	}
	return best
}

// Cases lists a project's cases.
func (s *Service) Cases(ctx context.Context, f radmark.CaseFilter) ([]*radmark.Case, error) {
	return s.Store.Cases(ctx, f)
}

// Case returns a case.
func (s *Service) Case(ctx context.Context, id radmark.ID) (*radmark.Case, error) {
	return s.Store.Case(ctx, id)
}

// Task returns a task.
func (s *Service) Task(ctx context.Context, id radmark.ID) (*radmark.Task, error) {
	return s.Store.Task(ctx, id)
}

// Tasks lists tasks.
func (s *Service) Tasks(ctx context.Context, f radmark.TaskFilter) ([]*radmark.Task, error) {
	return s.Store.Tasks(ctx, f)
}

// ProjectsOfStudy lists the projects that read a study (as a case), for
// restricting DICOMweb to the studies of a user's projects.
func (s *Service) ProjectsOfStudy(ctx context.Context, study radmark.UID) ([]radmark.ID, error) {
	return s.Store.ProjectsOfStudy(ctx, study)
}

// StudiesOfProjects lists the studies of the cases of projects.
func (s *Service) StudiesOfProjects(ctx context.Context, projects []radmark.ID) ([]radmark.UID, error) {
	var out []radmark.UID
	for _, p := range projects {
		cases, err := s.Store.Cases(ctx, radmark.CaseFilter{ProjectID: p})
		if err != nil {
			return nil, err
		}
		for _, c := range cases {
			if !slices.Contains(out, c.StudyUID) {
				out = append(out, c.StudyUID)
			}
		}
	}
	slices.Sort(out)
	return out, nil
}

// VisibleStudy reports whether actor may see a study's images: admins
// always; others when a project they are a member of has a case on it.
// It returns ENOTFOUND otherwise, so a study's existence does not leak.
func (s *Service) VisibleStudy(ctx context.Context, actor *radmark.Actor, study radmark.UID) error {
	if actor == nil || actor.User == nil {
		return unauthenticated()
	}
	if actor.IsAdmin() {
		return nil
	}
	projects, err := s.Store.ProjectsOfStudy(ctx, study)
	if err != nil {
		return err
	}
	for _, p := range projects {
		roles, err := s.roles(ctx, p, actor)
		if err != nil {
			return err
		}
		if len(roles) > 0 {
			return nil
		}
	}
	return radmark.Errorf(radmark.ENOTFOUND, "study %s not found", study)
}

// loadVolumes loads labelmaps through the annotation service's blobs.
func (s *Service) loadVolumes() Volumes {
	return func(ctx context.Context, m *radmark.Labelmap) (*labelmap.Volume, error) {
		if s.Annotations == nil || s.Annotations.Blobs == nil {
			return nil, radmark.Errorf(radmark.EUNAVAILABLE, "no blob store for labelmaps")
		}
		return labelmap.Load(ctx, s.Annotations.Blobs, m)
	}
}

func (s *Service) revision(ctx context.Context, id radmark.ID) (*radmark.Revision, error) {
	if s.Annotations == nil {
		return nil, radmark.Errorf(radmark.EUNAVAILABLE, "no annotation service")
	}
	return s.Annotations.Store.Revision(ctx, id)
}

// isStale reports a conflict from a case or task that moved meanwhile.
func isStale(err error) bool {
	var se *radmark.StaleError
	return errors.As(err, &se)
}
