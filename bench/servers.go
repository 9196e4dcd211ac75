package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// server is one running DICOMweb server under test.
type server struct {
	name     string // "radmark" or "Orthanc", as printed in tables
	root     string // http://127.0.0.1:PORT
	dicomweb string // the DICOMweb root URL, without a trailing slash
	client   *http.Client
	dir      string // its private temporary directory
	logPath  string
	// pprofSocket is where a profiling copy of radmark takes profile
	// commands (-profile only).
	pprofSocket string
	// dicomPort is the DIMSE port on 127.0.0.1 (the cstore phase only;
	// 0: none) and dicomAE the AE title a C-STORE there is called.
	dicomPort int
	dicomAE   string

	cmd    *exec.Cmd
	exited chan struct{} // closed when the process has exited
	logf   *os.File
}

// newClient returns the HTTP client used for a server: keep-alive
// connections enough for the highest concurrency, and no Accept-Encoding.
// Go's client asks for gzip unless told not to, and Orthanc (HTTP
// compression on by default) would then spend CPU compressing pixel data
// on loopback; neither server should be measured doing that.
func newClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		MaxIdleConns:        64,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     5 * time.Minute,
		DisableCompression:  true,
		Proxy:               nil, // never go through an HTTP proxy from the environment
	}}
}

// cleanEnv is the environment minus variables that would change how the
// servers run: radmark reads every flag from RADMARK_*, and the benchmark
// must measure the embedded default.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "RADMARK_") || strings.HasPrefix(kv, "LD_PRELOAD=") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

var listeningLine = regexp.MustCompile(`listening on (http://\S+)`)

// startRadmark runs `radmark serve` on a free loopback port with a fresh
// data directory and the embedded default storage; extra are further
// flags of `radmark serve`. Started again on the same directory, it
// serves the same data with the same token.
func startRadmark(ctx context.Context, binary, dir string, profiling bool, extra ...string) (*server, error) {
	s := &server{name: "radmark", dir: dir, logPath: filepath.Join(dir, "radmark.log"), client: newClient()}
	logf, err := os.Create(s.logPath)
	if err != nil {
		return nil, err
	}
	s.logf = logf
	// Every request to radmark needs an identity: a site admin's API
	// token, made offline before the server starts, signs them all.
	token, err := radmarkToken(ctx, binary, dir)
	if err != nil {
		logf.Close()
		return nil, err
	}
	s.client.Transport = bearer{base: s.client.Transport, token: token}
	// --log-level warn: Orthanc's default log also shows warnings only, so
	// neither server formats a line per request.
	cmd := exec.Command(binary, append([]string{"serve", "--addr", "127.0.0.1:0", "--data", filepath.Join(dir, "data"), "--log-level", "warn"}, extra...)...)
	cmd.Env = cleanEnv()
	if profiling {
		s.pprofSocket = filepath.Join(dir, "pprof.sock")
		// A previous run on this directory leaves its socket file behind.
		_ = os.Remove(s.pprofSocket)
		cmd.Env = append(cmd.Env, pprofSocketEnv+"="+s.pprofSocket)
	}
	cmd.Stderr = logf
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		logf.Close()
		return nil, err
	}
	if err := s.start(cmd); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start radmark: %w", err)
	}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		_, _ = io.Copy(logf, stdout)
	}()
	select {
	case line, ok := <-lines:
		m := listeningLine.FindStringSubmatch(line)
		if !ok || m == nil {
			s.stop()
			return nil, fmt.Errorf("radmark did not print its address (first line %q); log: %s", line, s.logTail())
		}
		s.root = m[1]
	case <-time.After(60 * time.Second):
		s.stop()
		return nil, fmt.Errorf("radmark did not start within 60 s; log: %s", s.logTail())
	case <-ctx.Done():
		s.stop()
		return nil, ctx.Err()
	}
	s.dicomweb = s.root + "/dicomweb"
	if err := s.waitReady(ctx, s.root+"/readyz", nil); err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}

// radmarkToken makes a site admin in the data directory (dir/data) and
// returns an API token of theirs, kept in dir/token for a restart.
func radmarkToken(ctx context.Context, binary, dir string) (string, error) {
	tokenFile := filepath.Join(dir, "token")
	if b, err := os.ReadFile(tokenFile); err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	data := filepath.Join(dir, "data")
	for _, args := range [][]string{{"user", "add", "bench", "--role", "admin", "--data", data}, {"token", "create", "bench", "--data", data}} {
		cmd := exec.CommandContext(ctx, binary, args...)
		cmd.Env = cleanEnv()
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		if err := cmd.Run(); err != nil {
			return "", fmt.Errorf("radmark %s: %w: %s", strings.Join(args[:2], " "), err, errOut.String())
		}
		if args[0] == "token" {
			token, _, _ := strings.Cut(out.String(), "\n")
			token = strings.TrimSpace(token)
			return token, os.WriteFile(tokenFile, []byte(token), 0o600)
		}
	}
	return "", nil
}

// bearer signs requests with an API token.
type bearer struct {
	base  http.RoundTripper
	token string
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.base.RoundTrip(r)
}

// orthancAE is the AE title of Orthanc's DICOM port, when it is on.
const orthancAE = "ORTHANC"

// orthancConfig is everything we set; the rest are Orthanc's defaults.
// dicomPort 0 leaves the DICOM port off.
func orthancConfig(name, dir string, port, dicomPort int, plugin string) map[string]any {
	cfg := map[string]any{
		"Name":             name,
		"StorageDirectory": filepath.Join(dir, "storage"),
		"IndexDirectory":   filepath.Join(dir, "index"),
		"HttpPort":         port,
		// Off unless a phase sends over DIMSE: everything else goes
		// through DICOMweb, and a DICOM port would be one more listener.
		"DicomServerEnabled":    false,
		"RemoteAccessAllowed":   false,
		"AuthenticationEnabled": false,
		"Plugins":               []string{plugin},
		"DicomWeb": map[string]any{
			"Enable": true,
			"Root":   "/dicom-web/",
		},
	}
	if dicomPort > 0 {
		// Otherwise Orthanc's defaults: any calling AE may store
		// (DicomAlwaysAllowStore), the called AE title is not checked.
		cfg["DicomServerEnabled"] = true
		cfg["DicomPort"] = dicomPort
		cfg["DicomAet"] = orthancAE
	}
	return cfg
}

// startOrthanc runs Orthanc with a fresh storage directory and SQLite
// index, its DICOMweb plugin, and HTTP on a free port of 127.0.0.1 only.
// Orthanc 1.10 has no bind-address option (it listens on every
// interface), so a tiny LD_PRELOAD library (loopbackShim) turns its
// wildcard bind into a loopback bind; startOrthanc then checks in
// /proc/net that nothing listens beyond 127.0.0.1. With dicom set its
// DICOM port is on too, at a free port.
func startOrthanc(ctx context.Context, binary, plugin, shim, dir string, dicom bool) (*server, error) {
	if _, err := os.Stat(plugin); err != nil {
		return nil, fmt.Errorf("the Orthanc DICOMweb plugin: %w", err)
	}
	var lastErr error
	// A free port found by listening and closing can be taken by someone
	// else before Orthanc binds it; try again with another.
	for attempt := 0; attempt < 3; attempt++ {
		s, err := tryStartOrthanc(ctx, binary, plugin, shim, dir, attempt, dicom)
		if err == nil {
			return s, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		lastErr = err
	}
	return nil, lastErr
}

func tryStartOrthanc(ctx context.Context, binary, plugin, shim, dir string, attempt int, dicom bool) (*server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	dicomPort := 0
	if dicom {
		if dicomPort, err = freePort(); err != nil {
			return nil, err
		}
	}
	name := fmt.Sprintf("radmark-bench-%d-%d", os.Getpid(), port)
	s := &server{name: "Orthanc", dir: dir, logPath: filepath.Join(dir, fmt.Sprintf("orthanc-%d.log", attempt)), client: newClient()}
	s.root = fmt.Sprintf("http://127.0.0.1:%d", port)
	s.dicomweb = s.root + "/dicom-web"
	s.dicomPort, s.dicomAE = dicomPort, orthancAE
	cfg, err := json.MarshalIndent(orthancConfig(name, dir, port, dicomPort, plugin), "", "  ")
	if err != nil {
		return nil, err
	}
	cfgPath := filepath.Join(dir, "orthanc.json")
	if err := os.WriteFile(cfgPath, cfg, 0o644); err != nil {
		return nil, err
	}
	logf, err := os.Create(s.logPath)
	if err != nil {
		return nil, err
	}
	s.logf = logf
	cmd := exec.Command(binary, cfgPath)
	cmd.Env = append(cleanEnv(), "LD_PRELOAD="+shim)
	if dicom {
		// Orthanc's DICOM networking is dcmtk's, which leaves Nagle's
		// algorithm on when TCP_NODELAY=0 (or, in some builds, unset):
		// its small C-STORE responses then wait for the peer's delayed
		// ACK. The sender runs with TCP_NODELAY=1; so does Orthanc, so
		// that neither side measures that wait.
		cmd.Env = append(cmd.Env, "TCP_NODELAY=1")
	}
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.Dir = dir
	if err := s.start(cmd); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start Orthanc: %w", err)
	}
	// /system names the server, so we know the answer comes from our
	// Orthanc and not from something else that got the port.
	check := func(body []byte) bool {
		var sys struct{ Name string }
		return json.Unmarshal(body, &sys) == nil && sys.Name == name
	}
	if err := s.waitReady(ctx, s.root+"/system", check); err != nil {
		s.stop()
		return nil, err
	}
	if err := loopbackOnly(s.cmd.Process.Pid, port); err != nil {
		s.stop()
		return nil, err
	}
	if dicom {
		if err := loopbackOnly(s.cmd.Process.Pid, dicomPort); err != nil {
			s.stop()
			return nil, err
		}
	}
	return s, nil
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func (s *server) start(cmd *exec.Cmd) error {
	if err := cmd.Start(); err != nil {
		return err
	}
	s.cmd = cmd
	s.exited = make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(s.exited)
	}()
	return nil
}

// waitReady polls url until it answers 200 (and check accepts the body),
// the process exits, or a minute passes.
func (s *server) waitReady(ctx context.Context, url string, check func([]byte) bool) error {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-s.exited:
			return fmt.Errorf("%s exited during start-up; log: %s", s.name, s.logTail())
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
		if resp, err := s.client.Do(req); err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && (check == nil || check(body)) {
				return nil
			}
			if check != nil && resp.StatusCode == http.StatusOK {
				return fmt.Errorf("%s: another server answers on %s", s.name, url)
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready at %s within 60 s; log: %s", s.name, url, s.logTail())
}

// stop ends the server gracefully (SIGTERM, as an operator would), then
// kills it if it has not exited in 30 s. Only our own child is signalled.
func (s *server) stop() {
	if s == nil || s.cmd == nil || s.cmd.Process == nil {
		return
	}
	select {
	case <-s.exited:
	default:
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.exited:
		case <-time.After(30 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.exited
		}
	}
	if s.logf != nil {
		_ = s.logf.Close()
	}
	s.client.CloseIdleConnections()
}

// quiesce waits until neither server has used CPU for a while (their
// background work from the last run is over: radmark's journal moving
// objects into its folder tree, Orthanc's own), then writes the page
// cache's dirty data back (sync), so that each timed run starts from the
// same state and neither server's left-over work — CPU or writeback —
// lands in the other's time. It gives up waiting after 30 s.
func quiesce(servers ...*server) {
	const window, ticks = 100 * time.Millisecond, 3
	deadline := time.Now().Add(30 * time.Second)
	last, quiet := time.Duration(-1), 0
	for quiet < ticks && time.Now().Before(deadline) {
		var total time.Duration
		for _, s := range servers {
			total += s.cpuTime()
		}
		// One clock tick of CPU per window is an idle server's noise.
		if last >= 0 && total-last <= time.Second/clockTicks {
			quiet++
		} else {
			quiet = 0
		}
		last = total
		time.Sleep(window)
	}
	syscall.Sync()
}

// ownCPUTime is the CPU time (user + system, all threads) this program
// has used so far: the uploader's share of the machine, which both
// servers' runs pay alike.
func ownCPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// clockTicks is the unit of utime and stime in /proc/PID/stat: USER_HZ,
// 100 on every Linux architecture Go supports.
const clockTicks = 100

// cpuTime is the CPU time (user + system, all threads) the server process
// has used so far, from /proc/PID/stat. The difference over a measurement
// says how much work the server did per request, which the wall-clock
// rate alone cannot tell apart from waiting for the disk.
func (s *server) cpuTime() time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	// The command name (field 2) may hold spaces; fields after its
	// closing parenthesis are positional. utime and stime are fields 14
	// and 15 of the whole line.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / clockTicks
}

// logTail is the end of the server's log, for error messages.
func (s *server) logTail() string {
	b, err := os.ReadFile(s.logPath)
	if err != nil {
		return "(no log)"
	}
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return strings.TrimSpace(string(b))
}

// diskUsage is the size of the server's data on disk, in bytes.
func (s *server) diskUsage() int64 {
	var n int64
	_ = filepath.WalkDir(s.dir, func(_ string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// loopbackShimSource is compiled into the LD_PRELOAD library given to
// Orthanc: a bind() to the IPv4 or IPv6 wildcard address becomes a bind
// to the loopback address; every other bind is passed through unchanged.
const loopbackShimSource = `#define _GNU_SOURCE
#include <dlfcn.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

typedef int (*bind_fn)(int, const struct sockaddr *, socklen_t);

int bind(int fd, const struct sockaddr *addr, socklen_t len) {
	static bind_fn real_bind;
	if (!real_bind)
		real_bind = (bind_fn)dlsym(RTLD_NEXT, "bind");
	if (addr && addr->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
		struct sockaddr_in a;
		memcpy(&a, addr, sizeof a);
		if (a.sin_addr.s_addr == htonl(INADDR_ANY)) {
			a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
			return real_bind(fd, (const struct sockaddr *)&a, sizeof a);
		}
	}
	if (addr && addr->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
		struct sockaddr_in6 a;
		memcpy(&a, addr, sizeof a);
		if (memcmp(&a.sin6_addr, &in6addr_any, sizeof a.sin6_addr) == 0) {
			a.sin6_addr = in6addr_loopback;
			return real_bind(fd, (const struct sockaddr *)&a, sizeof a);
		}
	}
	return real_bind(fd, addr, len);
}
`

// buildLoopbackShim compiles loopbackShimSource with the system C
// compiler (radmark's cgo build needs one anyway) into dir.
func buildLoopbackShim(ctx context.Context, dir string) (string, error) {
	src := filepath.Join(dir, "loopback_shim.c")
	lib := filepath.Join(dir, "loopback_shim.so")
	if err := os.WriteFile(src, []byte(loopbackShimSource), 0o644); err != nil {
		return "", err
	}
	cc := os.Getenv("CC")
	if cc == "" {
		cc = "cc"
	}
	out, err := exec.CommandContext(ctx, cc, "-shared", "-fPIC", "-O2", "-o", lib, src, "-ldl").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("compile the loopback shim for Orthanc (needs a C compiler; Orthanc 1.10 cannot bind to 127.0.0.1 only by itself): %v: %s", err, out)
	}
	return lib, nil
}

// loopbackOnly checks that every TCP listening socket of process pid is
// bound to 127.0.0.1 or ::1 and that one of them is port.
func loopbackOnly(pid, port int) error {
	inodes := map[string]bool{}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return fmt.Errorf("inspect Orthanc's sockets: %w", err)
	}
	for _, fd := range fds {
		target, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if err == nil && strings.HasPrefix(target, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(target, "socket:["), "]")] = true
		}
	}
	found := false
	for _, table := range []string{"tcp", "tcp6"} {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/%s", pid, table))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) < 10 || f[3] != "0A" || !inodes[f[9]] { // 0A: LISTEN
				continue
			}
			addr, portHex, _ := strings.Cut(f[1], ":")
			p, _ := strconv.ParseInt(portHex, 16, 32)
			if addr != "0100007F" && addr != "00000000000000000000000001000000" {
				return fmt.Errorf("the Orthanc process listens on %s port %d, not only on loopback", addr, p)
			}
			if int(p) == port {
				found = true
			}
		}
	}
	if !found {
		return fmt.Errorf("no Orthanc listener on port %d in /proc/net/tcp", port)
	}
	return nil
}

// CloseIdleConnections lets http.Client close the base transport's idle
// connections.
func (b bearer) CloseIdleConnections() {
	if c, ok := b.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}
