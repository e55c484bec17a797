package scope_test

import (
	"encoding/json"
	"fmt"
	"runtime"
	"strconv"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/sys/unix"

	"github.com/llconform/llconform/internal/landlock"
	"github.com/llconform/llconform/internal/sandbox"
	"github.com/llconform/llconform/internal/spec"
)

// threadState is what one thread of a helper observes of its own restrictions.
type threadState struct {
	Tid  int    `json:"tid"`
	Read string `json:"read"` // open(/proc/self/status) result: "success" or errno name
	NNP  int    `json:"nnp"`  // -1 when it could not be read
	// NNPErr is why no_new_privs could not be read: a state with it proves nothing.
	NNPErr string `json:"nnp_err,omitempty"`
}

func observe() threadState {
	st := threadState{Tid: unix.Gettid()}
	fd, err := unix.Open("/proc/self/status", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err == nil {
		unix.Close(fd)
	}
	st.Read = spec.ErrnoName(err)
	if st.NNP, err = noNewPrivs(); err != nil {
		st.NNPErr = err.Error()
	}
	return st
}

// expectObserved fails the spec when a thread could not observe its own state.
func expectObserved(states ...threadState) {
	GinkgoHelper()
	for _, st := range states {
		Expect(st.NNPErr).To(BeEmpty(), "thread %d: reading no_new_privs", st.Tid)
	}
}

type tsyncReport struct {
	Siblings []threadState `json:"siblings"` // after the call; the first had an earlier domain
	Caller   threadState   `json:"caller"`
	Before   []threadState `json:"before"`
}

// readDeny is a ruleset that denies reading files, which every thread can probe.
func readDeny() (int, error) {
	return landlock.CreateRuleset(&landlock.RulesetAttr{HandledAccessFS: landlock.AccessFSReadFile}, landlock.RulesetAttrSizeV1, 0)
}

func init() {
	// tsync: args are restrict_self flags and whether to set no_new_privs first. Three
	// sibling threads are started beforehand, the first with a domain of its own; the
	// calling thread then enforces a READ_FILE-denying ruleset with the flags, and every
	// thread reports what it can still do. It runs with KeepNewPrivs: as root it needs no
	// no_new_privs, so the specs can watch it propagate.
	sandbox.Register("tsync", func(args []string) ([]byte, error) {
		flags, err := strconv.ParseUint(args[0], 0, 32)
		if err != nil {
			return nil, err
		}
		type sibling struct {
			ask   chan struct{}
			state chan threadState
		}
		sibs := make([]sibling, 3)
		for i := range sibs {
			s := sibling{ask: make(chan struct{}), state: make(chan threadState)}
			sibs[i] = s
			ready := make(chan error)
			go func(first bool) {
				runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
				if first {
					fd, err := landlock.CreateRuleset(&landlock.RulesetAttr{HandledAccessFS: landlock.AccessFSMakeBlock}, landlock.RulesetAttrSizeV1, 0)
					if err == nil {
						err = landlock.RestrictSelf(fd, 0)
						unix.Close(fd)
					}
					ready <- err
				} else {
					ready <- nil
				}
				for range s.ask {
					s.state <- observe()
				}
			}(i == 0)
			if err := <-ready; err != nil {
				return nil, fmt.Errorf("earlier domain on a sibling: %w", err)
			}
		}
		ask := func() []threadState {
			var out []threadState
			for _, s := range sibs {
				s.ask <- struct{}{}
				out = append(out, <-s.state)
			}
			return out
		}
		rep := tsyncReport{Before: ask()}
		if args[1] == "nnp" {
			if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
				return nil, err
			}
		}
		fd, err := readDeny()
		if err != nil {
			return nil, fmt.Errorf("create ruleset: %w", err)
		}
		restrictErr := landlock.RestrictSelf(fd, uint32(flags))
		unix.Close(fd)
		rep.Siblings, rep.Caller = ask(), observe()
		data, err := json.Marshal(rep)
		if err != nil {
			return nil, err
		}
		return data, restrictErr
	})
	// restrict: calls restrict_self with ruleset fd args[0] and each of the flag sets
	// that follow, in order, and reports each errno: these calls would change every
	// thread of the runner if they succeeded.
	sandbox.Register("restrict", func(args []string) ([]byte, error) {
		fd, err := strconv.Atoi(args[0])
		if err != nil {
			return nil, err
		}
		var seen []string
		for _, a := range args[1:] {
			flags, err := strconv.ParseUint(a, 0, 32)
			if err != nil {
				return nil, err
			}
			seen = append(seen, spec.ErrnoName(landlock.RestrictSelf(fd, uint32(flags))))
		}
		return json.Marshal(seen)
	})
}

func runTSync(flags uint32, priorNNP bool) tsyncReport {
	GinkgoHelper()
	nnp := "keep"
	if priorNNP {
		nnp = "nnp"
	}
	res := sandbox.Process(sandbox.Policy{KeepNewPrivs: true}, "tsync", strconv.FormatUint(uint64(flags), 10), nnp)
	spec.ExpectErrno(res, nil, "restrict_self(READ_FILE ruleset, flags %#x) in a helper with three sibling threads", flags)
	var rep tsyncReport
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

var _ = Describe("LANDLOCK_RESTRICT_SELF_TSYNC", spec.Feature("restrict_self.tsync", 8), func() {
	const feature = "restrict_self.tsync"
	// The helpers enforce without no_new_privs, which needs CAP_SYS_ADMIN.
	BeforeEach(func() {
		spec.RequireLandlock()
		spec.RequireRoot()
	})

	It("MUST restrict every thread of the process, including one with an earlier domain, and give them no_new_privs", spec.ID("tsync.all_threads"), func() {
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

	It("MUST accept ruleset_fd -1 with TSYNC only together with LOG_SUBDOMAINS_OFF", spec.ID("tsync_without_ruleset.check"), func() {
		expectFlagKnown(landlock.RestrictSelfTSync, 8, "TSYNC")
		if !spec.Supports(8) {
			spec.FeatureVerdict(feature, 8)
			return
		}
		ok := uint32(landlock.RestrictSelfLogSubdomainsOff | landlock.RestrictSelfTSync)
		bad := ok | landlock.RestrictSelfLogSameExecOff
		res := sandbox.Process(sandbox.Policy{}, "restrict", "-1", strconv.FormatUint(uint64(bad), 10), strconv.FormatUint(uint64(ok), 10))
		spec.ExpectErrno(res, nil, "helper calling restrict_self(-1, ...)")
		var seen []string
		Expect(json.Unmarshal(res.Data, &seen)).To(Succeed(), "restrict helper report")
		Expect(seen).To(HaveLen(2))
		Expect(seen[0]).To(Equal("EBADF"), "restrict_self(-1, LOG_SUBDOMAINS_OFF|LOG_SAME_EXEC_OFF|TSYNC)")
		Expect(seen[1]).To(Equal("success"), "restrict_self(-1, LOG_SUBDOMAINS_OFF|TSYNC)")
		spec.FeatureVerdict(feature, 8)
	})
})

var _ = Describe("restrict_self without TSYNC", spec.Feature("restrict_self.thread_scope", 1), func() {
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
