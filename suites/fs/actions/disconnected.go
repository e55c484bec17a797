package actions

import (
	"strings"

	"golang.org/x/sys/unix"

	"github.com/llconform/llconform/internal/sandbox"
)

// DisconnHandled is what every variant's ruleset handles.
const DisconnHandled = rRefer | rRead | rExec | rMakeReg

// DisconnOps names the four operations, in the order of disconnVariant.Want.
var DisconnOps = [4]string{"read", "rename", "exchange", "same_dir_rename"}

type disconnRule struct {
	Path   string // relative to the variant's layout; covered directories are ruled through an fd
	Access uint64
}

type disconnVariant struct {
	Name  string
	Rules []disconnRule
	// want is what a kernel with erratum 3 fixed gives for each of DisconnOps (the
	// selftest's expectations); unfixed overrides it for a kernel without the fix.
	Want    [4]error
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
		rs = append(rs, disconnRule{Path: pairs[i].(string), Access: pairs[i+1].(uint64)})
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
	{Name: "s1d1_mount_src_parent", Rules: rules("s1d1", fullRights), Want: allEACCES},
	{Name: "s1d2_mount_src_refer", Rules: rules(l4s1d2, referRead), Want: readOnly, unfixed: unfixedAll(unix.EACCES, opRead)},
	{Name: "s1d2_mount_src_create", Rules: rules(l4s1d2, readCreate), Want: createOnly, unfixed: unfixedAll(unix.EACCES, opRead, opSameDir)},
	{Name: "s1d2_mount_src_rename", Rules: rules(l4s1d2, referCreate), Want: renameOnly, unfixed: unfixedAll(unix.EACCES, opSameDir)},
	{Name: "s1d31_s1d32_old_parent", Rules: rules(l4s1d31, fullRights, l4s1d32, fullRights), Want: allEACCES},
	{Name: "s1d41_s1d42_disconnected_refer", Rules: rules(l4s1d41, referRead, l4s1d42, referRead), Want: readOnly},
	{Name: "s1d41_s1d42_disconnected_create", Rules: rules(l4s1d41, readCreate, l4s1d42, readCreate), Want: createOnly},
	{Name: "s1d41_s1d42_disconnected_rename_even", Rules: rules(l4s1d41, referCreate, l4s1d42, referCreate), Want: renameOnly},
	{Name: "s1d41_s1d42_disconnected_rename_more", Rules: rules(l4s1d41, referCreate, l4s1d42, referCreate|rExec), Want: moreRights},
	{Name: "s1d41_s1d42_disconnected_rename_less", Rules: rules(l4s1d41, referCreate|rExec, l4s1d42, referCreate), Want: lessRights},
	{Name: "s2d1_mount_dst_parent_create", Rules: rules("s2d1", readCreate), Want: createOnly, unfixed: unfixedAll(unix.EACCES, opRead, opSameDir)},
	{Name: "s2d1_mount_dst_parent_refer", Rules: rules("s2d1", referRead), Want: readOnly, unfixed: unfixedAll(unix.EACCES, opRead)},
	{Name: "s2d1_mount_dst_parent_mini", Rules: rules("s2d1", referRead|rMakeReg), Want: everything, unfixed: unfixedAll(unix.EACCES, opRead, opSameDir)},
	{Name: "s2d2_covered_by_mount", Rules: rules("s2d1/s2d2", fullRights), Want: allEACCES},
	{Name: "s3d1_s4d1_new_parent_refer", Rules: rules("s3d1", referRead, "s4d1", referRead), Want: readOnly},
	{Name: "s3d1_s4d1_new_parent_create", Rules: rules("s3d1", readCreate, "s4d1", readCreate), Want: createOnly},
	{Name: "s3d1_s4d1_disconnected_rename_even", Rules: rules("s3d1", referCreate, "s4d1", referCreate), Want: renameOnly},
	{Name: "s3d1_s4d1_disconnected_rename_more", Rules: rules("s3d1", referCreate, "s4d1", referCreate|rExec), Want: moreRights},
	{Name: "s3d1_s4d1_disconnected_rename_less", Rules: rules("s3d1", referCreate|rExec, "s4d1", referCreate), Want: lessRights},
	{Name: "f1_f2_f3", Rules: rules(l4s1d41+"/f1", rRead, l4s1d41+"/f2", rRead, l4s1d42+"/f3", rRead), Want: readOnly},
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
	{Name: "s1d1_mount1_src_parent", Rules: rules("s1d1", fullRights), Want: allEACCES},
	{Name: "s1d2_mount1_src_refer", Rules: rules(l5s1d2, referRead), Want: readOnly},
	{Name: "s1d2_mount1_src_create", Rules: rules(l5s1d2, readCreate), Want: createOnly},
	{Name: "s1d2_mount1_src_rename", Rules: rules(l5s1d2, referCreate), Want: renameOnly},
	{Name: "s1d3_fd_refer", Rules: rules(l5s1d3, referRead), Want: readOnly},
	{Name: "s1d3_fd_create", Rules: rules(l5s1d3, readCreate), Want: createOnly},
	{Name: "s1d3_fd_rename", Rules: rules(l5s1d3, referCreate), Want: renameOnly},
	{Name: "s1d3_fd_full", Rules: rules(l5s1d3, fullRights), Want: everything},
	{Name: "s2d1_mount2_src_parent", Rules: rules("s2d1", fullRights), Want: allEACCES},
	{Name: "s2d2_mount2_src_refer", Rules: rules(l5s2d2, referRead), Want: readOnly, unfixed: unfixedAll(unix.EACCES, opRead)},
	{Name: "s2d2_mount2_src_create", Rules: rules(l5s2d2, readCreate), Want: createOnly, unfixed: unfixedAll(unix.EACCES, opRead, opRename, opExchange, opSameDir)},
	{Name: "s2d2_mount2_src_rename", Rules: rules(l5s2d2, referCreate), Want: renameOnly, unfixed: unfixedAll(unix.EACCES, opRename, opExchange, opSameDir)},
	{Name: "s2d3_mount1_dst_parent_refer", Rules: rules(l5s2d3, referRead), Want: readOnly},
	{Name: "s2d3_mount1_dst_parent_create", Rules: rules(l5s2d3, readCreate), Want: createOnly},
	{Name: "s2d3_mount1_dst_parent_rename", Rules: rules(l5s2d3, referCreate), Want: renameOnly},
	{Name: "s2d4_mount1_dst", Rules: rules(l5s2d3+"/s2d4", fullRights), Want: allEACCES},
	{Name: "s3d1_mount2_dst_parent_refer", Rules: rules("s3d1", referRead), Want: readOnly, unfixed: unfixedAll(unix.EACCES, opRead)},
	{Name: "s3d1_mount2_dst_parent_create", Rules: rules("s3d1", readCreate), Want: createOnly, unfixed: unfixedAll(unix.EACCES, opRead, opRename, opExchange, opSameDir)},
	{Name: "s3d1_mount2_dst_parent_rename", Rules: rules("s3d1", referCreate), Want: renameOnly, unfixed: unfixedAll(unix.EACCES, opRename, opExchange, opSameDir)},
	{Name: "s3d2_mount1_dst", Rules: rules("s3d1/s3d2", fullRights), Want: allEACCES},
	{Name: "s4d1_rename_parent_refer", Rules: rules("s4d1", referRead), Want: readOnly},
	{Name: "s4d1_rename_parent_create", Rules: rules("s4d1", readCreate), Want: createOnly},
	{Name: "s4d1_rename_parent_rename", Rules: rules("s4d1", referCreate), Want: renameOnly},
}

// UnfixedWant is what a kernel without erratum 3's fix gives for op.
func (v disconnVariant) UnfixedWant(op int) error {
	if e, ok := v.unfixed[op]; ok {
		return e
	}
	return v.Want[op]
}

// Distinguishes reports whether the variant tells a fixed kernel from an unfixed one.
func (v disconnVariant) Distinguishes() bool {
	for op := range DisconnOps {
		if !sandbox.IsErrno(v.UnfixedWant(op), v.Want[op]) {
			return true
		}
	}
	return false
}

func (v disconnVariant) RulesText() string {
	parts := make([]string, len(v.Rules))
	for i, r := range v.Rules {
		parts[i] = r.Path + ":" + Names(r.Access)
	}
	return strings.Join(parts, " ")
}

// disconnFixture is one of the two selftest fixtures.
type disconnFixture struct {
	Fixture  string
	Variants []disconnVariant
	// controls are the ".." opens the selftest checks around the move: each must give
	// its errno, or the layout is not what the variant needs.
	Controls map[string]error
	OpText   [4]string
}

var DisconnFixtures = []disconnFixture{
	{
		Fixture:  "layout4_disconnected_leafs",
		Variants: layout4Variants,
		Controls: map[string]error{"dotdot41_connected": nil, "dotdot42_connected": nil, "dotdot41_disconnected": unix.ENOENT, "dotdot42_disconnected": unix.ENOENT},
		OpText: [4]string{"openat([fd:s1d41], f1, O_RDONLY)", "renameat([fd:s1d41] f1, [fd:s1d42] f1)",
			"renameat2([fd:s1d41] f2, [fd:s1d42] f3, RENAME_EXCHANGE)", "renameat([fd:s1d42] f4, [fd:s1d42] f5)"},
	},
	{
		Fixture:  "layout5_disconnected_branch",
		Variants: layout5Variants,
		Controls: map[string]error{"dotdot_connected": nil, "dotdot2_connected": nil, "dotdot_disconnected": nil, "dotdot2_disconnected": unix.ENOENT},
		OpText: [4]string{"openat([fd:s1d3], s1d41/f1, O_RDONLY)", "renameat([fd:s1d3] s1d41/f1, s1d42/f1)",
			"renameat2([fd:s1d3] s1d41/f2, s1d42/f3, RENAME_EXCHANGE)", "renameat([fd:s1d3] s1d42/f4, s1d42/f5)"},
	},
}
