package auth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/radmark/radmark"
)

// Config holds the rules of sign-in. Zero fields take the defaults.
type Config struct {
	// SessionLifetime is a session's absolute lifetime (default 12 h: a
	// working day); SessionIdle ends it earlier when unused (default 1 h).
	SessionLifetime time.Duration
	SessionIdle     time.Duration
	// Lockout locks an account after failed sign-ins (default 5 failures
	// within 15 minutes of each other lock it for 15 minutes).
	Lockout radmark.LockoutRule
	// AddressLimit failed sign-ins from one client address within
	// AddressWindow refuse further attempts from it (default 20 in 10
	// minutes), whatever account they name.
	AddressLimit  int
	AddressWindow time.Duration
	// Hashing are the argon2id parameters for new hashes (default
	// DefaultParams).
	Hashing Params
}

func (c Config) withDefaults() Config {
	if c.SessionLifetime <= 0 {
		c.SessionLifetime = 12 * time.Hour
	}
	if c.SessionIdle <= 0 {
		c.SessionIdle = time.Hour
	}
	if c.Lockout.MaxFailures <= 0 {
		c.Lockout.MaxFailures = 5
	}
	if c.Lockout.Window <= 0 {
		c.Lockout.Window = 15 * time.Minute
	}
	if c.Lockout.LockFor <= 0 {
		c.Lockout.LockFor = 15 * time.Minute
	}
	if c.AddressLimit <= 0 {
		c.AddressLimit = 20
	}
	if c.AddressWindow <= 0 {
		c.AddressWindow = 10 * time.Minute
	}
	if c.Hashing == (Params{}) {
		c.Hashing = DefaultParams
	}
	return c
}

// Service signs people in and manages accounts. It is safe for concurrent
// use; all its state is in the store, so any number of replicas share
// sessions, tokens and lockouts.
type Service struct {
	Store  radmark.UserStore
	Config Config
	// Now returns the current time (default time.Now).
	Now func() time.Time

	pruned atomic.Int64 // when Prune last ran here (Unix ns)
}

// pruneEvery is how often sign-ins prune, on each replica.
const pruneEvery = time.Hour

// keepFailures is how long failed sign-ins stay countable (the audit
// trail keeps them for good).
const keepFailures = 24 * time.Hour

// Prune removes expired sessions and failed sign-ins older than a day
// (longer than any rate-limit or lockout window needs). Sign-ins run it
// once an hour by themselves.
func (s *Service) Prune(ctx context.Context) error {
	cfg := s.cfg()
	now := s.now()
	s.pruned.Store(now.UnixNano())
	if _, err := s.Store.DeleteExpiredSessions(ctx, now); err != nil {
		return err
	}
	_, err := s.Store.PruneLoginFailures(ctx, now.Add(-max(keepFailures, cfg.AddressWindow, cfg.Lockout.Window)))
	return err
}

func (s *Service) maybePrune(ctx context.Context) error {
	last := s.pruned.Load()
	if s.now().UnixNano()-last < int64(pruneEvery) || !s.pruned.CompareAndSwap(last, s.now().UnixNano()) {
		return nil
	}
	return s.Prune(ctx)
}

func (s *Service) cfg() Config { return s.Config.withDefaults() }

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

// Op is who asks for a change, for the audit trail.
type Op struct {
	Actor     string
	RequestID string
	Address   string
}

// NewID returns a new UUIDv7.
func NewID() radmark.ID {
	id, err := uuid.NewV7()
	if err != nil {
		panic(fmt.Sprintf("uuid: %v", err)) // only when the system's randomness fails
	}
	return radmark.ID(id.String())
}

func (s *Service) event(op Op, action, objectType string, objectID radmark.ID, detail string) *radmark.AuditEvent {
	actor := op.Actor
	if actor == "" {
		actor = "anonymous"
	}
	if op.Address != "" {
		detail = strings.TrimPrefix(detail+"; from "+op.Address, "; ")
	}
	return &radmark.AuditEvent{ID: NewID(), Time: s.now(), Actor: actor, Action: action, ObjectType: objectType,
		ObjectID: string(objectID), RequestID: op.RequestID, Detail: detail}
}

// newSecret returns 256 random bits, base64url without padding.
func newSecret() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("random secret: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// HashSecret returns the hex SHA-256 under which a session secret or API
// token is stored.
func HashSecret(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

// CSRFToken returns the CSRF token of the session whose secret is given:
// HMAC-SHA256 keyed by the secret, so only the session's holder can know
// it, and a new session (after sign-in) has a new one.
func CSRFToken(secret string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("radmark csrf v1"))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// CheckCSRF reports, in constant time, whether token is the session's.
func CheckCSRF(secret, token string) bool {
	return token != "" && hmac.Equal([]byte(CSRFToken(secret)), []byte(token))
}

// Login is a successful sign-in: the new session and the secret to give
// the browser (in a cookie), with its CSRF token.
type Login struct {
	User    *radmark.User
	Session *radmark.Session
	Secret  string
	CSRF    string
}

// errBadCredentials is the one answer for an unknown name or a wrong
// password, so that sign-in does not tell which names exist.
func errBadCredentials() error {
	return radmark.Errorf(radmark.EUNAUTHORIZED, "wrong account name or password")
}

// dummyHashes hold, per parameters, a hash verified against when the
// account does not exist, so that an unknown name takes as long as a wrong
// password.
var dummyHashes sync.Map // Params → string

func dummyHash(p Params) string {
	if h, ok := dummyHashes.Load(p); ok {
		return h.(string)
	}
	h, err := HashPassword("radmark-dummy-password", p)
	if err != nil {
		return ""
	}
	dummyHashes.Store(p, h)
	return h
}

// Login checks a name and password and starts a session. previous is the
// secret of the session cookie the browser sent, if any: it is ended, so
// a session id planted before sign-in is never valid after it (session
// fixation). Failures are recorded and audited ("login.failure", and
// "account.lock" when they lock the account); every refusal is
// EUNAUTHORIZED with the reason.
func (s *Service) Login(ctx context.Context, op Op, name, password, previous string) (*Login, error) {
	cfg := s.cfg()
	now := s.now()
	if name == "" || password == "" {
		return nil, radmark.Errorf(radmark.EINVALID, "give an account name and a password")
	}
	if len(name) > 256 || len(password) > maxPasswordBytes {
		return nil, radmark.Errorf(radmark.EINVALID, "the account name or password is too long")
	}
	if err := s.maybePrune(ctx); err != nil {
		return nil, err
	}
	fail := func(userID radmark.ID, why string, reason error) (*Login, error) {
		ev := s.event(Op{Actor: name, RequestID: op.RequestID, Address: op.Address}, "login.failure", "user", userID, why)
		lockEv := s.event(Op{Actor: name, RequestID: op.RequestID, Address: op.Address}, "account.lock", "user", userID,
			fmt.Sprintf("%d failed sign-ins; locked for %s", cfg.Lockout.MaxFailures, cfg.Lockout.LockFor))
		_, until, err := s.Store.RecordLoginFailure(ctx, radmark.LoginFailure{At: now, Name: name, UserID: userID, Address: op.Address},
			cfg.Lockout, ev, lockEv)
		if err != nil {
			return nil, err
		}
		if reason == nil && until.After(now) {
			reason = radmark.Errorf(radmark.EUNAUTHORIZED, "wrong account name or password; after %d failed sign-ins the account is locked until %s",
				cfg.Lockout.MaxFailures, until.Format(time.RFC3339))
		}
		if reason == nil {
			reason = errBadCredentials()
		}
		return nil, reason
	}
	if op.Address != "" {
		n, err := s.Store.LoginFailuresFrom(ctx, op.Address, now.Add(-cfg.AddressWindow))
		if err != nil {
			return nil, err
		}
		if n >= cfg.AddressLimit {
			return fail("", "rate limited: too many failed sign-ins from this address",
				radmark.Errorf(radmark.EUNAUTHORIZED, "too many failed sign-ins from your address (%d in %s); wait and try again", n, cfg.AddressWindow))
		}
	}
	cred, err := s.Store.UserCredentials(ctx, name)
	if radmark.ErrorCode(err) == radmark.ENOTFOUND {
		_, _ = VerifyPassword(password, dummyHash(cfg.Hashing))
		return fail("", "no such account", nil)
	}
	if err != nil {
		return nil, err
	}
	u := cred.User
	if cred.LockedUntil.After(now) {
		return fail(u.ID, "the account is locked", radmark.Errorf(radmark.EUNAUTHORIZED,
			"account %s is locked after repeated failed sign-ins until %s", name, cred.LockedUntil.Format(time.RFC3339)))
	}
	if cred.PasswordHash == "" {
		return fail(u.ID, "the account has no password", radmark.Errorf(radmark.EUNAUTHORIZED,
			"account %s has no password: sign in with single sign-on, or ask an admin to set one", name))
	}
	ok, err := VerifyPassword(password, cred.PasswordHash)
	if err != nil {
		return nil, fmt.Errorf("account %s: stored password hash: %w", name, err)
	}
	if !ok {
		return fail(u.ID, "wrong password", nil)
	}
	if u.Disabled {
		return fail(u.ID, "the account is disabled", radmark.Errorf(radmark.EUNAUTHORIZED, "account %s is disabled", name))
	}
	return s.startSession(ctx, op, u, "password", previous)
}

// startSession makes a session for u, ending the previous one.
func (s *Service) startSession(ctx context.Context, op Op, u *radmark.User, via, previous string) (*Login, error) {
	cfg := s.cfg()
	secret, err := newSecret()
	if err != nil {
		return nil, err
	}
	now := s.now()
	se := &radmark.Session{ID: NewID(), SecretHash: HashSecret(secret), UserID: u.ID, Via: via, Address: op.Address,
		CreatedAt: now, ExpiresAt: now.Add(cfg.SessionLifetime), IdleTimeout: cfg.SessionIdle}
	replaces := ""
	if previous != "" {
		replaces = HashSecret(previous)
	}
	ev := s.event(Op{Actor: u.Name, RequestID: op.RequestID, Address: op.Address}, "login", "user", u.ID, "session "+string(se.ID)+" via "+via)
	if err := s.Store.StartSession(ctx, se, replaces, ev); err != nil {
		return nil, err
	}
	return &Login{User: u, Session: se, Secret: secret, CSRF: CSRFToken(secret)}, nil
}

// touchEvery bounds how often a session's or token's last use is written.
const touchEvery = time.Minute

// SessionUser returns the session and user of a session secret, or
// EUNAUTHORIZED saying why it is not valid (unknown or signed out,
// expired, idle too long, account disabled).
func (s *Service) SessionUser(ctx context.Context, secret string) (*radmark.Session, *radmark.User, error) {
	if secret == "" {
		return nil, nil, radmark.Errorf(radmark.EUNAUTHORIZED, "no session")
	}
	se, u, err := s.Store.SessionBySecret(ctx, HashSecret(secret))
	if radmark.ErrorCode(err) == radmark.ENOTFOUND {
		return nil, nil, radmark.Errorf(radmark.EUNAUTHORIZED, "the session is not valid (signed out, replaced or expired); sign in again")
	}
	if err != nil {
		return nil, nil, err
	}
	now := s.now()
	switch {
	case !now.Before(se.ExpiresAt):
		return nil, nil, radmark.Errorf(radmark.EUNAUTHORIZED, "the session expired at %s; sign in again", se.ExpiresAt.Format(time.RFC3339))
	case se.IdleTimeout > 0 && !now.Before(se.LastSeenAt.Add(se.IdleTimeout)):
		return nil, nil, radmark.Errorf(radmark.EUNAUTHORIZED, "the session expired after %s without use; sign in again", se.IdleTimeout)
	case u.Disabled:
		return nil, nil, radmark.Errorf(radmark.EUNAUTHORIZED, "account %s is disabled", u.Name)
	}
	if now.Sub(se.LastSeenAt) >= touchEvery {
		if err := s.Store.TouchSession(ctx, se.ID, now); err != nil {
			return nil, nil, err
		}
		se.LastSeenAt = now
	}
	return se, u, nil
}

// Logout ends the session whose secret is given.
func (s *Service) Logout(ctx context.Context, op Op, secret string) error {
	se, u, err := s.SessionUser(ctx, secret)
	if err != nil {
		return err
	}
	if op.Actor == "" {
		op.Actor = u.Name
	}
	err = s.Store.EndSession(ctx, se.ID, s.event(op, "logout", "user", u.ID, "session "+string(se.ID)))
	if radmark.ErrorCode(err) == radmark.ENOTFOUND {
		return radmark.Errorf(radmark.EUNAUTHORIZED, "the session already ended")
	}
	return err
}

// Scopes of personal API tokens (policy checks what they allow).
const (
	ScopeRead  = "read"
	ScopeWrite = "write"
)

// TokenPrefix starts every personal API token, so that they are easy to
// recognise (and for secret scanners to find).
const TokenPrefix = "rmk_"

// NewToken is a token just made: Token is shown once.
type NewToken struct {
	Token string
	*radmark.APIToken
}

// CreateToken makes a personal API token for u with scopes (read, write;
// default write) that expires after ttl (0: never).
func (s *Service) CreateToken(ctx context.Context, op Op, u *radmark.User, name string, scopes []string, ttl time.Duration) (*NewToken, error) {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 200 {
		return nil, radmark.Errorf(radmark.EINVALID, "give the token a name of at most 200 bytes, saying what uses it")
	}
	if len(scopes) == 0 {
		scopes = []string{ScopeWrite}
	}
	for _, sc := range scopes {
		if sc != ScopeRead && sc != ScopeWrite {
			return nil, radmark.Errorf(radmark.EINVALID, "token scope %q: want %q or %q", sc, ScopeRead, ScopeWrite)
		}
	}
	if ttl < 0 {
		return nil, radmark.Errorf(radmark.EINVALID, "the token's lifetime must be positive (or 0: no expiry)")
	}
	secret, err := newSecret()
	if err != nil {
		return nil, err
	}
	token := TokenPrefix + secret
	now := s.now()
	t := &radmark.APIToken{ID: NewID(), UserID: u.ID, Name: name, Hash: HashSecret(token), Prefix: token[:len(TokenPrefix)+6],
		Scopes: scopes, CreatedAt: now}
	if ttl > 0 {
		exp := now.Add(ttl)
		t.ExpiresAt = &exp
	}
	if op.Actor == "" {
		op.Actor = u.Name
	}
	detail := fmt.Sprintf("token %q, scopes %s", name, strings.Join(scopes, " "))
	if t.ExpiresAt != nil {
		detail += ", expires " + t.ExpiresAt.Format(time.RFC3339)
	}
	if err := s.Store.CreateToken(ctx, t, s.event(op, "token.create", "api_token", t.ID, detail)); err != nil {
		return nil, err
	}
	return &NewToken{Token: token, APIToken: t}, nil
}

// TokenUser returns the token and user of a Bearer token, or
// EUNAUTHORIZED saying why it is refused (malformed, unknown, revoked,
// expired, account disabled).
func (s *Service) TokenUser(ctx context.Context, token string) (*radmark.APIToken, *radmark.User, error) {
	if !strings.HasPrefix(token, TokenPrefix) || len(token) != len(TokenPrefix)+43 {
		return nil, nil, radmark.Errorf(radmark.EUNAUTHORIZED, "the Bearer token is not a radmark API token (rmk_ followed by 43 characters)")
	}
	t, u, err := s.Store.TokenByHash(ctx, HashSecret(token))
	if radmark.ErrorCode(err) == radmark.ENOTFOUND {
		return nil, nil, radmark.Errorf(radmark.EUNAUTHORIZED, "unknown API token")
	}
	if err != nil {
		return nil, nil, err
	}
	now := s.now()
	switch {
	case t.RevokedAt != nil:
		return nil, nil, radmark.Errorf(radmark.EUNAUTHORIZED, "API token %s (%q) was revoked at %s", t.Prefix, t.Name, t.RevokedAt.Format(time.RFC3339))
	case t.ExpiresAt != nil && !now.Before(*t.ExpiresAt):
		return nil, nil, radmark.Errorf(radmark.EUNAUTHORIZED, "API token %s (%q) expired at %s", t.Prefix, t.Name, t.ExpiresAt.Format(time.RFC3339))
	case u.Disabled:
		return nil, nil, radmark.Errorf(radmark.EUNAUTHORIZED, "account %s is disabled", u.Name)
	}
	if t.LastUsedAt == nil || now.Sub(*t.LastUsedAt) >= touchEvery {
		if err := s.Store.TouchToken(ctx, t.ID, now); err != nil {
			return nil, nil, err
		}
		t.LastUsedAt = &now
	}
	return t, u, nil
}

// RevokeToken revokes one of u's tokens.
func (s *Service) RevokeToken(ctx context.Context, op Op, u *radmark.User, token radmark.ID) error {
	if op.Actor == "" {
		op.Actor = u.Name
	}
	return s.Store.RevokeToken(ctx, u.ID, token, s.now(), s.event(op, "token.revoke", "api_token", token, ""))
}

// ParseTTL reads a token lifetime: Go durations ("720h") or a number of
// days ("90d"); "" or "0" means no expiry.
func ParseTTL(v string) (time.Duration, error) {
	v = strings.TrimSpace(v)
	if v == "" || v == "0" {
		return 0, nil
	}
	if days, ok := strings.CutSuffix(v, "d"); ok {
		var n int
		if _, err := fmt.Sscanf(days, "%d", &n); err != nil || n <= 0 || n > 3650 || fmt.Sprint(n) != days {
			return 0, radmark.Errorf(radmark.EINVALID, "lifetime %q: want a number of days 1-3650 (90d) or a duration (720h)", v)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, radmark.Errorf(radmark.EINVALID, "lifetime %q: want a number of days (90d) or a positive duration (720h)", v)
	}
	return d, nil
}
