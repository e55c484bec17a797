package trace

import (
	"fmt"
	"os"
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/sys/unix"

	"github.com/llconform/llconform/internal/landlock"
	"github.com/llconform/llconform/internal/sandbox"
	"github.com/llconform/llconform/internal/spec"
	"github.com/llconform/llconform/suites/trace/actions"
)

const (
	readDir  = landlock.AccessFSReadDir
	readFile = landlock.AccessFSReadFile
	execute  = landlock.AccessFSExecute
)

// fsLayout is the directory tree of the filesystem specs, below a temporary directory:
// d1, d1/d2, d1/f1 (a file) and other.
func fsLayout() string {
	GinkgoHelper()
	base := tempDir()
	mkdirs(base, "d1/d2", "other")
	Expect(os.WriteFile(filepath.Join(base, "d1/f1"), []byte("x"), 0o644)).To(Succeed())
	return base
}

// layer is one layer of a filesystem policy: the rights handled and the rules, by path
// relative to the layout.
type layer struct {
	handled uint64
	rules   map[string]uint64
}

func policyOf(base string, layers []layer) sandbox.Policy {
	var p sandbox.Policy
	for _, l := range layers {
		lp := sandbox.FS(l.handled)
		for rel, access := range l.rules {
			lp.Layers[0].Paths = append(lp.Layers[0].Paths, sandbox.PathRule{Path: filepath.Join(base, rel), Access: access})
		}
		p = p.Then(lp)
	}
	return p
}

type selftestRef struct{ file, test string }

func selftests(refs ...selftestRef) Labels {
	var l Labels
	for _, r := range refs {
		l = append(l, spec.Selftest(r.file, r.test)...)
	}
	return l
}

var _ = suite.Describe("landlock_check_rule_inode", func() {
	// checkWant is one check_rule_inode event: the rule's directory, the access requested
	// and what the rule grants of it in each layer.
	type checkWant struct {
		at      string
		request uint64
		grants  []uint64
	}
	type ruleCase struct {
		id     string
		refs   []selftestRef
		abi    int
		what   string
		layers []layer // none: no domain at all
		open   string  // the path opened, relative to the layout
		file   bool    // opened as a file (read-only), else as a directory
		checks []checkWant
		denied bool // the open is denied: one deny_access_fs
	}
	for _, c := range []ruleCase{
		{id: "trace_layout1.check_rule_fs_fields", refs: []selftestRef{{"fs_test", "trace_layout1.check_rule_fs_fields"}, {"trace_fs_test", "trace_fs.allowed_access"}},
			abi: 1, what: "MUST fire once for the rule that allows an access, with the domain, the request, the rule's device and inode and its grants",
			layers: []layer{{readDir, map[string]uint64{"d1": readDir}}}, open: "d1",
			checks: []checkWant{{"d1", readDir, []uint64{readDir}}}},
		{id: "trace_layout1.check_rule_fs_multiple_rules", refs: []selftestRef{{"fs_test", "trace_layout1.check_rule_fs_multiple_rules"}},
			abi: 1, what: "MUST fire only for the rules a path walk reaches before the access is granted",
			layers: []layer{{readDir, map[string]uint64{"d1": readDir, "d1/d2": readDir}}}, open: "d1/d2",
			checks: []checkWant{{"d1/d2", readDir, []uint64{readDir}}}},
		{id: "trace_layout1.check_rule_fs_request_subset", refs: []selftestRef{{"fs_test", "trace_layout1.check_rule_fs_request_subset"}},
			abi: 1, what: "MUST limit the grants to the rights requested",
			layers: []layer{{readDir | execute, map[string]uint64{"d1": readDir | execute}}}, open: "d1",
			checks: []checkWant{{"d1", readDir, []uint64{readDir}}}},
		{id: "trace_layout1.check_rule_fs_optional_access", refs: []selftestRef{{"fs_test", "trace_layout1.check_rule_fs_optional_access"}},
			abi: 3, what: "MUST show the optional TRUNCATE an open evaluates in the request and the grants",
			layers: []layer{{readFile | landlock.AccessFSTruncate, map[string]uint64{"d1": readFile | landlock.AccessFSTruncate}}}, open: "d1/f1", file: true,
			checks: []checkWant{{"d1", readFile | landlock.AccessFSTruncate, []uint64{readFile | landlock.AccessFSTruncate}}}},
		{id: "trace_layout1.check_rule_fs_empty_grant", refs: []selftestRef{{"fs_test", "trace_layout1.check_rule_fs_empty_grant"}},
			abi: 1, what: "MUST fire also for a matching rule that grants nothing requested (grants={})",
			layers: []layer{{readDir | execute, map[string]uint64{"d1": readDir, "d1/d2": execute}}}, open: "d1/d2",
			checks: []checkWant{{"d1/d2", readDir, []uint64{0}}, {"d1", readDir, []uint64{readDir}}}},
		{id: "trace_fs.check_rule_unhandled", refs: []selftestRef{{"trace_fs_test", "trace_fs.check_rule_unhandled"}},
			abi: 1, what: "MUST NOT fire for an access the domain does not handle",
			layers: []layer{{readFile, map[string]uint64{"d1": readFile}}}, open: "other"},
		{id: "trace_fs.check_rule_nested", refs: []selftestRef{{"trace_fs_test", "trace_fs.check_rule_nested"}},
			abi: 1, what: "MUST print one grants group per layer, outermost first",
			layers: []layer{{readDir, map[string]uint64{"d1": readDir}}, {readDir, map[string]uint64{"d1": readDir}}}, open: "d1",
			checks: []checkWant{{"d1", readDir, []uint64{readDir, readDir}}}},
		{id: "check_rule_nested.empty_layer", abi: 1, what: "MUST print an empty grants group for a layer in which the rule grants nothing requested",
			layers: []layer{{readDir, map[string]uint64{"d1": readDir}}, {readDir | execute, map[string]uint64{"d1": execute}}}, open: "d1",
			checks: []checkWant{{"d1", readDir, []uint64{readDir, 0}}}, denied: true},
		{id: "trace_fs.unsandboxed", refs: []selftestRef{{"trace_fs_test", "trace_fs.unsandboxed"}},
			abi: 1, what: "MUST NOT fire, nor any other event, for an access outside any domain", open: "d1"},
	} {
		It(c.what, spec.ID(c.id), feature("trace.check_rule_inode", c.abi), selftests(c.refs...), func() {
			if !requireEvents("trace.check_rule_inode", c.abi) {
				return
			}
			base := fsLayout()
			target := filepath.Join(base, c.open)
			onThread(func() error {
				if len(c.layers) > 0 {
					if err := enforce(policyOf(base, c.layers)); err != nil {
						return err
					}
				}
				var want error
				if c.denied {
					want = unix.EACCES
				}
				if c.file {
					return expectErr(openFile(target), want, "open(%s, O_RDONLY)", c.open)
				}
				return expectErr(actions.OpenDir(target), want, "open(%s, O_DIRECTORY)", c.open)
			})
			evs := readEvents()
			if len(c.layers) == 0 {
				if len(evs) != 0 {
					Fail(fmt.Sprintf("Landlock events for an access outside any domain:\n%s", evs))
				}
				works("trace.check_rule_inode", c.abi)
				return
			}
			domains := evs.domainsCreated()
			Expect(domains).To(HaveLen(len(c.layers)), "create_domain events\ntrace:\n%s", evs)
			checks := evs.count("check_rule_inode", len(c.checks), "open(%s)", c.open)
			for i, w := range c.checks {
				devNum, ino := devIno(filepath.Join(base, w.at))
				expectFields(checks[i], fmt.Sprintf("check %d of %d, the rule on %s", i+1, len(c.checks), w.at),
					"domain", id(domains[len(domains)-1]), "access_request", fsMask(w.request), "dev", devNum, "ino", ino,
					"grants", grantsOf(w.grants))
			}
			evs.count("deny_access_fs", map[bool]int{false: 0, true: 1}[c.denied], "open(%s)", c.open)
			works("trace.check_rule_inode", c.abi)
		})
	}
})

func grantsOf(layers []uint64) string {
	s := "{"
	for i, m := range layers {
		if i > 0 {
			s += ","
		}
		s += fsMask(m)
	}
	return s + "}"
}

var _ = suite.Describe("landlock_deny_access_fs", func() {
	type denyCase struct {
		id       string
		refs     []selftestRef
		what     string
		handled  uint64
		target   string // created below the layout, then opened
		flags    int    // open flags; a directory is opened with O_DIRECTORY
		blockers uint64
		want     string // the target's name as the event prints it
	}
	for _, c := range []denyCase{
		{id: "trace_fs.deny_access_fs_denied", refs: []selftestRef{{"trace_fs_test", "trace_fs.deny_access_fs_denied"}, {"trace_test", "trace.deny_access_fs_fields"}},
			what: "a directory read", handled: readDir, target: "other", flags: unix.O_RDONLY | unix.O_DIRECTORY, blockers: readDir, want: "other"},
		{id: "deny_access_fs.escaped", what: "a directory read, the directory's name escaped", handled: readDir,
			target: "x y\n\xff=\\", flags: unix.O_RDONLY | unix.O_DIRECTORY, blockers: readDir, want: `x\040y\n\377\075\\`},
		{id: "deny_access_fs.two_rights", what: "a file opened for reading and writing, both rights blocking", handled: readFile | landlock.AccessFSWriteFile,
			target: "d1/f1", flags: unix.O_RDWR, blockers: readFile | landlock.AccessFSWriteFile, want: "d1/f1"},
	} {
		It(fmt.Sprintf("MUST fire once per denial, with the denying domain, same_exec=1 and logged=1 by default, the blockers and the object's device, inode and escaped path (%s)", c.what),
			spec.ID(c.id), feature("trace.deny_access_fs", 1), selftests(c.refs...), func() {
				if !requireEvents("trace.deny_access_fs", 1) {
					return
				}
				base := fsLayout()
				target := filepath.Join(base, c.target)
				if _, err := os.Stat(target); os.IsNotExist(err) {
					mkdirs(base, c.target)
				}
				onThread(func() error {
					if err := enforce(policyOf(base, []layer{{c.handled, map[string]uint64{"d1/d2": c.handled}}})); err != nil {
						return err
					}
					fd, err := unix.Open(target, c.flags|unix.O_CLOEXEC, 0)
					if err == nil {
						unix.Close(fd)
					}
					return expectErr(err, unix.EACCES, "open(%q, %#x)", c.target, c.flags)
				})
				evs := readEvents()
				d := evs.oneDomain("restrict_self")
				e := evs.one("deny_access_fs", "a denied open of %q", c.target)
				devNum, ino := devIno(target)
				expectFields(e, "denied open of "+c.target, "domain", id(d), "same_exec", "1", "logged", "1",
					"blockers", fsMask(c.blockers), "dev", devNum, "ino", ino, "path", escaped(base)+"/"+c.want)
				works("trace.deny_access_fs", 1)
			})
	}

	It("MUST truncate an overflowing path with the marker, without spoiling the blockers", spec.ID("trace_fs.deny_access_fs_escaped_path_overflow"),
		feature("trace.deny_access_fs", 1), spec.Selftest("trace_fs_test", "trace_fs.deny_access_fs_escaped_path_overflow"), func() {
			if !requireEvents("trace.deny_access_fs", 1) {
				return
			}
			base := tempDir()
			allowed := mkdirs(base, "allowed")[0]
			long := longPath(base)
			onThread(func() error {
				if err := enforce(sandbox.FS(readDir, sandbox.PathRule{Path: allowed, Access: readDir})); err != nil {
					return err
				}
				return expectErr(actions.OpenDir(long), unix.EACCES, "open(a %d-byte path)", len(long))
			})
			e := readEvents().one("deny_access_fs", "a denied open of a %d-byte path", len(long))
			expectFields(e, "denied open of a long path", "blockers", "read_dir")
			expectTruncated(e, long)
			works("trace.deny_access_fs", 1)
		})

	It("MUST name the change_topology blocker for a denied mount operation", spec.ID("trace_fs.deny_change_topology"), feature("trace.deny_access_fs", 2),
		spec.Selftest("trace_fs_test", "trace_fs.deny_change_topology"), func() {
			if !requireEvents("trace.deny_access_fs", 2) {
				return
			}
			devNum, ino := devIno("/")
			onThread(func() error {
				// The thread's own mount namespace: were the kernel to allow the mount
				// operation, it would change nothing outside.
				if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
					return spec.SetupFailed("unshare(CLONE_NEWNS)", err)
				}
				if err := enforce(sandbox.FS(landlock.AccessFSRefer)); err != nil {
					return err
				}
				return expectErr(unix.Mount("", "/", "", unix.MS_PRIVATE|unix.MS_REC, ""), unix.EPERM, "mount(/, MS_PRIVATE|MS_REC)")
			})
			evs := readEvents()
			d := evs.oneDomain("restrict_self")
			e := evs.one("deny_access_fs", "a denied change of the mount propagation of /")
			expectFields(e, "denied mount propagation change", "domain", id(d), "same_exec", "1", "logged", "1",
				"blockers", "change_topology", "dev", devNum, "ino", ino, "path", "/")
			works("trace.deny_access_fs", 2)
		})

	It("MUST fire for a denial a quiet rule silences, with logged=0", spec.ID("trace_fs.deny_access_fs_quiet"), feature("trace.deny_access_fs", 10),
		spec.Selftest("trace_fs_test", "trace_fs.deny_access_fs_quiet"), func() {
			if !requireEvents("trace.deny_access_fs", 10) {
				return
			}
			dir := tempDir()
			p := sandbox.Policy{Layers: []sandbox.Layer{{
				Attr:  landlock.RulesetAttr{HandledAccessFS: readDir, QuietAccessFS: readDir},
				Paths: []sandbox.PathRule{{Path: dir, Access: 0, Flags: landlock.AddRuleQuiet}},
			}}}
			onThread(func() error {
				if err := enforce(p); err != nil {
					return err
				}
				return expectErr(actions.OpenDir(dir), unix.EACCES, "open(%s) beneath a quiet rule", dir)
			})
			evs := readEvents()
			d := evs.oneDomain("restrict_self")
			e := evs.one("deny_access_fs", "a denied open beneath a quiet rule")
			expectFields(e, "quiet denial", "domain", id(d), "same_exec", "1", "logged", "0", "blockers", "read_dir", "path", escaped(dir))
			works("trace.deny_access_fs", 10)
		})

	type loggedCase struct {
		id                string
		refs              []selftestRef
		abi               int
		outer             *uint32 // the flags of an outer layer, if any
		flags             uint32
		exec              bool // denied in an executed child
		sameExec, logged  bool
		restrictionPhrase string
	}
	subdomainsOff := uint32(landlock.RestrictSelfLogSubdomainsOff)
	for _, c := range []loggedCase{
		{id: "trace.same_exec_before_exec", refs: []selftestRef{{"trace_test", "trace.same_exec_before_exec"}, {"trace_test", "trace.deny_access_fs_fields"}},
			abi: 1, sameExec: true, logged: true, restrictionPhrase: "the restricting executable, default flags"},
		{id: "trace.log_flags_same_exec_off", refs: []selftestRef{{"trace_test", "trace.log_flags_same_exec_off"}},
			abi: 7, flags: landlock.RestrictSelfLogSameExecOff, sameExec: true, logged: false, restrictionPhrase: "the restricting executable, LOG_SAME_EXEC_OFF"},
		{id: "trace.same_exec_after_exec", refs: []selftestRef{{"trace_test", "trace.same_exec_after_exec"}},
			abi: 1, exec: true, sameExec: false, logged: false, restrictionPhrase: "an executed program, default flags"},
		{id: "trace.log_flags_new_exec_on", refs: []selftestRef{{"trace_test", "trace.log_flags_new_exec_on"}},
			abi: 7, flags: landlock.RestrictSelfLogNewExecOn, exec: true, sameExec: false, logged: true, restrictionPhrase: "an executed program, LOG_NEW_EXEC_ON"},
		{id: "trace.log_flags_subdomains_off", refs: []selftestRef{{"trace_test", "trace.log_flags_subdomains_off"}},
			abi: 7, outer: &subdomainsOff, sameExec: true, logged: false, restrictionPhrase: "a domain nested in one with LOG_SUBDOMAINS_OFF"},
	} {
		It(fmt.Sprintf("MUST give same_exec=%s and logged=%s for a denial by %s", bit(c.sameExec), bit(c.logged), c.restrictionPhrase),
			spec.ID(c.id), feature("trace.deny_access_fs", c.abi), selftests(c.refs...), func() {
				if !requireEvents("trace.deny_access_fs", c.abi) {
					return
				}
				denied := tempDir()
				p := sandbox.FS(readDir)
				p.Layers[0].RestrictFlags = c.flags
				if c.outer != nil {
					outer := sandbox.FS(readDir)
					outer.Layers[0].RestrictFlags = *c.outer
					p = outer.Then(p)
				}
				onThread(func() error {
					if err := enforce(p); err != nil {
						return err
					}
					if c.exec {
						res := sandbox.Process(sandbox.Policy{}, actions.Opendir, denied)
						if res.Setup != nil {
							return res.Setup
						}
						return expectErr(res.Err, unix.EACCES, "executed child: open(%s)", denied)
					}
					return expectErr(actions.OpenDir(denied), unix.EACCES, "open(%s)", denied)
				})
				evs := readEvents()
				domains := evs.domainsCreated()
				Expect(domains).To(HaveLen(len(p.Layers)), "create_domain events\ntrace:\n%s", evs)
				e := evs.with("path", escaped(denied)).one("deny_access_fs", "a denied open of %s", denied)
				expectFields(e, "denial by "+c.restrictionPhrase, "domain", id(domains[len(domains)-1]),
					"same_exec", bit(c.sameExec), "logged", bit(c.logged), "blockers", "read_dir")
				works("trace.deny_access_fs", c.abi)
			})
	}
})
