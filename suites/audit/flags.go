package audit

import (
	"fmt"
	"os"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/sys/unix"

	"github.com/llconform/llconform/internal/audit"
	"github.com/llconform/llconform/internal/landlock"
	"github.com/llconform/llconform/internal/sandbox"
	"github.com/llconform/llconform/internal/spec"
	"github.com/llconform/llconform/suites/audit/actions"
)

const (
	sameExecOff   = landlock.RestrictSelfLogSameExecOff
	newExecOn     = landlock.RestrictSelfLogNewExecOn
	subdomainsOff = landlock.RestrictSelfLogSubdomainsOff
)

func flagName(f uint32) string {
	switch f {
	case 0:
		return "no flag"
	case sameExecOff:
		return "LOG_SAME_EXEC_OFF"
	case newExecOn:
		return "LOG_NEW_EXEC_ON"
	case subdomainsOff:
		return "LOG_SUBDOMAINS_OFF"
	case sameExecOff | newExecOn:
		return "LOG_SAME_EXEC_OFF|LOG_NEW_EXEC_ON"
	}
	return fmt.Sprintf("flags %#x", f)
}

func flagFeature(f uint32) string {
	switch f {
	case sameExecOff:
		return "restrict_self.log_same_exec_off"
	case newExecOn, sameExecOff | newExecOn:
		return "restrict_self.log_new_exec_on"
	case subdomainsOff:
		return "restrict_self.log_subdomains_off"
	}
	return "audit.log_default"
}

// deniedSignals returns the domains of the denied signals to the runner by process pid
// (the SYSCALL record's pid).
func deniedSignals(l *audit.Log, pid int) []audit.DomainID {
	return signalDenials(l, pid, os.Getpid())
}

var _ = suite.Describe("restrict_self log flags", func() {
	type execCase struct {
		id                 string // the flags in spec ids
		flags              uint32
		sameExec, afterExe bool // whether denials are logged before and after execve
	}
	for _, c := range []execCase{
		{id: "default", flags: 0, sameExec: true, afterExe: false},
		{id: "same_exec_off", flags: sameExecOff, sameExec: false, afterExe: false},
		{id: "new_exec_on", flags: newExecOn, sameExec: true, afterExe: true},
		{id: "same_exec_off_new_exec_on", flags: sameExecOff | newExecOn, sameExec: false, afterExe: true},
		{id: "subdomains_off", flags: subdomainsOff, sameExec: true, afterExe: false},
	} {
		It(fmt.Sprintf("MUST log with %s: denials of the same executable %v, after execve %v, through fork as before it",
			flagName(c.flags), c.sameExec, c.afterExe), spec.Feature(flagFeature(c.flags), 7), spec.Needs("audit", "root"), spec.ID("log.exec."+c.id),
			spec.Selftest("audit_test", "audit_flags.signal"), spec.Selftest("audit_test", "audit_exec.signal_and_open"), func() {
				e := requireAuditABI()
				me := os.Getpid()
				p := sandbox.Scoped(landlock.ScopeSignal)
				p.Layers[0].RestrictFlags = c.flags
				// Denied: by the helper and by its forked child (same executable), both
				// signalling the runner, and by the helper's executed child (a new
				// executable), signalling pid 1 so that its record tells itself apart.
				pid, res := runHelper(p, actions.Kill(me), actions.ForkKill(me), actions.Exec(actions.Kill(1)))
				expectErrnos(res, unix.EPERM, unix.EPERM, unix.EPERM)
				l := e.log()
				var same, forked, after int
				for _, ev := range l.Events {
					for _, a := range ev.Access {
						if a.BlockerList() != "scope.signal" {
							continue
						}
						p, ok := ev.Pid()
						switch {
						case a.OPid == 1 && ok && ev.Syscall["ppid"] == fmt.Sprint(pid):
							after++
						case a.OPid == me && ok && p == pid:
							same++
						case a.OPid == me && ok && ev.Syscall["ppid"] == fmt.Sprint(pid):
							forked++
						}
					}
				}
				want := func(b bool) int {
					if b {
						return 1
					}
					return 0
				}
				Expect(same).To(Equal(want(c.sameExec)), "denials logged for the restricting process\nrecords:\n%s", dump(l))
				Expect(forked).To(Equal(want(c.sameExec)), "denials logged for its forked child\nrecords:\n%s", dump(l))
				Expect(after).To(Equal(want(c.afterExe)), "denials logged after execve\nrecords:\n%s", dump(l))
				if c.sameExec || c.afterExe {
					Expect(l.AllocatedBy(pid)).To(HaveLen(1), "the domain is logged once, by its creator's pid")
				} else {
					Expect(l.AllocatedBy(pid)).To(BeEmpty(), "a domain that logs nothing is never logged")
				}
				spec.EnforcedVerdict(flagFeature(c.flags), 7)
			})
	}

	It("MUST NOT log denials of domains nested under LOG_SUBDOMAINS_OFF, while still logging the domain that set it",
		spec.Feature("restrict_self.log_subdomains_off", 7), spec.Needs("audit", "root"), spec.ID("log.subdomains_off.nested"), func() {
			e := requireAuditABI()
			me := os.Getpid()
			pid, res := runHelper(sandbox.Policy{}, actions.Restrict(subdomainsOff), actions.Kill(me), actions.Restrict(0), actions.Kill(me), actions.ForkRestrictKill(me))
			expectErrnos(res, 0, unix.EPERM, 0, unix.EPERM, unix.EPERM)
			l := e.log()
			ids := deniedSignals(l, pid)
			Expect(ids).To(HaveLen(1), "logged denials: only the first, by the domain that set the flag\nrecords:\n%s", dump(l))
			Expect(l.AllocatedBy(pid)).To(Equal(ids), "domains logged")
			spec.EnforcedVerdict("restrict_self.log_subdomains_off", 7)
		})

	It("MUST accept LOG_SUBDOMAINS_OFF with ruleset_fd -1 and inherit it through fork and nesting",
		spec.Feature("restrict_self.log_subdomains_off", 7), spec.Needs("audit", "root"), spec.ID("audit.log_subdomains_off_fork"), spec.Selftest("audit_test", "audit.log_subdomains_off_fork"), func() {
			e := requireAuditABI()
			me := os.Getpid()
			// The helper has no domain: the flag alone is set, then a domain is
			// created by the helper itself and by a forked child.
			pid, res := runHelper(sandbox.Policy{}, actions.RestrictNoRuleset(subdomainsOff), actions.ForkRestrictKill(me), actions.Restrict(0), actions.Kill(me))
			expectErrnos(res, 0, unix.EPERM, 0, unix.EPERM)
			l := e.log()
			Expect(signalsTo(l, me)).To(BeEmpty(), "denials logged after restrict_self(-1, LOG_SUBDOMAINS_OFF)\nrecords:\n%s", dump(l))
			Expect(l.AllocatedBy(pid)).To(BeEmpty(), "domains logged after restrict_self(-1, LOG_SUBDOMAINS_OFF)")
			// Control: without the flag, the same sequence logs both denials.
			pid, res = runHelper(sandbox.Policy{}, actions.ForkRestrictKill(me), actions.Restrict(0), actions.Kill(me))
			expectErrnos(res, unix.EPERM, 0, unix.EPERM)
			l = e.log()
			Expect(signalsTo(l, me)).To(HaveLen(2), "denials logged without the flag (control)\nrecords:\n%s", dump(l))
			Expect(l.AllocatedBy(pid)).To(HaveLen(1), "domains the control helper created and logged itself (its forked child's is logged under the child's pid)")
			spec.EnforcedVerdict("restrict_self.log_subdomains_off", 7)
		})

	It("MUST reject restrict_self(-1) with any log flag but LOG_SUBDOMAINS_OFF with EBADF", spec.Feature("restrict_self.log_subdomains_off", 7), spec.ID("log.no_ruleset_ebadf"), func() {
		spec.RequireLandlock()
		if !spec.Supports(7) {
			spec.Skip("ABI %d: the log flags' rejection (EINVAL) is checked by the next spec", spec.Kernel().ABI)
		}
		for _, f := range []uint32{sameExecOff, newExecOn, subdomainsOff | sameExecOff, 0} {
			err := sandbox.OnThread(func() error { return landlock.RestrictSelf(-1, f) })
			spec.ExpectErr(err, unix.EBADF, "restrict_self(-1, %s)", flagName(f))
		}
		err := sandbox.OnThread(func() error {
			if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
				return err
			}
			return landlock.RestrictSelf(-1, subdomainsOff)
		})
		spec.ExpectErr(err, nil, "restrict_self(-1, LOG_SUBDOMAINS_OFF)")
		spec.FeatureVerdict("restrict_self.log_subdomains_off", 7)
	})

	for _, f := range []uint32{sameExecOff, newExecOn, subdomainsOff} {
		It(fmt.Sprintf("MUST reject %s with EINVAL below ABI 7", flagName(f)), spec.Feature(flagFeature(f), 7), spec.ID("log.below_abi7."+strings.TrimPrefix(flagFeature(f), "restrict_self.log_")), func() {
			spec.RequireLandlock()
			if spec.Supports(7) {
				spec.Skip("ABI %d supports %s: its behaviour is checked by the specs above", spec.Kernel().ABI, flagName(f))
			}
			err := sandbox.OnThread(func() error { return landlock.RestrictSelf(-1, f) })
			spec.ExpectErr(err, unix.EINVAL, "restrict_self(-1, %s) on ABI %d", flagName(f), spec.Kernel().ABI)
			spec.FeatureVerdict(flagFeature(f), 7)
		})
	}

	type signalCase struct {
		id     string // the selftest's variant
		flags  uint32
		quiet  uint64 // quiet_scoped (ABI 10)
		logged bool
	}
	for _, c := range []signalCase{
		{id: "default", flags: 0, logged: true},
		{id: "same_exec_off", flags: sameExecOff, logged: false},
		{id: "subdomains_off", flags: subdomainsOff, logged: true},
		{id: "cross_exec_on", flags: newExecOn, logged: true},
		{id: "signal_quieted", quiet: landlock.ScopeSignal, logged: false},
	} {
		feature, abi := flagFeature(c.flags), 7
		if c.quiet != 0 {
			feature, abi = "audit.quiet_scoped", 10
		}
		attr := landlock.RulesetAttr{Scoped: landlock.ScopeSignal, QuietScoped: c.quiet}
		It(fmt.Sprintf("MUST log with %s and quiet_scoped=%s: two denied signals %s, and the domain's deallocation with denials=2 when logged",
			flagName(c.flags), spec.Bits(landlock.KindScope, c.quiet), loggedWord(c.logged)),
			spec.Feature(feature, abi), spec.Needs("audit", "root"), spec.ID("audit_flags."+c.id+".signal"), spec.Selftest("audit_test", "audit_flags.signal"), func() {
				var e *env
				if c.quiet != 0 {
					if e = requireQuiet(feature, attr); e == nil {
						return
					}
				} else {
					e = requireAuditABI()
				}
				me := os.Getpid()
				p := sandbox.Policy{Layers: []sandbox.Layer{{Attr: attr, RestrictFlags: c.flags}}}
				pid, res := runHelper(p, actions.Kill(me), actions.Kill(me))
				expectErrnos(res, unix.EPERM, unix.EPERM)
				l := e.log()
				ids := deniedSignals(l, pid)
				if !c.logged {
					Expect(ids).To(BeEmpty(), "logged denials\nrecords:\n%s", dump(l))
					Expect(l.AllocatedBy(pid)).To(BeEmpty(), "a domain that logs nothing is never logged")
					spec.EnforcedVerdict(feature, abi)
					return
				}
				Expect(ids).To(HaveLen(2), "logged denials: both signals\nrecords:\n%s", dump(l))
				Expect(ids[1]).To(Equal(ids[0]), "domain= of the second denial")
				expectAllocated(l, ids[0], pid)
				expectAllocatedWithFirstDenial(l, ids[0])
				e.waitDeallocated(ids[0], 2)
				spec.EnforcedVerdict(feature, abi)
			})
	}

	// audit_exec mirrors the selftest's wait-pipe-sandbox: the helper enforces layer 1
	// (signal scope) with the case's flags and executes a program that signals the runner
	// (layer 1 denies), enforces layer 2 (READ_DIR), signals again and opens / (layer 2
	// denies), enforces layer 3 (signal scope), opens / again and signals (layer 3 denies).
	type execLayersCase struct {
		id                     string // the selftest's variant
		flags                  uint32
		layer1, layer2, layer3 int // how many denials of each layer are logged, of 2, 2 and 1
	}
	for _, c := range []execLayersCase{
		{id: "default", flags: 0, layer1: 0, layer2: 2, layer3: 1},
		{id: "same_exec_off", flags: sameExecOff, layer1: 0, layer2: 2, layer3: 1},
		{id: "subdomains_off", flags: subdomainsOff, layer1: 0, layer2: 0, layer3: 0},
		{id: "cross_exec_on", flags: newExecOn, layer1: 2, layer2: 2, layer3: 1},
		{id: "subdomains_off_and_cross_exec_on", flags: subdomainsOff | newExecOn, layer1: 2, layer2: 0, layer3: 0},
	} {
		name := flagName(c.flags)
		if c.flags == subdomainsOff|newExecOn {
			name = "LOG_SUBDOMAINS_OFF|LOG_NEW_EXEC_ON"
		}
		feature := flagFeature(c.flags)
		if c.flags == subdomainsOff|newExecOn {
			feature = flagFeature(newExecOn)
		}
		It(fmt.Sprintf("MUST log, after execve under a domain with %s, %d of 2 denials of that domain, %d of 2 of a domain the new program adds and %d of 1 of a third one",
			name, c.layer1, c.layer2, c.layer3),
			spec.Feature(feature, 7), spec.Needs("audit", "root"), spec.ID("audit_exec."+c.id+".signal_and_open"), spec.Selftest("audit_test", "audit_exec.signal_and_open"), func() {
				e := requireAuditABI()
				me := os.Getpid()
				p := sandbox.Scoped(landlock.ScopeSignal)
				p.Layers[0].RestrictFlags = c.flags
				pid, res := runHelper(p, actions.Exec(actions.Kill(me), actions.RestrictReadDir(), actions.Kill(me), actions.OpenDir("/"), actions.Restrict(0), actions.OpenDir("/"), actions.Kill(me)))
				expectErrnos(res, unix.EPERM, 0, unix.EPERM, unix.EACCES, 0, unix.EACCES, unix.EPERM)
				l := e.log()
				Expect(deniedBy(l, pid)).To(BeEmpty(), "denials logged for the process before its execve (it had none)\nrecords:\n%s", dump(l))
				layer1 := map[audit.DomainID]bool{}
				for _, id := range l.AllocatedBy(pid) {
					layer1[id] = true
				}
				var got [3]int
				for _, ev := range l.Events {
					if ev.Syscall == nil || ev.Syscall["ppid"] != fmt.Sprint(pid) {
						continue
					}
					for _, a := range ev.Access {
						switch {
						case a.BlockerList() == "scope.signal" && a.OPid == me && layer1[a.Domain]:
							got[0]++
						case a.BlockerList() == "fs.read_dir" && a.Path != nil && a.Path.Value == "/":
							got[1]++
						case a.BlockerList() == "scope.signal" && a.OPid == me:
							got[2]++
						default:
							Fail(fmt.Sprintf("unexpected record of the executed program: %s\nrecords:\n%s", a.BlockerList(), dump(l)))
						}
					}
				}
				Expect(got).To(Equal([3]int{c.layer1, c.layer2, c.layer3}),
					"logged denials of layer 1 (before execve, %s), layer 2 and layer 3 (added by the executed program)\nrecords:\n%s", name, dump(l))
				spec.EnforcedVerdict(feature, 7)
			})
	}
})
