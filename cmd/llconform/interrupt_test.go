package main

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/llconform/llconform/internal/audit"
	"github.com/llconform/llconform/internal/filelock"
	"github.com/llconform/llconform/internal/tracefs"
	"github.com/llconform/llconform/vm/plan"
)

// interruptTarget is the host state the interrupt tests start from: auditing off and the
// kernel's default backlog limit, both of which the audit suite changes while it runs.
var interruptTarget = audit.Snapshot{Enabled: 0, BacklogLimit: 64}

// hostRun is a bin/llconform run started by startHostRun.
type hostRun struct {
	cmd         *exec.Cmd
	out, tmp    string // its --out and its TMPDIR
	exited      chan error
	stdout, log *strings.Builder
}

// startHostRun starts bin/llconform run with args and a TMPDIR of its own, the host audit
// state set to interruptTarget first (the original is put back at the end of the test), and
// returns once ready says the run got where the test wants it.
func startHostRun(t *testing.T, args []string, ready func(r *hostRun) bool) *hostRun {
	t.Helper()
	if testing.Short() {
		t.Skip("runs suites on the host: skipped with -short")
	}
	if os.Getuid() != 0 {
		t.Skip("needs root: changes the host's audit configuration (make test runs as root in CI)")
	}
	if _, err := audit.TakeSnapshot(); err != nil {
		t.Skipf("audit netlink unusable on this host: %v", err)
	}
	// Other packages' tests change the same configuration: hold the host lock except while
	// the run, which takes it too, is alive. What they change in between they put back.
	lock := lockHostAudit(t)
	orig, err := audit.TakeSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		lock := lockHostAudit(t)
		defer lock.Release()
		if _, err := orig.Restore(); err != nil {
			t.Errorf("put back the original audit state: %v", err)
		}
	})
	target := interruptTarget
	target.Pid = orig.Pid
	if _, err := target.Restore(); err != nil {
		t.Fatalf("set audit enabled=0 backlog_limit=64: %v", err)
	}
	lock.Release()
	return startLLConform(t, append([]string{"run"}, args...), "", ready)
}

// startLLConform starts bin/llconform with args, --out (a new directory unless out is
// given) and a TMPDIR of its own, and returns once ready says it got where the test wants.
func startLLConform(t *testing.T, args []string, out string, ready func(r *hostRun) bool) *hostRun {
	t.Helper()
	bin, _ := filepath.Abs("../../bin/llconform")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("%v (make unit builds it first)", err)
	}
	if out == "" {
		out = filepath.Join(t.TempDir(), "out")
	}
	r := &hostRun{out: out, tmp: t.TempDir(), exited: make(chan error, 1), stdout: &strings.Builder{}, log: &strings.Builder{}}
	r.cmd = exec.Command(bin, append(args, "--out", r.out)...)
	r.cmd.Env = append(os.Environ(), "TMPDIR="+r.tmp)
	r.cmd.Stdout = r.stdout
	stderr, err := r.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	logged := make(chan struct{})
	go func() {
		defer close(logged)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			r.log.WriteString(sc.Text() + "\n")
		}
	}()
	go func() { <-logged; r.exited <- r.cmd.Wait() }()
	t.Cleanup(func() {
		_ = r.cmd.Process.Kill()
		if t.Failed() {
			t.Logf("llconform stderr:\n%s\nstdout:\n%s", r.log, r.stdout)
		}
	})
	for deadline := time.Now().Add(2 * time.Minute); !ready(r); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the run never got ready to be interrupted")
		}
	}
	return r
}

// auditSuiteRunning starts the audit suite and waits until it has enabled auditing.
func auditSuiteRunning(t *testing.T) *hostRun {
	suites, _ := filepath.Abs("../../bin/suites")
	if _, err := os.Stat(filepath.Join(suites, plan.SuitesName)); err != nil {
		t.Fatalf("%v (make unit builds it first)", err)
	}
	return startHostRun(t, []string{"--suites", suites, "--label-filter", "audit"}, func(r *hostRun) bool {
		s, err := audit.TakeSnapshot()
		return err == nil && s.Enabled == 1 && s.BacklogLimit == audit.MinBacklog && len(suitePids(r.out, "-"+plan.SuiteFlag+"=audit")) > 0
	})
}

// waitExit waits for the run to exit within limit and returns its status.
func waitExit(t *testing.T, r *hostRun, limit time.Duration) int {
	t.Helper()
	select {
	case <-r.exited:
		return r.cmd.ProcessState.ExitCode()
	case <-time.After(limit):
		t.Fatalf("llconform did not exit within %s of the signal", limit)
		return -1
	}
}

func lockHostAudit(t *testing.T) *filelock.Lock {
	t.Helper()
	l, err := audit.LockHost(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// suitePids returns the processes of suite binary name of the run writing into out.
func suitePids(out, name string) []int {
	var pids []int
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		if b, err := os.ReadFile(p); err == nil && strings.Contains(string(b), out) && strings.Contains(string(b), name) {
			if pid, err := strconv.Atoi(filepath.Base(filepath.Dir(p))); err == nil {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}

// checkHostRestored checks that the audit state, the crash record, the temporary
// directory and the suite processes are as they were before the run.
func checkHostRestored(t *testing.T, r *hostRun) {
	t.Helper()
	lock := lockHostAudit(t)
	defer lock.Release()
	s, err := audit.TakeSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	if s.Enabled != interruptTarget.Enabled || s.BacklogLimit != interruptTarget.BacklogLimit {
		t.Errorf("audit after the run: enabled=%d backlog_limit=%d; want enabled=%d backlog_limit=%d",
			s.Enabled, s.BacklogLimit, interruptTarget.Enabled, interruptTarget.BacklogLimit)
	}
	if _, err := os.Stat(audit.DefaultStateFile); !os.IsNotExist(err) {
		t.Errorf("crash record %s left behind (%v)", audit.DefaultStateFile, err)
	}
	if left, _ := os.ReadDir(r.tmp); len(left) > 0 {
		var names []string
		for _, e := range left {
			names = append(names, e.Name())
		}
		t.Errorf("temporary files left in TMPDIR: %v", names)
	}
	// The suite's command line names its report in the run's directory.
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		if b, err := os.ReadFile(p); err == nil && strings.Contains(string(b), r.out) {
			t.Errorf("a suite process outlived the run: %s: %q", p, strings.ReplaceAll(string(b), "\x00", " "))
		}
	}
}

// SIGINT during the audit suite ends the run within seconds with the host audit state, the
// crash record and the temporary files as they were, and a result marked interrupted.
func TestInterruptRestoresHost(t *testing.T) {
	r := auditSuiteRunning(t)
	if err := r.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if code := waitExit(t, r, 20*time.Second); code != 2 {
		t.Errorf("exit status %d after SIGINT, want 2 (interrupted)", code)
	}
	checkHostRestored(t, r)
	if !strings.Contains(r.stdout.String(), "INTERRUPTED: the run was cut short") {
		t.Errorf("stdout does not say the run was interrupted")
	}
	if _, err := os.Stat(filepath.Join(r.out, interruptedResultJSON)); err != nil {
		t.Errorf("no partial result: %v", err)
	}
	if _, err := os.Stat(filepath.Join(r.out, resultJSON)); !os.IsNotExist(err) {
		t.Errorf("an interrupted run wrote %s (%v)", resultJSON, err)
	}
}

// A second SIGINT does not wait for a suite that ignores SIGTERM: the run kills it and
// exits at once, and still puts back the audit configuration (which the test changes, as
// the suite would have) and removes the suite's temporary files.
func TestSecondInterruptForcesExit(t *testing.T) {
	suites := t.TempDir()
	started := filepath.Join(suites, "started")
	// The stuck suite also leaves a trace instance named as the trace suite names its own,
	// in tracefs mounted in a mount namespace of its own (tracefs instances are global).
	instance := "llconform-$$"
	stuck := "#!/bin/sh\n[ \"$1\" = -" + plan.ListFlag + " ] && { echo stuck; exit 0; }\n" +
		"trap '' TERM\ntouch \"$TMPDIR/left-behind\"\n" +
		"unshare -m sh -c 'mount -t tracefs none /sys/kernel/tracing && mkdir /sys/kernel/tracing/instances/" + instance + "'\n" +
		"touch " + started + "\nwhile :; do sleep 1; done\n"
	if err := os.WriteFile(filepath.Join(suites, plan.SuitesName), []byte(stuck), 0o755); err != nil {
		t.Fatal(err)
	}
	before := traceInstances(t)
	r := startHostRun(t, []string{"--suites", suites}, func(*hostRun) bool {
		_, err := os.Stat(started)
		return err == nil
	})
	if after := traceInstances(t); len(after) <= len(before) {
		t.Fatalf("the stuck suite made no trace instance (before %v, after %v)", before, after)
	}
	if _, err := (audit.Snapshot{Enabled: 1, BacklogLimit: audit.MinBacklog, Pid: interruptTarget.Pid}).Restore(); err != nil {
		t.Fatal(err)
	}
	if err := r.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // the suite ignores the SIGTERM: the run waits for the grace period
	if err := r.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if code := waitExit(t, r, 5*time.Second); code != exitForced {
		t.Errorf("exit status %d after two SIGINTs, want %d", code, exitForced)
	}
	checkHostRestored(t, r)
	fs, err := tracefs.Open()
	if err != nil {
		t.Fatalf("tracefs: %v", err)
	}
	defer fs.Close()
	names, err := fs.List("instances")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if strings.HasPrefix(n, tracefs.InstancePrefix) && !slices.Contains(before, n) {
			t.Errorf("trace instance %s of the killed suite left behind", n)
		}
	}
}

// A suite killed outright (SIGKILL: a hang past the kill grace, a crash, the OOM killer)
// cannot put back what it changed: llconform does, and the run goes on to its result.
func TestKilledSuiteRestoredByRun(t *testing.T) {
	r := auditSuiteRunning(t)
	killed := 0
	for _, pid := range suitePids(r.out, "-"+plan.SuiteFlag+"=audit") {
		if syscall.Kill(pid, syscall.SIGKILL) == nil {
			killed++
		}
	}
	if killed == 0 {
		t.Fatal("found no audit suite process to kill")
	}
	if code := waitExit(t, r, 20*time.Second); code != 2 {
		t.Errorf("exit status %d after the suite was killed, want 2 (infrastructure)", code)
	}
	checkHostRestored(t, r)
	if !strings.Contains(r.stdout.String(), "INFRA") {
		t.Errorf("stdout does not report the killed suite as an infrastructure error")
	}
}

// An interrupted matrix ends within seconds, leaves no QEMU behind, and keeps a complete
// earlier result in the same directory intact: result.json and the kernel's console log
// stay the earlier run's, and the partial result is written beside them.
func TestInterruptedMatrixKeepsResult(t *testing.T) {
	if testing.Short() {
		t.Skip("boots a VM: skipped with -short")
	}
	if os.Getuid() != 0 {
		t.Skip("needs root: the kernel cache is fetched with apt-get as root")
	}
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		t.Skip("qemu-system-x86_64 not found: run make deps")
	}
	kernels, _ := filepath.Abs("../../kernels.yaml")
	args := []string{"matrix", "--kernels", kernels, "--only", "debian-6.1", "--label-filter", "abi && abi:1", "--accept-unverified"}
	out := filepath.Join(t.TempDir(), "out")

	first := startLLConform(t, args, out, func(*hostRun) bool { return true })
	if code := waitExit(t, first, 10*time.Minute); code != 0 {
		t.Fatalf("first matrix: exit %d, want 0", code)
	}
	result := readFile(t, filepath.Join(out, resultJSON))
	console := readFile(t, filepath.Join(out, "debian-6.1", "console.log"))

	second := startLLConform(t, args, out, func(r *hostRun) bool {
		// QEMU's command line names its console log in the run's directory.
		return len(suitePids(r.out, "qemu-system")) > 0
	})
	time.Sleep(3 * time.Second) // into the boot
	if err := second.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if code := waitExit(t, second, 30*time.Second); code != 2 {
		t.Errorf("interrupted matrix: exit %d, want 2", code)
	}
	if pids := suitePids(out, "qemu-system"); len(pids) > 0 {
		t.Errorf("QEMU outlived the interrupted matrix: pids %v", pids)
	}
	if got := readFile(t, filepath.Join(out, resultJSON)); got != result {
		t.Errorf("the interrupted matrix changed result.json")
	}
	if got := readFile(t, filepath.Join(out, "debian-6.1", "console.log")); got != console {
		t.Errorf("the interrupted matrix changed debian-6.1/console.log")
	}
	partial := readFile(t, filepath.Join(out, interruptedResultJSON))
	if !strings.Contains(partial, `"interrupted"`) {
		t.Errorf("result.interrupted.json does not mark the kernel interrupted:\n%s", partial)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// traceInstances lists the llconform trace instances that exist now.
func traceInstances(t *testing.T) []string {
	t.Helper()
	fs, err := tracefs.Open()
	if err != nil {
		t.Skipf("tracefs unusable here: %v", err)
	}
	defer fs.Close()
	names, err := fs.List("instances")
	if err != nil {
		t.Fatal(err)
	}
	return slices.DeleteFunc(names, func(n string) bool { return !strings.HasPrefix(n, tracefs.InstancePrefix) })
}
