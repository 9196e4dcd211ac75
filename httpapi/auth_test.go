package httpapi

import (
	"context"
	"encoding/base64"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/annotation"
	"github.com/radmark/radmark/audit"
	"github.com/radmark/radmark/auth"
	"github.com/radmark/radmark/internal/testdb"
	"github.com/radmark/radmark/policy"
)

// authStore is what the account tests need of a store.
type authStore interface {
	testdb.Store
	radmark.UserStore
}

// testClock is a settable clock for the auth service.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type authEnv struct {
	store  authStore
	svc    *auth.Service
	clock  *testClock
	srv    *Server
	ts     *httptest.Server
	client *apiClient
}

// newAuthEnv starts a server that enforces the policy with Accounts as
// its Authenticator, and a client that validates every exchange against
// its OpenAPI document. oidcFor, if not nil, configures single sign-on
// once the server's URL is known.
func newAuthEnv(t *testing.T, engine testdb.Engine, oidcFor func(base string) *OIDC) *authEnv {
	t.Helper()
	st, ok := engine.Open(t).(authStore)
	if !ok {
		t.Fatalf("the %s store is not a radmark.UserStore", engine.Name)
	}
	arch, blobs := testdb.Archive(t, st)
	clk := &testClock{t: time.Now().UTC()}
	svc := &auth.Service{Store: st, Now: clk.now, Config: auth.Config{Hashing: auth.TestParams,
		Lockout: radmark.LockoutRule{MaxFailures: 3, Window: 10 * time.Minute, LockFor: 15 * time.Minute}}}
	rec := audit.NewRecorder(st, 0)
	t.Cleanup(rec.Close)
	accounts := &Accounts{Auth: svc}
	srv := &Server{Archive: arch, Version: "test", Logger: slog.New(slog.DiscardHandler), Audit: rec,
		Annotations: &annotation.Service{Store: st, Blobs: blobs, Images: &annotation.ArchiveImages{Source: arch}},
		Auth:        accounts, Policy: &policy.Policy{Members: st}}
	ts := httptest.NewUnstartedServer(nil)
	if oidcFor != nil {
		accounts.OIDC = oidcFor("http://" + ts.Listener.Addr().String())
	}
	ts.Config.Handler = srv.Handler()
	ts.Start()
	t.Cleanup(ts.Close)
	return &authEnv{store: st, svc: svc, clock: clk, srv: srv, ts: ts, client: newAPIClient(t, ts.URL)}
}

// session is a signed-in browser: its cookie and CSRF token.
type session struct{ secret, csrf string }

func (s session) cookie() string { return SessionCookie + "=" + s.secret }

// headers returns the headers of an unsafe request of the session.
func (s session) unsafe() []string { return []string{"Cookie", s.cookie(), CSRFHeader, s.csrf} }

func (e *authEnv) login(t *testing.T, name, password string, extra ...string) (session, apiResponse) {
	t.Helper()
	r := e.client.do("POST", "/api/v1/auth/login", loginRequest{Name: name, Password: password}, extra...)
	if r.Status != 200 {
		return session{}, r
	}
	var info sessionInfo
	r.json(t, &info)
	var secret string
	for _, c := range (&http.Response{Header: r.Header}).Cookies() {
		if c.Name == SessionCookie {
			secret = c.Value
		}
	}
	if secret == "" || info.CSRFToken == "" || info.User == nil || info.User.Name != name {
		t.Fatalf("login answer without cookie, CSRF token or user: %v %s", r.Header, r.Body)
	}
	return session{secret: secret, csrf: info.CSRFToken}, r
}

func (e *authEnv) mustLogin(t *testing.T, name, password string) session {
	t.Helper()
	s, r := e.login(t, name, password)
	if r.Status != 200 {
		t.Fatalf("login as %s: %d %s", name, r.Status, r.Body)
	}
	return s
}

func wantProblem(t *testing.T, r apiResponse, status int, reason string) {
	t.Helper()
	if r.Status != status {
		t.Errorf("status %d, want %d: %s", r.Status, status, r.Body)
		return
	}
	if p := r.problem(t); !strings.Contains(p.Detail, reason) {
		t.Errorf("problem %q does not say %q", p.Detail, reason)
	}
}

// auditHas reports whether the chain holds an event of action by actor
// whose detail contains detail.
func auditHas(t *testing.T, st authStore, actor, action, detail string) bool {
	t.Helper()
	evs, err := st.AuditEvents(context.Background(), radmark.AuditFilter{Action: action, Actor: actor})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		if strings.Contains(e.Detail, detail) {
			return true
		}
	}
	return false
}

func TestAccountsAPI(t *testing.T) {
	for _, engine := range testdb.Engines {
		t.Run(engine.Name, func(t *testing.T) {
			t.Parallel()
			testAccountsAPI(t, engine)
		})
	}
}

func testAccountsAPI(t *testing.T, engine testdb.Engine) {
	e := newAuthEnv(t, engine, nil)
	c := e.client
	ctx := t.Context()
	if _, err := e.svc.CreateUser(ctx, auth.Op{Actor: "cli"}, auth.NewUser{Name: "root", Admin: true, Password: "root's long password"}); err != nil {
		t.Fatal(err)
	}

	// Anonymous: refused with the reason.
	wantProblem(t, c.do("GET", "/api/v1/auth/me", nil), 401, "sign in")
	wantProblem(t, c.do("GET", "/api/v1/auth/me", nil, "Cookie", SessionCookie+"=made-up"), 401, "not valid")

	// Wrong password: 401 with the reason, and an audit entry.
	_, r := e.login(t, "root", "not the password")
	wantProblem(t, r, 401, "wrong account name or password")
	if !auditHas(t, e.store, "root", "login.failure", "wrong password") {
		t.Error("the failed sign-in is not on the audit trail")
	}
	wantProblem(t, c.do("POST", "/api/v1/auth/login", `{"name": "root", "password": "x"}`, "Content-Type", "text/plain"), 415, "application/json")
	wantProblem(t, c.do("POST", "/api/v1/auth/login", loginRequest{Name: "root"}), 400, "password")

	// Session fixation: the cookie the browser had before signing in is
	// not valid after it, and the cookie is HttpOnly, SameSite=Lax.
	planted := e.mustLogin(t, "root", "root's long password")
	root, r := e.login(t, "root", "root's long password", "Cookie", planted.cookie(), "X-Forwarded-Proto", "https")
	if r.Status != 200 {
		t.Fatalf("second login: %d %s", r.Status, r.Body)
	}
	setCookie := r.Header.Get("Set-Cookie")
	for _, attr := range []string{"HttpOnly", "SameSite=Lax", "Path=/", "Secure"} {
		if !strings.Contains(setCookie, attr) {
			t.Errorf("session cookie %q lacks %s", setCookie, attr)
		}
	}
	if root.secret == planted.secret || root.csrf == planted.csrf {
		t.Error("sign-in kept the session id or CSRF token")
	}
	wantProblem(t, c.do("GET", "/api/v1/auth/me", nil, "Cookie", planted.cookie()), 401, "not valid")
	r = c.do("GET", "/api/v1/auth/me", nil, "Cookie", root.cookie())
	var me sessionInfo
	r.json(t, &me)
	if r.Status != 200 || me.User.Name != "root" || me.CSRFToken != root.csrf || me.Via != "session" {
		t.Fatalf("me: %d %s", r.Status, r.Body)
	}

	// CSRF: an unsafe request with the cookie needs the session's token.
	tokReq := createTokenRequest{Name: "scripts", Scopes: []string{"read", "write"}, ExpiresIn: "90d"}
	wantProblem(t, c.do("POST", "/api/v1/tokens", tokReq, "Cookie", root.cookie()), 403, "CSRF")
	wantProblem(t, c.do("POST", "/api/v1/tokens", tokReq, "Cookie", root.cookie(), CSRFHeader, planted.csrf), 403, "does not match")
	r = c.do("POST", "/api/v1/tokens", tokReq, root.unsafe()...)
	var tok createdToken
	r.json(t, &tok)
	if r.Status != 201 || !strings.HasPrefix(tok.Token, "rmk_") || tok.ExpiresAt == nil {
		t.Fatalf("create token: %d %s", r.Status, r.Body)
	}
	bearer := func(token string) []string { return []string{"Authorization", "Bearer " + token} }

	// Bearer tokens need no CSRF token.
	r = c.do("GET", "/api/v1/auth/me", nil, bearer(tok.Token)...)
	me = sessionInfo{}
	r.json(t, &me)
	if r.Status != 200 || me.Via != "token" || me.CSRFToken != "" {
		t.Errorf("me with a token: %d %s", r.Status, r.Body)
	}
	r = c.do("POST", "/api/v1/tokens", createTokenRequest{Name: "read only", Scopes: []string{"read"}}, bearer(tok.Token)...)
	var readTok createdToken
	r.json(t, &readTok)
	if r.Status != 201 {
		t.Fatalf("create token with a token: %d %s", r.Status, r.Body)
	}
	wantProblem(t, c.do("POST", "/api/v1/tokens", tokReq, bearer(readTok.Token)...), 403, "scopes")
	basic := func(user, password string) []string {
		return []string{"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))}
	}
	wantProblem(t, c.do("GET", "/api/v1/auth/me", nil, basic("root", "root's long password")...), 401, "not the account's password")
	wantProblem(t, c.do("GET", "/api/v1/auth/me", nil, basic("ann", tok.Token)...), 401, "another account")
	if r := c.do("GET", "/api/v1/auth/me", nil, basic("root", tok.Token)...); r.Status != 200 {
		t.Errorf("Basic with a token: %d %s", r.Status, r.Body)
	}
	wantProblem(t, c.do("GET", "/api/v1/auth/me", nil, "Authorization", "Digest x"), 401, "Bearer")
	wantProblem(t, c.do("GET", "/api/v1/auth/me", nil, bearer("rmk_"+strings.Repeat("A", 43))...), 401, "unknown API token")
	wantProblem(t, c.do("POST", "/api/v1/tokens", createTokenRequest{Name: "x", ExpiresIn: "soon"}, root.unsafe()...), 400, "lifetime")
	r = c.do("GET", "/api/v1/tokens", nil, "Cookie", root.cookie())
	var list []radmark.APIToken
	r.json(t, &list)
	if r.Status != 200 || len(list) != 2 || strings.Contains(string(r.Body), tok.Token) {
		t.Errorf("list tokens: %d %s", r.Status, r.Body)
	}

	// Revocation.
	wantProblem(t, c.do("DELETE", "/api/v1/tokens/"+string(readTok.ID), nil, "Cookie", root.cookie()), 403, "CSRF")
	if r := c.do("DELETE", "/api/v1/tokens/"+string(readTok.ID), nil, root.unsafe()...); r.Status != 204 {
		t.Errorf("revoke: %d %s", r.Status, r.Body)
	}
	wantProblem(t, c.do("GET", "/api/v1/auth/me", nil, bearer(readTok.Token)...), 401, "revoked")
	wantProblem(t, c.do("DELETE", "/api/v1/tokens/"+string(readTok.ID), nil, root.unsafe()...), 409, "already revoked")
	wantProblem(t, c.do("DELETE", "/api/v1/tokens/nope", nil, root.unsafe()...), 404, "not found")

	// Expiry.
	r = c.do("POST", "/api/v1/tokens", createTokenRequest{Name: "short", ExpiresIn: "1h"}, root.unsafe()...)
	var short createdToken
	r.json(t, &short)
	e.clock.add(61 * time.Minute)
	wantProblem(t, c.do("GET", "/api/v1/auth/me", nil, bearer(short.Token)...), 401, "expired")
	if r := c.do("GET", "/api/v1/auth/me", nil, bearer(tok.Token)...); r.Status != 200 {
		t.Errorf("a 90-day token after an hour: %d %s", r.Status, r.Body)
	}
	root = e.mustLogin(t, "root", "root's long password") // the session idled out

	// Users (site admins).
	r = c.do("POST", "/api/v1/users", createUserRequest{Name: "ann", DisplayName: "Ann Otator"}, root.unsafe()...)
	var created createdUser
	r.json(t, &created)
	if r.Status != 201 || len(created.Password) < 12 || r.Header.Get("Location") != "/api/v1/users/"+string(created.User.ID) {
		t.Fatalf("create user: %d %s", r.Status, r.Body)
	}
	wantProblem(t, c.do("POST", "/api/v1/users", createUserRequest{Name: "ann", Password: "another long password"}, root.unsafe()...), 409, "already exists")
	wantProblem(t, c.do("POST", "/api/v1/users", createUserRequest{Name: "bob", Password: "short"}, root.unsafe()...), 400, "too short")
	r = c.do("POST", "/api/v1/users", createUserRequest{Name: "rita", Password: "rita's long password"}, root.unsafe()...)
	if r.Status != 201 {
		t.Fatalf("create rita: %d %s", r.Status, r.Body)
	}
	ann := e.mustLogin(t, "ann", created.Password)
	wantProblem(t, c.do("GET", "/api/v1/users", nil, "Cookie", ann.cookie()), 403, "admin")
	wantProblem(t, c.do("POST", "/api/v1/users", createUserRequest{Name: "eve"}, ann.unsafe()...), 403, "admin")
	if r := c.do("GET", "/api/v1/users", nil, "Cookie", root.cookie()); r.Status != 200 || !strings.Contains(string(r.Body), `"ann"`) {
		t.Errorf("list users: %d %s", r.Status, r.Body)
	}

	// Project membership.
	r = c.do("POST", "/api/v1/projects", createProjectRequest{Name: "Chest CT"}, root.unsafe()...)
	var project radmark.Project
	r.json(t, &project)
	if r.Status != 201 {
		t.Fatalf("create project: %d %s", r.Status, r.Body)
	}
	members := "/api/v1/projects/" + string(project.ID) + "/members"
	wantProblem(t, c.do("GET", members, nil, "Cookie", ann.cookie()), 404, "not a member")
	r = c.do("PUT", members+"/ann", setMemberRequest{Roles: []radmark.Role{radmark.RoleAnnotator}}, root.unsafe()...)
	var mi memberInfo
	r.json(t, &mi)
	if r.Status != 200 || mi.Name != "ann" || !slices.Equal(mi.Roles, []radmark.Role{radmark.RoleAnnotator}) {
		t.Fatalf("set member: %d %s", r.Status, r.Body)
	}
	if r := c.do("PUT", members+"/rita", setMemberRequest{Roles: []radmark.Role{radmark.RoleReviewer, radmark.RoleManager}}, root.unsafe()...); r.Status != 200 {
		t.Errorf("set member rita: %d %s", r.Status, r.Body)
	}
	wantProblem(t, c.do("PUT", members+"/ann", setMemberRequest{Roles: []radmark.Role{"owner"}}, root.unsafe()...), 400, "not a project role")
	wantProblem(t, c.do("PUT", members+"/nobody", setMemberRequest{Roles: []radmark.Role{"viewer"}}, root.unsafe()...), 404, "nobody")
	r = c.do("GET", members, nil, "Cookie", ann.cookie())
	var ms []memberInfo
	r.json(t, &ms)
	if r.Status != 200 || len(ms) != 2 {
		t.Errorf("members as a member: %d %s", r.Status, r.Body)
	}
	wantProblem(t, c.do("PUT", members+"/ann", setMemberRequest{Roles: []radmark.Role{radmark.RoleManager}}, ann.unsafe()...), 403, "manager")
	rita := e.mustLogin(t, "rita", "rita's long password")
	if r := c.do("DELETE", members+"/"+string(created.User.ID), nil, rita.unsafe()...); r.Status != 204 {
		t.Errorf("a manager removes a member: %d %s", r.Status, r.Body)
	}
	wantProblem(t, c.do("DELETE", members+"/ann", nil, rita.unsafe()...), 404, "not a member")
	r = c.do("GET", "/api/v1/auth/me", nil, "Cookie", rita.cookie())
	me = sessionInfo{}
	r.json(t, &me)
	if len(me.Memberships) != 1 || me.Memberships[0].ProjectID != project.ID {
		t.Errorf("rita's memberships: %s", r.Body)
	}

	// Disabling an account ends its sessions and refuses its sign-in.
	yes := true
	wantProblem(t, c.do("PATCH", "/api/v1/users/root", updateUserRequest{Disabled: &yes}, root.unsafe()...), 409, "your own")
	r = c.do("PATCH", "/api/v1/users/ann", updateUserRequest{Disabled: &yes}, root.unsafe()...)
	if r.Status != 200 || !strings.Contains(string(r.Body), `"disabled":true`) {
		t.Errorf("disable: %d %s", r.Status, r.Body)
	}
	wantProblem(t, c.do("GET", "/api/v1/auth/me", nil, "Cookie", ann.cookie()), 401, "not valid")
	_, r = e.login(t, "ann", created.Password)
	wantProblem(t, r, 401, "disabled")
	wantProblem(t, c.do("PATCH", "/api/v1/users/nobody", updateUserRequest{Disabled: &yes}, root.unsafe()...), 404, "nobody")

	// Lockout after three failures, audited; the right password then
	// fails too until the lock ends.
	for range 3 {
		_, r = e.login(t, "rita", "a wrong password!")
	}
	wantProblem(t, r, 401, "locked until")
	_, r = e.login(t, "rita", "rita's long password")
	wantProblem(t, r, 401, "is locked")
	if !auditHas(t, e.store, "rita", "account.lock", "3 failed sign-ins") {
		t.Error("the lockout is not on the audit trail")
	}
	e.clock.add(16 * time.Minute)
	rita = e.mustLogin(t, "rita", "rita's long password")

	// Sign-out needs the CSRF token, and ends the session.
	wantProblem(t, c.do("POST", "/api/v1/auth/logout", nil, "Cookie", rita.cookie()), 403, "CSRF")
	if r := c.do("POST", "/api/v1/auth/logout", nil, rita.unsafe()...); r.Status != 204 || !strings.Contains(r.Header.Get("Set-Cookie"), "Max-Age=0") {
		t.Errorf("logout: %d %v %s", r.Status, r.Header, r.Body)
	}
	wantProblem(t, c.do("GET", "/api/v1/auth/me", nil, "Cookie", rita.cookie()), 401, "not valid")
	wantProblem(t, c.do("POST", "/api/v1/auth/logout", nil, rita.unsafe()...), 401, "not valid")
	wantProblem(t, c.do("POST", "/api/v1/auth/logout", nil), 401, "no session")

	// An admin sets a password: the old one and the sessions stop working.
	root = e.mustLogin(t, "root", "root's long password")
	rita = e.mustLogin(t, "rita", "rita's long password")
	newPassword := "rita's brand new password"
	tooShort := "short"
	wantProblem(t, c.do("PATCH", "/api/v1/users/rita", updateUserRequest{Password: &tooShort}, root.unsafe()...), 400, "too short")
	if r := c.do("PATCH", "/api/v1/users/rita", updateUserRequest{Password: &newPassword}, root.unsafe()...); r.Status != 200 {
		t.Errorf("set password: %d %s", r.Status, r.Body)
	}
	wantProblem(t, c.do("GET", "/api/v1/auth/me", nil, "Cookie", rita.cookie()), 401, "not valid")
	_, r = e.login(t, "rita", "rita's long password")
	wantProblem(t, r, 401, "wrong account name or password")
	e.mustLogin(t, "rita", newPassword)

	// Every account route was exercised.
	for _, rt := range e.srv.authRoutes() {
		if len(c.seen[rt.ID]) == 0 {
			t.Errorf("route %s %s was never called", rt.Method, rt.Path)
		}
	}
}
