// Package coverage maps the kernel's Landlock selftests to the llconform specs that check
// the same behaviour, and renders docs/selftest-coverage.md. Three inputs make it: the
// inventory of the selftests of one kernel (read from the kernel's C files by ReadSelftests
// and committed, so that nothing here needs a kernel tree), the specs' Selftest labels
// ("selftest:<file>:<test>", from the suites' dry runs), and the hand-written gaps file,
// which says for each selftest the specs do not or only partly cover what they lack.
// Like conformance.yaml, the document is generated and committed; Check compares it with a
// fresh one, and Build's problems (a label or a gap naming no selftest, a selftest with
// neither a spec nor a reason) fail the check.
package coverage

import (
	"bytes"
	"fmt"
	"slices"
	"strings"

	"github.com/llconform/llconform/internal/report"
)

// LabelPrefix starts a spec's selftest label (see spec.Selftest).
const LabelPrefix = "selftest:"

// Spec is what coverage needs of one spec: its ID ("<suite>/<id>") and the selftests its
// labels name ("<file>:<test>").
type Spec struct {
	ID        string
	Selftests []string
}

// FromDryRun reads the specs of the suite binary named suite from the Ginkgo JSON report of
// its dry run (see conformance.DryRun), through report.ImportGinkgo as results are read.
// Specs without a selftest label are left out.
func FromDryRun(suite string, data []byte) ([]Spec, error) {
	s, err := report.ImportGinkgo(data, suite)
	if err != nil {
		return nil, fmt.Errorf("coverage: %w", err)
	}
	if s.Infra != nil {
		return nil, fmt.Errorf("coverage: suite %s: dry run failed: %v", suite, s.Infra)
	}
	var out []Spec
	for _, sp := range s.Specs {
		var refs []string
		for _, l := range sp.Labels {
			if ref, ok := strings.CutPrefix(l, LabelPrefix); ok {
				refs = append(refs, ref)
			}
		}
		if len(refs) > 0 {
			out = append(out, Spec{ID: sp.ID, Selftests: refs})
		}
	}
	return out, nil
}

// Row is one selftest in the document.
type Row struct {
	Test   Test
	Status Status
	// Specs are the IDs of the specs labelled with the test, sorted.
	Specs []string
	// Reason is the gaps file's, for Partial and Not (and a placeholder's, for Missing).
	Reason string
}

// Coverage is the content of the coverage document.
type Coverage struct {
	// Kernel is the version of the inventory.
	Kernel string
	// InventoryFile and GapsFile name the inputs in the document's header.
	InventoryFile, GapsFile string
	Rows                    []Row
}

// Problem is what makes the document wrong: a label or a gap that names no selftest of the
// inventory, a gap that contradicts the labels, a selftest with neither spec nor reason.
type Problem struct {
	// Missing is set for a selftest without spec or reason: the lead fills these in
	// (Todo lists them as entries to complete).
	Missing bool
	Text    string
}

func (p Problem) String() string { return p.Text }

// placeholder starts a reason that is still to be written (see Todo): it counts as none.
const placeholder = "TODO"

// Build maps each selftest of inv to the specs labelled with it and the gaps file's entry.
// It always returns the document, so that it can be written and read even while the
// problems it also returns are being fixed.
func Build(inv *Inventory, specs []Spec, gaps []Gap, inventoryFile, gapsFile string) (*Coverage, []Problem) {
	var problems []Problem
	known := make(map[string]bool, len(inv.Tests))
	for _, t := range inv.Tests {
		known[t.Ref()] = true
	}
	bySelftest := map[string][]string{}
	for _, s := range specs {
		for _, ref := range s.Selftests {
			if !known[ref] {
				problems = append(problems, Problem{Text: fmt.Sprintf("spec %s: label %s%s names no selftest of Linux %s (%s): a typo, or a test renamed upstream?",
					s.ID, LabelPrefix, ref, inv.Kernel, inventoryFile)})
				continue
			}
			if !slices.Contains(bySelftest[ref], s.ID) {
				bySelftest[ref] = append(bySelftest[ref], s.ID)
			}
		}
	}
	byGap := map[string]Gap{}
	for _, g := range gaps {
		if !known[g.Selftest] {
			problems = append(problems, Problem{Text: fmt.Sprintf("%s: %s names no selftest of Linux %s (%s)", g.Where, g.Selftest, inv.Kernel, inventoryFile)})
			continue
		}
		byGap[g.Selftest] = g
	}
	c := &Coverage{Kernel: inv.Kernel, InventoryFile: inventoryFile, GapsFile: gapsFile}
	for _, t := range inv.Tests {
		ids := bySelftest[t.Ref()]
		slices.Sort(ids)
		r := Row{Test: t, Specs: ids}
		g, hasGap := byGap[t.Ref()]
		r.Reason = g.Reason
		switch {
		case hasGap && strings.HasPrefix(g.Reason, placeholder):
			r.Status = Missing
			problems = append(problems, Problem{Missing: true, Text: fmt.Sprintf("%s: %s: the reason is still a placeholder", g.Where, t.Ref())})
		case hasGap && g.Status == Not && len(ids) > 0:
			r.Status = Partial
			problems = append(problems, Problem{Text: fmt.Sprintf("%s: %s is marked not covered, but %s cover%s it: make the entry partial, or drop it",
				g.Where, t.Ref(), strings.Join(ids, ", "), verbS(len(ids)))})
		case hasGap && g.Status == Partial && len(ids) == 0:
			r.Status = Not
			problems = append(problems, Problem{Text: fmt.Sprintf("%s: %s is marked partial, but no spec is labelled with it: label the specs that check part of it, or mark it not",
				g.Where, t.Ref())})
		case hasGap:
			r.Status = g.Status
		case len(ids) > 0:
			r.Status = Covered
		default:
			r.Status = Missing
			problems = append(problems, Problem{Missing: true, Text: fmt.Sprintf("%s: no spec is labelled with it and %s gives no reason", t.Ref(), gapsFile)})
		}
		c.Rows = append(c.Rows, r)
	}
	return c, problems
}

func verbS(n int) string {
	if n == 1 {
		return "s"
	}
	return ""
}

// maxMissing bounds the selftests without spec or reason that Err lists one by one; Todo
// lists them all.
const maxMissing = 20

// Err summarises problems as one error, nil when there are none.
func Err(problems []Problem, gapsFile string) error {
	if len(problems) == 0 {
		return nil
	}
	var lines []string
	missing := 0
	for _, p := range problems {
		if p.Missing {
			missing++
			if missing > maxMissing {
				continue
			}
		}
		lines = append(lines, p.Text)
	}
	if missing > maxMissing {
		lines = append(lines, fmt.Sprintf("... and %d more without a spec or a reason", missing-maxMissing))
	}
	msg := fmt.Sprintf("%d selftest coverage problem%s:\n%s", len(problems), plural(len(problems)), strings.Join(lines, "\n"))
	if missing > 0 {
		msg += fmt.Sprintf("\n%d selftest%s without a covering spec or a reason: label the specs that check them (spec.Selftest), or give the reason in %s (llconform specs --gaps-todo lists the entries to fill in)",
			missing, plural(missing), gapsFile)
	}
	return fmt.Errorf("%s", msg)
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// counts is one line of the summary table.
type counts struct {
	file                                  string
	tests, covered, partial, not, missing int
}

func (c *counts) add(s Status) {
	c.tests++
	switch s {
	case Covered:
		c.covered++
	case Partial:
		c.partial++
	case Not:
		c.not++
	default:
		c.missing++
	}
}

func (c *Coverage) summary() ([]counts, counts) {
	var files []counts
	total := counts{file: "**total**"}
	for _, r := range c.Rows {
		if len(files) == 0 || files[len(files)-1].file != r.Test.File {
			files = append(files, counts{file: r.Test.File})
		}
		files[len(files)-1].add(r.Status)
		total.add(r.Status)
	}
	return files, total
}

// Markdown renders the document: a header, the summary per selftest file with totals, then
// per file one table row per test with its variants, its covering specs and the gap reason.
func (c *Coverage) Markdown() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Landlock selftest coverage (Linux %s)\n\n", c.Kernel)
	fmt.Fprintf(&b, "<!-- Generated by `llconform specs` (make conformance) from the specs' Selftest labels, %s\nand %s; do not edit. `make lint` fails when it is out of date. -->\n\n", c.InventoryFile, c.GapsFile)
	fmt.Fprintf(&b, "Every TEST, TEST_F and TEST_F_FORK of Linux %s's tools/testing/selftests/landlock (inventory: %s),\n", c.Kernel, c.InventoryFile)
	b.WriteString("with the llconform specs that check its behaviour: those labelled `spec.Selftest(\"<file>\", \"<test>\")`.\n")
	b.WriteString("A TEST_F runs once per variant of its fixture; a label covers every variant, and a gap reason says which are left.\n\n")
	b.WriteString("- **covered**: specs check it, and nothing is known missing;\n")
	fmt.Fprintf(&b, "- **partial**: specs check part of it; %s says what they lack;\n", c.GapsFile)
	fmt.Fprintf(&b, "- **not**: no spec checks it; %s says why and what would make it runnable;\n", c.GapsFile)
	b.WriteString("- **missing**: no spec and no reason yet, which fails `make lint`.\n\n")

	b.WriteString("## Summary\n\n")
	b.WriteString("| file | tests | covered | partial | not | missing |\n|---|---:|---:|---:|---:|---:|\n")
	files, total := c.summary()
	for _, f := range append(files, total) {
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %d | %d |\n", f.file, f.tests, f.covered, f.partial, f.not, f.missing)
	}

	for _, f := range files {
		fmt.Fprintf(&b, "\n## %s\n\n", f.file)
		b.WriteString("| test | variants | status | specs | gap |\n|---|---|---|---|---|\n")
		for _, r := range c.Rows {
			if r.Test.File != f.file {
				continue
			}
			status := string(r.Status)
			if r.Status == Missing {
				status = "**missing**"
			}
			fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s |\n", r.Test.Name, strings.Join(r.Test.Variants, ", "),
				status, strings.Join(r.Specs, ", "), cell(r.Reason))
		}
	}
	return b.Bytes()
}

// cell makes text fit in one table cell.
func cell(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	return strings.ReplaceAll(s, "|", `\|`)
}

// Todo renders, as entries of the gaps file, every selftest that has neither a covering
// spec nor a reason, each with a placeholder reason that Build still counts as missing:
// the list to fill in.
func (c *Coverage) Todo() []byte {
	var b bytes.Buffer
	file := ""
	for _, r := range c.Rows {
		if r.Status != Missing {
			continue
		}
		if r.Test.File != file {
			file = r.Test.File
			fmt.Fprintf(&b, "# %s\n", file)
		}
		fmt.Fprintf(&b, "- selftest: %s\n  status: not\n  reason: >-\n    %s: what it needs, what would make it runnable\n", r.Test.Ref(), placeholder)
	}
	return b.Bytes()
}

// Check compares the committed document with a freshly generated one and lists the lines
// that differ, at most maxDiff of them.
func Check(committed, generated []byte, file string) error {
	if bytes.Equal(committed, generated) {
		return nil
	}
	diff := lineDiff(strings.Split(string(committed), "\n"), strings.Split(string(generated), "\n"))
	n := len(diff)
	if n > maxDiff {
		diff = append(diff[:maxDiff], fmt.Sprintf("... and %d more", n-maxDiff))
	}
	return fmt.Errorf("%s is out of date (%d line%s differ; - committed, + generated); regenerate it with make conformance and review:\n%s",
		file, n, plural(n), strings.Join(diff, "\n"))
}

const maxDiff = 40

// lineDiff returns the lines only in a ("- ") and only in b ("+ "), in order, from their
// longest common subsequence.
func lineDiff(a, b []string) []string {
	// lcs[i][j] is the LCS length of a[i:] and b[j:].
	lcs := make([][]int, len(a)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out []string
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case i < len(a) && j < len(b) && a[i] == b[j]:
			i++
			j++
		case i < len(a) && (j == len(b) || lcs[i+1][j] >= lcs[i][j+1]):
			out = append(out, "- "+a[i])
			i++
		default:
			out = append(out, "+ "+b[j])
			j++
		}
	}
	return out
}
