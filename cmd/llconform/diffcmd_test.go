package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/llconform/llconform/internal/landlock"
	"github.com/llconform/llconform/internal/report"
)

// diffRun is a kernel whose one spec is in state st.
func diffRun(name string, st report.State) report.Run {
	abi := 1
	sp := report.Spec{ID: "fs/a", Text: "a", Feature: "fs.x", ABI: 1, State: st,
		Verdicts: []report.Verdict{{Feature: "fs.x", ABI: 1, Outcome: report.Works, Enforced: true}}}
	if st == report.Failed {
		sp.Failure = &report.Failure{Message: "EACCES, want success"}
	}
	s := report.Suite{Name: "fs", Specs: []report.Spec{sp}}
	s.Recount()
	return report.Run{Kernel: report.Kernel{Name: name}, AcceptedABI: &abi, Suites: []report.Suite{s},
		Info: &report.KernelInfo{Release: "7.3.4", Status: landlock.Available, ABI: 1}}
}

func writeResult(t *testing.T, dir, name string, runs ...report.Run) string {
	t.Helper()
	var b bytes.Buffer
	if err := report.Encode(&b, &report.Result{Generator: "test", Runs: runs}); err != nil {
		t.Fatal(err)
	}
	return writeTemp(t, dir, name, b.Bytes())
}

func TestReportDiffExit(t *testing.T) {
	dir := t.TempDir()
	good := writeResult(t, dir, "good.json", diffRun("k", report.Passed))
	bad := writeResult(t, dir, "bad.json", diffRun("k", report.Failed))
	skipped := writeResult(t, dir, "skipped.json", diffRun("k", report.Skipped))
	notResult := writeTemp(t, dir, "x.json", []byte(`{"a": 1}`))
	md := filepath.Join(dir, "summary.md")
	html := filepath.Join(dir, "report.html")
	for _, tc := range []struct {
		name string
		args []string
		want int
	}{
		{"same", []string{good, good}, exitNoRegression},
		{"new failure", []string{good, bad}, exitRegression},
		{"fixed", []string{bad, good}, exitNoRegression},
		{"new failure, not gated", []string{"--gate", "skip,infra", good, bad}, exitNoRegression},
		{"coverage lost, default gate", []string{good, skipped}, exitNoRegression},
		{"coverage lost, skip gated", []string{"--gate", "default,skip", good, skipped}, exitRegression},
		{"outputs", []string{"--markdown", md, "--html", html, good, bad}, exitRegression},
		{"one file", []string{good}, exitUsage},
		{"bad gate", []string{"--gate", "speed", good, bad}, exitUsage},
		{"bad format", []string{"--format", "xml", good, bad}, exitUsage},
		{"not a result", []string{good, notResult}, exitUsage},
		{"missing", []string{good, filepath.Join(dir, "nope.json")}, exitUsage},
		{"pair unknown", []string{"--pair", "x=k", good, bad}, exitUsage},
		{"markdown dir", []string{"--markdown", filepath.Join(dir, "nope", "s.md"), good, bad}, exitUsage},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, err := dispatch(t.Context(), append([]string{"report", "diff"}, tc.args...))
			if code != tc.want {
				t.Errorf("exit %d (%v), want %d", code, err, tc.want)
			}
		})
	}
	b, err := os.ReadFile(md)
	if err != nil || !strings.Contains(string(b), "new failure") {
		t.Errorf("markdown summary: %v\n%s", err, b)
	}
	b, err = os.ReadFile(html)
	if err != nil || !strings.Contains(string(b), `id="compared"`) {
		t.Errorf("HTML report has no comparison: %v", err)
	}
}
