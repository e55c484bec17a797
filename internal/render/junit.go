package render

import (
	"encoding/xml"
	"fmt"
	"io"
	"time"

	"github.com/llconform/llconform/internal/report"
	"github.com/llconform/llconform/internal/verdict"

	"github.com/onsi/ginkgo/v2/reporters"
)

// The XML model is Ginkgo's (reporters.JUnitTestSuites and the types under it), the schema CI
// systems accept (Jenkins, GitLab, GitHub reporters): testsuites > testsuite > testcase with
// an optional failure, error or skipped child. The mapping from our result model is ours.

// WriteJUnit writes res as JUnit XML: one testsuite "<kernel>/<suite>" per kernel and suite,
// one testcase per spec. Infrastructure errors are <error>s, so CI shows them apart from
// failures: a spec's as its own testcase, a suite's as an extra "[infrastructure]" testcase,
// a kernel's in a testsuite "<kernel>/infrastructure". Expectation checks form a testsuite
// "<kernel>/expectations", so a mismatch fails the JUnit view as it fails the exit status.
func WriteJUnit(w io.Writer, res *report.Result) error {
	var root junitRoot
	timestamp := ""
	if !res.Time.IsZero() {
		timestamp = res.Time.UTC().Format("2006-01-02T15:04:05")
	}
	for i := range res.Runs {
		r := &res.Runs[i]
		props := reporters.JUnitProperties{Properties: kernelProperties(r)}
		suite := func(name string) *junitSuite {
			return &junitSuite{JUnitTestSuite: reporters.JUnitTestSuite{Name: r.Kernel.Name + "/" + name, Timestamp: timestamp, Properties: props}}
		}
		if r.Infra != nil {
			js := suite("infrastructure")
			js.add(reporters.JUnitTestCase{
				Classname: "infrastructure",
				Name:      "kernel " + r.Kernel.Name,
				Status:    string(report.InfraState),
				Error:     infraProblem(r.Infra),
			}, 0)
			root.add(js)
		}
		if c := r.Compat; c != nil && c.NotApplicable != "" {
			// Nothing ran: one skipped case says why, so the kernel's column is not silently empty.
			js := suite("compat")
			js.add(reporters.JUnitTestCase{Classname: "compat", Name: "the suites' " + c.Arch + " build", Status: string(report.Skipped),
				Skipped: &reporters.JUnitSkipped{Message: c.NotApplicable}}, 0)
			root.add(js)
		}
		if checks := r.Checks; len(checks) > 0 {
			js := suite("expectations")
			for _, c := range checks {
				jc := reporters.JUnitTestCase{Classname: "expectations", Name: c.Name, Status: string(report.Passed)}
				switch {
				case c.Unverified:
					jc.Status, jc.Failure = string(report.Failed), &reporters.JUnitFailure{Message: c.Message, Type: "unverified", Description: c.Message}
				case !c.OK:
					jc.Status, jc.Failure = string(report.Failed), &reporters.JUnitFailure{Message: c.Message, Type: "mismatch", Description: c.Message}
				}
				js.add(jc, 0)
			}
			root.add(js)
		}
		for _, s := range r.Suites {
			js := suite(s.Name)
			js.ms = milliseconds(s.Duration)
			if s.Infra != nil {
				js.add(reporters.JUnitTestCase{
					Classname: s.Name,
					Name:      "[infrastructure] suite " + s.Name,
					Status:    string(report.InfraState),
					Error:     infraProblem(s.Infra),
				}, 0)
			}
			for _, sp := range s.Specs {
				js.add(specCase(s.Name, sp, verdict.KnownIssuesExcuse(r)), milliseconds(sp.Duration))
			}
			root.add(js)
		}
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return fmt.Errorf("write JUnit: %w", err)
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(root.JUnitTestSuites); err != nil {
		return fmt.Errorf("write JUnit: %w", err)
	}
	if _, err := io.WriteString(w, "\n"); err != nil {
		return fmt.Errorf("write JUnit: %w", err)
	}
	return nil
}

// specCase is one spec's test case; excused says whether known issues excuse failures on the
// spec's run (verdict.KnownIssuesExcuse).
func specCase(suite string, sp report.Spec, excused bool) reporters.JUnitTestCase {
	jc := reporters.JUnitTestCase{Classname: suite, Name: sp.Text, Status: string(sp.State)}
	f := sp.Failure
	if f == nil {
		f = &report.Failure{} // a hand-edited or foreign file; still a failure
	}
	switch {
	case sp.State == report.Failed && sp.Known != nil && excused:
		// CI tools have no "expected failure": a skip keeps the JUnit view as green as the
		// exit status while the message keeps the failure in sight. A skip has no body in
		// Ginkgo's model, so the failure itself goes to system-err.
		jc.Skipped = &reporters.JUnitSkipped{Message: "known issue: " + knownText(sp.Known)}
		jc.SystemErr = failureBody(f)
	case sp.State == report.Failed:
		jc.Failure = &reporters.JUnitFailure{Message: f.Message, Type: "failure", Description: failureBody(f)}
	case sp.State == report.InfraState:
		jc.Error = &reporters.JUnitError{Message: f.Message, Type: string(report.InfraState), Description: failureBody(f)}
	case sp.State == report.Skipped:
		jc.Skipped = &reporters.JUnitSkipped{Message: sp.SkipReason}
	}
	return jc
}

func failureBody(f *report.Failure) string {
	if f.Location == "" {
		return f.Message
	}
	return f.Message + "\n" + f.Location
}

func infraProblem(e *report.InfraError) *reporters.JUnitError {
	body := e.Message
	if e.ConsoleLog != "" {
		body += "\nconsole log: " + e.ConsoleLog
	}
	if e.ConsoleTail != "" {
		body += "\n" + e.ConsoleTail
	}
	return &reporters.JUnitError{Message: e.Message, Type: string(e.Kind), Description: body}
}

func kernelProperties(r *report.Run) []reporters.JUnitProperty {
	props := []reporters.JUnitProperty{{Name: "kernel.name", Value: r.Kernel.Name}}
	add := func(name, value string) {
		if value != "" {
			props = append(props, reporters.JUnitProperty{Name: name, Value: value})
		}
	}
	add("kernel.release", r.Kernel.Release)
	add("kernel.package", r.Kernel.Package)
	add("kernel.version", r.Kernel.Version)
	add("kernel.source", r.Kernel.Source)
	if r.Info != nil {
		add("landlock.status", string(r.Info.Status))
		add("landlock.abi", fmt.Sprint(r.Info.ABI))
		add("landlock.errata", report.FormatErrata(*r.Info))
	}
	if eff := r.EffectiveABI; eff != nil {
		add("landlock.effective_abi", fmt.Sprint(*eff))
	}
	return props
}

// junitRoot and junitSuite count as cases are added. Times are kept in whole milliseconds,
// the precision JUnit files have always had here, and written as seconds: "3.066", "0".
type junitRoot struct {
	reporters.JUnitTestSuites
	ms int64
}

type junitSuite struct {
	reporters.JUnitTestSuite
	ms int64
}

func (js *junitSuite) add(c reporters.JUnitTestCase, ms int64) {
	c.Time = seconds(ms)
	js.Tests++
	switch {
	case c.Failure != nil:
		js.Failures++
	case c.Error != nil:
		js.Errors++
	case c.Skipped != nil:
		js.Skipped++
	}
	js.TestCases = append(js.TestCases, c)
}

func (root *junitRoot) add(js *junitSuite) {
	js.Time = seconds(js.ms)
	root.ms += js.ms
	root.Time = seconds(root.ms)
	root.Tests += js.Tests
	root.Failures += js.Failures
	root.Errors += js.Errors
	// Ginkgo's root counts skipped (and pending) specs as disabled; it has no skipped count.
	root.Disabled += js.Skipped + js.Disabled
	root.TestSuites = append(root.TestSuites, js.JUnitTestSuite)
}

func milliseconds(d time.Duration) int64 { return d.Round(time.Millisecond).Milliseconds() }

// seconds is exact for whole milliseconds: encoding/xml writes the shortest decimal that
// reads back as the same float64.
func seconds(ms int64) float64 { return float64(ms) / 1000 }
