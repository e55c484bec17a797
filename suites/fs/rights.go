package fs

import (
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	. "github.com/onsi/ginkgo/v2"
	"golang.org/x/sys/unix"

	"github.com/llconform/llconform/internal/landlock"
	"github.com/llconform/llconform/internal/sandbox"
	"github.com/llconform/llconform/internal/spec"
	"github.com/llconform/llconform/suites/fs/actions"
)

// fsOp is one syscall a right covers, run against the right's working directory w.
type fsOp struct {
	name string
	do   func(w string) error
}

// rightCase describes how one ABI 1 right is exercised.
type rightCase struct {
	bit uint64
	// object is what the right applies to: "file" rights are checked on w/f, the others
	// on the directory w.
	object string
	root   bool // the ops need CAP_MKNOD
	// setup prepares w (unrestricted) with what the ops consume.
	setup func(w string)
	ops   []fsOp
	// grantAt returns the rule paths of the "granted" and "denied" variants: w by default;
	// execute grants / because the executed binary lives outside w.
	grantAt func(w string) []string
	// selftests are the fs_test.c tests whose allowed and denied cases the "granted" and
	// "denied" specs check; fileRuleSelftests those the "file_rule" spec checks.
	selftests, fileRuleSelftests []string
}

func (c rightCase) right() landlock.Right { return fsRight(c.bit) }

func (c rightCase) grantPaths(w string) []string {
	if c.grantAt != nil {
		return c.grantAt(w)
	}
	return []string{w}
}

// rulesGranting returns the rules of a variant: access granted on each of c's grant paths.
func (c rightCase) rulesGranting(access uint64) func(w string) []sandbox.PathRule {
	return func(w string) []sandbox.PathRule {
		var rs []sandbox.PathRule
		for _, p := range c.grantPaths(w) {
			rs = append(rs, actions.Rule(p, access))
		}
		return rs
	}
}

func mknodOp(name string, mode uint32, dev int) fsOp {
	return fsOp{name: fmt.Sprintf("mknod(%s, %#o)", name, mode), do: func(w string) error {
		return unix.Mknod(filepath.Join(w, name), mode|0o600, dev)
	}}
}

func linkOp(src, dst string) fsOp {
	return fsOp{name: fmt.Sprintf("link(%s, %s) in one directory", src, dst), do: func(w string) error {
		return unix.Linkat(unix.AT_FDCWD, filepath.Join(w, src), unix.AT_FDCWD, filepath.Join(w, dst), 0)
	}}
}

func renameOp(src, dst string) fsOp {
	return fsOp{name: fmt.Sprintf("rename(%s, %s) in one directory", src, dst), do: func(w string) error {
		return unix.Rename(filepath.Join(w, src), filepath.Join(w, dst))
	}}
}

func openOp(name string, flags int) fsOp {
	return fsOp{name: fmt.Sprintf("open(%s, %s)", name, openFlags(flags)), do: func(w string) error {
		return actions.OpenErr(filepath.Join(w, name), flags)
	}}
}

// openatOp opens name relative to an O_PATH descriptor of w: the check follows the
// file's own hierarchy, whatever descriptor the lookup starts from.
func openatOp(name string, flags int) fsOp {
	return fsOp{name: fmt.Sprintf("openat(O_PATH fd of the directory, %s, %s)", name, openFlags(flags)), do: func(w string) error {
		dfd, err := unix.Open(w, unix.O_PATH|unix.O_CLOEXEC, 0)
		if err != nil {
			return spec.SetupFailed("open(O_PATH) of "+w, err)
		}
		defer unix.Close(dfd)
		return actions.OpenatErr(dfd, name, flags)
	}}
}

func readDirOp(name string, viaOpenat bool) fsOp {
	desc := fmt.Sprintf("open(%s, O_RDONLY|O_DIRECTORY) then getdents64", name)
	if viaOpenat {
		desc = fmt.Sprintf("openat(O_PATH fd of the directory, %s, O_RDONLY|O_DIRECTORY) then getdents64", name)
	}
	return fsOp{name: desc, do: func(w string) error {
		var fd int
		var err error
		if viaOpenat {
			dfd, derr := unix.Open(w, unix.O_PATH|unix.O_CLOEXEC, 0)
			if derr != nil {
				return spec.SetupFailed("open(O_PATH) of "+w, derr)
			}
			defer unix.Close(dfd)
			fd, err = unix.Openat(dfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		} else {
			fd, err = unix.Open(filepath.Join(w, name), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		}
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		buf := make([]byte, 4096)
		n, err := unix.Getdents(fd, buf)
		if err == nil && n == 0 {
			return errors.New("getdents64 returned no entry, not even the dot entries")
		}
		return err
	}}
}

func openFlags(flags int) string {
	var parts []string
	switch flags & unix.O_ACCMODE {
	case unix.O_RDONLY:
		parts = append(parts, "O_RDONLY")
	case unix.O_WRONLY:
		parts = append(parts, "O_WRONLY")
	case unix.O_RDWR:
		parts = append(parts, "O_RDWR")
	}
	for _, f := range []struct {
		bit  int
		name string
	}{
		{bit: unix.O_CREAT, name: "O_CREAT"},
		{bit: unix.O_TRUNC, name: "O_TRUNC"},
		{bit: unix.O_APPEND, name: "O_APPEND"},
		{bit: unix.O_DIRECTORY, name: "O_DIRECTORY"},
		{bit: unix.O_PATH, name: "O_PATH"},
	} {
		if flags&f.bit != 0 {
			parts = append(parts, f.name)
		}
	}
	return strings.Join(parts, "|")
}

// execOp runs the test binary itself (there is no other program in the guest), asking it
// only to list no test so that it exits at once. The fork happens on the calling thread,
// so the child carries the thread's domain and execve is checked against it.
func execOp() fsOp {
	return fsOp{name: "execve(the test binary)", do: func(string) error { return execSelf() }}
}

func execSelf() error {
	self, err := os.Executable()
	if err != nil {
		return spec.SetupFailed("find own executable", err)
	}
	var env []string
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "LLCONFORM_SANDBOX_HELPER=") {
			env = append(env, e)
		}
	}
	// The child's standard streams are a pipe: the guest may run the suite with some of
	// them closed, and pipe2 needs no filesystem access inside the domain. The read end
	// is non-blocking so that what the child wrote can be read after it exited.
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		return spec.SetupFailed("pipe2 for the child's streams", err)
	}
	defer unix.Close(p[0])
	defer unix.Close(p[1])
	pid, err := syscall.ForkExec(self, []string{self, "-test.list=^$"}, &syscall.ProcAttr{
		Env:   env,
		Files: []uintptr{uintptr(p[0]), uintptr(p[1]), uintptr(p[1])},
	})
	if err != nil {
		// execve's own error, reported by the child before it exec'd: the verdict.
		return err
	}
	var ws unix.WaitStatus
	if _, err := unix.Wait4(pid, &ws, 0, nil); err != nil {
		return spec.SetupFailed(fmt.Sprintf("wait4 for executed child %d", pid), err)
	}
	// execve succeeded; the program it ran must also have worked, or the run proves
	// nothing about what the domain allowed.
	if !ws.Exited() || ws.ExitStatus() != 0 {
		out := make([]byte, 2048)
		output := "(none)"
		if n, err := unix.Read(p[0], out); err == nil {
			output = fmt.Sprintf("%q", out[:n])
		}
		return fmt.Errorf("executed child %d (%s -test.list=^$) ended with %s, want exit status 0; its output: %s", pid, self, actions.WaitText(ws), output)
	}
	return nil
}

// elfInterpreter returns the program interpreter of the test binary, which execve opens
// for execution too, or "" for a static binary.
func elfInterpreter() string {
	self, err := os.Executable()
	if err != nil {
		return ""
	}
	f, err := elf.Open(self)
	if err != nil {
		return ""
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			b := make([]byte, p.Filesz)
			if _, err := p.ReadAt(b, 0); err == nil {
				return strings.TrimRight(string(b), "\x00")
			}
		}
	}
	return ""
}

func mkObjects(w string, files []string, dirs []string) {
	GinkgoHelper()
	for _, d := range dirs {
		must(os.MkdirAll(filepath.Join(w, d), 0o755), "mkdir %s", d)
	}
	for _, f := range files {
		must(os.MkdirAll(filepath.Dir(filepath.Join(w, f)), 0o755), "mkdir for %s", f)
		must(os.WriteFile(filepath.Join(w, f), []byte("data"), 0o644), "create %s", f)
	}
}

func mknodObjects(w string, mode uint32, dev int, names ...string) {
	GinkgoHelper()
	for _, n := range names {
		must(unix.Mknod(filepath.Join(w, n), mode|0o600, dev), "mknod %s", n)
	}
}

var abi1Rights = []rightCase{
	{bit: landlock.AccessFSExecute, object: "file",
		selftests: []string{"layout1.execute"},
		grantAt:   func(string) []string { return []string{"/"} },
		ops:       []fsOp{execOp()}},
	{bit: landlock.AccessFSWriteFile, object: "file",
		fileRuleSelftests: []string{"layout1.effective_access"},
		setup:             func(w string) { mkObjects(w, []string{"f"}, nil) },
		ops: []fsOp{openOp("f", unix.O_WRONLY), openOp("f", unix.O_RDWR), openOp("f", unix.O_WRONLY|unix.O_APPEND),
			openatOp("f", unix.O_WRONLY)}},
	{bit: landlock.AccessFSReadFile, object: "file",
		fileRuleSelftests: []string{"layout1.effective_access", "layout3_fs.tag_inode_file"},
		setup:             func(w string) { mkObjects(w, []string{"f"}, nil) },
		ops:               []fsOp{openOp("f", unix.O_RDONLY), openOp("f", unix.O_RDWR), openatOp("f", unix.O_RDONLY)}},
	{bit: landlock.AccessFSReadDir, object: "directory",
		setup: func(w string) { mkObjects(w, []string{"sub/x"}, nil) },
		ops:   []fsOp{readDirOp("sub", false), readDirOp("sub", true), readDirOp(".", false)}},
	{bit: landlock.AccessFSRemoveDir, object: "directory",
		selftests: []string{"layout1.remove_dir", "layout1.rename_dir"},
		setup:     func(w string) { mkObjects(w, nil, []string{"d1", "d2", "d3"}) },
		ops: []fsOp{
			{name: "rmdir(d1)", do: func(w string) error { return unix.Rmdir(filepath.Join(w, "d1")) }},
			{name: "unlinkat(d2, AT_REMOVEDIR)", do: func(w string) error {
				return unix.Unlinkat(unix.AT_FDCWD, filepath.Join(w, "d2"), unix.AT_REMOVEDIR)
			}},
			renameOp("d3", "d3b")}},
	{bit: landlock.AccessFSRemoveFile, object: "directory",
		selftests: []string{"layout1.remove_file", "layout1.rename_file"},
		setup:     func(w string) { mkObjects(w, []string{"r1", "r2", "r3"}, nil) },
		ops: []fsOp{
			{name: "unlink(r1)", do: func(w string) error { return unix.Unlink(filepath.Join(w, "r1")) }},
			{name: "unlinkat(r2, 0)", do: func(w string) error { return unix.Unlinkat(unix.AT_FDCWD, filepath.Join(w, "r2"), 0) }},
			renameOp("r3", "r3b")}},
	{bit: landlock.AccessFSMakeChar, object: "directory", root: true,
		selftests: []string{"layout1.make_char"},
		setup:     func(w string) { mknodObjects(w, unix.S_IFCHR, int(unix.Mkdev(1, 3)), "c0", "c0r") },
		ops:       []fsOp{mknodOp("c1", unix.S_IFCHR, int(unix.Mkdev(1, 3))), linkOp("c0", "c0link"), renameOp("c0r", "c0r2")}},
	{bit: landlock.AccessFSMakeDir, object: "directory",
		selftests: []string{"layout1.make_dir"},
		setup:     func(w string) { mkObjects(w, nil, []string{"dd0"}) },
		ops: []fsOp{
			{name: "mkdir(n1)", do: func(w string) error { return unix.Mkdir(filepath.Join(w, "n1"), 0o700) }},
			{name: "mkdirat(n2)", do: func(w string) error { return unix.Mkdirat(unix.AT_FDCWD, filepath.Join(w, "n2"), 0o700) }},
			renameOp("dd0", "dd0b")}},
	{bit: landlock.AccessFSMakeReg, object: "directory",
		selftests: []string{"layout1.make_reg_1", "layout1.make_reg_2", "layout1.link"},
		setup:     func(w string) { mkObjects(w, []string{"r0", "r0r"}, nil) },
		ops: []fsOp{mknodOp("m1", unix.S_IFREG, 0), mknodOp("m2", 0, 0),
			openOp("o1", unix.O_WRONLY|unix.O_CREAT), openOp("o2", unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC),
			linkOp("r0", "r0link"), renameOp("r0r", "r0r2")}},
	{bit: landlock.AccessFSMakeSock, object: "directory",
		selftests: []string{"layout1.make_sock"},
		ops: []fsOp{mknodOp("s1", unix.S_IFSOCK, 0),
			{name: "bind(AF_UNIX, s2)", do: func(w string) error {
				fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
				if err != nil {
					return spec.SetupFailed("socket(AF_UNIX)", err)
				}
				defer unix.Close(fd)
				return unix.Bind(fd, &unix.SockaddrUnix{Name: filepath.Join(w, "s2")})
			}}}},
	{bit: landlock.AccessFSMakeFifo, object: "directory",
		selftests: []string{"layout1.make_fifo"},
		setup:     func(w string) { mknodObjects(w, unix.S_IFIFO, 0, "p0", "p0r") },
		ops: []fsOp{mknodOp("p1", unix.S_IFIFO, 0),
			{name: "mkfifo(p2)", do: func(w string) error { return unix.Mkfifo(filepath.Join(w, "p2"), 0o600) }},
			linkOp("p0", "p0link"), renameOp("p0r", "p0r2")}},
	{bit: landlock.AccessFSMakeBlock, object: "directory", root: true,
		selftests: []string{"layout1.make_block"},
		setup:     func(w string) { mknodObjects(w, unix.S_IFBLK, int(unix.Mkdev(7, 0)), "b0", "b0r") },
		ops:       []fsOp{mknodOp("b1", unix.S_IFBLK, int(unix.Mkdev(7, 0))), linkOp("b0", "b0link"), renameOp("b0r", "b0r2")}},
	{bit: landlock.AccessFSMakeSym, object: "directory",
		selftests: []string{"layout1.make_sym"},
		setup: func(w string) {
			must(os.Symlink("none", filepath.Join(w, "l0")), "symlink l0")
			must(os.Symlink("none", filepath.Join(w, "l0r")), "symlink l0r")
		},
		ops: []fsOp{
			{name: "symlink(none, l1)", do: func(w string) error { return unix.Symlink("none", filepath.Join(w, "l1")) }},
			{name: "symlinkat(none, l2)", do: func(w string) error {
				return unix.Symlinkat("none", unix.AT_FDCWD, filepath.Join(w, "l2"))
			}},
			linkOp("l0", "l0link"), renameOp("l0r", "l0r2")}},
}

// runRightCase prepares a fresh directory, enforces one layer handling handled with the
// given rules, runs every op of c and checks each against want.
func runRightCase(c rightCase, handled uint64, rulesAt func(w string) []sandbox.PathRule, want error, situation string) {
	GinkgoHelper()
	spec.RequireLandlock()
	if c.root {
		spec.RequireRoot()
	}
	w := GinkgoT().TempDir()
	if c.setup != nil {
		c.setup(w)
	}
	rs := rulesAt(w)
	p := sandbox.FS(handled, rs...)
	ops := make([]func() error, len(c.ops))
	for i, op := range c.ops {
		ops[i] = func() error { return op.do(w) }
	}
	errs := runOps(p, ops...)
	for i, op := range c.ops {
		spec.ExpectErr(errs[i], want, "%s, %s (handled %s, rules %s): %s", c.right(), situation, actions.Names(handled), actions.RulesText(rs), op.name)
	}
	if want != nil {
		// Every op was denied for want of the right alone: the right is enforced.
		spec.EnforcedVerdict(c.right().Feature(), c.right().ABI)
		return
	}
	spec.FeatureVerdict(c.right().Feature(), c.right().ABI)
}

func opNames(c rightCase) string {
	n := make([]string, len(c.ops))
	for i, op := range c.ops {
		n[i] = op.name
	}
	return strings.Join(n, ", ")
}

var _ = suite.Describe("each ABI 1 filesystem right", func() {
	for _, c := range abi1Rights {
		r := c.right()
		labels := []any{spec.Feature(r.Feature(), r.ABI)}
		if c.root {
			labels = append(labels, spec.Needs("root"))
		}
		Context(r.String(), labels, func() {
			It(fmt.Sprintf("MUST allow %s when a rule on the %s's hierarchy grants %s", opNames(c), c.object, r), spec.ID("rights."+r.Name+".granted"), selftests(c.selftests...), func() {
				all := allFS()
				runRightCase(c, all, c.rulesGranting(all), nil, "granted by a rule")
			})
			It(fmt.Sprintf("MUST deny %s with EACCES when %s is handled and every other right is granted", opNames(c), r), spec.ID("rights."+r.Name+".denied"), selftests(c.selftests...), func() {
				all := allFS()
				runRightCase(c, all, c.rulesGranting(all&^c.bit), unix.EACCES, "handled, not granted")
			})
			It(fmt.Sprintf("MUST NOT restrict %s when %s is not handled", opNames(c), r), spec.ID("rights."+r.Name+".unhandled"), func() {
				rest := allFS() &^ c.bit
				runRightCase(c, rest, c.rulesGranting(rest), nil, "not handled")
			})
			if c.object == "file" {
				It(fmt.Sprintf("MUST allow %s when a rule on the file itself grants %s", opNames(c), r), spec.ID("rights."+r.Name+".file_rule"), selftests(c.fileRuleSelftests...), func() {
					all := allFS()
					others := c.rulesGranting(all &^ c.bit)
					runRightCase(c, all, func(w string) []sandbox.PathRule {
						return append(others(w), fileRules(c, w)...)
					}, nil, "granted by a rule on the file")
				})
			} else {
				It(fmt.Sprintf("MUST refuse %s in a rule on a regular file with EINVAL and accept it on a directory", r), spec.ID("rights."+r.Name+".file_rule_refused"), selftests("layout1.file_and_dir_access_rights"), func() {
					spec.RequireLandlock()
					expectFileRuleRefused(r)
					spec.FeatureVerdict(r.Feature(), r.ABI)
				})
			}
		})
	}
})

// fileRules grants c's right on the file the ops use: w/f, or for execute the test binary
// and its program interpreter.
func fileRules(c rightCase, w string) []sandbox.PathRule {
	if c.bit != landlock.AccessFSExecute {
		return []sandbox.PathRule{actions.Rule(filepath.Join(w, "f"), c.bit)}
	}
	self, err := os.Executable()
	must(err, "find own executable")
	rs := []sandbox.PathRule{actions.Rule(self, c.bit)}
	if interp := elfInterpreter(); interp != "" {
		rs = append(rs, actions.Rule(interp, c.bit))
	}
	return rs
}

// expectFileRuleRefused checks that add_rule refuses r on a regular file (EINVAL) and
// accepts it on a directory, in a ruleset handling every right of the kernel.
func expectFileRuleRefused(r landlock.Right) {
	GinkgoHelper()
	w := tree("f")
	fd, err := landlock.CreateRuleset(&landlock.RulesetAttr{HandledAccessFS: allFS()}, landlock.RulesetAttrSizeV1, 0)
	must(err, "create_ruleset handling %s", actions.Names(allFS()))
	defer unix.Close(fd)
	for _, target := range []struct {
		path string
		want error
	}{
		{path: filepath.Join(w, "f"), want: unix.EINVAL},
		{path: w, want: nil},
	} {
		pfd, err := unix.Open(target.path, unix.O_PATH|unix.O_CLOEXEC, 0)
		must(err, "open %s O_PATH", target.path)
		err = landlock.AddPathBeneath(fd, landlock.PathBeneathAttr{AllowedAccess: r.Bit, ParentFd: int32(pfd)}, 0)
		unix.Close(pfd)
		spec.ExpectErr(err, target.want, "add_rule(%s, %s)", target.path, r)
	}
}
