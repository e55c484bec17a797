package report

// Known issues are read and applied by package verdict; these are the marks they leave on a
// result.

// Known is why a failure is expected.
type Known struct {
	Reason string `json:"reason"`
	Link   string `json:"link,omitempty"`
	// Issue names the known-issues entry that marked the failure: what it names and where
	// ("spec audit/x (known-issues.yaml:4)"); empty in results written before it was recorded.
	Issue string `json:"issue,omitempty"`
}

// KnownFeature records that a known issue excuses a feature's failing outcome on a run.
type KnownFeature struct {
	Feature string `json:"feature"`
	Known
}

// NoticeKnownIssuePasses is the Kind of a Notice about a known issue that no longer fails.
const NoticeKnownIssuePasses = "known-issue-passes"

// Notice is news about a run that changes no verdict and no exit status.
type Notice struct {
	Kind   string `json:"kind"`
	Kernel string `json:"kernel"`
	// Issue names the known issue: "spec <id or /regexp/>" or "feature <name>".
	Issue string `json:"issue"`
	// Message says what happened, without the link.
	Message string `json:"message"`
	Link    string `json:"link,omitempty"`
}

// String is the line the CLI prints, with a "NOTICE" marker distinct from every conclusion
// word so that CI logs can be searched for it.
func (n Notice) String() string {
	s := "NOTICE " + n.Kind + ": " + n.Message
	if n.Link != "" {
		s += " (" + n.Link + ")"
	}
	return s
}

// AllNotices returns the notices of every run, in run order.
func AllNotices(res *Result) []Notice {
	var out []Notice
	for _, r := range res.Runs {
		out = append(out, r.Notices...)
	}
	return out
}
