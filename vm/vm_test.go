package vm

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/llconform/llconform/vm/kernel"
	"github.com/llconform/llconform/vm/plan"
	"github.com/llconform/llconform/vm/qemu"
)

// guest skips the test unless a real Debian kernel can be fetched and booted here, and
// builds the agent and a tiny suite into a temporary directory.
func guest(t *testing.T) (tmp, agent, suite string) {
	t.Helper()
	if testing.Short() {
		t.Skip("boots a VM: skipped with -short")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root: apt-get download into the private cache runs as root")
	}
	if _, err := exec.LookPath(qemu.DefaultBinary); err != nil {
		t.Skip(qemu.DefaultBinary + " not found: run make deps or apt-get install qemu-system-x86")
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		t.Skip("apt-get not found: Debian kernels cannot be fetched")
	}
	tmp = t.TempDir()
	agent, suite = filepath.Join(tmp, "agent"), filepath.Join(tmp, "suite")
	build(t, agent, "./agent")
	build(t, suite, "./testdata/suite")
	return tmp, agent, suite
}

// TestBootDebian boots a real Debian kernel under QEMU (TCG) with a tiny
// suite and checks that its frames come back. It downloads the kernel into
// the default cache on first use.
func TestBootDebian(t *testing.T) {
	tmp, agent, suite := guest(t)
	var events []plan.Event // appended by the one VM's console follower only

	e, err := kernel.ParseSpec("debian:linux-image-6.1.0-56-cloud-amd64")
	if err != nil {
		t.Fatal(err)
	}
	e.Accel, e.Timeout = "tcg", 2*time.Minute
	res, err := Run(context.Background(), Options{
		Kernels: []kernel.Entry{e},
		Suites:  []Suite{{Name: "tiny", Binary: suite, Args: []string{"-report=/tmp/tiny.json"}, Report: "/tmp/tiny.json", Timeout: time.Minute}},
		Agent:   agent,
		Modules: []string{"overlay"},
		OutDir:  filepath.Join(tmp, "out"),
		Progress: func(ev Event) {
			t.Logf("%s: %s %s %v %+v", ev.Kernel, ev.Stage, ev.Message, ev.Duration, ev.Suite)
			if ev.Stage == Running {
				events = append(events, *ev.Suite)
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	r := res[0]
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	if r.Outcome.Class != qemu.OK {
		t.Fatalf("boot: %s: %s\n%s", r.Outcome.Class, r.Outcome.Detail, r.Outcome.ConsoleTail)
	}
	tiny, ok := r.Suites["tiny"]
	if !ok || !tiny.Ended || tiny.Err != nil {
		t.Fatalf("suite tiny: %+v", tiny)
	}
	if got, want := string(tiny.Report), `{"release":"6.1.0-56-cloud-amd64"}`; got != want {
		t.Errorf("report = %q, want %q", got, want)
	}
	if out := string(tiny.Output); !strings.Contains(out, "suite running on 6.1.0-56-cloud-amd64") {
		t.Errorf("output = %q", out)
	}
	if tiny.Status.ExitCode != 0 || tiny.Status.TimedOut || tiny.Status.Signal != "" {
		t.Errorf("status = %+v", tiny.Status)
	}
	ar := r.Agent
	if ar == nil {
		t.Fatal("no agent report")
	}
	for _, m := range ar.Modules {
		if m.Error != "" {
			t.Errorf("module %s: %s", m.Name, m.Error)
		}
	}
	if !strings.Contains(string(r.Kmsg), "Linux version 6.1") {
		t.Error("kmsg frame lacks the kernel banner")
	}
	// The console carried the suite's start and end as progress events.
	if len(events) != 2 || events[0] != (plan.Event{Suite: "tiny", N: 1, Of: 1}) ||
		events[1].Status == nil || events[1].Status.ExitCode != 0 {
		t.Errorf("progress events = %+v, want tiny 1/1 starting then ending with exit 0", events)
	}
	if tm := r.Timings; tm.Ready <= 0 || tm.Done < tm.Ready || tm.Boot < tm.Done || tm.Uptime <= 0 || tm.CPU <= 0 || tm.Initramfs <= 0 {
		t.Errorf("timings %+v: want 0 < ready <= done <= boot, an uptime, CPU time and an initramfs time", tm)
	}
	// A fetched kernel boots through PVH from the image kept beside its bzImage in the
	// kernel cache, not from a copy in its run directory.
	if r.Boot != BootPVH {
		t.Errorf("boot = %q, want %q", r.Boot, BootPVH)
	}
	if _, err := os.Stat(r.Kernel.BzImage + kernel.CachedPVHSuffix); err != nil {
		t.Errorf("cached PVH image: %v", err)
	}
	if _, err := os.Stat(filepath.Join(tmp, "out", e.Name, pvhImage)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("PVH image in the run directory: %v, want none", err)
	}
	t.Logf("boot to end frame: %v; channel %s; modules %v", r.Timings.Boot, ar.Channel, r.Modules.Order)
}

func build(t *testing.T, out, pkg string) {
	t.Helper()
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
}

// TestBootDebianICount boots with an instruction counter: an entry with icount and accel
// auto runs under TCG without probing KVM, QEMU gets -icount, and the suites still run
// (under sleep=off the guest's idle time does not follow the host's).
func TestBootDebianICount(t *testing.T) {
	tmp, agent, suite := guest(t)
	e, err := kernel.ParseSpec("debian:linux-image-6.1.0-56-cloud-amd64")
	if err != nil {
		t.Fatal(err)
	}
	e.Timeout, e.ICount = 2*time.Minute, "shift=2,sleep=off"
	out := filepath.Join(tmp, "out")
	res, err := Run(context.Background(), Options{
		Kernels: []kernel.Entry{e},
		Suites:  []Suite{{Name: "tiny", Binary: suite, Args: []string{"-report=/tmp/tiny.json"}, Report: "/tmp/tiny.json", Timeout: time.Minute}},
		Agent:   agent,
		OutDir:  out,
	})
	if err != nil {
		t.Fatal(err)
	}
	r := res[0]
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	if r.Outcome.Class != qemu.OK {
		t.Fatalf("boot: %s: %s\n%s", r.Outcome.Class, r.Outcome.Detail, r.Outcome.ConsoleTail)
	}
	if r.Accel != "tcg" || r.ICount != e.ICount {
		t.Errorf("accel %q icount %q, want tcg %q", r.Accel, r.ICount, e.ICount)
	}
	if !strings.Contains(strings.Join(r.Outcome.Command, " "), " -icount "+e.ICount+" ") {
		t.Errorf("command lacks -icount %s: %q", e.ICount, r.Outcome.Command)
	}
	if _, err := os.Stat(filepath.Join(out, "kvm-probe")); err == nil {
		t.Error("probed KVM although icount implies TCG")
	}
	if got, want := string(r.Suites["tiny"].Report), `{"release":"6.1.0-56-cloud-amd64"}`; got != want {
		t.Errorf("report = %q, want %q", got, want)
	}
	t.Logf("boot to end frame under icount: %v", r.Timings.Boot)
}

// A retry keeps the first attempt's console log: console.log is the last attempt's, the
// result names it, and console-attempt1.log (named by Result.Earlier) is the first's.
func TestRetryKeepsEachConsoleLog(t *testing.T) {
	tmp := t.TempDir()
	fake := filepath.Join(tmp, "qemu")
	// Writes "attempt N" to the console chardev and exits without an end frame.
	script := `#!/bin/sh
n=$(cat "` + tmp + `/count" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "` + tmp + `/count"
for a in "$@"; do
	case "$a" in file,id=console,path=*) echo "attempt $n" > "${a#file,id=console,path=}";; esac
done
echo "qemu stderr $n" >&2
exit 1
`
	if err := os.WriteFile(fake, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(tmp, "out")
	dir := filepath.Join(out, "k")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// A stale attempt log from an earlier run must go.
	if err := os.WriteFile(filepath.Join(dir, "console-attempt2.log"), []byte("stale"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Not a boot image, so not booted through PVH: the image goes to QEMU as it is.
	bzImage := filepath.Join(tmp, "bzImage")
	if err := os.WriteFile(bzImage, []byte("not a kernel"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := newRunner(Options{OutDir: out, Retry: true, QEMU: fake}, map[string]string{"amd64": filepath.Join(tmp, "initrd")}, []Result{{
		Entry:  kernel.Entry{Name: "k", Accel: "tcg", CPUs: 1, Memory: "256M", Timeout: 10 * time.Second},
		Kernel: &kernel.Kernel{BzImage: bzImage},
	}})
	r.boot(context.Background(), 0)
	res := r.results[0]
	if res.Attempts != 2 || res.Outcome.Class != qemu.NoReport || res.Boot != BootBzImage {
		t.Fatalf("attempts %d, class %s (%s), boot %q (err %v); want 2, %s, %s", res.Attempts, res.Outcome.Class, res.Outcome.Detail, res.Boot, res.Err, qemu.NoReport, BootBzImage)
	}
	want := map[string]string{
		"console.log":          "attempt 2\n",
		"console-attempt1.log": "attempt 1\n",
		"qemu.log":             "qemu stderr 2\n",
		"qemu-attempt1.log":    "qemu stderr 1\n",
	}
	for name, content := range want {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || string(b) != content {
			t.Errorf("%s = %q (%v), want %q", name, b, err, content)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "console-attempt2.log")); err == nil {
		t.Error("stale console-attempt2.log kept")
	}
	if got := res.Outcome.ConsoleLog; got != filepath.Join(dir, "console.log") {
		t.Errorf("Outcome.ConsoleLog = %q, want the last attempt's console.log", got)
	}
	if len(res.Earlier) != 1 || res.Earlier[0].ConsoleLog != filepath.Join(dir, "console-attempt1.log") || res.Earlier[0].Class != qemu.NoReport {
		t.Errorf("Earlier = %+v, want attempt 1's outcome naming console-attempt1.log", res.Earlier)
	}
	if !strings.Contains(res.Earlier[0].ConsoleTail, "attempt 1") {
		t.Errorf("Earlier[0].ConsoleTail = %q, want attempt 1's console", res.Earlier[0].ConsoleTail)
	}
}

// TestCutShort: a fetch or boot that did not end well while the run's context was canceled
// was interrupted (QEMU's class for it is "timeout"); without a cancellation, or for a boot
// that ended OK, it was not.
func TestCutShort(t *testing.T) {
	for _, tc := range []struct {
		name     string
		ctxErr   error
		fetchErr error
		class    qemu.Class
		want     bool
	}{
		{"canceled boot", context.Canceled, nil, qemu.Timeout, true},
		{"canceled fetch", context.Canceled, context.Canceled, "", true},
		{"boot ended OK before the signal", context.Canceled, nil, qemu.OK, false},
		{"real timeout", nil, nil, qemu.Timeout, false},
		{"fetch failed", nil, os.ErrNotExist, "", false},
	} {
		if got := cutShort(tc.ctxErr, tc.fetchErr, tc.class); got != tc.want {
			t.Errorf("%s: cutShort = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestRunCanceledMarksInterrupted: kernels a canceled run never got to are interrupted,
// not fetch failures, and their directories are not created.
func TestRunCanceledMarksInterrupted(t *testing.T) {
	tmp := t.TempDir()
	agent := filepath.Join(tmp, "agent")
	build(t, agent, "./agent") // the guest never boots, but the base initramfs is written
	var entries []kernel.Entry
	for _, spec := range []string{"debian:linux-image-a", "debian:linux-image-b"} {
		e, err := kernel.ParseSpec(spec)
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, e)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	out := filepath.Join(tmp, "out")
	res, err := Run(ctx, Options{Kernels: entries, Agent: agent, OutDir: out, CacheDir: filepath.Join(tmp, "cache"), Parallel: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 {
		t.Fatalf("%d results, want 2", len(res))
	}
	for _, r := range res {
		if !r.Interrupted || r.Err == nil || !strings.Contains(r.Err.Error(), "context canceled") {
			t.Errorf("%s: interrupted %v, err %v; want interrupted with the cancellation", r.Entry.Name, r.Interrupted, r.Err)
		}
		if _, err := os.Stat(filepath.Join(out, r.Entry.Name)); !os.IsNotExist(err) {
			t.Errorf("%s: directory created (%v)", r.Entry.Name, err)
		}
	}
}

// Kernels an earlier run timed boot longest first, after those it did not time.
func TestBootOrder(t *testing.T) {
	ks := []kernel.Entry{{Name: "a"}, {Name: "b"}, {Name: "new1"}, {Name: "c"}, {Name: "new2"}}
	expected := map[string]time.Duration{"a": 10 * time.Second, "b": 30 * time.Second, "c": 20 * time.Second}
	if got, want := bootOrder(ks, expected), []int{2, 4, 1, 3, 0}; !slices.Equal(got, want) {
		t.Errorf("order %v, want %v", got, want)
	}
	if got, want := bootOrder(ks, nil), []int{0, 1, 2, 3, 4}; !slices.Equal(got, want) {
		t.Errorf("without figures or claims: order %v, want the list's %v", got, want)
	}
	abi := func(n int) *int { return &n }
	claims := []kernel.Entry{
		{Name: "old", Expect: &kernel.Expect{ABI: abi(0)}},
		{Name: "mid", Expect: &kernel.Expect{ABI: abi(6)}},
		{Name: "new", Expect: &kernel.Expect{ABI: abi(11)}},
		{Name: "newest"},
		{Name: "timed", Expect: &kernel.Expect{ABI: abi(11)}},
		{Name: "mid2", Expect: &kernel.Expect{ABI: abi(6)}},
	}
	// Without a figure: no claim first, then the highest claims, list order among equals;
	// then the kernels with a figure.
	if got, want := bootOrder(claims, map[string]time.Duration{"timed": time.Minute}), []int{3, 2, 1, 5, 0, 4}; !slices.Equal(got, want) {
		t.Errorf("by claimed ABI: order %v, want %v", got, want)
	}
}
