package trace

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/sys/unix"

	"github.com/llconform/llconform/internal/landlock"
	"github.com/llconform/llconform/internal/report"
	"github.com/llconform/llconform/internal/sandbox"
	"github.com/llconform/llconform/internal/spec"
	"github.com/llconform/llconform/internal/tracefs"
	"github.com/llconform/llconform/suites/trace/actions"
)

// The Landlock trace events came with Linux 7.3 and depend on the kernel's configuration
// (CONFIG_TRACEPOINTS), not on its Landlock ABI: every spec is labelled spec.Since("7.3"),
// and on a kernel without the events it checks that they are really absent (tracefs has
// no events/landlock, available_events lists no landlock:* event) and records the feature
// as correctly absent.
//
// The suite records into a private tracefs instance, instances/llconform-<pid>, with only
// the landlock events enabled and a pid filter following this process and whatever it
// starts; AfterSuite removes it. Every spec clears the instance's buffer, acts, and reads
// back exactly the events its actions caused.

const sinceVersion = "7.3"

// feature labels a spec with its trace feature, the ABI of the operations it observes,
// the kernel version of the events and the root it needs (tracefs is root's).
func feature(name string, abi int) Labels {
	return append(append(spec.Feature(name, abi), spec.Since(sinceVersion)...), spec.Needs("root")...)
}

// tracing is the suite's view of tracefs, set up once, when the first spec needs it.
var tracing struct {
	once sync.Once
	fs   *tracefs.FS
	// present: events/landlock exists; events are its event directories.
	present bool
	events  []string
	// absent says how the kernel was found to have no Landlock trace event.
	absent string
	inst   *tracefs.Instance
	err    error
}

func setUpTracing() {
	t := &tracing
	fs, err := tracefs.Open()
	if err != nil {
		filesystems, rerr := os.ReadFile("/proc/filesystems")
		if rerr == nil && !slices.Contains(strings.Fields(string(filesystems)), "tracefs") {
			t.absent = "the kernel has no tracefs (not in /proc/filesystems): no trace events at all"
			return
		}
		t.err = err
		return
	}
	t.fs = fs
	if t.present, t.err = fs.Exists("events/" + tracefs.LandlockSystem); t.err != nil {
		return
	}
	if !t.present {
		t.absent, t.err = checkAbsent(fs)
		return
	}
	if t.events, t.err = fs.List("events/" + tracefs.LandlockSystem); t.err != nil {
		return
	}
	removed, err := fs.RemoveStale()
	if err != nil {
		t.err = err
		return
	}
	if len(removed) > 0 {
		fmt.Fprintf(GinkgoWriter, "removed trace instances of dead runs: %v\n", removed)
	}
	inst, err := fs.NewInstance(tracefs.InstanceName(os.Getpid()))
	if err != nil {
		t.err = err
		return
	}
	t.inst = inst
	// The filter first: an instance without one records every task's events.
	if err := inst.FollowProcess(); err != nil {
		t.err = err
		return
	}
	t.err = inst.Enable(tracefs.LandlockSystem, true)
}

// checkAbsent checks that a tracefs without events/landlock really has no Landlock event,
// and says how it knows.
func checkAbsent(fs *tracefs.FS) (string, error) {
	hasEvents, err := fs.Exists("events")
	if err != nil {
		return "", err
	}
	if !hasEvents {
		return fmt.Sprintf("tracefs (%s) has no events/ directory: the kernel traces no events at all", fs.Where), nil
	}
	avail, err := fs.AvailableEvents(tracefs.LandlockSystem)
	if err != nil {
		return "", err
	}
	if len(avail) > 0 {
		return "", fmt.Errorf("available_events lists Landlock events %v but tracefs (%s) has no events/landlock", avail, fs.Where)
	}
	return fmt.Sprintf("tracefs (%s) has events/ but no events/landlock, and available_events no landlock:* event: the kernel has no Landlock trace events", fs.Where), nil
}

var _ = suite.AfterSuite(func() {
	stopTargets()
	if netns.fd > 0 {
		unix.Close(netns.fd)
	}
	if tracing.inst != nil {
		Expect(tracing.inst.Remove()).To(Succeed(), "remove trace instance %s", tracing.inst.Name)
		Expect(tracing.inst.Exists()).To(BeFalse(), "trace instance %s still there after its removal", tracing.inst.Name)
	}
	if tracing.fs != nil {
		tracing.fs.Close()
	}
})

// eventOf is the tracefs event of a trace feature: "trace.deny_access_fs" is
// landlock_deny_access_fs; "trace.events" is the whole system.
func eventOf(feature string) string {
	name := strings.TrimPrefix(feature, "trace.")
	if _, ok := tracefs.LandlockEventNamed(name); !ok {
		return ""
	}
	return "landlock_" + name
}

// requireEvents starts every spec. Where the kernel has Landlock's trace events it returns
// true with the instance's buffer empty, after checking that the feature's event is there
// (a kernel with some of the events but not all fails) and skipping a spec whose
// operations need an ABI the kernel lacks. Where the kernel has none it checks that they
// are absent, records feature as correctly absent and returns false: the spec returns.
func requireEvents(feature string, abi int) bool {
	GinkgoHelper()
	spec.RequireLandlock()
	spec.RequireRoot()
	tracing.once.Do(setUpTracing)
	Expect(tracing.err).NotTo(HaveOccurred(), "tracefs")
	if !tracing.present {
		spec.Verdict(report.Verdict{Feature: feature, ABI: abi, Outcome: report.Absent, Detail: tracing.absent})
		return false
	}
	if ev := eventOf(feature); ev != "" {
		Expect(tracing.events).To(ContainElement(ev),
			"%s has events/landlock but no %s: the kernel has only part of Landlock's trace events (%v)", tracing.fs.Where, ev, tracing.events)
	}
	if !spec.Supports(abi) {
		spec.Skip("the kernel has Landlock trace events but ABI %d: %s needs ABI %d to be exercised", spec.Kernel().ABI, feature, abi)
	}
	Expect(tracing.inst.Clear()).To(Succeed(), "clear the trace instance")
	return true
}

// works records that the spec saw feature's event behave as documented.
func works(feature string, abi int) {
	spec.Verdict(report.Verdict{Feature: feature, ABI: abi, Outcome: report.Works})
}

// events are the Landlock events of one read of the instance.
type events []tracefs.Event

// readEvents returns the events recorded since requireEvents cleared the instance. Lost
// events (an overflowing buffer) or a Landlock event whose keys are not the documented ones
// fail the spec.
func readEvents() events {
	GinkgoHelper()
	return read(true)
}

// readEventsQuietly is readEvents without a copy of the trace in the spec's output, for
// polling.
func readEventsQuietly() events {
	GinkgoHelper()
	return read(false)
}

func read(log bool) events {
	GinkgoHelper()
	t, err := tracing.inst.Read()
	Expect(err).NotTo(HaveOccurred(), "read the trace")
	Expect(t.Lost()).To(BeZero(), "the trace buffer overwrote %d events", t.Lost())
	evs, err := tracefs.LandlockEventsOf(t)
	Expect(err).NotTo(HaveOccurred(), "a Landlock event with undocumented fields")
	for _, l := range t.Lines {
		if log {
			fmt.Fprintln(GinkgoWriter, "trace:", l.Raw)
		}
	}
	return evs
}

// clearEvents empties the buffer again, after a spec's set-up, for the part it checks.
func clearEvents() {
	GinkgoHelper()
	Expect(tracing.inst.Clear()).To(Succeed(), "clear the trace instance")
}

// named returns the events called name (short name).
func (es events) named(name string) events {
	var out events
	for _, e := range es {
		if e.Name == name {
			out = append(out, e)
		}
	}
	return out
}

// with returns the events whose key has the raw value val.
func (es events) with(key, val string) events {
	var out events
	for _, e := range es {
		if v, ok := e.Value(key); ok && v == val {
			out = append(out, e)
		}
	}
	return out
}

// filter returns the events for which keep is true.
func (es events) filter(keep func(tracefs.Event) bool) events {
	var out events
	for _, e := range es {
		if keep(e) {
			out = append(out, e)
		}
	}
	return out
}

func (es events) String() string {
	if len(es) == 0 {
		return "  (no Landlock event)"
	}
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = "  " + strings.TrimSpace(e.Raw)
	}
	return strings.Join(lines, "\n")
}

// count asserts that es holds n events called name and returns them; what says what the
// spec did, for the failure message, which lists every event read.
func (es events) count(name string, n int, what string, args ...any) events {
	GinkgoHelper()
	got := es.named(name)
	if len(got) != n {
		Fail(fmt.Sprintf("%s: %d landlock_%s events, want %d\ntrace:\n%s", fmt.Sprintf(what, args...), len(got), name, n, es))
	}
	return got
}

// one asserts that es holds exactly one event called name and returns it.
func (es events) one(name, what string, args ...any) tracefs.Event {
	GinkgoHelper()
	return es.count(name, 1, what, args...)[0]
}

// expectFields asserts the raw values of an event's keys, given as key, value pairs.
func expectFields(e tracefs.Event, what string, kv ...string) {
	GinkgoHelper()
	var bad []string
	for i := 0; i+1 < len(kv); i += 2 {
		if got := e.Get(kv[i]); got != kv[i+1] {
			bad = append(bad, fmt.Sprintf("%s=%q, want %q", kv[i], got, kv[i+1]))
		}
	}
	if len(bad) > 0 {
		Fail(fmt.Sprintf("%s: %s: %s\nline: %s", what, e.Event, strings.Join(bad, "; "), strings.TrimSpace(e.Raw)))
	}
}

// hexOf returns a %llx value, failing the spec on a malformed one.
func hexOf(e tracefs.Event, key string) uint64 {
	GinkgoHelper()
	n, err := e.Hex(key)
	Expect(err).NotTo(HaveOccurred())
	return n
}

// rulesetOf returns a ruleset reference.
func rulesetOf(e tracefs.Event, key string) tracefs.Ruleset {
	GinkgoHelper()
	r, err := e.Ruleset(key)
	Expect(err).NotTo(HaveOccurred())
	return r
}

// id formats a domain or ruleset id as the events print it.
func id(n uint64) string { return fmt.Sprintf("%x", n) }

// domainsCreated returns the ids of the domains es created, in order.
func (es events) domainsCreated() []uint64 {
	GinkgoHelper()
	var ids []uint64
	for _, e := range es.named("create_domain") {
		ids = append(ids, hexOf(e, "domain"))
	}
	return ids
}

// oneDomain returns the id of the one domain es created.
func (es events) oneDomain(what string, args ...any) uint64 {
	GinkgoHelper()
	d := hexOf(es.one("create_domain", what, args...), "domain")
	Expect(d).NotTo(BeZero(), "%s: a domain with id 0", fmt.Sprintf(what, args...))
	return d
}

// kernelABI is the kernel's ABI as far as llconform knows it: the masks the kernel
// normalises rules with are those of its ABI.
func kernelABI() int { return min(spec.Kernel().ABI, landlock.MaxABI) }

// fsMask renders filesystem rights as the events print them.
func fsMask(m uint64) string { return tracefs.FormatMask(landlock.KindFS, m) }

func netMask(m uint64) string { return tracefs.FormatMask(landlock.KindNet, m) }

// onThread runs fn on a throw-away thread (sandbox.OnThread) and fails the spec if it
// returns an error: fn enforces policies on that thread and acts there.
func onThread(fn func() error) {
	GinkgoHelper()
	Expect(sandbox.OnThread(fn)).To(Succeed(), "sandbox thread")
}

// enforce restricts the calling thread with p (sandbox threads only).
func enforce(p sandbox.Policy) error {
	if err := p.Enforce(); err != nil {
		return fmt.Errorf("enforce: %w", err)
	}
	return nil
}

// expectErr checks an action's error inside a sandbox thread, turning a mismatch into the
// thread's error.
func expectErr(err, want error, what string, args ...any) error {
	if !spec.IsErrno(err, want) {
		return fmt.Errorf("%s: got %s, want %s", fmt.Sprintf(what, args...), spec.ErrnoName(err), spec.ErrnoName(want))
	}
	return nil
}

// tempDir returns a fresh directory, by its canonical path (the events print absolute
// paths, without symbolic links), removed after the spec.
func tempDir() string {
	GinkgoHelper()
	d, err := os.MkdirTemp("", "llconform-trace-")
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(os.RemoveAll, d)
	real, err := filepath.EvalSymlinks(d)
	Expect(err).NotTo(HaveOccurred())
	return real
}

// mkdirs creates directories below base and returns their paths.
func mkdirs(base string, names ...string) []string {
	GinkgoHelper()
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = filepath.Join(base, n)
		Expect(os.MkdirAll(out[i], 0o755)).To(Succeed())
	}
	return out
}

// devIno returns a path's device as "<major>:<minor>" and its inode number, as the events
// print them.
func devIno(path string) (string, string) {
	GinkgoHelper()
	var st unix.Stat_t
	Expect(unix.Stat(path, &st)).To(Succeed(), "stat %s", path)
	return fmt.Sprintf("%d:%d", unix.Major(st.Dev), unix.Minor(st.Dev)), fmt.Sprint(st.Ino)
}

// escaped renders a path as the events print it.
func escaped(path string) string { return tracefs.Escape([]byte(path)) }

// openFile opens a file read-only and closes it again.
func openFile(path string) error {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err == nil {
		unix.Close(fd)
	}
	return err
}

// loopbackUp brings lo up in the calling thread's network namespace; the kernel then
// assigns 127.0.0.1 and ::1.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("loopback: %w", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("loopback: get flags: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("loopback: set up: %w", err)
	}
	return nil
}

// netns is the suite's own network namespace, created once with lo up: the network specs
// use fixed ports and abstract names, which cannot collide with anything there.
var netns struct {
	once sync.Once
	fd   int
	err  error
}

// privateNet moves the calling (sandbox) thread into the suite's network namespace.
func privateNet() error {
	netns.once.Do(func() {
		netns.fd = -1
		netns.err = sandbox.OnThread(func() error {
			if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
				return fmt.Errorf("unshare(CLONE_NEWNET): %w", err)
			}
			if err := loopbackUp(); err != nil {
				return err
			}
			fd, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				return fmt.Errorf("open the new network namespace: %w", err)
			}
			netns.fd = fd
			return nil
		})
	})
	if netns.err != nil {
		return spec.SetupFailed("a network namespace for the suite", netns.err)
	}
	if err := unix.Setns(netns.fd, unix.CLONE_NEWNET); err != nil {
		return spec.SetupFailed("setns(the suite's network namespace)", err)
	}
	return nil
}

// readyLine reads the first line a helper writes (actions.ReadyLine) and returns the tid
// of the helper's thread that enforced its policy.
func readyLine(pr *sandbox.Proc) (int, error) {
	line, err := bufio.NewReader(pr.Stdout).ReadString('\n')
	var tid int
	if err == nil {
		_, err = fmt.Sscanf(line, actions.ReadyLine, &tid)
	}
	if err != nil {
		pr.Stdin.Close()
		res := pr.Wait()
		return 0, fmt.Errorf("helper not ready (read %q, %v): setup %v, error %v", line, err, res.Setup, res.Err)
	}
	return tid, nil
}
