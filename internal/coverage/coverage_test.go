package coverage

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/onsi/ginkgo/v2/types"
)

func testInventory() *Inventory {
	return &Inventory{Kernel: "9.8.7", Tests: []Test{
		{File: "a_test", Name: "covered"},
		{File: "a_test", Name: "fix.partial", Variants: []string{"v1", "v2"}},
		{File: "a_test", Name: "not"},
		{File: "a_test", Name: "missing"},
		{File: "b_test", Name: "twice"},
		{File: "b_test", Name: "todo"},
	}}
}

func TestParseGaps(t *testing.T) {
	data := `# reasons
- selftest: a_test:not
  status: not
  reason: >-
    needs a | pipe
    and two lines
- selftest: a_test:fix.partial
  status: partial
  reason: the v2 variant is left
`
	gaps, err := ParseGaps([]byte(data), "gaps.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := []Gap{
		{Selftest: "a_test:not", Status: Not, Reason: "needs a | pipe and two lines", Where: "gaps.yaml:2"},
		{Selftest: "a_test:fix.partial", Status: Partial, Reason: "the v2 variant is left", Where: "gaps.yaml:7"},
	}
	if !reflect.DeepEqual(gaps, want) {
		t.Errorf("gaps =\n%+v\nwant\n%+v", gaps, want)
	}
	if gaps, err := ParseGaps(nil, "gaps.yaml"); err != nil || gaps != nil {
		t.Errorf("empty file: %v, %v", gaps, err)
	}
	for _, c := range []struct{ data, want string }{
		{"- selftest: a_test:x\n  status: covered\n  reason: r\n", `gaps.yaml:1: a_test:x: status "covered": want not or partial`},
		{"- selftest: a_test:x\n  status: not\n  reason: ' '\n", "gaps.yaml:1: a_test:x: no reason"},
		{"- status: not\n  reason: r\n", "gaps.yaml:1: no selftest"},
		{"- selftest: a_test:x\n  status: not\n  reason: r\n- selftest: a_test:x\n  status: not\n  reason: s\n", "gaps.yaml:4: a_test:x already has an entry at gaps.yaml:1"},
		{"- selftest: a_test:x\n  stauts: not\n", `gaps.yaml:2: unknown key "stauts" (want one of selftest, status, reason)`},
		{"- selftest: a_test:x\n  status:\n", `gaps.yaml:2: key "status" has no value`},
		{"selftest: a_test:x\n", "want a list of gaps"},
	} {
		if _, err := ParseGaps([]byte(c.data), "gaps.yaml"); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseGaps(%q): err = %v, want %q", c.data, err, c.want)
		}
	}
}

func TestBuild(t *testing.T) {
	specs := []Spec{
		{ID: "abi/one", Selftests: []string{"a_test:covered", "a_test:fix.partial"}},
		{ID: "abi/two", Selftests: []string{"a_test:covered", "a_test:covered"}},
		{ID: "fs/typo", Selftests: []string{"a_test:coverd"}},
		{ID: "fs/twice", Selftests: []string{"b_test:twice"}},
	}
	gaps := []Gap{
		{Selftest: "a_test:fix.partial", Status: Partial, Reason: "v2 is left", Where: "g:1"},
		{Selftest: "a_test:not", Status: Not, Reason: "needs a | device", Where: "g:4"},
		{Selftest: "a_test:nope", Status: Not, Reason: "r", Where: "g:7"},
		{Selftest: "b_test:twice", Status: Not, Reason: "r", Where: "g:10"},
		{Selftest: "b_test:todo", Status: Not, Reason: "TODO: what it needs", Where: "g:13"},
	}
	c, problems := Build(testInventory(), specs, gaps, "inv.txt", "gaps.yaml")
	var got []string
	for _, r := range c.Rows {
		got = append(got, r.Test.Ref()+" "+string(r.Status)+" "+strings.Join(r.Specs, ","))
	}
	want := []string{
		"a_test:covered covered abi/one,abi/two",
		"a_test:fix.partial partial abi/one",
		"a_test:not not ",
		"a_test:missing missing ",
		"b_test:twice partial fs/twice",
		"b_test:todo missing ",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("rows =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	var texts []string
	missing := 0
	for _, p := range problems {
		texts = append(texts, p.String())
		if p.Missing {
			missing++
		}
	}
	wantProblems := []string{
		"spec fs/typo: label selftest:a_test:coverd names no selftest of Linux 9.8.7 (inv.txt): a typo, or a test renamed upstream?",
		"g:7: a_test:nope names no selftest of Linux 9.8.7 (inv.txt)",
		"a_test:missing: no spec is labelled with it and gaps.yaml gives no reason",
		"g:10: b_test:twice is marked not covered, but fs/twice covers it: make the entry partial, or drop it",
		"g:13: b_test:todo: the reason is still a placeholder",
	}
	if !reflect.DeepEqual(texts, wantProblems) || missing != 2 {
		t.Errorf("problems (%d missing) =\n%s\nwant\n%s", missing, strings.Join(texts, "\n"), strings.Join(wantProblems, "\n"))
	}
	err := Err(problems, "gaps.yaml")
	if err == nil || !strings.Contains(err.Error(), "5 selftest coverage problems:\n") ||
		!strings.Contains(err.Error(), "2 selftests without a covering spec or a reason") || !strings.Contains(err.Error(), "--gaps-todo") {
		t.Errorf("Err = %v", err)
	}
	if Err(nil, "gaps.yaml") != nil {
		t.Error("Err without problems")
	}

	// A partial entry needs a covering spec.
	_, problems = Build(testInventory(), nil, []Gap{{Selftest: "a_test:covered", Status: Partial, Reason: "r", Where: "g:1"}}, "inv.txt", "gaps.yaml")
	if len(problems) == 0 || !strings.Contains(problems[0].Text, "g:1: a_test:covered is marked partial, but no spec is labelled with it") {
		t.Errorf("partial without a spec: %v", problems)
	}
}

func TestMarkdown(t *testing.T) {
	gaps := []Gap{
		{Selftest: "a_test:fix.partial", Status: Partial, Reason: "v2 is left", Where: "g:1"},
		{Selftest: "a_test:not", Status: Not, Reason: "needs a | device,\n  and more", Where: "g:4"},
	}
	specs := []Spec{{ID: "abi/one", Selftests: []string{"a_test:covered", "a_test:fix.partial"}}, {ID: "abi/two", Selftests: []string{"a_test:covered"}}}
	c, _ := Build(testInventory(), specs, gaps, "inv.txt", "gaps.yaml")
	doc := string(c.Markdown())
	for _, want := range []string{
		"# Landlock selftest coverage (Linux 9.8.7)\n",
		"| file | tests | covered | partial | not | missing |\n|---|---:|---:|---:|---:|---:|\n| a_test | 4 | 1 | 1 | 1 | 1 |\n| b_test | 2 | 0 | 0 | 0 | 2 |\n| **total** | 6 | 1 | 1 | 1 | 3 |\n",
		"\n## a_test\n\n| test | variants | status | specs | gap |\n|---|---|---|---|---|\n",
		"| `covered` |  | covered | abi/one, abi/two |  |\n",
		"| `fix.partial` | v1, v2 | partial | abi/one | v2 is left |\n",
		"| `not` |  | not |  | needs a \\| device, and more |\n",
		"| `missing` |  | **missing** |  |  |\n",
		"\n## b_test\n",
	} {
		if !strings.Contains(doc, want) {
			t.Errorf("document lacks %q:\n%s", want, doc)
		}
	}
	if again := string(c.Markdown()); again != doc {
		t.Error("Markdown is not deterministic")
	}
}

// The entries Todo prints parse as gaps, and still count as missing until their reasons
// are written.
func TestTodo(t *testing.T) {
	c, _ := Build(testInventory(), []Spec{{ID: "abi/one", Selftests: []string{"a_test:covered"}}}, nil, "inv.txt", "gaps.yaml")
	todo := c.Todo()
	if !strings.HasPrefix(string(todo), "# a_test\n- selftest: a_test:fix.partial\n  status: not\n  reason: >-\n    TODO: ") ||
		!strings.Contains(string(todo), "\n# b_test\n- selftest: b_test:twice\n") {
		t.Errorf("Todo =\n%s", todo)
	}
	gaps, err := ParseGaps(todo, "gaps.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(gaps) != 5 {
		t.Errorf("%d entries, want the 5 uncovered tests", len(gaps))
	}
	_, problems := Build(testInventory(), []Spec{{ID: "abi/one", Selftests: []string{"a_test:covered"}}}, gaps, "inv.txt", "gaps.yaml")
	for _, p := range problems {
		if !p.Missing {
			t.Errorf("unexpected problem %s", p)
		}
	}
	if len(problems) != 5 {
		t.Errorf("%d problems, want 5 placeholders", len(problems))
	}
}

func TestCheck(t *testing.T) {
	a := []byte("# title\n\n| x | 1 |\n| y | 2 |\n")
	if err := Check(a, a, "cov.md"); err != nil {
		t.Errorf("identical: %v", err)
	}
	b := []byte("# title\n\n| x | 1 |\n| y | 3 |\n| z | 4 |\n")
	err := Check(a, b, "cov.md")
	if err == nil || !strings.Contains(err.Error(), "cov.md is out of date (3 lines differ; - committed, + generated)") ||
		!strings.Contains(err.Error(), "\n- | y | 2 |\n+ | y | 3 |\n+ | z | 4 |") {
		t.Errorf("Check = %v", err)
	}
	long := []byte(strings.Repeat("line\n", 100))
	if err := Check(nil, long, "cov.md"); err == nil || !strings.Contains(err.Error(), "... and 60 more") {
		t.Errorf("long diff: %v", err)
	}
}

func TestFromDryRun(t *testing.T) {
	spec := func(text string, labels ...string) types.SpecReport {
		return types.SpecReport{LeafNodeType: types.NodeTypeIt, LeafNodeText: text, LeafNodeLabels: labels, State: types.SpecStatePassed}
	}
	rep := types.Report{
		SuiteDescription: "synthetic",
		StartTime:        time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		SpecReports: types.SpecReports{
			spec("x MUST", "id:x", "fs.x", "abi:1", "selftest:fs_test:layout1.x", "selftest:fs_test:layout2.x"),
			spec("y MUST", "id:y", "fs.y", "abi:1"),
		},
	}
	data, err := json.Marshal([]types.Report{rep})
	if err != nil {
		t.Fatal(err)
	}
	specs, err := FromDryRun("fs", data)
	if err != nil {
		t.Fatal(err)
	}
	want := []Spec{{ID: "fs/x", Selftests: []string{"fs_test:layout1.x", "fs_test:layout2.x"}}}
	if !reflect.DeepEqual(specs, want) {
		t.Errorf("specs = %+v, want %+v", specs, want)
	}
	if _, err := FromDryRun("fs", []byte("[")); err == nil || !strings.Contains(err.Error(), "coverage: suite fs") {
		t.Errorf("broken report: err = %v", err)
	}
}

func TestErrBoundsMissing(t *testing.T) {
	var problems []Problem
	for i := range 25 {
		problems = append(problems, Problem{Missing: true, Text: fmt.Sprintf("t%d: missing", i)})
	}
	problems = append(problems, Problem{Text: "a typo"})
	msg := Err(problems, "gaps.yaml").Error()
	if !strings.Contains(msg, "t19: missing\na typo\n... and 5 more without a spec or a reason\n25 selftests without") || strings.Contains(msg, "t20:") {
		t.Errorf("Err =\n%s", msg)
	}
}
