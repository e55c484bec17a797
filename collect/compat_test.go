package collect

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/onsi/ginkgo/v2/types"

	"github.com/llconform/llconform/vm"
	"github.com/llconform/llconform/vm/kernel"
	"github.com/llconform/llconform/vm/plan"
	"github.com/llconform/llconform/vm/qemu"
)

// The 32-bit builds of the suites make a run of their own, named after the kernel, with the
// kernel's identity and expectations, their outputs apart from the native suites'.
func TestCompatRan(t *testing.T) {
	dir := t.TempDir()
	e := entry()
	e.Compat = true
	r := vm.Result{
		Entry: e, Kernel: &kernel.Kernel{Release: "6.1.0-k"}, Accel: "tcg", Attempts: 1,
		Outcome: qemu.Outcome{Class: qemu.OK, ConsoleLog: "/out/k/console.log"},
		Guest: plan.Guest{Suites: map[string]plan.Received{
			"abi":     received(plan.Outcome{Report: ginkgoReport(t, types.SpecStatePassed), Output: []byte("native")}),
			"abi-386": received(plan.Outcome{Status: plan.Status{ExitCode: 1}, Report: ginkgoReport(t, types.SpecStateFailed), Output: []byte("compat")}),
		}},
	}
	native, err := Kernel(r, []string{"abi"}, dir)
	if err != nil {
		t.Fatal(err)
	}
	run, err := Compat(r, []string{"abi"}, dir)
	if err != nil {
		t.Fatal(err)
	}
	if run.Kernel.Name != "k/386" || run.Kernel.Release != "6.1.0-k" || run.Compat == nil || run.Compat.Native != "k" || run.Compat.NotApplicable != "" {
		t.Errorf("compat run kernel %+v, compat %+v", run.Kernel, run.Compat)
	}
	if run.Expect == nil || run.Timings != nil || native.Timings == nil {
		t.Errorf("compat run: expect %+v, timings %+v (native %+v): want the kernel's expectations, timings on the native run only", run.Expect, run.Timings, native.Timings)
	}
	if len(run.Suites) != 1 || run.Suites[0].Name != "abi" || run.Suites[0].Counts.Failed != 1 || native.Suites[0].Counts.Failed != 0 {
		t.Errorf("suites: compat %+v, native %+v", run.Suites, native.Suites)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "386", "abi.log")); err != nil || string(b) != "compat" {
		t.Errorf("compat output: %q, %v", b, err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "abi.log")); err != nil || string(b) != "native" {
		t.Errorf("native output: %q, %v", b, err)
	}
}

// A kernel that refuses to execute every 32-bit binary has no IA32 emulation: the compat
// run is not applicable, says why, and has no suites.
func TestCompatNotExecutable(t *testing.T) {
	dir := t.TempDir()
	config := filepath.Join(dir, "config")
	if err := os.WriteFile(config, []byte("CONFIG_X86_64=y\n# CONFIG_IA32_EMULATION is not set\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	e := entry()
	e.Compat = true
	enoexec := received(plan.Outcome{Status: plan.Status{ExitCode: -1, NotExecutable: true, Error: "fork/exec: exec format error"}})
	r := vm.Result{
		Entry: e, Kernel: &kernel.Kernel{Release: "6.1.0-k", Config: config}, Attempts: 1,
		Outcome: qemu.Outcome{Class: qemu.OK, ConsoleLog: "/out/k/console.log", Warnings: []string{"WARNING: x"}},
		Guest:   plan.Guest{Suites: map[string]plan.Received{"abi-386": enoexec, "fs-386": enoexec}},
	}
	run, err := Compat(r, []string{"abi", "fs"}, dir)
	if err != nil {
		t.Fatal(err)
	}
	if run.Compat == nil || !strings.Contains(run.Compat.NotApplicable, "CONFIG_IA32_EMULATION is not set") || len(run.Suites) != 0 || run.KernelWarnings != nil {
		t.Errorf("compat %+v, suites %d, warnings %q: want not applicable for the config, no suites, no warnings", run.Compat, len(run.Suites), run.KernelWarnings)
	}
	// One suite that did run makes the others' failure to start an infrastructure error.
	r.Suites["fs-386"] = received(plan.Outcome{Report: ginkgoReport(t, types.SpecStatePassed)})
	if run, err = Compat(r, []string{"abi", "fs"}, dir); err != nil || run.Compat.NotApplicable != "" || len(run.Suites) != 2 || run.Suites[0].Infra == nil {
		t.Errorf("one suite ran: compat %+v, suites %+v, err %v", run.Compat, run.Suites, err)
	}
}

func TestNoIA32Reason(t *testing.T) {
	for _, tc := range []struct{ config, cmdline, want string }{
		{"# CONFIG_IA32_EMULATION is not set\n", "", "built without IA32 emulation (CONFIG_IA32_EMULATION is not set)"},
		{"CONFIG_IA32_EMULATION=y\n# CONFIG_IA32_EMULATION_DEFAULT_DISABLED is not set\n", "console=ttyS0 ia32_emulation=0", "turned off on the command line (ia32_emulation=0)"},
		{"CONFIG_IA32_EMULATION=y\nCONFIG_IA32_EMULATION_DEFAULT_DISABLED=y\n", "quiet", "off unless ia32_emulation=1 is given"},
		{"CONFIG_IA32_EMULATION=y\nCONFIG_IA32_EMULATION_DEFAULT_DISABLED=y\n", "ia32_emulation=1 ia32_emulation=off", "(ia32_emulation=off)"},
		{"", "", "the kernel's config is unknown"},
		{"CONFIG_IA32_EMULATION=y\n", "ia32_emulation=1", "turned off at boot although the config builds it in"},
	} {
		if got := NoIA32Reason(tc.config, tc.cmdline); !strings.Contains(got, tc.want) || !strings.HasPrefix(got, "the kernel does not execute 32-bit x86 programs") {
			t.Errorf("NoIA32Reason(%q, %q) = %q, want it to say %q", tc.config, tc.cmdline, got, tc.want)
		}
	}
}
