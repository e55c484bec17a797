package render

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/llconform/llconform/internal/diff"
)

// diffSection is one heading of a kernel's changes: the kinds it gathers, in the order they
// are shown (what gates first, news last).
type diffSection struct {
	title string
	kinds []diff.Kind
}

var diffSections = []diffSection{
	{"newly failing", []diff.Kind{diff.NewFailure, diff.WarningsNew}},
	{"features changed", []diff.Kind{diff.FeatureLost, diff.FeatureNA, diff.FeatureOther, diff.FeatureGain}},
	{"claims changed", []diff.Kind{diff.Claim}},
	{"coverage lost", []diff.Kind{diff.NewSkip, diff.SpecRemoved}},
	{"infrastructure errors", []diff.Kind{diff.InfraNew, diff.InfraGone}},
	{"newly passing", []diff.Kind{diff.Fixed, diff.KnownPasses, diff.Unskipped}},
	{"other", []diff.Kind{diff.NewKnown, diff.SpecAdded, diff.KernelGone, diff.KernelNew}},
}

// diffKindText is how a change's kind reads in a table.
var diffKindText = map[diff.Kind]string{
	diff.NewFailure:   "new failure",
	diff.WarningsNew:  "kernel warnings",
	diff.FeatureLost:  "feature lost",
	diff.FeatureNA:    "not exercised",
	diff.FeatureOther: "feature changed",
	diff.FeatureGain:  "feature gained",
	diff.Claim:        "claim changed",
	diff.NewSkip:      "newly skipped",
	diff.SpecRemoved:  "spec not run",
	diff.InfraNew:     "new infra error",
	diff.InfraGone:    "infra error gone",
	diff.Fixed:        "newly passing",
	diff.KnownPasses:  "known issue passes",
	diff.Unskipped:    "runs again",
	diff.NewKnown:     "new known failure",
	diff.SpecAdded:    "new spec",
	diff.KernelGone:   "kernel not in NEW",
	diff.KernelNew:    "kernel not in BASE",
}

// orderedChanges returns a kernel's changes in section order, regressions first within a
// section. The conclusion change is left out: the kernel's row shows it.
func orderedChanges(k diff.Kernel) []diff.Change {
	var out []diff.Change
	for _, sec := range diffSections {
		for _, regression := range []bool{true, false} {
			for _, c := range k.Changes {
				if c.Regression == regression && containsKind(sec.kinds, c.Kind) {
					out = append(out, c)
				}
			}
		}
	}
	return out
}

func containsKind(kinds []diff.Kind, k diff.Kind) bool {
	for _, x := range kinds {
		if x == k {
			return true
		}
	}
	return false
}

func kernelRegressions(k diff.Kernel) int {
	n := 0
	for _, c := range k.Changes {
		if c.Regression {
			n++
		}
	}
	return n
}

// kernelChanges counts the changes shown for a kernel (the conclusion is on its row).
func kernelChanges(k diff.Kernel) int {
	n := 0
	for _, c := range k.Changes {
		if c.Kind != diff.Conclusion {
			n++
		}
	}
	return n
}

func sideText(s diff.Side) string {
	parts := []string{}
	if s.Generator != "" {
		parts = append(parts, s.Generator)
	}
	if !s.Time.IsZero() {
		parts = append(parts, s.Time.UTC().Format(time.DateTime+" UTC"))
	}
	parts = append(parts, fmt.Sprintf("%d kernel%s", s.Kernels, plural(s.Kernels)))
	name := s.File
	if name == "" {
		name = "(result)"
	}
	return name + " (" + strings.Join(parts, ", ") + ")"
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func matchText(k diff.Kernel) string {
	switch k.Match {
	case diff.ByName:
		return "by name"
	case diff.ByRelease:
		return "by release, BASE " + k.BaseName
	case diff.ByPair:
		return "paired with BASE " + k.BaseName
	case diff.ByLastOne:
		return "the one kernel left, BASE " + k.BaseName
	}
	return "one side only"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// verdictLine is the diff's one-line verdict.
func verdictLine(d *diff.Diff) string {
	n := d.Regressions()
	gate := strings.ReplaceAll(d.GatedOn, ",", ", ")
	if n == 0 {
		return fmt.Sprintf("no regression (gate: %s)", gate)
	}
	return fmt.Sprintf("%d regression%s (gate: %s)", n, plural(n), gate)
}

// WriteDiff writes a diff for a terminal or a CI log: both sides, one row per kernel, then
// per kernel with changes a table of them (regressions marked "!"), and the verdict.
func WriteDiff(w io.Writer, d *diff.Diff) error {
	t := newTable()
	t.row("BASE:", sideText(d.Base))
	t.row("NEW:", sideText(d.New))
	t.line("")
	t.row("KERNEL", "MATCHED", "BASE", "NEW", "REGRESSIONS", "CHANGES")
	for _, k := range d.Kernels {
		t.row(k.Name, matchText(k), orDash(string(k.BaseConclusion)), orDash(string(k.NewConclusion)),
			fmt.Sprint(kernelRegressions(k)), fmt.Sprint(kernelChanges(k)))
	}
	for _, k := range d.Kernels {
		cs := orderedChanges(k)
		if len(cs) == 0 {
			continue
		}
		rel := ""
		if k.BaseRelease != "" || k.NewRelease != "" {
			rel = fmt.Sprintf(" (%s -> %s)", orDash(k.BaseRelease), orDash(k.NewRelease))
		}
		t.line("\n%s%s:", k.Name, rel)
		t.row("", "CHANGE", "SUBJECT", "BASE", "NEW", "DETAIL")
		for _, c := range cs {
			mark := ""
			if c.Regression {
				mark = "!"
			}
			t.row(mark, diffKindText[c.Kind], c.Subject, orDash(c.Base), orDash(c.New), c.Detail)
		}
	}
	t.line("\n%s", verdictLine(d))
	return t.writeTo(w)
}

// markdownMaxRows bounds the changes listed per kernel in markdown: a pull-request comment
// has a size limit (65536 characters on GitHub), and the job's log has them all.
const markdownMaxRows = 40

// WriteDiffMarkdown writes a diff as markdown fit for a pull-request or merge-request
// comment: the verdict as a heading, a table of kernels, and per kernel with changes a
// collapsible table of them, open when it holds a regression.
func WriteDiffMarkdown(w io.Writer, d *diff.Diff) error {
	var b strings.Builder
	n := d.Regressions()
	icon := "✅"
	if n > 0 {
		icon = "❌"
	}
	fmt.Fprintf(&b, "### %s llconform: %s\n\n", icon, verdictLine(d))
	fmt.Fprintf(&b, "NEW %s compared with BASE %s.\n\n", mdCode(sideText(d.New)), mdCode(sideText(d.Base)))
	b.WriteString("| kernel | matched | BASE | NEW | regressions | changes |\n|---|---|---|---|---:|---:|\n")
	for _, k := range d.Kernels {
		nc := orDash(string(k.NewConclusion))
		if k.NewConclusion != k.BaseConclusion && kernelRegressions(k) > 0 {
			nc = "**" + nc + "**"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %d | %d |\n", mdCell(k.Name), mdCell(matchText(k)),
			orDash(string(k.BaseConclusion)), nc, kernelRegressions(k), kernelChanges(k))
	}
	for _, k := range d.Kernels {
		cs := orderedChanges(k)
		if len(cs) == 0 {
			continue
		}
		open := ""
		if kernelRegressions(k) > 0 {
			open = " open"
		}
		fmt.Fprintf(&b, "\n<details%s><summary><b>%s</b>: %d regression%s, %d change%s</summary>\n\n", open,
			mdHTML(k.Name), kernelRegressions(k), plural(kernelRegressions(k)), len(cs), plural(len(cs)))
		b.WriteString("| | change | subject | BASE | NEW | detail |\n|---|---|---|---|---|---|\n")
		for i, c := range cs {
			if i == markdownMaxRows {
				fmt.Fprintf(&b, "| | … | %d more changes: see `llconform report diff` in the job's log | | | |\n", len(cs)-i)
				break
			}
			mark := ""
			if c.Regression {
				mark = "❗"
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", mark, diffKindText[c.Kind], mdCode(c.Subject),
				mdCell(orDash(c.Base)), mdCell(orDash(c.New)), mdCell(truncate(c.Detail, 200)))
		}
		b.WriteString("\n</details>\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func truncate(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// mdCell escapes what would break a markdown table cell or start markup.
func mdCell(s string) string {
	s = strings.NewReplacer("\n", " ", "|", `\|`, "<", "&lt;", ">", "&gt;", "*", `\*`, "_", `\_`, "`", "'").Replace(s)
	return s
}

func mdHTML(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// mdCode quotes s as inline code; a backtick inside is replaced, pipes escaped for tables.
func mdCode(s string) string {
	if s == "" || s == "-" {
		return "-"
	}
	return "`" + strings.NewReplacer("`", "'", "|", `\|`, "\n", " ").Replace(s) + "`"
}

// htmlComparison is the "compared with" section of report.html.
type htmlComparison struct {
	Base, New string
	Verdict   string
	Class     string // conclusion class of the verdict badge
	Kernels   []htmlDiffKernel
}

type htmlDiffKernel struct {
	Name, Matched, Base, New string
	BaseClass, NewClass      string
	Regressions              int
	Changes                  []htmlDiffChange
}

type htmlDiffChange struct {
	Regression                       bool
	Kind, Subject, Base, New, Detail string
}

func buildComparison(d *diff.Diff) *htmlComparison {
	if d == nil {
		return nil
	}
	c := &htmlComparison{Base: sideText(d.Base), New: sideText(d.New), Verdict: verdictLine(d), Class: "c-pass"}
	if d.Regressions() > 0 {
		c.Class = "c-fail"
	}
	for _, k := range d.Kernels {
		hk := htmlDiffKernel{Name: k.Name, Matched: matchText(k), Base: orDash(string(k.BaseConclusion)), New: orDash(string(k.NewConclusion)),
			Regressions: kernelRegressions(k)}
		if k.BaseConclusion != "" {
			hk.BaseClass = conclusionClass(k.BaseConclusion)
		}
		if k.NewConclusion != "" {
			hk.NewClass = conclusionClass(k.NewConclusion)
		}
		for _, ch := range orderedChanges(k) {
			hk.Changes = append(hk.Changes, htmlDiffChange{Regression: ch.Regression, Kind: diffKindText[ch.Kind], Subject: ch.Subject,
				Base: orDash(ch.Base), New: orDash(ch.New), Detail: ch.Detail})
		}
		c.Kernels = append(c.Kernels, hk)
	}
	return c
}
