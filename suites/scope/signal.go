package scope

import (
	"fmt"
	"math/bits"
	"strings"
	"unsafe"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/sys/unix"

	"github.com/llconform/llconform/internal/sandbox"
	"github.com/llconform/llconform/internal/spec"
	"github.com/llconform/llconform/suites/scope/actions"
)

// signalMethod is one way to send a signal to a process.
type signalMethod struct {
	name string
	send func(pid int, sig unix.Signal) error
}

var signalMethods = []signalMethod{
	{name: "kill", send: unix.Kill},
	{name: "tgkill", send: func(pid int, sig unix.Signal) error { return unix.Tgkill(pid, pid, sig) }},
	{name: "rt_sigqueueinfo", send: sigqueue},
	{name: "pidfd_send_signal", send: func(pid int, sig unix.Signal) error {
		fd, err := unix.PidfdOpen(pid, 0)
		if err != nil {
			return spec.SetupFailed(fmt.Sprintf("pidfd_open(%d)", pid), err)
		}
		defer unix.Close(fd)
		return unix.PidfdSendSignal(fd, sig, nil, 0)
	}},
}

// sigqueue is sigqueue(3): rt_sigqueueinfo with an SI_QUEUE siginfo.
func sigqueue(pid int, sig unix.Signal) error {
	var info [128]byte
	// si_signo, si_errno, si_code, then the union, aligned like a pointer.
	union := 3 * 4
	if unsafe.Sizeof(uintptr(0)) == 8 {
		union = 16
	}
	*(*int32)(unsafe.Pointer(&info[0])) = int32(sig)
	*(*int32)(unsafe.Pointer(&info[8])) = -1 // SI_QUEUE
	*(*int32)(unsafe.Pointer(&info[union])) = int32(unix.Getpid())
	*(*uint32)(unsafe.Pointer(&info[union+4])) = uint32(unix.Getuid())
	_, _, e := unix.Syscall(unix.SYS_RT_SIGQUEUEINFO, uintptr(pid), uintptr(sig), uintptr(unsafe.Pointer(&info[0])))
	if e != 0 {
		return e
	}
	return nil
}

// Signal 0 checks the permission only; SIGUSR1 is delivered, and the Go helpers ignore it.
var probeSignals = []unix.Signal{0, unix.SIGUSR1}

// signalID names a probe signal in spec ids by name, not number, which varies by
// architecture: "sig0" or e.g. "sigusr1".
func signalID(sig unix.Signal) string {
	if sig == 0 {
		return "sig0"
	}
	return strings.ToLower(unix.SignalName(sig))
}

// scopingSignals are the signals of the selftests' scoping_signals fixture. Delivered,
// most of them would end or stop a Go process: targets receiving them are kept stopped,
// and a thread raising one to itself blocks it first and takes it back.
var scopingSignals = []unix.Signal{unix.SIGTRAP, unix.SIGURG, unix.SIGHUP, unix.SIGTSTP}

// raiseBlocked raises sig on the calling throw-away thread with sig blocked, reports
// whether it was sent and became pending on the thread, and takes it back unhandled.
func raiseBlocked(sig unix.Signal) (sendErr error, pending bool, err error) {
	var set unix.Sigset_t
	// The mask's words are 64 bits wide on 64-bit architectures and 32 on 386.
	word := uint(bits.UintSize)
	set.Val[uint(sig-1)/word] |= 1 << ((uint(sig) - 1) % word)
	if err := unix.PthreadSigmask(unix.SIG_BLOCK, &set, nil); err != nil {
		return nil, false, fmt.Errorf("block signal %d: %w", sig, err)
	}
	sendErr = unix.Tgkill(unix.Getpid(), unix.Gettid(), sig)
	if pending, err = threadPending(sig); err != nil {
		return nil, false, err
	}
	if pending {
		var zero unix.Timespec
		_, _, e := unix.Syscall6(unix.SYS_RT_SIGTIMEDWAIT, uintptr(unsafe.Pointer(&set)), 0, uintptr(unsafe.Pointer(&zero)), 8, 0, 0)
		if e != 0 {
			return nil, false, fmt.Errorf("take back signal %d: %w", sig, e)
		}
	}
	return sendErr, pending, nil
}

type sent struct {
	what string
	err  error
}

// sendAll sends every probe signal to pid by every method and records the results.
func sendAll(pid int) []sent {
	var out []sent
	for _, m := range signalMethods {
		for _, sig := range probeSignals {
			out = append(out, sent{what: fmt.Sprintf("%s(pid %d, signal %d)", m.name, pid, sig), err: m.send(pid, sig)})
		}
	}
	return out
}

func expectAll(results []sent, want error, relation string) {
	GinkgoHelper()
	Expect(results).To(HaveLen(len(signalMethods) * len(probeSignals)))
	for _, r := range results {
		spec.ExpectErr(r.err, want, "SCOPE_SIGNAL, target %s: %s", relation, r.what)
	}
}

var _ = suite.Describe("SCOPE_SIGNAL", spec.Feature("scope.signal", 6), func() {
	const feature = "scope.signal"
	scoped := sandbox.Scoped(scopeSignal)

	Context("with a target outside any domain", Ordered, func() {
		var target *sandbox.Proc
		BeforeAll(func() {
			spec.RequireLandlock()
			if !spec.Supports(6) {
				return // each spec checks the rejection instead, without a target
			}
			var err error
			target, err = startTarget(sandbox.Policy{})
			Expect(err).NotTo(HaveOccurred(), "start target")
			DeferCleanup(stopTarget, target)
		})

		for _, m := range signalMethods {
			m := m
			for _, sig := range probeSignals {
				sig := sig
				decorations := []any{spec.ID("signal.outside_domain." + m.name + "." + signalID(sig))}
				if m.name == "kill" {
					// The selftests send with kill(2) only.
					decorations = append(decorations, spec.Selftest("scoped_signal_test", "scoping_signals.send_sig_to_parent"),
						spec.Selftest("scoped_signal_test", "scoped_domains.check_access_signal"))
				}
				It(fmt.Sprintf("MUST deny %s with signal %d from a scoped domain with EPERM", m.name, sig), append(decorations, func() {
					if !scopeSupported(feature, scopeSignal) {
						return
					}
					pid := target.Pid()
					spec.ExpectErrno(sandbox.Thread(scoped, func() error { return m.send(pid, sig) }), unix.EPERM,
						"SCOPE_SIGNAL: %s(pid %d, signal %d) to a process of no domain", m.name, pid, sig)
					spec.ExpectErrno(sandbox.Thread(actions.OtherDomain, func() error { return m.send(pid, sig) }), nil,
						"domain without SCOPE_SIGNAL: %s(pid %d, signal %d) to a process of no domain", m.name, pid, sig)
					spec.EnforcedVerdict(feature, 6)
				})...)
			}
		}

		It("MUST still allow a scoped thread to signal itself", spec.ID("signal.self_thread"), spec.Selftest("scoped_signal_test", "scoping_signals.send_sig_to_parent"), spec.Selftest("scoped_signal_test", "scoped_domains.check_access_signal"), func() {
			if !scopeSupported(feature, scopeSignal) {
				return
			}
			res := sandbox.Thread(scoped, func() error { return unix.Tgkill(unix.Getpid(), unix.Gettid(), 0) })
			spec.ExpectErrno(res, nil, "SCOPE_SIGNAL: tgkill(self, own thread, 0)")
			spec.FeatureVerdict(feature, 6)
		})
	})

	// Each spec sends its own signal, so one failing leaves the others meaningful.
	Context("with the selftest's signals and a stopped target outside any domain", Ordered, ContinueOnFailure, func() {
		var pid int
		BeforeAll(startStoppedTarget(&pid))

		for _, sig := range scopingSignals {
			sig := sig
			name := unix.SignalName(sig)
			It(fmt.Sprintf("MUST deny kill with %s from a scoped domain to a process outside it with EPERM, and let the scoped thread raise it", name),
				spec.ID("signal.scoping_signals."+signalID(sig)), spec.Selftest("scoped_signal_test", "scoping_signals.send_sig_to_parent"), func() {
					if !scopeSupported(feature, scopeSignal) {
						return
					}
					Expect(sharedPending(pid, sig)).To(BeFalse(), "%s pending before the spec", name)
					var denied, raised error
					var raisedPending bool
					onThread(func() error {
						if err := enforce(scoped); err != nil {
							return err
						}
						denied = unix.Kill(pid, sig)
						var err error
						raised, raisedPending, err = raiseBlocked(sig)
						return err
					})
					spec.ExpectErr(denied, unix.EPERM, "SCOPE_SIGNAL: kill(pid %d, %s) to a process of no domain", pid, name)
					Expect(sharedPending(pid, sig)).To(BeFalse(), "SCOPE_SIGNAL: %s reached a process of no domain although kill failed", name)
					spec.ExpectErr(raised, nil, "SCOPE_SIGNAL: tgkill(own thread, %s)", name)
					Expect(raisedPending).To(BeTrue(), "SCOPE_SIGNAL: %s raised by the scoped thread to itself is not pending on it", name)
					// Control outside any domain: the signal reaches the target.
					spec.ExpectErr(unix.Kill(pid, sig), nil, "no domain: kill(pid %d, %s)", pid, name)
					Expect(sharedPending(pid, sig)).To(BeTrue(), "no domain: kill(pid %d, %s) succeeded but the signal is not pending", pid, name)
					spec.EnforcedVerdict(feature, 6)
				})
		}
	})

	// relation runs one domain arrangement on a throw-away thread: before is enforced,
	// a target is started under targetPolicy (inheriting before), then after is
	// enforced on the sender thread, which signals the target by every method.
	relation := func(before, targetPolicy, after sandbox.Policy) []sent {
		GinkgoHelper()
		var results []sent
		var target *sandbox.Proc
		err := sandbox.OnThread(func() error {
			if err := enforce(before); err != nil {
				return err
			}
			var err error
			if target, err = startTarget(targetPolicy); err != nil {
				return err
			}
			if err := enforce(after); err != nil {
				return err
			}
			results = sendAll(target.Pid())
			return nil
		})
		if target != nil {
			DeferCleanup(stopTarget, target)
		}
		Expect(err).NotTo(HaveOccurred(), "sandbox thread")
		return results
	}

	// Each arrangement is one relation(before, target, after) whose every signal gets want.
	type relationCase struct {
		id, sentence          string // the spec id and It text
		before, target, after sandbox.Policy
		want                  error  // nil (allowed) or EPERM (denied)
		relation              string // the target as the failure message names it
		selftest              string // the scoped_signal_test.c test it checks, if any
	}
	for _, c := range []relationCase{
		{id: "signal.same_domain", sentence: "MUST allow signals to a process in the same domain",
			before: scoped, target: sandbox.Policy{}, after: sandbox.Policy{}, want: nil, relation: "in the same domain", selftest: "scoped_domains.check_access_signal"},
		{id: "signal.to_child", sentence: "MUST allow signals to a process in a nested child domain",
			before: scoped, target: scoped, after: sandbox.Policy{}, want: nil, relation: "in a nested child domain", selftest: "scoped_domains.check_access_signal"},
		{id: "signal.scoped.to_parent", sentence: "MUST deny signals from a nested scoped domain to a process in its parent domain with EPERM",
			before: actions.OtherDomain, target: sandbox.Policy{}, after: scoped, want: unix.EPERM, relation: "in the parent domain", selftest: "scoped_domains.check_access_signal"},
		{id: "signal.unscoped_nested.to_parent", sentence: "MUST allow signals to the domain that scoped them from a nested unscoped domain",
			before: scoped, target: sandbox.Policy{}, after: actions.OtherDomain, want: nil, relation: "in the scoped parent domain of an unscoped child"},
	} {
		c := c
		decorations := []any{spec.ID(c.id)}
		if c.selftest != "" {
			decorations = append(decorations, spec.Selftest("scoped_signal_test", c.selftest))
		}
		It(c.sentence, append(decorations, func() {
			if !scopeSupported(feature, scopeSignal) {
				return
			}
			expectAll(relation(c.before, c.target, c.after), c.want, c.relation)
			if c.want == nil {
				spec.FeatureVerdict(feature, 6)
			} else {
				spec.EnforcedVerdict(feature, 6)
			}
		})...)
	}

	It("MUST deny signals to a process of a sibling domain with EPERM", spec.ID("signal.sibling"), spec.Selftest("scoped_signal_test", "scoped_domains.check_access_signal"), func() {
		if !scopeSupported(feature, scopeSignal) {
			return
		}
		target, err := startTarget(actions.OtherDomain)
		Expect(err).NotTo(HaveOccurred(), "start target")
		DeferCleanup(stopTarget, target)
		var results []sent
		onThread(func() error {
			if err := enforce(scoped); err != nil {
				return err
			}
			results = sendAll(target.Pid())
			return nil
		})
		expectAll(results, unix.EPERM, "in a sibling domain")
		spec.EnforcedVerdict(feature, 6)
	})
})
