package verdict

import (
	"errors"
	"fmt"
	"os"
	"path"
	"reflect"
	"regexp"
	"strings"

	"github.com/llconform/llconform/internal/report"
	"github.com/llconform/llconform/internal/yamlfile"
)

// Known issues let a distribution gate green while it tracks failures it already knows about:
// a known-issues file lists, per kernel pattern, the specs or features expected to fail, with
// the reason and a link to the bug. ApplyKnownIssues marks the matching failures; they stay
// visible everywhere (tables, HTML, JUnit, KCIDB) but no longer fail the exit status. A known
// issue that no longer fails is reported as a Notice, so the entry gets removed rather than
// silently excusing a future regression.
//
// The file is a YAML list:
//
//	- spec: "fs/refer.rename_across_dirs"   # a spec ID (suite/id), exactly
//	  kernel: "debian-6.1*"           # glob on the kernels.yaml name or the release
//	  reason: "6.1 stable lacks the REFER fix"
//	  link: https://bugs.example.org/1234
//	- spec: /^net\/.*sctp/            # a regular expression between slashes, unanchored, on the ID or the sentence
//	  kernel: "*"
//	  reason: "SCTP module missing in our image"
//	- feature: fs.ioctl_dev           # every failure of a feature
//	  kernel: "6.8.*"
//	  reason: "half-backported IOCTL_DEV"

// KnownIssue is one entry of a known-issues file. Exactly one of Spec and Feature is set.
type KnownIssue struct {
	// Spec is a spec ID ("fs/refer.rename_across_dirs"), or a regular expression between
	// slashes ("/^net\/.*sctp/") matched anywhere in the ID or the spec's sentence. IDs
	// contain regexp metacharacters (dots), so a plain string is never read as a regexp.
	Spec string
	// Feature is a feature name ("fs.refer"): every failed spec labelled with it, and the
	// feature's own outcome, are excused.
	Feature string
	// Kernel is a glob (path.Match syntax) matched against the kernel's name in kernels.yaml
	// and its release, either of which may match. "*" matches every kernel.
	Kernel string
	Reason string
	Link   string
	// Where locates the entry in its file ("known-issues.yaml:12") for messages; empty for
	// entries built in code.
	Where string
}

func (k KnownIssue) describe() string {
	what := "feature " + k.Feature
	if k.Spec != "" {
		what = "spec " + k.Spec
	}
	if k.Where != "" {
		what = k.Where + ": " + what
	}
	return what
}

// id names the issue in messages and in the marks it leaves: what it names, and where it is
// written when known ("spec audit/x (known-issues.yaml:4)").
func (k KnownIssue) id() string {
	what := "feature " + k.Feature
	if k.Spec != "" {
		what = "spec " + k.Spec
	}
	if k.Where != "" {
		what += " (" + k.Where + ")"
	}
	return what
}

// KnownIssuesExcuse reports whether known issues excuse failures on run r. They do, except
// in a certified run: certification says the kernel conforms, and a failure tracked in a
// known-issues file is still a failure to conform. There the failure keeps its known mark
// (and reason) in every table, but fails the run (see certifiedCheck) and caps the
// effective ABI like any other.
func KnownIssuesExcuse(r *report.Run) bool { return r.Certified == nil }

// matcher is a validated KnownIssue.
type matcher struct {
	KnownIssue
	re *regexp.Regexp
}

func compileIssue(k KnownIssue) (matcher, error) {
	m := matcher{KnownIssue: k}
	switch {
	case (k.Spec == "") == (k.Feature == ""):
		return m, fmt.Errorf("want exactly one of spec and feature")
	case k.Kernel == "":
		return m, fmt.Errorf("kernel is required (use \"*\" for every kernel)")
	case strings.TrimSpace(k.Reason) == "":
		return m, fmt.Errorf("reason is required")
	}
	if _, err := path.Match(k.Kernel, ""); err != nil {
		return m, fmt.Errorf("kernel pattern %q: %w", k.Kernel, err)
	}
	if len(k.Spec) >= 2 && strings.HasPrefix(k.Spec, "/") && strings.HasSuffix(k.Spec, "/") {
		re, err := regexp.Compile(k.Spec[1 : len(k.Spec)-1])
		if err != nil {
			return m, fmt.Errorf("spec regexp %s: %w", k.Spec, err)
		}
		m.re = re
	}
	return m, nil
}

func (m matcher) matchesKernel(r *report.Run) bool {
	names := []string{r.Kernel.Name, r.Kernel.Release}
	if r.Info != nil {
		names = append(names, r.Info.Release)
	}
	for _, n := range names {
		if ok, _ := path.Match(m.Kernel, n); ok && n != "" {
			return true
		}
	}
	return false
}

func (m matcher) matchesSpec(sp *report.Spec) bool {
	switch {
	case m.Feature != "":
		return sp.Feature == m.Feature
	case m.re != nil:
		return m.re.MatchString(sp.ID) || m.re.MatchString(sp.Text)
	}
	return sp.ID == m.Spec
}

// ApplyKnownIssues marks, on every run whose kernel an issue's pattern matches, the failed
// specs the issue names as known, and the features it names as known when their outcome
// fails. A known failure no longer fails conclude or ExitCode. It replaces whatever an
// earlier call marked, so the file given is the whole truth, and returns the notices it
// recorded on the runs: one per issue that matched a kernel where the spec it names passed
// (or the feature it names did not fail) and nothing it names failed. An invalid issue is an
// error and leaves res unchanged.
func ApplyKnownIssues(res *report.Result, issues []KnownIssue) ([]report.Notice, error) {
	ms := make([]matcher, len(issues))
	for i, k := range issues {
		m, err := compileIssue(k)
		if err != nil {
			return nil, fmt.Errorf("known issue %s: %w", k.describe(), err)
		}
		ms[i] = m
	}
	var notices []report.Notice
	for i := range res.Runs {
		r := &res.Runs[i]
		clearKnown(r)
		for _, m := range ms {
			if m.matchesKernel(r) {
				applyIssue(r, m)
			}
		}
		for j := range r.Suites {
			r.Suites[j].Recount()
		}
		// Feature outcomes depend on every spec marking above, so features come last.
		features := evaluateFeatures(r)
		for _, m := range ms {
			if m.Feature == "" || !m.matchesKernel(r) {
				continue
			}
			for _, f := range features {
				if f.Feature != m.Feature {
					continue
				}
				if f.Outcome.Failing() {
					r.KnownFeatures = append(r.KnownFeatures, report.KnownFeature{Feature: f.Feature, Known: m.known()})
				} else if f.Outcome != report.Unknown && f.Outcome != report.NotApplicable {
					r.Notices = append(r.Notices, passNotice(r, m, fmt.Sprintf("feature %s: %s", f.Feature, f.Outcome)))
				}
			}
		}
		notices = append(notices, r.Notices...)
	}
	return notices, nil
}

func clearKnown(r *report.Run) {
	r.KnownFeatures, r.Notices = nil, nil
	for j := range r.Suites {
		for k := range r.Suites[j].Specs {
			r.Suites[j].Specs[k].Known = nil
		}
		r.Suites[j].Recount()
	}
}

// applyIssue marks the failed specs m names on r and, for a spec issue, records a notice when
// none of them failed and one passed. Feature issues get their notice from the feature's
// outcome instead, since a feature can fail without a failed spec.
func applyIssue(r *report.Run, m matcher) {
	failed, passed := 0, ""
	for j := range r.Suites {
		for k := range r.Suites[j].Specs {
			sp := &r.Suites[j].Specs[k]
			if !m.matchesSpec(sp) {
				continue
			}
			switch sp.State {
			case report.Failed:
				failed++
				if sp.Known == nil {
					k := m.known()
					sp.Known = &k
				}
			case report.Passed:
				if passed == "" {
					passed = sp.ID
				}
			}
		}
	}
	if m.Spec != "" && failed == 0 && passed != "" {
		r.Notices = append(r.Notices, passNotice(r, m, "spec "+passed+" passed"))
	}
}

// known is the mark m leaves on what it excuses.
func (m matcher) known() report.Known {
	return report.Known{Reason: m.Reason, Link: m.Link, Issue: m.id()}
}

func passNotice(r *report.Run, m matcher, what string) report.Notice {
	msg := fmt.Sprintf("known issue %q no longer fails on %s: %s", m.Reason, r.Kernel.Name, what)
	issue := "feature " + m.Feature
	if m.Spec != "" {
		issue = "spec " + m.Spec
	}
	return report.Notice{Kind: report.NoticeKnownIssuePasses, Kernel: r.Kernel.Name, Issue: issue, Message: msg, Link: m.Link}
}

// ReadKnownIssues reads a known-issues file (see ParseKnownIssues).
func ReadKnownIssues(file string) ([]KnownIssue, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("known issues: %w", err)
	}
	return ParseKnownIssues(data, file)
}

// issueYAML is one entry of a known-issues file as written. Its keys are the only ones an
// entry may have: anything else is a typo worth an error, since a misspelt "kernel" would
// otherwise widen the entry to nothing or everything.
type issueYAML struct {
	Spec    string `yaml:"spec"`
	Feature string `yaml:"feature"`
	Kernel  string `yaml:"kernel"`
	Reason  string `yaml:"reason"`
	Link    string `yaml:"link"`
}

var knownIssuesOptions = yamlfile.Options{
	Want: map[reflect.Type]string{
		reflect.TypeFor[[]issueYAML](): "want a list of known issues",
		reflect.TypeFor[issueYAML]():   "want a mapping with spec or feature, kernel, reason, link",
		reflect.TypeFor[string]():      "want a string",
	},
	KeyHint: "want one of spec, feature, kernel, reason, link",
}

// ParseKnownIssues reads known-issues YAML (see the format above). file names the source
// in errors, which look like "known-issues.yaml:12: unknown key \"kernal\"". An empty file
// is an empty list; a key without a value is an empty string.
func ParseKnownIssues(data []byte, file string) ([]KnownIssue, error) {
	list, lines, err := yamlfile.DecodeList[issueYAML](file, data, knownIssuesOptions)
	if err != nil {
		return nil, err
	}
	var out []KnownIssue
	var errs []error
	for i, y := range list {
		k := KnownIssue{Spec: y.Spec, Feature: y.Feature, Kernel: y.Kernel, Reason: y.Reason, Link: y.Link,
			Where: fmt.Sprintf("%s:%d", file, lines[i])}
		if _, err := compileIssue(k); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", k.Where, err))
			continue
		}
		out = append(out, k)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}
