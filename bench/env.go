package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
)

// environment is what a reader needs to judge and reproduce the numbers.
type environment struct {
	cpu       string
	cores     int
	memory    string
	kernel    string
	loadStart string
	loadEnd   string
	goVersion string

	radmarkVersion string // what the binary says
	radmarkBinary  string // path, sha256 prefix
	treeCommit     string // the working tree bench ran in

	orthancVersion  string
	dicomwebVersion string
	tempDir         string
	tempFS          string // file system type and device of tempDir
}

// mountOf returns "TYPE on DEVICE" for the file system holding path, from
// /proc/self/mounts (the longest mount point that prefixes it).
func mountOf(path string) string {
	b, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		return "unknown file system"
	}
	best, found := -1, "unknown file system"
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 {
			continue
		}
		mp := f[1]
		if (path == mp || strings.HasPrefix(path, strings.TrimSuffix(mp, "/")+"/")) && len(mp) > best {
			best, found = len(mp), f[2]+" on "+f[0]
		}
	}
	return found
}

func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

func memTotal() string {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(b), "\n") {
		var kb int64
		if _, err := fmt.Sscanf(line, "MemTotal: %d kB", &kb); err == nil {
			return fmt.Sprintf("%.1f GB", float64(kb)*1024/1e9)
		}
	}
	return "unknown"
}

func commandOutput(ctx context.Context, dir, name string, args ...string) string {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}

func fileDigest(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "unknown"
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}

func (b *bench) environment(ctx context.Context) environment {
	e := environment{
		cpu:       cpuModel(),
		cores:     runtime.NumCPU(),
		memory:    memTotal(),
		loadStart: loadAverage(),
		goVersion: runtime.Version(),
		tempDir:   b.tmp,
		tempFS:    mountOf(b.tmp),
	}
	if k, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		e.kernel = "Linux " + strings.TrimSpace(string(k))
	}
	e.radmarkVersion = commandOutput(ctx, "", b.radmarkBin, "version")
	e.radmarkBinary = fmt.Sprintf("%s (sha256 %s)", b.opts.radmark, fileDigest(b.radmarkBin))
	if b.prof != nil {
		e.radmarkBinary = "profiling build of " + b.opts.radmarkSrc
	}
	e.treeCommit = fmt.Sprintf("%s (%s)",
		commandOutput(ctx, b.opts.radmarkSrc, "git", "describe", "--always", "--dirty"),
		commandOutput(ctx, b.opts.radmarkSrc, "git", "rev-parse", "HEAD"))
	e.orthancVersion = strings.TrimSpace(strings.SplitN(commandOutput(ctx, "", b.opts.orthanc, "--version"), "\n", 2)[0])
	return e
}

// noteOrthancPlugin records the DICOMweb plugin version the running
// Orthanc reports.
func noteOrthancPlugin(ctx context.Context, s *server, e *environment) {
	body, _, _, err := s.get(ctx, s.root+"/plugins/dicom-web", "application/json")
	if err != nil {
		return
	}
	var p struct{ Version string }
	if json.Unmarshal(body, &p) == nil {
		e.dicomwebVersion = p.Version
	}
}
