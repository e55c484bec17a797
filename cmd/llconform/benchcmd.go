package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	iofs "io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/llconform/llconform/bench"
	"github.com/llconform/llconform/bench/result"
	"github.com/llconform/llconform/internal/atomicfile"
	"github.com/llconform/llconform/internal/verdict"
)

func benchCmd(ctx context.Context, args []string) (int, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	out := fs.String("out", "out/bench", "directory for bench.json, bench.txt (benchstat format) and plots")
	quick := fs.Bool("quick", false, "fewer points and shorter samples (about 30 s), for smoke tests")
	samples := fs.Int("samples", 0, "samples per arm (at least 10; default 20, or 10 with --quick)")
	scenarios := fs.String("scenarios", "", "comma-separated scenarios to run (default all: "+strings.Join(bench.Scenarios(), ", ")+")")
	cpu := fs.String("cpu", "auto", "pin the measuring threads: auto, none or a CPU number")
	cpuTime := fs.Bool("cpu-time", false, "time with the thread's CPU time (as fs_bench does) instead of the wall clock")
	timing := fs.String("timing", "", "label of the clock the figures come from (default: host wall clock)")
	inject := fs.Float64("inject-slowdown", 0, "slow every Landlock arm by this many percent with extra getppid calls, to check that compare flags it")
	gate := fs.Float64("speed-gate", 10, "retake rounds during which getppid ran this many percent slower than its fastest (0: keep every round)")
	if err := fs.Parse(args); err != nil {
		return exitUsage, err
	}
	opts := bench.Options{Quick: *quick, Samples: *samples, CPU: *cpu, CPUTime: *cpuTime, TimingMode: *timing, SpeedGate: *gate, InjectSlowdown: *inject, Log: os.Stderr}
	if *scenarios != "" {
		opts.Scenarios = strings.Split(*scenarios, ",")
	}
	if fs.NArg() > 0 {
		return exitUsage, fmt.Errorf("bench: unexpected arguments %q", fs.Args())
	}
	if err := opts.Check(); err != nil {
		return exitUsage, err
	}
	// The Audit scenario turns auditing on and raises the backlog limit.
	restore, err := guardHostState(ctx)
	if err != nil {
		return 1, err
	}
	defer restore()
	r, runErr := bench.Run(ctx, opts)
	if r == nil {
		return 1, runErr
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return 1, err
	}
	if err := r.WriteFile(filepath.Join(*out, "bench.json")); err != nil {
		return 1, err
	}
	if err := atomicfile.Write(filepath.Join(*out, "bench.txt"), func(f io.Writer) error { return bench.WriteBenchstat(f, r) }); err != nil {
		return 1, err
	}
	plots, err := bench.WritePlots(filepath.Join(*out, "plots"), r)
	if err != nil {
		return 1, err
	}
	if err := bench.WriteTable(os.Stdout, r); err != nil {
		return 1, err
	}
	fmt.Printf("\nresults: %s/{bench.json,bench.txt}, %d plots in %s/plots\n", *out, len(plots), *out)
	if runErr != nil {
		return 1, runErr
	}
	return 0, nil
}

func compareCmd(_ context.Context, args []string) (int, error) {
	fs := flag.NewFlagSet("compare", flag.ContinueOnError)
	alpha := fs.Float64("alpha", 0.05, "significance level of the Mann-Whitney U test")
	threshold := fs.Float64("threshold", 5, "slowdown in percent past which a significant change fails")
	gate := fs.String("gate", "ratio", "metrics that can fail the comparison: comma-separated of ratio, on, off")
	plots := fs.String("plots", "", "also write comparison plots (one line per result) to this directory")
	if err := fs.Parse(args); err != nil {
		return exitUsage, err
	}
	if fs.NArg() != 2 {
		return exitUsage, fmt.Errorf("compare: want two bench.json files (old, new)")
	}
	// Read both before comparing: exit 1 means a slowdown, never a file that could not be read.
	oldR, err := bench.ReadResult(fs.Arg(0))
	if err != nil {
		return readResultStatus(err), fmt.Errorf("compare: old: %w", err)
	}
	newR, err := bench.ReadResult(fs.Arg(1))
	if err != nil {
		return readResultStatus(err), fmt.Errorf("compare: new: %w", err)
	}
	c, code := bench.Compare(oldR, newR, bench.CompareOptions{Alpha: *alpha, Threshold: *threshold, Gate: strings.Split(*gate, ",")})
	if err := c.Write(os.Stdout); err != nil {
		return 1, err
	}
	if *plots != "" {
		if _, err := bench.WritePlots(*plots, oldR, newR); err != nil {
			return 1, err
		}
	}
	return code, nil
}

func plotCmd(_ context.Context, args []string) (int, error) {
	fs := flag.NewFlagSet("plot", flag.ContinueOnError)
	out := fs.String("out", "", "also write one SVG plot per swept series to this directory")
	if err := fs.Parse(args); err != nil {
		return exitUsage, err
	}
	if fs.NArg() == 0 {
		return exitUsage, fmt.Errorf("plot: want one or more bench.json files")
	}
	var results []*bench.Result
	for _, f := range fs.Args() {
		r, err := bench.ReadResult(f)
		if err != nil {
			return readResultStatus(err), fmt.Errorf("plot: %w", err)
		}
		results = append(results, r)
	}
	if err := bench.WriteSlopes(os.Stdout, nil, results...); err != nil {
		return 1, err
	}
	if *out != "" {
		files, err := bench.WritePlots(*out, results...)
		if err != nil {
			return 1, err
		}
		fmt.Printf("\n%d plots in %s\n", len(files), *out)
	}
	return 0, nil
}

// readResultStatus is the exit status of a bench result that could not be read: usage (64)
// for a file that does not exist or is not a bench result, infrastructure (2) for any other
// I/O failure. Never 1, which compare gives a significant slowdown.
func readResultStatus(err error) int {
	if errors.Is(err, result.ErrNotResult) || errors.Is(err, iofs.ErrNotExist) {
		return exitUsage
	}
	return verdict.ExitInfra
}
