// Package bench measures what Landlock costs on the running kernel and compares runs.
//
// Run times each scenario of package scenario (a noise floor, path walk vs depth, nested
// layers, rule counts, network and scope checks) without and with Landlock, interleaved,
// on dedicated threads that are restricted once and then discarded: the caller is never
// restricted.
// The Result keeps every sample and is written as JSON (Result.Encode), as benchstat text
// (WriteBenchstat) and as a terminal table (WriteTable); Compare tests two results for a
// significant change, and WritePlots draws cost against depth, layers and rules for one or
// more kernels.
//
// The scope scenario starts helper processes by re-executing the program: a program that
// calls Run must call sandbox.Main first thing in main (as every suite binary does).
package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/llconform/llconform/bench/measure"
	"github.com/llconform/llconform/bench/result"
	"github.com/llconform/llconform/bench/scenario"
	"github.com/llconform/llconform/internal/landlock"
)

// Result is one run's figures; see package result for the JSON form.
type Result = result.Result

// ReadResult decodes a result file written by Result.WriteFile or Result.Encode.
func ReadResult(path string) (*Result, error) { return result.ReadFile(path) }

// HostTiming is the timing mode of a run on real hardware.
const HostTiming = "host wall clock"

// Options say what to measure and how.
type Options struct {
	// Quick measures fewer points with shorter samples (about 30 s), for smoke tests.
	Quick bool
	// Samples per arm (at least 10; default 20, or 10 when Quick).
	Samples int
	// SampleTime is the target duration of one sample (default 10ms, or 2ms when Quick).
	SampleTime time.Duration
	// CPU pins the measuring threads: "" or "auto" picks the last CPU the process may use
	// (away from CPU 0, which takes most interrupts), "none" does not pin, a number pins
	// to that CPU.
	CPU string
	// Dir is where the scratch directory goes (default os.TempDir()). Its depth adds to
	// every path walk, as the working directory does for fs_bench.
	Dir string
	// Scenarios selects scenarios by name (case-insensitive); empty means all.
	Scenarios []string
	// CPUTime times batches with the measuring thread's CPU time instead of the wall
	// clock, as fs_bench does: time spent preempted by other work is left out, which
	// keeps a busy machine's noise out of the figures.
	CPUTime bool
	// TimingMode labels the figures: by default HostTiming, or "host thread CPU time"
	// with CPUTime. A virtual machine runner says how the guest keeps time (e.g. "qemu
	// tcg wall clock", "qemu tcg icount"); the clock used is appended when it is CPU time.
	TimingMode string
	// SpeedGate, in percent, retakes rounds of samples during which getppid on the
	// measuring CPU ran that much slower than its fastest in the run (see measure.Gate);
	// 0 disables the gate.
	SpeedGate float64
	// InjectSlowdown, in percent, slows the Landlock arm of every paired point by that
	// much with extra getppid calls (measure.Inflate): a run to check that compare flags
	// a real slowdown. The result records it, and compare warns of it.
	InjectSlowdown float64
	// Log receives progress lines; nil discards them.
	Log io.Writer
}

// minSamples is the fewest samples that give the U test a chance and benchmath a
// confidence interval of the median at 95% (it needs 6).
const minSamples = 10

// sampleParts is how many sub-batches make a sample (measure.Config.Parts).
const sampleParts = 5

// gatePrime is how long the speed gate reads its reference before the first point: long
// enough to span the slow phases seen on virtual CPUs (up to about a second), so that the
// fastest reading is the CPU's full speed.
const gatePrime = 2 * time.Second

// gateWait bounds how long a run may wait for slow phases to end: the 2-vCPU guests this
// project runs on are slow about half the time, in phases of seconds (a full run then
// waits about a minute), and at times for minutes on end, which no wait can outlast
// within the few minutes a run should take.
const gateWait = time.Minute

// gateRetakeTime caps the time a point spends retaking rounds (measure.Gate.RetakeTime).
const gateRetakeTime = 10 * time.Second

// gateSupport is the number of readings, 100 µs each, at which the CPU must have run for
// their speed to count as its full speed (measure.Gate.Support).
const gateSupport = 20

// gateRetakes lets a point take up to 4 times its rounds: on a virtual CPU slow half the
// time, in phases of up to a second, that finds enough steady rounds.
const gateRetakes = 3

// Scenarios returns the names of every scenario, in the order Run runs them.
func Scenarios() []string {
	var names []string
	for _, s := range scenario.All() {
		names = append(names, s.Name)
	}
	return names
}

// Run measures the selected scenarios on the running kernel. It returns the result of
// everything that ran even when a scenario failed; the error then names each failure,
// which is also recorded in the scenario's Error.
func Run(ctx context.Context, opts Options) (*Result, error) {
	if err := opts.Check(); err != nil {
		return nil, err
	}
	opts, _ = opts.withDefaults()
	selected, _ := selectScenarios(opts.Scenarios)
	cpu, _ := resolveCPU(opts.CPU)
	info := landlock.Probe()
	r := &Result{
		Schema:  result.Schema,
		Kernel:  result.KernelOf(info),
		Machine: machine(opts.TimingMode),
		Config: result.Config{
			Quick:      opts.Quick,
			Samples:    opts.Samples,
			SampleTime: opts.SampleTime.Seconds(),
			CPU:        cpu,
			Dir:        opts.Dir,
			SpeedGate:  opts.SpeedGate,
			Injected:   opts.InjectSlowdown,
		},
		Started: time.Now().UTC(),
	}
	use0, useErr := measure.ReadCPUUse()
	scratch, err := os.MkdirTemp(opts.Dir, "llconform-bench-")
	if err != nil {
		return nil, fmt.Errorf("scratch directory: %w", err)
	}
	defer os.RemoveAll(scratch)
	env := &scenario.Env{
		Kernel:  info,
		Dir:     scratch,
		CPU:     cpu,
		Clock:   measure.WallClock,
		Quick:   opts.Quick,
		Measure: measure.Config{Samples: opts.Samples, SampleTime: opts.SampleTime, Warmup: opts.SampleTime / 2, Parts: sampleParts},
		Log:     opts.Log,
		Inflate: opts.InjectSlowdown / 100,
	}
	if opts.CPUTime {
		env.Clock = measure.ThreadCPUClock
	}
	if opts.SpeedGate > 0 {
		probe, err := measure.NewProbe(cpu, env.Clock)
		if err != nil {
			return nil, err
		}
		defer probe.Close()
		gate := &measure.Gate{Read: probe.Read, Tolerance: opts.SpeedGate / 100, Retakes: gateRetakes, RetakeTime: gateRetakeTime, Wait: gateWait, Support: gateSupport}
		prime := gatePrime
		if opts.Quick {
			prime /= 4
		}
		fmt.Fprintf(opts.Log, "speed gate: reading getppid for %v\n", prime)
		if err := gate.Prime(prime); err != nil {
			return nil, err
		}
		env.Measure.Gate = gate
		defer func() { r.Machine.GetppidNs, r.Machine.SlowSeconds = gate.Fastest(), gate.Waited().Seconds() }()
	}
	if info.ABI >= 7 {
		env.RestrictFlags = landlock.RestrictSelfLogSameExecOff
	}
	var errs []error
	for _, s := range selected {
		sc := &result.Scenario{Name: s.Name, Title: s.Title}
		r.Scenarios = append(r.Scenarios, sc)
		switch {
		case info.Status != landlock.Available:
			sc.Skipped = "Landlock " + info.Status.String()
			continue
		case info.ABI < s.MinABI:
			sc.Skipped = fmt.Sprintf("unsupported on ABI %d (needs ABI %d)", info.ABI, s.MinABI)
			continue
		}
		fmt.Fprintf(opts.Log, "%s: %s\n", s.Name, s.Title)
		if err := s.Run(ctx, env, sc); err != nil {
			sc.Error = err.Error()
			errs = append(errs, fmt.Errorf("scenario %s: %w", s.Name, err))
			if ctx.Err() != nil {
				break
			}
		}
	}
	r.Seconds = time.Since(r.Started).Seconds()
	r.Machine.LoadEnd = loadAverage()
	if use1, err := measure.ReadCPUUse(); err == nil && useErr == nil {
		r.Machine.OtherCPUs = use1.OtherCPUs(use0)
	}
	r.Finish()
	return r, errors.Join(errs...)
}

// Check reports the first option a run would refuse, so that a caller can tell a usage
// error from a failed measurement before anything runs.
func (o Options) Check() error {
	if _, err := o.withDefaults(); err != nil {
		return err
	}
	if _, err := selectScenarios(o.Scenarios); err != nil {
		return err
	}
	if _, err := resolveCPU(o.CPU); err != nil {
		return err
	}
	if o.SpeedGate < 0 {
		return fmt.Errorf("bench: speed gate %g%%: want 0 (off) or more", o.SpeedGate)
	}
	if o.InjectSlowdown < 0 {
		return fmt.Errorf("bench: injected slowdown %g%%: want 0 or more", o.InjectSlowdown)
	}
	return nil
}

func (o Options) withDefaults() (Options, error) {
	if o.Samples == 0 {
		o.Samples = 20
		if o.Quick {
			o.Samples = minSamples
		}
	}
	if o.Samples < minSamples {
		return o, fmt.Errorf("bench: %d samples, need at least %d", o.Samples, minSamples)
	}
	if o.SampleTime == 0 {
		o.SampleTime = 10 * time.Millisecond
		if o.Quick {
			o.SampleTime = 2 * time.Millisecond
		}
	}
	if o.Dir == "" {
		o.Dir = os.TempDir()
	}
	switch {
	case o.TimingMode == "":
		o.TimingMode = HostTiming
		if o.CPUTime {
			o.TimingMode = "host thread CPU time"
		}
	case o.CPUTime:
		o.TimingMode += ", thread CPU time"
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	return o, nil
}

func selectScenarios(names []string) ([]scenario.Scenario, error) {
	all := scenario.All()
	if len(names) == 0 {
		return all, nil
	}
	var out []scenario.Scenario
	for _, n := range names {
		found := false
		for _, s := range all {
			if strings.EqualFold(s.Name, n) {
				out, found = append(out, s), true
			}
		}
		if !found {
			return nil, fmt.Errorf("bench: no scenario %q (have %s)", n, strings.Join(Scenarios(), ", "))
		}
	}
	return out, nil
}

// resolveCPU turns Options.CPU into a CPU number, -1 for no pinning.
func resolveCPU(s string) (int, error) {
	switch s {
	case "none":
		return -1, nil
	case "", "auto":
		var set unix.CPUSet
		if err := unix.SchedGetaffinity(0, &set); err != nil {
			return -1, fmt.Errorf("bench: read CPU affinity: %w", err)
		}
		for cpu := len(set)*64 - 1; cpu >= 0; cpu-- {
			if set.IsSet(cpu) {
				return cpu, nil
			}
		}
		return -1, nil
	}
	cpu, err := strconv.Atoi(s)
	if err != nil || cpu < 0 {
		return -1, fmt.Errorf("bench: CPU %q is not auto, none or a CPU number", s)
	}
	return cpu, nil
}

func machine(timing string) result.Machine {
	return result.Machine{
		CPU:        cpuModel(),
		Cores:      runtime.NumCPU(),
		Arch:       runtime.GOARCH,
		TimingMode: timing,
		LoadStart:  loadAverage(),
	}
}

// cpuModel returns the CPU's name from /proc/cpuinfo ("model name" on x86, "Model" or
// "Hardware" elsewhere), or the architecture when there is none.
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		switch strings.TrimSpace(key) {
		case "model name", "Model", "Hardware", "cpu model":
			if ok && strings.TrimSpace(val) != "" {
				return strings.TrimSpace(val)
			}
		}
	}
	return runtime.GOARCH
}

func loadAverage() [3]float64 {
	var l [3]float64
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return l
	}
	for i, f := range strings.Fields(string(b)) {
		if i == len(l) {
			break
		}
		l[i], _ = strconv.ParseFloat(f, 64)
	}
	return l
}
