package auth

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/radmark/radmark"
)

// validName is what an account name may be: it appears in the audit
// trail, in URLs and on the command line.
var validName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$`)

// CheckName returns EINVALID unless name can name an account.
func CheckName(name string) error {
	if !validName.MatchString(name) {
		return radmark.Errorf(radmark.EINVALID, "account name %q: 1-64 letters, digits and . _ @ + -, starting with a letter or digit", name)
	}
	if name == "anonymous" || strings.HasPrefix(name, "service:") {
		return radmark.Errorf(radmark.EINVALID, "account name %q is reserved", name)
	}
	return nil
}

// NewUser is an account to create.
type NewUser struct {
	Name        string
	DisplayName string
	Email       string
	Admin       bool
	// Password, if not empty, must follow CheckPasswordRules.
	Password string
}

// CreateUser creates a local account.
func (s *Service) CreateUser(ctx context.Context, op Op, nu NewUser) (*radmark.User, error) {
	if err := CheckName(nu.Name); err != nil {
		return nil, err
	}
	var cred radmark.Credentials
	if nu.Password != "" {
		if err := CheckPasswordRules(nu.Name, nu.Password); err != nil {
			return nil, err
		}
		h, err := HashPassword(nu.Password, s.cfg().Hashing)
		if err != nil {
			return nil, err
		}
		cred.PasswordHash = h
	}
	u := &radmark.User{ID: NewID(), Name: nu.Name, DisplayName: strings.TrimSpace(nu.DisplayName), Email: strings.TrimSpace(nu.Email),
		Admin: nu.Admin, CreatedAt: s.now()}
	detail := "local account"
	if u.Admin {
		detail += ", site admin"
	}
	if err := s.Store.CreateUser(ctx, u, cred, s.event(op, "user.create", "user", u.ID, detail)); err != nil {
		return nil, err
	}
	return u, nil
}

// UserChange is a change to an account; nil fields stay as they are.
type UserChange struct {
	DisplayName *string
	Email       *string
	Admin       *bool
	Disabled    *bool
	Password    *string
}

// UpdateUser applies a change to an account. Disabling an account ends its
// sessions (its tokens are refused while it is disabled). An admin cannot
// take the admin role from, or disable, their own account, so that a site
// cannot lose its last admin by mistake.
func (s *Service) UpdateUser(ctx context.Context, op Op, actor *radmark.User, id radmark.ID, c UserChange) (*radmark.User, error) {
	u, err := s.Store.User(ctx, id)
	if err != nil {
		return nil, err
	}
	if actor != nil && actor.ID == u.ID && ((c.Admin != nil && !*c.Admin) || (c.Disabled != nil && *c.Disabled)) {
		return nil, radmark.Errorf(radmark.ECONFLICT, "you cannot remove your own admin role or disable your own account; ask another admin")
	}
	var what []string
	if c.DisplayName != nil {
		u.DisplayName = strings.TrimSpace(*c.DisplayName)
		what = append(what, "display name")
	}
	if c.Email != nil {
		u.Email = strings.TrimSpace(*c.Email)
		what = append(what, "email")
	}
	if c.Admin != nil {
		u.Admin = *c.Admin
		what = append(what, fmt.Sprintf("admin=%t", u.Admin))
	}
	if c.Disabled != nil {
		u.Disabled = *c.Disabled
		what = append(what, fmt.Sprintf("disabled=%t", u.Disabled))
	}
	if c.Password != nil {
		if err := CheckPasswordRules(u.Name, *c.Password); err != nil {
			return nil, err
		}
	}
	if len(what) > 0 {
		if err := s.Store.UpdateUser(ctx, u, s.event(op, "user.update", "user", u.ID, strings.Join(what, ", "))); err != nil {
			return nil, err
		}
	}
	if c.Password != nil {
		h, err := HashPassword(*c.Password, s.cfg().Hashing)
		if err != nil {
			return nil, err
		}
		if err := s.Store.SetPassword(ctx, u.ID, h, s.event(op, "user.password", "user", u.ID, "password set; sessions ended")); err != nil {
			return nil, err
		}
	}
	return u, nil
}

// ParseRoles reads a comma-separated list of project roles.
func ParseRoles(v string) ([]radmark.Role, error) {
	var roles []radmark.Role
	for _, r := range strings.Split(v, ",") {
		r = strings.TrimSpace(strings.ToLower(r))
		if r == "" {
			continue
		}
		if !slices.Contains(radmark.Roles, radmark.Role(r)) {
			return nil, radmark.Errorf(radmark.EINVALID, "%q is not a project role (want %v)", r, radmark.Roles)
		}
		if !slices.Contains(roles, radmark.Role(r)) {
			roles = append(roles, radmark.Role(r))
		}
	}
	if len(roles) == 0 {
		return nil, radmark.Errorf(radmark.EINVALID, "give at least one project role (%v)", radmark.Roles)
	}
	return roles, nil
}

// SetMembership gives a user exactly roles in a project.
func (s *Service) SetMembership(ctx context.Context, op Op, project, user radmark.ID, roles []radmark.Role) (*radmark.Membership, error) {
	m := &radmark.Membership{ProjectID: project, UserID: user, Roles: roles}
	detail := fmt.Sprintf("user %s: roles %v", user, roles)
	if err := s.Store.SetMembership(ctx, m, s.event(op, "member.set", "project", project, detail)); err != nil {
		return nil, err
	}
	return m, nil
}

// RemoveMembership takes every role in a project from a user.
func (s *Service) RemoveMembership(ctx context.Context, op Op, project, user radmark.ID) error {
	return s.Store.RemoveMembership(ctx, project, user, s.event(op, "member.remove", "project", project, "user "+string(user)))
}
