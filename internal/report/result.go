// Package report is llconform's result model: what was learned on each kernel, as data. It
// holds the types (Result, Run, Suite, Spec, the Verdict and KernelInfo entries suites attach,
// feature outcomes, checks, known-issue marks), the import of the suites' Ginkgo JSON reports,
// and the versioned JSON result file with its decoding and the merging of shards.
//
// What a result means (feature outcomes, claim checks, conclusions, the exit status, known
// issues) is decided by package verdict, which fills each run's derived fields; package render
// writes a result, once judged, as tables, HTML, JUnit XML and KCIDB. The suite binaries import
// this package for its entries, and link neither of the other two.
//
// A Result holds one Run per kernel; a Run holds one Suite per suite binary; a Suite holds one
// Spec per Ginkgo It. Infrastructure errors (a kernel that did not boot, a suite that hung or
// left no report) are recorded as such, never as spec failures, so that "Landlock is broken
// here" and "we could not find out" stay distinct.
package report

import (
	"cmp"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/llconform/llconform/vm/arch"
)

// Schema is the version of the JSON result format this package writes and reads. Bump it on
// any change that an older reader would misinterpret.
const Schema = 1

// Result is the content of a result file: every kernel a run (or a shard of a matrix) tested.
type Result struct {
	// Schema is the format version, always Schema when written by this package.
	Schema int `json:"schema"`
	// Generator names the program and version that wrote the file, e.g. "llconform v0.1.0".
	Generator string `json:"generator"`
	// Time is when the run started.
	Time time.Time `json:"time"`
	// Runs holds one entry per kernel, in the order they were listed.
	Runs []Run `json:"runs"`
	// Timings says how long the whole run took and on how busy a machine; nil for a host
	// run and a merged result.
	Timings *RunTimings `json:"timings,omitempty"`
}

// RunTimings is how long a matrix run took, with what it ran beside: wall-clock figures
// grow with the machine's load, which other processes may have caused.
type RunTimings struct {
	// Wall is the time from the start of the run to its result.
	Wall time.Duration `json:"wall_ns"`
	// Jobs is the number of VMs run at once; CPUs the host's processors.
	Jobs int `json:"jobs"`
	CPUs int `json:"cpus"`
	// LoadStart and LoadEnd are the host's 1-minute load average when the run started and
	// ended (0 where unknown).
	LoadStart float64 `json:"load_start"`
	LoadEnd   float64 `json:"load_end"`
}

// Timings says where one kernel's time went in a VM run, so that a slow kernel shows which
// stage was slow. Figures are the host's wall clock, but the suites', which the guest
// measured; all of them grow with the host's load, CPU does not.
type Timings struct {
	// Fetch is resolving the kernel and downloading it, or verifying the cached copy.
	Fetch time.Duration `json:"fetch_ns"`
	// Initramfs is writing the kernel's initrd.
	Initramfs time.Duration `json:"initramfs_ns"`
	// Queued is the time the fetched kernel waited for a free VM slot.
	Queued time.Duration `json:"queued_ns"`
	// Boot is the time from QEMU's start to the guest agent's being ready to run suites
	// (firmware, kernel, initramfs, the agent's set-up), in the last attempt; the whole boot
	// when the agent never got there.
	Boot time.Duration `json:"boot_ns"`
	// GuestUptime is the guest's own clock when its agent was ready: Boot less QEMU's
	// start, the firmware and the loading of kernel and initrd.
	GuestUptime time.Duration `json:"guest_uptime_ns,omitempty"`
	// Suites are each suite's run time in the guest, in the order they ran.
	Suites []SuiteTime `json:"suites,omitempty"`
	// Transfer is the rest of the last boot until the agent had sent every frame: the
	// reports' transfer and the agent's work between suites. Shutdown is what followed:
	// power-off and QEMU's exit.
	Transfer time.Duration `json:"transfer_ns"`
	Shutdown time.Duration `json:"shutdown_ns"`
	// Retries is the time of the boots before the last, when one was retried.
	Retries time.Duration `json:"retries_ns,omitempty"`
	// Total is the kernel's own time: fetch, initramfs and every boot (not Queued).
	Total time.Duration `json:"total_ns"`
	// CPU is the CPU time QEMU used over every boot.
	CPU time.Duration `json:"cpu_ns"`
	// SharedBoot names the kernel of the run whose boot this kernel's results come from:
	// the same kernel files booted with the same settings (a suite's newest package that
	// another entry pins), booted once. Fetch (and Total, equal to it) is then this
	// kernel's only stage.
	SharedBoot string `json:"shared_boot,omitempty"`
}

// SuiteTime is one suite's run time.
type SuiteTime struct {
	Name     string        `json:"name"`
	Duration time.Duration `json:"duration_ns"`
}

// Run is everything learned on one kernel.
type Run struct {
	// Kernel says which kernel this was, as the host knows it.
	Kernel Kernel `json:"kernel"`
	// Info is what the suites probed on the kernel itself; nil when no suite reported it
	// (the kernel did not boot, every suite lost its report).
	Info *KernelInfo `json:"info,omitempty"`
	// AcceptedABI is the highest ABI whose every uAPI element the kernel accepts, probed by
	// suites/abi; nil when that suite did not run or did not report it.
	AcceptedABI *int `json:"accepted_abi,omitempty"`
	// EffectiveABI is the ABI the kernel behaves as (see package verdict); derived like
	// Checks.
	EffectiveABI *int `json:"effective_abi,omitempty"`
	// AcceptUnverified records that the user accepted claims llconform cannot verify (an ABI
	// or errata bit it does not know, an ABI step no spec showed enforced): such a run ends
	// UNVERIFIED with exit status 0 instead of ExitUnverified.
	AcceptUnverified bool `json:"accept_unverified,omitempty"`
	// Certified is set on a run made in certified mode (--certified): no spec may skip
	// except as not applicable for a reason the conformance document lists (see package
	// verdict); any other skip fails the run. Nil for an ordinary run.
	Certified *Certification `json:"certified,omitempty"`
	// Expect is what the kernel must provide (kernels.yaml `expect:`); nil when not gated.
	Expect *Expect `json:"expect,omitempty"`
	// Checks are the expectation checks. Like EffectiveABI, Features and Conclusion, they are
	// derived from the other fields by verdict.Evaluate, which every writer's caller runs
	// once first; they are written for readers of the file, and dropped by Decode (never
	// trusted from a file).
	Checks []Check `json:"checks,omitempty"`
	// Conclusion is the run's overall verdict, the word of the matrix; derived like Checks.
	Conclusion Conclusion `json:"conclusion,omitempty"`
	// Infra is a failure of the machinery for the whole kernel (fetch, boot, hang, kernel
	// panic), distinct from any test failure.
	Infra *InfraError `json:"infra,omitempty"`
	// Suites holds one entry per suite binary run on this kernel.
	Suites []Suite `json:"suites"`
	// Features is the kernel x feature outcome table; derived like Checks.
	Features []FeatureResult `json:"features,omitempty"`
	// KernelWarnings are excerpts of the kernel log around each WARNING, BUG, Oops or KASAN
	// report seen while the suites ran. Any of them fails the kernel, as in the Landlock
	// maintainers' own test scripts: a warning is a kernel bug even when every spec passed.
	KernelWarnings []string `json:"kernel_warnings,omitempty"`
	// ConsoleLog is the path of the kernel's full console log when it ran in a VM, whether or
	// not anything went wrong: a reader checking a verdict wants the kernel's own messages.
	ConsoleLog string `json:"console_log,omitempty"`
	// KnownFeatures are the features a known issue excuses on this kernel (see
	// verdict.ApplyKnownIssues); an input to the feature outcomes, like Expect.
	KnownFeatures []KnownFeature `json:"known_features,omitempty"`
	// Notices are exit-neutral news from verdict.ApplyKnownIssues: known issues that no longer fail.
	Notices []Notice `json:"notices,omitempty"`
	// Timings says where the kernel's time went in a VM run; nil for a host run and for a
	// compat run (its suites' time is in its kernel's native run).
	Timings *Timings `json:"timings,omitempty"`
	// Compat is set on the run of the suites built as 32-bit programs, on the same kernel as
	// another run of the result: nil for the suites' native build.
	Compat *Compat `json:"compat,omitempty"`
}

// Compat says that a run's suites ran as 32-bit programs on a 64-bit kernel, reaching it
// through its compat system call entry points. The run has its own name (its kernel's with
// the architecture as suffix, "debian-7.3/386") and otherwise the kernel's identity.
type Compat struct {
	// Arch is the Go architecture of the suites: "386".
	Arch string `json:"arch"`
	// Native is the name of the run of the same kernel's native suites.
	Native string `json:"native"`
	// NotApplicable says why nothing ran, when the kernel cannot execute the suites' 32-bit
	// binaries (no IA32 emulation); empty when they ran.
	NotApplicable string `json:"not_applicable,omitempty"`
}

// CompatRunName names the run of kernel's suites built for arch: "debian-7.3/386".
func CompatRunName(kernel, arch string) string { return kernel + "/" + arch }

// Kernel identifies a kernel as the host knows it, before booting it.
type Kernel struct {
	// Name is the kernels.yaml entry name, unique within a Result ("host" for `llconform run`).
	Name string `json:"name"`
	// Release is the `uname -r` string when known before boot.
	Release string `json:"release,omitempty"`
	// Package and Version are the exact Debian package and version that ran, when the kernel
	// came from Debian.
	Package string `json:"package,omitempty"`
	Version string `json:"version,omitempty"`
	// Source says where the kernel came from, e.g. "debian:trixie-backports", "local:<path>",
	// "running".
	Source string `json:"source,omitempty"`
	// Machine says how the kernel was run, e.g. "qemu tcg, cpu max,-cx16, 1 vCPU, 1G,
	// attempt 2": emulation settings change what a crash or a timing means.
	Machine string `json:"machine,omitempty"`
	// Arch is the kernel's architecture, as Debian and Go name it: amd64, arm64. Results
	// written before llconform booted other architectures have none: amd64.
	Arch string `json:"arch,omitempty"`
}

// Architecture is the kernel's architecture, arch.Default for a result that names none.
func (k Kernel) Architecture() string { return cmp.Or(k.Arch, arch.Default) }

// Expect is what a kernel must claim. A nil field is not checked.
type Expect struct {
	// ABI is the Landlock ABI the kernel must claim; 0 means Landlock must be unavailable.
	ABI *int `json:"abi,omitempty"`
	// Errata lists the erratum numbers the kernel must claim fixed, exactly: a kernel that
	// claims more or fewer mismatches. An empty, non-nil list expects none.
	Errata []int `json:"errata"`
	// MissingModules are kernel modules the kernel is known not to have (kernels.yaml
	// expect: {missing-modules: [...]}): in a certified run, a spec skipped because one of
	// them is missing is not applicable.
	MissingModules []string `json:"missing_modules,omitempty"`
}

// Certification records that a run was made in certified mode, and what it was given.
type Certification struct {
	// MissingModules are modules declared missing for the run (llconform run
	// --missing-modules), besides those of Expect.
	MissingModules []string `json:"missing_modules,omitempty"`
}

// Check is one comparison of what a kernel claims with what it should claim.
type Check struct {
	// Name is "abi", "errata", "effective-abi", "known-claims", "landlock" or
	// "kernel-health".
	Name string `json:"name"`
	OK   bool   `json:"ok"`
	// Unverified marks a check that could not be decided either way: a claim llconform
	// cannot verify. It is not OK, and it is not a mismatch either (see package verdict).
	Unverified bool `json:"unverified,omitempty"`
	// Message says what was compared, e.g. "expected ABI 5, kernel claims 4".
	Message string `json:"message"`
}

// InfraKind classifies infrastructure errors.
type InfraKind string

const (
	InfraFetchFailed     InfraKind = "fetch-failed"     // the kernel could not be fetched or extracted
	InfraBootFailed      InfraKind = "boot-failed"      // QEMU or the kernel never reached the agent
	InfraPanic           InfraKind = "panic"            // kernel panic or oops
	InfraTimeout         InfraKind = "timeout"          // the kernel or a suite overran its time
	InfraInterrupted     InfraKind = "interrupted"      // a suite was interrupted (signal)
	InfraNoReport        InfraKind = "no-report"        // a suite ended without a report
	InfraTruncatedReport InfraKind = "truncated-report" // a report arrived incomplete or corrupt
	InfraSuiteSetup      InfraKind = "suite-setup"      // a BeforeSuite/AfterSuite node failed
	InfraSuiteFailed     InfraKind = "suite-failed"     // Ginkgo failed the suite for another reason
)

// InfraError is a failure of the machinery, not of Landlock.
type InfraError struct {
	Kind    InfraKind `json:"kind"`
	Message string    `json:"message"`
	// ConsoleTail is the last lines of the kernel console, for a reader of the report who
	// does not have the log file.
	ConsoleTail string `json:"console_tail,omitempty"`
	// ConsoleLog is the path of the full console log.
	ConsoleLog string `json:"console_log,omitempty"`
}

func (e *InfraError) Error() string {
	return string(e.Kind) + ": " + e.Message
}

// Suite is one suite binary's run on one kernel.
type Suite struct {
	// Name is the suite's name: "abi", "fs", "net", "scope", "audit".
	Name  string `json:"name"`
	Specs []Spec `json:"specs"`
	// Counts summarises Specs.
	Counts Counts `json:"counts"`
	// Duration is the suite's run time in nanoseconds, as Ginkgo measured it.
	Duration time.Duration `json:"duration_ns"`
	// ExitCode is the suite binary's exit status; nil when unknown.
	ExitCode *int `json:"exit_code,omitempty"`
	// Output is the path of the suite's captured stdout and stderr.
	Output string `json:"output,omitempty"`
	// Kernel is the KernelInfo this suite attached (EntryKernel); the Run's Info is taken from it.
	Kernel *KernelInfo `json:"kernel,omitempty"`
	// AcceptedABI is the EntryAcceptedABI value this suite attached, if any.
	AcceptedABI *int `json:"accepted_abi,omitempty"`
	// Infra is a failure of the suite as a whole: its BeforeSuite failed, it hung, its report
	// is missing or truncated.
	Infra *InfraError `json:"infra,omitempty"`
}

// Counts are the number of specs in each state. A failed spec that a known issue excuses
// counts in Known, not in Failed, so that Failed is what gates.
type Counts struct {
	Passed  int `json:"passed"`
	Failed  int `json:"failed"`
	Skipped int `json:"skipped"`
	Infra   int `json:"infra"`
	Known   int `json:"known,omitempty"`
}

// State is a spec's end state.
type State string

const (
	Passed  State = "passed"
	Failed  State = "failed"
	Skipped State = "skipped"
	// InfraState covers specs that panicked, were interrupted, aborted or timed out: they
	// say nothing about Landlock.
	InfraState State = "infra-error"
)

// Spec is one Ginkgo It on one kernel.
type Spec struct {
	// ID is "<suite>/<id>" with the spec's stable id (its "id:" label, see spec.ID), the
	// same across runs, kernels and rewordings. A spec without one falls back to
	// "<suite>/<full text>"; a repeated id gets a " #2", " #3"... suffix in the order
	// Ginkgo ran them (conformance.Lint refuses both in the project's suites).
	ID string `json:"id"`
	// Text is the full text: container texts and the It's text, space separated.
	Text   string   `json:"text"`
	Labels []string `json:"labels,omitempty"`
	// Feature, ABI, Erratum, Since and Needs are parsed from Labels (see ParseLabels).
	Feature string `json:"feature,omitempty"`
	ABI     int    `json:"abi,omitempty"`
	Erratum int    `json:"erratum,omitempty"`
	// Since is the kernel version that introduced a feature outside the Landlock ABI
	// (spec.Since), "" for an ABI element.
	Since string   `json:"since,omitempty"`
	Needs []string `json:"needs,omitempty"`
	State State    `json:"state"`
	// Failure is set for failed and infra-error specs.
	Failure *Failure `json:"failure,omitempty"`
	// SkipReason says why a skipped spec did not run.
	SkipReason string        `json:"skip_reason,omitempty"`
	Duration   time.Duration `json:"duration_ns"`
	// Verdicts are the EntryVerdict values the spec attached.
	Verdicts []Verdict `json:"verdicts,omitempty"`
	// Known is set on a failed spec that a known issue excuses: it stays failed, visibly,
	// but no longer fails the run.
	Known *Known `json:"known,omitempty"`
}

// Failure is why a spec failed.
type Failure struct {
	Message string `json:"message"`
	// Location is "file:line" of the failed assertion.
	Location string `json:"location,omitempty"`
}

// LabelInfo is what a spec's labels say about it.
type LabelInfo struct {
	// Key is the spec's stable id from its "id:" label (spec.ID), "" where it has none.
	Key     string
	Feature string
	ABI     int
	Erratum int
	// Since is the "since:<version>" label's version (spec.Since): the feature is not an
	// element of the Landlock ABI.
	Since string
	Needs []string
}

// ParseLabels reads the project's label conventions: the feature is the first label with a
// dot and no colon ("fs.truncate"); "abi:N" and "erratum:N" give numbers; "needs:X" adds X
// to Needs; "since:V" gives Since. Other labels are left alone. A malformed number is an
// error rather than a silent zero, which would misfile the spec under the wrong ABI.
func ParseLabels(labels []string) (LabelInfo, error) {
	var info LabelInfo
	for _, l := range labels {
		key, val, hasColon := strings.Cut(l, ":")
		if !hasColon {
			if info.Feature == "" && strings.Contains(l, ".") {
				info.Feature = l
			}
			continue
		}
		switch key {
		case "abi", "erratum":
			n, err := strconv.Atoi(val)
			if err != nil || n < 1 {
				return LabelInfo{}, fmt.Errorf("label %q: want a positive number after %q", l, key+":")
			}
			if key == "abi" {
				info.ABI = n
			} else {
				info.Erratum = n
			}
		case "needs":
			info.Needs = append(info.Needs, val)
		case "since":
			if val == "" || (info.Since != "" && info.Since != val) {
				return LabelInfo{}, fmt.Errorf("label %q: want one kernel version after \"since:\"", l)
			}
			info.Since = val
		case "id":
			if info.Key != "" {
				return LabelInfo{}, fmt.Errorf("two ids: %q and %q", info.Key, val)
			}
			info.Key = val
		}
	}
	return info, nil
}

// Recount recomputes s.Counts from s.Specs, after their states or known-issue marks changed.
func (s *Suite) Recount() {
	s.Counts = Counts{}
	for _, sp := range s.Specs {
		switch sp.State {
		case Passed:
			s.Counts.Passed++
		case Failed:
			if sp.Known != nil {
				s.Counts.Known++
			} else {
				s.Counts.Failed++
			}
		case Skipped:
			s.Counts.Skipped++
		case InfraState:
			s.Counts.Infra++
		}
	}
}

// AddSuite appends s to the run and takes the kernel information and accepted ABI it
// carries. Two suites of one run reporting different kernels is an error: they cannot both
// have run on this kernel.
func (r *Run) AddSuite(s Suite) error {
	for _, old := range r.Suites {
		if old.Name == s.Name {
			return fmt.Errorf("kernel %s: suite %s added twice", r.Kernel.Name, s.Name)
		}
	}
	if s.Kernel != nil {
		if r.Info != nil && !sameKernel(*r.Info, *s.Kernel) {
			return fmt.Errorf("kernel %s: suite %s reports %s, an earlier suite reported %s",
				r.Kernel.Name, s.Name, describeInfo(*s.Kernel), describeInfo(*r.Info))
		}
		if r.Info == nil {
			info := *s.Kernel
			r.Info = &info
		}
	}
	if s.AcceptedABI != nil {
		abi := *s.AcceptedABI
		r.AcceptedABI = &abi
	}
	r.Suites = append(r.Suites, s)
	return nil
}

// sameKernel ignores Error, which carries errno text that may legitimately differ.
func sameKernel(a, b KernelInfo) bool {
	return a.Release == b.Release && a.Status == b.Status && a.ABI == b.ABI &&
		a.Errata == b.Errata && a.ErrataQuery == b.ErrataQuery
}

func describeInfo(k KernelInfo) string {
	return fmt.Sprintf("%s (%s, ABI %d, errata %s)", k.Release, k.Status, k.ABI, FormatErrata(k))
}
