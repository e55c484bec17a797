package scope_test

import (
	"encoding/json"
	"fmt"
	"runtime"
	"strconv"
	"sync/atomic"

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

// idleThreads are threads of a helper that wait and report their state on request.
type idleThreads []chan chan threadState

func startIdle(n int) idleThreads {
	t := make(idleThreads, n)
	for i := range t {
		t[i] = make(chan chan threadState)
		started := make(chan struct{})
		go func(ask chan chan threadState) {
			runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
			close(started)
			for reply := range ask {
				reply <- observe()
			}
		}(t[i])
		<-started
	}
	return t
}

func (t idleThreads) observe() []threadState {
	out := make([]threadState, len(t))
	reply := make(chan threadState)
	for i, ask := range t {
		ask <- reply
		out[i] = <-reply
	}
	return out
}

func (t idleThreads) stop() {
	for _, ask := range t {
		close(ask)
	}
}

// raceReport is what the tsync-compete and tsync-interrupt helpers saw.
type raceReport struct {
	Calls   []string      `json:"calls"`   // restrict_self outcome of each calling thread
	Threads []threadState `json:"threads"` // every thread that took part, afterwards
	Signals int64         `json:"signals"` // signals sent to the caller during the call
}

// tsyncInterruptThreads is the selftest's number of idle threads: enough that the
// siblings cannot all prepare their credentials in one wave, so that the caller's wait
// for them can be interrupted.
const tsyncInterruptThreads = 200

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
	// tsync-compete: two threads call restrict_self(READ_FILE ruleset, TSYNC) at once;
	// two idle siblings and the calling thread report their state afterwards.
	sandbox.Register("tsync-compete", func([]string) ([]byte, error) {
		fd, err := readDeny()
		if err != nil {
			return nil, fmt.Errorf("create ruleset: %w", err)
		}
		defer unix.Close(fd)
		start := make(chan struct{})
		results := make([]chan error, 2)
		siblings := startIdle(2)
		defer siblings.stop()
		for i := range results {
			results[i] = make(chan error, 1)
			go func(done chan error) {
				// The racer runs on a thread of its own and leaves it restricted.
				runtime.LockOSThread()
				<-start
				done <- landlock.RestrictSelf(fd, landlock.RestrictSelfTSync)
			}(results[i])
		}
		close(start)
		var rep raceReport
		for _, r := range results {
			rep.Calls = append(rep.Calls, spec.ErrnoName(<-r))
		}
		rep.Threads = append(siblings.observe(), observe())
		return json.Marshal(rep)
	})
	// tsync-interrupt: with idle sibling threads, the calling thread enforces a READ_FILE
	// ruleset with TSYNC while another thread keeps sending it SIGUSR1, which the Go
	// runtime catches and ignores.
	sandbox.Register("tsync-interrupt", func([]string) ([]byte, error) {
		fd, err := readDeny()
		if err != nil {
			return nil, fmt.Errorf("create ruleset: %w", err)
		}
		defer unix.Close(fd)
		idle := startIdle(tsyncInterruptThreads)
		defer idle.stop()
		var stop atomic.Bool
		var sent atomic.Int64
		pid, caller := unix.Getpid(), unix.Gettid()
		signaler := make(chan struct{})
		go func() {
			runtime.LockOSThread()
			defer close(signaler)
			for !stop.Load() {
				if unix.Tgkill(pid, caller, unix.SIGUSR1) == nil {
					sent.Add(1)
				}
			}
		}()
		for sent.Load() == 0 {
			runtime.Gosched()
		}
		call := landlock.RestrictSelf(fd, landlock.RestrictSelfTSync)
		stop.Store(true)
		<-signaler
		rep := raceReport{Calls: []string{spec.ErrnoName(call)}, Signals: sent.Load()}
		rep.Threads = append(idle.observe(), observe())
		return json.Marshal(rep)
	})
	// tsync-max-layers: the calling thread enforces 16 layers, then calls restrict_self
	// with TSYNC|NO_NEW_PRIVS, one layer too many; two siblings report their state.
	sandbox.Register("tsync-max-layers", func([]string) ([]byte, error) {
		siblings := startIdle(2)
		defer siblings.stop()
		layer, err := landlock.CreateRuleset(&landlock.RulesetAttr{HandledAccessFS: landlock.AccessFSMakeBlock}, landlock.RulesetAttrSizeV1, 0)
		if err != nil {
			return nil, fmt.Errorf("create ruleset: %w", err)
		}
		defer unix.Close(layer)
		for i := 0; i < 16; i++ {
			if err := landlock.RestrictSelf(layer, 0); err != nil {
				return nil, fmt.Errorf("layer %d: %w", i+1, err)
			}
		}
		fd, err := readDeny()
		if err != nil {
			return nil, fmt.Errorf("create ruleset: %w", err)
		}
		defer unix.Close(fd)
		call := landlock.RestrictSelf(fd, landlock.RestrictSelfTSync|landlock.RestrictSelfNoNewPrivs)
		rep := raceReport{Calls: []string{spec.ErrnoName(call)}}
		rep.Threads = append(siblings.observe(), observe())
		return json.Marshal(rep)
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
		res := sandbox.Process(sandbox.Policy{}, "restrict", args...)
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
func expectAllRestricted(rep raceReport, what string) {
	GinkgoHelper()
	expectObserved(rep.Threads...)
	for _, st := range rep.Threads {
		Expect(st.Read).To(Equal("EACCES"), "thread %d: open(/proc/self/status) after %s", st.Tid, what)
	}
}

func runRace(action string) raceReport {
	GinkgoHelper()
	res := sandbox.Process(sandbox.Policy{KeepNewPrivs: true}, action)
	spec.ExpectErrno(res, nil, "%s helper", action)
	var rep raceReport
	Expect(json.Unmarshal(res.Data, &rep)).To(Succeed(), "%s helper report", action)
	return rep
}

var _ = Describe("LANDLOCK_RESTRICT_SELF_TSYNC races", spec.Feature("restrict_self.tsync", 8), spec.Needs("root"), func() {
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
			rep := runRace("tsync-compete")
			Expect(rep.Calls).To(HaveLen(2))
			for i, c := range rep.Calls {
				expectOutcome(c, nil, "racing thread %d: restrict_self(READ_FILE ruleset, TSYNC)", i+1)
			}
			expectAllRestricted(rep, "two racing TSYNC enforcements")
			spec.EnforcedVerdict(feature, 8)
		})

	It(fmt.Sprintf("MUST complete TSYNC over %d idle threads while signals interrupt the caller, restricting every thread", tsyncInterruptThreads),
		spec.ID("tsync.tsync_interrupt"), spec.Selftest("tsync_test", "tsync_interrupt"), func() {
			expectFlagKnown(landlock.RestrictSelfTSync, 8, "TSYNC")
			if !spec.Supports(8) {
				spec.FeatureVerdict(feature, 8)
				return
			}
			rep := runRace("tsync-interrupt")
			Expect(rep.Calls).To(HaveLen(1))
			Expect(rep.Signals).To(BeNumerically(">", 0), "no SIGUSR1 reached the calling thread")
			expectOutcome(rep.Calls[0], nil, "restrict_self(READ_FILE ruleset, TSYNC) with %d idle threads, %d SIGUSR1 sent to the caller", tsyncInterruptThreads, rep.Signals)
			Expect(rep.Threads).To(HaveLen(tsyncInterruptThreads + 1))
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
			rep := runRace("tsync-max-layers")
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
