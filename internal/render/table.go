// Package render writes a judged result for people and machines: terminal tables (table.go),
// the single-file HTML report (html.go, html.tmpl), JUnit XML (junit.go) and KernelCI's KCIDB
// submission (kcidb.go). It decides nothing: every verdict it shows (feature outcomes, checks,
// effective ABI, conclusions) is read from the fields verdict.Evaluate filled, so every
// output agrees with result.json and with the exit status. The suite binaries do not link it.
package render

import (
	"bytes"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/llconform/llconform/internal/report"
	"github.com/llconform/llconform/internal/verdict"
)

// table collects tab-separated rows and writes them aligned. Rendering goes to a buffer and
// reaches w in one write, so a write error is reported once instead of checked per row.
type table struct {
	buf bytes.Buffer
	tw  *tabwriter.Writer
}

func newTable() *table {
	t := &table{}
	t.tw = tabwriter.NewWriter(&t.buf, 0, 0, 2, ' ', 0)
	return t
}

func (t *table) row(cells ...string) {
	fmt.Fprintln(t.tw, strings.Join(cells, "\t"))
}

// flush aligns what was written so far, so that the next rows start a new alignment block.
func (t *table) flush() {
	t.tw.Flush()
}

func (t *table) line(format string, args ...any) {
	t.flush()
	fmt.Fprintf(&t.buf, format+"\n", args...)
}

func (t *table) writeTo(w io.Writer) error {
	t.flush()
	if _, err := w.Write(t.buf.Bytes()); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	return nil
}

// WriteSummary writes the `llconform run` summary of one kernel: what the kernel claims, the
// expectation checks, one row per suite, then every failed spec and infrastructure error with
// its message, and the run's conclusion.
func WriteSummary(w io.Writer, r *report.Run) error {
	t := newTable()
	t.row("Kernel:", kernelLabel(r.Kernel))
	if r.Compat != nil {
		t.row("Compat:", compatText(r.Compat))
		if r.Compat.NotApplicable != "" {
			// Nothing ran: there is no kernel probe or suite to show.
			t.row("Not applicable:", r.Compat.NotApplicable)
			t.line("\nResult: %s", r.Conclusion)
			return t.writeTo(w)
		}
	}
	if r.Info != nil {
		t.row("Release:", r.Info.Release)
		status := string(r.Info.Status)
		if r.Info.Error != "" {
			status += " (" + r.Info.Error + ")"
		}
		t.row("Landlock:", status)
		t.row("ABI:", fmt.Sprint(r.Info.ABI))
		t.row("Errata:", report.FormatErrata(*r.Info))
	} else {
		t.row("Landlock:", "unknown: no suite reported the kernel")
	}
	if eff := r.EffectiveABI; eff != nil {
		t.row("Effective ABI:", fmt.Sprint(*eff))
	}
	for _, c := range r.Checks {
		mark := "ok"
		switch {
		case c.Unverified:
			mark = "UNVERIFIED"
		case !c.OK && c.Name == verdict.CheckCertified:
			mark = "FAILED" // a skip certification does not allow: not a claim mismatch
		case !c.OK:
			mark = "MISMATCH"
		}
		t.row("Check "+c.Name+":", mark, c.Message)
	}
	if r.Infra != nil {
		t.row("Infrastructure:", r.Infra.Error())
		if r.Infra.ConsoleLog != "" {
			t.row("Console log:", r.Infra.ConsoleLog)
		}
		if r.Infra.ConsoleTail != "" {
			t.line("  %s", indent(r.Infra.ConsoleTail, "  "))
		}
	}
	t.line("")

	if len(r.Suites) == 0 {
		t.line("No suite reported.")
	} else {
		t.row("SUITE", "PASSED", "FAILED", "SKIPPED", "INFRA", "DURATION", "NOTE")
	}
	for _, s := range r.Suites {
		note := ""
		if s.Infra != nil {
			note = s.Infra.Error()
		}
		t.row(s.Name, fmt.Sprint(s.Counts.Passed), fmt.Sprint(s.Counts.Failed), fmt.Sprint(s.Counts.Skipped),
			fmt.Sprint(s.Counts.Infra), duration(s.Duration), note)
	}

	for _, sec := range []struct {
		title string
		state report.State
		known bool
	}{{"Failed specs:", report.Failed, false}, {knownTitle(r), report.Failed, true},
		{"Specs with infrastructure errors:", report.InfraState, false}} {
		first := true
		for _, s := range r.Suites {
			for _, sp := range s.Specs {
				if sp.State != sec.state || (sp.Known != nil) != sec.known {
					continue
				}
				if first {
					t.line("\n%s", sec.title)
					first = false
				}
				t.line("  %s", sp.ID)
				if sp.Known != nil {
					t.line("      known issue: %s", knownText(sp.Known))
				}
				if sp.Failure != nil {
					t.line("      %s", indent(sp.Failure.Message, "      "))
					if sp.Failure.Location != "" {
						t.line("      at %s", sp.Failure.Location)
					}
				}
			}
		}
	}
	if len(r.Notices) > 0 {
		t.line("")
	}
	for _, n := range r.Notices {
		t.line("%s", n)
	}
	t.line("\nResult: %s", r.Conclusion)
	return t.writeTo(w)
}

// knownTitle heads the known failures of a run's summary.
func knownTitle(r *report.Run) string {
	if verdict.KnownIssuesExcuse(r) {
		return "Known failures (excused by a known issue):"
	}
	return "Known failures (known issues are not excused in a certified run):"
}

// WriteMatrix writes one row per kernel: its name, ABI, errata, "passed/failed/skipped" per
// suite (or the infrastructure error kind), and the run's conclusion.
func WriteMatrix(w io.Writer, res *report.Result) error {
	var suites []string
	for _, r := range res.Runs {
		for _, s := range r.Suites {
			if !slices.Contains(suites, s.Name) {
				suites = append(suites, s.Name)
			}
		}
	}
	t := newTable()
	header := []string{"KERNEL", "ARCH", "ABI", "ERRATA"}
	for _, s := range suites {
		header = append(header, strings.ToUpper(s))
	}
	t.row(append(header, "RESULT")...)
	for i := range res.Runs {
		r := &res.Runs[i]
		row := []string{r.Kernel.Name, r.Kernel.Architecture(), abiCell(r), errataCell(r)}
		for _, name := range suites {
			row = append(row, suiteCell(r, name))
		}
		t.row(append(row, string(r.Conclusion))...)
	}
	t.line("\nsuite cells: passed/failed/skipped, +Ni for specs with infrastructure errors, +Nk for known failures")
	for _, n := range report.AllNotices(res) {
		t.line("%s", n)
	}
	for i := range res.Runs {
		writeWhy(t, &res.Runs[i])
	}
	return t.writeTo(w)
}

// maxWhySpecs bounds the failed specs listed per kernel under the matrix; the summary,
// result.json and the HTML report have them all.
const maxWhySpecs = 5

// writeWhy says, under the matrix, why a kernel did not pass: the checks that mismatched or
// could not be verified, and the first lines of its failed specs.
func writeWhy(t *table, r *report.Run) {
	if c := r.Conclusion; c == report.ConclusionPass || c == report.ConclusionInfra && r.Infra != nil {
		return
	}
	var lines []string
	if c := r.Compat; c != nil && c.NotApplicable != "" {
		lines = append(lines, "not applicable: "+c.NotApplicable)
	}
	for _, c := range r.Checks {
		switch {
		case c.Unverified:
			lines = append(lines, "unverified "+c.Name+": "+c.Message)
		case !c.OK && c.Name == verdict.CheckCertified:
			lines = append(lines, "failed "+c.Name+": "+c.Message)
		case !c.OK:
			lines = append(lines, "mismatch "+c.Name+": "+c.Message)
		}
	}
	var failed []string
	for _, s := range r.Suites {
		for _, sp := range s.Specs {
			if sp.State == report.Failed && sp.Known == nil {
				msg := ""
				if sp.Failure != nil {
					msg = ": " + report.FirstLine(sp.Failure.Message)
				}
				failed = append(failed, "failed "+sp.ID+msg)
			}
		}
	}
	if len(failed) > maxWhySpecs {
		failed = append(failed[:maxWhySpecs], fmt.Sprintf("and %d more failed specs", len(failed)-maxWhySpecs))
	}
	lines = append(lines, failed...)
	if len(lines) == 0 {
		return
	}
	t.line("\n%s:", r.Kernel.Name)
	for _, l := range lines {
		t.line("  %s", l)
	}
}

func abiCell(r *report.Run) string {
	switch {
	case r.Info == nil:
		return "?"
	case r.Info.Status != report.StatusAvailable:
		return string(r.Info.Status)
	}
	if eff := r.EffectiveABI; eff != nil && *eff != verdict.VerifiableABI(*r.Info) {
		return fmt.Sprintf("%d (behaves %d)", r.Info.ABI, *eff)
	}
	return fmt.Sprint(r.Info.ABI)
}

func errataCell(r *report.Run) string {
	switch {
	case r.Info == nil:
		return "?"
	case !r.Info.ErrataQuery:
		return "no query"
	}
	return report.ErrataBits(r.Info.Errata)
}

func suiteCell(r *report.Run, name string) string {
	i := slices.IndexFunc(r.Suites, func(s report.Suite) bool { return s.Name == name })
	if i < 0 {
		if r.Infra != nil {
			return string(r.Infra.Kind)
		}
		return "-"
	}
	s := r.Suites[i]
	if s.Infra != nil && len(s.Specs) == 0 {
		return string(s.Infra.Kind)
	}
	cell := fmt.Sprintf("%d/%d/%d", s.Counts.Passed, s.Counts.Failed, s.Counts.Skipped)
	if s.Counts.Infra > 0 {
		cell += fmt.Sprintf(" +%di", s.Counts.Infra)
	}
	if s.Counts.Known > 0 {
		cell += fmt.Sprintf(" +%dk", s.Counts.Known)
	}
	if s.Infra != nil {
		cell += " " + string(s.Infra.Kind)
	}
	return cell
}

// featureCodes are the feature table's cells: a trailing "!" marks what fails a run, a "?"
// an observation with no claim to check it against.
var featureCodes = []struct {
	outcome report.Outcome
	code    string
	meaning string
}{
	{report.Works, "W", "works"},
	{report.Absent, "A", "correctly absent (above the kernel's ABI, cleanly rejected; or, outside the ABI, not in this kernel)"},
	{report.Broken, "B!", "broken"},
	{report.ErratumFixed, "F", "erratum fixed, as advertised"},
	{report.ErratumNotFixedAdvertised, "N", "erratum not fixed, as advertised"},
	{report.ErratumFixedNotAdvertised, "U!", "erratum fixed but not advertised (the errata bitmask leaves it out)"},
	{report.ErratumFixedNoQuery, "F?", "erratum fixed; the kernel has no errata query to advertise it"},
	{report.ErratumAdvertisedNotFixed, "X!", "erratum advertised but not fixed"},
	{report.NotApplicable, "NA", "not applicable here (see the skip reason)"},
	{report.Unknown, "?", "unknown (infrastructure error)"},
}

// knownMark replaces the "!" of a failing outcome's code when a known issue excuses it.
const knownMark = "k"

func featureCode(f report.FeatureResult) string {
	for _, c := range featureCodes {
		if c.outcome == f.Outcome {
			if f.Known != nil {
				return strings.TrimSuffix(c.code, "!") + knownMark
			}
			return c.code
		}
	}
	return string(f.Outcome)
}

func knownText(k *report.Known) string {
	if k.Link == "" {
		return k.Reason
	}
	return k.Reason + " (" + k.Link + ")"
}

// WriteFeatures writes the kernel x feature table: one row per feature, one column per
// kernel, short outcome codes, and a legend.
func WriteFeatures(w io.Writer, res *report.Result) error {
	cells := map[string][]string{}
	var features []string
	for i := range res.Runs {
		for _, f := range res.Runs[i].Features {
			if cells[f.Feature] == nil {
				cells[f.Feature] = make([]string, len(res.Runs))
				features = append(features, f.Feature)
			}
			cells[f.Feature][i] = featureCode(f)
		}
	}
	slices.Sort(features)
	t := newTable()
	header := []string{"FEATURE"}
	for _, r := range res.Runs {
		header = append(header, r.Kernel.Name)
	}
	t.row(header...)
	for _, f := range features {
		row := []string{f}
		for _, c := range cells[f] {
			if c == "" {
				c = "-"
			}
			row = append(row, c)
		}
		t.row(row...)
	}
	t.line("")
	for _, c := range featureCodes {
		t.row("  "+c.code, c.meaning)
	}
	t.row("  Bk", "broken, excused by a known issue (except in a certified run)")
	t.row("  Xk", "erratum advertised but not fixed, excused by a known issue (except in a certified run)")
	t.row("  -", "not tested on this kernel")
	return t.writeTo(w)
}

func kernelLabel(k report.Kernel) string {
	var extra []string
	for _, s := range []string{k.Release, k.Source} {
		if s != "" {
			extra = append(extra, s)
		}
	}
	if k.Package != "" {
		extra = append(extra, strings.TrimSpace(k.Package+" "+k.Version))
	}
	if len(extra) == 0 {
		return k.Name
	}
	return k.Name + " (" + strings.Join(extra, ", ") + ")"
}

func duration(d time.Duration) string {
	return d.Round(time.Millisecond).String()
}

// indent keeps multi-line failure messages (Gomega's are) under their spec.
func indent(s, prefix string) string {
	return strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n"+prefix)
}
