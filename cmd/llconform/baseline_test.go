package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/llconform/llconform/internal/report"
	"github.com/llconform/llconform/internal/verdict"
)

func TestGatedExit(t *testing.T) {
	for _, tc := range []struct {
		code, regressions, want int
	}{
		{verdict.ExitPass, 0, verdict.ExitPass},
		{verdict.ExitPass, 1, verdict.ExitFail},
		{verdict.ExitFail, 0, verdict.ExitFail},
		{verdict.ExitFail, 3, verdict.ExitFail},
		{verdict.ExitInfra, 0, verdict.ExitInfra},
		{verdict.ExitInfra, 2, verdict.ExitFail},
		{verdict.ExitUnverified, 0, verdict.ExitUnverified},
		{verdict.ExitUnverified, 1, verdict.ExitFail},
	} {
		if got := gatedExit(tc.code, tc.regressions); got != tc.want {
			t.Errorf("gatedExit(%d, %d regressions) = %d, want %d", tc.code, tc.regressions, got, tc.want)
		}
	}
}

// TestFinishWithBaseline: a run compared with its baseline shows the comparison in its
// report.html and fails on a regression its gate counts, only on one.
func TestFinishWithBaseline(t *testing.T) {
	dir := t.TempDir()
	good := writeResult(t, dir, "good.json", diffRun("k", report.Passed))
	for _, tc := range []struct {
		name  string
		state report.State
		gate  string
		want  int
	}{
		{"same", report.Passed, "", verdict.ExitPass},
		{"new failure", report.Failed, "", verdict.ExitFail},
		// The run's own status stands: its one ABI step was not seen enforced.
		{"coverage lost, default gate", report.Skipped, "", verdict.ExitUnverified},
		{"coverage lost, skip gated", report.Skipped, "skip", verdict.ExitFail},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := t.TempDir()
			o := outputs{dir: out, baseline: baseline{file: good, gate: tc.gate}}
			if err := o.readInputs(); err != nil {
				t.Fatal(err)
			}
			res := &report.Result{Generator: generator, Runs: []report.Run{diffRun("k", tc.state)}}
			code, err := o.finish(res, func(*report.Result) error { return nil })
			if err != nil || code != tc.want {
				t.Fatalf("finish: %d, %v; want %d", code, err, tc.want)
			}
			html, err := os.ReadFile(filepath.Join(out, "report.html"))
			if err != nil || !strings.Contains(string(html), `id="compared"`) || !strings.Contains(string(html), "Compared with "+good) {
				t.Errorf("report.html has no comparison with %s (%v)", good, err)
			}
		})
	}
}

func TestBaselineRead(t *testing.T) {
	dir := t.TempDir()
	good := writeResult(t, dir, "good.json", diffRun("k", report.Passed))
	for _, tc := range []struct {
		b    baseline
		want string // "" valid
	}{
		{baseline{}, ""},
		{baseline{file: good}, ""},
		{baseline{file: good, gate: "fail,skip"}, ""},
		{baseline{gate: "fail"}, "--gate goes with --baseline"},
		{baseline{file: good, gate: "speed"}, `--gate: unknown class "speed"`},
		{baseline{file: filepath.Join(dir, "nope.json")}, "--baseline: read result: open"},
		{baseline{file: dir}, "--baseline: " + dir + ": not an llconform result"},
		{baseline{file: writeTemp(t, dir, "x.json", []byte(`{"a": 1}`))}, "not an llconform result"},
	} {
		err := tc.b.read()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("read(%+v) = %v, want valid", tc.b, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("read(%+v) = %v, want %q", tc.b, err, tc.want)
		}
	}
}
