package sandbox

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/llconform/llconform/internal/landlock"
)

// ErrnoName names an error the way the kernel's documentation does: "EACCES", "success".
// It lives here rather than in internal/spec because process-mode actions, which must not
// link Ginkgo, report their outcomes by these names too.
func ErrnoName(err error) string {
	if err == nil {
		return "success"
	}
	var errno unix.Errno
	if errors.As(err, &errno) {
		if name := unix.ErrnoName(errno); name != "" {
			return name
		}
		return fmt.Sprintf("errno %d", int(errno))
	}
	return err.Error()
}

// SetupFailed reports that a step preparing an action failed. The step's errno is named
// but not wrapped, so that it can never pass for the errno the action itself is expected
// to give (a failed open before an ftruncate is not a denied truncation).
func SetupFailed(what string, err error) error {
	return fmt.Errorf("set-up step %s failed with %s", what, ErrnoName(err))
}

// IsErrno reports whether err is want, nil standing for success.
func IsErrno(err, want error) bool {
	if want == nil || err == nil {
		return err == want
	}
	return errors.Is(err, want)
}

// Bits formats a mask of kind k as audit-style names, for failure messages.
func Bits(k landlock.Kind, mask uint64) string {
	if mask == 0 {
		return "none"
	}
	return strings.ReplaceAll(landlock.Names(k, mask), ",", "|")
}

// ErrnoCode carries an error across the process boundary of a process-mode action as a
// number: 0 for success, the errno, or -1 for an error that is no errno (never taken for one).
func ErrnoCode(err error) int {
	var errno unix.Errno
	switch {
	case err == nil:
		return 0
	case errors.As(err, &errno):
		return int(errno)
	}
	return -1
}

// CodeErr is the inverse of ErrnoCode.
func CodeErr(n int) error {
	switch {
	case n == 0:
		return nil
	case n < 0:
		return errors.New("an error that is no errno")
	}
	return unix.Errno(n)
}
