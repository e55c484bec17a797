package fs

import (
	"encoding/json"
	"fmt"

	. "github.com/onsi/ginkgo/v2"
	"golang.org/x/sys/unix"

	"github.com/llconform/llconform/internal/sandbox"
	"github.com/llconform/llconform/internal/spec"
	"github.com/llconform/llconform/suites/fs/actions"
)

var _ = suite.Describe("mounts and mount namespaces", Ordered, spec.Needs("root"), func() {
	var obs map[string]string

	BeforeAll(func() {
		spec.RequireLandlock()
		spec.RequireRoot()
		base := GinkgoT().TempDir()
		res := sandbox.Process(sandbox.Policy{}, actions.MountNSAction, base)
		spec.ExpectErrno(res, nil, "mount-namespace helper")
		must(json.Unmarshal(res.Data, &obs), "decode the helper's observations %q", res.Data)
	})

	expect := func(key string, want error, what string) {
		GinkgoHelper()
		got, ok := obs[key]
		if !ok {
			Fail(fmt.Sprintf("%s: the helper recorded nothing for %s", what, key))
		}
		if got != spec.ErrnoName(want) {
			Fail(fmt.Sprintf("%s (%s): got %s, want %s", what, key, got, spec.ErrnoName(want)))
		}
	}

	topoOps := []string{"mount", "remount", "bind", "propagation", "move_mount", "umount", "pivot_root"}

	It("MUST deny mount, remount, bind mount, propagation changes, move_mount, umount and pivot_root with EPERM inside a domain handling any fs right", spec.Feature("fs.change_topology", 1), spec.ID("mount.topology_denied"), selftests("layout1.mount_and_pivot", "layout1.move_mount", "layout1.topology_changes_with_net_and_fs"), func() {
		for _, op := range topoOps {
			want := error(nil)
			if op == "pivot_root" {
				want = unix.EINVAL
			}
			expect("topology/control/"+op, want, "control without a domain: "+op)
			expect("topology/fs/"+op, unix.EPERM, "domain handling fs.execute only: "+op)
		}
		spec.EnforcedVerdict("fs.change_topology", 1)
	})

	It("MUST NOT restrict mount operations in a domain that handles no fs right", spec.Feature("fs.change_topology", 1), spec.ID("layout1.topology_changes_with_net_only"), selftests("layout1.topology_changes_with_net_only"), func() {
		if !spec.SupportedOrRejected("attr.handled_access_net", 4, func() { expectNetRulesetRejected(0) }) {
			return
		}
		for _, op := range topoOps {
			want := error(nil)
			if op == "pivot_root" {
				want = unix.EINVAL
			}
			expect("topology/netonly/"+op, want, "domain handling net.bind_tcp only: "+op)
		}
		spec.FeatureVerdict("fs.change_topology", 4)
	})

	It("MUST apply a rule on a bind mount's source to both paths, and a rule above its mount point to the bind path only", spec.Feature("fs.bind_mount", 1), spec.ID("mount.bind_mount"), selftests("layout1.rule_over_mountpoint", "layout1_bind.same_content_same_file", "layout3_fs.tag_inode_dir_parent"), func() {
		expect("bind/rule-on-source/via-bind", nil, "read_file granted on the bind source: open through the bind mount")
		expect("bind/rule-on-source/via-source", nil, "read_file granted on the bind source: open through the source path")
		expect("bind/rule-on-source/source-parent", unix.EACCES, "read_file granted on the bind source: open of its parent's file")
		expect("bind/rule-above-mountpoint/via-bind", nil, "read_file granted above the mount point: open through the bind mount")
		expect("bind/rule-above-mountpoint/via-source", unix.EACCES, "read_file granted above the mount point: open through the source path")
		spec.EnforcedVerdict("fs.bind_mount", 1)
	})

	It("MUST check a directory moved out of a bind mount against both its real hierarchy and the mount point's, where erratum 3 is advertised", spec.Erratum(3), spec.ID("errata.e3.disconnected_bind"), selftests("layout1_bind.path_disconnected"), func() {
		seen := func(key string) error {
			GinkgoHelper()
			got, ok := obs[key]
			if !ok {
				Fail(fmt.Sprintf("the helper recorded nothing for %s", key))
			}
			switch got {
			case "success":
				return nil
			case "EACCES":
				return unix.EACCES
			}
			return fmt.Errorf("%s", got) // neither kernel's answer: spec.ClassifyErratum reports it
		}
		// Control outside Landlock: the directory, moved out of the bind mount's source,
		// is still reachable through the descriptor, or nothing can be observed.
		if got := obs["disconnected/control"]; got != "success" {
			spec.Skip("without Landlock, openat(disconnected directory, f) fails with %s: erratum 3 cannot be observed here", got)
		}
		// Control in a domain: read_file granted on the directory's real parent allows
		// the open on every kernel, fixed or not; a denial is a Landlock defect.
		expect("disconnected/rule-on-new-parent", nil, "read_file handled, rule granting read_file on the directory's new parent e/out: openat(disconnected directory, f)")
		// The fix continues the walk from the disconnected root to the bind mount's root
		// and its mount point; the unfixed kernel stopped at the disconnected root, so
		// only rules on the directory's real hierarchy counted.
		kind, detail := spec.ClassifyErratum([]spec.Observation{
			{What: "read_file granted on the bind mount's root e/s1/s2", Seen: seen("disconnected/rule-on-bind-root"), Fixed: nil, Unfixed: unix.EACCES},
			{What: "read_file granted above its mount point on e/m1", Seen: seen("disconnected/rule-above-mountpoint"), Fixed: nil, Unfixed: unix.EACCES},
			{What: "read_file granted on an unrelated directory e/other", Seen: seen("disconnected/rule-elsewhere"), Fixed: unix.EACCES, Unfixed: unix.EACCES},
		})
		spec.ErratumVerdict(3, kind, "openat(disconnected directory, f, O_RDONLY), read_file handled: "+detail)
	})

	It("MUST allow chroot inside a domain and keep the domain's rules in force through it", spec.Feature("fs.chroot", 1), spec.ID("mount.chroot"), selftests("layout1.relative_chroot_only", "layout1.relative_chroot_chdir", "layout1.relative_chdir"), func() {
		expect("chroot/here/chroot", nil, "chroot(.) inside a domain")
		expect("chroot/here/dotdot", nil, "after chroot(.) into a granted directory: open(..), the new root")
		expect("chroot/here/root-file", nil, "after chroot: open(/f) granted read")
		expect("chroot/here/root-file-write", unix.EACCES, "after chroot: open(/f, O_WRONLY) not granted")
		expect("chroot/away/chroot", nil, "chroot(../../s1/s2) inside a domain")
		expect("chroot/away/dotdot", unix.EACCES, "working directory outside the new root: open(..) of an ungranted directory")
		expect("chroot/away/sibling-file", nil, "working directory outside the new root: open of a granted file by relative path")
		expect("chroot/away/root-file", nil, "open(/f) in the new root, granted")
		spec.EnforcedVerdict("fs.chroot", 1)
	})

	It("MUST apply a rule on a mount point to the mounted tree, and MUST NOT let a rule on a covered directory grant the mount covering it", spec.Feature("fs.mount_point", 1), spec.ID("mount.mount_point"), selftests("layout1.rule_on_mountpoint", "layout1.covered_rule", "layout3_fs.tag_inode_dir_mnt", "layout3_fs.release_inodes"), func() {
		expect("mountpoint/rule-on-mount/file", nil, "read granted on a tmpfs mount point: open of a file in it")
		expect("mountpoint/rule-on-mount/other", unix.EACCES, "read granted on a tmpfs mount point: open of a file beside it")
		expect("mountpoint/covered/before", nil, "no domain: open of the covering mount")
		expect("mountpoint/covered/after", unix.EACCES, "read_dir granted on the covered directory: open of the mount covering it")
		spec.EnforcedVerdict("fs.mount_point", 1)
	})

	It("MUST check overlayfs files by their merged path only, and let the overlay's own copy-up and whiteouts happen", spec.Feature("fs.overlayfs", 1), spec.Needs("module:overlay"), spec.ID("mount.overlayfs"), selftests("layout2_overlay.same_content_different_file", "layout2_overlay.rename_in_overlay_without_make_reg"), func() {
		switch avail := obs["overlay/available"]; avail {
		case "yes":
		case "no":
			spec.Skip("overlay filesystem unavailable")
		default:
			spec.Skip("overlay filesystem unavailable: %s", avail)
		}
		expect("overlay/rule-on-lower/merged", unix.EACCES, "read granted on the lower layer: open through the merged directory")
		expect("overlay/rule-on-lower/lower", nil, "read granted on the lower layer: open in the lower layer")
		expect("overlay/rule-on-merged/merged", nil, "read granted on the merged directory: open through it")
		expect("overlay/rule-on-merged/lower", unix.EACCES, "read granted on the merged directory: open in the lower layer")
		expect("overlay/copy-up/write", nil, "write granted on merged only: open O_WRONLY of a lower file (copy-up)")
		expect("overlay/whiteout/unlink", nil, "remove_file granted on merged, make_char and make_reg not: unlink of a lower file (whiteout)")
		expect("overlay/whiteout/rename", nil, "make_fifo and remove_file granted on merged, make_reg not: rename of a lower FIFO (copy-up and whiteout)")
		spec.EnforcedVerdict("fs.overlayfs", 1)
	})
})
