// Package conformance turns the suites' specs into conformance.yaml, llconform's
// specification: one entry per spec with its feature, ABI, erratum, needs and its MUST
// statement. The file is generated from Ginkgo dry runs of the suite binaries (no spec body
// runs, so no kernel or root is needed) and committed; Check compares the committed file with
// a fresh one, so that a change of behaviour shows up in review as a change of the
// specification. Lint enforces the spec conventions the file relies on.
package conformance

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/llconform/llconform/internal/report"
	"github.com/llconform/llconform/internal/verdict"
)

// Spec is one entry of conformance.yaml.
type Spec struct {
	// ID is the spec's ID in results: "<suite>/<id>" (see report.Spec.ID).
	ID      string `yaml:"id"`
	Suite   string `yaml:"suite"`
	Feature string `yaml:"feature"`
	// ABI is the Landlock ABI that introduced the feature; 0 only in a spec Lint rejects.
	ABI     int `yaml:"abi"`
	Erratum int `yaml:"erratum,omitempty"`
	// Since is the kernel version that introduced a feature outside the Landlock ABI
	// (spec.Since), such as the trace events.
	Since string   `yaml:"since,omitempty"`
	Needs []string `yaml:"needs,omitempty"`
	// Statement is the spec's MUST sentence: its container texts and its own text.
	Statement string `yaml:"statement"`
}

// Document is the content of conformance.yaml.
type Document struct {
	Specs []Spec `yaml:"specs"`
	// NotApplicable are the reasons for which a spec may skip in a certified run (--certified);
	// any other skip fails it. They come from verdict.NotApplicableReasons.
	NotApplicable []NotApplicable `yaml:"not_applicable"`
}

// NotApplicable is one reason for which a spec may skip in a certified run.
type NotApplicable struct {
	// Reason names it, as the certified check counts it: root, module, abi, no-landlock.
	Reason string `yaml:"reason"`
	// When says when such a skip is allowed.
	When string `yaml:"when"`
	// Skip is the regular expression (Go syntax) the skip message matches.
	Skip string `yaml:"skip"`
}

func notApplicable() []NotApplicable {
	var out []NotApplicable
	for _, n := range verdict.NotApplicableReasons {
		out = append(out, NotApplicable{Reason: n.Reason, When: n.When, Skip: n.Skip})
	}
	return out
}

// FromDryRun reads the Ginkgo JSON report of a dry run of the suite binary named suite
// (--ginkgo.dry-run --ginkgo.json-report=FILE) and returns its specs. It goes through
// report.ImportGinkgo, so IDs and labels are read exactly as in results.
func FromDryRun(suite string, data []byte) ([]Spec, error) {
	s, err := report.ImportGinkgo(data, suite)
	if err != nil {
		return nil, fmt.Errorf("conformance: %w", err)
	}
	if s.Infra != nil {
		return nil, fmt.Errorf("conformance: suite %s: dry run failed: %v", suite, s.Infra)
	}
	specs := make([]Spec, 0, len(s.Specs))
	for _, sp := range s.Specs {
		specs = append(specs, Spec{
			ID:        sp.ID,
			Suite:     suite,
			Feature:   sp.Feature,
			ABI:       sp.ABI,
			Erratum:   sp.Erratum,
			Since:     sp.Since,
			Needs:     sp.Needs,
			Statement: sp.Text,
		})
	}
	return specs, nil
}

// DryRun runs a compiled suite (binary with args, which select the suite) as a Ginkgo dry run
// and returns its JSON report. The
// seed is fixed so that the order, and with it the "#2" suffix of a repeated text, never
// depends on the clock.
func DryRun(ctx context.Context, binary string, args ...string) ([]byte, error) {
	dir, err := os.MkdirTemp("", "llconform-dryrun-")
	if err != nil {
		return nil, fmt.Errorf("dry run %s: %w", binary, err)
	}
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "report.json")
	cmd := exec.CommandContext(ctx, binary, slices.Concat(args, []string{"--ginkgo.dry-run", "--ginkgo.seed=1", "--ginkgo.json-report=" + file})...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("dry run %s: %w\n%s", binary, err, lastLines(out.String(), 20))
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("dry run %s: no report: %w", binary, err)
	}
	return data, nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// New builds a document from the specs of every suite, sorted by ID so the file does not
// depend on the order suites ran or Ginkgo shuffled them. Two specs with one ID are an
// error: the file could not tell them apart.
func New(specs []Spec) (*Document, error) {
	d := &Document{Specs: slices.Clone(specs), NotApplicable: notApplicable()}
	slices.SortFunc(d.Specs, func(a, b Spec) int { return strings.Compare(a.ID, b.ID) })
	for i := 1; i < len(d.Specs); i++ {
		if d.Specs[i].ID == d.Specs[i-1].ID {
			return nil, fmt.Errorf("conformance: spec %q appears twice", d.Specs[i].ID)
		}
	}
	return d, nil
}

const header = `# conformance.yaml: the Landlock behaviour llconform checks, one MUST statement per spec,
# and (not_applicable, at the end) the only reasons for which a spec may skip in a certified
# run. Generated from the suites' Ginkgo dry runs; do not edit. Regenerate it after changing a
# spec, and review the difference: it is a change of the specification.
`

// Marshal renders d as conformance.yaml: a header comment, then the specs in order.
func (d *Document) Marshal() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteString(header)
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(d); err != nil {
		return nil, fmt.Errorf("conformance: encode: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("conformance: encode: %w", err)
	}
	return buf.Bytes(), nil
}

// Parse reads conformance.yaml. Unknown fields are an error: a hand edit or a newer format
// must not be half-read.
func Parse(data []byte) (*Document, error) {
	var d Document
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&d); err != nil {
		return nil, fmt.Errorf("conformance: parse: %w", err)
	}
	return &d, nil
}

// Check compares the committed conformance.yaml with a freshly generated one and explains
// any difference spec by spec: added, removed, and changed with the fields that changed.
// Identical specs in a differently formatted file are still an error, since the committed
// file must be exactly what the generator writes.
func Check(committed, generated []byte) error {
	if bytes.Equal(committed, generated) {
		return nil
	}
	old, err := Parse(committed)
	if err != nil {
		return fmt.Errorf("committed %w", err)
	}
	cur, err := Parse(generated)
	if err != nil {
		return fmt.Errorf("generated %w", err)
	}
	diff := Diff(old, cur)
	if na := notApplicableDiff(old, cur); na != "" {
		diff = append(diff, na)
	}
	if len(diff) == 0 {
		return fmt.Errorf("conformance.yaml is out of date: same specs, different formatting or order; regenerate it")
	}
	return fmt.Errorf("conformance.yaml is out of date (%d difference%s); regenerate it and review:\n%s",
		len(diff), plural(len(diff)), strings.Join(diff, "\n"))
}

// notApplicableDiff says whether the not_applicable reasons differ, as one line.
func notApplicableDiff(old, cur *Document) string {
	if slices.Equal(old.NotApplicable, cur.NotApplicable) {
		return ""
	}
	return "~ not_applicable: the reasons a certified run accepts for a skip changed"
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// Diff lists the differences between two documents, one line each, in ID order: "+ id"
// for an added spec, "- id" for a removed one, "~ id: field old -> new" for a changed one.
func Diff(old, cur *Document) []string {
	byID := func(d *Document) map[string]Spec {
		m := make(map[string]Spec, len(d.Specs))
		for _, s := range d.Specs {
			m[s.ID] = s
		}
		return m
	}
	o, c := byID(old), byID(cur)
	var ids []string
	for id := range o {
		ids = append(ids, id)
	}
	for id := range c {
		if _, ok := o[id]; !ok {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	var out []string
	for _, id := range ids {
		was, inOld := o[id]
		now, inCur := c[id]
		switch {
		case !inOld:
			out = append(out, fmt.Sprintf("+ %s (feature %s, ABI %d%s)", id, now.Feature, now.ABI, erratumNote(now.Erratum)))
		case !inCur:
			out = append(out, "- "+id)
		default:
			if ch := changes(was, now); ch != "" {
				out = append(out, "~ "+id+": "+ch)
			}
		}
	}
	return out
}

func erratumNote(n int) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf(", erratum %d", n)
}

func changes(a, b Spec) string {
	var ch []string
	field := func(name string, x, y any) {
		if fmt.Sprint(x) != fmt.Sprint(y) {
			ch = append(ch, fmt.Sprintf("%s %v -> %v", name, x, y))
		}
	}
	field("suite", a.Suite, b.Suite)
	field("feature", a.Feature, b.Feature)
	field("abi", a.ABI, b.ABI)
	field("erratum", a.Erratum, b.Erratum)
	field("since", a.Since, b.Since)
	field("needs", a.Needs, b.Needs)
	field("statement", fmt.Sprintf("%q", a.Statement), fmt.Sprintf("%q", b.Statement))
	return strings.Join(ch, "; ")
}

// Problem is a spec that breaks the conventions conformance.yaml relies on.
type Problem struct {
	ID      string
	Problem string
}

func (p Problem) String() string {
	return p.ID + ": " + p.Problem
}

// Lint returns the specs that break the conventions: every statement states a MUST, and
// every spec carries a feature label (a dotted name such as "fs.truncate") and an "abi:N"
// label. Without them a spec cannot be placed in the feature matrix, nor its rejection on
// older kernels be checked. Problems come in the order of specs.
func Lint(specs []Spec) []Problem {
	var out []Problem
	for _, s := range specs {
		if !strings.Contains(s.Statement, "MUST") {
			out = append(out, Problem{s.ID, `statement has no "MUST"`})
		}
		if s.Feature == "" {
			out = append(out, Problem{s.ID, `no feature label (a dotted name such as "fs.truncate")`})
		}
		if s.ABI == 0 {
			out = append(out, Problem{s.ID, `no "abi:N" label`})
		}
		// report.Spec.ID falls back to the sentence, and suffixes a repeated id.
		switch {
		case s.ID == s.Suite+"/"+s.Statement:
			out = append(out, Problem{s.ID, `no stable id (spec.ID)`})
		case strings.Contains(s.ID, " #"):
			out = append(out, Problem{s.ID, `id used by another spec of the suite`})
		}
	}
	return out
}
