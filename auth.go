package radmark

import (
	"context"
	"time"
)

// Credentials are how an account signs in: a password (its encoded hash,
// never the password), an OpenID Connect identity (issuer and subject), or
// both. An account with neither cannot sign in until one is set.
type Credentials struct {
	PasswordHash string
	OIDCIssuer   string
	OIDCSubject  string
}

// UserCredentials is an account as the sign-in check needs it: the user,
// its password hash and its lockout state.
type UserCredentials struct {
	User         *User
	PasswordHash string
	// Failures counts the failed sign-ins since the last success (or
	// since the window of the lockout rule last ran out).
	Failures      int
	LastFailureAt time.Time
	// LockedUntil is when a lockout ends (zero: not locked).
	LockedUntil time.Time
}

// Session is a signed-in browser. Its secret (the cookie value) is never
// stored: SecretHash is its hex SHA-256.
type Session struct {
	ID         ID        `json:"id"`
	SecretHash string    `json:"-"`
	UserID     ID        `json:"userId"`
	Via        string    `json:"via"` // "password" or "oidc"
	Address    string    `json:"address,omitempty"`
	CreatedAt  time.Time `json:"createdAt"`
	LastSeenAt time.Time `json:"lastSeenAt"`
	// ExpiresAt is the absolute expiry; IdleTimeout ends the session
	// earlier when it is not used for that long.
	ExpiresAt   time.Time     `json:"expiresAt"`
	IdleTimeout time.Duration `json:"-"`
}

// APIToken is a personal API token, sent as a Bearer token by scripts and
// DICOMweb clients. The token itself is shown once when made; the store
// keeps its hex SHA-256 (Hash) and its first characters (Prefix) to tell
// tokens apart in lists.
type APIToken struct {
	ID         ID         `json:"id"`
	UserID     ID         `json:"userId"`
	Name       string     `json:"name"`
	Hash       string     `json:"-"`
	Prefix     string     `json:"prefix"`
	Scopes     []string   `json:"scopes"`
	CreatedAt  time.Time  `json:"createdAt"`
	ExpiresAt  *time.Time `json:"expiresAt,omitempty"`
	LastUsedAt *time.Time `json:"lastUsedAt,omitempty"`
	RevokedAt  *time.Time `json:"revokedAt,omitempty"`
}

// LoginFailure is one failed sign-in.
type LoginFailure struct {
	At      time.Time
	Name    string // the account name given
	UserID  ID     // "" when no such account exists
	Address string // the client's address
}

// LockoutRule says when failed sign-ins lock an account: MaxFailures
// failures, each within Window of the one before, lock it for LockFor.
type LockoutRule struct {
	MaxFailures int
	Window      time.Duration
	LockFor     time.Duration
}

// UserStore keeps accounts, their project memberships, sessions, personal
// API tokens and failed sign-ins. Every mutation appends its audit
// event(s) in the same transaction; bookkeeping of use (a session's or a
// token's last use) is not audited.
type UserStore interface {
	// CreateUser stores a new account (u.ID and a unique u.Name needed;
	// a taken name is ECONFLICT). u.CreatedAt is set to what was stored.
	CreateUser(ctx context.Context, u *User, cred Credentials, ev *AuditEvent) error
	// UpdateUser stores u's DisplayName, Email, Admin and Disabled.
	// Disabling an account ends its sessions.
	UpdateUser(ctx context.Context, u *User, ev *AuditEvent) error
	// SetPassword replaces an account's password hash and ends its
	// sessions; it also clears a lockout.
	SetPassword(ctx context.Context, user ID, hash string, ev *AuditEvent) error
	User(ctx context.Context, id ID) (*User, error)
	UserByName(ctx context.Context, name string) (*User, error)
	// UserByOIDC returns the account linked to an OpenID Connect identity.
	UserByOIDC(ctx context.Context, issuer, subject string) (*User, error)
	// UserCredentials returns what checking a password needs (ENOTFOUND
	// for an unknown name).
	UserCredentials(ctx context.Context, name string) (*UserCredentials, error)
	Users(ctx context.Context) ([]*User, error)

	// SetMembership gives a user exactly m.Roles in m.ProjectID (at least
	// one role; RemoveMembership takes them all away).
	SetMembership(ctx context.Context, m *Membership, ev *AuditEvent) error
	RemoveMembership(ctx context.Context, project, user ID, ev *AuditEvent) error
	// Members returns a project's memberships, ordered by user ID.
	Members(ctx context.Context, project ID) ([]Membership, error)
	ProjectRoles(ctx context.Context, project, user ID) ([]Role, error)
	UserProjects(ctx context.Context, user ID) ([]Membership, error)

	// StartSession stores a new session after a successful sign-in, ends
	// the session whose secret hash is replaces (if any: the pre-login
	// session, so that its id is never valid after it) and clears the
	// account's failed sign-ins, in one transaction with ev.
	StartSession(ctx context.Context, s *Session, replaces string, ev *AuditEvent) error
	// SessionBySecret returns a session and its user by the hash of its
	// secret; ENOTFOUND for an unknown (or ended) one. Expiry is the
	// caller's to check.
	SessionBySecret(ctx context.Context, secretHash string) (*Session, *User, error)
	// TouchSession records a session's use.
	TouchSession(ctx context.Context, id ID, at time.Time) error
	// EndSession ends a session (ENOTFOUND if there is none).
	EndSession(ctx context.Context, id ID, ev *AuditEvent) error
	// DeleteExpiredSessions removes sessions past their absolute expiry
	// or idle too long at now, and returns how many.
	DeleteExpiredSessions(ctx context.Context, now time.Time) (int, error)

	CreateToken(ctx context.Context, t *APIToken, ev *AuditEvent) error
	// TokenByHash returns a token (revoked and expired ones too: the
	// caller says why they are refused) and its user.
	TokenByHash(ctx context.Context, hash string) (*APIToken, *User, error)
	// Tokens returns a user's tokens, newest first.
	Tokens(ctx context.Context, user ID) ([]*APIToken, error)
	// RevokeToken revokes one of user's tokens (ENOTFOUND if user has no
	// such token, ECONFLICT if it is already revoked).
	RevokeToken(ctx context.Context, user, token ID, at time.Time, ev *AuditEvent) error
	// TouchToken records a token's use.
	TouchToken(ctx context.Context, id ID, at time.Time) error

	// RecordLoginFailure stores a failed sign-in with its event ev. For an
	// existing account it counts the failure under rule, and when this
	// failure locks the account it also appends lockEv. It returns the
	// account's failures and lock end after it (zero for no account).
	RecordLoginFailure(ctx context.Context, f LoginFailure, rule LockoutRule, ev, lockEv *AuditEvent) (failures int, lockedUntil time.Time, err error)
	// LoginFailuresFrom counts the failed sign-ins from an address since a
	// time, for rate limiting.
	LoginFailuresFrom(ctx context.Context, address string, since time.Time) (int, error)
	// PruneLoginFailures forgets failed sign-ins before a time (they stay
	// on the audit trail) and returns how many.
	PruneLoginFailures(ctx context.Context, before time.Time) (int, error)
}
