package fs

import (
	"fmt"
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	"golang.org/x/sys/unix"

	"github.com/llconform/llconform/internal/landlock"
	"github.com/llconform/llconform/internal/sandbox"
	"github.com/llconform/llconform/internal/spec"
	"github.com/llconform/llconform/suites/fs/actions"
)

const rTrunc uint64 = landlock.AccessFSTruncate

var truncRight = fsRight(rTrunc)

func truncated(path string, want error) check {
	return check{what: "truncate(" + path + ")", do: func() error { return unix.Truncate(path, 1) }, want: want}
}

// ftruncatedAfterOpen opens path O_WRONLY and ftruncates the descriptor: the open itself
// must succeed (WRITE_FILE is granted), the ftruncate gives the verdict.
func ftruncatedAfterOpen(path string, want error) check {
	return check{what: "open(" + path + ", O_WRONLY) then ftruncate", do: func() error {
		fd, err := unix.Open(path, unix.O_WRONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return spec.SetupFailed("open(O_WRONLY) before ftruncate", err)
		}
		defer unix.Close(fd)
		return unix.Ftruncate(fd, 1)
	}, want: want}
}

var _ = suite.Describe("truncation", spec.Feature(truncRight.Feature(), truncRight.ABI), func() {
	BeforeEach(spec.RequireLandlock)

	It("MUST deny truncate(2), ftruncate, O_TRUNC and creat of an existing file with EACCES without TRUNCATE, and allow them with it", spec.ID("layout1.truncate"), selftests("layout1.truncate", "ftruncate.open_and_ftruncate"), func() {
		if !supportsOrRejected(truncRight) {
			return
		}
		w := tree("t/f", "t/g", "n/f", "n/g")
		t, n := filepath.Join(w, "t"), filepath.Join(w, "n")
		handled := rRW | rTrunc | rMakeReg
		expectChecks(sandbox.FS(handled, actions.Rule(t, handled), actions.Rule(n, handled&^rTrunc)),
			truncated(filepath.Join(t, "f"), nil),
			truncated(filepath.Join(n, "f"), unix.EACCES),
			ftruncatedAfterOpen(filepath.Join(t, "g"), nil),
			ftruncatedAfterOpen(filepath.Join(n, "g"), unix.EACCES),
			opened(filepath.Join(t, "f"), unix.O_WRONLY|unix.O_TRUNC, nil),
			opened(filepath.Join(n, "f"), unix.O_WRONLY|unix.O_TRUNC, unix.EACCES),
			opened(filepath.Join(n, "f"), unix.O_RDONLY|unix.O_TRUNC, unix.EACCES),
			opened(filepath.Join(n, "f"), unix.O_CREAT|unix.O_WRONLY|unix.O_TRUNC, unix.EACCES),
			// creat(2) of a new file truncates nothing: MAKE_REG is enough.
			opened(filepath.Join(n, "new"), unix.O_CREAT|unix.O_WRONLY|unix.O_TRUNC, nil),
		)
		spec.EnforcedVerdict(truncRight.Feature(), truncRight.ABI)
	})

	It("MUST decide ftruncate at open time: a descriptor keeps the truncation right it was opened with", spec.ID("layout1.ftruncate"), selftests("layout1.ftruncate"), func() {
		if !supportsOrRejected(truncRight) {
			return
		}
		w := tree("f")
		var before, layer1, layer2 error
		err := sandbox.OnThread(func() error {
			open := func() (int, error) { return unix.Open(f(w), unix.O_WRONLY|unix.O_CLOEXEC, 0) }
			fd0, err := open()
			if err != nil {
				return fmt.Errorf("open before any domain: %w", err)
			}
			defer unix.Close(fd0)
			if err := sandbox.FS(rWrite|rTrunc, actions.Rule(w, rWrite|rTrunc)).Enforce(); err != nil {
				return fmt.Errorf("enforce layer 1: %w", err)
			}
			fd1, err := open()
			if err != nil {
				return fmt.Errorf("open in layer 1: %w", err)
			}
			defer unix.Close(fd1)
			if err := sandbox.FS(rWrite|rTrunc, actions.Rule(w, rWrite)).Enforce(); err != nil {
				return fmt.Errorf("enforce layer 2: %w", err)
			}
			fd2, err := open()
			if err != nil {
				return fmt.Errorf("open in layer 2: %w", err)
			}
			defer unix.Close(fd2)
			before, layer1, layer2 = unix.Ftruncate(fd0, 1), unix.Ftruncate(fd1, 1), unix.Ftruncate(fd2, 1)
			return nil
		})
		must(err, "run on a sandbox thread")
		spec.ExpectErr(before, nil, "ftruncate, inside a layer denying truncation, of a descriptor opened before any domain")
		spec.ExpectErr(layer1, nil, "ftruncate, inside a layer denying truncation, of a descriptor opened while truncation was granted")
		spec.ExpectErr(layer2, unix.EACCES, "ftruncate of a descriptor opened inside the layer denying truncation")
		spec.EnforcedVerdict(truncRight.Feature(), truncRight.ABI)
	})

	It("MUST keep denying ftruncate on a descriptor opened without TRUNCATE once it is used outside the domain", spec.ID("ftruncate.open_and_ftruncate_in_different_processes"), selftests("ftruncate.open_and_ftruncate_in_different_processes"), func() {
		if !supportsOrRejected(truncRight) {
			return
		}
		w := tree("f")
		fd := -1
		res := sandbox.Thread(sandbox.FS(rWrite|rTrunc, actions.Rule(w, rWrite)), func() error {
			var err error
			fd, err = unix.Open(f(w), unix.O_WRONLY|unix.O_CLOEXEC, 0)
			return err
		})
		spec.ExpectErrno(res, nil, "open(O_WRONLY) with write_file granted, truncate handled and not granted")
		defer unix.Close(fd)
		spec.ExpectErr(unix.Ftruncate(fd, 1), unix.EACCES, "ftruncate by the unrestricted runner of a descriptor opened inside the domain without truncate")
		spec.EnforcedVerdict(truncRight.Feature(), truncRight.ABI)
	})

	It("MUST NOT restrict truncation when TRUNCATE is unknown (below ABI 3) or not handled, even with every other right handled", spec.ID("layout1.truncate_unhandled"), selftests("layout1.truncate_unhandled"), func() {
		w := tree("f", "g")
		handled := allFS() &^ rTrunc
		var pre error
		var fd int
		pre = func() error {
			var err error
			fd, err = unix.Open(filepath.Join(w, "g"), unix.O_WRONLY|unix.O_CLOEXEC, 0)
			return err
		}()
		must(pre, "open before the domain")
		defer unix.Close(fd)
		expectChecks(sandbox.FS(handled),
			truncated(f(w), nil),
			check{what: "ftruncate of a descriptor opened before the domain", do: func() error { return unix.Ftruncate(fd, 1) }, want: nil},
			opened(f(w), unix.O_WRONLY|unix.O_TRUNC, unix.EACCES),
		)
		if !spec.Supports(truncRight.ABI) {
			expectRightRejected(truncRight)
		}
		spec.FeatureVerdict(truncRight.Feature(), truncRight.ABI)
	})

	It("MUST return EBADF, not EACCES, for ftruncate and ioctl on O_PATH descriptors", spec.ID("layout1.o_path_ftruncate_and_ioctl"), selftests("layout1.o_path_ftruncate_and_ioctl"), func() {
		w := tree("f")
		opath := func() error {
			fd, err := unix.Open(f(w), unix.O_PATH|unix.O_CLOEXEC, 0)
			if err != nil {
				return spec.SetupFailed("open(O_PATH)", err)
			}
			defer unix.Close(fd)
			if err := unix.Ftruncate(fd, 1); err != unix.EBADF {
				return fmt.Errorf("ftruncate: got %s, want EBADF", spec.ErrnoName(err))
			}
			if _, err := unix.IoctlGetInt(fd, unix.FS_IOC_GETFLAGS); err != unix.EBADF {
				return fmt.Errorf("ioctl(FS_IOC_GETFLAGS): got %s, want EBADF", spec.ErrnoName(err))
			}
			return nil
		}
		must(opath(), "without a domain")
		expectChecks(sandbox.FS(allFS()), check{what: "O_PATH open, ftruncate and ioctl", do: opath, want: nil})
		spec.FeatureVerdict(truncRight.Feature(), truncRight.ABI)
	})
})
