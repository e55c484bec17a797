package report

// FeatureResult is the outcome of one feature (or erratum) on one kernel.
type FeatureResult struct {
	Feature string `json:"feature"`
	ABI     int    `json:"abi,omitempty"`
	Erratum int    `json:"erratum,omitempty"`
	// Since is set for a feature outside the Landlock ABI (spec.Since): the kernel version
	// that introduced it. Such a feature never counts for or against the effective ABI.
	Since   string  `json:"since,omitempty"`
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
	return f.Outcome.Failing() && f.Known == nil
}

// Failing reports whether the outcome is a claim behaviour contradicts: a broken feature, or
// an errata bitmask that differs from the behaviour either way. ErratumFixedNotAdvertised
// only exists where the kernel answers the errata query (see package verdict).
func (o Outcome) Failing() bool {
	return o == Broken || o == ErratumAdvertisedNotFixed || o == ErratumFixedNotAdvertised
}

// Conclusion is a run's overall verdict, one word for the matrix.
type Conclusion string

// Conclusions, most serious first: package verdict gives a run the first that applies.
const (
	ConclusionFail       Conclusion = "FAIL"        // a spec failed or a feature is broken
	ConclusionMismatch   Conclusion = "MISMATCH"    // the kernel's claims differ from expectations or behaviour
	ConclusionInfra      Conclusion = "INFRA"       // something could not be tested
	ConclusionNoLandlock Conclusion = "NO-LANDLOCK" // no Landlock: nothing of it could be tested
	ConclusionUnverified Conclusion = "UNVERIFIED"  // all passed, but a claim could not be verified
	ConclusionPass       Conclusion = "PASS"
	// ConclusionNotApplicable is a compat run on a kernel that runs no 32-bit programs
	// (Compat.NotApplicable says why): there was nothing to test, and nothing failed.
	ConclusionNotApplicable Conclusion = "N/A"
)

// Conclusions lists every conclusion, most serious first, for tallies and legends.
var Conclusions = []Conclusion{ConclusionFail, ConclusionMismatch, ConclusionInfra,
	ConclusionNoLandlock, ConclusionUnverified, ConclusionPass, ConclusionNotApplicable}
