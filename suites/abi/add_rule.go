package abi

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unsafe"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/sys/unix"

	"github.com/llconform/llconform/internal/landlock"
	"github.com/llconform/llconform/internal/spec"
)

// pathRule adds a path-beneath rule allowing access beneath parent.
func pathRule(rulesetFd int, access uint64, parent int, flags uint32) error {
	return landlock.AddPathBeneath(rulesetFd, landlock.PathBeneathAttr{AllowedAccess: access, ParentFd: int32(parent)}, flags)
}

var _ = suite.Describe("add_rule descriptors", func() {
	BeforeEach(spec.RequireLandlock)

	type fdCase struct {
		id   string // appended to "add_rule.ruleset_fd." or "add_rule.parent_fd."
		what string
		fd   func() int
		want error
		// ordering marks the calls of base_test's add_rule_checks_ordering.
		ordering bool
		// inval marks those fs_test's layout1.inval makes.
		inval bool
	}
	rulesetFds := []fdCase{
		{id: "closed", what: "a descriptor that is not open (EBADF)", fd: closedFd, want: unix.EBADF},
		{id: "minus_1", what: "-1 (EBADF)", fd: func() int { return -1 }, want: unix.EBADF},
		{id: "regular_file", what: "a regular file (EBADFD)", fd: func() int { return openFd(tempFile(), unix.O_RDWR) }, want: unix.EBADFD},
		{id: "directory", what: "a directory (EBADFD)", fd: func() int { return openFd(GinkgoT().TempDir(), unix.O_RDONLY|unix.O_DIRECTORY) }, want: unix.EBADFD, inval: true},
		{id: "pipe", what: "a pipe (EBADFD)", fd: pipeFd, want: unix.EBADFD},
		{id: "socket", what: "a socket (EBADFD)", fd: socketFd, want: unix.EBADFD},
		// An O_PATH descriptor is invisible to the kernel's fdget: EBADF, not EBADFD.
		{id: "o_path_ruleset", what: "an O_PATH descriptor of a ruleset (EBADF)", fd: func() int { return pathRef(fsRuleset()) }, want: unix.EBADF},
		{id: "o_path_dir", what: "an O_PATH directory (EBADF)", fd: func() int { return openFd(GinkgoT().TempDir(), unix.O_PATH|unix.O_DIRECTORY) }, want: unix.EBADF, inval: true},
	}
	for _, c := range rulesetFds {
		var selftest Labels
		if c.inval {
			selftest = spec.Selftest("fs_test", "layout1.inval")
		}
		It("MUST reject as ruleset_fd "+c.what, spec.Feature("add_rule.ruleset_fd", 1), spec.ID("add_rule.ruleset_fd."+c.id), selftest, func() {
			dir := openFd(GinkgoT().TempDir(), unix.O_PATH)
			err := pathRule(c.fd(), landlock.AccessFSExecute, dir, 0)
			spec.ExpectErr(err, c.want, "add_rule(ruleset_fd = %s, PATH_BENEATH execute beneath a directory)", c.what)
			spec.FeatureVerdict("add_rule.ruleset_fd", 1)
		})
	}

	parentFds := []fdCase{
		{id: "closed", what: "a descriptor that is not open (EBADF)", fd: closedFd, want: unix.EBADF},
		{id: "minus_1", what: "-1 (EBADF)", fd: func() int { return -1 }, want: unix.EBADF, ordering: true},
		{id: "ruleset", what: "a ruleset (EBADFD)", fd: fsRuleset, want: unix.EBADFD, inval: true},
		{id: "o_path_ruleset", what: "an O_PATH descriptor of a ruleset (EBADFD)", fd: func() int { return pathRef(fsRuleset()) }, want: unix.EBADFD},
		{id: "pipe", what: "a pipe (EBADFD)", fd: pipeFd, want: unix.EBADFD},
		{id: "socket", what: "a socket (EBADFD)", fd: socketFd, want: unix.EBADFD},
		{id: "nsfs", what: "a namespace file (EBADFD)", fd: func() int { return openFd("/proc/self/ns/net", unix.O_RDONLY) }, want: unix.EBADFD},
		{id: "o_path_dir", what: "an O_PATH directory (accepted)", fd: func() int { return openFd(GinkgoT().TempDir(), unix.O_PATH) }, want: nil, ordering: true},
		{id: "dir", what: "a directory opened for reading (accepted)", fd: func() int { return openFd(GinkgoT().TempDir(), unix.O_RDONLY|unix.O_DIRECTORY) }, want: nil, inval: true},
		{id: "o_path_file", what: "an O_PATH regular file, with a file right (accepted)", fd: func() int { return openFd(tempFile(), unix.O_PATH) }, want: nil},
	}
	for _, c := range parentFds {
		var selftest Labels
		if c.ordering {
			selftest = spec.Selftest("base_test", "add_rule_checks_ordering")
		}
		if c.inval {
			selftest = append(selftest, spec.Selftest("fs_test", "layout1.inval")...)
		}
		It("MUST handle as parent_fd "+c.what, spec.Feature("add_rule.parent_fd", 1), spec.ID("add_rule.parent_fd."+c.id), selftest, func() {
			rs := fsRuleset()
			err := pathRule(rs, landlock.AccessFSExecute, c.fd(), 0)
			spec.ExpectErr(err, c.want, "add_rule(PATH_BENEATH execute, parent_fd = %s)", c.what)
			spec.FeatureVerdict("add_rule.parent_fd", 1)
		})
	}

	It("MUST accept a dup() of a ruleset fd as ruleset_fd", spec.Feature("add_rule.ruleset_fd", 1), spec.ID("add_rule.ruleset_fd.dup"), func() {
		rs := fsRuleset()
		dup, err := unix.FcntlInt(uintptr(rs), unix.F_DUPFD_CLOEXEC, 0)
		Expect(err).NotTo(HaveOccurred(), "dup ruleset fd")
		DeferCleanup(unix.Close, dup)
		dir := openFd(GinkgoT().TempDir(), unix.O_PATH)
		spec.ExpectErr(pathRule(dup, landlock.AccessFSExecute, dir, 0), nil, "add_rule on a dup() of a ruleset fd")
		spec.FeatureVerdict("add_rule.ruleset_fd", 1)
	})
})

var _ = suite.Describe("add_rule path-beneath rights", func() {
	BeforeEach(spec.RequireLandlock)

	// Each filesystem right, in a ruleset handling it alone: a rule on a directory is
	// accepted, a rule on a regular file only for the rights that make sense on a file.
	for _, r := range landlock.FSRights {
		fileRight := r.Bit&landlock.AccessFSFileRights != 0
		on := "and on a regular file"
		if !fileRight {
			on = "and reject it on a regular file with EINVAL"
		}
		It(fmt.Sprintf("MUST accept a %s rule on a directory %s from ABI %d (below, the ruleset handling it is EINVAL)", r, on, r.ABI),
			spec.Feature(r.Feature(), r.ABI), spec.ID("add_rule.path_beneath."+r.Name), spec.Selftest("fs_test", "layout1.file_and_dir_access_rights"), func() {
				attr := landlock.RulesetAttr{HandledAccessFS: r.Bit}
				if !spec.SupportedOrRejected(r.Feature(), r.ABI, func() {
					fd, err := landlock.CreateRuleset(&attr, landlock.RulesetAttrSizeV1, 0)
					if err == nil {
						unix.Close(fd)
					}
					spec.ExpectErr(err, unix.EINVAL, "ABI %d: create_ruleset(handled_access_fs=%s)", kernelABI(), r)
				}) {
					return
				}
				fd, err := landlock.CreateRuleset(&attr, landlock.RulesetAttrSizeV1, 0)
				spec.ExpectErr(err, nil, "create_ruleset(handled_access_fs=%s)", r)
				DeferCleanup(unix.Close, fd)
				dir := openFd(GinkgoT().TempDir(), unix.O_PATH)
				spec.ExpectErr(pathRule(fd, r.Bit, dir, 0), nil, "add_rule(%s beneath a directory)", r)
				file := openFd(tempFile(), unix.O_PATH)
				wantFile := error(unix.EINVAL)
				if fileRight {
					wantFile = nil
				}
				spec.ExpectErr(pathRule(fd, r.Bit, file, 0), wantFile, "add_rule(%s on a regular file)", r)
				spec.FeatureVerdict(r.Feature(), r.ABI)
			})
	}

	It("MUST reject an empty allowed_access with ENOMSG", spec.Feature("add_rule.empty_access", 1), spec.ID("add_rule.path_beneath.empty_access"), spec.Selftest("fs_test", "layout1.inval"), func() {
		dir := openFd(GinkgoT().TempDir(), unix.O_PATH)
		spec.ExpectErr(pathRule(fsRuleset(), 0, dir, 0), unix.ENOMSG, "add_rule(PATH_BENEATH, allowed_access 0, no flags)")
		spec.FeatureVerdict("add_rule.empty_access", 1)
	})

	It("MUST reject allowed_access not a subset of handled_access_fs with EINVAL", spec.Feature("add_rule.allowed_access", 1), spec.ID("add_rule.path_beneath.not_handled"), spec.Selftest("fs_test", "layout1.inval"), func() {
		rs := newRuleset(landlock.RulesetAttr{HandledAccessFS: landlock.AccessFSExecute})
		dir := openFd(GinkgoT().TempDir(), unix.O_PATH)
		spec.ExpectErr(pathRule(rs, landlock.AccessFSReadFile, dir, 0), unix.EINVAL, "handled execute: add_rule(read_file beneath a directory)")
		spec.ExpectErr(pathRule(rs, landlock.AccessFSExecute|landlock.AccessFSReadFile, dir, 0), unix.EINVAL,
			"handled execute: add_rule(execute|read_file beneath a directory)")
		spec.ExpectErr(pathRule(rs, landlock.AccessFSExecute|1<<63, dir, 0), unix.EINVAL, "handled execute: add_rule(execute|1<<63)")
		spec.ExpectErr(pathRule(rs, landlock.AccessFSExecute, dir, 0), nil, "handled execute: add_rule(execute beneath a directory)")
		spec.FeatureVerdict("add_rule.allowed_access", 1)
	})

	// Every bit of allowed_access alone: with one right handled, only that right is
	// accepted; with every right of the kernel's ABI handled, no bit beyond them.
	It("MUST accept, bit by bit, only the handled rights in allowed_access, with one right handled and with all of the kernel's",
		spec.Feature("add_rule.allowed_access", 1), spec.ID("add_rule.path_beneath.every_other_bit"),
		spec.Selftest("fs_test", "layout1.rule_with_unhandled_access"), spec.Selftest("fs_test", "layout0.rule_with_unknown_access"), spec.Selftest("fs_test", "layout1.inval"), func() {
			requireKnownABI()
			dir := openFd(GinkgoT().TempDir(), unix.O_PATH)
			var wrong bitRuns
			for _, h := range []struct {
				what    string
				handled uint64
			}{
				{"execute", landlock.AccessFSExecute},
				{fmt.Sprintf("every right of ABI %d", kernelABI()), landlock.Mask(landlock.KindFS, kernelABI())},
			} {
				rs := newRuleset(landlock.RulesetAttr{HandledAccessFS: h.handled})
				for b := range 64 {
					bit := uint64(1) << b
					want := error(unix.EINVAL)
					if bit&h.handled != 0 {
						want = nil
					}
					if got := pathRule(rs, bit, dir, 0); !spec.IsErrno(got, want) {
						wrong.add(b, fmt.Sprintf("handled %s: got %s, want %s", h.what, spec.ErrnoName(got), spec.ErrnoName(want)))
					}
				}
			}
			if len(wrong) > 0 {
				Fail(fmt.Sprintf("add_rule(PATH_BENEATH, one bit of allowed_access, beneath a directory): %s", wrong))
			}
			spec.FeatureVerdict("add_rule.allowed_access", 1)
		})

	It("MUST reject a NULL rule_attr with EFAULT", spec.Feature("add_rule.attr", 1), spec.ID("add_rule.attr.null"), spec.Selftest("base_test", "add_rule_checks_ordering"), func() {
		err := landlock.AddRuleRaw(fsRuleset(), landlock.RulePathBeneath, nil, 0)
		spec.ExpectErr(err, unix.EFAULT, "add_rule(valid ruleset, PATH_BENEATH, NULL)")
		spec.FeatureVerdict("add_rule.attr", 1)
	})
})

var _ = suite.Describe("add_rule rule types and flags", func() {
	BeforeEach(spec.RequireLandlock)

	for _, t := range []int{0, 3, 255, -1} {
		id := fmt.Sprintf("add_rule.rule_type.%d", t)
		if t < 0 {
			id = fmt.Sprintf("add_rule.rule_type.minus_%d", -t)
		}
		It(fmt.Sprintf("MUST reject the unknown rule type %d with EINVAL", t), spec.Feature("add_rule.rule_type", 1), spec.ID(id), func() {
			requireKnownABI()
			rs := fsRuleset()
			b := [16]byte{} // large enough for any known rule attr; allowed_access 0
			*(*uint64)(unsafe.Pointer(&b[0])) = landlock.AccessFSExecute
			err := landlock.AddRuleRaw(rs, t, unsafe.Pointer(&b[0]), 0)
			spec.ExpectErr(err, unix.EINVAL, "add_rule(valid ruleset, rule type %d)", t)
			spec.FeatureVerdict("add_rule.rule_type", 1)
		})
	}

	// Bit 0 is LANDLOCK_ADD_RULE_QUIET (ABI 10, see the quiet specs); every other bit alone.
	for bit := 1; bit < 32; bit++ {
		flag := uint32(1) << bit
		It(fmt.Sprintf("MUST reject the unknown flag 1<<%d with EINVAL", bit), spec.Feature("add_rule.flags", 1), spec.ID(fmt.Sprintf("add_rule.flags.bit_%d", bit)), func() {
			requireKnownABI()
			dir := openFd(GinkgoT().TempDir(), unix.O_PATH)
			err := pathRule(fsRuleset(), landlock.AccessFSExecute, dir, flag)
			spec.ExpectErr(err, unix.EINVAL, "add_rule(valid ruleset, PATH_BENEATH execute, flags %#x)", flag)
			spec.FeatureVerdict("add_rule.flags", 1)
		})
	}
})

var _ = suite.Describe("add_rule net-port rules", func() {
	BeforeEach(spec.RequireLandlock)

	// netRuleset handles BIND_TCP where the kernel has net rights; below ABI 4 it handles
	// a filesystem right only, so a port rule is an unknown rule type there (EINVAL).
	netRuleset := func() int {
		if spec.Supports(4) {
			return newRuleset(landlock.RulesetAttr{HandledAccessNet: landlock.AccessNetBindTCP})
		}
		return fsRuleset()
	}
	cases := []struct {
		id     string // appended to "add_rule.net_port."
		what   string
		access uint64
		port   uint64
		want   error // on ABI 4 and above
		inval  bool  // a call of net_test's mini.inval
	}{
		{id: "port_0", what: "port 0 (accepted)", access: landlock.AccessNetBindTCP, port: 0, want: nil},
		{id: "port_65535", what: "port 65535 (accepted)", access: landlock.AccessNetBindTCP, port: 65535, want: nil},
		{id: "port_65536", what: "port 65536 (EINVAL)", access: landlock.AccessNetBindTCP, port: 65536, want: unix.EINVAL},
		{id: "port_1_shl_32", what: "port 1<<32 (EINVAL)", access: landlock.AccessNetBindTCP, port: 1 << 32, want: unix.EINVAL},
		{id: "port_1_shl_63", what: "port 1<<63 (EINVAL)", access: landlock.AccessNetBindTCP, port: 1 << 63, want: unix.EINVAL},
		{id: "empty_access", what: "an empty allowed_access (ENOMSG)", access: 0, port: 80, want: unix.ENOMSG, inval: true},
		{id: "empty_access_bad_port", what: "an empty allowed_access and port 65536 (ENOMSG, checked first)", access: 0, port: 65536, want: unix.ENOMSG},
		{id: "not_handled", what: "allowed_access not a subset of handled_access_net (EINVAL)", access: landlock.AccessNetBindTCP | landlock.AccessNetConnectTCP, port: 80, want: unix.EINVAL, inval: true},
		{id: "unknown_access_bit", what: "an allowed_access bit beyond the known rights (EINVAL)", access: landlock.AccessNetBindTCP | 1<<63, port: 80, want: unix.EINVAL},
	}
	for _, c := range cases {
		var selftest Labels
		if c.inval {
			selftest = spec.Selftest("net_test", "mini.inval")
		}
		It("MUST handle a port rule with "+c.what+" from ABI 4 and reject any port rule below with EINVAL",
			spec.Feature("rule.net_port", 4), spec.ID("add_rule.net_port."+c.id), selftest, func() {
				err := landlock.AddNetPort(netRuleset(), landlock.NetPortAttr{AllowedAccess: c.access, Port: c.port}, 0)
				spec.ExpectErr(err, want(4, c.want, unix.EINVAL), "ABI %d: add_rule(NET_PORT %s, port %d)",
					kernelABI(), spec.Bits(landlock.KindNet, c.access), c.port)
				spec.FeatureVerdict("rule.net_port", 4)
			})
	}

	It("MUST accept, bit by bit, only the handled rights in a port rule's allowed_access, with one right handled and with all of the kernel's, from ABI 4 (below, no port rule)",
		spec.Feature("rule.net_port", 4), spec.ID("add_rule.net_port.every_other_bit"),
		spec.Selftest("net_test", "mini.rule_with_unhandled_access"), spec.Selftest("net_test", "mini.rule_with_unknown_access"), func() {
			requireKnownABI()
			var wrong bitRuns
			handled := []struct {
				what string
				mask uint64
			}{{"bind_tcp", landlock.AccessNetBindTCP}}
			if spec.Supports(4) {
				handled = append(handled, struct {
					what string
					mask uint64
				}{fmt.Sprintf("every right of ABI %d", kernelABI()), landlock.Mask(landlock.KindNet, kernelABI())})
			}
			for _, h := range handled {
				rs := fsRuleset()
				if spec.Supports(4) {
					rs = newRuleset(landlock.RulesetAttr{HandledAccessNet: h.mask})
				}
				for b := range 64 {
					bit := uint64(1) << b
					want := error(unix.EINVAL)
					if bit&h.mask != 0 && spec.Supports(4) {
						want = nil
					}
					if got := landlock.AddNetPort(rs, landlock.NetPortAttr{AllowedAccess: bit, Port: 80}, 0); !spec.IsErrno(got, want) {
						wrong.add(b, fmt.Sprintf("handled %s: got %s, want %s", h.what, spec.ErrnoName(got), spec.ErrnoName(want)))
					}
				}
			}
			if len(wrong) > 0 {
				Fail(fmt.Sprintf("ABI %d: add_rule(NET_PORT, one bit of allowed_access, port 80): %s", kernelABI(), wrong))
			}
			spec.FeatureVerdict("rule.net_port", 4)
		})

	It("MUST reject a port rule on a ruleset that handles no network right with EINVAL", spec.Feature("rule.net_port", 4), spec.ID("add_rule.net_port.fs_only_ruleset"), func() {
		// The rule's access is not a subset of the (empty) handled net mask; below ABI 4
		// the rule type itself is unknown. EAFNOSUPPORT is only for kernels without TCP/IP.
		err := landlock.AddNetPort(fsRuleset(), landlock.NetPortAttr{AllowedAccess: landlock.AccessNetBindTCP, Port: 80}, 0)
		spec.ExpectErr(err, unix.EINVAL, "fs-only ruleset: add_rule(NET_PORT bind_tcp, port 80)")
		spec.FeatureVerdict("rule.net_port", 4)
	})
})

var _ = suite.Describe("add_rule QUIET flag", func() {
	BeforeEach(spec.RequireLandlock)

	type quietCase struct {
		id       string
		what     string
		attr     landlock.RulesetAttr
		path     bool   // a path rule (else a port rule)
		acc      uint64 // allowed_access
		want     error  // on ABI 10 and above; below, the flag is unknown (EINVAL)
		selftest string // of base_test, if any
	}
	fs := uint64(landlock.AccessFSExecute)
	net := uint64(landlock.AccessNetBindTCP)
	cases := []quietCase{
		{id: "add_rule.quiet.path", what: "a path rule on a ruleset with quiet_access_fs (accepted)",
			attr: landlock.RulesetAttr{HandledAccessFS: fs, QuietAccessFS: fs}, path: true, acc: fs, want: nil},
		{id: "add_rule.quiet.path_empty_access", what: "a path rule with an empty allowed_access on a ruleset with quiet_access_fs (accepted: it holds the flag)",
			attr: landlock.RulesetAttr{HandledAccessFS: fs, QuietAccessFS: fs}, path: true, acc: 0, want: nil},
		{id: "useless_quiet_rule_fs", what: "a path rule on a ruleset without quiet_access_fs (EINVAL)",
			attr: landlock.RulesetAttr{HandledAccessFS: fs, HandledAccessNet: net, QuietAccessNet: net}, path: true, acc: fs, want: unix.EINVAL,
			selftest: "useless_quiet_rule_fs"},
		{id: "add_rule.quiet.port", what: "a port rule on a ruleset with quiet_access_net (accepted)",
			attr: landlock.RulesetAttr{HandledAccessNet: net, QuietAccessNet: net}, path: false, acc: net, want: nil},
		{id: "add_rule.quiet.port_empty_access", what: "a port rule with an empty allowed_access on a ruleset with quiet_access_net (accepted)",
			attr: landlock.RulesetAttr{HandledAccessNet: net, QuietAccessNet: net}, path: false, acc: 0, want: nil},
		{id: "useless_quiet_rule_net", what: "a port rule on a ruleset without quiet_access_net (EINVAL)",
			attr: landlock.RulesetAttr{HandledAccessFS: fs, HandledAccessNet: net, QuietAccessFS: fs}, path: false, acc: net, want: unix.EINVAL,
			selftest: "useless_quiet_rule_net"},
	}
	for _, c := range cases {
		var selftest Labels
		if c.selftest != "" {
			selftest = spec.Selftest("base_test", c.selftest)
		}
		It("MUST handle LANDLOCK_ADD_RULE_QUIET on "+c.what+" from ABI 10 and reject the flag below with EINVAL",
			spec.Feature("add_rule.quiet", 10), spec.ID(c.id), selftest, func() {
				// Below ABI 10 the quiet fields cannot be set: the same rule goes to a
				// ruleset the kernel accepts, and only the flag is left to reject.
				attr := c.attr
				if !spec.Supports(10) {
					attr = landlock.RulesetAttr{HandledAccessFS: fs}
					if spec.Supports(4) {
						attr.HandledAccessNet = net
					}
				}
				rs := newRuleset(attr)
				var err error
				if c.path {
					err = pathRule(rs, c.acc, openFd(GinkgoT().TempDir(), unix.O_PATH), landlock.AddRuleQuiet)
				} else {
					err = landlock.AddNetPort(rs, landlock.NetPortAttr{AllowedAccess: c.acc, Port: 80}, landlock.AddRuleQuiet)
				}
				spec.ExpectErr(err, want(10, c.want, unix.EINVAL), "ABI %d: %s with QUIET: add_rule(allowed_access %#x)",
					kernelABI(), describeAttr(attr), c.acc)
				spec.FeatureVerdict("add_rule.quiet", 10)
			})
	}

	// The selftest then checks that the refused rule is not in the ruleset: a domain made
	// from it must still deny what the rule would have allowed. On every ABI, since below
	// ABI 10 the flag is unknown and the rule refused all the same.
	It("MUST leave out of the ruleset a path rule refused for its QUIET flag: READ_DIR stays denied beneath its directory",
		spec.Feature("add_rule.quiet", 10), spec.ID("useless_quiet_rule_fs.not_added"), spec.Selftest("base_test", "useless_quiet_rule_fs"), func() {
			dir := GinkgoT().TempDir()
			rs := newRuleset(landlock.RulesetAttr{HandledAccessFS: landlock.AccessFSReadDir})
			err := pathRule(rs, landlock.AccessFSReadDir, openFd(dir, unix.O_PATH), landlock.AddRuleQuiet)
			spec.ExpectErr(err, unix.EINVAL, "ABI %d: handled read_dir, no quiet_access_fs: add_rule(read_dir beneath a directory, QUIET)", kernelABI())
			var openErr error
			onThread(func() error {
				if err := setNoNewPrivs(); err != nil {
					return err
				}
				if err := landlock.RestrictSelf(rs, 0); err != nil {
					return fmt.Errorf("restrict_self(ruleset handling read_dir): %w", err)
				}
				fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
				if err == nil {
					unix.Close(fd)
				}
				openErr = err
				return nil
			})
			spec.ExpectErr(openErr, unix.EACCES, "domain from the ruleset whose QUIET rule was refused: open(O_RDONLY|O_DIRECTORY) of the rule's directory")
			spec.FeatureVerdict("add_rule.quiet", 10)
		})
})

var _ = suite.Describe("add_rule error order", func() {
	BeforeEach(spec.RequireLandlock)

	// Since 5.13 the flags come first. From the net-port refactoring (6.7, ABI 4) on, the
	// ruleset fd comes next. Below ABI 4 upstream's order changed over time: early
	// kernels checked the rule type and copied the rule attr before looking up the
	// ruleset fd, while Debian's 6.1 (ABI 2) looks up the fd first; both are upstream
	// behaviour, so below ABI 4 either answer is accepted. Within a path rule, the order
	// is: attr copy, empty access, subset of handled, then parent_fd.
	type orderCase struct {
		id   string // appended to "add_rule.order."
		what string
		call func() error
		// want returns the errnos the kernel may answer, in order of preference.
		want func() []error
		// ordering marks the calls of base_test's add_rule_checks_ordering.
		ordering bool
	}
	always := func(err error) func() []error { return func() []error { return []error{err} } }
	sinceNet := func(ok, before error) func() []error {
		return func() []error {
			if spec.Supports(4) {
				return []error{ok}
			}
			return []error{ok, before}
		}
	}
	attrPtr := func(a landlock.PathBeneathAttr) unsafe.Pointer {
		b := [12]byte{}
		*(*uint64)(unsafe.Pointer(&b[0])) = a.AllowedAccess
		*(*int32)(unsafe.Pointer(&b[8])) = a.ParentFd
		return unsafe.Pointer(&b[0])
	}
	cases := []orderCase{
		{id: "flags_before_ruleset_fd", what: "an unknown flag before a bad ruleset fd (EINVAL)",
			call: func() error {
				return landlock.AddRuleRaw(closedFd(), 0, nil, 1<<1)
			},
			want: always(unix.EINVAL), ordering: true},
		{id: "ruleset_fd_before_rule_type", what: "a bad ruleset fd before an unknown rule type (EBADF from ABI 4; EBADF or EINVAL below)",
			call: func() error {
				return landlock.AddRuleRaw(closedFd(), 0, nil, 0)
			},
			want: sinceNet(unix.EBADF, unix.EINVAL), ordering: true},
		{id: "rule_type_before_attr", what: "an unknown rule type before a NULL rule attr (EINVAL)",
			call: func() error {
				return landlock.AddRuleRaw(fsRuleset(), 0, nil, 0)
			},
			want: always(unix.EINVAL), ordering: true},
		{id: "ruleset_fd_before_attr", what: "a bad ruleset fd before a NULL rule attr (EBADF from ABI 4; EBADF or EFAULT below)",
			call: func() error {
				return landlock.AddRuleRaw(closedFd(), landlock.RulePathBeneath, nil, 0)
			},
			want: sinceNet(unix.EBADF, unix.EFAULT)},
		{id: "non_ruleset_fd_before_attr", what: "a non-ruleset fd before a NULL rule attr (EBADFD from ABI 4; EBADFD or EFAULT below)",
			call: func() error {
				return landlock.AddRuleRaw(pipeFd(), landlock.RulePathBeneath, nil, 0)
			},
			want: sinceNet(unix.EBADFD, unix.EFAULT)},
		{id: "empty_access_before_parent_fd", what: "an empty allowed_access before a bad parent fd (ENOMSG)",
			call: func() error {
				return landlock.AddRuleRaw(fsRuleset(), landlock.RulePathBeneath, attrPtr(landlock.PathBeneathAttr{ParentFd: int32(closedFd())}), 0)
			},
			want: always(unix.ENOMSG)},
		{id: "not_handled_before_parent_fd", what: "an access not handled before a bad parent fd (EINVAL)",
			call: func() error {
				return landlock.AddRuleRaw(fsRuleset(), landlock.RulePathBeneath,
					attrPtr(landlock.PathBeneathAttr{AllowedAccess: landlock.AccessFSWriteFile, ParentFd: int32(closedFd())}), 0)
			},
			want: always(unix.EINVAL)},
		{id: "ruleset_fd_with_quiet_flag", what: "a bad ruleset fd with the QUIET flag (EBADF from ABI 10; EINVAL below, where the flag is unknown)",
			call: func() error {
				return landlock.AddRuleRaw(closedFd(), landlock.RulePathBeneath, nil, landlock.AddRuleQuiet)
			},
			want: func() []error { return []error{want(10, unix.EBADF, unix.EINVAL)} }},
	}
	for _, c := range cases {
		var selftest Labels
		if c.ordering {
			selftest = spec.Selftest("base_test", "add_rule_checks_ordering")
		}
		It("MUST report "+c.what, spec.Feature("add_rule.error_order", 1), spec.ID("add_rule.order."+c.id), selftest, func() {
			got, accepted := c.call(), c.want()
			if !slices.ContainsFunc(accepted, func(w error) bool { return errors.Is(got, w) }) {
				names := make([]string, len(accepted))
				for i, w := range accepted {
					names[i] = spec.ErrnoName(w)
				}
				Fail(fmt.Sprintf("ABI %d: add_rule with %s: got %s, want %s",
					kernelABI(), c.what, spec.ErrnoName(got), strings.Join(names, " or ")))
			}
			spec.FeatureVerdict("add_rule.error_order", 1)
		})
	}
})

var _ = suite.Describe("add_rule after restrict_self", func() {
	BeforeEach(spec.RequireLandlock)

	It("MUST accept rules on a ruleset already enforced, without changing the domain it made", spec.Feature("add_rule.after_restrict", 1), spec.ID("add_rule.after_restrict"), func() {
		dir := GinkgoT().TempDir()
		file := filepath.Join(dir, "file")
		Expect(os.WriteFile(file, []byte("x"), 0o600)).To(Succeed())
		rs := newRuleset(landlock.RulesetAttr{HandledAccessFS: landlock.AccessFSReadFile})
		dirFd := openFd(dir, unix.O_PATH)

		var restrictErr, addErr, openErr error
		onThread(func() error {
			if err := setNoNewPrivs(); err != nil {
				return err
			}
			if restrictErr = landlock.RestrictSelf(rs, 0); restrictErr != nil {
				return nil
			}
			addErr = pathRule(rs, landlock.AccessFSReadFile, dirFd, 0)
			fd, err := unix.Open(file, unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err == nil {
				unix.Close(fd)
			}
			openErr = err
			return nil
		})
		spec.ExpectErr(restrictErr, nil, "restrict_self(ruleset handling read_file, no rule)")
		spec.ExpectErr(addErr, nil, "add_rule(read_file beneath the directory) after restrict_self")
		spec.ExpectErr(openErr, unix.EACCES, "domain made before the rule was added: open(O_RDONLY) beneath the directory")

		// The rule is in the ruleset: a domain made from it now allows the read, which is
		// what makes the denial above meaningful.
		var laterErr error
		onThread(func() error {
			if err := setNoNewPrivs(); err != nil {
				return err
			}
			if err := landlock.RestrictSelf(rs, 0); err != nil {
				return fmt.Errorf("restrict_self with the extended ruleset: %w", err)
			}
			fd, err := unix.Open(file, unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err == nil {
				unix.Close(fd)
			}
			laterErr = err
			return nil
		})
		spec.ExpectErr(laterErr, nil, "domain made after the rule was added: open(O_RDONLY) beneath the directory")
		spec.FeatureVerdict("add_rule.after_restrict", 1)
	})
})
