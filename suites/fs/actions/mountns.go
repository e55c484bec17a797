package actions

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/llconform/llconform/internal/landlock"
	"github.com/llconform/llconform/internal/sandbox"
)

// The specs below need mounts. They run in one helper process, which builds a private
// mount namespace on a fresh tmpfs and runs every scenario on its own thread that joins
// that namespace with its own fs_struct (unshare(CLONE_FS) then setns), so chroot, chdir
// and Landlock domains stay per scenario and nothing reaches the runner's namespace. The
// helper returns what each operation gave, keyed "scenario/operation"; the specs judge.

const MountNSAction = "fs-mountns"

func init() { sandbox.Register(MountNSAction, runMountNS) }

// nsRun is the helper's state: the namespace and the observations.
type nsRun struct {
	base string
	ns   int
	obs  map[string]string
}

func (r *nsRun) record(key string, err error) { r.obs[key] = sandbox.ErrnoName(err) }

// inNS runs fn on a fresh thread inside the helper's mount namespace.
func (r *nsRun) inNS(fn func() error) error {
	return sandbox.OnThread(func() error {
		if err := unix.Unshare(unix.CLONE_FS); err != nil {
			return fmt.Errorf("unshare(CLONE_FS): %w", err)
		}
		if err := unix.Setns(r.ns, unix.CLONE_NEWNS); err != nil {
			return fmt.Errorf("setns(mount namespace): %w", err)
		}
		return fn()
	})
}

func (r *nsRun) p(rel string) string { return filepath.Join(r.base, rel) }

// mkLayout creates directories (trailing "/") and files beneath the tmpfs.
func (r *nsRun) mkLayout(entries ...string) error {
	for _, e := range entries {
		p := r.p(e)
		if strings.HasSuffix(e, "/") {
			if err := os.MkdirAll(p, 0o755); err != nil {
				return err
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, []byte("data"), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func runMountNS(args []string) ([]byte, error) {
	r := &nsRun{base: args[0], obs: map[string]string{}}
	err := sandbox.OnThread(func() error {
		if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
			return fmt.Errorf("unshare(CLONE_NEWNS): %w", err)
		}
		if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
			return fmt.Errorf("make / private: %w", err)
		}
		if err := unix.Mount("llconform", r.base, "tmpfs", 0, "mode=0755"); err != nil {
			return fmt.Errorf("mount tmpfs on %s: %w", r.base, err)
		}
		ns, err := unix.Open("/proc/thread-self/ns/mnt", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("open own mount namespace: %w", err)
		}
		r.ns = ns
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("set up the mount namespace: %w", err)
	}
	defer unix.Close(r.ns)
	for _, s := range []struct {
		Name string
		fn   func() error
	}{
		{Name: "topology", fn: r.topology},
		{Name: "bind", fn: r.bind},
		{Name: "disconnected", fn: r.disconnected},
		{Name: "chroot", fn: r.chroot},
		{Name: "mountpoint", fn: r.mountpoint},
		{Name: "overlay", fn: r.overlay},
	} {
		if err := s.fn(); err != nil {
			return nil, fmt.Errorf("scenario %s: %w", s.Name, err)
		}
	}
	return json.Marshal(r.obs)
}

// topologyOps are the mount operations a domain must refuse, each against its own target.
func (r *nsRun) topologyOps(prefix, tag string) map[string]func() error {
	return map[string]func() error{
		"mount": func() error { return unix.Mount("llconform", r.p(prefix+"new-"+tag), "tmpfs", 0, "") },
		"remount": func() error {
			return unix.Mount("", r.p(prefix+"m1"), "", unix.MS_REMOUNT|unix.MS_RDONLY, "")
		},
		"bind":        func() error { return unix.Mount(r.p(prefix+"src"), r.p(prefix+"bind-"+tag), "", unix.MS_BIND, "") },
		"propagation": func() error { return unix.Mount("", r.p(prefix+"m1"), "", unix.MS_SHARED, "") },
		"move_mount": func() error {
			return unix.MoveMount(unix.AT_FDCWD, r.p(prefix+"m2"), unix.AT_FDCWD, r.p(prefix+"moved-"+tag), 0)
		},
		"umount": func() error { return unix.Unmount(r.p(prefix+"m3"), 0) },
		// plain is no mount point: pivot_root fails with EINVAL after the LSM check.
		"pivot_root": func() error { return unix.PivotRoot(r.p(prefix+"plain"), r.p(prefix+"plain/old")) },
	}
}

func (r *nsRun) topology() error {
	setup := func(prefix string) error {
		if err := r.mkLayout(prefix+"src/", prefix+"m1/", prefix+"m2/", prefix+"m3/", prefix+"plain/old/",
			prefix+"new-control/", prefix+"new-netonly/", prefix+"new-fs/", prefix+"bind-control/", prefix+"bind-netonly/",
			prefix+"bind-fs/", prefix+"moved-control/", prefix+"moved-netonly/", prefix+"moved-fs/"); err != nil {
			return err
		}
		for _, m := range []string{"m1", "m2", "m3"} {
			if err := unix.Mount("llconform", r.p(prefix+m), "tmpfs", 0, ""); err != nil {
				return fmt.Errorf("mount %s: %w", m, err)
			}
		}
		return nil
	}
	run := func(tag string, p *sandbox.Policy) error {
		prefix := "topo-" + tag + "/"
		return r.inNS(func() error {
			if err := setup(prefix); err != nil {
				return err
			}
			if p != nil {
				if err := p.Enforce(); err != nil {
					return fmt.Errorf("enforce: %w", err)
				}
			}
			for name, op := range r.topologyOps(prefix, tag) {
				r.record("topology/"+tag+"/"+name, op())
			}
			return nil
		})
	}
	if err := run("control", nil); err != nil {
		return err
	}
	if abi, err := landlock.Version(); err == nil && abi >= 4 {
		net := sandbox.Net(landlock.AccessNetBindTCP)
		if err := run("netonly", &net); err != nil {
			return err
		}
	}
	fs := sandbox.FS(landlock.AccessFSExecute)
	return run("fs", &fs)
}

// openIn enforces p on a scenario thread and records open(path, O_RDONLY) for each key.
func (r *nsRun) openIn(p sandbox.Policy, opens map[string]string) error {
	return r.inNS(func() error {
		if err := p.Enforce(); err != nil {
			return fmt.Errorf("enforce: %w", err)
		}
		for key, path := range opens {
			r.record(key, OpenErr(r.p(path), unix.O_RDONLY))
		}
		return nil
	})
}

func (r *nsRun) bind() error {
	if err := r.inNS(func() error {
		if err := r.mkLayout("b/s1/f", "b/s1/s2/f", "b/m1/m2/", "b/m1/f"); err != nil {
			return err
		}
		return unix.Mount(r.p("b/s1/s2"), r.p("b/m1/m2"), "", unix.MS_BIND, "")
	}); err != nil {
		return err
	}
	paths := map[string]string{"via-bind": "b/m1/m2/f", "via-source": "b/s1/s2/f", "source-parent": "b/s1/f"}
	with := func(tag, rulePath string) error {
		opens := map[string]string{}
		for k, v := range paths {
			opens["bind/"+tag+"/"+k] = v
		}
		return r.openIn(sandbox.FS(rRead, Rule(r.p(rulePath), rRead)), opens)
	}
	if err := with("rule-on-source", "b/s1/s2"); err != nil {
		return err
	}
	return with("rule-above-mountpoint", "b/m1")
}

// disconnected moves a directory out of the part of the filesystem a bind mount shows,
// keeping an O_PATH descriptor on it through the bind mount (erratum 3).
func (r *nsRun) disconnected() error {
	fd := -1
	if err := r.inNS(func() error {
		if err := r.mkLayout("e/s1/s2/s3/f", "e/m1/m2/", "e/out/", "e/other/"); err != nil {
			return err
		}
		if err := unix.Mount(r.p("e/s1/s2"), r.p("e/m1/m2"), "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind mount: %w", err)
		}
		var err error
		if fd, err = unix.Open(r.p("e/m1/m2/s3"), unix.O_PATH|unix.O_CLOEXEC, 0); err != nil {
			return fmt.Errorf("open through the bind mount: %w", err)
		}
		if err := unix.Rename(r.p("e/s1/s2/s3"), r.p("e/out/s3")); err != nil {
			return fmt.Errorf("move the directory out of the bind mount's source: %w", err)
		}
		r.record("disconnected/control", OpenatErr(fd, "f", unix.O_RDONLY))
		return nil
	}); err != nil {
		return err
	}
	defer unix.Close(fd)
	for tag, rulePath := range map[string]string{
		"rule-on-bind-root":     "e/s1/s2",
		"rule-above-mountpoint": "e/m1",
		"rule-on-new-parent":    "e/out",
		"rule-elsewhere":        "e/other",
	} {
		p := sandbox.FS(rRead, Rule(r.p(rulePath), rRead))
		if err := r.inNS(func() error {
			if err := p.Enforce(); err != nil {
				return fmt.Errorf("enforce: %w", err)
			}
			r.record("disconnected/"+tag, OpenatErr(fd, "f", unix.O_RDONLY))
			return nil
		}); err != nil {
			return err
		}
	}
	return nil
}

func (r *nsRun) chroot() error {
	if err := r.inNS(func() error { return r.mkLayout("c/s1/s2/f", "c/t1/t2/f") }); err != nil {
		return err
	}
	outer := sandbox.FS(rRW, Rule(r.p("c"), rRO))
	inner := sandbox.FS(rRW, Rule(r.p("c/s1/s2"), rRO), Rule(r.p("c/t1/t2"), rRO))
	p := outer.Then(inner)
	// chroot into the current directory: ".." of the new root is the root itself.
	if err := r.inNS(func() error {
		if err := p.Enforce(); err != nil {
			return fmt.Errorf("enforce: %w", err)
		}
		if err := unix.Chdir(r.p("c/s1/s2")); err != nil {
			return fmt.Errorf("chdir: %w", err)
		}
		r.record("chroot/here/chroot", unix.Chroot("."))
		r.record("chroot/here/dotdot", OpenErr("..", unix.O_RDONLY))
		r.record("chroot/here/root-file", OpenErr("/f", unix.O_RDONLY))
		r.record("chroot/here/root-file-write", OpenErr("/f", unix.O_WRONLY))
		return nil
	}); err != nil {
		return err
	}
	// chroot elsewhere, keeping the working directory outside the new root.
	return r.inNS(func() error {
		if err := p.Enforce(); err != nil {
			return fmt.Errorf("enforce: %w", err)
		}
		if err := unix.Chdir(r.p("c/t1/t2")); err != nil {
			return fmt.Errorf("chdir: %w", err)
		}
		r.record("chroot/away/chroot", unix.Chroot("../../s1/s2"))
		r.record("chroot/away/dotdot", OpenErr("..", unix.O_RDONLY))
		r.record("chroot/away/sibling-file", OpenErr("../../s1/s2/f", unix.O_RDONLY))
		r.record("chroot/away/root-file", OpenErr("/f", unix.O_RDONLY))
		return nil
	})
}

// mountpoint checks rules on a mount point and on a directory a mount later covers.
func (r *nsRun) mountpoint() error {
	if err := r.inNS(func() error {
		if err := r.mkLayout("mp/on/", "mp/covered/", "mp/other/f"); err != nil {
			return err
		}
		if err := unix.Mount("llconform", r.p("mp/on"), "tmpfs", 0, ""); err != nil {
			return fmt.Errorf("mount on mp/on: %w", err)
		}
		return r.mkLayout("mp/on/f")
	}); err != nil {
		return err
	}
	if err := r.openIn(sandbox.FS(rRO, Rule(r.p("mp/on"), rRO)), map[string]string{
		"mountpoint/rule-on-mount/file":  "mp/on/f",
		"mountpoint/rule-on-mount/other": "mp/other/f",
	}); err != nil {
		return err
	}
	// The rule is tied to the directory's inode before a mount covers it.
	return r.inNS(func() error {
		fd, err := landlock.CreateRuleset(&landlock.RulesetAttr{HandledAccessFS: rDir}, landlock.RulesetAttrSizeV1, 0)
		if err != nil {
			return fmt.Errorf("create_ruleset: %w", err)
		}
		defer unix.Close(fd)
		if err := AddRule(fd, r.p("mp/covered"), rDir); err != nil {
			return fmt.Errorf("add rule on mp/covered: %w", err)
		}
		if err := unix.Mount("llconform", r.p("mp/covered"), "tmpfs", 0, ""); err != nil {
			return fmt.Errorf("cover mp/covered: %w", err)
		}
		r.record("mountpoint/covered/before", OpenErr(r.p("mp/covered"), unix.O_RDONLY|unix.O_DIRECTORY))
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return fmt.Errorf("no_new_privs: %w", err)
		}
		if err := landlock.RestrictSelf(fd, 0); err != nil {
			return fmt.Errorf("restrict_self: %w", err)
		}
		r.record("mountpoint/covered/after", OpenErr(r.p("mp/covered"), unix.O_RDONLY|unix.O_DIRECTORY))
		return nil
	})
}

func (r *nsRun) overlay() error {
	fss, err := os.ReadFile("/proc/filesystems")
	if err != nil {
		return fmt.Errorf("read /proc/filesystems: %w", err)
	}
	if !strings.Contains(string(fss), "\toverlay\n") {
		r.obs["overlay/available"] = "no"
		return nil
	}
	if err := r.inNS(func() error {
		if err := r.mkLayout("o/lower/f", "o/lower/g", "o/upper/", "o/work/", "o/merged/"); err != nil {
			return err
		}
		if err := unix.Mkfifo(r.p("o/lower/p"), 0o600); err != nil {
			return fmt.Errorf("mkfifo: %w", err)
		}
		opts := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", r.p("o/lower"), r.p("o/upper"), r.p("o/work"))
		return unix.Mount("overlay", r.p("o/merged"), "overlay", 0, opts)
	}); err != nil {
		r.obs["overlay/available"] = "mount failed: " + err.Error()
		return nil
	}
	r.obs["overlay/available"] = "yes"
	if err := r.openIn(sandbox.FS(rRead, Rule(r.p("o/lower"), rRead)), map[string]string{
		"overlay/rule-on-lower/merged": "o/merged/f", "overlay/rule-on-lower/lower": "o/lower/f",
	}); err != nil {
		return err
	}
	if err := r.openIn(sandbox.FS(rRead, Rule(r.p("o/merged"), rRead)), map[string]string{
		"overlay/rule-on-merged/merged": "o/merged/f", "overlay/rule-on-merged/lower": "o/lower/f",
	}); err != nil {
		return err
	}
	// Copy-up and whiteouts are the overlay's own work, done with the mounter's
	// credentials: rules on the merged directory alone must let them happen.
	handled := rRW | rRmFile | rMakeReg | rMakeChar | rMakeFifo
	p := sandbox.FS(handled, Rule(r.p("o/merged"), rRW|rRmFile|rMakeFifo))
	return r.inNS(func() error {
		if err := p.Enforce(); err != nil {
			return fmt.Errorf("enforce: %w", err)
		}
		r.record("overlay/copy-up/write", OpenErr(r.p("o/merged/f"), unix.O_WRONLY))
		r.record("overlay/whiteout/unlink", unix.Unlink(r.p("o/merged/g")))
		r.record("overlay/whiteout/rename", unix.Rename(r.p("o/merged/p"), r.p("o/merged/p2")))
		return nil
	})
}
