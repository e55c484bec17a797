// Package vm runs suite binaries on a list of kernels, each booted under
// QEMU, and brings back what the guest agent sent, decoded into each suite's
// plan.Outcome. It knows nothing about what the suites test: it runs binaries
// and returns their status, output and report files.
//
// Run fetches the kernels one at a time (apt and the cache are shared) and
// boots each as soon as it is ready, up to Options.Parallel at once.
package vm

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/llconform/llconform/vm/arch"
	"github.com/llconform/llconform/vm/initramfs"
	"github.com/llconform/llconform/vm/kernel"
	"github.com/llconform/llconform/vm/plan"
	"github.com/llconform/llconform/vm/qemu"
)

// Suite is one statically linked binary to run in every guest.
type Suite struct {
	Name   string
	Binary string // host path
	Args   []string
	// Report is the guest path of a file the suite writes (e.g. the value of
	// -llconform.report); its contents come back as the suite's
	// plan.Outcome.Report. Empty for none.
	Report  string
	Timeout time.Duration // in the guest; 0 for the agent's default (10m)
}

// Options configure Run.
type Options struct {
	Kernels []kernel.Entry
	Suites  []Suite
	Agent   string // host path of the static guest agent (vm/agent)
	// BinDir is where make build wrote the agent and suites: kernels of another
	// architecture than the host's boot with the builds under BinDir/<arch> (arch.Binary).
	BinDir string
	Env    map[string]string // extra environment for the suites
	// Helper is the host path of the static sandbox helper the suites start, put beside
	// them in the guest under its own name; "" for none.
	Helper string
	// CompatSuites run after Suites on the kernels whose entry asks for compat: the
	// suites' 32-bit builds, with CompatHelper (their sandbox helper) beside them in
	// their own directory of the guest. Only those kernels' initrds carry them.
	CompatSuites []Suite
	CompatHelper string
	// Modules are loaded in the guest where the kernel has them, with their
	// dependencies (e.g. sctp, smc, overlay). Missing ones are reported in
	// Result.Modules, not as errors.
	Modules  []string
	CacheDir string // default kernel.DefaultCacheDir()
	OutDir   string // per-kernel logs and initrds go to OutDir/<kernel name>/
	Parallel int    // concurrent VMs; default runtime.NumCPU()
	// Retry boots a kernel a second time after an infrastructure error
	// (anything but qemu.OK): TCG occasionally crashes a guest.
	Retry   bool
	Refresh bool   // force apt-get update
	QEMU    string // default: the QEMU of each kernel's architecture
	// Progress, if set, is called from several goroutines.
	Progress func(Event)
	// Mirror is the Debian mirror setting (kernel.Fetcher.Mirror); zero: the apt sources'.
	Mirror kernel.MirrorConfig
	// Expected is, by kernel name, what a kernel took in an earlier run (its total, say):
	// kernels are prepared and booted longest first, so that the last VM to finish does
	// not run alone while the other slots idle. Kernels it does not name go first, in list
	// order: they may be the longest. Results keep the list's order.
	Expected map[string]time.Duration
	// BootEach boots every kernel. By default a kernel whose files and boot settings are
	// those of a kernel fetched before it in the run (bootKey) is not booted again: it
	// shares that boot's result (Result.SameBootAs).
	BootEach bool
}

// Stage of a kernel in a run.
type Stage string

// Stages reported through Options.Progress.
const (
	Fetching Stage = "fetching" // Message carries the fetcher's lines
	Fetched  Stage = "fetched"
	Booting  Stage = "booting"
	Ready    Stage = "ready"   // the agent is set up; Duration is the time since QEMU started
	Running  Stage = "running" // Suite is the agent's event: a suite starting or ending
	Done     Stage = "done"    // Duration is the boot time; Timings is set
	Failed   Stage = "failed"
)

// Event is one progress report.
type Event struct {
	Kernel  string
	Stage   Stage
	Message string // what happened, for every stage but Running
	// Duration is the fetch time (Fetched), the time from QEMU's start to the agent's
	// (Ready), the boot's (Done), or the suite's run time (Running, when the suite ended).
	Duration time.Duration
	// Suite is set with Stage Running: which suite of the plan started, or ended and how.
	Suite *plan.Event
	// Timings is set with Stage Done: where the kernel's time went.
	Timings *Timings
}

// Result is what happened to one kernel.
type Result struct {
	Entry  kernel.Entry
	Kernel *kernel.Kernel // nil when it could not be fetched
	// Err is set when the kernel could not be fetched or its initrd built;
	// it was then not booted.
	Err     error
	Outcome qemu.Outcome // of the last boot; its ConsoleLog is <dir>/console.log
	// Earlier holds the outcomes of the boots before the last one, when there was a retry,
	// in order; each ConsoleLog names that attempt's own log, console-attempt<N>.log
	// (and its QEMU stderr qemu-attempt<N>.log), kept beside console.log.
	Earlier []qemu.Outcome
	// Guest is what the agent sent back in the last boot: each suite's outcome by
	// name, as far as it arrived, the agent's set-up report and the kernel log.
	plan.Guest
	Modules initramfs.Modules
	Accel   string // accelerator used for the last boot: tcg or kvm
	CPU     string // QEMU -cpu of the last boot (qemu.CPUFor)
	// Boot is how QEMU started the kernel: BootPVH or BootBzImage.
	Boot string
	// ICount is the -icount value of the last boot, empty when guest time followed the
	// host's clock.
	ICount   string
	Attempts int
	// Timings says where the kernel's time went.
	Timings Timings
	// SameBootAs names the kernel whose boot this result is, when this kernel shares it
	// (Options.BootEach): its own are only Entry, Kernel and Timings.Fetch.
	SameBootAs string
	// Interrupted is set when Run's context was canceled (SIGINT, SIGTERM) before this
	// kernel's fetch or boot ended well: Err or Outcome then says how far it got, and
	// QEMU's "timeout" class only means that the boot was cut short, not that it overran.
	Interrupted bool
}

// How QEMU starts an x86-64 kernel (Result.Boot). Both run the same kernel: PVH starts the
// uncompressed image kernel.ExtractPVH took out of the bzImage, at its PVH entry point,
// which skips the bzImage's decompressor (and its physical-address randomisation). Other
// architectures, and kernels without a PVH entry point, boot the image as it is.
const (
	BootPVH     = "pvh"
	BootBzImage = "bzImage"
)

// pvhImage is the file in a kernel's directory that holds the PVH image of a local kernel
// during its boot.
const pvhImage = "vmlinux"

// bootFiles is what prepare made for one kernel's boot.
type bootFiles struct {
	initrd string
	image  string // what QEMU boots: the bzImage or its PVH image
	// temporary says that image was written for this run only and goes after the boot.
	temporary bool
}

// Timings is where one kernel's time went, on the host's clock unless said otherwise. The
// stages inside a boot are timed by when the host sees the agent's events on the console
// (plan.Event), to within the console follower's period.
type Timings struct {
	Fetch     time.Duration // resolving the kernel, and downloading or verifying it
	Initramfs time.Duration // writing its initrd
	Queued    time.Duration // fetched and ready, waiting for a free VM slot
	// Boot is the time of every boot, QEMU's start to its exit, attempts added up.
	Boot time.Duration
	// Ready is, in the last boot, the time from QEMU's start to the agent's ready event:
	// firmware, kernel, initramfs and the agent's set-up; 0 when the agent never said.
	Ready time.Duration
	// Uptime is the guest's own clock at the agent's ready event: Ready less what came
	// before the kernel started (QEMU, firmware, loading the kernel and initrd).
	Uptime time.Duration
	// Done is, in the last boot, the time from QEMU's start to the agent's done event
	// (every frame sent); 0 when the agent never said.
	Done time.Duration
	// CPU is QEMU's CPU time, attempts added up: unlike the wall-clock figures, it does
	// not grow when other processes load the host.
	CPU time.Duration
}

// cutShort tells whether a kernel's fetch or boot that ended with fetchErr or outcome was
// cut short by the cancellation of the run's context (ctxErr is ctx.Err() once it ended):
// anything but a fetched kernel's OK boot then did not end on its own.
func cutShort(ctxErr, fetchErr error, outcome qemu.Class) bool {
	if ctxErr == nil {
		return false
	}
	return fetchErr != nil || outcome != qemu.OK
}

// Run boots every kernel and returns one Result per entry, in order. The
// error is for problems that concern the whole run (bad options, agent or
// suite binaries unusable).
func Run(ctx context.Context, o Options) ([]Result, error) {
	if err := o.setDefaults(); err != nil {
		return nil, err
	}
	// One base per architecture (and compat) the kernels need, written before any fetch:
	// a missing build of a suite for one of them stops the run before any work.
	bases := map[string]string{}
	for _, e := range o.Kernels {
		key := baseKey(e)
		if _, ok := bases[key]; ok {
			continue
		}
		base, err := writeBase(o, cmp.Or(e.Arch, arch.Default), e.Compat)
		if err != nil {
			return nil, err
		}
		bases[key] = base
	}
	r := newRunner(o, bases, make([]Result, len(o.Kernels)))
	r.fetcher = &kernel.Fetcher{CacheDir: o.CacheDir, Refresh: o.Refresh, Mirror: o.Mirror}

	// One kernel at a time is fetched and its initrd written, ahead of the VM slots: a slot
	// that frees up finds the next kernel ready to boot.
	ready := make(chan int)
	go func() {
		defer close(ready)
		booted := map[bootKey]int{}
		for _, i := range bootOrder(o.Kernels, o.Expected) {
			e := o.Kernels[i]
			if ctx.Err() != nil {
				r.results[i] = Result{Entry: e, Err: fmt.Errorf("not fetched: %w", ctx.Err()), Interrupted: true}
				continue
			}
			if !r.fetch(ctx, i, e) {
				continue
			}
			key := keyOf(e, r.results[i].Kernel)
			if j, ok := booted[key]; ok && !o.BootEach {
				r.shareBoot(i, j)
				continue
			}
			booted[key] = i
			if !r.prepare(i) {
				r.endBoot(i)
				continue
			}
			ready <- i
		}
	}()
	var wg sync.WaitGroup
	for range o.Parallel {
		wg.Go(func() {
			for i := range ready {
				r.boot(ctx, i)
			}
		})
	}
	wg.Wait()
	return r.results, nil
}

func (o *Options) setDefaults() error {
	if o.Agent == "" || o.OutDir == "" {
		return errors.New("vm: Agent and OutDir are required")
	}
	if o.CacheDir == "" {
		d, err := kernel.DefaultCacheDir()
		if err != nil {
			return fmt.Errorf("vm: cache dir: %w", err)
		}
		o.CacheDir = d
	}
	if o.Parallel <= 0 {
		o.Parallel = runtime.NumCPU()
	}
	seen := map[string]bool{}
	for _, e := range o.Kernels {
		if seen[e.Name] {
			return fmt.Errorf("vm: kernel name %q used twice", e.Name)
		}
		seen[e.Name] = true
	}
	return os.MkdirAll(o.OutDir, 0o755)
}

// bootOrder returns the indices of kernels in the order to fetch and boot them, so that
// the run does not end with one long kernel alone on a CPU: those expected has no figure
// for first, then the others longest first. Without a figure, a kernel's claimed ABI
// stands for its length, as the suites run in full the specs of every feature the kernel
// has and only check the rejection of the others (the default matrix's kernels took 8 s
// at ABI 0 to 47 s at ABI 11): no claim first (its ABI is unknown, as for the newest
// kernel of a suite), then the highest claim, in list order among equals.
func bootOrder(kernels []kernel.Entry, expected map[string]time.Duration) []int {
	order := make([]int, len(kernels))
	for i := range order {
		order[i] = i
	}
	claimed := func(i int) int {
		if x := kernels[i].Expect; x != nil && x.ABI != nil {
			return *x.ABI
		}
		return math.MaxInt
	}
	slices.SortStableFunc(order, func(a, b int) int {
		da, oka := expected[kernels[a].Name]
		db, okb := expected[kernels[b].Name]
		switch {
		case !oka && !okb:
			return cmp.Compare(claimed(b), claimed(a))
		case !oka || !okb:
			return cmpBool(!oka, !okb)
		case da != db:
			return cmp.Compare(db, da)
		}
		return 0
	})
	return order
}

// cmpBool orders true before false.
func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return -1
	}
	return 1
}

// builds for a of the agent and suites (arch.Binary), and with compat the 32-bit suites
// and their helper in a directory of their own.
func writeBase(o Options, a string, compat bool) (string, error) {
	p := plan.Plan{Env: o.Env}
	var files []initramfs.File
	agent, err := guestBinary(o.BinDir, o.Agent, a)
	if err != nil {
		return "", err
	}
	type placed struct {
		suites []Suite
		helper string
		dir    string
	}
	groups := []placed{{o.Suites, o.Helper, initramfs.SuiteDir}}
	if compat {
		// Apart from the native ones: a suite starts the sandbox helper beside it, which
		// must be its own build.
		groups = append(groups, placed{o.CompatSuites, o.CompatHelper, initramfs.SuiteDir + "/" + plan.CompatArch})
	}
	for _, g := range groups {
		// The suites share one binary (plan.SuitesName): the guest carries it once.
		placedFrom := map[string]string{} // guest path: host path
		for _, s := range g.suites {
			src, err := guestBinary(o.BinDir, s.Binary, a)
			if err != nil {
				return "", err
			}
			dest := g.dir + "/" + filepath.Base(src)
			switch placedFrom[dest] {
			case "":
				placedFrom[dest] = src
				files = append(files, initramfs.File{Src: src, Dest: dest})
			case src:
			default:
				return "", fmt.Errorf("suite %s: %s and %s would both be %s in the guest", s.Name, placedFrom[dest], src, dest)
			}
			p.Suites = append(p.Suites, plan.Suite{Name: s.Name, Path: dest, Args: s.Args, Report: s.Report, Timeout: plan.Duration(s.Timeout)})
		}
		if g.helper != "" {
			src, err := guestBinary(o.BinDir, g.helper, a)
			if err != nil {
				return "", err
			}
			files = append(files, initramfs.File{Src: src, Dest: g.dir + "/" + filepath.Base(g.helper)})
		}
	}
	planJSON, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return "", err
	}
	name := "initrd-base"
	if a != arch.Default {
		name += "-" + a
	}
	if compat {
		name += "-compat"
	}
	path := filepath.Join(o.OutDir, name+".cpio")
	err = writeFile(path, func(w io.Writer) error { return initramfs.WriteBase(w, agent, planJSON, files) })
	if err != nil {
		return "", fmt.Errorf("vm: base initramfs: %w", err)
	}
	return path, nil
}

// baseKey names the base initramfs a kernel entry boots with: one per architecture, and
// one more for the amd64 kernels that also run the 32-bit suites.
func baseKey(e kernel.Entry) string {
	k := cmp.Or(e.Arch, arch.Default)
	if e.Compat {
		k += "+compat"
	}
	return k
}

// guestBinary returns the build for architecture a of the guest binary at p (arch.Binary),
// saying clearly when a foreign architecture's was not built.
func guestBinary(binDir, p, a string) (string, error) {
	if arch.Native(a) {
		return p, nil
	}
	q, err := arch.Binary(binDir, p, a)
	if err != nil {
		return "", fmt.Errorf("vm: %w", err)
	}
	if _, err := os.Stat(q); err != nil {
		return "", fmt.Errorf("vm: no %s build of %s: make build-%s writes it (%w)", a, p, a, err)
	}
	return q, nil
}

func writeFile(path string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

type runner struct {
	o       Options
	bases   map[string]string // the base initramfs of each baseKey
	fetcher *kernel.Fetcher
	results []Result
	// fetched holds when each kernel was fetched and its initrd written, for
	// Timings.Queued; boots holds what prepare made for its boot.
	fetched []time.Time
	boots   []bootFiles
	// mu guards ended, which says whose boot has ended (or will not happen), and sharers,
	// the kernels waiting for a boot to end to share it (shareBoot).
	mu      sync.Mutex
	ended   []bool
	sharers map[int][]int

	kvmOnce   sync.Once
	kvmOK     bool
	kvmReason string
}

func newRunner(o Options, bases map[string]string, results []Result) *runner {
	n := len(results)
	return &runner{o: o, bases: bases, results: results, fetched: make([]time.Time, n), boots: make([]bootFiles, n),
		ended: make([]bool, n), sharers: map[int][]int{}}
}

func (r *runner) progress(e Event) {
	if r.o.Progress != nil {
		r.o.Progress(e)
	}
}

func (r *runner) fetch(ctx context.Context, i int, e kernel.Entry) bool {
	res := &r.results[i]
	res.Entry = e
	start := time.Now()
	r.fetcher.Progress = func(msg string) { r.progress(Event{Kernel: e.Name, Stage: Fetching, Message: msg}) }
	k, err := r.fetcher.Fetch(ctx, e)
	res.Timings.Fetch = time.Since(start)
	if err != nil {
		res.Err = err
		res.Interrupted = cutShort(ctx.Err(), err, "")
		r.progress(Event{Kernel: e.Name, Stage: Failed, Message: err.Error()})
		return false
	}
	res.Kernel = k
	msg := fmt.Sprintf("%s %s", k.Release, k.Version)
	if k.ModulesUnavailable != "" {
		msg += "; modules unavailable: " + k.ModulesUnavailable
	}
	r.progress(Event{Kernel: e.Name, Stage: Fetched, Message: msg, Duration: res.Timings.Fetch})
	return true
}

// guestModules are loaded whenever the kernel has them as modules: the
// report channel prefers virtio-console, a module in Debian's amd64 kernels up to
// 6.18 (on arm64, the only channel).
var guestModules = []string{"virtio_pci", "virtio_console"}

func (r *runner) boot(ctx context.Context, i int) {
	defer r.endBoot(i)
	res := &r.results[i]
	e, k := res.Entry, res.Kernel
	if err := ctx.Err(); err != nil {
		// Canceled while this kernel waited for a VM slot: do not touch its directory,
		// which may hold an earlier run's logs.
		res.Err, res.Interrupted = fmt.Errorf("not booted: %w", err), true
		r.progress(Event{Kernel: e.Name, Stage: Failed, Message: res.Err.Error()})
		return
	}
	if !r.fetched[i].IsZero() {
		res.Timings.Queued = time.Since(r.fetched[i])
	}
	dir := filepath.Join(r.o.OutDir, e.Name)
	if r.boots[i].initrd == "" && !r.prepare(i) {
		return
	}
	initrd, image := r.boots[i].initrd, r.boots[i].image
	if r.boots[i].temporary {
		defer os.Remove(image) // 60 MB or so, made again from the bzImage by each run
	}
	accel := r.accel(ctx, e, k)
	attempts := 1
	if r.o.Retry {
		attempts = 2
	}
	removeAttemptLogs(dir) // from an earlier run into the same directory
	for a := 1; a <= attempts; a++ {
		if a > 1 {
			res.Earlier = append(res.Earlier, keepAttemptLogs(dir, a-1, res.Outcome))
		}
		res.Attempts, res.Accel, res.CPU, res.ICount = a, accel, qemu.CPUFor(e.CPU, accel), ""
		if qemu.ICountWorks(accel) {
			res.ICount = e.ICount
		}
		msg := fmt.Sprintf("attempt %d, %s", a, accel)
		if res.ICount != "" {
			msg += " icount " + res.ICount
		}
		r.progress(Event{Kernel: e.Name, Stage: Booting, Message: msg})
		t := &res.Timings
		t.Ready, t.Uptime, t.Done = 0, 0, 0
		res.Outcome = qemu.Boot(ctx, qemu.Config{
			Arch: e.Arch, Binary: r.o.QEMU, Kernel: image, Initrd: initrd, Cmdline: e.Cmdline,
			CPUs: e.CPUs, Memory: e.Memory, Accel: accel, CPU: e.CPU, ICount: res.ICount, Timeout: e.Timeout, Dir: dir,
			// Called from one goroutine, which Boot waits for before it returns.
			OnConsole: func(line string, elapsed time.Duration) {
				ev, ok := plan.ParseEvent(line)
				if !ok {
					return
				}
				switch ev.Agent {
				case plan.AgentReady:
					t.Ready, t.Uptime = elapsed, time.Duration(ev.UptimeMS)*time.Millisecond
					r.progress(Event{Kernel: e.Name, Stage: Ready, Message: fmt.Sprintf("agent up, guest uptime %s", t.Uptime.Round(100*time.Millisecond)), Duration: t.Ready})
				case plan.AgentDone:
					t.Done = elapsed
				default:
					var d time.Duration
					if ev.Status != nil {
						d = time.Duration(ev.Status.DurationMS) * time.Millisecond
					}
					r.progress(Event{Kernel: e.Name, Stage: Running, Suite: &ev, Duration: d})
				}
			},
		})
		t.Boot += res.Outcome.Duration
		t.CPU += res.Outcome.CPU
		if res.Outcome.Class == qemu.OK || res.Outcome.Class == qemu.QEMUFailed || ctx.Err() != nil {
			break
		}
		if e.Accel == "auto" {
			accel = "tcg" // do not blame a flaky KVM twice
		}
	}
	res.Guest = plan.Decode(res.Outcome.Report.Frames)
	res.Interrupted = cutShort(ctx.Err(), nil, res.Outcome.Class)
	msg := string(res.Outcome.Class)
	if res.Interrupted {
		msg = "interrupted (" + msg + ")"
	}
	if res.Outcome.Detail != "" {
		msg += " " + res.Outcome.Detail
	}
	timings := res.Timings
	r.progress(Event{Kernel: e.Name, Stage: Done, Message: msg, Duration: res.Outcome.Duration, Timings: &timings})
}

// prepare writes kernel i's initrd into its directory, ahead of its boot, and says whether
// it can boot. Its time counts as the kernel's initramfs stage, not as its queueing.
func (r *runner) prepare(i int) bool {
	res := &r.results[i]
	e := res.Entry
	start := time.Now()
	defer func() {
		res.Timings.Initramfs = time.Since(start)
		r.fetched[i] = time.Now()
	}()
	dir := filepath.Join(r.o.OutDir, e.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		res.Err = err
		r.progress(Event{Kernel: e.Name, Stage: Failed, Message: err.Error()})
		return false
	}
	initrd, mods, err := r.initrd(dir, e, res.Kernel)
	if err != nil {
		res.Err = fmt.Errorf("initramfs for %s: %w", e.Name, err)
		r.progress(Event{Kernel: e.Name, Stage: Failed, Message: res.Err.Error()})
		return false
	}
	res.Modules = mods
	res.Boot = BootBzImage
	r.boots[i] = bootFiles{initrd: initrd, image: res.Kernel.BzImage}
	if cmp.Or(e.Arch, arch.Default) != arch.AMD64 {
		return true
	}
	image, temporary, err := res.Kernel.PVH(filepath.Join(dir, pvhImage))
	switch {
	case err == nil:
		res.Boot = BootPVH
		r.boots[i] = bootFiles{initrd: initrd, image: image, temporary: temporary}
	case errors.Is(err, kernel.ErrNoPVH):
		r.progress(Event{Kernel: e.Name, Stage: Fetched, Message: "booting the bzImage: " + err.Error()})
	default:
		res.Err = fmt.Errorf("kernel image for %s: %w", e.Name, err)
		r.progress(Event{Kernel: e.Name, Stage: Failed, Message: res.Err.Error()})
		return false
	}
	return true
}

// keepAttemptLogs renames attempt n's console.log and qemu.log in dir to
// console-attempt<n>.log and qemu-attempt<n>.log, so that the next boot does not replace
// them, and returns o naming its renamed console log.
func keepAttemptLogs(dir string, n int, o qemu.Outcome) qemu.Outcome {
	for _, name := range []string{"console", "qemu"} {
		from := filepath.Join(dir, name+".log")
		to := filepath.Join(dir, fmt.Sprintf("%s-attempt%d.log", name, n))
		if err := os.Rename(from, to); err != nil {
			continue
		}
		if name == "console" && o.ConsoleLog == from {
			o.ConsoleLog = to
		}
	}
	return o
}

// removeAttemptLogs removes the logs keepAttemptLogs kept, so that a stale one is not
// read as this run's.
func removeAttemptLogs(dir string) {
	old, _ := filepath.Glob(filepath.Join(dir, "*-attempt*.log"))
	for _, f := range old {
		os.Remove(f)
	}
}

// initrd returns the kernel's initrd: the base of its architecture (with the compat suites
// when the entry asks for them) alone, or followed by an archive of the modules it needs.
func (r *runner) initrd(dir string, e kernel.Entry, k *kernel.Kernel) (string, initramfs.Modules, error) {
	base := r.bases[baseKey(e)]
	if k.ModulesDir == "" {
		return base, initramfs.Modules{}, nil
	}
	path := filepath.Join(dir, "initrd.cpio")
	var mods initramfs.Modules
	err := writeFile(path, func(w io.Writer) error {
		b, err := os.Open(base)
		if err != nil {
			return err
		}
		defer b.Close()
		if _, err := io.Copy(w, b); err != nil {
			return err
		}
		mods, err = initramfs.WriteModules(w, k.ModulesDir, k.Release, append(append([]string{}, guestModules...), r.o.Modules...))
		return err
	})
	return path, mods, err
}

// accel picks the accelerator (qemu.ChooseAccel). Whether KVM works is
// decided once per run, by a test boot of the first kernel that needs to know.
func (r *runner) accel(ctx context.Context, e kernel.Entry, k *kernel.Kernel) string {
	return qemu.ChooseAccel(e.Accel, e.ICount, func() bool {
		if !arch.Native(cmp.Or(e.Arch, arch.Default)) {
			return false // KVM runs the host's architecture only
		}
		r.kvmOnce.Do(func() {
			r.kvmOK, r.kvmReason = qemu.KVMUsable(ctx, r.o.QEMU, k.BzImage, filepath.Join(r.o.OutDir, "kvm-probe"))
			msg := "KVM usable"
			if !r.kvmOK {
				msg = "KVM not usable, using TCG: " + r.kvmReason
			}
			r.progress(Event{Kernel: e.Name, Stage: Booting, Message: msg})
		})
		return r.kvmOK
	})
}
