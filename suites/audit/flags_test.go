package audit_test

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

var _ = Describe("restrict_self log flags", func() {
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
			flagName(c.flags), c.sameExec, c.afterExe), spec.Feature(flagFeature(c.flags), 7), spec.Needs("audit", "root"), spec.ID("log.exec."+c.id), func() {
			e := requireAuditABI()
			me := os.Getpid()
			p := sandbox.Scoped(landlock.ScopeSignal)
			p.Layers[0].RestrictFlags = c.flags
			// Denied: by the helper and by its forked child (same executable), both
			// signalling the runner, and by the helper's executed child (a new
			// executable), signalling pid 1 so that its record tells itself apart.
			pid, res := runHelper(p, kill(me), forkKill(me), execSteps(kill(1)))
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
			pid, res := runHelper(sandbox.Policy{}, restrict(subdomainsOff), kill(me), restrict(0), kill(me), forkRestrictKill(me))
			expectErrnos(res, 0, unix.EPERM, 0, unix.EPERM, unix.EPERM)
			l := e.log()
			ids := deniedSignals(l, pid)
			Expect(ids).To(HaveLen(1), "logged denials: only the first, by the domain that set the flag\nrecords:\n%s", dump(l))
			Expect(l.AllocatedBy(pid)).To(Equal(ids), "domains logged")
			spec.EnforcedVerdict("restrict_self.log_subdomains_off", 7)
		})

	It("MUST accept LOG_SUBDOMAINS_OFF with ruleset_fd -1 and inherit it through fork and nesting",
		spec.Feature("restrict_self.log_subdomains_off", 7), spec.Needs("audit", "root"), spec.ID("audit.log_subdomains_off_fork"), func() {
			e := requireAuditABI()
			me := os.Getpid()
			// The helper has no domain: the flag alone is set, then a domain is
			// created by the helper itself and by a forked child.
			pid, res := runHelper(sandbox.Policy{}, restrictNoRuleset(subdomainsOff), forkRestrictKill(me), restrict(0), kill(me))
			expectErrnos(res, 0, unix.EPERM, 0, unix.EPERM)
			l := e.log()
			Expect(signalsTo(l, me)).To(BeEmpty(), "denials logged after restrict_self(-1, LOG_SUBDOMAINS_OFF)\nrecords:\n%s", dump(l))
			Expect(l.AllocatedBy(pid)).To(BeEmpty(), "domains logged after restrict_self(-1, LOG_SUBDOMAINS_OFF)")
			// Control: without the flag, the same sequence logs both denials.
			pid, res = runHelper(sandbox.Policy{}, forkRestrictKill(me), restrict(0), kill(me))
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
})
