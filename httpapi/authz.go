package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/policy"
)

// Enforcement. When the server has an Authenticator, every request is
// authenticated in the middleware (credentials, if any, become the
// request's actor; bad ones are remembered as the reason) and every route
// asks the policy: API routes by their declared Action and Project, and
// DICOMweb routes by the study they address. Routes with Action "" are
// public (sign-in, the OpenAPI document); /healthz, /readyz and the UI's
// assets are public too. Without an Authenticator (tests of other
// layers) nothing is enforced: cmd/radmark always installs one.

// StudyAccess links studies to projects: a user sees the images of the
// studies in the projects they belong to.
type StudyAccess interface {
	// ProjectsOfStudy returns the projects whose cases hold the study.
	ProjectsOfStudy(ctx context.Context, study radmark.UID) ([]radmark.ID, error)
	// StudiesOfProjects returns the studies in those projects' cases.
	StudiesOfProjects(ctx context.Context, projects []radmark.ID) ([]radmark.UID, error)
}

// SetGate decides access to one annotation set beyond the role matrix:
// blinding (a reader does not see other reads of a case before review),
// and that only its reader writes a set.
type SetGate interface {
	CanReadSet(ctx context.Context, actor *radmark.Actor, set *radmark.AnnotationSet) error
	CanWriteSet(ctx context.Context, actor *radmark.Actor, set *radmark.AnnotationSet) error
}

type authState struct {
	actor *radmark.Actor
	err   error
}

const authKey ctxKey = 3

// authenticate runs the Authenticator and stores the outcome in the
// request's context. It never answers: whether the route needs an actor
// is the route's business.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) *http.Request {
	if s.Auth == nil {
		return r
	}
	actor, err := s.Auth.Authenticate(w, r)
	ctx := context.WithValue(r.Context(), authKey, &authState{actor: actor, err: err})
	if actor != nil {
		ctx = WithActor(ctx, actor)
	}
	return r.WithContext(ctx)
}

// enforcing reports whether the server checks access.
func (s *Server) enforcing() bool { return s.Auth != nil }

// requireActor returns the request's actor, or the reason there is none.
func requireActor(r *http.Request) (*radmark.Actor, error) {
	st, _ := r.Context().Value(authKey).(*authState)
	switch {
	case st == nil:
		return nil, policy.Unauthenticated("sign in, or send a personal API token as a Bearer token")
	case st.err != nil:
		return nil, st.err
	case st.actor == nil:
		return nil, policy.Unauthenticated("sign in, or send a personal API token as a Bearer token")
	}
	return st.actor, nil
}

// authorize decides one action for the request's actor.
func (s *Server) authorize(r *http.Request, action policy.Action, project radmark.ID) error {
	if !s.enforcing() {
		return nil
	}
	actor, err := requireActor(r)
	if err == nil {
		err = s.Policy.Decide(r.Context(), actor, action, project)
	}
	if err != nil {
		s.recordDenial(r, actor, string(action), string(project), err)
	}
	return err
}

// recordDenial puts refused requests on the audit trail: who tried what,
// and why it was refused.
func (s *Server) recordDenial(r *http.Request, actor *radmark.Actor, action, object string, err error) {
	if s.Audit == nil {
		return
	}
	id, _ := uuid.NewV7()
	code := radmark.ErrorCode(err)
	if code != radmark.EUNAUTHORIZED && code != radmark.EFORBIDDEN {
		return // not found, or the store failed: nothing was refused
	}
	detail := r.Method + " " + r.URL.Path + ": " + radmark.ErrorMessage(err)
	if len(detail) > 2000 {
		detail = detail[:2000]
	}
	ev := &radmark.AuditEvent{ID: radmark.ID(id.String()), Time: time.Now().UTC(), Actor: actor.Name(), Action: "access.denied",
		ObjectType: action, ObjectID: object, RequestID: RequestID(r.Context()), Detail: detail}
	if rerr := s.Audit.Record(r.Context(), ev); rerr != nil {
		s.logger().Error("audit a refused request", "err", rerr)
	}
}

// canSeeStudy decides reading a study's images: admins see all, others
// the studies of their projects.
func (s *Server) canSeeStudy(r *http.Request, study radmark.UID) error {
	if !s.enforcing() {
		return nil
	}
	actor, err := requireActor(r)
	if err != nil {
		s.recordDenial(r, nil, string(policy.ImagesRead), string(study), err)
		return err
	}
	if actor.IsAdmin() {
		return s.Policy.Decide(r.Context(), actor, policy.ImagesRead, "")
	}
	projects, err := s.studyAccess().ProjectsOfStudy(r.Context(), study)
	if err != nil {
		return err
	}
	var last error
	for _, p := range projects {
		if last = s.Policy.Decide(r.Context(), actor, policy.ImagesRead, p); last == nil {
			return nil
		}
	}
	err = radmark.Errorf(radmark.ENOTFOUND, "study %s not found (or not in a project you belong to)", study)
	if last != nil && radmark.ErrorCode(last) != radmark.ENOTFOUND {
		err = last
	}
	s.recordDenial(r, actor, string(policy.ImagesRead), string(study), radmark.Errorf(radmark.EFORBIDDEN, "%s", radmark.ErrorMessage(err)))
	return err
}

// visibleStudies returns the studies a non-admin may search, or all=true.
func (s *Server) visibleStudies(r *http.Request) (uids []string, all bool, err error) {
	if !s.enforcing() {
		return nil, true, nil
	}
	actor, err := requireActor(r)
	if err != nil {
		return nil, false, err
	}
	if actor.IsAdmin() {
		return nil, true, nil
	}
	ms, err := s.Policy.Members.UserProjects(r.Context(), actor.User.ID)
	if err != nil {
		return nil, false, err
	}
	var projects []radmark.ID
	for _, m := range ms {
		if len(m.Roles) > 0 {
			projects = append(projects, m.ProjectID)
		}
	}
	if len(projects) == 0 {
		return []string{}, false, nil
	}
	studies, err := s.studyAccess().StudiesOfProjects(r.Context(), projects)
	if err != nil {
		return nil, false, err
	}
	out := make([]string, len(studies))
	for i, st := range studies {
		out[i] = string(st)
	}
	slices.Sort(out)
	return slices.Compact(out), false, nil
}

func (s *Server) studyAccess() StudyAccess {
	if s.Studies != nil {
		return s.Studies
	}
	return setStudyAccess{s}
}

// setStudyAccess links studies to projects through annotation sets, for
// servers without a workflow (cases are the workflow's).
type setStudyAccess struct{ s *Server }

func (a setStudyAccess) ProjectsOfStudy(ctx context.Context, study radmark.UID) ([]radmark.ID, error) {
	sets, err := a.s.Annotations.Store.Sets(ctx, radmark.SetFilter{StudyUID: study})
	if err != nil {
		return nil, err
	}
	var out []radmark.ID
	for _, set := range sets {
		if !slices.Contains(out, set.ProjectID) {
			out = append(out, set.ProjectID)
		}
	}
	return out, nil
}

func (a setStudyAccess) StudiesOfProjects(ctx context.Context, projects []radmark.ID) ([]radmark.UID, error) {
	var out []radmark.UID
	for _, p := range projects {
		sets, err := a.s.Annotations.Store.Sets(ctx, radmark.SetFilter{ProjectID: p})
		if err != nil {
			return nil, err
		}
		for _, set := range sets {
			out = append(out, set.StudyUID)
		}
	}
	return out, nil
}

// readerGate is the SetGate without a workflow: a set's reader reads and
// writes it; members allowed AnnotationsRead read every set.
type readerGate struct{ s *Server }

func (g readerGate) CanReadSet(ctx context.Context, actor *radmark.Actor, set *radmark.AnnotationSet) error {
	if actor.Name() == set.Reader {
		return nil
	}
	return g.s.Policy.Decide(ctx, actor, policy.AnnotationsRead, set.ProjectID)
}

func (g readerGate) CanWriteSet(ctx context.Context, actor *radmark.Actor, set *radmark.AnnotationSet) error {
	if actor.Name() != set.Reader && !actor.IsAdmin() {
		return radmark.Errorf(radmark.EFORBIDDEN, "annotation set %s is %s's; only its reader saves it", set.ID, set.Reader)
	}
	return g.s.Policy.Decide(ctx, actor, policy.Annotate, set.ProjectID)
}

func (s *Server) gate() SetGate {
	if s.Gate != nil {
		return s.Gate
	}
	return readerGate{s}
}

// checkSet applies the gate to a set the request reads (write=false) or
// changes.
func (s *Server) checkSet(r *http.Request, set *radmark.AnnotationSet, write bool) error {
	if !s.enforcing() {
		return nil
	}
	actor, err := requireActor(r)
	if err == nil {
		if write {
			err = s.gate().CanWriteSet(r.Context(), actor, set)
		} else {
			err = s.gate().CanReadSet(r.Context(), actor, set)
		}
	}
	if err != nil {
		s.recordDenial(r, actor, "annotation_set", string(set.ID), err)
	}
	return err
}

// Project resolvers for the route table.

func projectFromPath(r *http.Request) (radmark.ID, error) {
	return radmark.ID(r.PathValue("project")), nil
}

func (s *Server) projectFromQuery(name string) func(r *http.Request) (radmark.ID, error) {
	return func(r *http.Request) (radmark.ID, error) {
		p := r.URL.Query().Get(name)
		if p == "" {
			if a := ActorFrom(r.Context()); a.IsAdmin() {
				return "", nil
			}
			return "", radmark.Errorf(radmark.EINVALID, "say which project: ?%s=<id>", name)
		}
		return radmark.ID(p), nil
	}
}

// projectFromBody reads a JSON body's project id field without consuming
// the body.
func projectFromBody(field string) func(r *http.Request) (radmark.ID, error) {
	return func(r *http.Request) (radmark.ID, error) {
		b, err := io.ReadAll(io.LimitReader(r.Body, maxJSONBody+1))
		if err != nil {
			return "", err
		}
		r.Body = io.NopCloser(bytes.NewReader(b))
		var obj map[string]json.RawMessage
		if json.Unmarshal(b, &obj) != nil {
			return "", nil // the handler reports the malformed body
		}
		var id string
		_ = json.Unmarshal(obj[field], &id)
		if id == "" {
			return "", radmark.Errorf(radmark.EINVALID, "the body needs %s", field)
		}
		return radmark.ID(id), nil
	}
}

func (s *Server) projectOfSet(r *http.Request) (radmark.ID, error) {
	set, err := s.Annotations.Store.Set(r.Context(), radmark.ID(r.PathValue("set")))
	if err != nil {
		return "", err
	}
	return set.ProjectID, nil
}

func (s *Server) setOfRevision(ctx context.Context, rev radmark.ID) (*radmark.AnnotationSet, error) {
	rv, err := s.Annotations.Store.Revision(ctx, rev)
	if err != nil {
		return nil, err
	}
	return s.Annotations.Store.Set(ctx, rv.SetID)
}

func (s *Server) projectOfRevision(param string, query bool) func(r *http.Request) (radmark.ID, error) {
	return func(r *http.Request) (radmark.ID, error) {
		id := r.PathValue(param)
		if query {
			id = r.URL.Query().Get(param)
		}
		if id == "" {
			return "", radmark.Errorf(radmark.EINVALID, "a revision id (%s) is needed", param)
		}
		set, err := s.setOfRevision(r.Context(), radmark.ID(id))
		if err != nil {
			return "", err
		}
		return set.ProjectID, nil
	}
}

// checkSetID loads a set and applies the gate.
func (s *Server) checkSetID(r *http.Request, id radmark.ID, write bool) error {
	if !s.enforcing() {
		return nil
	}
	set, err := s.Annotations.Store.Set(r.Context(), id)
	if err != nil {
		return err
	}
	return s.checkSet(r, set, write)
}

// checkRevision applies the read gate to a revision's set.
func (s *Server) checkRevision(r *http.Request, id string) error {
	if !s.enforcing() {
		return nil
	}
	set, err := s.setOfRevision(r.Context(), radmark.ID(id))
	if err != nil {
		return err
	}
	return s.checkSet(r, set, false)
}

// memberProjects keeps the projects the actor belongs to (admins: all).
func (s *Server) memberProjects(r *http.Request, ps []*radmark.Project) ([]*radmark.Project, error) {
	if !s.enforcing() {
		return ps, nil
	}
	actor := ActorFrom(r.Context())
	if actor.IsAdmin() {
		return ps, nil
	}
	ms, err := s.Policy.Members.UserProjects(r.Context(), actor.User.ID)
	if err != nil {
		return nil, err
	}
	out := ps[:0]
	for _, p := range ps {
		for _, m := range ms {
			if m.ProjectID == p.ID && len(m.Roles) > 0 {
				out = append(out, p)
				break
			}
		}
	}
	return out, nil
}
