package audit

import (
	"encoding/json"
	"fmt"
	"os"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/llconform/llconform/internal/audit"
	"github.com/llconform/llconform/internal/landlock"
	"github.com/llconform/llconform/internal/sandbox"
	"github.com/llconform/llconform/internal/spec"
	"github.com/llconform/llconform/suites/audit/actions"
)

const tsync = landlock.RestrictSelfTSync

// tsyncFlagName names restrict_self flags that may include TSYNC.
func tsyncFlagName(f uint32) string {
	if f&tsync == 0 {
		return flagName(f)
	}
	if f == tsync {
		return "TSYNC"
	}
	return flagName(f&^tsync) + "|TSYNC"
}

// fdName names the ruleset_fd argument of a restrict_self call.
func fdName(withRuleset bool) string {
	if withRuleset {
		return "ruleset"
	}
	return "-1"
}

// signalDenials returns the domains of the logged scope.signal denials of process pid
// (any of its threads) to target.
func signalDenials(l *audit.Log, pid, target int) []audit.DomainID {
	var ids []audit.DomainID
	for _, ev := range l.Events {
		p, ok := ev.Pid()
		for _, a := range ev.Access {
			if a.BlockerList() == "scope.signal" && a.OPid == target && ok && p == pid {
				ids = append(ids, a.Domain)
			}
		}
	}
	return ids
}

func loggedWord(logged bool) string {
	if logged {
		return "logged"
	}
	return "not logged"
}

var _ = suite.Describe("restrict_self TSYNC and LOG_SUBDOMAINS_OFF", func() {
	const feature = "restrict_self.tsync"
	type tsyncCase struct {
		id            string // the spec id: the equivalent kernel selftest
		verb          string // what the TSYNC call does to the sibling's LOG_SUBDOMAINS_OFF
		mute          bool   // the sibling sets LOG_SUBDOMAINS_OFF before its first domain
		withRuleset   bool   // the caller passes a ruleset rather than -1
		flags         uint32 // the caller's restrict_self flags
		before, after bool   // whether the sibling's denial is logged before and after the call
	}
	cases := []tsyncCase{
		{id: "audit.log_subdomains_off_tsync", verb: "propagate", mute: false, withRuleset: false, flags: subdomainsOff | tsync, before: true, after: false},
		{id: "audit.tsync_override_log_subdomains_off", verb: "clear", mute: true, withRuleset: true, flags: tsync, before: false, after: true},
	}
	for _, c := range cases {
		call := fmt.Sprintf("restrict_self(%s, %s)", fdName(c.withRuleset), tsyncFlagName(c.flags))
		It(fmt.Sprintf("MUST %s a sibling thread's LOG_SUBDOMAINS_OFF with %s: its denials %s before the call, %s in a domain it stacks after",
			c.verb, call, loggedWord(c.before), loggedWord(c.after)), spec.Feature(feature, 8), spec.Needs("audit", "root"), spec.ID(c.id), spec.Selftest("audit_test", c.id), func() {
			spec.RequireLandlock()
			if !spec.Supports(8) {
				spec.Skip("ABI %d has no TSYNC (ABI 8): its rejection (EINVAL) is checked by the specs below", spec.Kernel().ABI)
			}
			e := requireAuditABI()
			// The sibling signals the runner before the call and pid 1 after it, so
			// that each denial's record tells its phase apart.
			me := os.Getpid()
			pr := startHelper(sandbox.Policy{}, actions.TSync, actions.TSyncArgs(c.mute, c.withRuleset, c.flags, me, 1)...)
			pid := pr.Pid()
			res := pr.Wait()
			spec.ExpectErrno(res, nil, "audit-tsync helper (sibling thread, then %s, then sibling again)", call)
			var run actions.TSyncRun
			Expect(json.Unmarshal(res.Data, &run)).To(Succeed(), "audit-tsync helper report")
			if c.mute {
				Expect(run.Mute).To(Equal("success"), "sibling: restrict_self(-1, LOG_SUBDOMAINS_OFF)")
			}
			Expect(run.Restrict1).To(Equal("success"), "sibling: restrict_self(signal-scoping ruleset, no flag) before %s", call)
			Expect(run.Deny1).To(Equal("EPERM"), "sibling: kill(runner, 0) in its first domain")
			Expect(run.TSync).To(Equal("success"), "caller: %s", call)
			Expect(run.Restrict2).To(Equal("success"), "sibling: restrict_self(signal-scoping ruleset, no flag) after %s", call)
			Expect(run.Deny2).To(Equal("EPERM"), "sibling: kill(1, 0) in the domain stacked after %s", call)

			l := e.log()
			allocated := l.AllocatedBy(pid)
			for _, ph := range []struct {
				what   string
				target int
				logged bool
			}{
				{what: fmt.Sprintf("before %s (sibling muted: %v)", call, c.mute), target: me, logged: c.before},
				{what: "in the domain the sibling stacked after " + call, target: 1, logged: c.after},
			} {
				ids := signalDenials(l, pid, ph.target)
				want := 0
				if ph.logged {
					want = 1
				}
				Expect(ids).To(HaveLen(want), "logged scope.signal denials of the sibling %s: seen %d, expected %d\nrecords:\n%s",
					ph.what, len(ids), want, dump(l))
				for _, id := range ids {
					Expect(allocated).To(ContainElement(id), "domain %v of the denial %s logged as allocated by the helper (pid %d)\nrecords:\n%s",
						id, ph.what, pid, dump(l))
				}
			}
			spec.EnforcedVerdict(feature, 8)
		})
	}

	type rejectCase struct {
		id          string // the call in spec ids
		withRuleset bool
		flags       uint32
	}
	for _, c := range []rejectCase{
		{id: "no_ruleset.subdomains_off", withRuleset: false, flags: subdomainsOff | tsync},
		{id: "ruleset", withRuleset: true, flags: tsync},
		{id: "ruleset.subdomains_off", withRuleset: true, flags: subdomainsOff | tsync},
	} {
		call := fmt.Sprintf("restrict_self(%s, %s)", fdName(c.withRuleset), tsyncFlagName(c.flags))
		It(fmt.Sprintf("MUST reject %s with EINVAL below ABI 8", call), spec.Feature(feature, 8), spec.ID("tsync.below_abi8."+c.id), func() {
			spec.RequireLandlock()
			if spec.Supports(8) {
				spec.Skip("ABI %d supports TSYNC: %s is checked by the specs above", spec.Kernel().ABI, call)
			}
			res := sandbox.Process(sandbox.Policy{}, actions.RestrictCall, actions.RestrictArgs(c.withRuleset, c.flags)...)
			spec.ExpectErrno(res, nil, "audit-restrict helper calling %s", call)
			var seen string
			Expect(json.Unmarshal(res.Data, &seen)).To(Succeed(), "audit-restrict helper report")
			Expect(seen).To(Equal("EINVAL"), "ABI %d: %s: seen %s, expected EINVAL", spec.Kernel().ABI, call, seen)
			spec.FeatureVerdict(feature, 8)
		})
	}
})
