package actions

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/llconform/llconform/internal/landlock"
	"github.com/llconform/llconform/internal/sandbox"
)

// TSync is the action calling restrict_self with the flags TSyncArgs gives, in a process
// of several threads, and reporting a TSyncReport. Three more threads are parked first, so
// that the process has siblings for certain, whatever the runtime started.
const TSync = "trace-tsync"

// TSyncArgs encodes TSync's argument: the restrict_self flags.
func TSyncArgs(flags uint32) []string { return []string{strconv.FormatUint(uint64(flags), 10)} }

// Opendir is the action opening the directory args[0] for reading (OpenDir); its error is
// the open's.
const Opendir = "trace-opendir"

// OpenDir opens a directory for reading and closes it again.
func OpenDir(path string) error {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err == nil {
		unix.Close(fd)
	}
	return err
}

// ErrnoErr turns a raw system call's errno into an error, nil for 0.
func ErrnoErr(e unix.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}

// TSyncReport is what the TSync helper did.
type TSyncReport struct {
	Caller int   `json:"caller"` // the thread that called restrict_self
	Before []int `json:"before"` // the process's threads just before the call
	After  []int `json:"after"`  // and just after
	Errno  int   `json:"errno"`
}

func threads() ([]int, error) {
	entries, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return nil, err
	}
	tids := make([]int, 0, len(entries))
	for _, e := range entries {
		if n, err := strconv.Atoi(e.Name()); err == nil {
			tids = append(tids, n)
		}
	}
	return tids, nil
}

func init() {
	sandbox.Register(TSync, func(args []string) ([]byte, error) {
		flags, err := strconv.ParseUint(args[0], 10, 32)
		if err != nil {
			return nil, fmt.Errorf("flags %q: %w", args[0], err)
		}
		stop, parked := make(chan struct{}), make(chan struct{})
		for range 3 {
			go func() {
				runtime.LockOSThread()
				parked <- struct{}{}
				<-stop
			}()
			<-parked
		}
		defer close(stop)
		attr := landlock.RulesetAttr{HandledAccessFS: landlock.AccessFSMakeBlock}
		fd, err := landlock.CreateRuleset(&attr, landlock.RulesetAttrSize, 0)
		if err != nil {
			return nil, fmt.Errorf("create_ruleset: %w", err)
		}
		defer unix.Close(fd)
		rep := TSyncReport{Caller: unix.Gettid()}
		if rep.Before, err = threads(); err != nil {
			return nil, err
		}
		rep.Errno = sandbox.ErrnoCode(landlock.RestrictSelf(fd, uint32(flags)))
		if rep.After, err = threads(); err != nil {
			return nil, err
		}
		return json.Marshal(rep)
	})
	sandbox.Register(Opendir, func(args []string) ([]byte, error) {
		return nil, OpenDir(args[0])
	})
}
