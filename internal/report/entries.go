package report

import "github.com/llconform/llconform/internal/landlock"

// Names of the Ginkgo report entries through which suites tell the host what they learned.
// Suites attach them with ginkgo.AddReportEntry; the importer looks them up by name.
const (
	// EntryKernel carries a KernelInfo, attached once per suite run (on its BeforeSuite node).
	EntryKernel = "landlock.kernel"
	// EntryVerdict carries a Verdict, attached by a spec that decides a feature's outcome.
	EntryVerdict = "landlock.verdict"
	// EntryAcceptedABI carries an int: the highest ABI whose every uAPI element the kernel
	// accepts, probed by suites/abi. The effective ABI is computed from it and from what
	// the specs saw enforced (see package verdict).
	EntryAcceptedABI = "landlock.accepted_abi"
)

// Status says whether Landlock can be used at all on a kernel: the probe's own type.
type Status = landlock.Status

const (
	StatusAvailable = landlock.Available
	StatusNotBuilt  = landlock.NotBuilt // ENOSYS: CONFIG_SECURITY_LANDLOCK=n
	StatusDisabled  = landlock.Disabled // EOPNOTSUPP: built in, not in lsm= at boot
	StatusUnknown   = landlock.Unknown  // any other error from the version query
)

// KernelInfo is what a suite binary learned about the kernel it ran on: the probe's own
// model, attached to the report as landlock.Probe returned it.
type KernelInfo = landlock.Info

// Outcome is a feature-level verdict.
type Outcome string

const (
	Works Outcome = "works" // supported by the kernel's ABI and behaves as specified
	// Absent: above the kernel's ABI and cleanly rejected, or, for a feature outside the
	// ABI (spec.Since, e.g. trace events), not provided by the kernel at all.
	Absent Outcome = "correctly-absent"
	Broken Outcome = "broken" // a spec of the feature failed
	// Errata outcomes: the fixed behaviour was observed, or not, against what the kernel claims.
	ErratumFixed              Outcome = "fixed"
	ErratumNotFixedAdvertised Outcome = "not-fixed-as-advertised"
	ErratumFixedNotAdvertised Outcome = "fixed-not-advertised"
	// ErratumFixedNoQuery: fixed on a kernel that rejects the errata query, so there was no
	// claim to contradict; reported only.
	ErratumFixedNoQuery       Outcome = "fixed-no-query"
	ErratumAdvertisedNotFixed Outcome = "advertised-not-fixed"
	// NotApplicable: the feature could not be exercised here (missing module, no root); the
	// spec that found this skipped with the reason.
	NotApplicable Outcome = "not-applicable"
	// Unknown: a spec of the feature hit an infrastructure error (panic, timeout), or the
	// kernel's ABI is not known, so nothing can be concluded. Only the host derives it.
	Unknown Outcome = "unknown"
)

// Outcomes lists every Outcome, for the code that must cover each one (the feature table's
// codes, the severity order of package verdict).
var Outcomes = []Outcome{Works, Absent, Broken, ErratumFixed, ErratumNotFixedAdvertised, ErratumFixedNotAdvertised,
	ErratumFixedNoQuery, ErratumAdvertisedNotFixed, NotApplicable, Unknown}

// Verdict is one spec's conclusion about a feature or erratum.
type Verdict struct {
	Feature string  `json:"feature"`
	ABI     int     `json:"abi,omitempty"`
	Erratum int     `json:"erratum,omitempty"`
	Outcome Outcome `json:"outcome"`
	Detail  string  `json:"detail,omitempty"`
	// Enforced is set by a spec that saw the feature deny or restrict something only a
	// kernel of its ABI can (spec.EnforcedVerdict): the evidence that an ABI step is
	// enforced, not merely accepted. See package verdict.
	Enforced bool `json:"enforced,omitempty"`
}
