// Command bench measures radmark against Orthanc, its nearest open-source
// peer, in one run on one machine, and reports every figure as a ratio
// beside the absolute numbers.
//
//	go run ./bench -radmark bin/radmark [-out BENCHMARKS.md] [-quick]
//
// It starts radmark (embedded default storage: SQLite and a folder, fresh
// data directory) and Orthanc (fresh storage and SQLite index, DICOMweb
// plugin) side by side on 127.0.0.1, generates the same synthetic CT with
// package phantom and measures, on both servers:
//
//  1. STOW-RS ingest of the 300-slice 512×512 CT (files/s, MB/s) at several
//     batch sizes and concurrencies, plus radmark's offline `radmark ingest`;
//  2. QIDO-RS study search latency with 100,000 indexed instances (and the
//     time it took to fill each server);
//  3. WADO-RS frame latency, sequential and concurrent, for the Accept header
//     Cornerstone sends and for the uncompressed default;
//  4. WADO-RS retrieval of the whole series (MB/s) and series metadata
//     latency;
//  5. DIMSE C-STORE of the same CT with dcmtk's storescu (files/s), into a
//     radmark project AE title that de-identifies what it receives, and
//     into Orthanc's DICOM port.
//
// Why ratios, and why alternation: the machines this runs on are shared and
// noisy, so absolute numbers move from run to run; a ratio of two servers
// measured in the same minutes moves much less. Every measurement therefore
// alternates between the two servers (radmark first on even repetitions,
// Orthanc first on odd ones), after a warm-up, and reports medians.
//
// Why a separate program and not a Go benchmark: it starts real servers and
// takes minutes, and `go test ./...` must stay fast. bench_test.go runs a
// miniature of the whole thing as a smoke test.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// options are the command-line settings of one run.
type options struct {
	radmark       string
	orthanc       string
	orthancPlugin string
	out           string
	quick         bool
	keep          bool
	workDir       string
	only          []string
	profileDir    string
	radmarkSrc    string
	// versus is a second radmark binary to compare with -radmark on
	// STOW-RS ingest instead of Orthanc (see versus.go).
	versus string
	// ingest, when set, replaces the plan's STOW-RS uploader settings
	// (-ingest).
	ingest []stowSetting
	// plan overrides the full or quick plan (tests).
	plan *plan
	// command is how this run was started, printed so a reader can
	// reproduce it.
	command string
}

// phases are the measurements, in the order they run.
var phases = []string{"ingest", "frames", "series", "qido", "cstore"}

func parseOptions(args []string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.StringVar(&o.radmark, "radmark", "", "radmark binary to benchmark (required), e.g. bin/radmark")
	fs.StringVar(&o.orthanc, "orthanc", "/usr/sbin/Orthanc", "Orthanc binary")
	fs.StringVar(&o.orthancPlugin, "orthanc-dicomweb", "/usr/share/orthanc/plugins/libOrthancDicomWeb.so", "Orthanc DICOMweb plugin")
	fs.StringVar(&o.out, "out", "", "write the results into this Markdown file (e.g. BENCHMARKS.md), replacing its results section")
	fs.BoolVar(&o.quick, "quick", false, "fast check: 10,000 instances for QIDO-RS instead of 100,000, fewer repetitions")
	fs.BoolVar(&o.keep, "keep", false, "keep the servers' data directories and logs (their path is printed)")
	fs.StringVar(&o.workDir, "workdir", "", "parent of the temporary directory (default: the system temp dir)")
	only := fs.String("only", "", "comma-separated subset of phases to run: "+strings.Join(phases, ","))
	fs.StringVar(&o.profileDir, "profile", "", "also write CPU profiles of radmark for each phase into this directory (builds a profiling copy of radmark from -radmark-src; figures from such a run are not for the table)")
	fs.StringVar(&o.radmarkSrc, "radmark-src", ".", "radmark source tree (module root), for -profile")
	fs.StringVar(&o.versus, "versus", "", "instead of Orthanc, compare this second radmark binary with -radmark on STOW-RS ingest and C-STORE (two servers side by side, alternating rounds; a change's effect is then not lost in the machine's drift between runs); -only ingest or -only cstore restricts it")
	ingest := fs.String("ingest", "", "comma-separated STOW-RS uploader settings to run instead of the plan's, each FILESxCONCURRENT or FILESxCONCURRENTxCTS (files per request × requests in flight × CTs back to back), e.g. 1x4x4; not with -out")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if o.radmark == "" && o.profileDir == "" {
		fs.Usage()
		return o, errors.New("-radmark is required (build it with `make build`, then -radmark bin/radmark)")
	}
	if o.versus != "" {
		if o.out != "" || o.profileDir != "" {
			return o, errors.New("-versus writes no report and profiles nothing: it takes neither -out nor -profile")
		}
		for _, p := range strings.Split(*only, ",") {
			if p = strings.TrimSpace(p); p != "" && !slices.Contains(versusPhases, p) {
				return o, fmt.Errorf("-versus compares %s only, not %q", strings.Join(versusPhases, " and "), p)
			}
		}
		if o.radmark == "" {
			return o, errors.New("-versus needs -radmark, the build to compare with")
		}
	}
	if *ingest != "" {
		if o.out != "" {
			return o, errors.New("-ingest runs part of the plan: a results section needs all of it, so it takes no -out")
		}
		for _, spec := range strings.Split(*ingest, ",") {
			setting, err := parseStowSetting(strings.TrimSpace(spec))
			if err != nil {
				return o, fmt.Errorf("-ingest: %w", err)
			}
			o.ingest = append(o.ingest, setting)
		}
	}
	if *only != "" {
		for _, p := range strings.Split(*only, ",") {
			p = strings.TrimSpace(p)
			if !slices.Contains(phases, p) {
				return o, fmt.Errorf("-only: unknown phase %q (phases: %s)", p, strings.Join(phases, ", "))
			}
			o.only = append(o.only, p)
		}
	}
	o.command = "go run ./bench " + strings.Join(args, " ")
	return o, nil
}

func (o options) runs(phase string) bool {
	return len(o.only) == 0 || slices.Contains(o.only, phase)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseOptions(args, stderr)
	if err != nil {
		return err
	}
	return runWith(ctx, o, stdout, stderr)
}

// runWith runs the benchmark: results as Markdown on stdout (and in
// o.out), progress on stderr.
func runWith(ctx context.Context, o options, stdout, stderr io.Writer) error {
	b, err := newBench(ctx, o, stderr)
	if err != nil {
		return err
	}
	defer b.close()
	if o.versus != "" {
		return b.versusRun(ctx, stdout)
	}

	rep := &report{opts: o, plan: b.plan, started: time.Now().UTC()}
	rep.env = b.environment(ctx)
	b.env = &rep.env
	if o.runs("ingest") || o.runs("frames") || o.runs("series") {
		if err := b.imagingPhases(ctx, rep); err != nil {
			return err
		}
	}
	if o.runs("qido") {
		if err := b.qidoPhase(ctx, rep); err != nil {
			return err
		}
	}
	if o.runs("cstore") {
		if err := b.cstorePhase(ctx, rep); err != nil {
			return err
		}
	}
	rep.finished = time.Now().UTC()
	rep.env.loadEnd = loadAverage()

	md := rep.markdown()
	fmt.Fprintln(stdout, md)
	if o.out != "" {
		if err := updateMarkdownFile(o.out, md); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "bench: results written to %s\n", o.out)
	}
	return nil
}
