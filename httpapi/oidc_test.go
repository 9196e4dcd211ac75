package httpapi

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/zitadel/oidc/v3/example/server/exampleop"
	"github.com/zitadel/oidc/v3/example/server/storage"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/auth"
	"github.com/radmark/radmark/internal/testdb"
)

// startProvider runs zitadel/oidc's example OpenID provider (a real one:
// discovery, signed ID tokens, PKCE, userinfo; its users live in memory)
// on a loopback port, with radmark registered as a web client.
func startProvider(t *testing.T, clientID, redirect string) (issuer string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	issuer = "http://" + ln.Addr().String() + "/"
	storage.RegisterClients(storage.WebClient(clientID, "radmark-secret", redirect))
	op := exampleop.SetupServer(issuer, storage.NewStorage(storage.NewUserStore(issuer)), nil, false)
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: op}}
	srv.Start()
	t.Cleanup(srv.Close)
	return issuer
}

// browser is an HTTP client with cookies that follows redirects, except
// the last one back into radmark's UI (stop).
func browser(t *testing.T, stop string) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if req.URL.Path == stop {
			return http.ErrUseLastResponse
		}
		if len(via) > 10 {
			return errors.New("too many redirects")
		}
		return nil
	}}
}

var hiddenID = regexp.MustCompile(`name="id" value="([^"]+)"`)

// signInAtProvider starts single sign-on in radmark, fills in the
// provider's login form and follows the redirects back; it returns
// radmark's last answer (the redirect to next).
func signInAtProvider(t *testing.T, b *http.Client, base, user, password, next string) *http.Response {
	t.Helper()
	resp, err := b.Get(base + "/api/v1/auth/oidc/login?next=" + url.QueryEscape(next))
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := hiddenID.FindSubmatch(page)
	if resp.StatusCode != 200 || m == nil {
		t.Fatalf("the provider's login form: %d %s", resp.StatusCode, page)
	}
	form := url.Values{"id": {string(m[1])}, "username": {user}, "password": {password}}
	resp, err = b.PostForm(resp.Request.URL.Scheme+"://"+resp.Request.URL.Host+"/login/username", form)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("after the provider's login: %d %s %s", resp.StatusCode, resp.Request.URL, body)
	}
	return resp
}

func TestOIDCLoginWithRealProvider(t *testing.T) {
	for i, engine := range testdb.Engines {
		t.Run(engine.Name, func(t *testing.T) {
			testOIDCLogin(t, engine, fmt.Sprintf("radmark-test-%d", i))
		})
	}
}

func testOIDCLogin(t *testing.T, engine testdb.Engine, clientID string) {
	var issuer string
	projectID := auth.NewID()
	e := newAuthEnv(t, engine, func(base string) *OIDC {
		redirect := base + "/api/v1/auth/oidc/callback"
		issuer = startProvider(t, clientID, redirect)
		o, err := NewOIDC(t.Context(), OIDCConfig{Issuer: issuer, ClientID: clientID, ClientSecret: "radmark-secret", RedirectURL: redirect,
			Mapping: auth.ClaimMapping{Rules: []auth.RoleRule{
				{Claim: "email", Value: "test-user@zitadel.ch", Admin: true},
				{Claim: "email", Value: "test-user2@zitadel.ch", Project: projectID, Roles: []radmark.Role{radmark.RoleAnnotator}},
			}}})
		if err != nil {
			t.Fatalf("NewOIDC: %v", err)
		}
		return o
	})
	ctx := t.Context()
	if err := e.store.CreateProject(ctx, &radmark.Project{ID: projectID, Name: "Chest CT"},
		&radmark.AuditEvent{ID: auth.NewID(), Actor: "test", Action: "project.create", ObjectType: "project", ObjectID: string(projectID)}); err != nil {
		t.Fatal(err)
	}
	base := e.ts.URL
	c := e.client

	// The documented answers of the two routes.
	r := c.do("GET", "/api/v1/auth/oidc/login?next=/worklist", nil)
	if r.Status != 302 || !strings.HasPrefix(r.Header.Get("Location"), issuer) || !strings.Contains(r.Header.Get("Location"), "code_challenge_method=S256") ||
		!strings.Contains(r.Header.Get("Location"), "nonce=") {
		t.Errorf("oidc login: %d %v", r.Status, r.Header)
	}
	wantProblem(t, c.do("GET", "/api/v1/auth/oidc/callback?code=x&state=y", nil), 401, "no single sign-on in progress")
	wantProblem(t, c.do("GET", "/api/v1/auth/oidc/callback?error=access_denied&error_description=no", nil), 401, "refused")

	// The whole flow for the admin user: created on first sign-in, admin
	// from the email claim.
	b := browser(t, "/worklist")
	resp := signInAtProvider(t, b, base, "test-user@127.0.0.1", "verysecure", "/worklist")
	if loc := resp.Header.Get("Location"); loc != "/worklist" || !strings.HasPrefix(resp.Request.URL.String(), base+"/api/v1/auth/oidc/callback") {
		t.Fatalf("the callback sent the browser to %q (from %s)", loc, resp.Request.URL)
	}
	me := getMe(t, b, base)
	if me.User.Name != "test-user@127.0.0.1" || !me.User.Admin || me.User.Email != "test-user@zitadel.ch" || me.CSRFToken == "" {
		t.Errorf("after single sign-on: %+v", me.User)
	}
	first := me.User.ID

	// A second sign-in finds the same account.
	b = browser(t, "/worklist")
	signInAtProvider(t, b, base, "test-user@127.0.0.1", "verysecure", "/worklist")
	if me := getMe(t, b, base); me.User.ID != first {
		t.Errorf("the second sign-in made another account: %+v", me.User)
	}

	// The other user gets the project role its claims map to.
	b = browser(t, "/")
	signInAtProvider(t, b, base, "test-user2", "verysecure", "https://evil.example/")
	me = getMe(t, b, base)
	if me.User.Admin || len(me.Memberships) != 1 || me.Memberships[0].ProjectID != projectID || me.Memberships[0].Roles[0] != radmark.RoleAnnotator {
		t.Errorf("test-user2 after single sign-on: %+v %+v", me.User, me.Memberships)
	}
	if !auditHas(t, e.store, "test-user2", "login", "via oidc") || !auditHas(t, e.store, "test-user2", "user.create", "first single sign-on") {
		t.Error("the single sign-on is not on the audit trail")
	}

	// A callback whose state is not the one this browser started.
	b = browser(t, "/worklist")
	resp, err := b.Get(base + "/api/v1/auth/oidc/login")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	resp, err = b.Get(base + "/api/v1/auth/oidc/callback?code=forged&state=forged")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 401 || !strings.Contains(string(body), "state mismatch") {
		t.Errorf("forged callback: %d %s", resp.StatusCode, body)
	}
}

func getMe(t *testing.T, b *http.Client, base string) sessionInfo {
	t.Helper()
	resp, err := b.Get(base + "/api/v1/auth/me")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var info sessionInfo
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("me: %d %s", resp.StatusCode, body)
	}
	apiResponse{Status: resp.StatusCode, Body: body}.json(t, &info)
	return info
}
