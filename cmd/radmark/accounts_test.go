package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/annotation"
	"github.com/radmark/radmark/auth"
)

// accountCLI runs `radmark user|token ...` in process against data.
func accountCLI(ctx context.Context, data, stdin string, args ...string) (string, string, error) {
	var out, errOut bytes.Buffer
	rest := append(append([]string{}, args[1:]...), "--data", data)
	var err error
	switch args[0] {
	case "user":
		err = runUser(ctx, rest, strings.NewReader(stdin), &out, &errOut)
	case "token":
		err = runToken(ctx, rest, &out, &errOut)
	}
	return out.String(), errOut.String(), err
}

func openData(t *testing.T, data string) metaStore {
	t.Helper()
	db, _, err := openStorage(t.Context(), &storageFlags{data: data})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestUserAndTokenCommands(t *testing.T) {
	ctx := t.Context()
	data := t.TempDir()
	run := func(stdin string, args ...string) string {
		t.Helper()
		out, errOut, err := accountCLI(ctx, data, stdin, args...)
		if err != nil {
			t.Fatalf("radmark %s: %v (%s)", strings.Join(args, " "), err, errOut)
		}
		return out
	}
	fail := func(want string, args ...string) {
		t.Helper()
		_, _, err := accountCLI(ctx, data, "", args...)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("radmark %s = %v, want an error saying %q", strings.Join(args, " "), err, want)
		}
	}

	// The first admin, with a password from stdin (a new install's
	// bootstrap: nothing else exists yet).
	out := run("root's long password\n", "user", "add", "root", "--role", "admin", "--password-stdin", "--display-name", "Site Admin")
	if !strings.Contains(out, "created site admin root") || strings.Contains(out, "password:") {
		t.Errorf("user add: %q", out)
	}
	// A user with a generated password, printed once.
	out = run("", "user", "add", "--role", "user", "ann", "--email", "ann@example.org")
	m := regexp.MustCompile(`password: (\S+)`).FindStringSubmatch(out)
	if m == nil || len(m[1]) < 12 {
		t.Fatalf("user add without a password printed %q", out)
	}
	annPassword := m[1]

	fail("--role", "user", "add", "bob", "--role", "owner")
	fail("already exists", "user", "add", "ann", "--role", "user")
	fail("give the account NAME", "user", "add", "--role", "user")
	_, _, err := accountCLI(ctx, data, "short\n", "user", "add", "bob", "--role", "user", "--password-stdin")
	if err == nil || !strings.Contains(err.Error(), "too short") {
		t.Errorf("user add with a short password: %v", err)
	}
	_, _, err = accountCLI(ctx, data, "", "user", "add", "bob", "--role", "user", "--password-stdin")
	if err == nil || !errors.As(err, new(usageError)) {
		t.Errorf("user add with an empty stdin: %v", err)
	}

	db := openData(t, data)
	svc := &auth.Service{Store: db}
	if _, err := svc.Login(ctx, auth.Op{}, "root", "root's long password", ""); err != nil {
		t.Errorf("root cannot sign in: %v", err)
	}
	if _, err := svc.Login(ctx, auth.Op{}, "ann", annPassword, ""); err != nil {
		t.Errorf("ann cannot sign in with the printed password: %v", err)
	}
	p, err := (&annotation.Service{Store: db}).CreateProject(ctx, annotation.Op{Actor: "root"}, "Chest CT", "")
	if err != nil {
		t.Fatal(err)
	}

	// Memberships.
	out = run("", "user", "role", "ann", "--project", string(p.ID), "--role", "reviewer,annotator")
	if !strings.Contains(out, "annotator,reviewer") {
		t.Errorf("user role: %q", out)
	}
	if roles, _ := db.ProjectRoles(ctx, p.ID, userID(t, db, "ann")); !slices.Equal(roles, []radmark.Role{radmark.RoleAnnotator, radmark.RoleReviewer}) {
		t.Errorf("roles = %v", roles)
	}
	fail("not a project role", "user", "role", "ann", "--project", string(p.ID), "--role", "owner")
	fail("not found", "user", "role", "ann", "--project", "no-such-project", "--role", "viewer")
	fail("not found", "user", "role", "nobody", "--project", string(p.ID), "--role", "viewer")
	fail("--project", "user", "role", "ann", "--role", "viewer")
	run("", "user", "role", "ann", "--project", string(p.ID), "--role", "none")
	if roles, _ := db.ProjectRoles(ctx, p.ID, userID(t, db, "ann")); len(roles) != 0 {
		t.Errorf("roles after --role none = %v", roles)
	}

	// Tokens: printed once, scoped, expiring.
	out = run("", "token", "create", "ann", "--scope", "read", "--expires", "90d")
	token := strings.TrimSpace(out)
	tok, u, err := svc.TokenUser(ctx, token)
	if err != nil || u.Name != "ann" || !slices.Equal(tok.Scopes, []string{"read"}) || tok.ExpiresAt == nil {
		t.Errorf("token %q: %+v %v %v", token, tok, u, err)
	}
	fail("--scope", "token", "create", "ann", "--scope", "admin")
	fail("--expires", "token", "create", "ann", "--expires", "soon")
	fail("not found", "token", "create", "nobody")

	// A new password; list.
	run("ann's new long password\n", "user", "passwd", "ann", "--password-stdin")
	if _, err := svc.Login(ctx, auth.Op{}, "ann", "ann's new long password", ""); err != nil {
		t.Errorf("ann cannot sign in with the new password: %v", err)
	}
	out = run("", "user", "list")
	if !strings.Contains(out, "root") || !strings.Contains(out, "admin") || !strings.Contains(out, "ann") {
		t.Errorf("user list: %q", out)
	}
	if !auditHasAction(t, db, "user.create") || !auditHasAction(t, db, "token.create") || !auditHasAction(t, db, "member.set") {
		t.Error("the CLI's changes are not on the audit trail")
	}

	for _, args := range [][]string{{"user"}, {"user", "frobnicate"}, {"token"}, {"token", "frobnicate"}} {
		if _, _, err := accountCLI(ctx, data, "", args...); !errors.As(err, new(usageError)) {
			t.Errorf("radmark %v = %v, want a usage error", args, err)
		}
	}
}

func userID(t *testing.T, db metaStore, name string) radmark.ID {
	t.Helper()
	u, err := db.UserByName(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	return u.ID
}

func auditHasAction(t *testing.T, db metaStore, action string) bool {
	t.Helper()
	evs, err := db.AuditEvents(t.Context(), radmark.AuditFilter{Action: action})
	if err != nil {
		t.Fatal(err)
	}
	return len(evs) > 0
}

func TestDemoAccounts(t *testing.T) {
	ctx := t.Context()
	db := openData(t, t.TempDir())
	var out bytes.Buffer
	if err := setUpDemoAccounts(ctx, db, &out); err == nil {
		t.Error("demo accounts were made without the demo project")
	}
	p, err := (&annotation.Service{Store: db}).CreateProject(ctx, annotation.Op{Actor: "radmark-demo"}, demoProjectName, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := createDemoAccounts(ctx, db, p.ID, &out); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := setUpDemoAccounts(ctx, db, &out); err != nil { // a second run changes nothing
		t.Fatal(err)
	}
	svc := &auth.Service{Store: db}
	for _, d := range demoAccounts {
		l, err := svc.Login(ctx, auth.Op{}, d.name, demoPassword(d.name), "")
		if err != nil {
			t.Errorf("demo account %s cannot sign in: %v", d.name, err)
			continue
		}
		roles, _ := db.ProjectRoles(ctx, p.ID, l.User.ID)
		if !slices.Equal(roles, d.roles) || l.User.Admin != d.admin {
			t.Errorf("demo account %s: admin %v, roles %v", d.name, l.User.Admin, roles)
		}
		if !strings.Contains(out.String(), d.name) || !strings.Contains(out.String(), demoPassword(d.name)) {
			t.Errorf("the demo output does not say how %s signs in:\n%s", d.name, out.String())
		}
	}
	if users, _ := db.Users(ctx); len(users) != len(demoAccounts) {
		t.Errorf("%d users after two runs, want %d", len(users), len(demoAccounts))
	}
}

func TestAccountFlags(t *testing.T) {
	fs := newFlagSet("serve", io.Discard)
	var f accountFlags
	f.register(fs)
	if err := fs.Parse([]string{"--oidc-client-id", "radmark"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.build(t.Context(), nil); !errors.As(err, new(usageError)) {
		t.Errorf("OIDC client without issuer: %v", err)
	}
	f = accountFlags{}
	a, err := f.build(t.Context(), nil)
	if err != nil || a.OIDC != nil || a.Auth == nil {
		t.Errorf("local accounts only: %+v, %v", a, err)
	}
}
