package main

import (
	"path/filepath"
	"testing"

	"github.com/llconform/llconform/internal/report"
	"github.com/llconform/llconform/internal/verdict"
)

func TestBisectCode(t *testing.T) {
	for _, tc := range []struct {
		code        int
		interrupted bool
		want        int
	}{
		{verdict.ExitPass, false, bisectGood},
		{verdict.ExitFail, false, bisectBad},
		{verdict.ExitInfra, false, bisectSkip},
		{verdict.ExitUnverified, false, bisectSkip},
		{exitUsage, false, bisectAbort},
		{verdict.ExitFail, true, bisectAbort},
		{verdict.ExitInfra, true, bisectAbort},
	} {
		if got := bisectCode(tc.code, tc.interrupted); got != tc.want {
			t.Errorf("bisectCode(%d, interrupted %v) = %d, want %d", tc.code, tc.interrupted, got, tc.want)
		}
	}
	if got := (gateFlags{}).exit(verdict.ExitInfra, false); got != verdict.ExitInfra {
		t.Errorf("without --bisect: exit %d, want it unchanged", got)
	}
}

// Bad gate flags are usage errors before any work, and in bisect mode a usage error aborts
// the bisection rather than marking the commit bad.
func TestGateFlags(t *testing.T) {
	dir := t.TempDir()
	kernels := writeTemp(t, dir, "kernels.yaml", []byte(testKernels))
	out := filepath.Join(dir, "out")
	for _, tc := range []struct {
		name string
		cmd  string
		args []string
		want int
	}{
		{"certified with a label filter", "matrix", []string{"--kernels", kernels, "--certified", "--label-filter", "fs"}, exitUsage},
		{"certified with focus", "run", []string{"--certified", "--focus", "x", "--out", out}, exitUsage},
		{"missing modules alone", "run", []string{"--missing-modules", "sctp", "--out", out}, exitUsage},
		{"bad module", "matrix", []string{"--kernels", kernels, "--certified", "--missing-modules", "sctp,SMC"}, exitUsage},
		{"bisect usage error", "matrix", []string{"--kernels", kernels, "--bisect", "--jobs", "0"}, bisectAbort},
		{"bisect unknown flag", "run", []string{"--bisect", "--nope"}, bisectAbort},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, err := dispatch(t.Context(), append([]string{tc.cmd}, tc.args...))
			if code != tc.want {
				t.Errorf("exit %d (%v), want %d", code, err, tc.want)
			}
		})
	}
}

func TestCertifiedApplied(t *testing.T) {
	res := &report.Result{Runs: []report.Run{{Kernel: report.Kernel{Name: "a"}}, {Kernel: report.Kernel{Name: "b"}}}}
	gateFlags{certified: true, missing: "sctp,smc"}.apply(res)
	for _, r := range res.Runs {
		if r.Certified == nil || len(r.Certified.MissingModules) != 2 {
			t.Errorf("%s: certified = %+v", r.Kernel.Name, r.Certified)
		}
	}
	res.Runs[0].Certified.MissingModules[0] = "x"
	if res.Runs[1].Certified.MissingModules[0] != "sctp" {
		t.Error("runs share their module list")
	}
}
