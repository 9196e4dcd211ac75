package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/auth"
	"github.com/radmark/radmark/httpapi"
)

// Accounts on the command line work offline against the data directory
// (or --db), so that a new install can make its first admin before the
// server runs, and an admin locked out of the web UI can get back in.

const userUsage = `Usage:
  radmark user add NAME --role admin|user [--password-stdin] [--display-name TEXT] [--email ADDR]
      create a local account; without --password-stdin a strong password
      is made and printed once
  radmark user role NAME --project ID --role ROLE[,ROLE...]
      give NAME exactly these roles in a project (manager, annotator,
      radiologist, reviewer, viewer); --role none removes the membership
  radmark user passwd NAME [--password-stdin]
      set a new password (printed once when made); ends NAME's sessions
      and clears a lockout
  radmark user list
      list the accounts

Every command takes --data DIR or --db URL, like serve.
`

const tokenUsage = `Usage:
  radmark token create NAME [--scope read|write] [--expires 90d] [--label TEXT]
      make a personal API token for account NAME and print it once; send it
      as "Authorization: Bearer <token>" (scripts, DICOMweb clients)

Takes --data DIR or --db URL, like serve.
`

// cliActor is who the audit trail names for changes made here.
func cliActor() string {
	if u := os.Getenv("USER"); u != "" {
		return "cli:" + u
	}
	return "cli"
}

func cliOp() auth.Op { return auth.Op{Actor: cliActor()} }

// runUser runs `radmark user SUBCOMMAND`.
func runUser(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, userUsage)
		return usageError{"no user command given (want add, role, passwd or list)"}
	}
	switch args[0] {
	case "add":
		return userAddCmd(ctx, args[1:], stdin, stdout, stderr)
	case "role":
		return userRoleCmd(ctx, args[1:], stdout, stderr)
	case "passwd":
		return userPasswdCmd(ctx, args[1:], stdin, stdout, stderr)
	case "list":
		return userListCmd(ctx, args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, userUsage)
		return nil
	}
	fmt.Fprint(stderr, userUsage)
	return usageError{fmt.Sprintf("unknown user command %q (want add, role, passwd or list)", args[0])}
}

// runToken runs `radmark token SUBCOMMAND`.
func runToken(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, tokenUsage)
		return usageError{"no token command given (want create)"}
	}
	switch args[0] {
	case "create":
		return tokenCreateCmd(ctx, args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, tokenUsage)
		return nil
	}
	fmt.Fprint(stderr, tokenUsage)
	return usageError{fmt.Sprintf("unknown token command %q (want create)", args[0])}
}

// parseNamed parses flags around one positional NAME, wherever it stands
// (radmark user add alice --role admin, radmark user add --role admin alice).
func parseNamed(fs *flag.FlagSet, args []string) (string, error) {
	var names []string
	for {
		if err := fs.Parse(args); err != nil {
			return "", err
		}
		if fs.NArg() == 0 {
			break
		}
		names = append(names, fs.Arg(0))
		args = fs.Args()[1:]
	}
	switch len(names) {
	case 0:
		return "", usageError{"give the account NAME"}
	case 1:
		return names[0], nil
	}
	return "", usageError{fmt.Sprintf("give one account NAME, not %q", names)}
}

// accountFlagSet makes the flag set of an account command, with the
// storage flags.
func accountFlagSet(name, usage string, stderr io.Writer) (*flag.FlagSet, *storageFlags) {
	fs := newFlagSet(name, stderr)
	st := &storageFlags{}
	st.register(fs)
	fs.Usage = func() { fmt.Fprint(stderr, usage+"\nFlags:\n"); fs.PrintDefaults() }
	return fs, st
}

// openUser opens the store and the account service, and finds an account.
func openUser(ctx context.Context, st *storageFlags, name string) (metaStore, *auth.Service, *radmark.User, error) {
	db, svc, err := openAccounts(ctx, st)
	if err != nil {
		return nil, nil, nil, err
	}
	u, err := db.UserByName(ctx, name)
	if err != nil {
		db.Close()
		return nil, nil, nil, err
	}
	return db, svc, u, nil
}

// openAccounts opens the store and the account service over it.
func openAccounts(ctx context.Context, st *storageFlags) (metaStore, *auth.Service, error) {
	db, _, err := openStorage(ctx, st)
	if err != nil {
		return nil, nil, err
	}
	return db, &auth.Service{Store: db}, nil
}

// readPassword reads one line from stdin (--password-stdin) or makes a
// strong password; generated reports the latter, for printing it once.
func readPassword(stdin io.Reader, fromStdin bool) (password string, generated bool, err error) {
	if !fromStdin {
		pw, err := auth.GeneratePassword()
		return pw, true, err
	}
	line, err := bufio.NewReader(io.LimitReader(stdin, 4096)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", false, fmt.Errorf("read the password from stdin: %w", err)
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", false, usageError{"--password-stdin: stdin held no password"}
	}
	return line, false, nil
}

func userAddCmd(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs, st := accountFlagSet("user add", userUsage, stderr)
	role := fs.String("role", "", "site role: admin or user (required)")
	fromStdin := fs.Bool("password-stdin", false, "read the password from the first line of stdin")
	display := fs.String("display-name", "", "the name shown in the UI")
	email := fs.String("email", "", "email address")
	name, err := parseNamed(fs, args)
	if err != nil {
		return err
	}
	if *role != "admin" && *role != "user" {
		return usageError{fmt.Sprintf("--role %q: want admin or user (project roles: radmark user role)", *role)}
	}
	password, generated, err := readPassword(stdin, *fromStdin)
	if err != nil {
		return err
	}
	db, svc, err := openAccounts(ctx, st)
	if err != nil {
		return err
	}
	defer db.Close()
	u, err := svc.CreateUser(ctx, cliOp(), auth.NewUser{Name: name, DisplayName: *display, Email: *email, Admin: *role == "admin", Password: password})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "created %s %s (%s)\n", map[bool]string{true: "site admin", false: "user"}[u.Admin], u.Name, u.ID)
	if generated {
		fmt.Fprintf(stdout, "password: %s\n(shown only now; change it with radmark user passwd)\n", password)
	}
	return nil
}

func userPasswdCmd(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs, st := accountFlagSet("user passwd", userUsage, stderr)
	fromStdin := fs.Bool("password-stdin", false, "read the password from the first line of stdin")
	name, err := parseNamed(fs, args)
	if err != nil {
		return err
	}
	password, generated, err := readPassword(stdin, *fromStdin)
	if err != nil {
		return err
	}
	db, svc, u, err := openUser(ctx, st, name)
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := svc.UpdateUser(ctx, cliOp(), nil, u.ID, auth.UserChange{Password: &password}); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "password of %s set; its sessions ended\n", u.Name)
	if generated {
		fmt.Fprintf(stdout, "password: %s\n(shown only now)\n", password)
	}
	return nil
}

func userRoleCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, st := accountFlagSet("user role", userUsage, stderr)
	project := fs.String("project", "", "project ID (required)")
	role := fs.String("role", "", "roles, comma-separated: manager, annotator, radiologist, reviewer, viewer; none removes the membership (required)")
	name, err := parseNamed(fs, args)
	if err != nil {
		return err
	}
	if *project == "" || *role == "" {
		return usageError{"give --project ID and --role ROLE[,ROLE...]"}
	}
	var roles []radmark.Role
	if *role != "none" {
		if roles, err = auth.ParseRoles(*role); err != nil {
			return usageError{"--role: " + radmark.ErrorMessage(err)}
		}
	}
	db, svc, u, err := openUser(ctx, st, name)
	if err != nil {
		return err
	}
	defer db.Close()
	if roles == nil {
		if err := svc.RemoveMembership(ctx, cliOp(), radmark.ID(*project), u.ID); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s is no longer a member of project %s\n", u.Name, *project)
		return nil
	}
	m, err := svc.SetMembership(ctx, cliOp(), radmark.ID(*project), u.ID, roles)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s has the roles %s in project %s\n", u.Name, joinRoles(m.Roles), *project)
	return nil
}

func joinRoles(roles []radmark.Role) string {
	s := make([]string, len(roles))
	for i, r := range roles {
		s[i] = string(r)
	}
	return strings.Join(s, ",")
}

func userListCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("user list", stderr)
	var st storageFlags
	st.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("unexpected arguments %q", fs.Args())}
	}
	db, _, err := openStorage(ctx, &st)
	if err != nil {
		return err
	}
	defer db.Close()
	us, err := db.Users(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSITE ROLE\tSTATE\tPROJECT ROLES")
	for _, u := range us {
		ms, err := db.UserProjects(ctx, u.ID)
		if err != nil {
			return err
		}
		var projects []string
		for _, m := range ms {
			projects = append(projects, string(m.ProjectID)+":"+joinRoles(m.Roles))
		}
		state := "active"
		if u.Disabled {
			state = "disabled"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", u.Name, map[bool]string{true: "admin", false: "user"}[u.Admin], state, strings.Join(projects, " "))
	}
	return tw.Flush()
}

func tokenCreateCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, st := accountFlagSet("token create", tokenUsage, stderr)
	scope := fs.String("scope", "write", "read (changes nothing) or write (everything the account may do)")
	expires := fs.String("expires", "", "lifetime: days (90d) or a duration (720h); empty: never")
	label := fs.String("label", "", "what the token is for (default: cli)")
	name, err := parseNamed(fs, args)
	if err != nil {
		return err
	}
	if *scope != auth.ScopeRead && *scope != auth.ScopeWrite {
		return usageError{fmt.Sprintf("--scope %q: want read or write", *scope)}
	}
	ttl, err := auth.ParseTTL(*expires)
	if err != nil {
		return usageError{"--expires: " + radmark.ErrorMessage(err)}
	}
	if *label == "" {
		*label = "cli"
	}
	db, svc, u, err := openUser(ctx, st, name)
	if err != nil {
		return err
	}
	defer db.Close()
	if u.Disabled {
		return fmt.Errorf("account %s is disabled", u.Name)
	}
	t, err := svc.CreateToken(ctx, cliOp(), u, *label, []string{*scope}, ttl)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, t.Token)
	exp := "never expires"
	if t.ExpiresAt != nil {
		exp = "expires " + t.ExpiresAt.Format("2006-01-02 15:04 MST")
	}
	fmt.Fprintf(stderr, "API token %s for %s, scope %s, %s; shown only now\n", t.Prefix, u.Name, *scope, exp)
	return nil
}

// Demo accounts, made by `radmark demo` (make run) for trying radmark:
// their passwords are public, so they are for demo data only.
var demoAccounts = []struct {
	name, display string
	admin         bool
	roles         []radmark.Role
}{
	{"admin", "Demo admin", true, []radmark.Role{radmark.RoleManager}},
	{"annotator1", "Demo annotator 1", false, []radmark.Role{radmark.RoleAnnotator}},
	{"annotator2", "Demo annotator 2", false, []radmark.Role{radmark.RoleAnnotator}},
	{"reviewer", "Demo reviewer", false, []radmark.Role{radmark.RoleReviewer}},
}

// demoPassword is a demo account's published password.
func demoPassword(name string) string { return name + "-radmark-demo" }

// createDemoAccounts makes the demo accounts (unless they exist) and gives
// them their roles in the demo project, then prints how to sign in.
func createDemoAccounts(ctx context.Context, store radmark.UserStore, projectID radmark.ID, stdout io.Writer) error {
	svc := &auth.Service{Store: store}
	op := auth.Op{Actor: "radmark-demo"}
	tw := tabwriter.NewWriter(stdout, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "  ACCOUNT\tPASSWORD\tROLES")
	for _, d := range demoAccounts {
		u, err := store.UserByName(ctx, d.name)
		switch {
		case radmark.ErrorCode(err) == radmark.ENOTFOUND:
			if u, err = svc.CreateUser(ctx, op, auth.NewUser{Name: d.name, DisplayName: d.display, Admin: d.admin, Password: demoPassword(d.name)}); err != nil {
				return fmt.Errorf("demo account %s: %w", d.name, err)
			}
		case err != nil:
			return err
		}
		have, err := store.ProjectRoles(ctx, projectID, u.ID)
		if err != nil {
			return err
		}
		if joinRoles(have) != joinRoles(d.roles) {
			if _, err := svc.SetMembership(ctx, op, projectID, u.ID, d.roles); err != nil {
				return fmt.Errorf("demo account %s: %w", d.name, err)
			}
		}
		roles := joinRoles(d.roles) + " in the demo project"
		if u.Admin {
			roles = "site admin, " + roles
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", u.Name, demoPassword(d.name), roles)
	}
	fmt.Fprintln(stdout, "demo accounts (public passwords: for demo data only):")
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "sign in on the web UI of `radmark serve`, or: curl -c cookies -H 'Content-Type: application/json' \\\n"+
		"  -d '{\"name\":\"annotator1\",\"password\":\""+demoPassword("annotator1")+"\"}' http://localhost:8080/api/v1/auth/login")
	return nil
}

// setUpDemoAccounts makes the demo accounts in the demo project that
// createDemoProject made.
func setUpDemoAccounts(ctx context.Context, db metaStore, stdout io.Writer) error {
	ps, err := db.Projects(ctx)
	if err != nil {
		return err
	}
	for _, p := range ps {
		if p.Name == demoProjectName {
			return createDemoAccounts(ctx, db, p.ID, stdout)
		}
	}
	return fmt.Errorf("the demo project %q is missing", demoProjectName)
}

// accountFlags configure sign-in for `radmark serve`.
type accountFlags struct {
	oidcIssuer, oidcClient, oidcSecret, oidcRedirect, oidcMapping string
	trustForwarded                                                bool
}

func (f *accountFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.oidcIssuer, "oidc-issuer", envDefault("oidc-issuer", ""), "OpenID Connect issuer URL for single sign-on (empty: local accounts only)")
	fs.StringVar(&f.oidcClient, "oidc-client-id", envDefault("oidc-client-id", ""), "OpenID Connect client ID")
	fs.StringVar(&f.oidcSecret, "oidc-client-secret", envDefault("oidc-client-secret", ""), "OpenID Connect client secret (better: RADMARK_OIDC_CLIENT_SECRET)")
	fs.StringVar(&f.oidcRedirect, "oidc-redirect-url", envDefault("oidc-redirect-url", ""), "radmark's callback as registered at the provider: https://HOST/api/v1/auth/oidc/callback")
	fs.StringVar(&f.oidcMapping, "oidc-roles", envDefault("oidc-roles", ""), `JSON file mapping claims to roles: {"nameClaim": "preferred_username", "rules": [{"claim": "groups", "value": "radiologists", "project": "ID", "roles": ["radiologist"]}, {"claim": "groups", "value": "radmark-admins", "admin": true}]}`)
	fs.BoolVar(&f.trustForwarded, "trust-forwarded", envDefault("trust-forwarded", "") == "true", "take the client address from X-Forwarded-For (behind a reverse proxy)")
}

// build returns the server's Authenticator over store.
func (f *accountFlags) build(ctx context.Context, store radmark.UserStore) (*httpapi.Accounts, error) {
	a := &httpapi.Accounts{Auth: &auth.Service{Store: store}, TrustForwarded: f.trustForwarded}
	if f.oidcIssuer == "" {
		if f.oidcClient != "" || f.oidcMapping != "" {
			return nil, usageError{"--oidc-client-id and --oidc-roles need --oidc-issuer"}
		}
		return a, nil
	}
	cfg := httpapi.OIDCConfig{Issuer: f.oidcIssuer, ClientID: f.oidcClient, ClientSecret: f.oidcSecret, RedirectURL: f.oidcRedirect}
	if f.oidcMapping != "" {
		b, err := os.ReadFile(f.oidcMapping)
		if err != nil {
			return nil, fmt.Errorf("--oidc-roles: %w", err)
		}
		dec := json.NewDecoder(strings.NewReader(string(b)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&cfg.Mapping); err != nil {
			return nil, fmt.Errorf("--oidc-roles %s: %w", f.oidcMapping, err)
		}
	}
	o, err := httpapi.NewOIDC(ctx, cfg)
	if err != nil {
		return nil, err
	}
	a.OIDC = o
	return a, nil
}
