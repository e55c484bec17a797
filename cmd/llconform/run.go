package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/llconform/llconform/internal/report"
	"github.com/llconform/llconform/vm/plan"
)

const generator = "llconform"

func runCmd(ctx context.Context, args []string) (int, error) {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	suiteDir := fs.String("suites", defaultSuiteDir(), "directory of the compiled suite binaries (<name>.test)")
	var out outputs
	out.register(fs, "out/host")
	var f filters
	fs.StringVar(&f.label, "label-filter", "", "Ginkgo label filter passed to every suite; abi<=N style comparisons allowed, e.g. 'fs && abi<=5'")
	fs.StringVar(&f.focus, "focus", "", "Ginkgo focus regexp passed to every suite")
	timeout := fs.Duration("timeout", 10*time.Minute, "time limit of each suite")
	if err := fs.Parse(args); err != nil {
		return exitUsage, err
	}
	if err := f.expand(); err != nil {
		return exitUsage, err
	}
	if fs.NArg() > 0 {
		return exitUsage, fmt.Errorf("run: unexpected arguments %q", fs.Args())
	}
	binaries, err := suiteBinaries(*suiteDir)
	if err != nil {
		return report.ExitInfra, err
	}
	outDir, err := filepath.Abs(out.dir)
	if err != nil {
		return report.ExitInfra, err
	}
	out.dir = outDir
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return report.ExitInfra, fmt.Errorf("create output directory: %w", err)
	}

	run := report.Run{Kernel: report.Kernel{Name: "host", Source: "running kernel"}}
	for _, name := range suiteNames {
		bin, ok := binaries[name]
		if !ok {
			continue
		}
		rep := filepath.Join(outDir, name+".json")
		s := plan.Suite{Name: name, Path: bin, Args: f.args(rep), Report: rep, Timeout: plan.Duration(*timeout)}
		fmt.Fprintf(os.Stderr, "suite %s: running\n", s.Name)
		o := s.Run(ctx, outDir, os.Environ())
		outPath := filepath.Join(outDir, s.Name+".log")
		if err := os.WriteFile(outPath, o.Output, 0o644); err != nil {
			return report.ExitInfra, fmt.Errorf("save %s output: %w", s.Name, err)
		}
		rs := importSuite(s.Name, o, outPath)
		fmt.Fprintf(os.Stderr, "suite %s: %s\n", s.Name, describeCounts(rs))
		if err := run.AddSuite(rs); err != nil {
			return report.ExitInfra, err
		}
		if ctx.Err() != nil {
			return report.ExitInfra, fmt.Errorf("interrupted: %w", ctx.Err())
		}
	}
	if run.Info != nil {
		run.Kernel.Release = run.Info.Release
	}

	res := &report.Result{Generator: generator, Time: time.Now().UTC(), Runs: []report.Run{run}}
	return out.finish(res, func(res *report.Result) error { return report.WriteSummary(os.Stdout, &res.Runs[0]) })
}

func describeCounts(s report.Suite) string {
	msg := fmt.Sprintf("%d passed, %d failed, %d skipped in %s", s.Counts.Passed, s.Counts.Failed, s.Counts.Skipped, s.Duration.Round(time.Millisecond))
	if s.Infra != nil {
		msg += " [" + s.Infra.Error() + "]"
	}
	return msg
}
