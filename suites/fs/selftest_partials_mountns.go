package fs

import (
	"fmt"

	. "github.com/onsi/ginkgo/v2"
	"golang.org/x/sys/unix"

	"github.com/llconform/llconform/internal/landlock"
	"github.com/llconform/llconform/internal/spec"
	"github.com/llconform/llconform/suites/fs/actions"
)

// Specs completing fs_test.c selftests of Linux 7.3 that need mounts: a tmpfs beneath a
// rule, mount operations in a domain handling network and filesystem rights, the
// layout1_bind, layout2_overlay and layout3_fs fixtures. Like selftest_gaps_mountns_test.go,
// one helper process builds a private mount namespace on a fresh tmpfs (the gapRun helpers)
// and runs each scenario on threads of its own; its observations are keyed
// "scenario/operation", and the specs judge them against the tables below, which the
// helper also runs.

// expectLayeredOpens asserts what layeredOpens recorded for key.
func expectLayeredOpens(key string, layers []actions.NSLayer) {
	GinkgoHelper()
	for i, l := range layers {
		for j, o := range l.Opens {
			got := partials.seen(fmt.Sprintf("%s/%d/%d", key, i, j))
			spec.ExpectErr(got, o.Want, "after layer %d (%s): open(%s, %s)", i+1, l.Text(), o.Path, openFlags(o.Flags))
		}
	}
}

var _ = suite.Describe("kernel selftest partials: mounts", spec.Needs("root"), func() {
	BeforeEach(func() {
		spec.RequireLandlock()
		spec.RequireRoot()
	})

	It("MUST apply a rule above a mount point to the filesystem mounted beneath it",
		spec.Feature("fs.mount_point", 1), spec.ID("layout1.rule_over_mountpoint"), selftests("layout1.rule_over_mountpoint"), func() {
			partials.require("rule_over_mountpoint")
			expectLayeredOpens("rule_over_mountpoint", actions.RuleOverMountpoint)
			spec.EnforcedVerdict("fs.mount_point", 1)
		})

	It("MUST deny mount, propagation changes, move_mount, umount and pivot_root with EPERM in a domain handling network rights and fs.execute",
		spec.Feature("fs.change_topology", 1), spec.ID("layout1.topology_changes_with_net_and_fs"), selftests("layout1.topology_changes_with_net_and_fs"), func() {
			if !spec.SupportedOrRejected("attr.handled_access_net", 4, func() { expectNetRulesetRejected(landlock.AccessFSExecute) }) {
				return
			}
			partials.require("topology_net_fs")
			for _, op := range []string{"mount", "make_private", "move_mount", "umount", "pivot_root"} {
				partials.expect("topology_net_fs/control/"+op, nil, "without a domain: %s", op)
				partials.expect("topology_net_fs/netfs/"+op, unix.EPERM, "domain handling net.bind_tcp, net.connect_tcp and fs.execute: %s", op)
			}
			spec.EnforcedVerdict("fs.change_topology", 1)
		})

	It("MUST check a bind-mounted file through either path against the same inode's rules, across four layers ruling on the mount points' parents, both mount points, the shared source and the bind side's file",
		spec.Feature("fs.bind_mount", 1), spec.ID("layout1_bind.same_content_same_file"), selftests("layout1_bind.same_content_same_file"), func() {
			partials.require("same_content_same_file")
			expectLayeredOpens("same_content_same_file", actions.SameContentSameFile)
			spec.EnforcedVerdict("fs.bind_mount", 1)
		})

	It("MUST check overlayfs files, lower and upper, by their merged path only, across five layers ruling on the layers' parents, data directories, subdirectories and files",
		spec.Feature("fs.overlayfs", 1), spec.Needs("module:overlay"), spec.ID("layout2_overlay.same_content_different_file"), selftests("layout2_overlay.same_content_different_file"), func() {
			if err := partials.seen("overlay2/available"); err != nil {
				spec.Skip("overlay filesystem unavailable: %v", err)
			}
			partials.require("overlay2")
			expectLayeredOpens("overlay2", actions.SameContentDifferentFile)
			spec.EnforcedVerdict("fs.overlayfs", 1)
		})

	It("MUST allow a read through a directory disconnected from its bind mount by a rule on the file itself, and by a rule on the mount's root where erratum 3 is advertised",
		spec.Erratum(3), spec.ID("layout1_bind.path_disconnected"), selftests("layout1_bind.path_disconnected"), func() {
			if !supportsOrRejected(referRight) {
				return
			}
			partials.require("path_disconnected")
			k := "path_disconnected/"
			// Controls: before and after the move, a layer granting everything on the
			// tree allows the reads on both kernels.
			for _, f := range []string{"l1_f1", "l1_f2", "l1_dotdot", "moved_f1", "moved_f2"} {
				partials.expect(k+f, nil, "layer 1 granting every right on the tree: %s", f)
			}
			same := func(key, what string, want error) spec.Observation {
				return spec.Observation{What: what, Seen: partials.seen(k + key), Fixed: want, Unfixed: want}
			}
			// Before the fix the walk from a disconnected directory stopped at its
			// filesystem's root, never reaching the bind mount's root s1d2.
			seen, detail := spec.ClassifyErratum([]spec.Observation{
				same("moved_dotdot", "openat(fd, \"..\") once disconnected (the VFS's ENOENT)", unix.ENOENT),
				same("l2_path_f1", "layer 2 (read_file on s1d3/f1 itself): open(s4d1/f1)", nil),
				same("l2_f1", "layer 2: openat(fd, f1)", nil),
				same("l2_f2", "layer 2: openat(fd, f2)", unix.EACCES),
				same("l3_path_f1", "layer 3 (read_file on s1d2, the bind mount's root): open(s4d1/f1)", unix.EACCES),
				{What: "layer 3: openat(fd, f1)", Seen: partials.seen(k + "l3_f1"), Fixed: nil, Unfixed: unix.EACCES},
				same("l3_f2", "layer 3: openat(fd, f2)", unix.EACCES),
			})
			spec.ErratumVerdict(3, seen, "layout1_bind.path_disconnected: "+detail)
		})

	for _, v := range actions.Layout3Variants {
		for _, t := range actions.Layout3Tests {
			It(fmt.Sprintf("MUST apply a read_file rule %s to a file of a %s mount, and deny it under a second layer without rules", t.It, v.Name),
				spec.Feature(v.Feature, 1), spec.ID("layout3_fs."+t.Name+"."+v.Name), selftests("layout3_fs."+t.Name), func() {
					key := "layout3/" + v.Name
					partials.require(key)
					if err := partials.seen(key + "/available"); err != nil {
						spec.Skip("%s variant unavailable: %v", v.Name, err)
					}
					tkey := key + "/" + t.Name
					if r, ok := partials.all()[tkey+"/error"]; ok {
						Fail(fmt.Sprintf("set-up: %s: %s", tkey, r.Msg))
					}
					what := fmt.Sprintf("%s mounted on tmp, file tmp/%s, rule on %s", v.Fstype, v.File, t.RulePath(v))
					for _, op := range actions.Layout3Ops {
						got := partials.seen(tkey + "/" + op.Key)
						if op.ControlBefore && got != nil {
							Fail(fmt.Sprintf("set-up: %s: %s: got %s, want success", what, op.What, spec.ErrnoName(got)))
						}
						spec.ExpectErr(got, op.Want, "%s: %s", what, op.What)
					}
					spec.EnforcedVerdict(v.Feature, 1)
				})
		}
	}
})

// expectNetRulesetRejected checks that a kernel below ABI 4 rejects a ruleset handling the
// TCP rights (and fs, which may be 0) with the exact errno of its contract.
func expectNetRulesetRejected(fs uint64) {
	GinkgoHelper()
	attr := landlock.RulesetAttr{HandledAccessNet: landlock.AccessNetBindTCP | landlock.AccessNetConnectTCP, HandledAccessFS: fs}
	abi := spec.Kernel().ABI
	fd, err := landlock.CreateRuleset(&attr, landlock.RulesetAttrSizeV4, 0)
	if err == nil {
		unix.Close(fd)
	}
	spec.ExpectErr(err, landlock.CreateRulesetErrno(attr.Bytes(), landlock.RulesetAttrSizeV4, abi),
		"ABI %d: create_ruleset(handled_access_net=net.bind_tcp|net.connect_tcp, handled_access_fs=%s, 16-byte attr)", abi, landlock.Names(landlock.KindFS, fs))
}
