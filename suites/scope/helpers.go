package scope

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/sys/unix"

	"github.com/llconform/llconform/internal/landlock"
	"github.com/llconform/llconform/internal/sandbox"
	"github.com/llconform/llconform/internal/spec"
	"github.com/llconform/llconform/suites/scope/actions"
)

const (
	scopeUnix   = landlock.ScopeAbstractUnixSocket
	scopeSignal = landlock.ScopeSignal
)

// startTarget starts a "wait" helper under p from the calling thread, so that the helper
// inherits that thread's domain, and returns once p is in force in it. Callers must stop
// it with stopTarget.
func startTarget(p sandbox.Policy) (*sandbox.Proc, error) { return startReady(p, actions.WaitAction) }

// startReady starts a helper that says "ready" once in place, and waits for that.
func startReady(p sandbox.Policy, action string, args ...string) (*sandbox.Proc, error) {
	pr, err := sandbox.Start(p, action, args...)
	if err != nil {
		return nil, err
	}
	line, err := bufio.NewReader(pr.Stdout).ReadString('\n')
	if err != nil || line != actions.ReadyLine {
		pr.Stdin.Close()
		res := pr.Wait()
		return nil, fmt.Errorf("%s not ready (read %q, %v): setup %v, error %v", action, line, err, res.Setup, res.Err)
	}
	return pr, nil
}

// stopTarget ends a target and checks it ran without trouble.
func stopTarget(pr *sandbox.Proc) {
	GinkgoHelper()
	pr.Stdin.Close()
	res := pr.Wait()
	Expect(res.Setup).NotTo(HaveOccurred(), "target helper")
}

// killTarget ends a target that may be stopped or traced.
func killTarget(pr *sandbox.Proc) { pr.Kill() }

// onThread runs fn on a throw-away thread (sandbox.OnThread) and fails the spec if it
// returns an error: fn enforces policies on that thread and records what it observed.
func onThread(fn func() error) {
	GinkgoHelper()
	Expect(sandbox.OnThread(fn)).To(Succeed(), "sandbox thread")
}

// worker is a throw-away thread that runs the steps it is given, in order, so that a spec
// can interleave the steps of threads in different domains. Stop ends it.
type worker struct {
	steps chan func()
	done  chan error
}

func startWorker() *worker {
	w := &worker{steps: make(chan func()), done: make(chan error, 1)}
	go func() {
		w.done <- sandbox.OnThread(func() error {
			for step := range w.steps {
				step()
			}
			return nil
		})
	}()
	return w
}

// run runs step on the worker's thread and returns its error.
func (w *worker) run(step func() error) error {
	errc := make(chan error, 1)
	w.steps <- func() {
		defer func() {
			if r := recover(); r != nil {
				errc <- fmt.Errorf("panic on worker thread: %v", r)
			}
		}()
		errc <- step()
	}
	return <-errc
}

func (w *worker) stop() {
	close(w.steps)
	<-w.done
}

// scopeSupported starts a behaviour spec of a scope (spec.SupportedOrRejected): true where
// the kernel has scopes (ABI 6); below, it checks that the kernel rejects the scoped field
// cleanly (expectScopeRejected), records the feature as correctly absent and returns false.
func scopeSupported(feature string, bits uint64) bool {
	GinkgoHelper()
	return spec.SupportedOrRejected(feature, 6, func() { expectScopeRejected(bits) })
}

// expectScopeRejected checks that create_ruleset refuses scoped=bits in a 24-byte attr.
// Below ABI 6 the kernel's struct landlock_ruleset_attr has no scoped field (8 or 16
// bytes), so a non-zero scoped is E2BIG (copy_struct_from_user).
func expectScopeRejected(bits uint64) {
	GinkgoHelper()
	attr := landlock.RulesetAttr{Scoped: bits}
	fd, err := landlock.CreateRuleset(&attr, landlock.RulesetAttrSizeV6, 0)
	if err == nil {
		unix.Close(fd)
	}
	want := landlock.CreateRulesetErrno(attr.Bytes(), landlock.RulesetAttrSizeV6, spec.Kernel().ABI)
	spec.ExpectErr(err, want, "ABI %d: create_ruleset(scoped=%s, 24-byte attr)", spec.Kernel().ABI, spec.Bits(landlock.KindScope, bits))
}

// enforce restricts the calling thread with p (sandbox threads only).
func enforce(p sandbox.Policy) error {
	if err := p.Enforce(); err != nil {
		return fmt.Errorf("enforce: %w", err)
	}
	return nil
}

// stopAndWait stops the target with SIGSTOP and waits until it is stopped, so that
// signals sent to it afterwards stay pending where /proc shows them.
func stopAndWait(pid int) {
	GinkgoHelper()
	Expect(unix.Kill(pid, unix.SIGSTOP)).To(Succeed(), "SIGSTOP target %d", pid)
	var info unix.Siginfo
	Expect(unix.Waitid(unix.P_PID, pid, &info, unix.WSTOPPED|unix.WNOWAIT, nil)).To(Succeed(), "waitid(WSTOPPED) target %d", pid)
}

// startStoppedTarget is the BeforeAll of an Ordered container whose specs signal one
// stopped target outside any domain (a stopped process keeps the signals it gets pending,
// where a spec can see them): it starts the target and stores its pid. Below ABI 6 it starts
// none, as each spec checks the rejection instead.
func startStoppedTarget(pid *int) func() {
	return func() {
		spec.RequireLandlock()
		if !spec.Supports(6) {
			return
		}
		target, err := startTarget(sandbox.Policy{})
		Expect(err).NotTo(HaveOccurred(), "start target")
		DeferCleanup(killTarget, target)
		*pid = target.Pid()
		stopAndWait(*pid)
	}
}

// sharedPending reports whether sig is pending for the whole process pid (ShdPnd).
func sharedPending(pid int, sig unix.Signal) bool {
	GinkgoHelper()
	mask, err := pendingMask(fmt.Sprintf("/proc/%d/status", pid), "ShdPnd")
	Expect(err).NotTo(HaveOccurred())
	return mask&sigBit(sig) != 0
}

// threadPending reports whether sig is pending for the calling thread only (SigPnd).
func threadPending(sig unix.Signal) (bool, error) {
	mask, err := pendingMask(fmt.Sprintf("/proc/self/task/%d/status", unix.Gettid()), "SigPnd")
	return mask&sigBit(sig) != 0, err
}

func sigBit(sig unix.Signal) uint64 { return 1 << (uint(sig) - 1) }

// pendingMask reads a signal mask line (ShdPnd, SigPnd) of a /proc status file.
func pendingMask(path, field string) (uint64, error) {
	status, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", path, err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			mask, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			if err != nil {
				return 0, fmt.Errorf("parse %s %q of %s: %w", field, v, path, err)
			}
			return mask, nil
		}
	}
	return 0, fmt.Errorf("no %s line in %s", field, path)
}
