package sandbox

import (
	"fmt"
	"runtime"

	"golang.org/x/sys/unix"
)

// Result is what a sandboxed action did.
type Result struct {
	// Err is the action's own error, typically a unix.Errno: what the spec checks.
	Err error
	// Data is what a process-mode action returned; empty in thread mode.
	Data []byte
	// Setup is the harness's failure to build or enforce the policy, or to run the action
	// at all; when it is set, Err means nothing.
	Setup error
}

// OnThread runs fn on a fresh OS thread that is discarded when fn returns, so fn may change
// per-thread state (Landlock domain, no_new_privs, capabilities, credentials) without
// affecting any other goroutine. fn must not start goroutines that expect that state: they
// run on other threads.
func OnThread(fn func() error) error {
	done := make(chan error, 1)
	go func() {
		// Never unlocked: the runtime terminates a thread whose locked goroutine exits,
		// which is what keeps the runner unrestricted.
		runtime.LockOSThread()
		if unix.Gettid() == unix.Getpid() {
			// The main thread: the runtime never ends it, its locked goroutine's exit only
			// parks it, so fn's changes would outlive fn on a thread that still exists. Run
			// fn on another thread, which this goroutine's lock keeps off the main one.
			done <- OnThread(fn)
			return
		}
		defer func() {
			if r := recover(); r != nil {
				done <- fmt.Errorf("panic on sandbox thread: %v", r)
			}
		}()
		done <- fn()
	}()
	return <-done
}

// Thread enforces p on a fresh OS thread, runs action there and returns its error.
func Thread(p Policy, action func() error) Result {
	var res Result
	err := OnThread(func() error {
		if err := p.Enforce(); err != nil {
			res.Setup = fmt.Errorf("enforce policy: %w", err)
			return nil
		}
		res.Err = action()
		return nil
	})
	if err != nil {
		res.Setup = err
	}
	return res
}
