package actions

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"github.com/llconform/llconform/internal/landlock"
	"github.com/llconform/llconform/internal/sandbox"
)

// PgidSelf is the pgid-sigio argument asking it to lead a process group of its own.
const PgidSelf = "self"

func init() {
	// pgrp-wait: a target that leads a process group of its own, then behaves like wait.
	sandbox.Register(PgrpWaitAction, func([]string) ([]byte, error) {
		if err := unix.Setpgid(0, 0); err != nil {
			return nil, fmt.Errorf("setpgid(0, 0): %w", err)
		}
		if _, err := os.Stdout.WriteString(ReadyLine); err != nil {
			return nil, err
		}
		_, err := io.Copy(io.Discard, os.Stdin)
		return nil, err
	})
	// pgid-sigio: joins process group args[0] ("self": a new one of its own), then makes
	// the group the owner of a pipe's I/O signal from a throw-away thread in a domain
	// scoping signals, signal args[1], and writes to the pipe. With args[2], a control
	// does the same first from a thread in a domain scoping nothing, with that signal. It
	// reports whether the scoped owner's signal reached this process, whose leader is in
	// no domain.
	sandbox.Register(PgidSigioAction, func(args []string) ([]byte, error) {
		sig, err := parseSignal(args[1])
		if err != nil {
			return nil, err
		}
		got := make(chan os.Signal, 1)
		signal.Notify(got, sig)
		pgid := 0
		if args[0] != PgidSelf {
			if pgid, err = strconv.Atoi(args[0]); err != nil {
				return nil, err
			}
		}
		if err := unix.Setpgid(0, pgid); err != nil {
			return nil, fmt.Errorf("setpgid(0, %d): %w", pgid, err)
		}
		pgid = unix.Getpgrp()
		trigger := func(p sandbox.Policy, sig unix.Signal) error {
			var fds [2]int
			if err := unix.Pipe2(fds[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
				return fmt.Errorf("pipe2: %w", err)
			}
			defer unix.Close(fds[0])
			defer unix.Close(fds[1])
			if err := sandbox.OnThread(func() error {
				if err := p.Enforce(); err != nil {
					return err
				}
				return SetOwner(fds[0], -pgid, sig)
			}); err != nil {
				return fmt.Errorf("F_SETOWN(-%d) with signal %d: %w", pgid, sig, err)
			}
			if _, err := unix.Write(fds[1], []byte("x")); err != nil {
				return fmt.Errorf("write to the pipe: %w", err)
			}
			return nil
		}
		if len(args) > 2 {
			control, err := parseSignal(args[2])
			if err != nil {
				return nil, err
			}
			if err := trigger(OtherDomain, control); err != nil {
				return nil, fmt.Errorf("control: %w", err)
			}
		}
		if err := trigger(sandbox.Scoped(landlock.ScopeSignal), sig); err != nil {
			return nil, err
		}
		received := false
		select {
		case <-got:
			received = true
		case <-time.After(10 * time.Second):
		}
		return json.Marshal(received)
	})
}

func parseSignal(s string) (unix.Signal, error) {
	n, err := strconv.Atoi(s)
	return unix.Signal(n), err
}

// SetOwner makes pid the owner of fd's I/O signals, sent as sig (0: SIGIO).
func SetOwner(fd, pid int, sig unix.Signal) error {
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETOWN, pid); err != nil {
		return err
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETSIG, int(sig)); err != nil {
		return err
	}
	_, err := unix.FcntlInt(uintptr(fd), unix.F_SETFL, unix.O_ASYNC|unix.O_NONBLOCK)
	return err
}
