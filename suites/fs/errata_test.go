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
})
