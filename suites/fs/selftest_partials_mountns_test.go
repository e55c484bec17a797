package fs_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	"golang.org/x/sys/unix"

	"github.com/llconform/llconform/internal/landlock"
	"github.com/llconform/llconform/internal/sandbox"
	"github.com/llconform/llconform/internal/spec"
)

// Specs completing fs_test.c selftests of Linux 7.3 that need mounts: a tmpfs beneath a
// rule, mount operations in a domain handling network and filesystem rights, the
// layout1_bind, layout2_overlay and layout3_fs fixtures. Like selftest_gaps_mountns_test.go,
// one helper process builds a private mount namespace on a fresh tmpfs (the gapRun helpers)
// and runs each scenario on threads of its own; its observations are keyed
// "scenario/operation", and the specs judge them against the tables below, which the
// helper also runs.

const partialsNSAction = "fs-mountns-partials"

func init() { sandbox.Register(partialsNSAction, runPartialsNS) }

// relRule grants access beneath path, relative to the scenario's directory.
type relRule struct {
	path   string
	access uint64
}

// nsOpen is an open(2) of path (relative to the scenario's directory) and what it gives.
type nsOpen struct {
	path  string
	flags int
	want  error
}

// nsLayer is one more layer and the opens that must give their errno once it is enforced
// on top of the layers before it.
type nsLayer struct {
	handled uint64
	rules   []relRule
	opens   []nsOpen
}

func (l nsLayer) text() string {
	parts := make([]string, len(l.rules))
	for i, r := range l.rules {
		parts[i] = r.path + ":" + names(r.access)
	}
	if len(parts) == 0 {
		parts = []string{"no rule"}
	}
	return fmt.Sprintf("handles %s with %s", names(l.handled), strings.Join(parts, " "))
}

func rdonly(path string, want error) nsOpen {
	return nsOpen{path: path, flags: unix.O_RDONLY, want: want}
}
func wronly(path string, want error) nsOpen {
	return nsOpen{path: path, flags: unix.O_WRONLY, want: want}
}
func rdwr(path string, want error) nsOpen { return nsOpen{path: path, flags: unix.O_RDWR, want: want} }
func rddir(path string, want error) nsOpen {
	return nsOpen{path: path, flags: unix.O_RDONLY | unix.O_DIRECTORY, want: want}
}

// layeredOpens enforces the layers in turn on one scenario thread beneath dir, recording
// each layer's opens as key/<layer>/<open>.
func (g *gapRun) layeredOpens(key, dir string, layers []nsLayer) error {
	return g.inNS(func() error {
		for i, l := range layers {
			var rs []sandbox.PathRule
			for _, r := range l.rules {
				rs = append(rs, rule(g.p(path.Join(dir, r.path)), r.access))
			}
			if err := sandbox.FS(l.handled, rs...).Enforce(); err != nil {
				return fmt.Errorf("enforce layer %d (%s): %w", i+1, l.text(), err)
			}
			for j, o := range l.opens {
				g.rec(fmt.Sprintf("%s/%d/%d", key, i, j), openErr(g.p(path.Join(dir, o.path)), o.flags))
			}
		}
		return nil
	})
}

// expectLayeredOpens asserts what layeredOpens recorded for key.
func expectLayeredOpens(key string, layers []nsLayer) {
	GinkgoHelper()
	for i, l := range layers {
		for j, o := range l.opens {
			got := partials.seen(fmt.Sprintf("%s/%d/%d", key, i, j))
			spec.ExpectErr(got, o.want, "after layer %d (%s): open(%s, %s)", i+1, l.text(), o.path, openFlags(o.flags))
		}
	}
}

// ruleOverMountpoint is rule_over_mountpoint: read rights granted on s1d1 and on s3d1,
// the parent of the tmpfs mounted on s3d2.
var ruleOverMountpoint = []nsLayer{{handled: rRW,
	rules: []relRule{{"s1d1", rRO}, {"s3d1", rRO}},
	opens: []nsOpen{rdonly("s1d1", nil), rdonly("s2d1", unix.EACCES), rdonly("s3d1", nil), rdonly("s3d1/s3d2", nil), rdonly("s3d1/s3d2/s3d3", nil)},
}}

// sameContentSameFile is layout1_bind.same_content_same_file: s1d1/s1d2 is bind-mounted on
// s2d1/s2d2, and four layers put rules on the mount points' parents, on both mount points,
// on the shared source s1d3 and on the bind side's s1d3/f1.
var sameContentSameFile = []nsLayer{
	{handled: rRW, rules: []relRule{{"s1d1", rRO}, {"s2d1", rRW}}, opens: []nsOpen{
		rdonly("s1d1/f1", nil), wronly("s1d1/f1", unix.EACCES), rddir("s1d1", nil),
		rdonly("s1d1/s1d2/f1", nil), wronly("s1d1/s1d2/f1", unix.EACCES), rddir("s1d1/s1d2", nil),
		rdwr("s2d1/f1", nil), rddir("s2d1", nil),
		rdwr("s2d1/s2d2/f1", nil), rddir("s2d1/s2d2", nil),
	}},
	// The rule on s2d2 lands on the bind mount's root, s1d2's inode: both paths get
	// read and write from this layer, not beyond what layer 1 grants them.
	{handled: rRW, rules: []relRule{{"s1d1/s1d2", rRead}, {"s2d1/s2d2", rRW}}, opens: []nsOpen{
		rdonly("s1d1/f1", unix.EACCES), wronly("s1d1/f1", unix.EACCES), rddir("s1d1", unix.EACCES),
		rdonly("s1d1/s1d2/f1", nil), wronly("s1d1/s1d2/f1", unix.EACCES), rddir("s1d1/s1d2", nil),
		rdonly("s2d1/f1", unix.EACCES), wronly("s2d1/f1", unix.EACCES), rddir("s2d1", unix.EACCES),
		rdwr("s2d1/s2d2/f1", nil), rddir("s2d1/s2d2", nil), rddir("s2d1/s2d2/s1d3", nil),
	}},
	{handled: rRW, rules: []relRule{{"s1d1/s1d2/s1d3", rRead}}, opens: []nsOpen{
		rdonly("s1d1/s1d2/f1", unix.EACCES), wronly("s1d1/s1d2/f1", unix.EACCES), rddir("s1d1/s1d2", unix.EACCES),
		rdonly("s1d1/s1d2/s1d3/f1", nil), wronly("s1d1/s1d2/s1d3/f1", unix.EACCES), rddir("s1d1/s1d2/s1d3", unix.EACCES),
		rdonly("s2d1/s2d2/f1", unix.EACCES), wronly("s2d1/s2d2/f1", unix.EACCES), rddir("s2d1/s2d2", unix.EACCES),
		rdonly("s2d1/s2d2/s1d3/f1", nil), wronly("s2d1/s2d2/s1d3/f1", unix.EACCES), rddir("s2d1/s2d2/s1d3", unix.EACCES),
	}},
	// Write granted on the file through the bind mount: the same inode, now granted
	// nothing that every layer grants.
	{handled: rRW, rules: []relRule{{"s2d1/s2d2/s1d3/f1", rWrite}}, opens: []nsOpen{
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

// sameContentDifferentFile is layout2_overlay.same_content_different_file: five layers
// with rules on the layers' parents, on the data directories, on their subdirectories and
// on their files, then on the overlay alone. Files seen through the overlay are checked by
// their merged path only, whatever rules the layers' own paths carry.
var sameContentDifferentFile = []nsLayer{
	{handled: rRW, rules: []relRule{{"lower", rRead}, {"upper", rRead}, {"merge", rRW}}, opens: concat(
		each(ovLowerBaseFiles, rdonly, nil), each(ovLowerBaseFiles, wronly, unix.EACCES),
		each(ovLowerBaseDirs, rddir, unix.EACCES),
		each(ovLowerSubFiles, rdonly, nil), each(ovLowerSubFiles, wronly, unix.EACCES),
		each(ovUpperBaseFiles, rdonly, nil), each(ovUpperBaseFiles, wronly, unix.EACCES),
		each(ovUpperBaseDirs, rddir, unix.EACCES),
		each(ovUpperSubFiles, rdonly, nil), each(ovUpperSubFiles, wronly, unix.EACCES),
		// Writing through the overlay copies lower files up: the overlay's own work.
		each(ovMergeBaseFiles, rdwr, nil), each(ovMergeBaseDirs, rddir, nil), each(ovMergeSubFiles, rdwr, nil),
	)},
	{handled: rRW, rules: []relRule{{"lower/data", rRead}, {"upper/data", rRead}, {"merge/data", rRW}}, opens: concat(
		each(ovMergeBaseFiles, rdwr, nil), each(ovMergeBaseDirs, rddir, nil), each(ovMergeSubFiles, rdwr, nil),
	)},
	{handled: rRW, rules: append(append(rulesOn(ovLowerBaseDirs, rRead), rulesOn(ovUpperBaseDirs, rRead)...), rulesOn(ovMergeBaseDirs, rRW)...), opens: concat(
		each(ovLowerBaseFiles, rdonly, unix.EACCES), each(ovUpperBaseFiles, rdonly, unix.EACCES),
		each(ovMergeBaseFiles, rdwr, unix.EACCES), each(ovMergeBaseDirs, rddir, nil), each(ovMergeSubFiles, rdwr, nil),
	)},
	{handled: rRW, rules: append(append(rulesOn(ovLowerSubFiles, rRead), rulesOn(ovUpperSubFiles, rRead)...), rulesOn(ovMergeSubFiles, rRead|rWrite)...), opens: concat(
		each(ovLowerSubFiles, rdonly, nil), each(ovLowerSubFiles, wronly, unix.EACCES),
		each(ovUpperSubFiles, rdonly, nil), each(ovUpperSubFiles, wronly, unix.EACCES),
		each(ovMergeBaseFiles, rdwr, unix.EACCES), each(ovMergeBaseDirs, rddir, unix.EACCES), each(ovMergeSubFiles, rdwr, nil),
	)},
	{handled: rRW, rules: []relRule{{"merge/data", rRead | rWrite}}, opens: concat(
		each(ovLowerSubFiles, rdonly, unix.EACCES), each(ovUpperSubFiles, rdonly, unix.EACCES),
		each(ovMergeBaseFiles, rdwr, unix.EACCES), each(ovMergeBaseDirs, rddir, unix.EACCES), each(ovMergeSubFiles, rdwr, nil),
	)},
}

// layout3Variant is one filesystem of the layout3_fs fixture: mounted on tmp (the
// selftests' TMP_DIR), with file the file the specs open, relative to the mount.
type layout3Variant struct {
	name, fstype, data, file string
	feature                  string
}

var layout3Variants = []layout3Variant{
	{name: "tmpfs", fstype: "tmpfs", data: "size=4m,mode=700", file: "s1d1/f1", feature: "fs.mount_point"},
	{name: "ramfs", fstype: "ramfs", data: "mode=700", file: "dir/file", feature: "fs.mount_point"},
	// A cgroup of its own, removed afterwards: creating it creates the file.
	{name: "cgroup2", fstype: "cgroup2", file: "llconform-test/cgroup.procs", feature: "fs.mount_point"},
	{name: "proc", fstype: "proc", file: "self/status", feature: "fs.procfs"},
	{name: "sysfs", fstype: "sysfs", file: "kernel/notes", feature: "fs.sysfs"},
}

// layout3Test is one of the tag_inode tests: where its read_file rule is, relative to the
// variant's directory (whose tmp is the mount point).
type layout3Test struct {
	name     string
	rulePath func(v layout3Variant) string
	it       string
}

var layout3Tests = []layout3Test{
	{name: "tag_inode_dir_parent", rulePath: func(layout3Variant) string { return "." }, it: "on the directory holding its mount point"},
	{name: "tag_inode_dir_mnt", rulePath: func(layout3Variant) string { return "tmp" }, it: "on its mount point"},
	{name: "tag_inode_dir_child", rulePath: func(v layout3Variant) string { return path.Join("tmp", path.Dir(v.file)) }, it: "on a directory inside it"},
	{name: "tag_inode_file", rulePath: func(v layout3Variant) string { return path.Join("tmp", v.file) }, it: "on one of its files"},
}

// layout3Ops are what each tag_inode test records, in order: opens of /dev/null and of the
// variant's file without Landlock, under a layer granting read_file by the test's rule,
// then under a second layer handling read_file without rules.
var layout3Ops = []struct {
	key, what     string
	devNull       bool
	layer         int
	want          error
	controlBefore bool
}{
	{key: "control_devnull", what: "without Landlock: open(/dev/null, O_RDONLY)", devNull: true, controlBefore: true},
	{key: "control_file", what: "without Landlock: open(file, O_RDONLY)", controlBefore: true},
	{key: "l1_devnull", what: "read_file handled, granted by the rule: open(/dev/null, O_RDONLY)", devNull: true, layer: 1, want: unix.EACCES},
	{key: "l1_file", what: "read_file handled, granted by the rule: open(file, O_RDONLY)", layer: 1},
	{key: "l2_devnull", what: "then a layer handling read_file without rules: open(/dev/null, O_RDONLY)", devNull: true, layer: 2, want: unix.EACCES},
	{key: "l2_file", what: "then a layer handling read_file without rules: open(file, O_RDONLY)", layer: 2, want: unix.EACCES},
}

// layout3 mounts the variant's filesystem and runs the four tag_inode tests on it, each on
// a thread of its own.
func (g *gapRun) layout3(v layout3Variant) error {
	key, dir := "layout3/"+v.name, "l3/"+v.name
	fss, err := os.ReadFile("/proc/filesystems")
	if err != nil {
		return fmt.Errorf("read /proc/filesystems: %w", err)
	}
	if !strings.Contains(string(fss), "\t"+v.fstype+"\n") {
		g.rec(key+"/available", fmt.Errorf("the kernel offers no %s filesystem (not in /proc/filesystems)", v.fstype))
		return nil
	}
	mnt, file := g.p(dir+"/tmp"), g.p(path.Join(dir, "tmp", v.file))
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
		if v.fstype == "cgroup2" {
			// The mount then shows the thread's own cgroup as its root, where the
			// test's cgroup goes, not the root of the whole hierarchy.
			if err := unix.Unshare(unix.CLONE_NEWCGROUP); err != nil {
				return fmt.Errorf("unshare(CLONE_NEWCGROUP): %w", err)
			}
		}
		if err := unix.Mount(v.fstype, mnt, v.fstype, 0, v.data); err != nil {
			return fmt.Errorf("mount %s on %s: %w", v.fstype, mnt, err)
		}
		if _, err := os.Stat(path.Dir(file)); err != nil {
			if err := os.Mkdir(path.Dir(file), 0o700); err != nil {
				return fmt.Errorf("mkdir %s: %w", path.Dir(file), err)
			}
			created = append(created, path.Dir(file))
		}
		if _, err := os.Stat(file); err != nil {
			if err := os.WriteFile(file, nil, 0o600); err != nil {
				return fmt.Errorf("the %s file %s is missing and cannot be created: %w", v.name, file, err)
			}
			created = append([]string{file}, created...)
		}
		return nil
	}); err != nil {
		g.rec(key+"/available", err)
		return nil
	}
	g.rec(key+"/available", nil)
	for _, t := range layout3Tests {
		tkey := key + "/" + t.name
		rulePath := g.p(path.Join(dir, t.rulePath(v)))
		if err := g.inNS(func() error {
			open := func(devNull bool) error {
				if devNull {
					return openErr("/dev/null", unix.O_RDONLY)
				}
				return openErr(file, unix.O_RDONLY)
			}
			layers := []sandbox.Policy{sandbox.FS(rRead, rule(rulePath, rRead)), sandbox.FS(rRead)}
			enforced := 0
			for _, op := range layout3Ops {
				for enforced < op.layer {
					if err := layers[enforced].Enforce(); err != nil {
						return fmt.Errorf("enforce layer %d: %w", enforced+1, err)
					}
					enforced++
				}
				g.rec(tkey+"/"+op.key, open(op.devNull))
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
		name string
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
			rel := "tnf-" + tag + "-" + op.name
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
				g.rec("topology_net_fs/"+tag+"/"+op.name, op.do("/"+rel))
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
		l1, err := rulesetWith(g.allFSOf(), rule(g.p("pd"), g.allFSOf()))
		if err != nil {
			return err
		}
		defer unix.Close(l1)
		l2, err := rulesetWith(rRW, rule(f1(s1d3), rRead))
		if err != nil {
			return err
		}
		defer unix.Close(l2)
		l3, err := rulesetWith(rRW, rule(g.p(pre+"s1d1/s1d2"), rRead))
		if err != nil {
			return err
		}
		defer unix.Close(l3)
		if err := enforceFd(l1); err != nil {
			return fmt.Errorf("enforce layer 1: %w", err)
		}
		fd, err := unix.Open(g.p(pre+"s2d1/s2d2/s1d3"), unix.O_PATH|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("open s1d3 through the bind mount: %w", err)
		}
		defer unix.Close(fd)
		k := "path_disconnected/"
		g.rec(k+"l1_f1", openatErr(fd, "f1", unix.O_RDONLY))
		g.rec(k+"l1_f2", openatErr(fd, "f2", unix.O_RDONLY))
		g.rec(k+"l1_dotdot", openatErr(fd, "..", unix.O_RDONLY|unix.O_DIRECTORY))
		if err := unix.Rename(s1d3, s4d1); err != nil {
			return fmt.Errorf("move s1d3 to s4d1 under layer 1: %w", err)
		}
		g.rec(k+"moved_f1", openatErr(fd, "f1", unix.O_RDONLY))
		g.rec(k+"moved_f2", openatErr(fd, "f2", unix.O_RDONLY))
		g.rec(k+"moved_dotdot", openatErr(fd, "..", unix.O_RDONLY|unix.O_DIRECTORY))
		if err := landlock.RestrictSelf(l2, 0); err != nil {
			return fmt.Errorf("enforce layer 2: %w", err)
		}
		g.rec(k+"l2_path_f1", openErr(f1(s4d1), unix.O_RDONLY))
		g.rec(k+"l2_f1", openatErr(fd, "f1", unix.O_RDONLY))
		g.rec(k+"l2_f2", openatErr(fd, "f2", unix.O_RDONLY))
		if err := landlock.RestrictSelf(l3, 0); err != nil {
			return fmt.Errorf("enforce layer 3: %w", err)
		}
		g.rec(k+"l3_path_f1", openErr(f1(s4d1), unix.O_RDONLY))
		g.rec(k+"l3_f1", openatErr(fd, "f1", unix.O_RDONLY))
		g.rec(k+"l3_f2", openatErr(fd, "f2", unix.O_RDONLY))
		return nil
	})
}

// overlaySameContent builds layout2_overlay: two tmpfs layers and the overlay of their
// data directories, then runs sameContentDifferentFile.
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
	return g.layeredOpens("overlay2", "ov", sameContentDifferentFile)
}

func runPartialsNS(args []string) ([]byte, error) {
	g, err := newGapRun(args[0])
	if err != nil {
		return nil, err
	}
	defer unix.Close(g.ns)
	type scenario struct {
		name string
		fn   func() error
	}
	scenarios := []scenario{
		{name: "rule_over_mountpoint", fn: func() error {
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
			return g.layeredOpens("rule_over_mountpoint", "rom", ruleOverMountpoint)
		}},
		{name: "same_content_same_file", fn: func() error {
			if err := g.inNS(func() error { return g.bindLayout1("scsf/") }); err != nil {
				return err
			}
			return g.layeredOpens("same_content_same_file", "scsf", sameContentSameFile)
		}},
		{name: "overlay2", fn: g.overlaySameContent},
	}
	if g.abi >= 2 {
		scenarios = append(scenarios, scenario{name: "path_disconnected", fn: g.pathDisconnected})
	}
	if g.abi >= 4 {
		scenarios = append(scenarios, scenario{name: "topology_net_fs", fn: g.topologyNetFS})
	}
	for _, v := range layout3Variants {
		scenarios = append(scenarios, scenario{name: "layout3/" + v.name, fn: func() error { return g.layout3(v) }})
	}
	for _, s := range scenarios {
		if err := s.fn(); err != nil {
			g.res[s.name+"/error"] = gapResult{Msg: err.Error()}
		}
	}
	return json.Marshal(g.res)
}

var _ = Describe("kernel selftest partials: mounts", spec.Needs("root"), func() {
	BeforeEach(func() {
		spec.RequireLandlock()
		spec.RequireRoot()
	})

	It("MUST apply a rule above a mount point to the filesystem mounted beneath it",
		spec.Feature("fs.mount_point", 1), spec.ID("layout1.rule_over_mountpoint"), selftests("layout1.rule_over_mountpoint"), func() {
			partials.require("rule_over_mountpoint")
			expectLayeredOpens("rule_over_mountpoint", ruleOverMountpoint)
			spec.EnforcedVerdict("fs.mount_point", 1)
		})

	It("MUST deny mount, propagation changes, move_mount, umount and pivot_root with EPERM in a domain handling network rights and fs.execute",
		spec.Feature("fs.change_topology", 1), spec.ID("layout1.topology_changes_with_net_and_fs"), selftests("layout1.topology_changes_with_net_and_fs"), func() {
			if !spec.SupportedOrRejected("attr.handled_access_net", 4, func() { expectNetRulesetRejected(landlock.AccessFSExecute) }) {
				return
			}
			partials.require("topology_net_fs")
			for _, op := range []string{"mount", "make_private", "move_mount", "umount", "pivot_root"} {
				partials.expect("topology_net_fs/control/"+op, nil, "without a domain: %s", op)
				partials.expect("topology_net_fs/netfs/"+op, unix.EPERM, "domain handling net.bind_tcp, net.connect_tcp and fs.execute: %s", op)
			}
			spec.EnforcedVerdict("fs.change_topology", 1)
		})

	It("MUST check a bind-mounted file through either path against the same inode's rules, across four layers ruling on the mount points' parents, both mount points, the shared source and the bind side's file",
		spec.Feature("fs.bind_mount", 1), spec.ID("layout1_bind.same_content_same_file"), selftests("layout1_bind.same_content_same_file"), func() {
			partials.require("same_content_same_file")
			expectLayeredOpens("same_content_same_file", sameContentSameFile)
			spec.EnforcedVerdict("fs.bind_mount", 1)
		})

	It("MUST check overlayfs files, lower and upper, by their merged path only, across five layers ruling on the layers' parents, data directories, subdirectories and files",
		spec.Feature("fs.overlayfs", 1), spec.Needs("module:overlay"), spec.ID("layout2_overlay.same_content_different_file"), selftests("layout2_overlay.same_content_different_file"), func() {
			if err := partials.seen("overlay2/available"); err != nil {
				spec.Skip("overlay filesystem unavailable: %v", err)
			}
			partials.require("overlay2")
			expectLayeredOpens("overlay2", sameContentDifferentFile)
			spec.EnforcedVerdict("fs.overlayfs", 1)
		})

	It("MUST allow a read through a directory disconnected from its bind mount by a rule on the file itself, and by a rule on the mount's root where erratum 3 is advertised",
		spec.Erratum(3), spec.ID("layout1_bind.path_disconnected"), selftests("layout1_bind.path_disconnected"), func() {
			if !supportsOrRejected(referRight) {
				return
			}
			partials.require("path_disconnected")
			k := "path_disconnected/"
			// Controls: before and after the move, a layer granting everything on the
			// tree allows the reads on both kernels.
			for _, f := range []string{"l1_f1", "l1_f2", "l1_dotdot", "moved_f1", "moved_f2"} {
				partials.expect(k+f, nil, "layer 1 granting every right on the tree: %s", f)
			}
			same := func(key, what string, want error) spec.Observation {
				return spec.Observation{What: what, Seen: partials.seen(k + key), Fixed: want, Unfixed: want}
			}
			// Before the fix the walk from a disconnected directory stopped at its
			// filesystem's root, never reaching the bind mount's root s1d2.
			seen, detail := spec.ClassifyErratum([]spec.Observation{
				same("moved_dotdot", "openat(fd, \"..\") once disconnected (the VFS's ENOENT)", unix.ENOENT),
				same("l2_path_f1", "layer 2 (read_file on s1d3/f1 itself): open(s4d1/f1)", nil),
				same("l2_f1", "layer 2: openat(fd, f1)", nil),
				same("l2_f2", "layer 2: openat(fd, f2)", unix.EACCES),
				same("l3_path_f1", "layer 3 (read_file on s1d2, the bind mount's root): open(s4d1/f1)", unix.EACCES),
				{What: "layer 3: openat(fd, f1)", Seen: partials.seen(k + "l3_f1"), Fixed: nil, Unfixed: unix.EACCES},
				same("l3_f2", "layer 3: openat(fd, f2)", unix.EACCES),
			})
			spec.ErratumVerdict(3, seen, "layout1_bind.path_disconnected: "+detail)
		})

	for _, v := range layout3Variants {
		for _, t := range layout3Tests {
			It(fmt.Sprintf("MUST apply a read_file rule %s to a file of a %s mount, and deny it under a second layer without rules", t.it, v.name),
				spec.Feature(v.feature, 1), spec.ID("layout3_fs."+t.name+"."+v.name), selftests("layout3_fs."+t.name), func() {
					key := "layout3/" + v.name
					partials.require(key)
					if err := partials.seen(key + "/available"); err != nil {
						spec.Skip("%s variant unavailable: %v", v.name, err)
					}
					tkey := key + "/" + t.name
					if r, ok := partials.all()[tkey+"/error"]; ok {
						Fail(fmt.Sprintf("set-up: %s: %s", tkey, r.Msg))
					}
					what := fmt.Sprintf("%s mounted on tmp, file tmp/%s, rule on %s", v.fstype, v.file, t.rulePath(v))
					for _, op := range layout3Ops {
						got := partials.seen(tkey + "/" + op.key)
						if op.controlBefore && got != nil {
							Fail(fmt.Sprintf("set-up: %s: %s: got %s, want success", what, op.what, spec.ErrnoName(got)))
						}
						spec.ExpectErr(got, op.want, "%s: %s", what, op.what)
					}
					spec.EnforcedVerdict(v.feature, 1)
				})
		}
	}
})

// expectNetRulesetRejected checks that a kernel below ABI 4 rejects a ruleset handling the
// TCP rights (and fs, which may be 0) with the exact errno of its contract.
func expectNetRulesetRejected(fs uint64) {
	GinkgoHelper()
	attr := landlock.RulesetAttr{HandledAccessNet: landlock.AccessNetBindTCP | landlock.AccessNetConnectTCP, HandledAccessFS: fs}
	abi := spec.Kernel().ABI
	fd, err := landlock.CreateRuleset(&attr, landlock.RulesetAttrSizeV4, 0)
	if err == nil {
		unix.Close(fd)
	}
	spec.ExpectErr(err, landlock.CreateRulesetErrno(attr.Bytes(), landlock.RulesetAttrSizeV4, abi),
		"ABI %d: create_ruleset(handled_access_net=net.bind_tcp|net.connect_tcp, handled_access_fs=%s, 16-byte attr)", abi, landlock.Names(landlock.KindFS, fs))
}
