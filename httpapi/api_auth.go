package httpapi

import (
	"mime"
	"net/http"
	"reflect"
	"time"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/auth"
	"github.com/radmark/radmark/policy"
)

func init() {
	roles := make([]string, len(radmark.Roles))
	for i, r := range radmark.Roles {
		roles[i] = string(r)
	}
	enums[reflect.TypeFor[radmark.Role]()] = roles
}

// Request and response bodies of the account routes.
type (
	loginRequest struct {
		Name     string `json:"name"`
		Password string `json:"password"`
	}
	// sessionInfo is who is signed in: the account, its memberships and,
	// for a browser session, the CSRF token to send on unsafe requests.
	sessionInfo struct {
		User        *radmark.User        `json:"user"`
		Memberships []radmark.Membership `json:"memberships"`
		Via         string               `json:"via"`
		CSRFToken   string               `json:"csrfToken,omitempty"`
		ExpiresAt   *time.Time           `json:"expiresAt,omitempty"`
	}
	createTokenRequest struct {
		Name string `json:"name"`
		// Scopes: read and/or write (default write).
		Scopes []string `json:"scopes,omitempty"`
		// ExpiresIn: a number of days ("90d") or a duration ("720h");
		// empty: never.
		ExpiresIn string `json:"expiresIn,omitempty"`
	}
	// createdToken carries the token itself, shown this once.
	createdToken struct {
		Token string `json:"token"`
		radmark.APIToken
	}
	createUserRequest struct {
		Name        string `json:"name"`
		DisplayName string `json:"displayName,omitempty"`
		Email       string `json:"email,omitempty"`
		Admin       bool   `json:"admin,omitempty"`
		// Password: empty makes a strong one, answered once.
		Password string `json:"password,omitempty"`
	}
	createdUser struct {
		User     *radmark.User `json:"user"`
		Password string        `json:"password,omitempty"`
	}
	updateUserRequest struct {
		DisplayName *string `json:"displayName,omitempty"`
		Email       *string `json:"email,omitempty"`
		Admin       *bool   `json:"admin,omitempty"`
		Disabled    *bool   `json:"disabled,omitempty"`
		Password    *string `json:"password,omitempty"`
	}
	memberInfo struct {
		UserID      radmark.ID     `json:"userId"`
		Name        string         `json:"name"`
		DisplayName string         `json:"displayName,omitempty"`
		Roles       []radmark.Role `json:"roles"`
	}
	setMemberRequest struct {
		Roles []radmark.Role `json:"roles"`
	}
)

// authRoutes are the routes of accounts, sessions, tokens and project
// membership; they exist when the server's Authenticator is an *Accounts.
//
// Sign-in, sign-out and the single sign-on redirects have Action "": the
// server lets those through without prior authentication (they are how
// one gets it). Sign-out still needs the session and its CSRF token,
// which its handler checks.
func (s *Server) authRoutes() []apiRoute {
	a, ok := s.Auth.(*Accounts)
	if !ok || a == nil || a.Auth == nil {
		return nil
	}
	unauthorized := []int{http.StatusUnauthorized}
	self := []int{http.StatusUnauthorized, http.StatusForbidden}
	admin := []int{http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound, http.StatusConflict}
	member := []int{http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound}
	routes := []apiRoute{
		{Method: "POST", Path: "/auth/login", ID: "login", Tag: "auth", Action: "",
			Summary: "Sign in with an account name and password: sets the session cookie and answers the CSRF token; any session the browser had ends",
			Body:    loginRequest{}, OK: 200, Response: sessionInfo{}, RespHeaders: []string{"Set-Cookie"},
			Errors: []int{http.StatusUnauthorized, http.StatusUnsupportedMediaType},
			Handle: a.login},
		{Method: "POST", Path: "/auth/logout", ID: "logout", Tag: "auth", Action: "",
			Summary: "Sign out: ends the session (needs its CSRF token)", OK: 204, Errors: self, Handle: a.logout},
		{Method: "GET", Path: "/auth/me", ID: "getMe", Tag: "auth", Action: policy.Self,
			Summary: "Who is signed in: the account, its project memberships and the session's CSRF token",
			OK:      200, Response: sessionInfo{}, Errors: self, Handle: a.me},

		{Method: "GET", Path: "/tokens", ID: "listTokens", Tag: "auth", Action: policy.Self,
			Summary: "Your personal API tokens (never the tokens themselves)",
			OK:      200, Response: []*radmark.APIToken{}, Errors: self, Handle: a.listTokens},
		{Method: "POST", Path: "/tokens", ID: "createToken", Tag: "auth", Action: policy.Self,
			Summary: "Make a personal API token for scripts and DICOMweb clients (Authorization: Bearer <token>); the token is shown only in this answer",
			Body:    createTokenRequest{}, OK: 201, Response: createdToken{}, Errors: self, Handle: a.createToken},
		{Method: "DELETE", Path: "/tokens/{token}", ID: "revokeToken", Tag: "auth", Action: policy.Self,
			Summary: "Revoke one of your personal API tokens", OK: 204,
			Errors: []int{http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound, http.StatusConflict}, Handle: a.revokeToken},

		{Method: "GET", Path: "/users", ID: "listUsers", Tag: "users", Action: policy.UserManage,
			Summary: "Every account (site admins)", OK: 200, Response: []*radmark.User{}, Errors: self, Handle: a.listUsers},
		{Method: "POST", Path: "/users", ID: "createUser", Tag: "users", Action: policy.UserManage,
			Summary: "Create a local account (site admins); without a password a strong one is made and answered once",
			Body:    createUserRequest{}, OK: 201, Response: createdUser{}, RespHeaders: []string{"Location"}, Errors: admin, Handle: a.createUser},
		{Method: "PATCH", Path: "/users/{user}", ID: "updateUser", Tag: "users", Action: policy.UserManage,
			Summary: "Change an account (site admins): name shown, email, site admin, disabled (ends its sessions), password",
			Body:    updateUserRequest{}, OK: 200, Response: &radmark.User{}, Errors: admin, Handle: a.updateUser},

		{Method: "GET", Path: "/projects/{project}/members", ID: "listMembers", Tag: "projects", Action: policy.ProjectRead, Project: projectFromPath,
			Summary: "The project's members and their roles", OK: 200, Response: []memberInfo{}, Errors: member, Handle: a.listMembers},
		{Method: "PUT", Path: "/projects/{project}/members/{user}", ID: "setMember", Tag: "projects", Action: policy.ProjectManage, Project: projectFromPath,
			Summary: "Give a user (by ID or name) exactly these roles in the project",
			Body:    setMemberRequest{}, OK: 200, Response: memberInfo{}, Errors: member, Handle: a.setMember},
		{Method: "DELETE", Path: "/projects/{project}/members/{user}", ID: "removeMember", Tag: "projects", Action: policy.ProjectManage, Project: projectFromPath,
			Summary: "Take every role in the project from a user", OK: 204, Errors: member, Handle: a.removeMember},
	}
	if a.OIDC != nil {
		routes = append(routes,
			apiRoute{Method: "GET", Path: "/auth/oidc/login", ID: "oidcLogin", Tag: "auth", Action: "",
				Summary: "Single sign-on: redirects to the identity provider",
				Query:   []apiParam{{Name: "next", Type: "string", Description: "the path on this server to return to afterwards"}},
				OK:      302, RespHeaders: []string{"Location"}, Handle: a.OIDC.start},
			apiRoute{Method: "GET", Path: "/auth/oidc/callback", ID: "oidcCallback", Tag: "auth", Action: "",
				Summary: "Single sign-on: the identity provider's answer; signs in and redirects to the page the sign-in started from",
				Query: []apiParam{{Name: "code", Type: "string"}, {Name: "state", Type: "string"},
					{Name: "error", Type: "string"}, {Name: "error_description", Type: "string"}},
				OK: 302, RespHeaders: []string{"Location", "Set-Cookie"}, Errors: unauthorized, Handle: a.oidcCallback})
	}
	return routes
}

func (a *Accounts) login(w http.ResponseWriter, r *http.Request) error {
	// A JSON body cannot come from a plain HTML form on another site
	// without CORS, which keeps sign-in itself from being forged.
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		return radmark.Errorf(radmark.EUNSUPPORTED, "sign in with an application/json body {\"name\": ..., \"password\": ...}")
	}
	var req loginRequest
	if err := decodeJSON(w, r, 64<<10, &req); err != nil {
		return err
	}
	l, err := a.Auth.Login(r.Context(), a.authOp(r), req.Name, req.Password, sessionSecret(r))
	if err != nil {
		return err
	}
	return a.signedIn(w, r, l, http.StatusOK)
}

// signedIn sets the cookie of a new session and answers who it is.
func (a *Accounts) signedIn(w http.ResponseWriter, r *http.Request, l *auth.Login, status int) error {
	ms, err := a.Auth.Store.UserProjects(r.Context(), l.User.ID)
	if err != nil {
		return err
	}
	setSessionCookie(w, r, l)
	if status == http.StatusFound {
		return nil
	}
	exp := l.Session.ExpiresAt
	return writeJSON(w, status, sessionInfo{User: l.User, Memberships: ms, Via: "session", CSRFToken: l.CSRF, ExpiresAt: &exp})
}

func (a *Accounts) logout(w http.ResponseWriter, r *http.Request) error {
	secret := sessionSecret(r)
	if secret == "" {
		return radmark.Errorf(radmark.EUNAUTHORIZED, "no session to sign out of")
	}
	if _, _, err := a.Auth.SessionUser(r.Context(), secret); err != nil {
		clearCookie(w, r, SessionCookie, "/")
		return err
	}
	if err := checkCSRF(r, secret); err != nil {
		return err
	}
	if err := a.Auth.Logout(r.Context(), a.authOp(r), secret); err != nil {
		return err
	}
	clearCookie(w, r, SessionCookie, "/")
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// actor returns the request's signed-in actor.
func actorOf(r *http.Request) (*radmark.Actor, error) {
	act := ActorFrom(r.Context())
	if act == nil || act.User == nil {
		return nil, radmark.Errorf(radmark.EUNAUTHORIZED, "sign in, or send a personal API token as a Bearer token")
	}
	return act, nil
}

func (a *Accounts) me(w http.ResponseWriter, r *http.Request) error {
	act, err := actorOf(r)
	if err != nil {
		return err
	}
	ms, err := a.Auth.Store.UserProjects(r.Context(), act.User.ID)
	if err != nil {
		return err
	}
	info := sessionInfo{User: act.User, Memberships: ms, Via: act.Via}
	if act.Via == "session" {
		se, _, err := a.Auth.SessionUser(r.Context(), sessionSecret(r))
		if err != nil {
			return err
		}
		info.CSRFToken = auth.CSRFToken(sessionSecret(r))
		info.ExpiresAt = &se.ExpiresAt
	}
	return writeJSON(w, http.StatusOK, info)
}

func (a *Accounts) listTokens(w http.ResponseWriter, r *http.Request) error {
	act, err := actorOf(r)
	if err != nil {
		return err
	}
	ts, err := a.Auth.Store.Tokens(r.Context(), act.User.ID)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, ts)
}

func (a *Accounts) createToken(w http.ResponseWriter, r *http.Request) error {
	act, err := actorOf(r)
	if err != nil {
		return err
	}
	var req createTokenRequest
	if err := decodeJSON(w, r, maxJSONBody, &req); err != nil {
		return err
	}
	ttl, err := auth.ParseTTL(req.ExpiresIn)
	if err != nil {
		return err
	}
	t, err := a.Auth.CreateToken(r.Context(), a.authOp(r), act.User, req.Name, req.Scopes, ttl)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, createdToken{Token: t.Token, APIToken: *t.APIToken})
}

func (a *Accounts) revokeToken(w http.ResponseWriter, r *http.Request) error {
	act, err := actorOf(r)
	if err != nil {
		return err
	}
	if err := a.Auth.RevokeToken(r.Context(), a.authOp(r), act.User, radmark.ID(r.PathValue("token"))); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *Accounts) listUsers(w http.ResponseWriter, r *http.Request) error {
	us, err := a.Auth.Store.Users(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, us)
}

func (a *Accounts) createUser(w http.ResponseWriter, r *http.Request) error {
	var req createUserRequest
	if err := decodeJSON(w, r, maxJSONBody, &req); err != nil {
		return err
	}
	generated := ""
	if req.Password == "" {
		pw, err := auth.GeneratePassword()
		if err != nil {
			return err
		}
		req.Password, generated = pw, pw
	}
	u, err := a.Auth.CreateUser(r.Context(), a.authOp(r), auth.NewUser{Name: req.Name, DisplayName: req.DisplayName,
		Email: req.Email, Admin: req.Admin, Password: req.Password})
	if err != nil {
		return err
	}
	w.Header().Set("Location", apiRoot+"/users/"+string(u.ID))
	return writeJSON(w, http.StatusCreated, createdUser{User: u, Password: generated})
}

// userFromPath finds the user a path names, by ID or by name.
func (a *Accounts) userFromPath(r *http.Request) (*radmark.User, error) {
	v := r.PathValue("user")
	u, err := a.Auth.Store.User(r.Context(), radmark.ID(v))
	if radmark.ErrorCode(err) == radmark.ENOTFOUND {
		if u, err = a.Auth.Store.UserByName(r.Context(), v); radmark.ErrorCode(err) == radmark.ENOTFOUND {
			return nil, radmark.Errorf(radmark.ENOTFOUND, "no user with the ID or name %q", v)
		}
	}
	return u, err
}

func (a *Accounts) updateUser(w http.ResponseWriter, r *http.Request) error {
	var req updateUserRequest
	if err := decodeJSON(w, r, maxJSONBody, &req); err != nil {
		return err
	}
	target, err := a.userFromPath(r)
	if err != nil {
		return err
	}
	var me *radmark.User
	if act := ActorFrom(r.Context()); act != nil {
		me = act.User
	}
	u, err := a.Auth.UpdateUser(r.Context(), a.authOp(r), me, target.ID, auth.UserChange{DisplayName: req.DisplayName,
		Email: req.Email, Admin: req.Admin, Disabled: req.Disabled, Password: req.Password})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, u)
}

func (a *Accounts) listMembers(w http.ResponseWriter, r *http.Request) error {
	ms, err := a.Auth.Store.Members(r.Context(), radmark.ID(r.PathValue("project")))
	if err != nil {
		return err
	}
	out := make([]memberInfo, 0, len(ms))
	for _, m := range ms {
		u, err := a.Auth.Store.User(r.Context(), m.UserID)
		if err != nil {
			return err
		}
		out = append(out, memberInfo{UserID: u.ID, Name: u.Name, DisplayName: u.DisplayName, Roles: m.Roles})
	}
	return writeJSON(w, http.StatusOK, out)
}

func (a *Accounts) setMember(w http.ResponseWriter, r *http.Request) error {
	var req setMemberRequest
	if err := decodeJSON(w, r, maxJSONBody, &req); err != nil {
		return err
	}
	u, err := a.userFromPath(r)
	if err != nil {
		return err
	}
	m, err := a.Auth.SetMembership(r.Context(), a.authOp(r), radmark.ID(r.PathValue("project")), u.ID, req.Roles)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, memberInfo{UserID: u.ID, Name: u.Name, DisplayName: u.DisplayName, Roles: m.Roles})
}

func (a *Accounts) removeMember(w http.ResponseWriter, r *http.Request) error {
	u, err := a.userFromPath(r)
	if err != nil {
		return err
	}
	if err := a.Auth.RemoveMembership(r.Context(), a.authOp(r), radmark.ID(r.PathValue("project")), u.ID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *Accounts) oidcCallback(w http.ResponseWriter, r *http.Request) error {
	id, next, err := a.OIDC.finish(r)
	clearCookie(w, r, oidcCookie, apiRoot+"/auth/oidc/")
	if err != nil {
		return err
	}
	l, err := a.Auth.OIDCLogin(r.Context(), a.authOp(r), a.OIDC.cfg.Mapping, id, sessionSecret(r))
	if err != nil {
		return err
	}
	if err := a.signedIn(w, r, l, http.StatusFound); err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, next, http.StatusFound)
	return nil
}
