// Package sandbox runs an action under a Landlock policy in a place that dies afterwards,
// and returns what happened. The caller, typically a test runner, is never restricted.
//
// Thread mode (Thread, OnThread) locks a goroutine to a fresh OS thread, restricts that
// thread only, acts, and returns without unlocking, so the Go runtime discards the thread.
// It is cheap and suits actions that are plain syscalls. Process mode (Process, Start)
// starts a helper process (HelperName, or the test binary itself) running a registered
// action; it suits exec, signals and ptrace between processes, and anything that needs a
// whole process.
//
// Process-mode actions live in each suite's actions package (suites/<name>/actions), which
// registers them for both the suite binary and the helper binary cmd/llconform-sandbox.
package sandbox

import (
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/llconform/llconform/internal/landlock"
)

// PathRule allows Access beneath Path (LANDLOCK_RULE_PATH_BENEATH).
type PathRule struct {
	Path   string `json:"path"`
	Access uint64 `json:"access"`
	Flags  uint32 `json:"flags,omitempty"` // add_rule flags, e.g. LANDLOCK_ADD_RULE_QUIET
}

// PortRule allows Access on Port (LANDLOCK_RULE_NET_PORT).
type PortRule struct {
	Port   uint64 `json:"port"`
	Access uint64 `json:"access"`
	Flags  uint32 `json:"flags,omitempty"`
}

// Layer is one ruleset and the restrict_self call that enforces it.
type Layer struct {
	Attr  landlock.RulesetAttr `json:"attr"`
	Paths []PathRule           `json:"paths,omitempty"`
	Ports []PortRule           `json:"ports,omitempty"`
	// RestrictFlags are passed to restrict_self.
	RestrictFlags uint32 `json:"restrict_flags,omitempty"`
}

// Policy is what a sandboxed action runs under: layers enforced in order, the first being
// the outermost domain.
type Policy struct {
	Layers []Layer `json:"layers"`
	// KeepNewPrivs leaves no_new_privs unset before enforcing, for specs about the
	// EPERM rule or the NO_NEW_PRIVS flag; the thread then relies on its capabilities.
	KeepNewPrivs bool `json:"keep_new_privs,omitempty"`
}

// FS returns a one-layer policy handling the filesystem rights handled, with rules.
func FS(handled uint64, rules ...PathRule) Policy {
	return Policy{Layers: []Layer{{Attr: landlock.RulesetAttr{HandledAccessFS: handled}, Paths: rules}}}
}

// Net returns a one-layer policy handling the network rights handled, with rules.
func Net(handled uint64, rules ...PortRule) Policy {
	return Policy{Layers: []Layer{{Attr: landlock.RulesetAttr{HandledAccessNet: handled}, Ports: rules}}}
}

// Scoped returns a one-layer policy with the given scopes.
func Scoped(scopes uint64) Policy {
	return Policy{Layers: []Layer{{Attr: landlock.RulesetAttr{Scoped: scopes}}}}
}

// Then returns p with the layers of q enforced after (inside) those of p.
func (p Policy) Then(q Policy) Policy {
	layers := append(append([]Layer(nil), p.Layers...), q.Layers...)
	return Policy{Layers: layers, KeepNewPrivs: p.KeepNewPrivs || q.KeepNewPrivs}
}

// Enforce restricts the calling thread with p. It must run on a thread that is thrown
// away afterwards: use it through Thread, OnThread or a process-mode helper.
func (p Policy) Enforce() error {
	if !p.KeepNewPrivs {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return fmt.Errorf("set no_new_privs: %w", err)
		}
	}
	for i, l := range p.Layers {
		if err := l.enforce(); err != nil {
			return fmt.Errorf("layer %d: %w", i+1, err)
		}
	}
	return nil
}

func (l Layer) enforce() error {
	fd, err := landlock.CreateRuleset(&l.Attr, landlock.RulesetAttrSize, 0)
	if err != nil {
		return fmt.Errorf("create_ruleset(fs=%#x net=%#x scoped=%#x): %w",
			l.Attr.HandledAccessFS, l.Attr.HandledAccessNet, l.Attr.Scoped, err)
	}
	defer unix.Close(fd)
	for _, r := range l.Paths {
		if err := addPath(fd, r); err != nil {
			return err
		}
	}
	for _, r := range l.Ports {
		if err := landlock.AddNetPort(fd, landlock.NetPortAttr{AllowedAccess: r.Access, Port: r.Port}, r.Flags); err != nil {
			return fmt.Errorf("add_rule(port %d, access %#x): %w", r.Port, r.Access, err)
		}
	}
	if err := landlock.RestrictSelf(fd, l.RestrictFlags); err != nil {
		return fmt.Errorf("restrict_self(flags %#x): %w", l.RestrictFlags, err)
	}
	return nil
}

func addPath(rulesetFd int, r PathRule) error {
	parent, err := unix.Open(r.Path, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open rule path %s: %w", r.Path, err)
	}
	defer unix.Close(parent)
	attr := landlock.PathBeneathAttr{AllowedAccess: r.Access, ParentFd: int32(parent)}
	if err := landlock.AddPathBeneath(rulesetFd, attr, r.Flags); err != nil {
		return fmt.Errorf("add_rule(%s, access %s): %w", r.Path, landlock.Names(landlock.KindFS, r.Access), err)
	}
	return nil
}
