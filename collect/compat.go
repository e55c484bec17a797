package collect

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/llconform/llconform/internal/report"
	"github.com/llconform/llconform/vm"
	"github.com/llconform/llconform/vm/plan"
)

// Compat turns the 32-bit builds of suites (report names; the guest ran them as
// plan.CompatName) on a kernel whose entry asks for compat into a report run of their own,
// beside Kernel's: the same kernel, expectations, boot failure and kernel warnings (the log
// cannot tell which build's suites caused them), and the suites' outcomes, their outputs
// saved in dir/386. A kernel that refused to execute every one of them (ENOEXEC) runs no
// 32-bit program: the run is then not applicable, and says why.
func Compat(r vm.Result, suites []string, dir string) (report.Run, error) {
	run := bootRun(r, suites)
	run.Kernel.Name = report.CompatRunName(r.Entry.Name, plan.CompatArch)
	run.Timings = nil // the boot's time is in the native run's
	run.Compat = &report.Compat{Arch: plan.CompatArch, Native: r.Entry.Name}
	if r.Err != nil {
		return run, nil
	}
	var outcomes []plan.Outcome
	for _, s := range suites {
		if got := r.Suites[plan.CompatName(s)]; got.Ended {
			outcomes = append(outcomes, got.Outcome)
		}
	}
	if len(outcomes) == len(suites) && notExecutable(outcomes) {
		config := ""
		if r.Kernel != nil {
			config = readConfig(r.Kernel.Config)
		}
		notApplicable(&run, NoIA32Reason(config, r.Entry.Cmdline))
		return run, nil
	}
	dir = filepath.Join(dir, plan.CompatArch)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return run, err
	}
	return run, addGuestSuites(&run, r, suites, plan.CompatName, dir)
}

// HostCompat is Host for the suites' 32-bit builds (llconform run --compat): native is
// the run of their native builds, outcomes the 32-bit runs of suites, in order. Their
// outputs are saved in dir.
func HostCompat(native report.Run, suites []string, outcomes []plan.Outcome, dir string) (report.Run, error) {
	run := report.Run{Kernel: native.Kernel, Compat: &report.Compat{Arch: plan.CompatArch, Native: native.Kernel.Name}}
	run.Kernel.Name = report.CompatRunName(native.Kernel.Name, plan.CompatArch)
	if notExecutable(outcomes) {
		cmdline, _ := os.ReadFile("/proc/cmdline")
		notApplicable(&run, NoIA32Reason(hostConfig(native.Kernel.Release), string(cmdline)))
		return run, nil
	}
	for i, name := range suites {
		s, err := Suite(name, outcomes[i], dir)
		if err != nil {
			return run, err
		}
		if err := run.AddSuite(s); err != nil {
			return run, err
		}
	}
	if run.Info != nil {
		run.Kernel.Release = run.Info.Release
	}
	return run, nil
}

func notApplicable(run *report.Run, reason string) {
	run.Compat.NotApplicable = reason
	run.KernelWarnings = nil // nothing of this run's ran
}

// notExecutable tells whether the kernel refused to execute every one of the binaries.
func notExecutable(outcomes []plan.Outcome) bool {
	if len(outcomes) == 0 {
		return false
	}
	for _, o := range outcomes {
		if !o.Status.NotExecutable {
			return false
		}
	}
	return true
}

// NoIA32Reason says why a kernel refused to execute 32-bit x86 programs, from its config
// (a .config's text, "" when unknown) and its command line: x86-64 kernels run them
// through IA32 emulation, which CONFIG_IA32_EMULATION builds in and, from Linux 6.7 on,
// ia32_emulation= (or CONFIG_IA32_EMULATION_DEFAULT_DISABLED) turns off at boot.
func NoIA32Reason(config, cmdline string) string {
	const refused = "the kernel does not execute 32-bit x86 programs (exec format error)"
	has := func(line string) bool { return strings.Contains("\n"+config+"\n", "\n"+line+"\n") }
	off, param := ia32Param(cmdline)
	switch {
	case has("# CONFIG_IA32_EMULATION is not set"):
		return refused + ": built without IA32 emulation (CONFIG_IA32_EMULATION is not set)"
	case param != "" && off:
		return refused + ": IA32 emulation turned off on the command line (" + param + ")"
	case has("CONFIG_IA32_EMULATION_DEFAULT_DISABLED=y") && param == "":
		return refused + ": IA32 emulation is off unless ia32_emulation=1 is given (CONFIG_IA32_EMULATION_DEFAULT_DISABLED=y)"
	case config == "":
		return refused + ": no IA32 emulation (CONFIG_IA32_EMULATION off, or ia32_emulation=0; the kernel's config is unknown)"
	}
	// Linux also turns it off itself, on AMD SEV memory-encrypted guests for one, and then
	// logs "32-bit emulation disabled".
	return refused + ": IA32 emulation turned off at boot although the config builds it in and ia32_emulation= is not given (the kernel does so itself on some guests, e.g. AMD SEV)"
}

// ia32Param returns the last ia32_emulation= parameter of cmdline, which is the one the
// kernel keeps, and whether it turns emulation off (kstrtobool's false words).
func ia32Param(cmdline string) (off bool, param string) {
	for _, f := range strings.Fields(cmdline) {
		if v, ok := strings.CutPrefix(f, "ia32_emulation="); ok {
			param = f
			switch strings.ToLower(v) {
			case "0", "n", "no", "f", "false", "off":
				off = true
			default:
				off = false
			}
		}
	}
	return off, param
}

// readConfig returns the kernel config at path, plain or gzipped; "" when unknown.
func readConfig(path string) string {
	if path == "" {
		return ""
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	if zr, err := gzip.NewReader(bytes.NewReader(b)); err == nil {
		if b, err = io.ReadAll(zr); err != nil {
			return ""
		}
	}
	return string(b)
}

// hostConfig returns the running kernel's config: the kernel's own copy, else the one its
// package installed; "" when neither is there.
func hostConfig(release string) string {
	if c := readConfig("/proc/config.gz"); c != "" {
		return c
	}
	return readConfig(fmt.Sprintf("/boot/config-%s", release))
}
