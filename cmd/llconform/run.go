package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/llconform/llconform/collect"
	"github.com/llconform/llconform/internal/audit"
	"github.com/llconform/llconform/internal/render"
	"github.com/llconform/llconform/internal/report"
	"github.com/llconform/llconform/internal/tracefs"
	"github.com/llconform/llconform/internal/verdict"
	"github.com/llconform/llconform/vm/plan"
)

const generator = "llconform"

func runCmd(ctx context.Context, args []string) (code int, err error) {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	var gate gateFlags
	var out outputs
	defer func() { code = gate.exit(code, out.interrupted) }()
	suiteDir := fs.String("suites", defaultSuiteDir(), "directory of the compiled suite binaries (<name>.test)")
	compat := fs.Bool("compat", false, "also run every suite's 32-bit x86 build, reported as a run of its own (host/"+plan.CompatArch+")")
	compatDir := fs.String("compat-suites", defaultCompatSuiteDir(), "directory of the suites' 32-bit builds, for --compat")
	out.register(fs, "out/host")
	var f filters
	fs.StringVar(&f.label, "label-filter", "", "Ginkgo label filter passed to every suite; abi<=N style comparisons allowed, e.g. 'fs && abi<=5'")
	fs.StringVar(&f.focus, "focus", "", "Ginkgo focus regexp passed to every suite")
	timeout := fs.Duration("timeout", 10*time.Minute, "time limit of each suite")
	gate.register(fs)
	if err := fs.Parse(args); err != nil {
		return exitUsage, err
	}
	if fs.NArg() > 0 {
		return exitUsage, fmt.Errorf("run: unexpected arguments %q", fs.Args())
	}
	if err := gate.check(f); err != nil {
		return exitUsage, err
	}
	if *timeout <= 0 {
		return exitUsage, fmt.Errorf("--timeout %s: want a positive duration", *timeout)
	}
	if err := f.expand(); err != nil {
		return exitUsage, err
	}
	if err := out.readInputs(); err != nil {
		return exitUsage, err
	}
	od, code, err := out.open()
	if err != nil {
		return code, err
	}
	defer od.Close()
	binaries, err := plan.FindSuites(ctx, *suiteDir)
	if err != nil {
		return verdict.ExitInfra, err
	}
	var compatBins []plan.Binary
	if *compat {
		if compatBins, err = findCompatSuites(*compatDir, binaries); err != nil {
			return verdict.ExitInfra, err
		}
	}
	// The suites' reports and outputs go to the run's own directory, published as <out>/host
	// when the run completes.
	outDir := filepath.Join(od.Run, "host")
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return verdict.ExitInfra, err
	}
	restore, err := guardHostState(ctx)
	if err != nil {
		return verdict.ExitInfra, err
	}
	defer restore()

	// The suites' temporary directories, removed even on a forced exit.
	tmp, err := os.MkdirTemp("", "llconform-run-")
	if err != nil {
		return verdict.ExitInfra, err
	}
	removeTmp := func() { os.RemoveAll(tmp) }
	defer onForcedExit(removeTmp)()
	defer removeTmp()

	runSuite := func(b plan.Binary, name, dir string) plan.Outcome {
		rep := filepath.Join(dir, b.Name+".json")
		s := plan.Suite{Name: name, Path: b.Path, Args: b.Command(f.args(rep)...), Report: rep, Timeout: plan.Duration(*timeout), TempDir: tmp}
		fmt.Fprintf(os.Stderr, "suite %s: running\n", name)
		return s.Run(ctx, dir, os.Environ())
	}
	var suites []report.Suite
	for _, b := range binaries {
		rs, err := collect.Suite(b.Name, runSuite(b, b.Name, outDir), outDir)
		if err != nil {
			return verdict.ExitInfra, err
		}
		fmt.Fprintf(os.Stderr, "suite %s: %s\n", b.Name, describeCounts(rs))
		suites = append(suites, rs)
		if ctx.Err() != nil {
			// The suites that ran make a partial result, written beside any complete one.
			out.interrupted = true
			break
		}
	}
	run, err := collect.Host(suites)
	if err != nil {
		return verdict.ExitInfra, err
	}
	res := &report.Result{Generator: generator, Time: time.Now().UTC(), Runs: []report.Run{run}}

	if len(compatBins) > 0 && !out.interrupted {
		// The 32-bit builds' reports and outputs go to <out>/host/386.
		dir := filepath.Join(outDir, plan.CompatArch)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return verdict.ExitInfra, err
		}
		var names []string
		var outcomes []plan.Outcome
		for _, b := range compatBins {
			o := runSuite(b, plan.CompatName(b.Name), dir)
			names, outcomes = append(names, b.Name), append(outcomes, o)
			fmt.Fprintf(os.Stderr, "suite %s: %s\n", plan.CompatName(b.Name), o.Status)
			if ctx.Err() != nil {
				out.interrupted = true
				break
			}
		}
		crun, err := collect.HostCompat(run, names, outcomes, dir)
		if err != nil {
			return verdict.ExitInfra, err
		}
		res.Runs = append(res.Runs, crun)
	}

	gate.apply(res)
	return out.finish(res, func(res *report.Result) error {
		for i := range res.Runs {
			if i > 0 {
				fmt.Println()
			}
			if err := render.WriteSummary(os.Stdout, &res.Runs[i]); err != nil {
				return err
			}
		}
		return nil
	})
}

// guardHostState snapshots the host state the suites change and returns the function that
// puts it back; it also runs on a forced exit. The suites restore it themselves when they
// end normally, but a suite killed at its timeout or when the run is interrupted does not:
// the audit configuration (the audit suite, the Audit benchmark) and trace instances (the
// trace suite).
func guardHostState(ctx context.Context) (func(), error) {
	restoreAudit := func() {}
	release := func() {}
	if _, err := audit.TakeSnapshot(); !errors.Is(err, audit.ErrUnavailable) {
		lock, err := audit.LockHost(ctx, func() {
			fmt.Fprintf(os.Stderr, "waiting for another llconform process that is using this host's audit configuration (%s)\n", audit.HostLockFile)
		})
		if err != nil {
			return nil, err
		}
		snap, err := audit.TakeSnapshot()
		if err != nil {
			lock.Release()
			return nil, fmt.Errorf("snapshot the host audit configuration: %w", err)
		}
		release = lock.Release
		restoreAudit = func() {
			changed, err := snap.Restore()
			if len(changed) > 0 {
				fmt.Fprintf(os.Stderr, "host audit configuration put back: %s\n", strings.Join(changed, ", "))
			}
			if err != nil {
				fmt.Fprintf(os.Stderr, "llconform: WARNING: could not put back the host audit configuration: %v\n", err)
			}
		}
	}
	var once sync.Once
	restore := func() {
		once.Do(func() {
			removeStaleTraceInstances()
			restoreAudit()
		})
	}
	unregister := onForcedExit(restore)
	return func() { restore(); unregister(); release() }, nil
}

// removeStaleTraceInstances removes the trace instances of suites that were killed before
// they could remove their own (the trace suite records through a private instance).
func removeStaleTraceInstances() {
	fs, err := tracefs.Open()
	if err != nil {
		return // no tracefs here: no instance a suite could have left
	}
	defer fs.Close()
	removed, err := fs.RemoveStale()
	if len(removed) > 0 {
		fmt.Fprintf(os.Stderr, "trace instances left by killed suites removed: %s\n", strings.Join(removed, ", "))
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "llconform: WARNING: %v\n", err)
	}
}

func describeCounts(s report.Suite) string {
	msg := fmt.Sprintf("%d passed, %d failed, %d skipped in %s", s.Counts.Passed, s.Counts.Failed, s.Counts.Skipped, s.Duration.Round(time.Millisecond))
	if s.Infra != nil {
		msg += " [" + s.Infra.Error() + "]"
	}
	return msg
}
