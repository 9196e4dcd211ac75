package workflow

import (
	"context"
	"maps"
	"sync"

	"github.com/radmark/radmark"
)

// Accounts is the part of the account store (radmark.UserStore) a
// roster needs.
type Accounts interface {
	Users(ctx context.Context) ([]*radmark.User, error)
	Members(ctx context.Context, project radmark.ID) ([]radmark.Membership, error)
}

// AccountRoster is the Roster of the account store: a project's
// memberships by user name, disabled accounts left out.
type AccountRoster struct{ Accounts Accounts }

// ProjectMembers implements Roster.
func (r AccountRoster) ProjectMembers(ctx context.Context, project radmark.ID) (map[string][]radmark.Role, error) {
	ms, err := r.Accounts.Members(ctx, project)
	if err != nil {
		return nil, err
	}
	users, err := r.Accounts.Users(ctx)
	if err != nil {
		return nil, err
	}
	byID := make(map[radmark.ID]*radmark.User, len(users))
	for _, u := range users {
		byID[u.ID] = u
	}
	out := make(map[string][]radmark.Role, len(ms))
	for _, m := range ms {
		if u := byID[m.UserID]; u != nil && !u.Disabled && len(m.Roles) > 0 {
			out[u.Name] = m.Roles
		}
	}
	return out, nil
}

// MemoryRoster is a Roster kept in memory, the same for every project:
// for single-user set-ups and tests.
type MemoryRoster struct {
	mu      sync.Mutex
	members map[string][]radmark.Role
}

// Set gives a user roles (none: removes the user).
func (r *MemoryRoster) Set(name string, roles ...radmark.Role) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.members == nil {
		r.members = map[string][]radmark.Role{}
	}
	if len(roles) == 0 {
		delete(r.members, name)
		return
	}
	r.members[name] = roles
}

// ProjectMembers implements Roster.
func (r *MemoryRoster) ProjectMembers(context.Context, radmark.ID) (map[string][]radmark.Role, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return maps.Clone(r.members), nil
}
