package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/llconform/llconform/bench"
	"github.com/llconform/llconform/collect"
	"github.com/llconform/llconform/internal/atomicfile"
	"github.com/llconform/llconform/internal/outdir"
	"github.com/llconform/llconform/internal/render"
	"github.com/llconform/llconform/internal/report"
	"github.com/llconform/llconform/internal/verdict"
	"github.com/llconform/llconform/vm"
	"github.com/llconform/llconform/vm/kernel"
	"github.com/llconform/llconform/vm/plan"
	"github.com/llconform/llconform/vm/qemu"
)

// benchSuite names the benchmark run of matrix --bench among the guest's suites.
const benchSuite = "bench"

// benchICount is the -icount of matrix --bench for kernels that set none. Under TCG, guest
// wall time is host time spent emulating and moves with the host's load (medians of the
// same point varied by 40-70% between runs on a busy 2-core machine); counting
// instructions makes them repeat within about 1% on a kernel whose code path does not vary
// between boots. 4 ns per instruction is about TCG's speed here, so guest timeouts keep
// roughly their meaning, and sleep=off skips idle time instead of waiting for it.
const benchICount = "shift=2,sleep=off"

// guestModules are loaded in every guest where the kernel has them: the suites check
// erratum 1 on SCTP and SMC sockets, whiteouts on overlayfs, and IOCTL_DEV on a block
// device (the loop driver creates /dev/loop0 when it loads).
var guestModules = []string{"sctp", "smc", "overlay", "loop"}

// stringList is a repeatable flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

type matrixFlags struct {
	kernels string
	adhoc   stringList
	only    string
	shard   string
	out     outputs
	suites  string
	compat  string
	agent   string
	cache   string
	jobs    int
	retry   bool
	each    bool
	refresh bool
	timeout time.Duration
	filters filters
	bench   bool
	benchSc string
	icount  string
	gate    gateFlags
	mirror  mirrorFlags
}

func matrixCmd(ctx context.Context, args []string) (code int, err error) {
	var m matrixFlags
	defer func() { code = m.gate.exit(code, m.out.interrupted) }()
	fs := flag.NewFlagSet("matrix", flag.ContinueOnError)
	fs.StringVar(&m.kernels, "kernels", "kernels.yaml", "kernel list; ignored when --kernel is given")
	fs.Var(&m.adhoc, "kernel", "ad-hoc kernel instead of the list, repeatable: debian:<package> or file:<bzImage>")
	fs.StringVar(&m.only, "only", "", "comma-separated names of the list's kernels to run")
	fs.StringVar(&m.shard, "shard", "", "run only slice i of n of the kernels (i/n, 1-based), for CI fan-out")
	m.out.register(fs, "out/matrix")
	fs.BoolVar(&m.bench, "bench", false, "also run the benchmarks in every guest and plot them per kernel (figures are emulated time, instruction-counted unless --icount off)")
	fs.StringVar(&m.benchSc, "bench-scenarios", "PathWalk,Layers", "benchmark scenarios to run in the guests")
	fs.StringVar(&m.icount, "icount", "", "QEMU -icount for every kernel (e.g. shift=2,sleep=off: guest time counts instructions, under TCG), or off for wall clock; default: each kernel's icount key, and with --bench "+benchICount+" where it has none")
	fs.StringVar(&m.suites, "suites", defaultSuiteDir(), "directory of the compiled suite binaries (<name>.test)")
	fs.StringVar(&m.compat, "compat-suites", defaultCompatSuiteDir(), "directory of the suites' 32-bit builds, run on the kernels with compat: true")
	fs.StringVar(&m.agent, "agent", "", "static guest agent binary (default: llconform-agent beside this binary)")
	fs.StringVar(&m.cache, "cache", "", "kernel cache directory (default: $XDG_CACHE_HOME/llconform)")
	fs.IntVar(&m.jobs, "jobs", runtime.NumCPU(), "VMs booted at once")
	fs.BoolVar(&m.retry, "retry", true, "boot a kernel once more after an infrastructure error")
	fs.BoolVar(&m.each, "boot-each", false, "boot every kernel, even one whose files and boot settings another kernel of the run has (by default it shares that kernel's boot and results)")
	fs.BoolVar(&m.refresh, "refresh", false, "refresh the Debian package lists even if recent")
	fs.DurationVar(&m.timeout, "suite-timeout", 5*time.Minute, "time limit of each suite in the guest")
	fs.StringVar(&m.filters.label, "label-filter", "", "Ginkgo label filter passed to every suite; abi<=N style comparisons allowed")
	fs.StringVar(&m.filters.focus, "focus", "", "Ginkgo focus regexp passed to every suite")
	m.gate.register(fs)
	m.mirror.register(fs)
	if err := fs.Parse(args); err != nil {
		return exitUsage, err
	}
	if fs.NArg() > 0 {
		return exitUsage, fmt.Errorf("matrix: unexpected arguments %q", fs.Args())
	}
	if err := m.gate.check(m.filters); err != nil {
		return exitUsage, err
	}
	// Every input is read and checked here, before the first download or boot.
	if err := m.check(); err != nil {
		return exitUsage, err
	}
	if err := m.filters.expand(); err != nil {
		return exitUsage, err
	}
	if err := m.out.readInputs(); err != nil {
		return exitUsage, err
	}
	entries, err := m.entries()
	if err != nil {
		return exitUsage, err
	}
	mirror, err := m.mirror.resolve(m.kernels, len(m.adhoc) == 0)
	if err != nil {
		return exitUsage, err
	}
	out, code, err := m.out.open()
	if err != nil {
		return code, err
	}
	defer out.Close()
	if len(entries) == 0 {
		// More shards than kernels: this shard has nothing to do, which is not an error in
		// a CI fan-out. Its result has no run, so that report merge takes it as it is.
		return m.emptyShard()
	}
	binaries, err := plan.FindSuites(ctx, m.suites)
	if err != nil {
		return verdict.ExitInfra, err
	}
	if m.agent == "" {
		// Beside this binary, where make build puts it: the agent must match the build of
		// llconform that reads its frames, whichever suites directory is used.
		self, err := os.Executable()
		if err != nil {
			return verdict.ExitInfra, err
		}
		m.agent = filepath.Join(filepath.Dir(self), "llconform-agent")
	}
	runDir := out.Run // every boot's files go to runDir/<kernel>

	var suites, compatSuites []vm.Suite
	var compatHelper string
	var names []string // the conformance suites, which make the report
	for _, b := range binaries {
		rep := "/tmp/" + b.Name + ".json"
		suites = append(suites, vm.Suite{Name: b.Name, Binary: b.Path, Args: b.Command(m.filters.args(rep)...), Report: rep, Timeout: m.timeout})
		names = append(names, b.Name)
	}
	if slices.ContainsFunc(entries, func(e kernel.Entry) bool { return e.Compat }) {
		compat, err := findCompatSuites(m.compat, binaries)
		if err != nil {
			return verdict.ExitInfra, err
		}
		compatHelper = plan.FindHelper(m.compat)
		for _, b := range compat {
			name := plan.CompatName(b.Name)
			rep := "/tmp/" + name + ".json"
			compatSuites = append(compatSuites, vm.Suite{Name: name, Binary: b.Path, Args: b.Command(m.filters.args(rep)...), Report: rep, Timeout: m.timeout})
		}
	}
	if m.bench {
		self, err := os.Executable()
		if err != nil {
			return verdict.ExitInfra, err
		}
		// Figures measured in a guest are emulated time, compared across kernels, never
		// with the host's. The guest cannot tell how QEMU ran it (the accelerator of auto
		// is chosen at boot): collect.Bench stamps the timing mode from the boot's settings.
		suites = append(suites, vm.Suite{
			Name: benchSuite, Binary: self, Report: "/tmp/bench/bench.json", Timeout: m.timeout,
			Args: []string{"bench", "--quick", "--scenarios", m.benchSc, "--timing", "qemu guest clock", "--out", "/tmp/bench"},
		})
	}
	fmt.Fprintf(os.Stderr, "matrix: %d kernels, %d suites, %d VMs at once\n", len(entries), len(suites), m.jobs)
	timings := &report.RunTimings{Jobs: m.jobs, CPUs: runtime.NumCPU(), LoadStart: loadAverage()}
	prog := newProgress(len(entries))
	results, err := vm.Run(ctx, vm.Options{
		Kernels: entries,
		Suites:  suites,
		Helper:  plan.FindHelper(m.suites),
		// Only the initrds of the kernels with compat: true carry them.
		CompatSuites: compatSuites,
		CompatHelper: compatHelper,
		Agent:        m.agent,
		BinDir:       binDir(),
		Modules:      guestModules,
		CacheDir:     m.cache,
		OutDir:       runDir,
		Parallel:     m.jobs,
		Retry:        m.retry,
		BootEach:     m.each,
		Refresh:      m.refresh,
		Progress:     prog.event,
		Mirror:       mirror,
		Expected:     lastCPU(filepath.Join(m.out.dir, resultJSON)),
	})
	if err != nil {
		return verdict.ExitInfra, err
	}

	// A kernel cut short by SIGINT/SIGTERM makes the whole result partial: it must not
	// replace a complete one (outputs.finish writes result.interrupted.json instead).
	m.out.interrupted = slices.ContainsFunc(results, func(r vm.Result) bool { return r.Interrupted })
	timings.Wall, timings.LoadEnd = time.Since(prog.start), loadAverage()
	res := &report.Result{Generator: generator, Time: prog.start.UTC(), Timings: timings}
	var benches []*bench.Result
	var benchNames []string
	for _, r := range results {
		dir := filepath.Join(runDir, r.Entry.Name)
		run, err := collect.Kernel(r, names, dir)
		if err != nil {
			return verdict.ExitInfra, err
		}
		res.Runs = append(res.Runs, run)
		if r.Entry.Compat {
			crun, err := collect.Compat(r, names, dir)
			if err != nil {
				return verdict.ExitInfra, err
			}
			res.Runs = append(res.Runs, crun)
		}
		if m.bench {
			b, err := collect.Bench(r, benchSuite, dir)
			if err != nil {
				fmt.Fprintf(os.Stderr, "%s: benchmarks: %v\n", r.Entry.Name, err)
				continue
			}
			benches, benchNames = append(benches, b), append(benchNames, r.Entry.Name)
		}
	}
	if len(benches) > 0 && !m.out.interrupted {
		if m.out.plots, err = benchPlots(filepath.Join(runDir, "plots"), benches); err != nil {
			return verdict.ExitInfra, err
		}
	}
	m.gate.apply(res)
	code, err = m.out.finish(res, printMatrix)
	if len(benches) > 0 {
		fmt.Println()
		if werr := bench.WriteSlopes(os.Stdout, benchNames, benches...); err == nil {
			err = werr
		}
	}
	return code, err
}

// entries returns the kernels to run: the ad-hoc ones, or the list's, narrowed by --only
// and --shard.
// check refuses flag values the run could only fail on later.
func (m matrixFlags) check() error {
	if m.jobs < 1 {
		return fmt.Errorf("--jobs %d: want at least 1 VM at once", m.jobs)
	}
	if m.timeout <= 0 {
		return fmt.Errorf("--suite-timeout %s: want a positive duration", m.timeout)
	}
	if m.bench {
		if err := (bench.Options{Scenarios: strings.Split(m.benchSc, ",")}).Check(); err != nil {
			return fmt.Errorf("--bench-scenarios: %w", err)
		}
	}
	if m.cache != "" {
		if err := os.MkdirAll(m.cache, 0o755); err != nil {
			return fmt.Errorf("--cache: %w", err)
		}
	}
	return nil
}

func (m matrixFlags) entries() ([]kernel.Entry, error) {
	var entries []kernel.Entry
	if len(m.adhoc) > 0 {
		for _, spec := range m.adhoc {
			e, err := kernel.ParseSpec(spec)
			if err != nil {
				return nil, err
			}
			entries = append(entries, e)
		}
	} else {
		var err error
		if entries, err = kernel.ParseFile(m.kernels); err != nil {
			return nil, err
		}
	}
	for _, e := range entries {
		// A kernel's files are linked as <out>/<name>, beside <out>/runs.
		if e.Name == outdir.RunsDir {
			return nil, fmt.Errorf("kernel name %q is reserved for the output directory's runs", e.Name)
		}
	}
	if m.only != "" {
		want := strings.Split(m.only, ",")
		var kept []kernel.Entry
		for _, e := range entries {
			if slices.Contains(want, e.Name) {
				kept = append(kept, e)
			}
		}
		for _, w := range want {
			if !slices.ContainsFunc(kept, func(e kernel.Entry) bool { return e.Name == w }) {
				return nil, fmt.Errorf("--only: no kernel named %q in %s", w, m.kernels)
			}
		}
		entries = kept
	}
	if len(entries) == 0 {
		return nil, fmt.Errorf("no kernels to run")
	}
	if m.shard != "" {
		i, n, err := parseShard(m.shard)
		if err != nil {
			return nil, err
		}
		var kept []kernel.Entry
		for j, e := range entries {
			if j%n == i-1 {
				kept = append(kept, e)
			}
		}
		// An empty shard (more shards than kernels) returns no entries and no error.
		entries = kept
	}
	for _, e := range entries {
		if err := e.CheckLocal(); err != nil {
			return nil, err
		}
	}
	switch {
	case m.icount == "" && m.bench:
		for i := range entries {
			if entries[i].ICount == "" && qemu.ICountWorks(entries[i].Accel) {
				entries[i].ICount = benchICount
			}
		}
	case m.icount != "":
		icount := ""
		if m.icount != "off" {
			var err error
			if icount, err = qemu.ParseICount(m.icount); err != nil {
				return nil, fmt.Errorf("--icount: %w", err)
			}
		}
		for i := range entries {
			if err := qemu.CheckICount(entries[i].Accel, icount); err != nil {
				return nil, fmt.Errorf("--icount: kernel %s: %w", entries[i].Name, err)
			}
			entries[i].ICount = icount
		}
	}
	return entries, nil
}

// shardRE is --shard's syntax: digits, a slash, digits, nothing else.
var shardRE = regexp.MustCompile(`^([0-9]+)/([0-9]+)$`)

// parseShard parses --shard i/n strictly: 1 <= i <= n, digits only.
func parseShard(s string) (i, n int, err error) {
	bad := fmt.Errorf("--shard %q: want i/n in digits with 1 <= i <= n, such as 2/3", s)
	sub := shardRE.FindStringSubmatch(s)
	if sub == nil {
		return 0, 0, bad
	}
	if i, err = strconv.Atoi(sub[1]); err != nil {
		return 0, 0, bad
	}
	if n, err = strconv.Atoi(sub[2]); err != nil {
		return 0, 0, bad
	}
	if i < 1 || i > n {
		return 0, 0, bad
	}
	return i, n, nil
}

// emptyShard ends a matrix run whose shard selected no kernel: it says so, writes a
// result without runs (valid input for report merge) and exits 0.
func (m matrixFlags) emptyShard() (int, error) {
	dir, err := filepath.Abs(m.out.dir)
	if err != nil {
		return verdict.ExitInfra, err
	}
	fmt.Fprintf(os.Stderr, "matrix: shard %s has no kernels (fewer kernels than shards): nothing to run\n", m.shard)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return verdict.ExitInfra, fmt.Errorf("create output directory: %w", err)
	}
	if err := m.out.out.Publish(true); err != nil {
		return verdict.ExitInfra, err
	}
	res := &report.Result{Generator: generator, Time: time.Now().UTC()}
	paths := []string{filepath.Join(dir, "result.json")}
	if m.out.jsonPath != "" {
		paths = append(paths, m.out.jsonPath)
	}
	for _, p := range paths {
		if err := atomicfile.Write(p, func(f io.Writer) error { return report.Encode(f, res) }); err != nil {
			return verdict.ExitInfra, err
		}
	}
	fmt.Printf("results: %s (no runs)\n", paths[0])
	if m.out.baseline.file != "" {
		fmt.Printf("--baseline: no comparison with %s: this shard ran no kernel\n", m.out.baseline.file)
	}
	return verdict.ExitPass, nil
}

// benchPlots writes one SVG per benchmark series, a line per kernel, and returns them for
// the HTML report.
func benchPlots(dir string, results []*bench.Result) ([]render.Plot, error) {
	files, err := bench.WritePlots(dir, results...)
	if err != nil {
		return nil, err
	}
	var plots []render.Plot
	for _, f := range files {
		svg, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		plots = append(plots, render.Plot{Title: strings.TrimSuffix(filepath.Base(f), ".svg"), SVG: string(svg)})
	}
	return plots, nil
}

// lastCPU returns each kernel's QEMU CPU time in the result at path, the last complete run
// into the same output directory, for vm to boot the longest first; nil when there is no
// such result or it has no timings. CPU time, unlike wall time, does not follow the load
// the machine had then. A kernel that shared another's boot takes that boot's figure: if it
// boots on its own next time (the kernel it shared has changed), it is as long.
func lastCPU(path string) map[string]time.Duration {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	f, err := report.ReadTimings(data)
	if err != nil || len(f.Runs) == 0 {
		return nil
	}
	cpu := map[string]time.Duration{}
	for _, k := range f.Runs[0].Kernels {
		cpu[k.Name] = k.Timings.CPU
	}
	for _, k := range f.Runs[0].Kernels {
		if k.Timings.SharedBoot != "" {
			cpu[k.Name] = cpu[k.Timings.SharedBoot]
		}
	}
	return cpu
}

func roundSeconds(d time.Duration) time.Duration { return d.Round(100 * time.Millisecond) }

// loadAverage is the host's 1-minute load average, 0 where it cannot be read: timings are
// read beside it.
func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f, _, _ := strings.Cut(string(b), " ")
	v, _ := strconv.ParseFloat(f, 64)
	return v
}

// progress prints one line per kernel stage and per suite a guest finishes: plain lines
// read well both on a terminal and in a CI log.
type progress struct {
	mu    sync.Mutex
	w     io.Writer
	total int // kernels
	done  int
	start time.Time
}

func newProgress(kernels int) *progress {
	return &progress{w: os.Stderr, total: kernels, start: time.Now()}
}

func (p *progress) event(e vm.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	msg := e.Message
	switch e.Stage {
	case vm.Done:
		p.done++
		if t := e.Timings; t != nil {
			// Where the kernel's time went, as soon as it is known: a slow stage shows here
			// long before the tables at the end.
			msg += fmt.Sprintf(" [fetch %s, initramfs %s, queued %s, boot to agent %s, suites and transfer %s, QEMU CPU %s]",
				roundSeconds(t.Fetch), roundSeconds(t.Initramfs), roundSeconds(t.Queued), roundSeconds(t.Ready),
				roundSeconds(max(e.Duration-t.Ready, 0)), roundSeconds(t.CPU))
		}
	case vm.Failed:
		p.done++
	case vm.Running:
		s := e.Suite
		if s == nil || s.Status == nil {
			return // a start line adds nothing the end line will not say
		}
		msg = fmt.Sprintf("suite %d/%d %s: %s", s.N, s.Of, s.Suite, s.Status)
	}
	line := fmt.Sprintf("[%3.0fs %d/%d] %-14s %-8s", time.Since(p.start).Seconds(), p.done, p.total, e.Kernel, e.Stage)
	if msg != "" {
		line += " " + msg
	}
	if e.Duration > 0 {
		line += fmt.Sprintf(" (%s)", e.Duration.Round(100*time.Millisecond))
	}
	fmt.Fprintln(p.w, line)
}

func kernelsCmd(ctx context.Context, args []string) (int, error) {
	fs := flag.NewFlagSet("kernels", flag.ContinueOnError)
	file := fs.String("kernels", "kernels.yaml", "kernel list")
	fetch := fs.Bool("fetch", false, "resolve and download every kernel into the cache")
	cache := fs.String("cache", "", "kernel cache directory (default: $XDG_CACHE_HOME/llconform)")
	var mf mirrorFlags
	mf.register(fs)
	if err := fs.Parse(args); err != nil {
		return exitUsage, err
	}
	if fs.NArg() > 0 {
		return exitUsage, fmt.Errorf("kernels: unexpected arguments %q", fs.Args())
	}
	entries, err := kernel.ParseFile(*file)
	if err != nil {
		return exitUsage, err
	}
	mirror, err := mf.resolve(*file, true)
	if err != nil {
		return exitUsage, err
	}
	if *cache == "" {
		if *cache, err = kernel.DefaultCacheDir(); err != nil {
			return verdict.ExitInfra, err
		}
	}
	f := &kernel.Fetcher{CacheDir: *cache, Mirror: mirror, Progress: func(msg string) { fmt.Fprintln(os.Stderr, msg) }}
	code := 0
	for _, e := range entries {
		line := fmt.Sprintf("%-14s %s", e.Name, collect.Source(e))
		if e.Expect != nil && e.Expect.ABI != nil {
			line += fmt.Sprintf("  expect ABI %d errata %v", *e.Expect.ABI, e.Expect.Errata)
		}
		if *fetch {
			k, err := f.Fetch(ctx, e)
			if err != nil {
				line += "  ERROR: " + err.Error()
				code = verdict.ExitInfra
			} else {
				line += fmt.Sprintf("  -> %s %s (%s)", k.Package, k.Version, k.Release)
				if k.ModulesUnavailable != "" {
					line += "; modules unavailable: " + k.ModulesUnavailable
				}
			}
		}
		fmt.Println(line)
	}
	return code, nil
}
