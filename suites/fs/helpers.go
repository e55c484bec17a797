package fs

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	"golang.org/x/sys/unix"

	"github.com/llconform/llconform/internal/landlock"
	"github.com/llconform/llconform/internal/sandbox"
	"github.com/llconform/llconform/internal/spec"
	"github.com/llconform/llconform/suites/fs/actions"
)

// allFS returns every filesystem right the running kernel supports: rulesets built from it
// are valid on the kernel, so a spec can handle "everything" on any ABI.
func allFS() uint64 {
	return landlock.Mask(landlock.KindFS, min(spec.Kernel().ABI, landlock.MaxABI))
}

// fsRight returns the right with bit b.
func fsRight(b uint64) landlock.Right {
	for _, r := range landlock.FSRights {
		if r.Bit == b {
			return r
		}
	}
	panic(fmt.Sprintf("unknown fs right %#x", b)) // a programming error in a table
}

// selftests labels a spec with the fs_test.c tests (fixture.name or name) whose behaviour
// it checks.
func selftests(tests ...string) Labels {
	var l Labels
	for _, t := range tests {
		l = append(l, spec.Selftest("fs_test", t)...)
	}
	return l
}

// tree creates files and directories under a fresh temporary directory and returns it.
// Entries ending in "/" are directories; others are regular files holding "data".
func tree(entries ...string) string {
	GinkgoHelper()
	root := GinkgoT().TempDir()
	for _, e := range entries {
		p := filepath.Join(root, e)
		if strings.HasSuffix(e, "/") {
			must(os.MkdirAll(p, 0o755), "mkdir %s", p)
			continue
		}
		must(os.MkdirAll(filepath.Dir(p), 0o755), "mkdir %s", filepath.Dir(p))
		must(os.WriteFile(p, []byte("data"), 0o644), "create %s", p)
	}
	return root
}

// must fails the spec when a set-up step of the runner fails: that is an environment
// problem, never a Landlock verdict.
func must(err error, what string, args ...any) {
	GinkgoHelper()
	if err != nil {
		Fail(fmt.Sprintf("set-up: %s: %v", fmt.Sprintf(what, args...), err))
	}
}

// runOps enforces p on a fresh thread and runs every op there, returning their errors in
// order. The ops share one domain, so each must work on its own objects.
func runOps(p sandbox.Policy, ops ...func() error) []error {
	GinkgoHelper()
	errs := make([]error, len(ops))
	res := sandbox.Thread(p, func() error {
		for i, op := range ops {
			errs[i] = op()
		}
		return nil
	})
	spec.ExpectErrno(res, nil, "enforcing %s", actions.PolicyText(p))
	return errs
}

// supportsOrRejected starts a behaviour spec of a right newer than ABI 1
// (spec.SupportedOrRejected): true where the kernel has the right; below its ABI it checks
// the right's clean rejection (expectRightRejected), records it correctly absent and
// returns false.
func supportsOrRejected(r landlock.Right) bool {
	GinkgoHelper()
	return spec.SupportedOrRejected(r.Feature(), r.ABI, func() { expectRightRejected(r) })
}

// expectRightRejected checks that the kernel refuses r both as a handled right and as a
// rule's allowed right, with EINVAL.
func expectRightRejected(r landlock.Right) {
	GinkgoHelper()
	fd, err := landlock.CreateRuleset(&landlock.RulesetAttr{HandledAccessFS: r.Bit}, landlock.RulesetAttrSizeV1, 0)
	if err == nil {
		unix.Close(fd)
	}
	spec.ExpectErr(err, unix.EINVAL, "ABI %d kernel: create_ruleset handling %s (ABI %d)", spec.Kernel().ABI, r, r.ABI)

	fd, err = landlock.CreateRuleset(&landlock.RulesetAttr{HandledAccessFS: landlock.AccessFSExecute | landlock.AccessFSReadDir}, landlock.RulesetAttrSizeV1, 0)
	must(err, "create_ruleset handling execute and read_dir")
	defer unix.Close(fd)
	dir, err := unix.Open("/", unix.O_PATH|unix.O_CLOEXEC, 0)
	must(err, "open / O_PATH")
	defer unix.Close(dir)
	err = landlock.AddPathBeneath(fd, landlock.PathBeneathAttr{AllowedAccess: r.Bit | landlock.AccessFSExecute, ParentFd: int32(dir)}, 0)
	spec.ExpectErr(err, unix.EINVAL, "ABI %d kernel: add_rule(/, %s|fs.execute) on a ruleset handling execute and read_dir", spec.Kernel().ABI, r)
}
