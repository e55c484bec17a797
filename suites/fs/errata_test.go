package fs_test

import (
	"fmt"
	"path/filepath"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	"golang.org/x/sys/unix"

	"github.com/llconform/llconform/internal/landlock"
	"github.com/llconform/llconform/internal/sandbox"
	"github.com/llconform/llconform/internal/spec"
)

const (
	rMakeChar uint64 = landlock.AccessFSMakeChar
	rMakeFifo uint64 = landlock.AccessFSMakeFifo
)

var _ = Describe("erratum 4: whiteouts", spec.Erratum(4), spec.Needs("root"), func() {
	BeforeEach(func() {
		spec.RequireLandlock()
		spec.RequireRoot()
	})

	It("MUST guard whiteout creation (mknod S_IFCHR 0:0, renameat2 RENAME_WHITEOUT) with MAKE_REG, not MAKE_CHAR, where erratum 4 is advertised", func() {
		w := tree()
		must(unix.Mkfifo(filepath.Join(w, "p1"), 0o600), "mkfifo p1")
		must(unix.Mkfifo(filepath.Join(w, "p2"), 0o600), "mkfifo p2")
		whiteout := func(name string) func() error {
			return func() error { return unix.Mknod(filepath.Join(w, name), unix.S_IFCHR|0o600, 0) }
		}
		renameWhiteout := func(from, to string) func() error {
			return func() error {
				return unix.Renameat2(unix.AT_FDCWD, filepath.Join(w, from), unix.AT_FDCWD, filepath.Join(w, to), unix.RENAME_WHITEOUT)
			}
		}
		makes := rMakeReg | rMakeChar | rMakeFifo | rRmFile
		// Control first: with every right granted, RENAME_WHITEOUT must work on this
		// filesystem, or the observation below would mean nothing.
		control := runOps(sandbox.FS(makes, rule(w, makes)), renameWhiteout("p2", "p2moved"))[0]
		if control != nil {
			spec.Skip("renameat2(RENAME_WHITEOUT) fails without Landlock denial on %s: %s", w, spec.ErrnoName(control))
		}
		charOnly := runOps(sandbox.FS(makes, rule(w, makes&^rMakeReg)), whiteout("wc"), renameWhiteout("p1", "p1moved"))
		regOnly := runOps(sandbox.FS(makes, rule(w, makes&^rMakeChar)), whiteout("wr"))[0]

		fixed := []error{unix.EACCES, unix.EACCES, nil}
		unfixed := []error{nil, nil, unix.EACCES}
		seen := []error{charOnly[0], charOnly[1], regOnly}
		what := []string{
			"mknod(S_IFCHR 0:0) with MAKE_CHAR granted, MAKE_REG not",
			"renameat2(RENAME_WHITEOUT) with MAKE_FIFO and REMOVE_FILE granted, MAKE_REG not",
			"mknod(S_IFCHR 0:0) with MAKE_REG granted, MAKE_CHAR not",
		}
		var parts []string
		matchFixed, matchUnfixed := true, true
		for i := range seen {
			parts = append(parts, fmt.Sprintf("%s: %s", what[i], spec.ErrnoName(seen[i])))
			matchFixed = matchFixed && errnoOf(seen[i]) == errnoOf(fixed[i])
			matchUnfixed = matchUnfixed && errnoOf(seen[i]) == errnoOf(unfixed[i])
		}
		detail := strings.Join(parts, "; ")
		if !matchFixed && !matchUnfixed {
			Fail("whiteout creation behaves like neither the fixed nor the original semantics: " + detail)
		}
		spec.ErratumVerdict(4, matchFixed, detail)
	})

	// rename_whiteout_exchange of the kernel selftests: an exchange moves an existing
	// whiteout into the other directory, which must grant what creating it there needs.
	It("MUST require MAKE_REG, not MAKE_CHAR, in the directory a whiteout is exchanged into, where erratum 4 is advertised", func() {
		if !spec.Supports(2) {
			spec.Skip("a cross-directory exchange needs REFER (ABI 2); the kernel has ABI %d", spec.Kernel().ABI)
		}
		w := tree("in/", "out/")
		in, out := filepath.Join(w, "in"), filepath.Join(w, "out")
		for _, p := range []string{"in/p1", "out/p2", "out/p3"} {
			must(unix.Mkfifo(filepath.Join(w, p), 0o600), "mkfifo %s", p)
		}
		for _, p := range []string{"in/wh1", "in/wh2", "in/wh3"} {
			must(unix.Mknod(filepath.Join(w, p), unix.S_IFCHR|0o600, 0), "mknod whiteout %s", p)
		}
		exchange := func(a, b string) func() error {
			return func() error {
				return unix.Renameat2(unix.AT_FDCWD, filepath.Join(w, a), unix.AT_FDCWD, filepath.Join(w, b), unix.RENAME_EXCHANGE)
			}
		}
		handled := rRefer | rMakeReg | rMakeChar
		// Control: with every handled right granted, exchanging a whiteout across
		// directories must work on this filesystem.
		control := runOps(sandbox.FS(handled, rule(w, handled)), exchange("out/p3", "in/wh3"))[0]
		if control != nil {
			spec.Skip("renameat2(RENAME_EXCHANGE) of a whiteout fails without Landlock denial on %s: %s", w, spec.ErrnoName(control))
		}
		// REFER on both sides; "in" grants only MAKE_REG, "out" only MAKE_CHAR, so each
		// exchange succeeds under exactly one of the two semantics.
		seen := runOps(sandbox.FS(handled, rule(w, rRefer), rule(in, rMakeReg), rule(out, rMakeChar)),
			exchange("out/p2", "in/wh1"), exchange("in/p1", "in/wh2"))
		fixed := []error{unix.EACCES, nil}
		unfixed := []error{nil, unix.EACCES}
		what := []string{
			"exchange of out/p2 (FIFO) with in/wh1 (whiteout), out granting MAKE_CHAR not MAKE_REG",
			"exchange of in/p1 (FIFO) with in/wh2 (whiteout), in granting MAKE_REG not MAKE_CHAR",
		}
		var parts []string
		matchFixed, matchUnfixed := true, true
		for i := range seen {
			parts = append(parts, fmt.Sprintf("%s: %s", what[i], spec.ErrnoName(seen[i])))
			matchFixed = matchFixed && errnoOf(seen[i]) == errnoOf(fixed[i])
			matchUnfixed = matchUnfixed && errnoOf(seen[i]) == errnoOf(unfixed[i])
		}
		detail := fmt.Sprintf("REFER on %s, MAKE_REG on in, MAKE_CHAR on out: %s", w, strings.Join(parts, "; "))
		if !matchFixed && !matchUnfixed {
			Fail("whiteout exchange behaves like neither the fixed nor the original semantics: " + detail)
		}
		spec.ErratumVerdict(4, matchFixed, detail)
	})
})
