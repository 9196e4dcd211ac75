package httpapi

import (
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/auth"
)

// Accounts is the HTTP side of accounts: it authenticates every request
// (as the server's Authenticator) by a session cookie or a personal API
// token, and serves sign-in, tokens, users and project members (see
// api_auth.go). Install it as Server.Auth; the routes appear only then.
type Accounts struct {
	Auth *auth.Service
	// OIDC enables single sign-on (nil: local accounts only).
	OIDC *OIDC
	// TrustForwarded takes the client address from X-Forwarded-For, for
	// servers behind a reverse proxy (rate limiting and the audit trail
	// then see the real client, not the proxy).
	TrustForwarded bool
}

// SessionCookie names the session cookie.
const SessionCookie = "radmark_session"

// CSRFHeader carries a session's CSRF token on unsafe requests.
const CSRFHeader = "X-CSRF-Token"

var _ Authenticator = (*Accounts)(nil)

// Authenticate implements Authenticator. A request with an Authorization
// header must carry a valid personal API token, as a Bearer token or as
// the password of Basic authentication (no CSRF token needed: a browser
// never adds either by itself). Otherwise a session cookie signs the
// request in; an unsafe request (not GET, HEAD or OPTIONS) with a session
// cookie must also send the session's CSRF token in X-CSRF-Token, or is
// refused with EFORBIDDEN. Wrong, expired and revoked credentials are
// EUNAUTHORIZED with the reason.
func (a *Accounts) Authenticate(w http.ResponseWriter, r *http.Request) (*radmark.Actor, error) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, token, _ := strings.Cut(h, " ")
		token = strings.TrimSpace(token)
		name := ""
		switch {
		case strings.EqualFold(scheme, "Bearer") && token != "":
		case strings.EqualFold(scheme, "Basic"):
			// For DICOMweb clients that only know Basic authentication:
			// the account name and a personal API token as the password.
			// Account passwords are not taken here, so that guessing them
			// always meets sign-in's rate limit and lockout.
			var ok bool
			if name, token, ok = r.BasicAuth(); !ok || !strings.HasPrefix(token, auth.TokenPrefix) {
				return nil, radmark.Errorf(radmark.EUNAUTHORIZED, "Basic authentication takes the account name and a personal API token (rmk_...) as the password, not the account's password")
			}
		default:
			return nil, radmark.Errorf(radmark.EUNAUTHORIZED, "the Authorization header must be \"Bearer rmk_...\" with a personal API token")
		}
		t, u, err := a.Auth.TokenUser(r.Context(), token)
		if err != nil {
			return nil, err
		}
		if name != "" && name != u.Name {
			return nil, radmark.Errorf(radmark.EUNAUTHORIZED, "this API token belongs to another account than %q", name)
		}
		return &radmark.Actor{User: u, Via: "token", TokenID: t.ID, TokenScopes: t.Scopes}, nil
	}
	secret := sessionSecret(r)
	if secret == "" {
		return nil, nil
	}
	_, u, err := a.Auth.SessionUser(r.Context(), secret)
	if err != nil {
		return nil, err
	}
	if unsafeMethod(r.Method) {
		if err := checkCSRF(r, secret); err != nil {
			return nil, err
		}
	}
	return &radmark.Actor{User: u, Via: "session"}, nil
}

func unsafeMethod(m string) bool {
	return m != http.MethodGet && m != http.MethodHead && m != http.MethodOptions
}

func checkCSRF(r *http.Request, secret string) error {
	token := r.Header.Get(CSRFHeader)
	if token == "" {
		return radmark.Errorf(radmark.EFORBIDDEN, "%s %s with a session cookie needs the session's CSRF token in the %s header (see GET /api/v1/auth/me)", r.Method, r.URL.Path, CSRFHeader)
	}
	if !auth.CheckCSRF(secret, token) {
		return radmark.Errorf(radmark.EFORBIDDEN, "the %s header does not match this session's CSRF token (it changes at every sign-in)", CSRFHeader)
	}
	return nil
}

// sessionSecret returns the session cookie's value ("" if none).
func sessionSecret(r *http.Request) string {
	c, err := r.Cookie(SessionCookie)
	if err != nil {
		return ""
	}
	return c.Value
}

// secureRequest reports whether the client reached the server over TLS,
// directly or through a proxy that says so.
func secureRequest(r *http.Request) bool {
	return r.TLS != nil || strings.EqualFold(strings.TrimSpace(strings.Split(r.Header.Get("X-Forwarded-Proto"), ",")[0]), "https")
}

// setSessionCookie gives the browser a session: HttpOnly (scripts cannot
// read it), SameSite=Lax (other sites' requests do not carry it, but
// links into radmark still work), Secure over TLS.
func setSessionCookie(w http.ResponseWriter, r *http.Request, l *auth.Login) {
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: l.Secret, Path: "/", HttpOnly: true, Secure: secureRequest(r),
		SameSite: http.SameSiteLaxMode, Expires: l.Session.ExpiresAt, MaxAge: int(time.Until(l.Session.ExpiresAt).Seconds())})
}

func clearCookie(w http.ResponseWriter, r *http.Request, name, path string) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: path, HttpOnly: true, Secure: secureRequest(r),
		SameSite: http.SameSiteLaxMode, MaxAge: -1})
}

// clientAddress is the request's client, for rate limiting and the audit
// trail.
func (a *Accounts) clientAddress(r *http.Request) string {
	if a.TrustForwarded {
		if f := r.Header.Get("X-Forwarded-For"); f != "" {
			if first := strings.TrimSpace(strings.Split(f, ",")[0]); net.ParseIP(first) != nil {
				return first
			}
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// authOp is the audit identity of a request to the account routes.
func (a *Accounts) authOp(r *http.Request) auth.Op {
	return auth.Op{Actor: ActorFrom(r.Context()).Name(), RequestID: RequestID(r.Context()), Address: a.clientAddress(r)}
}
