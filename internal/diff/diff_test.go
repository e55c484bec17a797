package diff

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/llconform/llconform/internal/landlock"
	"github.com/llconform/llconform/internal/report"
	"github.com/llconform/llconform/internal/verdict"
)

func intp(n int) *int { return &n }

// spec is a spec of suite fs on feature fs.x (ABI 1) unless said otherwise.
type spec struct {
	id      string
	state   report.State
	feature string
	abi     int
	reason  string // skip reason, or failure message
	known   string // known issue reason on a failed spec
	works   bool   // attaches an enforced "works" verdict
}

// run builds an evaluated run of kernel name (release rel) claiming abi and errata, whose
// suites/abi reported accepted ABI abi.
func run(name, rel string, abi int, errata uint64, specs ...spec) report.Run {
	r := report.Run{
		Kernel:      report.Kernel{Name: name, Release: rel},
		Info:        &report.KernelInfo{Release: rel, Status: landlock.Available, ABI: abi, Errata: errata, ErrataQuery: true},
		AcceptedABI: intp(abi),
	}
	suites := map[string]*report.Suite{}
	var order []string
	for _, s := range specs {
		suite, _, _ := strings.Cut(s.id, "/")
		if suites[suite] == nil {
			suites[suite] = &report.Suite{Name: suite}
			order = append(order, suite)
		}
		sp := report.Spec{ID: s.id, Text: s.id, Feature: s.feature, ABI: s.abi, State: s.state}
		if sp.Feature == "" {
			sp.Feature, sp.ABI = "fs.x", 1
		}
		switch s.state {
		case report.Failed, report.InfraState:
			sp.Failure = &report.Failure{Message: s.reason}
		case report.Skipped:
			sp.SkipReason = s.reason
		}
		if s.known != "" {
			sp.Known = &report.Known{Reason: s.known}
		}
		if s.works {
			sp.Verdicts = []report.Verdict{{Feature: sp.Feature, ABI: sp.ABI, Outcome: report.Works, Enforced: true}}
		}
		suites[suite].Specs = append(suites[suite].Specs, sp)
	}
	for _, name := range order {
		s := suites[name]
		s.Recount()
		r.Suites = append(r.Suites, *s)
	}
	return r
}

func result(runs ...report.Run) *report.Result {
	res := &report.Result{Schema: report.Schema, Generator: "test", Runs: runs}
	verdict.Evaluate(res)
	return res
}

// changes lists a kernel's changes as "kind subject base->new", sorted, for comparisons.
func changes(k Kernel) []string {
	var out []string
	for _, c := range k.Changes {
		s := fmt.Sprintf("%s %s %s->%s", c.Kind, c.Subject, c.Base, c.New)
		if c.Regression {
			s += " REGRESSION"
		}
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

func compare(t *testing.T, base, new *report.Result, pairs map[string]string) *Diff {
	t.Helper()
	d, err := Compare(base, new, Options{BaseFile: "base.json", NewFile: "new.json", Pairs: pairs})
	if err != nil {
		t.Fatal(err)
	}
	d.Gate(DefaultGate)
	return d
}

func TestSpecChanges(t *testing.T) {
	base := result(run("k", "7.3.0", 1, 0,
		spec{id: "fs/a", state: report.Passed, works: true},
		spec{id: "fs/b", state: report.Passed},
		spec{id: "fs/c", state: report.Failed, reason: "boom"},
		spec{id: "fs/d", state: report.Passed},
		spec{id: "fs/e", state: report.Skipped, reason: "needs root"},
		spec{id: "fs/f", state: report.Failed, reason: "old bug", known: "bug 1"},
		spec{id: "fs/g", state: report.Passed},
		spec{id: "fs/h", state: report.InfraState, reason: "timeout"},
	))
	new := result(run("k", "7.3.0", 1, 0,
		spec{id: "fs/a", state: report.Passed, works: true},
		spec{id: "fs/b", state: report.Failed, reason: "EACCES, want success\nmore"},
		spec{id: "fs/c", state: report.Passed},
		spec{id: "fs/d", state: report.Skipped, reason: "module sctp not loaded"},
		spec{id: "fs/e", state: report.Passed},
		spec{id: "fs/f", state: report.Passed},
		spec{id: "fs/h", state: report.Passed},
		spec{id: "fs/i", state: report.Passed},
	))
	d := compare(t, base, new, nil)
	if len(d.Kernels) != 1 || d.Kernels[0].Match != ByName {
		t.Fatalf("kernels = %+v", d.Kernels)
	}
	got := changes(d.Kernels[0])
	for _, w := range []string{
		"new-failure fs/b passed->failed REGRESSION",
		"fixed fs/c failed->passed",
		"new-skip fs/d passed->skipped",
		"unskipped fs/e skipped->passed",
		"known-passes fs/f known-failure->passed",
		"spec-removed fs/g passed->",
		"infra-gone fs/h infra-error->passed",
		"spec-added fs/i ->passed",
	} {
		if !slices.Contains(got, w) {
			t.Errorf("missing change %q in\n%s", w, strings.Join(got, "\n"))
		}
	}
	for _, c := range d.Kernels[0].Changes {
		if c.Subject == "fs/b" && c.Detail != "EACCES, want success" {
			t.Errorf("fs/b detail = %q, want the failure's first line", c.Detail)
		}
		if c.Subject == "fs/d" && c.Detail != "module sctp not loaded" {
			t.Errorf("fs/d detail = %q, want the skip reason", c.Detail)
		}
	}
	if n := d.Regressions(); n != 1 {
		t.Errorf("regressions = %d, want 1 (the new failure): %s", n, strings.Join(got, "\n"))
	}
	// With skips gated, coverage lost counts too: the new skip and the removed spec.
	if n := d.Gate([]Class{ClassSkip}); n != 2 {
		t.Errorf("skip gate: %d regressions, want 2: %s", n, strings.Join(changes(d.Kernels[0]), "\n"))
	}
}

func TestFeatureAndClaimChanges(t *testing.T) {
	netSpec := func(state report.State) spec {
		return spec{id: "net/tcp", state: state, feature: "net.tcp", abi: 2, works: state == report.Passed, reason: "connect allowed"}
	}
	base := result(run("k", "7.3.0", 2, 0b11,
		spec{id: "fs/a", state: report.Passed, works: true},
		netSpec(report.Passed)))
	// The TCP rule is accepted and not enforced: the feature is broken, the effective ABI
	// drops to 1, and the kernel also stops claiming erratum 2.
	new := result(run("k", "7.3.0", 2, 0b01,
		spec{id: "fs/a", state: report.Passed, works: true},
		netSpec(report.Failed)))
	d := compare(t, base, new, nil)
	got := changes(d.Kernels[0])
	for _, w := range []string{
		"conclusion conclusion PASS->FAIL",
		"claim errata 0b0011 [1 2]->0b0001 [1] REGRESSION",
		"claim effective-abi 2->1 REGRESSION",
		"claim check:effective-abi ok->mismatch REGRESSION",
		"new-failure net/tcp passed->failed REGRESSION",
		"feature-lost net.tcp works->broken REGRESSION",
	} {
		if !slices.Contains(got, w) {
			t.Errorf("missing change %q in\n%s", w, strings.Join(got, "\n"))
		}
	}
	// And back: nothing the default gate counts.
	d = compare(t, new, base, nil)
	if n := d.Regressions(); n != 1 {
		// The errata claim changed back (1 -> 1,2): a changed claim is a regression both ways.
		t.Errorf("reverse: %d regressions, want 1 (errata): %s", n, strings.Join(changes(d.Kernels[0]), "\n"))
	}
	for _, c := range d.Kernels[0].Changes {
		if c.Subject == "net.tcp" && c.Kind != FeatureGain {
			t.Errorf("reverse net.tcp: kind %s, want %s", c.Kind, FeatureGain)
		}
	}
}

func TestFeatureAbsentIsLost(t *testing.T) {
	// A backport against the upstream kernel of the same ABI: upstream has TCP rules working,
	// the backport rejects them (correctly absent below its claimed ABI 1).
	upstream := result(run("upstream", "6.7.0", 2, 0, spec{id: "fs/a", state: report.Passed, works: true},
		spec{id: "net/tcp", state: report.Passed, feature: "net.tcp", abi: 2, works: true}))
	backport := result(run("backport", "5.14.0-el9", 1, 0, spec{id: "fs/a", state: report.Passed, works: true},
		spec{id: "net/tcp", state: report.Passed, feature: "net.tcp", abi: 2}))
	d := compare(t, upstream, backport, map[string]string{"backport": "upstream"})
	k := d.Kernels[0]
	if k.Match != ByPair || k.BaseName != "upstream" {
		t.Fatalf("match = %s base %q, want pair with upstream", k.Match, k.BaseName)
	}
	got := changes(k)
	for _, w := range []string{"feature-lost net.tcp works->correctly-absent REGRESSION", "claim abi 2->1 REGRESSION"} {
		if !slices.Contains(got, w) {
			t.Errorf("missing change %q in\n%s", w, strings.Join(got, "\n"))
		}
	}
}

func TestMatching(t *testing.T) {
	base := result(
		run("debian-6.1", "6.1.0-56", 2, 0, spec{id: "fs/a", state: report.Passed, works: true}),
		run("lying-7.3", "7.3.4", 1, 0, spec{id: "fs/a", state: report.Passed, works: true}),
		run("gone", "5.10", 1, 0, spec{id: "fs/a", state: report.Passed, works: true}),
	)
	new := result(
		run("renamed-7.3", "7.3.4", 1, 0, spec{id: "fs/a", state: report.Passed, works: true}),
		run("debian-6.1", "6.1.0-56", 2, 0, spec{id: "fs/a", state: report.Passed, works: true}),
	)
	d := compare(t, base, new, nil)
	var got []string
	for _, k := range d.Kernels {
		got = append(got, fmt.Sprintf("%s<-%s %s", k.Name, k.BaseName, k.Match))
	}
	want := []string{"renamed-7.3<-lying-7.3 release", "debian-6.1<- name", "gone<- unmatched"}
	if !slices.Equal(got, want) {
		t.Errorf("matches = %q, want %q", got, want)
	}
	if n := d.Regressions(); n != 0 {
		t.Errorf("a kernel missing from NEW is no regression by default (one shard against the matrix): %d", n)
	}
	if n := d.Gate([]Class{ClassKernel}); n != 1 {
		t.Errorf("kernel gate: %d regressions, want 1", n)
	}

	// One kernel left on each side: the matrix with one kernel swapped.
	swapped := result(
		run("debian-6.1", "6.1.0-56", 2, 0, spec{id: "fs/a", state: report.Passed, works: true}),
		run("debian-6.12", "6.12.107", 6, 0, spec{id: "fs/a", state: report.Passed, works: true}),
	)
	d = compare(t, result(base.Runs[:2]...), swapped, nil)
	if k := d.Kernels[1]; k.Match != ByLastOne || k.BaseName != "lying-7.3" {
		t.Errorf("swapped kernel: %+v, want paired with lying-7.3 as the last one left", k)
	}

	for _, pairs := range []map[string]string{{"nope": "debian-6.1"}, {"debian-6.1": "nope"}, {"debian-6.1": "gone", "renamed-7.3": "gone"}} {
		if _, err := Compare(base, new, Options{Pairs: pairs}); err == nil {
			t.Errorf("pairs %v: no error", pairs)
		}
	}
}

// A kernel's compat run shares its release with the native run: renamed kernels pair by
// release with the run of the same build, never across builds.
func TestMatchingCompatRuns(t *testing.T) {
	compat := func(r report.Run) report.Run {
		r.Compat = &report.Compat{Arch: "386", Native: r.Kernel.Name}
		r.Kernel.Name = report.CompatRunName(r.Kernel.Name, "386")
		return r
	}
	a := run("lying-7.3", "7.3.4", 1, 0, spec{id: "fs/a", state: report.Passed, works: true})
	b := run("renamed-7.3", "7.3.4", 1, 0, spec{id: "fs/a", state: report.Passed, works: true})
	d := compare(t, result(a, compat(a)), result(compat(b), b), nil)
	var got []string
	for _, k := range d.Kernels {
		got = append(got, fmt.Sprintf("%s<-%s %s", k.Name, k.BaseName, k.Match))
	}
	want := []string{"renamed-7.3/386<-lying-7.3/386 release", "renamed-7.3<-lying-7.3 release"}
	if !slices.Equal(got, want) {
		t.Errorf("matches = %q, want %q", got, want)
	}
	// The last run left on each side pairs only with a run of the same build.
	d = compare(t, result(a), result(compat(b)), nil)
	if len(d.Kernels) != 2 || d.Kernels[0].Match != Unmatched {
		t.Errorf("native against compat: %+v, want both unmatched", d.Kernels)
	}
}

func TestInfraChanges(t *testing.T) {
	base := result(run("k", "7.3.0", 1, 0, spec{id: "fs/a", state: report.Passed, works: true},
		spec{id: "net/a", state: report.Passed}))
	nr := run("k", "7.3.0", 1, 0, spec{id: "fs/a", state: report.Passed, works: true})
	nr.Suites = append(nr.Suites, report.Suite{Name: "net", Infra: &report.InfraError{Kind: report.InfraTimeout, Message: "suite net overran 5m"}})
	new := result(nr)
	d := compare(t, base, new, nil)
	got := changes(d.Kernels[0])
	if !slices.Contains(got, "infra-new suite net ->timeout") {
		t.Errorf("no infra-new for suite net in\n%s", strings.Join(got, "\n"))
	}
	// The spec of the suite that never reported is not also "removed".
	for _, g := range got {
		if strings.HasPrefix(g, "spec-removed") {
			t.Errorf("unexpected %q", g)
		}
	}
	if n := d.Gate([]Class{ClassInfra}); n != 1 {
		t.Errorf("infra gate: %d, want 1", n)
	}
	// A kernel that did not boot in NEW: its claims are unknown, not changed.
	nr = report.Run{Kernel: report.Kernel{Name: "k"}, Infra: &report.InfraError{Kind: report.InfraBootFailed, Message: "no agent"}}
	d = compare(t, base, result(nr), nil)
	if n := d.Regressions(); n != 0 {
		t.Errorf("boot failure: %d default-gate regressions, want 0: %s", n, strings.Join(changes(d.Kernels[0]), "\n"))
	}
}

func TestParseGate(t *testing.T) {
	for in, want := range map[string]string{
		"default":           "fail,feature,claim",
		"fail":              "fail",
		"all":               "fail,feature,claim,skip,infra,kernel",
		"none":              "",
		"default,skip,fail": "fail,feature,claim,skip",
		"infra, claim":      "claim,infra",
	} {
		got, err := ParseGate(in)
		if err != nil {
			t.Errorf("ParseGate(%q): %v", in, err)
			continue
		}
		var names []string
		for _, c := range got {
			names = append(names, string(c))
		}
		if s := strings.Join(names, ","); s != want {
			t.Errorf("ParseGate(%q) = %q, want %q", in, s, want)
		}
	}
	if _, err := ParseGate("fail,speed"); err == nil {
		t.Error("ParseGate(fail,speed): no error")
	}
}

func TestUnverifiedIsCoverage(t *testing.T) {
	// The one spec that showed ABI 1 enforced now skips: the claim is no longer verified,
	// which is coverage lost, not a changed claim.
	base := result(run("k", "7.3.0", 1, 0, spec{id: "fs/a", state: report.Passed, works: true}))
	new := result(run("k", "7.3.0", 1, 0, spec{id: "fs/a", state: report.Skipped, reason: "no block device"}))
	d := compare(t, base, new, nil)
	if n := d.Regressions(); n != 0 {
		t.Errorf("default gate: %d regressions, want 0: %s", n, strings.Join(changes(d.Kernels[0]), "\n"))
	}
	got := changes(d.Kernels[0])
	if !slices.Contains(got, "claim check:effective-abi ok->unverified") {
		t.Errorf("no unverified check change in\n%s", strings.Join(got, "\n"))
	}
	if n := d.Gate([]Class{ClassSkip}); n != 3 {
		t.Errorf("skip gate: %d regressions, want 3 (skip, feature not exercised, claim unverified): %s", n, strings.Join(changes(d.Kernels[0]), "\n"))
	}
}
