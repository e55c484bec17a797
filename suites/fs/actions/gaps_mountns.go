package actions

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/llconform/llconform/internal/landlock"
	"github.com/llconform/llconform/internal/sandbox"
)

// The fs_test.c selftests below need mounts, pivot_root or disconnected directories. Like
// mountns_test.go, one helper process builds a private mount namespace on a fresh tmpfs and
// runs every scenario on a thread of its own inside it; a scenario that moves the root
// (pivot_root) first unshares a nested namespace, so the others never see it. Each
// scenario records what its operations gave, keyed "scenario/operation"; a scenario that
// could not be set up records "scenario/error" and the others go on. The helper runs once
// per suite process: the specs judge its observations.

const GapsNSAction = "fs-mountns-gaps"

// The umount_sandboxer selftest executes a program from a mount, which sandboxes itself
// and executes another program from elsewhere: the helper's own binary plays both (the
// helper, or the suites binary when no helper sits beside it), chosen by these environment
// variables in init, before the helper or Ginkgo starts.
const (
	sandboxerEnv     = "LLCONFORM_FS_SANDBOXER"
	sandboxerNextEnv = "LLCONFORM_FS_SANDBOXER_NEXT"
	waitPipeEnv      = "LLCONFORM_FS_WAIT_PIPE"
)

func init() {
	sandbox.Register(GapsNSAction, runGapsNS)
	switch {
	case os.Getenv(sandboxerEnv) != "":
		os.Exit(runSandboxer())
	case os.Getenv(waitPipeEnv) != "":
		os.Exit(runWaitPipe())
	}
}

// runSandboxer is the program executed from the mount: it enforces a domain, says so on
// fd 3, waits for a byte on fd 4, then executes the program named by sandboxerNextEnv.
// Package initialisation runs on the main thread, which is also the one that executes.
func runSandboxer() int {
	p := sandbox.FS(landlock.AccessFSMakeChar)
	if abi, err := landlock.Version(); err == nil && abi >= 6 {
		p = sandbox.Scoped(landlock.ScopeSignal) // the selftest's domain
	}
	if err := p.Enforce(); err != nil {
		fmt.Fprintf(os.Stderr, "sandboxer: enforce: %v\n", err)
		return 1
	}
	if _, err := unix.Write(3, []byte(".")); err != nil {
		fmt.Fprintf(os.Stderr, "sandboxer: write fd 3: %v\n", err)
		return 1
	}
	if n, err := unix.Read(4, make([]byte, 1)); n != 1 {
		fmt.Fprintf(os.Stderr, "sandboxer: read fd 4: %d %v\n", n, err)
		return 1
	}
	next := os.Getenv(sandboxerNextEnv)
	env := append(envWithout(sandboxerEnv, sandboxerNextEnv), waitPipeEnv+"=1")
	err := syscall.Exec(next, []string{next}, env)
	fmt.Fprintf(os.Stderr, "sandboxer: execute %s: %v\n", next, err)
	return 1
}

// runWaitPipe is the program the sandboxer executes: it says so on fd 3 and waits for a
// byte on fd 4.
func runWaitPipe() int {
	if _, err := unix.Write(3, []byte(".")); err != nil {
		return 1
	}
	if n, _ := unix.Read(4, make([]byte, 1)); n != 1 {
		return 1
	}
	return 0
}

// envWithout returns the environment without the named variables and without the sandbox
// helper's marker.
func envWithout(names ...string) []string {
	var env []string
	for _, e := range os.Environ() {
		k, _, _ := strings.Cut(e, "=")
		if k == "LLCONFORM_SANDBOX_HELPER" || contains(names, k) {
			continue
		}
		env = append(env, e)
	}
	return env
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// GapResult is one operation's outcome: its errno (0 for success), or a message for an
// error that is no errno.
type GapResult struct {
	Errno int    `json:"e,omitempty"`
	Msg   string `json:"m,omitempty"`
}

// gapRun is the helper's state.
type gapRun struct {
	*nsRun
	abi int
	res map[string]GapResult
}

func (g *gapRun) rec(key string, err error) {
	if err == nil {
		g.res[key] = GapResult{}
		return
	}
	if e := ErrnoOf(err); e != 0 {
		g.res[key] = GapResult{Errno: int(e)}
		return
	}
	g.res[key] = GapResult{Msg: err.Error()}
}

// inNestedNS runs fn on a scenario thread in a copy of the helper's namespace, for
// scenarios that move mounts around or the root itself.
func (g *gapRun) inNestedNS(fn func() error) error {
	return g.inNS(func() error {
		if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
			return fmt.Errorf("unshare a nested mount namespace: %w", err)
		}
		return fn()
	})
}

// newGapRun sets up a helper's private mount namespace, with a tmpfs on base, held by a
// descriptor the scenarios enter; the caller closes g.ns.
func newGapRun(base string) (*gapRun, error) {
	abi, err := landlock.Version()
	if err != nil {
		return nil, fmt.Errorf("read the Landlock ABI: %w", err)
	}
	g := &gapRun{nsRun: &nsRun{base: base}, abi: abi, res: map[string]GapResult{}}
	err = sandbox.OnThread(func() error {
		if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
			return fmt.Errorf("unshare(CLONE_NEWNS): %w", err)
		}
		if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
			return fmt.Errorf("make / private: %w", err)
		}
		if err := unix.Mount("llconform", g.base, "tmpfs", 0, "mode=0755"); err != nil {
			return fmt.Errorf("mount tmpfs on %s: %w", g.base, err)
		}
		ns, err := unix.Open("/proc/thread-self/ns/mnt", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		g.ns = ns
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("set up the mount namespace: %w", err)
	}
	return g, nil
}

func runGapsNS(args []string) ([]byte, error) {
	g, err := newGapRun(args[0])
	if err != nil {
		return nil, err
	}
	defer unix.Close(g.ns)
	scenarios := []struct {
		Name string
		fn   func() error
	}{
		{Name: "inside_ns", fn: g.ruleInsideMountNS},
		{Name: "topology_control", fn: func() error { return g.topologySequence("control", nil) }},
		{Name: "release_inodes", fn: g.releaseInodes},
		{Name: "umount_sandboxer", fn: g.umountSandboxer},
	}
	if g.abi >= 4 {
		net := sandbox.Net(landlock.AccessNetBindTCP | landlock.AccessNetConnectTCP)
		scenarios = append(scenarios, struct {
			Name string
			fn   func() error
		}{Name: "topology_netonly", fn: func() error { return g.topologySequence("netonly", &net) }})
	}
	if g.abi >= 2 {
		scenarios = append(scenarios, []struct {
			Name string
			fn   func() error
		}{
			{Name: "refer_part_mount", fn: g.referPartMount},
			{Name: "cross_mount", fn: g.reparentCrossMount},
			{Name: "disconnected_rename", fn: g.disconnectedRename},
			{Name: "disconnected_link", fn: g.disconnectedLink},
		}...)
		for _, v := range layout4Variants {
			scenarios = append(scenarios, struct {
				Name string
				fn   func() error
			}{Name: "layout4/" + v.Name, fn: func() error { return g.layout4(v) }})
		}
		for _, v := range layout5Variants {
			scenarios = append(scenarios, struct {
				Name string
				fn   func() error
			}{Name: "layout5/" + v.Name, fn: func() error { return g.layout5(v) }})
		}
	}
	for _, s := range scenarios {
		if err := s.fn(); err != nil {
			g.res[s.Name+"/error"] = GapResult{Msg: err.Error()}
		}
	}
	return json.Marshal(g.res)
}

// ruleInsideMountNS pivots the root onto a tmpfs whose old root lands on its subdirectory
// s3d3, then grants reads on that old root by a relative path.
func (g *gapRun) ruleInsideMountNS() error {
	return g.inNestedNS(func() error {
		if err := g.mkLayout("pv/s3d1/s3d2/"); err != nil {
			return err
		}
		if err := unix.Mount("llconform", g.p("pv/s3d1/s3d2"), "tmpfs", 0, ""); err != nil {
			return fmt.Errorf("mount s3d2: %w", err)
		}
		if err := g.mkLayout("pv/s3d1/s3d2/s3d3/"); err != nil {
			return err
		}
		// The root must be a mount with a parent for pivot_root: the tmpfs is one, the
		// initramfs a guest may run from is not.
		if err := unix.Chroot(g.base); err != nil {
			return fmt.Errorf("chroot into the tmpfs: %w", err)
		}
		if err := unix.Chdir("/"); err != nil {
			return fmt.Errorf("chdir /: %w", err)
		}
		err := unix.PivotRoot("/pv/s3d1/s3d2", "/pv/s3d1/s3d2/s3d3")
		g.rec("inside_ns/pivot_root", err)
		if err != nil {
			return nil
		}
		g.rec("inside_ns/chdir", unix.Chdir("/"))
		if err := sandbox.FS(rRW, Rule("s3d3", rRO)).Enforce(); err != nil {
			return fmt.Errorf("enforce a rule on s3d3: %w", err)
		}
		g.rec("inside_ns/open_s3d3", OpenErr("s3d3", unix.O_RDONLY))
		g.rec("inside_ns/open_root", OpenErr("/", unix.O_RDONLY))
		return nil
	})
}

// topologySequence runs topology_changes_with_net_only's mount operations, in a domain
// handling network rights only or in none (the control), in a namespace of their own.
func (g *gapRun) topologySequence(tag string, p *sandbox.Policy) error {
	pre := "/topo-" + tag
	return g.inNestedNS(func() error {
		if err := g.mkLayout("topo-"+tag+"/s1d1/s1d2/", "topo-"+tag+"/s2d1/s2d2/", "topo-"+tag+"/s3d1/s3d2/"); err != nil {
			return err
		}
		if err := unix.Mount("llconform", g.p("topo-"+tag+"/s3d1/s3d2"), "tmpfs", 0, ""); err != nil {
			return fmt.Errorf("mount s3d2: %w", err)
		}
		if err := g.mkLayout("topo-" + tag + "/s3d1/s3d2/s3d3/"); err != nil {
			return err
		}
		if err := unix.Chroot(g.base); err != nil {
			return fmt.Errorf("chroot into the tmpfs: %w", err)
		}
		if err := unix.Chdir("/"); err != nil {
			return fmt.Errorf("chdir /: %w", err)
		}
		if p != nil {
			if err := p.Enforce(); err != nil {
				return fmt.Errorf("enforce: %w", err)
			}
		}
		key := "topology/" + tag + "/"
		g.rec(key+"mount", unix.Mount("llconform", pre+"/s1d1/s1d2", "tmpfs", 0, "size=4m,mode=700"))
		g.rec(key+"make_private", unix.Mount("", pre+"/s1d1/s1d2", "", unix.MS_PRIVATE|unix.MS_REC, ""))
		g.rec(key+"move_mount", unix.MoveMount(unix.AT_FDCWD, pre+"/s1d1/s1d2", unix.AT_FDCWD, pre+"/s2d1/s2d2", 0))
		g.rec(key+"umount", unix.Unmount(pre+"/s2d1/s2d2", 0))
		g.rec(key+"pivot_root", unix.PivotRoot(pre+"/s3d1/s3d2", pre+"/s3d1/s3d2/s3d3"))
		g.rec(key+"chdir", unix.Chdir("/"))
		return nil
	})
}

// releaseInodes unmounts a tmpfs while a ruleset holds rules on it, then enforces that
// ruleset.
func (g *gapRun) releaseInodes() error {
	return g.inNS(func() error {
		if err := g.mkLayout("ri/s1d1/f1", "ri/s3d1/s3d2/"); err != nil {
			return err
		}
		if err := unix.Mount("llconform", g.p("ri/s3d1/s3d2"), "tmpfs", 0, ""); err != nil {
			return fmt.Errorf("mount s3d2: %w", err)
		}
		if err := g.mkLayout("ri/s3d1/s3d2/s3d3/"); err != nil {
			return err
		}
		fd, err := landlock.CreateRuleset(&landlock.RulesetAttr{HandledAccessFS: rRW}, landlock.RulesetAttrSizeV1, 0)
		if err != nil {
			return fmt.Errorf("create_ruleset: %w", err)
		}
		defer unix.Close(fd)
		for _, d := range []string{"ri/s1d1", "ri/s3d1/s3d2", "ri/s3d1/s3d2/s3d3"} {
			if err := AddRule(fd, g.p(d), rRO); err != nil {
				return fmt.Errorf("add rule on %s: %w", d, err)
			}
		}
		g.rec("release_inodes/umount", unix.Unmount(g.p("ri/s3d1/s3d2"), 0))
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return fmt.Errorf("no_new_privs: %w", err)
		}
		if err := landlock.RestrictSelf(fd, 0); err != nil {
			return fmt.Errorf("restrict_self: %w", err)
		}
		g.rec("release_inodes/open_s1d1_f1", OpenErr(g.p("ri/s1d1/f1"), unix.O_RDONLY))
		g.rec("release_inodes/open_s3d2", OpenErr(g.p("ri/s3d1/s3d2"), unix.O_RDONLY))
		g.rec("release_inodes/open_s3d3", OpenErr(g.p("ri/s3d1/s3d2/s3d3"), unix.O_RDONLY))
		return nil
	})
}

// umountSandboxer executes the helper's own binary through a bind mount of its directory;
// that process sandboxes itself and executes the same binary again from its real path.
func (g *gapRun) umountSandboxer() error {
	return g.inNS(func() error {
		exe, err := os.Executable()
		if err != nil {
			return err
		}
		if err := g.mkLayout("us/m/"); err != nil {
			return err
		}
		mnt := g.p("us/m")
		if err := unix.Mount(filepath.Dir(exe), mnt, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind the helper binary's directory on %s: %w", mnt, err)
		}
		var toParent, toChild [2]int
		if err := unix.Pipe2(toParent[:], unix.O_CLOEXEC); err != nil {
			return err
		}
		defer unix.Close(toParent[0])
		if err := unix.Pipe2(toChild[:], unix.O_CLOEXEC); err != nil {
			unix.Close(toParent[1])
			return err
		}
		defer unix.Close(toChild[1])
		null, err := os.Open(os.DevNull)
		if err != nil {
			return err
		}
		defer null.Close()
		inMount := filepath.Join(mnt, filepath.Base(exe))
		env := append(envWithout(sandboxerEnv, sandboxerNextEnv, waitPipeEnv), sandboxerEnv+"=1", sandboxerNextEnv+"="+exe)
		pid, err := syscall.ForkExec(inMount, []string{inMount}, &syscall.ProcAttr{
			Env:   env,
			Files: []uintptr{null.Fd(), null.Fd(), 2, uintptr(toParent[1]), uintptr(toChild[0])},
		})
		unix.Close(toParent[1])
		unix.Close(toChild[0])
		if err != nil {
			return fmt.Errorf("execute %s: %w", inMount, err)
		}
		step := func(what string) error {
			if n, err := unix.Read(toParent[0], make([]byte, 1)); n != 1 {
				return fmt.Errorf("%s: read %d bytes (%v): the child ended early", what, n, err)
			}
			return nil
		}
		if err := step("wait for the sandboxer"); err != nil {
			return err
		}
		g.rec("umount_sandboxer/while_sandboxer_runs", unix.Unmount(mnt, 0))
		if _, err := unix.Write(toChild[1], []byte(".")); err != nil {
			return err
		}
		if err := step("wait for the program it executed"); err != nil {
			return err
		}
		g.rec("umount_sandboxer/after_it_executed", unix.Unmount(mnt, 0))
		if _, err := unix.Write(toChild[1], []byte(".")); err != nil {
			return err
		}
		var ws unix.WaitStatus
		if _, err := unix.Wait4(pid, &ws, 0, nil); err != nil {
			return fmt.Errorf("wait4: %w", err)
		}
		if !ws.Exited() || ws.ExitStatus() != 0 {
			g.rec("umount_sandboxer/child", fmt.Errorf("the child ended with %s", WaitText(ws)))
		} else {
			g.rec("umount_sandboxer/child", nil)
		}
		return nil
	})
}

// referPartMount renames a file between two directories of a tmpfs mounted below the
// directory whose rule grants REFER.
func (g *gapRun) referPartMount() error {
	return g.inNS(func() error {
		if err := g.mkLayout("rp/s3d1/s3d2/"); err != nil {
			return err
		}
		if err := unix.Mount("llconform", g.p("rp/s3d1/s3d2"), "tmpfs", 0, ""); err != nil {
			return fmt.Errorf("mount s3d2: %w", err)
		}
		if err := g.mkLayout("rp/s3d1/s3d2/s3d3/", "rp/s3d1/s3d2/s3d4/f1"); err != nil {
			return err
		}
		p := sandbox.FS(rRefer|rMakeReg|rRmFile,
			Rule(g.p("rp/s3d1"), rRefer|rMakeReg),
			Rule(g.p("rp/s3d1/s3d2/s3d4"), rRefer|rMakeReg|rRmFile))
		if err := p.Enforce(); err != nil {
			return fmt.Errorf("enforce: %w", err)
		}
		g.rec("refer_part_mount/rename", unix.Rename(g.p("rp/s3d1/s3d2/s3d4/f1"), g.p("rp/s3d1/s3d2/s3d3/f1")))
		return nil
	})
}

// bindLayout1 creates the selftests' layout1_bind under pre: layout1's s1d1 and s2d1
// hierarchies with s1d2 bind-mounted on s2d2.
func (g *gapRun) bindLayout1(pre string) error {
	if err := g.mkLayout(pre+"s1d1/f1", pre+"s1d1/f2", pre+"s1d1/s1d2/f1", pre+"s1d1/s1d2/f2",
		pre+"s1d1/s1d2/s1d3/f1", pre+"s1d1/s1d2/s1d3/f2", pre+"s2d1/f1", pre+"s2d1/s2d2/f1"); err != nil {
		return err
	}
	if err := unix.Mount(g.p(pre+"s1d1/s1d2"), g.p(pre+"s2d1/s2d2"), "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind s1d2 on s2d2: %w", err)
	}
	return nil
}

// reparentCrossMount renames files across the bind mount of layout1_bind.
func (g *gapRun) reparentCrossMount() error {
	return g.inNS(func() error {
		pre := "cm/"
		if err := g.bindLayout1(pre); err != nil {
			return err
		}
		p := sandbox.FS(rRefer|rExec, Rule(g.p(pre+"s2d1"), rRefer), Rule(g.p(pre+"s2d1/s2d2/s1d3"), rExec))
		if err := p.Enforce(); err != nil {
			return fmt.Errorf("enforce: %w", err)
		}
		k := "cross_mount/"
		g.rec(k+"s1d1_to_s1d2", unix.Rename(g.p(pre+"s1d1/f1"), g.p(pre+"s1d1/s1d2/f1")))
		g.rec(k+"s2d1_to_bind", unix.Rename(g.p(pre+"s2d1/f1"), g.p(pre+"s2d1/s2d2/f1")))
		g.rec(k+"bind_to_bind_s1d3", unix.Rename(g.p(pre+"s2d1/s2d2/f1"), g.p(pre+"s2d1/s2d2/s1d3/f1")))
		g.rec(k+"bind_s1d3_to_bind", unix.Rename(g.p(pre+"s2d1/s2d2/s1d3/f1"), g.p(pre+"s2d1/s2d2/f1")))
		return nil
	})
}

// allFSOf is every filesystem right of the helper's kernel.
func (g *gapRun) allFSOf() uint64 { return landlock.Mask(landlock.KindFS, min(g.abi, landlock.MaxABI)) }

// onOwnThread runs fn in the namespace on a thread of its own, enforcing p first: the
// selftests fork a child that adds a layer, which a thread that already holds the outer
// layers stands in for (the same rules in a new domain).
func (g *gapRun) onOwnThread(p sandbox.Policy, fn func()) error {
	return g.inNS(func() error {
		if err := p.Enforce(); err != nil {
			return fmt.Errorf("enforce %s: %w", PolicyText(p), err)
		}
		fn()
		return nil
	})
}

// disconnectedRename is path_disconnected_rename: s1d3, opened through the bind mount, is
// moved out of the mount's source and back, with renames through the disconnected
// descriptor in between. It adds a same-directory rename in the disconnected directory
// granted only by a rule on the bind mount's root, the observation that tells erratum 3
// apart, with its controls.
func (g *gapRun) disconnectedRename() error {
	return g.inNS(func() error {
		pre := "pr/"
		if err := g.bindLayout1(pre); err != nil {
			return err
		}
		if err := g.mkLayout(pre+"s4d1/", pre+"s1d1/s1d2/s1d3/f7", pre+"s1d1/s1d2/s1d3/f8", pre+"s1d1/s1d2/s1d3/f9"); err != nil {
			return err
		}
		s1d2, s1d3, s4d1, s4d2 := g.p(pre+"s1d1/s1d2"), g.p(pre+"s1d1/s1d2/s1d3"), g.p(pre+"s4d1"), g.p(pre+"s4d1/s4d2")
		s2d2 := g.p(pre + "s2d1/s2d2")
		r1 := rRefer | rMakeDir | rRmDir | rMakeReg | rRmFile | rRead
		l1 := sandbox.FS(g.allFSOf(), Rule(s1d2, r1), Rule(s4d1, r1))
		l2 := sandbox.FS(rRead, Rule(s1d2, rRead))
		fd, err := unix.Open(filepath.Join(s2d2, "s1d3"), unix.O_PATH|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("open s1d3 through the bind mount: %w", err)
		}
		defer unix.Close(fd)
		if err := l1.Enforce(); err != nil {
			return fmt.Errorf("enforce layer 1: %w", err)
		}
		k := "disconnected_rename/"
		g.rec(k+"open_f1", OpenatErr(fd, "f1", unix.O_RDONLY))
		g.rec(k+"dotdot_connected", OpenatErr(fd, "..", unix.O_DIRECTORY))
		if err := unix.Rename(s1d3, s4d2); err != nil {
			return fmt.Errorf("layer 1: move s1d3 to s4d1/s4d2: %w", err)
		}
		g.rec(k+"dotdot_disconnected", OpenatErr(fd, "..", unix.O_DIRECTORY))
		if err := g.onOwnThread(l1.Then(l2), func() {
			g.rec(k+"l2_open_f1", OpenatErr(fd, "f1", unix.O_RDONLY))
			g.rec(k+"l2_open_s4d2_f1", OpenErr(filepath.Join(s4d2, "f1"), unix.O_RDONLY))
			g.rec(k+"l2_rename_back", unix.Rename(s4d2, s1d3))
			g.rec(k+"l2_renameat_out", unix.Renameat(fd, "f1", unix.AT_FDCWD, filepath.Join(s2d2, "f1")))
		}); err != nil {
			return err
		}
		// The erratum's own observation and its controls, each on a file of its own.
		rm := rMakeReg | rRmFile
		if err := g.onOwnThread(sandbox.Policy{}, func() {
			g.rec(k+"outside_rename", unix.Renameat(fd, "f7", fd, "f7b"))
		}); err != nil {
			return err
		}
		if err := g.onOwnThread(sandbox.FS(rm, Rule(s4d1, rm)), func() {
			g.rec(k+"real_parent_rule_rename", unix.Renameat(fd, "f8", fd, "f8b"))
		}); err != nil {
			return err
		}
		if err := g.onOwnThread(sandbox.FS(rm, Rule(s2d2, rm)), func() {
			g.rec(k+"mount_root_rule_rename", unix.Renameat(fd, "f9", fd, "f9b"))
		}); err != nil {
			return err
		}
		g.rec(k+"rename_back", unix.Rename(s4d2, s1d3))
		if err := g.onOwnThread(l1.Then(l2), func() {
			g.rec(k+"l2_connected_open_fd", OpenatErr(fd, "f1", unix.O_RDONLY))
			g.rec(k+"l2_connected_open_path", OpenErr(filepath.Join(s1d3, "f1"), unix.O_RDONLY))
		}); err != nil {
			return err
		}
		g.rec(k+"disconnect_again", unix.Rename(s1d3, s4d2))
		g.rec(k+"rename_within", unix.Renameat(fd, "f1", fd, "f2"))
		g.rec(k+"open_f2", OpenatErr(fd, "f2", unix.O_RDONLY))
		g.rec(k+"rename_out", unix.Renameat(fd, "f2", unix.AT_FDCWD, filepath.Join(s2d2, "f1")))
		g.rec(k+"open_out_bind", OpenErr(filepath.Join(s2d2, "f1"), unix.O_RDONLY))
		g.rec(k+"open_out_source", OpenErr(filepath.Join(s1d2, "f1"), unix.O_RDONLY))
		g.rec(k+"rename_in", unix.Renameat(unix.AT_FDCWD, filepath.Join(s2d2, "f1"), fd, "f1"))
		g.rec(k+"reconnect", unix.Rename(s4d2, s1d3))
		if err := l2.Enforce(); err != nil {
			return fmt.Errorf("enforce layer 2: %w", err)
		}
		g.rec(k+"final_open_fd", OpenatErr(fd, "f1", unix.O_RDONLY))
		g.rec(k+"final_open_path", OpenErr(filepath.Join(s1d3, "f1"), unix.O_RDONLY))
		return nil
	})
}

// disconnectedLink is path_disconnected_link: links from, to and within s1d3 once it is
// disconnected from the bind mount it was opened through. It adds a same-directory link
// granted only by a rule on the bind mount's root, with its controls.
func (g *gapRun) disconnectedLink() error {
	return g.inNS(func() error {
		pre := "pl/"
		if err := g.bindLayout1(pre); err != nil {
			return err
		}
		s1d2, s1d3, s4d1 := g.p(pre+"s1d1/s1d2"), g.p(pre+"s1d1/s1d2/s1d3"), g.p(pre+"s4d1")
		s2d2 := g.p(pre + "s2d1/s2d2")
		for _, f := range []string{filepath.Join(s1d2, "f1"), filepath.Join(s1d3, "f2")} {
			if err := unix.Unlink(f); err != nil {
				return fmt.Errorf("unlink %s: %w", f, err)
			}
		}
		fd, err := unix.Open(filepath.Join(s2d2, "s1d3"), unix.O_PATH|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("open s1d3 through the bind mount: %w", err)
		}
		defer unix.Close(fd)
		k := "disconnected_link/"
		g.rec(k+"open_f1_connected", OpenatErr(fd, "f1", unix.O_RDONLY))
		if err := unix.Rename(s1d3, s4d1); err != nil {
			return fmt.Errorf("move s1d3 to s4d1: %w", err)
		}
		if err := unix.Mkdir(filepath.Join(s4d1, "s4d2"), 0o755); err != nil {
			return fmt.Errorf("mkdir s4d1/s4d2: %w", err)
		}
		// The erratum's own observation and its controls, each linking to a name of
		// its own, removed again before the selftest's sequence.
		if err := g.onOwnThread(sandbox.Policy{}, func() {
			g.rec(k+"outside_link", unix.Linkat(fd, "f1", fd, "f7", 0))
		}); err != nil {
			return err
		}
		if err := g.onOwnThread(sandbox.FS(rMakeReg, Rule(s4d1, rMakeReg)), func() {
			g.rec(k+"real_parent_rule_link", unix.Linkat(fd, "f1", fd, "f8", 0))
		}); err != nil {
			return err
		}
		if err := g.onOwnThread(sandbox.FS(rMakeReg, Rule(s2d2, rMakeReg)), func() {
			g.rec(k+"mount_root_rule_link", unix.Linkat(fd, "f1", fd, "f9", 0))
		}); err != nil {
			return err
		}
		for _, n := range []string{"f7", "f8", "f9"} {
			if err := unix.Unlink(filepath.Join(s4d1, n)); err != nil && err != unix.ENOENT {
				return fmt.Errorf("unlink %s: %w", n, err)
			}
		}
		rl := rRefer | rRead | rMakeReg | rRmFile
		if err := sandbox.FS(g.allFSOf(), Rule(s4d1, rl), Rule(s2d2, rl)).Enforce(); err != nil {
			return fmt.Errorf("enforce layer 1: %w", err)
		}
		g.rec(k+"link_out", unix.Linkat(fd, "f1", unix.AT_FDCWD, filepath.Join(s2d2, "f1"), 0))
		g.rec(k+"open_new", OpenErr(filepath.Join(s2d2, "f1"), unix.O_RDONLY))
		g.rec(k+"open_old", OpenErr(filepath.Join(s4d1, "f1"), unix.O_RDONLY))
		g.rec(k+"unlink_old", unix.Unlink(filepath.Join(s4d1, "f1")))
		g.rec(k+"link_in", unix.Linkat(unix.AT_FDCWD, filepath.Join(s2d2, "f1"), fd, "f2", 0))
		g.rec(k+"open_in", OpenErr(filepath.Join(s4d1, "f2"), unix.O_RDONLY))
		g.rec(k+"unlink_out", unix.Unlink(filepath.Join(s2d2, "f1")))
		g.rec(k+"link_same_dir", unix.Linkat(fd, "f2", fd, "f1", 0))
		g.rec(k+"open_same_dir_path", OpenErr(filepath.Join(s4d1, "f1"), unix.O_RDONLY))
		g.rec(k+"open_same_dir_fd", OpenatErr(fd, "f1", unix.O_RDONLY))
		g.rec(k+"unlink_f2", unix.Unlink(filepath.Join(s4d1, "f2")))
		g.rec(k+"link_sub", unix.Linkat(fd, "f1", fd, "s4d2/f1", 0))
		g.rec(k+"open_sub_path", OpenErr(filepath.Join(s4d1, "s4d2/f1"), unix.O_RDONLY))
		g.rec(k+"open_sub_fd", OpenatErr(fd, "s4d2/f1", unix.O_RDONLY))
		return nil
	})
}

// disconnectedRuleset creates the ruleset of a layout4 or layout5 variant: rules on the
// variant's paths under pre, and on covered directories through descriptors opened before
// the mounts covered them.
func (g *gapRun) disconnectedRuleset(v disconnVariant, pre string, covered map[string]int) (int, error) {
	fd, err := landlock.CreateRuleset(&landlock.RulesetAttr{HandledAccessFS: DisconnHandled}, landlock.RulesetAttrSizeV1, 0)
	if err != nil {
		return -1, fmt.Errorf("create_ruleset: %w", err)
	}
	for _, r := range v.Rules {
		if cfd, ok := covered[r.Path]; ok {
			err = landlock.AddPathBeneath(fd, landlock.PathBeneathAttr{AllowedAccess: r.Access, ParentFd: int32(cfd)}, 0)
		} else {
			err = AddRule(fd, g.p(pre+r.Path), r.Access)
		}
		if err != nil {
			unix.Close(fd)
			return -1, fmt.Errorf("add rule on %s: %w", r.Path, err)
		}
	}
	return fd, nil
}

// openCovered opens the directories that mounts will cover, for their rules.
func (g *gapRun) openCovered(pre string, dirs ...string) (map[string]int, func(), error) {
	fds := map[string]int{}
	closeAll := func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}
	for _, d := range dirs {
		fd, err := unix.Open(g.p(pre+d), unix.O_DIRECTORY|unix.O_PATH|unix.O_CLOEXEC, 0)
		if err != nil {
			closeAll()
			return nil, nil, fmt.Errorf("open %s: %w", d, err)
		}
		fds[d] = fd
	}
	return fds, closeAll, nil
}

// restrictThenOps enforces the ruleset fd on the scenario thread and records the four
// operations of the disconnected-directory fixtures.
func (g *gapRun) restrictThenOps(key string, rs int, ops [4]func() error) error {
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("no_new_privs: %w", err)
	}
	if err := landlock.RestrictSelf(rs, 0); err != nil {
		return fmt.Errorf("restrict_self: %w", err)
	}
	for i, name := range DisconnOps {
		g.rec(key+name, ops[i]())
	}
	return nil
}

// layout4 is layout4_disconnected_leafs.read_rename_exchange for variant v: s1d41 and
// s1d42, opened through the bind mount of s1d2 on s2d2, are moved beneath s3d1 and s4d1.
func (g *gapRun) layout4(v disconnVariant) error {
	pre, key := "l4/"+v.Name+"/", "layout4/"+v.Name+"/"
	return g.inNS(func() error {
		if err := g.mkLayout(pre+"s1d1/s1d2/s1d31/s1d41/f1", pre+"s1d1/s1d2/s1d31/s1d41/f2",
			pre+"s1d1/s1d2/s1d32/s1d42/f3", pre+"s1d1/s1d2/s1d32/s1d42/f4", pre+"s2d1/s2d2/", pre+"s3d1/", pre+"s4d1/"); err != nil {
			return err
		}
		covered, closeCovered, err := g.openCovered(pre, "s2d1/s2d2")
		if err != nil {
			return err
		}
		defer closeCovered()
		if err := unix.Mount(g.p(pre+"s1d1/s1d2"), g.p(pre+"s2d1/s2d2"), "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind s1d2 on s2d2: %w", err)
		}
		rs, err := g.disconnectedRuleset(v, pre, covered)
		if err != nil {
			return err
		}
		defer unix.Close(rs)
		fd41, err := unix.Open(g.p(pre+"s2d1/s2d2/s1d31/s1d41"), unix.O_DIRECTORY|unix.O_PATH|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd41)
		fd42, err := unix.Open(g.p(pre+"s2d1/s2d2/s1d32/s1d42"), unix.O_DIRECTORY|unix.O_PATH|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd42)
		g.rec(key+"dotdot41_connected", OpenatErr(fd41, "..", unix.O_DIRECTORY))
		g.rec(key+"dotdot42_connected", OpenatErr(fd42, "..", unix.O_DIRECTORY))
		if err := unix.Rename(g.p(pre+"s1d1/s1d2/s1d31/s1d41"), g.p(pre+"s3d1/s1d41")); err != nil {
			return fmt.Errorf("move s1d41 beneath s3d1: %w", err)
		}
		if err := unix.Rename(g.p(pre+"s1d1/s1d2/s1d32/s1d42"), g.p(pre+"s4d1/s1d42")); err != nil {
			return fmt.Errorf("move s1d42 beneath s4d1: %w", err)
		}
		g.rec(key+"dotdot41_disconnected", OpenatErr(fd41, "..", unix.O_DIRECTORY))
		g.rec(key+"dotdot42_disconnected", OpenatErr(fd42, "..", unix.O_DIRECTORY))
		return g.restrictThenOps(key, rs, [4]func() error{
			func() error { return OpenatErr(fd41, "f1", unix.O_RDONLY) },
			func() error { return unix.Renameat2(fd41, "f1", fd42, "f1", 0) },
			func() error { return unix.Renameat2(fd41, "f2", fd42, "f3", unix.RENAME_EXCHANGE) },
			func() error { return unix.Renameat2(fd42, "f4", fd42, "f5", 0) },
		})
	})
}

// layout5 is layout5_disconnected_branch.read_rename_exchange for variant v: s1d2 is
// bind-mounted on s2d4, s2d2 recursively on s3d2, and s2d3 is moved beneath s4d1, which
// disconnects the branch seen through s3d2.
func (g *gapRun) layout5(v disconnVariant) error {
	pre, key := "l5/"+v.Name+"/", "layout5/"+v.Name+"/"
	return g.inNS(func() error {
		if err := g.mkLayout(pre+"s1d1/s1d2/s1d3/s1d41/f1", pre+"s1d1/s1d2/s1d3/s1d41/f2",
			pre+"s1d1/s1d2/s1d3/s1d42/f3", pre+"s1d1/s1d2/s1d3/s1d42/f4",
			pre+"s2d1/s2d2/s2d3/s2d4/", pre+"s3d1/s3d2/", pre+"s4d1/"); err != nil {
			return err
		}
		covered, closeCovered, err := g.openCovered(pre, "s2d1/s2d2/s2d3/s2d4", "s3d1/s3d2")
		if err != nil {
			return err
		}
		defer closeCovered()
		if err := unix.Mount(g.p(pre+"s1d1/s1d2"), g.p(pre+"s2d1/s2d2/s2d3/s2d4"), "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind s1d2 on s2d4: %w", err)
		}
		if err := unix.Mount(g.p(pre+"s2d1/s2d2"), g.p(pre+"s3d1/s3d2"), "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("bind s2d2 recursively on s3d2: %w", err)
		}
		rs, err := g.disconnectedRuleset(v, pre, covered)
		if err != nil {
			return err
		}
		defer unix.Close(rs)
		fd, err := unix.Open(g.p(pre+"s3d1/s3d2/s2d3/s2d4/s1d3"), unix.O_DIRECTORY|unix.O_PATH|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		g.rec(key+"dotdot_connected", OpenatErr(fd, "..", unix.O_DIRECTORY))
		g.rec(key+"dotdot2_connected", OpenatErr(fd, "../..", unix.O_DIRECTORY))
		if err := unix.Rename(g.p(pre+"s2d1/s2d2/s2d3"), g.p(pre+"s4d1/s2d3")); err != nil {
			return fmt.Errorf("move s2d3 beneath s4d1: %w", err)
		}
		g.rec(key+"dotdot_disconnected", OpenatErr(fd, "..", unix.O_DIRECTORY))
		g.rec(key+"dotdot2_disconnected", OpenatErr(fd, "../..", unix.O_DIRECTORY))
		return g.restrictThenOps(key, rs, [4]func() error{
			func() error { return OpenatErr(fd, "s1d41/f1", unix.O_RDONLY) },
			func() error { return unix.Renameat2(fd, "s1d41/f1", fd, "s1d42/f1", 0) },
			func() error { return unix.Renameat2(fd, "s1d41/f2", fd, "s1d42/f3", unix.RENAME_EXCHANGE) },
			func() error { return unix.Renameat2(fd, "s1d42/f4", fd, "s1d42/f5", 0) },
		})
	})
}
