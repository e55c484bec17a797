package actions

import (
	"encoding/json"
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/llconform/llconform/internal/landlock"
	"github.com/llconform/llconform/internal/sandbox"
)

// PtraceTrace is the action of ptrace_test's audit.trace: started without a domain, the
// helper forks an unrestricted child, enforces a domain and reports a TraceResult of the
// child's PTRACE_TRACEME and its own PTRACE_DETACH and PTRACE_ATTACH of the child.
const PtraceTrace = "audit-ptrace-trace"

// TraceResult is what the PtraceTrace helper saw: its child's pid and the errnos of
// the child's PTRACE_TRACEME, then of the parent's PTRACE_DETACH and PTRACE_ATTACH of it.
type TraceResult struct {
	Child   int `json:"child"`
	Traceme int `json:"traceme"`
	Detach  int `json:"detach"`
	Attach  int `json:"attach"`
}

func init() {
	sandbox.Register(PtraceTrace, func([]string) ([]byte, error) {
		r, err := ptraceTrace()
		if err != nil {
			return nil, err
		}
		return json.Marshal(r)
	})
}

// ptraceTrace runs in a helper started without a domain, on its locked main thread: that
// thread forks the child, so it is the child's parent, the tracer PTRACE_TRACEME names,
// and then enforces a domain, which only it has.
func ptraceTrace() (TraceResult, error) {
	var r TraceResult
	var toChild, fromChild [2]int
	if err := unix.Pipe2(toChild[:], unix.O_CLOEXEC); err != nil {
		return r, fmt.Errorf("pipe: %w", err)
	}
	defer unix.Close(toChild[1])
	if err := unix.Pipe2(fromChild[:], unix.O_CLOEXEC); err != nil {
		return r, fmt.Errorf("pipe: %w", err)
	}
	defer unix.Close(fromChild[0])
	// Everything the child touches is ready before the fork.
	buf := make([]byte, 1)
	bufp := uintptr(unsafe.Pointer(&buf[0]))
	rd, wr := uintptr(toChild[0]), uintptr(fromChild[1])
	child, _, e := unix.RawSyscall6(unix.SYS_CLONE, uintptr(unix.SIGCHLD), 0, 0, 0, 0, 0)
	if e != 0 {
		return r, fmt.Errorf("clone: %w", e)
	}
	if child == 0 {
		// A copy of one thread of a Go program: nothing but raw system calls. It waits
		// for its parent's domain, asks to be traced, reports the errno and waits for the
		// parent's own ptrace calls before it exits.
		if n, _, _ := unix.RawSyscall(unix.SYS_READ, rd, bufp, 1); n != 1 {
			unix.RawSyscall(unix.SYS_EXIT_GROUP, 90, 0, 0)
		}
		_, _, te := unix.RawSyscall6(unix.SYS_PTRACE, unix.PTRACE_TRACEME, 0, 0, 0, 0, 0)
		buf[0] = byte(te)
		unix.RawSyscall(unix.SYS_WRITE, wr, bufp, 1)
		unix.RawSyscall(unix.SYS_READ, rd, bufp, 1)
		unix.RawSyscall(unix.SYS_EXIT_GROUP, 0, 0, 0)
	}
	r.Child = int(child)
	unix.Close(toChild[0])
	unix.Close(fromChild[1])
	reap := func() error {
		var ws unix.WaitStatus
		if _, err := unix.Wait4(r.Child, &ws, unix.WALL, nil); err != nil {
			return fmt.Errorf("wait for the child: %w", err)
		}
		if !ws.Exited() || ws.ExitStatus() != 0 {
			return fmt.Errorf("the child ended with %v", ws)
		}
		return nil
	}
	if err := ptraceDomain(); err != nil {
		_ = unix.Kill(r.Child, unix.SIGKILL)
		_ = reap()
		return r, err
	}
	if _, err := unix.Write(toChild[1], []byte(".")); err != nil {
		return r, fmt.Errorf("release the child: %w", err)
	}
	got := make([]byte, 1)
	if n, err := unix.Read(fromChild[0], got); err != nil || n != 1 {
		return r, fmt.Errorf("read the child's PTRACE_TRACEME errno: %d bytes, %v", n, err)
	}
	r.Traceme = int(got[0])
	r.Detach = sandbox.ErrnoCode(unix.PtraceDetach(r.Child))
	err := unix.PtraceAttach(r.Child)
	r.Attach = sandbox.ErrnoCode(err)
	if err == nil {
		// Wrongly allowed: the child is stopped and traced; it has nothing left to prove.
		_ = unix.Kill(r.Child, unix.SIGKILL)
		_ = reap()
		return r, nil
	}
	if _, err := unix.Write(toChild[1], []byte(".")); err != nil {
		return r, fmt.Errorf("release the child: %w", err)
	}
	runtime.KeepAlive(buf)
	return r, reap()
}

// ptraceDomain enforces, on the calling thread, the selftest's domain: one handling
// MAKE_BLOCK, which has nothing to do with ptrace but makes a domain all the same.
func ptraceDomain() error {
	fd, err := landlock.CreateRuleset(&landlock.RulesetAttr{HandledAccessFS: landlock.AccessFSMakeBlock}, landlock.RulesetAttrSizeV1, 0)
	if err != nil {
		return fmt.Errorf("create_ruleset: %w", err)
	}
	defer unix.Close(fd)
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("no_new_privs: %w", err)
	}
	if err := landlock.RestrictSelf(fd, 0); err != nil {
		return fmt.Errorf("restrict_self: %w", err)
	}
	return nil
}
