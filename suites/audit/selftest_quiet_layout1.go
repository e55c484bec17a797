package audit

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/sys/unix"

	"github.com/llconform/llconform/internal/landlock"
	"github.com/llconform/llconform/internal/sandbox"
	"github.com/llconform/llconform/internal/spec"
)

// The audit_quiet_layout1 selftests of fs_test.c: for each of 18 variants (one to three
// layers with quiet_access_fs, QUIET rules and log flags, and the opens, truncations and
// ioctls tried), five tests: the variant's layers alone (base), wrapped in layers granting
// everything (allow_all_layer), under outer layers up to the limit of 16 (many_outer_layers),
// and under an inner layer denying everything, quietly (deny_all_quiet_layer) or not
// (deny_all_layer). Each test runs on a fresh thread; its ACCESS records must be exactly
// those the selftest expects, in order.

const (
	qR     = landlock.AccessFSReadFile
	qW     = landlock.AccessFSWriteFile
	qT     = landlock.AccessFSTruncate
	qI     = landlock.AccessFSIoctlDev
	qRWTI  = qR | qW | qT | qI
	ioFION = 0x541b // FIONREAD
)

type qRule struct {
	path   string // relative to the layout, or absolute ("/dev/null", "/")
	access uint64
	quiet  bool
}

type qLayer struct {
	handled, quiet uint64
	flags          uint32
	rules          []qRule
}

// qTarget is one file the test body opens, with what must happen and be logged.
type qTarget struct {
	path             string
	mode             int
	open             bool // the open succeeds
	auditR, auditW   bool // the failed open is logged with read_file, write_file
	truncOK, auditT  bool // ftruncate succeeds; its denial is logged
	ioctlOK, ioctlNo bool // FIONREAD is tried and allowed, or denied
	auditI           bool // its denial is logged
}

type qVariant struct {
	name    string
	layers  []qLayer
	targets []qTarget
}

func qr(path string, access uint64, quiet bool) qRule {
	return qRule{path: path, access: access, quiet: quiet}
}

// Paths of layout1.
const (
	qs1d1   = "s1d1"
	qs2d1   = "s2d1"
	qs3d1   = "s3d1"
	qf1s1d1 = "s1d1/f1"
	qf2s1d1 = "s1d1/f2"
	qf1s1d2 = "s1d1/s1d2/f1"
	qf2s1d2 = "s1d1/s1d2/f2"
	qf1s2d1 = "s2d1/f1"
	qf1s2d2 = "s2d1/s2d2/f1"
	qf1s2d3 = "s2d1/s2d2/s2d3/f1"
	qf2s2d3 = "s2d1/s2d2/s2d3/f2"
	qf1s3d1 = "s3d1/f1"
	qf1s3d3 = "s3d1/s3d2/s3d3/f1"
	qNull   = "/dev/null"
	qZero   = "/dev/zero"
)

var quietVariants = []qVariant{
	{name: "quiet_simple",
		layers: []qLayer{{handled: qR | qW | qT, quiet: qR, rules: []qRule{qr(qs1d1, 0, true)}}},
		targets: []qTarget{
			{path: qf1s1d1, mode: unix.O_RDONLY},
			{path: qf1s2d1, mode: unix.O_RDONLY, auditR: true},
			{path: qf1s1d1, mode: unix.O_WRONLY, auditW: true},
			// A quiet rule silences a denial only when every denied right is quiet.
			{path: qf1s1d1, mode: unix.O_RDWR, auditR: true, auditW: true},
		}},
	{name: "quiet_allow_read",
		layers: []qLayer{{handled: qR | qW | qT, quiet: qW, rules: []qRule{qr(qs1d1, qR, true), qr(qf1s1d1, qR, false), qr(qf1s2d3, 0, true)}}},
		targets: []qTarget{
			{path: qf1s1d1, mode: unix.O_RDONLY, open: true},
			{path: qf1s1d1, mode: unix.O_WRONLY},
			{path: qf1s1d1, mode: unix.O_RDWR},
			{path: qf1s2d2, mode: unix.O_WRONLY, auditW: true},
			{path: qf1s2d2, mode: unix.O_RDWR, auditR: true, auditW: true},
			{path: qf1s2d3, mode: unix.O_WRONLY},
			{path: qf2s2d3, mode: unix.O_WRONLY, auditW: true},
			{path: qf1s2d3, mode: unix.O_RDONLY, auditR: true},
			{path: qf1s2d3, mode: unix.O_RDWR, auditR: true, auditW: true},
		}},
	{name: "quiet_allow_write",
		layers: []qLayer{{handled: qR | qW | qT, quiet: qR, rules: []qRule{qr(qs1d1, qW, true)}}},
		targets: []qTarget{
			{path: qf1s1d1, mode: unix.O_RDONLY},
			{path: qf1s1d1, mode: unix.O_WRONLY, open: true, auditT: true},
			{path: qf1s2d1, mode: unix.O_RDONLY, auditR: true},
			{path: qf1s1d1, mode: unix.O_RDWR},
		}},
	{name: "allow_write_quiet_trunc",
		layers: []qLayer{{handled: qR | qW | qT, quiet: qT, rules: []qRule{qr(qs1d1, qW, true), qr(qs2d1, qW, false)}}},
		targets: []qTarget{
			{path: qf1s1d1, mode: unix.O_RDONLY, auditR: true},
			{path: qf1s1d1, mode: unix.O_WRONLY, open: true},
			{path: qf1s2d1, mode: unix.O_WRONLY, open: true, auditT: true},
			{path: qf1s3d1, mode: unix.O_RDWR, auditR: true, auditW: true},
		}},
	{name: "allow_rw_quiet_trunc",
		layers: []qLayer{{handled: qR | qW | qT, quiet: qT, rules: []qRule{qr(qs1d1, qR|qW, true), qr(qs2d1, qR|qW, false)}}},
		targets: []qTarget{
			{path: qf1s1d1, mode: unix.O_RDWR, open: true},
			{path: qf1s2d1, mode: unix.O_RDWR, open: true, auditT: true},
		}},
	{name: "quiet_all",
		layers: []qLayer{{handled: qRWTI, quiet: qRWTI, rules: []qRule{qr(qs1d1, 0, true), qr(qf1s2d1, qR|qW, true), qr(qf1s2d3, 0, true),
			qr(qs3d1, qW, false), qr(qZero, qR, false), qr(qNull, qR, true)}}},
		targets: []qTarget{
			{path: qf1s1d1, mode: unix.O_RDONLY},
			{path: qf1s1d1, mode: unix.O_WRONLY},
			{path: qf1s1d1, mode: unix.O_RDWR},
			{path: qf1s2d1, mode: unix.O_RDWR, open: true},
			{path: qf1s3d1, mode: unix.O_WRONLY, open: true, auditT: true},
			{path: qf1s3d1, mode: unix.O_RDONLY, auditR: true},
			{path: qf1s2d3, mode: unix.O_RDWR},
			{path: qf2s2d3, mode: unix.O_RDWR, auditR: true, auditW: true},
			{path: qNull, mode: unix.O_RDONLY, open: true, ioctlNo: true},
			{path: qZero, mode: unix.O_RDONLY, open: true, ioctlNo: true, auditI: true},
		}},
	{name: "quiet_across_mountpoint",
		layers: []qLayer{{handled: qR | qW | qT, quiet: qR, rules: []qRule{qr(qs3d1, 0, true)}}},
		targets: []qTarget{
			{path: qf1s3d3, mode: unix.O_RDONLY},
			{path: qf1s1d1, mode: unix.O_RDONLY, auditR: true},
			{path: qf1s1d1, mode: unix.O_RDWR, auditR: true, auditW: true},
			{path: qf1s3d3, mode: unix.O_WRONLY, auditW: true},
		}},
	{name: "allow_all_quiet",
		layers: []qLayer{{handled: qRWTI, quiet: qRWTI, rules: []qRule{qr(qs1d1, qR|qW|qT, true), qr(qNull, qR|qW|qI, true)}}},
		targets: []qTarget{
			{path: qf1s1d1, mode: unix.O_RDWR, open: true, truncOK: true},
			{path: qNull, mode: unix.O_RDONLY, open: true, ioctlOK: true},
		}},
	{name: "subdomains_off",
		layers: []qLayer{
			{handled: qR, flags: landlock.RestrictSelfLogSubdomainsOff, rules: []qRule{qr("/", qR, false)}},
			{handled: qRWTI, quiet: qR, rules: []qRule{qr(qs1d1, 0, true), qr(qf1s2d2, qR|qW, true), qr(qf1s2d3, qR|qW, false),
				qr(qNull, qR|qW, true), qr(qZero, qR|qW, false)}},
		},
		targets: []qTarget{
			{path: qf1s1d1, mode: unix.O_RDWR},
			{path: qf1s2d1, mode: unix.O_RDWR},
			{path: qf1s2d2, mode: unix.O_RDWR, open: true},
			{path: qf1s2d3, mode: unix.O_RDWR, open: true},
			{path: qNull, mode: unix.O_RDONLY, open: true, ioctlNo: true},
			{path: qZero, mode: unix.O_RDONLY, open: true, ioctlNo: true},
		}},
	{name: "same_exec_off",
		layers: []qLayer{{handled: qRWTI, quiet: qR, flags: landlock.RestrictSelfLogSameExecOff, rules: []qRule{qr(qs1d1, 0, true),
			qr(qf1s2d2, qR|qW, true), qr(qf1s2d3, qR|qW, false), qr(qNull, qR|qW, true), qr(qZero, qR|qW, false)}}},
		targets: []qTarget{
			{path: qf1s1d1, mode: unix.O_RDWR},
			{path: qf1s2d1, mode: unix.O_RDWR},
			{path: qf1s2d2, mode: unix.O_RDWR, open: true},
			{path: qf1s2d3, mode: unix.O_RDWR, open: true},
			{path: qNull, mode: unix.O_RDONLY, open: true, ioctlNo: true},
			{path: qZero, mode: unix.O_RDONLY, open: true, ioctlNo: true},
		}},
	{name: "quiet_two_layers_1",
		layers: []qLayer{
			{handled: qRWTI, quiet: qRWTI, rules: []qRule{qr(qs1d1, qW, true), qr(qs2d1, qR|qW|qT, false), qr(qNull, qR, true), qr(qZero, qR|qW|qI, false)}},
			{handled: qRWTI, quiet: qRWTI, rules: []qRule{qr(qs1d1, qR|qW|qT, false), qr(qs2d1, qW, true), qr(qNull, qR|qW|qI, false), qr(qZero, qR, true)}},
		},
		targets: []qTarget{
			{path: qf1s1d1, mode: unix.O_RDONLY},
			{path: qf1s1d1, mode: unix.O_WRONLY, open: true},
			{path: qf1s2d1, mode: unix.O_RDONLY},
			{path: qf1s2d1, mode: unix.O_WRONLY, open: true},
			{path: qNull, mode: unix.O_RDONLY, open: true, ioctlNo: true},
			{path: qZero, mode: unix.O_RDONLY, open: true, ioctlNo: true},
		}},
	{name: "quiet_two_layers_2",
		layers: []qLayer{
			{handled: qRWTI, quiet: qRWTI, rules: []qRule{qr(qs1d1, qW, false), qr(qs2d1, qR|qW|qT, true), qr(qNull, qR, false), qr(qZero, qR|qW|qI, true)}},
			{handled: qRWTI, quiet: qRWTI, rules: []qRule{qr(qs1d1, qR|qW|qT, true), qr(qs2d1, qW, false), qr(qNull, qR|qW|qI, true), qr(qZero, qR, false)}},
		},
		targets: []qTarget{
			{path: qf1s1d1, mode: unix.O_RDONLY, auditR: true},
			{path: qf1s1d1, mode: unix.O_WRONLY, open: true, auditT: true},
			{path: qf1s2d1, mode: unix.O_RDONLY, auditR: true},
			{path: qf1s2d1, mode: unix.O_WRONLY, open: true, auditT: true},
			{path: qNull, mode: unix.O_RDONLY, open: true, ioctlNo: true, auditI: true},
			{path: qZero, mode: unix.O_RDONLY, open: true, ioctlNo: true, auditI: true},
		}},
	{name: "quiet_two_layers_3",
		layers: []qLayer{
			{handled: qRWTI, quiet: qRWTI, rules: []qRule{qr(qs1d1, qW, false), qr(qs2d1, qR|qW|qT, false), qr(qNull, qR, false), qr(qZero, qR|qW|qI, false)}},
			{handled: qRWTI, quiet: qRWTI, rules: []qRule{qr(qs1d1, qR|qW|qT, false), qr(qs2d1, qW, true), qr(qNull, qR|qW|qI, false), qr(qZero, qR, true)}},
		},
		targets: []qTarget{
			{path: qf1s1d1, mode: unix.O_RDONLY, auditR: true},
			{path: qf1s1d1, mode: unix.O_WRONLY, open: true, auditT: true},
			{path: qf1s2d1, mode: unix.O_RDONLY},
			{path: qf1s2d1, mode: unix.O_WRONLY, open: true},
			{path: qNull, mode: unix.O_RDONLY, open: true, ioctlNo: true, auditI: true},
			{path: qZero, mode: unix.O_RDONLY, open: true, ioctlNo: true},
		}},
	{name: "quiet_two_layers_different_quiet_access",
		layers: []qLayer{
			{handled: qRWTI, quiet: qRWTI, rules: []qRule{qr(qs1d1, qW, true), qr(qs2d1, qR|qW|qT, false), qr(qNull, qR, true), qr(qZero, qR|qW|qI, false)}},
			{handled: qRWTI, quiet: qI, rules: []qRule{qr(qs1d1, qR|qW|qT, false), qr(qs2d1, qW, true), qr(qNull, qR|qW|qI, false), qr(qZero, qR, true)}},
		},
		targets: []qTarget{
			{path: qf1s1d1, mode: unix.O_RDONLY},
			{path: qf1s1d1, mode: unix.O_WRONLY, open: true},
			{path: qf1s2d1, mode: unix.O_RDONLY, auditR: true},
			{path: qf1s2d1, mode: unix.O_WRONLY, open: true, auditT: true},
			{path: qNull, mode: unix.O_RDONLY, open: true, ioctlNo: true},
			{path: qZero, mode: unix.O_RDONLY, open: true, ioctlNo: true},
		}},
	{name: "quiet_two_layers_different_handled_1",
		layers: []qLayer{
			{handled: qR, quiet: qR, rules: []qRule{qr(qf1s1d1, qR, true), qr(qf2s1d1, 0, true), qr(qf1s1d2, 0, true), qr(qf2s1d2, qR, true)}},
			{handled: qW, quiet: qW, rules: []qRule{qr(qf1s1d1, qW, false), qr(qf1s1d2, qW, false)}},
		},
		targets: []qTarget{
			{path: qf1s1d1, mode: unix.O_RDWR, open: true, truncOK: true},
			{path: qf2s1d1, mode: unix.O_RDWR, auditW: true},
			{path: qf1s1d2, mode: unix.O_RDWR},
			{path: qf2s1d2, mode: unix.O_RDWR, auditW: true},
		}},
	{name: "quiet_two_layers_different_handled_2",
		layers: []qLayer{
			{handled: qR, quiet: qR, rules: []qRule{qr(qf1s1d1, qR, false), qr(qf2s1d2, qR, false)}},
			{handled: qW, quiet: qW, rules: []qRule{qr(qf1s1d1, qW, true), qr(qf2s1d1, 0, true), qr(qf1s1d2, qW, true), qr(qf2s1d2, 0, true)}},
		},
		targets: []qTarget{
			{path: qf1s1d1, mode: unix.O_RDWR, open: true, truncOK: true},
			{path: qf2s1d1, mode: unix.O_RDWR},
			{path: qf1s1d2, mode: unix.O_RDWR, auditR: true},
			{path: qf2s1d2, mode: unix.O_RDWR},
		}},
	{name: "quiet_two_layers_different_handled_3",
		layers: []qLayer{
			{handled: qR, quiet: qR, rules: []qRule{qr(qf1s1d1, qR, true), qr(qf2s1d1, 0, true), qr(qf1s1d2, 0, true), qr(qf2s1d2, qR, true)}},
			{handled: qW, quiet: qW, rules: []qRule{qr(qf1s1d1, qW, true), qr(qf2s1d1, 0, true), qr(qf1s1d2, qW, true), qr(qf2s1d2, 0, true)}},
		},
		targets: []qTarget{
			{path: qf1s1d1, mode: unix.O_RDWR, open: true, truncOK: true},
			{path: qf2s1d1, mode: unix.O_RDWR},
			{path: qf1s1d2, mode: unix.O_RDWR},
			{path: qf2s1d2, mode: unix.O_RDWR},
		}},
	{name: "without_quiet_then_with_quiet",
		layers: []qLayer{{handled: qR | qW, quiet: qR, rules: []qRule{qr(qs1d1, qW, false), qr(qs1d1, 0, true)}}},
		targets: []qTarget{
			{path: qf1s1d1, mode: unix.O_RDONLY},
			{path: qf1s1d1, mode: unix.O_WRONLY, open: true, truncOK: true},
			{path: qf1s1d1, mode: unix.O_RDWR},
			{path: qf1s2d1, mode: unix.O_RDONLY, auditR: true},
		}},
}

// Layers the five tests add around a variant's.
var (
	qAllowAll      = qLayer{handled: qRWTI, rules: []qRule{qr("/", qRWTI, false)}}
	qAllowAllQuiet = qLayer{handled: qRWTI, quiet: qRWTI, rules: []qRule{qr("/", qRWTI, true)},
		flags: landlock.RestrictSelfLogSameExecOff | landlock.RestrictSelfLogSubdomainsOff}
	qUseless      = qLayer{handled: qR | qW | qT, quiet: qR | qW | qT, rules: []qRule{qr("/", qR|qW|qT, true)}}
	qDenyAllQuiet = qLayer{handled: qRWTI, quiet: qRWTI, rules: []qRule{qr("/", 0, true)}}
	qDenyAll      = qLayer{handled: qR | qW, quiet: qR | qW}
)

// qStep is a stage of a test: more layers, then the body on targets.
type qStep struct {
	layers  []qLayer
	targets []qTarget
}

// quietTest builds one of the five tests of a variant.
type quietTest struct {
	name  string
	steps func(v qVariant) []qStep
}

// denyAllTargets are a variant's targets under a layer denying everything: every open
// fails, and is logged as the audit flag says.
func denyAllTargets(v qVariant, audit bool) []qTarget {
	ts := make([]qTarget, len(v.targets))
	for i, t := range v.targets {
		ts[i] = qTarget{path: t.path, mode: t.mode, auditR: audit && t.mode != unix.O_WRONLY, auditW: audit && t.mode != unix.O_RDONLY}
	}
	return ts
}

var quietTests = []quietTest{
	{name: "base", steps: func(v qVariant) []qStep { return []qStep{{layers: v.layers, targets: v.targets}} }},
	{name: "allow_all_layer", steps: func(v qVariant) []qStep {
		return []qStep{
			{layers: append([]qLayer{qAllowAll}, v.layers...), targets: v.targets},
			{layers: []qLayer{qAllowAll}, targets: v.targets},
			// Log flags and quiet bits of an inner layer that denies nothing change
			// nothing.
			{layers: []qLayer{qAllowAllQuiet}, targets: v.targets},
		}
	}},
	{name: "many_outer_layers", steps: func(v qVariant) []qStep {
		var ls []qLayer
		for range 16 - len(v.layers) {
			ls = append(ls, qUseless)
		}
		return []qStep{{layers: append(ls, v.layers...), targets: v.targets}}
	}},
	{name: "deny_all_quiet_layer", steps: func(v qVariant) []qStep {
		return []qStep{{layers: append(append([]qLayer(nil), v.layers...), qDenyAllQuiet), targets: denyAllTargets(v, false)}}
	}},
	{name: "deny_all_layer", steps: func(v qVariant) []qStep {
		subdomainsOff := false
		for _, l := range v.layers {
			subdomainsOff = subdomainsOff || l.flags&landlock.RestrictSelfLogSubdomainsOff != 0
		}
		return []qStep{{layers: append(append([]qLayer(nil), v.layers...), qDenyAll), targets: denyAllTargets(v, !subdomainsOff)}}
	}},
}

func qPath(dir, p string) string {
	if strings.HasPrefix(p, "/") {
		return p
	}
	return filepath.Join(dir, p)
}

func (l qLayer) policy(dir string) sandbox.Policy {
	layer := sandbox.Layer{Attr: landlock.RulesetAttr{HandledAccessFS: l.handled, QuietAccessFS: l.quiet}, RestrictFlags: l.flags}
	for _, r := range l.rules {
		var flags uint32
		if r.quiet {
			flags = landlock.AddRuleQuiet
		}
		layer.Paths = append(layer.Paths, sandbox.PathRule{Path: qPath(dir, r.path), Access: r.access, Flags: flags})
	}
	return sandbox.Policy{Layers: []sandbox.Layer{layer}}
}

// qOutcome is what the body saw for one target.
type qOutcome struct {
	open, trunc, ioctl error
	triedIoctl         bool
}

// mountS3d2 makes layout1's s3d1/s3d2 a tmpfs mount point, as in the selftest, in a private
// mount namespace of the calling thread.
func mountS3d2(dir string) error {
	if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
		return fmt.Errorf("unshare(CLONE_NEWNS): %w", err)
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make / private: %w", err)
	}
	s3d2 := filepath.Join(dir, "s3d1/s3d2")
	if err := unix.Mount("llconform", s3d2, "tmpfs", 0, ""); err != nil {
		return fmt.Errorf("mount tmpfs on s3d2: %w", err)
	}
	for _, f := range []string{"s3d3/f1", "s3d4/f1"} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(s3d2, f)), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(s3d2, f), []byte("x"), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// usesMount reports whether a variant reaches beneath the s3d2 mount point, the only place
// where the mount matters.
func (v qVariant) usesMount() bool {
	for _, t := range v.targets {
		if strings.HasPrefix(t.path, "s3d1/s3d2/") {
			return true
		}
	}
	return false
}

// runQuietSteps runs a test's steps on a fresh thread, with the s3d2 mount if withMount.
func runQuietSteps(dir string, withMount bool, steps []qStep) ([][]qOutcome, error) {
	outs := make([][]qOutcome, len(steps))
	err := sandbox.OnThread(func() error {
		if withMount {
			if err := mountS3d2(dir); err != nil {
				return err
			}
		}
		for i, s := range steps {
			for j, l := range s.layers {
				if l.handled == 0 {
					continue
				}
				if err := l.policy(dir).Enforce(); err != nil {
					return fmt.Errorf("stage %d, layer %d: %w", i+1, j+1, err)
				}
			}
			outs[i] = make([]qOutcome, len(s.targets))
			for j, t := range s.targets {
				o := &outs[i][j]
				fd, err := unix.Open(qPath(dir, t.path), t.mode|unix.O_CLOEXEC, 0)
				o.open = err
				if err != nil {
					continue
				}
				o.trunc = unix.Ftruncate(fd, 0)
				if t.ioctlOK || t.ioctlNo {
					o.triedIoctl = true
					_, o.ioctl = unix.IoctlGetInt(fd, ioFION)
				}
				unix.Close(fd)
			}
		}
		return nil
	})
	return outs, err
}

// expectedRecords lists the ACCESS records a test's steps must give, in order.
func expectedRecords(dir string, steps []qStep) []loggedDenial {
	var ds []loggedDenial
	for _, s := range steps {
		for _, t := range s.targets {
			p := qPath(dir, t.path)
			switch {
			case t.auditR && t.auditW:
				ds = append(ds, loggedDenial{blockers: "fs.write_file,fs.read_file", path: p})
			case t.auditR:
				ds = append(ds, loggedDenial{blockers: "fs.read_file", path: p})
			case t.auditW:
				ds = append(ds, loggedDenial{blockers: "fs.write_file", path: p})
			}
			if t.auditT {
				ds = append(ds, loggedDenial{blockers: "fs.truncate", path: p})
			}
			if t.auditI {
				ds = append(ds, loggedDenial{blockers: "fs.ioctl_dev", path: p, ioctlcmd: fmt.Sprintf("%#x", ioFION)})
			}
		}
	}
	return ds
}

// checkOutcomes asserts what the body saw, naming the test stage and target.
func checkOutcomes(name string, steps []qStep, outs [][]qOutcome) {
	GinkgoHelper()
	for i, s := range steps {
		for j, t := range s.targets {
			o := outs[i][j]
			what := fmt.Sprintf("%s, stage %d: open(%s, %s)", name, i+1, t.path, qMode(t.mode))
			if !t.open {
				spec.ExpectErr(o.open, unix.EACCES, "%s", what)
				continue
			}
			spec.ExpectErr(o.open, nil, "%s", what)
			switch {
			case t.truncOK:
				spec.ExpectErr(o.trunc, nil, "%s, then ftruncate", what)
			case o.trunc == nil:
				Fail(fmt.Sprintf("%s, then ftruncate: got success, want a failure", what))
			case t.mode != unix.O_RDONLY:
				spec.ExpectErr(o.trunc, unix.EACCES, "%s, then ftruncate", what)
			}
			switch {
			case t.ioctlOK && spec.IsErrno(o.ioctl, unix.EACCES):
				Fail(fmt.Sprintf("%s, then ioctl(FIONREAD): got EACCES, want anything else", what))
			case t.ioctlNo:
				spec.ExpectErr(o.ioctl, unix.EACCES, "%s, then ioctl(FIONREAD)", what)
			}
		}
	}
}

func qMode(mode int) string {
	switch mode {
	case unix.O_WRONLY:
		return "O_WRONLY"
	case unix.O_RDWR:
		return "O_RDWR"
	}
	return "O_RDONLY"
}

var _ = suite.Describe("quiet rules and flags across layers (audit_quiet_layout1)", func() {
	for _, v := range quietVariants {
		args := []any{spec.Feature("audit.quiet_access_fs", 10), spec.Needs("audit", "root"), spec.ID("audit_quiet_layout1." + v.name)}
		for _, t := range quietTests {
			args = append(args, spec.Selftest("fs_test", "audit_quiet_layout1."+t.name))
		}
		// One spec per variant runs the five tests, each on a thread of its own, and
		// reads the records once: the stream is whole and in order only after a
		// synchronisation with the audit queue, which is what costs in a guest.
		args = append(args, func() {
			e := requireQuiet("audit.quiet_access_fs", landlock.RulesetAttr{HandledAccessFS: qR, QuietAccessFS: qR})
			if e == nil {
				return
			}
			layout1(e.dir)
			var want []loggedDenial
			var wantText []string
			for _, t := range quietTests {
				steps := t.steps(v)
				outs, err := runQuietSteps(e.dir, v.usesMount(), steps)
				Expect(err).NotTo(HaveOccurred(), "%s: run the layers and the opens", t.name)
				checkOutcomes(t.name, steps, outs)
				w := expectedRecords(e.dir, steps)
				want = append(want, w...)
				wantText = append(wantText, fmt.Sprintf("  %s: %s", t.name, denialsText(w)))
			}
			l := e.log()
			got := denialsOf(deniedBy(l, os.Getpid()))
			if fmt.Sprint(got) != fmt.Sprint(want) {
				Fail(fmt.Sprintf("variant %s: ACCESS records, the five tests in order:\n got  %s\n want, test by test:\n%s\nrecords:\n%s",
					v.name, denialsText(got), strings.Join(wantText, "\n"), dump(l)))
			}
			spec.EnforcedVerdict("audit.quiet_access_fs", 10)
		})
		It(fmt.Sprintf("MUST log exactly the unquieted denials of variant %s: alone, wrapped in allowing layers, under outer layers up to 16, and under an inner layer denying everything, quietly or not", v.name), args...)
	}
})
