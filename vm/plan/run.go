package plan

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// DefaultTimeout bounds a suite whose plan entry gives none.
const DefaultTimeout = 10 * time.Minute

// KillGrace is how long a suite that overran its timeout has between SIGTERM and SIGKILL:
// Ginkgo writes its JSON report on SIGTERM, with the specs that had finished, when it is
// given the time.
const KillGrace = 10 * time.Second

// Outcome is what one run of a suite binary produced.
type Outcome struct {
	Status Status
	Report []byte // the report file's contents; nil if there was none
	Output []byte // combined stdout and stderr, capped
}

// Run runs the suite binary in dir with env (KEY=VALUE entries) and waits for it. At the
// timeout it sends SIGTERM to the suite's whole process group, so that Ginkgo can write its
// report of the specs that finished, and SIGKILL KillGrace later. The same code runs suites in the guest and on the
// host, so that a suite behaves the same under both.
func (s Suite) Run(ctx context.Context, dir string, env []string) Outcome {
	timeout := time.Duration(s.Timeout)
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	if s.Report != "" {
		// A stale report from an earlier run must not pass for this run's.
		os.Remove(s.Report)
	}
	// A private temporary directory, removed below whatever became of the suite: a suite
	// killed at its timeout or by an interrupted run leaves its specs' files behind.
	tmp, err := os.MkdirTemp(s.TempDir, "llconform-"+s.Name+"-")
	if err != nil {
		return Outcome{Status: Status{ExitCode: -1, Error: fmt.Sprintf("temporary directory: %v", err)}}
	}
	defer func() {
		if err := os.RemoveAll(tmp); err != nil {
			fmt.Fprintf(os.Stderr, "suite %s: remove its temporary directory: %v\n", s.Name, err)
		}
	}()
	out, err := newOutputFile(s.TempDir, s.Name, maxOutput)
	if err != nil {
		return Outcome{Status: Status{ExitCode: -1, Error: err.Error()}}
	}
	defer out.Close()
	cmd := exec.CommandContext(ctx, s.Path, s.Args...)
	cmd.Dir = dir
	cmd.Env = suiteEnv(env, tmp)
	cmd.Stdout, cmd.Stderr = out.f, out.f
	// Own process group, so that a timeout kills the suite's helpers too. The suite dies
	// with its runner, even on kill -9: the parent-death signal fires when the thread that
	// forked it exits, so that thread stays locked to this goroutine until the suite ends.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var killer *time.Timer
	cmd.Cancel = func() error {
		pid := cmd.Process.Pid
		killer = time.AfterFunc(s.killGrace(), func() { _ = unix.Kill(-pid, unix.SIGKILL) })
		return unix.Kill(-pid, unix.SIGTERM)
	}
	cmd.WaitDelay = s.killGrace() + 5*time.Second

	start := time.Now()
	err = cmd.Run()
	if killer != nil && killer.Stop() {
		// The suite ended within the grace period: its helpers must not outlive it.
		_ = unix.Kill(-cmd.Process.Pid, unix.SIGKILL)
	}
	st := Status{ExitCode: -1, DurationMS: time.Since(start).Milliseconds()}
	if ps := cmd.ProcessState; ps != nil {
		st.ExitCode = ps.ExitCode()
		if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			st.Signal = unix.SignalName(ws.Signal())
		}
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		st.TimedOut = true
	}
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) && !st.TimedOut {
		st.Error = err.Error()
		st.NotExecutable = errors.Is(err, syscall.ENOEXEC)
	}
	o := Outcome{Status: st, Output: out.Bytes()}
	if s.Report != "" {
		b, err := os.ReadFile(s.Report)
		if err != nil {
			o.Status.Error = joinErr(o.Status.Error, fmt.Sprintf("report: %v", err))
		} else {
			o.Report = b
		}
	}
	return o
}

// gogc is the suites' GOGC unless the caller's environment sets one. The suites allocate
// little (under 35 MB each on the host even uncollected), and collecting after every 4 MB,
// the default, is dear in a TCG guest: instruction-counted, debian-7.3's six suites ran
// 10.4 s with the default and 9.0 s with 400, as with no collection at all. Collection
// still happens, so finalizers still close what a spec dropped.
const gogc = "400"

// suiteEnv is env with TMPDIR set to tmp and GOGC defaulting to gogc.
func suiteEnv(env []string, tmp string) []string {
	out := slices.DeleteFunc(slices.Clone(env), func(kv string) bool { return strings.HasPrefix(kv, "TMPDIR=") })
	if !slices.ContainsFunc(out, func(kv string) bool { return strings.HasPrefix(kv, "GOGC=") }) {
		out = append(out, "GOGC="+gogc)
	}
	return append(out, "TMPDIR="+tmp)
}

func (s Suite) killGrace() time.Duration {
	if s.grace > 0 {
		return s.grace
	}
	return KillGrace
}

func joinErr(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}
