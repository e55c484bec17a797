package report

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func intp(n int) *int { return &n }

func TestParseLabels(t *testing.T) {
	tests := []struct {
		labels []string
		want   LabelInfo
	}{
		{nil, LabelInfo{}},
		{[]string{"fs.truncate", "abi:3"}, LabelInfo{Feature: "fs.truncate", ABI: 3}},
		// The first dotted label without a colon wins; "needs:module:sctp" has a dot-free
		// colon form and must not be taken for a feature.
		{[]string{"slow", "needs:module:sctp", "net.tcp", "net.other", "erratum:1", "abi:4", "needs:root"},
			LabelInfo{Feature: "net.tcp", ABI: 4, Erratum: 1, Needs: []string{"module:sctp", "root"}}},
		{[]string{"needs:module:nf.x", "scope.signal"}, LabelInfo{Feature: "scope.signal", Needs: []string{"module:nf.x"}}},
	}
	for _, tt := range tests {
		got, err := ParseLabels(tt.labels)
		if err != nil {
			t.Errorf("ParseLabels(%q): %v", tt.labels, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseLabels(%q) = %+v, want %+v", tt.labels, got, tt.want)
		}
	}
	for _, bad := range []string{"abi:", "abi:x", "abi:0", "erratum:-1"} {
		if _, err := ParseLabels([]string{bad}); err == nil {
			t.Errorf("ParseLabels(%q): no error", bad)
		}
	}
}

func TestErrata(t *testing.T) {
	if got := ErrataList(0b1101); !reflect.DeepEqual(got, []int{1, 3, 4}) {
		t.Errorf("ErrataList = %v", got)
	}
	if got := ErrataList(0); got != nil {
		t.Errorf("ErrataList(0) = %v, want nil", got)
	}
	if got := ErrataBits(0b0111); got != "0b0111" {
		t.Errorf("ErrataBits = %q", got)
	}
	if got := ErrataBits(0b10011); got != "0b10011" {
		t.Errorf("ErrataBits = %q", got)
	}
	if got := FormatErrata(KernelInfo{Errata: 0b0111, ErrataQuery: true}); got != "0b0111 [1 2 3]" {
		t.Errorf("FormatErrata = %q", got)
	}
	if got := FormatErrata(KernelInfo{}); got != "no query" {
		t.Errorf("FormatErrata without query = %q", got)
	}
	k := KernelInfo{Errata: 0b0100, ErrataQuery: true}
	if k.Fixed(1) || !k.Fixed(3) || (KernelInfo{Errata: 0b0100}).Fixed(3) || k.Fixed(0) {
		t.Error("Advertises disagrees with the bitmask")
	}
}

// runOf builds a run on a kernel with the given ABI and errata from specs of one suite.
func runOf(abi int, errata uint64, specs ...Spec) *Run {
	r := &Run{Kernel: Kernel{Name: "k"}, Info: &KernelInfo{Status: StatusAvailable, ABI: abi, Errata: errata, ErrataQuery: true}}
	s := Suite{Name: "s", Specs: specs}
	s.count()
	r.Suites = append(r.Suites, s)
	return r
}

func spec(id, feature string, abi, erratum int, state State, verdicts ...Verdict) Spec {
	sp := Spec{ID: id, Text: id, Feature: feature, ABI: abi, Erratum: erratum, State: state, Verdicts: verdicts}
	if state == Failed || state == InfraState {
		sp.Failure = &Failure{Message: id + " went wrong", Location: "x_test.go:1"}
	}
	if state == Skipped {
		sp.SkipReason = "needs root"
	}
	return sp
}

func v(feature string, o Outcome, detail string) Verdict {
	return Verdict{Feature: feature, Outcome: o, Detail: detail}
}

func TestEvaluateFeatures(t *testing.T) {
	tests := []struct {
		name   string
		run    *Run
		want   Outcome
		detail string
	}{
		{"passing below ABI", runOf(6, 0, spec("a", "fs.truncate", 3, 0, Passed), spec("b", "fs.truncate", 3, 0, Skipped)), Works, ""},
		{"passing above ABI", runOf(2, 0, spec("a", "fs.truncate", 3, 0, Passed)), Absent, ""},
		{"failure beats verdicts", runOf(6, 0,
			spec("a", "fs.truncate", 3, 0, Passed, v("fs.truncate", Works, "")),
			spec("b", "fs.truncate", 3, 0, Failed)), Broken, "failed: b"},
		{"failed erratum advertised", runOf(6, 0b0001, spec("a", "net.tcp", 4, 1, Failed)), ErratumAdvertisedNotFixed, "failed: a"},
		{"failed erratum not advertised", runOf(6, 0b0010, spec("a", "net.tcp", 4, 1, Failed), spec("b", "net.tcp", 4, 1, Failed)),
			Broken, "failed: a (and 1 more)"},
		{"failed spec voids its verdict for another feature", runOf(6, 0,
			spec("a", "fs.x", 1, 0, Failed, v("fs.y", Works, ""))), Broken, "failed: a"},
		{"infra", runOf(6, 0, spec("a", "scope.signal", 6, 0, Passed), spec("b", "scope.signal", 6, 0, InfraState)), Unknown, "infrastructure error: b"},
		{"only skipped", runOf(6, 0, spec("a", "net.sctp", 4, 0, Skipped)), NotApplicable, "needs root"},
		{"verdict", runOf(6, 0b0111, spec("a", "net.tcp", 4, 1, Passed, v("net.tcp", ErratumFixed, "sctp bind allowed"))), ErratumFixed, "sctp bind allowed"},
		{"most severe verdict wins", runOf(6, 0, spec("a", "scope.signal", 6, 2, Passed,
			v("scope.signal", ErratumNotFixedAdvertised, "a"), v("scope.signal", ErratumFixedNotAdvertised, "b"), v("scope.signal", NotApplicable, "c"))),
			ErratumFixedNotAdvertised, "b"},
		{"observation beats not-applicable", runOf(6, 0, spec("a", "f.x", 1, 0, Passed, v("f.x", NotApplicable, "no module"), v("f.x", Works, "")),
			spec("b", "f.x", 1, 0, Skipped)), Works, ""},
		{"works and absent disagree", runOf(6, 0,
			spec("a", "fs.ioctl_dev", 5, 0, Passed, v("fs.ioctl_dev", Works, "")),
			spec("b", "fs.ioctl_dev", 5, 0, Passed, v("fs.ioctl_dev", Absent, ""))),
			Broken, "verdicts disagree: a says works, b says correctly-absent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := EvaluateFeatures(tt.run)
			if len(fs) == 0 {
				t.Fatal("no features")
			}
			if fs[0].Outcome != tt.want || fs[0].Detail != tt.detail {
				t.Errorf("got %s %q, want %s %q", fs[0].Outcome, fs[0].Detail, tt.want, tt.detail)
			}
		})
	}

	r := runOf(6, 0, spec("a", "fs.b", 2, 0, Passed), spec("b", "fs.a", 1, 0, Passed), spec("c", "", 0, 0, Failed))
	r.Info = nil
	fs := EvaluateFeatures(r)
	if len(fs) != 2 || fs[0].Feature != "fs.a" || fs[1].Feature != "fs.b" {
		t.Fatalf("features = %+v, want fs.a, fs.b sorted, unlabelled spec left out", fs)
	}
	if fs[0].Outcome != Unknown {
		t.Errorf("without kernel info: %s, want %s", fs[0].Outcome, Unknown)
	}
}

func TestFeaturesOfFixture(t *testing.T) {
	r := &Run{Kernel: Kernel{Name: "trixie"}}
	if err := r.AddSuite(importFixture(t, "ginkgo-mixed.json", "fs")); err != nil {
		t.Fatal(err)
	}
	got := map[string]Outcome{}
	for _, f := range EvaluateFeatures(r) {
		got[f.Feature] = f.Outcome
	}
	want := map[string]Outcome{
		"abi.version":  Works,
		"fs.ioctl_dev": Broken,
		"fs.refer":     NotApplicable,
		"fs.truncate":  Works,
		"net.tcp":      ErratumFixed,
		"scope.signal": Unknown,
		"scope.tsync":  Absent,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("features = %v\nwant       %v", got, want)
	}
}

func TestCheckExpect(t *testing.T) {
	info := &KernelInfo{Status: StatusAvailable, ABI: 4, Errata: 0b0111, ErrataQuery: true}
	tests := []struct {
		name string
		run  Run
		want []Check
	}{
		{"nothing to check", Run{Info: info}, nil},
		{"abi mismatch", Run{Info: info, Expect: &Expect{ABI: intp(5)}},
			[]Check{{Name: "abi", OK: false, Message: "expected ABI 5, kernel claims 4"}}},
		{"abi and errata match", Run{Info: info, Expect: &Expect{ABI: intp(4), Errata: []int{3, 1, 2}}},
			[]Check{{Name: "abi", OK: true, Message: "ABI 4, as expected"}, {Name: "errata", OK: true, Message: "errata 0b0111 [1 2 3], as expected"}}},
		{"errata mismatch", Run{Info: info, Expect: &Expect{Errata: []int{1}}},
			[]Check{{Name: "errata", OK: false, Message: "expected errata [1], kernel claims 0b0111 [1 2 3]"}}},
		{"errata expected none", Run{Info: info, Expect: &Expect{Errata: []int{}}},
			[]Check{{Name: "errata", OK: false, Message: "expected errata [], kernel claims 0b0111 [1 2 3]"}}},
		{"no errata query", Run{Info: &KernelInfo{Status: StatusAvailable, ABI: 2}, Expect: &Expect{Errata: []int{1}}},
			[]Check{{Name: "errata", OK: false, Message: "expected errata [1], kernel rejects the errata query"}}},
		{"no errata query, none expected", Run{Info: &KernelInfo{Status: StatusAvailable, ABI: 2}, Expect: &Expect{Errata: []int{}}},
			[]Check{{Name: "errata", OK: true, Message: "no errata, as expected (the kernel rejects the errata query)"}}},
		{"landlock missing", Run{Info: &KernelInfo{Status: StatusNotBuilt}, Expect: &Expect{ABI: intp(1)}},
			[]Check{{Name: "abi", OK: false, Message: "expected ABI 1, Landlock is not-built on the kernel"}}},
		{"landlock missing as expected", Run{Info: &KernelInfo{Status: StatusDisabled}, Expect: &Expect{ABI: intp(0)}},
			[]Check{{Name: "abi", OK: true, Message: "Landlock unavailable (disabled), as expected"}}},
		{"no kernel info", Run{Expect: &Expect{ABI: intp(5), Errata: []int{1}}, AcceptedABI: intp(5)},
			[]Check{{Name: "abi", OK: false, Message: "expected ABI 5, no suite reported the kernel's ABI"},
				{Name: "errata", OK: false, Message: "expected errata [1], no suite reported the kernel's errata"}}},
		{"landlock missing, nothing expected", Run{Info: &KernelInfo{Status: StatusNotBuilt}},
			[]Check{{Name: "landlock", Unverified: true, Message: "Landlock is not-built on this kernel: no conformance was tested (expect: {abi: 0} makes that the expected outcome)"}}},
		{"ABI above the newest known", Run{Info: &KernelInfo{Status: StatusAvailable, ABI: 12, Errata: 0b1111, ErrataQuery: true}},
			[]Check{{Name: "known-claims", Unverified: true, Message: "the kernel claims ABI 12: what ABI 12 adds is not checked (llconform knows ABI 1-11 and errata 1-4)"}}},
		{"ABI and errata above the known", Run{Info: &KernelInfo{Status: StatusAvailable, ABI: 14, Errata: 0b1100001, ErrataQuery: true}},
			[]Check{{Name: "known-claims", Unverified: true, Message: "the kernel claims ABI 14: what ABI 12-14 add is not checked; errata bitmask 0b1100001 sets bit 5 (erratum 6), bit 6 (erratum 7): those fixes are not checked (llconform knows ABI 1-11 and errata 1-4)"}}},
		{"unknown errata bit", Run{Info: &KernelInfo{Status: StatusAvailable, ABI: 11, Errata: 0b11110, ErrataQuery: true}},
			[]Check{{Name: "known-claims", Unverified: true, Message: "errata bitmask 0b11110 sets bit 4 (erratum 5): that fix is not checked (llconform knows ABI 1-11 and errata 1-4)"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := CheckExpect(&tt.run); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("CheckExpect = %+v\nwant          %+v", got, tt.want)
			}
		})
	}
}

func TestConcludeAndExitCode(t *testing.T) {
	pass := runOf(6, 0, spec("a", "fs.x", 1, 0, Passed))
	fail := runOf(6, 0, spec("a", "fs.x", 1, 0, Failed))
	brokenVerdict := runOf(6, 0, spec("a", "fs.x", 1, 0, Passed, v("fs.x", Broken, "half there")))
	mismatch := runOf(6, 0, spec("a", "fs.x", 1, 0, Passed))
	mismatch.Expect = &Expect{ABI: intp(7)}
	infraSpec := runOf(6, 0, spec("a", "fs.x", 1, 0, InfraState))
	infraRun := runOf(6, 0, spec("a", "fs.x", 1, 0, Passed))
	infraRun.Infra = &InfraError{Kind: InfraPanic, Message: "Kernel panic"}
	infraSuite := runOf(6, 0)
	infraSuite.Suites[0].Infra = &InfraError{Kind: InfraNoReport, Message: "no report"}
	noSuites := &Run{Kernel: Kernel{Name: "k"}}
	noLandlock := runOf(0, 0, spec("a", "fs.x", 1, 0, Passed))
	noLandlock.Info.Status = StatusNotBuilt
	noLandlock.Expect = &Expect{ABI: intp(0)}
	noLandlockUnexpected := runOf(0, 0, spec("a", "fs.x", 1, 0, Passed))
	noLandlockUnexpected.Info.Status = StatusDisabled
	unverified := runOf(12, 0, spec("a", "fs.x", 1, 0, Passed))
	accepted := runOf(12, 0, spec("a", "fs.x", 1, 0, Passed))
	accepted.AcceptUnverified = true
	failAndInfra := runOf(6, 0, spec("a", "fs.x", 1, 0, Failed), spec("b", "fs.y", 1, 0, InfraState))

	tests := []struct {
		name string
		run  *Run
		want Conclusion
	}{
		{"pass", pass, ConclusionPass},
		{"fail", fail, ConclusionFail},
		{"broken verdict", brokenVerdict, ConclusionFail},
		{"mismatch", mismatch, ConclusionMismatch},
		{"infra spec", infraSpec, ConclusionInfra},
		{"infra run", infraRun, ConclusionInfra},
		{"infra suite", infraSuite, ConclusionInfra},
		{"no suites", noSuites, ConclusionInfra},
		{"no landlock", noLandlock, ConclusionNoLandlock},
		{"no landlock, not expected", noLandlockUnexpected, ConclusionNoLandlock},
		{"unverified claim", unverified, ConclusionUnverified},
		{"unverified claim accepted", accepted, ConclusionUnverified},
		{"fail outranks infra", failAndInfra, ConclusionFail},
	}
	for _, tt := range tests {
		if got := Conclude(tt.run); got != tt.want {
			t.Errorf("%s: Conclude = %s, want %s", tt.name, got, tt.want)
		}
	}

	exit := func(runs ...*Run) int {
		res := &Result{}
		for _, r := range runs {
			res.Runs = append(res.Runs, *r)
		}
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
	k := KernelInfo{Release: "6.1.0-56-cloud-amd64", Status: StatusAvailable, ABI: 2, Errata: 0b1100, ErrataQuery: true}
	r := &Run{Kernel: Kernel{Name: "bookworm"}}
	if err := r.AddSuite(Suite{Name: "fs", Kernel: &k}); err != nil {
		t.Fatal(err)
	}
	other := k
	other.Error = "different errno text is fine"
	if err := r.AddSuite(Suite{Name: "abi", Kernel: &other, AcceptedABI: intp(2)}); err != nil {
		t.Fatal(err)
	}
	if r.Info == nil || *r.Info != k || r.AcceptedABI == nil || *r.AcceptedABI != 2 {
		t.Errorf("Info = %+v, AcceptedABI = %v", r.Info, r.AcceptedABI)
	}
	if err := r.AddSuite(Suite{Name: "fs"}); err == nil || !strings.Contains(err.Error(), "added twice") {
		t.Errorf("duplicate suite: err = %v", err)
	}
	other.ABI = 3
	if err := r.AddSuite(Suite{Name: "net", Kernel: &other}); err == nil || !strings.Contains(err.Error(), "suite net reports") {
		t.Errorf("conflicting kernel: err = %v", err)
	}
	if len(r.Suites) != 2 {
		t.Errorf("%d suites after rejected adds, want 2", len(r.Suites))
	}
}

func TestKernelWarningsFailTheKernel(t *testing.T) {
	r := Run{
		Info:           &KernelInfo{Status: StatusAvailable, ABI: 7},
		Suites:         []Suite{{Name: "abi", Counts: Counts{Passed: 3}}},
		KernelWarnings: []string{"WARNING: CPU: 0 PID: 88 at security/landlock/fs.c:1234\nnext line"},
	}
	if got := Conclude(&r); got != ConclusionFail {
		t.Errorf("Conclude with a kernel warning = %s, want FAIL", got)
	}
	checks := CheckExpect(&r)
	if len(checks) != 1 || checks[0].Name != "kernel-health" || checks[0].OK ||
		!strings.Contains(checks[0].Message, "security/landlock/fs.c:1234") || strings.Contains(checks[0].Message, "next line") {
		t.Errorf("CheckExpect = %+v, want one failed kernel-health check quoting the first line", checks)
	}
	r.KernelWarnings = nil
	if got := Conclude(&r); got != ConclusionPass {
		t.Errorf("Conclude without warnings = %s, want PASS", got)
	}
}

func TestInfraBeforeAnyClaimIsNotAMismatch(t *testing.T) {
	abi := 6
	r := Run{
		Expect: &Expect{ABI: &abi, Errata: []int{1, 2, 3}},
		Infra:  &InfraError{Kind: InfraPanic, Message: "Kernel panic - not syncing"},
	}
	if got := Conclude(&r); got != ConclusionInfra {
		t.Errorf("Conclude of a kernel that panicked before reporting = %s, want INFRA", got)
	}
	r.Infra = nil
	r.Suites = []Suite{{Name: "abi", Counts: Counts{Passed: 1}}}
	if got := Conclude(&r); got != ConclusionMismatch {
		t.Errorf("Conclude of a kernel that ran but reported nothing = %s, want MISMATCH", got)
	}
}

// enforced is a passing spec that saw a feature of abi enforced.
func enforced(id, feature string, abi int) Spec {
	return spec(id, feature, abi, 0, Passed, Verdict{Feature: feature, ABI: abi, Outcome: Works, Enforced: true})
}

// abiRun is a run on a kernel claiming abi, accepting accepted, with a spec that saw each
// step of steps enforced, plus extra specs.
func abiRun(abi, accepted int, steps []int, extra ...Spec) *Run {
	var specs []Spec
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
	known := spec("nnp", "restrict_self.no_new_privs", 11, 0, Failed)
	known.Known = &Known{Reason: "backport pending"}
	tests := []struct {
		name    string
		run     *Run
		abi     int
		unshown []int
		check   Check
	}{
		{"every step enforced", abiRun(11, 11, all(11)), 11, nil,
			Check{Name: "effective-abi", OK: true, Message: "kernel claims ABI 11 and behaves as ABI 11: every step accepted and seen enforced"}},
		{"accepted but not enforced caps the ABI", abiRun(11, 11, all(11), spec("tcp", "net.connect_tcp", 4, 0, Failed)), 3, nil,
			Check{Name: "effective-abi", Message: "kernel claims ABI 11, behaves as ABI 3: net.connect_tcp (ABI 4) is accepted but broken (failed: tcp)"}},
		{"a known issue does not cap", abiRun(11, 11, all(11), known), 11, nil,
			Check{Name: "effective-abi", OK: true, Message: "kernel claims ABI 11 and behaves as ABI 11: every step accepted and seen enforced"}},
		{"an erratum does not cap", abiRun(7, 7, all(7), spec("e4", "fs.whiteout", 1, 4, Failed)), 7, nil,
			Check{Name: "effective-abi", OK: true, Message: "kernel claims ABI 7 and behaves as ABI 7: every step accepted and seen enforced"}},
		{"a step nobody saw is unverified", abiRun(8, 8, []int{1, 2, 3, 4, 5, 6, 8},
			spec("log", "restrict_self.log_new_exec_on", 7, 0, Skipped)), 8, []int{7},
			Check{Name: "effective-abi", Unverified: true, Message: "kernel claims ABI 8; no passing spec saw ABI step [7] enforced: ABI 7: restrict_self.log_new_exec_on not-applicable (needs root)"}},
		{"an enforced verdict of a failed spec does not count", abiRun(2, 2, []int{1},
			spec("refer", "fs.refer", 2, 0, Failed, Verdict{Feature: "fs.refer", ABI: 2, Outcome: Works, Enforced: true})), 1, nil,
			Check{Name: "effective-abi", Message: "kernel claims ABI 2, behaves as ABI 1: fs.refer (ABI 2) is accepted but broken (failed: refer)"}},
		{"accepting less than claimed", abiRun(6, 5, all(6)), 5, nil,
			Check{Name: "effective-abi", Message: "kernel claims ABI 6, behaves as ABI 5: it accepts the uAPI of ABI 5 only (see abi.effective)"}},
		{"accepting more than claimed", abiRun(6, 7, all(7)), 7, nil,
			Check{Name: "effective-abi", Message: "kernel claims ABI 6, behaves as ABI 7: it accepts the uAPI of ABI 7"}},
		{"above the newest known ABI, the known part is checked", abiRun(12, 11, all(11)), 11, nil,
			Check{Name: "effective-abi", OK: true, Message: "kernel claims ABI 12 and behaves as ABI 11: every step accepted and seen enforced"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := Effective(tt.run, EvaluateFeatures(tt.run))
			if e == nil {
				t.Fatal("no effective ABI")
			}
			if e.ABI != tt.abi || !reflect.DeepEqual(e.Unshown, tt.unshown) {
				t.Errorf("effective ABI %d, unshown %v; want %d, %v", e.ABI, e.Unshown, tt.abi, tt.unshown)
			}
			checks := CheckExpect(tt.run)
			i := slices.IndexFunc(checks, func(c Check) bool { return c.Name == "effective-abi" })
			if i < 0 || checks[i] != tt.check {
				t.Errorf("checks = %+v\nwant effective-abi %+v", checks, tt.check)
			}
		})
	}
	if Effective(runOf(7, 0), nil) != nil {
		t.Error("an effective ABI without suites/abi's accepted ABI")
	}
}

// The errata bitmask must equal the behaviour both ways where the kernel answers the query;
// without the query, what was seen is reported only.
func TestErratumOutcomes(t *testing.T) {
	verdict := func(o Outcome) Verdict { return Verdict{Feature: "net.tcp", ABI: 4, Erratum: 1, Outcome: o} }
	noQuery := func(r *Run) *Run { r.Info.ErrataQuery = false; r.Info.Errata = 0; return r }
	tests := []struct {
		name string
		run  *Run
		want Outcome
		fail bool
	}{
		{"fixed as advertised", runOf(6, 0b1, spec("e1", "net.tcp", 4, 1, Passed, verdict(ErratumFixed))), ErratumFixed, false},
		{"not fixed, not advertised", runOf(6, 0, spec("e1", "net.tcp", 4, 1, Passed, verdict(ErratumNotFixedAdvertised))), ErratumNotFixedAdvertised, false},
		{"advertised, not fixed", runOf(6, 0b1, spec("e1", "net.tcp", 4, 1, Failed, verdict(ErratumAdvertisedNotFixed))), ErratumAdvertisedNotFixed, true},
		{"fixed, not advertised", runOf(6, 0b110, spec("e1", "net.tcp", 4, 1, Failed, verdict(ErratumFixedNotAdvertised))), ErratumFixedNotAdvertised, true},
		{"fixed, no errata query", noQuery(runOf(6, 0, spec("e1", "net.tcp", 4, 1, Passed, verdict(ErratumFixedNoQuery)))), ErratumFixedNoQuery, false},
		{"an old file's fixed-not-advertised without a query", noQuery(runOf(6, 0, spec("e1", "net.tcp", 4, 1, Passed, verdict(ErratumFixedNotAdvertised)))), ErratumFixedNoQuery, false},
		{"neither", runOf(6, 0b1, spec("e1", "net.tcp", 4, 1, Failed, verdict(Broken))), ErratumAdvertisedNotFixed, true},
		{"neither, not advertised", runOf(6, 0, spec("e1", "net.tcp", 4, 1, Failed, verdict(Broken))), Broken, true},
	}
	for _, tt := range tests {
		fs := EvaluateFeatures(tt.run)
		if len(fs) != 1 || fs[0].Outcome != tt.want || fs[0].Fails() != tt.fail {
			t.Errorf("%s: features %+v, want %s failing=%v", tt.name, fs, tt.want, tt.fail)
		}
		if c := Conclude(tt.run); (c == ConclusionFail) != tt.fail {
			t.Errorf("%s: Conclude = %s", tt.name, c)
		}
	}
}
