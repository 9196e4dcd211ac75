package radmark

import "time"

// Role is a user's role in a project. A user may hold several.
type Role string

// The project roles.
const (
	RoleManager     Role = "manager"     // configures the project, its members, cases and workflow
	RoleAnnotator   Role = "annotator"   // reads cases assigned to them
	RoleRadiologist Role = "radiologist" // expert reader: reads, and arbitrates disagreements
	RoleReviewer    Role = "reviewer"    // reviews submitted reads: comments, accepts, requests changes
	RoleViewer      Role = "viewer"      // sees the project's images and final results
)

// Roles lists every project role.
var Roles = []Role{RoleManager, RoleAnnotator, RoleRadiologist, RoleReviewer, RoleViewer}

// User is an account. Admin is the site role: admins manage users and
// every project.
type User struct {
	ID          ID        `json:"id"`
	Name        string    `json:"name"` // login name, unique
	DisplayName string    `json:"displayName,omitempty"`
	Email       string    `json:"email,omitempty"`
	Admin       bool      `json:"admin"`
	Disabled    bool      `json:"disabled,omitempty"`
	CreatedAt   time.Time `json:"createdAt"`
}

// Membership gives a user roles in a project.
type Membership struct {
	ProjectID ID     `json:"projectId"`
	UserID    ID     `json:"userId"`
	Roles     []Role `json:"roles"`
}

// Actor is who makes a request, as authentication established it.
type Actor struct {
	User *User
	// Via says how: "session", "token" (then TokenScopes limit it), "cli".
	Via         string
	TokenID     ID
	TokenScopes []string
}

// Name returns the actor's name for the audit trail.
func (a *Actor) Name() string {
	if a == nil || a.User == nil {
		return "anonymous"
	}
	return a.User.Name
}

// IsAdmin reports the site admin role.
func (a *Actor) IsAdmin() bool { return a != nil && a.User != nil && a.User.Admin && !a.User.Disabled }
