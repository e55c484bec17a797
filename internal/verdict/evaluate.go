// Package verdict decides what a result means: each feature's outcome on each kernel, the
// checks of the kernel's claims against expectations and behaviour (the effective ABI), each
// run's conclusion and the exit status that gates CI, and which failures known issues excuse.
//
// Evaluate is the one place that judges: it fills each run's derived fields (Features,
// Checks, EffectiveABI, Conclusion) once known issues (ApplyKnownIssues) and
// Run.AcceptUnverified are set, and before anything is written. Writers (package render,
// report.Encode) and ExitCode only read those fields. A result decoded from a file has no
// derived fields (report.Decode drops them) and is evaluated again.
package verdict

import (
	"fmt"
	"slices"
	"strings"

	"github.com/llconform/llconform/internal/landlock"
	"github.com/llconform/llconform/internal/report"
)

// Evaluate fills the derived fields of every run of res from the rest of the run: the
// feature outcomes, the expectation checks, the effective ABI and the conclusion. Call it
// after ApplyKnownIssues and after setting AcceptUnverified, and again after any change to a
// run; it replaces whatever the fields held.
func Evaluate(res *report.Result) {
	for i := range res.Runs {
		r := &res.Runs[i]
		if c := r.Compat; c != nil && c.NotApplicable != "" {
			// The kernel runs no 32-bit programs: nothing ran, so no claim was made to check.
			r.Features, r.Checks, r.EffectiveABI = nil, nil, nil
			r.Conclusion = report.ConclusionNotApplicable
			continue
		}
		// Each derived field is computed once, from the ones before it.
		r.Features = evaluateFeatures(r)
		r.Checks = checkExpect(r, r.Features)
		if c, ok := certifiedCheck(r, r.Features); ok {
			r.Checks = append(r.Checks, c)
		}
		r.EffectiveABI = nil
		if e := effective(r, r.Features); e != nil {
			r.EffectiveABI = &e.ABI
		}
		r.Conclusion = conclude(r, r.Features, r.Checks)
	}
}

// severity orders verdict outcomes for evaluateFeatures: when the specs of one feature reach
// different outcomes, the most severe one stands, because one spec seeing a defect is not
// cancelled by another not seeing it. A claim contradicted by behaviour ranks above an honest
// absence; anything observed ranks above "could not exercise it here".
var severity = map[report.Outcome]int{
	report.NotApplicable:             1,
	report.Works:                     2,
	report.Absent:                    2,
	report.ErratumFixed:              2,
	report.ErratumFixedNoQuery:       2,
	report.ErratumNotFixedAdvertised: 3,
	report.ErratumFixedNotAdvertised: 4,
	report.Broken:                    5,
	report.ErratumAdvertisedNotFixed: 6,
}

type featureAcc struct {
	abi, erratum int
	// since is the version of a feature outside the Landlock ABI (spec.Since), from the
	// labels of its specs.
	since        string
	failed       []string
	failedKnown  []*report.Known // Known of each failed spec, nil where none
	infra        []string
	passed       []string
	skipped      []string
	skipReason   string
	verdicts     []report.Verdict
	verdictSpecs []string
	// verdictFailed[i] is whether verdicts[i] came from a failed spec.
	verdictFailed []bool
}

// evaluateFeatures computes the kernel x feature table of a run from its specs (grouped by
// feature label) and the verdicts they attached (grouped by the verdict's feature). For each
// feature, the first rule that applies decides:
//
//  1. a failed spec makes the feature broken, or advertised-not-fixed when the feature is an
//     erratum the kernel claims fixed, or fixed-not-advertised when the failed spec saw the
//     fix of an erratum the kernel's bitmask leaves out, whatever other verdicts say;
//  2. a spec with an infrastructure error makes it unknown;
//  3. verdicts: "works" and "correctly-absent" together mean a half-present feature, broken;
//     otherwise the most severe outcome stands (see severity);
//  4. passing specs without verdicts: works when the feature's ABI is at most the kernel's,
//     correctly-absent above it (unknown when no suite reported the kernel's ABI);
//  5. only skipped specs: not-applicable, with the skip reason.
//
// A failing outcome is then marked Known when a known issue excuses it (see FeatureResult).
// Features are returned sorted by name.
func evaluateFeatures(r *report.Run) []report.FeatureResult {
	accs := map[string]*featureAcc{}
	get := func(f string) *featureAcc {
		a := accs[f]
		if a == nil {
			a = &featureAcc{}
			accs[f] = a
		}
		return a
	}
	for _, s := range r.Suites {
		for _, sp := range s.Specs {
			// A failed spec also breaks every feature it attached a verdict for: its
			// conclusion is void.
			features := []string{}
			if sp.Feature != "" {
				features = append(features, sp.Feature)
			}
			for _, v := range sp.Verdicts {
				a := get(v.Feature)
				if !slices.Contains(features, v.Feature) {
					features = append(features, v.Feature)
				}
				a.verdicts = append(a.verdicts, v)
				a.verdictSpecs = append(a.verdictSpecs, sp.ID)
				a.verdictFailed = append(a.verdictFailed, sp.State == report.Failed)
				setOnce(&a.abi, v.ABI)
				setOnce(&a.erratum, v.Erratum)
			}
			for _, f := range features {
				a := get(f)
				if f == sp.Feature {
					setOnce(&a.abi, sp.ABI)
					setOnce(&a.erratum, sp.Erratum)
					if a.since == "" {
						a.since = sp.Since
					}
				}
				switch sp.State {
				case report.Failed:
					a.failed = append(a.failed, sp.ID)
					a.failedKnown = append(a.failedKnown, sp.Known)
				case report.InfraState:
					a.infra = append(a.infra, sp.ID)
				case report.Passed:
					a.passed = append(a.passed, sp.ID)
				case report.Skipped:
					a.skipped = append(a.skipped, sp.ID)
					if a.skipReason == "" {
						a.skipReason = sp.SkipReason
					}
				}
			}
		}
	}

	names := make([]string, 0, len(accs))
	for f := range accs {
		names = append(names, f)
	}
	slices.Sort(names)
	var out []report.FeatureResult
	for _, f := range names {
		fr := decideFeature(r.Info, f, accs[f])
		if fr.Outcome.Failing() {
			fr.Known = knownFeature(r, f, accs[f])
		}
		out = append(out, fr)
	}
	return out
}

// knownFeature returns what excuses a failing feature: the run's known-feature entry, or else
// the known issue of its failed specs when every one of them has one and no passing spec
// reported the feature failing on its own.
func knownFeature(r *report.Run, f string, a *featureAcc) *report.Known {
	for _, kf := range r.KnownFeatures {
		if kf.Feature == f {
			k := kf.Known
			return &k
		}
	}
	if len(a.failed) == 0 || slices.Contains(a.failedKnown, nil) {
		return nil
	}
	for i, v := range a.verdicts {
		if v.Outcome.Failing() && !slices.Contains(a.failed, a.verdictSpecs[i]) {
			return nil
		}
	}
	k := *a.failedKnown[0]
	return &k
}

func setOnce(dst *int, v int) {
	if *dst == 0 {
		*dst = v
	}
}

func decideFeature(info *report.KernelInfo, f string, a *featureAcc) report.FeatureResult {
	fr := report.FeatureResult{Feature: f, ABI: a.abi, Erratum: a.erratum, Since: a.since}
	switch {
	case len(a.failed) > 0:
		fr.Outcome = report.Broken
		if a.erratum > 0 && info != nil && info.Fixed(a.erratum) {
			fr.Outcome = report.ErratumAdvertisedNotFixed
		}
		fr.Detail = countedDetail("failed", a.failed)
		fr.Specs = a.failed
		for i, v := range a.verdicts {
			if a.verdictFailed[i] && v.Outcome == report.ErratumFixedNotAdvertised {
				fr.Outcome = report.ErratumFixedNotAdvertised
				fr.Detail = a.verdictSpecs[i] + ": " + v.Detail
			}
		}
	case len(a.infra) > 0:
		fr.Outcome = report.Unknown
		fr.Detail = countedDetail("infrastructure error", a.infra)
		fr.Specs = a.infra
	case len(a.verdicts) > 0:
		decideVerdicts(&fr, a)
	case len(a.passed) > 0:
		fr.Specs = a.passed
		switch {
		case info == nil:
			fr.Outcome = report.Unknown
			fr.Detail = "no suite reported the kernel's ABI"
		case fr.ABI <= info.ABI:
			fr.Outcome = report.Works
		default:
			fr.Outcome = report.Absent
		}
	default:
		fr.Outcome = report.NotApplicable
		fr.Detail = a.skipReason
		fr.Specs = a.skipped
	}
	// Without the errata query there is no bitmask to contradict: a fix seen there is news,
	// not a failure.
	if fr.Outcome == report.ErratumFixedNotAdvertised && (info == nil || !info.ErrataQuery) {
		fr.Outcome = report.ErratumFixedNoQuery
	}
	return fr
}

func decideVerdicts(fr *report.FeatureResult, a *featureAcc) {
	worksAt, absentAt := -1, -1
	best := 0
	for i, v := range a.verdicts {
		switch v.Outcome {
		case report.Works:
			worksAt = i
		case report.Absent:
			absentAt = i
		}
		if severity[v.Outcome] > severity[a.verdicts[best].Outcome] {
			best = i
		}
	}
	if worksAt >= 0 && absentAt >= 0 && severity[a.verdicts[best].Outcome] <= severity[report.Works] {
		fr.Outcome = report.Broken
		fr.Detail = fmt.Sprintf("verdicts disagree: %s says works, %s says correctly-absent",
			a.verdictSpecs[worksAt], a.verdictSpecs[absentAt])
		fr.Specs = []string{a.verdictSpecs[worksAt], a.verdictSpecs[absentAt]}
		return
	}
	fr.Outcome = a.verdicts[best].Outcome
	fr.Detail = a.verdicts[best].Detail
	fr.Specs = []string{a.verdictSpecs[best]}
}

func countedDetail(what string, ids []string) string {
	if len(ids) == 1 {
		return what + ": " + ids[0]
	}
	return fmt.Sprintf("%s: %s (and %d more)", what, ids[0], len(ids)-1)
}

// checkExpect compares what the kernel claims with the run's expectations, and the claimed
// ABI with the effective ABI. Without KernelInfo the expectations fail: a gate that could not
// look at the kernel must not pass.
func checkExpect(r *report.Run, features []report.FeatureResult) []report.Check {
	var out []report.Check
	if len(r.KernelWarnings) > 0 {
		out = append(out, report.Check{Name: "kernel-health", Message: fmt.Sprintf(
			"%d kernel warning(s) during the run; first: %s", len(r.KernelWarnings), report.FirstLine(r.KernelWarnings[0]))})
	}
	info := r.Info
	if e := r.Expect; e != nil && e.ABI != nil {
		want := *e.ABI
		c := report.Check{Name: "abi"}
		switch {
		case info == nil:
			c.Message = fmt.Sprintf("expected ABI %d, no suite reported the kernel's ABI", want)
		case info.Status != report.StatusAvailable && want == 0:
			c.OK = true
			c.Message = fmt.Sprintf("Landlock unavailable (%s), as expected", info.Status)
		case info.Status != report.StatusAvailable:
			c.Message = fmt.Sprintf("expected ABI %d, Landlock is %s on the kernel", want, info.Status)
		case info.ABI != want:
			c.Message = fmt.Sprintf("expected ABI %d, kernel claims %d", want, info.ABI)
		default:
			c.OK = true
			c.Message = fmt.Sprintf("ABI %d, as expected", want)
		}
		out = append(out, c)
	}
	if e := r.Expect; e != nil && e.Errata != nil {
		want := slices.Clone(e.Errata)
		slices.Sort(want)
		want = slices.Compact(want)
		c := report.Check{Name: "errata"}
		switch {
		case info == nil:
			c.Message = fmt.Sprintf("expected errata %s, no suite reported the kernel's errata", report.FormatList(want))
		case !info.ErrataQuery && len(want) == 0:
			c.OK = true
			c.Message = "no errata, as expected (the kernel rejects the errata query)"
		case !info.ErrataQuery:
			c.Message = fmt.Sprintf("expected errata %s, kernel rejects the errata query", report.FormatList(want))
		case !slices.Equal(report.ErrataList(info.Errata), want):
			c.Message = fmt.Sprintf("expected errata %s, kernel claims %s", report.FormatList(want), report.FormatErrata(*info))
		default:
			c.OK = true
			c.Message = fmt.Sprintf("errata %s, as expected", report.FormatErrata(*info))
		}
		out = append(out, c)
	}
	if info != nil && info.Status == report.StatusAvailable {
		if msg := unknownClaims(*info); msg != "" {
			out = append(out, report.Check{Name: "known-claims", Unverified: true, Message: msg})
		}
	}
	if info != nil && info.Status != report.StatusAvailable && (r.Expect == nil || r.Expect.ABI == nil) {
		out = append(out, report.Check{Name: "landlock", Unverified: true, Message: fmt.Sprintf(
			"Landlock is %s on this kernel: no conformance was tested (expect: {abi: 0} makes that the expected outcome)", info.Status)})
	}
	if info != nil && info.Status == report.StatusAvailable {
		if e := effective(r, features); e != nil {
			out = append(out, effectiveCheck(info.ABI, e))
		}
	}
	return out
}

// knownRange says which claims llconform can verify, for messages.
func knownRange() string {
	return fmt.Sprintf("llconform knows ABI 1-%d and errata 1-%d", landlock.MaxABI, len(landlock.ErrataTable))
}

// unknownClaims says what the kernel claims that llconform cannot check: an ABI above the
// newest it knows, errata bits it has no spec for. "" when there is nothing.
func unknownClaims(info report.KernelInfo) string {
	var parts []string
	if info.ABI > landlock.MaxABI {
		newer := fmt.Sprintf("ABI %d adds", info.ABI)
		if info.ABI > landlock.MaxABI+1 {
			newer = fmt.Sprintf("ABI %d-%d add", landlock.MaxABI+1, info.ABI)
		}
		parts = append(parts, fmt.Sprintf("the kernel claims ABI %d: what %s is not checked", info.ABI, newer))
	}
	if info.ErrataQuery {
		if unknown := info.Errata >> len(landlock.ErrataTable); unknown != 0 {
			var bitsSet []string
			for _, n := range report.ErrataList(info.Errata) {
				if n > len(landlock.ErrataTable) {
					bitsSet = append(bitsSet, fmt.Sprintf("bit %d (erratum %d)", n-1, n))
				}
			}
			fixes := "that fix is"
			if len(bitsSet) > 1 {
				fixes = "those fixes are"
			}
			parts = append(parts, fmt.Sprintf("errata bitmask %s sets %s: %s not checked", report.ErrataBits(info.Errata), strings.Join(bitsSet, ", "), fixes))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return strings.Join(parts, "; ") + " (" + knownRange() + ")"
}

// effectiveResult is the ABI a kernel behaves as, and why.
type effectiveResult struct {
	// ABI is the highest n such that the kernel accepts every uAPI element of ABI 1 to n and
	// no feature of those ABIs is broken: what its behaviour does not contradict. Whether
	// each step was also seen enforced is Unshown's business.
	ABI int
	// Accepted is what suites/abi found the kernel to accept (capped at landlock.MaxABI).
	Accepted int
	// Broken is the lowest-ABI broken feature within Accepted, nil if none: it caps ABI
	// below its own step, because a feature the kernel accepts but does not enforce is not
	// a feature it has. A broken feature a known issue excuses does not cap, outside a
	// certified run (KnownIssuesExcuse).
	Broken *report.FeatureResult
	// Unshown lists the steps up to ABI that no passing spec saw enforced: the claim of those
	// steps is unverified.
	Unshown []int
	// Features of each unshown step, with their outcomes, to say why nothing was seen.
	unshownWhy []string
}

// effective computes the effective ABI of a run from its accepted ABI and its feature
// results; nil when suites/abi did not report the accepted ABI. Erratum features, the
// abi.* features (which are about the claims themselves) and features outside the ABI
// (Since set: trace events, which a kernel of any ABI may have or not) do not cap it, and
// a spec of a feature outside the ABI shows no ABI step enforced.
func effective(r *report.Run, features []report.FeatureResult) *effectiveResult {
	if r.AcceptedABI == nil {
		return nil
	}
	e := &effectiveResult{Accepted: *r.AcceptedABI}
	limit := e.Accepted
	for i, f := range features {
		if f.Outcome != report.Broken || (f.Known != nil && KnownIssuesExcuse(r)) || !abiElement(f) {
			continue
		}
		if f.ABI <= limit {
			limit = f.ABI - 1
			e.Broken = &features[i]
		}
	}
	shown := map[int]bool{}
	for _, s := range r.Suites {
		for _, sp := range s.Specs {
			if sp.State != report.Passed || sp.Since != "" {
				continue
			}
			for _, v := range sp.Verdicts {
				if v.Enforced && v.Outcome == report.Works {
					shown[v.ABI] = true
				}
			}
		}
	}
	e.ABI = limit
	for n := 1; n <= limit; n++ {
		if !shown[n] {
			e.Unshown = append(e.Unshown, n)
		}
	}
	for _, n := range e.Unshown {
		e.unshownWhy = append(e.unshownWhy, fmt.Sprintf("ABI %d: %s", n, stepOutcomes(features, n)))
	}
	return e
}

// abiElement reports whether a feature is one step of the Landlock ABI whose behaviour
// bears on the effective ABI: not an erratum, not a claim about the ABI itself (abi.*),
// not a feature outside the ABI (Since).
func abiElement(f report.FeatureResult) bool {
	return f.Erratum == 0 && f.ABI >= 1 && f.Since == "" && !strings.HasPrefix(f.Feature, "abi.")
}

// VerifiableABI is the part of the kernel's ABI claim llconform can check: up to the newest
// ABI it knows.
func VerifiableABI(info report.KernelInfo) int { return min(info.ABI, landlock.MaxABI) }

// stepOutcomes says what became of the features of ABI step n, grouped by outcome and
// detail so that a step whose specs were all filtered out reads as one line.
func stepOutcomes(features []report.FeatureResult, n int) string {
	type group struct {
		why   string
		names []string
	}
	var groups []group
	for _, f := range features {
		if f.ABI != n || !abiElement(f) {
			continue
		}
		why := string(f.Outcome)
		if f.Detail != "" {
			why += " (" + f.Detail + ")"
		}
		i := slices.IndexFunc(groups, func(g group) bool { return g.why == why })
		if i < 0 {
			groups = append(groups, group{why: why})
			i = len(groups) - 1
		}
		groups[i].names = append(groups[i].names, f.Feature)
	}
	if len(groups) == 0 {
		return "no spec of this ABI ran"
	}
	parts := make([]string, len(groups))
	for i, g := range groups {
		names := g.names[0]
		if len(g.names) > 1 {
			names += fmt.Sprintf(" and %d more", len(g.names)-1)
		}
		parts[i] = names + " " + g.why
	}
	return strings.Join(parts, ", ")
}

// effectiveCheck compares the claimed ABI (capped at the newest llconform knows; above it,
// known-claims speaks) with the effective one. Behaviour that contradicts the claim is a
// mismatch; a step that nothing showed enforced leaves the claim unverified.
func effectiveCheck(claimed int, e *effectiveResult) report.Check {
	want := VerifiableABI(report.KernelInfo{ABI: claimed})
	c := report.Check{Name: "effective-abi"}
	switch {
	case e.ABI != want:
		why := fmt.Sprintf("it accepts the uAPI of ABI %d", e.Accepted)
		if e.Accepted < want {
			why += " only (see abi.effective)"
		}
		if e.Broken != nil && e.ABI < e.Accepted {
			why = fmt.Sprintf("%s (ABI %d) is accepted but %s (%s)", e.Broken.Feature, e.Broken.ABI, e.Broken.Outcome, e.Broken.Detail)
		}
		c.Message = fmt.Sprintf("kernel claims ABI %d, behaves as ABI %d: %s", claimed, e.ABI, why)
	case len(e.Unshown) > 0:
		c.Unverified = true
		c.Message = fmt.Sprintf("kernel claims ABI %d; no passing spec saw ABI step %s enforced: %s",
			claimed, report.FormatList(e.Unshown), strings.Join(e.unshownWhy, "; "))
	default:
		c.OK = true
		c.Message = fmt.Sprintf("kernel claims ABI %d and behaves as ABI %d: every step accepted and seen enforced", claimed, e.ABI)
	}
	return c
}

// conclude gives a run's overall verdict. A definite failure outranks an infrastructure
// error, since the failure stands whatever the missing part would have shown. Failures a
// known issue excuses do not count (see ApplyKnownIssues). A run with no suite at all is an
// infrastructure error even when nothing says why: it tested nothing. features and checks
// are the run's, from evaluateFeatures and checkExpect.
func conclude(r *report.Run, features []report.FeatureResult, checks []report.Check) report.Conclusion {
	if len(r.KernelWarnings) > 0 {
		return report.ConclusionFail
	}
	infra := r.Infra != nil || len(r.Suites) == 0
	for _, s := range r.Suites {
		if s.Counts.Failed > 0 {
			return report.ConclusionFail
		}
		if s.Infra != nil || s.Counts.Infra > 0 {
			infra = true
		}
	}
	for _, f := range features {
		if f.Fails() {
			return report.ConclusionFail
		}
	}
	// A certified run fails on a skip its conformance document does not allow: coverage
	// lost is a failure of certification, not a claim mismatch.
	for _, c := range checks {
		if c.Name == CheckCertified && !c.OK {
			return report.ConclusionFail
		}
	}
	// Expectations are about what the kernel claims; when the machinery failed before any
	// suite could ask, nothing was claimed and the run is an infrastructure error, not a
	// mismatch.
	unverified := false
	if r.Info != nil || !infra {
		for _, c := range checks {
			switch {
			case c.Unverified:
				unverified = true
			case !c.OK:
				return report.ConclusionMismatch
			}
		}
	}
	switch {
	case infra:
		return report.ConclusionInfra
	case r.Info != nil && r.Info.Status != report.StatusAvailable:
		return report.ConclusionNoLandlock
	case unverified:
		return report.ConclusionUnverified
	}
	return report.ConclusionPass
}

// Exit statuses for ExitCode.
const (
	ExitPass       = 0
	ExitFail       = 1 // a spec failed, a feature is broken or an expectation mismatched
	ExitInfra      = 2 // no failure, but something could not be tested: worth a retry
	ExitUnverified = 3 // no failure, but a claim could not be verified or nothing was tested
)

// ExitCode is the process exit status a result gates CI with: the most serious of its runs'
// (fail, then infrastructure, then unverified). A result with no run is ExitInfra: it proves
// nothing. A kernel without Landlock passes only where its expectation says so; an
// unverified claim passes only where the run accepts it (Run.AcceptUnverified). It reads each
// run's Conclusion, which Evaluate fills: a run never evaluated counts as an infrastructure
// error, never as a pass.
func ExitCode(res *report.Result) int {
	if len(res.Runs) == 0 {
		return ExitInfra
	}
	code := ExitPass
	for i := range res.Runs {
		r := &res.Runs[i]
		switch r.Conclusion {
		case report.ConclusionFail, report.ConclusionMismatch:
			return ExitFail
		case report.ConclusionInfra, "":
			code = ExitInfra
		case report.ConclusionNoLandlock:
			if (r.Expect == nil || r.Expect.ABI == nil) && code == ExitPass {
				code = ExitUnverified
			}
		case report.ConclusionUnverified:
			if !r.AcceptUnverified && code == ExitPass {
				code = ExitUnverified
			}
		case report.ConclusionNotApplicable:
			// A compat run on a kernel without IA32 emulation: its native run gates.
		}
	}
	return code
}
