package report

import (
	"encoding/xml"
	"fmt"
	"io"
	"time"
)

// The JUnit schema CI systems accept (Jenkins, GitLab, GitHub reporters): testsuites >
// testsuite > testcase with an optional failure, error or skipped child.
type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name       string          `xml:"name,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Skipped    int             `xml:"skipped,attr"`
	Time       string          `xml:"time,attr"`
	Timestamp  string          `xml:"timestamp,attr,omitempty"`
	Properties []junitProperty `xml:"properties>property,omitempty"`
	Cases      []junitCase     `xml:"testcase"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitCase struct {
	Classname string        `xml:"classname,attr"`
	Name      string        `xml:"name,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitProblem `xml:"failure"`
	Error     *junitProblem `xml:"error"`
	Skipped   *junitSkipped `xml:"skipped"`
}

type junitProblem struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Body    string `xml:",chardata"`
}

type junitSkipped struct {
	Message string `xml:"message,attr"`
	Body    string `xml:",chardata"`
}

// WriteJUnit writes res as JUnit XML: one testsuite "<kernel>/<suite>" per kernel and suite,
// one testcase per spec. Infrastructure errors are <error>s, so CI shows them apart from
// failures: a spec's as its own testcase, a suite's as an extra "[infrastructure]" testcase,
// a kernel's in a testsuite "<kernel>/infrastructure". Expectation checks form a testsuite
// "<kernel>/expectations", so a mismatch fails the JUnit view as it fails the exit status.
func WriteJUnit(w io.Writer, res *Result) error {
	root := junitSuites{Name: "llconform"}
	for i := range res.Runs {
		r := &res.Runs[i]
		props := kernelProperties(r)
		if r.Infra != nil {
			js := junitSuite{Name: r.Kernel.Name + "/infrastructure", Time: seconds(0), Properties: props}
			js.add(junitCase{
				Classname: "infrastructure",
				Name:      "kernel " + r.Kernel.Name,
				Time:      seconds(0),
				Error:     infraProblem(r.Infra),
			})
			root.add(js)
		}
		if checks := CheckExpect(r); len(checks) > 0 {
			js := junitSuite{Name: r.Kernel.Name + "/expectations", Time: seconds(0), Properties: props}
			for _, c := range checks {
				jc := junitCase{Classname: "expectations", Name: c.Name, Time: seconds(0)}
				switch {
				case c.Unverified:
					jc.Failure = &junitProblem{Message: c.Message, Type: "unverified", Body: c.Message}
				case !c.OK:
					jc.Failure = &junitProblem{Message: c.Message, Type: "mismatch", Body: c.Message}
				}
				js.add(jc)
			}
			root.add(js)
		}
		for _, s := range r.Suites {
			js := junitSuite{
				Name:       r.Kernel.Name + "/" + s.Name,
				Time:       seconds(s.Duration),
				Properties: props,
			}
			if !res.Time.IsZero() {
				js.Timestamp = res.Time.UTC().Format("2006-01-02T15:04:05")
			}
			if s.Infra != nil {
				js.add(junitCase{
					Classname: s.Name,
					Name:      "[infrastructure] suite " + s.Name,
					Time:      seconds(0),
					Error:     infraProblem(s.Infra),
				})
			}
			for _, sp := range s.Specs {
				js.add(specCase(s.Name, sp))
			}
			root.add(js)
		}
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return fmt.Errorf("write JUnit: %w", err)
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(root); err != nil {
		return fmt.Errorf("write JUnit: %w", err)
	}
	if _, err := io.WriteString(w, "\n"); err != nil {
		return fmt.Errorf("write JUnit: %w", err)
	}
	return nil
}

func specCase(suite string, sp Spec) junitCase {
	jc := junitCase{Classname: suite, Name: sp.Text, Time: seconds(sp.Duration)}
	f := sp.Failure
	if f == nil {
		f = &Failure{} // a hand-edited or foreign file; still a failure
	}
	switch {
	case sp.State == Failed && sp.Known != nil:
		// CI tools have no "expected failure": a skip keeps the JUnit view as green as the
		// exit status while the message keeps the failure in sight.
		jc.Skipped = &junitSkipped{Message: "known issue: " + knownText(sp.Known), Body: failureBody(f)}
	case sp.State == Failed:
		jc.Failure = &junitProblem{Message: f.Message, Type: "failure", Body: failureBody(f)}
	case sp.State == InfraState:
		jc.Error = &junitProblem{Message: f.Message, Type: string(InfraState), Body: failureBody(f)}
	case sp.State == Skipped:
		jc.Skipped = &junitSkipped{Message: sp.SkipReason}
	}
	return jc
}

func failureBody(f *Failure) string {
	if f.Location == "" {
		return f.Message
	}
	return f.Message + "\n" + f.Location
}

func infraProblem(e *InfraError) *junitProblem {
	body := e.Message
	if e.ConsoleLog != "" {
		body += "\nconsole log: " + e.ConsoleLog
	}
	if e.ConsoleTail != "" {
		body += "\n" + e.ConsoleTail
	}
	return &junitProblem{Message: e.Message, Type: string(e.Kind), Body: body}
}

func kernelProperties(r *Run) []junitProperty {
	props := []junitProperty{{"kernel.name", r.Kernel.Name}}
	add := func(name, value string) {
		if value != "" {
			props = append(props, junitProperty{name, value})
		}
	}
	add("kernel.release", r.Kernel.Release)
	add("kernel.package", r.Kernel.Package)
	add("kernel.version", r.Kernel.Version)
	add("kernel.source", r.Kernel.Source)
	if r.Info != nil {
		add("landlock.status", string(r.Info.Status))
		add("landlock.abi", fmt.Sprint(r.Info.ABI))
		add("landlock.errata", FormatErrata(*r.Info))
	}
	if eff := EffectiveABI(r); eff != nil {
		add("landlock.effective_abi", fmt.Sprint(*eff))
	}
	return props
}

func (js *junitSuite) add(c junitCase) {
	js.Tests++
	switch {
	case c.Failure != nil:
		js.Failures++
	case c.Error != nil:
		js.Errors++
	case c.Skipped != nil:
		js.Skipped++
	}
	js.Cases = append(js.Cases, c)
}

func (root *junitSuites) add(js junitSuite) {
	root.Tests += js.Tests
	root.Failures += js.Failures
	root.Errors += js.Errors
	root.Skipped += js.Skipped
	root.Suites = append(root.Suites, js)
}

func seconds(d time.Duration) string {
	return fmt.Sprintf("%.3f", d.Seconds())
}
