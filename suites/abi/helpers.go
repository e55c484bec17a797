package abi

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/sys/unix"

	"github.com/llconform/llconform/internal/landlock"
	"github.com/llconform/llconform/internal/report"
	"github.com/llconform/llconform/internal/sandbox"
	"github.com/llconform/llconform/internal/spec"
)

// This file holds what the abi specs share: a model of which errno landlock_create_ruleset
// returns for a given attr on the kernel's claimed ABI, descriptor helpers, and per-thread
// helpers for the restrict_self specs.

// kernelABI is the ABI the kernel claims.
func kernelABI() int { return spec.Kernel().ABI }

// requireKnownABI skips specs about "every other bit": on a kernel newer than llconform,
// a bit llconform does not know may be one the kernel legitimately accepts.
func requireKnownABI() {
	if kernelABI() > landlock.MaxABI {
		spec.Skip("the kernel claims ABI %d, newer than the %d llconform knows: which bits and sizes it accepts is unknown",
			kernelABI(), landlock.MaxABI)
	}
}

// attrBytes lays out attr as the kernel reads it, in a buffer of at least n bytes whose tail
// past the struct is zero.
func attrBytes(attr landlock.RulesetAttr, n int) []byte {
	buf := make([]byte, max(n, landlock.RulesetAttrSize))
	copy(buf, attr.Bytes())
	return buf
}

// tryCreate calls landlock_create_ruleset(buf, size, 0) and closes the ruleset it may get.
func tryCreate(buf []byte, size int) error {
	fd, err := landlock.CreateRulesetRaw(buf, size, 0)
	if err == nil {
		unix.Close(fd)
	}
	return err
}

// describeAttr names the non-zero fields of attr for failure messages.
func describeAttr(a landlock.RulesetAttr) string {
	var parts []string
	add := func(name string, k landlock.Kind, v uint64) {
		if v != 0 {
			parts = append(parts, name+"="+spec.Bits(k, v))
		}
	}
	add("handled_access_fs", landlock.KindFS, a.HandledAccessFS)
	add("handled_access_net", landlock.KindNet, a.HandledAccessNet)
	add("scoped", landlock.KindScope, a.Scoped)
	add("quiet_access_fs", landlock.KindFS, a.QuietAccessFS)
	add("quiet_access_net", landlock.KindNet, a.QuietAccessNet)
	add("quiet_scoped", landlock.KindScope, a.QuietScoped)
	if len(parts) == 0 {
		return "empty attr"
	}
	return strings.Join(parts, " ")
}

// newRuleset creates a ruleset the kernel must accept, closed when the spec ends. The full
// struct size is always acceptable: fields the kernel does not know are zero.
func newRuleset(attr landlock.RulesetAttr) int {
	GinkgoHelper()
	fd, err := landlock.CreateRuleset(&attr, landlock.RulesetAttrSize, 0)
	Expect(err).NotTo(HaveOccurred(), "create_ruleset(%s)", describeAttr(attr))
	DeferCleanup(unix.Close, fd)
	return fd
}

// fsRuleset handles filesystem rights only: every ABI accepts it.
func fsRuleset() int {
	GinkgoHelper()
	return newRuleset(landlock.RulesetAttr{HandledAccessFS: landlock.AccessFSExecute | landlock.AccessFSReadFile})
}

// openFd opens path with flags for the duration of the spec.
func openFd(path string, flags int) int {
	GinkgoHelper()
	fd, err := unix.Open(path, flags|unix.O_CLOEXEC, 0)
	Expect(err).NotTo(HaveOccurred(), "open %s", path)
	DeferCleanup(unix.Close, fd)
	return fd
}

// tempFile creates a regular file in the spec's temporary directory and returns its path.
func tempFile() string {
	GinkgoHelper()
	path := filepath.Join(GinkgoT().TempDir(), "file")
	Expect(os.WriteFile(path, []byte("llconform"), 0o600)).To(Succeed())
	return path
}

// closedFd is a descriptor number that is not open. A number just closed could be reused by
// another goroutine, so one just below the descriptor limit is used instead.
func closedFd() int {
	GinkgoHelper()
	var lim unix.Rlimit
	Expect(unix.Getrlimit(unix.RLIMIT_NOFILE, &lim)).To(Succeed())
	fd := int(min(lim.Cur, 1<<20)) - 1
	_, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	Expect(err).To(MatchError(unix.EBADF), "fd %d must not be open", fd)
	return fd
}

// pathRef returns an O_PATH descriptor referring to the same file as fd: for a ruleset, a
// descriptor that the kernel's fdget does not return, and whose file is not a ruleset.
func pathRef(fd int) int {
	GinkgoHelper()
	return openFd(fmt.Sprintf("/proc/self/fd/%d", fd), unix.O_PATH)
}

// pipeFd returns the read end of a new pipe.
func pipeFd() int {
	GinkgoHelper()
	var p [2]int
	Expect(unix.Pipe2(p[:], unix.O_CLOEXEC)).To(Succeed())
	DeferCleanup(unix.Close, p[0])
	DeferCleanup(unix.Close, p[1])
	return p[0]
}

// socketFd returns one end of a new UNIX socket pair.
func socketFd() int {
	GinkgoHelper()
	p, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	Expect(err).NotTo(HaveOccurred(), "socketpair")
	DeferCleanup(unix.Close, p[0])
	DeferCleanup(unix.Close, p[1])
	return p[0]
}

// onThread runs fn on a throwaway OS thread (see sandbox.OnThread). fn only records what
// it sees; the spec asserts afterwards, on its own goroutine.
func onThread(fn func() error) {
	GinkgoHelper()
	Expect(sandbox.OnThread(fn)).To(Succeed(), "sandbox thread")
}

// setNoNewPrivs sets no_new_privs on the calling thread.
func setNoNewPrivs() error {
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("set no_new_privs: %w", err)
	}
	return nil
}

// noNewPrivs reads the calling thread's no_new_privs.
func noNewPrivs() (bool, error) {
	v, err := unix.PrctlRetInt(unix.PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0)
	if err != nil {
		return false, fmt.Errorf("get no_new_privs: %w", err)
	}
	return v == 1, nil
}

// dropSysAdmin removes CAP_SYS_ADMIN from the calling thread's effective and permitted
// sets (capset acts on the calling thread only) and checks that it is gone.
func dropSysAdmin() error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capget: %w", err)
	}
	const bit = uint32(1) << unix.CAP_SYS_ADMIN // CAP_SYS_ADMIN (21) lives in the first word
	data[0].Effective &^= bit
	data[0].Permitted &^= bit
	data[0].Inheritable &^= bit
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capset without CAP_SYS_ADMIN: %w", err)
	}
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capget: %w", err)
	}
	if data[0].Effective&bit != 0 {
		return fmt.Errorf("CAP_SYS_ADMIN still effective after capset")
	}
	return nil
}

// requireNewPrivs skips specs that need a thread without no_new_privs when the runner
// itself already has it (inherited from whatever started it): it cannot be unset.
func requireNewPrivs() {
	set, err := noNewPrivs()
	Expect(err).NotTo(HaveOccurred())
	if set {
		spec.Skip("the runner already runs with no_new_privs (inherited), so a thread without it cannot be made")
	}
}

// unprivilegedThread prepares the calling (throwaway) thread for the EPERM rule: no
// CAP_SYS_ADMIN and, as inherited from the runner, no no_new_privs.
func unprivilegedThread() error {
	if err := dropSysAdmin(); err != nil {
		return err
	}
	if set, err := noNewPrivs(); err != nil || set {
		return fmt.Errorf("no_new_privs on a fresh thread: set=%v, %v", set, err)
	}
	return nil
}

// errataVerdict records the verdict of the errata query. The query came with ABI 7 but
// stable kernels of lower ABI have it by backport: accepted there, it works; rejected there,
// it is correctly absent. Every spec labelled create_ruleset.errata records it this way, so
// that their verdicts agree.
func errataVerdict() {
	_, err := landlock.Errata()
	if err == nil && !spec.Supports(7) {
		spec.Verdict(report.Verdict{Feature: "create_ruleset.errata", ABI: 7, Outcome: report.Works,
			Detail: fmt.Sprintf("errata query backported to ABI %d", kernelABI())})
		return
	}
	spec.FeatureVerdict("create_ruleset.errata", 7)
}

// want returns ok when the kernel's ABI includes abi and otherwise the errno of a kernel
// that does not know the feature.
func want(abi int, ok, otherwise error) error {
	if spec.Supports(abi) {
		return ok
	}
	return otherwise
}

// baseTests labels a spec with the tests of base_test.c it checks, if any.
func baseTests(tests ...string) Labels {
	var labels Labels
	for _, t := range tests {
		labels = append(labels, spec.Selftest("base_test", t)...)
	}
	return labels
}

// devNull opens /dev/null for the duration of the spec: the selftests' descriptor that is
// not a ruleset.
func devNull() int {
	GinkgoHelper()
	return openFd("/dev/null", unix.O_RDONLY)
}
