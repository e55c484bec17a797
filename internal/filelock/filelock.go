// Package filelock holds exclusive flock(2) locks on files, for the output directory of a
// run and for the shared kernel cache. The kernel drops such a lock when its holder exits,
// however it ends, so a killed run never leaves a stale one; the lock files themselves are
// never removed (removing one would let a third process lock a new inode while a second
// still waits on the old one).
package filelock

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// ErrHeld is TryLock's error when another process (or another open file of this one)
// holds the lock.
var ErrHeld = errors.New("held by another process")

// Lock is a held lock. Its file is open read-write, so the holder may write who it is.
type Lock struct{ f *os.File }

// TryLock takes the exclusive lock on path, creating the file and its directory if
// needed, without waiting: an error wrapping ErrHeld when someone else holds it. The file
// is opened close-on-exec, so children started by the holder do not inherit the lock.
func TryLock(path string) (*Lock, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	switch {
	case errors.Is(err, syscall.EWOULDBLOCK):
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, ErrHeld)
	case err != nil:
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return &Lock{f: f}, nil
}

// Wait takes the lock on path, polling while someone else holds it, until ctx ends.
// onWait, if not nil, is called once, when the first attempt finds the lock held.
func Wait(ctx context.Context, path string, onWait func()) (*Lock, error) {
	for waited := false; ; waited = true {
		l, err := TryLock(path)
		if !errors.Is(err, ErrHeld) {
			return l, err
		}
		if !waited && onWait != nil {
			onWait()
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for lock %s: %w", path, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// File is the lock's open file.
func (l *Lock) File() *os.File { return l.f }

// Release drops the lock; a nil or released Lock is left alone.
func (l *Lock) Release() {
	if l != nil && l.f != nil {
		l.f.Close()
		l.f = nil
	}
}
