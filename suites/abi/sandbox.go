package abi

import (
	"os"

	. "github.com/onsi/ginkgo/v2"
	"golang.org/x/sys/unix"

	"github.com/llconform/llconform/internal/landlock"
	"github.com/llconform/llconform/internal/sandbox"
	"github.com/llconform/llconform/internal/spec"
	"github.com/llconform/llconform/suites/abi/actions"
)

var _ = suite.Describe("the sandbox harness", spec.Feature("fs.read_file", 1), func() {
	BeforeEach(spec.RequireLandlock)
	deny := sandbox.FS(landlock.AccessFSReadFile)
	It("MUST leave the runner unrestricted after a thread-mode denial", spec.ID("sandbox.thread_mode"), func() {
		res := sandbox.Thread(deny, func() error { _, err := unix.Open("/proc/self/status", unix.O_RDONLY, 0); return err })
		spec.ExpectErrno(res, unix.EACCES, "READ_FILE handled, no rule: open(/proc/self/status) in thread mode")
		fd, err := unix.Open("/proc/self/status", unix.O_RDONLY, 0)
		spec.ExpectErr(err, nil, "runner open(/proc/self/status) after the sandboxed denial")
		unix.Close(fd)
	})
	It("MUST deny in process mode and leave the runner unrestricted", spec.ID("sandbox.process_mode"), func() {
		res := sandbox.Process(deny, actions.Open, "/proc/self/status")
		spec.ExpectErrno(res, unix.EACCES, "READ_FILE handled, no rule: open(/proc/self/status) in process mode")
		f, err := os.Open("/proc/self/status")
		spec.ExpectErr(err, nil, "runner open after process-mode denial")
		f.Close()
	})
})
