package auth

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/internal/testdb"
)

func TestPasswordHash(t *testing.T) {
	h, err := HashPassword("correct horse battery", TestParams)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=1024,t=1,p=1$") {
		t.Errorf("hash %q is not in PHC form with its parameters", h)
	}
	h2, _ := HashPassword("correct horse battery", TestParams)
	if h == h2 {
		t.Error("two hashes of one password are equal: no salt")
	}
	for _, c := range []struct {
		pw   string
		want bool
	}{{"correct horse battery", true}, {"correct horse batterY", false}, {"", false}, {"correct horse battery ", false}} {
		ok, err := VerifyPassword(c.pw, h)
		if err != nil || ok != c.want {
			t.Errorf("VerifyPassword(%q) = %v, %v; want %v", c.pw, ok, err, c.want)
		}
	}
	// The default parameters are stored with the hash and verify.
	hd, err := HashPassword("another password", DefaultParams)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(hd, "$m=65536,t=3,p=4$") {
		t.Errorf("default hash %q", hd)
	}
	if ok, err := VerifyPassword("another password", hd); !ok || err != nil {
		t.Errorf("VerifyPassword with default parameters = %v, %v", ok, err)
	}
	for _, bad := range []string{"", "plain", "$argon2i$v=19$m=1024,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=16$m=1024,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5", "$argon2id$v=19$m=1024,t=0,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=1024,t=1,p=1$!!$a2V5a2V5a2V5a2V5a2V5", "$argon2id$v=19$m=1024,t=1,p=1$c2FsdHNhbHQ$a2V5"} {
		if _, err := VerifyPassword("x", bad); err == nil {
			t.Errorf("VerifyPassword accepted the hash %q", bad)
		}
	}
	if _, err := HashPassword("x", Params{Time: 1, MemoryKiB: 8, Threads: 1, SaltLen: 4, KeyLen: 32}); err == nil {
		t.Error("HashPassword accepted a 4-byte salt")
	}
}

func TestPasswordRules(t *testing.T) {
	for _, c := range []struct {
		name, pw string
		ok       bool
	}{
		{"alice", "short", false},
		{"alice", "elevenchars", false},
		{"alice", "twelve chars", true},
		{"alice", "ääääääääääää", true}, // 12 characters, 24 bytes
		{"radiologist1", "Radiologist1", false},
		{"alice", strings.Repeat("x", 1025), false},
		{"alice", "bad utf8 \xff\xfe here", false},
	} {
		err := CheckPasswordRules(c.name, c.pw)
		if (err == nil) != c.ok || (err != nil && radmark.ErrorCode(err) != radmark.EINVALID) {
			t.Errorf("CheckPasswordRules(%q, %q) = %v, want ok=%v", c.name, c.pw, err, c.ok)
		}
	}
	seen := map[string]bool{}
	for range 50 {
		pw, err := GeneratePassword()
		if err != nil {
			t.Fatal(err)
		}
		if err := CheckPasswordRules("alice", pw); err != nil || seen[pw] || strings.ContainsAny(pw, "0O1lI") {
			t.Fatalf("generated password %q: %v (repeated: %v)", pw, err, seen[pw])
		}
		seen[pw] = true
	}
}

func TestCSRFAndTTL(t *testing.T) {
	a, b := CSRFToken("secret-a"), CSRFToken("secret-b")
	if a == b || !CheckCSRF("secret-a", a) || CheckCSRF("secret-a", b) || CheckCSRF("secret-a", "") {
		t.Error("CSRF tokens are not bound to their session")
	}
	for in, want := range map[string]time.Duration{"": 0, "0": 0, "90d": 90 * 24 * time.Hour, "720h": 720 * time.Hour} {
		if got, err := ParseTTL(in); err != nil || got != want {
			t.Errorf("ParseTTL(%q) = %v, %v", in, got, err)
		}
	}
	for _, bad := range []string{"-1d", "x", "1.5d", "0d", "-3h", "99999d"} {
		if _, err := ParseTTL(bad); radmark.ErrorCode(err) != radmark.EINVALID {
			t.Errorf("ParseTTL(%q) = %v", bad, err)
		}
	}
}

func TestClaimMapping(t *testing.T) {
	m := ClaimMapping{Rules: []RoleRule{
		{Claim: "groups", Value: "radmark-admins", Admin: true},
		{Claim: "groups", Value: "chest-readers", Project: "p1", Roles: []radmark.Role{radmark.RoleAnnotator}},
		{Claim: "realm_access.roles", Value: "qa", Project: "p1", Roles: []radmark.Role{radmark.RoleReviewer}},
		{Claim: "dept", Value: "neuro", Project: "p2", Roles: []radmark.Role{radmark.RoleViewer}},
	}}
	if err := m.Check(); err != nil {
		t.Fatal(err)
	}
	g := m.Map(map[string]any{"groups": []any{"chest-readers", "x"}, "realm_access": map[string]any{"roles": []any{"qa"}}})
	if g.Admin || !g.ManagesAdmin || len(g.Roles) != 2 || len(g.Roles["p2"]) != 0 ||
		strings.Join([]string{string(g.Roles["p1"][0]), string(g.Roles["p1"][1])}, ",") != "annotator,reviewer" {
		t.Errorf("Map = %+v", g)
	}
	if g := m.Map(map[string]any{"groups": "radmark-admins", "dept": "neuro"}); !g.Admin || len(g.Roles["p2"]) != 1 {
		t.Errorf("Map with a string claim = %+v", g)
	}
	for _, bad := range []RoleRule{{Claim: "g"}, {Claim: "g", Value: "v"}, {Claim: "g", Value: "v", Project: "p"},
		{Claim: "g", Value: "v", Project: "p", Roles: []radmark.Role{"owner"}}} {
		if err := (ClaimMapping{Rules: []RoleRule{bad}}).Check(); radmark.ErrorCode(err) != radmark.EINVALID {
			t.Errorf("Check(%+v) = %v", bad, err)
		}
	}
}

type store interface {
	radmark.UserStore
	radmark.ProjectStore
	radmark.AuditStore
}

// clock is a settable time.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newService(t *testing.T, e testdb.Engine) (*Service, store, *clock) {
	t.Helper()
	st, ok := e.Open(t).(store)
	if !ok {
		t.Fatalf("the %s store is not a radmark.UserStore", e.Name)
	}
	c := &clock{t: time.Now().UTC()}
	return &Service{Store: st, Now: c.now, Config: Config{Hashing: TestParams,
		Lockout: radmark.LockoutRule{MaxFailures: 3, Window: 10 * time.Minute, LockFor: 15 * time.Minute}, AddressLimit: 8}}, st, c
}

func auditActions(t *testing.T, st store, object radmark.ID) []string {
	t.Helper()
	evs, err := st.AuditEvents(context.Background(), radmark.AuditFilter{ObjectID: string(object)})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range evs {
		out = append(out, e.Action)
	}
	return out
}

func wantUnauthorized(t *testing.T, err error, reason string) {
	t.Helper()
	if radmark.ErrorCode(err) != radmark.EUNAUTHORIZED || !strings.Contains(radmark.ErrorMessage(err), reason) {
		t.Errorf("error %v, want unauthorized saying %q", err, reason)
	}
}

func TestService(t *testing.T) {
	for _, e := range testdb.Engines {
		t.Run(e.Name, func(t *testing.T) {
			t.Parallel()
			t.Run("Login", func(t *testing.T) { testLogin(t, e) })
			t.Run("Lockout", func(t *testing.T) { testLockout(t, e) })
			t.Run("Tokens", func(t *testing.T) { testTokens(t, e) })
			t.Run("OIDC", func(t *testing.T) { testOIDCLogin(t, e) })
		})
	}
}

func testLogin(t *testing.T, e testdb.Engine) {
	ctx := t.Context()
	s, st, clk := newService(t, e)
	op := Op{Actor: "admin", Address: "192.0.2.9"}
	if _, err := s.CreateUser(ctx, op, NewUser{Name: "alice", Password: "short"}); radmark.ErrorCode(err) != radmark.EINVALID {
		t.Errorf("CreateUser with a short password = %v", err)
	}
	if _, err := s.CreateUser(ctx, op, NewUser{Name: "bad name!", Password: "long enough password"}); radmark.ErrorCode(err) != radmark.EINVALID {
		t.Errorf("CreateUser with a bad name = %v", err)
	}
	alice, err := s.CreateUser(ctx, op, NewUser{Name: "alice", Password: "alice's long password"})
	if err != nil {
		t.Fatal(err)
	}

	_, err = s.Login(ctx, Op{Address: "192.0.2.1"}, "alice", "wrong password!", "")
	wantUnauthorized(t, err, "wrong account name or password")
	_, err = s.Login(ctx, Op{Address: "192.0.2.1"}, "nobody", "wrong password!", "")
	wantUnauthorized(t, err, "wrong account name or password")
	if got := auditActions(t, st, alice.ID); strings.Join(got, ",") != "user.create,login.failure" {
		t.Errorf("alice's audit trail = %v", got)
	}

	// Session fixation: the session the browser had before is ended.
	first, err := s.Login(ctx, Op{Address: "192.0.2.1"}, "alice", "alice's long password", "")
	if err != nil {
		t.Fatal(err)
	}
	second, err := s.Login(ctx, Op{Address: "192.0.2.1"}, "alice", "alice's long password", first.Secret)
	if err != nil {
		t.Fatal(err)
	}
	if second.Secret == first.Secret || second.CSRF == first.CSRF {
		t.Error("the session secret was not rotated")
	}
	_, _, err = s.SessionUser(ctx, first.Secret)
	wantUnauthorized(t, err, "not valid")
	se, u, err := s.SessionUser(ctx, second.Secret)
	if err != nil || u.ID != alice.ID || se.ID != second.Session.ID {
		t.Fatalf("SessionUser = %v, %v, %v", se, u, err)
	}

	// Idle and absolute expiry.
	clk.t = clk.t.Add(59 * time.Minute)
	if _, _, err := s.SessionUser(ctx, second.Secret); err != nil {
		t.Errorf("a session used within the idle time: %v", err)
	}
	clk.t = clk.t.Add(61 * time.Minute)
	_, _, err = s.SessionUser(ctx, second.Secret)
	wantUnauthorized(t, err, "without use")
	third, err := s.Login(ctx, Op{}, "alice", "alice's long password", "")
	if err != nil {
		t.Fatal(err)
	}
	for range 14 {
		clk.t = clk.t.Add(55 * time.Minute)
		_, _, err = s.SessionUser(ctx, third.Secret)
	}
	wantUnauthorized(t, err, "expired at")

	// Logout ends the session.
	fourth, _ := s.Login(ctx, Op{}, "alice", "alice's long password", "")
	if n, err := st.DeleteExpiredSessions(ctx, clk.t); err != nil || n != 0 {
		t.Errorf("expired sessions left after sign-ins pruned: %d, %v", n, err)
	}
	if err := s.Logout(ctx, Op{}, fourth.Secret); err != nil {
		t.Fatal(err)
	}
	_, _, err = s.SessionUser(ctx, fourth.Secret)
	wantUnauthorized(t, err, "not valid")

	// A disabled account cannot sign in, and its sessions end.
	fifth, _ := s.Login(ctx, Op{}, "alice", "alice's long password", "")
	disabled := true
	if _, err := s.UpdateUser(ctx, op, nil, alice.ID, UserChange{Disabled: &disabled}); err != nil {
		t.Fatal(err)
	}
	_, _, err = s.SessionUser(ctx, fifth.Secret)
	wantUnauthorized(t, err, "not valid")
	_, err = s.Login(ctx, Op{}, "alice", "alice's long password", "")
	wantUnauthorized(t, err, "disabled")

	// An admin cannot lock themself out.
	admin, _ := s.CreateUser(ctx, op, NewUser{Name: "root", Admin: true, Password: "root's long password"})
	no := false
	if _, err := s.UpdateUser(ctx, op, admin, admin.ID, UserChange{Admin: &no}); radmark.ErrorCode(err) != radmark.ECONFLICT {
		t.Errorf("an admin took their own admin role: %v", err)
	}
}

func testLockout(t *testing.T, e testdb.Engine) {
	ctx := t.Context()
	s, st, clk := newService(t, e)
	bob, err := s.CreateUser(ctx, Op{Actor: "admin"}, NewUser{Name: "bob", Password: "bob's long password"})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		_, err = s.Login(ctx, Op{Address: "198.51.100.1"}, "bob", "guess number "+string(rune('a'+i)), "")
	}
	wantUnauthorized(t, err, "locked until")
	// The right password does not help while locked.
	_, err = s.Login(ctx, Op{Address: "198.51.100.2"}, "bob", "bob's long password", "")
	wantUnauthorized(t, err, "is locked")
	want := "user.create,login.failure,login.failure,login.failure,account.lock,login.failure"
	if got := strings.Join(auditActions(t, st, bob.ID), ","); got != want {
		t.Errorf("bob's audit trail = %s, want %s", got, want)
	}
	clk.t = clk.t.Add(16 * time.Minute)
	if _, err := s.Login(ctx, Op{Address: "198.51.100.2"}, "bob", "bob's long password", ""); err != nil {
		t.Errorf("sign-in after the lock ended: %v", err)
	}

	// Per address: after AddressLimit failures any account is refused.
	for i := range 8 {
		_, err = s.Login(ctx, Op{Address: "203.0.113.7"}, "user"+string(rune('a'+i)), "some wrong password", "")
		wantUnauthorized(t, err, "wrong account name")
	}
	_, err = s.Login(ctx, Op{Address: "203.0.113.7"}, "bob", "bob's long password", "")
	wantUnauthorized(t, err, "too many failed sign-ins from your address")
	if _, err := s.Login(ctx, Op{Address: "203.0.113.8"}, "bob", "bob's long password", ""); err != nil {
		t.Errorf("another address was refused: %v", err)
	}
	clk.t = clk.t.Add(11 * time.Minute)
	if _, err := s.Login(ctx, Op{Address: "203.0.113.7"}, "bob", "bob's long password", ""); err != nil {
		t.Errorf("the address is still refused after the window: %v", err)
	}
}

func testTokens(t *testing.T, e testdb.Engine) {
	ctx := t.Context()
	s, st, clk := newService(t, e)
	carol, _ := s.CreateUser(ctx, Op{Actor: "admin"}, NewUser{Name: "carol", Password: "carol's long password"})
	if _, err := s.CreateToken(ctx, Op{}, carol, "x", []string{"admin"}, 0); radmark.ErrorCode(err) != radmark.EINVALID {
		t.Errorf("CreateToken with scope admin = %v", err)
	}
	tok, err := s.CreateToken(ctx, Op{}, carol, "nightly export", []string{ScopeRead}, 90*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tok.Token, "rmk_") || len(tok.Token) != 47 || tok.Hash == tok.Token || !strings.HasPrefix(tok.Token, tok.Prefix) {
		t.Errorf("token %q (prefix %q)", tok.Token, tok.Prefix)
	}
	got, u, err := s.TokenUser(ctx, tok.Token)
	if err != nil || u.ID != carol.ID || got.ID != tok.ID || got.LastUsedAt == nil {
		t.Fatalf("TokenUser = %+v, %v, %v", got, u, err)
	}
	_, _, err = s.TokenUser(ctx, tok.Token[:46]+"x")
	wantUnauthorized(t, err, "unknown API token")
	_, _, err = s.TokenUser(ctx, "abc")
	wantUnauthorized(t, err, "not a radmark API token")

	clk.t = clk.t.Add(91 * 24 * time.Hour)
	_, _, err = s.TokenUser(ctx, tok.Token)
	wantUnauthorized(t, err, "expired at")

	forever, _ := s.CreateToken(ctx, Op{}, carol, "dicomweb", nil, 0)
	if len(forever.Scopes) != 1 || forever.Scopes[0] != ScopeWrite || forever.ExpiresAt != nil {
		t.Errorf("default token: %+v", forever.APIToken)
	}
	if err := s.RevokeToken(ctx, Op{}, carol, forever.ID); err != nil {
		t.Fatal(err)
	}
	_, _, err = s.TokenUser(ctx, forever.Token)
	wantUnauthorized(t, err, "was revoked at")
	want := "token.create,token.revoke"
	if got := strings.Join(auditActions(t, st, forever.ID), ","); got != want {
		t.Errorf("the token's audit trail = %s, want %s", got, want)
	}
}

func testOIDCLogin(t *testing.T, e testdb.Engine) {
	ctx := t.Context()
	s, st, _ := newService(t, e)
	p := &radmark.Project{ID: NewID(), Name: "Chest CT"}
	if err := st.CreateProject(ctx, p, s.event(Op{Actor: "admin"}, "project.create", "project", p.ID, "")); err != nil {
		t.Fatal(err)
	}
	local, _ := s.CreateUser(ctx, Op{Actor: "admin"}, NewUser{Name: "dana", Password: "dana's long password"})
	m := ClaimMapping{Rules: []RoleRule{
		{Claim: "groups", Value: "admins", Admin: true},
		{Claim: "groups", Value: "readers", Project: p.ID, Roles: []radmark.Role{radmark.RoleAnnotator, radmark.RoleRadiologist}},
	}}
	id := Identity{Issuer: "https://idp.example", Subject: "s-1", Claims: map[string]any{
		"preferred_username": "dana", "email": "dana@example.org", "name": "Dana Scully", "groups": []any{"readers"}}}
	login, err := s.OIDCLogin(ctx, Op{}, m, id, "")
	if err != nil {
		t.Fatal(err)
	}
	u := login.User
	if u.ID == local.ID || !strings.HasPrefix(u.Name, "dana-") || u.Email != "dana@example.org" || u.Admin {
		t.Errorf("first single sign-on made %+v (the local dana must not be taken over)", u)
	}
	roles, _ := st.ProjectRoles(ctx, p.ID, u.ID)
	if len(roles) != 2 {
		t.Errorf("roles from claims = %v", roles)
	}
	// The next sign-in finds the account and follows the claims.
	id.Claims["groups"] = []any{"admins"}
	again, err := s.OIDCLogin(ctx, Op{}, m, id, login.Secret)
	if err != nil {
		t.Fatal(err)
	}
	if again.User.ID != u.ID || !again.User.Admin {
		t.Errorf("second sign-in: %+v", again.User)
	}
	if roles, _ := st.ProjectRoles(ctx, p.ID, u.ID); len(roles) != 0 {
		t.Errorf("roles no longer in the claims stayed: %v", roles)
	}
	if _, _, err := s.SessionUser(ctx, login.Secret); err == nil {
		t.Error("the session before the second sign-in is still valid")
	}
}
