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
	out := fs.String("out", "out/host", "directory for suite reports and outputs, result.json and junit.xml")
	var f filters
	fs.StringVar(&f.label, "label-filter", "", "Ginkgo label filter passed to every suite, e.g. 'fs.truncate || abi:3'")
	fs.StringVar(&f.focus, "focus", "", "Ginkgo focus regexp passed to every suite")
	timeout := fs.Duration("timeout", 10*time.Minute, "time limit of each suite")
	if err := fs.Parse(args); err != nil {
		return exitUsage, err
	}
	if fs.NArg() > 0 {
		return exitUsage, fmt.Errorf("run: unexpected arguments %q", fs.Args())
	}
	binaries, err := suiteBinaries(*suiteDir)
	if err != nil {
		return report.ExitInfra, err
	}
	outDir, err := filepath.Abs(*out)
	if err != nil {
		return report.ExitInfra, err
	}
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
	if err := writeResult(res, outDir); err != nil {
		return report.ExitInfra, err
	}
	fmt.Println()
	if err := report.WriteSummary(os.Stdout, &res.Runs[0]); err != nil {
		return report.ExitInfra, err
	}
	fmt.Printf("\nresults: %s, %s\n", filepath.Join(outDir, "result.json"), filepath.Join(outDir, "junit.xml"))
	return report.ExitCode(res), nil
}

func describeCounts(s report.Suite) string {
	msg := fmt.Sprintf("%d passed, %d failed, %d skipped in %s", s.Counts.Passed, s.Counts.Failed, s.Counts.Skipped, s.Duration.Round(time.Millisecond))
	if s.Infra != nil {
		msg += " [" + s.Infra.Error() + "]"
	}
	return msg
}

// writeResult writes result.json and junit.xml in dir.
func writeResult(res *report.Result, dir string) error {
	if err := writeFile(filepath.Join(dir, "result.json"), func(f *os.File) error { return report.Encode(f, res) }); err != nil {
		return err
	}
	return writeFile(filepath.Join(dir, "junit.xml"), func(f *os.File) error { return report.WriteJUnit(f, res) })
}

// writeFile writes path through a temporary file, so that an interrupted write never leaves
// a truncated result where a complete one is expected.
func writeFile(path string, write func(*os.File) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path))
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if err := write(tmp); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
