package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/llconform/llconform/internal/atomicfile"
	"github.com/llconform/llconform/internal/diff"
	"github.com/llconform/llconform/internal/outdir"
	"github.com/llconform/llconform/internal/render"
	"github.com/llconform/llconform/internal/report"
	"github.com/llconform/llconform/internal/verdict"
)

// outputs are the result files every command that runs suites writes, and the known
// issues applied before anything is written or gated on.
type outputs struct {
	dir         string
	jsonPath    string
	knownIssues string
	kcidb       string
	kcidbOrigin string
	// acceptUnverified lets claims llconform cannot verify pass the gate (recorded per run).
	acceptUnverified bool
	// plots go into the HTML report (matrix --bench).
	plots []render.Plot
	// interrupted is set when the run was cut short (SIGINT, SIGTERM): its partial result
	// goes to result.interrupted.json only (see resultFileNames).
	interrupted bool
	// out is the output directory, held from open to the end of the run.
	out *outdir.Dir
	// issues are the known issues, read by readInputs before any work starts.
	issues     []verdict.KnownIssue
	issuesRead bool
	// baseline is --baseline and --gate: what the result is compared with once judged.
	baseline baseline
}

// readInputs reads and validates every file the outputs depend on (the known issues, the
// baseline), so
// that a mistake in one is a usage error before anything runs rather than after a whole
// matrix, when the result would be lost.
func (o *outputs) readInputs() error {
	for flag, path := range map[string]string{"--json": o.jsonPath, "--kcidb": o.kcidb} {
		if path != "" {
			if err := checkOutputPath(path); err != nil {
				return fmt.Errorf("%s: %w", flag, err)
			}
		}
	}
	if err := o.baseline.read(); err != nil {
		return err
	}
	if o.issuesRead || o.knownIssues == "" {
		return nil
	}
	issues, err := verdict.ReadKnownIssues(o.knownIssues)
	if err != nil {
		return fmt.Errorf("--known-issues: %w", err)
	}
	o.issues, o.issuesRead = issues, true
	return nil
}

// open takes the output directory for the rest of the run (outdir.Open): o.dir becomes
// absolute and o.run is this run's own directory, where every boot's files go. Another live
// run holding it is a usage error (exit 64), refused before any download or boot.
func (o *outputs) open() (*outdir.Dir, int, error) {
	d, err := outdir.Open(o.dir)
	var inUse *outdir.InUseError
	switch {
	case errors.As(err, &inUse):
		return nil, exitUsage, err
	case err != nil:
		return nil, verdict.ExitInfra, err
	}
	o.dir, o.out = d.Path, d
	return d, 0, nil
}

func (o *outputs) register(fs *flag.FlagSet, defaultDir string) {
	fs.StringVar(&o.dir, "out", defaultDir, "directory for logs, suite outputs, result.json, junit.xml and report.html")
	fs.StringVar(&o.jsonPath, "json", "", "also write the result to this file")
	fs.StringVar(&o.knownIssues, "known-issues", "", "YAML file of expected failures per kernel (see README)")
	fs.StringVar(&o.kcidb, "kcidb", "", "also write a KCIDB v4 submission to this file")
	fs.StringVar(&o.kcidbOrigin, "kcidb-origin", "llconform", "KCIDB origin of the submission")
	fs.BoolVar(&o.acceptUnverified, "accept-unverified", false,
		"exit 0 when a kernel's only fault is a claim llconform cannot verify (an ABI or errata bit newer than it knows, an ABI step no spec saw enforced); the run still ends UNVERIFIED")
	o.baseline.register(fs)
}

// finish applies the known issues, evaluates the result, writes every result file, prints the
// tables and returns the exit status the result gates with.
func (o *outputs) finish(res *report.Result, print func(*report.Result) error) (int, error) {
	for i := range res.Runs {
		res.Runs[i].AcceptUnverified = o.acceptUnverified
	}
	if o.knownIssues != "" {
		if err := o.readInputs(); err != nil {
			return exitUsage, err
		}
		if _, err := verdict.ApplyKnownIssues(res, o.issues); err != nil {
			return verdict.ExitInfra, err
		}
	}
	// Judge the result once, now that everything it depends on is set: every file and table
	// below, and the exit status, read the verdicts from the result.
	verdict.Evaluate(res)
	// A partial result is not compared: the kernels it did not finish would read as lost.
	var comparison *diff.Diff
	if !o.interrupted {
		var err error
		if comparison, err = o.baseline.compare(res, filepath.Join(o.dir, resultJSON), o.issues, o.knownIssues != ""); err != nil {
			return verdict.ExitInfra, err
		}
	}
	if err := os.MkdirAll(o.dir, 0o755); err != nil {
		return verdict.ExitInfra, fmt.Errorf("create output directory: %w", err)
	}
	if o.out != nil {
		if err := o.out.Publish(!o.interrupted); err != nil {
			return verdict.ExitInfra, err
		}
	}
	writers := map[string]func(io.Writer) error{
		resultJSON:            func(f io.Writer) error { return report.Encode(f, res) },
		interruptedResultJSON: func(f io.Writer) error { return report.Encode(f, res) },
		"junit.xml":           func(f io.Writer) error { return render.WriteJUnit(f, res) },
		"report.html": func(f io.Writer) error {
			return render.WriteHTML(f, res, render.HTMLOptions{Dir: o.dir, Plots: o.plots, Comparison: comparison})
		},
	}
	names := resultFileNames(o.interrupted)
	files := map[string]func(io.Writer) error{}
	for _, name := range names {
		files[filepath.Join(o.dir, name)] = writers[name]
	}
	if !o.interrupted {
		// A complete result supersedes the partial one of an earlier interrupted run.
		os.Remove(filepath.Join(o.dir, interruptedResultJSON))
	}
	if o.jsonPath != "" && !o.interrupted {
		files[o.jsonPath] = func(f io.Writer) error { return report.Encode(f, res) }
	}
	if o.kcidb != "" && !o.interrupted {
		files[o.kcidb] = func(f io.Writer) error {
			return render.WriteKCIDB(f, res, render.KCIDBOptions{Origin: o.kcidbOrigin, Dir: o.dir})
		}
	}
	for path, write := range files {
		if err := atomicfile.Write(path, write); err != nil {
			return verdict.ExitInfra, err
		}
	}
	fmt.Println()
	if err := print(res); err != nil {
		return verdict.ExitInfra, err
	}
	for _, n := range report.AllNotices(res) {
		fmt.Println(n)
	}
	code := verdict.ExitCode(res)
	if comparison != nil {
		fmt.Println()
		if err := render.WriteDiff(os.Stdout, comparison); err != nil {
			return verdict.ExitInfra, err
		}
		code = gatedExit(code, comparison.Regressions())
	}
	if o.interrupted {
		fmt.Printf("\nINTERRUPTED: the run was cut short (SIGINT/SIGTERM); partial result: %s\n", filepath.Join(o.dir, interruptedResultJSON))
		fmt.Printf("result.json, junit.xml and report.html in %s were left as they were", o.dir)
		if o.jsonPath != "" || o.kcidb != "" {
			fmt.Print("; --json and --kcidb files were not written")
		}
		fmt.Println()
		if code != verdict.ExitFail {
			code = verdict.ExitInfra // never a pass: part of the matrix was not tested
		}
		if o.baseline.file != "" {
			fmt.Printf("--baseline: no comparison with %s: the result is partial\n", o.baseline.file)
		}
		return code, nil
	}
	fmt.Printf("\nresults: %s/{%s}\n", o.dir, strings.Join(names, ","))
	return code, nil
}

// The result files of a run in its output directory.
const (
	resultJSON            = "result.json"
	interruptedResultJSON = "result.interrupted.json"
)

// resultFileNames returns the files a run writes in its output directory: result.json,
// junit.xml and report.html when it ran to its end; result.interrupted.json alone when it
// was interrupted, so that a partial result never replaces a complete earlier one (nor
// passes for one with a CI reading result.json or junit.xml).
func resultFileNames(interrupted bool) []string {
	if interrupted {
		return []string{interruptedResultJSON}
	}
	return []string{resultJSON, "junit.xml", "report.html"}
}

// checkOutputPath refuses a file the run could not write at its end: its directory must
// exist, and the path must not be a directory.
func checkOutputPath(path string) error {
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return fmt.Errorf("%s is a directory", path)
	}
	dir := filepath.Dir(path)
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("cannot write %s: %w", path, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("cannot write %s: %s is not a directory", path, dir)
	}
	return nil
}
