package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// lockName is the file in an output directory that a run holds an exclusive flock on for
// as long as it lives. Two runs writing into one directory read each other's console and
// channel files and report wrong results, so the second one is refused. The kernel drops
// the lock when the holder exits, however it ends: a killed run leaves no stale lock. The
// file itself is never removed (removing it would let a third run lock a new inode while
// the second still waits on the old one).
const lockName = ".llconform.lock"

// outputInUseError is lockOutput's error when another live run holds the directory.
type outputInUseError struct {
	Dir, Holder string // Holder: "pid N (llconform matrix ...)"
}

func (e *outputInUseError) Error() string {
	return fmt.Sprintf("output directory %s is in use by %s", e.Dir, e.Holder)
}

// outputLock is a held lock on an output directory; Release drops it.
type outputLock struct{ f *os.File }

// Release drops the lock (also dropped when the process exits).
func (l *outputLock) Release() {
	if l != nil && l.f != nil {
		l.f.Close()
		l.f = nil
	}
}

// lockOutput creates dir if needed and takes the exclusive lock on dir/.llconform.lock
// without waiting, then writes this process's pid and command line into the file. When
// another process holds it, the error is an *outputInUseError naming the directory and the
// holder: "output directory X is in use by pid N (llconform matrix ...)".
func lockOutput(dir string) (*outputLock, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create output directory: %w", err)
	}
	path := filepath.Join(dir, lockName)
	// os.OpenFile sets O_CLOEXEC: QEMU and the suites started by this run do not inherit
	// the lock, so it cannot outlive this process in an orphaned child.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock output directory: %w", err)
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if errors.Is(err, syscall.EWOULDBLOCK) {
		holder, _ := os.ReadFile(path)
		f.Close()
		return nil, &outputInUseError{Dir: dir, Holder: describeHolder(holder)}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock output directory %s: %w", dir, err)
	}
	// Ours now: say who holds it, for the message of the next run that tries.
	cmd := append([]string{filepath.Base(os.Args[0])}, os.Args[1:]...)
	content := fmt.Sprintf("%d\n%s\n", os.Getpid(), strings.Join(cmd, " "))
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(content), 0)
	}
	return &outputLock{f: f}, nil
}

// describeHolder turns a lock file's contents (pid, newline, command line) into "pid N
// (command)"; a holder that has not written it yet is "another llconform run".
func describeHolder(b []byte) string {
	pidLine, cmd, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(pidLine))
	if err != nil {
		return "another llconform run"
	}
	if cmd = strings.TrimSpace(cmd); cmd == "" {
		return fmt.Sprintf("pid %d", pid)
	}
	return fmt.Sprintf("pid %d (%s)", pid, cmd)
}
