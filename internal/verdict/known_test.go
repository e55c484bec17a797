package verdict

import (
	"reflect"
	"strings"
	"testing"

	"github.com/llconform/llconform/internal/report"
	"github.com/llconform/llconform/internal/report/reporttest"
)

func TestParseKnownIssues(t *testing.T) {
	data := `# expected failures of our 6.1 backports
- spec: "fs/REFER MUST deny rename (EXDEV)"
  kernel: "debian-6.1*"
  reason: no REFER fix in 6.1
  link: https://bugs.example.org/1
- spec: /^net\/.*SCTP/
  kernel: "*"
  reason: SCTP module missing
- feature: fs.ioctl_dev
  kernel: 6.8.*
  reason: half-backported
`
	got, err := ParseKnownIssues([]byte(data), "known.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := []KnownIssue{
		{Spec: "fs/REFER MUST deny rename (EXDEV)", Kernel: "debian-6.1*", Reason: "no REFER fix in 6.1", Link: "https://bugs.example.org/1", Where: "known.yaml:2"},
		{Spec: `/^net\/.*SCTP/`, Kernel: "*", Reason: "SCTP module missing", Where: "known.yaml:6"},
		{Feature: "fs.ioctl_dev", Kernel: "6.8.*", Reason: "half-backported", Where: "known.yaml:9"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ParseKnownIssues =\n%+v\nwant\n%+v", got, want)
	}
	if got, err := ParseKnownIssues([]byte("# nothing known yet\n"), "k.yaml"); err != nil || got != nil {
		t.Errorf("empty file: %v, %v", got, err)
	}

	tests := []struct{ name, data, want string }{
		{"not a list", "spec: x\n", "k.yaml:1: want a list of known issues"},
		{"not a mapping", "- x\n", "k.yaml:1: want a mapping"},
		{"typo", "- spec: a\n  reason: r\n  kernal: '*'\n", `k.yaml:3: unknown key "kernal"`},
		{"twice", "- spec: a\n  spec: b\n  kernel: '*'\n  reason: r\n", `k.yaml:2: key "spec" given twice`},
		{"not a string", "- spec: [a]\n  kernel: '*'\n  reason: r\n", "k.yaml:1: want a string"},
		{"not a string, block", "- kernel: '*'\n  reason: r\n  spec:\n    - a\n", "k.yaml:4: want a string"},
		{"typo hint", "- spec: a\n  kernal: '*'\n", `k.yaml:2: unknown key "kernal" (want one of spec, feature, kernel, reason, link)`},
		{"unknown key in a merge", "- &b\n  spec: a\n  kernel: '*'\n  reason: r\n  lnk: x\n- <<: *b\n  spec: b\n", `k.yaml:5: unknown key "lnk"`},
		{"both", "- spec: a\n  feature: fs.x\n  kernel: '*'\n  reason: r\n", "k.yaml:1: want exactly one of spec and feature"},
		{"neither", "- kernel: '*'\n  reason: r\n", "k.yaml:1: want exactly one of spec and feature"},
		{"no kernel", "- spec: a\n  reason: r\n", "k.yaml:1: kernel is required"},
		{"no reason", "- spec: a\n  kernel: '*'\n", "k.yaml:1: reason is required"},
		{"bad glob", "- spec: a\n  kernel: '[x'\n  reason: r\n", `k.yaml:1: kernel pattern "[x"`},
		{"bad regexp", "- spec: /a(/\n  kernel: '*'\n  reason: r\n", "k.yaml:1: spec regexp /a(/"},
		{"second entry", "- spec: a\n  kernel: '*'\n  reason: r\n- feature: fs.x\n  reason: r\n", "k.yaml:4: kernel is required"},
		{"syntax", "- spec: [a\n", "k.yaml: yaml: line"},
	}
	for _, tt := range tests {
		_, err := ParseKnownIssues([]byte(tt.data), "k.yaml")
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want it to contain %q", tt.name, err, tt.want)
		}
	}

	// Every bad entry is reported, each with its line.
	_, err = ParseKnownIssues([]byte("- spec: a\n  kernal: x\n- spec: b\n  kernel: '*'\n  reason: r\n  spec: c\n"), "k.yaml")
	if want := "k.yaml:2: unknown key \"kernal\" (want one of spec, feature, kernel, reason, link)\nk.yaml:6: key \"spec\" given twice"; err == nil || err.Error() != want {
		t.Errorf("two bad entries: err = %v, want\n%s", err, want)
	}
	_, err = ParseKnownIssues([]byte("- spec: a\n  reason: r\n- feature: f\n  reason: r\n"), "k.yaml")
	if want := "k.yaml:1: kernel is required (use \"*\" for every kernel)\nk.yaml:3: kernel is required (use \"*\" for every kernel)"; err == nil || err.Error() != want {
		t.Errorf("two invalid entries: err = %v, want\n%s", err, want)
	}
}

// Anchors, aliases and merge keys are YAML: they work, and Where is where each entry starts.
func TestParseKnownIssuesAliases(t *testing.T) {
	data := `- &issue
  spec: fs/a
  kernel: &k61 "debian-6.1*"
  reason: &why backport pending
- <<: *issue
  spec: fs/b
- feature: fs.refer
  kernel: *k61
  reason: *why
  link:
`
	got, err := ParseKnownIssues([]byte(data), "k.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := []KnownIssue{
		{Spec: "fs/a", Kernel: "debian-6.1*", Reason: "backport pending", Where: "k.yaml:1"},
		{Spec: "fs/b", Kernel: "debian-6.1*", Reason: "backport pending", Where: "k.yaml:5"},
		{Feature: "fs.refer", Kernel: "debian-6.1*", Reason: "backport pending", Where: "k.yaml:7"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ParseKnownIssues =\n%+v\nwant\n%+v", got, want)
	}
	if got, err := ParseKnownIssues([]byte("[]\n"), "k.yaml"); err != nil || got != nil {
		t.Errorf("empty list: %v, %v", got, err)
	}
}

// knownRun is trixie's fs suite from the Ginkgo fixture: one failed spec
// (fs.ioctl_dev), one panicked, one skipped, the rest passed. The scope suite's timeout is
// left out so that conclusions turn on the known issues alone.
func knownRun(t *testing.T) *report.Result {
	t.Helper()
	res := reporttest.Sample(t)
	trixie := res.Runs[0]
	trixie.Suites = trixie.Suites[:1]
	return &report.Result{Runs: []report.Run{trixie, res.Runs[1]}}
}

func featureOf(t *testing.T, r *report.Run, name string) report.FeatureResult {
	t.Helper()
	for _, f := range evaluateFeatures(r) {
		if f.Feature == name {
			return f
		}
	}
	t.Fatalf("kernel %s has no feature %s", r.Kernel.Name, name)
	return report.FeatureResult{}
}

func TestApplyKnownIssues(t *testing.T) {
	base := knownRun(t)
	if got := concludeRun(&base.Runs[0]); got != report.ConclusionFail {
		t.Fatalf("fixture concludes %s, want FAIL before any known issue", got)
	}
	ioctl := report.Known{Reason: "IOCTL_DEV half-backported", Link: "https://bugs.example.org/7"}
	for _, tt := range []struct {
		name  string
		issue KnownIssue
		id    string // the mark's Issue
	}{
		{"exact spec", KnownIssue{Spec: reporttest.IoctlSpec, Kernel: "trixie", Reason: ioctl.Reason, Link: ioctl.Link, Where: "k.yaml:3"},
			"spec " + reporttest.IoctlSpec + " (k.yaml:3)"},
		{"regexp spec", KnownIssue{Spec: "/ioctl on a .* device/", Kernel: "tri*", Reason: ioctl.Reason, Link: ioctl.Link}, "spec /ioctl on a .* device/"},
		{"feature by release", KnownIssue{Feature: "fs.ioctl_dev", Kernel: "6.12.*", Reason: ioctl.Reason, Link: ioctl.Link}, "feature fs.ioctl_dev"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res := knownRun(t)
			notices, err := ApplyKnownIssues(res, []KnownIssue{tt.issue})
			if err != nil || len(notices) != 0 {
				t.Fatalf("notices %v, err %v", notices, err)
			}
			r := &res.Runs[0]
			ioctl := ioctl
			ioctl.Issue = tt.id
			sp := reporttest.SpecByText(t, r.Suites[0], "ioctl on a char device MUST be denied without FS_IOCTL_DEV")
			if sp.State != report.Failed || !reflect.DeepEqual(sp.Known, &ioctl) {
				t.Errorf("spec state %s, known %+v", sp.State, sp.Known)
			}
			if c := r.Suites[0].Counts; c.Failed != 0 || c.Known != 1 || c.Passed != 5 {
				t.Errorf("counts = %+v, want the failure counted as known", c)
			}
			f := featureOf(t, r, "fs.ioctl_dev")
			if f.Outcome != report.Broken || !reflect.DeepEqual(f.Known, &ioctl) || f.Fails() {
				t.Errorf("feature = %+v", f)
			}
			// The panicked spec still makes the run INFRA: a known issue excuses failures only.
			if got := concludeRun(r); got != report.ConclusionInfra {
				t.Errorf("Conclude = %s, want %s", got, report.ConclusionInfra)
			}
		})
	}

	t.Run("other kernel", func(t *testing.T) {
		res := knownRun(t)
		if _, err := ApplyKnownIssues(res, []KnownIssue{{Spec: reporttest.IoctlSpec, Kernel: "bookworm", Reason: "r"}}); err != nil {
			t.Fatal(err)
		}
		if concludeRun(&res.Runs[0]) != report.ConclusionFail || res.Runs[0].Suites[0].Counts.Known != 0 {
			t.Error("an issue for another kernel excused trixie's failure")
		}
	})

	t.Run("one of two failures known", func(t *testing.T) {
		res := knownRun(t)
		specs := &res.Runs[0].Suites[0].Specs
		extra := spec("fs/ioctl second", "fs.ioctl_dev", 5, 0, report.Failed)
		*specs = append(*specs, extra)
		if _, err := ApplyKnownIssues(res, []KnownIssue{{Spec: reporttest.IoctlSpec, Kernel: "*", Reason: "r"}}); err != nil {
			t.Fatal(err)
		}
		r := &res.Runs[0]
		if f := featureOf(t, r, "fs.ioctl_dev"); f.Known != nil || !f.Fails() {
			t.Errorf("feature with an unexcused failure = %+v", f)
		}
		if c := r.Suites[0].Counts; c.Failed != 1 || c.Known != 1 || concludeRun(r) != report.ConclusionFail {
			t.Errorf("counts %+v, conclusion %s", c, concludeRun(r))
		}
	})

	t.Run("known failure beside a broken verdict", func(t *testing.T) {
		res := &report.Result{Runs: []report.Run{*runOf(6, 0,
			spec("s/a", "fs.x", 1, 0, report.Failed),
			spec("s/b", "fs.x", 1, 0, report.Passed, v("fs.x", report.Broken, "half there")))}}
		if _, err := ApplyKnownIssues(res, []KnownIssue{{Spec: "s/a", Kernel: "k", Reason: "r"}}); err != nil {
			t.Fatal(err)
		}
		if f := featureOf(t, &res.Runs[0], "fs.x"); !f.Fails() || concludeRun(&res.Runs[0]) != report.ConclusionFail {
			t.Errorf("a known spec failure excused another spec's broken verdict: %+v", f)
		}
	})

	t.Run("feature broken by verdicts", func(t *testing.T) {
		res := &report.Result{Runs: []report.Run{*runOf(6, 0,
			spec("s/a", "fs.ioctl_dev", 5, 0, report.Passed, v("fs.ioctl_dev", report.Works, "")),
			spec("s/b", "fs.ioctl_dev", 5, 0, report.Passed, v("fs.ioctl_dev", report.Absent, "")))}}
		if concludeRun(&res.Runs[0]) != report.ConclusionFail {
			t.Fatal("disagreeing verdicts do not fail")
		}
		if _, err := ApplyKnownIssues(res, []KnownIssue{{Feature: "fs.ioctl_dev", Kernel: "k", Reason: "half there"}}); err != nil {
			t.Fatal(err)
		}
		r := &res.Runs[0]
		if want := []report.KnownFeature{{Feature: "fs.ioctl_dev", Known: report.Known{Reason: "half there", Issue: "feature fs.ioctl_dev"}}}; !reflect.DeepEqual(r.KnownFeatures, want) {
			t.Errorf("KnownFeatures = %+v", r.KnownFeatures)
		}
		if got := concludeRun(r); got != report.ConclusionPass {
			t.Errorf("Conclude = %s, want PASS", got)
		}
	})

	t.Run("notices", func(t *testing.T) {
		res := knownRun(t)
		notices, err := ApplyKnownIssues(res, []KnownIssue{
			{Spec: "fs/truncate ftruncate MUST be denied without FS_TRUNCATE", Kernel: "*", Reason: "truncate regression", Link: "https://bugs.example.org/2"},
			{Feature: "fs.truncate", Kernel: "bookworm", Reason: "old truncate"},
			// Not applicable on trixie, not tested on bookworm: nothing to say.
			{Feature: "fs.refer", Kernel: "trixie", Reason: "refer"},
			// Matches no spec at all: nothing to say either.
			{Spec: "/no such spec/", Kernel: "*", Reason: "gone"},
		})
		if err != nil {
			t.Fatal(err)
		}
		// bookworm's truncate spec has another ID: the spec issue says nothing there.
		want := []report.Notice{
			{Kind: report.NoticeKnownIssuePasses, Kernel: "trixie", Issue: "spec fs/truncate ftruncate MUST be denied without FS_TRUNCATE",
				Message: `known issue "truncate regression" no longer fails on trixie: spec fs/truncate ftruncate MUST be denied without FS_TRUNCATE passed`,
				Link:    "https://bugs.example.org/2"},
			{Kind: report.NoticeKnownIssuePasses, Kernel: "bookworm", Issue: "feature fs.truncate",
				Message: `known issue "old truncate" no longer fails on bookworm: feature fs.truncate: correctly-absent`},
		}
		if !reflect.DeepEqual(notices, want) {
			t.Errorf("notices =\n%+v\nwant\n%+v", notices, want)
		}
		if !reflect.DeepEqual(report.AllNotices(res), want) {
			t.Errorf("AllNotices differs from the returned notices")
		}
		if got := notices[0].String(); got != "NOTICE known-issue-passes: known issue \"truncate regression\" no longer fails on trixie: "+
			"spec fs/truncate ftruncate MUST be denied without FS_TRUNCATE passed (https://bugs.example.org/2)" {
			t.Errorf("String = %q", got)
		}
		// Notices are exit-neutral.
		if concludeRun(&res.Runs[1]) != report.ConclusionMismatch || concludeRun(&res.Runs[0]) != report.ConclusionFail {
			t.Error("a notice changed a conclusion")
		}
	})

	t.Run("reapplying replaces", func(t *testing.T) {
		res := knownRun(t)
		if _, err := ApplyKnownIssues(res, []KnownIssue{{Feature: "fs.ioctl_dev", Kernel: "*", Reason: "r"}}); err != nil {
			t.Fatal(err)
		}
		if _, err := ApplyKnownIssues(res, nil); err != nil {
			t.Fatal(err)
		}
		r := &res.Runs[0]
		if r.KnownFeatures != nil || r.Suites[0].Counts.Known != 0 || concludeRun(r) != report.ConclusionFail {
			t.Errorf("an earlier marking survived: %+v, counts %+v", r.KnownFeatures, r.Suites[0].Counts)
		}
	})

	t.Run("invalid issue", func(t *testing.T) {
		res := knownRun(t)
		_, err := ApplyKnownIssues(res, []KnownIssue{{Spec: reporttest.IoctlSpec, Kernel: "*", Reason: "r"}, {Spec: "/(/", Kernel: "*", Reason: "r"}})
		if err == nil || !strings.Contains(err.Error(), "known issue spec /(/") {
			t.Errorf("err = %v", err)
		}
		if res.Runs[0].Suites[0].Counts.Known != 0 {
			t.Error("a rejected list marked specs")
		}
	})
}
