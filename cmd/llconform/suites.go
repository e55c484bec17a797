package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/llconform/llconform/internal/report"
	"github.com/llconform/llconform/vm/plan"
)

// suiteNames lists the suites in the order they run: the syscall contract first, audit
// last, because it changes the kernel's audit state while it runs.
var suiteNames = []string{"abi", "fs", "net", "scope", "audit"}

// suiteBinaries finds the compiled suite binaries (<name>.test) in dir.
func suiteBinaries(dir string) (map[string]string, error) {
	found := map[string]string{}
	for _, name := range suiteNames {
		p := filepath.Join(dir, name+".test")
		if _, err := os.Stat(p); err == nil {
			found[name] = p
		}
	}
	if len(found) == 0 {
		return nil, fmt.Errorf("no suite binaries (%s) in %s: run make build", strings.Join(suiteNames, ".test, ")+".test", dir)
	}
	return found, nil
}

// defaultSuiteDir is bin/suites beside the llconform binary, where make build puts them.
func defaultSuiteDir() string {
	exe, err := os.Executable()
	if err != nil {
		return "suites"
	}
	return filepath.Join(filepath.Dir(exe), "suites")
}

// filters are the Ginkgo selection flags passed through to every suite.
type filters struct {
	label, focus string
}

// expand turns the label filter into Ginkgo's syntax (see expandLabelFilter).
func (f *filters) expand() error {
	var err error
	f.label, err = expandLabelFilter(f.label)
	return err
}

// args returns the arguments of a suite binary that writes its Ginkgo report to report.
func (f filters) args(report string) []string {
	args := []string{"-test.v", "--ginkgo.no-color", "--ginkgo.json-report=" + report}
	if f.label != "" {
		args = append(args, "--ginkgo.label-filter="+f.label)
	}
	if f.focus != "" {
		args = append(args, "--ginkgo.focus="+f.focus)
	}
	return args
}

// importSuite turns one suite run into its result. Whatever went wrong outside the specs
// (no report, a timeout, a crash with no failing spec) is an infrastructure error of the
// suite, never silently a pass.
func importSuite(name string, o plan.Outcome, outputPath string) report.Suite {
	s, err := report.ImportGinkgo(o.Report, name)
	if err != nil {
		kind := report.InfraNoReport
		if len(o.Report) > 0 {
			kind = report.InfraTruncatedReport
		}
		s = report.Suite{Name: name, Infra: &report.InfraError{Kind: kind, Message: describeOutcome(o, err)}}
	}
	code := o.Status.ExitCode
	s.ExitCode = &code
	s.Output = outputPath
	s.Duration = time.Duration(o.Status.DurationMS) * time.Millisecond
	switch {
	case s.Infra != nil:
	case o.Status.TimedOut:
		s.Infra = &report.InfraError{Kind: report.InfraTimeout, Message: describeOutcome(o, nil)}
	case o.Status.Signal != "":
		s.Infra = &report.InfraError{Kind: report.InfraInterrupted, Message: describeOutcome(o, nil)}
	case code != 0 && s.Counts.Failed == 0:
		s.Infra = &report.InfraError{Kind: report.InfraSuiteFailed, Message: describeOutcome(o, nil)}
	}
	return s
}

func describeOutcome(o plan.Outcome, err error) string {
	var parts []string
	if err != nil {
		parts = append(parts, err.Error())
	}
	st := o.Status
	switch {
	case st.TimedOut:
		parts = append(parts, fmt.Sprintf("timed out after %dms", st.DurationMS))
	case st.Signal != "":
		parts = append(parts, "killed by "+st.Signal)
	default:
		parts = append(parts, fmt.Sprintf("exit status %d", st.ExitCode))
	}
	if st.Error != "" {
		parts = append(parts, st.Error)
	}
	if tail := lastLines(o.Output, 5); tail != "" {
		parts = append(parts, "output ends: "+tail)
	}
	return strings.Join(parts, "; ")
}

// lastLines returns the last n non-empty lines of b, joined by " | ".
func lastLines(b []byte, n int) string {
	lines := slices.DeleteFunc(strings.Split(string(b), "\n"), func(s string) bool { return strings.TrimSpace(s) == "" })
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
