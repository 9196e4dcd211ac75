package storetest

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/radmark/radmark"
)

// AuthStores is a metadata store with accounts: radmark.UserStore beside
// the projects its memberships name and the audit chain its mutations
// append to.
type AuthStores interface {
	radmark.UserStore
	radmark.ProjectStore
	radmark.AuditStore
}

// AuthOpener returns a fresh, empty store that is closed when the test
// ends.
type AuthOpener func(t *testing.T) AuthStores

// TestUserStore runs the conformance suite of radmark.UserStore: accounts,
// memberships, sessions, API tokens and failed sign-ins, with the audit
// event of every mutation (and none for a refused one).
func TestUserStore(t *testing.T, open func(t *testing.T) AuthStores) {
	tests := []struct {
		name string
		fn   func(*testing.T, AuthOpener)
	}{
		{"Users", testUsers},
		{"Memberships", testMemberships},
		{"Sessions", testSessions},
		{"Tokens", testTokens},
		{"LoginFailures", testLoginFailures},
		{"EventRollsBackAuth", testAuthEventRollsBack},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, open)
		})
	}
}

// CreateUser stores an account named name with a password hash, failing
// the test on error.
func CreateUser(t testing.TB, s radmark.UserStore, name string, admin bool) *radmark.User {
	t.Helper()
	u := &radmark.User{ID: NewID("user"), Name: name, DisplayName: "User " + name, Admin: admin}
	must(t, s.CreateUser(ctx(t), u, radmark.Credentials{PasswordHash: "hash-of-" + name}, NewEvent("admin", "user.create", "user", u.ID)), "CreateUser")
	return u
}

func testUsers(t *testing.T, open AuthOpener) {
	s := open(t)
	start := time.Now()
	alice := CreateUser(t, s, "alice", true)
	checkRecentTime(t, "alice's CreatedAt", alice.CreatedAt, start)
	n := chainLen(t, s)

	ev := NewEvent("admin", "user.create", "user", "")
	bob := &radmark.User{ID: NewID("user"), Name: "bob", Email: "bob@example.org"}
	ev.ObjectID = string(bob.ID)
	must(t, s.CreateUser(ctx(t), bob, radmark.Credentials{OIDCIssuer: "https://idp.example", OIDCSubject: "sub-bob"}, ev), "CreateUser bob")
	expectAppended(t, s, n, ev)

	for _, c := range []struct {
		name string
		u    *radmark.User
		cred radmark.Credentials
		code string
	}{
		{"taken name", &radmark.User{ID: NewID("user"), Name: "alice"}, radmark.Credentials{}, radmark.ECONFLICT},
		{"taken ID", &radmark.User{ID: alice.ID, Name: "alice2"}, radmark.Credentials{}, radmark.ECONFLICT},
		{"taken OIDC identity", &radmark.User{ID: NewID("user"), Name: "bob2"}, radmark.Credentials{OIDCIssuer: "https://idp.example", OIDCSubject: "sub-bob"}, radmark.ECONFLICT},
		{"no name", &radmark.User{ID: NewID("user"), Name: " "}, radmark.Credentials{}, radmark.EINVALID},
		{"no ID", &radmark.User{Name: "carol"}, radmark.Credentials{}, radmark.EINVALID},
		{"half an OIDC identity", &radmark.User{ID: NewID("user"), Name: "carol"}, radmark.Credentials{OIDCSubject: "x"}, radmark.EINVALID},
		{"bad text", &radmark.User{ID: NewID("user"), Name: "ca\x00rol"}, radmark.Credentials{}, radmark.EINVALID},
	} {
		ev := NewEvent("admin", "user.create", "user", c.u.ID)
		before := chainLen(t, s)
		wantCode(t, s.CreateUser(ctx(t), c.u, c.cred, ev), c.code, "CreateUser with "+c.name)
		expectNotWritten(t, s, before, ev)
	}

	got, err := s.User(ctx(t), alice.ID)
	must(t, err, "User")
	if diff := cmp.Diff(alice, got); diff != "" {
		t.Errorf("User (-created +stored):\n%s", diff)
	}
	got, err = s.UserByName(ctx(t), "bob")
	must(t, err, "UserByName")
	if diff := cmp.Diff(bob, got); diff != "" {
		t.Errorf("UserByName (-created +stored):\n%s", diff)
	}
	got, err = s.UserByOIDC(ctx(t), "https://idp.example", "sub-bob")
	must(t, err, "UserByOIDC")
	if got.ID != bob.ID {
		t.Errorf("UserByOIDC = %s, want bob", got.Name)
	}
	_, err = s.UserByOIDC(ctx(t), "https://other.example", "sub-bob")
	wantCode(t, err, radmark.ENOTFOUND, "UserByOIDC at another issuer")
	_, err = s.UserByName(ctx(t), "nobody")
	wantCode(t, err, radmark.ENOTFOUND, "UserByName of an unknown name")
	_, err = s.User(ctx(t), "no-such-id")
	wantCode(t, err, radmark.ENOTFOUND, "User of an unknown ID")

	cred, err := s.UserCredentials(ctx(t), "alice")
	must(t, err, "UserCredentials")
	if cred.PasswordHash != "hash-of-alice" || cred.User.ID != alice.ID || cred.Failures != 0 || !cred.LockedUntil.IsZero() {
		t.Errorf("UserCredentials = %+v", cred)
	}
	_, err = s.UserCredentials(ctx(t), "nobody")
	wantCode(t, err, radmark.ENOTFOUND, "UserCredentials of an unknown name")

	all, err := s.Users(ctx(t))
	must(t, err, "Users")
	if len(all) != 2 || all[0].Name != "alice" || all[1].Name != "bob" {
		t.Errorf("Users = %v", all)
	}

	// Disabling ends the account's sessions; the change is audited.
	se := newSession(alice.ID)
	must(t, s.StartSession(ctx(t), se, "", NewEvent("alice", "session.start", "user", alice.ID)), "StartSession")
	upd := *alice
	upd.Disabled, upd.Admin, upd.DisplayName, upd.Name = true, false, "Alice A.", "ignored"
	n = chainLen(t, s)
	ev = NewEvent("admin", "user.update", "user", alice.ID)
	must(t, s.UpdateUser(ctx(t), &upd, ev), "UpdateUser")
	expectAppended(t, s, n, ev)
	if upd.Name != "alice" {
		t.Errorf("UpdateUser changed the name to %q", upd.Name)
	}
	got, _ = s.User(ctx(t), alice.ID)
	if got == nil || !got.Disabled || got.Admin || got.DisplayName != "Alice A." {
		t.Errorf("after UpdateUser: %+v", got)
	}
	_, _, err = s.SessionBySecret(ctx(t), se.SecretHash)
	wantCode(t, err, radmark.ENOTFOUND, "the session of a disabled user")
	missing := &radmark.User{ID: "no-such-id", Name: "x"}
	ev = NewEvent("admin", "user.update", "user", missing.ID)
	n = chainLen(t, s)
	wantCode(t, s.UpdateUser(ctx(t), missing, ev), radmark.ENOTFOUND, "UpdateUser of an unknown user")
	expectNotWritten(t, s, n, ev)

	// A new password ends sessions and clears a lockout.
	se = newSession(bob.ID)
	must(t, s.StartSession(ctx(t), se, "", NewEvent("bob", "session.start", "user", bob.ID)), "StartSession")
	must(t, s.SetPassword(ctx(t), bob.ID, "new-hash", NewEvent("admin", "user.password", "user", bob.ID)), "SetPassword")
	cred, _ = s.UserCredentials(ctx(t), "bob")
	if cred == nil || cred.PasswordHash != "new-hash" {
		t.Errorf("after SetPassword: %+v", cred)
	}
	_, _, err = s.SessionBySecret(ctx(t), se.SecretHash)
	wantCode(t, err, radmark.ENOTFOUND, "a session after a password change")
	wantCode(t, s.SetPassword(ctx(t), "no-such-id", "h", NewEvent("admin", "user.password", "user", "no-such-id")), radmark.ENOTFOUND, "SetPassword of an unknown user")
	wantCode(t, s.SetPassword(ctx(t), bob.ID, "", NewEvent("admin", "user.password", "user", bob.ID)), radmark.EINVALID, "SetPassword without hash")
	CheckAuditChain(t, s, chainLen(t, s))
}

func testMemberships(t *testing.T, open AuthOpener) {
	s := open(t)
	p := createAuthProject(t, s, "P")
	q := createAuthProject(t, s, "Q")
	alice := CreateUser(t, s, "alice", false)
	bob := CreateUser(t, s, "bob", false)

	n := chainLen(t, s)
	m := &radmark.Membership{ProjectID: p.ID, UserID: alice.ID, Roles: []radmark.Role{radmark.RoleReviewer, radmark.RoleAnnotator}}
	ev := NewEvent("admin", "member.set", "project", p.ID)
	must(t, s.SetMembership(ctx(t), m, ev), "SetMembership")
	expectAppended(t, s, n, ev)
	if !slices.Equal(m.Roles, []radmark.Role{radmark.RoleAnnotator, radmark.RoleReviewer}) {
		t.Errorf("stored roles %v, want them sorted", m.Roles)
	}
	must(t, s.SetMembership(ctx(t), &radmark.Membership{ProjectID: p.ID, UserID: bob.ID, Roles: []radmark.Role{radmark.RoleManager}},
		NewEvent("admin", "member.set", "project", p.ID)), "SetMembership bob")
	must(t, s.SetMembership(ctx(t), &radmark.Membership{ProjectID: q.ID, UserID: alice.ID, Roles: []radmark.Role{radmark.RoleViewer}},
		NewEvent("admin", "member.set", "project", q.ID)), "SetMembership alice in q")

	roles, err := s.ProjectRoles(ctx(t), p.ID, alice.ID)
	must(t, err, "ProjectRoles")
	if !slices.Equal(roles, []radmark.Role{radmark.RoleAnnotator, radmark.RoleReviewer}) {
		t.Errorf("ProjectRoles = %v", roles)
	}
	if roles, err := s.ProjectRoles(ctx(t), q.ID, bob.ID); err != nil || len(roles) != 0 {
		t.Errorf("ProjectRoles of a non-member = %v, %v; want none", roles, err)
	}
	members, err := s.Members(ctx(t), p.ID)
	must(t, err, "Members")
	want := []radmark.Membership{
		{ProjectID: p.ID, UserID: alice.ID, Roles: []radmark.Role{radmark.RoleAnnotator, radmark.RoleReviewer}},
		{ProjectID: p.ID, UserID: bob.ID, Roles: []radmark.Role{radmark.RoleManager}},
	}
	slices.SortFunc(want, func(a, b radmark.Membership) int { return strings.Compare(string(a.UserID), string(b.UserID)) })
	if diff := cmp.Diff(want, members); diff != "" {
		t.Errorf("Members (-want +got):\n%s", diff)
	}
	ups, err := s.UserProjects(ctx(t), alice.ID)
	must(t, err, "UserProjects")
	if len(ups) != 2 {
		t.Errorf("UserProjects = %v, want 2 memberships", ups)
	}
	_, err = s.Members(ctx(t), "no-such-project")
	wantCode(t, err, radmark.ENOTFOUND, "Members of an unknown project")

	// Replacing the roles.
	must(t, s.SetMembership(ctx(t), &radmark.Membership{ProjectID: p.ID, UserID: alice.ID, Roles: []radmark.Role{radmark.RoleRadiologist}},
		NewEvent("admin", "member.set", "project", p.ID)), "SetMembership again")
	if roles, _ := s.ProjectRoles(ctx(t), p.ID, alice.ID); !slices.Equal(roles, []radmark.Role{radmark.RoleRadiologist}) {
		t.Errorf("roles after replacing = %v", roles)
	}

	for _, c := range []struct {
		name string
		m    radmark.Membership
		code string
	}{
		{"no roles", radmark.Membership{ProjectID: p.ID, UserID: alice.ID}, radmark.EINVALID},
		{"an unknown role", radmark.Membership{ProjectID: p.ID, UserID: alice.ID, Roles: []radmark.Role{"owner"}}, radmark.EINVALID},
		{"a repeated role", radmark.Membership{ProjectID: p.ID, UserID: alice.ID, Roles: []radmark.Role{"viewer", "viewer"}}, radmark.EINVALID},
		{"an unknown project", radmark.Membership{ProjectID: "no-such-project", UserID: alice.ID, Roles: []radmark.Role{"viewer"}}, radmark.ENOTFOUND},
		{"an unknown user", radmark.Membership{ProjectID: p.ID, UserID: "no-such-user", Roles: []radmark.Role{"viewer"}}, radmark.ENOTFOUND},
	} {
		ev := NewEvent("admin", "member.set", "project", c.m.ProjectID)
		before := chainLen(t, s)
		wantCode(t, s.SetMembership(ctx(t), &c.m, ev), c.code, "SetMembership with "+c.name)
		expectNotWritten(t, s, before, ev)
	}
	if roles, _ := s.ProjectRoles(ctx(t), p.ID, alice.ID); !slices.Equal(roles, []radmark.Role{radmark.RoleRadiologist}) {
		t.Errorf("refused changes changed the roles to %v", roles)
	}

	n = chainLen(t, s)
	ev = NewEvent("admin", "member.remove", "project", p.ID)
	must(t, s.RemoveMembership(ctx(t), p.ID, alice.ID, ev), "RemoveMembership")
	expectAppended(t, s, n, ev)
	if roles, _ := s.ProjectRoles(ctx(t), p.ID, alice.ID); len(roles) != 0 {
		t.Errorf("roles after removal = %v", roles)
	}
	ev = NewEvent("admin", "member.remove", "project", p.ID)
	n = chainLen(t, s)
	wantCode(t, s.RemoveMembership(ctx(t), p.ID, alice.ID, ev), radmark.ENOTFOUND, "RemoveMembership of a non-member")
	expectNotWritten(t, s, n, ev)
	CheckAuditChain(t, s, chainLen(t, s))
}

func createAuthProject(t testing.TB, s AuthStores, name string) *radmark.Project {
	t.Helper()
	p := &radmark.Project{ID: NewID("proj"), Name: name, CreatedBy: "admin"}
	must(t, s.CreateProject(ctx(t), p, NewEvent("admin", "project.create", "project", p.ID)), "CreateProject")
	return p
}

func newSession(user radmark.ID) *radmark.Session {
	id := NewID("session")
	return &radmark.Session{ID: id, SecretHash: Digest(string(id)), UserID: user, Via: "password", Address: "192.0.2.1",
		ExpiresAt: time.Now().Add(12 * time.Hour), IdleTimeout: time.Hour}
}

func testSessions(t *testing.T, open AuthOpener) {
	s := open(t)
	alice := CreateUser(t, s, "alice", false)
	// Failed sign-ins before a successful one are cleared by it.
	rule := radmark.LockoutRule{MaxFailures: 5, Window: time.Hour, LockFor: time.Hour}
	_, _, err := s.RecordLoginFailure(ctx(t), radmark.LoginFailure{Name: "alice", UserID: alice.ID, Address: "192.0.2.1"}, rule,
		NewEvent("alice", "login.failure", "user", alice.ID), nil)
	must(t, err, "RecordLoginFailure")

	pre := newSession(alice.ID)
	must(t, s.StartSession(ctx(t), pre, "", NewEvent("alice", "session.start", "user", alice.ID)), "StartSession")
	if cred, _ := s.UserCredentials(ctx(t), "alice"); cred == nil || cred.Failures != 0 || !cred.LastFailureAt.IsZero() {
		t.Errorf("a sign-in left the failures: %+v", cred)
	}
	got, u, err := s.SessionBySecret(ctx(t), pre.SecretHash)
	must(t, err, "SessionBySecret")
	if u.ID != alice.ID || got.ID != pre.ID || got.IdleTimeout != time.Hour || !got.ExpiresAt.Equal(normalised(pre.ExpiresAt)) ||
		got.Via != "password" || got.Address != "192.0.2.1" || !got.LastSeenAt.Equal(pre.CreatedAt) {
		t.Errorf("SessionBySecret = %+v, %+v; stored %+v", got, u, pre)
	}

	// A new sign-in replaces the session the browser had.
	n := chainLen(t, s)
	next := newSession(alice.ID)
	ev := NewEvent("alice", "session.start", "user", alice.ID)
	must(t, s.StartSession(ctx(t), next, pre.SecretHash, ev), "StartSession replacing")
	expectAppended(t, s, n, ev)
	_, _, err = s.SessionBySecret(ctx(t), pre.SecretHash)
	wantCode(t, err, radmark.ENOTFOUND, "the replaced session")

	at := time.Now().Add(time.Minute)
	must(t, s.TouchSession(ctx(t), next.ID, at), "TouchSession")
	got, _, _ = s.SessionBySecret(ctx(t), next.SecretHash)
	if got == nil || !got.LastSeenAt.Equal(normalised(at)) {
		t.Errorf("LastSeenAt after TouchSession = %+v, want %v", got, at)
	}

	for _, c := range []struct {
		name string
		se   *radmark.Session
		code string
	}{
		{"no secret", &radmark.Session{ID: NewID("s"), UserID: alice.ID, ExpiresAt: at}, radmark.EINVALID},
		{"no expiry", &radmark.Session{ID: NewID("s"), SecretHash: "x", UserID: alice.ID}, radmark.EINVALID},
		{"an unknown user", &radmark.Session{ID: NewID("s"), SecretHash: "y", UserID: "nobody", ExpiresAt: at}, radmark.ENOTFOUND},
		{"a taken ID", &radmark.Session{ID: next.ID, SecretHash: "z", UserID: alice.ID, ExpiresAt: at}, radmark.ECONFLICT},
	} {
		ev := NewEvent("alice", "session.start", "user", alice.ID)
		before := chainLen(t, s)
		wantCode(t, s.StartSession(ctx(t), c.se, "", ev), c.code, "StartSession with "+c.name)
		expectNotWritten(t, s, before, ev)
	}

	// Expiry: absolute and idle.
	old := newSession(alice.ID)
	old.ExpiresAt = time.Now().Add(10 * time.Minute)
	idle := newSession(alice.ID)
	idle.IdleTimeout = time.Minute
	for _, se := range []*radmark.Session{old, idle} {
		must(t, s.StartSession(ctx(t), se, "", NewEvent("alice", "session.start", "user", alice.ID)), "StartSession")
	}
	deleted, err := s.DeleteExpiredSessions(ctx(t), time.Now().Add(30*time.Minute))
	must(t, err, "DeleteExpiredSessions")
	if deleted != 2 {
		t.Errorf("DeleteExpiredSessions deleted %d, want the absolute- and the idle-expired one", deleted)
	}
	if _, _, err := s.SessionBySecret(ctx(t), next.SecretHash); err != nil {
		t.Errorf("a live session was deleted: %v", err)
	}

	n = chainLen(t, s)
	ev = NewEvent("alice", "session.end", "user", alice.ID)
	must(t, s.EndSession(ctx(t), next.ID, ev), "EndSession")
	expectAppended(t, s, n, ev)
	_, _, err = s.SessionBySecret(ctx(t), next.SecretHash)
	wantCode(t, err, radmark.ENOTFOUND, "an ended session")
	ev = NewEvent("alice", "session.end", "user", alice.ID)
	wantCode(t, s.EndSession(ctx(t), next.ID, ev), radmark.ENOTFOUND, "EndSession twice")
	expectNotWritten(t, s, n+1, ev)
}

func testTokens(t *testing.T, open AuthOpener) {
	s := open(t)
	alice := CreateUser(t, s, "alice", false)
	bob := CreateUser(t, s, "bob", false)
	expires := time.Now().Add(90 * 24 * time.Hour)
	tok := &radmark.APIToken{ID: NewID("tok"), UserID: alice.ID, Name: "scripts", Hash: Digest("t1"), Prefix: "rmk_abcd",
		Scopes: []string{"read"}, ExpiresAt: &expires}
	n := chainLen(t, s)
	ev := NewEvent("alice", "token.create", "api_token", tok.ID)
	must(t, s.CreateToken(ctx(t), tok, ev), "CreateToken")
	expectAppended(t, s, n, ev)
	if !tok.ExpiresAt.Equal(normalised(expires)) {
		t.Errorf("ExpiresAt = %v", tok.ExpiresAt)
	}
	forever := &radmark.APIToken{ID: NewID("tok"), UserID: alice.ID, Name: "dicomweb", Hash: Digest("t2"), Prefix: "rmk_efgh",
		Scopes: []string{"read", "write"}}
	must(t, s.CreateToken(ctx(t), forever, NewEvent("alice", "token.create", "api_token", forever.ID)), "CreateToken")

	got, u, err := s.TokenByHash(ctx(t), Digest("t1"))
	must(t, err, "TokenByHash")
	if u.ID != alice.ID {
		t.Errorf("TokenByHash's user = %s", u.Name)
	}
	if diff := cmp.Diff(tok, got); diff != "" {
		t.Errorf("TokenByHash (-created +stored):\n%s", diff)
	}
	_, _, err = s.TokenByHash(ctx(t), Digest("nope"))
	wantCode(t, err, radmark.ENOTFOUND, "TokenByHash of an unknown hash")

	list, err := s.Tokens(ctx(t), alice.ID)
	must(t, err, "Tokens")
	if len(list) != 2 || list[0].ID != forever.ID || list[0].ExpiresAt != nil || !slices.Equal(list[0].Scopes, []string{"read", "write"}) {
		t.Errorf("Tokens = %+v", list)
	}
	if list, _ := s.Tokens(ctx(t), bob.ID); len(list) != 0 {
		t.Errorf("bob's tokens = %+v", list)
	}

	used := time.Now()
	must(t, s.TouchToken(ctx(t), tok.ID, used), "TouchToken")
	got, _, _ = s.TokenByHash(ctx(t), Digest("t1"))
	if got.LastUsedAt == nil || !got.LastUsedAt.Equal(normalised(used)) {
		t.Errorf("LastUsedAt = %v, want %v", got.LastUsedAt, used)
	}

	for _, c := range []struct {
		name string
		tok  *radmark.APIToken
		code string
	}{
		{"no hash", &radmark.APIToken{ID: NewID("tok"), UserID: alice.ID, Name: "x", Scopes: []string{"read"}}, radmark.EINVALID},
		{"no name", &radmark.APIToken{ID: NewID("tok"), UserID: alice.ID, Hash: "h1", Scopes: []string{"read"}}, radmark.EINVALID},
		{"no scopes", &radmark.APIToken{ID: NewID("tok"), UserID: alice.ID, Name: "x", Hash: "h2"}, radmark.EINVALID},
		{"a bad scope", &radmark.APIToken{ID: NewID("tok"), UserID: alice.ID, Name: "x", Hash: "h3", Scopes: []string{"read write"}}, radmark.EINVALID},
		{"an unknown user", &radmark.APIToken{ID: NewID("tok"), UserID: "nobody", Name: "x", Hash: "h4", Scopes: []string{"read"}}, radmark.ENOTFOUND},
		{"a taken ID", &radmark.APIToken{ID: tok.ID, UserID: alice.ID, Name: "x", Hash: "h5", Scopes: []string{"read"}}, radmark.ECONFLICT},
	} {
		ev := NewEvent("alice", "token.create", "api_token", c.tok.ID)
		before := chainLen(t, s)
		wantCode(t, s.CreateToken(ctx(t), c.tok, ev), c.code, "CreateToken with "+c.name)
		expectNotWritten(t, s, before, ev)
	}

	// Only its owner revokes a token, once.
	ev = NewEvent("bob", "token.revoke", "api_token", tok.ID)
	n = chainLen(t, s)
	wantCode(t, s.RevokeToken(ctx(t), bob.ID, tok.ID, time.Time{}, ev), radmark.ENOTFOUND, "RevokeToken of another's token")
	expectNotWritten(t, s, n, ev)
	ev = NewEvent("alice", "token.revoke", "api_token", tok.ID)
	must(t, s.RevokeToken(ctx(t), alice.ID, tok.ID, time.Time{}, ev), "RevokeToken")
	expectAppended(t, s, n, ev)
	got, _, _ = s.TokenByHash(ctx(t), Digest("t1"))
	if got.RevokedAt == nil {
		t.Error("the revoked token has no RevokedAt")
	}
	ev = NewEvent("alice", "token.revoke", "api_token", tok.ID)
	wantCode(t, s.RevokeToken(ctx(t), alice.ID, tok.ID, time.Time{}, ev), radmark.ECONFLICT, "RevokeToken twice")
	expectNotWritten(t, s, n+1, ev)
}

func testLoginFailures(t *testing.T, open AuthOpener) {
	s := open(t)
	alice := CreateUser(t, s, "alice", false)
	rule := radmark.LockoutRule{MaxFailures: 3, Window: 15 * time.Minute, LockFor: 30 * time.Minute}
	base := time.Now().Add(-time.Hour).UTC()
	fail := func(at time.Time, addr string) (int, time.Time, *radmark.AuditEvent, *radmark.AuditEvent) {
		t.Helper()
		ev := NewEvent("alice", "login.failure", "user", alice.ID)
		lockEv := NewEvent("alice", "account.lock", "user", alice.ID)
		n, until, err := s.RecordLoginFailure(ctx(t), radmark.LoginFailure{At: at, Name: "alice", UserID: alice.ID, Address: addr}, rule, ev, lockEv)
		must(t, err, "RecordLoginFailure")
		return n, until, ev, lockEv
	}
	if n, until, _, _ := fail(base, "192.0.2.1"); n != 1 || !until.IsZero() {
		t.Errorf("first failure: %d, %v", n, until)
	}
	// A failure long after the last one starts the count again.
	if n, _, _, _ := fail(base.Add(20*time.Minute), "192.0.2.1"); n != 1 {
		t.Errorf("failure after the window: count %d, want 1", n)
	}
	fail(base.Add(21*time.Minute), "192.0.2.2")
	before := chainLen(t, s)
	n, until, ev, lockEv := fail(base.Add(22*time.Minute), "192.0.2.1")
	if n != 3 || !until.Equal(normalised(base.Add(52*time.Minute))) {
		t.Errorf("third failure in the window: count %d, locked until %v", n, until)
	}
	expectAppended(t, s, before, ev, lockEv)
	cred, _ := s.UserCredentials(ctx(t), "alice")
	if cred == nil || !cred.LockedUntil.Equal(until) {
		t.Errorf("credentials after the lock: %+v", cred)
	}
	// During the lock failures are recorded but do not lock again.
	before = chainLen(t, s)
	_, until2, ev, _ := fail(base.Add(23*time.Minute), "192.0.2.1")
	if !until2.Equal(until) {
		t.Errorf("a failure during the lock moved it to %v", until2)
	}
	expectAppended(t, s, before, ev)

	// An unknown account: recorded, counted for its address.
	ev = NewEvent("mallory", "login.failure", "user", "")
	if n, until, err := s.RecordLoginFailure(ctx(t), radmark.LoginFailure{At: base.Add(24 * time.Minute), Name: "mallory", Address: "192.0.2.1"}, rule, ev, nil); err != nil || n != 0 || !until.IsZero() {
		t.Errorf("failure of an unknown account: %d, %v, %v", n, until, err)
	}
	count, err := s.LoginFailuresFrom(ctx(t), "192.0.2.1", base.Add(time.Minute))
	must(t, err, "LoginFailuresFrom")
	if count != 4 {
		t.Errorf("LoginFailuresFrom = %d, want 4", count)
	}
	if count, _ := s.LoginFailuresFrom(ctx(t), "192.0.2.2", base); count != 1 {
		t.Errorf("LoginFailuresFrom the other address = %d, want 1", count)
	}
	_, _, err = s.RecordLoginFailure(ctx(t), radmark.LoginFailure{Name: "alice", UserID: alice.ID}, radmark.LockoutRule{}, NewEvent("alice", "login.failure", "user", alice.ID), nil)
	wantCode(t, err, radmark.EINVALID, "RecordLoginFailure without a rule")
	pruned, err := s.PruneLoginFailures(ctx(t), base.Add(21*time.Minute))
	must(t, err, "PruneLoginFailures")
	if pruned != 2 {
		t.Errorf("PruneLoginFailures removed %d, want the 2 before the cut", pruned)
	}
	if count, _ := s.LoginFailuresFrom(ctx(t), "192.0.2.1", base); count != 3 {
		t.Errorf("LoginFailuresFrom after pruning = %d, want 3", count)
	}
	CheckAuditChain(t, s, chainLen(t, s))
}

// testAuthEventRollsBack checks that a mutation whose event cannot be
// appended (its ID is taken) stores nothing.
func testAuthEventRollsBack(t *testing.T, open AuthOpener) {
	s := open(t)
	p := createAuthProject(t, s, "P")
	alice := CreateUser(t, s, "alice", false)
	first, err := s.AuditEvents(ctx(t), radmark.AuditFilter{Limit: 1})
	must(t, err, "AuditEvents")
	taken := func(ev *radmark.AuditEvent) *radmark.AuditEvent { ev.ID = first[0].ID; return ev }
	n := chainLen(t, s)

	u := &radmark.User{ID: NewID("user"), Name: "bob"}
	wantCode(t, s.CreateUser(ctx(t), u, radmark.Credentials{}, taken(NewEvent("admin", "user.create", "user", u.ID))), radmark.ECONFLICT, "CreateUser with a taken event ID")
	_, err = s.UserByName(ctx(t), "bob")
	wantCode(t, err, radmark.ENOTFOUND, "a user whose creation was refused")

	m := &radmark.Membership{ProjectID: p.ID, UserID: alice.ID, Roles: []radmark.Role{radmark.RoleViewer}}
	wantCode(t, s.SetMembership(ctx(t), m, taken(NewEvent("admin", "member.set", "project", p.ID))), radmark.ECONFLICT, "SetMembership with a taken event ID")
	if roles, _ := s.ProjectRoles(ctx(t), p.ID, alice.ID); len(roles) != 0 {
		t.Errorf("a refused membership gave roles %v", roles)
	}

	se := newSession(alice.ID)
	wantCode(t, s.StartSession(ctx(t), se, "", taken(NewEvent("alice", "session.start", "user", alice.ID))), radmark.ECONFLICT, "StartSession with a taken event ID")
	_, _, err = s.SessionBySecret(ctx(t), se.SecretHash)
	wantCode(t, err, radmark.ENOTFOUND, "a session whose start was refused")

	tok := &radmark.APIToken{ID: NewID("tok"), UserID: alice.ID, Name: "x", Hash: Digest("x"), Scopes: []string{"read"}}
	wantCode(t, s.CreateToken(ctx(t), tok, taken(NewEvent("alice", "token.create", "api_token", tok.ID))), radmark.ECONFLICT, "CreateToken with a taken event ID")
	_, _, err = s.TokenByHash(ctx(t), tok.Hash)
	wantCode(t, err, radmark.ENOTFOUND, "a token whose creation was refused")

	rule := radmark.LockoutRule{MaxFailures: 1, Window: time.Hour, LockFor: time.Hour}
	_, _, err = s.RecordLoginFailure(ctx(t), radmark.LoginFailure{Name: "alice", UserID: alice.ID, Address: "a"}, rule,
		NewEvent("alice", "login.failure", "user", alice.ID), taken(NewEvent("alice", "account.lock", "user", alice.ID)))
	wantCode(t, err, radmark.ECONFLICT, "RecordLoginFailure with a taken lock event ID")
	if cred, _ := s.UserCredentials(ctx(t), "alice"); cred == nil || !cred.LockedUntil.IsZero() || cred.Failures != 0 {
		t.Errorf("a refused failure record locked the account: %+v", cred)
	}
	if c, _ := s.LoginFailuresFrom(ctx(t), "a", time.Time{}); c != 0 {
		t.Errorf("a refused failure record was counted")
	}
	if got := chainLen(t, s); got != n {
		t.Errorf("refused mutations appended %d events", got-n)
	}
}
