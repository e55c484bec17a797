package fs_test

import (
	"fmt"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	"golang.org/x/sys/unix"

	"github.com/llconform/llconform/internal/spec"
)

// The layout4_disconnected_leafs and layout5_disconnected_branch selftests: directories
// opened through bind mounts and then moved out of the mounts' sources (disconnected),
// with one ruleset per variant, a read, a rename and an exchange between two disconnected
// directories, and a rename within one. The helper (selftest_gaps_mountns_test.go) runs
// them; these tables say what each variant grants and what a kernel gives.
//
// The selftests' expectations are those of a kernel with erratum 3 fixed, whose walk from
// a disconnected directory goes on from the mount's root once it reaches the root of the
// filesystem. A kernel without the fix stops there. That changes the read and the
// same-directory rename, which walk from the disconnected directory itself, where the
// variant's rights come only from beyond that point (the mount's root and above); for
// layout5 it also changes the rename and the exchange, whose walk from the first mount's
// root crosses the disconnected branch of the second. Variants where both kernels agree
// are plain REFER specs; the others are erratum 3 specs.

// disconnHandled is what every variant's ruleset handles.
const disconnHandled = rRefer | rRead | rExec | rMakeReg

// disconnOps names the four operations, in the order of disconnVariant.want.
var disconnOps = [4]string{"read", "rename", "exchange", "same_dir_rename"}

type disconnRule struct {
	path   string // relative to the variant's layout; covered directories are ruled through an fd
	access uint64
}

type disconnVariant struct {
	name  string
	rules []disconnRule
	// want is what a kernel with erratum 3 fixed gives for each of disconnOps (the
	// selftest's expectations); unfixed overrides it for a kernel without the fix.
	want    [4]error
	unfixed map[int]error
}

const (
	opRead = iota
	opRename
	opExchange
	opSameDir
)

var (
	allEACCES   = [4]error{unix.EACCES, unix.EACCES, unix.EACCES, unix.EACCES}
	readOnly    = [4]error{nil, unix.EACCES, unix.EACCES, unix.EACCES}
	createOnly  = [4]error{nil, unix.EXDEV, unix.EXDEV, nil}
	renameOnly  = [4]error{unix.EACCES, nil, nil, nil}
	moreRights  = [4]error{unix.EACCES, unix.EXDEV, unix.EXDEV, nil}
	lessRights  = [4]error{unix.EACCES, nil, unix.EXDEV, nil}
	everything  = [4]error{nil, nil, nil, nil}
	fullRights  = rRefer | rRead | rExec | rMakeReg
	referRead   = rRefer | rRead
	readCreate  = rRead | rMakeReg
	referCreate = rRefer | rMakeReg
)

func rules(pairs ...any) []disconnRule {
	var rs []disconnRule
	for i := 0; i < len(pairs); i += 2 {
		rs = append(rs, disconnRule{path: pairs[i].(string), access: pairs[i+1].(uint64)})
	}
	return rs
}

func unfixedAll(err error, ops ...int) map[int]error {
	m := map[int]error{}
	for _, op := range ops {
		m[op] = err
	}
	return m
}

// Layout4 paths: s1d1/s1d2 is bind-mounted on s2d1/s2d2; s1d41 (under s1d31) moves to
// s3d1, s1d42 (under s1d32) to s4d1.
const (
	l4s1d2  = "s1d1/s1d2"
	l4s1d31 = "s1d1/s1d2/s1d31"
	l4s1d32 = "s1d1/s1d2/s1d32"
	l4s1d41 = "s1d1/s1d2/s1d31/s1d41"
	l4s1d42 = "s1d1/s1d2/s1d32/s1d42"
)

var layout4Variants = []disconnVariant{
	{name: "s1d1_mount_src_parent", rules: rules("s1d1", fullRights), want: allEACCES},
	{name: "s1d2_mount_src_refer", rules: rules(l4s1d2, referRead), want: readOnly, unfixed: unfixedAll(unix.EACCES, opRead)},
	{name: "s1d2_mount_src_create", rules: rules(l4s1d2, readCreate), want: createOnly, unfixed: unfixedAll(unix.EACCES, opRead, opSameDir)},
	{name: "s1d2_mount_src_rename", rules: rules(l4s1d2, referCreate), want: renameOnly, unfixed: unfixedAll(unix.EACCES, opSameDir)},
	{name: "s1d31_s1d32_old_parent", rules: rules(l4s1d31, fullRights, l4s1d32, fullRights), want: allEACCES},
	{name: "s1d41_s1d42_disconnected_refer", rules: rules(l4s1d41, referRead, l4s1d42, referRead), want: readOnly},
	{name: "s1d41_s1d42_disconnected_create", rules: rules(l4s1d41, readCreate, l4s1d42, readCreate), want: createOnly},
	{name: "s1d41_s1d42_disconnected_rename_even", rules: rules(l4s1d41, referCreate, l4s1d42, referCreate), want: renameOnly},
	{name: "s1d41_s1d42_disconnected_rename_more", rules: rules(l4s1d41, referCreate, l4s1d42, referCreate|rExec), want: moreRights},
	{name: "s1d41_s1d42_disconnected_rename_less", rules: rules(l4s1d41, referCreate|rExec, l4s1d42, referCreate), want: lessRights},
	{name: "s2d1_mount_dst_parent_create", rules: rules("s2d1", readCreate), want: createOnly, unfixed: unfixedAll(unix.EACCES, opRead, opSameDir)},
	{name: "s2d1_mount_dst_parent_refer", rules: rules("s2d1", referRead), want: readOnly, unfixed: unfixedAll(unix.EACCES, opRead)},
	{name: "s2d1_mount_dst_parent_mini", rules: rules("s2d1", referRead|rMakeReg), want: everything, unfixed: unfixedAll(unix.EACCES, opRead, opSameDir)},
	{name: "s2d2_covered_by_mount", rules: rules("s2d1/s2d2", fullRights), want: allEACCES},
	{name: "s3d1_s4d1_new_parent_refer", rules: rules("s3d1", referRead, "s4d1", referRead), want: readOnly},
	{name: "s3d1_s4d1_new_parent_create", rules: rules("s3d1", readCreate, "s4d1", readCreate), want: createOnly},
	{name: "s3d1_s4d1_disconnected_rename_even", rules: rules("s3d1", referCreate, "s4d1", referCreate), want: renameOnly},
	{name: "s3d1_s4d1_disconnected_rename_more", rules: rules("s3d1", referCreate, "s4d1", referCreate|rExec), want: moreRights},
	{name: "s3d1_s4d1_disconnected_rename_less", rules: rules("s3d1", referCreate|rExec, "s4d1", referCreate), want: lessRights},
	{name: "f1_f2_f3", rules: rules(l4s1d41+"/f1", rRead, l4s1d41+"/f2", rRead, l4s1d42+"/f3", rRead), want: readOnly},
}

// Layout5 paths: s1d1/s1d2 is bind-mounted on s2d1/s2d2/s2d3/s2d4, s2d1/s2d2 recursively
// on s3d1/s3d2, and s2d3 moves to s4d1.
const (
	l5s1d2 = "s1d1/s1d2"
	l5s1d3 = "s1d1/s1d2/s1d3"
	l5s2d2 = "s2d1/s2d2"
	l5s2d3 = "s2d1/s2d2/s2d3"
)

var layout5Variants = []disconnVariant{
	{name: "s1d1_mount1_src_parent", rules: rules("s1d1", fullRights), want: allEACCES},
	{name: "s1d2_mount1_src_refer", rules: rules(l5s1d2, referRead), want: readOnly},
	{name: "s1d2_mount1_src_create", rules: rules(l5s1d2, readCreate), want: createOnly},
	{name: "s1d2_mount1_src_rename", rules: rules(l5s1d2, referCreate), want: renameOnly},
	{name: "s1d3_fd_refer", rules: rules(l5s1d3, referRead), want: readOnly},
	{name: "s1d3_fd_create", rules: rules(l5s1d3, readCreate), want: createOnly},
	{name: "s1d3_fd_rename", rules: rules(l5s1d3, referCreate), want: renameOnly},
	{name: "s1d3_fd_full", rules: rules(l5s1d3, fullRights), want: everything},
	{name: "s2d1_mount2_src_parent", rules: rules("s2d1", fullRights), want: allEACCES},
	{name: "s2d2_mount2_src_refer", rules: rules(l5s2d2, referRead), want: readOnly, unfixed: unfixedAll(unix.EACCES, opRead)},
	{name: "s2d2_mount2_src_create", rules: rules(l5s2d2, readCreate), want: createOnly, unfixed: unfixedAll(unix.EACCES, opRead, opRename, opExchange, opSameDir)},
	{name: "s2d2_mount2_src_rename", rules: rules(l5s2d2, referCreate), want: renameOnly, unfixed: unfixedAll(unix.EACCES, opRename, opExchange, opSameDir)},
	{name: "s2d3_mount1_dst_parent_refer", rules: rules(l5s2d3, referRead), want: readOnly},
	{name: "s2d3_mount1_dst_parent_create", rules: rules(l5s2d3, readCreate), want: createOnly},
	{name: "s2d3_mount1_dst_parent_rename", rules: rules(l5s2d3, referCreate), want: renameOnly},
	{name: "s2d4_mount1_dst", rules: rules(l5s2d3+"/s2d4", fullRights), want: allEACCES},
	{name: "s3d1_mount2_dst_parent_refer", rules: rules("s3d1", referRead), want: readOnly, unfixed: unfixedAll(unix.EACCES, opRead)},
	{name: "s3d1_mount2_dst_parent_create", rules: rules("s3d1", readCreate), want: createOnly, unfixed: unfixedAll(unix.EACCES, opRead, opRename, opExchange, opSameDir)},
	{name: "s3d1_mount2_dst_parent_rename", rules: rules("s3d1", referCreate), want: renameOnly, unfixed: unfixedAll(unix.EACCES, opRename, opExchange, opSameDir)},
	{name: "s3d2_mount1_dst", rules: rules("s3d1/s3d2", fullRights), want: allEACCES},
	{name: "s4d1_rename_parent_refer", rules: rules("s4d1", referRead), want: readOnly},
	{name: "s4d1_rename_parent_create", rules: rules("s4d1", readCreate), want: createOnly},
	{name: "s4d1_rename_parent_rename", rules: rules("s4d1", referCreate), want: renameOnly},
}

// unfixedWant is what a kernel without erratum 3's fix gives for op.
func (v disconnVariant) unfixedWant(op int) error {
	if e, ok := v.unfixed[op]; ok {
		return e
	}
	return v.want[op]
}

// distinguishes reports whether the variant tells a fixed kernel from an unfixed one.
func (v disconnVariant) distinguishes() bool {
	for op := range disconnOps {
		if !spec.IsErrno(v.unfixedWant(op), v.want[op]) {
			return true
		}
	}
	return false
}

func (v disconnVariant) rulesText() string {
	parts := make([]string, len(v.rules))
	for i, r := range v.rules {
		parts[i] = r.path + ":" + names(r.access)
	}
	return strings.Join(parts, " ")
}

// disconnFixture is one of the two selftest fixtures.
type disconnFixture struct {
	fixture  string
	variants []disconnVariant
	// controls are the ".." opens the selftest checks around the move: each must give
	// its errno, or the layout is not what the variant needs.
	controls map[string]error
	opText   [4]string
}

var disconnFixtures = []disconnFixture{
	{
		fixture:  "layout4_disconnected_leafs",
		variants: layout4Variants,
		controls: map[string]error{"dotdot41_connected": nil, "dotdot42_connected": nil, "dotdot41_disconnected": unix.ENOENT, "dotdot42_disconnected": unix.ENOENT},
		opText: [4]string{"openat([fd:s1d41], f1, O_RDONLY)", "renameat([fd:s1d41] f1, [fd:s1d42] f1)",
			"renameat2([fd:s1d41] f2, [fd:s1d42] f3, RENAME_EXCHANGE)", "renameat([fd:s1d42] f4, [fd:s1d42] f5)"},
	},
	{
		fixture:  "layout5_disconnected_branch",
		variants: layout5Variants,
		controls: map[string]error{"dotdot_connected": nil, "dotdot2_connected": nil, "dotdot_disconnected": nil, "dotdot2_disconnected": unix.ENOENT},
		opText: [4]string{"openat([fd:s1d3], s1d41/f1, O_RDONLY)", "renameat([fd:s1d3] s1d41/f1, s1d42/f1)",
			"renameat2([fd:s1d3] s1d41/f2, s1d42/f3, RENAME_EXCHANGE)", "renameat([fd:s1d3] s1d42/f4, s1d42/f5)"},
	},
}

var _ = Describe("kernel selftest gaps: disconnected directories", spec.Needs("root"), func() {
	BeforeEach(func() {
		spec.RequireLandlock()
		spec.RequireRoot()
	})

	for _, fx := range disconnFixtures {
		short := strings.SplitN(fx.fixture, "_", 2)[0]
		for _, v := range fx.variants {
			scenario := short + "/" + v.name
			run := func() (seen [4]error, what string) {
				GinkgoHelper()
				gaps.require(scenario)
				for ctl, want := range fx.controls {
					if got := gaps.seen(scenario + "/" + ctl); !spec.IsErrno(got, want) {
						Fail(fmt.Sprintf("set-up: %s without a domain: got %s, want %s", ctl, spec.ErrnoName(got), spec.ErrnoName(want)))
					}
				}
				for op, name := range disconnOps {
					seen[op] = gaps.seen(scenario + "/" + name)
				}
				return seen, fmt.Sprintf("%s handled, rules %s", names(disconnHandled), v.rulesText())
			}
			id := spec.ID(fx.fixture + ".read_rename_exchange." + v.name)
			label := spec.Selftest("fs_test", fx.fixture+".read_rename_exchange")
			if !v.distinguishes() {
				It(fmt.Sprintf("MUST give %s (read, rename, exchange, same-directory rename) through disconnected directories, variant %s", errnoList(v.want), v.name),
					spec.Feature(referRight.Feature(), 2), id, label, func() {
						if !supportsOrRejected(referRight) {
							return
						}
						seen, what := run()
						for op := range disconnOps {
							spec.ExpectErr(seen[op], v.want[op], "%s, variant %s: %s: %s", fx.fixture, v.name, what, fx.opText[op])
						}
						spec.EnforcedVerdict(referRight.Feature(), 2)
					})
				continue
			}
			It(fmt.Sprintf("MUST give %s (read, rename, exchange, same-directory rename) through disconnected directories, variant %s, where erratum 3 is advertised", errnoList(v.want), v.name),
				spec.Erratum(3), id, label, func() {
					if !supportsOrRejected(referRight) {
						return
					}
					seen, what := run()
					obs := make([]spec.Observation, len(disconnOps))
					for op := range disconnOps {
						obs[op] = spec.Observation{What: fx.opText[op], Seen: seen[op], Fixed: v.want[op], Unfixed: v.unfixedWant(op)}
					}
					kind, detail := spec.ClassifyErratum(obs)
					spec.ErratumVerdict(3, kind, fmt.Sprintf("%s, variant %s: %s: %s", fx.fixture, v.name, what, detail))
				})
		}
	}
})

func errnoList(errs [4]error) string {
	parts := make([]string, len(errs))
	for i, e := range errs {
		parts[i] = spec.ErrnoName(e)
	}
	return strings.Join(parts, "/")
}
