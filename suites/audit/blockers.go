package audit

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/sys/unix"

	"github.com/llconform/llconform/internal/audit"
	"github.com/llconform/llconform/internal/landlock"
	"github.com/llconform/llconform/internal/sandbox"
	"github.com/llconform/llconform/internal/spec"
	"github.com/llconform/llconform/suites/audit/actions"
)

// blockerCase provokes one denial in thread mode and says what its ACCESS record holds.
type blockerCase struct {
	blocker string // the blockers= field expected, several rights comma-separated
	abi     int    // the ABI that introduced the right (audit itself is ABI 7)
	policy  func(dir string) sandbox.Policy
	// act prepares the objects in dir (unrestricted) and returns the denied action and the
	// check of the record's object fields.
	act  func(dir string) (func() error, func(audit.Access))
	want unix.Errno
	// feature overrides the verdict's feature, "audit.<blocker>" by default.
	feature string
	// variant tells apart cases of one blocker in spec ids ("ipv6"); empty for the first.
	variant string
	// selftests are the kernel selftests (file, test) that check the same record.
	selftests [][2]string
}

// id is the case's spec id.
func (c blockerCase) id() string {
	id := "access." + strings.ReplaceAll(c.blocker, ",", "-")
	if c.variant != "" {
		id += "." + c.variant
	}
	return id
}

// auditLayout1 names the fs_test audit_layout1 test that checks a blocker case's record.
func auditLayout1(test string) [][2]string { return [][2]string{{"fs_test", "audit_layout1." + test}} }

// labels are the case's Selftest labels.
func (c blockerCase) labels() Labels {
	var l Labels
	for _, st := range c.selftests {
		l = append(l, spec.Selftest(st[0], st[1])...)
	}
	return l
}

func (c blockerCase) featureName() string {
	if c.feature != "" {
		return c.feature
	}
	return "audit." + c.blocker
}

// inoOf returns the inode number of path, for the ino= check.
func inoOf(path string) uint64 {
	GinkgoHelper()
	var st unix.Stat_t
	Expect(unix.Stat(path, &st)).To(Succeed(), "stat %s", path)
	return st.Ino
}

// expectFile checks path=, dev= and ino= against the object at path, and that the record
// has no other field.
func expectFile(path string) func(audit.Access) { return expectFileAnd(path) }

// expectFileAnd is expectFile for a record with more fields after ino=, named by extra.
func expectFileAnd(path string, extra ...string) func(audit.Access) {
	return func(a audit.Access) {
		GinkgoHelper()
		Expect(a.Path).NotTo(BeNil(), "path= field")
		Expect(a.Path.Value).To(Equal(path), "path=")
		Expect(a.Dev).NotTo(BeNil(), "dev= field")
		Expect(a.Dev.Value).NotTo(BeEmpty(), "dev=")
		Expect(a.HasIno).To(BeTrue(), "ino= field")
		Expect(a.Ino).To(Equal(inoOf(path)), "ino= of %s", path)
		expectFields(a, append([]string{"path", "dev", "ino"}, extra...)...)
	}
}

func fsOnly(handled uint64, rules ...sandbox.PathRule) func(string) sandbox.Policy {
	return func(string) sandbox.Policy { return sandbox.FS(handled, rules...) }
}

func fileIn(dir, name string) string {
	GinkgoHelper()
	p := filepath.Join(dir, name)
	Expect(os.WriteFile(p, []byte("x"), 0o644)).To(Succeed())
	return p
}

// mknodIn returns a denied mknod of name in dir, checked against dir (the parent).
func mknodIn(mode uint32, dev int) func(string) (func() error, func(audit.Access)) {
	return func(dir string) (func() error, func(audit.Access)) {
		return func() error { return unix.Mknod(filepath.Join(dir, "node"), mode|0o600, dev) }, expectFile(dir)
	}
}

const testPort = 42917

// sockOp returns an action that runs op on a fresh socket of family f and type typ.
func sockOp(f inetFamily, typ int, op func(fd int) error) func() error {
	return func() error {
		fd, err := unix.Socket(f.domain, typ|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return spec.SetupFailed("socket("+f.name+")", err)
		}
		defer unix.Close(fd)
		return op(fd)
	}
}

// expectFields checks that the record's fields are exactly names, in order: the kernel's
// selftests anchor their patterns at the end of the record.
func expectFields(a audit.Access, names ...string) {
	GinkgoHelper()
	Expect(a.Order).To(Equal(append([]string{"domain", "blockers"}, names...)), "fields of the record, in order")
}

func expectBind(f inetFamily, port int) func(audit.Access) {
	return func(a audit.Access) {
		GinkgoHelper()
		Expect(a.SAddr).To(Equal(f.loop), "saddr=")
		Expect(a.Src).To(Equal(port), "src=")
		expectFields(a, "saddr", "src")
	}
}

func expectConnect(f inetFamily, port int) func(audit.Access) {
	return func(a audit.Access) {
		GinkgoHelper()
		Expect(a.DAddr).To(Equal(f.loop), "daddr=")
		Expect(a.Dest).To(Equal(port), "dest=")
		expectFields(a, "daddr", "dest")
	}
}

var blockerCases = append([]blockerCase{
	{blocker: "fs.execute", abi: 1, policy: fsOnly(landlock.AccessFSExecute), act: execScript, want: unix.EACCES, selftests: auditLayout1("execute_make")},
	// execve opens the file for reading too: with READ_FILE also handled, both are missing.
	{blocker: "fs.execute,fs.read_file", abi: 1, policy: fsOnly(landlock.AccessFSExecute | landlock.AccessFSReadFile),
		act: execScript, want: unix.EACCES, feature: "audit.blockers_list", selftests: auditLayout1("execute_read")},
	{blocker: "fs.write_file", abi: 1, policy: fsOnly(landlock.AccessFSWriteFile), act: func(dir string) (func() error, func(audit.Access)) {
		p := fileIn(dir, "f")
		return func() error { return openClose(p, unix.O_WRONLY) }, expectFile(p)
	}, want: unix.EACCES, selftests: auditLayout1("write_file")},
	{blocker: "fs.read_file", abi: 1, policy: fsOnly(landlock.AccessFSReadFile), act: func(dir string) (func() error, func(audit.Access)) {
		p := fileIn(dir, "f")
		return func() error { return openClose(p, unix.O_RDONLY) }, expectFile(p)
	}, want: unix.EACCES, selftests: auditLayout1("read_file")},
	{blocker: "fs.write_file,fs.read_file", abi: 1, policy: fsOnly(landlock.AccessFSWriteFile | landlock.AccessFSReadFile), act: func(dir string) (func() error, func(audit.Access)) {
		p := fileIn(dir, "f")
		return func() error { return openClose(p, unix.O_RDWR) }, expectFile(p)
	}, want: unix.EACCES, feature: "audit.blockers_list"},
	{blocker: "fs.read_dir", abi: 1, policy: fsOnly(landlock.AccessFSReadDir), act: func(dir string) (func() error, func(audit.Access)) {
		return func() error { return openClose(dir, unix.O_RDONLY|unix.O_DIRECTORY) }, expectFile(dir)
	}, want: unix.EACCES, selftests: auditLayout1("read_dir")},
	{blocker: "fs.remove_dir", abi: 1, policy: fsOnly(landlock.AccessFSRemoveDir), act: func(dir string) (func() error, func(audit.Access)) {
		Expect(os.Mkdir(filepath.Join(dir, "d"), 0o755)).To(Succeed())
		return func() error { return unix.Rmdir(filepath.Join(dir, "d")) }, expectFile(dir)
	}, want: unix.EACCES, selftests: auditLayout1("remove_dir")},
	{blocker: "fs.remove_file", abi: 1, policy: fsOnly(landlock.AccessFSRemoveFile), act: func(dir string) (func() error, func(audit.Access)) {
		p := fileIn(dir, "f")
		return func() error { return unix.Unlink(p) }, expectFile(dir)
	}, want: unix.EACCES, selftests: auditLayout1("remove_file")},
	{blocker: "fs.make_char", abi: 1, policy: fsOnly(landlock.AccessFSMakeChar), act: mknodIn(unix.S_IFCHR, int(unix.Mkdev(1, 3))), want: unix.EACCES, selftests: auditLayout1("make_char")},
	{blocker: "fs.make_dir", abi: 1, policy: fsOnly(landlock.AccessFSMakeDir), act: func(dir string) (func() error, func(audit.Access)) {
		return func() error { return unix.Mkdir(filepath.Join(dir, "d"), 0o755) }, expectFile(dir)
	}, want: unix.EACCES, selftests: auditLayout1("make_dir")},
	{blocker: "fs.make_reg", abi: 1, policy: fsOnly(landlock.AccessFSMakeReg), act: mknodIn(unix.S_IFREG, 0), want: unix.EACCES, selftests: auditLayout1("make_reg")},
	{blocker: "fs.make_sock", abi: 1, policy: fsOnly(landlock.AccessFSMakeSock), act: mknodIn(unix.S_IFSOCK, 0), want: unix.EACCES, selftests: auditLayout1("make_sock")},
	{blocker: "fs.make_fifo", abi: 1, policy: fsOnly(landlock.AccessFSMakeFifo), act: mknodIn(unix.S_IFIFO, 0), want: unix.EACCES, selftests: auditLayout1("make_fifo")},
	{blocker: "fs.make_block", abi: 1, policy: fsOnly(landlock.AccessFSMakeBlock), act: mknodIn(unix.S_IFBLK, int(unix.Mkdev(7, 0))), want: unix.EACCES, selftests: auditLayout1("make_block")},
	{blocker: "fs.make_sym", abi: 1, policy: fsOnly(landlock.AccessFSMakeSym), act: func(dir string) (func() error, func(audit.Access)) {
		return func() error { return unix.Symlink("target", filepath.Join(dir, "s")) }, expectFile(dir)
	}, want: unix.EACCES, selftests: auditLayout1("make_sym")},
	{blocker: "fs.refer", abi: 2, policy: func(dir string) sandbox.Policy {
		// REFER allowed from the source directory only: the record names the
		// destination directory, the one parent that denies.
		return sandbox.FS(landlock.AccessFSRefer, sandbox.PathRule{Path: filepath.Join(dir, "a"), Access: landlock.AccessFSRefer})
	}, act: func(dir string) (func() error, func(audit.Access)) {
		a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
		Expect(os.Mkdir(a, 0o755)).To(Succeed())
		Expect(os.Mkdir(b, 0o755)).To(Succeed())
		src := fileIn(a, "f")
		return func() error { return unix.Rename(src, filepath.Join(b, "f")) }, expectFile(b)
	}, want: unix.EXDEV, selftests: auditLayout1("refer_rename_half")},
	{blocker: "fs.truncate", abi: 3, policy: fsOnly(landlock.AccessFSTruncate), act: func(dir string) (func() error, func(audit.Access)) {
		p := fileIn(dir, "f")
		return func() error { return unix.Truncate(p, 0) }, expectFile(p)
	}, want: unix.EACCES, selftests: auditLayout1("truncate")},
	{blocker: "fs.ioctl_dev", abi: 5, policy: fsOnly(landlock.AccessFSIoctlDev), act: func(string) (func() error, func(audit.Access)) {
		const dev = "/dev/null"
		return func() error {
				fd, err := unix.Open(dev, unix.O_RDONLY|unix.O_CLOEXEC, 0)
				if err != nil {
					return spec.SetupFailed("open "+dev, err)
				}
				defer unix.Close(fd)
				_, err = unix.IoctlGetTermios(fd, unix.TCGETS)
				return err
			}, func(a audit.Access) {
				GinkgoHelper()
				expectFileAnd(dev, "ioctlcmd")(a)
				Expect(a.IoctlCmd).To(Equal(fmt.Sprintf("%#x", unix.TCGETS)), "ioctlcmd=")
			}
	}, want: unix.EACCES, selftests: auditLayout1("ioctl_dev")},
	{blocker: "fs.resolve_unix", abi: 9, policy: fsOnly(landlock.AccessFSResolveUnix), act: func(dir string) (func() error, func(audit.Access)) {
		p := filepath.Join(dir, "sock")
		l, err := net.Listen("unix", p)
		Expect(err).NotTo(HaveOccurred(), "listen on %s outside the domain", p)
		DeferCleanup(l.Close)
		return func() error {
			fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				return spec.SetupFailed("socket(AF_UNIX)", err)
			}
			defer unix.Close(fd)
			return unix.Connect(fd, &unix.SockaddrUnix{Name: p})
		}, expectFile(p)
	}, want: unix.EACCES, selftests: auditLayout1("resolve_unix")},
	{blocker: "fs.change_topology", abi: 1, policy: fsOnly(landlock.AccessFSReadFile), act: func(dir string) (func() error, func(audit.Access)) {
		mnt := filepath.Join(dir, "mnt")
		Expect(os.Mkdir(mnt, 0o755)).To(Succeed())
		DeferCleanup(func() { _ = unix.Unmount(mnt, unix.MNT_DETACH) }) // only if wrongly allowed
		return func() error { return unix.Mount("none", mnt, "tmpfs", 0, "") }, expectFile(mnt)
	}, want: unix.EPERM, selftests: auditLayout1("mount")},
	{blocker: "scope.abstract_unix_socket", abi: 6, policy: func(string) sandbox.Policy { return sandbox.Scoped(landlock.ScopeAbstractUnixSocket) },
		act: func(dir string) (func() error, func(audit.Access)) {
			name := "llconform-audit-" + filepath.Base(dir)
			l, err := net.Listen("unix", "@"+name)
			Expect(err).NotTo(HaveOccurred(), "listen on abstract socket outside the domain")
			DeferCleanup(l.Close)
			return func() error {
					fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
					if err != nil {
						return spec.SetupFailed("socket(AF_UNIX)", err)
					}
					defer unix.Close(fd)
					return unix.Connect(fd, &unix.SockaddrUnix{Name: "@" + name})
				}, func(a audit.Access) {
					GinkgoHelper()
					Expect(a.Path).NotTo(BeNil(), "path= of the peer socket")
					Expect(a.Path.Hex).To(BeTrue(), "an abstract name (leading NUL) is hex-encoded")
					Expect(a.Path.Value).To(Equal("\x00"+name), "path= of the peer socket")
				}
		}, want: unix.EPERM},
}, netBlockerCases()...)

// netBlockerCases are the bind and connect denials of every variant of net_test's audit
// fixture, without quiet rules (see the quiet specs): the IPv4 cases keep the ids they had
// before IPv6 joined.
func netBlockerCases() []blockerCase {
	var cases []blockerCase
	for _, v := range netVariants {
		for _, op := range []netOp{opBind, opConnect} {
			c := v.blockerCase(op, testPort)
			if v.fam.domain == unix.AF_INET6 {
				c.variant = v.fam.id
			}
			cases = append(cases, c)
		}
	}
	return cases
}

// execScript runs a script whose interpreter does not exist: if Landlock wrongly allowed
// the execve, it would fail with ENOENT rather than replace the runner.
func execScript(dir string) (func() error, func(audit.Access)) {
	p := filepath.Join(dir, "script")
	Expect(os.WriteFile(p, []byte("#!/nonexistent/interpreter\n"), 0o755)).To(Succeed())
	return func() error { return unix.Exec(p, []string{p}, nil) }, expectFile(p)
}

func openClose(path string, flags int) error {
	fd, err := unix.Open(path, flags|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	return unix.Close(fd)
}

// rejectionAttr returns the attr that handles c's right, for the rejection check.
func rejectionAttr(p sandbox.Policy) landlock.RulesetAttr { return p.Layers[0].Attr }

// auditFeature names the audit record feature of a blocker.
func auditFeature(blocker string) string { return "audit." + blocker }

var _ = suite.Describe("ACCESS records", func() {
	for _, c := range blockerCases {
		abi := max(c.abi, 7)
		It(fmt.Sprintf("MUST log a denial of %s as exactly one ACCESS record with blockers=%s, the denying domain and the object's fields", c.blocker, c.blocker),
			spec.Feature(c.featureName(), abi), spec.Needs("audit", "root"), spec.ID(c.id()), c.labels(), func() {
				if !spec.SupportedOrRejected(c.featureName(), abi, func() { expectBlockerAbsent(c) }) {
					return
				}
				e := openAudit()
				act, check := c.act(e.dir)
				res := sandbox.Thread(c.policy(e.dir), act)
				spec.ExpectErrno(res, c.want, "%s denied in thread mode", c.blocker)
				l := e.log()
				// The records themselves, for the report: a sample per kernel.
				AddReportEntry("audit.records", dump(l), ReportEntryVisibilityFailureOrVerbose)
				ours := deniedBy(l, os.Getpid())
				Expect(ours).To(HaveLen(1), "ACCESS records of the denial of %s\nrecords:\n%s", c.blocker, dump(l))
				a := ours[0]
				Expect(a.BlockerList()).To(Equal(c.blocker), "blockers=")
				check(a)
				expectAllocated(l, a.Domain, os.Getpid())
				expectAllocatedWithFirstDenial(l, a.Domain)
				// No deallocation check here: a thread-mode domain lives as long as its
				// thread, and the Go runtime may keep that thread (it wedges rather than
				// ends the main thread). The process-mode specs check deallocation.
				spec.EnforcedVerdict(c.featureName(), abi)
			})
	}

	It("MUST log a scope.signal denial with the target's opid and ocomm", spec.Feature(auditFeature("scope.signal"), 7), spec.Needs("audit", "root"), spec.ID("access.scope.signal"), func() {
		e := requireAuditABI()
		pid, res := runHelper(sandbox.Scoped(landlock.ScopeSignal), actions.Kill(os.Getpid()))
		expectErrnos(res, unix.EPERM)
		l := e.log()
		ours := deniedBy(l, pid)
		Expect(ours).To(HaveLen(1), "ACCESS records of the helper's signal\nrecords:\n%s", dump(l))
		a := ours[0]
		Expect(a.BlockerList()).To(Equal("scope.signal"), "blockers=")
		Expect(a.OPid).To(Equal(os.Getpid()), "opid= (the signalled process)")
		Expect(a.OComm).NotTo(BeNil(), "ocomm= field")
		Expect(a.OComm.Value).To(Equal(commOf(os.Getpid())), "ocomm=")
		expectAllocated(l, a.Domain, pid)
		expectAllocatedWithFirstDenial(l, a.Domain)
		e.waitDeallocated(a.Domain, 1)
		spec.EnforcedVerdict(auditFeature("scope.signal"), 7)
	})

	It("MUST log a ptrace denial with blockers=ptrace and the tracee's opid and ocomm", spec.Feature(auditFeature("ptrace"), 7), spec.Needs("audit", "root"), spec.ID("access.ptrace"), spec.Selftest("ptrace_test", "audit.trace"), func() {
		e := requireAuditABI()
		// The tracee is an unrestricted helper of its own: never the runner, which a
		// wrongly allowed PTRACE_ATTACH would stop.
		target := startSteps(sandbox.Policy{}, actions.Sync)
		target.reached()
		tpid := target.p.Pid()
		res := sandbox.Thread(sandbox.FS(landlock.AccessFSReadFile), func() error {
			err := unix.PtraceAttach(tpid)
			if err == nil {
				_ = unix.PtraceDetach(tpid)
			}
			return err
		})
		spec.ExpectErrno(res, unix.EPERM, "PTRACE_ATTACH from a domain to an unrestricted process")
		target.resume()
		target.wait()
		l := e.log()
		ours := deniedBy(l, os.Getpid())
		Expect(ours).To(HaveLen(1), "ACCESS records of the ptrace denial\nrecords:\n%s", dump(l))
		a := ours[0]
		Expect(a.BlockerList()).To(Equal("ptrace"), "blockers=")
		Expect(a.OPid).To(Equal(tpid), "opid= (the tracee)")
		Expect(a.OComm).NotTo(BeNil(), "ocomm= field")
		Expect(a.OComm.Value).To(Equal(helperComm(tpid)), "ocomm= (the tracee, a helper)")
		expectAllocated(l, a.Domain, os.Getpid())
		spec.EnforcedVerdict(auditFeature("ptrace"), 7)
	})
})

// requireAuditABI opens an audit session for specs of ABI 7 behaviour; below ABI 7 they
// have nothing to check beyond what the flag-rejection specs check.
func requireAuditABI() *env {
	GinkgoHelper()
	spec.RequireLandlock()
	if !spec.Supports(7) {
		spec.Skip("Landlock ABI %d has no audit records (ABI 7); their absence and the log flags' rejection are checked by other specs", spec.Kernel().ABI)
	}
	return openAudit()
}

// deniedBy returns the ACCESS records of denials by process pid: those in events whose
// SYSCALL record names pid, or of domains whose allocated record does.
func deniedBy(l *audit.Log, pid int) []audit.Access {
	mine := map[audit.DomainID]bool{}
	for _, id := range l.AllocatedBy(pid) {
		mine[id] = true
	}
	return l.Accesses(func(ev *audit.Event, a audit.Access) bool {
		if p, ok := ev.Pid(); ok {
			return p == pid
		}
		return mine[a.Domain]
	})
}

// expectBlockerAbsent checks, on a kernel below max(c.abi, 7), that c's record is cleanly
// absent: a right unknown to the kernel is rejected, and the denial of a known one emits no
// Landlock record.
func expectBlockerAbsent(c blockerCase) {
	GinkgoHelper()
	if spec.Supports(c.abi) {
		expectNoLandlockRecords(c)
		return
	}
	// The right itself is unknown to this kernel: it must reject it.
	attr := rejectionAttr(c.policy("/"))
	fd, err := landlock.CreateRuleset(&attr, landlock.RulesetAttrSize, 0)
	if err == nil {
		unix.Close(fd)
	}
	spec.ExpectErr(err, landlock.CreateRulesetErrno(attr.Bytes(), landlock.RulesetAttrSize, spec.Kernel().ABI), "create_ruleset handling %s above the kernel's ABI %d", c.blocker, spec.Kernel().ABI)
}

// expectNoLandlockRecords checks, below ABI 7, that a denial emits no Landlock record.
func expectNoLandlockRecords(c blockerCase) {
	GinkgoHelper()
	e := openAudit()
	act, _ := c.act(e.dir)
	res := sandbox.Thread(c.policy(e.dir), act)
	spec.ExpectErrno(res, c.want, "%s denied in thread mode", c.blocker)
	l := e.log()
	Expect(deniedBy(l, os.Getpid())).To(BeEmpty(), "Landlock records below ABI 7\nrecords:\n%s", dump(l))
}
