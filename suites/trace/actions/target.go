package actions

import (
	"bufio"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"

	"github.com/llconform/llconform/internal/sandbox"
)

// Target is a process other specs signal, trace or make the owner of a file. It names its
// main thread args[0] (the name the events print), writes ReadyLine once its policy is in
// force and blocks until its standard input closes.
const Target = "trace-target"

// Traceme names its thread args[0], writes ReadyLine, waits for a line, then asks its
// parent to trace it (PTRACE_TRACEME) and writes DoneLine with the errno.
const Traceme = "trace-traceme"

// The lines Target and Traceme write, with the tid of the thread that enforced the policy
// and the errno of PTRACE_TRACEME.
const (
	ReadyLine = "ready %d\n"
	DoneLine  = "done %d\n"
)

func init() {
	sandbox.Register(Target, func(args []string) ([]byte, error) {
		if err := os.WriteFile("/proc/self/comm", []byte(args[0]), 0); err != nil {
			return nil, fmt.Errorf("name the target: %w", err)
		}
		if _, err := fmt.Fprintf(os.Stdout, ReadyLine, unix.Gettid()); err != nil {
			return nil, err
		}
		_, err := io.Copy(io.Discard, os.Stdin)
		return nil, err
	})
	sandbox.Register(Traceme, func(args []string) ([]byte, error) {
		if err := os.WriteFile("/proc/thread-self/comm", []byte(args[0]), 0); err != nil {
			return nil, fmt.Errorf("name the thread: %w", err)
		}
		if _, err := fmt.Fprintf(os.Stdout, ReadyLine, unix.Gettid()); err != nil {
			return nil, err
		}
		if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
			return nil, fmt.Errorf("wait for the go: %w", err)
		}
		// Once traced, any signal would stop this thread until its tracer waits for it:
		// none may arrive before it has answered.
		all, old := unix.Sigset_t{}, unix.Sigset_t{}
		for i := range all.Val {
			all.Val[i] = ^all.Val[i]
		}
		if err := unix.PthreadSigmask(unix.SIG_BLOCK, &all, &old); err != nil {
			return nil, fmt.Errorf("block signals: %w", err)
		}
		_, _, e := unix.RawSyscall(unix.SYS_PTRACE, unix.PTRACE_TRACEME, 0, 0)
		_, err := fmt.Fprintf(os.Stdout, DoneLine, int(e))
		if err != nil {
			return nil, err
		}
		return nil, ErrnoErr(e)
	})
}
