package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
)

// profiler builds and drives a profiling copy of radmark for -profile.
// radmark's own code is not changed: `go build -overlay` adds one file to
// cmd/radmark in the copy only, which serves start/stop of a CPU profile
// on a Unix socket named by an environment variable.
type profiler struct {
	binary string
	dir    string
}

// pprofSocketEnv names the socket; it is deliberately not RADMARK_*, which
// the benchmark strips from the servers' environment.
const pprofSocketEnv = "BENCH_RADMARK_PPROF_SOCKET"

const pprofOverlaySource = `package main

// Added by radmark's bench -profile through go build -overlay; not part of
// radmark.

import (
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
	"runtime/pprof"
	"sync"
)

func init() {
	socket := os.Getenv("` + pprofSocketEnv + `")
	if socket == "" {
		return
	}
	ln, err := net.Listen("unix", socket)
	if err != nil {
		panic(err)
	}
	var mu sync.Mutex
	var out *os.File
	http.HandleFunc("/bench/cpu/start", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		f, err := os.Create(r.URL.Query().Get("path"))
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		out = f
	})
	http.HandleFunc("/bench/cpu/stop", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		pprof.StopCPUProfile()
		if out != nil {
			out.Close()
			out = nil
		}
	})
	go http.Serve(ln, nil)
}
`

func newProfiler(ctx context.Context, src, outDir, tmp string) (*profiler, error) {
	src, err := filepath.Abs(src)
	if err != nil {
		return nil, err
	}
	if outDir, err = filepath.Abs(outDir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return nil, err
	}
	file := filepath.Join(tmp, "bench_pprof.go")
	if err := os.WriteFile(file, []byte(pprofOverlaySource), 0o644); err != nil {
		return nil, err
	}
	overlay, err := json.Marshal(map[string]any{"Replace": map[string]string{
		filepath.Join(src, "cmd", "radmark", "zz_bench_pprof.go"): file,
	}})
	if err != nil {
		return nil, err
	}
	overlayPath := filepath.Join(tmp, "overlay.json")
	if err := os.WriteFile(overlayPath, overlay, 0o644); err != nil {
		return nil, err
	}
	binary := filepath.Join(tmp, "radmark-profiling")
	cmd := exec.CommandContext(ctx, "go", "build", "-overlay", overlayPath, "-o", binary, "./cmd/radmark")
	cmd.Dir = src
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build the profiling copy of radmark: %v: %s", err, out)
	}
	return &profiler{binary: binary, dir: outDir}, nil
}

// profiled runs fn; with -profile, radmark's CPU profile of it is written
// to DIR/phase.pprof.
func (b *bench) profiled(servers [2]*server, phase string, fn func() error) error {
	s := servers[radmarkIdx]
	if b.prof == nil || s.pprofSocket == "" {
		return fn()
	}
	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", s.pprofSocket)
		},
	}}
	call := func(path string) error {
		resp, err := client.Get("http://radmark" + path)
		if err != nil {
			return err
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("profiler %s: %s: %s", path, resp.Status, body)
		}
		return nil
	}
	out := filepath.Join(b.prof.dir, phase+".pprof")
	if err := call("/bench/cpu/start?path=" + url.QueryEscape(out)); err != nil {
		return err
	}
	err := fn()
	if serr := call("/bench/cpu/stop"); err == nil {
		err = serr
	}
	b.logf("radmark CPU profile of %s: %s", phase, out)
	return err
}
