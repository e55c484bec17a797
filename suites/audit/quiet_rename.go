package audit

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/sys/unix"

	"github.com/llconform/llconform/internal/audit"
	"github.com/llconform/llconform/internal/landlock"
	"github.com/llconform/llconform/internal/sandbox"
	"github.com/llconform/llconform/internal/spec"
)

// The quiet rename specs use a small part of fs_test.c's layout1, under the spec's own
// directory, with the names the selftests use. For the mount cases, s1d2 is bind-mounted
// on s2d2 (as audit_quiet_rename's fixture does for every test), so that s1d3 is also
// reachable as s2d1/s2d2/s1d3, whose walk up crosses s2d1 and never s1d1.
const (
	qrS1d1     = "s1d1"
	qrFile1S1  = "s1d1/f1"
	qrFile2S1  = "s1d1/f2"
	qrS1d2     = "s1d1/s1d2"
	qrS1d3     = "s1d1/s1d2/s1d3"
	qrFile2S13 = "s1d1/s1d2/s1d3/f2"
	qrS2d1     = "s2d1"
	qrFile1S2  = "s2d1/f1"
	qrS2d2     = "s2d1/s2d2"
	qrBindS1d3 = "s2d1/s2d2/s1d3"
	qrBindF1   = "s2d1/s2d2/s1d3/f1"
	qrBindF2   = "s2d1/s2d2/s1d3/f2"
	qrS4d1     = "s4d1"
	qrS4d2     = "s4d1/s4d2"
)

// qrLayout lists the directories (trailing "/") and files the cases start from.
var qrLayout = []string{
	qrFile1S1, qrFile2S1, qrS1d2 + "/f1", qrS1d3 + "/f1", qrFile2S13,
	qrFile1S2, qrS2d2 + "/",
}

// qrAccess is the set every audit_quiet_rename test handles: what a cross-directory
// rename of a file needs.
const qrAccess = landlock.AccessFSMakeReg | landlock.AccessFSRemoveFile | landlock.AccessFSRefer

// qrRule is one path-beneath rule: access granted on path, with or without the QUIET flag.
type qrRule struct {
	path   string
	access uint64
	quiet  bool
}

// qrLayer is one ruleset, enforced in order (the first is the outermost).
type qrLayer struct {
	handled, quiet uint64
	rules          []qrRule
}

// qrRecord is an expected ACCESS record: its blockers and the path it names.
type qrRecord struct {
	blockers string
	path     string
}

type quietRenameCase struct {
	name   string // the fs_test.c test, audit_quiet_rename.<name>
	layers []qrLayer
	// unlink lists the files removed before the layers (the destination, for a rename
	// that does not replace a file).
	unlink []string
	// bind mounts s1d2 on s2d2 in a private mount namespace before the rename.
	bind bool
	// disconnect opens s2d1/s2d2/s1d3 (through the bind mount), then moves s1d3 to
	// s4d1/s4d2 so that the opened directory lies outside its mount's root; from and
	// to are then names relative to that directory.
	disconnect bool
	from, to   string
	exchange   bool // renameat2(RENAME_EXCHANGE) rather than renameat
	want       unix.Errno
	records    []qrRecord // in the order the kernel logs them: source, then destination
	// quieted says that a quiet rule hides at least one record the kernel would log
	// without it: what only ABI 10 does.
	quieted bool
}

// qrSimple is the one-layer shape most tests share (simple_quiet_rename in fs_test.c):
// file1 of s1d1 renamed to file1 of s2d1, removed beforehand, with a rule on each parent
// granting everything handled or nothing, quiet or not. A rule that grants nothing and is
// not quiet is left out, as the selftest does.
func qrSimple(name string, quietAccess uint64, srcAllow, dstAllow, srcQuiet, dstQuiet bool, records ...qrRecord) quietRenameCase {
	l := qrLayer{handled: qrAccess, quiet: quietAccess}
	for _, r := range []struct {
		path         string
		allow, quiet bool
	}{{qrS1d1, srcAllow, srcQuiet}, {qrS2d1, dstAllow, dstQuiet}} {
		if !r.allow && !r.quiet {
			continue
		}
		var access uint64
		if r.allow {
			access = qrAccess
		}
		l.rules = append(l.rules, qrRule{path: r.path, access: access, quiet: r.quiet})
	}
	c := quietRenameCase{name: name, layers: []qrLayer{l}, unlink: []string{qrFile1S2},
		from: qrFile1S1, to: qrFile1S2, want: unix.EACCES, records: records}
	if srcAllow && dstAllow {
		c.want = 0
	}
	return c
}

func (c quietRenameCase) with(quieted bool) quietRenameCase {
	c.quieted = quieted
	return c
}

var (
	qrSrcRecord = qrRecord{"fs.remove_file,fs.refer", qrS1d1}
	qrDstRecord = qrRecord{"fs.make_reg,fs.refer", qrS2d1}
	// qrOuterQuiet is the outer layer of the two-layer tests: the source's parent
	// allowed, the destination's denied by a quiet rule.
	qrOuterQuiet = qrLayer{handled: qrAccess, quiet: qrAccess, rules: []qrRule{
		{path: qrS1d1, access: qrAccess}, {path: qrS2d1, quiet: true}}}
	// qrDenyAllQuiet denies both parents with quiet rules.
	qrDenyAllQuiet = qrLayer{handled: qrAccess, quiet: qrAccess, rules: []qrRule{
		{path: qrS1d1, quiet: true}, {path: qrS2d1, quiet: true}}}
)

// qrMakeRemove is what a rename needs but REFER.
const qrMakeRemove = landlock.AccessFSMakeReg | landlock.AccessFSRemoveFile

var quietRenameCases = []quietRenameCase{
	qrSimple("rename_ok", qrAccess, true, true, false, false),
	qrSimple("no_quiet", qrAccess, false, false, false, false, qrSrcRecord, qrDstRecord),
	qrSimple("quiet", qrAccess, false, false, true, true).with(true),
	qrSimple("source_no_quiet_dest_quiet", qrAccess, false, false, false, true, qrSrcRecord).with(true),
	qrSimple("source_quiet_dest_no_quiet", qrAccess, false, false, true, false, qrDstRecord).with(true),
	// The quiet rules cover REFER only: each record also lists a right they do not cover.
	qrSimple("only_quiet_refer", landlock.AccessFSRefer, false, false, true, true, qrSrcRecord, qrDstRecord),
	qrSimple("source_allow_dest_quiet", qrAccess, true, false, false, true).with(true),
	qrSimple("source_quiet_dest_allow", qrAccess, false, true, true, false).with(true),
	{
		name: "handle_all_deny_quiet_refer",
		layers: []qrLayer{{handled: qrAccess, quiet: landlock.AccessFSRefer, rules: []qrRule{
			{path: qrS1d1, access: qrMakeRemove, quiet: true}, {path: qrS2d1, access: qrMakeRemove, quiet: true}}}},
		unlink: []string{qrFile1S2}, from: qrFile1S1, to: qrFile1S2, want: unix.EXDEV, quieted: true,
	},
	{
		name: "handle_all_deny_not_quiet_refer",
		layers: []qrLayer{{handled: qrAccess, rules: []qrRule{
			{path: qrS1d1, access: qrMakeRemove}, {path: qrS2d1, access: qrMakeRemove}}}},
		unlink: []string{qrFile1S2}, from: qrFile1S1, to: qrFile1S2, want: unix.EXDEV,
		records: []qrRecord{{"fs.refer", qrS1d1}, {"fs.refer", qrS2d1}},
	},
	{
		name: "handle_all_deny_refer_quiet_source_not_quiet_dest",
		layers: []qrLayer{{handled: qrAccess, quiet: landlock.AccessFSRefer, rules: []qrRule{
			{path: qrS1d1, access: qrMakeRemove, quiet: true}, {path: qrS2d1, access: qrMakeRemove}}}},
		unlink: []string{qrFile1S2}, from: qrFile1S1, to: qrFile1S2, want: unix.EXDEV,
		records: []qrRecord{{"fs.refer", qrS2d1}}, quieted: true,
	},
	{
		// Same parent, over an existing file: no REFER needed.
		name:   "quiet_same_dir",
		layers: []qrLayer{{handled: qrAccess, quiet: qrAccess, rules: []qrRule{{path: qrS1d1, quiet: true}}}},
		from:   qrFile1S1, to: qrFile2S1, want: unix.EACCES, quieted: true,
	},
	{
		// Quiet rules on the files themselves: a rename is checked against the parents,
		// which no quiet rule covers. The destination file is replaced, hence its
		// parent's REMOVE_FILE.
		name: "quiet_flag_on_file_ignored",
		layers: []qrLayer{{handled: qrAccess, quiet: qrAccess, rules: []qrRule{
			{path: qrFile1S1, quiet: true}, {path: qrFile1S2, quiet: true}}}},
		from: qrFile1S1, to: qrFile1S2, want: unix.EACCES,
		records: []qrRecord{qrSrcRecord, {"fs.remove_file,fs.make_reg,fs.refer", qrS2d1}},
	},
	{
		name: "quiet_flag_on_file_ignored_same_dir",
		layers: []qrLayer{{handled: qrAccess, quiet: qrAccess, rules: []qrRule{
			{path: qrFile1S1, quiet: true}, {path: qrFile2S1, quiet: true}}}},
		from: qrFile1S1, to: qrFile2S1, want: unix.EACCES,
		records: []qrRecord{{"fs.remove_file,fs.make_reg", qrS1d1}},
	},
	{
		// The youngest denying layer decides: the inner one for the source, whose quiet
		// rule covers REFER but not REMOVE_FILE; the outer one, all quiet, for the
		// destination.
		name: "two_layers_different_quiet1",
		layers: []qrLayer{qrOuterQuiet, {handled: qrAccess, quiet: landlock.AccessFSRefer, rules: []qrRule{
			{path: qrS1d1, quiet: true}, {path: qrS2d1, access: qrAccess}}}},
		unlink: []string{qrFile1S2}, from: qrFile1S1, to: qrFile1S2, want: unix.EACCES,
		records: []qrRecord{qrSrcRecord}, quieted: true,
	},
	{
		// The inner layer handles REFER only, and quiets it.
		name: "two_layers_different_quiet2",
		layers: []qrLayer{qrOuterQuiet, {handled: landlock.AccessFSRefer, quiet: landlock.AccessFSRefer, rules: []qrRule{
			{path: qrS1d1, quiet: true}, {path: qrS2d1, access: landlock.AccessFSRefer}}}},
		unlink: []string{qrFile1S2}, from: qrFile1S1, to: qrFile1S2, want: unix.EACCES, quieted: true,
	},
	{
		name: "two_layers_different_quiet3",
		layers: []qrLayer{qrOuterQuiet, {handled: qrAccess, quiet: qrAccess, rules: []qrRule{
			{path: qrS1d1, quiet: true}, {path: qrS2d1, access: qrAccess}}}},
		unlink: []string{qrFile1S2}, from: qrFile1S1, to: qrFile1S2, want: unix.EACCES, quieted: true,
	},
	{
		// The inner layer, without rules, has no quiet rule to hide its denials.
		name:   "first_layer_quiet_deny_all_second_layer_not_quiet_deny_all",
		layers: []qrLayer{qrDenyAllQuiet, {handled: qrAccess, quiet: qrAccess}},
		unlink: []string{qrFile1S2}, from: qrFile1S1, to: qrFile1S2, want: unix.EACCES,
		records: []qrRecord{qrSrcRecord, qrDstRecord},
	},
	{
		name:   "first_layer_quiet_deny_all_second_layer_dest_not_quiet",
		layers: []qrLayer{qrDenyAllQuiet, {handled: qrAccess, quiet: qrAccess, rules: []qrRule{{path: qrS1d1, quiet: true}}}},
		unlink: []string{qrFile1S2}, from: qrFile1S1, to: qrFile1S2, want: unix.EACCES,
		records: []qrRecord{qrDstRecord}, quieted: true,
	},
	{
		// Only MAKE_REG is quiet and only the source's parent lacks it (the exchange
		// moves a file into it); its rule is quiet.
		name: "rename_xchg",
		layers: []qrLayer{{handled: qrAccess, quiet: landlock.AccessFSMakeReg, rules: []qrRule{
			{path: qrS1d1, access: landlock.AccessFSRemoveFile | landlock.AccessFSRefer, quiet: true},
			{path: qrS2d1, access: qrAccess}}}},
		from: qrFile1S1, to: qrFile1S2, exchange: true, want: unix.EACCES, quieted: true,
	},
	{
		// The walk from s1d3 through the bind mount reaches s2d1, whose rule is quiet.
		name:   "quiet_on_parent_mount",
		layers: []qrLayer{{handled: qrAccess, quiet: qrAccess, rules: []qrRule{{path: qrS2d1, quiet: true}}}},
		unlink: []string{qrFile2S13}, bind: true, from: qrBindF1, to: qrBindF2, want: unix.EACCES, quieted: true,
	},
	{
		// s1d1 holds s1d3 in the file system but not on the path through the bind mount.
		name:   "quiet_behind_mountpoint_ignored",
		layers: []qrLayer{{handled: qrAccess, quiet: qrAccess, rules: []qrRule{{path: qrS1d1, quiet: true}}}},
		unlink: []string{qrFile2S13}, bind: true, from: qrBindF1, to: qrBindF2, want: unix.EACCES,
		records: []qrRecord{{"fs.remove_file,fs.make_reg", qrBindS1d3}},
	},
	{
		// A disconnected directory's walk still reaches the mount point's parent.
		name:   "quiet_on_parent_mount_disconnected",
		layers: []qrLayer{{handled: qrAccess, quiet: qrAccess, rules: []qrRule{{path: qrS2d1, quiet: true}}}},
		unlink: []string{qrFile2S13}, bind: true, disconnect: true, from: "f1", to: "f2", want: unix.EACCES, quieted: true,
	},
	{
		// ... and also its file system parents, where it now lies (s4d1).
		name:   "quiet_behind_mountpoint_disconnected",
		layers: []qrLayer{{handled: qrAccess, quiet: qrAccess, rules: []qrRule{{path: qrS4d1, quiet: true}}}},
		unlink: []string{qrFile2S13}, bind: true, disconnect: true, from: "f1", to: "f2", want: unix.EACCES, quieted: true,
	},
}

// policy builds the case's layers on the objects beneath dir.
func (c quietRenameCase) policy(dir string) sandbox.Policy {
	var p sandbox.Policy
	for _, l := range c.layers {
		sl := sandbox.Layer{Attr: landlock.RulesetAttr{HandledAccessFS: l.handled, QuietAccessFS: l.quiet}}
		for _, r := range l.rules {
			var flags uint32
			if r.quiet {
				flags = landlock.AddRuleQuiet
			}
			sl.Paths = append(sl.Paths, sandbox.PathRule{Path: filepath.Join(dir, r.path), Access: r.access, Flags: flags})
		}
		p.Layers = append(p.Layers, sl)
	}
	return p
}

// describeLayers is the case's layers for messages.
func (c quietRenameCase) describeLayers() string {
	layers := make([]string, len(c.layers))
	for i, l := range c.layers {
		rules := make([]string, len(l.rules))
		for j, r := range l.rules {
			rules[j] = fmt.Sprintf("%s: %q", r.path, landlock.Names(landlock.KindFS, r.access))
			if r.quiet {
				rules[j] += " QUIET"
			}
		}
		layers[i] = fmt.Sprintf("layer %d handling %s, quiet %q, rules [%s]", i+1,
			landlock.Names(landlock.KindFS, l.handled), landlock.Names(landlock.KindFS, l.quiet), strings.Join(rules, ", "))
	}
	return strings.Join(layers, "; ")
}

// describe is the case's operation for messages.
func (c quietRenameCase) describe() string {
	op := "renameat"
	if c.exchange {
		op = "renameat2(RENAME_EXCHANGE)"
	}
	if c.disconnect {
		return fmt.Sprintf("%s(%s, %s) relative to the disconnected %s", op, c.from, c.to, qrBindS1d3)
	}
	return fmt.Sprintf("%s(%s, %s)", op, c.from, c.to)
}

// run prepares the case's objects beneath dir and does its rename under its layers, on a
// thread of its own: the bind mount lives in that thread's private mount namespace and
// goes with it. It returns the rename's result and the inode numbers of the records'
// paths, taken before the rename.
func (c quietRenameCase) run(dir string) (sandbox.Result, map[string]uint64) {
	var res sandbox.Result
	inos := map[string]uint64{}
	p := func(rel string) string { return filepath.Join(dir, rel) }
	setup := func() error {
		for _, f := range c.unlink {
			if err := unix.Unlink(p(f)); err != nil {
				return spec.SetupFailed("unlink "+f, err)
			}
		}
		if c.bind {
			if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
				return spec.SetupFailed("unshare(CLONE_NEWNS)", err)
			}
			if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
				return spec.SetupFailed("make / private", err)
			}
			if err := unix.Mount(p(qrS1d2), p(qrS2d2), "", unix.MS_BIND, ""); err != nil {
				return spec.SetupFailed("bind-mount s1d2 on s2d2", err)
			}
		}
		for _, r := range c.records {
			var st unix.Stat_t
			if err := unix.Stat(p(r.path), &st); err != nil {
				return spec.SetupFailed("stat "+r.path, err)
			}
			inos[r.path] = st.Ino
		}
		return nil
	}
	err := sandbox.OnThread(func() error {
		if err := setup(); err != nil {
			return err
		}
		dirfd := unix.AT_FDCWD
		from, to := p(c.from), p(c.to)
		if c.disconnect {
			fd, err := unix.Open(p(qrBindS1d3), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
			if err != nil {
				return spec.SetupFailed("open "+qrBindS1d3, err)
			}
			defer unix.Close(fd)
			if err := os.Mkdir(p(qrS4d1), 0o755); err != nil {
				return spec.SetupFailed("mkdir "+qrS4d1, err)
			}
			if err := unix.Rename(p(qrS1d3), p(qrS4d2)); err != nil {
				return spec.SetupFailed("move s1d3 out of the bind mount's root", err)
			}
			dirfd, from, to = fd, c.from, c.to
		}
		if err := c.policy(dir).Enforce(); err != nil {
			return fmt.Errorf("enforce policy: %w", err)
		}
		var flags uint
		if c.exchange {
			flags = unix.RENAME_EXCHANGE
		}
		res.Err = unix.Renameat2(dirfd, from, dirfd, to, flags)
		return nil
	})
	if err != nil {
		res.Setup = err
	}
	return res, inos
}

var _ = suite.Describe("quiet rules on rename and exchange", func() {
	for _, c := range quietRenameCases {
		logged := "no ACCESS record"
		if len(c.records) > 0 {
			logged = fmt.Sprintf("exactly %d ACCESS record(s)", len(c.records))
		}
		It(fmt.Sprintf("MUST give %s for %s and log %s (%s)", spec.ErrnoName(errnoOrNil(c.want)), c.describe(), logged, c.name),
			spec.Feature("audit.quiet_access_fs", 10), spec.Needs("audit", "root"), spec.ID("quiet_rename."+c.name),
			spec.Selftest("fs_test", "audit_quiet_rename."+c.name), func() {
				e := requireQuiet("audit.quiet_access_fs", landlock.RulesetAttr{HandledAccessFS: qrAccess, QuietAccessFS: qrAccess})
				if e == nil {
					return
				}
				for _, entry := range qrLayout {
					mkEntry(e.dir, entry)
				}
				res, inos := c.run(e.dir)
				spec.ExpectErrno(res, errnoOrNil(c.want), "%s under %s", c.describe(), c.describeLayers())
				l := e.log()
				ours := deniedBy(l, os.Getpid())
				got := make([]qrRecord, len(ours))
				for i, a := range ours {
					got[i].blockers = a.BlockerList()
					if a.Path != nil {
						got[i].path, _ = filepath.Rel(e.dir, a.Path.Value)
					}
				}
				wantRecords := c.records
				if wantRecords == nil {
					wantRecords = []qrRecord{}
				}
				Expect(got).To(Equal(wantRecords), "ACCESS records (blockers, path relative to the layout) of %s under %s\nrecords:\n%s", c.describe(), c.describeLayers(), dump(l))
				for i, a := range ours {
					expectDirRecord(a, filepath.Join(e.dir, c.records[i].path), inos[c.records[i].path])
				}
				if c.quieted {
					spec.EnforcedVerdict("audit.quiet_access_fs", 10)
				} else {
					spec.FeatureVerdict("audit.quiet_access_fs", 10)
				}
			})
	}
})

// mkEntry creates a directory (trailing "/") or a file beneath dir, with its parents.
func mkEntry(dir, entry string) {
	GinkgoHelper()
	p := filepath.Join(dir, entry)
	if strings.HasSuffix(entry, "/") {
		Expect(os.MkdirAll(p, 0o755)).To(Succeed())
		return
	}
	Expect(os.MkdirAll(filepath.Dir(p), 0o755)).To(Succeed())
	Expect(os.WriteFile(p, []byte("x"), 0o644)).To(Succeed())
}

// expectDirRecord checks a record's path=, dev= and ino= against a directory whose inode
// number was taken where the record's path leads (through a bind mount, maybe).
func expectDirRecord(a audit.Access, path string, ino uint64) {
	GinkgoHelper()
	Expect(a.Path).NotTo(BeNil(), "path= field")
	Expect(a.Path.Value).To(Equal(path), "path=")
	Expect(a.Dev).NotTo(BeNil(), "dev= field")
	Expect(a.Dev.Value).NotTo(BeEmpty(), "dev=")
	Expect(a.HasIno).To(BeTrue(), "ino= field")
	Expect(a.Ino).To(Equal(ino), "ino= of %s", path)
}

// errnoOrNil turns a table's 0 into success.
func errnoOrNil(e unix.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}
