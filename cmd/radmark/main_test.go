package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binary is the radmark executable built once for the end-to-end tests,
// which run it as a user would.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "radmark-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "radmark")
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build radmark:", err)
		os.Exit(1)
	}
	http.DefaultTransport = &authTransport{base: http.DefaultTransport, tokens: map[string]string{}}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// authTransport signs the tests' requests to each test server with that
// server's admin token (every route but sign-in needs an identity), unless
// the request has its own Authorization or asks to stay anonymous.
type authTransport struct {
	base   http.RoundTripper
	mu     sync.Mutex
	tokens map[string]string // host:port → token
}

func (a *authTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	a.mu.Lock()
	token := a.tokens[r.URL.Host]
	a.mu.Unlock()
	if token != "" && r.Header.Get("Authorization") == "" && r.Header.Get("X-Test-Anonymous") == "" {
		r = r.Clone(r.Context())
		r.Header.Set("Authorization", "Bearer "+token)
	}
	return a.base.RoundTrip(r)
}

// server is a running `radmark serve`.
type server struct {
	URL  string // http://127.0.0.1:PORT
	Data string
	// Admin and Token are a site admin account and its API token, made
	// before the server started.
	Admin, Token string
	cmd          *exec.Cmd
	logs         *bytes.Buffer
}

// DICOMweb returns the DICOMweb root.
func (s *server) DICOMweb() string { return s.URL + "/dicomweb" }

// startServer runs radmark serve on a free port with a fresh data folder
// (or the one --data names in args).
func startServer(t *testing.T, args ...string) *server {
	t.Helper()
	data := t.TempDir()
	for i, a := range args {
		if a == "--data" && i+1 < len(args) {
			data = args[i+1]
		}
	}
	storage := []string{"--data", data}
	for i, a := range args {
		if a == "--db" && i+1 < len(args) {
			storage = append(storage, "--db", args[i+1])
		}
	}
	const admin = "e2e-admin"
	// A restart on the same data folder finds the admin there already.
	if out, errOut, code := runCLI(t, append([]string{"user", "add", admin, "--role", "admin"}, storage...)...); code != 0 && !strings.Contains(errOut, "already exists") {
		t.Fatalf("user add: %s %s", out, errOut)
	}
	out, errOut, code := runCLI(t, append([]string{"token", "create", admin}, storage...)...)
	token := strings.TrimSpace(strings.SplitN(out, "\n", 2)[0])
	if code != 0 || !strings.HasPrefix(token, "rmk_") {
		t.Fatalf("token create: %q %s", out, errOut)
	}
	cmd := exec.Command(binary, append([]string{"serve", "--addr", "127.0.0.1:0", "--data", data}, args...)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	logs := &bytes.Buffer{}
	cmd.Stderr = logs // read only after Wait
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &server{Data: data, cmd: cmd, logs: logs, Admin: admin, Token: token}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			t.Errorf("radmark serve did not stop on SIGTERM")
		}
		if t.Failed() {
			t.Logf("server log:\n%s", tail(logs.String(), 4000))
		}
	})
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default:
			}
		}
	}()
	select {
	case line := <-lines:
		i := strings.Index(line, "http://")
		if i < 0 {
			t.Fatalf("unexpected first line %q", line)
		}
		s.URL = strings.TrimSpace(line[i:])
		tr := http.DefaultTransport.(*authTransport)
		tr.mu.Lock()
		tr.tokens[strings.TrimPrefix(s.URL, "http://")] = token
		tr.mu.Unlock()
	case <-time.After(30 * time.Second):
		t.Fatalf("radmark serve did not start; log:\n%s", logs.String())
	}
	return s
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// runCLI runs the CLI and returns its output and exit code.
func runCLI(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return o.String(), e.String(), ee.ExitCode()
	}
	if err != nil {
		t.Fatal(err)
	}
	return o.String(), e.String(), 0
}

func get(t *testing.T, url, accept string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

// dicomJSON is a DICOM JSON object as decoded by encoding/json.
type dicomJSON map[string]struct {
	VR          string            `json:"vr"`
	Value       []json.RawMessage `json:"Value"`
	BulkDataURI string            `json:"BulkDataURI"`
}

// str returns the first value of tag as a string (PN: Alphabetic).
func (d dicomJSON) str(tag string) string {
	el, ok := d[tag]
	if !ok || len(el.Value) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(el.Value[0], &s) == nil {
		return s
	}
	var pn struct{ Alphabetic string }
	if json.Unmarshal(el.Value[0], &pn) == nil && pn.Alphabetic != "" {
		return pn.Alphabetic
	}
	return strings.Trim(string(el.Value[0]), `"`)
}
