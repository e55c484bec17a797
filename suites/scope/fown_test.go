package scope_test

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/sys/unix"

	"github.com/llconform/llconform/internal/sandbox"
	"github.com/llconform/llconform/internal/spec"
)

// The kernel checks signals sent on I/O events (SIGIO, SIGURG) against the domain of
// whoever called fcntl(F_SETOWN), as it was at that call. The target is kept stopped,
// so that a signal the kernel sends stays pending in its ShdPnd mask: the check is
// deterministic, with no waiting for delivery.

func init() {
	// pgrp-wait: a target that leads a process group of its own, then behaves like wait.
	sandbox.Register("pgrp-wait", func([]string) ([]byte, error) {
		if err := unix.Setpgid(0, 0); err != nil {
			return nil, fmt.Errorf("setpgid(0, 0): %w", err)
		}
		if _, err := os.Stdout.WriteString("ready\n"); err != nil {
			return nil, err
		}
		_, err := io.Copy(io.Discard, os.Stdin)
		return nil, err
	})
	// pgid-sigio: joins process group args[0] ("self": a new one of its own), then makes
	// the group the owner of a pipe's I/O signal from a throw-away thread in a domain
	// scoping signals, signal args[1], and writes to the pipe. With args[2], a control
	// does the same first from a thread in a domain scoping nothing, with that signal. It
	// reports whether the scoped owner's signal reached this process, whose leader is in
	// no domain.
	sandbox.Register("pgid-sigio", func(args []string) ([]byte, error) {
		sig, err := parseSignal(args[1])
		if err != nil {
			return nil, err
		}
		got := make(chan os.Signal, 1)
		signal.Notify(got, sig)
		pgid := 0
		if args[0] != "self" {
			if pgid, err = strconv.Atoi(args[0]); err != nil {
				return nil, err
			}
		}
		if err := unix.Setpgid(0, pgid); err != nil {
			return nil, fmt.Errorf("setpgid(0, %d): %w", pgid, err)
		}
		pgid = unix.Getpgrp()
		trigger := func(p sandbox.Policy, sig unix.Signal) error {
			var fds [2]int
			if err := unix.Pipe2(fds[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
				return fmt.Errorf("pipe2: %w", err)
			}
			defer unix.Close(fds[0])
			defer unix.Close(fds[1])
			if err := sandbox.OnThread(func() error {
				if err := p.Enforce(); err != nil {
					return err
				}
				return setOwner(fds[0], -pgid, sig)
			}); err != nil {
				return fmt.Errorf("F_SETOWN(-%d) with signal %d: %w", pgid, sig, err)
			}
			if _, err := unix.Write(fds[1], []byte("x")); err != nil {
				return fmt.Errorf("write to the pipe: %w", err)
			}
			return nil
		}
		if len(args) > 2 {
			control, err := parseSignal(args[2])
			if err != nil {
				return nil, err
			}
			if err := trigger(otherDomain, control); err != nil {
				return nil, fmt.Errorf("control: %w", err)
			}
		}
		if err := trigger(sandbox.Scoped(scopeSignal), sig); err != nil {
			return nil, err
		}
		received := false
		select {
		case <-got:
			received = true
		case <-time.After(10 * time.Second):
		}
		return json.Marshal(received)
	})
}

func parseSignal(s string) (unix.Signal, error) {
	n, err := strconv.Atoi(s)
	return unix.Signal(n), err
}

// runPgidSigio runs the pgid-sigio helper and returns whether its own process received
// the scoped owner's signal.
func runPgidSigio(args ...string) bool {
	GinkgoHelper()
	res := sandbox.Process(sandbox.Policy{}, "pgid-sigio", args...)
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

// setOwner makes pid the owner of fd's I/O signals, sent as sig (0: SIGIO).
func setOwner(fd, pid int, sig unix.Signal) error {
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETOWN, pid); err != nil {
		return err
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETSIG, int(sig)); err != nil {
		return err
	}
	_, err := unix.FcntlInt(uintptr(fd), unix.F_SETFL, unix.O_ASYNC|unix.O_NONBLOCK)
	return err
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

var _ = Describe("SCOPE_SIGNAL and fcntl(F_SETOWN)", spec.Feature("scope.signal", 6), func() {
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
			res := sandbox.Thread(scoped, func() error { return setOwner(r, pid, unix.SIGUSR1) })
			spec.ExpectErrno(res, nil, "SCOPE_SIGNAL: fcntl(F_SETOWN %d, F_SETSIG SIGUSR1, O_ASYNC)", pid)
			_, err := unix.Write(w, []byte("x"))
			Expect(err).NotTo(HaveOccurred(), "write to the pipe")
			Expect(sharedPending(pid, unix.SIGUSR1)).To(BeFalse(), "SIGIO (as SIGUSR1) reached a process outside the F_SETOWN caller's scoped domain")
			// Control: the same arrangement from a domain that scopes nothing delivers
			// the signal, so its absence above is the scope's doing.
			r2, w2 := asyncPipe()
			res = sandbox.Thread(otherDomain, func() error { return setOwner(r2, pid, unix.SIGUSR1) })
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
			res = sandbox.Thread(otherDomain, func() error {
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
				if err := setOwner(r, pid, unix.SIGUSR2); err != nil {
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
			target, err := startReady(sandbox.Policy{}, "pgrp-wait")
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
			Expect(runPgidSigio("self", strconv.Itoa(int(unix.SIGUSR2)))).To(BeTrue(),
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
