package abi

import (
	"encoding/json"
	"fmt"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/sys/unix"

	"github.com/llconform/llconform/internal/landlock"
	"github.com/llconform/llconform/internal/sandbox"
	"github.com/llconform/llconform/internal/spec"
	"github.com/llconform/llconform/suites/abi/actions"
)

// threadState is how a throwaway thread is prepared before its restrict_self calls.
type threadState int

const (
	// withNNP: no_new_privs set, the ordinary way to enforce.
	withNNP threadState = iota
	// unprivileged: neither CAP_SYS_ADMIN nor no_new_privs.
	unprivileged
	// capOnly: CAP_SYS_ADMIN (the runner is root) and no no_new_privs.
	capOnly
)

func (s threadState) String() string {
	return [...]string{"with no_new_privs", "without CAP_SYS_ADMIN nor no_new_privs", "with CAP_SYS_ADMIN, without no_new_privs"}[s]
}

// restrictResult is what a restrict_self call did on its thread.
type restrictResult struct {
	err error
	// nnp is the thread's no_new_privs after the call.
	nnp bool
}

// restrictOn prepares a throwaway thread as state, stacks layers domains from layerFd on it
// (flags 0), then calls restrict_self(fd, flags) and reads back no_new_privs.
func restrictOn(state threadState, layers, layerFd, fd int, flags uint32) restrictResult {
	GinkgoHelper()
	if state != withNNP {
		requireNewPrivs()
	}
	if state == capOnly {
		spec.RequireRoot()
	}
	var res restrictResult
	onThread(func() error {
		switch state {
		case withNNP:
			if err := setNoNewPrivs(); err != nil {
				return err
			}
		case unprivileged:
			if err := unprivilegedThread(); err != nil {
				return err
			}
		}
		for i := range layers {
			if err := landlock.RestrictSelf(layerFd, 0); err != nil {
				return fmt.Errorf("layer %d of %d: restrict_self: %w", i+1, layers, err)
			}
		}
		res.err = landlock.RestrictSelf(fd, flags)
		nnp, err := noNewPrivs()
		res.nnp = nnp
		return err
	})
	return res
}

// layerRuleset handles one filesystem right: every ABI accepts it, and a thread restricted
// by it can still do what the harness needs.
func layerRuleset() int {
	GinkgoHelper()
	return newRuleset(landlock.RulesetAttr{HandledAccessFS: landlock.AccessFSMakeBlock})
}

var _ = suite.Describe("restrict_self descriptors", func() {
	BeforeEach(spec.RequireLandlock)

	cases := []struct {
		id        string // appended to "restrict_self.ruleset_fd."
		what      string
		fd        func() int
		want      error
		selftests []string // of base_test
	}{
		{id: "closed", what: "a descriptor that is not open (EBADF)", fd: closedFd, want: unix.EBADF},
		{id: "minus_1", what: "-1 without flags (EBADF)", fd: func() int { return -1 }, want: unix.EBADF,
			selftests: []string{"restrict_self_checks_ordering", "restrict_self_flags"}},
		{id: "regular_file", what: "a regular file (EBADFD)", fd: func() int { return openFd(tempFile(), unix.O_RDWR) }, want: unix.EBADFD,
			selftests: []string{"restrict_self_fd"}},
		{id: "dev_null", what: "/dev/null (EBADFD)", fd: devNull, want: unix.EBADFD, selftests: []string{"restrict_self_fd"}},
		{id: "pipe", what: "a pipe (EBADFD)", fd: pipeFd, want: unix.EBADFD},
		{id: "o_path_ruleset", what: "an O_PATH descriptor of a ruleset (EBADF)", fd: func() int { return pathRef(layerRuleset()) }, want: unix.EBADF},
		{id: "ruleset", what: "a ruleset (accepted)", fd: layerRuleset, want: nil, selftests: []string{"restrict_self_checks_ordering"}},
	}
	for _, c := range cases {
		It("MUST handle as ruleset_fd "+c.what, spec.Feature("restrict_self.ruleset_fd", 1), spec.ID("restrict_self.ruleset_fd."+c.id), baseTests(c.selftests...), func() {
			res := restrictOn(withNNP, 0, -1, c.fd(), 0)
			spec.ExpectErr(res.err, c.want, "restrict_self(%s, 0) with no_new_privs", c.what)
			spec.FeatureVerdict("restrict_self.ruleset_fd", 1)
		})
	}
})

var _ = suite.Describe("restrict_self privileges", func() {
	BeforeEach(spec.RequireLandlock)

	It("MUST refuse a thread without CAP_SYS_ADMIN nor no_new_privs with EPERM, and accept it once no_new_privs is set",
		spec.Feature("restrict_self.privileges", 1), spec.ID("restrict_self.privileges.unprivileged"), spec.Selftest("base_test", "restrict_self_checks_ordering"), spec.Selftest("fs_test", "layout0.unpriv"), func() {
			requireNewPrivs()
			rs := layerRuleset()
			var before, after error
			onThread(func() error {
				if err := unprivilegedThread(); err != nil {
					return err
				}
				before = landlock.RestrictSelf(rs, 0)
				if err := setNoNewPrivs(); err != nil {
					return err
				}
				after = landlock.RestrictSelf(rs, 0)
				return nil
			})
			spec.ExpectErr(before, unix.EPERM, "restrict_self(ruleset, 0) without CAP_SYS_ADMIN nor no_new_privs")
			spec.ExpectErr(after, nil, "restrict_self(ruleset, 0) on the same thread once no_new_privs is set")
			spec.FeatureVerdict("restrict_self.privileges", 1)
		})

	It("MUST accept a thread with CAP_SYS_ADMIN without no_new_privs", spec.Feature("restrict_self.privileges", 1), spec.Needs("root"), spec.ID("restrict_self.privileges.cap_sys_admin"), func() {
		res := restrictOn(capOnly, 0, -1, layerRuleset(), 0)
		spec.ExpectErr(res.err, nil, "restrict_self(ruleset, 0) %s", capOnly)
		Expect(res.nnp).To(BeFalse(), "restrict_self without the NO_NEW_PRIVS flag set no_new_privs")
		spec.FeatureVerdict("restrict_self.privileges", 1)
	})

	// The privilege check comes before the ruleset lookup on every ABI. Unknown flags came
	// after it until ABI 11, whose NO_NEW_PRIVS flag must be read before the check.
	orderCases := []struct {
		id    string // appended to "restrict_self.order."
		what  string
		fd    func() int
		flags uint32
		want  func() error
	}{
		{id: "eperm_before_bad_fd", what: "a bad fd: EPERM first", fd: closedFd, flags: 0,
			want: func() error { return unix.EPERM }},
		{id: "eperm_before_log_subdomains_off", what: "-1 with LOG_SUBDOMAINS_OFF: EPERM first", fd: func() int { return -1 }, flags: landlock.RestrictSelfLogSubdomainsOff,
			want: func() error { return unix.EPERM }},
		{id: "unknown_flag_unprivileged", what: "an unknown flag: EINVAL first from ABI 11, EPERM below", fd: layerRuleset, flags: 1 << 31,
			want: func() error { return want(11, unix.EINVAL, unix.EPERM) }},
	}
	for _, c := range orderCases {
		var selftest Labels
		if c.id != "eperm_before_log_subdomains_off" {
			selftest = spec.Selftest("base_test", "restrict_self_checks_ordering")
		}
		It("MUST report, without CAP_SYS_ADMIN nor no_new_privs, "+c.what, spec.Feature("restrict_self.error_order", 1), spec.ID("restrict_self.order."+c.id), selftest, func() {
			res := restrictOn(unprivileged, 0, -1, c.fd(), c.flags)
			spec.ExpectErr(res.err, c.want(), "ABI %d: restrict_self(%s) %s", kernelABI(), c.what, unprivileged)
			spec.FeatureVerdict("restrict_self.error_order", 1)
		})
	}

	It("MUST report an unknown flag before a bad fd with EINVAL", spec.Feature("restrict_self.error_order", 1), spec.ID("restrict_self.order.flag_before_fd"), baseTests("restrict_self_checks_ordering", "restrict_self_flags"), func() {
		res := restrictOn(withNNP, 0, -1, closedFd(), 1<<31)
		spec.ExpectErr(res.err, unix.EINVAL, "restrict_self(closed fd, 1<<31) with no_new_privs")
		spec.FeatureVerdict("restrict_self.error_order", 1)
	})
})

var _ = suite.Describe("restrict_self flags", func() {
	BeforeEach(spec.RequireLandlock)

	// Bits 0-4 are the known flags; TSYNC (bit 3) is checked in a helper process below,
	// since on success it restricts every thread of the process.
	for bit := 5; bit < 32; bit++ {
		flag := uint32(1) << bit
		var selftest Labels
		if flag == landlock.RestrictSelfNoNewPrivs<<1 {
			selftest = spec.Selftest("base_test", "restrict_self_flags")
		}
		It(fmt.Sprintf("MUST reject the unknown flag 1<<%d with EINVAL", bit), spec.Feature("restrict_self.flags", 1), spec.ID(fmt.Sprintf("restrict_self.flags.bit_%d", bit)), selftest, func() {
			requireKnownABI()
			res := restrictOn(withNNP, 0, -1, layerRuleset(), flag)
			spec.ExpectErr(res.err, unix.EINVAL, "restrict_self(ruleset, %#x) with no_new_privs", flag)
			spec.FeatureVerdict("restrict_self.flags", 1)
		})
	}

	logFlags := []struct {
		name    string
		feature string
		flag    uint32
	}{
		{name: "LOG_SAME_EXEC_OFF", feature: "restrict_self.log_same_exec_off", flag: landlock.RestrictSelfLogSameExecOff},
		{name: "LOG_NEW_EXEC_ON", feature: "restrict_self.log_new_exec_on", flag: landlock.RestrictSelfLogNewExecOn},
		{name: "LOG_SUBDOMAINS_OFF", feature: "restrict_self.log_subdomains_off", flag: landlock.RestrictSelfLogSubdomainsOff},
	}
	for _, f := range logFlags {
		It(fmt.Sprintf("MUST accept %s with a ruleset from ABI 7 and reject it below with EINVAL", f.name), spec.Feature(f.feature, 7), spec.ID("restrict_self.flags."+strings.ToLower(f.name)), func() {
			res := restrictOn(withNNP, 0, -1, layerRuleset(), f.flag)
			spec.ExpectErr(res.err, want(7, nil, unix.EINVAL), "ABI %d: restrict_self(ruleset, %s)", kernelABI(), f.name)
			spec.FeatureVerdict(f.feature, 7)
		})
	}

	It("MUST accept the three LOG flags together from ABI 7 and reject them below with EINVAL",
		spec.Feature("restrict_self.log_same_exec_off", 7), spec.ID("restrict_self.flags.log_all"), func() {
			all := uint32(landlock.RestrictSelfLogSameExecOff | landlock.RestrictSelfLogNewExecOn | landlock.RestrictSelfLogSubdomainsOff)
			res := restrictOn(withNNP, 0, -1, layerRuleset(), all)
			spec.ExpectErr(res.err, want(7, nil, unix.EINVAL), "ABI %d: restrict_self(ruleset, LOG_SAME_EXEC_OFF|LOG_NEW_EXEC_ON|LOG_SUBDOMAINS_OFF)", kernelABI())
			spec.FeatureVerdict("restrict_self.log_same_exec_off", 7)
		})

	// ruleset_fd -1 is allowed with LOG_SUBDOMAINS_OFF alone (it then only changes the
	// thread's logging); with any other flag, -1 is a bad descriptor, and a descriptor
	// other than -1 must be a ruleset.
	minus1 := func() int { return -1 }
	const (
		sameExecOff   = landlock.RestrictSelfLogSameExecOff
		newExecOn     = landlock.RestrictSelfLogNewExecOn
		subdomainsOff = landlock.RestrictSelfLogSubdomainsOff
	)
	flagsCase := []string{"restrict_self_flags"}
	noRuleset := []struct {
		id        string
		what      string
		fd        func() int
		flags     uint32
		want      error    // from ABI 7; below, every LOG flag is unknown (EINVAL)
		selftests []string // of base_test
	}{
		{id: "restrict_self.log_fd.minus_1_subdomains_off", what: "-1 with LOG_SUBDOMAINS_OFF (accepted)",
			fd: minus1, flags: subdomainsOff, want: nil, selftests: flagsCase},
		{id: "restrict_self.log_fd.minus_1_same_exec_off", what: "-1 with LOG_SAME_EXEC_OFF (EBADF)",
			fd: minus1, flags: sameExecOff, want: unix.EBADF, selftests: flagsCase},
		{id: "restrict_self.log_fd.minus_1_new_exec_on", what: "-1 with LOG_NEW_EXEC_ON (EBADF)",
			fd: minus1, flags: newExecOn, want: unix.EBADF, selftests: flagsCase},
		{id: "restrict_self.log_fd.minus_1_subdomains_off_same_exec_off", what: "-1 with LOG_SUBDOMAINS_OFF|LOG_SAME_EXEC_OFF (EBADF)",
			fd: minus1, flags: subdomainsOff | sameExecOff, want: unix.EBADF, selftests: flagsCase},
		{id: "restrict_self.log_fd.minus_1_subdomains_off_new_exec_on", what: "-1 with LOG_SUBDOMAINS_OFF|LOG_NEW_EXEC_ON (EBADF)",
			fd: minus1, flags: subdomainsOff | newExecOn, want: unix.EBADF, selftests: flagsCase},
		{id: "restrict_self.log_fd.minus_1_same_exec_off_new_exec_on", what: "-1 with LOG_SAME_EXEC_OFF|LOG_NEW_EXEC_ON (EBADF)",
			fd: minus1, flags: sameExecOff | newExecOn, want: unix.EBADF, selftests: flagsCase},
		{id: "restrict_self.log_fd.minus_2_subdomains_off", what: "-2 with LOG_SUBDOMAINS_OFF (EBADF)",
			fd: func() int { return -2 }, flags: subdomainsOff, want: unix.EBADF, selftests: flagsCase},
		{id: "restrict_self.log_fd.closed_subdomains_off", what: "a closed fd other than -1 with LOG_SUBDOMAINS_OFF (EBADF)",
			fd: closedFd, flags: subdomainsOff, want: unix.EBADF},
		{id: "restrict_self_fd_flags.log_subdomains_off", what: "/dev/null with LOG_SUBDOMAINS_OFF (EBADFD)",
			fd: devNull, flags: subdomainsOff, want: unix.EBADFD, selftests: []string{"restrict_self_fd_flags"}},
	}
	for _, c := range noRuleset {
		It(fmt.Sprintf("MUST handle %s from ABI 7 and reject it below with EINVAL", c.what),
			spec.Feature("restrict_self.log_subdomains_off", 7), spec.ID(c.id), baseTests(c.selftests...), func() {
				res := restrictOn(withNNP, 0, -1, c.fd(), c.flags)
				spec.ExpectErr(res.err, want(7, c.want, unix.EINVAL), "ABI %d: restrict_self(%s)", kernelABI(), c.what)
				spec.FeatureVerdict("restrict_self.log_subdomains_off", 7)
			})
	}
})

var _ = suite.Describe("restrict_self NO_NEW_PRIVS flag", func() {
	BeforeEach(spec.RequireLandlock)

	// no_new_privs must be set if and only if the call succeeds: so on every failing call,
	// including one that fails after the ruleset was looked up (E2BIG at the 17th layer),
	// the thread must still be without it.
	const nnp = landlock.RestrictSelfNoNewPrivs
	cases := []struct {
		id        string
		what      string
		state     threadState
		layers    int
		fd        func() int
		flags     uint32
		want      error    // from ABI 11
		selftests []string // of base_test
	}{
		{id: "restrict_self.no_new_privs.unprivileged", what: "a ruleset, without CAP_SYS_ADMIN nor no_new_privs (accepted, sets no_new_privs)",
			state: unprivileged, layers: 0, fd: layerRuleset, flags: nnp, want: nil, selftests: []string{"restrict_self_no_new_privs"}},
		{id: "restrict_self.no_new_privs.cap_sys_admin", what: "a ruleset, with CAP_SYS_ADMIN (accepted, sets no_new_privs)",
			state: capOnly, layers: 0, fd: layerRuleset, flags: nnp, want: nil},
		{id: "restrict_self.no_new_privs.bad_fd", what: "a bad fd (EBADF, no_new_privs left unset)",
			state: unprivileged, layers: 0, fd: closedFd, flags: nnp, want: unix.EBADF},
		{id: "restrict_self.no_new_privs.minus_1", what: "-1 (EBADF, no_new_privs left unset)",
			state: unprivileged, layers: 0, fd: func() int { return -1 }, flags: nnp, want: unix.EBADF,
			selftests: []string{"restrict_self_checks_ordering", "restrict_self_flags", "restrict_self_no_new_privs"}},
		{id: "restrict_self.no_new_privs.minus_1_log_subdomains_off", what: "-1 and LOG_SUBDOMAINS_OFF (EBADF, no_new_privs left unset)",
			state: unprivileged, layers: 0, fd: func() int { return -1 }, flags: nnp | landlock.RestrictSelfLogSubdomainsOff, want: unix.EBADF,
			selftests: []string{"restrict_self_flags"}},
		{id: "restrict_self_fd_flags.no_new_privs", what: "/dev/null (EBADFD, no_new_privs left unset)",
			state: unprivileged, layers: 0, fd: devNull, flags: nnp, want: unix.EBADFD, selftests: []string{"restrict_self_fd_flags"}},
		{id: "restrict_self.no_new_privs.unknown_flag", what: "an unknown flag (EINVAL, no_new_privs left unset)",
			state: unprivileged, layers: 0, fd: layerRuleset, flags: nnp | 1<<31, want: unix.EINVAL},
		{id: "restrict_self.no_new_privs.layer_17", what: "a 17th layer (E2BIG, no_new_privs left unset)",
			state: capOnly, layers: 16, fd: layerRuleset, flags: nnp, want: unix.E2BIG, selftests: []string{"restrict_self_max_layers"}},
	}
	for _, c := range cases {
		It("MUST handle NO_NEW_PRIVS with "+c.what+" from ABI 11 and reject it below",
			spec.Feature("restrict_self.no_new_privs", 11), spec.ID(c.id), baseTests(c.selftests...), func() {
				fd := c.fd()
				res := restrictOn(c.state, c.layers, fd, fd, c.flags)
				// Below ABI 11 the flag is unknown, but the privilege check came first
				// there: EPERM for a thread that has neither CAP_SYS_ADMIN nor
				// no_new_privs, EINVAL otherwise.
				below := error(unix.EINVAL)
				if c.state == unprivileged {
					below = unix.EPERM
				}
				wantErr := want(11, c.want, below)
				spec.ExpectErr(res.err, wantErr, "ABI %d: restrict_self(%s) %s after %d layers", kernelABI(), c.what, c.state, c.layers)
				Expect(res.nnp).To(Equal(wantErr == nil),
					"no_new_privs after restrict_self(%s) returned %s: must be set if and only if the call succeeds",
					c.what, spec.ErrnoName(res.err))
				spec.FeatureVerdict("restrict_self.no_new_privs", 11)
			})
	}
})

var _ = suite.Describe("restrict_self layers", func() {
	BeforeEach(spec.RequireLandlock)

	It("MUST accept 16 nested layers from one ruleset fd and reject the 17th with E2BIG", spec.Feature("restrict_self.layers", 1), spec.ID("restrict_self_max_layers"), spec.Selftest("base_test", "restrict_self_max_layers"), func() {
		rs := layerRuleset()
		var errs []error
		var logOnly error
		onThread(func() error {
			if err := setNoNewPrivs(); err != nil {
				return err
			}
			for range 17 {
				errs = append(errs, landlock.RestrictSelf(rs, 0))
			}
			if spec.Supports(7) {
				// Adds no layer: allowed even at the limit.
				logOnly = landlock.RestrictSelf(-1, landlock.RestrictSelfLogSubdomainsOff)
			}
			return nil
		})
		Expect(errs).To(HaveLen(17))
		for i, err := range errs[:16] {
			spec.ExpectErr(err, nil, "restrict_self number %d of the same ruleset on one thread", i+1)
		}
		spec.ExpectErr(errs[16], unix.E2BIG, "restrict_self number 17 on one thread")
		if spec.Supports(7) {
			spec.ExpectErr(logOnly, nil, "restrict_self(-1, LOG_SUBDOMAINS_OFF) with 16 layers")
		}
		spec.FeatureVerdict("restrict_self.layers", 1)
	})
})

var _ = suite.Describe("restrict_self TSYNC flag", Ordered, ContinueOnFailure, func() {
	var errnos []int
	BeforeAll(func() {
		spec.RequireLandlock()
		res := sandbox.Process(sandbox.Policy{}, actions.TSync)
		Expect(res.Setup).NotTo(HaveOccurred(), "TSYNC helper process")
		Expect(res.Err).NotTo(HaveOccurred(), "TSYNC helper action")
		Expect(json.Unmarshal(res.Data, &errnos)).To(Succeed(), "TSYNC helper result")
		Expect(errnos).To(HaveLen(len(actions.TSyncCases)))
	})
	for i, c := range actions.TSyncCases {
		It(fmt.Sprintf("MUST handle %s from ABI 8 and reject TSYNC below with EINVAL", c.What), spec.Feature("restrict_self.tsync", 8), spec.ID("restrict_self.tsync."+c.ID), func() {
			var got error
			if errnos[i] != 0 {
				got = unix.Errno(errnos[i])
			}
			spec.ExpectErr(got, want(8, c.Want, unix.EINVAL), "ABI %d: restrict_self(%s) in a helper process with no_new_privs", kernelABI(), c.What)
			spec.FeatureVerdict("restrict_self.tsync", 8)
		})
	}
})
