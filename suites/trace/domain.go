package trace

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/sys/unix"

	"github.com/llconform/llconform/internal/landlock"
	"github.com/llconform/llconform/internal/sandbox"
	"github.com/llconform/llconform/internal/spec"
	"github.com/llconform/llconform/internal/tracefs"
	"github.com/llconform/llconform/suites/trace/actions"
)

// anyDomain is a policy creating a domain on any ABI, restricting nothing the specs do: it
// handles making block devices.
var anyDomain = sandbox.FS(landlock.AccessFSMakeBlock)

// anyRuleset creates a ruleset for anyDomain in the runner.
func anyRuleset() int {
	GinkgoHelper()
	return createRuleset(landlock.RulesetAttr{HandledAccessFS: landlock.AccessFSMakeBlock})
}

// restrictCall is one landlock_restrict_self call of a forked child.
type restrictCall struct {
	fd    int
	flags uint32
}

// forkRestrict forks a single-threaded child with a raw clone (a Go program may run nothing
// but raw system calls in a forked child): it sets no_new_privs when nnp is set, makes up to
// two restrict_self calls in order and exits 0, or with the errno of the first call that
// failed (255 when prctl failed). It returns the child's pid and exit status.
func forkRestrict(nnp bool, calls ...restrictCall) (int, int) {
	GinkgoHelper()
	Expect(len(calls)).To(BeNumerically("<=", 2))
	var fds, flags [2]uintptr
	for i, c := range calls {
		fds[i], flags[i] = uintptr(c.fd), uintptr(c.flags)
	}
	n, setNNP := len(calls), nnp
	child, _, e := unix.RawSyscall6(unix.SYS_CLONE, uintptr(unix.SIGCHLD), 0, 0, 0, 0, 0)
	if e == 0 && child == 0 {
		if setNNP {
			if _, _, e := unix.RawSyscall6(unix.SYS_PRCTL, unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0, 0); e != 0 {
				unix.RawSyscall(unix.SYS_EXIT_GROUP, 255, 0, 0)
			}
		}
		for i := 0; i < n; i++ {
			if _, _, e := unix.RawSyscall(unix.SYS_LANDLOCK_RESTRICT_SELF, fds[i], flags[i], 0); e != 0 {
				unix.RawSyscall(unix.SYS_EXIT_GROUP, uintptr(e), 0, 0)
			}
		}
		unix.RawSyscall(unix.SYS_EXIT_GROUP, 0, 0, 0)
	}
	Expect(e).To(BeZero(), "clone")
	var ws unix.WaitStatus
	_, err := unix.Wait4(int(child), &ws, 0, nil)
	Expect(err).NotTo(HaveOccurred(), "wait for the forked child")
	Expect(ws.Exited()).To(BeTrue(), "forked child ended with %v", ws)
	return int(child), ws.ExitStatus()
}

// restrictFlagNames names restrict_self flags for spec texts.
func restrictFlagNames(f uint32) string {
	if f == 0 {
		return "no flag"
	}
	names := []struct {
		bit  uint32
		name string
	}{{landlock.RestrictSelfLogSameExecOff, "LOG_SAME_EXEC_OFF"}, {landlock.RestrictSelfLogNewExecOn, "LOG_NEW_EXEC_ON"},
		{landlock.RestrictSelfLogSubdomainsOff, "LOG_SUBDOMAINS_OFF"}, {landlock.RestrictSelfTSync, "TSYNC"}, {landlock.RestrictSelfNoNewPrivs, "NO_NEW_PRIVS"}}
	var s string
	for _, n := range names {
		if f&n.bit != 0 {
			if s != "" {
				s += "|"
			}
			s += n.name
		}
	}
	return s
}

func bit(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

var _ = suite.Describe("landlock_create_domain", func() {
	It("MUST fire once per domain, with a new non-zero id, parent 0 outside any domain and the ruleset's id and version, the id the other events use",
		spec.ID("create_domain"), feature("trace.create_domain", 1), spec.Selftest("trace_test", "trace.create_domain"), func() {
			if !requireEvents("trace.create_domain", 1) {
				return
			}
			dir := tempDir()
			var tid int
			onThread(func() error {
				tid = unix.Gettid()
				if err := enforce(sandbox.FS(landlock.AccessFSReadDir, sandbox.PathRule{Path: dir, Access: landlock.AccessFSReadDir})); err != nil {
					return err
				}
				return expectErr(actions.OpenDir(dir), nil, "open(%s) beneath its READ_DIR rule", dir)
			})
			evs := readEvents()
			rs := evs.createdRuleset("create_ruleset(READ_DIR)")
			e := evs.one("create_domain", "restrict_self")
			d := hexOf(e, "domain")
			Expect(d).NotTo(BeZero(), "domain id")
			Expect(d).NotTo(Equal(rs), "the domain's id is the ruleset's")
			Expect(e.PID).To(Equal(tid), "create_domain fires in the restricting thread's context")
			expectFields(e, "the first domain of a thread outside any domain", "parent", "0", "ruleset", id(rs)+".1")
			expectFields(evs.one("enforce_domain", "restrict_self"), "the domain enforced", "domain", id(d))
			expectFields(evs.one("check_rule_inode", "open beneath the rule"), "the rule matched", "domain", id(d))
			works("trace.create_domain", 1)
		})

	It("MUST give a nested domain its parent's id", spec.ID("create_domain_nested"), feature("trace.create_domain", 1),
		spec.Selftest("trace_test", "trace.create_domain_nested"), func() {
			if !requireEvents("trace.create_domain", 1) {
				return
			}
			onThread(func() error { return enforce(anyDomain.Then(anyDomain)) })
			evs := readEvents()
			created := evs.count("create_domain", 2, "two nested restrict_self")
			rulesets := evs.count("create_ruleset", 2, "two rulesets")
			outer, inner := hexOf(created[0], "domain"), hexOf(created[1], "domain")
			Expect(inner).NotTo(Equal(outer), "nested domains with one id")
			expectFields(created[0], "outer domain", "parent", "0", "ruleset", id(rulesetOf(rulesets[0], "ruleset").ID)+".0")
			expectFields(created[1], "nested domain", "parent", id(outer), "ruleset", id(rulesetOf(rulesets[1], "ruleset").ID)+".0")
			works("trace.create_domain", 1)
		})

	It("MUST NOT fire for a restrict_self call the kernel rejects", spec.ID("create_domain_invalid"), feature("trace.create_domain", 1),
		spec.Selftest("trace_test", "trace.create_domain_invalid"), func() {
			if !requireEvents("trace.create_domain", 1) {
				return
			}
			fd := anyRuleset()
			var p [2]int
			Expect(unix.Pipe2(p[:], unix.O_CLOEXEC)).To(Succeed())
			DeferCleanup(unix.Close, p[0])
			DeferCleanup(unix.Close, p[1])
			clearEvents()
			onThread(func() error {
				if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
					return err
				}
				for _, c := range []struct {
					fd    int
					flags uint32
					want  unix.Errno
					what  string
				}{
					{-1, 0, unix.EBADF, "ruleset_fd -1"},
					{fd, 1 << 31, unix.EINVAL, "an unknown flag"},
					{p[0], 0, unix.EBADFD, "a pipe"},
				} {
					if err := expectErr(landlock.RestrictSelf(c.fd, c.flags), c.want, "restrict_self(%s)", c.what); err != nil {
						return err
					}
				}
				return nil
			})
			evs := readEvents()
			evs.count("create_domain", 0, "rejected restrict_self calls")
			evs.count("enforce_domain", 0, "rejected restrict_self calls")
			works("trace.create_domain", 1)
		})
})

var _ = suite.Describe("landlock_enforce_domain", func() {
	type enforceCase struct {
		id  string
		abi int
		// how: "thread", a thread of the (multi-threaded) runner; "fork", a single-threaded
		// child; "helper", a helper process with several threads.
		how   string
		flags uint32
		prctl bool // no_new_privs set by prctl before the call; else root's CAP_SYS_ADMIN
		// What every enforce_domain event must say.
		processWide, noNewPrivs bool
	}
	tsync, nnpFlag := uint32(landlock.RestrictSelfTSync), uint32(landlock.RestrictSelfNoNewPrivs)
	for _, c := range []enforceCase{
		{id: "single", abi: 1, how: "fork", prctl: true, processWide: true, noNewPrivs: true},
		{id: "no_new_privs", abi: 11, how: "fork", flags: nnpFlag, processWide: true, noNewPrivs: true},
		{id: "cap_sys_admin", abi: 1, how: "fork", processWide: true, noNewPrivs: false},
		{id: "tsync_single", abi: 8, how: "fork", flags: tsync, prctl: true, processWide: true, noNewPrivs: true},
		{id: "multithread_non_tsync", abi: 1, how: "thread", prctl: true, processWide: false, noNewPrivs: true},
		{id: "tsync_multithread", abi: 8, how: "helper", flags: tsync, prctl: true, processWide: true, noNewPrivs: true},
		{id: "tsync_no_new_privs", abi: 11, how: "helper", flags: tsync | nnpFlag, processWide: true, noNewPrivs: true},
		{id: "tsync_cap_sys_admin", abi: 8, how: "helper", flags: tsync, processWide: true, noNewPrivs: false},
	} {
		how := map[string]string{"fork": "a single-threaded process", "thread": "a thread of a multi-threaded process", "helper": "a multi-threaded process"}[c.how]
		nnpHow := "no_new_privs set by prctl"
		switch {
		case c.flags&nnpFlag != 0:
			nnpHow = "no_new_privs set by the flag"
		case !c.prctl:
			nnpHow = "no no_new_privs, as root"
		}
		It(fmt.Sprintf("MUST fire once per thread enforced, once with complete=1, with process_wide=%s and no_new_privs=%s (%s, %s, %s)",
			bit(c.processWide), bit(c.noNewPrivs), how, restrictFlagNames(c.flags), nnpHow),
			spec.ID("trace_enforce.enforce."+c.id), feature("trace.enforce_domain", c.abi), spec.Selftest("trace_test", "trace_enforce.enforce"), func() {
				if !requireEvents("trace.enforce_domain", c.abi) {
					return
				}
				// caller is the thread whose restrict_self concludes the operation;
				// threads, the threads that must each get one event.
				var caller int
				var threads []int
				switch c.how {
				case "fork":
					fd := anyRuleset()
					var status int
					caller, status = forkRestrict(c.prctl, restrictCall{fd, c.flags})
					Expect(status).To(BeZero(), "restrict_self(%s) in a forked child: exit status (errno) %d", restrictFlagNames(c.flags), status)
					threads = []int{caller}
				case "thread":
					onThread(func() error {
						caller = unix.Gettid()
						return enforce(anyDomain)
					})
					threads = []int{caller}
				case "helper":
					res := sandbox.Process(sandbox.Policy{KeepNewPrivs: !c.prctl}, actions.TSync, actions.TSyncArgs(c.flags)...)
					Expect(res.Setup).NotTo(HaveOccurred(), "trace-tsync helper")
					Expect(res.Err).NotTo(HaveOccurred(), "trace-tsync helper")
					var rep actions.TSyncReport
					Expect(json.Unmarshal(res.Data, &rep)).To(Succeed())
					Expect(rep.Errno).To(BeZero(), "restrict_self(%s) in the helper: %s", restrictFlagNames(c.flags), unix.Errno(rep.Errno))
					caller = rep.Caller
					for _, t := range rep.Before {
						if slices.Contains(rep.After, t) {
							threads = append(threads, t)
						}
					}
					Expect(len(threads)).To(BeNumerically(">=", 4), "the helper's threads: the caller and three parked ones at least")
				}
				evs := readEvents()
				d := evs.oneDomain("restrict_self(%s)", restrictFlagNames(c.flags))
				enforced := evs.named("enforce_domain")
				for _, t := range threads {
					mine := enforced.with("domain", id(d)).filter(func(e tracefs.Event) bool { return e.PID == t })
					if len(mine) != 1 {
						Fail(fmt.Sprintf("thread %d: %d enforce_domain events of domain %x in its context, want 1\ntrace:\n%s", t, len(mine), d, evs))
					}
				}
				Expect(enforced).To(HaveLen(len(threads)), "enforce_domain events: one per thread enforced\ntrace:\n%s", evs)
				for _, e := range enforced {
					expectFields(e, fmt.Sprintf("thread %d", e.PID), "domain", id(d), "complete", bit(e.PID == caller),
						"process_wide", bit(c.processWide), "no_new_privs", bit(c.noNewPrivs))
				}
				works("trace.enforce_domain", c.abi)
			})
	}

	It("MUST say process_wide=0 for the only live thread of a process whose leader lingers as a zombie", spec.ID("enforce_single_non_leader"),
		feature("trace.enforce_domain", 1), spec.Selftest("trace_test", "trace.enforce_single_non_leader"), func() {
			if !requireEvents("trace.enforce_domain", 1) {
				return
			}
			fd := anyRuleset()
			pid, status, err := ForkNonLeader(fd)
			if errors.Is(err, ErrNonLeaderUnsupported) {
				spec.Skip("%v", err)
			}
			Expect(err).NotTo(HaveOccurred())
			Expect(status).To(BeZero(), "restrict_self in the non-leader thread: exit status (errno) %d", status)
			evs := readEvents()
			d := evs.oneDomain("restrict_self in a non-leader thread")
			e := evs.one("enforce_domain", "restrict_self in a non-leader thread")
			Expect(e.PID).NotTo(Equal(pid), "enforce_domain in the leader's context, not the second thread's")
			// The zombie leader still counts as a thread of the process: not single-threaded.
			expectFields(e, "the only live thread, a non-leader", "domain", id(d), "complete", "1", "process_wide", "0", "no_new_privs", "1")
			works("trace.enforce_domain", 1)
		})

	It("MUST NOT fire, nor create_domain, for restrict_self without a ruleset (the log flags only)", spec.ID("enforce_flags_only"),
		feature("trace.enforce_domain", 7), spec.Selftest("trace_test", "trace.enforce_flags_only"), func() {
			if !requireEvents("trace.enforce_domain", 7) {
				return
			}
			calls := []restrictCall{{-1, landlock.RestrictSelfLogSubdomainsOff}}
			if spec.Supports(8) {
				calls = append(calls, restrictCall{-1, landlock.RestrictSelfLogSubdomainsOff | landlock.RestrictSelfTSync})
			}
			_, status := forkRestrict(true, calls...)
			Expect(status).To(BeZero(), "restrict_self(-1, LOG_SUBDOMAINS_OFF[|TSYNC]) in a forked child: exit status (errno) %d", status)
			evs := readEvents()
			evs.count("create_domain", 0, "restrict_self with ruleset_fd -1")
			evs.count("enforce_domain", 0, "restrict_self with ruleset_fd -1")
			works("trace.enforce_domain", 7)
		})
})

var _ = suite.Describe("landlock_free_domain", func() {
	It("MUST fire once per domain freed, with the number of its denials, logged or not", spec.ID("free_domain"), feature("trace.free_domain", 1),
		spec.Selftest("trace_test", "trace.free_domain"), spec.Selftest("trace_test", "trace.non_audit_visible_denial_counting"), func() {
			if !requireEvents("trace.free_domain", 1) {
				return
			}
			// A kernel worker frees domains: the pid filter would hide its events.
			Expect(tracing.inst.Unfollow()).To(Succeed())
			DeferCleanup(func() { Expect(tracing.inst.FollowProcess()).To(Succeed(), "follow this process again") })
			base := tempDir()
			denied := mkdirs(base, "denied")[0]
			policy := sandbox.FS(landlock.AccessFSReadDir)
			type domainCase struct {
				what    string
				denials int
				exec    bool // the denial comes from an executed child, unlogged
				tid     int
			}
			cases := []*domainCase{
				{what: "a domain that denied nothing", denials: 0},
				{what: "a domain that denied once", denials: 1},
				{what: "a domain that denied three times", denials: 3},
				{what: "a domain whose only denial came after execve (not logged)", denials: 1, exec: true},
			}
			for _, c := range cases {
				onThread(func() error {
					c.tid = unix.Gettid()
					if err := enforce(policy); err != nil {
						return err
					}
					if c.exec {
						res := sandbox.Process(sandbox.Policy{}, actions.Opendir, denied)
						if res.Setup != nil {
							return res.Setup
						}
						return expectErr(res.Err, unix.EACCES, "executed child: open(%s)", denied)
					}
					for range c.denials {
						if err := expectErr(actions.OpenDir(denied), unix.EACCES, "open(%s)", denied); err != nil {
							return err
						}
					}
					return nil
				})
			}
			// Without the pid filter, other processes' events may be there too: each case's
			// domain is the one its thread created.
			evs := readEvents()
			domains := map[*domainCase]uint64{}
			for _, c := range cases {
				created := evs.named("create_domain").filter(func(e tracefs.Event) bool { return e.PID == c.tid })
				if len(created) != 1 {
					Fail(fmt.Sprintf("%s: %d create_domain events in thread %d, want 1\ntrace:\n%s", c.what, len(created), c.tid, evs))
				}
				domains[c] = hexOf(created[0], "domain")
			}
			execd := cases[3]
			e := evs.named("deny_access_fs").with("domain", id(domains[execd])).one("deny_access_fs", "%s", execd.what)
			expectFields(e, execd.what, "same_exec", "0", "logged", "0")
			// The threads are gone; their domains go once the kernel worker runs. Reading
			// consumes the events: they are gathered until every domain's free is there.
			deadline := time.Now().Add(10 * time.Second)
			for {
				evs = append(evs, readEventsQuietly()...)
				missing := 0
				for _, c := range cases {
					if len(evs.named("free_domain").with("domain", id(domains[c]))) == 0 {
						missing++
					}
				}
				if missing == 0 {
					break
				}
				if time.Now().After(deadline) {
					Fail(fmt.Sprintf("%d of %d domains not freed 10s after their threads ended\ntrace:\n%s", missing, len(cases), evs.named("free_domain")))
				}
				time.Sleep(20 * time.Millisecond)
			}
			for _, c := range cases {
				e := evs.named("free_domain").with("domain", id(domains[c])).one("free_domain", "%s", c.what)
				expectFields(e, c.what, "denials", fmt.Sprint(c.denials))
			}
			works("trace.free_domain", 1)
		})
})
