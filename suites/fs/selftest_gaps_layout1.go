package fs

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unsafe"

	. "github.com/onsi/ginkgo/v2"
	"golang.org/x/sys/unix"

	"github.com/llconform/llconform/internal/sandbox"
	"github.com/llconform/llconform/internal/spec"
	"github.com/llconform/llconform/suites/fs/actions"
)

// Specs for fs_test.c selftests of Linux 7.3 that need no mount namespace: nested masks,
// AT_EXECVE_CHECK, whiteouts across directories, detached mounts, ioctls on FIFOs, sockets
// and memfds, descriptors passed between processes, and pathname sockets of child domains.

// atExecveCheck is AT_EXECVE_CHECK (Linux 6.14), which x/sys does not name yet.
const atExecveCheck = 0x10000

// layerStep is one more layer and what must hold once it is enforced on top of the others.
type layerStep struct {
	layer  sandbox.Policy
	checks []check
}

// expectLayerSteps enforces each step's layer in turn on one fresh thread, running the
// step's checks after each, so that every check sees all the layers enforced so far.
func expectLayerSteps(steps ...layerStep) {
	GinkgoHelper()
	errs := make([][]error, len(steps))
	err := sandbox.OnThread(func() error {
		for i, s := range steps {
			if err := s.layer.Enforce(); err != nil {
				return fmt.Errorf("enforce layer %d (%s): %w", i+1, actions.PolicyText(s.layer), err)
			}
			errs[i] = make([]error, len(s.checks))
			for j, c := range s.checks {
				errs[i][j] = c.do()
			}
		}
		return nil
	})
	must(err, "enforce the layers")
	for i, s := range steps {
		for j, c := range s.checks {
			spec.ExpectErr(errs[i][j], c.want, "after layer %d (%s): %s", i+1, actions.PolicyText(s.layer), c.what)
		}
	}
}

// execveCheck asks the kernel whether path may be executed, without executing it:
// execveat(AT_FDCWD, path, AT_EMPTY_PATH|AT_EXECVE_CHECK), as the selftest calls it.
func execveCheck(path string) error {
	p, err := unix.BytePtrFromString(path)
	if err != nil {
		return err
	}
	argv := []*byte{p, nil}
	envv := []*byte{nil}
	fdcwd := unix.AT_FDCWD
	_, _, e := unix.Syscall6(unix.SYS_EXECVEAT, uintptr(fdcwd), uintptr(unsafe.Pointer(p)),
		uintptr(unsafe.Pointer(&argv[0])), uintptr(unsafe.Pointer(&envv[0])), unix.AT_EMPTY_PATH|atExecveCheck, 0)
	if e != 0 {
		return e
	}
	return nil
}

// renameWhiteout is renameat2(from, to, RENAME_WHITEOUT).
func renameWhiteout(from, to string) func() error {
	return func() error { return unix.Renameat2(unix.AT_FDCWD, from, unix.AT_FDCWD, to, unix.RENAME_WHITEOUT) }
}

// fileType describes what stat finds at path, for the whiteout and FIFO checks.
func fileType(path string) string {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return spec.ErrnoName(err)
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFCHR:
		if st.Rdev == 0 {
			return "whiteout"
		}
		return "character device"
	case unix.S_IFIFO:
		return "fifo"
	case unix.S_IFREG:
		return "regular file"
	case unix.S_IFDIR:
		return "directory"
	}
	return fmt.Sprintf("mode %#o", st.Mode)
}

// fionread calls FIONREAD on fd.
func fionread(fd int) error {
	_, err := unix.IoctlGetInt(fd, ioFIONREAD)
	return err
}

// ftruncCase is a variant of the kernel's ftruncate fixture (what the sender encodes as
// JSON) with what the open and a later ftruncate by another, unrestricted, process give.
type ftruncCase struct {
	actions.FtruncVariant
	open, ftruncate error
}

func ftrunc(name string, handled, allowed uint64) actions.FtruncVariant {
	return actions.FtruncVariant{Name: name, Handled: handled, Allowed: allowed}
}

var ftruncVariants = []ftruncCase{
	{FtruncVariant: ftrunc("w_w", rWrite, rWrite)},
	{FtruncVariant: ftrunc("t_t", rTrunc, rTrunc)},
	{FtruncVariant: ftrunc("wt_w", rWrite|rTrunc, rWrite), ftruncate: unix.EACCES},
	{FtruncVariant: ftrunc("wt_wt", rWrite|rTrunc, rWrite|rTrunc)},
	{FtruncVariant: ftrunc("wt_t", rWrite|rTrunc, rTrunc), open: unix.EACCES},
}

// and, when it succeeded, the descriptor.
func recvFtruncResults(conn int, n int) ([]error, []int, error) {
	opens, fds := make([]error, n), make([]int, n)
	for i := range n {
		fds[i] = -1
		buf, oob := make([]byte, 4), make([]byte, unix.CmsgSpace(4))
		bn, oobn, _, _, err := unix.Recvmsg(conn, buf, oob, unix.MSG_CMSG_CLOEXEC)
		if err != nil {
			return nil, nil, fmt.Errorf("message %d: %w", i+1, err)
		}
		if bn != 4 {
			return nil, nil, fmt.Errorf("message %d: %d bytes, want 4 (the sender ended early?)", i+1, bn)
		}
		if e := binary.LittleEndian.Uint32(buf); e != 0 {
			opens[i] = unix.Errno(e)
			continue
		}
		cmsgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err != nil || len(cmsgs) != 1 {
			return nil, nil, fmt.Errorf("message %d: no descriptor (%v)", i+1, err)
		}
		rights, err := unix.ParseUnixRights(&cmsgs[0])
		if err != nil || len(rights) != 1 {
			return nil, nil, fmt.Errorf("message %d: no descriptor (%v)", i+1, err)
		}
		fds[i] = rights[0]
	}
	return opens, fds, nil
}

var _ = suite.Describe("kernel selftest gaps: layers, exec, whiteouts, ioctls and descriptors", func() {
	BeforeEach(spec.RequireLandlock)

	It("MUST grant an access only when every one of seven interleaved layers grants it, whatever rights the other layers handle",
		spec.Feature("fs.layers", 1), spec.ID("layout1.interleaved_masked_accesses"), spec.Selftest("fs_test", "layout1.interleaved_masked_accesses"), func() {
			w := tree("s1d1/s1d2/s1d3/f1", "s1d1/s1d2/s1d3/f2", "s2d1/")
			s1d1, s1d2, s1d3, s2d1 := filepath.Join(w, "s1d1"), filepath.Join(w, "s1d1/s1d2"), filepath.Join(w, "s1d1/s1d2/s1d3"), filepath.Join(w, "s2d1")
			f1, f2 := filepath.Join(s1d3, "f1"), filepath.Join(s1d3, "f2")
			// f1 readable and writable, f2 writable only: what the first three layers leave.
			before := []check{opened(f1, unix.O_RDWR, nil), opened(f2, unix.O_RDONLY, unix.EACCES), opened(f2, unix.O_WRONLY, nil)}
			// Once layer 4 handles write and grants it nowhere, only reading f1 remains.
			after := []check{opened(f1, unix.O_RDONLY, nil), opened(f1, unix.O_WRONLY, unix.EACCES),
				opened(f2, unix.O_RDONLY, unix.EACCES), opened(f2, unix.O_WRONLY, unix.EACCES)}
			expectLayerSteps(
				layerStep{layer: sandbox.FS(rRead, actions.Rule(f1, rRead)), checks: before},
				// Read granted on s1d3 but not on s1d2 within the same layer: the rule
				// beneath wins, the layer's rules add up.
				layerStep{layer: sandbox.FS(rRead|rWrite, actions.Rule(s1d3, rRead|rWrite), actions.Rule(s1d2, rWrite)), checks: before},
				layerStep{layer: sandbox.FS(rRead, actions.Rule(s1d1, rRead)), checks: before},
				layerStep{layer: sandbox.FS(rRead|rWrite, actions.Rule(s1d2, rRead)), checks: after},
				layerStep{layer: sandbox.FS(rRead, actions.Rule(s1d2, rRead)), checks: after},
				// A layer handling only EXECUTE changes nothing for reads and writes.
				layerStep{layer: sandbox.FS(rExec, actions.Rule(s2d1, rExec)), checks: after},
				// Layer 7 grants write only, on s1d2: read is now denied as well.
				layerStep{layer: sandbox.FS(rRead|rWrite, actions.Rule(s1d2, rWrite)), checks: []check{
					opened(f1, unix.O_RDONLY, unix.EACCES), opened(f1, unix.O_WRONLY, unix.EACCES),
					opened(f2, unix.O_RDONLY, unix.EACCES), opened(f2, unix.O_WRONLY, unix.EACCES)}},
			)
			spec.EnforcedVerdict("fs.layers", 1)
		})

	It("MUST deny execveat(AT_EXECVE_CHECK) of a file without EXECUTE with EACCES and allow it beneath a rule granting EXECUTE, reads being unaffected",
		spec.Feature(fsRight(rExec).Feature(), 1), spec.ID("layout1.execute.execve_check"), spec.Selftest("fs_test", "layout1.execute"), func() {
			w := tree("s1d1/", "s1d1/s1d2/s1d3/")
			s1d1, s1d2, s1d3 := filepath.Join(w, "s1d1"), filepath.Join(w, "s1d1/s1d2"), filepath.Join(w, "s1d1/s1d2/s1d3")
			// A script whose interpreter does not exist: AT_EXECVE_CHECK never runs it,
			// and a kernel that wrongly executed it would fail with ENOENT rather than
			// replace the runner.
			for _, d := range []string{s1d1, s1d2, s1d3} {
				must(os.WriteFile(filepath.Join(d, "f1"), []byte("#!/nonexistent/llconform-interpreter\n"), 0o755), "create the script in %s", d)
			}
			f1 := func(d string) string { return filepath.Join(d, "f1") }
			checked := func(path string, want error) check {
				return check{what: "execveat(" + path + ", AT_EMPTY_PATH|AT_EXECVE_CHECK)", do: func() error { return execveCheck(path) }, want: want}
			}
			p := sandbox.FS(rExec, actions.Rule(s1d2, rExec))
			switch err := execveCheck(f1(s1d1)); {
			case err == unix.EINVAL:
				// The flag is unknown to this kernel (before 6.14): it must stay
				// unknown inside a domain too, never half-checked.
				expectChecks(p, checked(f1(s1d1), unix.EINVAL), checked(f1(s1d2), unix.EINVAL))
				spec.Skip("this kernel rejects AT_EXECVE_CHECK with EINVAL, outside and inside a domain alike (the flag came with Linux 6.14): Landlock's check of it cannot be observed")
			case err != nil:
				spec.Skip("without Landlock, execveat(%s, AT_EXECVE_CHECK) fails with %s: this filesystem cannot execute", f1(s1d1), spec.ErrnoName(err))
			}
			expectChecks(p,
				opened(s1d1, unix.O_RDONLY, nil),
				opened(f1(s1d1), unix.O_RDONLY, nil),
				checked(f1(s1d1), unix.EACCES),
				opened(s1d2, unix.O_RDONLY, nil),
				opened(f1(s1d2), unix.O_RDONLY, nil),
				checked(f1(s1d2), nil),
				opened(s1d3, unix.O_RDONLY, nil),
				opened(f1(s1d3), unix.O_RDONLY, nil),
				checked(f1(s1d3), nil),
			)
			spec.EnforcedVerdict(fsRight(rExec).Feature(), 1)
		})

	It("MUST check the whiteout a RENAME_WHITEOUT leaves against MAKE_REG in the source directory, not the destination, where erratum 4 is advertised",
		spec.Erratum(4), spec.ID("layout1.rename_whiteout_reparenting"), spec.Selftest("fs_test", "layout1.rename_whiteout_reparenting"), func() {
			if !supportsOrRejected(referRight) {
				return
			}
			w := tree("s3d2/s3d3/", "s3d2/s3d4/", "ctl/a/", "ctl/b/")
			s3d2, s3d3, s3d4 := filepath.Join(w, "s3d2"), filepath.Join(w, "s3d2/s3d3"), filepath.Join(w, "s3d2/s3d4")
			for _, p := range []string{"s3d2/s3d3/f1", "s3d2/s3d4/f1", "ctl/a/p1", "ctl/a/p2"} {
				must(unix.Mkfifo(filepath.Join(w, p), 0o600), "mkfifo %s", p)
			}
			handled := rMakeReg | rRefer
			ctl := filepath.Join(w, "ctl")
			// Controls on FIFOs of their own: a whiteout across directories works
			// without Landlock, and in a domain granting every right it handles.
			controlOutside(ctl, namedOp{what: "renameat2(ctl/a/p1, ctl/b/p1, RENAME_WHITEOUT)",
				do: renameWhiteout(filepath.Join(ctl, "a/p1"), filepath.Join(ctl, "b/p1"))})
			controlGranted(handled, ctl, namedOp{what: "renameat2(ctl/a/p2, ctl/b/p2, RENAME_WHITEOUT)",
				do: renameWhiteout(filepath.Join(ctl, "a/p2"), filepath.Join(ctl, "b/p2"))})
			p := sandbox.FS(handled, actions.Rule(s3d2, rRefer), actions.Rule(s3d3, rMakeReg))
			errs := runOps(p,
				renameWhiteout(filepath.Join(s3d4, "f1"), filepath.Join(s3d3, "f2")),
				renameWhiteout(filepath.Join(s3d3, "f1"), filepath.Join(s3d4, "f2")))
			// The moved FIFO is where it was sent and a whiteout took its place.
			spec.ExpectErr(errs[1], nil, "%s: renameat2(s3d3/f1, s3d4/f2, RENAME_WHITEOUT), MAKE_REG granted in the source s3d3", actions.PolicyText(p))
			if got := fileType(filepath.Join(s3d3, "f1")); got != "whiteout" {
				Fail(fmt.Sprintf("after renameat2(s3d3/f1, s3d4/f2, RENAME_WHITEOUT): s3d3/f1 is %s, want a whiteout (character device 0:0)", got))
			}
			if got := fileType(filepath.Join(s3d4, "f2")); got != "fifo" {
				Fail(fmt.Sprintf("after renameat2(s3d3/f1, s3d4/f2, RENAME_WHITEOUT): s3d4/f2 is %s, want the moved FIFO", got))
			}
			// Before the fix, RENAME_WHITEOUT checked nothing for the whiteout it leaves.
			seen, detail := spec.ClassifyErratum([]spec.Observation{
				{What: "renameat2(s3d4/f1, s3d3/f2, RENAME_WHITEOUT), MAKE_REG granted in the destination s3d3 only", Seen: errs[0], Fixed: unix.EACCES, Unfixed: nil},
			})
			spec.ErratumVerdict(4, seen, fmt.Sprintf("%s: %s", actions.PolicyText(p), detail))
		})

	It("MUST deny with EACCES linking the root of a detached mount (open_tree) in a domain handling MAKE_DIR, and leave renaming it to the VFS (EBUSY)",
		spec.Feature(referRight.Feature(), 2), spec.Needs("root"), spec.ID("layout1.refer_mount_root_deny"), spec.Selftest("fs_test", "layout1.refer_mount_root_deny"), func() {
			spec.RequireRoot()
			if !supportsOrRejected(referRight) {
				return
			}
			w := tree("s1d1/")
			root, err := unix.OpenTree(unix.AT_FDCWD, filepath.Join(w, "s1d1"), unix.AT_EMPTY_PATH|unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
			if err != nil {
				spec.Skip("open_tree(OPEN_TREE_CLONE) fails with %s: no detached mount to test", spec.ErrnoName(err))
			}
			defer unix.Close(root)
			expectChecks(sandbox.FS(rMakeDir),
				check{what: "linkat(detached mount root, \".\", same, \"does_not_exist\")", do: func() error {
					return unix.Linkat(root, ".", root, "does_not_exist", 0)
				}, want: unix.EACCES},
				check{what: "renameat2(detached mount root, \".\", same, \"does_not_exist\")", do: func() error {
					return unix.Renameat2(root, ".", root, "does_not_exist", 0)
				}, want: unix.EBUSY},
			)
			spec.FeatureVerdict(referRight.Feature(), 2)
		})

	It("MUST NOT restrict FIONREAD on a named pipe opened through its path in a domain handling IOCTL_DEV",
		spec.Feature(ioctlRight.Feature(), ioctlRight.ABI), spec.ID("layout1.named_pipe_ioctl"), spec.Selftest("fs_test", "layout1.named_pipe_ioctl"), func() {
			if !supportsOrRejected(ioctlRight) {
				return
			}
			w := tree()
			fifo := filepath.Join(w, "f1")
			must(unix.Mkfifo(fifo, 0o600), "mkfifo %s", fifo)
			expectChecks(sandbox.FS(rIoctl), check{what: "open(" + fifo + ", O_RDONLY|O_NONBLOCK) then ioctl(FIONREAD)", do: func() error {
				fd, err := unix.Open(fifo, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
				if err != nil {
					return spec.SetupFailed("open of the FIFO", err)
				}
				defer unix.Close(fd)
				return fionread(fd)
			}, want: nil})
			spec.FeatureVerdict(ioctlRight.Feature(), ioctlRight.ABI)
		})

	It("MUST NOT restrict FIONREAD on a socket connected to a pathname UNIX socket in a domain handling IOCTL_DEV",
		spec.Feature(ioctlRight.Feature(), ioctlRight.ABI), spec.ID("layout1.named_unix_domain_socket_ioctl"), spec.Selftest("fs_test", "layout1.named_unix_domain_socket_ioctl"), func() {
			if !supportsOrRejected(ioctlRight) {
				return
			}
			sock := filepath.Join(tree(), "f1")
			srv, err := actions.UnixServer(unix.SOCK_STREAM, sock)
			must(err, "runner's server")
			defer unix.Close(srv)
			expectChecks(sandbox.FS(rIoctl), check{what: "connect to " + sock + " then ioctl(FIONREAD) on the client", do: func() error {
				fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
				if err != nil {
					return spec.SetupFailed("socket(AF_UNIX)", err)
				}
				defer unix.Close(fd)
				if err := unix.Connect(fd, &unix.SockaddrUnix{Name: sock}); err != nil {
					return spec.SetupFailed("connect", err)
				}
				return fionread(fd)
			}, want: nil})
			spec.FeatureVerdict(ioctlRight.Feature(), ioctlRight.ABI)
		})

	It("MUST NOT restrict ftruncate nor FS_IOC_GETFLAGS on a memfd, which no open(2) created, in a domain handling every right",
		spec.Feature("fs.anonymous_files", 1), spec.ID("memfd_ftruncate_and_ioctl"), spec.Selftest("fs_test", "memfd_ftruncate_and_ioctl"), func() {
			memfdOps := func() (error, error, error) {
				fd, err := unix.MemfdCreate("llconform", unix.MFD_CLOEXEC)
				if err != nil {
					return err, nil, nil
				}
				defer unix.Close(fd)
				_, getflags := unix.IoctlGetUint32(fd, unix.FS_IOC_GETFLAGS)
				return nil, unix.Ftruncate(fd, 1), getflags
			}
			created, _, getflags := memfdOps()
			must(created, "memfd_create without Landlock")
			if getflags != nil {
				spec.Skip("without Landlock, FS_IOC_GETFLAGS on a memfd fails with %s: this kernel's shmem has no file attributes", spec.ErrnoName(getflags))
			}
			var errs [3]error
			p := sandbox.FS(allFS())
			res := sandbox.Thread(p, func() error {
				errs[0], errs[1], errs[2] = memfdOps()
				return nil
			})
			spec.ExpectErrno(res, nil, "enforcing %s", actions.PolicyText(p))
			spec.ExpectErr(errs[0], nil, "%s: memfd_create", actions.PolicyText(p))
			spec.ExpectErr(errs[1], nil, "%s: ftruncate of the memfd", actions.PolicyText(p))
			spec.ExpectErr(errs[2], nil, "%s: ioctl(FS_IOC_GETFLAGS) on the memfd", actions.PolicyText(p))
			spec.FeatureVerdict("fs.anonymous_files", 1)
		})

	It("MUST decide ftruncate by the domain of the process that opened the file, also when the descriptor is passed (SCM_RIGHTS) to an unrestricted process",
		spec.Feature(truncRight.Feature(), truncRight.ABI), spec.ID("ftruncate.open_and_ftruncate_in_different_processes.scm_rights"),
		spec.Selftest("fs_test", "ftruncate.open_and_ftruncate_in_different_processes"), func() {
			if !supportsOrRejected(truncRight) {
				return
			}
			path := filepath.Join(tree("f1"), "f1")
			name := fmt.Sprintf("@llconform-fs-ftruncate-%d-%d", os.Getpid(), GinkgoRandomSeed())
			lsn, err := unix.Socket(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
			must(err, "socket")
			defer unix.Close(lsn)
			must(unix.Bind(lsn, &unix.SockaddrUnix{Name: name}), "bind %s", name)
			must(unix.Listen(lsn, 1), "listen")
			vs, err := json.Marshal(ftruncVariants)
			must(err, "encode the variants")
			res := sandbox.Process(sandbox.Policy{}, actions.FtruncSenderAction, name, path, string(vs))
			spec.ExpectErrno(res, nil, "the sender process")
			// The sender has connected, sent everything and exited; what it sent waits
			// in the connection.
			conn, _, err := unix.Accept4(lsn, unix.SOCK_CLOEXEC)
			must(err, "accept the sender's connection")
			defer unix.Close(conn)
			opens, fds, err := recvFtruncResults(conn, len(ftruncVariants))
			must(err, "receive the descriptors")
			for i, v := range ftruncVariants {
				what := fmt.Sprintf("variant %s, opener's domain handling %s and granting %s on the file", v.Name, actions.Names(v.Handled), actions.Names(v.Allowed))
				spec.ExpectErr(opens[i], v.open, "%s: open(O_WRONLY) by the opener", what)
				if fds[i] < 0 {
					continue
				}
				err := unix.Ftruncate(fds[i], 1)
				unix.Close(fds[i])
				spec.ExpectErr(err, v.ftruncate, "%s: ftruncate by the unrestricted receiver", what)
			}
			spec.EnforcedVerdict(truncRight.Feature(), truncRight.ABI)
		})

	It("MUST allow connecting and sending to pathname sockets bound in a child domain, and deny those bound in a sibling domain with EACCES",
		spec.Feature(resolveRight.Feature(), resolveRight.ABI), spec.ID("resolve_unix.child_domains"),
		spec.Selftest("fs_test", "scoped_domains.unix_stream_connect_to_child"), spec.Selftest("fs_test", "scoped_domains.unix_dgram_connect_to_child"),
		spec.Selftest("fs_test", "scoped_domains.unix_dgram_sendmsg_to_child"), spec.Selftest("fs_test", "scoped_domains.unix_seqpacket_connect_to_child"),
		spec.Selftest("fs_test", "scoped_domains.unix_stream_connect_to_child_full"), spec.Selftest("fs_test", "scoped_domains.unix_dgram_connect_to_child_full"),
		spec.Selftest("fs_test", "scoped_domains.unix_dgram_sendmsg_to_child_full"), spec.Selftest("fs_test", "scoped_domains.unix_seqpacket_connect_to_child_full"),
		func() {
			if !supportsOrRejected(resolveRight) {
				return
			}
			dir := tree()
			kinds := []struct {
				what, sock string
				typ        int
				sendto     bool
			}{
				{what: "stream connect", sock: "stream", typ: unix.SOCK_STREAM},
				{what: "seqpacket connect", sock: "seqpacket", typ: unix.SOCK_SEQPACKET},
				{what: "datagram connect", sock: "dgram", typ: unix.SOCK_DGRAM},
				{what: "datagram sendto", sock: "dgram", typ: unix.SOCK_DGRAM, sendto: true},
			}
			clients := func() []error {
				errs := make([]error, len(kinds))
				for i, k := range kinds {
					errs[i] = unixClient(k.typ, filepath.Join(dir, k.sock), k.sendto)
				}
				return errs
			}
			var child, sibling, unrestricted []error
			var helperOut string
			var helperRes sandbox.Result
			err := sandbox.OnThread(func() error {
				if err := sandbox.FS(rResolve).Enforce(); err != nil {
					return fmt.Errorf("enforce the parent domain: %w", err)
				}
				// Started from this thread, the helper inherits the parent domain and
				// nests its own inside: its sockets belong to a child domain.
				pr, err := sandbox.Start(sandbox.FS(rResolve), actions.UnixServersAction, dir)
				if err != nil {
					return err
				}
				defer func() {
					pr.Stdin.Close()
					helperRes = pr.Wait()
				}()
				line, err := readLineWithin(pr.Stdout, 30*time.Second)
				helperOut = line
				if err != nil || line != "ready" {
					return fmt.Errorf("the server helper did not get ready: %q, %v", line, err)
				}
				child = clients()
				// Unrestricted, and in a domain whose rule grants RESOLVE_UNIX on the
				// sockets' directory (the selftests' _full variants), the child's
				// sockets are reachable as well.
				unrestricted = make([]error, len(kinds))
				res := sandbox.Thread(sandbox.FS(rResolve, actions.Rule(dir, rResolve)), func() error {
					unrestricted = clients()
					return nil
				})
				if res.Setup != nil {
					return res.Setup
				}
				// Nesting another domain on this thread makes it the helper's sibling.
				if err := sandbox.FS(rResolve).Enforce(); err != nil {
					return fmt.Errorf("enforce the sibling domain: %w", err)
				}
				sibling = clients()
				return nil
			})
			must(err, "run the domains (helper said %q)", helperOut)
			spec.ExpectErrno(helperRes, nil, "the server helper in the child domain")
			for i, k := range kinds {
				spec.ExpectErr(child[i], nil, "resolve_unix handled, no rule: %s to a socket bound in a child domain", k.what)
				spec.ExpectErr(unrestricted[i], nil, "resolve_unix granted on the sockets' directory: %s to a socket bound in an unrelated domain", k.what)
				spec.ExpectErr(sibling[i], unix.EACCES, "resolve_unix handled, no rule: %s to a socket bound in a sibling domain", k.what)
			}
			spec.EnforcedVerdict(resolveRight.Feature(), resolveRight.ABI)
		})
})

// readLineWithin reads one line from r, giving up after d: a helper that dies without
// writing closes its end, one that hangs is reported instead of hanging the suite.
func readLineWithin(r io.Reader, d time.Duration) (string, error) {
	type result struct {
		line string
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		line, err := bufio.NewReader(r).ReadString('\n')
		ch <- result{line: strings.TrimSuffix(line, "\n"), err: err}
	}()
	select {
	case res := <-ch:
		return res.line, res.err
	case <-time.After(d):
		return "", fmt.Errorf("no line within %s", d)
	}
}
