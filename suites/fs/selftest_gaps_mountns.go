package fs

import (
	"encoding/json"
	"fmt"
	"os"
	"sync"

	. "github.com/onsi/ginkgo/v2"
	"golang.org/x/sys/unix"

	"github.com/llconform/llconform/internal/sandbox"
	"github.com/llconform/llconform/internal/spec"
	"github.com/llconform/llconform/suites/fs/actions"
)

// helperObservations are what a mount-namespace helper action recorded, gathered once per
// suite process by the first spec that needs them.
type helperObservations struct {
	action string // the sandbox action, run in a helper process
	once   sync.Once
	res    map[string]actions.GapResult
	err    error
}

// gaps and partials are the observations of the two helpers of the selftest specs.
var (
	gaps     = &helperObservations{action: actions.GapsNSAction}
	partials = &helperObservations{action: actions.PartialsNSAction}
)

// all runs the helper once and returns its observations, failing the spec when the helper
// could not run.
func (h *helperObservations) all() map[string]actions.GapResult {
	GinkgoHelper()
	h.once.Do(func() {
		base, err := os.MkdirTemp("", "llconform-"+h.action+"-")
		if err != nil {
			h.err = err
			return
		}
		// The tmpfs lives in the helper's namespace only: the directory stays empty here.
		defer os.Remove(base)
		res := sandbox.Process(sandbox.Policy{}, h.action, base)
		switch {
		case res.Setup != nil:
			h.err = res.Setup
		case res.Err != nil:
			h.err = res.Err
		default:
			h.err = json.Unmarshal(res.Data, &h.res)
		}
	})
	must(h.err, "mount-namespace helper")
	return h.res
}

// require fails the spec when its scenario could not be set up.
func (h *helperObservations) require(name string) {
	GinkgoHelper()
	if r, ok := h.all()[name+"/error"]; ok {
		Fail(fmt.Sprintf("set-up: scenario %s: %s", name, r.Msg))
	}
}

// seen returns what the helper recorded for key: nil, the errno, or an error carrying a
// message that is no errno (which matches no expectation).
func (h *helperObservations) seen(key string) error {
	GinkgoHelper()
	r, ok := h.all()[key]
	switch {
	case !ok:
		Fail(fmt.Sprintf("the helper recorded nothing for %s", key))
	case r.Msg != "":
		return fmt.Errorf("%s", r.Msg)
	case r.Errno != 0:
		return unix.Errno(r.Errno)
	}
	return nil
}

// expect asserts what the helper recorded for key.
func (h *helperObservations) expect(key string, want error, what string, args ...any) {
	GinkgoHelper()
	spec.ExpectErr(h.seen(key), want, "%s (%s)", fmt.Sprintf(what, args...), key)
}

var _ = suite.Describe("kernel selftest gaps: mounts, pivot_root and bind mounts", spec.Needs("root"), func() {
	BeforeEach(func() {
		spec.RequireLandlock()
		spec.RequireRoot()
	})

	It("MUST apply a rule added after pivot_root to the old root, reached by a relative path, and deny the new root",
		spec.Feature("fs.mount_point", 1), spec.ID("layout1.rule_inside_mount_ns"), spec.Selftest("fs_test", "layout1.rule_inside_mount_ns"), func() {
			gaps.require("inside_ns")
			gaps.expect("inside_ns/pivot_root", nil, "pivot_root(s3d2, s3d2/s3d3) without a domain")
			gaps.expect("inside_ns/chdir", nil, "chdir(/) after pivot_root")
			gaps.expect("inside_ns/open_s3d3", nil, "read granted on s3d3 (the old root), read and write handled: open(s3d3, O_RDONLY)")
			gaps.expect("inside_ns/open_root", unix.EACCES, "read granted on s3d3 only: open(/, O_RDONLY) of the new root")
			spec.EnforcedVerdict("fs.mount_point", 1)
		})

	It("MUST NOT restrict mount, propagation changes, move_mount, umount, pivot_root nor chdir in a domain that handles network rights only",
		spec.Feature("fs.change_topology", 1), spec.ID("layout1.topology_changes_with_net_only.sequence"), spec.Selftest("fs_test", "layout1.topology_changes_with_net_only"), func() {
			if !spec.SupportedOrRejected("attr.handled_access_net", 4, func() { expectNetRulesetRejected(0) }) {
				return
			}
			gaps.require("topology_control")
			gaps.require("topology_netonly")
			for _, op := range []string{"mount", "make_private", "move_mount", "umount", "pivot_root", "chdir"} {
				control := gaps.seen("topology/control/" + op)
				gaps.expect("topology/netonly/"+op, nil, "domain handling net.bind_tcp and net.connect_tcp only: %s (without a domain it gives %s)", op, spec.ErrnoName(control))
			}
			spec.FeatureVerdict("fs.change_topology", 4)
		})

	It("MUST let a ruleset's mount be unmounted before enforcement, the rules on it then granting nothing",
		spec.Feature("fs.mount_point", 1), spec.ID("layout1.release_inodes"), spec.Selftest("fs_test", "layout1.release_inodes"), func() {
			gaps.require("release_inodes")
			gaps.expect("release_inodes/umount", nil, "umount of a tmpfs that a ruleset holds rules on")
			gaps.expect("release_inodes/open_s1d1_f1", nil, "read granted on s1d1: open(s1d1/f1, O_RDONLY)")
			gaps.expect("release_inodes/open_s3d2", unix.EACCES, "the rule was on the unmounted tmpfs's root: open(s3d2, O_RDONLY) of the directory it covered")
			gaps.expect("release_inodes/open_s3d3", unix.ENOENT, "open(s3d2/s3d3) after the umount")
			spec.EnforcedVerdict("fs.mount_point", 1)
		})

	It("MUST NOT keep the mount a sandboxed program was executed from busy once that program executed another one",
		spec.Feature("fs.mount_point", 1), spec.ID("layout1.umount_sandboxer"), spec.Selftest("fs_test", "layout1.umount_sandboxer"), func() {
			gaps.require("umount_sandboxer")
			gaps.expect("umount_sandboxer/while_sandboxer_runs", unix.EBUSY, "umount of the mount the running sandboxer was executed from")
			gaps.expect("umount_sandboxer/after_it_executed", nil, "umount of that mount once the sandboxer executed a program from elsewhere")
			gaps.expect("umount_sandboxer/child", nil, "the sandboxer and the program it executed")
			spec.FeatureVerdict("fs.mount_point", 1)
		})

	It("MUST apply a REFER rule above a mount point to renames within the mounted tree",
		spec.Feature(referRight.Feature(), 2), spec.ID("layout1.refer_part_mount_tree_is_allowed"), spec.Selftest("fs_test", "layout1.refer_part_mount_tree_is_allowed"), func() {
			if !supportsOrRejected(referRight) {
				return
			}
			gaps.require("refer_part_mount")
			gaps.expect("refer_part_mount/rename", nil, "refer and make_reg granted on s3d1 above the s3d2 mount, and remove_file on s3d2/s3d4: rename(s3d4/f1, s3d3/f1)")
			spec.EnforcedVerdict(referRight.Feature(), 2)
		})

	It("MUST deny with EXDEV moves across a bind mount that would gain rights, and allow those that lose them",
		spec.Feature(referRight.Feature(), 2), spec.ID("layout1_bind.reparent_cross_mount"), spec.Selftest("fs_test", "layout1_bind.reparent_cross_mount"), func() {
			if !supportsOrRejected(referRight) {
				return
			}
			gaps.require("cross_mount")
			what := "refer granted on s2d1, execute on s2d2/s1d3 (through the bind mount)"
			gaps.expect("cross_mount/s1d1_to_s1d2", unix.EXDEV, "%s: rename(s1d1/f1, s1d1/s1d2/f1), no REFER there", what)
			gaps.expect("cross_mount/s2d1_to_bind", unix.EXDEV, "%s: rename(s2d1/f1, s2d1/s2d2/f1), a real cross-mount move", what)
			gaps.expect("cross_mount/bind_to_bind_s1d3", unix.EXDEV, "%s: rename(s2d2/f1, s2d2/s1d3/f1), which would gain EXECUTE", what)
			gaps.expect("cross_mount/bind_s1d3_to_bind", nil, "%s: rename(s2d2/s1d3/f1, s2d2/f1), which loses EXECUTE", what)
			spec.EnforcedVerdict(referRight.Feature(), 2)
		})
})
