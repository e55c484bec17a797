package scope

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	"golang.org/x/sys/unix"

	"github.com/llconform/llconform/internal/landlock"
	"github.com/llconform/llconform/internal/sandbox"
	"github.com/llconform/llconform/internal/spec"
	"github.com/llconform/llconform/suites/scope/actions"
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

// errFromOutcome turns an outcome back into an error: nil, the errno of that name, or
// an error carrying the text.
func errFromOutcome(o string) error {
	if o == actions.Outcome(nil) {
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

type scopedDomainsResult struct {
	p1, p2 actions.PeerSide // what P1 did to P2, and P2 to P1
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
			if err := actions.PtraceDetach(tid, 0); err != nil {
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
	scopes := actions.PeerPtraceOnly
	if spec.Supports(6) {
		scopes = actions.PeerScopes
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
		pr, err := sandbox.Start(p2Policy, actions.ScopedPeerAction, strconv.Itoa(unix.Getpid()), strconv.Itoa(unix.Gettid()), prefix, scopes)
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
		if _, scanErr := fmt.Sscanf(line, actions.PeerReady, &p2); err != nil || scanErr != nil {
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
		if scopes == actions.PeerScopes {
			for _, s := range actions.PeerSockets(prefix, "p1") {
				fd, err := actions.UnixServer(s.Typ, s.SA)
				if err != nil {
					return err
				}
				defer unix.Close(fd)
			}
		}
		if _, err := io.WriteString(pr.Stdin, actions.PeerGo); err != nil {
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
		if r.p2.Traceme == actions.Outcome(nil) {
			if err := detachAtStop(p2); err != nil {
				return fmt.Errorf("after PTRACE_TRACEME: %w", err)
			}
		} else {
			// Not traced: the kernel must say there is no such tracee.
			r.p1.Detach = actions.Outcome(unix.PtraceDetach(p2))
		}
		r.p1.Environ = actions.Outcome(actions.OpenEnviron(p2))
		attach := unix.PtraceAttach(p2)
		r.p1.Attach = actions.Outcome(attach)
		if attach == nil {
			if err := detachAtStop(p2); err != nil {
				return fmt.Errorf("after PTRACE_ATTACH: %w", err)
			}
		}
		if scopes == actions.PeerScopes {
			r.p1.Signal = actions.Outcome(unix.Tgkill(pr.Pid(), p2, 0))
			r.p1.Self = actions.Outcome(unix.Tgkill(unix.Getpid(), unix.Gettid(), 0))
			r.p1.Stream, r.p1.Dgram = actions.PeerConnect(prefix, "p2")
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

var _ = suite.Describe("a parent and its child", Ordered, ContinueOnFailure, func() {
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
