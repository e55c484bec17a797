package audit

import (
	"errors"
	"fmt"
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
)

// The audit_layout1 selftests of fs_test.c about reparenting and whiteouts: which
// directories a denied link, rename or exchange is logged against, with which blockers,
// and which right a denied whiteout is logged as.

// layout1 creates the selftests' layout1 hierarchy (without its mount) under dir.
func layout1(dir string) {
	GinkgoHelper()
	for _, f := range []string{"s1d1/f1", "s1d1/f2", "s1d1/s1d2/f1", "s1d1/s1d2/f2", "s1d1/s1d2/s1d3/f1", "s1d1/s1d2/s1d3/f2",
		"s2d1/f1", "s2d1/s2d2/f1", "s2d1/s2d2/s2d3/f1", "s2d1/s2d2/s2d3/f2", "s3d1/f1"} {
		p := filepath.Join(dir, f)
		Expect(os.MkdirAll(filepath.Dir(p), 0o755)).To(Succeed())
		Expect(os.WriteFile(p, []byte("x"), 0o644)).To(Succeed())
	}
	Expect(os.MkdirAll(filepath.Join(dir, "s3d1/s3d2"), 0o755)).To(Succeed())
}

// loggedDenial is what an ACCESS record of a file denial says, for comparisons.
type loggedDenial struct {
	blockers, path, ioctlcmd string
}

func (d loggedDenial) String() string {
	s := fmt.Sprintf("blockers=%s path=%q", d.blockers, d.path)
	if d.ioctlcmd != "" {
		s += " ioctlcmd=" + d.ioctlcmd
	}
	return s
}

func denialsOf(as []audit.Access) []loggedDenial {
	out := make([]loggedDenial, len(as))
	for i, a := range as {
		out[i] = loggedDenial{blockers: a.BlockerList(), ioctlcmd: a.IoctlCmd}
		if a.Path != nil {
			out[i].path = a.Path.Value
		}
	}
	return out
}

func denialsText(ds []loggedDenial) string {
	if len(ds) == 0 {
		return "(none)"
	}
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = d.String()
	}
	return strings.Join(parts, "; ")
}

// referAuditCase is one of the reparenting selftests: a policy, a denied action on the
// layout under dir and the ACCESS records it must give, in order.
type referAuditCase struct {
	selftest string
	it       string
	policy   func(dir string) sandbox.Policy
	act      func(dir string) func() error
	want     unix.Errno
	records  func(dir string) []loggedDenial
}

func link(from, to string) func(string) func() error {
	return func(dir string) func() error {
		return func() error { return unix.Link(filepath.Join(dir, from), filepath.Join(dir, to)) }
	}
}

func renameIn(from, to string, flags uint) func(string) func() error {
	return func(dir string) func() error {
		return func() error {
			return unix.Renameat2(unix.AT_FDCWD, filepath.Join(dir, from), unix.AT_FDCWD, filepath.Join(dir, to), flags)
		}
	}
}

func logged(pairs ...string) func(string) []loggedDenial {
	return func(dir string) []loggedDenial {
		var ds []loggedDenial
		for i := 0; i < len(pairs); i += 2 {
			ds = append(ds, loggedDenial{blockers: pairs[i], path: filepath.Join(dir, pairs[i+1])})
		}
		return ds
	}
}

func allFSRights() uint64 {
	return landlock.Mask(landlock.KindFS, min(spec.Kernel().ABI, landlock.MaxABI))
}

var referAuditCases = []referAuditCase{
	{
		selftest: "refer_handled",
		it:       "MUST log a link denied for REFER alone once for each directory: the source's parent, then the destination",
		policy:   func(string) sandbox.Policy { return sandbox.FS(landlock.AccessFSRefer) },
		act:      link("s1d1/f1", "s1d1/s1d2/s1d3/f1"),
		want:     unix.EXDEV,
		records:  logged("fs.refer", "s1d1", "fs.refer", "s1d1/s1d2/s1d3"),
	},
	{
		selftest: "refer_make",
		it:       "MUST log a link denied for REFER and MAKE_REG with fs.refer on the source's parent and fs.make_reg,fs.refer on the destination",
		policy:   func(string) sandbox.Policy { return sandbox.FS(landlock.AccessFSMakeReg | landlock.AccessFSRefer) },
		act:      link("s1d1/f1", "s1d1/s1d2/s1d3/f1"),
		want:     unix.EACCES,
		records:  logged("fs.refer", "s1d1", "fs.make_reg,fs.refer", "s1d1/s1d2/s1d3"),
	},
	{
		selftest: "refer_rename",
		it:       "MUST log a rename replacing a file, in a domain handling every right, with the removal and reference on the source's parent and the removal, creation and reference on the destination",
		policy:   func(string) sandbox.Policy { return sandbox.FS(allFSRights()) },
		act:      renameIn("s1d1/s1d2/f1", "s2d1/s2d2/s2d3/f1", 0),
		want:     unix.EACCES,
		records:  logged("fs.remove_file,fs.refer", "s1d1/s1d2", "fs.remove_file,fs.make_reg,fs.refer", "s2d1/s2d2/s2d3"),
	},
	{
		selftest: "refer_exchange",
		it:       "MUST log an exchange, in a domain handling every right, with the removal, creation and reference on both parents",
		policy:   func(string) sandbox.Policy { return sandbox.FS(allFSRights()) },
		act:      renameIn("s1d1/s1d2/f1", "s2d1/s2d2/s2d3/f1", unix.RENAME_EXCHANGE),
		want:     unix.EACCES,
		records:  logged("fs.remove_file,fs.make_reg,fs.refer", "s1d1/s1d2", "fs.remove_file,fs.make_reg,fs.refer", "s2d1/s2d2/s2d3"),
	},
	{
		selftest: "refer_rename_half",
		it:       "MUST log only the denied half of a rename: REFER on the source's parent when the destination grants it",
		policy: func(dir string) sandbox.Policy {
			return sandbox.FS(landlock.AccessFSRefer, sandbox.PathRule{Path: filepath.Join(dir, "s2d1/s2d2"), Access: landlock.AccessFSRefer})
		},
		act:     renameIn("s1d1/s1d2", "s2d1/s2d2/s2d3", 0),
		want:    unix.EXDEV,
		records: logged("fs.refer", "s1d1"),
	},
}

// Sentinels for the right a whiteout denial is logged as, so that ClassifyErratum can
// compare the records of a fixed and an unfixed kernel.
var (
	errLoggedMakeReg  = errors.New("logged as fs.make_reg")
	errLoggedMakeChar = errors.New("logged as fs.make_char")
)

var _ = suite.Describe("ACCESS records of reparenting and whiteouts", spec.Needs("audit", "root"), func() {
	for _, c := range referAuditCases {
		It(c.it, spec.Feature("audit.fs.refer", 7), spec.ID("audit_layout1."+c.selftest), spec.Selftest("fs_test", "audit_layout1."+c.selftest), func() {
			deny := func() (string, *audit.Log, []audit.Access) {
				GinkgoHelper()
				e := openAudit()
				layout1(e.dir)
				Expect(os.Remove(filepath.Join(e.dir, "s1d1/s1d2/s1d3/f1"))).To(Succeed())
				res := sandbox.Thread(c.policy(e.dir), c.act(e.dir))
				spec.ExpectErrno(res, c.want, "%s denied in thread mode", c.selftest)
				l := e.log()
				return e.dir, l, deniedBy(l, os.Getpid())
			}
			// Below ABI 7 the same denial must emit no Landlock record at all.
			if !spec.SupportedOrRejected("audit.fs.refer", 7, func() {
				if _, _, ours := deny(); len(ours) != 0 {
					Fail(fmt.Sprintf("Landlock records below ABI 7: %s", denialsText(denialsOf(ours))))
				}
			}) {
				return
			}
			dir, l, ours := deny()
			got, want := denialsOf(ours), c.records(dir)
			if fmt.Sprint(got) != fmt.Sprint(want) {
				Fail(fmt.Sprintf("%s: ACCESS records: got %s, want %s\nrecords:\n%s", c.selftest, denialsText(got), denialsText(want), dump(l)))
			}
			for _, a := range ours {
				Expect(a.Domain).To(Equal(ours[0].Domain), "every record names the one domain")
			}
			expectAllocated(l, ours[0].Domain, os.Getpid())
			spec.EnforcedVerdict("audit.fs.refer", 7)
		})
	}

	It("MUST log a denied whiteout (mknod S_IFCHR 0:0) as fs.make_reg on its directory where erratum 4 is advertised",
		spec.Erratum(4), spec.ID("audit_layout1.make_whiteout"), spec.Selftest("fs_test", "audit_layout1.make_whiteout"), func() {
			e := openAudit()
			layout1(e.dir)
			s1d3 := filepath.Join(e.dir, "s1d1/s1d2/s1d3")
			Expect(os.Remove(filepath.Join(s1d3, "f1"))).To(Succeed())
			p := sandbox.FS(allFSRights())
			res := sandbox.Thread(p, func() error { return unix.Mknod(filepath.Join(s1d3, "f1"), unix.S_IFCHR|0o644, 0) })
			// Both MAKE_REG and MAKE_CHAR are handled: fixed or not, the kernel denies.
			spec.ExpectErrno(res, unix.EACCES, "mknod(s1d3/f1, S_IFCHR, 0:0) in a domain handling every right")
			l := e.log()
			got := denialsOf(deniedBy(l, os.Getpid()))
			if !spec.Supports(7) {
				if len(got) != 0 {
					Fail(fmt.Sprintf("Landlock records below ABI 7: %s", denialsText(got)))
				}
				spec.Skip("Landlock ABI %d has no audit records (ABI 7): erratum 4 is checked by other specs", spec.Kernel().ABI)
			}
			if len(got) != 1 || got[0].path != s1d3 {
				Fail(fmt.Sprintf("ACCESS records of the denied whiteout: got %s, want one naming %s\nrecords:\n%s", denialsText(got), s1d3, dump(l)))
			}
			var seen error
			switch got[0].blockers {
			case "fs.make_reg":
				seen = errLoggedMakeReg
			case "fs.make_char":
				seen = errLoggedMakeChar
			default:
				seen = fmt.Errorf("logged as %s", got[0].blockers)
			}
			kind, detail := spec.ClassifyErratum([]spec.Observation{
				{What: "mknod(S_IFCHR 0:0) denied in a domain handling every right", Seen: seen, Fixed: errLoggedMakeReg, Unfixed: errLoggedMakeChar},
			})
			spec.ErratumVerdict(4, kind, detail)
		})
})
