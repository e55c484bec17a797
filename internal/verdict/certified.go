package verdict

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/llconform/llconform/internal/report"
)

// CheckCertified names the check a certified run gets (see Certify).
const CheckCertified = "certified"

// NotApplicable is a reason for which a spec may skip in a certified run: the conformance
// document (conformance.yaml, not_applicable) lists every one. Any other skip fails a
// certified run, as in Kubernetes' certified-conformance mode: coverage silently lost is
// not conformance.
type NotApplicable struct {
	// Reason names it: "root", "module", "abi", "no-landlock".
	Reason string
	// When says in words when such a skip is allowed.
	When string
	// Skip is the regular expression the spec's skip message matches.
	Skip string

	re *regexp.Regexp
	// allowed, when set, adds a condition on the run and the spec beyond the message.
	allowed func(r *report.Run, sp *report.Spec, m []string) bool
}

// NotApplicableReasons are the skips a certified run accepts, in the order they are tried.
var NotApplicableReasons = []NotApplicable{
	{
		Reason: "root",
		When:   "the spec needs root and the suites ran as another user (spec.RequireRoot)",
		Skip:   `^needs root \(running as uid [0-9]+\)$`,
	},
	{
		Reason: "module",
		When: "the spec needs a kernel module (needs: module:NAME) that the kernel's kernels.yaml entry lists in " +
			"expect: {missing_modules: [NAME]} (or that --missing-modules names), and the skip message names it",
		Skip: `(?i)\b(module ([a-z0-9_]+) not loaded|(overlay) filesystem unavailable)\b`,
		allowed: func(r *report.Run, sp *report.Spec, m []string) bool {
			name := strings.ToLower(m[2] + m[3])
			return slices.Contains(sp.Needs, "module:"+name) && slices.Contains(missingModules(r), name)
		},
	},
	{
		Reason: "abi",
		When: "the kernel's ABI makes the spec's case impossible, and another spec checks that ABI's behaviour " +
			"instead (a feature's rejection below its ABI, its behaviour at or above it)",
		Skip: `^((Landlock )?ABI [0-9]+\b.*\b(is|are) checked by (the next spec|the specs (above|below)|other specs)$` +
			`|.* needs [A-Za-z_]+ \(ABI [0-9]+\); th(e|is) kernel has ABI [0-9]+$` +
			`|the kernel \(ABI [0-9]+\) rejects the errata query .*: it advertises no errata$)`,
	},
	{
		Reason: "no-landlock",
		When:   "Landlock is not available on the kernel and its kernels.yaml entry expects that: expect: {abi: 0}",
		Skip:   `^Landlock (not-built|disabled) on this kernel`,
		allowed: func(r *report.Run, _ *report.Spec, _ []string) bool {
			return r.Expect != nil && r.Expect.ABI != nil && *r.Expect.ABI == 0
		},
	},
}

func init() {
	for i := range NotApplicableReasons {
		NotApplicableReasons[i].re = regexp.MustCompile(NotApplicableReasons[i].Skip)
	}
}

func missingModules(r *report.Run) []string {
	var out []string
	if r.Certified != nil {
		out = append(out, r.Certified.MissingModules...)
	}
	if r.Expect != nil {
		out = append(out, r.Expect.MissingModules...)
	}
	return out
}

// NotApplicableReason returns the reason of the conformance document for which sp, skipped
// in run r, is not applicable, or "" when the skip is none of them.
func NotApplicableReason(r *report.Run, sp *report.Spec) string {
	for _, na := range NotApplicableReasons {
		m := na.re.FindStringSubmatch(sp.SkipReason)
		if m == nil {
			continue
		}
		if na.allowed == nil || na.allowed(r, sp, m) {
			return na.Reason
		}
	}
	return ""
}

// maxListed bounds the skips a certified check's message names.
const maxListed = 5

// certifiedCheck judges a certified run: every skip must be not applicable for a reason of
// NotApplicableReasons, and no failure may be excused by a known issue (KnownIssuesExcuse).
// features are the run's. ok is false when the run is not certified.
func certifiedCheck(r *report.Run, features []report.FeatureResult) (c report.Check, ok bool) {
	if r.Certified == nil {
		return report.Check{}, false
	}
	c = report.Check{Name: CheckCertified}
	var bad []string
	counts := map[string]int{}
	for _, s := range r.Suites {
		for i := range s.Specs {
			sp := &s.Specs[i]
			if sp.State != report.Skipped {
				continue
			}
			reason := NotApplicableReason(r, sp)
			if reason == "" {
				bad = append(bad, fmt.Sprintf("%s (%s)", sp.ID, sp.SkipReason))
				continue
			}
			counts[reason]++
		}
	}
	var allowed []string
	for _, na := range NotApplicableReasons {
		if n := counts[na.Reason]; n > 0 {
			allowed = append(allowed, fmt.Sprintf("%s %d", na.Reason, n))
		}
	}
	known := notExcused(r, features)
	if len(bad) == 0 && len(known) == 0 {
		why := "no skip"
		if len(allowed) > 0 {
			why = "skips not applicable: " + strings.Join(allowed, ", ")
		}
		c.OK = true
		c.Message = "certified: every spec ran or is not applicable for a reason conformance.yaml lists (" + why + ")"
		return c, true
	}
	var parts []string
	if n := len(bad); n > 0 {
		if n > maxListed {
			bad = append(bad[:maxListed], fmt.Sprintf("and %d more", n-maxListed))
		}
		parts = append(parts, fmt.Sprintf("certified run: %d spec%s skipped for a reason conformance.yaml does not list as not applicable: %s",
			n, plural(n), strings.Join(bad, "; ")))
	}
	c.Message = strings.Join(append(parts, known...), "; ")
	return c, true
}

// notExcused says, one line per known issue, which failures of a certified run the known
// issues marked but do not excuse there: the failed specs and failing features each marks.
func notExcused(r *report.Run, features []report.FeatureResult) []string {
	var ids []string
	what := map[string][]string{}
	add := func(k *report.Known, subject string) {
		id := k.Issue
		if id == "" {
			// A result written before marks named their issue: its reason identifies it.
			id = fmt.Sprintf("%q", k.Reason)
		}
		if _, seen := what[id]; !seen {
			ids = append(ids, id)
		}
		what[id] = append(what[id], subject)
	}
	for _, s := range r.Suites {
		for _, sp := range s.Specs {
			if sp.State == report.Failed && sp.Known != nil {
				add(sp.Known, sp.ID+" failed")
			}
		}
	}
	for _, f := range features {
		if f.Outcome.Failing() && f.Known != nil {
			add(f.Known, "feature "+f.Feature+" "+string(f.Outcome))
		}
	}
	var out []string
	for _, id := range ids {
		out = append(out, fmt.Sprintf("known issue %s is not excused in a certified run: %s", id, strings.Join(what[id], ", ")))
	}
	return out
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
