// Package diff says what changed between two judged results, per kernel, the way kernel CI
// compares a build with its baseline: specs newly failing, newly passing or newly skipped
// (coverage lost, with the skip reason), feature outcomes that changed, claims that changed
// (ABI, errata, effective ABI, Landlock status, expectation checks), infrastructure errors
// new or gone, and known issues that started passing.
//
// Compare pairs the kernels of the two results (by name, then by release, then the one
// kernel left on each side, or as the caller pairs them) and lists the changes; Gate decides
// which changes are regressions. Both results must have been judged (verdict.Evaluate):
// Compare reads the derived fields. Package render writes a Diff as a terminal table,
// markdown and HTML.
package diff

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/llconform/llconform/internal/report"
)

// Kind is the kind of one change.
type Kind string

const (
	// Spec changes.
	NewFailure   Kind = "new-failure"   // failed in NEW, not in BASE (passed, skipped, absent, infra)
	NewKnown     Kind = "new-known"     // fails in NEW, excused by a known issue; did not fail in BASE
	Fixed        Kind = "fixed"         // failed in BASE, passes in NEW
	KnownPasses  Kind = "known-passes"  // a known issue that no longer fails in NEW
	NewSkip      Kind = "new-skip"      // ran in BASE, skipped in NEW: coverage lost
	Unskipped    Kind = "unskipped"     // skipped in BASE, ran in NEW: coverage gained
	SpecRemoved  Kind = "spec-removed"  // ran in BASE, absent from NEW
	SpecAdded    Kind = "spec-added"    // absent from BASE, present in NEW
	FeatureLost  Kind = "feature-lost"  // worked (or was fixed) in BASE, broken or absent in NEW
	FeatureGain  Kind = "feature-gain"  // works (or is fixed) in NEW, did not in BASE
	FeatureOther Kind = "feature"       // any other change of a feature's outcome
	FeatureNA    Kind = "feature-na"    // worked in BASE, could not be exercised in NEW (skipped, unknown)
	Claim        Kind = "claim"         // a claim or an expectation check changed
	InfraNew     Kind = "infra-new"     // an infrastructure error NEW has and BASE had not
	InfraGone    Kind = "infra-gone"    // an infrastructure error of BASE gone in NEW
	KernelGone   Kind = "kernel-gone"   // a kernel of BASE that NEW does not have
	KernelNew    Kind = "kernel-new"    // a kernel of NEW that BASE does not have
	Conclusion   Kind = "conclusion"    // the kernel's one-word verdict changed
	WarningsNew  Kind = "kernel-health" // the kernel logged warnings in NEW and not in BASE
)

// Change is one difference between BASE and NEW on one kernel.
type Change struct {
	Kind Kind `json:"kind"`
	// Subject is what changed: a spec id, a feature, a claim ("abi", "errata",
	// "effective-abi", "landlock", "check:<name>"), an infrastructure error's place.
	Subject string `json:"subject"`
	// Base and New are its state on each side: a spec state, a feature outcome, a value;
	// "" where the side does not have it.
	Base string `json:"base,omitempty"`
	New  string `json:"new,omitempty"`
	// Detail says more: the failure message, the skip reason, the check's message.
	Detail string `json:"detail,omitempty"`
	// Regression is set by Gate on the changes its classes count.
	Regression bool `json:"regression,omitempty"`
}

// Match says how a kernel of NEW was paired with one of BASE.
type Match string

const (
	ByName    Match = "name"
	ByRelease Match = "release"
	ByPair    Match = "pair"      // the caller paired them (Options.Pairs)
	ByLastOne Match = "last-one"  // the only kernel left unmatched on each side
	Unmatched Match = "unmatched" // on one side only
)

// Kernel is what changed on one kernel.
type Kernel struct {
	// Name is the kernel's name in NEW, or in BASE for a kernel NEW does not have.
	Name string `json:"name"`
	// BaseName is its name in BASE when that differs.
	BaseName string `json:"base_name,omitempty"`
	Match    Match  `json:"match"`
	// BaseRelease and NewRelease are the kernels' releases (uname -r), when known.
	BaseRelease string `json:"base_release,omitempty"`
	NewRelease  string `json:"new_release,omitempty"`
	// BaseConclusion and NewConclusion are the runs' conclusions; "" for a missing side.
	BaseConclusion report.Conclusion `json:"base_conclusion,omitempty"`
	NewConclusion  report.Conclusion `json:"new_conclusion,omitempty"`
	Changes        []Change          `json:"changes,omitempty"`
}

// Side describes one of the two results compared.
type Side struct {
	File      string    `json:"file,omitempty"`
	Generator string    `json:"generator,omitempty"`
	Time      time.Time `json:"time"`
	Kernels   int       `json:"kernels"`
}

// Diff is what changed from BASE to NEW.
type Diff struct {
	Base    Side     `json:"base"`
	New     Side     `json:"new"`
	Kernels []Kernel `json:"kernels"`
	// GatedOn is the set of classes that counted as regressions (see Gate), "" before Gate.
	GatedOn string `json:"gate,omitempty"`
}

// Options tune Compare.
type Options struct {
	// BaseFile and NewFile name the results in the output.
	BaseFile, NewFile string
	// Pairs maps a kernel name of NEW to the name of the BASE kernel it is compared with,
	// before any automatic matching: a backport against the upstream kernel of the same ABI.
	Pairs map[string]string
}

// Compare lists what changed from base to new, per kernel. Both results must be judged
// (verdict.Evaluate). A pair naming a kernel that a result does not have is an error.
func Compare(base, new *report.Result, opts Options) (*Diff, error) {
	d := &Diff{
		Base: Side{File: opts.BaseFile, Generator: base.Generator, Time: base.Time, Kernels: len(base.Runs)},
		New:  Side{File: opts.NewFile, Generator: new.Generator, Time: new.Time, Kernels: len(new.Runs)},
	}
	pairs, err := match(base, new, opts.Pairs)
	if err != nil {
		return nil, err
	}
	for _, p := range pairs {
		switch {
		case p.base == nil:
			d.Kernels = append(d.Kernels, Kernel{Name: p.new.Kernel.Name, Match: Unmatched,
				NewRelease: release(p.new), NewConclusion: p.new.Conclusion,
				Changes: []Change{{Kind: KernelNew, Subject: p.new.Kernel.Name, New: string(p.new.Conclusion), Detail: "not in BASE"}}})
		case p.new == nil:
			d.Kernels = append(d.Kernels, Kernel{Name: p.base.Kernel.Name, Match: Unmatched,
				BaseRelease: release(p.base), BaseConclusion: p.base.Conclusion,
				Changes: []Change{{Kind: KernelGone, Subject: p.base.Kernel.Name, Base: string(p.base.Conclusion), Detail: "not in NEW"}}})
		default:
			d.Kernels = append(d.Kernels, compareRun(p.base, p.new, p.how))
		}
	}
	return d, nil
}

type pair struct {
	base, new *report.Run
	how       Match
}

// match pairs the runs of base and new: the caller's pairs, then equal names, then equal
// releases (a rebuilt kernel under another name), then, when exactly one kernel is left on
// each side, those two (one kernel of the matrix swapped for another). Paired kernels come
// in NEW's order, then the kernels only BASE has, in BASE's order.
func match(base, new *report.Result, explicit map[string]string) ([]pair, error) {
	byName := func(res *report.Result, name string) int {
		return slices.IndexFunc(res.Runs, func(r report.Run) bool { return r.Kernel.Name == name })
	}
	baseOf := make([]int, len(new.Runs)) // index in base.Runs, -1 when none
	how := make([]Match, len(new.Runs))
	taken := make([]bool, len(base.Runs))
	for i := range baseOf {
		baseOf[i] = -1
	}
	names := make([]string, 0, len(explicit))
	for n := range explicit {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		b := explicit[n]
		i, j := byName(new, n), byName(base, b)
		switch {
		case i < 0:
			return nil, fmt.Errorf("pair %s=%s: NEW has no kernel named %q", n, b, n)
		case j < 0:
			return nil, fmt.Errorf("pair %s=%s: BASE has no kernel named %q", n, b, b)
		case taken[j]:
			return nil, fmt.Errorf("pair %s=%s: BASE kernel %q is paired twice", n, b, b)
		}
		baseOf[i], how[i], taken[j] = j, ByPair, true
	}
	for i := range new.Runs {
		if baseOf[i] >= 0 {
			continue
		}
		if j := byName(base, new.Runs[i].Kernel.Name); j >= 0 && !taken[j] {
			baseOf[i], how[i], taken[j] = j, ByName, true
		}
	}
	for i := range new.Runs {
		rel := release(&new.Runs[i])
		if baseOf[i] >= 0 || rel == "" {
			continue
		}
		// Only a release that identifies one kernel on each side pairs; a compat run and
		// the native run of its kernel share a release, and never pair with each other.
		arch := compatArch(&new.Runs[i])
		var cands []int
		for j := range base.Runs {
			if !taken[j] && release(&base.Runs[j]) == rel && compatArch(&base.Runs[j]) == arch {
				cands = append(cands, j)
			}
		}
		same := 0
		for k := range new.Runs {
			if baseOf[k] < 0 && release(&new.Runs[k]) == rel && compatArch(&new.Runs[k]) == arch {
				same++
			}
		}
		if len(cands) == 1 && same == 1 {
			baseOf[i], how[i], taken[cands[0]] = cands[0], ByRelease, true
		}
	}
	var leftNew, leftBase []int
	for i := range new.Runs {
		if baseOf[i] < 0 {
			leftNew = append(leftNew, i)
		}
	}
	for j := range base.Runs {
		if !taken[j] {
			leftBase = append(leftBase, j)
		}
	}
	if len(leftNew) == 1 && len(leftBase) == 1 && compatArch(&new.Runs[leftNew[0]]) == compatArch(&base.Runs[leftBase[0]]) {
		baseOf[leftNew[0]], how[leftNew[0]], taken[leftBase[0]] = leftBase[0], ByLastOne, true
	}
	var out []pair
	for i := range new.Runs {
		p := pair{new: &new.Runs[i], how: how[i]}
		if baseOf[i] >= 0 {
			p.base = &base.Runs[baseOf[i]]
		}
		out = append(out, p)
	}
	for j := range base.Runs {
		if !taken[j] {
			out = append(out, pair{base: &base.Runs[j]})
		}
	}
	return out, nil
}

// compatArch is the architecture of a compat run's suites, "" for a native run.
func compatArch(r *report.Run) string {
	if r.Compat == nil {
		return ""
	}
	return r.Compat.Arch
}

// release is the kernel's uname -r: what its suites reported, else what the host knew.
func release(r *report.Run) string {
	if r.Info != nil && r.Info.Release != "" {
		return r.Info.Release
	}
	return r.Kernel.Release
}

func compareRun(b, n *report.Run, how Match) Kernel {
	k := Kernel{Name: n.Kernel.Name, Match: how, BaseRelease: release(b), NewRelease: release(n),
		BaseConclusion: b.Conclusion, NewConclusion: n.Conclusion}
	if b.Kernel.Name != n.Kernel.Name {
		k.BaseName = b.Kernel.Name
	}
	add := func(c Change) { k.Changes = append(k.Changes, c) }
	if b.Conclusion != n.Conclusion {
		add(Change{Kind: Conclusion, Subject: "conclusion", Base: string(b.Conclusion), New: string(n.Conclusion)})
	}
	for _, c := range claims(b, n) {
		add(c)
	}
	if len(n.KernelWarnings) > 0 && len(b.KernelWarnings) == 0 {
		add(Change{Kind: WarningsNew, Subject: "kernel log", New: fmt.Sprintf("%d warning(s)", len(n.KernelWarnings)),
			Detail: report.FirstLine(n.KernelWarnings[0])})
	}
	for _, c := range infra(b, n) {
		add(c)
	}
	for _, c := range specs(b, n) {
		add(c)
	}
	for _, c := range features(b, n) {
		add(c)
	}
	for _, nt := range n.Notices {
		if nt.Kind == report.NoticeKnownIssuePasses && !slices.ContainsFunc(k.Changes, func(c Change) bool {
			return c.Kind == KnownPasses && strings.Contains(nt.Issue, strings.TrimPrefix(c.Subject, "spec "))
		}) {
			add(Change{Kind: KnownPasses, Subject: nt.Issue, Detail: nt.Message})
		}
	}
	return k
}

// claims compares what the kernels claim (Landlock status, ABI, errata), what they behave
// as (effective ABI), and the expectation checks.
func claims(b, n *report.Run) []Change {
	var out []Change
	add := func(subject, bv, nv, detail string) {
		if bv != nv {
			out = append(out, Change{Kind: Claim, Subject: subject, Base: bv, New: nv, Detail: detail})
		}
	}
	bi, ni := b.Info, n.Info
	if bi != nil && ni != nil {
		add("landlock", string(bi.Status), string(ni.Status), "")
		if bi.Status == report.StatusAvailable && ni.Status == report.StatusAvailable {
			add("abi", fmt.Sprint(bi.ABI), fmt.Sprint(ni.ABI), "the ABI the kernel claims")
			add("errata", errata(*bi), errata(*ni), "the errata the kernel claims fixed")
		}
	}
	add("effective-abi", intString(b.EffectiveABI), intString(n.EffectiveABI), "the ABI the kernel behaves as")
	for _, nc := range n.Checks {
		i := slices.IndexFunc(b.Checks, func(c report.Check) bool { return c.Name == nc.Name })
		bs := "absent"
		if i >= 0 {
			bs = checkState(b.Checks[i])
		}
		if ns := checkState(nc); ns != bs && (ns != "ok" || i >= 0) {
			out = append(out, Change{Kind: Claim, Subject: "check:" + nc.Name, Base: bs, New: ns, Detail: nc.Message})
		}
	}
	for _, bc := range b.Checks {
		if !slices.ContainsFunc(n.Checks, func(c report.Check) bool { return c.Name == bc.Name }) && checkState(bc) != "ok" {
			out = append(out, Change{Kind: Claim, Subject: "check:" + bc.Name, Base: checkState(bc), New: "absent", Detail: bc.Message})
		}
	}
	return out
}

func checkState(c report.Check) string {
	switch {
	case c.OK:
		return "ok"
	case c.Unverified:
		return "unverified"
	}
	return "mismatch"
}

func errata(i report.KernelInfo) string {
	if !i.ErrataQuery {
		return "no query"
	}
	return report.FormatErrata(i)
}

func intString(p *int) string {
	if p == nil {
		return ""
	}
	return fmt.Sprint(*p)
}

// infra compares the infrastructure errors of the kernel and of its suites. Spec-level ones
// are compared with the specs.
func infra(b, n *report.Run) []Change {
	var out []Change
	errs := func(r *report.Run) map[string]*report.InfraError {
		m := map[string]*report.InfraError{}
		if r.Infra != nil {
			m["kernel"] = r.Infra
		}
		for _, s := range r.Suites {
			if s.Infra != nil {
				m["suite "+s.Name] = s.Infra
			}
		}
		return m
	}
	be, ne := errs(b), errs(n)
	for _, where := range sortedKeys(ne) {
		if old, ok := be[where]; !ok || old.Kind != ne[where].Kind {
			c := Change{Kind: InfraNew, Subject: where, New: string(ne[where].Kind), Detail: report.FirstLine(ne[where].Message)}
			if ok {
				c.Base = string(old.Kind)
			}
			out = append(out, c)
		}
	}
	for _, where := range sortedKeys(be) {
		if _, ok := ne[where]; !ok {
			out = append(out, Change{Kind: InfraGone, Subject: where, Base: string(be[where].Kind), Detail: report.FirstLine(be[where].Message)})
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// specState is a spec's state with known failures told apart.
func specState(sp *report.Spec) string {
	if sp == nil {
		return ""
	}
	if sp.State == report.Failed && sp.Known != nil {
		return "known-failure"
	}
	return string(sp.State)
}

func specMap(r *report.Run) (map[string]*report.Spec, []string) {
	m := map[string]*report.Spec{}
	var order []string
	for i := range r.Suites {
		for j := range r.Suites[i].Specs {
			sp := &r.Suites[i].Specs[j]
			if _, dup := m[sp.ID]; !dup {
				order = append(order, sp.ID)
			}
			m[sp.ID] = sp
		}
	}
	return m, order
}

// ran is a spec state that tested something.
func ran(s string) bool {
	return s == string(report.Passed) || s == string(report.Failed) || s == "known-failure"
}

// suiteRan says whether the run's suite of a spec id reported at all: a spec missing from a
// suite that never reported is an infrastructure error (listed as such), not a removed spec.
func suiteRan(r *report.Run, id string) bool {
	suite, _, _ := strings.Cut(id, "/")
	return slices.ContainsFunc(r.Suites, func(s report.Suite) bool { return s.Name == suite && len(s.Specs) > 0 })
}

func specs(b, n *report.Run) []Change {
	bm, border := specMap(b)
	nm, norder := specMap(n)
	var out []Change
	for _, id := range norder {
		ns, bs := nm[id], bm[id]
		nst, bst := specState(ns), specState(bs)
		if nst == bst {
			continue
		}
		c := Change{Subject: id, Base: bst, New: nst}
		switch {
		case nst == string(report.Failed):
			c.Kind = NewFailure
			c.Detail = failure(ns)
		case nst == "known-failure" && bst != string(report.Failed):
			c.Kind = NewKnown
			c.Detail = ns.Known.Reason
		case nst == string(report.Passed) && bst == "known-failure":
			c.Kind = KnownPasses
			c.Detail = "known issue: " + bs.Known.Reason
		case nst == string(report.Passed) && bst == string(report.Failed):
			c.Kind = Fixed
		case nst == string(report.Skipped) && ran(bst):
			c.Kind = NewSkip
			c.Detail = ns.SkipReason
		case nst == string(report.InfraState):
			c.Kind = InfraNew
			c.Detail = failure(ns)
		case bst == string(report.InfraState):
			c.Kind = InfraGone
		case bs == nil:
			if !suiteRan(b, id) {
				continue // the whole suite is new, or failed in BASE: said once, by infra()
			}
			c.Kind = SpecAdded
			if nst == string(report.Skipped) {
				c.Detail = ns.SkipReason
			}
		case bst == string(report.Skipped) && ran(nst):
			c.Kind = Unskipped
			c.Detail = "skipped in BASE: " + bs.SkipReason
		default:
			continue // failed -> known-failure, known-failure -> failed are said by the known issues
		}
		out = append(out, c)
	}
	for _, id := range border {
		if _, ok := nm[id]; ok || !ran(specState(bm[id])) || !suiteRan(n, id) {
			continue
		}
		out = append(out, Change{Kind: SpecRemoved, Subject: id, Base: specState(bm[id]), Detail: "not run in NEW"})
	}
	return out
}

func failure(sp *report.Spec) string {
	if sp.Failure == nil {
		return ""
	}
	return report.FirstLine(sp.Failure.Message)
}

// good outcomes are a feature present and behaving, or an erratum fixed.
func good(o report.Outcome) bool {
	return o == report.Works || o == report.ErratumFixed || o == report.ErratumFixedNoQuery
}

// exercised outcomes say something about the kernel; NotApplicable and Unknown do not.
func exercised(o report.Outcome) bool {
	return o != "" && o != report.NotApplicable && o != report.Unknown
}

func features(b, n *report.Run) []Change {
	outcome := func(r *report.Run) map[string]report.FeatureResult {
		m := map[string]report.FeatureResult{}
		for _, f := range r.Features {
			m[f.Feature] = f
		}
		return m
	}
	bf, nf := outcome(b), outcome(n)
	names := sortedKeys(bf)
	for f := range nf {
		if _, ok := bf[f]; !ok {
			names = append(names, f)
		}
	}
	sort.Strings(names)
	var out []Change
	for _, f := range names {
		bo, no := bf[f].Outcome, nf[f].Outcome
		bfails, nfails := bf[f].Fails(), nf[f].Fails()
		if bo == no && bfails == nfails {
			continue
		}
		c := Change{Subject: f, Base: featureState(bf[f]), New: featureState(nf[f]), Detail: nf[f].Detail}
		switch {
		case nfails && !bfails, good(bo) && exercised(no) && !good(no):
			c.Kind = FeatureLost
		case good(bo) && !exercised(no):
			c.Kind = FeatureNA
			if c.Detail == "" {
				c.Detail = "not in NEW"
			}
		case good(no) && !good(bo):
			c.Kind = FeatureGain
		default:
			c.Kind = FeatureOther
		}
		out = append(out, c)
	}
	return out
}

func featureState(f report.FeatureResult) string {
	s := string(f.Outcome)
	if f.Outcome.Failing() && f.Known != nil {
		s += " (known)"
	}
	return s
}
