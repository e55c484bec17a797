// Package spec is what every llconform suite shares: the suite entry points, the kernel
// probe every spec consults, the labels that tie a spec to its feature, ABI and erratum,
// the one helper through which specs skip, feature verdicts, and errno assertions that
// name what was seen and what was expected.
package spec

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/ginkgo/v2/types"
	"github.com/onsi/gomega"

	"github.com/llconform/llconform/internal/landlock"
	"github.com/llconform/llconform/internal/report"
	"github.com/llconform/llconform/internal/sandbox"
)

// writeReport writes r to path in the schema of Ginkgo's JSON report (a list of one report),
// with only the fields package report reads.
func writeReport(path string, r ginkgo.Report) error {
	out := compactReport{
		SpecialSuiteFailureReasons: r.SpecialSuiteFailureReasons,
		PreRunStats:                r.PreRunStats,
		StartTime:                  r.StartTime,
		RunTime:                    r.RunTime,
		SpecReports:                make([]compactSpec, len(r.SpecReports)),
	}
	for i, sr := range r.SpecReports {
		c := compactSpec{
			ContainerHierarchyTexts:  sr.ContainerHierarchyTexts,
			ContainerHierarchyLabels: sr.ContainerHierarchyLabels,
			LeafNodeType:             sr.LeafNodeType,
			LeafNodeLabels:           sr.LeafNodeLabels,
			LeafNodeText:             sr.LeafNodeText,
			State:                    sr.State,
			RunTime:                  sr.RunTime,
			ReportEntries:            sr.ReportEntries,
		}
		if !sr.Failure.IsZero() {
			c.Failure = &compactFailure{Message: sr.Failure.Message, ForwardedPanic: sr.Failure.ForwardedPanic, Location: sr.Failure.Location}
		}
		out.SpecReports[i] = c
	}
	b, err := json.Marshal([]compactReport{out})
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

// compactReport is the part of Ginkgo's types.Report that package report reads, under
// Ginkgo's field names, so that it decodes as a types.Report. Ginkgo's own encoding of a
// report (every spec's code locations, timeline and semantic-version constraints, through
// SpecReport's MarshalJSON, whose output encoding/json then compacts again) took a fifth of
// a suite's CPU time in TCG guests, and its garbage collection much of the rest of the
// overhead.
type compactReport struct {
	SpecialSuiteFailureReasons []string `json:",omitempty"`
	PreRunStats                types.PreRunStats
	StartTime                  time.Time
	RunTime                    time.Duration
	SpecReports                []compactSpec
}

// compactSpec is the part of types.SpecReport that package report reads.
type compactSpec struct {
	ContainerHierarchyTexts  []string   `json:",omitempty"`
	ContainerHierarchyLabels [][]string `json:",omitempty"`
	LeafNodeType             types.NodeType
	LeafNodeLabels           []string `json:",omitempty"`
	LeafNodeText             string   `json:",omitempty"`
	State                    types.SpecState
	RunTime                  time.Duration
	Failure                  *compactFailure     `json:",omitempty"`
	ReportEntries            types.ReportEntries `json:",omitempty"`
}

// compactFailure is the part of types.Failure that package report reads.
type compactFailure struct {
	Message        string
	ForwardedPanic string `json:",omitempty"`
	Location       types.CodeLocation
}

var (
	probeOnce sync.Once
	probed    landlock.Info
)

// Kernel returns what the running kernel claims about Landlock, probed once per process.
func Kernel() landlock.Info {
	probeOnce.Do(func() { probed = landlock.Probe() })
	return probed
}

// Feature labels a spec with its feature, the feature's family (the part before the first
// dot: "fs", "net", "scope", "add_rule"...) so that a filter can select a whole area, and the
// ABI that introduced it.
func Feature(name string, abi int) ginkgo.Labels {
	return ginkgo.Label(name, family(name), fmt.Sprintf("abi:%d", abi))
}

func family(feature string) string {
	f, _, _ := strings.Cut(feature, ".")
	return f
}

// Erratum labels a spec with the erratum it checks, its feature and the ABI it applies from.
func Erratum(n int) ginkgo.Labels {
	e := landlock.ErrataTable[n-1]
	return ginkgo.Label(e.Feature, family(e.Feature), fmt.Sprintf("abi:%d", e.ABI), fmt.Sprintf("erratum:%d", n))
}

// sincePattern is a kernel version as Since takes it: "<major>.<minor>".
var sincePattern = regexp.MustCompile(`^[1-9][0-9]*\.[0-9]+$`)

// Since labels the specs of a feature that is not an element of the Landlock ABI but came
// with a kernel version, as "since:<version>" (e.g. the trace events of Linux 7.3, which
// also depend on the kernel's configuration). Such a feature is present or absent whatever
// the kernel's ABI: its specs record their own outcome (works, or correctly absent where
// the kernel has no such feature), and package verdict never lets it cap, fail or verify
// the effective ABI. The spec's Feature label still carries the ABI of the operations it
// observes. A malformed version panics at tree construction, like ID.
func Since(version string) ginkgo.Labels {
	if !sincePattern.MatchString(version) {
		panic(fmt.Sprintf("since %q: want a kernel version <major>.<minor>", version))
	}
	return ginkgo.Label("since:" + version)
}

// idPattern is what a spec id may hold: Ginkgo labels refuse &|!,()/ and spaces.
var idPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]*$`)

// ID labels a spec with its stable id: a short dotted key, unique within its suite, that
// names the spec in results, conformance.yaml and known issues, so that rewording the
// sentence does not rename the spec. A spec equivalent to a kernel selftest uses the
// selftest's name (e.g. "layout1.rule_inside_mount_ns"). An id outside idPattern panics at
// tree construction: it is a programming error in a suite, found by any dry run.
func ID(id string) ginkgo.Labels {
	if !idPattern.MatchString(id) {
		panic(fmt.Sprintf("spec id %q: want lower-case letters, digits, '.', '_' or '-'", id))
	}
	return ginkgo.Label("id:" + id)
}

// SelftestFiles are the files of Linux 7.3's tools/testing/selftests/landlock that hold
// tests, without ".c": the files a Selftest label may name.
var SelftestFiles = []string{"audit_test", "base_test", "fs_test", "net_test", "ptrace_test",
	"scoped_abstract_unix_test", "scoped_signal_test", "scoped_test", "trace_fs_test", "trace_test", "tsync_test"}

// selftestPattern is a selftest's name: TEST(name), or TEST_F(fixture, name) as fixture.name.
var selftestPattern = regexp.MustCompile(`^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)?$`)

// Selftest labels a spec with the kernel selftest whose behaviour it checks, as
// "selftest:<file>:<test>" (file without ".c", test as "name" or "fixture.name", every
// variant of the fixture): docs/selftest-coverage.md is generated from these labels. A spec
// may carry several. A malformed reference panics at tree construction, like ID.
func Selftest(file, test string) ginkgo.Labels {
	if !slices.Contains(SelftestFiles, file) || !selftestPattern.MatchString(test) {
		panic(fmt.Sprintf("selftest %s:%s: want one of %v and a TEST or fixture.TEST_F name", file, test, SelftestFiles))
	}
	return ginkgo.Label("selftest:" + file + ":" + test)
}

// Needs labels a spec with what it requires of its environment, e.g. "root", "audit",
// "module:sctp".
func Needs(what ...string) ginkgo.Labels {
	labels := make(ginkgo.Labels, len(what))
	for i, w := range what {
		labels[i] = "needs:" + w
	}
	return labels
}

// Skip skips the current spec, saying why. It is the only way specs skip.
func Skip(format string, args ...any) {
	ginkgo.Skip(fmt.Sprintf(format, args...))
}

// RequireLandlock skips the spec when the kernel has no usable Landlock at all: there is
// nothing of the feature to check, and suites/abi reports the absence itself.
func RequireLandlock() {
	k := Kernel()
	if k.Status != landlock.Available {
		Skip("Landlock %s on this kernel (%s)", k.Status, k.Error)
	}
}

// RequireRoot skips the spec unless the runner is root.
func RequireRoot() {
	if os.Geteuid() != 0 {
		Skip("needs root (running as uid %d)", os.Geteuid())
	}
}

// Supports reports whether the kernel's claimed ABI includes abi. Specs use it to choose
// between checking a feature's behaviour and checking its clean rejection; Landlock must be
// available (RequireLandlock).
func Supports(abi int) bool {
	return Kernel().ABI >= abi
}

// SupportedOrRejected is how a behaviour spec of a feature newer than ABI 1 starts, like
// cilium/ebpf's testutils.SkipOnOldKernel except that an old kernel is checked, not
// skipped. It skips the spec when Landlock is unavailable (RequireLandlock). On a kernel
// whose ABI includes abi it returns true and the spec goes on. Below abi it runs rejected,
// the suite's own check that the feature is cleanly absent (a uAPI element rejected with
// the exact errno of landlock.CreateRulesetErrno or landlock.Feature.Rejection: E2BIG for
// a field the kernel's struct lacks, EINVAL for an unknown bit or flag; an audit record
// not emitted), records feature as correctly absent and returns false: the caller returns
// at once. A failed check fails the spec before anything is recorded, so the feature shows
// broken.
func SupportedOrRejected(feature string, abi int, rejected func()) bool {
	ginkgo.GinkgoHelper()
	RequireLandlock()
	if Supports(abi) {
		return true
	}
	rejected()
	FeatureVerdict(feature, abi)
	return false
}

// Verdict attaches a feature-level verdict to the current spec's report.
func Verdict(v report.Verdict) {
	ginkgo.AddReportEntry(report.EntryVerdict, v, ginkgo.ReportEntryVisibilityNever)
}

// FeatureVerdict records that feature (introduced by abi) works on this kernel, or is
// correctly absent from it, according to the kernel's ABI. Call it once the spec's
// assertions have passed; a failing spec marks its feature broken regardless.
func FeatureVerdict(feature string, abi int) {
	outcome := report.Works
	if !Supports(abi) {
		outcome = report.Absent
	}
	Verdict(report.Verdict{Feature: feature, ABI: abi, Outcome: outcome})
}

// ErrnoName names an error the way the kernel's documentation does: "EACCES", "success"
// (sandbox.ErrnoName, which process-mode actions use too).
func ErrnoName(err error) string { return sandbox.ErrnoName(err) }

// ExpectErrno asserts that a sandboxed action was set up and ended with want (nil for
// success). what describes the right, the rule and the action, e.g.
// "READ_FILE handled, no rule: open(O_RDONLY)"; the failure message adds the errno seen
// versus the one expected.
func ExpectErrno(res sandbox.Result, want error, what string, args ...any) {
	ginkgo.GinkgoHelper()
	desc := fmt.Sprintf(what, args...)
	gomega.Expect(res.Setup).NotTo(gomega.HaveOccurred(), "%s: sandbox setup failed", desc)
	ExpectErr(res.Err, want, "%s", desc)
}

// ExpectErr asserts that err is want (nil for success), naming both in the failure.
func ExpectErr(err, want error, what string, args ...any) {
	ginkgo.GinkgoHelper()
	desc := fmt.Sprintf(what, args...)
	if !IsErrno(err, want) {
		ginkgo.Fail(fmt.Sprintf("%s: got %s, want %s", desc, ErrnoName(err), ErrnoName(want)))
	}
}

// SetupFailed reports that a step preparing an action failed (sandbox.SetupFailed, which
// process-mode actions use too): its errno is named but not wrapped, so that it can never
// pass for the errno the action itself is expected to give.
func SetupFailed(what string, err error) error { return sandbox.SetupFailed(what, err) }

// IsErrno reports whether err is want, nil standing for success (sandbox.IsErrno).
func IsErrno(err, want error) bool { return sandbox.IsErrno(err, want) }

// Bits formats a mask of kind k as audit-style names, for failure messages (sandbox.Bits).
func Bits(k landlock.Kind, mask uint64) string { return sandbox.Bits(k, mask) }

// Seen is what an erratum spec observed: the fixed behaviour, the unfixed one, or neither.
// Every erratum spec must be able to tell the three apart; "neither" fails whatever the
// kernel claims, because no version of the kernel behaves that way.
type Seen int

const (
	SeenFixed Seen = iota + 1
	SeenUnfixed
	SeenNeither
)

// Observation is one thing an erratum spec did: what, the error it gave (nil for
// success), and the error a kernel with the fix and one without it give.
type Observation struct {
	What           string
	Seen           error
	Fixed, Unfixed error
}

// ClassifyErratum tells the three outcomes of an erratum spec apart: every observation as
// the fixed kernel gives it, every one as the unfixed kernel gives it, or neither. The
// detail names each observation with the errno seen and the two expected, for
// ErratumVerdict.
func ClassifyErratum(obs []Observation) (Seen, string) {
	matchFixed, matchUnfixed := true, true
	parts := make([]string, len(obs))
	for i, o := range obs {
		parts[i] = fmt.Sprintf("%s: %s (fixed kernel: %s, unfixed: %s)", o.What, ErrnoName(o.Seen), ErrnoName(o.Fixed), ErrnoName(o.Unfixed))
		matchFixed = matchFixed && IsErrno(o.Seen, o.Fixed)
		matchUnfixed = matchUnfixed && IsErrno(o.Seen, o.Unfixed)
	}
	detail := strings.Join(parts, "; ")
	switch {
	case len(obs) == 0:
		return SeenNeither, "nothing observed"
	case matchFixed:
		return SeenFixed, detail
	case matchUnfixed:
		return SeenUnfixed, detail
	}
	return SeenNeither, detail
}

// ErratumVerdict records what a spec observed of erratum n, against the kernel's claim, and
// fails the spec where they disagree. Where the kernel answers the errata query its bitmask
// must equal the behaviour both ways: "advertised but not fixed" and "fixed but not
// advertised" both fail, naming the erratum and its bit (the failing spec names itself).
// Where the query is unsupported there is no claim to check: the spec passes and the verdict
// reports what was seen. "Neither" always fails. detail says what was done and seen.
func ErratumVerdict(n int, seen Seen, detail string) {
	ginkgo.GinkgoHelper()
	k := Kernel()
	e := landlock.ErrataTable[n-1]
	advertised := k.Fixed(n)
	v := report.Verdict{Feature: e.Feature, ABI: e.ABI, Erratum: n, Detail: detail}
	claim := fmt.Sprintf("errata bitmask %s, bit %d", report.ErrataBits(k.Errata), n-1)
	var fail string
	switch {
	case seen == SeenNeither:
		v.Outcome = report.Broken
		fail = fmt.Sprintf("erratum %d: the kernel behaves like neither the fixed nor the unfixed kernel: %s", n, detail)
	case advertised && seen == SeenUnfixed:
		v.Outcome = report.ErratumAdvertisedNotFixed
		fail = fmt.Sprintf("erratum %d advertised (%s set) but not fixed: %s", n, claim, detail)
	case advertised:
		v.Outcome = report.ErratumFixed
	case seen == SeenFixed && k.ErrataQuery:
		v.Outcome = report.ErratumFixedNotAdvertised
		fail = fmt.Sprintf("erratum %d fixed but not advertised (%s clear): %s", n, claim, detail)
	case seen == SeenFixed:
		v.Outcome = report.ErratumFixedNoQuery
	default:
		v.Outcome = report.ErratumNotFixedAdvertised
	}
	Verdict(v)
	if fail != "" {
		ginkgo.Fail(fail)
	}
}

// EnforcedVerdict records that the spec saw feature (introduced by abi) deny or restrict
// something only a kernel of that ABI can: the behavioural evidence that the ABI step is
// enforced, not merely accepted. On a kernel below abi it records the feature as correctly
// absent, like FeatureVerdict. Call it once the spec's assertions have passed.
func EnforcedVerdict(feature string, abi int) {
	if !Supports(abi) {
		FeatureVerdict(feature, abi)
		return
	}
	Verdict(report.Verdict{Feature: feature, ABI: abi, Outcome: report.Works, Enforced: true})
}
