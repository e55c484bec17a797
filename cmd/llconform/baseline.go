package main

import (
	"flag"
	"fmt"

	"github.com/llconform/llconform/internal/diff"
	"github.com/llconform/llconform/internal/report"
	"github.com/llconform/llconform/internal/verdict"
)

// baseline is --baseline FILE and --gate of run and matrix: the run's result compared with an
// earlier one, as `report diff FILE <out>/result.json` would compare them, printed after the
// run's tables and shown in its report.html; a regression under the gate fails the run.
type baseline struct {
	file string
	gate string
	// res and classes are the baseline and the gate, read by read before any work.
	res     *report.Result
	classes []diff.Class
}

func (b *baseline) register(fs *flag.FlagSet) {
	fs.StringVar(&b.file, "baseline", "",
		"compare the result with this earlier result.json (a matrix, a shard, a merge) as report diff does: the diff is printed "+
			"after the tables and shown in report.html, and a regression under --gate makes the exit status 1")
	fs.StringVar(&b.gate, "gate", "", "with --baseline: what counts as a regression: "+gateHelp())
}

// gateHelp lists --gate's values, for the help of every command that has it.
func gateHelp() string {
	return "a comma-separated list of " + classNames() + "; default is " + joinClasses(diff.DefaultGate) + "; all; none"
}

// read reads and checks the baseline file and the gate: a file that is missing or not a
// result is a usage error before the run starts, not after it.
func (b *baseline) read() error {
	if b.file == "" {
		if b.gate != "" {
			return fmt.Errorf("--gate goes with --baseline")
		}
		return nil
	}
	if b.res != nil {
		return nil
	}
	gate := b.gate
	if gate == "" {
		gate = "default"
	}
	classes, err := diff.ParseGate(gate)
	if err != nil {
		return err
	}
	res, err := readResult(b.file)
	if err != nil {
		return fmt.Errorf("--baseline: %w", err)
	}
	b.res, b.classes = res, classes
	return nil
}

// compare judges the baseline with the current rules, and with the run's known issues when
// the run has some (as report diff --known-issues does), compares the run's judged result
// with it and gates the changes. newFile names the run's result in the diff. nil without
// --baseline.
func (b *baseline) compare(res *report.Result, newFile string, issues []verdict.KnownIssue, applyIssues bool) (*diff.Diff, error) {
	if b.res == nil {
		return nil, nil
	}
	if applyIssues {
		if _, err := verdict.ApplyKnownIssues(b.res, issues); err != nil {
			return nil, err
		}
	}
	verdict.Evaluate(b.res)
	d, err := diff.Compare(b.res, res, diff.Options{BaseFile: b.file, NewFile: newFile})
	if err != nil {
		return nil, fmt.Errorf("--baseline: %w", err)
	}
	d.Gate(b.classes)
	return d, nil
}

// gatedExit is the run's exit status once compared with its baseline: a regression under
// the gate fails the run (1) whatever its own verdict was, since a pass, an infrastructure
// error or an unverified claim says nothing about what got worse. Without a regression the
// run's own status stands.
func gatedExit(code, regressions int) int {
	if regressions > 0 {
		return verdict.ExitFail
	}
	return code
}
