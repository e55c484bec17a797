package scope

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/sys/unix"

	"github.com/llconform/llconform/internal/sandbox"
	"github.com/llconform/llconform/internal/spec"
	"github.com/llconform/llconform/suites/scope/actions"
)

// yamaScope returns Yama's ptrace_scope, or -1 without Yama.
func yamaScope() int {
	GinkgoHelper()
	raw, err := os.ReadFile("/proc/sys/kernel/yama/ptrace_scope")
	if errors.Is(err, os.ErrNotExist) {
		return -1
	}
	Expect(err).NotTo(HaveOccurred(), "read Yama ptrace_scope")
	scope, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	Expect(err).NotTo(HaveOccurred(), "parse Yama ptrace_scope %q", raw)
	return scope
}

// requirePtrace skips the spec where Yama, not Landlock, would decide: ptrace_scope 3
// forbids every attach, and scopes 1 and 2 need CAP_SYS_PTRACE for what the specs do
// (scope 1 also allows descendants, which every target here is, but only root is sure to
// pass scope 2).
func requirePtrace() {
	GinkgoHelper()
	switch scope := yamaScope(); {
	case scope >= 3:
		spec.Skip("Yama ptrace_scope=%d forbids every PTRACE_ATTACH, so Landlock's decision cannot be observed", scope)
	case scope == 2 && os.Geteuid() != 0:
		spec.Skip("Yama ptrace_scope=2 allows PTRACE_ATTACH only with CAP_SYS_PTRACE (running as uid %d)", os.Geteuid())
	}
}

// requireAttachToParent skips the spec where Yama would stop a child attaching to its
// parent: ptrace_scope 1 allows only descendants without CAP_SYS_PTRACE.
func requireAttachToParent() {
	GinkgoHelper()
	if scope := yamaScope(); scope == 1 && os.Geteuid() != 0 {
		spec.Skip("Yama ptrace_scope=1 lets a child attach to its parent only with CAP_SYS_PTRACE (running as uid %d)", os.Geteuid())
	}
}

type traced struct {
	what string
	err  error
}

// traceChecks attaches to pid (and detaches again if allowed) and opens its
// /proc/<pid>/mem: both go through the kernel's ptrace access check.
func traceChecks(pid int) []traced {
	attach := unix.PtraceAttach(pid)
	if attach == nil {
		var ws unix.WaitStatus
		if _, err := unix.Wait4(pid, &ws, unix.WALL, nil); err != nil {
			attach = fmt.Errorf("wait for the attach stop: %w", err)
		} else if err := unix.PtraceDetach(pid); err != nil {
			attach = fmt.Errorf("detach: %w", err)
		}
	}
	fd, mem := unix.Open(fmt.Sprintf("/proc/%d/mem", pid), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if mem == nil {
		unix.Close(fd)
	}
	return []traced{
		{what: fmt.Sprintf("ptrace(PTRACE_ATTACH, %d)", pid), err: attach},
		{what: fmt.Sprintf("open(/proc/%d/mem)", pid), err: mem},
	}
}

func expectTrace(results []traced, allowed bool, relation string) {
	GinkgoHelper()
	Expect(results).To(HaveLen(2))
	attachWant, memWant := error(nil), error(nil)
	if !allowed {
		// mm_access() turns the ptrace denial into EACCES for /proc/<pid>/mem.
		attachWant, memWant = unix.EPERM, unix.EACCES
	}
	spec.ExpectErr(results[0].err, attachWant, "tracer %s: %s", relation, results[0].what)
	spec.ExpectErr(results[1].err, memWant, "tracer %s: %s", relation, results[1].what)
}

var _ = suite.Describe("ptrace between domains", spec.Feature("scope.ptrace", 1), func() {
	const feature = "scope.ptrace"
	// traceFrom runs the arrangement on a throw-away thread: enforce before, start a
	// target under targetPolicy (inheriting before), enforce after, then trace it.
	traceFrom := func(before, targetPolicy, after sandbox.Policy) []traced {
		GinkgoHelper()
		var results []traced
		var target *sandbox.Proc
		err := sandbox.OnThread(func() error {
			if len(before.Layers) > 0 {
				if err := enforce(before); err != nil {
					return err
				}
			}
			var err error
			if target, err = startTarget(targetPolicy); err != nil {
				return err
			}
			if len(after.Layers) > 0 {
				if err := enforce(after); err != nil {
					return err
				}
			}
			results = traceChecks(target.Pid())
			return nil
		})
		if target != nil {
			// A target that was traced may have been left stopped: kill it.
			killTarget(target)
		}
		Expect(err).NotTo(HaveOccurred(), "sandbox thread")
		return results
	}

	BeforeEach(func() {
		spec.RequireLandlock()
		requirePtrace()
	})

	It("MUST deny a domain tracing a process outside any domain", spec.ID("ptrace.to_outside_domain"), spec.Selftest("ptrace_test", "scoped_domains.trace"), func() {
		target, err := startTarget(sandbox.Policy{})
		Expect(err).NotTo(HaveOccurred(), "start target")
		DeferCleanup(killTarget, target)
		var results []traced
		onThread(func() error {
			if err := enforce(actions.OtherDomain); err != nil {
				return err
			}
			results = traceChecks(target.Pid())
			return nil
		})
		expectTrace(results, false, "in a domain, target in none")
		spec.EnforcedVerdict(feature, 1)
	})

	It("MUST deny a nested domain tracing a process of its parent domain", spec.ID("ptrace.to_parent"), spec.Selftest("ptrace_test", "scoped_domains.trace"), func() {
		expectTrace(traceFrom(actions.OtherDomain, sandbox.Policy{}, actions.OtherDomain), false, "in a child domain, target in the parent domain")
		spec.EnforcedVerdict(feature, 1)
	})

	It("MUST allow a domain to trace a process in the same domain and in a nested child domain", spec.ID("ptrace.to_same_and_child"), spec.Selftest("ptrace_test", "scoped_domains.trace"), func() {
		expectTrace(traceFrom(actions.OtherDomain, sandbox.Policy{}, sandbox.Policy{}), true, "in the target's own domain")
		expectTrace(traceFrom(actions.OtherDomain, actions.OtherDomain, sandbox.Policy{}), true, "in the parent domain of the target's")
		spec.FeatureVerdict(feature, 1)
	})

	It("MUST allow a process outside any domain to trace a sandboxed process", spec.ID("ptrace.from_outside_domain"), spec.Selftest("ptrace_test", "scoped_domains.trace"), func() {
		expectTrace(traceFrom(sandbox.Policy{}, actions.OtherDomain, sandbox.Policy{}), true, "in no domain, target sandboxed")
		spec.FeatureVerdict(feature, 1)
	})
})
