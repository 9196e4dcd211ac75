package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/annotation"
	"github.com/radmark/radmark/audit"
	"github.com/radmark/radmark/auth"
	"github.com/radmark/radmark/deid"
	"github.com/radmark/radmark/exchange"
	"github.com/radmark/radmark/intake"
	"github.com/radmark/radmark/internal/testdb"
	"github.com/radmark/radmark/job"
	"github.com/radmark/radmark/policy"
	"github.com/radmark/radmark/release"
	"github.com/radmark/radmark/workflow"
)

// headerAuth authenticates by a test header naming a user; the real
// Authenticator (sessions, tokens) has its own tests. Enforcement is what
// is tested here.
type headerAuth struct{ users map[string]*radmark.User }

func (h headerAuth) Authenticate(_ http.ResponseWriter, r *http.Request) (*radmark.Actor, error) {
	if r.Header.Get("X-Test-Bad") != "" {
		return nil, radmark.Errorf(radmark.EUNAUTHORIZED, "the API token was revoked")
	}
	name := r.Header.Get("X-Test-User")
	if name == "" {
		return nil, nil
	}
	u, ok := h.users[name]
	if !ok {
		return nil, radmark.Errorf(radmark.EUNAUTHORIZED, "no such test user %q", name)
	}
	return &radmark.Actor{User: u, Via: "session"}, nil
}

// members is policy.Memberships over a fixed table.
type members struct {
	mu    sync.Mutex
	roles map[radmark.ID]map[radmark.ID][]radmark.Role // project → user → roles
}

func (m *members) ProjectRoles(_ context.Context, project, user radmark.ID) ([]radmark.Role, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.roles[project][user], nil
}

func (m *members) UserProjects(_ context.Context, user radmark.ID) ([]radmark.Membership, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []radmark.Membership
	for p, us := range m.roles {
		if rs := us[user]; len(rs) > 0 {
			out = append(out, radmark.Membership{ProjectID: p, UserID: user, Roles: rs})
		}
	}
	return out, nil
}

type authzEnv struct {
	*apiEnv
	ts       *httptest.Server
	project  radmark.ID
	set      *radmark.AnnotationSet
	revision *radmark.Revision
	store    testdb.Store
	// job and release are a finished export job and a release of the
	// project (withJobObjects), for the routes that name them.
	job, release string
}

var testRoles = map[string][]radmark.Role{
	"mgr": {radmark.RoleManager}, "ann": {radmark.RoleAnnotator}, "ann2": {radmark.RoleAnnotator},
	"rad": {radmark.RoleRadiologist}, "rev": {radmark.RoleReviewer}, "view": {radmark.RoleViewer},
}

func newAuthzEnv(t *testing.T) *authzEnv {
	t.Helper()
	return newAuthzEnvOn(t, testdb.Engines[0])
}

func newAuthzEnvOn(t *testing.T, engine testdb.Engine) *authzEnv {
	t.Helper()
	e := newAPIEnv(t, engine)
	store := e.srv.Annotations.Store.(testdb.Store)
	ctx := t.Context()
	users := map[string]*radmark.User{"admin": {ID: "u-admin", Name: "admin", Admin: true}, "outsider": {ID: "u-outsider", Name: "outsider"}}
	for name := range testRoles {
		users[name] = &radmark.User{ID: radmark.ID("u-" + name), Name: name}
	}
	svc := e.srv.Annotations
	p, err := svc.CreateProject(ctx, annotation.Op{Actor: "admin"}, "Blinded study", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.PutSchema(ctx, annotation.Op{Actor: "admin"}, p.ID, 0, []radmark.Label{{ID: "nodule", Name: "Nodule", Color: "#ff0000",
		Category: radmark.Code{Value: "49755003", Scheme: "SCT", Meaning: "Morphologically Altered Structure"},
		Type:     radmark.Code{Value: "27925004", Scheme: "SCT", Meaning: "Nodule"}, Kinds: []radmark.Kind{radmark.KindBox3D}}}, nil); err != nil {
		t.Fatal(err)
	}
	m := &members{roles: map[radmark.ID]map[radmark.ID][]radmark.Role{p.ID: {}}}
	for name, roles := range testRoles {
		m.roles[p.ID][users[name].ID] = roles
	}
	set, err := svc.CreateSet(ctx, annotation.Op{Actor: "ann"}, p.ID, radmark.UID(e.ct.StudyInstanceUID), radmark.UID(e.ct.SeriesInstanceUID), "ann")
	if err != nil {
		t.Fatal(err)
	}
	rev, err := svc.Save(ctx, annotation.Op{Actor: "ann"}, set.ID, &annotation.SaveRequest{Items: []radmark.Item{}})
	if err != nil {
		t.Fatal(err)
	}
	rec := audit.NewRecorder(store, 0)
	t.Cleanup(rec.Close)
	e.srv.Auth = headerAuth{users: users}
	e.srv.Policy = &policy.Policy{Members: m}
	e.srv.Audit = rec
	wireJobs(t, e, store)
	ts := httptest.NewServer(e.srv.Handler())
	t.Cleanup(ts.Close)
	return &authzEnv{apiEnv: e, ts: ts, project: p.ID, set: set, revision: rev, store: store}
}

func (e *authzEnv) call(t *testing.T, user, method, path string, body string, headers ...string) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.ts.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.Header.Set("X-Test-User", user)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

var pathParam2 = regexp.MustCompile(`\{([a-zA-Z]+)(\.\.\.)?\}`)

// fill substitutes real objects for a route's path parameters.
func (e *authzEnv) fill(path string) string {
	values := map[string]string{
		"project": string(e.project), "set": string(e.set.ID), "revision": string(e.revision.ID),
		"study": e.ct.StudyInstanceUID, "series": e.ct.SeriesInstanceUID, "instance": e.ct.SOPInstanceUID(3),
		"frames": "1", "layer": "0", "slice": "0", "version": "1", "path": "00280010",
		"user": "u-ann2", "token": "t-1", "task": "x", "case": "x", "comment": "x", "reader": "model-x",
	}
	if e.job != "" {
		values["job"], values["release"] = e.job, e.release
	}
	return pathParam2.ReplaceAllStringFunc(path, func(m string) string {
		name := pathParam2.FindStringSubmatch(m)[1]
		if v, ok := values[name]; ok {
			return v
		}
		return "x"
	})
}

// dicomwebPatterns lists every DICOMweb route, read from the mux the
// server builds, so a route added later is enumerated too.
func dicomwebPatterns(t *testing.T) [][2]string {
	t.Helper()
	var out [][2]string
	s := &Server{}
	s.dicomwebRoutes(recordingMux(func(pattern string) {
		method, path, _ := strings.Cut(pattern, " ")
		out = append(out, [2]string{method, path})
	}))
	if len(out) < 20 {
		t.Fatalf("only %d DICOMweb routes found", len(out))
	}
	return out
}

// publicRoutes are the API routes that need no identity.
var publicRoutes = map[string]bool{"getOpenAPI": true}

// TestEveryRouteRefusesAnonymous enumerates every registered API and
// DICOMweb route: without credentials, or with revoked ones, each answers
// 401 (public routes aside), and the refusal is audited.
func TestEveryRouteRefusesAnonymous(t *testing.T) {
	e := newAuthzEnv(t)
	type route struct{ method, path string }
	var routes []route
	for _, rt := range e.srv.apiRoutes() {
		if rt.Action == "" {
			if !publicRoutes[rt.ID] {
				t.Errorf("route %s %s (%s) declares no action: every route but sign-in and the API document needs one", rt.Method, rt.Path, rt.ID)
			}
			continue
		}
		routes = append(routes, route{rt.Method, apiRoot + rt.Path})
	}
	for _, p := range dicomwebPatterns(t) {
		routes = append(routes, route{p[0], p[1]})
	}
	for _, rt := range routes {
		path := e.fill(rt.path)
		if rt.path == dicomwebRoot+"/wado" {
			path += "?requestType=WADO&studyUID=" + e.ct.StudyInstanceUID + "&seriesUID=" + e.ct.SeriesInstanceUID + "&objectUID=" + e.ct.SOPInstanceUID(3)
		}
		if st, b := e.call(t, "", rt.method, path, ""); st != http.StatusUnauthorized {
			t.Errorf("anonymous %s %s = %d %s, want 401", rt.method, rt.path, st, b)
		}
		if st, _ := e.call(t, "ann", rt.method, path, "", "X-Test-Bad", "1"); st != http.StatusUnauthorized {
			t.Errorf("revoked credentials %s %s = %d, want 401", rt.method, rt.path, st)
		}
	}
	denied, err := e.store.AuditEvents(t.Context(), radmark.AuditFilter{Action: "access.denied", Limit: 10000})
	if err != nil {
		t.Fatal(err)
	}
	if len(denied) < 2*len(routes) {
		t.Errorf("%d refusals audited for %d refused requests", len(denied), 2*len(routes))
	}
	// Public routes stay public.
	for _, path := range []string{"/healthz", apiRoot + "/openapi.json"} {
		if st, _ := e.call(t, "", "GET", path, ""); st != 200 {
			t.Errorf("anonymous GET %s = %d", path, st)
		}
	}
}

// TestRoleMatrix checks every API route for every project role against
// the policy table: a role the table allows is never refused, any other
// gets 403; non-members get 403 or 404 (the project's existence is not
// revealed); the site admin is never refused.
func TestRoleMatrix(t *testing.T) {
	e := newAuthzEnv(t)
	e.withJobObjects(t)
	for _, rt := range e.srv.apiRoutes() {
		if rt.Action == "" {
			continue
		}
		path := e.fill(apiRoot + rt.Path)
		if rt.Path == "/annotation-sets" && rt.Method == "GET" {
			path += "?project=" + string(e.project)
		}
		if rt.Path == "/diff" {
			path += "?from=" + string(e.revision.ID) + "&to=" + string(e.revision.ID)
		}
		body := ""
		if rt.Body != nil {
			body = `{"projectId": "` + string(e.project) + `"}`
		}
		for _, user := range []string{"admin", "mgr", "ann", "ann2", "rad", "rev", "view", "outsider"} {
			st, b := e.call(t, user, rt.Method, path, body)
			refused := st == http.StatusUnauthorized || st == http.StatusForbidden
			want := expectAllowed(e, rt, user)
			switch {
			case want && refused:
				t.Errorf("%s: %s %s = %d %s, but the policy allows it", user, rt.Method, rt.Path, st, b)
			case !want && !refused && !(user == "outsider" && st == http.StatusNotFound):
				t.Errorf("%s: %s %s = %d, but the policy refuses it", user, rt.Method, rt.Path, st)
			}
		}
	}
}

// expectAllowed is the policy table (and the reader rule for annotation
// sets: a set's reader reads and writes it; others read it with
// annotations.read) as the test states it.
func expectAllowed(e *authzEnv, rt apiRoute, user string) bool {
	if user == "admin" {
		return true
	}
	roles := testRoles[user]
	has := func(a policy.Action) bool {
		for _, r := range roles {
			if slices.Contains(policy.RolesAllowed(a), r) {
				return true
			}
		}
		return false
	}
	switch rt.Action {
	case policy.OntologyRead, policy.ProjectList:
		return true
	case policy.ProjectCreate, policy.AuditRead, policy.UserManage:
		return false
	case policy.ArchiveSearch:
		return len(roles) > 0
	}
	if rt.ID == "createAnnotationSet" {
		return has(policy.Annotate) // for oneself; for others, task.assign
	}
	if !has(rt.Action) {
		return false
	}
	// Object rules on the set of annotator "ann".
	switch rt.ID {
	case "getAnnotationSet", "listRevisions", "getRevision", "getMeasurements", "listLabelmaps", "getLabelmap", "getLabelmapSlice", "diffRevisions":
		return user == "ann" || has(policy.AnnotationsRead)
	case "saveRevision", "revertRevision":
		return user == "ann"
	}
	return true
}

// TestImagesFollowProjects checks DICOMweb against membership: searches
// return only the studies of one's projects, retrieval of another study
// is not found, storing needs a manager.
func TestImagesFollowProjects(t *testing.T) {
	e := newAuthzEnv(t)
	count := func(user, path string) int {
		st, b := e.call(t, user, "GET", path, "")
		if st != 200 {
			t.Fatalf("%s GET %s = %d %s", user, path, st, b)
		}
		var results []json.RawMessage
		if err := json.Unmarshal(b, &results); err != nil && len(b) > 0 {
			t.Fatalf("%s: %v", b, err)
		}
		return len(results)
	}
	// The archive holds the CT and the X-ray; the project has the CT.
	if n := count("admin", "/dicomweb/studies"); n != 2 {
		t.Errorf("admin sees %d studies, want 2", n)
	}
	if n := count("view", "/dicomweb/studies"); n != 1 {
		t.Errorf("a viewer of the project sees %d studies, want 1", n)
	}
	if n := count("view", "/dicomweb/series"); n != 1 {
		t.Errorf("a viewer sees %d series, want 1", n)
	}
	if st, _ := e.call(t, "outsider", "GET", "/dicomweb/studies", ""); st != 403 {
		t.Errorf("a user of no project searching: %d, want 403", st)
	}
	xray := e.xray.Dataset.Strings(0x0020000D)[0]
	if st, _ := e.call(t, "view", "GET", "/dicomweb/studies/"+xray+"/metadata", ""); st != 404 {
		t.Errorf("a viewer reading a study outside the project: %d, want 404", st)
	}
	if st, _ := e.call(t, "view", "GET", "/dicomweb/studies/"+e.ct.StudyInstanceUID+"/metadata", ""); st != 200 {
		t.Errorf("a viewer reading the project's study: %d, want 200", st)
	}
	if st, _ := e.call(t, "ann", "POST", "/dicomweb/studies", "x", "Content-Type", "multipart/related; type=\"application/dicom\"; boundary=b"); st != 403 {
		t.Errorf("an annotator storing: %d, want 403", st)
	}
	if st, _ := e.call(t, "mgr", "POST", "/dicomweb/studies", "x", "Content-Type", "multipart/related; type=\"application/dicom\"; boundary=b"); st == 401 || st == 403 {
		t.Errorf("a manager storing was refused: %d", st)
	}
	// Audit names the actor of each read.
	events, _ := e.store.AuditEvents(t.Context(), radmark.AuditFilter{Action: "dicomweb.read", Actor: "view"})
	if len(events) == 0 {
		t.Error("the viewer's reads are not on the audit trail under their name")
	}
}

// TestReadersAreBlinded checks, without a workflow, that a reader sees and
// changes only their own annotation set, and that a save is recorded
// under the reader's name.
func TestReadersAreBlinded(t *testing.T) {
	e := newAuthzEnv(t)
	sets := func(user string) int {
		st, b := e.call(t, user, "GET", "/api/v1/annotation-sets?project="+string(e.project), "")
		if st != 200 {
			t.Fatalf("%s: %d %s", user, st, b)
		}
		var out []radmark.AnnotationSet
		_ = json.Unmarshal(b, &out)
		return len(out)
	}
	if n := sets("ann2"); n != 0 {
		t.Errorf("another annotator lists %d sets, want 0", n)
	}
	if n := sets("ann"); n != 1 {
		t.Errorf("the reader lists %d sets, want 1", n)
	}
	if n := sets("rev"); n != 1 {
		t.Errorf("the reviewer lists %d sets, want 1", n)
	}
	rp := "/api/v1/revisions/" + string(e.revision.ID)
	if st, _ := e.call(t, "ann2", "GET", rp, ""); st != 403 {
		t.Errorf("another annotator reading the revision: %d, want 403", st)
	}
	save := `{"items": [], "message": "mine now"}`
	if st, _ := e.call(t, "ann2", "POST", "/api/v1/annotation-sets/"+string(e.set.ID)+"/revisions", save, "If-Match", etag(string(e.revision.ID))); st != 403 {
		t.Errorf("another annotator saving: %d, want 403", st)
	}
	st, b := e.call(t, "ann", "POST", "/api/v1/annotation-sets/"+string(e.set.ID)+"/revisions", save, "If-Match", etag(string(e.revision.ID)))
	if st != 201 {
		t.Fatalf("the reader saving: %d %s", st, b)
	}
	var rev radmark.Revision
	_ = json.Unmarshal(b, &rev)
	if rev.Author != "ann" {
		t.Errorf("revision author %q, want ann", rev.Author)
	}
	// A reader cannot open a set in someone else's name.
	body, _ := json.Marshal(createSetRequest{ProjectID: e.project, StudyUID: radmark.UID(e.ct.StudyInstanceUID), Reader: "ann2"})
	if st, _ := e.call(t, "ann", "POST", "/api/v1/annotation-sets", string(body)); st != 403 {
		t.Errorf("an annotator opening a set for another reader: %d, want 403", st)
	}
	if st, _ := e.call(t, "mgr", "POST", "/api/v1/annotation-sets", string(body)); st != 201 {
		t.Errorf("a manager opening a set for a reader: %d, want 201", st)
	}
}

// recordingMux lists the patterns registered on it.
type recordingMux func(pattern string)

func (m recordingMux) HandleFunc(pattern string, _ func(http.ResponseWriter, *http.Request)) {
	m(pattern)
}

// TestEveryRouteRefusesAnonymousWithAccounts is the enumeration with the
// server as `radmark serve` builds it: real accounts (so the sign-in,
// token, user and membership routes are registered) and the workflow's
// routes. Every route but the public ones answers 401 without
// credentials and with a revoked API token.
func TestEveryRouteRefusesAnonymousWithAccounts(t *testing.T) {
	e, accounts := newServeLikeEnv(t)
	store := e.srv.Annotations.Store.(testdb.Store)
	op := auth.Op{Actor: "test"}
	u, err := accounts.CreateUser(t.Context(), op, auth.NewUser{Name: "carol", Admin: true, Password: "a long enough password"})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := accounts.CreateToken(t.Context(), op, u, "test", []string{"write"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := accounts.RevokeToken(t.Context(), op, u, tok.ID); err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(e.srv.Handler())
	defer ts.Close()
	env := &authzEnv{apiEnv: e, ts: ts, project: "p", set: &radmark.AnnotationSet{ID: "s"}, revision: &radmark.Revision{ID: "r"}, store: store}

	public := map[string]bool{"getOpenAPI": true}
	seen := map[string]bool{}
	for _, rt := range e.srv.apiRoutes() {
		seen[rt.Tag] = true
		if rt.Action == "" {
			if !public[rt.ID] && !strings.HasPrefix(rt.Path, "/auth/") {
				t.Errorf("route %s %s (%s) declares no action", rt.Method, rt.Path, rt.ID)
			}
			continue
		}
		path := env.fill(apiRoot + rt.Path)
		if st, b := env.call(t, "", rt.Method, path, ""); st != http.StatusUnauthorized {
			t.Errorf("anonymous %s %s = %d %s, want 401", rt.Method, rt.Path, st, b)
		}
		if st, b := env.call(t, "", rt.Method, path, "", "Authorization", "Bearer "+tok.Token); st != http.StatusUnauthorized || !strings.Contains(string(b), "revoked") {
			t.Errorf("revoked token %s %s = %d %s, want 401 saying it was revoked", rt.Method, rt.Path, st, b)
		}
	}
	for _, tag := range []string{"annotations", "projects", "audit", "exports", "jobs", "releases", "deid"} {
		if !seen[tag] {
			t.Errorf("no %s routes enumerated", tag)
		}
	}
	if len(e.srv.authRoutes()) == 0 || len(e.srv.workflowRoutes()) == 0 {
		t.Errorf("accounts (%d) or workflow (%d) routes are missing from the enumeration", len(e.srv.authRoutes()), len(e.srv.workflowRoutes()))
	}
	for _, p := range dicomwebPatterns(t) {
		if st, _ := env.call(t, "", p[0], env.fill(p[1]), ""); st != http.StatusUnauthorized {
			t.Errorf("anonymous %s %s = %d, want 401", p[0], p[1], st)
		}
	}
}

// wireJobs gives the server background jobs, exports and releases, as
// `radmark serve` does, so their routes are registered.
func wireJobs(t *testing.T, e *apiEnv, store testdb.Store) {
	t.Helper()
	x := &exchange.Service{Annotations: e.srv.Annotations, Images: e.srv.Archive, Software: "test"}
	e.srv.Jobs = store.(job.Store)
	e.srv.Exports = &exchange.Exports{Exchange: x, Blobs: e.srv.Annotations.Blobs, TempDir: t.TempDir()}
	e.srv.Releases = &release.Service{Store: store.(release.Store), Blobs: e.srv.Annotations.Blobs, Exchange: x, Archive: e.srv.Archive,
		Studies: store, Cases: store, Profiles: store.(deid.ProfileSource), TempDir: t.TempDir(), Software: "test"}
}

// newServeLikeEnv is a server with every part `radmark serve` wires —
// accounts, policy, workflow, jobs, exports, releases, de-identification —
// so that every route is registered.
func newServeLikeEnv(t *testing.T) (*apiEnv, *auth.Service) {
	t.Helper()
	e := newAPIEnv(t, testdb.Engines[0])
	store := e.srv.Annotations.Store.(testdb.Store)
	accounts := &auth.Service{Store: store}
	e.srv.Auth = &Accounts{Auth: accounts}
	e.srv.Policy = &policy.Policy{Members: store}
	wf := &workflow.Service{Store: store, Annotations: e.srv.Annotations, Archive: store, Roster: workflow.AccountRoster{Accounts: store}}
	e.srv.Workflow, e.srv.Studies, e.srv.Gate = wf, wf, wf
	wireJobs(t, e, store)
	wireIntake(e, store, wf)
	return e, accounts
}

// wireIntake gives the server de-identification into projects, as
// `radmark serve` does, so the de-identification routes are registered.
func wireIntake(e *apiEnv, store testdb.Store, wf *workflow.Service) {
	ds := store.(deid.Store)
	e.srv.UseIntake(&intake.Service{Archive: e.srv.Archive, Store: ds, Blobs: e.srv.Annotations.Blobs, Cases: wf,
		Deid: &deid.Service{Profiles: ds, SiteSecret: bytes.Repeat([]byte("x"), 32)}})
}

// withJobObjects makes a succeeded export job and a release of the
// project, which the job and release routes then name.
func (e *authzEnv) withJobObjects(t *testing.T) {
	t.Helper()
	ctx := t.Context()
	j, err := job.Enqueue(ctx, e.srv.Jobs, "mgr", "", exchange.ExportJobKind("measurements"), e.project, exchange.ExportRequest{Format: "measurements"})
	if err != nil {
		t.Fatal(err)
	}
	runner := &job.Runner{Store: e.srv.Jobs, Handlers: e.srv.Exports.Handlers(), Logger: slog.New(slog.DiscardHandler)}
	if ran, err := runner.RunOne(ctx, []string{j.Kind}); !ran || err != nil {
		t.Fatalf("run the export job: %v %v", ran, err)
	}
	res, err := e.srv.Releases.Create(ctx, annotation.Op{Actor: "mgr"}, release.Request{Project: e.project,
		Revisions: []radmark.ID{e.revision.ID}, Fractions: release.DefaultFractions}, nil)
	if err != nil {
		t.Fatal(err)
	}
	e.job, e.release = string(j.ID), res.Release.ID
}
