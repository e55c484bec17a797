package verdict

import (
	"bytes"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/llconform/llconform/internal/report"
	"github.com/llconform/llconform/internal/report/reporttest"
)

func intp(n int) *int { return &n }

func TestParseLabels(t *testing.T) {
	tests := []struct {
		labels []string
		want   report.LabelInfo
	}{
		{nil, report.LabelInfo{}},
		{[]string{"fs.truncate", "abi:3"}, report.LabelInfo{Feature: "fs.truncate", ABI: 3}},
		// The first dotted label without a colon wins; "needs:module:sctp" has a dot-free
		// colon form and must not be taken for a feature.
		{[]string{"slow", "needs:module:sctp", "net.tcp", "net.other", "erratum:1", "abi:4", "needs:root"},
			report.LabelInfo{Feature: "net.tcp", ABI: 4, Erratum: 1, Needs: []string{"module:sctp", "root"}}},
		{[]string{"needs:module:nf.x", "scope.signal"}, report.LabelInfo{Feature: "scope.signal", Needs: []string{"module:nf.x"}}},
		{[]string{"fs.truncate", "id:truncate.ftruncate", "abi:3"}, report.LabelInfo{Key: "truncate.ftruncate", Feature: "fs.truncate", ABI: 3}},
		// A feature outside the ABI; a container and its spec may both give the version.
		{[]string{"since:7.3", "trace.deny_access_fs", "trace", "abi:1", "since:7.3"},
			report.LabelInfo{Feature: "trace.deny_access_fs", ABI: 1, Since: "7.3"}},
	}
	for _, tt := range tests {
		got, err := report.ParseLabels(tt.labels)
		if err != nil {
			t.Errorf("ParseLabels(%q): %v", tt.labels, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseLabels(%q) = %+v, want %+v", tt.labels, got, tt.want)
		}
	}
	for _, bad := range []string{"abi:", "abi:x", "abi:0", "erratum:-1", "since:"} {
		if _, err := report.ParseLabels([]string{bad}); err == nil {
			t.Errorf("ParseLabels(%q): no error", bad)
		}
	}
	if _, err := report.ParseLabels([]string{"since:7.3", "since:7.4"}); err == nil {
		t.Error("ParseLabels with two versions: no error")
	}
	if _, err := report.ParseLabels([]string{"id:a", "id:b"}); err == nil {
		t.Error("ParseLabels with two ids: no error")
	}
}

func TestErrata(t *testing.T) {
	if got := report.ErrataList(0b1101); !reflect.DeepEqual(got, []int{1, 3, 4}) {
		t.Errorf("ErrataList = %v", got)
	}
	if got := report.ErrataList(0); got != nil {
		t.Errorf("ErrataList(0) = %v, want nil", got)
	}
	if got := report.ErrataBits(0b0111); got != "0b0111" {
		t.Errorf("ErrataBits = %q", got)
	}
	if got := report.ErrataBits(0b10011); got != "0b10011" {
		t.Errorf("ErrataBits = %q", got)
	}
	if got := report.FormatErrata(report.KernelInfo{Errata: 0b0111, ErrataQuery: true}); got != "0b0111 [1 2 3]" {
		t.Errorf("FormatErrata = %q", got)
	}
	if got := report.FormatErrata(report.KernelInfo{}); got != "no query" {
		t.Errorf("FormatErrata without query = %q", got)
	}
	k := report.KernelInfo{Errata: 0b0100, ErrataQuery: true}
	if k.Fixed(1) || !k.Fixed(3) || (report.KernelInfo{Errata: 0b0100}).Fixed(3) || k.Fixed(0) {
		t.Error("Advertises disagrees with the bitmask")
	}
}

// runOf builds a run on a kernel with the given ABI and errata from specs of one suite.
func runOf(abi int, errata uint64, specs ...report.Spec) *report.Run {
	r := &report.Run{Kernel: report.Kernel{Name: "k"}, Info: &report.KernelInfo{Status: report.StatusAvailable, ABI: abi, Errata: errata, ErrataQuery: true}}
	s := report.Suite{Name: "s", Specs: specs}
	s.Recount()
	r.Suites = append(r.Suites, s)
	return r
}

func spec(id, feature string, abi, erratum int, state report.State, verdicts ...report.Verdict) report.Spec {
	sp := report.Spec{ID: id, Text: id, Feature: feature, ABI: abi, Erratum: erratum, State: state, Verdicts: verdicts}
	if state == report.Failed || state == report.InfraState {
		sp.Failure = &report.Failure{Message: id + " went wrong", Location: "x_test.go:1"}
	}
	if state == report.Skipped {
		sp.SkipReason = "needs root"
	}
	return sp
}

func v(feature string, o report.Outcome, detail string) report.Verdict {
	return report.Verdict{Feature: feature, Outcome: o, Detail: detail}
}

func TestEvaluateFeatures(t *testing.T) {
	tests := []struct {
		name   string
		run    *report.Run
		want   report.Outcome
		detail string
	}{
		{"passing below ABI", runOf(6, 0, spec("a", "fs.truncate", 3, 0, report.Passed), spec("b", "fs.truncate", 3, 0, report.Skipped)), report.Works, ""},
		{"passing above ABI", runOf(2, 0, spec("a", "fs.truncate", 3, 0, report.Passed)), report.Absent, ""},
		{"failure beats verdicts", runOf(6, 0,
			spec("a", "fs.truncate", 3, 0, report.Passed, v("fs.truncate", report.Works, "")),
			spec("b", "fs.truncate", 3, 0, report.Failed)), report.Broken, "failed: b"},
		{"failed erratum advertised", runOf(6, 0b0001, spec("a", "net.tcp", 4, 1, report.Failed)), report.ErratumAdvertisedNotFixed, "failed: a"},
		{"failed erratum not advertised", runOf(6, 0b0010, spec("a", "net.tcp", 4, 1, report.Failed), spec("b", "net.tcp", 4, 1, report.Failed)),
			report.Broken, "failed: a (and 1 more)"},
		{"failed spec voids its verdict for another feature", runOf(6, 0,
			spec("a", "fs.x", 1, 0, report.Failed, v("fs.y", report.Works, ""))), report.Broken, "failed: a"},
		{"infra", runOf(6, 0, spec("a", "scope.signal", 6, 0, report.Passed), spec("b", "scope.signal", 6, 0, report.InfraState)), report.Unknown, "infrastructure error: b"},
		{"only skipped", runOf(6, 0, spec("a", "net.sctp", 4, 0, report.Skipped)), report.NotApplicable, "needs root"},
		{"verdict", runOf(6, 0b0111, spec("a", "net.tcp", 4, 1, report.Passed, v("net.tcp", report.ErratumFixed, "sctp bind allowed"))), report.ErratumFixed, "sctp bind allowed"},
		{"most severe verdict wins", runOf(6, 0, spec("a", "scope.signal", 6, 2, report.Passed,
			v("scope.signal", report.ErratumNotFixedAdvertised, "a"), v("scope.signal", report.ErratumFixedNotAdvertised, "b"), v("scope.signal", report.NotApplicable, "c"))),
			report.ErratumFixedNotAdvertised, "b"},
		{"observation beats not-applicable", runOf(6, 0, spec("a", "f.x", 1, 0, report.Passed, v("f.x", report.NotApplicable, "no module"), v("f.x", report.Works, "")),
			spec("b", "f.x", 1, 0, report.Skipped)), report.Works, ""},
		{"works and absent disagree", runOf(6, 0,
			spec("a", "fs.ioctl_dev", 5, 0, report.Passed, v("fs.ioctl_dev", report.Works, "")),
			spec("b", "fs.ioctl_dev", 5, 0, report.Passed, v("fs.ioctl_dev", report.Absent, ""))),
			report.Broken, "verdicts disagree: a says works, b says correctly-absent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := evaluateFeatures(tt.run)
			if len(fs) == 0 {
				t.Fatal("no features")
			}
			if fs[0].Outcome != tt.want || fs[0].Detail != tt.detail {
				t.Errorf("got %s %q, want %s %q", fs[0].Outcome, fs[0].Detail, tt.want, tt.detail)
			}
		})
	}

	r := runOf(6, 0, spec("a", "fs.b", 2, 0, report.Passed), spec("b", "fs.a", 1, 0, report.Passed), spec("c", "", 0, 0, report.Failed))
	r.Info = nil
	fs := evaluateFeatures(r)
	if len(fs) != 2 || fs[0].Feature != "fs.a" || fs[1].Feature != "fs.b" {
		t.Fatalf("features = %+v, want fs.a, fs.b sorted, unlabelled spec left out", fs)
	}
	if fs[0].Outcome != report.Unknown {
		t.Errorf("without kernel info: %s, want %s", fs[0].Outcome, report.Unknown)
	}
}

func TestFeaturesOfFixture(t *testing.T) {
	r := &report.Run{Kernel: report.Kernel{Name: "trixie"}}
	if err := r.AddSuite(reporttest.ImportFixture(t, "ginkgo-mixed.json", "fs")); err != nil {
		t.Fatal(err)
	}
	got := map[string]report.Outcome{}
	for _, f := range evaluateFeatures(r) {
		got[f.Feature] = f.Outcome
	}
	want := map[string]report.Outcome{
		"abi.version":  report.Works,
		"fs.ioctl_dev": report.Broken,
		"fs.refer":     report.NotApplicable,
		"fs.truncate":  report.Works,
		"net.tcp":      report.ErratumFixed,
		"scope.signal": report.Unknown,
		"scope.tsync":  report.Absent,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("features = %v\nwant       %v", got, want)
	}
}

func TestCheckExpect(t *testing.T) {
	info := &report.KernelInfo{Status: report.StatusAvailable, ABI: 4, Errata: 0b0111, ErrataQuery: true}
	tests := []struct {
		name string
		run  report.Run
		want []report.Check
	}{
		{"nothing to check", report.Run{Info: info}, nil},
		{"abi mismatch", report.Run{Info: info, Expect: &report.Expect{ABI: intp(5)}},
			[]report.Check{{Name: "abi", OK: false, Message: "expected ABI 5, kernel claims 4"}}},
		{"abi and errata match", report.Run{Info: info, Expect: &report.Expect{ABI: intp(4), Errata: []int{3, 1, 2}}},
			[]report.Check{{Name: "abi", OK: true, Message: "ABI 4, as expected"}, {Name: "errata", OK: true, Message: "errata 0b0111 [1 2 3], as expected"}}},
		{"errata mismatch", report.Run{Info: info, Expect: &report.Expect{Errata: []int{1}}},
			[]report.Check{{Name: "errata", OK: false, Message: "expected errata [1], kernel claims 0b0111 [1 2 3]"}}},
		{"errata expected none", report.Run{Info: info, Expect: &report.Expect{Errata: []int{}}},
			[]report.Check{{Name: "errata", OK: false, Message: "expected errata [], kernel claims 0b0111 [1 2 3]"}}},
		{"no errata query", report.Run{Info: &report.KernelInfo{Status: report.StatusAvailable, ABI: 2}, Expect: &report.Expect{Errata: []int{1}}},
			[]report.Check{{Name: "errata", OK: false, Message: "expected errata [1], kernel rejects the errata query"}}},
		{"no errata query, none expected", report.Run{Info: &report.KernelInfo{Status: report.StatusAvailable, ABI: 2}, Expect: &report.Expect{Errata: []int{}}},
			[]report.Check{{Name: "errata", OK: true, Message: "no errata, as expected (the kernel rejects the errata query)"}}},
		{"landlock missing", report.Run{Info: &report.KernelInfo{Status: report.StatusNotBuilt}, Expect: &report.Expect{ABI: intp(1)}},
			[]report.Check{{Name: "abi", OK: false, Message: "expected ABI 1, Landlock is not-built on the kernel"}}},
		{"landlock missing as expected", report.Run{Info: &report.KernelInfo{Status: report.StatusDisabled}, Expect: &report.Expect{ABI: intp(0)}},
			[]report.Check{{Name: "abi", OK: true, Message: "Landlock unavailable (disabled), as expected"}}},
		{"no kernel info", report.Run{Expect: &report.Expect{ABI: intp(5), Errata: []int{1}}, AcceptedABI: intp(5)},
			[]report.Check{{Name: "abi", OK: false, Message: "expected ABI 5, no suite reported the kernel's ABI"},
				{Name: "errata", OK: false, Message: "expected errata [1], no suite reported the kernel's errata"}}},
		{"landlock missing, nothing expected", report.Run{Info: &report.KernelInfo{Status: report.StatusNotBuilt}},
			[]report.Check{{Name: "landlock", Unverified: true, Message: "Landlock is not-built on this kernel: no conformance was tested (expect: {abi: 0} makes that the expected outcome)"}}},
		{"ABI above the newest known", report.Run{Info: &report.KernelInfo{Status: report.StatusAvailable, ABI: 12, Errata: 0b1111, ErrataQuery: true}},
			[]report.Check{{Name: "known-claims", Unverified: true, Message: "the kernel claims ABI 12: what ABI 12 adds is not checked (llconform knows ABI 1-11 and errata 1-4)"}}},
		{"ABI and errata above the known", report.Run{Info: &report.KernelInfo{Status: report.StatusAvailable, ABI: 14, Errata: 0b1100001, ErrataQuery: true}},
			[]report.Check{{Name: "known-claims", Unverified: true, Message: "the kernel claims ABI 14: what ABI 12-14 add is not checked; errata bitmask 0b1100001 sets bit 5 (erratum 6), bit 6 (erratum 7): those fixes are not checked (llconform knows ABI 1-11 and errata 1-4)"}}},
		{"unknown errata bit", report.Run{Info: &report.KernelInfo{Status: report.StatusAvailable, ABI: 11, Errata: 0b11110, ErrataQuery: true}},
			[]report.Check{{Name: "known-claims", Unverified: true, Message: "errata bitmask 0b11110 sets bit 4 (erratum 5): that fix is not checked (llconform knows ABI 1-11 and errata 1-4)"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := checksOf(&tt.run); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("CheckExpect = %+v\nwant          %+v", got, tt.want)
			}
		})
	}
}

func TestConcludeAndExitCode(t *testing.T) {
	pass := runOf(6, 0, spec("a", "fs.x", 1, 0, report.Passed))
	fail := runOf(6, 0, spec("a", "fs.x", 1, 0, report.Failed))
	brokenVerdict := runOf(6, 0, spec("a", "fs.x", 1, 0, report.Passed, v("fs.x", report.Broken, "half there")))
	mismatch := runOf(6, 0, spec("a", "fs.x", 1, 0, report.Passed))
	mismatch.Expect = &report.Expect{ABI: intp(7)}
	infraSpec := runOf(6, 0, spec("a", "fs.x", 1, 0, report.InfraState))
	infraRun := runOf(6, 0, spec("a", "fs.x", 1, 0, report.Passed))
	infraRun.Infra = &report.InfraError{Kind: report.InfraPanic, Message: "Kernel panic"}
	infraSuite := runOf(6, 0)
	infraSuite.Suites[0].Infra = &report.InfraError{Kind: report.InfraNoReport, Message: "no report"}
	noSuites := &report.Run{Kernel: report.Kernel{Name: "k"}}
	noLandlock := runOf(0, 0, spec("a", "fs.x", 1, 0, report.Passed))
	noLandlock.Info.Status = report.StatusNotBuilt
	noLandlock.Expect = &report.Expect{ABI: intp(0)}
	noLandlockUnexpected := runOf(0, 0, spec("a", "fs.x", 1, 0, report.Passed))
	noLandlockUnexpected.Info.Status = report.StatusDisabled
	unverified := runOf(12, 0, spec("a", "fs.x", 1, 0, report.Passed))
	accepted := runOf(12, 0, spec("a", "fs.x", 1, 0, report.Passed))
	accepted.AcceptUnverified = true
	failAndInfra := runOf(6, 0, spec("a", "fs.x", 1, 0, report.Failed), spec("b", "fs.y", 1, 0, report.InfraState))

	tests := []struct {
		name string
		run  *report.Run
		want report.Conclusion
	}{
		{"pass", pass, report.ConclusionPass},
		{"fail", fail, report.ConclusionFail},
		{"broken verdict", brokenVerdict, report.ConclusionFail},
		{"mismatch", mismatch, report.ConclusionMismatch},
		{"infra spec", infraSpec, report.ConclusionInfra},
		{"infra run", infraRun, report.ConclusionInfra},
		{"infra suite", infraSuite, report.ConclusionInfra},
		{"no suites", noSuites, report.ConclusionInfra},
		{"no landlock", noLandlock, report.ConclusionNoLandlock},
		{"no landlock, not expected", noLandlockUnexpected, report.ConclusionNoLandlock},
		{"unverified claim", unverified, report.ConclusionUnverified},
		{"unverified claim accepted", accepted, report.ConclusionUnverified},
		{"fail outranks infra", failAndInfra, report.ConclusionFail},
	}
	for _, tt := range tests {
		if got := concludeRun(tt.run); got != tt.want {
			t.Errorf("%s: conclude = %s, want %s", tt.name, got, tt.want)
		}
	}

	exit := func(runs ...*report.Run) int {
		res := &report.Result{}
		for _, r := range runs {
			res.Runs = append(res.Runs, *r)
		}
		Evaluate(res)
		return ExitCode(res)
	}
	if got := exit(pass, noLandlock); got != ExitPass {
		t.Errorf("all pass: %d", got)
	}
	if got := exit(pass, infraRun, fail); got != ExitFail {
		t.Errorf("fail after infra: %d", got)
	}
	if got := exit(mismatch); got != ExitFail {
		t.Errorf("mismatch: %d", got)
	}
	if got := exit(pass, infraSuite); got != ExitInfra {
		t.Errorf("infra: %d", got)
	}
	if got := exit(); got != ExitInfra {
		t.Errorf("empty result: %d", got)
	}
	if got := exit(pass, noLandlockUnexpected); got != ExitUnverified {
		t.Errorf("no Landlock without expect abi 0: %d, want %d", got, ExitUnverified)
	}
	if got := exit(pass, unverified); got != ExitUnverified {
		t.Errorf("unverified claim: %d, want %d", got, ExitUnverified)
	}
	if got := exit(pass, accepted); got != ExitPass {
		t.Errorf("unverified claim, accepted: %d, want %d", got, ExitPass)
	}
	if got := exit(unverified, infraSuite); got != ExitInfra {
		t.Errorf("infra outranks unverified: %d", got)
	}
	if got := exit(unverified, fail); got != ExitFail {
		t.Errorf("fail outranks unverified: %d", got)
	}
}

func TestAddSuite(t *testing.T) {
	k := report.KernelInfo{Release: "6.1.0-56-cloud-amd64", Status: report.StatusAvailable, ABI: 2, Errata: 0b1100, ErrataQuery: true}
	r := &report.Run{Kernel: report.Kernel{Name: "bookworm"}}
	if err := r.AddSuite(report.Suite{Name: "fs", Kernel: &k}); err != nil {
		t.Fatal(err)
	}
	other := k
	other.Error = "different errno text is fine"
	if err := r.AddSuite(report.Suite{Name: "abi", Kernel: &other, AcceptedABI: intp(2)}); err != nil {
		t.Fatal(err)
	}
	if r.Info == nil || *r.Info != k || r.AcceptedABI == nil || *r.AcceptedABI != 2 {
		t.Errorf("Info = %+v, AcceptedABI = %v", r.Info, r.AcceptedABI)
	}
	if err := r.AddSuite(report.Suite{Name: "fs"}); err == nil || !strings.Contains(err.Error(), "added twice") {
		t.Errorf("duplicate suite: err = %v", err)
	}
	other.ABI = 3
	if err := r.AddSuite(report.Suite{Name: "net", Kernel: &other}); err == nil || !strings.Contains(err.Error(), "suite net reports") {
		t.Errorf("conflicting kernel: err = %v", err)
	}
	if len(r.Suites) != 2 {
		t.Errorf("%d suites after rejected adds, want 2", len(r.Suites))
	}
}

func TestKernelWarningsFailTheKernel(t *testing.T) {
	r := report.Run{
		Info:           &report.KernelInfo{Status: report.StatusAvailable, ABI: 7},
		Suites:         []report.Suite{{Name: "abi", Counts: report.Counts{Passed: 3}}},
		KernelWarnings: []string{"WARNING: CPU: 0 PID: 88 at security/landlock/fs.c:1234\nnext line"},
	}
	if got := concludeRun(&r); got != report.ConclusionFail {
		t.Errorf("Conclude with a kernel warning = %s, want FAIL", got)
	}
	checks := checksOf(&r)
	if len(checks) != 1 || checks[0].Name != "kernel-health" || checks[0].OK ||
		!strings.Contains(checks[0].Message, "security/landlock/fs.c:1234") || strings.Contains(checks[0].Message, "next line") {
		t.Errorf("CheckExpect = %+v, want one failed kernel-health check quoting the first line", checks)
	}
	r.KernelWarnings = nil
	if got := concludeRun(&r); got != report.ConclusionPass {
		t.Errorf("Conclude without warnings = %s, want PASS", got)
	}
}

func TestInfraBeforeAnyClaimIsNotAMismatch(t *testing.T) {
	abi := 6
	r := report.Run{
		Expect: &report.Expect{ABI: &abi, Errata: []int{1, 2, 3}},
		Infra:  &report.InfraError{Kind: report.InfraPanic, Message: "Kernel panic - not syncing"},
	}
	if got := concludeRun(&r); got != report.ConclusionInfra {
		t.Errorf("Conclude of a kernel that panicked before reporting = %s, want INFRA", got)
	}
	r.Infra = nil
	r.Suites = []report.Suite{{Name: "abi", Counts: report.Counts{Passed: 1}}}
	if got := concludeRun(&r); got != report.ConclusionMismatch {
		t.Errorf("Conclude of a kernel that ran but reported nothing = %s, want MISMATCH", got)
	}
}

// enforced is a passing spec that saw a feature of abi enforced.
func enforced(id, feature string, abi int) report.Spec {
	return spec(id, feature, abi, 0, report.Passed, report.Verdict{Feature: feature, ABI: abi, Outcome: report.Works, Enforced: true})
}

// abiRun is a run on a kernel claiming abi, accepting accepted, with a spec that saw each
// step of steps enforced, plus extra specs.
func abiRun(abi, accepted int, steps []int, extra ...report.Spec) *report.Run {
	var specs []report.Spec
	for _, n := range steps {
		specs = append(specs, enforced(fmt.Sprintf("step%d", n), fmt.Sprintf("f.step%d", n), n))
	}
	r := runOf(abi, 0, append(specs, extra...)...)
	r.AcceptedABI = intp(accepted)
	return r
}

func TestEffectiveABI(t *testing.T) {
	all := func(n int) []int {
		var s []int
		for i := 1; i <= n; i++ {
			s = append(s, i)
		}
		return s
	}
	known := spec("nnp", "restrict_self.no_new_privs", 11, 0, report.Failed)
	known.Known = &report.Known{Reason: "backport pending"}
	tests := []struct {
		name    string
		run     *report.Run
		abi     int
		unshown []int
		check   report.Check
	}{
		{"every step enforced", abiRun(11, 11, all(11)), 11, nil,
			report.Check{Name: "effective-abi", OK: true, Message: "kernel claims ABI 11 and behaves as ABI 11: every step accepted and seen enforced"}},
		{"accepted but not enforced caps the ABI", abiRun(11, 11, all(11), spec("tcp", "net.connect_tcp", 4, 0, report.Failed)), 3, nil,
			report.Check{Name: "effective-abi", Message: "kernel claims ABI 11, behaves as ABI 3: net.connect_tcp (ABI 4) is accepted but broken (failed: tcp)"}},
		{"a known issue does not cap", abiRun(11, 11, all(11), known), 11, nil,
			report.Check{Name: "effective-abi", OK: true, Message: "kernel claims ABI 11 and behaves as ABI 11: every step accepted and seen enforced"}},
		{"an erratum does not cap", abiRun(7, 7, all(7), spec("e4", "fs.whiteout", 1, 4, report.Failed)), 7, nil,
			report.Check{Name: "effective-abi", OK: true, Message: "kernel claims ABI 7 and behaves as ABI 7: every step accepted and seen enforced"}},
		{"a step nobody saw is unverified", abiRun(8, 8, []int{1, 2, 3, 4, 5, 6, 8},
			spec("log", "restrict_self.log_new_exec_on", 7, 0, report.Skipped)), 8, []int{7},
			report.Check{Name: "effective-abi", Unverified: true, Message: "kernel claims ABI 8; no passing spec saw ABI step [7] enforced: ABI 7: restrict_self.log_new_exec_on not-applicable (needs root)"}},
		{"an enforced verdict of a failed spec does not count", abiRun(2, 2, []int{1},
			spec("refer", "fs.refer", 2, 0, report.Failed, report.Verdict{Feature: "fs.refer", ABI: 2, Outcome: report.Works, Enforced: true})), 1, nil,
			report.Check{Name: "effective-abi", Message: "kernel claims ABI 2, behaves as ABI 1: fs.refer (ABI 2) is accepted but broken (failed: refer)"}},
		{"accepting less than claimed", abiRun(6, 5, all(6)), 5, nil,
			report.Check{Name: "effective-abi", Message: "kernel claims ABI 6, behaves as ABI 5: it accepts the uAPI of ABI 5 only (see abi.effective)"}},
		{"accepting more than claimed", abiRun(6, 7, all(7)), 7, nil,
			report.Check{Name: "effective-abi", Message: "kernel claims ABI 6, behaves as ABI 7: it accepts the uAPI of ABI 7"}},
		{"above the newest known ABI, the known part is checked", abiRun(12, 11, all(11)), 11, nil,
			report.Check{Name: "effective-abi", OK: true, Message: "kernel claims ABI 12 and behaves as ABI 11: every step accepted and seen enforced"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := effective(tt.run, evaluateFeatures(tt.run))
			if e == nil {
				t.Fatal("no effective ABI")
			}
			if e.ABI != tt.abi || !reflect.DeepEqual(e.Unshown, tt.unshown) {
				t.Errorf("effective ABI %d, unshown %v; want %d, %v", e.ABI, e.Unshown, tt.abi, tt.unshown)
			}
			checks := checksOf(tt.run)
			i := slices.IndexFunc(checks, func(c report.Check) bool { return c.Name == "effective-abi" })
			if i < 0 || checks[i] != tt.check {
				t.Errorf("checks = %+v\nwant effective-abi %+v", checks, tt.check)
			}
		})
	}
	if effective(runOf(7, 0), nil) != nil {
		t.Error("an effective ABI without suites/abi's accepted ABI")
	}
}

// since marks specs as those of a feature outside the Landlock ABI (spec.Since).
func since(specs ...report.Spec) []report.Spec {
	for i := range specs {
		specs[i].Since = "7.3"
	}
	return specs
}

// A feature outside the ABI (trace events) is judged on its own: broken fails the run, but
// never caps the effective ABI or counts as an ABI step enforced; absent is no failure,
// whatever the kernel's ABI.
func TestFeaturesOutsideTheABI(t *testing.T) {
	all := []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}
	okCheck := report.Check{Name: "effective-abi", OK: true, Message: "kernel claims ABI 11 and behaves as ABI 11: every step accepted and seen enforced"}
	tests := []struct {
		name       string
		run        *report.Run
		outcome    report.Outcome
		abi        int
		unshown    []int
		check      report.Check
		conclusion report.Conclusion
	}{
		{"broken trace event fails the run without capping the ABI",
			abiRun(11, 11, all, since(spec("t", "trace.deny_access_fs", 1, 0, report.Failed))...),
			report.Broken, 11, nil, okCheck, report.ConclusionFail},
		{"absent trace event on the newest ABI is no failure",
			abiRun(11, 11, all, since(spec("t", "trace.deny_access_fs", 1, 0, report.Passed,
				report.Verdict{Feature: "trace.deny_access_fs", ABI: 1, Outcome: report.Absent, Detail: "no events/landlock"}))...),
			report.Absent, 11, nil, okCheck, report.ConclusionPass},
		{"working trace event",
			abiRun(11, 11, all, since(spec("t", "trace.deny_access_net", 4, 0, report.Passed,
				report.Verdict{Feature: "trace.deny_access_net", ABI: 4, Outcome: report.Works}))...),
			report.Works, 11, nil, okCheck, report.ConclusionPass},
		{"a trace spec's enforced verdict shows no ABI step",
			abiRun(11, 11, []int{1, 2, 3, 5, 6, 7, 8, 9, 10, 11}, since(enforced("t", "trace.add_rule_net_port", 4))...),
			report.Works, 11, []int{4},
			report.Check{Name: "effective-abi", Unverified: true, Message: "kernel claims ABI 11; no passing spec saw ABI step [4] enforced: ABI 4: no spec of this ABI ran"},
			report.ConclusionUnverified},
		{"the same failure of an ABI element caps it (control)",
			abiRun(11, 11, all, spec("t", "fs.read_dir", 1, 0, report.Failed)),
			report.Broken, 0, nil,
			report.Check{Name: "effective-abi", Message: "kernel claims ABI 11, behaves as ABI 0: fs.read_dir (ABI 1) is accepted but broken (failed: t)"},
			report.ConclusionFail},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			features := evaluateFeatures(tt.run)
			i := slices.IndexFunc(features, func(f report.FeatureResult) bool {
				return f.Feature == tt.run.Suites[0].Specs[len(tt.run.Suites[0].Specs)-1].Feature
			})
			if i < 0 || features[i].Outcome != tt.outcome {
				t.Fatalf("features = %+v, want the last spec's feature %s", features, tt.outcome)
			}
			if features[i].Since != tt.run.Suites[0].Specs[len(tt.run.Suites[0].Specs)-1].Since {
				t.Errorf("feature Since = %q", features[i].Since)
			}
			e := effective(tt.run, features)
			if e.ABI != tt.abi || !reflect.DeepEqual(e.Unshown, tt.unshown) {
				t.Errorf("effective ABI %d, unshown %v; want %d, %v", e.ABI, e.Unshown, tt.abi, tt.unshown)
			}
			checks := checksOf(tt.run)
			j := slices.IndexFunc(checks, func(c report.Check) bool { return c.Name == "effective-abi" })
			if j < 0 || checks[j] != tt.check {
				t.Errorf("checks = %+v\nwant effective-abi %+v", checks, tt.check)
			}
			if got := concludeRun(tt.run); got != tt.conclusion {
				t.Errorf("conclusion %s, want %s", got, tt.conclusion)
			}
		})
	}
}

// The errata bitmask must equal the behaviour both ways where the kernel answers the query;
// without the query, what was seen is reported only.
func TestErratumOutcomes(t *testing.T) {
	verdict := func(o report.Outcome) report.Verdict {
		return report.Verdict{Feature: "net.tcp", ABI: 4, Erratum: 1, Outcome: o}
	}
	noQuery := func(r *report.Run) *report.Run { r.Info.ErrataQuery = false; r.Info.Errata = 0; return r }
	tests := []struct {
		name string
		run  *report.Run
		want report.Outcome
		fail bool
	}{
		{"fixed as advertised", runOf(6, 0b1, spec("e1", "net.tcp", 4, 1, report.Passed, verdict(report.ErratumFixed))), report.ErratumFixed, false},
		{"not fixed, not advertised", runOf(6, 0, spec("e1", "net.tcp", 4, 1, report.Passed, verdict(report.ErratumNotFixedAdvertised))), report.ErratumNotFixedAdvertised, false},
		{"advertised, not fixed", runOf(6, 0b1, spec("e1", "net.tcp", 4, 1, report.Failed, verdict(report.ErratumAdvertisedNotFixed))), report.ErratumAdvertisedNotFixed, true},
		{"fixed, not advertised", runOf(6, 0b110, spec("e1", "net.tcp", 4, 1, report.Failed, verdict(report.ErratumFixedNotAdvertised))), report.ErratumFixedNotAdvertised, true},
		{"fixed, no errata query", noQuery(runOf(6, 0, spec("e1", "net.tcp", 4, 1, report.Passed, verdict(report.ErratumFixedNoQuery)))), report.ErratumFixedNoQuery, false},
		{"an old file's fixed-not-advertised without a query", noQuery(runOf(6, 0, spec("e1", "net.tcp", 4, 1, report.Passed, verdict(report.ErratumFixedNotAdvertised)))), report.ErratumFixedNoQuery, false},
		{"neither", runOf(6, 0b1, spec("e1", "net.tcp", 4, 1, report.Failed, verdict(report.Broken))), report.ErratumAdvertisedNotFixed, true},
		{"neither, not advertised", runOf(6, 0, spec("e1", "net.tcp", 4, 1, report.Failed, verdict(report.Broken))), report.Broken, true},
	}
	for _, tt := range tests {
		fs := evaluateFeatures(tt.run)
		if len(fs) != 1 || fs[0].Outcome != tt.want || fs[0].Fails() != tt.fail {
			t.Errorf("%s: features %+v, want %s failing=%v", tt.name, fs, tt.want, tt.fail)
		}
		if c := concludeRun(tt.run); (c == report.ConclusionFail) != tt.fail {
			t.Errorf("%s: conclude = %s", tt.name, c)
		}
	}
}

// Every outcome a verdict can carry has a severity; Unknown is the host's own, never a
// verdict's.
func TestSeverityCoversOutcomes(t *testing.T) {
	for _, o := range report.Outcomes {
		if _, ok := severity[o]; !ok && o != report.Unknown {
			t.Errorf("outcome %s has no severity", o)
		}
	}
	if len(severity) != len(report.Outcomes)-1 {
		t.Errorf("%d severities for %d outcomes", len(severity), len(report.Outcomes)-1)
	}
}

// Evaluate fills the derived fields from the rest of the run, and a result read back from its
// file, whose derived fields Decode drops, evaluates to the same verdicts.
func TestEvaluateAfterDecode(t *testing.T) {
	res := reporttest.Sample(t)
	Evaluate(res)
	for i := range res.Runs {
		r := &res.Runs[i]
		if !reflect.DeepEqual(r.Features, evaluateFeatures(r)) || !reflect.DeepEqual(r.Checks, checksOf(r)) ||
			!reflect.DeepEqual(r.EffectiveABI, effectiveABIOf(r)) || r.Conclusion != concludeRun(r) || r.Conclusion == "" {
			t.Errorf("kernel %s: derived fields differ from the verdict functions", r.Kernel.Name)
		}
	}
	var buf bytes.Buffer
	if err := report.Encode(&buf, res); err != nil {
		t.Fatal(err)
	}
	back, err := report.Decode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if back.Runs[0].Conclusion != "" || back.Runs[0].Features != nil {
		t.Error("Decode kept derived fields")
	}
	if ExitCode(back) != ExitInfra {
		t.Errorf("unevaluated result: exit %d, want ExitInfra", ExitCode(back))
	}
	Evaluate(back)
	res.Schema = report.Schema
	if !reflect.DeepEqual(back, res) {
		t.Errorf("evaluated round trip differs\ngot  %+v\nwant %+v", back, res)
	}
}

// checksOf, concludeRun and effectiveABIOf judge one run from scratch, the way Evaluate
// does, for tests that build runs by hand.
func checksOf(r *report.Run) []report.Check { return checkExpect(r, evaluateFeatures(r)) }

func concludeRun(r *report.Run) report.Conclusion {
	fs := evaluateFeatures(r)
	return conclude(r, fs, checkExpect(r, fs))
}

func effectiveABIOf(r *report.Run) *int {
	if e := effective(r, evaluateFeatures(r)); e != nil {
		return &e.ABI
	}
	return nil
}

// A compat run is judged like any run; one on a kernel that cannot execute 32-bit programs
// is not applicable, with no checks (nothing claimed anything), and leaves the exit status
// to the kernel's native run.
func TestCompatRuns(t *testing.T) {
	native := runOf(6, 0, spec("a", "fs.x", 1, 0, report.Passed))
	native.Expect = &report.Expect{ABI: intp(6)}
	compatFail := runOf(6, 0, spec("a", "fs.x", 1, 0, report.Failed))
	compatFail.Expect = native.Expect
	compatFail.Compat = &report.Compat{Arch: "386", Native: "k"}
	na := &report.Run{Kernel: report.Kernel{Name: "k/386"}, Expect: native.Expect,
		Compat: &report.Compat{Arch: "386", Native: "k", NotApplicable: "no IA32 emulation"}}
	res := &report.Result{Runs: []report.Run{*native, *na}}
	Evaluate(res)
	if c := res.Runs[1]; c.Conclusion != report.ConclusionNotApplicable || c.Checks != nil || c.Features != nil {
		t.Errorf("not applicable compat run: conclusion %s, checks %v, features %v", c.Conclusion, c.Checks, c.Features)
	}
	if got := ExitCode(res); got != ExitPass {
		t.Errorf("pass and not applicable: exit %d, want %d", got, ExitPass)
	}
	res = &report.Result{Runs: []report.Run{*native, *compatFail}}
	Evaluate(res)
	if got := ExitCode(res); res.Runs[1].Conclusion != report.ConclusionFail || got != ExitFail {
		t.Errorf("failing compat run: conclusion %s, exit %d, want FAIL and %d", res.Runs[1].Conclusion, got, ExitFail)
	}
}
