package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/onsi/ginkgo/v2/types"
)

// SuiteReportFlag names the flag with which llconform asks a suite binary for its report
// (internal/spec writes it): Ginkgo's JSON report schema, the one ImportGinkgo reads, holding
// only the fields ImportGinkgo reads, without indentation. Ginkgo's own --ginkgo.json-report
// of a 200-spec suite is a megabyte, a third of it the timeline nothing reads, and encoding
// it took a quarter of the suite's CPU time on the host; under TCG every byte is also copied
// out.
const SuiteReportFlag = "llconform.report"

// ImportGinkgo converts the file a suite binary writes with -llconform.report (or Ginkgo's
// --ginkgo.json-report) into a Suite
// named name. The file must hold exactly one suite report. An empty, truncated or otherwise
// invalid file is an error, never a partial Suite: a report that lost its tail would
// otherwise pass for a shorter run.
//
// It specs become Specs. Suite-level nodes (BeforeSuite, AfterSuite...) are not specs: they
// give the EntryKernel value, and when they fail, the Suite's Infra error. The caller sets
// ExitCode and Output, which the report does not know.
func ImportGinkgo(data []byte, name string) (Suite, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return Suite{}, fmt.Errorf("suite %s: Ginkgo report is empty", name)
	}
	var reports []types.Report
	if err := json.Unmarshal(data, &reports); err != nil {
		var syntax *json.SyntaxError
		// A report cut short (the guest died while writing or sending it) fails at its end.
		if errors.As(err, &syntax) && syntax.Offset >= int64(len(bytes.TrimRight(data, " \t\r\n"))) {
			return Suite{}, fmt.Errorf("suite %s: Ginkgo report is truncated (%d bytes): %w", name, len(data), err)
		}
		return Suite{}, fmt.Errorf("suite %s: Ginkgo report is not valid: %w", name, err)
	}
	if len(reports) != 1 {
		return Suite{}, fmt.Errorf("suite %s: Ginkgo report holds %d suite reports, want 1", name, len(reports))
	}
	rep := reports[0]
	// A JSON array of one empty object decodes without error; a real report always has a
	// start time.
	if rep.StartTime.IsZero() {
		return Suite{}, fmt.Errorf("suite %s: Ginkgo report has no start time: not a report written by Ginkgo", name)
	}

	s := Suite{Name: name, Duration: rep.RunTime}
	seen := map[string]int{}
	var suiteSkip string
	for _, sr := range rep.SpecReports {
		if sr.LeafNodeType.Is(types.NodeTypesForSuiteLevelNodes) {
			if err := s.takeSuiteNode(sr, &suiteSkip); err != nil {
				return Suite{}, err
			}
			continue
		}
		if !sr.LeafNodeType.Is(types.NodeTypeIt) {
			continue
		}
		sp, err := convertSpec(name, sr)
		if err != nil {
			return Suite{}, err
		}
		seen[sp.ID]++
		if n := seen[sp.ID]; n > 1 {
			sp.ID = fmt.Sprintf("%s #%d", sp.ID, n)
		}
		if err := s.takeAcceptedABI(sr); err != nil {
			return Suite{}, err
		}
		s.Specs = append(s.Specs, sp)
	}
	if s.Infra == nil {
		s.Infra = specialFailure(rep.SpecialSuiteFailureReasons)
	}
	// Ginkgo gives no reason for specs it never started; a skip must always say why.
	reason := "not run: filtered out, or skipped after an earlier failure"
	switch {
	case suiteSkip != "":
		reason = "suite skipped in BeforeSuite: " + suiteSkip
	case s.Infra != nil:
		reason = "not run: " + s.Infra.Error()
	}
	for i := range s.Specs {
		if s.Specs[i].State == Skipped && s.Specs[i].SkipReason == "" {
			s.Specs[i].SkipReason = reason
		}
	}
	if s.Infra != nil && s.Infra.Kind == InfraSuiteSetup && len(s.Specs) == 0 {
		s.Infra.Message += fmt.Sprintf(" (no spec ran of %d planned)", rep.PreRunStats.SpecsThatWillRun)
	}
	s.Recount()
	return s, nil
}

// takeSuiteNode pulls what a BeforeSuite-like node carries into s.
func (s *Suite) takeSuiteNode(sr types.SpecReport, suiteSkip *string) error {
	for _, e := range sr.ReportEntries {
		if e.Name != EntryKernel || s.Kernel != nil {
			continue
		}
		var k KernelInfo
		if err := decodeEntry(e, &k); err != nil {
			return fmt.Errorf("suite %s: %w", s.Name, err)
		}
		s.Kernel = &k
	}
	if err := s.takeAcceptedABI(sr); err != nil {
		return err
	}
	switch {
	case sr.State.Is(types.SpecStateSkipped):
		*suiteSkip = sr.Failure.Message
	case sr.State.Is(types.SpecStateFailureStates) && s.Infra == nil:
		s.Infra = &InfraError{
			Kind:    InfraSuiteSetup,
			Message: fmt.Sprintf("%s %s: %s", sr.LeafNodeType, sr.State, failureMessage(sr.Failure)),
		}
	}
	return nil
}

func (s *Suite) takeAcceptedABI(sr types.SpecReport) error {
	for _, e := range sr.ReportEntries {
		if e.Name != EntryAcceptedABI {
			continue
		}
		var abi int
		if err := decodeEntry(e, &abi); err != nil {
			return fmt.Errorf("suite %s: %w", s.Name, err)
		}
		s.AcceptedABI = &abi
	}
	return nil
}

func convertSpec(suite string, sr types.SpecReport) (Spec, error) {
	text := sr.FullText()
	labels := sr.Labels()
	li, err := ParseLabels(labels)
	if err != nil {
		return Spec{}, fmt.Errorf("suite %s: spec %q: %w", suite, text, err)
	}
	// The id label names the spec; its sentence is only the fallback, for suites that give
	// none, since rewording a sentence would rename the spec.
	name := text
	if li.Key != "" {
		name = li.Key
	}
	sp := Spec{
		ID:       suite + "/" + name,
		Text:     text,
		Labels:   labels,
		Feature:  li.Feature,
		ABI:      li.ABI,
		Erratum:  li.Erratum,
		Since:    li.Since,
		Needs:    li.Needs,
		Duration: sr.RunTime,
	}
	if len(sp.Labels) == 0 {
		sp.Labels = nil
	}
	switch {
	case sr.State.Is(types.SpecStatePassed):
		sp.State = Passed
	case sr.State.Is(types.SpecStateFailed):
		sp.State = Failed
	case sr.State.Is(types.SpecStateSkipped):
		sp.State = Skipped
		sp.SkipReason = sr.Failure.Message
	case sr.State.Is(types.SpecStatePending):
		sp.State = Skipped
		sp.SkipReason = "pending: the spec is marked pending in the suite"
	case sr.State.Is(types.SpecStatePanicked | types.SpecStateInterrupted | types.SpecStateAborted | types.SpecStateTimedout):
		sp.State = InfraState
	default:
		return Spec{}, fmt.Errorf("suite %s: spec %q: unknown Ginkgo state %q", suite, text, sr.State)
	}
	if sp.State == Failed || sp.State == InfraState {
		sp.Failure = &Failure{Message: failureMessage(sr.Failure)}
		if fl := sr.Failure.Location; fl.FileName != "" {
			sp.Failure.Location = fmt.Sprintf("%s:%d", fl.FileName, fl.LineNumber)
		}
		if sp.State == InfraState {
			sp.Failure.Message = sr.State.String() + ": " + sp.Failure.Message
		}
	}
	for _, e := range sr.ReportEntries {
		if e.Name != EntryVerdict {
			continue
		}
		var v Verdict
		if err := decodeEntry(e, &v); err != nil {
			return Spec{}, fmt.Errorf("suite %s: spec %q: %w", suite, text, err)
		}
		if !knownOutcome(v.Outcome) {
			return Spec{}, fmt.Errorf("suite %s: spec %q: verdict has unknown outcome %q", suite, text, v.Outcome)
		}
		if v.Feature == "" {
			v.Feature = sp.Feature
		}
		sp.Verdicts = append(sp.Verdicts, v)
	}
	return sp, nil
}

// decodeEntry decodes a report entry's value. Ginkgo stores the value passed to
// AddReportEntry as its json.Marshal output in Value.AsJSON (plus a %+v rendering in
// Representation); decoding AsJSON into the same type gives the struct back. Unknown fields
// are an error, so a suite that attaches some other struct under our entry names is caught
// instead of read as zero values.
func decodeEntry(e types.ReportEntry, v any) error {
	dec := json.NewDecoder(strings.NewReader(e.Value.AsJSON))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("report entry %s at %s: value %q: %w", e.Name, e.Location, e.Value.AsJSON, err)
	}
	return nil
}

func failureMessage(f types.Failure) string {
	msg := f.Message
	if f.ForwardedPanic != "" {
		msg += ": " + f.ForwardedPanic
	}
	return msg
}

// specialFailure turns the reasons Ginkgo gives for failing a suite beyond its specs into an
// infrastructure error. "Suite skipped in BeforeSuite" is a skip, reported on the specs.
func specialFailure(reasons []string) *InfraError {
	var kind InfraKind
	var msgs []string
	for _, r := range reasons {
		switch {
		case r == "Suite skipped in BeforeSuite":
			continue
		case r == "Suite Timeout Elapsed":
			kind = InfraTimeout
		case strings.HasPrefix(r, "Interrupted"):
			if kind == "" {
				kind = InfraInterrupted
			}
		default:
			if kind == "" {
				kind = InfraSuiteFailed
			}
		}
		msgs = append(msgs, r)
	}
	if kind == "" {
		return nil
	}
	return &InfraError{Kind: kind, Message: "Ginkgo: " + strings.Join(msgs, "; ")}
}

func knownOutcome(o Outcome) bool {
	switch o {
	case Works, Absent, Broken, ErratumFixed, ErratumNotFixedAdvertised,
		ErratumFixedNotAdvertised, ErratumFixedNoQuery, ErratumAdvertisedNotFixed, NotApplicable:
		return true
	}
	return false
}
