package diff

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Class is a group of change kinds that a gate counts, or not, as regressions.
type Class string

const (
	// ClassFail: a spec newly failing, a kernel newly logging warnings.
	ClassFail Class = "fail"
	// ClassFeature: a feature that worked (or an erratum that was fixed) now broken or absent.
	ClassFeature Class = "feature"
	// ClassClaim: a changed claim: Landlock status, ABI, errata, effective ABI, or an
	// expectation check that no longer passes.
	ClassClaim Class = "claim"
	// ClassSkip: coverage lost: a spec that ran now skipped or gone, a feature that worked
	// now not exercised.
	ClassSkip Class = "skip"
	// ClassInfra: a new infrastructure error.
	ClassInfra Class = "infra"
	// ClassKernel: a kernel of BASE that NEW does not have (off by default, so that one shard
	// can be compared with a whole matrix).
	ClassKernel Class = "kernel"
)

// Classes lists every class, in the order help texts show them.
var Classes = []Class{ClassFail, ClassFeature, ClassClaim, ClassSkip, ClassInfra, ClassKernel}

// DefaultGate is what a regression is unless the user says otherwise: a new failure, a lost
// feature, a changed claim.
var DefaultGate = []Class{ClassFail, ClassFeature, ClassClaim}

// classOf says which class a change belongs to; "" for a change no gate counts (an
// improvement, or news).
func classOf(c Change) Class {
	switch c.Kind {
	case NewFailure, WarningsNew:
		return ClassFail
	case FeatureLost:
		return ClassFeature
	case Claim:
		// A check that became ok, or appeared ok, is no regression.
		if strings.HasPrefix(c.Subject, "check:") {
			switch c.New {
			case "ok":
				return ""
			case "unverified":
				// A claim no longer verified, because what showed it now skips: coverage lost.
				return ClassSkip
			}
		}
		// The effective ABI is behaviour, not a claim: only a drop counts. Unknown on one side
		// (the kernel did not boot, suites/abi did not report) is said by the infra changes.
		if c.Subject == "effective-abi" {
			b, berr := strconv.Atoi(c.Base)
			n, nerr := strconv.Atoi(c.New)
			if berr != nil || nerr != nil || n >= b {
				return ""
			}
		}
		return ClassClaim
	case NewSkip, SpecRemoved, FeatureNA:
		return ClassSkip
	case InfraNew:
		return ClassInfra
	case KernelGone:
		return ClassKernel
	}
	return ""
}

// ParseGate reads --gate: a comma-separated list of classes, "default" (DefaultGate), "all"
// or "none".
func ParseGate(s string) ([]Class, error) {
	var out []Class
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		switch f {
		case "default":
			out = append(out, DefaultGate...)
		case "all":
			out = append(out, Classes...)
		case "none":
		default:
			if !slices.Contains(Classes, Class(f)) {
				var names []string
				for _, c := range Classes {
					names = append(names, string(c))
				}
				return nil, fmt.Errorf("--gate: unknown class %q (want a comma-separated list of %s, or default, all, none)", f, strings.Join(names, ", "))
			}
			out = append(out, Class(f))
		}
	}
	return inOrder(out), nil
}

// Gate marks the changes the classes count as regressions and returns how many there are.
func (d *Diff) Gate(classes []Class) int {
	var names []string
	for _, c := range inOrder(classes) {
		names = append(names, string(c))
	}
	if len(names) == 0 {
		names = []string{"none"}
	}
	d.GatedOn = strings.Join(names, ",")
	n := 0
	for i := range d.Kernels {
		for j := range d.Kernels[i].Changes {
			c := &d.Kernels[i].Changes[j]
			cl := classOf(*c)
			c.Regression = cl != "" && slices.Contains(classes, cl)
			if c.Regression {
				n++
			}
		}
	}
	return n
}

// Regressions returns the number of changes Gate marked.
func (d *Diff) Regressions() int {
	n := 0
	for _, k := range d.Kernels {
		for _, c := range k.Changes {
			if c.Regression {
				n++
			}
		}
	}
	return n
}

// inOrder returns the classes once each, in the order of Classes.
func inOrder(classes []Class) []Class {
	var out []Class
	for _, c := range Classes {
		if slices.Contains(classes, c) {
			out = append(out, c)
		}
	}
	return out
}
