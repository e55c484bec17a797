package render

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/llconform/llconform/internal/diff"
	"github.com/llconform/llconform/internal/report"
)

func sampleDiff(extra int) *diff.Diff {
	d := &diff.Diff{
		Base: diff.Side{File: "base/result.json", Generator: "llconform", Time: time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC), Kernels: 2},
		New:  diff.Side{File: "new/result.json", Generator: "llconform", Time: time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC), Kernels: 2},
		Kernels: []diff.Kernel{
			{Name: "debian-6.1", Match: diff.ByName, BaseConclusion: report.ConclusionPass, NewConclusion: report.ConclusionPass},
			{Name: "lying-7.3", Match: diff.ByName, BaseRelease: "7.3.4", NewRelease: "7.3.4",
				BaseConclusion: report.ConclusionPass, NewConclusion: report.ConclusionFail,
				Changes: []diff.Change{
					{Kind: diff.Conclusion, Subject: "conclusion", Base: "PASS", New: "FAIL"},
					{Kind: diff.Fixed, Subject: "fs/old", Base: "failed", New: "passed"},
					{Kind: diff.NewSkip, Subject: "net/sctp", Base: "passed", New: "skipped", Detail: "module sctp not loaded"},
					{Kind: diff.NewFailure, Subject: "scope/nnp.flag", Base: "passed", New: "failed", Detail: "no_new_privs | <unset>"},
					{Kind: diff.Claim, Subject: "effective-abi", Base: "11", New: "10"},
				}},
		},
	}
	for i := 0; i < extra; i++ {
		d.Kernels[1].Changes = append(d.Kernels[1].Changes, diff.Change{Kind: diff.SpecAdded, Subject: fmt.Sprintf("fs/new%d", i), New: "passed"})
	}
	d.Gate(diff.DefaultGate)
	return d
}

func TestWriteDiff(t *testing.T) {
	var b bytes.Buffer
	if err := WriteDiff(&b, sampleDiff(0)); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"BASE:  base/result.json (llconform, 2026-11-01 10:00:00 UTC, 2 kernels)",
		"lying-7.3   by name  PASS  FAIL  2            4",
		"lying-7.3 (7.3.4 -> 7.3.4):",
		"2 regressions (gate: fail, feature, claim)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// Regressions first, marked; the sections in order: failures, claims, coverage, passing.
	order := []string{"!  new failure", "!  claim changed", "newly skipped", "newly passing"}
	last := -1
	for _, o := range order {
		i := strings.Index(out, o)
		if i < 0 || i < last {
			t.Errorf("%q missing or out of order in\n%s", o, out)
		}
		last = i
	}
	if strings.Contains(out, "conclusion  PASS") {
		t.Errorf("the conclusion change belongs on the kernel's row, not in its changes:\n%s", out)
	}
}

func TestWriteDiffMarkdown(t *testing.T) {
	var b bytes.Buffer
	if err := WriteDiffMarkdown(&b, sampleDiff(0)); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	for _, want := range []string{
		"### ❌ llconform: 2 regressions (gate: fail, feature, claim)",
		"| lying-7.3 | by name | PASS | **FAIL** | 2 | 4 |",
		"<details open><summary><b>lying-7.3</b>: 2 regressions, 4 changes</summary>",
		"| ❗ | new failure | `scope/nnp.flag` | passed | failed | no\\_new\\_privs \\| &lt;unset&gt; |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	// Every table row has the same number of cells as its header.
	for _, line := range strings.Split(md, "\n") {
		if strings.HasPrefix(line, "| ") && strings.Count(strings.ReplaceAll(line, `\|`, ""), "|") != 7 && !strings.HasPrefix(line, "| kernel") && !strings.Contains(line, "by name") {
			t.Errorf("row with a stray cell: %q", line)
		}
	}

	b.Reset()
	d := sampleDiff(100)
	if err := WriteDiffMarkdown(&b, d); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "64 more changes") {
		t.Errorf("a long list is not cut at %d rows:\n%s", markdownMaxRows, b.String())
	}

	b.Reset()
	d.Gate(nil)
	if err := WriteDiffMarkdown(&b, d); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(b.String(), "### ✅ llconform: no regression (gate: none)") {
		t.Errorf("ungated diff heading: %q", strings.SplitN(b.String(), "\n", 2)[0])
	}
}

func TestWriteHTMLComparison(t *testing.T) {
	res := htmlResult(t)
	var b bytes.Buffer
	if err := WriteHTML(&b, res, HTMLOptions{}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), `id="compared"`) {
		t.Error("a report without a comparison has a comparison section")
	}
	b.Reset()
	if err := WriteHTML(&b, res, HTMLOptions{Comparison: sampleDiff(0)}); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	for _, want := range []string{
		`<h2 id="compared">Compared with base/result.json (llconform, 2026-11-01 10:00:00 UTC, 2 kernels)</h2>`,
		`<span class="verdict c-fail">2 regressions (gate: fail, feature, claim)</span>`,
		`<td class="left mono">scope/nnp.flag</td>`,
		`no_new_privs | &lt;unset&gt;`,
		`<a href="#compared">`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
}
