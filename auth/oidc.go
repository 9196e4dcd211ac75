package auth

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/radmark/radmark"
)

// OpenID Connect sign-in, the account side: httpapi runs the protocol
// (authorization code with PKCE, state and nonce, ID token verification)
// and hands over the verified identity and its claims; this maps them to
// an account and its roles.

// RoleRule grants roles when a claim has a value: the claim equals Value,
// or is a list (a groups claim) holding it.
type RoleRule struct {
	// Claim names the claim; dots descend into objects
	// ("realm_access.roles").
	Claim string `json:"claim"`
	Value string `json:"value"`
	// Admin grants the site admin role; Project and Roles grant roles in
	// a project.
	Admin   bool           `json:"admin,omitempty"`
	Project radmark.ID     `json:"project,omitempty"`
	Roles   []radmark.Role `json:"roles,omitempty"`
}

// ClaimMapping says how claims become an account and its roles.
type ClaimMapping struct {
	// NameClaim holds the account name of a new account (default
	// preferred_username, then email, then the subject).
	NameClaim string `json:"nameClaim,omitempty"`
	// Rules grant roles. The identity provider is the source of truth for
	// what the rules cover: when some rule grants admin, every sign-in sets
	// the admin role as the claims say; in each project some rule names,
	// every sign-in sets the roles the claims give (removing the
	// membership when they give none). Roles elsewhere are managed in
	// radmark.
	Rules []RoleRule `json:"rules,omitempty"`
}

// Check returns EINVALID for a rule that cannot work.
func (m ClaimMapping) Check() error {
	for i, r := range m.Rules {
		switch {
		case r.Claim == "" || r.Value == "":
			return radmark.Errorf(radmark.EINVALID, "OIDC role rule %d: give a claim and a value", i+1)
		case !r.Admin && r.Project == "":
			return radmark.Errorf(radmark.EINVALID, "OIDC role rule %d: grant admin or roles in a project", i+1)
		case r.Project != "" && len(r.Roles) == 0:
			return radmark.Errorf(radmark.EINVALID, "OIDC role rule %d: give the roles in project %s", i+1, r.Project)
		}
		for _, role := range r.Roles {
			if !slices.Contains(radmark.Roles, role) {
				return radmark.Errorf(radmark.EINVALID, "OIDC role rule %d: %q is not a project role (want %v)", i+1, role, radmark.Roles)
			}
		}
	}
	return nil
}

// claim finds a claim by a dotted path.
func claim(claims map[string]any, path string) (any, bool) {
	var v any = claims
	for _, part := range strings.Split(path, ".") {
		obj, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = obj[part]; !ok {
			return nil, false
		}
	}
	return v, true
}

func claimHas(v any, want string) bool {
	switch x := v.(type) {
	case string:
		return x == want
	case []any:
		for _, e := range x {
			if s, ok := e.(string); ok && s == want {
				return true
			}
		}
	case []string:
		return slices.Contains(x, want)
	case bool:
		return fmt.Sprint(x) == want
	}
	return false
}

// Grants is what claims grant.
type Grants struct {
	Admin bool
	// ManagesAdmin: some rule grants admin, so the claims decide it.
	ManagesAdmin bool
	// Roles per project, for every project some rule names (empty: none).
	Roles map[radmark.ID][]radmark.Role
}

// Map applies the rules to claims.
func (m ClaimMapping) Map(claims map[string]any) Grants {
	g := Grants{Roles: map[radmark.ID][]radmark.Role{}}
	for _, r := range m.Rules {
		if r.Admin {
			g.ManagesAdmin = true
		}
		if r.Project != "" {
			if _, ok := g.Roles[r.Project]; !ok {
				g.Roles[r.Project] = nil
			}
		}
		v, ok := claim(claims, r.Claim)
		if !ok || !claimHas(v, r.Value) {
			continue
		}
		g.Admin = g.Admin || r.Admin
		for _, role := range r.Roles {
			if !slices.Contains(g.Roles[r.Project], role) {
				g.Roles[r.Project] = append(g.Roles[r.Project], role)
			}
		}
	}
	for p := range g.Roles {
		slices.Sort(g.Roles[p])
	}
	return g
}

// Identity is a verified OpenID Connect identity with its claims (those
// of the ID token and of the userinfo endpoint).
type Identity struct {
	Issuer  string
	Subject string
	Claims  map[string]any
}

func (id Identity) str(name string) string {
	v, _ := claim(id.Claims, name)
	s, _ := v.(string)
	return s
}

// accountName picks a valid account name from the claims.
func (m ClaimMapping) accountName(id Identity) string {
	candidates := []string{m.NameClaim, "preferred_username", "email"}
	for _, c := range candidates {
		if c == "" {
			continue
		}
		if n := id.str(c); CheckName(n) == nil {
			return n
		}
	}
	return "oidc-" + string(NewID())[24:]
}

// OIDCLogin signs in the account linked to id, creating it on first
// sign-in (named from the claims; a name already taken gets a suffix, and
// an existing local account is never taken over by name), applies the
// roles the claims grant, and starts a session (ending previous).
func (s *Service) OIDCLogin(ctx context.Context, op Op, m ClaimMapping, id Identity, previous string) (*Login, error) {
	if id.Issuer == "" || id.Subject == "" {
		return nil, radmark.Errorf(radmark.EUNAUTHORIZED, "the identity provider gave no subject")
	}
	g := m.Map(id.Claims)
	u, err := s.Store.UserByOIDC(ctx, id.Issuer, id.Subject)
	switch {
	case radmark.ErrorCode(err) == radmark.ENOTFOUND:
		if u, err = s.createOIDCUser(ctx, op, m, id, g); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, err
	}
	if u.Disabled {
		ev := s.event(Op{Actor: u.Name, RequestID: op.RequestID, Address: op.Address}, "login.failure", "user", u.ID, "single sign-on: the account is disabled")
		if _, _, err := s.Store.RecordLoginFailure(ctx, radmark.LoginFailure{At: s.now(), Name: u.Name, UserID: u.ID, Address: op.Address},
			s.cfg().Lockout, ev, nil); err != nil {
			return nil, err
		}
		return nil, radmark.Errorf(radmark.EUNAUTHORIZED, "account %s is disabled", u.Name)
	}
	sys := Op{Actor: u.Name, RequestID: op.RequestID, Address: op.Address}
	if g.ManagesAdmin && u.Admin != g.Admin {
		u.Admin = g.Admin
		if err := s.Store.UpdateUser(ctx, u, s.event(sys, "user.update", "user", u.ID, fmt.Sprintf("admin=%t from single sign-on claims", g.Admin))); err != nil {
			return nil, err
		}
	}
	for project, roles := range g.Roles {
		have, err := s.Store.ProjectRoles(ctx, project, u.ID)
		if err != nil {
			return nil, err
		}
		switch {
		case slices.Equal(have, roles):
		case len(roles) == 0:
			if err := s.RemoveMembership(ctx, sys, project, u.ID); err != nil && !isNotFound(err) {
				return nil, err
			}
		default:
			if _, err := s.SetMembership(ctx, sys, project, u.ID, roles); err != nil {
				if isNotFound(err) {
					return nil, radmark.Errorf(radmark.EINTERNAL, "OIDC role mapping names project %s, which does not exist: %w", project, err)
				}
				return nil, err
			}
		}
	}
	return s.startSession(ctx, op, u, "oidc", previous)
}

func (s *Service) createOIDCUser(ctx context.Context, op Op, m ClaimMapping, id Identity, g Grants) (*radmark.User, error) {
	base := m.accountName(id)
	name := base
	for attempt := 0; ; attempt++ {
		u := &radmark.User{ID: NewID(), Name: name, DisplayName: id.str("name"), Email: id.str("email"), Admin: g.ManagesAdmin && g.Admin, CreatedAt: s.now()}
		ev := s.event(Op{Actor: name, RequestID: op.RequestID, Address: op.Address}, "user.create", "user", u.ID,
			fmt.Sprintf("first single sign-on from %s (subject %s)", id.Issuer, id.Subject))
		err := s.Store.CreateUser(ctx, u, radmark.Credentials{OIDCIssuer: id.Issuer, OIDCSubject: id.Subject}, ev)
		if err == nil {
			return u, nil
		}
		if radmark.ErrorCode(err) != radmark.ECONFLICT || attempt == 5 {
			return nil, err
		}
		// Another sign-in of the same identity may have just created it.
		if u, err := s.Store.UserByOIDC(ctx, id.Issuer, id.Subject); err == nil {
			return u, nil
		}
		name = fmt.Sprintf("%s-%s", base[:min(len(base), 57)], string(NewID())[30:])
	}
}

func isNotFound(err error) bool { return radmark.ErrorCode(err) == radmark.ENOTFOUND }
