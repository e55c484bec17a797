package audit_test

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

var _ = Describe("quiet rules", func() {
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

	It("MUST NOT log net denials that a QUIET port rule and quiet_access_net cover, and log the others",
		spec.Feature("audit.quiet_access_net", 10), spec.Needs("audit", "root"), spec.ID("quiet.net"), func() {
			e := requireQuiet("audit.quiet_access_net", landlock.RulesetAttr{HandledAccessNet: landlock.AccessNetBindTCP, QuietAccessNet: landlock.AccessNetBindTCP})
			if e == nil {
				return
			}
			p := sandbox.Policy{Layers: []sandbox.Layer{{
				Attr:  landlock.RulesetAttr{HandledAccessNet: landlock.AccessNetBindTCP, QuietAccessNet: landlock.AccessNetBindTCP},
				Ports: []sandbox.PortRule{{Port: testPort, Access: 0, Flags: landlock.AddRuleQuiet}},
			}}}
			bind := func(port int) func() error {
				return sockOp(unix.SOCK_STREAM, func(fd int) error { return unix.Bind(fd, inet(port)) })
			}
			res := sandbox.Thread(p, func() error {
				if err := bind(testPort)(); err != unix.EACCES {
					return fmt.Errorf("bind(port %d, quiet rule): got %s, want EACCES", testPort, spec.ErrnoName(err))
				}
				return bind(testPort + 1)()
			})
			spec.ExpectErrno(res, unix.EACCES, "bind to a quiet port, then to another")
			l := e.log()
			ours := deniedBy(l, os.Getpid())
			Expect(ours).To(HaveLen(1), "only the bind to the port without a quiet rule is logged\nrecords:\n%s", dump(l))
			Expect(ours[0].Src).To(Equal(testPort+1), "src= of the logged bind")
			spec.EnforcedVerdict("audit.quiet_access_net", 10)
		})

	It("MUST NOT log scope denials selected by quiet_scoped, and log the other scopes",
		spec.Feature("audit.quiet_scoped", 10), spec.Needs("audit", "root"), spec.ID("quiet.scope"), func() {
			e := requireQuiet("audit.quiet_scoped", landlock.RulesetAttr{Scoped: landlock.ScopeSignal, QuietScoped: landlock.ScopeSignal})
			if e == nil {
				return
			}
			me := os.Getpid()
			p := sandbox.Policy{Layers: []sandbox.Layer{{Attr: landlock.RulesetAttr{Scoped: landlock.ScopeSignal, QuietScoped: landlock.ScopeSignal}}}}
			// The quiet layer denies the first signal; a second, loud, layer the second.
			pid, res := runHelper(p, kill(me), restrict(0), kill(me))
			expectErrnos(res, unix.EPERM, 0, unix.EPERM)
			l := e.log()
			ids := deniedSignals(l, pid)
			Expect(ids).To(HaveLen(1), "only the loud layer's denial is logged\nrecords:\n%s", dump(l))
			Expect(l.AllocatedBy(pid)).To(Equal(ids), "only the loud domain is logged")
			spec.EnforcedVerdict("audit.quiet_scoped", 10)
		})
})
