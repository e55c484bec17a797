package scope

import (
	"encoding/json"
	"fmt"
	"strconv"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/sys/unix"

	"github.com/llconform/llconform/internal/landlock"
	"github.com/llconform/llconform/internal/sandbox"
	"github.com/llconform/llconform/internal/spec"
	"github.com/llconform/llconform/suites/scope/actions"
)

// expectObserved fails the spec when a thread could not observe its own state.
func expectObserved(states ...actions.ThreadState) {
	GinkgoHelper()
	for _, st := range states {
		Expect(st.NNPErr).To(BeEmpty(), "thread %d: reading no_new_privs", st.Tid)
	}
}

func runTSync(flags uint32, priorNNP bool) actions.TSyncReport {
	GinkgoHelper()
	nnp := actions.TSyncKeepNewPrivs
	if priorNNP {
		nnp = actions.TSyncNoNewPrivs
	}
	res := sandbox.Process(sandbox.Policy{KeepNewPrivs: true}, actions.TSyncAction, strconv.FormatUint(uint64(flags), 10), nnp)
	spec.ExpectErrno(res, nil, "restrict_self(READ_FILE ruleset, flags %#x) in a helper with three sibling threads", flags)
	var rep actions.TSyncReport
	Expect(json.Unmarshal(res.Data, &rep)).To(Succeed(), "tsync helper report")
	Expect(rep.Before).To(HaveLen(3))
	Expect(rep.Siblings).To(HaveLen(3), "sibling states after the call")
	expectObserved(append(append(rep.Before, rep.Siblings...), rep.Caller)...)
	for _, st := range rep.Before {
		Expect(st.Read).To(Equal("success"), "sibling %d could not read before the call", st.Tid)
		Expect(st.NNP).To(Equal(0), "sibling %d had no_new_privs before the call", st.Tid)
	}
	return rep
}

// expectFlagKnown checks how restrict_self treats flag with ruleset_fd -1: a known flag
// reaches the ruleset lookup (EBADF), an unknown one is EINVAL. Nothing gets restricted.
func expectFlagKnown(flag uint32, abi int, name string) {
	GinkgoHelper()
	want := unix.EINVAL
	if spec.Supports(abi) {
		want = unix.EBADF
	}
	spec.ExpectErr(landlock.RestrictSelf(-1, flag), want, "ABI %d: restrict_self(-1, %s)", spec.Kernel().ABI, name)
}

var _ = suite.Describe("LANDLOCK_RESTRICT_SELF_TSYNC", spec.Feature("restrict_self.tsync", 8), func() {
	const feature = "restrict_self.tsync"
	// The helpers enforce without no_new_privs, which needs CAP_SYS_ADMIN.
	BeforeEach(func() {
		spec.RequireLandlock()
		spec.RequireRoot()
	})

	It("MUST restrict every thread of the process, including one with an earlier domain, and give them no_new_privs", spec.ID("tsync.all_threads"), spec.Selftest("tsync_test", "multi_threaded.restrict"), spec.Selftest("tsync_test", "multi_threaded_success_despite_diverging_domains"), func() {
		expectFlagKnown(landlock.RestrictSelfTSync, 8, "TSYNC")
		if !spec.Supports(8) {
			spec.FeatureVerdict(feature, 8)
			return
		}
		rep := runTSync(landlock.RestrictSelfTSync, true)
		for _, st := range append(rep.Siblings, rep.Caller) {
			Expect(st.Read).To(Equal("EACCES"), "thread %d: open(/proc/self/status) after TSYNC enforcement of a READ_FILE-denying ruleset", st.Tid)
			Expect(st.NNP).To(Equal(1), "thread %d: no_new_privs after TSYNC from a caller that had it", st.Tid)
		}
		spec.EnforcedVerdict(feature, 8)
	})

	It("MUST accept ruleset_fd -1 with TSYNC only together with LOG_SUBDOMAINS_OFF", spec.ID("tsync_without_ruleset.check"), spec.Selftest("tsync_test", "tsync_without_ruleset.check"), func() {
		expectFlagKnown(landlock.RestrictSelfTSync, 8, "TSYNC")
		if !spec.Supports(8) {
			spec.FeatureVerdict(feature, 8)
			return
		}
		const (
			tsync     = landlock.RestrictSelfTSync
			subOff    = landlock.RestrictSelfLogSubdomainsOff
			sameOff   = landlock.RestrictSelfLogSameExecOff
			newExecOn = landlock.RestrictSelfLogNewExecOn
		)
		// The selftest's variants; the one that succeeds comes last, since it changes
		// every thread of the helper.
		cases := []struct {
			name  string
			flags uint32
			want  error
		}{
			{"TSYNC", tsync, unix.EBADF},
			{"LOG_SUBDOMAINS_OFF|LOG_SAME_EXEC_OFF|TSYNC", subOff | sameOff | tsync, unix.EBADF},
			{"LOG_SUBDOMAINS_OFF|LOG_NEW_EXEC_ON|TSYNC", subOff | newExecOn | tsync, unix.EBADF},
			{"LOG_SAME_EXEC_OFF|LOG_NEW_EXEC_ON|LOG_SUBDOMAINS_OFF|TSYNC", sameOff | newExecOn | subOff | tsync, unix.EBADF},
			{"LOG_SUBDOMAINS_OFF|TSYNC", subOff | tsync, nil},
		}
		args := []string{"-1"}
		for _, c := range cases {
			args = append(args, strconv.FormatUint(uint64(c.flags), 10))
		}
		res := sandbox.Process(sandbox.Policy{}, actions.RestrictAction, args...)
		spec.ExpectErrno(res, nil, "helper calling restrict_self(-1, ...)")
		var seen []string
		Expect(json.Unmarshal(res.Data, &seen)).To(Succeed(), "restrict helper report")
		Expect(seen).To(HaveLen(len(cases)))
		for i, c := range cases {
			expectOutcome(seen[i], c.want, "restrict_self(-1, %s)", c.name)
		}
		spec.FeatureVerdict(feature, 8)
	})
})

// expectAllRestricted checks that every thread of a race report is restricted by the
// READ_FILE-denying ruleset.
func expectAllRestricted(rep actions.RaceReport, what string) {
	GinkgoHelper()
	expectObserved(rep.Threads...)
	for _, st := range rep.Threads {
		Expect(st.Read).To(Equal("EACCES"), "thread %d: open(/proc/self/status) after %s", st.Tid, what)
	}
}

func runRace(action string) actions.RaceReport {
	GinkgoHelper()
	res := sandbox.Process(sandbox.Policy{KeepNewPrivs: true}, action)
	spec.ExpectErrno(res, nil, "%s helper", action)
	var rep actions.RaceReport
	Expect(json.Unmarshal(res.Data, &rep)).To(Succeed(), "%s helper report", action)
	return rep
}

var _ = suite.Describe("LANDLOCK_RESTRICT_SELF_TSYNC races", spec.Feature("restrict_self.tsync", 8), spec.Needs("root"), func() {
	const feature = "restrict_self.tsync"
	BeforeEach(func() {
		spec.RequireLandlock()
		spec.RequireRoot()
	})

	It("MUST let two threads enforce the same ruleset with TSYNC at the same time, both succeeding", spec.ID("tsync.competing_enablement"),
		spec.Selftest("tsync_test", "competing_enablement"), func() {
			expectFlagKnown(landlock.RestrictSelfTSync, 8, "TSYNC")
			if !spec.Supports(8) {
				spec.FeatureVerdict(feature, 8)
				return
			}
			rep := runRace(actions.TSyncCompeteAction)
			Expect(rep.Calls).To(HaveLen(2))
			for i, c := range rep.Calls {
				expectOutcome(c, nil, "racing thread %d: restrict_self(READ_FILE ruleset, TSYNC)", i+1)
			}
			expectAllRestricted(rep, "two racing TSYNC enforcements")
			spec.EnforcedVerdict(feature, 8)
		})

	It(fmt.Sprintf("MUST complete TSYNC over %d idle threads while signals interrupt the caller, restricting every thread", actions.TSyncInterruptThreads),
		spec.ID("tsync.tsync_interrupt"), spec.Selftest("tsync_test", "tsync_interrupt"), func() {
			expectFlagKnown(landlock.RestrictSelfTSync, 8, "TSYNC")
			if !spec.Supports(8) {
				spec.FeatureVerdict(feature, 8)
				return
			}
			rep := runRace(actions.TSyncInterruptAction)
			Expect(rep.Calls).To(HaveLen(1))
			Expect(rep.Signals).To(BeNumerically(">", 0), "no SIGUSR1 reached the calling thread")
			expectOutcome(rep.Calls[0], nil, "restrict_self(READ_FILE ruleset, TSYNC) with %d idle threads, %d SIGUSR1 sent to the caller", actions.TSyncInterruptThreads, rep.Signals)
			Expect(rep.Threads).To(HaveLen(actions.TSyncInterruptThreads + 1))
			expectAllRestricted(rep, "TSYNC interrupted by signals")
			spec.EnforcedVerdict(feature, 8)
		})

	It("MUST refuse TSYNC|NO_NEW_PRIVS over 16 layers with E2BIG and leave every thread's no_new_privs unset",
		spec.ID("tsync.no_new_privs_max_layers"), spec.Feature("restrict_self.no_new_privs", 11), spec.Selftest("tsync_test", "multi_threaded.restrict"), func() {
			if !spec.SupportedOrRejected("restrict_self.no_new_privs", 11, func() {
				spec.ExpectErr(landlock.RestrictSelf(-1, landlock.RestrictSelfNoNewPrivs|landlock.RestrictSelfTSync), unix.EINVAL,
					"ABI %d: restrict_self(-1, TSYNC|NO_NEW_PRIVS)", spec.Kernel().ABI)
			}) {
				return
			}
			rep := runRace(actions.TSyncMaxLayersAction)
			Expect(rep.Calls).To(HaveLen(1))
			expectOutcome(rep.Calls[0], unix.E2BIG, "restrict_self(READ_FILE ruleset, TSYNC|NO_NEW_PRIVS) over 16 layers")
			expectObserved(rep.Threads...)
			for _, st := range rep.Threads {
				Expect(st.NNP).To(Equal(0), "thread %d: no_new_privs after restrict_self(TSYNC|NO_NEW_PRIVS) failed over 16 layers", st.Tid)
			}
			siblings := rep.Threads[:len(rep.Threads)-1]
			for _, st := range siblings {
				Expect(st.Read).To(Equal("success"), "sibling %d: open(/proc/self/status) after the failed TSYNC enforcement", st.Tid)
			}
			spec.FeatureVerdict("restrict_self.no_new_privs", 11)
		})
})

var _ = suite.Describe("restrict_self without TSYNC", spec.Feature("restrict_self.thread_scope", 1), func() {
	It("MUST restrict only the calling thread and leave its siblings' no_new_privs alone", spec.ID("thread_scope.caller_only"), func() {
		spec.RequireLandlock()
		spec.RequireRoot()
		rep := runTSync(0, true)
		Expect(rep.Caller.Read).To(Equal("EACCES"), "calling thread: open(/proc/self/status) after enforcing a READ_FILE-denying ruleset")
		for _, st := range rep.Siblings {
			Expect(st.Read).To(Equal("success"), "sibling %d: open(/proc/self/status) after the caller alone enforced", st.Tid)
			Expect(st.NNP).To(Equal(0), "sibling %d: no_new_privs after the caller alone set it", st.Tid)
		}
		spec.EnforcedVerdict("restrict_self.thread_scope", 1)
	})
})
