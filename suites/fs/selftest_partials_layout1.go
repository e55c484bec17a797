package fs

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	"golang.org/x/sys/unix"

	"github.com/llconform/llconform/internal/landlock"
	"github.com/llconform/llconform/internal/sandbox"
	"github.com/llconform/llconform/internal/spec"
	"github.com/llconform/llconform/suites/fs/actions"
)

// Specs completing fs_test.c selftests of Linux 7.3 that other specs cover only in part:
// each reproduces its selftest's layout, layers, rules and sequence of operations, with the
// selftest's expected errnos, on a fresh copy of the selftests' layout1 tree (without the
// tmpfs mounted on s3d1/s3d2, which only the mount-namespace specs need).

// l1Tree is the selftests' layout1:
//
//	s1d1/{f1,f2}  s1d1/s1d2/{f1,f2}  s1d1/s1d2/s1d3/{f1,f2}
//	s2d1/f1  s2d1/s2d2/f1  s2d1/s2d2/s2d3/{f1,f2}  s3d1/f1
type l1Tree struct{ tmp, s1d1, s1d2, s1d3, s2d1, s2d2, s2d3, s3d1 string }

func layout1Tree() l1Tree {
	GinkgoHelper()
	w := tree("s1d1/f1", "s1d1/f2", "s1d1/s1d2/f1", "s1d1/s1d2/f2", "s1d1/s1d2/s1d3/f1", "s1d1/s1d2/s1d3/f2",
		"s2d1/f1", "s2d1/s2d2/f1", "s2d1/s2d2/s2d3/f1", "s2d1/s2d2/s2d3/f2", "s3d1/f1")
	j := func(rel string) string { return filepath.Join(w, rel) }
	return l1Tree{tmp: w, s1d1: j("s1d1"), s1d2: j("s1d1/s1d2"), s1d3: j("s1d1/s1d2/s1d3"),
		s2d1: j("s2d1"), s2d2: j("s2d1/s2d2"), s2d3: j("s2d1/s2d2/s2d3"), s3d1: j("s3d1")}
}

// remove deletes files of the tree before a domain is enforced, as the selftests do.
func (t l1Tree) remove(paths ...string) {
	GinkgoHelper()
	for _, p := range paths {
		must(os.Remove(p), "remove %s", p)
	}
}

func unlinked(path string, want error) check {
	return check{what: "unlink(" + path + ")", do: func() error { return unix.Unlink(path) }, want: want}
}

func mkdired(path string, want error) check {
	return check{what: "mkdir(" + path + ")", do: func() error { return unix.Mkdir(path, 0o700) }, want: want}
}

func rmdired(path string, want error) check {
	return check{what: "rmdir(" + path + ")", do: func() error { return unix.Rmdir(path) }, want: want}
}

func unlinkedDir(path string, want error) check {
	return check{what: "unlinkat(" + path + ", AT_REMOVEDIR)", do: func() error {
		return unix.Unlinkat(unix.AT_FDCWD, path, unix.AT_REMOVEDIR)
	}, want: want}
}

func mknoded(path string, mode uint32, dev int, want error) check {
	return check{what: fmt.Sprintf("mknod(%s, %#o, %d:%d)", path, mode, unix.Major(uint64(dev)), unix.Minor(uint64(dev))), do: func() error {
		return unix.Mknod(path, mode, dev)
	}, want: want}
}

// created is creat(2): open(O_CREAT|O_WRONLY|O_TRUNC).
func created(path string, want error) check {
	return check{what: "creat(" + path + ")", do: func() error { return actions.OpenErr(path, unix.O_CREAT|unix.O_WRONLY|unix.O_TRUNC) }, want: want}
}

// readWriteThrough opens path O_RDWR, writes a byte, seeks back and reads it again: what a
// file rule granting READ_FILE and WRITE_FILE must let a process do with the descriptor.
func readWriteThrough(path string) error {
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if n, err := unix.Write(fd, []byte(".")); n != 1 {
		return fmt.Errorf("write(2) through the O_RDWR descriptor: %d bytes, %s", n, spec.ErrnoName(err))
	}
	if _, err := unix.Seek(fd, 0, 0); err != nil {
		return fmt.Errorf("lseek: %w", err)
	}
	buf := make([]byte, 1)
	if n, err := unix.Read(fd, buf); n != 1 || buf[0] != '.' {
		return fmt.Errorf("read(2) through the O_RDWR descriptor: %d bytes %q, %s, want the byte written", n, buf[:max(n, 0)], spec.ErrnoName(err))
	}
	return nil
}

// writeReadOnly opens path O_RDONLY and writes through the descriptor: the VFS refuses
// with EBADF, the open having granted reading only.
func writeReadOnly(path string) error {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return spec.SetupFailed("open(O_RDONLY) before write(2)", err)
	}
	defer unix.Close(fd)
	_, err = unix.Write(fd, []byte("."))
	return err
}

// makeFileChecks is the selftests' test_make_file once the domain is enforced: mk creates
// a node of type what at a path; s1d1 gets no rule, s1d2 (and so s1d3) gets the right the node needs.
// denied names the targets of the three attempts in s1d1 (the selftest uses f1 for all),
// which give want.
func makeFileChecks(t l1Tree, what string, mk func(string) error, denied [3]string, want error) []check {
	mkc := func(path string, want error) check {
		return check{what: "mknod(" + path + ", " + what + ")", do: func() error { return mk(path) }, want: want}
	}
	checks := []check{
		mkc(denied[0], want),
		linked(actions.F2(t.s1d1), denied[1], want),
		renamed(actions.F2(t.s1d1), denied[2], want),
	}
	for _, d := range []string{t.s1d2, t.s1d3} {
		checks = append(checks, mkc(actions.F1(d), nil), linked(actions.F1(d), actions.F2(d), nil), unlinked(actions.F2(d), nil), renamed(actions.F1(d), actions.F2(d), nil))
	}
	return checks
}

// prepareMakeFile empties the three directories and creates f2 in s1d1 with mk, outside
// any domain, as test_make_file does.
func prepareMakeFile(t l1Tree, mk func(string) error) {
	GinkgoHelper()
	t.remove(actions.F1(t.s1d1), actions.F2(t.s1d1), actions.F1(t.s1d2), actions.F2(t.s1d2), actions.F1(t.s1d3), actions.F2(t.s1d3))
	must(mk(actions.F2(t.s1d1)), "create the node %s", actions.F2(t.s1d1))
}

var _ = suite.Describe("kernel selftest partials: layout1 sequences", func() {
	BeforeEach(spec.RequireLandlock)

	It("MUST apply one layer's directory rule and file rule together, the file rule granting read(2) and write(2) through an O_RDWR descriptor, O_PATH opens being allowed everywhere",
		spec.Feature("fs.beneath", 1), spec.ID("layout1.effective_access"), selftests("layout1.effective_access"), func() {
			t := layout1Tree()
			expectChecks(sandbox.FS(rRW, actions.Rule(t.s1d2, rRO), actions.Rule(actions.F1(t.s2d2), rRead|rWrite)),
				opened("/", unix.O_RDONLY, unix.EACCES),
				opened("/", unix.O_RDONLY|unix.O_PATH, nil),
				opened(t.s1d1, unix.O_RDONLY, unix.EACCES),
				opened(t.s1d1, unix.O_RDONLY|unix.O_PATH, nil),
				opened(actions.F1(t.s1d1), unix.O_RDONLY, unix.EACCES),
				opened(actions.F1(t.s1d1), unix.O_RDONLY|unix.O_PATH, nil),
				opened(t.s1d2, unix.O_RDONLY, nil),
				opened(actions.F1(t.s1d2), unix.O_RDONLY, nil),
				opened(t.s1d3, unix.O_RDONLY, nil),
				opened(actions.F1(t.s1d3), unix.O_RDONLY, nil),
				// The file rule on s2d2/f1 grants nothing on its directory.
				opened(t.s2d2, unix.O_RDONLY, unix.EACCES),
				opened(t.s2d2, unix.O_RDONLY|unix.O_PATH, nil),
				opened(actions.F1(t.s2d2), unix.O_RDONLY, nil),
				check{what: "open(" + actions.F1(t.s2d2) + ", O_RDWR), write(2) a byte, lseek, read(2) it back", do: func() error { return readWriteThrough(actions.F1(t.s2d2)) }, want: nil},
				// EBADF is the VFS's answer: Landlock granted the open, not the write.
				check{what: "open(" + actions.F1(t.s2d2) + ", O_RDONLY) then write(2)", do: func() error { return writeReadOnly(actions.F1(t.s2d2)) }, want: unix.EBADF},
			)
			spec.EnforcedVerdict("fs.beneath", 1)
		})

	It("MUST keep a MAKE_REG layer's grant when a REMOVE_FILE layer is added, each layer restricting only the right it handles",
		spec.Feature("fs.layers", 1), spec.ID("layout1.non_overlapping_accesses"), selftests("layout1.non_overlapping_accesses"), func() {
			t := layout1Tree()
			t.remove(actions.F1(t.s1d1), actions.F1(t.s1d2))
			reg := func(path string, want error) check { return mknoded(path, unix.S_IFREG|0o700, 0, want) }
			expectLayerSteps(
				layerStep{layer: sandbox.FS(rMakeReg, actions.Rule(t.s1d2, rMakeReg)), checks: []check{
					reg(actions.F1(t.s1d1), unix.EACCES),
					reg(actions.F1(t.s1d2), nil),
					// REMOVE_FILE is not handled yet.
					unlinked(actions.F1(t.s1d2), nil),
				}},
				layerStep{layer: sandbox.FS(rRmFile, actions.Rule(t.s1d3, rRmFile)), checks: []check{
					reg(actions.F1(t.s1d1), unix.EACCES),
					reg(actions.F1(t.s1d2), nil),
					unlinked(actions.F1(t.s1d2), unix.EACCES),
					unlinked(actions.F1(t.s1d3), nil),
				}},
			)
			spec.EnforcedVerdict("fs.layers", 1)
		})

	It("MUST NOT widen a domain when its ruleset, extended with rules on the same directory, its parent and its child, is enforced again, a new rule on the child keeping READ_DIR there through the parent's rule of the same layer",
		spec.Feature("fs.layers", 1), spec.ID("layout1.inherit_subset"), selftests("layout1.inherit_subset"), func() {
			t := layout1Tree()
			checks := []check{
				opened(actions.F1(t.s1d1), unix.O_WRONLY, unix.EACCES),
				opened(t.s1d1, unix.O_RDONLY|unix.O_DIRECTORY, unix.EACCES),
				opened(actions.F1(t.s1d2), unix.O_WRONLY, unix.EACCES),
				opened(t.s1d2, unix.O_RDONLY|unix.O_DIRECTORY, nil),
				opened(actions.F1(t.s1d3), unix.O_WRONLY, unix.EACCES),
				// After the last step too: s1d3's own rule (WRITE_FILE) and s1d2's
				// (READ_DIR) belong to the same layer and add up.
				opened(t.s1d3, unix.O_RDONLY|unix.O_DIRECTORY, nil),
			}
			// Each step adds a rule to the ruleset, then enforces it again.
			steps := []struct {
				what string
				add  []sandbox.PathRule
			}{
				{what: "first enforcement, read_file|read_dir on s1d2"},
				{what: "write_file added on s1d2", add: []sandbox.PathRule{actions.Rule(t.s1d2, rWrite)}},
				{what: "read_file|read_dir|write_file added on s1d1", add: []sandbox.PathRule{actions.Rule(t.s1d1, rRW)}},
				{what: "write_file added on s1d3", add: []sandbox.PathRule{actions.Rule(t.s1d3, rWrite)}},
			}
			errs := make([][]error, len(steps))
			err := sandbox.OnThread(func() error {
				fd, err := actions.RulesetWith(rRW, actions.Rule(t.s1d2, rRO))
				if err != nil {
					return err
				}
				defer unix.Close(fd)
				for i, s := range steps {
					for _, r := range s.add {
						if err := actions.AddRule(fd, r.Path, r.Access); err != nil {
							return fmt.Errorf("step %q: add_rule: %w", s.what, err)
						}
					}
					if err := actions.EnforceFd(fd); err != nil {
						return fmt.Errorf("step %q: restrict_self: %w", s.what, err)
					}
					errs[i] = make([]error, len(checks))
					for j, c := range checks {
						errs[i][j] = c.do()
					}
				}
				return nil
			})
			must(err, "enforce the ruleset four times")
			for i, s := range steps {
				for j, c := range checks {
					spec.ExpectErr(errs[i][j], c.want, "ruleset handling %s, %s: %s", actions.Names(rRW), s.what, c.what)
				}
			}
			spec.EnforcedVerdict("fs.layers", 1)
		})

	It("MUST refuse a ruleset handling nothing with ENOMSG, deny directories with a nested READ_DIR layer without rules, and accept restrict_self with the same ruleset twice",
		spec.Feature("fs.layers", 1), spec.ID("layout1.empty_or_same_ruleset"), selftests("layout1.empty_or_same_ruleset"), func() {
			t := layout1Tree()
			fd, err := landlock.CreateRuleset(&landlock.RulesetAttr{}, landlock.RulesetAttrSize, 0)
			if err == nil {
				unix.Close(fd)
			}
			spec.ExpectErr(err, unix.ENOMSG, "create_ruleset with nothing handled (%d-byte attr)", landlock.RulesetAttrSize)
			var seen [7]error
			err = sandbox.OnThread(func() error {
				if err := sandbox.FS(rRead).Enforce(); err != nil {
					return fmt.Errorf("enforce the read_file layer: %w", err)
				}
				seen[0] = actions.OpenErr(actions.F1(t.s1d1), unix.O_RDONLY)
				seen[1] = actions.OpenErr(t.s1d1, unix.O_RDONLY)
				fd, err := actions.RulesetWith(rDir)
				if err != nil {
					return err
				}
				defer unix.Close(fd)
				if err := landlock.RestrictSelf(fd, 0); err != nil {
					return fmt.Errorf("enforce the read_dir layer: %w", err)
				}
				seen[2] = actions.OpenErr(actions.F1(t.s1d1), unix.O_RDONLY)
				seen[3] = actions.OpenErr(t.s1d1, unix.O_RDONLY)
				seen[4] = landlock.RestrictSelf(fd, 0)
				seen[5] = actions.OpenErr(actions.F1(t.s1d1), unix.O_RDONLY)
				seen[6] = actions.OpenErr(t.s1d1, unix.O_RDONLY)
				return nil
			})
			must(err, "enforce the layers")
			spec.ExpectErr(seen[0], unix.EACCES, "read_file handled, no rule: open(%s, O_RDONLY)", actions.F1(t.s1d1))
			spec.ExpectErr(seen[1], nil, "read_file handled, no rule: open(%s, O_RDONLY) of a directory", t.s1d1)
			spec.ExpectErr(seen[2], unix.EACCES, "then read_dir handled, no rule: open(%s, O_RDONLY)", actions.F1(t.s1d1))
			spec.ExpectErr(seen[3], unix.EACCES, "then read_dir handled, no rule: open(%s, O_RDONLY) of a directory", t.s1d1)
			spec.ExpectErr(seen[4], nil, "restrict_self with the read_dir ruleset a second time")
			spec.ExpectErr(seen[5], unix.EACCES, "after the second enforcement: open(%s, O_RDONLY)", actions.F1(t.s1d1))
			spec.ExpectErr(seen[6], unix.EACCES, "after the second enforcement: open(%s, O_RDONLY) of a directory", t.s1d1)
			spec.EnforcedVerdict("fs.layers", 1)
		})

	It("MUST check opens relative to a working directory changed inside the domain against each target's own hierarchy",
		spec.Feature("fs.beneath", 1), spec.ID("layout1.relative_chdir"), selftests("layout1.relative_chdir"), func() {
			t := layout1Tree()
			rel := func(path string, want error) check {
				return check{what: "open(" + path + ", O_RDONLY) relative to the working directory s1d2", do: func() error { return actions.OpenErr(path, unix.O_RDONLY) }, want: want}
			}
			expectLayerSteps(
				layerStep{layer: sandbox.FS(rRW, actions.Rule(t.tmp, rRO))},
				layerStep{layer: sandbox.FS(rRW, actions.Rule(t.s1d2, rRO), actions.Rule(t.s2d2, rRO)), checks: []check{
					// The thread gets a working directory of its own first, so that
					// the runner's stays where it is.
					{what: "unshare(CLONE_FS) then chdir(" + t.s1d2 + ")", do: func() error {
						if err := unix.Unshare(unix.CLONE_FS); err != nil {
							return spec.SetupFailed("unshare(CLONE_FS)", err)
						}
						return unix.Chdir(t.s1d2)
					}, want: nil},
					rel("..", unix.EACCES),
					rel(".", nil),
					rel("./s1d3", nil),
					rel("../../s1d1", unix.EACCES),
					rel("../../s1d1/s1d2", nil),
					rel("../../s1d1/s1d2/s1d3", nil),
					rel("../../s2d1", unix.EACCES),
					rel("../../s2d1/s2d2", nil),
					rel("../../s2d1/s2d2/s2d3", nil),
				}},
			)
			spec.EnforcedVerdict("fs.beneath", 1)
		})

	It("MUST deny link without MAKE_REG (EACCES) and across directories without REFER handled (EXDEV), and MUST NOT need REMOVE_FILE for a link once a layer handles it",
		spec.Feature(fsRight(rMakeReg).Feature(), 1), spec.ID("layout1.link"), selftests("layout1.link"), func() {
			t := layout1Tree()
			t.remove(actions.F1(t.s1d1), actions.F1(t.s1d2), actions.F1(t.s1d3))
			expectLayerSteps(
				layerStep{layer: sandbox.FS(rMakeReg, actions.Rule(t.s1d2, rMakeReg)), checks: []check{
					linked(actions.F2(t.s1d1), actions.F1(t.s1d1), unix.EACCES),
					linked(actions.F1(t.s2d1), actions.F1(t.s1d2), unix.EXDEV),
					linked(actions.F2(t.s1d2), actions.F1(t.s1d3), unix.EXDEV),
					linked(actions.F2(t.s1d3), actions.F1(t.s1d2), unix.EXDEV),
					linked(actions.F2(t.s1d2), actions.F1(t.s1d2), nil),
					linked(actions.F2(t.s1d3), actions.F1(t.s1d3), nil),
					unlinked(actions.F2(t.s1d2), nil),
					unlinked(actions.F2(t.s1d3), nil),
				}},
				layerStep{layer: sandbox.FS(rRmFile, actions.Rule(t.s1d3, rRmFile)), checks: []check{
					linked(actions.F1(t.s1d2), actions.F2(t.s1d2), nil),
					linked(actions.F1(t.s1d3), actions.F2(t.s1d3), nil),
				}},
			)
			spec.EnforcedVerdict(fsRight(rMakeReg).Feature(), 1)
		})

	It("MUST deny file renames and exchanges with EACCES before EXDEV, ENOTDIR and EISDIR in a domain handling only REMOVE_FILE, and allow them within a directory granting it",
		spec.Feature(fsRight(rRmFile).Feature(), 1), spec.ID("layout1.rename_file"), selftests("layout1.rename_file"), func() {
			t := layout1Tree()
			t.remove(actions.F1(t.s1d2))
			expectChecks(sandbox.FS(rRmFile, actions.Rule(t.s1d3, rRmFile), actions.Rule(t.s2d2, rRmFile)),
				// Both parents allow removal, but REFER is not handled.
				renamed(actions.F1(t.s2d3), actions.F1(t.s1d3), unix.EXDEV),
				exchanged(actions.F1(t.s2d3), actions.F1(t.s1d3), unix.EXDEV),
				exchanged(actions.F1(t.s2d3), t.s1d3, unix.EXDEV),
				// s2d1 denies removal: EACCES before EXDEV.
				renamed(actions.F1(t.s2d1), actions.F1(t.s1d3), unix.EACCES),
				exchanged(actions.F1(t.s2d1), actions.F1(t.s1d3), unix.EACCES),
				exchanged(t.s2d2, actions.F1(t.s1d3), unix.EXDEV),
				exchanged(t.s2d2, actions.F1(t.s2d1), unix.EACCES),
				// s2d1/f1 may not be removed: EACCES rather than the VFS's ENOTDIR.
				renamed(t.s2d2, actions.F1(t.s2d1), unix.EACCES),
				exchanged(actions.F1(t.s2d1), t.s2d2, unix.EACCES),
				// s1d1/f1 may not be removed: EACCES rather than the VFS's EISDIR.
				renamed(actions.F1(t.s1d1), t.s1d2, unix.EACCES),
				renamed(actions.F1(t.s2d2), actions.F1(t.s1d2), unix.EXDEV),
				unlinked(actions.F1(t.s1d3), nil),
				renamed(actions.F1(t.s2d1), actions.F1(t.s1d3), unix.EACCES),
				// Same parent, removal granted.
				exchanged(actions.F2(t.s2d3), actions.F1(t.s2d3), nil),
				renamed(actions.F2(t.s2d3), actions.F1(t.s2d3), nil),
				// A file and a directory of one parent, exchanged twice.
				exchanged(actions.F1(t.s2d2), t.s2d3, nil),
				exchanged(actions.F1(t.s2d2), t.s2d3, nil),
			)
			spec.EnforcedVerdict(fsRight(rRmFile).Feature(), 1)
		})

	It("MUST deny directory renames and exchanges to another parent with EXDEV without REFER handled, and with EACCES before ENOTDIR and EISDIR where REMOVE_DIR is not granted",
		spec.Feature(fsRight(rRmDir).Feature(), 1), spec.ID("layout1.rename_dir"), selftests("layout1.rename_dir"), func() {
			t := layout1Tree()
			t.remove(actions.F1(t.s1d3), actions.F2(t.s1d3))
			expectChecks(sandbox.FS(rRmDir, actions.Rule(t.s1d2, rRmDir), actions.Rule(t.s2d1, rRmDir)),
				exchanged(t.s2d3, t.s1d3, unix.EXDEV),
				renamed(t.s2d3, t.s1d3, unix.EXDEV),
				exchanged(actions.F1(t.s2d2), t.s1d3, unix.EXDEV),
				// The tree's root grants no REMOVE_DIR.
				exchanged(t.s1d1, t.s2d1, unix.EACCES),
				// s1d2 may not be removed: EACCES rather than the VFS's ENOTDIR.
				renamed(t.s1d2, actions.F1(t.s1d1), unix.EACCES),
				exchanged(actions.F1(t.s1d1), t.s1d2, unix.EACCES),
				// Rather than EISDIR.
				renamed(actions.F1(t.s1d1), t.s1d2, unix.EACCES),
				// Same parent s1d2, which grants REMOVE_DIR.
				exchanged(t.s1d3, actions.F1(t.s1d2), nil),
				unlinked(t.s1d3, nil),
				mkdired(t.s1d3, nil),
				renamed(actions.F1(t.s1d2), t.s1d3, nil),
				rmdired(t.s1d3, nil),
			)
			spec.EnforcedVerdict(fsRight(rRmDir).Feature(), 1)
		})

	It("MUST deny moving directories with EXDEV unless both parents grant REFER, letting the VFS answer (ENOTEMPTY) once they do",
		spec.Feature(referRight.Feature(), 2), spec.ID("layout1.reparent_refer"), selftests("layout1.reparent_refer"), func() {
			if !supportsOrRejected(referRight) {
				return
			}
			t := layout1Tree()
			expectChecks(sandbox.FS(rRefer, actions.Rule(t.s1d2, rRefer), actions.Rule(t.s2d2, rRefer)),
				renamed(t.s1d2, t.s2d1, unix.EXDEV),
				renamed(t.s1d2, t.s2d2, unix.EXDEV),
				renamed(t.s1d2, t.s2d3, unix.EXDEV),
				renamed(t.s1d3, t.s2d1, unix.EXDEV),
				renamed(t.s1d3, t.s2d2, unix.EXDEV),
				// Both parents grant REFER: the VFS refuses to replace a full directory.
				renamed(t.s1d3, t.s2d3, unix.ENOTEMPTY),
				unlinked(actions.F1(t.s2d3), nil),
				unlinked(actions.F2(t.s2d3), nil),
				renamed(t.s1d3, t.s2d3, nil),
			)
			spec.EnforcedVerdict(referRight.Feature(), 2)
		})

	It("MUST decide renames and exchanges by MAKE_REG (EACCES) first, then by REFER on both parents and the rights a moved directory carries (EXDEV)",
		spec.Feature(referRight.Feature(), 2), spec.ID("layout1.reparent_rename"), selftests("layout1.reparent_rename"), func() {
			if !supportsOrRejected(referRight) {
				return
			}
			t := layout1Tree()
			expectChecks(sandbox.FS(rMakeReg|rRefer, actions.Rule(t.s1d2, rMakeReg), actions.Rule(t.s1d3, rRefer), actions.Rule(t.s2d2, rRefer), actions.Rule(t.s2d3, rMakeReg)),
				unlinked(actions.F1(t.s1d2), nil),
				unlinked(actions.F1(t.s1d3), nil),
				// No MAKE_REG in s1d1, even to exchange a file with itself.
				exchanged(actions.F2(t.s1d1), actions.F1(t.s1d1), unix.EACCES),
				exchanged(actions.F1(t.s1d1), actions.F2(t.s1d1), unix.EACCES),
				unlinked(actions.F1(t.s1d1), nil),
				renamed(actions.F2(t.s1d1), actions.F1(t.s1d1), unix.EACCES),
				exchanged(actions.F2(t.s1d1), actions.F2(t.s1d1), unix.EACCES),
				// No REFER on either side.
				renamed(actions.F1(t.s2d1), actions.F1(t.s1d2), unix.EXDEV),
				// No MAKE_REG and no REFER: EACCES first.
				exchanged(actions.F1(t.s2d1), actions.F2(t.s1d1), unix.EACCES),
				exchanged(actions.F2(t.s1d1), actions.F1(t.s2d1), unix.EACCES),
				// No REFER on the source.
				renamed(actions.F1(t.s2d1), actions.F1(t.s1d3), unix.EXDEV),
				exchanged(actions.F1(t.s2d1), actions.F2(t.s1d3), unix.EACCES),
				renamed(actions.F1(t.s2d2), actions.F1(t.s1d1), unix.EACCES),
				// No REFER on the destination.
				renamed(actions.F1(t.s2d2), actions.F1(t.s1d2), unix.EXDEV),
				exchanged(actions.F1(t.s2d2), actions.F2(t.s1d3), unix.EACCES),
				renamed(actions.F1(t.s2d2), actions.F1(t.s1d3), nil),
				renamed(actions.F1(t.s1d3), actions.F1(t.s2d2), unix.EACCES),
				unlinked(actions.F1(t.s2d3), nil),
				renamed(actions.F1(t.s1d3), actions.F1(t.s2d3), nil),
				renamed(actions.F1(t.s2d3), actions.F1(t.s1d3), nil),
				exchanged(actions.F2(t.s2d3), actions.F1(t.s1d3), nil),
				renamed(actions.F1(t.s1d3), actions.F1(t.s2d3), nil),
				renamed(actions.F1(t.s2d3), actions.F1(t.s1d3), nil),
				renamed(actions.F1(t.s1d3), actions.F1(t.s2d3), nil),
				// s2d3 carries MAKE_REG itself, which its new parent lacks.
				renamed(t.s2d3, actions.F1(t.s1d3), nil),
				renamed(actions.F1(t.s1d3), t.s2d3, nil),
				// The plain rename was allowed, not the exchange: s1d3's parent s1d2
				// lacks REFER.
				exchanged(actions.F1(t.s2d3), t.s1d3, unix.EXDEV),
				exchanged(t.s1d3, actions.F1(t.s2d3), unix.EXDEV),
				renamed(actions.F1(t.s2d3), t.s1d3, unix.EXDEV),
				renamed(actions.F2(t.s1d2), actions.F1(t.s1d3), unix.EXDEV),
				renamed(actions.F2(t.s1d3), actions.F1(t.s1d2), unix.EXDEV),
				renamed(actions.F2(t.s1d2), actions.F1(t.s1d2), nil),
				renamed(actions.F2(t.s1d3), actions.F1(t.s1d3), nil),
				unlinked(actions.F1(t.s1d2), nil),
				renamed(t.s2d3, actions.F1(t.s1d2), unix.EXDEV),
				unlinked(actions.F1(t.s1d3), nil),
				renamed(t.s2d2, actions.F1(t.s1d3), unix.EXDEV),
			)
			spec.EnforcedVerdict(referRight.Feature(), 2)
		})

	It("MUST let the VFS answer (EISDIR, ENOTDIR) renames whose REMOVE_FILE or REMOVE_DIR match the replaced objects, and allow a directory to replace a file and an exchange to remove a file and a directory",
		spec.Feature(referRight.Feature(), 2), spec.ID("layout1.reparent_remove.sequence"), selftests("layout1.reparent_remove"), func() {
			if !supportsOrRejected(referRight) {
				return
			}
			t := layout1Tree()
			expectChecks(sandbox.FS(rRefer|rRmDir|rRmFile, actions.Rule(t.s1d1, rRefer|rRmDir), actions.Rule(t.s1d2, rRmFile), actions.Rule(t.s2d1, rRefer|rRmFile)),
				// Swapped rights: s1d1 may remove directories, s2d1 files.
				renamed(actions.F1(t.s1d1), t.s2d2, unix.EACCES),
				renamed(t.s2d2, actions.F1(t.s1d1), unix.EACCES),
				exchanged(actions.F1(t.s1d1), t.s2d2, unix.EACCES),
				exchanged(actions.F1(t.s1d1), t.s2d3, unix.EACCES),
				// Matching rights: Landlock lets the VFS refuse.
				renamed(actions.F1(t.s2d1), t.s1d2, unix.EISDIR),
				renamed(t.s1d2, actions.F1(t.s2d1), unix.ENOTDIR),
				renamed(t.s1d3, actions.F1(t.s2d1), unix.ENOTDIR),
				unlinked(actions.F1(t.s2d1), nil),
				unlinked(actions.F1(t.s1d3), nil),
				unlinked(actions.F2(t.s1d3), nil),
				renamed(t.s1d3, actions.F1(t.s2d1), nil),
				mkdired(t.s1d3, nil),
				// Removes a file from s2d2 and a directory from s1d2, then the reverse,
				// which s2d2 does not grant (no REMOVE_DIR).
				exchanged(actions.F1(t.s2d2), t.s1d3, nil),
				exchanged(actions.F1(t.s2d2), t.s1d3, unix.EACCES),
			)
			spec.EnforcedVerdict(referRight.Feature(), 2)
		})

	It("MUST count rules on a moved file or directory itself, allowing a move whose new parent grants only what the object already has, and deny (EXDEV) a move gaining several rights at once",
		spec.Feature(referRight.Feature(), 2), spec.ID("layout1.reparent_dom_superset"), selftests("layout1.reparent_dom_superset"), func() {
			if !supportsOrRejected(referRight) {
				return
			}
			t := layout1Tree()
			var rSock uint64 = landlock.AccessFSMakeSock
			handled := rRefer | rExec | rSock | rRead | rMakeFifo
			expectChecks(sandbox.FS(handled,
				actions.Rule(t.s1d2, rRefer),
				actions.Rule(actions.F1(t.s1d2), rExec),
				actions.Rule(t.s1d3, rSock|rExec),
				actions.Rule(t.s2d2, rRefer|rExec|rSock),
				actions.Rule(t.s2d3, rRead|rMakeFifo)),
				renamed(actions.F1(t.s1d2), actions.F1(t.s2d1), unix.EXDEV),
				// Beneath s2d3 the file would gain READ_FILE.
				renamed(actions.F1(t.s1d2), actions.F1(t.s2d3), unix.EXDEV),
				// s2d2 grants more than s1d2, but only what the file's own rule does.
				renamed(actions.F1(t.s1d2), actions.F1(t.s2d2), nil),
				renamed(actions.F1(t.s2d2), actions.F1(t.s1d2), nil),
				renamed(t.s1d3, actions.F1(t.s2d1), unix.EXDEV),
				// Beneath s2d3 the directory would gain READ_FILE and MAKE_FIFO.
				renamed(t.s1d3, actions.F1(t.s2d3), unix.EXDEV),
				renamed(t.s1d3, actions.F1(t.s2d2), nil),
				renamed(actions.F1(t.s2d2), t.s1d3, nil),
				// One way only: back beneath s2d3 the file would regain what it lost.
				renamed(actions.F1(t.s2d3), actions.F2(t.s1d2), nil),
				renamed(actions.F2(t.s1d2), actions.F1(t.s2d3), unix.EXDEV),
				unlinked(actions.F2(t.s1d2), nil),
				unlinked(actions.F2(t.s2d3), nil),
				renamed(t.s2d3, actions.F2(t.s1d2), nil),
				renamed(actions.F2(t.s1d2), t.s2d3, unix.EXDEV),
			)
			spec.EnforcedVerdict(referRight.Feature(), 2)
		})

	It("MUST grant REMOVE_DIR on the content of the directory a rule is on, not on that directory itself nor its parent",
		spec.Feature(fsRight(rRmDir).Feature(), 1), spec.ID("layout1.remove_dir"), selftests("layout1.remove_dir"), func() {
			t := layout1Tree()
			t.remove(actions.F1(t.s1d1), actions.F1(t.s1d2), actions.F1(t.s1d3), actions.F2(t.s1d3))
			expectChecks(sandbox.FS(rRmDir, actions.Rule(t.s1d2, rRmDir)),
				rmdired(t.s1d3, nil),
				mkdired(t.s1d3, nil),
				unlinkedDir(t.s1d3, nil),
				// Both are non-empty: EACCES comes before the VFS's ENOTEMPTY.
				rmdired(t.s1d2, unix.EACCES),
				unlinkedDir(t.s1d2, unix.EACCES),
				rmdired(t.s1d1, unix.EACCES),
				unlinkedDir(t.s1d1, unix.EACCES),
			)
			spec.EnforcedVerdict(fsRight(rRmDir).Feature(), 1)
		})

	It("MUST deny creating, linking and renaming a socket node with EACCES without MAKE_SOCK, and allow them beneath a rule granting it",
		spec.Feature(fsRight(landlock.AccessFSMakeSock).Feature(), 1), spec.ID("layout1.make_sock"), selftests("layout1.make_sock"), func() {
			t := layout1Tree()
			mk := func(path string) error { return unix.Mknod(path, unix.S_IFSOCK|0o400, 0) }
			prepareMakeFile(t, mk)
			var rSock uint64 = landlock.AccessFSMakeSock
			expectChecks(sandbox.FS(rSock, actions.Rule(t.s1d2, rSock)),
				makeFileChecks(t, "S_IFSOCK", mk, [3]string{actions.F1(t.s1d1), actions.F1(t.s1d1), actions.F1(t.s1d1)}, unix.EACCES)...)
			spec.EnforcedVerdict(fsRight(rSock).Feature(), 1)
		})
})

var _ = suite.Describe("kernel selftest partials: truncation", spec.Feature(truncRight.Feature(), truncRight.ABI), func() {
	BeforeEach(spec.RequireLandlock)

	It("MUST NOT restrict truncate(2), and allow O_TRUNC opens and creat(2) as READ_FILE or WRITE_FILE alone decide, rules on the files themselves, when TRUNCATE is not handled",
		spec.ID("layout1.truncate_unhandled.file_rules"), selftests("layout1.truncate_unhandled"), func() {
			t := layout1Tree()
			fileR, fileW, fileNone := actions.F1(t.s1d1), actions.F2(t.s1d1), actions.F1(t.s1d2)
			expectChecks(sandbox.FS(rRead|rWrite, actions.Rule(fileR, rRead), actions.Rule(fileW, rWrite)),
				truncated(fileR, nil),
				opened(fileR, unix.O_RDONLY|unix.O_TRUNC, nil),
				opened(fileR, unix.O_WRONLY|unix.O_TRUNC, unix.EACCES),
				created(fileR, unix.EACCES),
				truncated(fileW, nil),
				opened(fileW, unix.O_RDONLY|unix.O_TRUNC, unix.EACCES),
				opened(fileW, unix.O_WRONLY|unix.O_TRUNC, nil),
				created(fileW, nil),
				truncated(fileNone, nil),
				opened(fileNone, unix.O_RDONLY|unix.O_TRUNC, unix.EACCES),
				opened(fileNone, unix.O_WRONLY|unix.O_TRUNC, unix.EACCES),
				created(fileNone, unix.EACCES),
			)
			if !spec.Supports(truncRight.ABI) {
				expectRightRejected(truncRight)
			}
			spec.FeatureVerdict(truncRight.Feature(), truncRight.ABI)
		})

	It("MUST allow truncate(2) with TRUNCATE alone, O_RDONLY|O_TRUNC with READ_FILE and TRUNCATE, and creat(2) of a new file without TRUNCATE, rules being on files and directories",
		spec.ID("layout1.truncate.file_rules"), selftests("layout1.truncate"), func() {
			if !supportsOrRejected(truncRight) {
				return
			}
			t := layout1Tree()
			fileRWT, fileRW, fileRT, fileT, fileNone := actions.F1(t.s1d1), actions.F2(t.s1d1), actions.F1(t.s1d2), actions.F2(t.s1d2), actions.F1(t.s1d3)
			dirT, inDirT, dirW, inDirW := t.s2d1, actions.F1(t.s2d1), t.s3d1, actions.F1(t.s3d1)
			expectChecks(sandbox.FS(rRead|rWrite|rTrunc,
				actions.Rule(fileRWT, rRead|rWrite|rTrunc),
				actions.Rule(fileRW, rRead|rWrite),
				actions.Rule(fileRT, rRead|rTrunc),
				actions.Rule(fileT, rTrunc),
				actions.Rule(dirT, rTrunc),
				actions.Rule(dirW, rWrite)),
				truncated(fileRWT, nil),
				opened(fileRWT, unix.O_RDONLY|unix.O_TRUNC, nil),
				opened(fileRWT, unix.O_WRONLY|unix.O_TRUNC, nil),
				truncated(fileRW, unix.EACCES),
				opened(fileRW, unix.O_RDONLY|unix.O_TRUNC, unix.EACCES),
				opened(fileRW, unix.O_WRONLY|unix.O_TRUNC, unix.EACCES),
				// An O_RDONLY open truncates as well.
				truncated(fileRT, nil),
				opened(fileRT, unix.O_RDONLY|unix.O_TRUNC, nil),
				opened(fileRT, unix.O_WRONLY|unix.O_TRUNC, unix.EACCES),
				truncated(fileT, nil),
				opened(fileT, unix.O_RDONLY|unix.O_TRUNC, unix.EACCES),
				opened(fileT, unix.O_WRONLY|unix.O_TRUNC, unix.EACCES),
				truncated(fileNone, unix.EACCES),
				opened(fileNone, unix.O_RDONLY|unix.O_TRUNC, unix.EACCES),
				opened(fileNone, unix.O_WRONLY|unix.O_TRUNC, unix.EACCES),
				truncated(inDirT, nil),
				opened(inDirT, unix.O_RDONLY|unix.O_TRUNC, unix.EACCES),
				opened(inDirT, unix.O_WRONLY|unix.O_TRUNC, unix.EACCES),
				// creat(2) truncates an existing file, not a new one.
				created(inDirW, unix.EACCES),
				unlinked(inDirW, nil),
				created(inDirW, nil),
			)
			spec.EnforcedVerdict(truncRight.Feature(), truncRight.ABI)
		})

	It("MUST keep ftruncate on descriptors opened before TRUNCATE was handled, or in a layer that grants it, and deny it on one opened in a layer handling it without granting it",
		spec.ID("layout1.ftruncate.layers"), selftests("layout1.ftruncate"), func() {
			if !supportsOrRejected(truncRight) {
				return
			}
			t := layout1Tree()
			path := actions.F1(t.s1d1)
			fds := []int{-1, -1, -1, -1}
			defer func() {
				for _, fd := range fds {
					if fd >= 0 {
						unix.Close(fd)
					}
				}
			}()
			var err error
			fds[0], err = unix.Open(path, unix.O_WRONLY|unix.O_CLOEXEC, 0)
			must(err, "open %s O_WRONLY before any domain", path)
			opens := func(i int) check {
				return check{what: fmt.Sprintf("open(%s, O_WRONLY) as descriptor %d", path, i), do: func() error {
					fd, err := unix.Open(path, unix.O_WRONLY|unix.O_CLOEXEC, 0)
					fds[i] = fd
					return err
				}, want: nil}
			}
			ft := func(i int, want error) check {
				return check{what: fmt.Sprintf("ftruncate(descriptor %d)", i), do: func() error {
					if fds[i] < 0 {
						return spec.SetupFailed(fmt.Sprintf("open of descriptor %d", i), unix.EBADF)
					}
					return unix.Ftruncate(fds[i], 10)
				}, want: want}
			}
			expectLayerSteps(
				// Layer 1 handles reading and writing, not truncation.
				layerStep{layer: sandbox.FS(rRead|rWrite, actions.Rule(path, rWrite)), checks: []check{opens(1), ft(0, nil), ft(1, nil)}},
				layerStep{layer: sandbox.FS(rTrunc, actions.Rule(path, rTrunc)), checks: []check{opens(2), ft(0, nil), ft(1, nil), ft(2, nil)}},
				layerStep{layer: sandbox.FS(rTrunc|rWrite, actions.Rule(path, rWrite)), checks: []check{opens(3), ft(0, nil), ft(1, nil), ft(2, nil), ft(3, unix.EACCES)}},
			)
			spec.EnforcedVerdict(truncRight.Feature(), truncRight.ABI)
		})
})

var _ = suite.Describe("kernel selftest partials: whiteouts (erratum 4)", spec.Erratum(4), func() {
	BeforeEach(spec.RequireLandlock)

	It("MUST guard creating, linking and renaming whiteouts with MAKE_REG, where erratum 4 is advertised",
		spec.ID("layout1.make_whiteout"), selftests("layout1.make_whiteout"), func() {
			t := layout1Tree()
			mk := func(path string) error { return unix.Mknod(path, unix.S_IFCHR|0o400, 0) }
			ctl := tree("c/", "g/")
			c, g := filepath.Join(ctl, "c"), filepath.Join(ctl, "g")
			// Controls: whiteouts can be made, linked and renamed on this filesystem
			// without Landlock (mknod of a whiteout needs no CAP_MKNOD), and in a
			// domain granting MAKE_REG.
			controlOutside(c,
				namedOp{what: "mknod(c/w, S_IFCHR 0:0)", do: func() error { return mk(filepath.Join(c, "w")) }},
				namedOp{what: "link(c/w, c/w2)", do: func() error { return unix.Link(filepath.Join(c, "w"), filepath.Join(c, "w2")) }},
				namedOp{what: "rename(c/w, c/w3)", do: func() error { return unix.Rename(filepath.Join(c, "w"), filepath.Join(c, "w3")) }})
			controlGranted(rMakeReg, g,
				namedOp{what: "mknod(g/w, S_IFCHR 0:0)", do: func() error { return mk(filepath.Join(g, "w")) }},
				namedOp{what: "link(g/w, g/w2)", do: func() error { return unix.Link(filepath.Join(g, "w"), filepath.Join(g, "w2")) }},
				namedOp{what: "rename(g/w, g/w3)", do: func() error { return unix.Rename(filepath.Join(g, "w"), filepath.Join(g, "w3")) }})
			prepareMakeFile(t, mk)
			// The three attempts in s1d1 aim at names of their own, so that an unfixed
			// kernel letting the first through does not turn the next into EEXIST.
			denied := [3]string{filepath.Join(t.s1d1, "w_mknod"), filepath.Join(t.s1d1, "w_link"), filepath.Join(t.s1d1, "w_rename")}
			checks := makeFileChecks(t, "S_IFCHR 0:0", mk, denied, unix.EACCES)
			p := sandbox.FS(rMakeReg, actions.Rule(t.s1d2, rMakeReg))
			ops := make([]func() error, len(checks))
			for i, c := range checks {
				ops[i] = c.do
			}
			errs := runOps(p, ops...)
			obs := make([]spec.Observation, len(checks))
			for i, c := range checks {
				// Before the fix a whiteout was a character device to Landlock, and
				// MAKE_CHAR is not handled here: the denied attempts went through.
				obs[i] = spec.Observation{What: strings.ReplaceAll(c.what, t.tmp+"/", ""), Seen: errs[i], Fixed: c.want, Unfixed: nil}
			}
			seen, detail := spec.ClassifyErratum(obs)
			spec.ErratumVerdict(4, seen, fmt.Sprintf("%s handled, granted on s1d1/s1d2: %s", actions.Names(rMakeReg), detail))
		})

	It("MUST allow a RENAME_WHITEOUT in a directory granting MAKE_REG alone, leaving a whiteout in place of the moved FIFO, and deny it where MAKE_REG is not granted, where erratum 4 is advertised",
		spec.Needs("root"), spec.ID("layout1.rename_whiteout_allowed"), selftests("layout1.rename_whiteout_allowed"), func() {
			spec.RequireRoot()
			w := tree("s3d3/", "other/", "ctl/")
			s3d3, other, ctl := filepath.Join(w, "s3d3"), filepath.Join(w, "other"), filepath.Join(w, "ctl")
			for _, p := range []string{"s3d3/f1", "other/f1", "ctl/p1", "ctl/p2"} {
				must(unix.Mkfifo(filepath.Join(w, p), 0o600), "mkfifo %s", p)
			}
			controlOutside(ctl, namedOp{what: "renameat2(ctl/p1, ctl/p1b, RENAME_WHITEOUT)", do: renameWhiteout(filepath.Join(ctl, "p1"), filepath.Join(ctl, "p1b"))})
			controlGranted(rMakeReg, ctl, namedOp{what: "renameat2(ctl/p2, ctl/p2b, RENAME_WHITEOUT)", do: renameWhiteout(filepath.Join(ctl, "p2"), filepath.Join(ctl, "p2b"))})
			p := sandbox.FS(rMakeReg, actions.Rule(s3d3, rMakeReg))
			errs := runOps(p,
				renameWhiteout(filepath.Join(s3d3, "f1"), filepath.Join(s3d3, "f2")),
				renameWhiteout(filepath.Join(other, "f1"), filepath.Join(other, "f2")))
			if errs[0] == nil {
				if got := fileType(filepath.Join(s3d3, "f1")); got != "whiteout" {
					Fail(fmt.Sprintf("after renameat2(s3d3/f1, s3d3/f2, RENAME_WHITEOUT): s3d3/f1 is %s, want a whiteout (character device 0:0)", got))
				}
				if got := fileType(filepath.Join(s3d3, "f2")); got != "fifo" {
					Fail(fmt.Sprintf("after renameat2(s3d3/f1, s3d3/f2, RENAME_WHITEOUT): s3d3/f2 is %s, want the moved FIFO", got))
				}
			}
			// Both kernels allow the rename where MAKE_REG is granted; only the fixed one
			// checks the whiteout where it is not.
			seen, detail := spec.ClassifyErratum([]spec.Observation{
				{What: "renameat2(s3d3/f1, s3d3/f2, RENAME_WHITEOUT), MAKE_REG granted on s3d3", Seen: errs[0], Fixed: nil, Unfixed: nil},
				{What: "renameat2(other/f1, other/f2, RENAME_WHITEOUT), MAKE_REG not granted on other", Seen: errs[1], Fixed: unix.EACCES, Unfixed: nil},
			})
			spec.ErratumVerdict(4, seen, fmt.Sprintf("%s handled, granted on s3d3: %s", actions.Names(rMakeReg), detail))
		})
})
