package fs

import (
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	"golang.org/x/sys/unix"

	"github.com/llconform/llconform/internal/landlock"
	"github.com/llconform/llconform/internal/sandbox"
	"github.com/llconform/llconform/internal/spec"
	"github.com/llconform/llconform/suites/fs/actions"
)

const (
	rRefer   uint64 = landlock.AccessFSRefer
	rMakeReg uint64 = landlock.AccessFSMakeReg
	rRmFile  uint64 = landlock.AccessFSRemoveFile
	rMakeDir uint64 = landlock.AccessFSMakeDir
	rRmDir   uint64 = landlock.AccessFSRemoveDir
	rExec    uint64 = landlock.AccessFSExecute
)

func renamed(from, to string, want error) check {
	return check{what: "rename(" + from + ", " + to + ")", do: func() error { return unix.Rename(from, to) }, want: want}
}

func exchanged(a, b string, want error) check {
	return check{what: "renameat2(" + a + ", " + b + ", RENAME_EXCHANGE)", do: func() error {
		return unix.Renameat2(unix.AT_FDCWD, a, unix.AT_FDCWD, b, unix.RENAME_EXCHANGE)
	}, want: want}
}

func linked(from, to string, want error) check {
	return check{what: "link(" + from + ", " + to + ")", do: func() error { return unix.Link(from, to) }, want: want}
}

// referLayout is w/s/{f1,f2,f3} and w/d/{g1,g2}: a source and a destination directory.
func referLayout() (s, d string) {
	w := tree("s/f1", "s/f2", "s/f3", "d/g1", "d/g2")
	return filepath.Join(w, "s"), filepath.Join(w, "d")
}

var referRight = fsRight(rRefer)

var _ = suite.Describe("reparenting (link and rename across directories)", func() {
	BeforeEach(spec.RequireLandlock)

	It("MUST deny cross-directory link and rename with EXDEV in a domain that does not handle REFER, and allow them within one directory", spec.Feature("fs.reparent", 1), spec.ID("refer.unhandled_exdev"), selftests("layout1.link", "layout1.rename_file", "layout1.rename_dir"), func() {
		s, d := referLayout()
		// The ABI 1 rights only: what an ABI 1 program would handle.
		all1 := landlock.Mask(landlock.KindFS, 1)
		expectChecks(sandbox.FS(all1, actions.Rule(s, all1), actions.Rule(d, all1)),
			renamed(filepath.Join(s, "f1"), filepath.Join(d, "f1"), unix.EXDEV),
			linked(filepath.Join(s, "f2"), filepath.Join(d, "f2"), unix.EXDEV),
			exchanged(filepath.Join(s, "f3"), filepath.Join(d, "g1"), unix.EXDEV),
			renamed(filepath.Join(s, "f1"), filepath.Join(s, "f1b"), nil),
			linked(filepath.Join(d, "g2"), filepath.Join(d, "g2b"), nil),
		)
		spec.EnforcedVerdict("fs.reparent", 1)
	})

	It("MUST deny a cross-directory rename with EXDEV when a second layer does not handle REFER although the first grants it", spec.Feature(referRight.Feature(), 2), spec.ID("layout1.refer_denied_by_default1"), selftests("layout1.refer_denied_by_default1"), func() {
		if !supportsOrRejected(referRight) {
			return
		}
		s, d := referLayout()
		w := filepath.Dir(s)
		withRefer := sandbox.FS(rRefer, actions.Rule(w, rRefer))
		expectChecks(withRefer,
			renamed(filepath.Join(s, "f1"), filepath.Join(d, "f1"), nil),
			exchanged(filepath.Join(s, "f2"), filepath.Join(d, "g1"), nil),
		)
		expectChecks(withRefer.Then(sandbox.FS(rExec, actions.Rule(w, rExec))),
			renamed(filepath.Join(s, "f3"), filepath.Join(d, "f3"), unix.EXDEV),
			exchanged(filepath.Join(d, "g2"), filepath.Join(s, "f2"), unix.EXDEV),
		)
		spec.EnforcedVerdict(referRight.Feature(), 2)
	})

	It("MUST allow cross-directory link, rename and exchange only with REFER on both sides (EXDEV otherwise)", spec.Feature(referRight.Feature(), 2), spec.ID("refer.both_sides"), selftests("layout1.reparent_refer", "layout1.reparent_link", "layout1.reparent_rename"), func() {
		if !supportsOrRejected(referRight) {
			return
		}
		handled := rRefer | rMakeReg | rRmFile
		s, d := referLayout()
		expectChecks(sandbox.FS(handled, actions.Rule(s, handled), actions.Rule(d, handled)),
			renamed(filepath.Join(s, "f1"), filepath.Join(d, "f1"), nil),
			linked(filepath.Join(s, "f2"), filepath.Join(d, "f2"), nil),
			exchanged(filepath.Join(s, "f3"), filepath.Join(d, "g1"), nil),
		)
		s, d = referLayout()
		expectChecks(sandbox.FS(handled, actions.Rule(s, handled), actions.Rule(d, rMakeReg|rRmFile)),
			renamed(filepath.Join(s, "f1"), filepath.Join(d, "f1"), unix.EXDEV),
			linked(filepath.Join(s, "f2"), filepath.Join(d, "f2"), unix.EXDEV),
			exchanged(filepath.Join(s, "f3"), filepath.Join(d, "g1"), unix.EXDEV),
		)
		s, d = referLayout()
		expectChecks(sandbox.FS(handled, actions.Rule(s, rMakeReg|rRmFile), actions.Rule(d, handled)),
			renamed(filepath.Join(s, "f1"), filepath.Join(d, "f1"), unix.EXDEV),
			linked(filepath.Join(s, "f2"), filepath.Join(d, "f2"), unix.EXDEV),
		)
		spec.EnforcedVerdict(referRight.Feature(), 2)
	})

	It("MUST return EACCES rather than EXDEV when creation or removal is denied as well", spec.Feature(referRight.Feature(), 2), spec.ID("refer.eacces_before_exdev"), selftests("layout1.reparent_link", "layout1.reparent_rename", "layout1.rename_file"), func() {
		if !supportsOrRejected(referRight) {
			return
		}
		handled := rRefer | rMakeReg | rRmFile
		s, d := referLayout()
		// d lacks both REFER and MAKE_REG; s lacks REMOVE_FILE in the second case.
		expectChecks(sandbox.FS(handled, actions.Rule(s, handled), actions.Rule(d, rRmFile)),
			renamed(filepath.Join(s, "f1"), filepath.Join(d, "f1"), unix.EACCES),
			linked(filepath.Join(s, "f2"), filepath.Join(d, "f2"), unix.EACCES),
			exchanged(filepath.Join(s, "f3"), filepath.Join(d, "g1"), unix.EACCES),
		)
		s, d = referLayout()
		expectChecks(sandbox.FS(handled, actions.Rule(s, rRefer|rMakeReg), actions.Rule(d, handled)),
			renamed(filepath.Join(s, "f1"), filepath.Join(d, "f1"), unix.EACCES),
			linked(filepath.Join(s, "f2"), filepath.Join(d, "f2"), nil),
		)
		spec.EnforcedVerdict(referRight.Feature(), 2)
	})

	It("MUST deny with EXDEV a move that would gain rights, and allow the reverse move that loses them", spec.Feature(referRight.Feature(), 2), spec.ID("refer.gain_denied"), selftests("layout1.reparent_dom_superset"), func() {
		if !supportsOrRejected(referRight) {
			return
		}
		handled := rRefer | rMakeReg | rRmFile | rRead
		s, d := referLayout()
		// Files beneath d may be read; files beneath s may not.
		expectChecks(sandbox.FS(handled, actions.Rule(s, rRefer|rMakeReg|rRmFile), actions.Rule(d, handled)),
			renamed(filepath.Join(s, "f1"), filepath.Join(d, "f1"), unix.EXDEV),
			linked(filepath.Join(s, "f2"), filepath.Join(d, "f2"), unix.EXDEV),
			exchanged(filepath.Join(s, "f3"), filepath.Join(d, "g1"), unix.EXDEV),
			renamed(filepath.Join(d, "g2"), filepath.Join(s, "g2"), nil),
		)
		spec.EnforcedVerdict(referRight.Feature(), 2)
	})

	It("MUST count a moved directory's own rules: moving it keeps them, so only rights it lacked are a gain", spec.Feature(referRight.Feature(), 2), spec.ID("refer.moved_dir_own_rules"), selftests("layout1.reparent_rename", "layout1.reparent_dom_superset"), func() {
		if !supportsOrRejected(referRight) {
			return
		}
		handled := rRefer | rMakeDir | rRmDir | rMakeReg
		w := tree("s/withrule/", "s/plain/", "d/")
		s, d := filepath.Join(w, "s"), filepath.Join(w, "d")
		base := rRefer | rMakeDir | rRmDir
		expectChecks(sandbox.FS(handled, actions.Rule(s, base), actions.Rule(d, base|rMakeReg), actions.Rule(filepath.Join(s, "withrule"), rMakeReg)),
			renamed(filepath.Join(s, "plain"), filepath.Join(d, "plain"), unix.EXDEV),
			renamed(filepath.Join(s, "withrule"), filepath.Join(d, "withrule"), nil),
			renamed(filepath.Join(d, "withrule"), filepath.Join(s, "withrule2"), nil),
		)
		spec.EnforcedVerdict(referRight.Feature(), 2)
	})

	It("MUST need REMOVE_FILE or REMOVE_DIR matching the type of the object moved away or replaced, before the VFS type errors", spec.Feature(referRight.Feature(), 2), spec.ID("layout1.reparent_remove"), selftests("layout1.reparent_remove"), func() {
		if !supportsOrRejected(referRight) {
			return
		}
		handled := rRefer | rRmDir | rRmFile
		w := tree("s/f", "s/sub/", "d/g", "d/dir/")
		s, d := filepath.Join(w, "s"), filepath.Join(w, "d")
		// s may only remove directories, d only files.
		expectChecks(sandbox.FS(handled, actions.Rule(s, rRefer|rRmDir), actions.Rule(d, rRefer|rRmFile)),
			renamed(filepath.Join(s, "f"), filepath.Join(d, "g"), unix.EACCES),
			exchanged(filepath.Join(s, "f"), filepath.Join(d, "g"), unix.EACCES),
			// d may not remove a directory: EACCES, before the VFS's ENOTDIR.
			renamed(filepath.Join(d, "dir"), filepath.Join(s, "f"), unix.EACCES),
		)
		spec.EnforcedVerdict(referRight.Feature(), 2)
	})
})
