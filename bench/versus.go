package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
)

// -versus compares two radmark builds on STOW-RS ingest and C-STORE. This machine's
// speed drifts by 10–15 % between runs of the full benchmark, more than
// most single changes gain, so comparing two runs says little. Here both
// builds run side by side and take turns (the first one first on even
// rounds, the second on odd ones), each round sending both the same new
// CT, and the result is the median of the rounds' ratios: drift slower
// than a round cancels out.

// versusRounds is how many rounds each setting runs: twice the plan's
// ingest repetitions.
func (b *bench) versusRounds() int { return max(2, 2*b.plan.ingestReps) }

// versusPhases are the phases -versus compares.
var versusPhases = []string{"ingest", "cstore"}

// versusRun runs the comparison and prints Markdown tables on stdout.
func (b *bench) versusRun(ctx context.Context, stdout io.Writer) error {
	other, err := filepath.Abs(b.opts.versus)
	if err != nil {
		return err
	}
	if _, err := os.Stat(other); err != nil {
		return fmt.Errorf("-versus binary: %w", err)
	}
	rounds := b.versusRounds()
	fmt.Fprintf(stdout, "A: `%s`, B: `%s`; %s CT, %d rounds per setting, medians.\n\n", b.radmarkBin, other, b.plan.ingestCT, rounds)
	if b.opts.runs("ingest") {
		if err := b.versusIngest(ctx, stdout, other); err != nil {
			return err
		}
	}
	if b.opts.runs("cstore") {
		return b.versusCStore(ctx, stdout, other)
	}
	return nil
}

// versusIngest compares the builds on STOW-RS ingest, a row per uploader
// setting.
func (b *bench) versusIngest(ctx context.Context, stdout io.Writer, other string) error {
	var servers [2]*server
	defer stopAll(servers[:])
	err := b.startVersus(&servers, other, "versus", func(bin, dir string) (*server, error) {
		return startRadmark(ctx, bin, dir, false)
	})
	if err != nil {
		return err
	}
	b.logf("versus: A %s at %s, B %s at %s", b.radmarkBin, servers[0].root, other, servers[1].root)

	// Warm-up, untimed: the same CT into both.
	warm, err := generateCT(b.plan.ingestCT, 1)
	if err != nil {
		return err
	}
	for _, s := range servers {
		if _, err := sendStow(ctx, s, stowBodies(warm.files, warm.uids, 10), 2); err != nil {
			return fmt.Errorf("warm-up of %s: %w", s.name, err)
		}
	}

	rounds := b.versusRounds()
	fmt.Fprintln(stdout, "| uploader setting | A files/s | B files/s | B/A (median of the rounds' ratios) | rounds' B/A, lowest – highest |")
	fmt.Fprintln(stdout, "|---|---:|---:|---:|---|")
	for si, setting := range b.plan.ingestSettings {
		var rates [2][]float64
		var ratios []float64
		for r := range rounds {
			cts, bodies, err := b.ingestWorkload(setting, func(k int) uint64 { return uint64(2000 + 1000*si + 10*r + k) })
			if err != nil {
				return err
			}
			files, _ := workloadSize(cts)
			order := []int{0, 1}
			if r%2 == 1 {
				order = []int{1, 0}
			}
			var rate [2]float64
			for _, i := range order {
				quiesce(servers[:]...)
				elapsed, err := sendStow(ctx, servers[i], bodies, setting.concurrency)
				if err != nil {
					return err
				}
				rate[i] = float64(files) / elapsed.Seconds()
			}
			for _, ct := range cts {
				if err := b.checkStored(ctx, servers, ct); err != nil {
					return err
				}
			}
			rates[0] = append(rates[0], rate[0])
			rates[1] = append(rates[1], rate[1])
			ratios = append(ratios, rate[1]/rate[0])
			b.logf("versus %v, round %d: A %.1f, B %.1f files/s", setting, r+1, rate[0], rate[1])
		}
		lo, hi := ratios[0], ratios[0]
		for _, q := range ratios {
			lo, hi = min(lo, q), max(hi, q)
		}
		fmt.Fprintf(stdout, "| %v | %.1f | %.1f | %.3f | %.3f – %.3f |\n", setting, medianFloat(rates[0]), medianFloat(rates[1]), medianFloat(ratios), lo, hi)
	}
	return nil
}

// versusCStore compares the builds on C-STORE into a de-identifying
// project AE, as the cstore phase measures radmark against Orthanc: a new
// copy of the CT per round, sent by storescu to each in turn.
func (b *bench) versusCStore(ctx context.Context, stdout io.Writer, other string) error {
	storescu, err := exec.LookPath("storescu")
	if err != nil {
		return fmt.Errorf("comparing C-STORE needs dcmtk's storescu: %w", err)
	}
	var servers [2]*server
	defer stopAll(servers[:])
	err = b.startVersus(&servers, other, "versus-dimse", func(bin, dir string) (*server, error) {
		return b.startDeidRadmark(ctx, bin, dir)
	})
	if err != nil {
		return err
	}
	rounds := b.versusRounds()
	var rates [2][]float64
	var ratios []float64
	stored, nfiles := 0, 0
	// Round -1 is the warm-up, untimed.
	for r := -1; r < rounds; r++ {
		dir := fmt.Sprintf("versus-cstore-files-%d", r+1)
		ct, files, err := b.cstoreFiles(uint64(7000+r+1), dir)
		if err != nil {
			return err
		}
		var rate [2]float64
		for _, i := range []int{r & 1, 1 - r&1} {
			quiesce(servers[:]...)
			elapsed, err := sendCStore(ctx, storescu, servers[i], files)
			if err != nil {
				return err
			}
			rate[i] = float64(len(files)) / elapsed.Seconds()
		}
		stored, nfiles = stored+len(files), len(files)
		for _, s := range servers {
			if err := checkDeidStored(ctx, s, ct, stored); err != nil {
				return err
			}
		}
		if err := os.RemoveAll(filepath.Join(b.tmp, dir)); err != nil {
			return err
		}
		if r < 0 {
			continue
		}
		rates[0] = append(rates[0], rate[0])
		rates[1] = append(rates[1], rate[1])
		ratios = append(ratios, rate[1]/rate[0])
		b.logf("versus C-STORE, round %d: A %.1f, B %.1f files/s", r+1, rate[0], rate[1])
	}
	lo, hi := slices.Min(ratios), slices.Max(ratios)
	fmt.Fprintln(stdout)
	fmt.Fprintln(stdout, "| C-STORE with storescu, de-identifying | A files/s | B files/s | B/A (median of the rounds' ratios) | rounds' B/A, lowest – highest |")
	fmt.Fprintln(stdout, "|---|---:|---:|---:|---|")
	fmt.Fprintf(stdout, "| one association, %d files | %.1f | %.1f | %.3f | %.3f – %.3f |\n", nfiles, medianFloat(rates[0]), medianFloat(rates[1]), medianFloat(ratios), lo, hi)
	return nil
}

// startVersus starts -radmark as A and other as B, each with start in its
// own folder b.tmp/prefix-A or -B, named for the tables and logs.
func (b *bench) startVersus(servers *[2]*server, other, prefix string, start func(bin, dir string) (*server, error)) error {
	for i, bin := range []string{b.radmarkBin, other} {
		dir := filepath.Join(b.tmp, fmt.Sprintf("%s-%c", prefix, 'A'+i))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		s, err := start(bin, dir)
		if err != nil {
			return err
		}
		s.name = fmt.Sprintf("radmark %c (%s)", 'A'+i, bin)
		servers[i] = s
	}
	return nil
}

func stopAll(servers []*server) {
	for _, s := range servers {
		s.stop()
	}
}
