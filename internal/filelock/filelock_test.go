package filelock

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"
)

// flock locks belong to the open file, so two TryLocks in one process contend like two
// processes would.
func TestTryLockAndWait(t *testing.T) {
	p := filepath.Join(t.TempDir(), "sub", "x.lock")
	l, err := TryLock(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := TryLock(p); !errors.Is(err, ErrHeld) {
		t.Fatalf("second TryLock: %v, want ErrHeld", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	waited := 0
	if _, err := Wait(ctx, p, func() { waited++ }); !errors.Is(err, context.DeadlineExceeded) || waited != 1 {
		t.Fatalf("Wait on a held lock: %v, onWait called %d times", err, waited)
	}
	l.Release()
	l.Release()
	l2, err := Wait(context.Background(), p, nil)
	if err != nil {
		t.Fatalf("Wait after Release: %v", err)
	}
	l2.Release()
}
