package scope_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	"golang.org/x/sys/unix"

	"github.com/llconform/llconform/internal/landlock"
	"github.com/llconform/llconform/internal/sandbox"
	"github.com/llconform/llconform/internal/spec"
)

// The scoped_domains matrix of the kernel's selftests (scoped_base_variants.h): a parent P1
// and its child P2, each in no domain, a shared (inherited) domain, a domain of its own,
// or both. P1 is a throw-away thread of the runner and P2 a helper it starts, so P2
// inherits P1's domain at that point. The selftests check ptrace, signals and abstract
// UNIX sockets against the same matrix with a domain of their own kind; here one domain
// does all three (it handles a filesystem right, which is enough for ptrace, and scopes
// signals and abstract sockets), so each arrangement runs once.

type scopedDomainsVariant struct {
	name                string
	both, parent, child bool // domain before the fork, then P1's own, then P2's own
}

var scopedDomainsVariants = []scopedDomainsVariant{
	{name: "without_domain"},
	{name: "child_domain", child: true},
	{name: "parent_domain", parent: true},
	{name: "sibling_domain", parent: true, child: true},
	{name: "inherited_domain", both: true},
	{name: "nested_domain", both: true, child: true},
	{name: "nested_and_parent_domain", both: true, parent: true},
	{name: "forked_domains", both: true, parent: true, child: true},
}

// p1ToP2 and p2ToP1 are what every check of the family allows: a domain of its own, made
// after the fork, cuts its owner off from the other process.
func (v scopedDomainsVariant) p1ToP2() bool { return !v.parent }
func (v scopedDomainsVariant) p2ToP1() bool { return !v.child }

// outcome is how a result travels through JSON: the errno's name, or "success".
func outcome(err error) string { return spec.ErrnoName(err) }

// errFromOutcome turns an outcome back into an error: nil, the errno of that name, or
// an error carrying the text.
func errFromOutcome(o string) error {
	if o == outcome(nil) {
		return nil
	}
	for e := unix.Errno(1); e < 4096; e++ {
		if unix.ErrnoName(e) == o {
			return e
		}
	}
	return errors.New(o)
}

// expectOutcome fails the spec unless got names want (nil for success).
func expectOutcome(got string, want error, what string, args ...any) {
	GinkgoHelper()
	if got != spec.ErrnoName(want) {
		Fail(fmt.Sprintf("%s: got %s, want %s", fmt.Sprintf(what, args...), got, spec.ErrnoName(want)))
	}
}

// peerSide is what one process of an arrangement saw when reaching the other.
type peerSide struct {
	Environ string `json:"environ"` // open(/proc/<tid>/environ): PTRACE_MODE_READ
	Attach  string `json:"attach"`  // PTRACE_ATTACH (P1) or PTRACE_SEIZE (P2): PTRACE_MODE_ATTACH
	Traceme string `json:"traceme"` // P2 only: PTRACE_TRACEME towards P1
	Detach  string `json:"detach"`  // P1 only, when TRACEME failed: PTRACE_DETACH of P2
	Signal  string `json:"signal"`  // tgkill(<tid>, 0)
	Self    string `json:"self"`    // tgkill(own thread, 0)
	Stream  string `json:"stream"`  // connect to the other's abstract stream socket
	Dgram   string `json:"dgram"`   // connect to the other's abstract datagram socket
}

type scopedDomainsResult struct {
	p1, p2 peerSide // what P1 did to P2, and P2 to P1
}

func init() {
	// scoped-peer: P2 of a scoped_domains arrangement. args: the runner's pid, P1's
	// thread, the abstract name prefix, and "scopes" when the kernel has them. It binds its
	// abstract sockets, says "ready <tid>", waits for "go" (P1 is then in its domain and
	// has bound its own), reaches P1 every way, writes what it saw as a JSON line, and if
	// PTRACE_TRACEME succeeded stops itself for P1 to see. It ends when its input closes.
	sandbox.Register("scoped-peer", func(args []string) ([]byte, error) {
		runner, err := strconv.Atoi(args[0])
		if err != nil {
			return nil, err
		}
		p1, err := strconv.Atoi(args[1])
		if err != nil {
			return nil, err
		}
		prefix, scopes := args[2], args[3] == "scopes"
		if scopes {
			for _, s := range peerSockets(prefix, "p2") {
				fd, err := unixServer(s.typ, s.sa)
				if err != nil {
					return nil, err
				}
				defer unix.Close(fd)
			}
		}
		if _, err := fmt.Fprintf(os.Stdout, "ready %d\n", unix.Gettid()); err != nil {
			return nil, err
		}
		in := bufio.NewReader(os.Stdin)
		if line, err := in.ReadString('\n'); err != nil || line != "go\n" {
			return nil, fmt.Errorf("waiting for go: read %q, %v", line, err)
		}
		var seen peerSide
		if scopes {
			seen.Stream, seen.Dgram = peerConnect(prefix, "p1")
			seen.Signal = outcome(unix.Tgkill(runner, p1, 0))
			seen.Self = outcome(unix.Tgkill(unix.Getpid(), unix.Gettid(), 0))
		}
		seen.Environ = outcome(openEnviron(p1))
		// PTRACE_SEIZE goes through the same access check as PTRACE_ATTACH but sends no
		// SIGSTOP, so the runner's thread cannot be left stopped if this helper dies.
		seize := unix.PtraceSeize(p1)
		seen.Attach = outcome(seize)
		if seize == nil {
			if err := releaseSeized(p1); err != nil {
				return nil, err
			}
		}
		// Once traced, any signal stops this thread until the tracer waits, and P1 waits
		// only after reading the report: signals stay blocked until P1 has detached.
		var all, old unix.Sigset_t
		for i := range all.Val {
			all.Val[i] = ^all.Val[i]
		}
		if err := unix.PthreadSigmask(unix.SIG_SETMASK, &all, &old); err != nil {
			return nil, fmt.Errorf("block signals: %w", err)
		}
		traceme := ptraceTraceme()
		seen.Traceme = outcome(traceme)
		line, err := json.Marshal(seen)
		if err == nil {
			_, err = os.Stdout.Write(append(line, '\n'))
		}
		if err == nil && traceme == nil {
			// SIGSTOP cannot be blocked: the tracer sees this stop and detaches,
			// suppressing it.
			if err = unix.Tgkill(unix.Getpid(), unix.Gettid(), unix.SIGSTOP); err != nil {
				err = fmt.Errorf("stop for the tracer: %w", err)
			}
		}
		if merr := unix.PthreadSigmask(unix.SIG_SETMASK, &old, nil); err == nil && merr != nil {
			err = fmt.Errorf("restore the signal mask: %w", merr)
		}
		if err != nil {
			return nil, err
		}
		_, err = io.Copy(io.Discard, in)
		return nil, err
	})
}

type peerSocket struct {
	typ int
	sa  *unix.SockaddrUnix
}

// peerSockets names the abstract stream and datagram sockets of one side of an arrangement.
func peerSockets(prefix, side string) []peerSocket {
	return []peerSocket{
		{typ: unix.SOCK_STREAM, sa: &unix.SockaddrUnix{Name: prefix + "-" + side + "-stream"}},
		{typ: unix.SOCK_DGRAM, sa: &unix.SockaddrUnix{Name: prefix + "-" + side + "-dgram"}},
	}
}

// peerConnect connects to side's stream and datagram sockets and returns both outcomes.
func peerConnect(prefix, side string) (stream, dgram string) {
	s := peerSockets(prefix, side)
	return outcome(unixConnect(s[0].typ, s[0].sa)), outcome(unixConnect(s[1].typ, s[1].sa))
}

// openEnviron opens /proc/<tid>/environ, which needs PTRACE_MODE_READ on that thread. It
// first drops CAP_PERFMON and CAP_SYS_ADMIN from the calling thread: mm_access() lets
// either bypass a denied PTRACE_MODE_READ, Landlock's included.
func openEnviron(tid int) error {
	if err := dropEffective(unix.CAP_PERFMON, unix.CAP_SYS_ADMIN); err != nil {
		return spec.SetupFailed("drop CAP_PERFMON and CAP_SYS_ADMIN", err)
	}
	fd, err := unix.Open(fmt.Sprintf("/proc/%d/environ", tid), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err == nil {
		unix.Close(fd)
	}
	return err
}

// ptraceTraceme asks to be traced by the parent (the thread that started this process).
func ptraceTraceme() error {
	if _, _, e := unix.RawSyscall(unix.SYS_PTRACE, unix.PTRACE_TRACEME, 0, 0); e != 0 {
		return e
	}
	return nil
}

// ptraceDetach detaches from a stopped tracee, delivering sig (0: none).
func ptraceDetach(tid int, sig unix.Signal) error {
	_, _, e := unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_DETACH, uintptr(tid), 0, uintptr(sig), 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

// releaseSeized stops a thread seized with PTRACE_SEIZE and detaches from it. A signal
// that stopped it first is delivered on detach, so the thread loses nothing.
func releaseSeized(tid int) error {
	if err := unix.PtraceInterrupt(tid); err != nil {
		return fmt.Errorf("PTRACE_INTERRUPT %d: %w", tid, err)
	}
	var ws unix.WaitStatus
	if _, err := unix.Wait4(tid, &ws, unix.WALL, nil); err != nil {
		return fmt.Errorf("wait for the seized thread %d: %w", tid, err)
	}
	if !ws.Stopped() {
		return fmt.Errorf("seized thread %d: wait status %#x, not a stop", tid, uint32(ws))
	}
	// An event stop (status>>16 set) carries no signal; a signal-delivery stop does.
	var sig unix.Signal
	if uint32(ws)>>16 == 0 {
		sig = ws.StopSignal()
	}
	if err := ptraceDetach(tid, sig); err != nil {
		return fmt.Errorf("detach from the seized thread %d: %w", tid, err)
	}
	return nil
}

// detachAtStop waits for a traced thread's SIGSTOP and detaches, suppressing it; other
// signals that stop it first are passed on.
func detachAtStop(tid int) error {
	for {
		var ws unix.WaitStatus
		if _, err := unix.Wait4(tid, &ws, unix.WALL|unix.WUNTRACED, nil); err != nil {
			return fmt.Errorf("wait for the traced thread %d: %w", tid, err)
		}
		if !ws.Stopped() {
			return fmt.Errorf("traced thread %d: wait status %#x, not a stop", tid, uint32(ws))
		}
		if ws.StopSignal() == unix.SIGSTOP {
			if err := ptraceDetach(tid, 0); err != nil {
				return fmt.Errorf("detach from %d: %w", tid, err)
			}
			return nil
		}
		if err := unix.PtraceCont(tid, int(ws.StopSignal())); err != nil {
			return fmt.Errorf("continue %d with signal %d: %w", tid, ws.StopSignal(), err)
		}
	}
}

// scopedDomainsPolicy is the one domain every arrangement uses: it handles a filesystem
// right no spec exercises, which makes it a domain for ptrace from ABI 1, and where the
// kernel has scopes it also scopes signals and abstract UNIX sockets.
func scopedDomainsPolicy() sandbox.Policy {
	attr := landlock.RulesetAttr{HandledAccessFS: landlock.AccessFSMakeBlock}
	if spec.Supports(6) {
		attr.Scoped = scopeSignal | scopeUnix
	}
	return sandbox.Policy{Layers: []sandbox.Layer{{Attr: attr}}}
}

// runScopedDomains runs one arrangement: P1, a throw-away thread, enforces the shared
// domain if any, starts P2 (inheriting it), then each enforces its own domain if any, and
// each reaches the other every way.
func runScopedDomains(v scopedDomainsVariant) scopedDomainsResult {
	GinkgoHelper()
	dom := scopedDomainsPolicy()
	scopes := "ptrace-only"
	if spec.Supports(6) {
		scopes = "scopes"
	}
	var r scopedDomainsResult
	onThread(func() error {
		if v.both {
			if err := enforce(dom); err != nil {
				return err
			}
		}
		p2Policy := sandbox.Policy{}
		if v.child {
			p2Policy = dom
		}
		prefix := abstractName()
		pr, err := sandbox.Start(p2Policy, "scoped-peer", strconv.Itoa(unix.Getpid()), strconv.Itoa(unix.Gettid()), prefix, scopes)
		if err != nil {
			return err
		}
		// A traced or stopped P2 must not outlive the arrangement.
		waited := false
		defer func() {
			if !waited {
				pr.Kill()
			}
		}()
		out := bufio.NewReader(pr.Stdout)
		line, err := out.ReadString('\n')
		var p2 int
		if _, scanErr := fmt.Sscanf(line, "ready %d\n", &p2); err != nil || scanErr != nil {
			pr.Stdin.Close()
			waited = true
			res := pr.Wait()
			return fmt.Errorf("scoped-peer not ready (read %q, %v): setup %v, error %v", line, err, res.Setup, res.Err)
		}
		if v.parent {
			if err := enforce(dom); err != nil {
				return err
			}
		}
		if scopes == "scopes" {
			for _, s := range peerSockets(prefix, "p1") {
				fd, err := unixServer(s.typ, s.sa)
				if err != nil {
					return err
				}
				defer unix.Close(fd)
			}
		}
		if _, err := io.WriteString(pr.Stdin, "go\n"); err != nil {
			return fmt.Errorf("tell scoped-peer to go: %w", err)
		}
		line, err = out.ReadString('\n')
		if err != nil {
			pr.Stdin.Close()
			waited = true
			res := pr.Wait()
			return fmt.Errorf("scoped-peer report (read %q, %v): setup %v, error %v", line, err, res.Setup, res.Err)
		}
		if err := json.Unmarshal([]byte(line), &r.p2); err != nil {
			return fmt.Errorf("scoped-peer report %q: %w", line, err)
		}
		if r.p2.Traceme == outcome(nil) {
			if err := detachAtStop(p2); err != nil {
				return fmt.Errorf("after PTRACE_TRACEME: %w", err)
			}
		} else {
			// Not traced: the kernel must say there is no such tracee.
			r.p1.Detach = outcome(unix.PtraceDetach(p2))
		}
		r.p1.Environ = outcome(openEnviron(p2))
		attach := unix.PtraceAttach(p2)
		r.p1.Attach = outcome(attach)
		if attach == nil {
			if err := detachAtStop(p2); err != nil {
				return fmt.Errorf("after PTRACE_ATTACH: %w", err)
			}
		}
		if scopes == "scopes" {
			r.p1.Signal = outcome(unix.Tgkill(pr.Pid(), p2, 0))
			r.p1.Self = outcome(unix.Tgkill(unix.Getpid(), unix.Gettid(), 0))
			r.p1.Stream, r.p1.Dgram = peerConnect(prefix, "p2")
		}
		pr.Stdin.Close()
		waited = true
		if res := pr.Wait(); res.Setup != nil || res.Err != nil {
			return fmt.Errorf("scoped-peer: setup %v, error %v", res.Setup, res.Err)
		}
		return nil
	})
	return r
}

// allowedOr is nil where the relation allows, else denied.
func allowedOr(allowed bool, denied error) error {
	if allowed {
		return nil
	}
	return denied
}

func arrangement(v scopedDomainsVariant) string {
	parts := []string{}
	if v.both {
		parts = append(parts, "a shared domain")
	}
	if v.parent {
		parts = append(parts, "a domain of P1's own")
	}
	if v.child {
		parts = append(parts, "a domain of P2's own")
	}
	if len(parts) == 0 {
		return v.name + " (no domain)"
	}
	return v.name + " (" + strings.Join(parts, ", ") + ")"
}

var _ = Describe("a parent and its child", Ordered, ContinueOnFailure, func() {
	results := map[string]scopedDomainsResult{}
	BeforeAll(func() {
		spec.RequireLandlock()
		for _, v := range scopedDomainsVariants {
			results[v.name] = runScopedDomains(v)
		}
	})

	for _, v := range scopedDomainsVariants {
		v := v
		denies := v.parent || v.child

		It(fmt.Sprintf("in %s MUST reach each other by ptrace (PTRACE_MODE_READ, PTRACE_ATTACH, PTRACE_TRACEME) only as their domains allow", v.name),
			spec.Feature("scope.ptrace", 1), spec.ID("ptrace.scoped_domains."+v.name), spec.Selftest("ptrace_test", "scoped_domains.trace"), func() {
				requirePtrace()
				requireAttachToParent()
				r := results[v.name]
				at := arrangement(v)
				expectOutcome(r.p2.Environ, allowedOr(v.p2ToP1(), unix.EACCES), "%s: child opens /proc/<parent>/environ", at)
				expectOutcome(r.p2.Attach, allowedOr(v.p2ToP1(), unix.EPERM), "%s: child PTRACE_SEIZE (the PTRACE_ATTACH check) of its parent", at)
				expectOutcome(r.p2.Traceme, allowedOr(v.p1ToP2(), unix.EPERM), "%s: child PTRACE_TRACEME towards its parent", at)
				if !v.p1ToP2() {
					expectOutcome(r.p1.Detach, unix.ESRCH, "%s: parent PTRACE_DETACH of a child whose PTRACE_TRACEME failed", at)
				}
				expectOutcome(r.p1.Environ, allowedOr(v.p1ToP2(), unix.EACCES), "%s: parent opens /proc/<child>/environ", at)
				expectOutcome(r.p1.Attach, allowedOr(v.p1ToP2(), unix.EPERM), "%s: parent PTRACE_ATTACH of its child", at)
				if denies {
					spec.EnforcedVerdict("scope.ptrace", 1)
				} else {
					spec.FeatureVerdict("scope.ptrace", 1)
				}
			})

		It(fmt.Sprintf("in %s MUST signal each other only as SCOPE_SIGNAL allows", v.name),
			spec.Feature("scope.signal", 6), spec.ID("signal.scoped_domains."+v.name), spec.Selftest("scoped_signal_test", "scoped_domains.check_access_signal"), func() {
				if !scopeSupported("scope.signal", scopeSignal) {
					return
				}
				r := results[v.name]
				at := arrangement(v)
				expectOutcome(r.p2.Signal, allowedOr(v.p2ToP1(), unix.EPERM), "%s: child tgkill(parent thread, 0)", at)
				expectOutcome(r.p1.Signal, allowedOr(v.p1ToP2(), unix.EPERM), "%s: parent tgkill(child thread, 0)", at)
				expectOutcome(r.p2.Self, nil, "%s: child signals its own thread", at)
				expectOutcome(r.p1.Self, nil, "%s: parent signals its own thread", at)
				if denies {
					spec.EnforcedVerdict("scope.signal", 6)
				} else {
					spec.FeatureVerdict("scope.signal", 6)
				}
			})

		It(fmt.Sprintf("in %s MUST connect to each other's abstract UNIX sockets only as SCOPE_ABSTRACT_UNIX_SOCKET allows", v.name),
			spec.Feature("scope.abstract_unix_socket", 6), spec.ID("abstract_unix.scoped_domains."+v.name),
			spec.Selftest("scoped_abstract_unix_test", "scoped_domains.connect_to_parent"), spec.Selftest("scoped_abstract_unix_test", "scoped_domains.connect_to_child"), func() {
				if !scopeSupported("scope.abstract_unix_socket", scopeUnix) {
					return
				}
				r := results[v.name]
				at := arrangement(v)
				expectOutcome(r.p2.Stream, allowedOr(v.p2ToP1(), unix.EPERM), "%s: child connect(stream) to the parent's abstract socket", at)
				expectOutcome(r.p2.Dgram, allowedOr(v.p2ToP1(), unix.EPERM), "%s: child connect(dgram) to the parent's abstract socket", at)
				expectOutcome(r.p1.Stream, allowedOr(v.p1ToP2(), unix.EPERM), "%s: parent connect(stream) to the child's abstract socket", at)
				expectOutcome(r.p1.Dgram, allowedOr(v.p1ToP2(), unix.EPERM), "%s: parent connect(dgram) to the child's abstract socket", at)
				if denies {
					spec.EnforcedVerdict("scope.abstract_unix_socket", 6)
				} else {
					spec.FeatureVerdict("scope.abstract_unix_socket", 6)
				}
			})
	}
})
