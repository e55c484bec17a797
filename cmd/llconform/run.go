package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/llconform/llconform/collect"
	"github.com/llconform/llconform/internal/render"
	"github.com/llconform/llconform/internal/report"
	"github.com/llconform/llconform/internal/verdict"
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
	if fs.NArg() > 0 {
		return exitUsage, fmt.Errorf("run: unexpected arguments %q", fs.Args())
	}
	if err := f.expand(); err != nil {
		return exitUsage, err
	}
	if err := out.readInputs(); err != nil {
		return exitUsage, err
	}
	lock, code, err := out.lock() // also creates the directory and makes out.dir absolute
	if err != nil {
		return code, err
	}
	defer lock.Release()
	binaries, err := plan.FindSuites(*suiteDir)
	if err != nil {
		return verdict.ExitInfra, err
	}
	outDir := out.dir

	var suites []report.Suite
	for _, b := range binaries {
		rep := filepath.Join(outDir, b.Name+".json")
		s := plan.Suite{Name: b.Name, Path: b.Path, Args: f.args(rep), Report: rep, Timeout: plan.Duration(*timeout)}
		fmt.Fprintf(os.Stderr, "suite %s: running\n", s.Name)
		rs, err := collect.Suite(s.Name, s.Run(ctx, outDir, os.Environ()), outDir)
		if err != nil {
			return verdict.ExitInfra, err
		}
		fmt.Fprintf(os.Stderr, "suite %s: %s\n", s.Name, describeCounts(rs))
		suites = append(suites, rs)
		if ctx.Err() != nil {
			return verdict.ExitInfra, fmt.Errorf("interrupted: %w", ctx.Err())
		}
	}
	run, err := collect.Host(suites)
	if err != nil {
		return verdict.ExitInfra, err
	}

	res := &report.Result{Generator: generator, Time: time.Now().UTC(), Runs: []report.Run{run}}
	return out.finish(res, func(res *report.Result) error { return render.WriteSummary(os.Stdout, &res.Runs[0]) })
}

func describeCounts(s report.Suite) string {
	msg := fmt.Sprintf("%d passed, %d failed, %d skipped in %s", s.Counts.Passed, s.Counts.Failed, s.Counts.Skipped, s.Duration.Round(time.Millisecond))
	if s.Infra != nil {
		msg += " [" + s.Infra.Error() + "]"
	}
	return msg
}
