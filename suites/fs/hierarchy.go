package fs

import (
	"fmt"
	"os"
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	"golang.org/x/sys/unix"

	"github.com/llconform/llconform/internal/landlock"
	"github.com/llconform/llconform/internal/sandbox"
	"github.com/llconform/llconform/internal/spec"
	"github.com/llconform/llconform/suites/fs/actions"
)

const (
	rRead  uint64 = landlock.AccessFSReadFile
	rWrite uint64 = landlock.AccessFSWriteFile
	rDir   uint64 = landlock.AccessFSReadDir
	rRO           = rRead | rDir
	rRW           = rRO | rWrite
)

// check is one expected outcome inside a domain.
type check struct {
	what string
	do   func() error
	want error
}

func opened(path string, flags int, want error) check {
	return check{what: fmt.Sprintf("open(%s, %s)", path, openFlags(flags)), do: func() error { return actions.OpenErr(path, flags) }, want: want}
}

// openedFrom opens name relative to an O_PATH descriptor of dir, which failure messages
// call dirName.
func openedFrom(dir, dirName, name string, flags int, want error) check {
	return check{
		what: fmt.Sprintf("openat(O_PATH fd of %s, %s, %s)", dirName, name, openFlags(flags)),
		do:   func() error { return openatFrom(dir, name, flags) },
		want: want,
	}
}

// expectChecks enforces p on a fresh thread, runs the checks there and asserts each.
func expectChecks(p sandbox.Policy, checks ...check) {
	GinkgoHelper()
	ops := make([]func() error, len(checks))
	for i, c := range checks {
		ops[i] = c.do
	}
	errs := runOps(p, ops...)
	for i, c := range checks {
		spec.ExpectErr(errs[i], c.want, "%s: %s", actions.PolicyText(p), c.what)
	}
}

// layout is the tree most hierarchy specs use:
//
//	w/f  w/a/f  w/a/b/f  w/a/b/c/f  w/x/f
func layout() (w, a, b, c, x string) {
	w = tree("f", "a/f", "a/b/f", "a/b/c/f", "x/f")
	return w, filepath.Join(w, "a"), filepath.Join(w, "a/b"), filepath.Join(w, "a/b/c"), filepath.Join(w, "x")
}

func f(dir string) string { return filepath.Join(dir, "f") }

var _ = suite.Describe("rule hierarchy", func() {
	BeforeEach(spec.RequireLandlock)

	It("MUST apply a rule to its whole tree beneath and to nothing above or beside it", spec.Feature("fs.beneath", 1), spec.ID("hierarchy.beneath"), selftests("layout1.effective_access"), func() {
		w, a, b, c, x := layout()
		expectChecks(sandbox.FS(rRW, actions.Rule(b, rRO)),
			opened(f(w), unix.O_RDONLY, unix.EACCES),
			opened(a, unix.O_RDONLY|unix.O_DIRECTORY, unix.EACCES),
			opened(f(a), unix.O_RDONLY, unix.EACCES),
			opened(f(x), unix.O_RDONLY, unix.EACCES),
			opened(b, unix.O_RDONLY|unix.O_DIRECTORY, nil),
			opened(f(b), unix.O_RDONLY, nil),
			opened(c, unix.O_RDONLY|unix.O_DIRECTORY, nil),
			opened(f(c), unix.O_RDONLY, nil),
			opened(f(c), unix.O_WRONLY, unix.EACCES),
		)
		spec.EnforcedVerdict("fs.beneath", 1)
	})

	It("MUST add up the rights of several rules of one layer, on the same path or nested paths", spec.Feature("fs.rule_union", 1), spec.ID("layout1.ruleset_overlap"), selftests("layout1.ruleset_overlap", "layout1.layer_rule_unions"), func() {
		_, _, b, c, _ := layout()
		expectChecks(sandbox.FS(rRW, actions.Rule(b, rRead), actions.Rule(b, rDir), actions.Rule(c, rWrite)),
			opened(f(b), unix.O_RDONLY, nil),
			opened(b, unix.O_RDONLY|unix.O_DIRECTORY, nil),
			opened(f(b), unix.O_RDWR, unix.EACCES),
			opened(f(c), unix.O_RDWR, nil),
		)
		spec.EnforcedVerdict("fs.rule_union", 1)
	})

	It("MUST grant an access only when every nested layer grants it", spec.Feature("fs.layers", 1), spec.ID("layout1.layer_rule_unions"), selftests("layout1.layer_rule_unions"), func() {
		_, _, b, c, _ := layout()
		outer := sandbox.FS(rRW, actions.Rule(b, rRead), actions.Rule(c, rWrite))
		inner := sandbox.FS(rRW, actions.Rule(b, rWrite))
		expectChecks(outer.Then(inner),
			opened(f(c), unix.O_WRONLY, nil),
			opened(f(c), unix.O_RDONLY, unix.EACCES),
			opened(f(b), unix.O_WRONLY, unix.EACCES),
			opened(f(b), unix.O_RDONLY, unix.EACCES),
		)
		spec.EnforcedVerdict("fs.layers", 1)
	})

	It("MUST NOT restrict a right that a layer does not handle, even when another layer handles other rights", spec.Feature("fs.unhandled", 1), spec.ID("hierarchy.unhandled"), selftests("layout1.unhandled_access", "layout1.non_overlapping_accesses", "layout1.empty_or_same_ruleset"), func() {
		w, _, b, _, _ := layout()
		readOnly := sandbox.FS(rRead, actions.Rule(b, rRead))
		makeOnly := sandbox.FS(landlock.AccessFSMakeDir)
		expectChecks(readOnly.Then(makeOnly),
			opened(f(w), unix.O_WRONLY, nil),
			opened(f(w), unix.O_RDONLY, unix.EACCES),
			opened(f(w), unix.O_RDWR, unix.EACCES),
			opened(f(b), unix.O_RDWR, nil),
			opened(w, unix.O_RDONLY|unix.O_DIRECTORY, nil),
			check{what: "mkdir(w/new)", do: func() error { return unix.Mkdir(filepath.Join(w, "new"), 0o700) }, want: unix.EACCES},
		)
		spec.EnforcedVerdict("fs.unhandled", 1)
	})

	It("MUST enforce 16 nested layers, refuse a 17th with E2BIG and keep the 16 in force", spec.Feature("fs.layers", 1), spec.ID("layout0.max_layers"), selftests("layout0.max_layers"), func() {
		w, a, _, _, x := layout()
		p := sandbox.Policy{}
		for range 16 {
			p = p.Then(sandbox.FS(rRead, actions.Rule(a, rRead)))
		}
		extra, err := landlock.CreateRuleset(&landlock.RulesetAttr{HandledAccessFS: rRead}, landlock.RulesetAttrSizeV1, 0)
		must(err, "create the 17th ruleset")
		defer unix.Close(extra)
		expectChecks(p,
			opened(f(a), unix.O_RDONLY, nil),
			check{what: "restrict_self with a 17th layer", do: func() error { return landlock.RestrictSelf(extra, 0) }, want: unix.E2BIG},
			opened(f(x), unix.O_RDONLY, unix.EACCES),
			opened(f(w), unix.O_RDONLY, unix.EACCES),
		)
		spec.EnforcedVerdict("fs.layers", 1)
	})

	It("MUST NOT widen a domain when the same ruleset, given more rules, is enforced again", spec.Feature("fs.layers", 1), spec.ID("layout1.inherit_superset"), selftests("layout1.inherit_superset", "layout1.inherit_subset"), func() {
		_, a, b, c, _ := layout()
		var errs [4]error
		err := sandbox.OnThread(func() error {
			fd, err := landlock.CreateRuleset(&landlock.RulesetAttr{HandledAccessFS: rRW}, landlock.RulesetAttrSizeV1, 0)
			if err != nil {
				return fmt.Errorf("create_ruleset: %w", err)
			}
			defer unix.Close(fd)
			if err := actions.AddRule(fd, b, rRO); err != nil {
				return err
			}
			if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
				return fmt.Errorf("no_new_privs: %w", err)
			}
			if err := landlock.RestrictSelf(fd, 0); err != nil {
				return fmt.Errorf("first restrict_self: %w", err)
			}
			// The ruleset now also grants write beneath b and everything beneath a.
			if err := actions.AddRule(fd, b, rWrite); err != nil {
				return err
			}
			if err := actions.AddRule(fd, a, rRW); err != nil {
				return err
			}
			if err := landlock.RestrictSelf(fd, 0); err != nil {
				return fmt.Errorf("second restrict_self: %w", err)
			}
			errs[0] = actions.OpenErr(f(b), unix.O_WRONLY)
			errs[1] = actions.OpenErr(f(c), unix.O_WRONLY)
			errs[2] = actions.OpenErr(f(a), unix.O_RDONLY)
			errs[3] = actions.OpenErr(f(c), unix.O_RDONLY)
			return nil
		})
		must(err, "enforce the same ruleset twice")
		spec.ExpectErr(errs[0], unix.EACCES, "write beneath b after re-enforcing a ruleset that gained write on b")
		spec.ExpectErr(errs[1], unix.EACCES, "write beneath b/c after re-enforcing a ruleset that gained write on b")
		spec.ExpectErr(errs[2], unix.EACCES, "read in a after re-enforcing a ruleset that gained a rule on a")
		spec.ExpectErr(errs[3], nil, "read beneath b, granted by both enforcements")
		spec.EnforcedVerdict("fs.layers", 1)
	})

	It("MUST keep descriptors opened before restrict_self working and check only new opens", spec.Feature("fs.opened_fd", 1), spec.ID("hierarchy.opened_fd"), func() {
		w, _, _, _, _ := layout()
		var readErr, writeErr, dentsErr, reopenErr error
		err := sandbox.OnThread(func() error {
			fd, err := unix.Open(f(w), unix.O_RDWR|unix.O_CLOEXEC, 0)
			if err != nil {
				return fmt.Errorf("open before restricting: %w", err)
			}
			defer unix.Close(fd)
			dfd, err := unix.Open(w, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
			if err != nil {
				return fmt.Errorf("open dir before restricting: %w", err)
			}
			defer unix.Close(dfd)
			if err := sandbox.FS(allFS()).Enforce(); err != nil {
				return fmt.Errorf("enforce: %w", err)
			}
			_, writeErr = unix.Pwrite(fd, []byte("x"), 0)
			_, readErr = unix.Pread(fd, make([]byte, 1), 0)
			_, dentsErr = unix.Getdents(dfd, make([]byte, 4096))
			reopenErr = actions.OpenErr(f(w), unix.O_RDONLY)
			return nil
		})
		must(err, "run on a sandbox thread")
		spec.ExpectErr(writeErr, nil, "write(2) on a descriptor opened O_RDWR before a domain handling every right")
		spec.ExpectErr(readErr, nil, "read(2) on that descriptor")
		spec.ExpectErr(dentsErr, nil, "getdents64 on a directory descriptor opened before the domain")
		spec.ExpectErr(reopenErr, unix.EACCES, "a new open(O_RDONLY) of the same file inside the domain")
		spec.EnforcedVerdict("fs.opened_fd", 1)
	})

	It("MUST allow O_PATH opens anywhere and check openat from an O_PATH descriptor against the target's own hierarchy", spec.Feature("fs.o_path", 1), spec.ID("hierarchy.o_path"), selftests("layout1.effective_access", "layout1.relative_open", "layout1.relative_chdir"), func() {
		w, a, b, _, _ := layout()
		expectChecks(sandbox.FS(rRW, actions.Rule(b, rRO)),
			opened(w, unix.O_PATH, nil),
			opened(f(a), unix.O_PATH, nil),
			openedFrom(w, "w", "a/b/f", unix.O_RDONLY, nil),
			openedFrom(w, "w", "a/f", unix.O_RDONLY, unix.EACCES),
			openedFrom(b, "b", "..", unix.O_RDONLY|unix.O_DIRECTORY, unix.EACCES),
			openedFrom(b, "b", "../b/f", unix.O_RDONLY, nil),
			openedFrom(b, "b", "f", unix.O_WRONLY, unix.EACCES),
		)
		spec.EnforcedVerdict("fs.o_path", 1)
	})

	It("MUST check a reopen through /proc/self/fd like an open of the file itself, unlinked or not", spec.Feature("fs.proc_magic_link", 1), spec.ID("layout1.proc_unlinked_file"), selftests("layout1.proc_unlinked_file"), func() {
		_, _, b, _, _ := layout()
		var errs [4]error
		err := sandbox.OnThread(func() error {
			if err := sandbox.FS(rRW, actions.Rule(f(b), rRead)).Enforce(); err != nil {
				return fmt.Errorf("enforce: %w", err)
			}
			fd, err := unix.Open(f(b), unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				return fmt.Errorf("open the granted file: %w", err)
			}
			defer unix.Close(fd)
			link := fmt.Sprintf("/proc/self/fd/%d", fd)
			errs[0] = actions.OpenErr(link, unix.O_RDONLY)
			errs[1] = actions.OpenErr(link, unix.O_RDWR)
			if err := os.Remove(f(b)); err != nil {
				return fmt.Errorf("unlink: %w", err)
			}
			errs[2] = actions.OpenErr(link, unix.O_RDONLY)
			errs[3] = actions.OpenErr(link, unix.O_RDWR)
			return nil
		})
		must(err, "run on a sandbox thread")
		what := "read_file granted on b/f only, write_file handled"
		spec.ExpectErr(errs[0], nil, "%s: reopen /proc/self/fd/N O_RDONLY", what)
		spec.ExpectErr(errs[1], unix.EACCES, "%s: reopen /proc/self/fd/N O_RDWR", what)
		spec.ExpectErr(errs[2], nil, "%s: reopen /proc/self/fd/N O_RDONLY after unlink", what)
		spec.ExpectErr(errs[3], unix.EACCES, "%s: reopen /proc/self/fd/N O_RDWR after unlink", what)
		spec.EnforcedVerdict("fs.proc_magic_link", 1)
	})

	It("MUST NOT restrict pipes, memfds and socketpairs, nor their /proc/self/fd reopens", spec.Feature("fs.anonymous_files", 1), spec.ID("hierarchy.anonymous_files"), selftests("layout1.proc_pipe", "memfd_ftruncate_and_ioctl"), func() {
		var errs [5]error
		err := sandbox.OnThread(func() error {
			if err := sandbox.FS(allFS()).Enforce(); err != nil {
				return fmt.Errorf("enforce: %w", err)
			}
			var p [2]int
			if errs[0] = unix.Pipe2(p[:], unix.O_CLOEXEC); errs[0] != nil {
				return nil
			}
			defer unix.Close(p[0])
			defer unix.Close(p[1])
			errs[1] = actions.OpenErr(fmt.Sprintf("/proc/self/fd/%d", p[1]), unix.O_WRONLY)
			errs[2] = actions.OpenErr(fmt.Sprintf("/proc/self/fd/%d", p[0]), unix.O_RDONLY)
			mfd, err := unix.MemfdCreate("llconform", unix.MFD_CLOEXEC)
			if errs[3] = err; err != nil {
				return nil
			}
			defer unix.Close(mfd)
			errs[4] = unix.Ftruncate(mfd, 4096)
			return nil
		})
		must(err, "run on a sandbox thread")
		what := "domain handling " + actions.Names(allFS()) + " with no rule"
		spec.ExpectErr(errs[0], nil, "%s: pipe2", what)
		spec.ExpectErr(errs[1], nil, "%s: reopen the pipe's write end through /proc/self/fd", what)
		spec.ExpectErr(errs[2], nil, "%s: reopen the pipe's read end through /proc/self/fd", what)
		spec.ExpectErr(errs[3], nil, "%s: memfd_create", what)
		spec.ExpectErr(errs[4], nil, "%s: ftruncate of the memfd", what)
		spec.FeatureVerdict("fs.anonymous_files", 1)
	})

	It("MUST allow opening /proc/self/ns/mnt (a disconnected nsfs path) while denying /proc, and refuse it as a rule parent with EBADFD", spec.Feature("fs.procfs", 1), spec.ID("layout0.proc_nsfs"), selftests("layout0.proc_nsfs"), func() {
		expectChecks(sandbox.FS(rRO),
			opened("/proc", unix.O_RDONLY|unix.O_DIRECTORY, unix.EACCES),
			opened("/proc/self/status", unix.O_RDONLY, unix.EACCES),
			opened("/proc/self/ns/mnt", unix.O_RDONLY, nil),
		)
		fd, err := landlock.CreateRuleset(&landlock.RulesetAttr{HandledAccessFS: rRO}, landlock.RulesetAttrSizeV1, 0)
		must(err, "create_ruleset")
		defer unix.Close(fd)
		spec.ExpectErr(actions.AddRule(fd, "/proc/self/ns/mnt", rRead), unix.EBADFD, "add_rule(/proc/self/ns/mnt, read_file)")
		spec.EnforcedVerdict("fs.procfs", 1)
	})

	It("MUST apply rules on procfs paths like on any other", spec.Feature("fs.procfs", 1), spec.ID("hierarchy.procfs_rule"), selftests("layout3_fs.tag_inode_dir_child"), func() {
		expectChecks(sandbox.FS(rRO, actions.Rule("/proc/self", rRead)),
			opened("/proc/self/status", unix.O_RDONLY, nil),
			opened("/proc/self/task", unix.O_RDONLY|unix.O_DIRECTORY, unix.EACCES),
			opened("/proc/version", unix.O_RDONLY, unix.EACCES),
		)
		spec.EnforcedVerdict("fs.procfs", 1)
	})

	It("MUST apply rules on sysfs paths like on any other", spec.Feature("fs.sysfs", 1), spec.ID("hierarchy.sysfs_rule"), selftests("layout3_fs.tag_inode_dir_child"), func() {
		inside, outside := sysfsFiles()
		expectChecks(sandbox.FS(rRO, actions.Rule("/sys/kernel", rRead)),
			opened(inside, unix.O_RDONLY, nil),
			opened(outside, unix.O_RDONLY, unix.EACCES),
			opened("/sys/kernel", unix.O_RDONLY|unix.O_DIRECTORY, unix.EACCES),
		)
		spec.EnforcedVerdict("fs.sysfs", 1)
	})

	It("MUST accept a rule on the root directory and intersect it with a narrower layer", spec.Feature("fs.beneath", 1), spec.ID("layout1.rule_over_root_allow_then_deny"), selftests("layout1.rule_over_root_allow_then_deny", "layout1.rule_over_root_deny"), func() {
		w, _, _, _, _ := layout()
		expectChecks(sandbox.FS(rRW, actions.Rule("/", rRO)),
			opened("/", unix.O_RDONLY|unix.O_DIRECTORY, nil),
			opened(f(w), unix.O_RDONLY, nil),
			opened(f(w), unix.O_WRONLY, unix.EACCES),
		)
		expectChecks(sandbox.FS(rRW, actions.Rule("/", rRO)).Then(sandbox.FS(rRW, actions.Rule("/", rRead))),
			opened("/", unix.O_RDONLY|unix.O_DIRECTORY, unix.EACCES),
			opened(w, unix.O_RDONLY|unix.O_DIRECTORY, unix.EACCES),
			opened(f(w), unix.O_RDONLY, nil),
		)
		spec.EnforcedVerdict("fs.beneath", 1)
	})

	It("MUST refuse a rule granting a right its ruleset does not handle (EINVAL) or granting nothing (ENOMSG)", spec.Feature("fs.rule_validation", 1), spec.ID("layout1.rule_with_unhandled_access"), selftests("layout1.rule_with_unhandled_access", "layout0.rule_with_unknown_access", "layout1.inval"), func() {
		w, _, _, _, _ := layout()
		fd, err := landlock.CreateRuleset(&landlock.RulesetAttr{HandledAccessFS: landlock.AccessFSExecute}, landlock.RulesetAttrSizeV1, 0)
		must(err, "create_ruleset handling execute")
		defer unix.Close(fd)
		for _, r := range landlock.FSRights {
			if r.Bit == landlock.AccessFSExecute || !spec.Supports(r.ABI) {
				continue
			}
			spec.ExpectErr(actions.AddRule(fd, w, landlock.AccessFSExecute|r.Bit), unix.EINVAL, "add_rule(dir, execute|%s) on a ruleset handling execute", r)
		}
		spec.ExpectErr(actions.AddRule(fd, w, 0), unix.ENOMSG, "add_rule(dir, no access)")
		spec.ExpectErr(actions.AddRule(fd, w, landlock.AccessFSExecute), nil, "add_rule(dir, execute)")
		for i := range 64 {
			bit := uint64(1) << i
			if bit&allFS() != 0 {
				continue
			}
			spec.ExpectErr(actions.AddRule(fd, w, landlock.AccessFSExecute|bit), unix.EINVAL, "add_rule(dir, execute|bit %#x the kernel does not support)", bit)
		}
		spec.FeatureVerdict("fs.rule_validation", 1)
	})
})

// openatFrom opens name relative to an O_PATH descriptor of dir.
func openatFrom(dir, name string, flags int) error {
	dfd, err := unix.Open(dir, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return spec.SetupFailed("open(O_PATH) of "+dir, err)
	}
	defer unix.Close(dfd)
	return actions.OpenatErr(dfd, name, flags)
}

// sysfsFiles returns a readable sysfs file beneath /sys/kernel and one outside it, skipping
// the spec when sysfs offers neither (no sysfs mounted).
func sysfsFiles() (inside, outside string) {
	GinkgoHelper()
	pick := func(cands ...string) string {
		for _, c := range cands {
			if actions.OpenErr(c, unix.O_RDONLY) == nil {
				return c
			}
		}
		return ""
	}
	inside = pick("/sys/kernel/uevent_seqnum", "/sys/kernel/profiling", "/sys/kernel/address_bits", "/sys/kernel/kexec_loaded")
	outside = pick("/sys/devices/system/cpu/online", "/sys/devices/system/cpu/possible", "/sys/power/state", "/sys/class/net/lo/mtu")
	if inside == "" || outside == "" {
		spec.Skip("sysfs is not mounted or offers no readable file at the usual places (beneath /sys/kernel: %q, elsewhere: %q)", inside, outside)
	}
	return inside, outside
}
