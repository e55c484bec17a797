package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/llconform/llconform/internal/filelock"
)

// lockName is the file in an output directory that a run holds an exclusive lock on for as
// long as it lives: two runs writing into one directory read each other's console and
// channel files and report wrong results, so the second one is refused.
const lockName = ".llconform.lock"

// outputInUseError is lockOutput's error when another live run holds the directory.
type outputInUseError struct {
	Dir, Holder string // Holder: "pid N (llconform matrix ...)"
}

func (e *outputInUseError) Error() string {
	return fmt.Sprintf("output directory %s is in use by %s", e.Dir, e.Holder)
}

// lockOutput creates dir if needed and takes the lock on dir/.llconform.lock without
// waiting, then writes this process's pid and command line into the file. When another
// process holds it, the error is an *outputInUseError naming the directory and the holder:
// "output directory X is in use by pid N (llconform matrix ...)".
func lockOutput(dir string) (*filelock.Lock, error) {
	path := filepath.Join(dir, lockName)
	l, err := filelock.TryLock(path)
	if errors.Is(err, filelock.ErrHeld) {
		holder, _ := os.ReadFile(path)
		return nil, &outputInUseError{Dir: dir, Holder: describeHolder(holder)}
	}
	if err != nil {
		return nil, fmt.Errorf("lock output directory %s: %w", dir, err)
	}
	// Ours now: say who holds it, for the message of the next run that tries.
	cmd := append([]string{filepath.Base(os.Args[0])}, os.Args[1:]...)
	content := fmt.Sprintf("%d\n%s\n", os.Getpid(), strings.Join(cmd, " "))
	if err := l.File().Truncate(0); err == nil {
		_, _ = l.File().WriteAt([]byte(content), 0)
	}
	return l, nil
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
