package actions

import (
	"encoding/json"
	"fmt"
	"os"
	"path"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/llconform/llconform/internal/landlock"
	"github.com/llconform/llconform/internal/sandbox"
)

const PartialsNSAction = "fs-mountns-partials"

func init() { sandbox.Register(PartialsNSAction, runPartialsNS) }

// relRule grants access beneath path, relative to the scenario's directory.
type relRule struct {
	Path   string
	Access uint64
}

// nsOpen is an open(2) of path (relative to the scenario's directory) and what it gives.
type nsOpen struct {
	Path  string
	Flags int
	Want  error
}

// NSLayer is one more layer and the opens that must give their errno once it is enforced
// on top of the layers before it.
type NSLayer struct {
	Handled uint64
	Rules   []relRule
	Opens   []nsOpen
}

func (l NSLayer) Text() string {
	parts := make([]string, len(l.Rules))
	for i, r := range l.Rules {
		parts[i] = r.Path + ":" + Names(r.Access)
	}
	if len(parts) == 0 {
		parts = []string{"no rule"}
	}
	return fmt.Sprintf("handles %s with %s", Names(l.Handled), strings.Join(parts, " "))
}

func rdonly(path string, want error) nsOpen {
	return nsOpen{Path: path, Flags: unix.O_RDONLY, Want: want}
}
func wronly(path string, want error) nsOpen {
	return nsOpen{Path: path, Flags: unix.O_WRONLY, Want: want}
}
func rdwr(path string, want error) nsOpen { return nsOpen{Path: path, Flags: unix.O_RDWR, Want: want} }
func rddir(path string, want error) nsOpen {
	return nsOpen{Path: path, Flags: unix.O_RDONLY | unix.O_DIRECTORY, Want: want}
}

// layeredOpens enforces the layers in turn on one scenario thread beneath dir, recording
// each layer's opens as key/<layer>/<open>.
func (g *gapRun) layeredOpens(key, dir string, layers []NSLayer) error {
	return g.inNS(func() error {
		for i, l := range layers {
			var rs []sandbox.PathRule
			for _, r := range l.Rules {
				rs = append(rs, Rule(g.p(path.Join(dir, r.Path)), r.Access))
			}
			if err := sandbox.FS(l.Handled, rs...).Enforce(); err != nil {
				return fmt.Errorf("enforce layer %d (%s): %w", i+1, l.Text(), err)
			}
			for j, o := range l.Opens {
				g.rec(fmt.Sprintf("%s/%d/%d", key, i, j), OpenErr(g.p(path.Join(dir, o.Path)), o.Flags))
			}
		}
		return nil
	})
}

// RuleOverMountpoint is rule_over_mountpoint: read rights granted on s1d1 and on s3d1,
// the parent of the tmpfs mounted on s3d2.
var RuleOverMountpoint = []NSLayer{{Handled: rRW,
	Rules: []relRule{{"s1d1", rRO}, {"s3d1", rRO}},
	Opens: []nsOpen{rdonly("s1d1", nil), rdonly("s2d1", unix.EACCES), rdonly("s3d1", nil), rdonly("s3d1/s3d2", nil), rdonly("s3d1/s3d2/s3d3", nil)},
}}

// SameContentSameFile is layout1_bind.same_content_same_file: s1d1/s1d2 is bind-mounted on
// s2d1/s2d2, and four layers put rules on the mount points' parents, on both mount points,
// on the shared source s1d3 and on the bind side's s1d3/f1.
var SameContentSameFile = []NSLayer{
	{Handled: rRW, Rules: []relRule{{"s1d1", rRO}, {"s2d1", rRW}}, Opens: []nsOpen{
		rdonly("s1d1/f1", nil), wronly("s1d1/f1", unix.EACCES), rddir("s1d1", nil),
		rdonly("s1d1/s1d2/f1", nil), wronly("s1d1/s1d2/f1", unix.EACCES), rddir("s1d1/s1d2", nil),
		rdwr("s2d1/f1", nil), rddir("s2d1", nil),
		rdwr("s2d1/s2d2/f1", nil), rddir("s2d1/s2d2", nil),
	}},
	// The rule on s2d2 lands on the bind mount's root, s1d2's inode: both paths get
	// read and write from this layer, not beyond what layer 1 grants them.
	{Handled: rRW, Rules: []relRule{{"s1d1/s1d2", rRead}, {"s2d1/s2d2", rRW}}, Opens: []nsOpen{
		rdonly("s1d1/f1", unix.EACCES), wronly("s1d1/f1", unix.EACCES), rddir("s1d1", unix.EACCES),
		rdonly("s1d1/s1d2/f1", nil), wronly("s1d1/s1d2/f1", unix.EACCES), rddir("s1d1/s1d2", nil),
		rdonly("s2d1/f1", unix.EACCES), wronly("s2d1/f1", unix.EACCES), rddir("s2d1", unix.EACCES),
		rdwr("s2d1/s2d2/f1", nil), rddir("s2d1/s2d2", nil), rddir("s2d1/s2d2/s1d3", nil),
	}},
	{Handled: rRW, Rules: []relRule{{"s1d1/s1d2/s1d3", rRead}}, Opens: []nsOpen{
		rdonly("s1d1/s1d2/f1", unix.EACCES), wronly("s1d1/s1d2/f1", unix.EACCES), rddir("s1d1/s1d2", unix.EACCES),
		rdonly("s1d1/s1d2/s1d3/f1", nil), wronly("s1d1/s1d2/s1d3/f1", unix.EACCES), rddir("s1d1/s1d2/s1d3", unix.EACCES),
		rdonly("s2d1/s2d2/f1", unix.EACCES), wronly("s2d1/s2d2/f1", unix.EACCES), rddir("s2d1/s2d2", unix.EACCES),
		rdonly("s2d1/s2d2/s1d3/f1", nil), wronly("s2d1/s2d2/s1d3/f1", unix.EACCES), rddir("s2d1/s2d2/s1d3", unix.EACCES),
	}},
	// Write granted on the file through the bind mount: the same inode, now granted
	// nothing that every layer grants.
	{Handled: rRW, Rules: []relRule{{"s2d1/s2d2/s1d3/f1", rWrite}}, Opens: []nsOpen{
		rdonly("s1d1/s1d2/s1d3/f1", unix.EACCES), wronly("s1d1/s1d2/s1d3/f1", unix.EACCES),
		rdonly("s2d1/s2d2/s1d3/f1", unix.EACCES), wronly("s2d1/s2d2/s1d3/f1", unix.EACCES),
	}},
}

// The layout2_overlay files: lower/data and upper/data are the overlay's layers (each on a
// tmpfs of its own), merge/data the overlay.
var (
	ovLowerBaseFiles = []string{"lower/data/fl1", "lower/data/fo1"}
	ovLowerBaseDirs  = []string{"lower/data/dl1", "lower/data/do1"}
	ovLowerSubFiles  = []string{"lower/data/dl1/fl2", "lower/data/do1/fo2", "lower/data/do1/fl3"}
	ovUpperBaseFiles = []string{"upper/data/fu1", "upper/data/fo1"}
	ovUpperBaseDirs  = []string{"upper/data/du1", "upper/data/do1"}
	ovUpperSubFiles  = []string{"upper/data/du1/fu2", "upper/data/do1/fo2", "upper/data/do1/fu3"}
	ovMergeBaseFiles = []string{"merge/data/fl1", "merge/data/fu1", "merge/data/fo1"}
	ovMergeBaseDirs  = []string{"merge/data/dl1", "merge/data/du1", "merge/data/do1"}
	ovMergeSubFiles  = []string{"merge/data/dl1/fl2", "merge/data/du1/fu2", "merge/data/do1/fo2", "merge/data/do1/fl3", "merge/data/do1/fu3"}
)

// each makes one open per path.
func each(paths []string, open func(string, error) nsOpen, want error) []nsOpen {
	out := make([]nsOpen, len(paths))
	for i, p := range paths {
		out[i] = open(p, want)
	}
	return out
}

func concat(parts ...[]nsOpen) []nsOpen {
	var out []nsOpen
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func rulesOn(paths []string, access uint64) []relRule {
	out := make([]relRule, len(paths))
	for i, p := range paths {
		out[i] = relRule{p, access}
	}
	return out
}

// SameContentDifferentFile is layout2_overlay.same_content_different_file: five layers
// with rules on the layers' parents, on the data directories, on their subdirectories and
// on their files, then on the overlay alone. Files seen through the overlay are checked by
// their merged path only, whatever rules the layers' own paths carry.
var SameContentDifferentFile = []NSLayer{
	{Handled: rRW, Rules: []relRule{{"lower", rRead}, {"upper", rRead}, {"merge", rRW}}, Opens: concat(
		each(ovLowerBaseFiles, rdonly, nil), each(ovLowerBaseFiles, wronly, unix.EACCES),
		each(ovLowerBaseDirs, rddir, unix.EACCES),
		each(ovLowerSubFiles, rdonly, nil), each(ovLowerSubFiles, wronly, unix.EACCES),
		each(ovUpperBaseFiles, rdonly, nil), each(ovUpperBaseFiles, wronly, unix.EACCES),
		each(ovUpperBaseDirs, rddir, unix.EACCES),
		each(ovUpperSubFiles, rdonly, nil), each(ovUpperSubFiles, wronly, unix.EACCES),
		// Writing through the overlay copies lower files up: the overlay's own work.
		each(ovMergeBaseFiles, rdwr, nil), each(ovMergeBaseDirs, rddir, nil), each(ovMergeSubFiles, rdwr, nil),
	)},
	{Handled: rRW, Rules: []relRule{{"lower/data", rRead}, {"upper/data", rRead}, {"merge/data", rRW}}, Opens: concat(
		each(ovMergeBaseFiles, rdwr, nil), each(ovMergeBaseDirs, rddir, nil), each(ovMergeSubFiles, rdwr, nil),
	)},
	{Handled: rRW, Rules: append(append(rulesOn(ovLowerBaseDirs, rRead), rulesOn(ovUpperBaseDirs, rRead)...), rulesOn(ovMergeBaseDirs, rRW)...), Opens: concat(
		each(ovLowerBaseFiles, rdonly, unix.EACCES), each(ovUpperBaseFiles, rdonly, unix.EACCES),
		each(ovMergeBaseFiles, rdwr, unix.EACCES), each(ovMergeBaseDirs, rddir, nil), each(ovMergeSubFiles, rdwr, nil),
	)},
	{Handled: rRW, Rules: append(append(rulesOn(ovLowerSubFiles, rRead), rulesOn(ovUpperSubFiles, rRead)...), rulesOn(ovMergeSubFiles, rRead|rWrite)...), Opens: concat(
		each(ovLowerSubFiles, rdonly, nil), each(ovLowerSubFiles, wronly, unix.EACCES),
		each(ovUpperSubFiles, rdonly, nil), each(ovUpperSubFiles, wronly, unix.EACCES),
		each(ovMergeBaseFiles, rdwr, unix.EACCES), each(ovMergeBaseDirs, rddir, unix.EACCES), each(ovMergeSubFiles, rdwr, nil),
	)},
	{Handled: rRW, Rules: []relRule{{"merge/data", rRead | rWrite}}, Opens: concat(
		each(ovLowerSubFiles, rdonly, unix.EACCES), each(ovUpperSubFiles, rdonly, unix.EACCES),
		each(ovMergeBaseFiles, rdwr, unix.EACCES), each(ovMergeBaseDirs, rddir, unix.EACCES), each(ovMergeSubFiles, rdwr, nil),
	)},
}

// layout3Variant is one filesystem of the layout3_fs fixture: mounted on tmp (the
// selftests' TMP_DIR), with file the file the specs open, relative to the mount.
type layout3Variant struct {
	Name, Fstype, data, File string
	Feature                  string
}

var Layout3Variants = []layout3Variant{
	{Name: "tmpfs", Fstype: "tmpfs", data: "size=4m,mode=700", File: "s1d1/f1", Feature: "fs.mount_point"},
	{Name: "ramfs", Fstype: "ramfs", data: "mode=700", File: "dir/file", Feature: "fs.mount_point"},
	// A cgroup of its own, removed afterwards: creating it creates the file.
	{Name: "cgroup2", Fstype: "cgroup2", File: "llconform-test/cgroup.procs", Feature: "fs.mount_point"},
	{Name: "proc", Fstype: "proc", File: "self/status", Feature: "fs.procfs"},
	{Name: "sysfs", Fstype: "sysfs", File: "kernel/notes", Feature: "fs.sysfs"},
}

// layout3Test is one of the tag_inode tests: where its read_file rule is, relative to the
// variant's directory (whose tmp is the mount point).
type layout3Test struct {
	Name     string
	RulePath func(v layout3Variant) string
	It       string
}

var Layout3Tests = []layout3Test{
	{Name: "tag_inode_dir_parent", RulePath: func(layout3Variant) string { return "." }, It: "on the directory holding its mount point"},
	{Name: "tag_inode_dir_mnt", RulePath: func(layout3Variant) string { return "tmp" }, It: "on its mount point"},
	{Name: "tag_inode_dir_child", RulePath: func(v layout3Variant) string { return path.Join("tmp", path.Dir(v.File)) }, It: "on a directory inside it"},
	{Name: "tag_inode_file", RulePath: func(v layout3Variant) string { return path.Join("tmp", v.File) }, It: "on one of its files"},
}

// Layout3Ops are what each tag_inode test records, in order: opens of /dev/null and of the
// variant's file without Landlock, under a layer granting read_file by the test's rule,
// then under a second layer handling read_file without rules.
var Layout3Ops = []struct {
	Key, What     string
	devNull       bool
	layer         int
	Want          error
	ControlBefore bool
}{
	{Key: "control_devnull", What: "without Landlock: open(/dev/null, O_RDONLY)", devNull: true, ControlBefore: true},
	{Key: "control_file", What: "without Landlock: open(file, O_RDONLY)", ControlBefore: true},
	{Key: "l1_devnull", What: "read_file handled, granted by the rule: open(/dev/null, O_RDONLY)", devNull: true, layer: 1, Want: unix.EACCES},
	{Key: "l1_file", What: "read_file handled, granted by the rule: open(file, O_RDONLY)", layer: 1},
	{Key: "l2_devnull", What: "then a layer handling read_file without rules: open(/dev/null, O_RDONLY)", devNull: true, layer: 2, Want: unix.EACCES},
	{Key: "l2_file", What: "then a layer handling read_file without rules: open(file, O_RDONLY)", layer: 2, Want: unix.EACCES},
}

// layout3 mounts the variant's filesystem and runs the four tag_inode tests on it, each on
// a thread of its own.
func (g *gapRun) layout3(v layout3Variant) error {
	key, dir := "layout3/"+v.Name, "l3/"+v.Name
	fss, err := os.ReadFile("/proc/filesystems")
	if err != nil {
		return fmt.Errorf("read /proc/filesystems: %w", err)
	}
	if !strings.Contains(string(fss), "\t"+v.Fstype+"\n") {
		g.rec(key+"/available", fmt.Errorf("the kernel offers no %s filesystem (not in /proc/filesystems)", v.Fstype))
		return nil
	}
	mnt, file := g.p(dir+"/tmp"), g.p(path.Join(dir, "tmp", v.File))
	var created []string // what to remove afterwards, innermost first
	defer func() {
		if len(created) > 0 {
			_ = g.inNS(func() error {
				for _, c := range created {
					_ = os.Remove(c)
				}
				return nil
			})
		}
	}()
	if err := g.inNS(func() error {
		if err := g.mkLayout(dir + "/tmp/"); err != nil {
			return err
		}
		if v.Fstype == "cgroup2" {
			// The mount then shows the thread's own cgroup as its root, where the
			// test's cgroup goes, not the root of the whole hierarchy.
			if err := unix.Unshare(unix.CLONE_NEWCGROUP); err != nil {
				return fmt.Errorf("unshare(CLONE_NEWCGROUP): %w", err)
			}
		}
		if err := unix.Mount(v.Fstype, mnt, v.Fstype, 0, v.data); err != nil {
			return fmt.Errorf("mount %s on %s: %w", v.Fstype, mnt, err)
		}
		if _, err := os.Stat(path.Dir(file)); err != nil {
			if err := os.Mkdir(path.Dir(file), 0o700); err != nil {
				return fmt.Errorf("mkdir %s: %w", path.Dir(file), err)
			}
			created = append(created, path.Dir(file))
		}
		if _, err := os.Stat(file); err != nil {
			if err := os.WriteFile(file, nil, 0o600); err != nil {
				return fmt.Errorf("the %s file %s is missing and cannot be created: %w", v.Name, file, err)
			}
			created = append([]string{file}, created...)
		}
		return nil
	}); err != nil {
		g.rec(key+"/available", err)
		return nil
	}
	g.rec(key+"/available", nil)
	for _, t := range Layout3Tests {
		tkey := key + "/" + t.Name
		rulePath := g.p(path.Join(dir, t.RulePath(v)))
		if err := g.inNS(func() error {
			open := func(devNull bool) error {
				if devNull {
					return OpenErr("/dev/null", unix.O_RDONLY)
				}
				return OpenErr(file, unix.O_RDONLY)
			}
			layers := []sandbox.Policy{sandbox.FS(rRead, Rule(rulePath, rRead)), sandbox.FS(rRead)}
			enforced := 0
			for _, op := range Layout3Ops {
				for enforced < op.layer {
					if err := layers[enforced].Enforce(); err != nil {
						return fmt.Errorf("enforce layer %d: %w", enforced+1, err)
					}
					enforced++
				}
				g.rec(tkey+"/"+op.Key, open(op.devNull))
			}
			return nil
		}); err != nil {
			g.rec(tkey+"/error", err)
		}
	}
	return nil
}

// topologyNetFS is topology_changes_with_net_and_fs: each mount operation, in a nested
// namespace of its own on a fresh copy of the layout, without a domain (the control) and
// in a domain handling network rights and fs.execute.
func (g *gapRun) topologyNetFS() error {
	type topoOp struct {
		Name string
		do   func(pre string) error
	}
	ops := []topoOp{
		{"mount", func(pre string) error { return unix.Mount("tmpfs", pre+"/s1d1/s1d2", "tmpfs", 0, "size=4m,mode=700") }},
		{"make_private", func(pre string) error { return unix.Mount("", pre+"/s3d1/s3d2", "", unix.MS_PRIVATE|unix.MS_REC, "") }},
		{"move_mount", func(pre string) error {
			return unix.MoveMount(unix.AT_FDCWD, pre+"/s3d1/s3d2", unix.AT_FDCWD, pre+"/s2d1/s2d2", 0)
		}},
		{"umount", func(pre string) error { return unix.Unmount(pre+"/s3d1/s3d2", 0) }},
		{"pivot_root", func(pre string) error { return unix.PivotRoot(pre+"/s3d1/s3d2", pre+"/s3d1/s3d2/s3d3") }},
	}
	domain := sandbox.Policy{Layers: []sandbox.Layer{{Attr: landlock.RulesetAttr{
		HandledAccessNet: landlock.AccessNetBindTCP | landlock.AccessNetConnectTCP,
		HandledAccessFS:  landlock.AccessFSExecute,
	}}}}
	for _, tag := range []string{"control", "netfs"} {
		for _, op := range ops {
			rel := "tnf-" + tag + "-" + op.Name
			if err := g.inNestedNS(func() error {
				if err := g.mkLayout(rel+"/s1d1/s1d2/", rel+"/s2d1/s2d2/", rel+"/s3d1/s3d2/"); err != nil {
					return err
				}
				if err := unix.Mount("tmpfs", g.p(rel+"/s3d1/s3d2"), "tmpfs", 0, "size=4m,mode=700"); err != nil {
					return fmt.Errorf("mount s3d2: %w", err)
				}
				if err := g.mkLayout(rel + "/s3d1/s3d2/s3d3/"); err != nil {
					return err
				}
				// pivot_root needs the root to be a mount: the helper's tmpfs is one.
				if err := unix.Chroot(g.base); err != nil {
					return fmt.Errorf("chroot into the tmpfs: %w", err)
				}
				if err := unix.Chdir("/"); err != nil {
					return fmt.Errorf("chdir /: %w", err)
				}
				if tag == "netfs" {
					if err := domain.Enforce(); err != nil {
						return fmt.Errorf("enforce: %w", err)
					}
				}
				g.rec("topology_net_fs/"+tag+"/"+op.Name, op.do("/"+rel))
				return nil
			}); err != nil {
				return err
			}
		}
	}
	return nil
}

// pathDisconnected is layout1_bind.path_disconnected: s1d3, opened through the bind mount
// of s1d2 on s2d2, is moved to s4d1 (out of the mount's source) under a layer granting
// everything, then read through its descriptor under a layer whose rule is on the file
// itself and one whose rule is on s1d2, the mount's root. The rulesets are created before
// the move, when their paths exist.
func (g *gapRun) pathDisconnected() error {
	return g.inNS(func() error {
		pre := "pd/"
		if err := g.bindLayout1(pre); err != nil {
			return err
		}
		s1d3, s4d1 := g.p(pre+"s1d1/s1d2/s1d3"), g.p(pre+"s4d1")
		l1, err := RulesetWith(g.allFSOf(), Rule(g.p("pd"), g.allFSOf()))
		if err != nil {
			return err
		}
		defer unix.Close(l1)
		l2, err := RulesetWith(rRW, Rule(F1(s1d3), rRead))
		if err != nil {
			return err
		}
		defer unix.Close(l2)
		l3, err := RulesetWith(rRW, Rule(g.p(pre+"s1d1/s1d2"), rRead))
		if err != nil {
			return err
		}
		defer unix.Close(l3)
		if err := EnforceFd(l1); err != nil {
			return fmt.Errorf("enforce layer 1: %w", err)
		}
		fd, err := unix.Open(g.p(pre+"s2d1/s2d2/s1d3"), unix.O_PATH|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("open s1d3 through the bind mount: %w", err)
		}
		defer unix.Close(fd)
		k := "path_disconnected/"
		g.rec(k+"l1_f1", OpenatErr(fd, "f1", unix.O_RDONLY))
		g.rec(k+"l1_f2", OpenatErr(fd, "f2", unix.O_RDONLY))
		g.rec(k+"l1_dotdot", OpenatErr(fd, "..", unix.O_RDONLY|unix.O_DIRECTORY))
		if err := unix.Rename(s1d3, s4d1); err != nil {
			return fmt.Errorf("move s1d3 to s4d1 under layer 1: %w", err)
		}
		g.rec(k+"moved_f1", OpenatErr(fd, "f1", unix.O_RDONLY))
		g.rec(k+"moved_f2", OpenatErr(fd, "f2", unix.O_RDONLY))
		g.rec(k+"moved_dotdot", OpenatErr(fd, "..", unix.O_RDONLY|unix.O_DIRECTORY))
		if err := landlock.RestrictSelf(l2, 0); err != nil {
			return fmt.Errorf("enforce layer 2: %w", err)
		}
		g.rec(k+"l2_path_f1", OpenErr(F1(s4d1), unix.O_RDONLY))
		g.rec(k+"l2_f1", OpenatErr(fd, "f1", unix.O_RDONLY))
		g.rec(k+"l2_f2", OpenatErr(fd, "f2", unix.O_RDONLY))
		if err := landlock.RestrictSelf(l3, 0); err != nil {
			return fmt.Errorf("enforce layer 3: %w", err)
		}
		g.rec(k+"l3_path_f1", OpenErr(F1(s4d1), unix.O_RDONLY))
		g.rec(k+"l3_f1", OpenatErr(fd, "f1", unix.O_RDONLY))
		g.rec(k+"l3_f2", OpenatErr(fd, "f2", unix.O_RDONLY))
		return nil
	})
}

// overlaySameContent builds layout2_overlay: two tmpfs layers and the overlay of their
// data directories, then runs SameContentDifferentFile.
func (g *gapRun) overlaySameContent() error {
	fss, err := os.ReadFile("/proc/filesystems")
	if err != nil {
		return fmt.Errorf("read /proc/filesystems: %w", err)
	}
	if !strings.Contains(string(fss), "\toverlay\n") {
		g.rec("overlay2/available", fmt.Errorf("the kernel offers no overlay filesystem (not in /proc/filesystems)"))
		return nil
	}
	pre := "ov/"
	if err := g.inNS(func() error {
		if err := g.mkLayout(pre+"lower/", pre+"upper/", pre+"merge/data/"); err != nil {
			return err
		}
		for _, d := range []string{"lower", "upper"} {
			if err := unix.Mount("tmpfs", g.p(pre+d), "tmpfs", 0, "size=4m,mode=700"); err != nil {
				return fmt.Errorf("mount tmpfs on %s: %w", d, err)
			}
		}
		if err := g.mkLayout(pre+"lower/data/fl1", pre+"lower/data/dl1/fl2", pre+"lower/data/fo1", pre+"lower/data/do1/fo2",
			pre+"lower/data/do1/fl3", pre+"upper/data/fu1", pre+"upper/data/du1/fu2", pre+"upper/data/fo1",
			pre+"upper/data/do1/fo2", pre+"upper/data/do1/fu3", pre+"upper/work/"); err != nil {
			return err
		}
		if err := unix.Mkfifo(g.p(pre+"lower/data/pl1"), 0o600); err != nil {
			return fmt.Errorf("mkfifo lower/data/pl1: %w", err)
		}
		opts := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", g.p(pre+"lower/data"), g.p(pre+"upper/data"), g.p(pre+"upper/work"))
		return unix.Mount("overlay", g.p(pre+"merge/data"), "overlay", 0, opts)
	}); err != nil {
		g.rec("overlay2/available", err)
		return nil
	}
	g.rec("overlay2/available", nil)
	return g.layeredOpens("overlay2", "ov", SameContentDifferentFile)
}

func runPartialsNS(args []string) ([]byte, error) {
	g, err := newGapRun(args[0])
	if err != nil {
		return nil, err
	}
	defer unix.Close(g.ns)
	type scenario struct {
		Name string
		fn   func() error
	}
	scenarios := []scenario{
		{Name: "rule_over_mountpoint", fn: func() error {
			if err := g.inNS(func() error {
				if err := g.mkLayout("rom/s1d1/f1", "rom/s2d1/f1", "rom/s3d1/f1", "rom/s3d1/s3d2/"); err != nil {
					return err
				}
				if err := unix.Mount("tmpfs", g.p("rom/s3d1/s3d2"), "tmpfs", 0, "size=4m,mode=700"); err != nil {
					return fmt.Errorf("mount tmpfs on s3d2: %w", err)
				}
				return g.mkLayout("rom/s3d1/s3d2/s3d3/f1")
			}); err != nil {
				return err
			}
			return g.layeredOpens("rule_over_mountpoint", "rom", RuleOverMountpoint)
		}},
		{Name: "same_content_same_file", fn: func() error {
			if err := g.inNS(func() error { return g.bindLayout1("scsf/") }); err != nil {
				return err
			}
			return g.layeredOpens("same_content_same_file", "scsf", SameContentSameFile)
		}},
		{Name: "overlay2", fn: g.overlaySameContent},
	}
	if g.abi >= 2 {
		scenarios = append(scenarios, scenario{Name: "path_disconnected", fn: g.pathDisconnected})
	}
	if g.abi >= 4 {
		scenarios = append(scenarios, scenario{Name: "topology_net_fs", fn: g.topologyNetFS})
	}
	for _, v := range Layout3Variants {
		scenarios = append(scenarios, scenario{Name: "layout3/" + v.Name, fn: func() error { return g.layout3(v) }})
	}
	for _, s := range scenarios {
		if err := s.fn(); err != nil {
			g.res[s.Name+"/error"] = GapResult{Msg: err.Error()}
		}
	}
	return json.Marshal(g.res)
}
