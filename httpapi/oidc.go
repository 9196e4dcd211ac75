package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/auth"
)

// OpenID Connect sign-in, the protocol side: the authorization code flow
// with PKCE (S256), a random state (bound to the browser by a short-lived
// HttpOnly cookie, so a callback the browser did not start is refused) and
// a nonce checked in the ID token, which go-oidc verifies (signature by
// the provider's published keys, issuer, audience, expiry). The claims of
// the ID token and of the userinfo endpoint then go to auth.OIDCLogin.

// OIDCConfig configures single sign-on.
type OIDCConfig struct {
	Issuer       string
	ClientID     string
	ClientSecret string
	// RedirectURL is radmark's callback as registered with the provider:
	// https://radmark.example/api/v1/auth/oidc/callback.
	RedirectURL string
	// Scopes to ask for besides openid (default profile, email).
	Scopes  []string
	Mapping auth.ClaimMapping
	// HTTPClient reaches the provider (default http.DefaultClient).
	HTTPClient *http.Client
}

// OIDC runs single sign-on against one provider.
type OIDC struct {
	cfg      OIDCConfig
	provider *oidc.Provider
	verifier *oidc.IDTokenVerifier
	oauth    oauth2.Config
}

// NewOIDC discovers the provider (its /.well-known/openid-configuration)
// and checks the configuration.
func NewOIDC(ctx context.Context, cfg OIDCConfig) (*OIDC, error) {
	switch {
	case cfg.Issuer == "":
		return nil, radmark.Errorf(radmark.EINVALID, "OIDC: no issuer URL")
	case cfg.ClientID == "":
		return nil, radmark.Errorf(radmark.EINVALID, "OIDC: no client ID")
	case cfg.RedirectURL == "":
		return nil, radmark.Errorf(radmark.EINVALID, "OIDC: no redirect URL (radmark's .../api/v1/auth/oidc/callback)")
	}
	if u, err := url.Parse(cfg.RedirectURL); err != nil || !u.IsAbs() || !strings.HasSuffix(u.Path, apiRoot+"/auth/oidc/callback") {
		return nil, radmark.Errorf(radmark.EINVALID, "OIDC: redirect URL %q must be the absolute URL of %s/auth/oidc/callback", cfg.RedirectURL, apiRoot)
	}
	if err := cfg.Mapping.Check(); err != nil {
		return nil, err
	}
	if len(cfg.Scopes) == 0 {
		cfg.Scopes = []string{"profile", "email"}
	}
	if cfg.HTTPClient != nil {
		ctx = oidc.ClientContext(ctx, cfg.HTTPClient)
	}
	p, err := oidc.NewProvider(ctx, cfg.Issuer)
	if err != nil {
		return nil, radmark.Errorf(radmark.EUNAVAILABLE, "OIDC: discover the provider %s: %w", cfg.Issuer, err)
	}
	return &OIDC{
		cfg:      cfg,
		provider: p,
		verifier: p.Verifier(&oidc.Config{ClientID: cfg.ClientID}),
		oauth: oauth2.Config{ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret, Endpoint: p.Endpoint(),
			RedirectURL: cfg.RedirectURL, Scopes: append([]string{oidc.ScopeOpenID}, cfg.Scopes...)},
	}, nil
}

// oidcCookie holds a sign-in in progress between the redirect to the
// provider and its callback.
const oidcCookie = "radmark_oidc"

// oidcFlowTimeout bounds how long a sign-in at the provider may take.
const oidcFlowTimeout = 10 * time.Minute

type oidcFlow struct {
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"`
	Next     string `json:"r"`
}

func randomToken() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// localPath returns next if it is a path on this server, else "/": the
// callback never redirects to another site.
func localPath(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") || strings.ContainsAny(next, "\r\n") {
		return "/"
	}
	return next
}

// start answers GET /auth/oidc/login: a redirect to the provider.
func (o *OIDC) start(w http.ResponseWriter, r *http.Request) error {
	state, err := randomToken()
	if err != nil {
		return err
	}
	nonce, err := randomToken()
	if err != nil {
		return err
	}
	f := oidcFlow{State: state, Nonce: nonce, Verifier: oauth2.GenerateVerifier(), Next: localPath(r.URL.Query().Get("next"))}
	b, _ := json.Marshal(f)
	http.SetCookie(w, &http.Cookie{Name: oidcCookie, Value: base64.RawURLEncoding.EncodeToString(b), Path: apiRoot + "/auth/oidc/",
		HttpOnly: true, Secure: secureRequest(r), SameSite: http.SameSiteLaxMode, MaxAge: int(oidcFlowTimeout.Seconds())})
	target := o.oauth.AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(f.Verifier))
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, target, http.StatusFound)
	return nil
}

// finish answers the callback: it checks state, exchanges the code (with
// the PKCE verifier), verifies the ID token and its nonce, and returns
// the identity with the claims of the ID token and userinfo.
func (o *OIDC) finish(r *http.Request) (auth.Identity, string, error) {
	q := r.URL.Query()
	if e := q.Get("error"); e != "" {
		return auth.Identity{}, "", radmark.Errorf(radmark.EUNAUTHORIZED, "the identity provider refused the sign-in: %s %s", e, q.Get("error_description"))
	}
	c, err := r.Cookie(oidcCookie)
	if err != nil {
		return auth.Identity{}, "", radmark.Errorf(radmark.EUNAUTHORIZED, "no single sign-on in progress in this browser (or it took longer than %s); start again", oidcFlowTimeout)
	}
	var f oidcFlow
	raw, err := base64.RawURLEncoding.DecodeString(c.Value)
	if err != nil || json.Unmarshal(raw, &f) != nil || f.State == "" {
		return auth.Identity{}, "", radmark.Errorf(radmark.EUNAUTHORIZED, "the single sign-on cookie is damaged; start again")
	}
	if q.Get("state") != f.State {
		return auth.Identity{}, "", radmark.Errorf(radmark.EUNAUTHORIZED, "the single sign-on answer does not belong to the sign-in this browser started (state mismatch)")
	}
	code := q.Get("code")
	if code == "" {
		return auth.Identity{}, "", radmark.Errorf(radmark.EUNAUTHORIZED, "the identity provider sent no authorization code")
	}
	ctx := r.Context()
	if o.cfg.HTTPClient != nil {
		ctx = oidc.ClientContext(ctx, o.cfg.HTTPClient)
	}
	tok, err := o.oauth.Exchange(ctx, code, oauth2.VerifierOption(f.Verifier))
	if err != nil {
		return auth.Identity{}, "", radmark.Errorf(radmark.EUNAUTHORIZED, "the identity provider refused the authorization code: %v", err)
	}
	rawID, _ := tok.Extra("id_token").(string)
	if rawID == "" {
		return auth.Identity{}, "", radmark.Errorf(radmark.EUNAUTHORIZED, "the identity provider sent no ID token")
	}
	idt, err := o.verifier.Verify(ctx, rawID)
	if err != nil {
		return auth.Identity{}, "", radmark.Errorf(radmark.EUNAUTHORIZED, "the ID token is not valid: %v", err)
	}
	if idt.Nonce != f.Nonce {
		return auth.Identity{}, "", radmark.Errorf(radmark.EUNAUTHORIZED, "the ID token's nonce does not match this sign-in (replayed token?)")
	}
	claims := map[string]any{}
	if err := idt.Claims(&claims); err != nil {
		return auth.Identity{}, "", fmt.Errorf("read ID token claims: %w", err)
	}
	if o.provider.UserInfoEndpoint() != "" {
		ui, err := o.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
		if err != nil {
			return auth.Identity{}, "", radmark.Errorf(radmark.EUNAVAILABLE, "read the user's claims from the identity provider: %v", err)
		}
		if ui.Subject != idt.Subject {
			return auth.Identity{}, "", radmark.Errorf(radmark.EUNAUTHORIZED, "the userinfo subject does not match the ID token's")
		}
		extra := map[string]any{}
		if err := ui.Claims(&extra); err != nil {
			return auth.Identity{}, "", fmt.Errorf("read userinfo claims: %w", err)
		}
		for k, v := range extra {
			if _, ok := claims[k]; !ok {
				claims[k] = v
			}
		}
	}
	return auth.Identity{Issuer: idt.Issuer, Subject: idt.Subject, Claims: claims}, f.Next, nil
}
