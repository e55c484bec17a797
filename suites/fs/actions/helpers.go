package actions

import (
	"errors"

	"golang.org/x/sys/unix"

	"github.com/llconform/llconform/internal/landlock"
	"github.com/llconform/llconform/internal/sandbox"
)

// Rule is shorthand for a path-beneath rule.
func Rule(path string, access uint64) sandbox.PathRule {
	return sandbox.PathRule{Path: path, Access: access}
}

// OpenErr opens path with flags in the calling thread and closes it, returning the open's
// error only.
func OpenErr(path string, flags int) error {
	fd, err := unix.Open(path, flags|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return err
	}
	unix.Close(fd)
	return nil
}

// OpenatErr is OpenErr relative to dirfd.
func OpenatErr(dirfd int, path string, flags int) error {
	fd, err := unix.Openat(dirfd, path, flags|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return err
	}
	unix.Close(fd)
	return nil
}

// ErrnoOf extracts the errno of err for comparisons that do not care about wrapping.
func ErrnoOf(err error) unix.Errno {
	var e unix.Errno
	if errors.As(err, &e) {
		return e
	}
	return 0
}

// AddRule adds a path-beneath rule for path to the ruleset fd.
func AddRule(fd int, path string, access uint64) error {
	pfd, err := unix.Open(path, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return sandbox.SetupFailed("open(O_PATH) of rule path "+path, err)
	}
	defer unix.Close(pfd)
	return landlock.AddPathBeneath(fd, landlock.PathBeneathAttr{AllowedAccess: access, ParentFd: int32(pfd)}, 0)
}
