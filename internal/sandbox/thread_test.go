package sandbox

import (
	"testing"

	"golang.org/x/sys/unix"
)

// The runtime never ends the main thread: OnThread must not run fn there, or fn's changes
// would outlive it. Without the check, the first call of a test process ran fn there (the
// main thread, idle while the caller waited, picked fn's goroutine up), every time.
func TestOnThreadNeverMainThread(t *testing.T) {
	for i := range 2000 {
		var tid int
		if err := OnThread(func() error { tid = unix.Gettid(); return nil }); err != nil {
			t.Fatal(err)
		}
		if tid == unix.Getpid() {
			t.Fatalf("call %d ran fn on the main thread", i+1)
		}
	}
}
