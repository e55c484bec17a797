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

const (
	rMakeChar uint64 = landlock.AccessFSMakeChar
	rMakeFifo uint64 = landlock.AccessFSMakeFifo
)

// namedOp is a control's operation and its description.
type namedOp struct {
	what string
	do   func() error
}

// controlOutside runs each op on the runner's thread, outside any Landlock domain. An op
// that fails there cannot be observed on this filesystem: the spec skips, saying which.
func controlOutside(w string, ops ...namedOp) {
	GinkgoHelper()
	for _, op := range ops {
		if err := op.do(); err != nil {
			spec.Skip("without Landlock, %s fails on %s with %s: the filesystem cannot do it, so the erratum cannot be observed here", op.what, w, spec.ErrnoName(err))
		}
	}
}

// controlGranted runs each op in a domain whose rule on w grants every right it handles.
// Such a domain allows them on every kernel, fixed or not: a denial is a Landlock defect,
// and the spec fails naming the right, the rule and the errno.
func controlGranted(handled uint64, w string, ops ...namedOp) {
	GinkgoHelper()
	p := sandbox.FS(handled, actions.Rule(w, handled))
	fns := make([]func() error, len(ops))
	for i, op := range ops {
		fns[i] = op.do
	}
	errs := runOps(p, fns...)
	for i, op := range ops {
		spec.ExpectErr(errs[i], nil, "%s (a domain granting every right it handles): %s", actions.PolicyText(p), op.what)
	}
}

var _ = suite.Describe("erratum 4: whiteouts", spec.Erratum(4), spec.Needs("root"), func() {
	BeforeEach(func() {
		spec.RequireLandlock()
		spec.RequireRoot()
	})

	It("MUST guard whiteout creation (mknod S_IFCHR 0:0, renameat2 RENAME_WHITEOUT) with MAKE_REG, not MAKE_CHAR, where erratum 4 is advertised", spec.ID("errata.e4.whiteout_mknod"), selftests("layout1.rename_whiteout_denied", "layout1.rename_whiteout_allowed", "layout1.make_whiteout"), func() {
		w := tree()
		for _, p := range []string{"p1", "c1", "g1"} {
			must(unix.Mkfifo(filepath.Join(w, p), 0o600), "mkfifo %s", p)
		}
		whiteout := func(name string) func() error {
			return func() error { return unix.Mknod(filepath.Join(w, name), unix.S_IFCHR|0o600, 0) }
		}
		renameWhiteout := func(from, to string) func() error {
			return func() error {
				return unix.Renameat2(unix.AT_FDCWD, filepath.Join(w, from), unix.AT_FDCWD, filepath.Join(w, to), unix.RENAME_WHITEOUT)
			}
		}
		makes := rMakeReg | rMakeChar | rMakeFifo | rRmFile
		// Controls, each on objects of its own: the filesystem must make whiteouts
		// without Landlock, and a domain granting everything it handles must let it.
		controlOutside(w,
			namedOp{what: "mknod(c_wh, S_IFCHR 0:0)", do: whiteout("c_wh")},
			namedOp{what: "renameat2(c1, c1moved, RENAME_WHITEOUT)", do: renameWhiteout("c1", "c1moved")})
		controlGranted(makes, w,
			namedOp{what: "mknod(g_wh, S_IFCHR 0:0)", do: whiteout("g_wh")},
			namedOp{what: "renameat2(g1, g1moved, RENAME_WHITEOUT)", do: renameWhiteout("g1", "g1moved")})

		charOnly := runOps(sandbox.FS(makes, actions.Rule(w, makes&^rMakeReg)), whiteout("wc"), renameWhiteout("p1", "p1moved"))
		regOnly := runOps(sandbox.FS(makes, actions.Rule(w, makes&^rMakeChar)), whiteout("wr"))[0]
		// The fix checks whiteouts against MAKE_REG; before it, mknod checked MAKE_CHAR and
		// RENAME_WHITEOUT checked nothing for the whiteout it leaves behind.
		seen, detail := spec.ClassifyErratum([]spec.Observation{
			{What: "mknod(S_IFCHR 0:0) with MAKE_CHAR granted, MAKE_REG not", Seen: charOnly[0], Fixed: unix.EACCES, Unfixed: nil},
			{What: "renameat2(RENAME_WHITEOUT) with MAKE_FIFO and REMOVE_FILE granted, MAKE_REG not", Seen: charOnly[1], Fixed: unix.EACCES, Unfixed: nil},
			{What: "mknod(S_IFCHR 0:0) with MAKE_REG granted, MAKE_CHAR not", Seen: regOnly, Fixed: nil, Unfixed: unix.EACCES},
		})
		spec.ErratumVerdict(4, seen, fmt.Sprintf("%s handled on %s: %s", actions.Names(makes), w, detail))
	})

	// rename_whiteout_exchange of the kernel selftests: an exchange moves an existing
	// whiteout into the other directory, which must grant what creating it there needs.
	It("MUST require MAKE_REG, not MAKE_CHAR, in the directory a whiteout is exchanged into, where erratum 4 is advertised", spec.ID("layout1.rename_whiteout_exchange"), selftests("layout1.rename_whiteout_exchange"), func() {
		if !spec.Supports(2) {
			spec.Skip("a cross-directory exchange needs REFER (ABI 2); the kernel has ABI %d", spec.Kernel().ABI)
		}
		w := tree("in/", "out/")
		in, out := filepath.Join(w, "in"), filepath.Join(w, "out")
		for _, p := range []string{"in/p1", "out/p2", "out/p3", "out/p4"} {
			must(unix.Mkfifo(filepath.Join(w, p), 0o600), "mkfifo %s", p)
		}
		for _, p := range []string{"in/wh1", "in/wh2", "in/wh3", "in/wh4"} {
			must(unix.Mknod(filepath.Join(w, p), unix.S_IFCHR|0o600, 0), "mknod whiteout %s", p)
		}
		exchange := func(a, b string) func() error {
			return func() error {
				return unix.Renameat2(unix.AT_FDCWD, filepath.Join(w, a), unix.AT_FDCWD, filepath.Join(w, b), unix.RENAME_EXCHANGE)
			}
		}
		handled := rRefer | rMakeReg | rMakeChar
		// Controls: exchanging a whiteout across directories works without Landlock, and
		// in a domain granting every right it handles.
		controlOutside(w, namedOp{what: "renameat2(out/p3, in/wh3, RENAME_EXCHANGE)", do: exchange("out/p3", "in/wh3")})
		controlGranted(handled, w, namedOp{what: "renameat2(out/p4, in/wh4, RENAME_EXCHANGE)", do: exchange("out/p4", "in/wh4")})
		// REFER on both sides; "in" grants only MAKE_REG, "out" only MAKE_CHAR, so each
		// exchange succeeds under exactly one of the two semantics.
		errs := runOps(sandbox.FS(handled, actions.Rule(w, rRefer), actions.Rule(in, rMakeReg), actions.Rule(out, rMakeChar)),
			exchange("out/p2", "in/wh1"), exchange("in/p1", "in/wh2"))
		seen, detail := spec.ClassifyErratum([]spec.Observation{
			{What: "exchange of out/p2 (FIFO) with in/wh1 (whiteout), out granting MAKE_CHAR not MAKE_REG", Seen: errs[0], Fixed: unix.EACCES, Unfixed: nil},
			{What: "exchange of in/p1 (FIFO) with in/wh2 (whiteout), in granting MAKE_REG not MAKE_CHAR", Seen: errs[1], Fixed: nil, Unfixed: unix.EACCES},
		})
		spec.ErratumVerdict(4, seen, fmt.Sprintf("%s handled, REFER on %s, MAKE_REG on in, MAKE_CHAR on out: %s", actions.Names(handled), w, detail))
	})
})

// The kernel's path_disconnected_rename and path_disconnected_link: a directory opened
// through a bind mount is moved out of the mount's source, then renamed or linked from,
// into and within through its descriptor (the helper in selftest_gaps_mountns_test.go runs
// them). A kernel with erratum 3 fixed continues the walk from a disconnected directory at
// the mount's root; one without stops at the filesystem's root. The selftests' own steps
// mostly find their rights before that point and agree on both kernels; a rename (or link)
// within the disconnected directory granted only by a rule on the bind mount's root tells
// them apart, after controls without Landlock and with a rule on the real parent.
var _ = suite.Describe("erratum 3: renames and links through disconnected directories", spec.Erratum(3), spec.Needs("root"), func() {
	BeforeEach(func() {
		spec.RequireLandlock()
		spec.RequireRoot()
	})

	// erratum3Spec checks a scenario's steps, each with what the fixed and the unfixed
	// kernel give, after its controls.
	erratum3Spec := func(scenario, outside, granted string, steps []spec.Observation) {
		GinkgoHelper()
		if !supportsOrRejected(referRight) {
			return
		}
		gaps.require(scenario)
		if err := gaps.seen(scenario + "/" + outside); err != nil {
			spec.Skip("without Landlock, %s fails with %s: erratum 3 cannot be observed here", outside, spec.ErrnoName(err))
		}
		gaps.expect(scenario+"/"+granted, nil, "a domain whose rule on the directory's new parent grants the right: %s", granted)
		for i := range steps {
			steps[i].Seen = gaps.seen(scenario + "/" + steps[i].What)
		}
		kind, detail := spec.ClassifyErratum(steps)
		spec.ErratumVerdict(3, kind, scenario+": "+detail)
	}
	same := func(what string, want error) spec.Observation {
		return spec.Observation{What: what, Fixed: want, Unfixed: want}
	}

	It("MUST evaluate renames from, to and within a directory disconnected from its bind mount against both its hierarchy and the mount's, where erratum 3 is advertised",
		spec.ID("layout1_bind.path_disconnected_rename"), spec.Selftest("fs_test", "layout1_bind.path_disconnected_rename"), func() {
			erratum3Spec("disconnected_rename", "outside_rename", "real_parent_rule_rename", []spec.Observation{
				same("open_f1", nil),
				same("dotdot_connected", unix.EACCES),
				same("dotdot_disconnected", unix.ENOENT),
				// Layer 2 grants reads on s1d2 only, the bind mount's source root.
				{What: "l2_open_f1", Fixed: nil, Unfixed: unix.EACCES},
				same("l2_open_s4d2_f1", unix.EACCES),
				same("l2_rename_back", unix.EXDEV),
				same("l2_renameat_out", unix.EXDEV),
				// make_reg and remove_file granted only on the bind mount's root.
				{What: "mount_root_rule_rename", Fixed: nil, Unfixed: unix.EACCES},
				same("rename_back", nil),
				same("l2_connected_open_fd", nil),
				same("l2_connected_open_path", nil),
				same("disconnect_again", nil),
				same("rename_within", nil),
				same("open_f2", nil),
				same("rename_out", nil),
				same("open_out_bind", nil),
				same("open_out_source", nil),
				same("rename_in", nil),
				same("reconnect", nil),
				same("final_open_fd", nil),
				same("final_open_path", nil),
			})
		})

	It("MUST evaluate links from, to and within a directory disconnected from its bind mount against both its hierarchy and the mount's, where erratum 3 is advertised",
		spec.ID("layout1_bind.path_disconnected_link"), spec.Selftest("fs_test", "layout1_bind.path_disconnected_link"), func() {
			erratum3Spec("disconnected_link", "outside_link", "real_parent_rule_link", []spec.Observation{
				same("open_f1_connected", nil),
				// make_reg granted only on the bind mount's root.
				{What: "mount_root_rule_link", Fixed: nil, Unfixed: unix.EACCES},
				same("link_out", nil),
				same("open_new", nil),
				same("open_old", nil),
				same("unlink_old", nil),
				same("link_in", nil),
				same("open_in", nil),
				same("unlink_out", nil),
				same("link_same_dir", nil),
				same("open_same_dir_path", nil),
				same("open_same_dir_fd", nil),
				same("unlink_f2", nil),
				same("link_sub", nil),
				same("open_sub_path", nil),
				same("open_sub_fd", nil),
			})
		})
})
