package report

import (
	"fmt"
	"math/bits"
	"slices"
	"strconv"
	"strings"
)

// FeatureResult is the outcome of one feature (or erratum) on one kernel.
type FeatureResult struct {
	Feature string  `json:"feature"`
	ABI     int     `json:"abi,omitempty"`
	Erratum int     `json:"erratum,omitempty"`
	Outcome Outcome `json:"outcome"`
	// Detail explains the outcome: the failed spec, the verdicts that disagree, the skip reason.
	Detail string `json:"detail,omitempty"`
	// Specs are the IDs of the specs that decided the outcome.
	Specs []string `json:"specs,omitempty"`
	// Known is set when the outcome fails (Broken, ErratumAdvertisedNotFixed) and a known
	// issue excuses it: every failed spec of the feature is known, or the run lists the
	// feature in KnownFeatures. Such a feature does not fail the run.
	Known *Known `json:"known,omitempty"`
}

// Fails reports whether the outcome fails the run: a failing outcome not excused by a known
// issue.
func (f FeatureResult) Fails() bool {
	return failing(f.Outcome) && f.Known == nil
}

func failing(o Outcome) bool {
	return o == Broken || o == ErratumAdvertisedNotFixed
}

// severity orders verdict outcomes for EvaluateFeatures: when the specs of one feature reach
// different outcomes, the most severe one stands, because one spec seeing a defect is not
// cancelled by another not seeing it. A claim contradicted by behaviour ranks above an honest
// absence; anything observed ranks above "could not exercise it here".
var severity = map[Outcome]int{
	NotApplicable:             1,
	Works:                     2,
	Absent:                    2,
	ErratumFixed:              2,
	ErratumNotFixedAdvertised: 3,
	ErratumFixedNotAdvertised: 4,
	Broken:                    5,
	ErratumAdvertisedNotFixed: 6,
}

type featureAcc struct {
	abi, erratum int
	failed       []string
	failedKnown  []*Known // Known of each failed spec, nil where none
	infra        []string
	passed       []string
	skipped      []string
	skipReason   string
	verdicts     []Verdict
	verdictSpecs []string
}

// EvaluateFeatures computes the kernel x feature table of a run from its specs (grouped by
// feature label) and the verdicts they attached (grouped by the verdict's feature). For each
// feature, the first rule that applies decides:
//
//  1. a failed spec makes the feature broken, or advertised-not-fixed when the feature is an
//     erratum the kernel claims fixed, whatever verdicts were attached;
//  2. a spec with an infrastructure error makes it unknown;
//  3. verdicts: "works" and "correctly-absent" together mean a half-present feature, broken;
//     otherwise the most severe outcome stands (see severity);
//  4. passing specs without verdicts: works when the feature's ABI is at most the kernel's,
//     correctly-absent above it (unknown when no suite reported the kernel's ABI);
//  5. only skipped specs: not-applicable, with the skip reason.
//
// A failing outcome is then marked Known when a known issue excuses it (see FeatureResult).
// Features are returned sorted by name.
func EvaluateFeatures(r *Run) []FeatureResult {
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
				setOnce(&a.abi, v.ABI)
				setOnce(&a.erratum, v.Erratum)
			}
			for _, f := range features {
				a := get(f)
				if f == sp.Feature {
					setOnce(&a.abi, sp.ABI)
					setOnce(&a.erratum, sp.Erratum)
				}
				switch sp.State {
				case Failed:
					a.failed = append(a.failed, sp.ID)
					a.failedKnown = append(a.failedKnown, sp.Known)
				case InfraState:
					a.infra = append(a.infra, sp.ID)
				case Passed:
					a.passed = append(a.passed, sp.ID)
				case Skipped:
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
	var out []FeatureResult
	for _, f := range names {
		fr := decideFeature(r.Info, f, accs[f])
		if failing(fr.Outcome) {
			fr.Known = knownFeature(r, f, accs[f])
		}
		out = append(out, fr)
	}
	return out
}

// knownFeature returns what excuses a failing feature: the run's known-feature entry, or else
// the known issue of its failed specs when every one of them has one and no passing spec
// reported the feature failing on its own.
func knownFeature(r *Run, f string, a *featureAcc) *Known {
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
		if failing(v.Outcome) && !slices.Contains(a.failed, a.verdictSpecs[i]) {
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

func decideFeature(info *KernelInfo, f string, a *featureAcc) FeatureResult {
	fr := FeatureResult{Feature: f, ABI: a.abi, Erratum: a.erratum}
	switch {
	case len(a.failed) > 0:
		fr.Outcome = Broken
		if a.erratum > 0 && info != nil && Advertises(*info, a.erratum) {
			fr.Outcome = ErratumAdvertisedNotFixed
		}
		fr.Detail = countedDetail("failed", a.failed)
		fr.Specs = a.failed
	case len(a.infra) > 0:
		fr.Outcome = Unknown
		fr.Detail = countedDetail("infrastructure error", a.infra)
		fr.Specs = a.infra
	case len(a.verdicts) > 0:
		decideVerdicts(&fr, a)
	case len(a.passed) > 0:
		fr.Specs = a.passed
		switch {
		case info == nil:
			fr.Outcome = Unknown
			fr.Detail = "no suite reported the kernel's ABI"
		case fr.ABI <= info.ABI:
			fr.Outcome = Works
		default:
			fr.Outcome = Absent
		}
	default:
		fr.Outcome = NotApplicable
		fr.Detail = a.skipReason
		fr.Specs = a.skipped
	}
	return fr
}

func decideVerdicts(fr *FeatureResult, a *featureAcc) {
	worksAt, absentAt := -1, -1
	best := 0
	for i, v := range a.verdicts {
		switch v.Outcome {
		case Works:
			worksAt = i
		case Absent:
			absentAt = i
		}
		if severity[v.Outcome] > severity[a.verdicts[best].Outcome] {
			best = i
		}
	}
	if worksAt >= 0 && absentAt >= 0 && severity[a.verdicts[best].Outcome] <= severity[Works] {
		fr.Outcome = Broken
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

// Advertises reports whether the kernel claims erratum n fixed.
func Advertises(k KernelInfo, n int) bool {
	return k.ErrataQuery && n >= 1 && n <= 64 && k.Errata&(1<<(n-1)) != 0
}

// ErrataList turns an errata bitmask into erratum numbers, ascending.
func ErrataList(mask uint64) []int {
	var out []int
	for mask != 0 {
		b := bits.TrailingZeros64(mask)
		out = append(out, b+1)
		mask &^= 1 << b
	}
	return out
}

// ErrataBits renders an errata bitmask in binary, at least four digits wide ("0b0111"), the
// way the kernel documentation and LANDLOCK.md write it.
func ErrataBits(mask uint64) string {
	return fmt.Sprintf("0b%04b", mask)
}

// FormatErrata renders a kernel's errata as "0b0111 [1 2 3]", or "no query" when the kernel
// rejects the errata query, which is not the same as claiming none fixed.
func FormatErrata(k KernelInfo) string {
	if !k.ErrataQuery {
		return "no query"
	}
	return ErrataBits(k.Errata) + " " + formatInts(ErrataList(k.Errata))
}

func formatInts(ns []int) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = strconv.Itoa(n)
	}
	return "[" + strings.Join(s, " ") + "]"
}

// CheckExpect compares what the kernel claims with the run's expectations, and the claimed
// ABI with the effective ABI. Without KernelInfo the expectations fail: a gate that could not
// look at the kernel must not pass.
func CheckExpect(r *Run) []Check {
	var out []Check
	if len(r.KernelWarnings) > 0 {
		out = append(out, Check{Name: "kernel-health", Message: fmt.Sprintf(
			"%d kernel warning(s) during the run; first: %s", len(r.KernelWarnings), firstLine(r.KernelWarnings[0]))})
	}
	info := r.Info
	if e := r.Expect; e != nil && e.ABI != nil {
		want := *e.ABI
		c := Check{Name: "abi"}
		switch {
		case info == nil:
			c.Message = fmt.Sprintf("expected ABI %d, no suite reported the kernel's ABI", want)
		case info.Status != StatusAvailable && want == 0:
			c.OK = true
			c.Message = fmt.Sprintf("Landlock unavailable (%s), as expected", info.Status)
		case info.Status != StatusAvailable:
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
		c := Check{Name: "errata"}
		switch {
		case info == nil:
			c.Message = fmt.Sprintf("expected errata %s, no suite reported the kernel's errata", formatInts(want))
		case !info.ErrataQuery && len(want) == 0:
			c.OK = true
			c.Message = "no errata, as expected (the kernel rejects the errata query)"
		case !info.ErrataQuery:
			c.Message = fmt.Sprintf("expected errata %s, kernel rejects the errata query", formatInts(want))
		case !slices.Equal(ErrataList(info.Errata), want):
			c.Message = fmt.Sprintf("expected errata %s, kernel claims %s", formatInts(want), FormatErrata(*info))
		default:
			c.OK = true
			c.Message = fmt.Sprintf("errata %s, as expected", FormatErrata(*info))
		}
		out = append(out, c)
	}
	if info != nil && r.EffectiveABI != nil {
		c := Check{Name: "effective-abi", OK: *r.EffectiveABI == info.ABI}
		if c.OK {
			c.Message = fmt.Sprintf("kernel claims ABI %d and behaves as ABI %d", info.ABI, *r.EffectiveABI)
		} else {
			c.Message = fmt.Sprintf("kernel claims ABI %d, behaves as ABI %d", info.ABI, *r.EffectiveABI)
		}
		out = append(out, c)
	}
	return out
}

// Conclusion is a run's overall verdict, one word for the matrix.
type Conclusion string

// Conclusions, most serious first: Conclude returns the first that applies.
const (
	ConclusionFail       Conclusion = "FAIL"        // a spec failed or a feature is broken
	ConclusionMismatch   Conclusion = "MISMATCH"    // the kernel's claims differ from expectations or behaviour
	ConclusionInfra      Conclusion = "INFRA"       // something could not be tested
	ConclusionNoLandlock Conclusion = "NO-LANDLOCK" // all passed on a kernel without Landlock
	ConclusionPass       Conclusion = "PASS"
)

// Conclude gives a run's overall verdict. A definite failure outranks an infrastructure
// error, since the failure stands whatever the missing part would have shown. Failures a
// known issue excuses do not count (see ApplyKnownIssues). A run with no
// suite at all is an infrastructure error even when nothing says why: it tested nothing.
func Conclude(r *Run) Conclusion {
	if len(r.KernelWarnings) > 0 {
		return ConclusionFail
	}
	infra := r.Infra != nil || len(r.Suites) == 0
	for _, s := range r.Suites {
		if s.Counts.Failed > 0 {
			return ConclusionFail
		}
		if s.Infra != nil || s.Counts.Infra > 0 {
			infra = true
		}
	}
	for _, f := range EvaluateFeatures(r) {
		if f.Fails() {
			return ConclusionFail
		}
	}
	// Expectations are about what the kernel claims; when the machinery failed before any
	// suite could ask, nothing was claimed and the run is an infrastructure error, not a
	// mismatch.
	if r.Info != nil || !infra {
		for _, c := range CheckExpect(r) {
			if !c.OK {
				return ConclusionMismatch
			}
		}
	}
	switch {
	case infra:
		return ConclusionInfra
	case r.Info != nil && r.Info.Status != StatusAvailable:
		return ConclusionNoLandlock
	}
	return ConclusionPass
}

// Exit statuses for ExitCode.
const (
	ExitPass  = 0
	ExitFail  = 1 // a spec failed, a feature is broken or an expectation mismatched
	ExitInfra = 2 // no failure, but something could not be tested: worth a retry
)

// ExitCode is the process exit status a result gates CI with. A result with no run is
// ExitInfra: it proves nothing.
func ExitCode(res *Result) int {
	if len(res.Runs) == 0 {
		return ExitInfra
	}
	code := ExitPass
	for i := range res.Runs {
		switch Conclude(&res.Runs[i]) {
		case ConclusionFail, ConclusionMismatch:
			return ExitFail
		case ConclusionInfra:
			code = ExitInfra
		}
	}
	return code
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
