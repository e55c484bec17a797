package abi

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/sys/unix"

	"github.com/llconform/llconform/internal/landlock"
	"github.com/llconform/llconform/internal/spec"
)

var _ = suite.Describe("ruleset file descriptors", func() {
	BeforeEach(spec.RequireLandlock)

	It("MUST be created with close-on-exec set", spec.Feature("ruleset_fd.cloexec", 1), spec.ID("ruleset_fd.cloexec"), func() {
		flags, err := unix.FcntlInt(uintptr(fsRuleset()), unix.F_GETFD, 0)
		Expect(err).NotTo(HaveOccurred(), "F_GETFD on a ruleset fd")
		Expect(flags&unix.FD_CLOEXEC).NotTo(BeZero(), "ruleset fd flags %#x: FD_CLOEXEC missing", flags)
		spec.FeatureVerdict("ruleset_fd.cloexec", 1)
	})

	It("MUST fail read() and write() with EINVAL", spec.Feature("ruleset_fd.read_write", 1), spec.ID("ruleset_fd_io"), spec.Selftest("base_test", "ruleset_fd_io"), func() {
		rs := fsRuleset()
		buf := make([]byte, 8)
		_, err := unix.Read(rs, buf)
		spec.ExpectErr(err, unix.EINVAL, "read(ruleset fd, 8 bytes)")
		_, err = unix.Write(rs, buf)
		spec.ExpectErr(err, unix.EINVAL, "write(ruleset fd, 8 bytes)")
		spec.FeatureVerdict("ruleset_fd.read_write", 1)
	})

	It("MUST be an anonymous [landlock-ruleset] inode opened read-write, with a readable fdinfo", spec.Feature("ruleset_fd.fdinfo", 1), spec.ID("ruleset_fd.fdinfo"), func() {
		rs := fsRuleset()
		link, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", rs))
		Expect(err).NotTo(HaveOccurred(), "readlink of the ruleset fd")
		Expect(link).To(Equal("anon_inode:[landlock-ruleset]"), "ruleset fd target")
		info, err := os.ReadFile(fmt.Sprintf("/proc/self/fdinfo/%d", rs))
		Expect(err).NotTo(HaveOccurred(), "read fdinfo of the ruleset fd")
		var flags int64 = -1
		for _, line := range strings.Split(string(info), "\n") {
			if v, ok := strings.CutPrefix(line, "flags:"); ok {
				flags, err = strconv.ParseInt(strings.TrimSpace(v), 8, 64)
				Expect(err).NotTo(HaveOccurred(), "fdinfo flags line %q", line)
			}
		}
		Expect(flags).NotTo(BeEquivalentTo(-1), "fdinfo has no flags line: %q", info)
		// O_RDWR: add_rule needs write access to the ruleset and restrict_self read access.
		Expect(flags&unix.O_ACCMODE).To(BeEquivalentTo(unix.O_RDWR), "fdinfo flags %#o: access mode", flags)
		Expect(flags&unix.O_CLOEXEC).NotTo(BeZero(), "fdinfo flags %#o: O_CLOEXEC", flags)
		spec.FeatureVerdict("ruleset_fd.fdinfo", 1)
	})

	It("MUST stay usable after restrict_self: for more layers on other threads and for more rules", spec.Feature("ruleset_fd.reuse", 1), spec.ID("ruleset_fd.reuse"), func() {
		rs := layerRuleset()
		for thread := 1; thread <= 2; thread++ {
			res := restrictOn(withNNP, 1, rs, rs, 0)
			spec.ExpectErr(res.err, nil, "thread %d: second restrict_self with the same ruleset fd", thread)
		}
		// The fd is still a live ruleset in the runner after being enforced elsewhere.
		dir := openFd(GinkgoT().TempDir(), unix.O_PATH)
		spec.ExpectErr(pathRule(rs, landlock.AccessFSMakeBlock, dir, 0), nil, "add_rule(make_block beneath a directory) on the enforced ruleset")
		spec.FeatureVerdict("ruleset_fd.reuse", 1)
	})
})
