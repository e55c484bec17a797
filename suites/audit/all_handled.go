package audit

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"unsafe"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/sys/unix"

	"github.com/llconform/llconform/internal/audit"
	"github.com/llconform/llconform/internal/landlock"
	"github.com/llconform/llconform/internal/sandbox"
	"github.com/llconform/llconform/internal/spec"
)

// The ACCESS records specs (blockers_test.go) handle only the right they deny. fs_test.c's
// audit_layout1 tests handle every fs right instead, so that a record listing a right the
// request did not need, or one the domain handles but did not deny, shows. The specs below
// do the same with every fs right of the kernel's ABI, and check the audit_layout1 tests
// whose requests leave several records (narrowCases).

// fsRecord is an expected ACCESS record: its blockers and the check of its object fields.
type fsRecord struct {
	blockers string
	check    func(audit.Access)
}

// deniedOp is one request the domain denies, with the records it must leave.
type deniedOp struct {
	what    string
	do      func() error
	want    unix.Errno
	records []fsRecord
}

type allHandledCase struct {
	right    string // the fs right the requests need and miss, as blockers names it without "fs."
	variant  string // tells apart a second case of the same right, in the spec id
	selftest string // the audit_layout1 test
	denies   string // what the spec's sentence says is denied; the right by default
	// handled is the domain's handled set; 0 stands for every fs right of the kernel's ABI.
	handled uint64
	// unhandled leaves rights out of the handled set, for a request that needs them
	// before the denied one (the case says why).
	unhandled uint64
	// ops prepares the objects beneath dir, unrestricted, and returns the requests.
	ops func(dir string) []deniedOp
}

func (c allHandledCase) id() string {
	if c.handled != 0 {
		return "access.fs." + c.right + "." + c.variant
	}
	id := "access.fs." + c.right + ".all_handled"
	if c.variant != "" {
		id += "." + c.variant
	}
	return id
}

// handledSet is the set the case's domain handles on this kernel.
func (c allHandledCase) handledSet() uint64 {
	h := c.handled
	if h == 0 {
		h = landlock.Mask(landlock.KindFS, spec.Kernel().ABI)
	}
	return h &^ c.unhandled
}

// sentence is the spec's text.
func (c allHandledCase) sentence(r landlock.Right) string {
	if c.handled != 0 {
		return fmt.Sprintf("MUST log each denial of %s by a domain handling %s as ACCESS records listing only the missing rights (%s)",
			c.denies, landlock.Names(landlock.KindFS, c.handled), c.selftest)
	}
	denies := c.denies
	if denies == "" {
		denies = r.String()
	}
	return fmt.Sprintf("MUST list only the missing rights as blockers when a domain handling every fs right of the kernel's ABI denies %s (%s)", denies, c.selftest)
}

// fsRight returns the fs right named name.
func fsRight(name string) landlock.Right {
	for _, r := range landlock.FSRights {
		if r.Name == name {
			return r
		}
	}
	panic("unknown fs right " + name)
}

// one returns an operation leaving a single record.
func one(what string, do func() error, want unix.Errno, blockers string, check func(audit.Access)) deniedOp {
	return deniedOp{what: what, do: do, want: want, records: []fsRecord{{blockers, check}}}
}

// mknodOp returns a denied mknod of name in dir, whose record names dir.
func mknodOp(dir, name string, mode uint32, dev int, blockers string) deniedOp {
	p := filepath.Join(dir, name)
	return one(fmt.Sprintf("mknod(%s, %#o)", name, mode), func() error { return unix.Mknod(p, mode|0o600, dev) }, unix.EACCES, blockers, expectFile(dir))
}

// atExecveCheck is AT_EXECVE_CHECK (Linux 6.14): execveat only checks that the file may be
// executed. Every kernel with audit records (ABI 7, Linux 6.15) has it.
const atExecveCheck = 0x10000

// execveCheck runs execveat(AT_FDCWD, path, AT_EXECVE_CHECK), which never replaces the
// calling process.
func execveCheck(path string) error {
	p, err := unix.BytePtrFromString(path)
	if err != nil {
		return err
	}
	argv := []*byte{p, nil}
	fdcwd := unix.AT_FDCWD
	atFdcwd := uintptr(fdcwd)
	envp := []*byte{nil}
	_, _, errno := unix.Syscall6(unix.SYS_EXECVEAT, atFdcwd, uintptr(unsafe.Pointer(p)),
		uintptr(unsafe.Pointer(&argv[0])), uintptr(unsafe.Pointer(&envp[0])), atExecveCheck, 0)
	if errno != 0 {
		return errno
	}
	return nil
}

// referOps returns a rename (or exchange) of a/f over b/f, both existing: with every
// right handled, each parent misses REMOVE_FILE and REFER, and the one receiving a file
// MAKE_REG.
func referOps(dir string, exchange bool) []deniedOp {
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	Expect(os.Mkdir(a, 0o755)).To(Succeed())
	Expect(os.Mkdir(b, 0o755)).To(Succeed())
	src, dst := fileIn(a, "f"), fileIn(b, "f")
	op := deniedOp{what: "rename(a/f, b/f)", do: func() error { return unix.Rename(src, dst) }, want: unix.EACCES,
		records: []fsRecord{{"fs.remove_file,fs.refer", expectFile(a)}, {"fs.remove_file,fs.make_reg,fs.refer", expectFile(b)}}}
	if exchange {
		op.what = "renameat2(a/f, b/f, RENAME_EXCHANGE)"
		op.do = func() error { return unix.Renameat2(unix.AT_FDCWD, src, unix.AT_FDCWD, dst, unix.RENAME_EXCHANGE) }
		// Both parents receive a file.
		op.records[0].blockers = "fs.remove_file,fs.make_reg,fs.refer"
	}
	return []deniedOp{op}
}

var allHandledCases = []allHandledCase{
	{right: "execute", selftest: "execute_read", ops: func(dir string) []deniedOp {
		exec, check := execScript(dir)
		p := filepath.Join(dir, "script")
		// Executing opens the file for reading too: with READ_FILE handled, both are
		// missing, in one record.
		ops := []deniedOp{one("execve(script)", exec, unix.EACCES, "fs.execute,fs.read_file", check)}
		if !spec.Supports(7) {
			// Kernels without audit records may predate AT_EXECVE_CHECK (EINVAL).
			return ops
		}
		return append(ops, one("execveat(script, AT_EXECVE_CHECK)", func() error { return execveCheck(p) }, unix.EACCES, "fs.execute,fs.read_file", check))
	}},
	{right: "write_file", selftest: "write_file", ops: func(dir string) []deniedOp {
		p := fileIn(dir, "f")
		return []deniedOp{one("open(f, O_WRONLY)", func() error { return openClose(p, unix.O_WRONLY) }, unix.EACCES, "fs.write_file", expectFile(p))}
	}},
	{right: "read_file", selftest: "read_file", ops: func(dir string) []deniedOp {
		p := fileIn(dir, "f")
		return []deniedOp{one("open(f, O_RDONLY)", func() error { return openClose(p, unix.O_RDONLY) }, unix.EACCES, "fs.read_file", expectFile(p))}
	}},
	{right: "read_dir", selftest: "read_dir", ops: func(dir string) []deniedOp {
		return []deniedOp{one("open(dir, O_DIRECTORY)", func() error { return openClose(dir, unix.O_RDONLY|unix.O_DIRECTORY) }, unix.EACCES, "fs.read_dir", expectFile(dir))}
	}},
	{right: "remove_dir", selftest: "remove_dir", ops: func(dir string) []deniedOp {
		d := filepath.Join(dir, "d")
		Expect(os.Mkdir(d, 0o755)).To(Succeed())
		return []deniedOp{
			one("rmdir(d)", func() error { return unix.Rmdir(d) }, unix.EACCES, "fs.remove_dir", expectFile(dir)),
			one("unlinkat(d, AT_REMOVEDIR)", func() error { return unix.Unlinkat(unix.AT_FDCWD, d, unix.AT_REMOVEDIR) }, unix.EACCES, "fs.remove_dir", expectFile(dir)),
		}
	}},
	{right: "remove_file", selftest: "remove_file", ops: func(dir string) []deniedOp {
		p := fileIn(dir, "f")
		return []deniedOp{one("unlink(f)", func() error { return unix.Unlink(p) }, unix.EACCES, "fs.remove_file", expectFile(dir))}
	}},
	{right: "make_char", selftest: "make_char", ops: func(dir string) []deniedOp {
		return []deniedOp{mknodOp(dir, "c", unix.S_IFCHR, int(unix.Mkdev(1, 3)), "fs.make_char")}
	}},
	{right: "make_dir", selftest: "make_dir", ops: func(dir string) []deniedOp {
		d := filepath.Join(dir, "d")
		return []deniedOp{one("mkdir(d)", func() error { return unix.Mkdir(d, 0o755) }, unix.EACCES, "fs.make_dir", expectFile(dir))}
	}},
	{right: "make_reg", selftest: "make_reg", ops: func(dir string) []deniedOp {
		return []deniedOp{mknodOp(dir, "r", unix.S_IFREG, 0, "fs.make_reg")}
	}},
	{right: "make_reg", variant: "whiteout", selftest: "make_whiteout", denies: "a whiteout (fs.make_reg, or fs.make_char where erratum 4 is not fixed)", ops: func(dir string) []deniedOp {
		// A whiteout (a 0:0 character device) needs MAKE_REG where erratum 4 is fixed,
		// MAKE_CHAR before: the record must follow what the kernel claims. A kernel
		// fixed but not claiming it fails here as in fs/errata.e4.whiteout_mknod.
		blockers := "fs.make_char"
		if spec.Kernel().Fixed(4) {
			blockers = "fs.make_reg"
		}
		return []deniedOp{mknodOp(dir, "w", unix.S_IFCHR, 0, blockers)}
	}},
	{right: "make_sock", selftest: "make_sock", ops: func(dir string) []deniedOp {
		return []deniedOp{mknodOp(dir, "s", unix.S_IFSOCK, 0, "fs.make_sock")}
	}},
	{right: "make_fifo", selftest: "make_fifo", ops: func(dir string) []deniedOp {
		return []deniedOp{mknodOp(dir, "p", unix.S_IFIFO, 0, "fs.make_fifo")}
	}},
	{right: "make_block", selftest: "make_block", ops: func(dir string) []deniedOp {
		return []deniedOp{mknodOp(dir, "b", unix.S_IFBLK, int(unix.Mkdev(7, 0)), "fs.make_block")}
	}},
	{right: "make_sym", selftest: "make_sym", ops: func(dir string) []deniedOp {
		s := filepath.Join(dir, "s")
		return []deniedOp{one("symlink(target, s)", func() error { return unix.Symlink("target", s) }, unix.EACCES, "fs.make_sym", expectFile(dir))}
	}},
	{right: "refer", selftest: "refer_rename", ops: func(dir string) []deniedOp { return referOps(dir, false) }},
	{right: "refer", variant: "exchange", selftest: "refer_exchange", ops: func(dir string) []deniedOp { return referOps(dir, true) }},
	{right: "truncate", selftest: "truncate", ops: func(dir string) []deniedOp {
		p := fileIn(dir, "f")
		return []deniedOp{one("truncate(f)", func() error { return unix.Truncate(p, 0) }, unix.EACCES, "fs.truncate", expectFile(p))}
	}},
	{right: "ioctl_dev", selftest: "ioctl_dev", unhandled: landlock.AccessFSReadFile, ops: func(string) []deniedOp {
		// The device must be opened inside the domain (a file opened outside it keeps
		// every right), hence READ_FILE left unhandled.
		const dev = "/dev/null"
		return []deniedOp{one("ioctl(/dev/null, FIONREAD)", func() error {
			fd, err := unix.Open(dev, unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				return spec.SetupFailed("open "+dev, err)
			}
			defer unix.Close(fd)
			_, err = unix.IoctlGetInt(fd, unix.TIOCINQ) // FIONREAD
			return err
		}, unix.EACCES, "fs.ioctl_dev", func(a audit.Access) {
			GinkgoHelper()
			expectFileAnd(dev, "ioctlcmd")(a)
			Expect(a.IoctlCmd).To(Equal(fmt.Sprintf("%#x", unix.TIOCINQ)), "ioctlcmd=")
		})}
	}},
	{right: "resolve_unix", selftest: "resolve_unix", ops: func(dir string) []deniedOp {
		p := filepath.Join(dir, "sock")
		l, err := net.Listen("unix", p)
		Expect(err).NotTo(HaveOccurred(), "listen on %s outside the domain", p)
		DeferCleanup(l.Close)
		return []deniedOp{one("connect(sock)", func() error {
			fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				return spec.SetupFailed("socket(AF_UNIX)", err)
			}
			defer unix.Close(fd)
			return unix.Connect(fd, &unix.SockaddrUnix{Name: p})
		}, unix.EACCES, "fs.resolve_unix", expectFile(p))}
	}},
}

// runDenied runs ops in order under p on one thread; the first request not ending as
// expected is the error.
func runDenied(p sandbox.Policy, ops []deniedOp) sandbox.Result {
	return sandbox.Thread(p, func() error {
		for _, op := range ops {
			if err := op.do(); !spec.IsErrno(err, op.want) {
				return fmt.Errorf("%s: got %s, want %s", op.what, spec.ErrnoName(err), spec.ErrnoName(op.want))
			}
		}
		return nil
	})
}

// narrowCases are the audit_layout1 tests with a handled set of their own whose requests
// leave several records, or that the single-record specs of blockers_test.go do not do.
var narrowCases = []allHandledCase{
	{right: "execute", variant: "execve_check", selftest: "execute_make", handled: landlock.AccessFSExecute,
		denies: "execve and execveat(AT_EXECVE_CHECK)", ops: func(dir string) []deniedOp {
			exec, check := execScript(dir)
			p := filepath.Join(dir, "script")
			ops := []deniedOp{one("execve(script)", exec, unix.EACCES, "fs.execute", check)}
			if !spec.Supports(7) {
				// Kernels without audit records may predate AT_EXECVE_CHECK (EINVAL).
				return ops
			}
			return append(ops, one("execveat(script, AT_EXECVE_CHECK)", func() error { return execveCheck(p) }, unix.EACCES, "fs.execute", check))
		}},
	{right: "refer", variant: "link", selftest: "refer_handled", handled: landlock.AccessFSRefer,
		denies: "a link(2) to another directory", ops: func(dir string) []deniedOp { return linkOps(dir, "fs.refer", unix.EXDEV) }},
	{right: "refer", variant: "link_make", selftest: "refer_make", handled: landlock.AccessFSRefer | landlock.AccessFSMakeReg,
		denies: "a link(2) to another directory", ops: func(dir string) []deniedOp {
			return linkOps(dir, "fs.make_reg,fs.refer", unix.EACCES)
		}},
}

// linkOps returns a link of a/f as b/f: the source's parent misses REFER (the file gets
// a second parent), the destination's dstBlockers.
func linkOps(dir, dstBlockers string, want unix.Errno) []deniedOp {
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	Expect(os.Mkdir(a, 0o755)).To(Succeed())
	Expect(os.Mkdir(b, 0o755)).To(Succeed())
	src, dst := fileIn(a, "f"), filepath.Join(b, "f")
	return []deniedOp{{what: "link(a/f, b/f)", do: func() error { return unix.Link(src, dst) }, want: want,
		records: []fsRecord{{"fs.refer", expectFile(a)}, {dstBlockers, expectFile(b)}}}}
}

var _ = suite.Describe("ACCESS records listing only the missing rights", func() {
	for _, c := range append(append([]allHandledCase(nil), allHandledCases...), narrowCases...) {
		r := fsRight(c.right)
		abi := max(r.ABI, 7)
		feature := auditFeature(r.String())
		It(c.sentence(r),
			spec.Feature(feature, abi), spec.Needs("audit", "root"), spec.ID(c.id()), spec.Selftest("fs_test", "audit_layout1."+c.selftest), func() {
				if !spec.SupportedOrRejected(feature, abi, func() { expectAllHandledAbsent(c, r) }) {
					return
				}
				e := openAudit()
				handled := c.handledSet()
				ops := c.ops(e.dir)
				res := runDenied(sandbox.FS(handled), ops)
				spec.ExpectErrno(res, nil, "requests needing %s, in a domain handling %s", r, landlock.Names(landlock.KindFS, handled))
				l := e.log()
				ours := deniedBy(l, os.Getpid())
				var want, got []string
				var checks []func(audit.Access)
				for _, op := range ops {
					for _, rec := range op.records {
						want = append(want, rec.blockers)
						checks = append(checks, rec.check)
					}
				}
				for _, a := range ours {
					got = append(got, a.BlockerList())
				}
				Expect(got).To(Equal(want), "blockers= of the ACCESS records, in order, for %s (needing %s) in a domain handling %s\nrecords:\n%s",
					describeOps(ops), r, landlock.Names(landlock.KindFS, handled), dump(l))
				for i, a := range ours {
					checks[i](a)
					Expect(a.Domain).To(Equal(ours[0].Domain), "domain= of record %d: one domain denied every request", i+1)
				}
				expectAllocated(l, ours[0].Domain, os.Getpid())
				expectAllocatedWithFirstDenial(l, ours[0].Domain)
				spec.EnforcedVerdict(feature, abi)
			})
	}
})

func describeOps(ops []deniedOp) string {
	whats := make([]string, len(ops))
	for i, op := range ops {
		whats[i] = op.what
	}
	return strings.Join(whats, ", ")
}

// expectAllHandledAbsent checks, on a kernel below max(right's ABI, 7), that the case is
// cleanly absent: a right unknown to the kernel cannot be handled (beside those the kernel
// knows), and the denials of a known one leave no Landlock record.
func expectAllHandledAbsent(c allHandledCase, r landlock.Right) {
	GinkgoHelper()
	kabi := spec.Kernel().ABI
	handled := c.handledSet()
	if !spec.Supports(r.ABI) {
		attr := landlock.RulesetAttr{HandledAccessFS: handled | r.Bit}
		fd, err := landlock.CreateRuleset(&attr, landlock.RulesetAttrSize, 0)
		if err == nil {
			unix.Close(fd)
		}
		spec.ExpectErr(err, landlock.CreateRulesetErrno(attr.Bytes(), landlock.RulesetAttrSize, kabi),
			"create_ruleset handling every fs right of ABI %d and %s (ABI %d)", kabi, r, r.ABI)
		return
	}
	e := openAudit()
	ops := c.ops(e.dir)
	spec.ExpectErrno(runDenied(sandbox.FS(handled), ops), nil, "requests needing %s, in a domain handling %s", r, landlock.Names(landlock.KindFS, handled))
	l := e.log()
	Expect(deniedBy(l, os.Getpid())).To(BeEmpty(), "Landlock records below ABI 7\nrecords:\n%s", dump(l))
}
