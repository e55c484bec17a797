package trace

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/sys/unix"

	"github.com/llconform/llconform/internal/landlock"
	"github.com/llconform/llconform/internal/sandbox"
	"github.com/llconform/llconform/internal/spec"
	"github.com/llconform/llconform/internal/tracefs"
	"github.com/llconform/llconform/suites/trace/actions"
)

// target is a trace-target helper.
type target struct {
	proc *sandbox.Proc
	pid  int
	// want is its name as the events print it (escaped).
	want string
	// domain is the id of its own domain, 0 for none.
	domain uint64
}

// Two targets serve every spec of this file: one outside any domain, one in a domain of its
// own. Their names hold bytes the events escape.
var targets struct {
	once                sync.Once
	unsandboxed, scoped *target
	err                 error
}

// getTargets starts the two targets the first time a spec needs them, learning the scoped
// one's domain id from its create_domain event, and leaves the buffer empty.
func getTargets() (unsandboxed, scoped *target) {
	GinkgoHelper()
	targets.once.Do(func() {
		start := func(p sandbox.Policy, name, want string) *target {
			pr, err := sandbox.Start(p, actions.Target, name)
			if err != nil {
				targets.err = err
				return nil
			}
			if _, err := readyLine(pr); err != nil {
				targets.err = err
				return nil
			}
			return &target{proc: pr, pid: pr.Pid(), want: want}
		}
		targets.unsandboxed = start(sandbox.Policy{}, "llc target=U\xc3\xa9", `llc\040target\075U\303\251`)
		targets.scoped = start(anyDomain, "llc scoped\tS", `llc\040scoped\tS`)
		if targets.err != nil {
			return
		}
		evs := readEvents()
		targets.scoped.domain = evs.oneDomain("the scoped target's restrict_self")
	})
	Expect(targets.err).NotTo(HaveOccurred(), "start the target processes")
	clearEvents()
	return targets.unsandboxed, targets.scoped
}

func stopTargets() {
	for _, t := range []*target{targets.unsandboxed, targets.scoped} {
		if t != nil {
			// A target may have been left stopped by a ptrace spec: kill it.
			t.proc.Kill()
		}
	}
}

// requirePtrace skips the spec where Yama, not Landlock, would decide: ptrace_scope 3
// forbids every attach, and scope 2 needs CAP_SYS_PTRACE.
func requirePtrace() {
	GinkgoHelper()
	raw, err := os.ReadFile("/proc/sys/kernel/yama/ptrace_scope")
	if errors.Is(err, os.ErrNotExist) {
		return
	}
	Expect(err).NotTo(HaveOccurred(), "read Yama ptrace_scope")
	scope, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	Expect(err).NotTo(HaveOccurred(), "parse Yama ptrace_scope %q", raw)
	switch {
	case scope >= 3:
		spec.Skip("Yama ptrace_scope=%d forbids every ptrace, so Landlock's decision cannot be observed", scope)
	case scope == 2 && os.Geteuid() != 0:
		spec.Skip("Yama ptrace_scope=2 allows ptrace only with CAP_SYS_PTRACE (running as uid %d)", os.Geteuid())
	}
}

// otherParty is the target a scope or ptrace case acts on.
type otherParty int

const (
	unsandboxedTarget otherParty = iota // outside any domain
	scopedTarget                        // in a domain of its own
)

func (o otherParty) get() *target {
	GinkgoHelper()
	u, s := getTargets()
	if o == scopedTarget {
		return s
	}
	return u
}

type scopeCase struct {
	variant string
	other   otherParty
	sandbox bool // the acting thread is in a domain; else the action is allowed
}

var scopeCases = []scopeCase{
	{variant: "denied", other: unsandboxedTarget, sandbox: true},
	{variant: "denied_scoped_target", other: scopedTarget, sandbox: true},
	{variant: "allowed", other: unsandboxedTarget},
}

// phrase makes a spec's sentence: inside and outside are what acts, from a domain or from
// outside any, action what it does to another process.
func (c scopeCase) phrase(inside, outside, action string) string {
	if !c.sandbox {
		return fmt.Sprintf("MUST NOT fire when %s %s a process", outside, action)
	}
	if c.other == scopedTarget {
		return fmt.Sprintf("MUST fire once when %s %s a process of another domain, with both domains and the target's pid and escaped name", inside, action)
	}
	return fmt.Sprintf("MUST fire once when %s %s a process outside any domain, with domain 0 for it and its pid and escaped name", inside, action)
}

var _ = suite.Describe("landlock_deny_ptrace", func() {
	for _, c := range scopeCases {
		It(c.phrase("a thread in a domain", "a thread outside any domain", "ptrace-attaches to"), spec.ID("trace_ptrace.deny_ptrace."+c.variant), feature("trace.deny_ptrace", 1),
			spec.Selftest("ptrace_test", "trace_ptrace.deny_ptrace"), func() {
				if !requireEvents("trace.deny_ptrace", 1) {
					return
				}
				requirePtrace()
				t := c.other.get()
				onThread(func() error {
					if !c.sandbox {
						if err := unix.PtraceAttach(t.pid); err != nil {
							return fmt.Errorf("ptrace(PTRACE_ATTACH, %d) outside any domain: %w", t.pid, err)
						}
						var ws unix.WaitStatus
						if _, err := unix.Wait4(t.pid, &ws, unix.WALL, nil); err != nil {
							return fmt.Errorf("wait for the attach stop: %w", err)
						}
						return unix.PtraceDetach(t.pid)
					}
					if err := enforce(anyDomain); err != nil {
						return err
					}
					return expectErr(unix.PtraceAttach(t.pid), unix.EPERM, "ptrace(PTRACE_ATTACH, %d) from a domain", t.pid)
				})
				evs := readEvents()
				if !c.sandbox {
					if len(evs) != 0 {
						Fail(fmt.Sprintf("Landlock events for a ptrace outside any domain:\n%s", evs))
					}
					works("trace.deny_ptrace", 1)
					return
				}
				d := evs.oneDomain("restrict_self")
				e := evs.one("deny_ptrace", "a denied PTRACE_ATTACH")
				expectFields(e, "denied PTRACE_ATTACH", "domain", id(d), "same_exec", "1", "logged", "1",
					"tracee_domain", id(t.domain), "tracee_pid", fmt.Sprint(t.pid), "tracee_comm", t.want)
				works("trace.deny_ptrace", 1)
			})
	}

	type tracemeCase struct {
		variant string
		parent  bool // the parent thread, the proposed tracer, enters a domain
		child   bool // the child asking to be traced has a domain of its own
	}
	for _, c := range []tracemeCase{
		{variant: "denied", parent: true},
		{variant: "denied_scoped_tracee", parent: true, child: true},
		{variant: "allowed"},
	} {
		text := "MUST fire once when a process asks a parent in another domain to trace it (PTRACE_TRACEME), naming the parent's domain and the asking task"
		if !c.parent {
			text = "MUST NOT fire when a process asks a parent outside any domain to trace it (PTRACE_TRACEME)"
		}
		It(fmt.Sprintf("%s (%s)", text, c.variant), spec.ID("trace_ptrace_traceme.deny_ptrace."+c.variant), feature("trace.deny_ptrace", 1),
			spec.Selftest("ptrace_test", "trace_ptrace_traceme.deny_ptrace"), func() {
				if !requireEvents("trace.deny_ptrace", 1) {
					return
				}
				requirePtrace()
				// The child is started before the parent thread enters its domain, so that
				// the parent's domain is not one of the child's.
				childPolicy := sandbox.Policy{}
				if c.child {
					childPolicy = anyDomain
				}
				var wantErr error
				if c.parent {
					wantErr = unix.EPERM
				}
				const name, want = "llc\ttracee\x7f", `llc\ttracee\177`
				var child *sandbox.Proc
				var childTid, parentTid int
				var done string
				err := sandbox.OnThread(func() error {
					parentTid = unix.Gettid()
					var err error
					if child, err = sandbox.Start(childPolicy, actions.Traceme, name); err != nil {
						return err
					}
					if childTid, err = readyLine(child); err != nil {
						child = nil
						return err
					}
					if c.parent {
						if err := enforce(anyDomain); err != nil {
							return err
						}
					}
					if _, err := io.WriteString(child.Stdin, "go\n"); err != nil {
						return err
					}
					// This thread is the tracer the child asks for: it must outlive the
					// request, but never wait forever on a child it may trace. Its end
					// detaches a child it traces.
					if out, ok := child.Stdout.(*os.File); ok {
						if err := out.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
							return err
						}
					}
					done, err = bufio.NewReader(child.Stdout).ReadString('\n')
					return err
				})
				if err != nil {
					if child != nil {
						child.Kill()
					}
					Fail(fmt.Sprintf("parent thread: %v", err))
				}
				res := child.Wait()
				Expect(res.Setup).NotTo(HaveOccurred(), "traceme helper")
				spec.ExpectErr(res.Err, wantErr, "ptrace(PTRACE_TRACEME) (%s)", c.variant)
				Expect(done).To(Equal(fmt.Sprintf(actions.DoneLine, sandbox.ErrnoCode(wantErr))), "ptrace(PTRACE_TRACEME) (%s)", c.variant)
				evs := readEvents()
				if !c.parent {
					evs.count("deny_ptrace", 0, "PTRACE_TRACEME to a parent outside any domain")
					works("trace.deny_ptrace", 1)
					return
				}
				created := func(tid int) uint64 {
					es := evs.named("create_domain").filter(func(e tracefs.Event) bool { return e.PID == tid })
					if len(es) != 1 {
						Fail(fmt.Sprintf("%d create_domain events in thread %d, want 1\ntrace:\n%s", len(es), tid, evs))
					}
					return hexOf(es[0], "domain")
				}
				d, childDomain := created(parentTid), uint64(0)
				if c.child {
					childDomain = created(childTid)
				}
				e := evs.one("deny_ptrace", "a denied PTRACE_TRACEME")
				Expect(e.PID).To(Equal(childTid), "deny_ptrace fires in the context of the task asking to be traced")
				expectFields(e, "denied PTRACE_TRACEME", "domain", id(d), "same_exec", "1", "logged", "1",
					"tracee_domain", id(childDomain), "tracee_pid", fmt.Sprint(child.Pid()), "tracee_comm", want)
				works("trace.deny_ptrace", 1)
			})
	}
})

var _ = suite.Describe("landlock_deny_scope_signal", func() {
	for _, c := range scopeCases {
		It(c.phrase("a thread in a domain under SCOPE_SIGNAL", "a thread outside any domain", "signals"), spec.ID("trace_signal.deny_scope_signal."+c.variant), feature("trace.deny_scope_signal", 6),
			spec.Selftest("scoped_signal_test", "trace_signal.deny_scope_signal"), func() {
				if !requireEvents("trace.deny_scope_signal", 6) {
					return
				}
				t := c.other.get()
				onThread(func() error {
					var want error
					if c.sandbox {
						if err := enforce(sandbox.Scoped(landlock.ScopeSignal)); err != nil {
							return err
						}
						want = unix.EPERM
					}
					return expectErr(unix.Kill(t.pid, 0), want, "kill(%d, 0)", t.pid)
				})
				expectSignalEvent(c, t, "kill(%d, 0)", t.pid)
			})
	}

	for _, c := range scopeCases {
		It(c.phrase("a file whose owner a thread in a domain under SCOPE_SIGNAL set", "a file whose owner a thread outside any domain set", "sends SIGIO to"), spec.ID("trace_fown.deny_scope_fown."+c.variant),
			feature("trace.deny_scope_signal", 6), spec.Selftest("scoped_signal_test", "trace_fown.deny_scope_fown"), func() {
				if !requireEvents("trace.deny_scope_signal", 6) {
					return
				}
				t := c.other.get()
				var p [2]int
				Expect(unix.Pipe2(p[:], unix.O_CLOEXEC|unix.O_NONBLOCK)).To(Succeed())
				DeferCleanup(unix.Close, p[0])
				DeferCleanup(unix.Close, p[1])
				onThread(func() error {
					if c.sandbox {
						if err := enforce(sandbox.Scoped(landlock.ScopeSignal)); err != nil {
							return err
						}
					}
					if _, err := unix.FcntlInt(uintptr(p[0]), unix.F_SETOWN, t.pid); err != nil {
						return fmt.Errorf("fcntl(F_SETOWN %d): %w", t.pid, err)
					}
					_, err := unix.FcntlInt(uintptr(p[0]), unix.F_SETFL, unix.O_ASYNC|unix.O_NONBLOCK)
					return err
				})
				// The runner writes: the signal is checked against the domain of the thread
				// that set the owner, which is gone by now.
				_, err := unix.Write(p[1], []byte("x"))
				Expect(err).NotTo(HaveOccurred(), "write to the pipe")
				expectSignalEvent(c, t, "SIGIO to %d", t.pid)
			})
	}
})

func expectSignalEvent(c scopeCase, t *target, what string, args ...any) {
	GinkgoHelper()
	evs := readEvents()
	if !c.sandbox {
		if len(evs) != 0 {
			Fail(fmt.Sprintf("Landlock events for a signal outside any domain:\n%s", evs))
		}
		works("trace.deny_scope_signal", 6)
		return
	}
	d := evs.oneDomain("restrict_self")
	e := evs.one("deny_scope_signal", "a denied "+what, args...)
	expectFields(e, fmt.Sprintf("denied "+what, args...), "domain", id(d), "same_exec", "1", "logged", "1",
		"target_domain", id(t.domain), "target_pid", fmt.Sprint(t.pid), "target_comm", t.want)
	works("trace.deny_scope_signal", 6)
}

var _ = suite.Describe("landlock_deny_scope_abstract_unix_socket", func() {
	type unixCase struct {
		variant    string
		typ        int
		sandbox    bool
		scopedPeer bool   // the peer socket belongs to a domain of its own
		name       string // the abstract name, without its leading NUL
		want       string // as the event prints it
	}
	const defaultName, defaultWant = "llconform trace=\x00END", `llconform\040trace\075\000END`
	maxName := strings.Repeat("x", 107)
	stream, dgram := unix.SOCK_STREAM, unix.SOCK_DGRAM
	for _, c := range []unixCase{
		{variant: "stream_denied", typ: stream, sandbox: true, name: defaultName, want: defaultWant},
		{variant: "stream_denied_scoped_peer", typ: stream, sandbox: true, scopedPeer: true, name: defaultName, want: defaultWant},
		{variant: "stream_allowed", typ: stream, name: defaultName},
		{variant: "stream_denied_empty_name", typ: stream, sandbox: true, name: "", want: ""},
		{variant: "stream_denied_max_name", typ: stream, sandbox: true, name: maxName, want: maxName},
		{variant: "dgram_denied", typ: dgram, sandbox: true, name: defaultName, want: defaultWant},
		{variant: "dgram_denied_scoped_peer", typ: dgram, sandbox: true, scopedPeer: true, name: defaultName, want: defaultWant},
		{variant: "dgram_allowed", typ: dgram, name: defaultName},
	} {
		kind := map[int]string{stream: "connect(2) to a stream", dgram: "sendto(2) to a datagram"}[c.typ]
		text := fmt.Sprintf("MUST fire once when a domain under SCOPE_ABSTRACT_UNIX_SOCKET makes a %s socket outside it, with the peer's domain, pid and escaped name (%s)", kind, c.variant)
		if !c.sandbox {
			text = fmt.Sprintf("MUST NOT fire for a %s socket outside any domain (%s)", kind, c.variant)
		}
		It(text, spec.ID("trace_unix.deny_scope_unix."+c.variant), feature("trace.deny_scope_abstract_unix_socket", 6),
			spec.Selftest("scoped_abstract_unix_test", "trace_unix.deny_scope_unix"), func() {
				if !requireEvents("trace.deny_scope_abstract_unix_socket", 6) {
					return
				}
				scope := sandbox.Scoped(landlock.ScopeAbstractUnixSocket)
				onThread(func() error {
					if err := privateNet(); err != nil {
						return err
					}
					if c.scopedPeer {
						if err := enforce(scope); err != nil {
							return err
						}
					}
					addr := abstractAddr(c.name)
					server, err := unix.Socket(unix.AF_UNIX, c.typ|unix.SOCK_CLOEXEC, 0)
					if err != nil {
						return spec.SetupFailed("socket", err)
					}
					defer unix.Close(server)
					if err := sockCall(unix.SYS_BIND, server, addr); err != nil {
						return spec.SetupFailed("bind", err)
					}
					if c.typ == stream {
						if err := unix.Listen(server, 1); err != nil {
							return spec.SetupFailed("listen", err)
						}
					}
					var want error
					if c.sandbox {
						if err := enforce(scope); err != nil {
							return err
						}
						want = unix.EPERM
					}
					client, err := unix.Socket(unix.AF_UNIX, c.typ|unix.SOCK_CLOEXEC, 0)
					if err != nil {
						return spec.SetupFailed("socket", err)
					}
					defer unix.Close(client)
					if c.typ == stream {
						return expectErr(sockCall(unix.SYS_CONNECT, client, addr), want, "connect(@%q)", c.name)
					}
					return expectErr(sockCall(unix.SYS_SENDTO, client, addr), want, "sendto(@%q)", c.name)
				})
				evs := readEvents()
				if !c.sandbox {
					if len(evs) != 0 {
						Fail(fmt.Sprintf("Landlock events for a socket outside any domain:\n%s", evs))
					}
					works("trace.deny_scope_abstract_unix_socket", 6)
					return
				}
				domains := evs.domainsCreated()
				peerDomain := uint64(0)
				if c.scopedPeer {
					Expect(domains).To(HaveLen(2), "create_domain events\ntrace:\n%s", evs)
					peerDomain = domains[0]
				} else {
					Expect(domains).To(HaveLen(1), "create_domain events\ntrace:\n%s", evs)
				}
				// Only a listening stream socket has peer credentials: the runner's pid.
				peerPid := "0"
				if c.typ == stream {
					peerPid = fmt.Sprint(os.Getpid())
				}
				e := evs.one("deny_scope_abstract_unix_socket", "a denied %s", kind)
				expectFields(e, "denied "+kind, "domain", id(domains[len(domains)-1]), "same_exec", "1", "logged", "1",
					"peer_domain", id(peerDomain), "peer_pid", peerPid, "sun_path", c.want)
				works("trace.deny_scope_abstract_unix_socket", 6)
			})
	}
})

// abstractAddr lays out an abstract UNIX address whose name is exactly name (empty, with
// NULs, or the longest, 107 bytes), which x/sys's SockaddrUnix cannot all express.
func abstractAddr(name string) []byte {
	b := make([]byte, 3+len(name))
	binary.NativeEndian.PutUint16(b, unix.AF_UNIX)
	copy(b[3:], name)
	return b
}

// sockCall makes a bind, connect or (one byte) sendto call on fd with the raw address addr.
func sockCall(nr uintptr, fd int, addr []byte) error {
	p, n := uintptr(unsafe.Pointer(&addr[0])), uintptr(len(addr))
	var e unix.Errno
	if nr == unix.SYS_SENDTO {
		msg := []byte(".")
		_, _, e = unix.Syscall6(nr, uintptr(fd), uintptr(unsafe.Pointer(&msg[0])), 1, 0, p, n)
	} else {
		_, _, e = unix.Syscall(nr, uintptr(fd), p, n)
	}
	return actions.ErrnoErr(e)
}
