// Package collect turns what a suite run or a VM boot brought back into a report.Run: the
// kernel's identity and how it ran, each suite's report with whatever went wrong outside
// its specs as an infrastructure error, and a guest's benchmark result stamped with the
// clock its figures came from. It holds the rules of what such an outcome means for the
// report; the CLI only wires it.
package collect

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/llconform/llconform/bench"
	benchresult "github.com/llconform/llconform/bench/result"
	"github.com/llconform/llconform/internal/report"
	"github.com/llconform/llconform/vm"
	"github.com/llconform/llconform/vm/kernel"
	"github.com/llconform/llconform/vm/plan"
	"github.com/llconform/llconform/vm/qemu"
)

// Kernel turns one kernel's VM result into its report run, with one report.Suite for each
// of suites (names of the plan's conformance suites, in order). dir is where the kernel's
// console log is; the suites' outputs are saved beside it, as <name>.log.
func Kernel(r vm.Result, suites []string, dir string) (report.Run, error) {
	run := bootRun(r, suites)
	if r.Err != nil {
		return run, nil // not booted
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return run, err
	}
	return run, addGuestSuites(&run, r, suites, func(s string) string { return s }, dir)
}

// bootRun starts the report run of a kernel's VM result: its identity, how it ran, where
// its time went (suites are the plan's suite names, in order) and what went wrong with the
// fetch or the boot as a whole. A kernel that was never booted has an Infra and no console
// log.
func bootRun(r vm.Result, suites []string) report.Run {
	run := report.Run{Kernel: report.Kernel{Name: r.Entry.Name, Arch: r.Entry.Arch, Source: Source(r.Entry)}}
	if e := r.Entry.Expect; e != nil {
		run.Expect = &report.Expect{ABI: e.ABI, Errata: e.Errata, MissingModules: e.MissingModules}
	}
	if k := r.Kernel; k != nil {
		run.Kernel.Release, run.Kernel.Package, run.Kernel.Version = k.Release, k.Package, k.Version
	}
	if r.Attempts > 0 {
		run.Kernel.Machine = Machine(r)
	}
	ran := suites
	if r.Entry.Compat {
		// The boot's time went to both builds of the suites.
		for _, s := range suites {
			ran = append(ran, plan.CompatName(s))
		}
	}
	run.Timings = Timings(r, ran)
	if r.Err != nil {
		run.Infra = &report.InfraError{Kind: report.InfraFetchFailed, Message: r.Err.Error()}
		if r.Interrupted {
			run.Infra = &report.InfraError{Kind: report.InfraInterrupted, Message: interruptedMsg + r.Err.Error()}
		}
		return run
	}
	o := r.Outcome
	run.ConsoleLog = o.ConsoleLog
	if o.Class != qemu.OK {
		// A crash or hang under emulation is the machinery's failure until shown otherwise
		// (TCG has crashed kernels that run fine on hardware): its oops text goes with the
		// infrastructure error rather than failing the kernel.
		run.Infra = &report.InfraError{Kind: InfraKind(o.Class), Message: o.Detail + earlierAttempts(r.Earlier), ConsoleTail: o.ConsoleTail, ConsoleLog: o.ConsoleLog}
		if r.Interrupted {
			// QEMU classes a boot killed by the run's cancellation as a timeout: it was
			// interrupted, and overran nothing.
			run.Infra.Kind = report.InfraInterrupted
			run.Infra.Message = interruptedMsg + string(o.Class) + " " + run.Infra.Message
		}
	} else {
		run.KernelWarnings = o.Warnings
	}
	return run
}

// addGuestSuites adds to run the outcomes of suites (report names) that the guest ran as
// guestName(suite), saving their outputs in dir.
func addGuestSuites(run *report.Run, r vm.Result, suites []string, guestName func(string) string, dir string) error {
	o := r.Outcome
	for _, name := range suites {
		got := r.Suites[guestName(name)]
		if got.Err != nil {
			// The frame arrived intact, so the agent and this host disagree on the format:
			// no suite's result from this build can be trusted.
			return fmt.Errorf("kernel %s: %w", r.Entry.Name, got.Err)
		}
		if !got.Ended {
			// The guest stopped before the suite's status, the last of its frames: the
			// suite never finished, or its outcome is incomplete.
			if run.Infra == nil {
				run.Infra = &report.InfraError{Kind: report.InfraNoReport, Message: "suite " + guestName(name) + " sent no status", ConsoleLog: o.ConsoleLog}
			}
			continue
		}
		s, err := Suite(name, got.Outcome, dir)
		if err != nil {
			return err
		}
		if err := run.AddSuite(s); err != nil {
			return err
		}
	}
	return nil
}

// Timings says where a kernel's time went: the host's figures of vm.Timings, the suites'
// run times as the guest measured them (those of suites, in order, that sent their status),
// and the rest of the last boot split at the agent's done event. A kernel that shared
// another's boot has the time of its fetch only.
func Timings(r vm.Result, suites []string) *report.Timings {
	vt := r.Timings
	t := &report.Timings{Fetch: vt.Fetch, Initramfs: vt.Initramfs, Queued: vt.Queued, CPU: vt.CPU}
	t.Total = vt.Fetch + vt.Initramfs + vt.Boot
	if r.SameBootAs != "" {
		t.SharedBoot = r.SameBootAs
		return t
	}
	if r.Attempts == 0 {
		return t
	}
	last := r.Outcome.Duration
	t.Retries = vt.Boot - last
	if vt.Ready <= 0 {
		// The agent never said it was ready: the whole boot was spent getting there.
		t.Boot = last
		return t
	}
	t.Boot, t.GuestUptime = vt.Ready, vt.Uptime
	var ran time.Duration
	for _, name := range suites {
		got, ok := r.Suites[name]
		if !ok || !got.Ended {
			continue
		}
		d := time.Duration(got.Status.DurationMS) * time.Millisecond
		t.Suites = append(t.Suites, report.SuiteTime{Name: name, Duration: d})
		ran += d
	}
	done := vt.Done
	if done <= 0 {
		done = last
	}
	// The suites' times are the guest's and the rest the host's: a clock that drifts, or
	// the console follower's period, must not make a stage negative.
	t.Transfer = max(done-vt.Ready-ran, 0)
	t.Shutdown = max(last-done, 0)
	return t
}

// interruptedMsg starts the message of a kernel run cut short by the run's interruption.
const interruptedMsg = "run interrupted (SIGINT/SIGTERM): "

// earlierAttempts says how the boots before the last one ended and where their console
// logs are ("; attempt 1: kernel-panic ... (console-attempt1.log)"), empty when there was
// one boot. The report's console log is the last attempt's.
func earlierAttempts(earlier []qemu.Outcome) string {
	var b strings.Builder
	for i, o := range earlier {
		fmt.Fprintf(&b, "; attempt %d: %s", i+1, o.Class)
		if o.Detail != "" {
			b.WriteString(" " + o.Detail)
		}
		fmt.Fprintf(&b, " (%s)", o.ConsoleLog)
	}
	return b.String()
}

// Host turns the suites run on the running kernel (llconform run) into its report run. The
// kernel's release is the one its suites probed.
func Host(suites []report.Suite) (report.Run, error) {
	run := report.Run{Kernel: report.Kernel{Name: "host", Arch: runtime.GOARCH, Source: "running kernel"}}
	for _, s := range suites {
		if err := run.AddSuite(s); err != nil {
			return run, err
		}
	}
	if run.Info != nil {
		run.Kernel.Release = run.Info.Release
	}
	return run, nil
}

// Suite turns one suite run into its report and saves the suite's output in dir as
// <name>.log, which the report names.
func Suite(name string, o plan.Outcome, dir string) (report.Suite, error) {
	outPath := filepath.Join(dir, name+".log")
	if err := os.WriteFile(outPath, o.Output, 0o644); err != nil {
		return report.Suite{}, fmt.Errorf("save %s output: %w", name, err)
	}
	return importSuite(name, o, outPath), nil
}

// importSuite turns one suite run into its result. Whatever went wrong outside the specs
// (no report, a timeout, a crash with no failing spec) is an infrastructure error of the
// suite, never silently a pass.
func importSuite(name string, o plan.Outcome, outputPath string) report.Suite {
	s, err := report.ImportGinkgo(o.Report, name)
	if err != nil {
		kind := report.InfraNoReport
		if len(o.Report) > 0 {
			kind = report.InfraTruncatedReport
		}
		s = report.Suite{Name: name, Infra: &report.InfraError{Kind: kind, Message: describeOutcome(o, err)}}
	}
	code := o.Status.ExitCode
	s.ExitCode = &code
	s.Output = outputPath
	s.Duration = time.Duration(o.Status.DurationMS) * time.Millisecond
	switch {
	case o.Status.TimedOut:
		// Whatever the report says (none, or Ginkgo's "Interrupted" after the SIGTERM that
		// ended the suite), it overran its time: the specs that had finished are kept.
		s.Infra = &report.InfraError{Kind: report.InfraTimeout, Message: describeOutcome(o, err)}
	case s.Infra != nil:
	case o.Status.Signal != "":
		s.Infra = &report.InfraError{Kind: report.InfraInterrupted, Message: describeOutcome(o, nil)}
	case code != 0 && s.Counts.Failed == 0:
		// The binary failed with no failing spec: something outside the specs failed it.
		s.Infra = &report.InfraError{Kind: report.InfraSuiteFailed, Message: describeOutcome(o, nil)}
	}
	return s
}

// describeOutcome says what went wrong with a suite run, for an infrastructure error: the
// import error if any, how the suite ended, and the end of its output.
func describeOutcome(o plan.Outcome, err error) string {
	var parts []string
	if err != nil {
		parts = append(parts, err.Error())
	}
	parts = append(parts, o.Status.String())
	if tail := lastLines(o.Output, 5); tail != "" {
		parts = append(parts, "output ends: "+tail)
	}
	return strings.Join(parts, "; ")
}

// lastLines returns the last n non-empty lines of b, joined by " | ".
func lastLines(b []byte, n int) string {
	lines := slices.DeleteFunc(strings.Split(string(b), "\n"), func(s string) bool { return strings.TrimSpace(s) == "" })
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

// Machine describes how QEMU ran a kernel, clock mode first: "qemu tcg icount
// shift=4,sleep=off, cpu max,-cx16, 1 vCPU, 1G, boot pvh, attempt 1" or "qemu tcg wall
// clock, ...": emulation settings change what a crash or a timing means. A kernel that
// shared another's boot names it.
func Machine(r vm.Result) string {
	e := r.Entry
	cpu := r.CPU
	if cpu == "" {
		cpu = e.CPU
	}
	boot := ""
	if r.Boot != "" {
		boot = ", boot " + r.Boot
	}
	m := fmt.Sprintf("%s, cpu %s, %d vCPU, %s%s, attempt %d", qemu.ClockLabel(r.Accel, r.ICount), cpu, e.CPUs, e.Memory, boot, r.Attempts)
	if r.SameBootAs != "" {
		m += ", the boot of " + r.SameBootAs
	}
	return m
}

// InfraKind is the infrastructure error a boot that did not end OK is: every such class
// says something went wrong with the machinery, nothing about Landlock.
func InfraKind(c qemu.Class) report.InfraKind {
	switch c {
	case qemu.Panic:
		return report.InfraPanic
	case qemu.Timeout:
		return report.InfraTimeout
	case qemu.TruncatedReport:
		return report.InfraTruncatedReport
	case qemu.NoReport:
		return report.InfraNoReport
	}
	return report.InfraBootFailed
}

// Source says where a kernel comes from, for the report and the kernel list:
// "debian:<package>", "debian newest <pattern> in <suite>" or "file:<bzImage>".
func Source(e kernel.Entry) string {
	switch {
	case e.Debian != nil && e.Debian.Package != "":
		return "debian:" + e.Debian.Package
	case e.Debian != nil:
		return "debian newest " + e.Debian.Newest + " in " + e.Debian.Suite
	case e.Local != nil:
		return "file:" + e.Local.BzImage
	}
	return ""
}

// Bench reads the benchmark result that the guest's suite named suite sent back, stamps it
// with the clock the figures came from (wall clock or instruction count, which only the
// host knows: the accelerator of auto is chosen at boot) and saves it in dir as bench.json.
func Bench(r vm.Result, suite, dir string) (*bench.Result, error) {
	data := r.Suites[suite].Report
	if data == nil {
		return nil, fmt.Errorf("no result came back (see %s)", filepath.Join(dir, "console.log"))
	}
	b, err := benchresult.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	b.Machine.TimingMode = qemu.ClockLabel(r.Accel, r.ICount)
	return b, b.WriteFile(filepath.Join(dir, "bench.json"))
}
