package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// Indexes of the two servers in per-server result arrays.
const (
	radmarkIdx = 0
	orthancIdx = 1
)

// bench is one run: its options, plan, temporary directory and tools.
type bench struct {
	opts options
	plan plan
	log  io.Writer
	tmp  string
	shim string // LD_PRELOAD library that keeps Orthanc on loopback
	// radmarkBin is the binary started (the profiling build with -profile).
	radmarkBin string
	prof       *profiler
	// env is the report's environment, completed as servers start.
	env *environment
}

func newBench(ctx context.Context, o options, log io.Writer) (*bench, error) {
	b := &bench{opts: o, log: log, radmarkBin: o.radmark}
	switch {
	case o.plan != nil:
		b.plan = *o.plan
	case o.quick:
		b.plan = quickPlan()
	default:
		b.plan = fullPlan()
	}
	if o.ingest != nil {
		b.plan.ingestSettings = o.ingest
	}
	// A comparison of two radmark builds (-versus) needs no Orthanc.
	for _, f := range []string{o.orthanc, o.orthancPlugin} {
		if _, err := os.Stat(f); err != nil && o.versus == "" {
			return nil, fmt.Errorf("%w (install Debian's orthanc and orthanc-dicomweb: scripts/install-deps.sh test)", err)
		}
	}
	tmp, err := os.MkdirTemp(o.workDir, "radmark-bench-*")
	if err != nil {
		return nil, err
	}
	b.tmp = tmp
	if b.shim, err = buildLoopbackShim(ctx, tmp); err != nil {
		b.close()
		return nil, err
	}
	if o.profileDir != "" {
		if b.prof, err = newProfiler(ctx, o.radmarkSrc, o.profileDir, tmp); err != nil {
			b.close()
			return nil, err
		}
		b.radmarkBin = b.prof.binary
	}
	if b.radmarkBin, err = filepath.Abs(b.radmarkBin); err != nil {
		b.close()
		return nil, err
	}
	if _, err := os.Stat(b.radmarkBin); err != nil {
		b.close()
		return nil, fmt.Errorf("radmark binary: %w (build it with `make build`)", err)
	}
	return b, nil
}

func (b *bench) close() {
	if b.opts.keep {
		fmt.Fprintf(b.log, "bench: kept %s\n", b.tmp)
		return
	}
	_ = os.RemoveAll(b.tmp)
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.log, "bench: "+format+"\n", args...)
}

// pair starts radmark and Orthanc, each in its own fresh directory under
// the run's temporary directory. The caller calls stop, also after an
// error (it stops whichever server did start).
func (b *bench) pair(ctx context.Context, label string) ([2]*server, func(), error) {
	var servers [2]*server
	stop := func() { stopAll(servers[:]) }
	rdir, odir := filepath.Join(b.tmp, label+"-radmark"), filepath.Join(b.tmp, label+"-orthanc")
	for _, d := range []string{rdir, odir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return servers, stop, err
		}
	}
	var err error
	if servers[radmarkIdx], err = startRadmark(ctx, b.radmarkBin, rdir, b.prof != nil); err != nil {
		return servers, stop, err
	}
	if servers[orthancIdx], err = startOrthanc(ctx, b.opts.orthanc, b.opts.orthancPlugin, b.shim, odir, false); err != nil {
		return servers, stop, err
	}
	if b.env != nil && b.env.dicomwebVersion == "" {
		noteOrthancPlugin(ctx, servers[orthancIdx], b.env)
	}
	b.logf("%s: radmark at %s, Orthanc at %s", label, servers[radmarkIdx].root, servers[orthancIdx].root)
	return servers, stop, nil
}

// inTurn returns the servers in the order of turn i: radmark first on even
// turns, Orthanc first on odd ones, so neither always runs on the cooler
// (or hotter) machine, page cache or CPU frequency.
func inTurn(i int, servers [2]*server) []*server {
	if i%2 == 0 {
		return []*server{servers[radmarkIdx], servers[orthancIdx]}
	}
	return []*server{servers[orthancIdx], servers[radmarkIdx]}
}

func index(s *server) int {
	if s.name == "radmark" {
		return radmarkIdx
	}
	return orthancIdx
}

// parallel runs job(i) for i in [0, n) on workers goroutines and returns
// the wall time and the first error.
func parallel(n, workers int, job func(i int) error) (time.Duration, error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	start := time.Now()
	for w := 0; w < min(workers, n); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := job(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					next.Store(int64(n)) // stop handing out work
					return
				}
			}
		}()
	}
	wg.Wait()
	return time.Since(start), first
}

// sendStow sends the bodies to s with the given concurrency.
func sendStow(ctx context.Context, s *server, bodies []stowBody, concurrency int) (time.Duration, error) {
	return parallel(len(bodies), concurrency, func(i int) error { return s.stow(ctx, bodies[i]) })
}

// countSeriesInstances asks QIDO-RS how many instances of a series the
// server holds: the check that what was acknowledged is also searchable.
func countSeriesInstances(ctx context.Context, s *server, study, series string) (int, error) {
	body, _, _, err := s.get(ctx, fmt.Sprintf("%s/studies/%s/series/%s/instances?limit=100000", s.dicomweb, study, series), acceptJSON)
	if err != nil {
		return 0, err
	}
	return qidoCount(body)
}

func (b *bench) checkStored(ctx context.Context, servers [2]*server, ct *ctSeries) error {
	for _, s := range servers {
		n, err := countSeriesInstances(ctx, s, ct.studyUID, ct.seriesUID)
		if err != nil {
			return err
		}
		if n != len(ct.files) {
			return fmt.Errorf("%s holds %d instances of the series after acknowledging %d", s.name, n, len(ct.files))
		}
	}
	return nil
}
