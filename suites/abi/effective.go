package abi

import (
	"fmt"
	"strings"

	. "github.com/onsi/ginkgo/v2"

	"github.com/llconform/llconform/internal/landlock"
	"github.com/llconform/llconform/internal/report"
	"github.com/llconform/llconform/internal/spec"
)

// errataQuery names the one feature stable kernels may have below its ABI.
const errataQuery = "create_ruleset.errata"

var _ = suite.Describe("effective ABI", func() {
	BeforeEach(spec.RequireLandlock)

	It("MUST equal the claimed ABI (capped at the highest ABI llconform knows), computed from accepted features alone",
		spec.Feature("abi.effective", 1), spec.ID("effective.abi"), func() {
			effective, rejected := landlock.EffectiveABI()
			AddReportEntry(report.EntryAcceptedABI, effective, ReportEntryVisibilityNever)
			claimed := min(kernelABI(), landlock.MaxABI)
			if effective != claimed {
				var names []string
				for _, f := range landlock.Features {
					if err, ok := rejected[f.Name]; ok && f.ABI <= claimed {
						names = append(names, fmt.Sprintf("%s (ABI %d): %s", f.Name, f.ABI, spec.ErrnoName(err)))
					}
				}
				Fail(fmt.Sprintf("the kernel claims ABI %d but behaves as ABI %d; rejected features of ABI <= %d: %s",
					kernelABI(), effective, claimed, strings.Join(names, ", ")))
			}
			spec.FeatureVerdict("abi.effective", 1)
		})

	// One entry per feature: accepted if and only if its ABI is within the claimed one. A
	// backport that half-adds a feature, or claims one it lacks, fails here by name.
	for _, f := range landlock.Features {
		text := fmt.Sprintf("MUST accept %s if and only if the claimed ABI is at least %d, and reject it below with the errno of an unknown element", f.Name, f.ABI)
		if f.Name == errataQuery {
			text = fmt.Sprintf("MUST accept %s from ABI %d (below, only where backported, else EINVAL)", f.Name, f.ABI)
		}
		It(text, spec.Feature(f.Name, f.ABI), spec.ID("effective.accept."+f.Name), func() {
			err := f.Probe()
			switch {
			case spec.Supports(f.ABI):
				spec.ExpectErr(err, nil, "ABI %d: %s (ABI %d)", kernelABI(), f.Name, f.ABI)
			case f.Name == errataQuery && err == nil:
				// Backported to stable kernels of lower ABI.
			default:
				// Not "any error": the kernel's own answer to an element it does not know.
				spec.ExpectErr(err, f.Rejection(kernelABI()), "ABI %d: %s (ABI %d), above the claimed ABI", kernelABI(), f.Name, f.ABI)
			}
			if f.Name == errataQuery {
				errataVerdict()
			} else {
				spec.FeatureVerdict(f.Name, f.ABI)
			}
		})
	}
})
