package audit

import (
	"fmt"
	"os"
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/sys/unix"

	"github.com/llconform/llconform/internal/audit"
	"github.com/llconform/llconform/internal/landlock"
	"github.com/llconform/llconform/internal/sandbox"
	"github.com/llconform/llconform/internal/spec"
	"github.com/llconform/llconform/suites/audit/actions"
)

// requireQuiet runs the quiet specs' behaviour on ABI 10 and up; below, it checks that the
// kernel rejects the quiet fields and the QUIET rule flag, records the verdict and returns
// nil (spec.SupportedOrRejected).
func requireQuiet(feature string, attr landlock.RulesetAttr) *env {
	GinkgoHelper()
	if !spec.SupportedOrRejected(feature, 10, func() { expectQuietRejected(feature, attr) }) {
		return nil
	}
	return requireAuditABI()
}

// expectQuietRejected checks, below ABI 10, that create_ruleset refuses attr's quiet fields
// and add_rule the LANDLOCK_ADD_RULE_QUIET flag.
func expectQuietRejected(feature string, attr landlock.RulesetAttr) {
	GinkgoHelper()
	// The quiet fields lie past the kernel's struct: copy_struct_from_user() gives E2BIG.
	fd, err := landlock.CreateRuleset(&attr, landlock.RulesetAttrSize, 0)
	if err == nil {
		unix.Close(fd)
	}
	want := landlock.CreateRulesetErrno(attr.Bytes(), landlock.RulesetAttrSize, spec.Kernel().ABI)
	spec.ExpectErr(err, want, "create_ruleset with %s on ABI %d", feature, spec.Kernel().ABI)
	fd, err = landlock.CreateRuleset(&landlock.RulesetAttr{HandledAccessFS: landlock.AccessFSReadFile}, landlock.RulesetAttrSizeV1, 0)
	Expect(err).NotTo(HaveOccurred(), "create a plain ruleset")
	defer unix.Close(fd)
	dir, err := unix.Open("/", unix.O_PATH|unix.O_CLOEXEC, 0)
	Expect(err).NotTo(HaveOccurred())
	defer unix.Close(dir)
	err = landlock.AddPathBeneath(fd, landlock.PathBeneathAttr{AllowedAccess: landlock.AccessFSReadFile, ParentFd: int32(dir)}, landlock.AddRuleQuiet)
	spec.ExpectErr(err, unix.EINVAL, "add_rule with LANDLOCK_ADD_RULE_QUIET on ABI %d", spec.Kernel().ABI)
}

var _ = suite.Describe("quiet rules", func() {
	It("MUST NOT log fs denials that a QUIET rule and quiet_access_fs of the denying layer cover, and log the others",
		spec.Feature("audit.quiet_access_fs", 10), spec.Needs("audit", "root"), spec.ID("quiet.fs"), spec.Selftest("fs_test", "audit_quiet_layout1.base"), func() {
			e := requireQuiet("audit.quiet_access_fs", landlock.RulesetAttr{HandledAccessFS: landlock.AccessFSReadFile, QuietAccessFS: landlock.AccessFSReadFile})
			if e == nil {
				return
			}
			quiet, loud := filepath.Join(e.dir, "quiet"), filepath.Join(e.dir, "loud")
			Expect(os.Mkdir(quiet, 0o755)).To(Succeed())
			Expect(os.Mkdir(loud, 0o755)).To(Succeed())
			qf, lf := fileIn(quiet, "f"), fileIn(loud, "f")
			p := sandbox.Policy{Layers: []sandbox.Layer{{
				Attr:  landlock.RulesetAttr{HandledAccessFS: landlock.AccessFSReadFile | landlock.AccessFSWriteFile, QuietAccessFS: landlock.AccessFSReadFile},
				Paths: []sandbox.PathRule{{Path: quiet, Access: 0, Flags: landlock.AddRuleQuiet}},
			}}}
			res := sandbox.Thread(p, func() error {
				for _, op := range []struct {
					path  string
					flags int
				}{{path: qf, flags: unix.O_RDONLY}, {path: qf, flags: unix.O_WRONLY}, {path: lf, flags: unix.O_RDONLY}} {
					if err := openClose(op.path, op.flags); err != unix.EACCES {
						return fmt.Errorf("open(%s, %#x): got %s, want EACCES", op.path, op.flags, spec.ErrnoName(err))
					}
				}
				return nil
			})
			spec.ExpectErrno(res, nil, "three denied opens")
			l := e.log()
			ours := deniedBy(l, os.Getpid())
			Expect(ours).To(HaveLen(2), "logged: the write beneath the quiet rule (not a quiet right) and the read elsewhere\nrecords:\n%s", dump(l))
			Expect([]string{ours[0].BlockerList(), ours[0].Path.Value, ours[1].BlockerList(), ours[1].Path.Value}).To(
				Equal([]string{"fs.write_file", qf, "fs.read_file", lf}))
			spec.EnforcedVerdict("audit.quiet_access_fs", 10)
		})

	It("MUST NOT let a quiet inner layer hide a denial by an outer layer",
		spec.Feature("audit.quiet_access_fs", 10), spec.Needs("audit", "root"), spec.ID("quiet.fs.outer_layer"), spec.Selftest("fs_test", "audit_quiet_layout1.base"), func() {
			e := requireQuiet("audit.quiet_access_fs", landlock.RulesetAttr{HandledAccessFS: landlock.AccessFSReadFile, QuietAccessFS: landlock.AccessFSReadFile})
			if e == nil {
				return
			}
			f := fileIn(e.dir, "f")
			outer := sandbox.FS(landlock.AccessFSReadFile)
			inner := sandbox.Policy{Layers: []sandbox.Layer{{
				Attr:  landlock.RulesetAttr{HandledAccessFS: landlock.AccessFSReadFile, QuietAccessFS: landlock.AccessFSReadFile},
				Paths: []sandbox.PathRule{{Path: e.dir, Access: landlock.AccessFSReadFile, Flags: landlock.AddRuleQuiet}},
			}}}
			res := sandbox.Thread(outer.Then(inner), func() error { return openClose(f, unix.O_RDONLY) })
			spec.ExpectErrno(res, unix.EACCES, "outer layer denies READ_FILE, inner allows it with a QUIET rule")
			l := e.log()
			ours := deniedBy(l, os.Getpid())
			Expect(ours).To(HaveLen(1), "the outer layer's denial is logged\nrecords:\n%s", dump(l))
			Expect(l.AllocatedBy(os.Getpid())).To(Equal([]audit.DomainID{ours[0].Domain}), "only the outer domain is logged")
			spec.EnforcedVerdict("audit.quiet_access_fs", 10)
		})

	for _, v := range netVariants {
		for _, op := range []netOp{opBind, opConnect} {
			// The IPv4 TCP bind keeps the id it had as the only case.
			id := "quiet.net"
			if v.id() != "ipv4_tcp" || op != opBind {
				id = fmt.Sprintf("quiet.net.%s.%s", v.id(), op)
			}
			_, blocker := v.right(op)
			It(fmt.Sprintf("MUST NOT log %s %s denials that a QUIET port rule and quiet_access_net cover, and log the others", v, op),
				spec.Feature("audit.quiet_access_net", 10), spec.Needs("audit", "root"), spec.ID(id), spec.Selftest("net_test", "audit."+string(op)), func() {
					attr := landlock.RulesetAttr{HandledAccessNet: v.bind | v.conn, QuietAccessNet: v.bind | v.conn}
					e := requireQuiet("audit.quiet_access_net", attr)
					if e == nil {
						return
					}
					quiet, loud := testPort, testPort+1
					p := sandbox.Policy{Layers: []sandbox.Layer{{
						Attr:  attr,
						Ports: []sandbox.PortRule{{Port: uint64(quiet), Access: 0, Flags: landlock.AddRuleQuiet}},
					}}}
					res := sandbox.Thread(p, func() error {
						for _, port := range []int{quiet, loud} {
							if err := v.sock(func(fd int) error { return v.do(op, fd, port) })(); err != unix.EACCES {
								return fmt.Errorf("%s(port %d): got %s, want EACCES", op, port, spec.ErrnoName(err))
							}
						}
						return nil
					})
					spec.ExpectErrno(res, nil, "%s and its quiet bits handled, QUIET rule for port %d: %s %s to ports %d and %d",
						spec.Bits(landlock.KindNet, v.bind|v.conn), quiet, v, op, quiet, loud)
					l := e.log()
					ours := deniedBy(l, os.Getpid())
					Expect(ours).To(HaveLen(1), "only the %s to the port without a quiet rule is logged\nrecords:\n%s", op, dump(l))
					Expect(ours[0].BlockerList()).To(Equal(blocker), "blockers=")
					if op == opBind {
						expectBind(v.fam, loud)(ours[0])
					} else {
						expectConnect(v.fam, loud)(ours[0])
					}
					Expect(l.AllocatedBy(os.Getpid())).To(Equal([]audit.DomainID{ours[0].Domain}), "the domain is logged once")
					spec.EnforcedVerdict("audit.quiet_access_net", 10)
				})
		}
	}

	It("MUST NOT log scope denials selected by quiet_scoped, and log the other scopes",
		spec.Feature("audit.quiet_scoped", 10), spec.Needs("audit", "root"), spec.ID("quiet.scope"), func() {
			e := requireQuiet("audit.quiet_scoped", landlock.RulesetAttr{Scoped: landlock.ScopeSignal, QuietScoped: landlock.ScopeSignal})
			if e == nil {
				return
			}
			me := os.Getpid()
			p := sandbox.Policy{Layers: []sandbox.Layer{{Attr: landlock.RulesetAttr{Scoped: landlock.ScopeSignal, QuietScoped: landlock.ScopeSignal}}}}
			// The quiet layer denies the first signal; a second, loud, layer the second.
			pid, res := runHelper(p, actions.Kill(me), actions.Restrict(0), actions.Kill(me))
			expectErrnos(res, unix.EPERM, 0, unix.EPERM)
			l := e.log()
			ids := deniedSignals(l, pid)
			Expect(ids).To(HaveLen(1), "only the loud layer's denial is logged\nrecords:\n%s", dump(l))
			Expect(l.AllocatedBy(pid)).To(Equal(ids), "only the loud domain is logged")
			spec.EnforcedVerdict("audit.quiet_scoped", 10)
		})

	type scopedCase struct {
		id            string // the selftest's variant
		scoped, quiet uint64
		logged        bool
	}
	for _, c := range []scopedCase{
		{id: "no_quiet", scoped: landlock.ScopeAbstractUnixSocket, quiet: 0, logged: true},
		{id: "quiet_abstract_socket", scoped: landlock.ScopeAbstractUnixSocket, quiet: landlock.ScopeAbstractUnixSocket, logged: false},
		{id: "quiet_abstract_socket_2", scoped: landlock.ScopeAbstractUnixSocket | landlock.ScopeSignal, quiet: landlock.ScopeAbstractUnixSocket | landlock.ScopeSignal, logged: false},
		{id: "quiet_unrelated", scoped: landlock.ScopeAbstractUnixSocket | landlock.ScopeSignal, quiet: landlock.ScopeSignal, logged: true},
	} {
		feature, abi := "audit.quiet_scoped", 10
		if c.quiet == 0 {
			feature, abi = "audit.scope.abstract_unix_socket", 7
		}
		attr := landlock.RulesetAttr{Scoped: c.scoped, QuietScoped: c.quiet}
		It(fmt.Sprintf("MUST %s a datagram connect to an abstract socket outside the domain, with scoped=%s and quiet_scoped=%s",
			map[bool]string{true: "log", false: "NOT log"}[c.logged], spec.Bits(landlock.KindScope, c.scoped), spec.Bits(landlock.KindScope, c.quiet)),
			spec.Feature(feature, abi), spec.Needs("audit", "root"), spec.ID("scoped_audit."+c.id+".connect_to_child"),
			spec.Selftest("scoped_abstract_unix_test", "scoped_audit.connect_to_child"), func() {
				var e *env
				if c.quiet == 0 {
					if !spec.SupportedOrRejected(feature, abi, func() { expectBlockerAbsent(abstractUnixCase()) }) {
						return
					}
					e = openAudit()
				} else if e = requireQuiet(feature, attr); e == nil {
					return
				}
				name := "llconform-audit-dgram-" + filepath.Base(e.dir)
				srv, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
				Expect(err).NotTo(HaveOccurred(), "socket(AF_UNIX, SOCK_DGRAM)")
				DeferCleanup(unix.Close, srv)
				Expect(unix.Bind(srv, &unix.SockaddrUnix{Name: "@" + name})).To(Succeed(), "bind the abstract datagram socket outside the domain")
				p := sandbox.Policy{Layers: []sandbox.Layer{{Attr: attr}}}
				res := sandbox.Thread(p, func() error {
					fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
					if err != nil {
						return spec.SetupFailed("socket(AF_UNIX, SOCK_DGRAM)", err)
					}
					defer unix.Close(fd)
					return unix.Connect(fd, &unix.SockaddrUnix{Name: "@" + name})
				})
				spec.ExpectErrno(res, unix.EPERM, "scoped=%s, quiet_scoped=%s: datagram connect to an abstract socket outside the domain",
					spec.Bits(landlock.KindScope, c.scoped), spec.Bits(landlock.KindScope, c.quiet))
				l := e.log()
				ours := deniedBy(l, os.Getpid())
				if !c.logged {
					Expect(ours).To(BeEmpty(), "ACCESS records of a quieted denial\nrecords:\n%s", dump(l))
					Expect(l.AllocatedBy(os.Getpid())).To(BeEmpty(), "a domain that logged nothing is never logged")
					spec.EnforcedVerdict(feature, abi)
					return
				}
				Expect(ours).To(HaveLen(1), "ACCESS records of the denied connect\nrecords:\n%s", dump(l))
				a := ours[0]
				Expect(a.BlockerList()).To(Equal("scope.abstract_unix_socket"), "blockers=")
				Expect(a.Path).NotTo(BeNil(), "path= of the peer socket")
				Expect(a.Path.Hex).To(BeTrue(), "an abstract name (leading NUL) is hex-encoded")
				Expect(a.Path.Value).To(Equal("\x00"+name), "path= of the peer socket")
				expectFields(a, "path")
				expectAllocated(l, a.Domain, os.Getpid())
				spec.EnforcedVerdict(feature, abi)
			})
	}
})

// abstractUnixCase is the ACCESS records case of scope.abstract_unix_socket.
func abstractUnixCase() blockerCase {
	for _, c := range blockerCases {
		if c.blocker == "scope.abstract_unix_socket" {
			return c
		}
	}
	panic("no scope.abstract_unix_socket case in blockerCases")
}
