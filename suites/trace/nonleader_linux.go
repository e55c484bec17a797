//go:build linux && (amd64 || 386 || arm64)

// What the trace suite cannot write in Go: a process whose only live thread is not its leader.

package trace

import (
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// forkNonLeader is written in each architecture's assembly (nonleader_linux_<arch>.s).
func forkNonLeader(fd int, stack, tidword, mask uintptr) (pid int, errno int)

// ForkNonLeader forks a process whose leader starts a second thread and exits: that thread,
// then the process's only live thread while the leader lingers as a zombie, enforces the
// ruleset fd (with no_new_privs set) and ends the process with the errno of
// landlock_restrict_self, 0 on success. It returns the child's pid (its leader's tid) and
// its exit status.
func ForkNonLeader(fd int) (pid, status int, err error) {
	// The child runs on copies of these, made at the fork; heap memory never moves.
	stack := make([]byte, 64<<10)
	top := (uintptr(unsafe.Pointer(&stack[len(stack)-1])) + 1) &^ 15
	tidword := new(uint32)
	mask := new(uint64)
	*mask = ^uint64(0)
	pid, errno := forkNonLeader(fd, top, uintptr(unsafe.Pointer(tidword)), uintptr(unsafe.Pointer(mask)))
	runtime.KeepAlive(stack)
	runtime.KeepAlive(tidword)
	runtime.KeepAlive(mask)
	if errno != 0 {
		return 0, 0, fmt.Errorf("clone: %w", unix.Errno(errno))
	}
	var ws unix.WaitStatus
	if _, err := unix.Wait4(pid, &ws, unix.WALL, nil); err != nil {
		return pid, 0, fmt.Errorf("wait for the forked child: %w", err)
	}
	if !ws.Exited() {
		return pid, 0, fmt.Errorf("forked child ended with %v", ws)
	}
	return pid, ws.ExitStatus(), nil
}
