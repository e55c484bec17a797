package kernel

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// Timeouts of the external commands: apt-get update and download fetch from
// the network, dpkg-deb only reads and writes local files.
const (
	AptTimeout  = 5 * time.Minute
	DpkgTimeout = 2 * time.Minute
)

// Why a command failed, as far as its output and exit tell.
const (
	FailNoSpace     = "no space left on device"
	FailLock        = "lock held by another process"
	FailTimeout     = "timed out"
	FailInterrupted = "interrupted"
	FailKilled      = "killed"
	FailExit        = "failed"
)

// CmdError is the failure of an external command: what it was doing, the
// classified reason and the last lines of its output.
type CmdError struct {
	What    string // e.g. "apt-get update (package lists in /x/apt)"
	Kind    string // one of the Fail* constants
	Timeout time.Duration
	Err     error
	Output  string
	Hint    string // e.g. the free space of the cache's filesystem
}

func (e *CmdError) Error() string {
	var b strings.Builder
	b.WriteString(e.What)
	b.WriteString(": ")
	switch e.Kind {
	case FailTimeout:
		fmt.Fprintf(&b, "timed out after %s", e.Timeout)
	case FailInterrupted:
		b.WriteString("interrupted")
	case FailNoSpace:
		b.WriteString("No space left on device")
	case FailLock:
		b.WriteString("lock held by another process (another apt-get or llconform run?)")
	case FailKilled:
		fmt.Fprintf(&b, "killed (%v)", e.Err)
	default:
		fmt.Fprintf(&b, "%v", e.Err)
	}
	if e.Hint != "" {
		b.WriteString("; " + e.Hint)
	}
	if e.Output != "" {
		b.WriteString(": " + e.Output)
	}
	return b.String()
}

func (e *CmdError) Unwrap() error { return e.Err }

// classify tells why a command failed from its output and error; timedOut
// says that its own deadline passed, interrupted that the caller's context
// was cancelled.
func classify(out []byte, err error, timedOut, interrupted bool) string {
	s := string(out)
	switch {
	case strings.Contains(s, "No space left on device") || errors.Is(err, syscall.ENOSPC):
		return FailNoSpace
	case strings.Contains(s, "Could not get lock") || strings.Contains(s, "Unable to lock"):
		return FailLock
	case interrupted:
		return FailInterrupted
	case timedOut:
		return FailTimeout
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return FailKilled
		}
	}
	return FailExit
}

// runCmd runs name with args in dir under a timeout, in its own process
// group so that the children it spawns (apt's methods) are killed with it
// and cannot hold its output open. what describes the operation for the
// error; hintDir, if set, is a directory whose free space is reported when
// the command fails or times out.
func runCmd(ctx context.Context, timeout time.Duration, what, dir, hintDir string, env []string, name string, args ...string) ([]byte, error) {
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(cctx, name, args...)
	cmd.Dir = dir
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	err := cmd.Run()
	if err == nil {
		return out.Bytes(), nil
	}
	interrupted := ctx.Err() != nil
	timedOut := !interrupted && errors.Is(cctx.Err(), context.DeadlineExceeded)
	ce := &CmdError{
		What:    what,
		Kind:    classify(out.Bytes(), err, timedOut, interrupted),
		Timeout: timeout,
		Err:     err,
		Output:  lastLines(out.Bytes(), 10),
	}
	if hintDir != "" {
		if free, ok := freeSpace(hintDir); ok && (ce.Kind == FailNoSpace || ce.Kind == FailTimeout || free < 64<<20) {
			ce.Hint = fmt.Sprintf("%.1f MB free on the filesystem of %s", float64(free)/(1<<20), hintDir)
			if free < 64<<20 && ce.Kind == FailTimeout {
				ce.Hint += " (full disk?)"
			}
		}
	}
	return out.Bytes(), ce
}

func freeSpace(dir string) (uint64, bool) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, false
	}
	return st.Bavail * uint64(st.Bsize), true
}
