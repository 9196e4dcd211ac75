package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/radmark/radmark"
)

// Accounts, memberships, sessions, API tokens and failed sign-ins: the
// radmark.UserStore half of Store. Secrets never reach this file: callers
// pass hashes (package auth makes them). A session's or token's last use is
// bookkeeping, written without an audit event; everything else is one
// transaction with its event(s).

var _ radmark.UserStore = (*Store)(nil)

// mutateChosen is mutate for changes whose audit events depend on what the
// transaction finds (a failed sign-in that also locks the account): change
// returns the events to append, which are filled in once committed.
func (s *Store) mutateChosen(ctx context.Context, what string, change func(tx *sql.Tx) ([]*radmark.AuditEvent, error)) error {
	var (
		chosen []*radmark.AuditEvent
		staged []radmark.AuditEvent
	)
	err := s.mutate(ctx, what, nil, func(tx *sql.Tx) error {
		evs, err := change(tx)
		if err != nil {
			return err
		}
		if staged, err = s.stageEvents(what, evs); err != nil {
			return err
		}
		chosen = evs
		return s.appendEvents(ctx, tx, staged)
	})
	if err != nil {
		return err
	}
	for i, e := range chosen {
		*e = staged[i]
	}
	return nil
}

// nullTime stores the zero time as NULL.
func (s *Store) nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return s.timeArg(Timestamp(t))
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func validateUser(what string, u *radmark.User) error {
	switch {
	case u.ID == "":
		return radmark.Errorf(radmark.EINVALID, "%s: the user has no ID", what)
	case strings.TrimSpace(u.Name) == "":
		return radmark.Errorf(radmark.EINVALID, "%s: the user has no name", what)
	}
	return checkText(what, textField{"ID", string(u.ID)}, textField{"name", u.Name},
		textField{"display name", u.DisplayName}, textField{"email", u.Email})
}

// CreateUser implements radmark.UserStore.CreateUser.
func (s *Store) CreateUser(ctx context.Context, u *radmark.User, cred radmark.Credentials, ev *radmark.AuditEvent) error {
	if u == nil {
		return radmark.Errorf(radmark.EINVALID, "create user: no user given")
	}
	what := fmt.Sprintf("create user %q", u.Name)
	if err := validateUser(what, u); err != nil {
		return err
	}
	if err := checkText(what, textField{"password hash", cred.PasswordHash}, textField{"OIDC issuer", cred.OIDCIssuer},
		textField{"OIDC subject", cred.OIDCSubject}); err != nil {
		return err
	}
	if (cred.OIDCIssuer == "") != (cred.OIDCSubject == "") {
		return radmark.Errorf(radmark.EINVALID, "%s: an OpenID Connect identity needs both issuer and subject", what)
	}
	if err := checkTime(what+": creation time", u.CreatedAt); err != nil {
		return err
	}
	created := s.stamp(u.CreatedAt)
	err := s.mutate(ctx, what, []*radmark.AuditEvent{ev}, func(tx *sql.Tx) error {
		n, err := s.countReturned(ctx, tx, `INSERT INTO app_user (id, name, display_name, email, admin, disabled, created_at,
	password_hash, oidc_issuer, oidc_subject) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING id`,
			string(u.ID), u.Name, u.DisplayName, u.Email, u.Admin, u.Disabled, s.timeArg(created),
			cred.PasswordHash, cred.OIDCIssuer, cred.OIDCSubject)
		if err != nil {
			return fmt.Errorf("insert user: %w", err)
		}
		if n == 0 {
			var taken string
			err := tx.QueryRowContext(ctx, s.rebind(`SELECT CASE WHEN id = ? THEN 'ID' WHEN name = ? THEN 'name' ELSE 'OpenID Connect identity' END
FROM app_user WHERE id = ? OR name = ? OR (oidc_subject <> '' AND oidc_issuer = ? AND oidc_subject = ?) LIMIT 1`),
				string(u.ID), u.Name, string(u.ID), u.Name, cred.OIDCIssuer, cred.OIDCSubject).Scan(&taken)
			if err != nil {
				return fmt.Errorf("explain a refused user: %w", err)
			}
			return radmark.Errorf(radmark.ECONFLICT, "a user with this %s already exists (%s)", taken, u.Name)
		}
		return nil
	})
	if err != nil {
		return err
	}
	u.CreatedAt = created
	return nil
}

// UpdateUser implements radmark.UserStore.UpdateUser.
func (s *Store) UpdateUser(ctx context.Context, u *radmark.User, ev *radmark.AuditEvent) error {
	if u == nil {
		return radmark.Errorf(radmark.EINVALID, "update user: no user given")
	}
	what := fmt.Sprintf("update user %s", u.ID)
	if err := checkText(what, textField{"display name", u.DisplayName}, textField{"email", u.Email}); err != nil {
		return err
	}
	var stored radmark.User
	err := s.mutate(ctx, what, []*radmark.AuditEvent{ev}, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, s.rebind(`UPDATE app_user SET display_name = ?, email = ?, admin = ?, disabled = ?
WHERE id = ? RETURNING name, created_at`), u.DisplayName, u.Email, u.Admin, u.Disabled, string(u.ID)).
			Scan(&stored.Name, scanTime(&stored.CreatedAt))
		if errors.Is(err, sql.ErrNoRows) {
			return radmark.Errorf(radmark.ENOTFOUND, "user %s not found", u.ID)
		}
		if err != nil {
			return fmt.Errorf("update user: %w", err)
		}
		if u.Disabled {
			if _, err := tx.ExecContext(ctx, s.rebind(`DELETE FROM user_session WHERE user_id = ?`), string(u.ID)); err != nil {
				return fmt.Errorf("end the sessions of a disabled user: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	u.Name, u.CreatedAt = stored.Name, stored.CreatedAt
	return nil
}

// SetPassword implements radmark.UserStore.SetPassword.
func (s *Store) SetPassword(ctx context.Context, user radmark.ID, hash string, ev *radmark.AuditEvent) error {
	what := fmt.Sprintf("set the password of user %s", user)
	if hash == "" {
		return radmark.Errorf(radmark.EINVALID, "%s: no password hash given", what)
	}
	if err := checkText(what, textField{"password hash", hash}); err != nil {
		return err
	}
	return s.mutate(ctx, what, []*radmark.AuditEvent{ev}, func(tx *sql.Tx) error {
		n, err := rowsAffected(tx.ExecContext(ctx, s.rebind(`UPDATE app_user SET password_hash = ?, failures = 0,
	last_failure_at = NULL, locked_until = NULL WHERE id = ?`), hash, string(user)))
		if err != nil {
			return fmt.Errorf("update password: %w", err)
		}
		if n == 0 {
			return radmark.Errorf(radmark.ENOTFOUND, "user %s not found", user)
		}
		if _, err := tx.ExecContext(ctx, s.rebind(`DELETE FROM user_session WHERE user_id = ?`), string(user)); err != nil {
			return fmt.Errorf("end sessions: %w", err)
		}
		return nil
	})
}

const userColumns = `id, name, display_name, email, admin, disabled, created_at`

func scanUser(row scanner, extra ...any) (*radmark.User, error) {
	var u radmark.User
	dest := append([]any{(*string)(&u.ID), &u.Name, &u.DisplayName, &u.Email, &u.Admin, &u.Disabled, scanTime(&u.CreatedAt)}, extra...)
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	return &u, nil
}

func (s *Store) userWhere(ctx context.Context, what, cond string, args ...any) (*radmark.User, error) {
	u, err := scanUser(s.read.QueryRowContext(ctx, s.rebind(`SELECT `+userColumns+` FROM app_user WHERE `+cond), args...))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, radmark.Errorf(radmark.ENOTFOUND, "%s not found", what)
	}
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", what, err)
	}
	return u, nil
}

// User implements radmark.UserStore.User.
func (s *Store) User(ctx context.Context, id radmark.ID) (*radmark.User, error) {
	return s.userWhere(ctx, fmt.Sprintf("user %s", id), `id = ?`, string(id))
}

// UserByName implements radmark.UserStore.UserByName.
func (s *Store) UserByName(ctx context.Context, name string) (*radmark.User, error) {
	return s.userWhere(ctx, fmt.Sprintf("user %q", name), `name = ?`, name)
}

// UserByOIDC implements radmark.UserStore.UserByOIDC.
func (s *Store) UserByOIDC(ctx context.Context, issuer, subject string) (*radmark.User, error) {
	if subject == "" {
		return nil, radmark.Errorf(radmark.EINVALID, "an OpenID Connect identity needs a subject")
	}
	return s.userWhere(ctx, fmt.Sprintf("user of OpenID Connect subject %q at %s", subject, issuer),
		`oidc_issuer = ? AND oidc_subject = ?`, issuer, subject)
}

// UserCredentials implements radmark.UserStore.UserCredentials.
func (s *Store) UserCredentials(ctx context.Context, name string) (*radmark.UserCredentials, error) {
	var c radmark.UserCredentials
	u, err := scanUser(s.read.QueryRowContext(ctx, s.rebind(`SELECT `+userColumns+`, password_hash, failures, last_failure_at, locked_until
FROM app_user WHERE name = ?`), name), &c.PasswordHash, &c.Failures, scanTime(&c.LastFailureAt), scanTime(&c.LockedUntil))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, radmark.Errorf(radmark.ENOTFOUND, "user %q not found", name)
	}
	if err != nil {
		return nil, fmt.Errorf("get the credentials of user %q: %w", name, err)
	}
	c.User = u
	return &c, nil
}

// Users implements radmark.UserStore.Users: every account, by name.
func (s *Store) Users(ctx context.Context) ([]*radmark.User, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT `+userColumns+` FROM app_user ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	defer rows.Close()
	out := []*radmark.User{}
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("list users: %w", err)
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return out, nil
}

// checkRoles refuses unknown and repeated roles and returns them sorted.
func checkRoles(what string, roles []radmark.Role) ([]radmark.Role, error) {
	if len(roles) == 0 {
		return nil, radmark.Errorf(radmark.EINVALID, "%s: give at least one role (%v); to take every role away remove the membership", what, radmark.Roles)
	}
	out := slices.Clone(roles)
	slices.Sort(out)
	for i, r := range out {
		if !slices.Contains(radmark.Roles, r) {
			return nil, radmark.Errorf(radmark.EINVALID, "%s: %q is not a project role (want one of %v)", what, r, radmark.Roles)
		}
		if i > 0 && out[i-1] == r {
			return nil, radmark.Errorf(radmark.EINVALID, "%s: role %s is given twice", what, r)
		}
	}
	return out, nil
}

// SetMembership implements radmark.UserStore.SetMembership. An unknown
// project or user is ENOTFOUND. m.Roles is sorted as stored.
func (s *Store) SetMembership(ctx context.Context, m *radmark.Membership, ev *radmark.AuditEvent) error {
	if m == nil {
		return radmark.Errorf(radmark.EINVALID, "set membership: no membership given")
	}
	what := fmt.Sprintf("set the roles of user %s in project %s", m.UserID, m.ProjectID)
	roles, err := checkRoles(what, m.Roles)
	if err != nil {
		return err
	}
	err = s.mutate(ctx, what, []*radmark.AuditEvent{ev}, func(tx *sql.Tx) error {
		if err := s.mustExist(ctx, tx, "project", "project", m.ProjectID); err != nil {
			return err
		}
		if err := s.mustExist(ctx, tx, "app_user", "user", m.UserID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.rebind(`DELETE FROM project_member WHERE project_id = ? AND user_id = ?`),
			string(m.ProjectID), string(m.UserID)); err != nil {
			return fmt.Errorf("clear roles: %w", err)
		}
		for _, r := range roles {
			if _, err := tx.ExecContext(ctx, s.rebind(`INSERT INTO project_member (project_id, user_id, role) VALUES (?, ?, ?)`),
				string(m.ProjectID), string(m.UserID), string(r)); err != nil {
				return fmt.Errorf("insert role: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	m.Roles = roles
	return nil
}

// mustExist locks a row of table by id (so that it stays while the
// transaction references it) or returns ENOTFOUND naming it as noun.
func (s *Store) mustExist(ctx context.Context, tx *sql.Tx, table, noun string, id radmark.ID) error {
	var found string
	err := tx.QueryRowContext(ctx, s.rebind(`SELECT id FROM `+table+` WHERE id = ?`+s.forUpdate()), string(id)).Scan(&found)
	if errors.Is(err, sql.ErrNoRows) {
		return radmark.Errorf(radmark.ENOTFOUND, "%s %s not found", noun, id)
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", noun, err)
	}
	return nil
}

// RemoveMembership implements radmark.UserStore.RemoveMembership (ENOTFOUND
// when the user is not a member).
func (s *Store) RemoveMembership(ctx context.Context, project, user radmark.ID, ev *radmark.AuditEvent) error {
	what := fmt.Sprintf("remove user %s from project %s", user, project)
	return s.mutate(ctx, what, []*radmark.AuditEvent{ev}, func(tx *sql.Tx) error {
		n, err := rowsAffected(tx.ExecContext(ctx, s.rebind(`DELETE FROM project_member WHERE project_id = ? AND user_id = ?`),
			string(project), string(user)))
		if err != nil {
			return fmt.Errorf("delete roles: %w", err)
		}
		if n == 0 {
			return radmark.Errorf(radmark.ENOTFOUND, "user %s is not a member of project %s", user, project)
		}
		return nil
	})
}

// memberships reads rows of (project, user, role) ordered by project and
// user into memberships.
func (s *Store) memberships(ctx context.Context, what, cond string, args ...any) ([]radmark.Membership, error) {
	rows, err := s.read.QueryContext(ctx, s.rebind(`SELECT project_id, user_id, role FROM project_member WHERE `+cond+
		` ORDER BY project_id, user_id, role`), args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer rows.Close()
	out := []radmark.Membership{}
	for rows.Next() {
		var p, u, r string
		if err := rows.Scan(&p, &u, &r); err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		if n := len(out); n > 0 && out[n-1].ProjectID == radmark.ID(p) && out[n-1].UserID == radmark.ID(u) {
			out[n-1].Roles = append(out[n-1].Roles, radmark.Role(r))
			continue
		}
		out = append(out, radmark.Membership{ProjectID: radmark.ID(p), UserID: radmark.ID(u), Roles: []radmark.Role{radmark.Role(r)}})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}

// Members implements radmark.UserStore.Members (ENOTFOUND for a missing
// project).
func (s *Store) Members(ctx context.Context, project radmark.ID) ([]radmark.Membership, error) {
	if _, err := s.Project(ctx, project); err != nil {
		return nil, err
	}
	return s.memberships(ctx, fmt.Sprintf("list the members of project %s", project), `project_id = ?`, string(project))
}

// ProjectRoles implements policy.Memberships.ProjectRoles.
func (s *Store) ProjectRoles(ctx context.Context, project, user radmark.ID) ([]radmark.Role, error) {
	ms, err := s.memberships(ctx, fmt.Sprintf("get the roles of user %s in project %s", user, project),
		`project_id = ? AND user_id = ?`, string(project), string(user))
	if err != nil || len(ms) == 0 {
		return nil, err
	}
	return ms[0].Roles, nil
}

// UserProjects implements policy.Memberships.UserProjects.
func (s *Store) UserProjects(ctx context.Context, user radmark.ID) ([]radmark.Membership, error) {
	return s.memberships(ctx, fmt.Sprintf("list the projects of user %s", user), `user_id = ?`, string(user))
}

// StartSession implements radmark.UserStore.StartSession.
func (s *Store) StartSession(ctx context.Context, se *radmark.Session, replaces string, ev *radmark.AuditEvent) error {
	if se == nil {
		return radmark.Errorf(radmark.EINVALID, "start session: no session given")
	}
	what := fmt.Sprintf("start a session of user %s", se.UserID)
	switch {
	case se.ID == "" || se.SecretHash == "" || se.UserID == "":
		return radmark.Errorf(radmark.EINVALID, "%s: the session needs an ID, a secret hash and a user", what)
	case se.ExpiresAt.IsZero():
		return radmark.Errorf(radmark.EINVALID, "%s: the session has no expiry", what)
	case se.IdleTimeout < 0:
		return radmark.Errorf(radmark.EINVALID, "%s: negative idle timeout", what)
	}
	if err := checkText(what, textField{"ID", string(se.ID)}, textField{"secret hash", se.SecretHash},
		textField{"via", se.Via}, textField{"address", se.Address}); err != nil {
		return err
	}
	if err := checkTime(what+": expiry", se.ExpiresAt); err != nil {
		return err
	}
	created := s.stamp(se.CreatedAt)
	expires := Timestamp(se.ExpiresAt)
	err := s.mutate(ctx, what, []*radmark.AuditEvent{ev}, func(tx *sql.Tx) error {
		if err := s.mustExist(ctx, tx, "app_user", "user", se.UserID); err != nil {
			return err
		}
		if replaces != "" {
			if _, err := tx.ExecContext(ctx, s.rebind(`DELETE FROM user_session WHERE secret_hash = ?`), replaces); err != nil {
				return fmt.Errorf("end the replaced session: %w", err)
			}
		}
		n, err := s.countReturned(ctx, tx, `INSERT INTO user_session (id, secret_hash, user_id, via, address, created_at,
	last_seen_at, expires_at, idle_us) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING id`,
			string(se.ID), se.SecretHash, string(se.UserID), se.Via, se.Address, s.timeArg(created), s.timeArg(created),
			s.timeArg(expires), se.IdleTimeout.Microseconds())
		if err != nil {
			return fmt.Errorf("insert session: %w", err)
		}
		if n == 0 {
			return radmark.Errorf(radmark.ECONFLICT, "session %s already exists", se.ID)
		}
		if _, err := tx.ExecContext(ctx, s.rebind(`UPDATE app_user SET failures = 0, last_failure_at = NULL, locked_until = NULL
WHERE id = ?`), string(se.UserID)); err != nil {
			return fmt.Errorf("clear failed sign-ins: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	se.CreatedAt, se.LastSeenAt, se.ExpiresAt = created, created, expires
	return nil
}

// SessionBySecret implements radmark.UserStore.SessionBySecret.
func (s *Store) SessionBySecret(ctx context.Context, secretHash string) (*radmark.Session, *radmark.User, error) {
	var (
		se   radmark.Session
		idle int64
	)
	u, err := scanUser(s.read.QueryRowContext(ctx, s.rebind(`SELECT u.id, u.name, u.display_name, u.email, u.admin, u.disabled,
	u.created_at, se.id, se.via, se.address, se.created_at, se.last_seen_at, se.expires_at, se.idle_us
FROM user_session se JOIN app_user u ON u.id = se.user_id WHERE se.secret_hash = ?`), secretHash),
		(*string)(&se.ID), &se.Via, &se.Address, scanTime(&se.CreatedAt), scanTime(&se.LastSeenAt), scanTime(&se.ExpiresAt), &idle)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, radmark.Errorf(radmark.ENOTFOUND, "no such session")
	}
	if err != nil {
		return nil, nil, fmt.Errorf("get session: %w", err)
	}
	se.SecretHash, se.UserID, se.IdleTimeout = secretHash, u.ID, time.Duration(idle)*time.Microsecond
	return &se, u, nil
}

// TouchSession implements radmark.UserStore.TouchSession.
func (s *Store) TouchSession(ctx context.Context, id radmark.ID, at time.Time) error {
	if _, err := s.write.ExecContext(ctx, s.rebind(`UPDATE user_session SET last_seen_at = ? WHERE id = ?`),
		s.timeArg(Timestamp(at)), string(id)); err != nil {
		return fmt.Errorf("record the use of session %s: %w", id, err)
	}
	return nil
}

// EndSession implements radmark.UserStore.EndSession.
func (s *Store) EndSession(ctx context.Context, id radmark.ID, ev *radmark.AuditEvent) error {
	return s.mutate(ctx, fmt.Sprintf("end session %s", id), []*radmark.AuditEvent{ev}, func(tx *sql.Tx) error {
		n, err := rowsAffected(tx.ExecContext(ctx, s.rebind(`DELETE FROM user_session WHERE id = ?`), string(id)))
		if err != nil {
			return fmt.Errorf("delete session: %w", err)
		}
		if n == 0 {
			return radmark.Errorf(radmark.ENOTFOUND, "session %s not found (already ended?)", id)
		}
		return nil
	})
}

// DeleteExpiredSessions implements radmark.UserStore.DeleteExpiredSessions.
// Idle expiry is computed in Go over the candidates (the engines'
// interval arithmetic differs and the table is small).
func (s *Store) DeleteExpiredSessions(ctx context.Context, now time.Time) (int, error) {
	now = Timestamp(now)
	rows, err := s.read.QueryContext(ctx, `SELECT id, last_seen_at, expires_at, idle_us FROM user_session`)
	if err != nil {
		return 0, fmt.Errorf("list sessions: %w", err)
	}
	var expired []string
	for rows.Next() {
		var (
			id            string
			seen, expires time.Time
			idle          int64
		)
		if err := rows.Scan(&id, scanTime(&seen), scanTime(&expires), &idle); err != nil {
			rows.Close()
			return 0, fmt.Errorf("list sessions: %w", err)
		}
		if !now.Before(expires) || (idle > 0 && !now.Before(seen.Add(time.Duration(idle)*time.Microsecond))) {
			expired = append(expired, id)
		}
	}
	if err := rows.Close(); err != nil {
		return 0, fmt.Errorf("list sessions: %w", err)
	}
	deleted := 0
	for chunk := range slices.Chunk(expired, chunkSize) {
		n, err := rowsAffected(s.write.ExecContext(ctx, s.rebind(`DELETE FROM user_session WHERE id IN (`+placeholders(len(chunk))+`)`), anys(chunk)...))
		if err != nil {
			return deleted, fmt.Errorf("delete expired sessions: %w", err)
		}
		deleted += int(n)
	}
	return deleted, nil
}

// CreateToken implements radmark.UserStore.CreateToken.
func (s *Store) CreateToken(ctx context.Context, t *radmark.APIToken, ev *radmark.AuditEvent) error {
	if t == nil {
		return radmark.Errorf(radmark.EINVALID, "create token: no token given")
	}
	what := fmt.Sprintf("create API token %q of user %s", t.Name, t.UserID)
	switch {
	case t.ID == "" || t.UserID == "" || t.Hash == "":
		return radmark.Errorf(radmark.EINVALID, "%s: the token needs an ID, a user and a hash", what)
	case strings.TrimSpace(t.Name) == "":
		return radmark.Errorf(radmark.EINVALID, "%s: the token has no name", what)
	case len(t.Scopes) == 0:
		return radmark.Errorf(radmark.EINVALID, "%s: the token has no scopes", what)
	}
	for _, sc := range t.Scopes {
		if sc == "" || strings.ContainsAny(sc, " \t\n") {
			return radmark.Errorf(radmark.EINVALID, "%s: scope %q is empty or holds white space", what, sc)
		}
	}
	if err := checkText(what, textField{"ID", string(t.ID)}, textField{"name", t.Name}, textField{"hash", t.Hash},
		textField{"prefix", t.Prefix}, textField{"scopes", strings.Join(t.Scopes, " ")}); err != nil {
		return err
	}
	var expires time.Time
	if t.ExpiresAt != nil {
		if err := checkTime(what+": expiry", *t.ExpiresAt); err != nil {
			return err
		}
		expires = Timestamp(*t.ExpiresAt)
	}
	created := s.stamp(t.CreatedAt)
	err := s.mutate(ctx, what, []*radmark.AuditEvent{ev}, func(tx *sql.Tx) error {
		if err := s.mustExist(ctx, tx, "app_user", "user", t.UserID); err != nil {
			return err
		}
		n, err := s.countReturned(ctx, tx, `INSERT INTO api_token (id, user_id, name, hash, prefix, scopes, created_at, expires_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING id`,
			string(t.ID), string(t.UserID), t.Name, t.Hash, t.Prefix, strings.Join(t.Scopes, " "), s.timeArg(created), s.nullTime(expires))
		if err != nil {
			return fmt.Errorf("insert token: %w", err)
		}
		if n == 0 {
			return radmark.Errorf(radmark.ECONFLICT, "API token %s already exists", t.ID)
		}
		return nil
	})
	if err != nil {
		return err
	}
	t.CreatedAt, t.ExpiresAt = created, timePtr(expires)
	return nil
}

const tokenColumns = `t.id, t.user_id, t.name, t.hash, t.prefix, t.scopes, t.created_at, t.expires_at, t.last_used_at, t.revoked_at`

func tokenDest(t *radmark.APIToken, scopes *string, expires, used, revoked *time.Time) []any {
	return []any{(*string)(&t.ID), (*string)(&t.UserID), &t.Name, &t.Hash, &t.Prefix, scopes, scanTime(&t.CreatedAt),
		scanTime(expires), scanTime(used), scanTime(revoked)}
}

func finishToken(t *radmark.APIToken, scopes string, expires, used, revoked time.Time) *radmark.APIToken {
	t.Scopes = strings.Fields(scopes)
	t.ExpiresAt, t.LastUsedAt, t.RevokedAt = timePtr(expires), timePtr(used), timePtr(revoked)
	return t
}

// TokenByHash implements radmark.UserStore.TokenByHash.
func (s *Store) TokenByHash(ctx context.Context, hash string) (*radmark.APIToken, *radmark.User, error) {
	var (
		t                      radmark.APIToken
		scopes                 string
		expires, used, revoked time.Time
	)
	u, err := scanUser(s.read.QueryRowContext(ctx, s.rebind(`SELECT u.id, u.name, u.display_name, u.email, u.admin, u.disabled,
	u.created_at, `+tokenColumns+` FROM api_token t JOIN app_user u ON u.id = t.user_id WHERE t.hash = ?`), hash),
		tokenDest(&t, &scopes, &expires, &used, &revoked)...)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, radmark.Errorf(radmark.ENOTFOUND, "no such API token")
	}
	if err != nil {
		return nil, nil, fmt.Errorf("get API token: %w", err)
	}
	return finishToken(&t, scopes, expires, used, revoked), u, nil
}

// Tokens implements radmark.UserStore.Tokens.
func (s *Store) Tokens(ctx context.Context, user radmark.ID) ([]*radmark.APIToken, error) {
	rows, err := s.read.QueryContext(ctx, s.rebind(`SELECT `+tokenColumns+` FROM api_token t WHERE t.user_id = ?
ORDER BY t.created_at DESC, t.id DESC`), string(user))
	if err != nil {
		return nil, fmt.Errorf("list the API tokens of user %s: %w", user, err)
	}
	defer rows.Close()
	out := []*radmark.APIToken{}
	for rows.Next() {
		var (
			t                      radmark.APIToken
			scopes                 string
			expires, used, revoked time.Time
		)
		if err := rows.Scan(tokenDest(&t, &scopes, &expires, &used, &revoked)...); err != nil {
			return nil, fmt.Errorf("list API tokens: %w", err)
		}
		out = append(out, finishToken(&t, scopes, expires, used, revoked))
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list API tokens: %w", err)
	}
	return out, nil
}

// RevokeToken implements radmark.UserStore.RevokeToken.
func (s *Store) RevokeToken(ctx context.Context, user, token radmark.ID, at time.Time, ev *radmark.AuditEvent) error {
	what := fmt.Sprintf("revoke API token %s", token)
	at = s.stamp(at)
	return s.mutate(ctx, what, []*radmark.AuditEvent{ev}, func(tx *sql.Tx) error {
		var revoked time.Time
		err := tx.QueryRowContext(ctx, s.rebind(`SELECT revoked_at FROM api_token WHERE id = ? AND user_id = ?`+s.forUpdate()),
			string(token), string(user)).Scan(scanTime(&revoked))
		if errors.Is(err, sql.ErrNoRows) {
			return radmark.Errorf(radmark.ENOTFOUND, "API token %s not found among your tokens", token)
		}
		if err != nil {
			return fmt.Errorf("read token: %w", err)
		}
		if !revoked.IsZero() {
			return radmark.Errorf(radmark.ECONFLICT, "API token %s was already revoked at %s", token, revoked.Format(time.RFC3339))
		}
		if _, err := tx.ExecContext(ctx, s.rebind(`UPDATE api_token SET revoked_at = ? WHERE id = ?`), s.timeArg(at), string(token)); err != nil {
			return fmt.Errorf("revoke token: %w", err)
		}
		return nil
	})
}

// TouchToken implements radmark.UserStore.TouchToken.
func (s *Store) TouchToken(ctx context.Context, id radmark.ID, at time.Time) error {
	if _, err := s.write.ExecContext(ctx, s.rebind(`UPDATE api_token SET last_used_at = ? WHERE id = ?`),
		s.timeArg(Timestamp(at)), string(id)); err != nil {
		return fmt.Errorf("record the use of API token %s: %w", id, err)
	}
	return nil
}

// RecordLoginFailure implements radmark.UserStore.RecordLoginFailure. The
// account's row is locked while its count moves, so concurrent failures
// (on any replica) each count once and exactly one of them locks it.
func (s *Store) RecordLoginFailure(ctx context.Context, f radmark.LoginFailure, rule radmark.LockoutRule, ev, lockEv *radmark.AuditEvent) (int, time.Time, error) {
	what := fmt.Sprintf("record a failed sign-in as %q", f.Name)
	if rule.MaxFailures < 1 || rule.Window <= 0 || rule.LockFor <= 0 {
		return 0, time.Time{}, radmark.Errorf(radmark.EINVALID, "%s: the lockout rule needs at least one failure, a window and a lock time", what)
	}
	if err := checkText(what, textField{"name", f.Name}, textField{"address", f.Address}, textField{"user ID", string(f.UserID)}); err != nil {
		return 0, time.Time{}, err
	}
	at := s.stamp(f.At)
	var (
		failures int
		locked   time.Time
	)
	err := s.mutateChosen(ctx, what, func(tx *sql.Tx) ([]*radmark.AuditEvent, error) {
		failures, locked = 0, time.Time{}
		if _, err := tx.ExecContext(ctx, s.rebind(`INSERT INTO login_failure (at, name, user_id, address) VALUES (?, ?, ?, ?)`),
			s.timeArg(at), f.Name, nullID(f.UserID), f.Address); err != nil {
			return nil, fmt.Errorf("insert failure: %w", err)
		}
		if f.UserID == "" {
			return []*radmark.AuditEvent{ev}, nil
		}
		var last, until time.Time
		err := tx.QueryRowContext(ctx, s.rebind(`SELECT failures, last_failure_at, locked_until FROM app_user WHERE id = ?`+s.forUpdate()),
			string(f.UserID)).Scan(&failures, scanTime(&last), scanTime(&until))
		if errors.Is(err, sql.ErrNoRows) {
			return nil, radmark.Errorf(radmark.ENOTFOUND, "user %s not found", f.UserID)
		}
		if err != nil {
			return nil, fmt.Errorf("read failures: %w", err)
		}
		locked = until
		if at.Before(until) {
			// Already locked: the attempt is on record (and counts for its
			// address) but does not lengthen the lock.
			return []*radmark.AuditEvent{ev}, nil
		}
		locked = time.Time{}
		if last.IsZero() || at.Sub(last) > rule.Window {
			failures = 0
		}
		failures++
		stored := failures
		events := []*radmark.AuditEvent{ev}
		if failures >= rule.MaxFailures {
			// The count starts again after the lock.
			locked, stored = at.Add(rule.LockFor), 0
			if lockEv != nil {
				events = append(events, lockEv)
			}
		}
		if _, err := tx.ExecContext(ctx, s.rebind(`UPDATE app_user SET failures = ?, last_failure_at = ?, locked_until = ? WHERE id = ?`),
			stored, s.timeArg(at), s.nullTime(locked), string(f.UserID)); err != nil {
			return nil, fmt.Errorf("count failure: %w", err)
		}
		return events, nil
	})
	if err != nil {
		return 0, time.Time{}, err
	}
	return failures, locked, nil
}

// LoginFailuresFrom implements radmark.UserStore.LoginFailuresFrom.
func (s *Store) LoginFailuresFrom(ctx context.Context, address string, since time.Time) (int, error) {
	var n int
	if err := s.read.QueryRowContext(ctx, s.rebind(`SELECT count(*) FROM login_failure WHERE address = ? AND at >= ?`),
		address, s.timeArg(Timestamp(since))).Scan(&n); err != nil {
		return 0, fmt.Errorf("count failed sign-ins from %s: %w", address, err)
	}
	return n, nil
}

// PruneLoginFailures implements radmark.UserStore.PruneLoginFailures.
func (s *Store) PruneLoginFailures(ctx context.Context, before time.Time) (int, error) {
	n, err := rowsAffected(s.write.ExecContext(ctx, s.rebind(`DELETE FROM login_failure WHERE at < ?`), s.timeArg(Timestamp(before))))
	if err != nil {
		return 0, fmt.Errorf("prune failed sign-ins: %w", err)
	}
	return int(n), nil
}
