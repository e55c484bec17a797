package abi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"runtime"
	"syscall"
	"time"
	"unsafe"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/sys/unix"

	"github.com/llconform/llconform/internal/landlock"
	"github.com/llconform/llconform/internal/sandbox"
	"github.com/llconform/llconform/internal/spec"
	"github.com/llconform/llconform/suites/abi/actions"
)

// This file holds the specs about a domain crossing process boundaries: a ruleset fd sent
// to another process, and credentials replaced by another process (keyctl).

var _ = suite.Describe("ruleset fd transfer", func() {
	BeforeEach(spec.RequireLandlock)

	It("MUST enforce a ruleset received over SCM_RIGHTS on the process that restricts itself with it, after the sender closed it, and leave the sender unrestricted",
		spec.Feature("ruleset_fd.transfer", 1), spec.ID("ruleset_fd_transfer"), spec.Selftest("base_test", "ruleset_fd_transfer"), func() {
			allowed := GinkgoT().TempDir()
			attr := landlock.RulesetAttr{HandledAccessFS: landlock.AccessFSReadDir}
			rs, err := landlock.CreateRuleset(&attr, landlock.RulesetAttrSize, 0)
			Expect(err).NotTo(HaveOccurred(), "create_ruleset(handled_access_fs=read_dir)")
			closed := false
			DeferCleanup(func() {
				if !closed {
					unix.Close(rs)
				}
			})
			spec.ExpectErr(pathRule(rs, landlock.AccessFSReadDir, openFd(allowed, unix.O_PATH), 0), nil, "add_rule(read_dir beneath %s)", allowed)

			sock := filepath.Join(GinkgoT().TempDir(), "sender")
			ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
			Expect(err).NotTo(HaveOccurred(), "listen on %s", sock)
			DeferCleanup(ln.Close)
			proc, err := sandbox.Start(sandbox.Policy{}, actions.Transfer, actions.TransferArgs(sock, allowed)...)
			Expect(err).NotTo(HaveOccurred(), "start the receiving process")
			sent := func() error {
				if err := ln.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
					return err
				}
				conn, err := ln.AcceptUnix()
				if err != nil {
					return err
				}
				defer conn.Close()
				_, _, err = conn.WriteMsgUnix([]byte{0}, unix.UnixRights(rs), nil)
				return err
			}()
			if sent != nil {
				proc.Kill()
				Fail(fmt.Sprintf("send the ruleset fd to the receiving process: %v", sent))
			}
			// The message in flight holds the ruleset: the sender's own fd can go.
			Expect(unix.Close(rs)).To(Succeed(), "close the sent ruleset fd")
			closed = true

			res := proc.Wait()
			Expect(res.Setup).NotTo(HaveOccurred(), "receiving process")
			Expect(res.Err).NotTo(HaveOccurred(), "receiving process")
			var got actions.TransferResult
			Expect(json.Unmarshal(res.Data, &got)).To(Succeed(), "receiving process result")
			spec.ExpectErr(sandbox.CodeErr(got.Restrict), nil, "receiver: restrict_self(ruleset fd received over SCM_RIGHTS, 0)")
			spec.ExpectErr(sandbox.CodeErr(got.Root), unix.EACCES, "receiver, READ_DIR handled, rule beneath %s only: open(/, O_DIRECTORY)", allowed)
			spec.ExpectErr(sandbox.CodeErr(got.Allowed), nil, "receiver, READ_DIR allowed beneath %s: open(%s, O_DIRECTORY)", allowed, allowed)
			spec.ExpectErr(actions.OpenDir("/"), nil, "sender, after sending the ruleset: open(/, O_DIRECTORY)")
			spec.FeatureVerdict("ruleset_fd.transfer", 1)
		})
})

// The cred_transfer spec needs a parent process with a single thread, which KEYCTL_SESSION_TO_PARENT
// requires of the process whose credentials it replaces, and a Go process never is: the
// spec forks the parent from its sandboxed thread without exec (as syscall.ForkExec does
// before its exec), and the parent and its child run only the raw system calls below. Every
// function they run is nosplit, so that neither grows its stack nor can be preempted into
// the runtime, which the copied process could not serve; all signals are blocked first.
// They report through memory shared with the spec, one int32 slot per step.
const (
	slotParentJoin      = iota // parent: keyctl(JOIN_SESSION_KEYRING, NULL), errno
	slotParentKeyBefore        // parent: its session keyring, or -errno
	slotFork                   // parent: clone, errno
	slotChildOpenBefore        // child: open(/, O_DIRECTORY), errno
	slotChildJoin              // child: keyctl(JOIN_SESSION_KEYRING, NULL), errno
	slotChildKey               // child: its session keyring, or -errno
	slotChildToParent          // child: keyctl(SESSION_TO_PARENT), errno
	slotChildOpenAfter         // child: open(/, O_DIRECTORY), errno
	slotWait                   // parent: wait4 of the child, errno
	slotChildStatus            // parent: the child's wait status
	slotParentKeyAfter         // parent: its session keyring after the child's call, or -errno
	slotParentOpenAfter        // parent: open(/, O_DIRECTORY), errno
	numSlots
)

// notReached marks a slot whose step did not run.
const notReached = -1 << 30

type credSlots [numSlots]int32

// Negative constants as the kernel reads them from a register.
const (
	atFdcwd               = ^uintptr(-unix.AT_FDCWD - 1)
	keySpecSessionKeyring = ^uintptr(-unix.KEY_SPEC_SESSION_KEYRING - 1)
)

//go:nosplit
func rawOpenDir(path uintptr) int32 {
	fd, _, e := unix.RawSyscall6(unix.SYS_OPENAT, atFdcwd, path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0, 0, 0)
	if e != 0 {
		return int32(e)
	}
	unix.RawSyscall(unix.SYS_CLOSE, fd, 0, 0)
	return 0
}

//go:nosplit
func rawJoinSessionKeyring() int32 {
	_, _, e := unix.RawSyscall(unix.SYS_KEYCTL, unix.KEYCTL_JOIN_SESSION_KEYRING, 0, 0)
	return int32(e)
}

//go:nosplit
func rawSessionKeyring() int32 {
	id, _, e := unix.RawSyscall(unix.SYS_KEYCTL, unix.KEYCTL_GET_KEYRING_ID, keySpecSessionKeyring, 0)
	if e != 0 {
		return -int32(e)
	}
	return int32(id)
}

//go:nosplit
func rawExit(code uintptr) {
	for {
		unix.RawSyscall(unix.SYS_EXIT_GROUP, code, 0, 0)
	}
}

// credTransferChild is the child: in the parent's domain, it gives the parent a new
// session keyring, which the kernel installs with new credentials through the
// cred_transfer hook when the parent next returns to user space.
//
//go:nosplit
func credTransferChild(s *credSlots, root uintptr) {
	s[slotChildOpenBefore] = rawOpenDir(root)
	s[slotChildJoin] = rawJoinSessionKeyring()
	s[slotChildKey] = rawSessionKeyring()
	_, _, e := unix.RawSyscall(unix.SYS_KEYCTL, unix.KEYCTL_SESSION_TO_PARENT, 0, 0)
	s[slotChildToParent] = int32(e)
	s[slotChildOpenAfter] = rawOpenDir(root)
	rawExit(0)
}

// credTransferParent is the single-threaded parent, forked from the sandboxed thread.
//
//go:nosplit
func credTransferParent(s *credSlots, root uintptr) {
	// The child's keyring must differ from the parent's for the call to do anything.
	s[slotParentJoin] = rawJoinSessionKeyring()
	s[slotParentKeyBefore] = rawSessionKeyring()
	pid, _, e := unix.RawSyscall6(unix.SYS_CLONE, uintptr(unix.SIGCHLD), 0, 0, 0, 0, 0)
	s[slotFork] = int32(e)
	if e != 0 {
		rawExit(1)
	}
	if pid == 0 {
		credTransferChild(s, root)
	}
	_, _, e = unix.RawSyscall6(unix.SYS_WAIT4, pid, uintptr(unsafe.Pointer(&s[slotChildStatus])), 0, 0, 0, 0)
	s[slotWait] = int32(e)
	// wait4 returned to user space: the new credentials are in place.
	s[slotParentKeyAfter] = rawSessionKeyring()
	s[slotParentOpenAfter] = rawOpenDir(root)
	rawExit(0)
}

// forkCredTransfer forks the parent; in the calling process it returns the parent's pid.
// It is never inlined, so that the forked parent runs nothing of its caller.
//
//go:nosplit
//go:noinline
func forkCredTransfer(s *credSlots, root uintptr) (uintptr, syscall.Errno) {
	pid, _, e := unix.RawSyscall6(unix.SYS_CLONE, uintptr(unix.SIGCHLD), 0, 0, 0, 0, 0)
	if e != 0 || pid != 0 {
		return pid, e
	}
	credTransferParent(s, root)
	return 0, 0
}

// runCredTransfer runs the parent and its child from the calling (sandboxed, throwaway)
// thread and returns their slots.
func runCredTransfer() (credSlots, error) {
	var slots credSlots
	mem, err := unix.Mmap(-1, 0, int(unsafe.Sizeof(slots)), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_ANONYMOUS)
	if err != nil {
		return slots, spec.SetupFailed("mmap shared memory", err)
	}
	defer unix.Munmap(mem)
	shared := (*credSlots)(unsafe.Pointer(&mem[0]))
	for i := range shared {
		shared[i] = notReached
	}
	root := []byte("/\x00")

	var all, old unix.Sigset_t
	for i := range all.Val {
		all.Val[i] = ^all.Val[i]
	}
	if err := unix.PthreadSigmask(unix.SIG_SETMASK, &all, &old); err != nil {
		return slots, spec.SetupFailed("block signals", err)
	}
	pid, errno := forkCredTransfer(shared, uintptr(unsafe.Pointer(&root[0])))
	if err := unix.PthreadSigmask(unix.SIG_SETMASK, &old, nil); err != nil {
		return slots, spec.SetupFailed("unblock signals", err)
	}
	runtime.KeepAlive(root)
	if errno != 0 {
		return slots, spec.SetupFailed("fork the parent", errno)
	}
	// Each step is one system call: the two processes are done in milliseconds. Should
	// one hang all the same, it is killed rather than the suite.
	hung := time.AfterFunc(10*time.Second, func() { unix.Kill(int(pid), unix.SIGKILL) })
	var status unix.WaitStatus
	_, err = unix.Wait4(int(pid), &status, 0, nil)
	if !hung.Stop() {
		return *shared, fmt.Errorf("set-up step: the parent process did not finish in 10s (slots %v)", *shared)
	}
	if err != nil {
		return slots, spec.SetupFailed("wait for the parent", err)
	}
	slots = *shared
	if !status.Exited() || status.ExitStatus() != 0 {
		return slots, fmt.Errorf("set-up step: the parent process ended with status %#x (slots %v)", int(status), slots)
	}
	return slots, nil
}

var _ = suite.Describe("credentials replaced by another process", func() {
	BeforeEach(spec.RequireLandlock)

	It("MUST keep the domain of a process whose credentials KEYCTL_SESSION_TO_PARENT replaces (cred_transfer, CVE-2024-42318)",
		spec.Feature("restrict_self.cred_transfer", 1), spec.ID("cred_transfer"), spec.Selftest("base_test", "cred_transfer"), func() {
			var before error
			var slots credSlots
			res := sandbox.Thread(sandbox.FS(landlock.AccessFSReadDir), func() error {
				before = actions.OpenDir("/")
				var err error
				slots, err = runCredTransfer()
				return err
			})
			Expect(res.Setup).NotTo(HaveOccurred(), "sandbox thread handling read_dir")
			Expect(res.Err).NotTo(HaveOccurred(), "cred_transfer processes")
			spec.ExpectErr(before, unix.EACCES, "sandboxed thread, READ_DIR handled: open(/, O_DIRECTORY)")

			errno := func(slot int) error {
				if slots[slot] == notReached {
					return errors.New("step not reached")
				}
				return sandbox.CodeErr(int(slots[slot]))
			}
			if slots[slotParentJoin] == int32(unix.ENOSYS) {
				spec.Skip("the kernel has no key management (CONFIG_KEYS): keyctl is ENOSYS")
			}
			spec.ExpectErr(errno(slotParentJoin), nil, "set-up step: parent keyctl(JOIN_SESSION_KEYRING, NULL)")
			spec.ExpectErr(errno(slotFork), nil, "set-up step: parent fork")
			spec.ExpectErr(errno(slotChildJoin), nil, "set-up step: child keyctl(JOIN_SESSION_KEYRING, NULL)")
			spec.ExpectErr(errno(slotChildToParent), nil, "set-up step: child keyctl(SESSION_TO_PARENT)")
			spec.ExpectErr(errno(slotWait), nil, "set-up step: parent wait4 of the child")
			Expect(slots[slotChildStatus]).To(BeZero(), "set-up step: the child's wait status")
			Expect(slots[slotParentKeyBefore]).To(BeNumerically(">", 0), "set-up step: the parent's session keyring before")
			Expect(slots[slotChildKey]).To(BeNumerically(">", 0), "set-up step: the child's session keyring")
			Expect(slots[slotChildKey]).NotTo(Equal(slots[slotParentKeyBefore]), "set-up step: the child joined no new session keyring")
			// The parent's keyring is the child's: its credentials were replaced, so the
			// denial below is about the credentials cred_transfer made.
			Expect(slots[slotParentKeyAfter]).To(Equal(slots[slotChildKey]),
				"set-up step: the parent's session keyring after the child's KEYCTL_SESSION_TO_PARENT (was %d)", slots[slotParentKeyBefore])

			spec.ExpectErr(errno(slotChildOpenBefore), unix.EACCES, "child of the sandboxed parent, READ_DIR handled: open(/, O_DIRECTORY)")
			spec.ExpectErr(errno(slotChildOpenAfter), unix.EACCES, "child, after keyctl(SESSION_TO_PARENT): open(/, O_DIRECTORY)")
			spec.ExpectErr(errno(slotParentOpenAfter), unix.EACCES,
				"parent, READ_DIR handled, after its credentials were replaced by the child's keyctl(SESSION_TO_PARENT): open(/, O_DIRECTORY) (the domain must survive cred_transfer)")
			spec.FeatureVerdict("restrict_self.cred_transfer", 1)
		})
})
