package trace

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/sys/unix"

	"github.com/llconform/llconform/internal/landlock"
	"github.com/llconform/llconform/internal/sandbox"
	"github.com/llconform/llconform/internal/spec"
	"github.com/llconform/llconform/internal/tracefs"
)

// createRuleset creates a ruleset with attr in the runner itself (creating and filling a
// ruleset restricts nothing) and closes it when the spec ends.
func createRuleset(attr landlock.RulesetAttr) int {
	GinkgoHelper()
	fd, err := landlock.CreateRuleset(&attr, landlock.RulesetAttrSize, 0)
	Expect(err).NotTo(HaveOccurred(), "create_ruleset(fs=%s net=%s scoped=%s)",
		spec.Bits(landlock.KindFS, attr.HandledAccessFS), spec.Bits(landlock.KindNet, attr.HandledAccessNet), spec.Bits(landlock.KindScope, attr.Scoped))
	DeferCleanup(func() { unix.Close(fd) })
	return fd
}

// addPath adds a path-beneath rule to a ruleset.
func addPath(fd int, path string, access uint64, flags uint32) error {
	parent, err := unix.Open(path, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return spec.SetupFailed("open "+path, err)
	}
	defer unix.Close(parent)
	return landlock.AddPathBeneath(fd, landlock.PathBeneathAttr{AllowedAccess: access, ParentFd: int32(parent)}, flags)
}

// createdRuleset returns the id of the one ruleset es created, checking it starts at
// version 0.
func (es events) createdRuleset(what string) uint64 {
	GinkgoHelper()
	r := rulesetOf(es.one("create_ruleset", "%s", what), "ruleset")
	Expect(r.ID).NotTo(BeZero(), "%s: a ruleset with id 0", what)
	Expect(r.Version).To(BeZero(), "%s: a new ruleset at version %d", what, r.Version)
	return r.ID
}

// normalisedFS is what add_rule stores for a path-beneath rule: the rights allowed plus
// every right of the kernel's ABI the ruleset does not handle, except REFER, which is
// denied whether handled or not.
func normalisedFS(handled, allowed uint64) uint64 {
	return allowed | landlock.Mask(landlock.KindFS, kernelABI())&^(handled|landlock.AccessFSRefer)
}

// normalisedNet is the same for a port rule.
func normalisedNet(handled, allowed uint64) uint64 {
	return allowed | landlock.Mask(landlock.KindNet, kernelABI())&^handled
}

var _ = suite.Describe("landlock_create_ruleset", func() {
	type rulesetCase struct {
		id       string
		abi      int
		what     string
		attr     func() landlock.RulesetAttr
		selftest bool
	}
	for _, c := range []rulesetCase{
		{id: "create_ruleset", abi: 4, what: "filesystem and network rights", selftest: true, attr: func() landlock.RulesetAttr {
			return landlock.RulesetAttr{HandledAccessFS: landlock.AccessFSReadFile, HandledAccessNet: landlock.AccessNetBindTCP}
		}},
		{id: "create_ruleset.fs_only", abi: 1, what: "filesystem rights only", attr: func() landlock.RulesetAttr {
			return landlock.RulesetAttr{HandledAccessFS: landlock.AccessFSExecute | landlock.AccessFSReadDir | landlock.AccessFSMakeSym}
		}},
		{id: "create_ruleset.scoped_only", abi: 6, what: "a scope only", attr: func() landlock.RulesetAttr {
			return landlock.RulesetAttr{Scoped: landlock.ScopeSignal}
		}},
		{id: "create_ruleset.everything", abi: 6, what: "every right and scope of the kernel", attr: func() landlock.RulesetAttr {
			k := kernelABI()
			return landlock.RulesetAttr{HandledAccessFS: landlock.Mask(landlock.KindFS, k),
				HandledAccessNet: landlock.Mask(landlock.KindNet, k), Scoped: landlock.Mask(landlock.KindScope, k)}
		}},
		// The quiet masks are not part of the event.
		{id: "create_ruleset.quiet", abi: 10, what: "quiet rights, which the event leaves out", attr: func() landlock.RulesetAttr {
			return landlock.RulesetAttr{HandledAccessFS: landlock.AccessFSReadDir, QuietAccessFS: landlock.AccessFSReadDir}
		}},
	} {
		labels := Labels{}
		if c.selftest {
			labels = spec.Selftest("trace_test", "trace.create_ruleset")
		}
		It(fmt.Sprintf("MUST fire once per ruleset created, with its id, version 0 and its handled masks (%s)", c.what), spec.ID(c.id), feature("trace.create_ruleset", c.abi), labels, func() {
			if !requireEvents("trace.create_ruleset", c.abi) {
				return
			}
			attr := c.attr()
			createRuleset(attr)
			evs := readEvents()
			e := evs.one("create_ruleset", "create_ruleset(fs=%#x net=%#x scoped=%#x)", attr.HandledAccessFS, attr.HandledAccessNet, attr.Scoped)
			r := rulesetOf(e, "ruleset")
			Expect(r.ID).NotTo(BeZero(), "ruleset id")
			expectFields(e, "a new ruleset", "ruleset", id(r.ID)+".0",
				"handled_fs", fsMask(attr.HandledAccessFS), "handled_net", netMask(attr.HandledAccessNet),
				"scoped", tracefs.FormatMask(landlock.KindScope, attr.Scoped))
			works("trace.create_ruleset", c.abi)
		})
	}

	It("MUST NOT fire for a create_ruleset call the kernel rejects", spec.ID("create_ruleset.rejected"), feature("trace.create_ruleset", 1), func() {
		if !requireEvents("trace.create_ruleset", 1) {
			return
		}
		for _, bad := range []landlock.RulesetAttr{
			{HandledAccessFS: 1 << 63},
			{HandledAccessFS: landlock.AccessFSReadDir, QuietAccessFS: landlock.AccessFSReadFile},
		} {
			fd, err := landlock.CreateRuleset(&bad, landlock.RulesetAttrSize, 0)
			if err == nil {
				unix.Close(fd)
			}
			spec.ExpectErr(err, unix.EINVAL, "create_ruleset(fs=%#x quiet_fs=%#x)", bad.HandledAccessFS, bad.QuietAccessFS)
		}
		evs := readEvents()
		evs.count("create_ruleset", 0, "rejected create_ruleset calls")
		evs.count("free_ruleset", 0, "rejected create_ruleset calls")
		works("trace.create_ruleset", 1)
	})
})

var _ = suite.Describe("landlock_free_ruleset", func() {
	It("MUST fire once, when the last descriptor of a ruleset is closed, with its id and version", spec.ID("free_ruleset_on_close"),
		feature("trace.free_ruleset", 1), spec.Selftest("trace_test", "trace.free_ruleset_on_close"), func() {
			if !requireEvents("trace.free_ruleset", 1) {
				return
			}
			dirs := mkdirs(tempDir(), "a", "b")
			attr := landlock.RulesetAttr{HandledAccessFS: landlock.AccessFSReadDir}
			fd, err := landlock.CreateRuleset(&attr, landlock.RulesetAttrSize, 0)
			Expect(err).NotTo(HaveOccurred())
			for _, d := range dirs {
				Expect(addPath(fd, d, landlock.AccessFSReadDir, 0)).To(Succeed(), "add_rule(%s)", d)
			}
			dup, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
			Expect(err).NotTo(HaveOccurred())
			rs := readEvents().createdRuleset("create_ruleset(READ_DIR)")
			clearEvents()

			Expect(unix.Close(fd)).To(Succeed())
			readEvents().count("free_ruleset", 0, "one of two descriptors of the ruleset closed")
			Expect(unix.Close(dup)).To(Succeed())
			evs := readEvents()
			e := evs.one("free_ruleset", "the last descriptor of the ruleset closed")
			expectFields(e, "ruleset freed after two rules", "ruleset", id(rs)+".2")
			works("trace.free_ruleset", 1)
		})
})

var _ = suite.Describe("landlock_add_rule_path_beneath", func() {
	type pathCase struct {
		id   string
		what string
		name string // the rule's directory, below a temporary one
		want string // its name as the event prints it
	}
	for _, c := range []pathCase{
		{id: "add_rule_path_beneath", what: "a plain name", name: "usr", want: "usr"},
		// Every byte class the kernel escapes: space, tab, newline, '=', quote,
		// backslash, single quote, non-ASCII and a control byte.
		{id: "add_rule_path_beneath.escaped", what: "a name with every kind of byte the kernel escapes", name: "a b\tc\nd=e\"f\\g'h\xe9\x01", want: `a\040b\tc\nd\075e\"f\\g\047h\351\001`},
	} {
		It(fmt.Sprintf("MUST fire once per rule added, with the ruleset's id and new version, the normalised rights, the directory's device, inode and escaped path (%s)", c.what),
			spec.ID(c.id), feature("trace.add_rule_path_beneath", 1), spec.Selftest("trace_fs_test", "trace_fs.add_rule_path_beneath"), func() {
				if !requireEvents("trace.add_rule_path_beneath", 1) {
					return
				}
				base := tempDir()
				dir := mkdirs(base, c.name)[0]
				handled := uint64(landlock.AccessFSReadFile | landlock.AccessFSWriteFile | landlock.AccessFSReadDir)
				fd := createRuleset(landlock.RulesetAttr{HandledAccessFS: handled})
				Expect(addPath(fd, dir, landlock.AccessFSReadFile, 0)).To(Succeed())
				evs := readEvents()
				rs := evs.createdRuleset("create_ruleset")
				e := evs.one("add_rule_path_beneath", "add_rule(READ_FILE on %q)", dir)
				devNum, ino := devIno(dir)
				expectFields(e, "a READ_FILE rule in a ruleset handling READ_FILE|WRITE_FILE|READ_DIR",
					"ruleset", id(rs)+".1", "access_rights", fsMask(normalisedFS(handled, landlock.AccessFSReadFile)),
					"dev", devNum, "ino", ino, "path", escaped(base)+"/"+c.want)
				works("trace.add_rule_path_beneath", 1)
			})
	}

	It("MUST truncate a path whose escaped form overflows the event, with the marker and without spoiling the other fields", spec.ID("add_rule_path_beneath_escaped_path_overflow"),
		feature("trace.add_rule_path_beneath", 1), spec.Selftest("trace_fs_test", "trace_fs.add_rule_path_beneath_escaped_path_overflow"), func() {
			if !requireEvents("trace.add_rule_path_beneath", 1) {
				return
			}
			dir := longPath(tempDir())
			fd := createRuleset(landlock.RulesetAttr{HandledAccessFS: landlock.AccessFSReadFile})
			Expect(addPath(fd, dir, landlock.AccessFSReadFile, 0)).To(Succeed())
			e := readEvents().one("add_rule_path_beneath", "add_rule on a %d-byte path", len(dir))
			expectTruncated(e, dir)
			expectFields(e, "a READ_FILE rule on a long path", "access_rights", fsMask(normalisedFS(landlock.AccessFSReadFile, landlock.AccessFSReadFile)))
			works("trace.add_rule_path_beneath", 1)
		})

	It("MUST count every rule added in the ruleset's version, and freeze that version in create_domain", spec.ID("ruleset_version"),
		feature("trace.add_rule_path_beneath", 1), spec.Selftest("trace_test", "trace.ruleset_version"), func() {
			if !requireEvents("trace.add_rule_path_beneath", 1) {
				return
			}
			dirs := mkdirs(tempDir(), "a", "b")
			onThread(func() error {
				return enforce(sandbox.FS(landlock.AccessFSReadDir,
					sandbox.PathRule{Path: dirs[0], Access: landlock.AccessFSReadDir}, sandbox.PathRule{Path: dirs[1], Access: landlock.AccessFSReadDir}))
			})
			evs := readEvents()
			rs := evs.createdRuleset("create_ruleset(READ_DIR)")
			adds := evs.count("add_rule_path_beneath", 2, "two rules added")
			for i, e := range adds {
				expectFields(e, fmt.Sprintf("rule %d", i+1), "ruleset", fmt.Sprintf("%s.%d", id(rs), i+1), "path", escaped(dirs[i]))
			}
			expectFields(evs.one("create_domain", "restrict_self"), "the domain of a two-rule ruleset", "ruleset", id(rs)+".2")
			works("trace.add_rule_path_beneath", 1)
		})

	It("MUST NOT fire for an add_rule call the kernel rejects", spec.ID("add_rule_invalid_fd"), feature("trace.add_rule_path_beneath", 1),
		spec.Selftest("trace_test", "trace.add_rule_invalid_fd"), func() {
			if !requireEvents("trace.add_rule_path_beneath", 1) {
				return
			}
			dir := tempDir()
			fd := createRuleset(landlock.RulesetAttr{HandledAccessFS: landlock.AccessFSReadDir})
			spec.ExpectErr(addPath(-1, dir, landlock.AccessFSReadFile, 0), unix.EBADF, "add_rule(ruleset_fd -1)")
			spec.ExpectErr(addPath(fd, dir, landlock.AccessFSReadFile, 0), unix.EINVAL, "add_rule(READ_FILE, not handled)")
			spec.ExpectErr(addPath(fd, dir, 0, 0), unix.ENOMSG, "add_rule(no right)")
			evs := readEvents()
			evs.count("add_rule_path_beneath", 0, "rejected add_rule calls")
			works("trace.add_rule_path_beneath", 1)
		})
})

var _ = suite.Describe("landlock_add_rule_net_port", func() {
	type portCase struct {
		id               string
		handled, allowed uint64
		port             uint64
		selftest         bool
	}
	for _, c := range []portCase{
		{id: "add_rule_net_port_fields", handled: landlock.AccessNetBindTCP, allowed: landlock.AccessNetBindTCP, port: 8080, selftest: true},
		{id: "add_rule_net_port.connect", handled: landlock.AccessNetBindTCP | landlock.AccessNetConnectTCP, allowed: landlock.AccessNetConnectTCP, port: 65535},
	} {
		labels := Labels{}
		if c.selftest {
			labels = spec.Selftest("trace_test", "trace.add_rule_net_port_fields")
		}
		It(fmt.Sprintf("MUST fire once per port rule added, with the port in host byte order and the normalised rights (port %d)", c.port),
			spec.ID(c.id), feature("trace.add_rule_net_port", 4), labels, func() {
				if !requireEvents("trace.add_rule_net_port", 4) {
					return
				}
				fd := createRuleset(landlock.RulesetAttr{HandledAccessNet: c.handled})
				Expect(landlock.AddNetPort(fd, landlock.NetPortAttr{AllowedAccess: c.allowed, Port: c.port}, 0)).To(Succeed())
				evs := readEvents()
				rs := evs.createdRuleset("create_ruleset")
				e := evs.one("add_rule_net_port", "add_rule(port %d)", c.port)
				expectFields(e, fmt.Sprintf("a %s rule on port %d, %s handled", netMask(c.allowed), c.port, netMask(c.handled)),
					"ruleset", id(rs)+".1", "access_rights", netMask(normalisedNet(c.handled, c.allowed)), "port", fmt.Sprint(c.port))
				works("trace.add_rule_net_port", 4)
			})
	}
})

// longPath creates, below base, a directory whose escaped path overflows an event's
// output: eleven levels of 240 spaces, each printed as a four-byte escape.
func longPath(base string) string {
	GinkgoHelper()
	p := base
	for range 11 {
		p = filepath.Join(p, strings.Repeat(" ", 240))
	}
	Expect(os.MkdirAll(p, 0o755)).To(Succeed(), "create a %d-byte path", len(p))
	return p
}

// expectTruncated checks that an event printed path the way the kernel truncates an
// overflowing untrusted string: the longest prefix of whole escapes, then the marker.
func expectTruncated(e tracefs.Event, path string) {
	GinkgoHelper()
	got, want := e.Get("path"), tracefs.Render([]byte(path))
	Expect(strings.HasSuffix(want, tracefs.TruncationMarker)).To(BeTrue(), "the test path is too short to be truncated")
	if got != want {
		Fail(fmt.Sprintf("%s: path of %d bytes (escaped to %d) printed as %d bytes, want the %d-byte truncated form\n got: %.80q...%q\nwant: %.80q...%q",
			e.Event, len(path), len(tracefs.Escape([]byte(path))), len(got), len(want), got, tail(got), want, tail(want)))
	}
}

func tail(s string) string {
	if len(s) > 24 {
		return s[len(s)-24:]
	}
	return s
}
