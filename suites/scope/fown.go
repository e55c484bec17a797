package scope

import (
	"encoding/json"
	"strconv"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/sys/unix"

	"github.com/llconform/llconform/internal/sandbox"
	"github.com/llconform/llconform/internal/spec"
	"github.com/llconform/llconform/suites/scope/actions"
)

// The kernel checks signals sent on I/O events (SIGIO, SIGURG) against the domain of
// whoever called fcntl(F_SETOWN), as it was at that call. The target is kept stopped,
// so that a signal the kernel sends stays pending in its ShdPnd mask: the check is
// deterministic, with no waiting for delivery.

// runPgidSigio runs the pgid-sigio helper and returns whether its own process received
// the scoped owner's signal.
func runPgidSigio(args ...string) bool {
	GinkgoHelper()
	res := sandbox.Process(sandbox.Policy{}, actions.PgidSigioAction, args...)
	spec.ExpectErrno(res, nil, "pgid-sigio helper %v", args)
	var received bool
	Expect(json.Unmarshal(res.Data, &received)).To(Succeed(), "pgid-sigio report")
	return received
}

// asyncPipe returns a pipe whose read end will signal its owner when written to.
func asyncPipe() (r, w int) {
	GinkgoHelper()
	var p [2]int
	Expect(unix.Pipe2(p[:], unix.O_CLOEXEC|unix.O_NONBLOCK)).To(Succeed(), "pipe2")
	DeferCleanup(unix.Close, p[0])
	DeferCleanup(unix.Close, p[1])
	return p[0], p[1]
}

// tcpPair returns a connected loopback TCP pair: the accepted server side, which signals
// SIGURG to its owner on urgent data, and the client.
func tcpPair() (server, client int) {
	GinkgoHelper()
	l, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	Expect(err).NotTo(HaveOccurred())
	defer unix.Close(l)
	Expect(unix.Bind(l, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}})).To(Succeed())
	Expect(unix.Listen(l, 1)).To(Succeed())
	sa, err := unix.Getsockname(l)
	Expect(err).NotTo(HaveOccurred())
	client, err = unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(unix.Close, client)
	Expect(unix.Connect(client, sa)).To(Succeed())
	server, _, err = unix.Accept4(l, unix.SOCK_CLOEXEC)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(unix.Close, server)
	return server, client
}

func sendOOB(client int) {
	GinkgoHelper()
	Expect(unix.Sendto(client, []byte("!"), unix.MSG_OOB, nil)).To(Succeed(), "send(MSG_OOB)")
}

var _ = suite.Describe("SCOPE_SIGNAL and fcntl(F_SETOWN)", spec.Feature("scope.signal", 6), func() {
	const feature = "scope.signal"
	scoped := sandbox.Scoped(scopeSignal)

	Context("with a stopped target outside any domain", Ordered, func() {
		var pid int
		BeforeAll(startStoppedTarget(&pid))

		// Each spec uses its own signal, so they cannot see each other's.
		It("MUST NOT deliver SIGIO to a process outside the domain that called F_SETOWN", spec.ID("fown.sigio.outside_domain"), spec.Selftest("scoped_signal_test", "fown.sigurg_socket"), func() {
			if !scopeSupported(feature, scopeSignal) {
				return
			}
			r, w := asyncPipe()
			Expect(sharedPending(pid, unix.SIGUSR1)).To(BeFalse(), "SIGUSR1 pending before the spec")
			res := sandbox.Thread(scoped, func() error { return actions.SetOwner(r, pid, unix.SIGUSR1) })
			spec.ExpectErrno(res, nil, "SCOPE_SIGNAL: fcntl(F_SETOWN %d, F_SETSIG SIGUSR1, O_ASYNC)", pid)
			_, err := unix.Write(w, []byte("x"))
			Expect(err).NotTo(HaveOccurred(), "write to the pipe")
			Expect(sharedPending(pid, unix.SIGUSR1)).To(BeFalse(), "SIGIO (as SIGUSR1) reached a process outside the F_SETOWN caller's scoped domain")
			// Control: the same arrangement from a domain that scopes nothing delivers
			// the signal, so its absence above is the scope's doing.
			r2, w2 := asyncPipe()
			res = sandbox.Thread(actions.OtherDomain, func() error { return actions.SetOwner(r2, pid, unix.SIGUSR1) })
			spec.ExpectErrno(res, nil, "domain without SCOPE_SIGNAL: fcntl(F_SETOWN %d, F_SETSIG SIGUSR1, O_ASYNC)", pid)
			_, err = unix.Write(w2, []byte("x"))
			Expect(err).NotTo(HaveOccurred(), "write to the control pipe")
			Expect(sharedPending(pid, unix.SIGUSR1)).To(BeTrue(), "SIGIO (as SIGUSR1) with F_SETOWN from a domain without SCOPE_SIGNAL (control): not delivered")
			spec.EnforcedVerdict(feature, 6)
		})

		It("MUST NOT deliver SIGURG to a process outside the domain that called F_SETOWN", spec.ID("fown.sigurg.outside_domain"), spec.Selftest("scoped_signal_test", "fown.sigurg_socket"), func() {
			if !scopeSupported(feature, scopeSignal) {
				return
			}
			server, client := tcpPair()
			Expect(sharedPending(pid, unix.SIGURG)).To(BeFalse(), "SIGURG pending before the spec")
			res := sandbox.Thread(scoped, func() error {
				_, err := unix.FcntlInt(uintptr(server), unix.F_SETOWN, pid)
				return err
			})
			spec.ExpectErrno(res, nil, "SCOPE_SIGNAL: fcntl(socket, F_SETOWN %d)", pid)
			sendOOB(client)
			Expect(sharedPending(pid, unix.SIGURG)).To(BeFalse(), "SIGURG reached a process outside the F_SETOWN caller's scoped domain")
			// Control: from a domain that scopes nothing, SIGURG arrives.
			server2, client2 := tcpPair()
			res = sandbox.Thread(actions.OtherDomain, func() error {
				_, err := unix.FcntlInt(uintptr(server2), unix.F_SETOWN, pid)
				return err
			})
			spec.ExpectErrno(res, nil, "domain without SCOPE_SIGNAL: fcntl(socket, F_SETOWN %d)", pid)
			sendOOB(client2)
			Expect(sharedPending(pid, unix.SIGURG)).To(BeTrue(), "SIGURG with F_SETOWN from a domain without SCOPE_SIGNAL (control): not delivered")
			spec.EnforcedVerdict(feature, 6)
		})

		It("MUST deliver SIGIO when F_SETOWN was called before the domain was created", spec.ID("fown.sigio.setown_before_domain"), spec.Selftest("scoped_signal_test", "fown.sigurg_socket"), func() {
			if !scopeSupported(feature, scopeSignal) {
				return
			}
			r, w := asyncPipe()
			Expect(sharedPending(pid, unix.SIGUSR2)).To(BeFalse(), "SIGUSR2 pending before the spec")
			onThread(func() error {
				if err := actions.SetOwner(r, pid, unix.SIGUSR2); err != nil {
					return err
				}
				if err := enforce(scoped); err != nil {
					return err
				}
				// The trigger comes from inside the domain too: only F_SETOWN counts.
				_, err := unix.Write(w, []byte("x"))
				return err
			})
			Expect(sharedPending(pid, unix.SIGUSR2)).To(BeTrue(), "SIGIO (as SIGUSR2) with F_SETOWN done before the domain: not delivered")
			spec.FeatureVerdict(feature, 6)
		})
	})

	It("MUST NOT deliver SIGIO to the members of a process group outside the domain that called F_SETOWN on the group",
		spec.ID("fown.sigio_to_pgid_members"), spec.Selftest("scoped_signal_test", "sigio_to_pgid_members"), func() {
			if !scopeSupported(feature, scopeSignal) {
				return
			}
			target, err := startReady(sandbox.Policy{}, actions.PgrpWaitAction)
			Expect(err).NotTo(HaveOccurred(), "start target")
			DeferCleanup(killTarget, target)
			pgid := target.Pid()
			stopAndWait(pgid)
			// The helper joins the target's group last, so it heads the group's task list:
			// the case where the kernel used to take the group for the caller's own process
			// and record no domain.
			received := runPgidSigio(strconv.Itoa(pgid), strconv.Itoa(int(unix.SIGUSR2)), strconv.Itoa(int(unix.SIGUSR1)))
			Expect(sharedPending(pgid, unix.SIGUSR1)).To(BeTrue(), "control: SIGIO (as SIGUSR1) to the group, F_SETOWN from a domain without SCOPE_SIGNAL: the member of no domain did not get it")
			Expect(received).To(BeTrue(), "SCOPE_SIGNAL: SIGIO (as SIGUSR2) to the group did not reach the F_SETOWN caller's own process")
			Expect(sharedPending(pgid, unix.SIGUSR2)).To(BeFalse(), "SCOPE_SIGNAL: SIGIO (as SIGUSR2) to the group reached a member outside the F_SETOWN caller's domain")
			spec.EnforcedVerdict(feature, 6)
		})

	It("MUST deliver SIGIO to the F_SETOWN caller's own process when a scoped thread set its process group as owner",
		spec.ID("fown.sigio_to_pgid_self"), spec.Selftest("scoped_signal_test", "sigio_to_pgid_self"), func() {
			if !scopeSupported(feature, scopeSignal) {
				return
			}
			Expect(runPgidSigio(actions.PgidSelf, strconv.Itoa(int(unix.SIGUSR2)))).To(BeTrue(),
				"SCOPE_SIGNAL: SIGIO (as SIGUSR2) to its own process group, owner set by a scoped non-leader thread, did not reach its own process")
			spec.FeatureVerdict(feature, 6)
		})

	It("MUST deliver SIGURG to a process in the same domain as the F_SETOWN caller", spec.ID("fown.sigurg.same_domain"), spec.Selftest("scoped_signal_test", "fown.sigurg_socket"), func() {
		if !scopeSupported(feature, scopeSignal) {
			return
		}
		server, client := tcpPair()
		var target *sandbox.Proc
		err := sandbox.OnThread(func() error {
			if err := enforce(scoped); err != nil {
				return err
			}
			var err error
			if target, err = startTarget(sandbox.Policy{}); err != nil {
				return err
			}
			_, err = unix.FcntlInt(uintptr(server), unix.F_SETOWN, target.Pid())
			return err
		})
		if target != nil {
			DeferCleanup(killTarget, target)
		}
		Expect(err).NotTo(HaveOccurred(), "sandbox thread")
		stopAndWait(target.Pid())
		sendOOB(client)
		Expect(sharedPending(target.Pid(), unix.SIGURG)).To(BeTrue(), "SIGURG to a process in the F_SETOWN caller's own domain: not delivered")
		spec.FeatureVerdict(feature, 6)
	})
})
