package render

import (
	"bytes"
	"encoding/xml"
	"reflect"
	"strings"
	"testing"

	"github.com/onsi/ginkgo/v2/reporters"

	"github.com/llconform/llconform/internal/report"
	"github.com/llconform/llconform/internal/report/reporttest"
	"github.com/llconform/llconform/internal/verdict"
)

// knownRun is trixie's fs suite from the Ginkgo fixture (one failed spec, fs.ioctl_dev; one
// panicked; one skipped; the rest passed) and bookworm, as in verdict's tests.
func knownRun(t *testing.T) *report.Result {
	t.Helper()
	res := reporttest.Sample(t)
	trixie := res.Runs[0]
	trixie.Suites = trixie.Suites[:1]
	return &report.Result{Runs: []report.Run{trixie, res.Runs[1]}}
}

func TestKnownInOutputs(t *testing.T) {
	res := knownRun(t)
	if _, err := verdict.ApplyKnownIssues(res, []verdict.KnownIssue{
		{Spec: reporttest.IoctlSpec, Kernel: "trixie", Reason: "IOCTL_DEV half-backported", Link: "https://bugs.example.org/7"},
		{Spec: "fs/REFER MUST be handled", Kernel: "bookworm", Reason: "refer"},
	}); err != nil {
		t.Fatal(err)
	}
	verdict.Evaluate(res)

	var buf bytes.Buffer
	if err := WriteMatrix(&buf, res); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"trixie    amd64  6    0b0111  5/0/1 +1i +1k  INFRA\n",
		`NOTICE known-issue-passes: known issue "refer" no longer fails on bookworm`} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("matrix lacks %q:\n%s", want, buf.String())
		}
	}

	buf.Reset()
	if err := WriteFeatures(&buf, res); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "fs.ioctl_dev  Bk ") {
		t.Errorf("feature table does not mark the known failure:\n%s", buf.String())
	}

	buf.Reset()
	if err := WriteSummary(&buf, &res.Runs[0]); err != nil {
		t.Fatal(err)
	}
	want := "Known failures (excused by a known issue):\n  " + reporttest.IoctlSpec +
		"\n      known issue: IOCTL_DEV half-backported (https://bugs.example.org/7)\n      ioctl(FIONREAD) on /dev/null: got 0, want EACCES\n"
	if !strings.Contains(buf.String(), want) || strings.Contains(buf.String(), "Failed specs:") {
		t.Errorf("summary:\n%s\nwant it to contain\n%s", buf.String(), want)
	}

	buf.Reset()
	if err := WriteJUnit(&buf, res); err != nil {
		t.Fatal(err)
	}
	var got reporters.JUnitTestSuites
	if err := xml.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, c := range got.TestSuites[1].TestCases {
		if c.Name == strings.TrimPrefix(reporttest.IoctlSpec, "fs/") {
			found = true
			if c.Failure != nil || c.Skipped == nil || c.Skipped.Message != "known issue: IOCTL_DEV half-backported (https://bugs.example.org/7)" ||
				!strings.Contains(c.SystemErr, "got 0, want EACCES") || c.Status != string(report.Failed) {
				t.Errorf("known failure in JUnit = %+v, skipped %+v", c, c.Skipped)
			}
		}
	}
	// bookworm's expectation mismatch and bullseye's unexpected lack of Landlock are the
	// failures left.
	if !found || got.Failures != 2 {
		t.Errorf("found %v, failures %d", found, got.Failures)
	}

	buf.Reset()
	if err := report.Encode(&buf, res); err != nil {
		t.Fatal(err)
	}
	back, err := report.Decode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	verdict.Evaluate(back)
	if verdict.ExitCode(back) != verdict.ExitCode(res) || !reflect.DeepEqual(back.Runs[1].Notices, res.Runs[1].Notices) ||
		reporttest.SpecByText(t, back.Runs[0].Suites[0], strings.TrimPrefix(reporttest.IoctlSpec, "fs/")).Known == nil {
		t.Error("known marks or notices lost in the JSON round trip")
	}
}

// TestKnownInCertifiedOutputs: in a certified run a known failure keeps its mark (Bk) but
// every writer shows it unexcused: the summary's heading, a JUnit failure, a KCIDB test not
// waived.
func TestKnownInCertifiedOutputs(t *testing.T) {
	res := knownRun(t)
	res.Runs = res.Runs[:1]
	res.Runs[0].Certified = &report.Certification{}
	if _, err := verdict.ApplyKnownIssues(res, []verdict.KnownIssue{
		{Spec: reporttest.IoctlSpec, Kernel: "trixie", Reason: "IOCTL_DEV half-backported", Where: "known.yaml:2"},
	}); err != nil {
		t.Fatal(err)
	}
	verdict.Evaluate(res)

	var buf bytes.Buffer
	if err := WriteFeatures(&buf, res); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "fs.ioctl_dev  Bk") {
		t.Errorf("feature table does not mark the known failure:\n%s", buf.String())
	}
	buf.Reset()
	if err := WriteSummary(&buf, &res.Runs[0]); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"Known failures (known issues are not excused in a certified run):\n  " + reporttest.IoctlSpec,
		"known issue spec " + reporttest.IoctlSpec + " (known.yaml:2) is not excused in a certified run",
		"Result: FAIL",
	} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, buf.String())
		}
	}

	buf.Reset()
	if err := WriteJUnit(&buf, res); err != nil {
		t.Fatal(err)
	}
	var got reporters.JUnitTestSuites
	if err := xml.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, s := range got.TestSuites {
		for _, c := range s.TestCases {
			if c.Name == strings.TrimPrefix(reporttest.IoctlSpec, "fs/") {
				found = true
				if c.Failure == nil || c.Skipped != nil {
					t.Errorf("certified known failure in JUnit = %+v: want a failure", c)
				}
			}
		}
	}
	if !found {
		t.Error("known spec not in JUnit")
	}

	buf.Reset()
	if err := WriteKCIDB(&buf, res, KCIDBOptions{Origin: "test", RunID: "r1"}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), `"waived": true`) || !strings.Contains(buf.String(), "known_issue") {
		t.Errorf("KCIDB: a certified run's known failure is waived, or its mark is lost:\n%s", buf.String())
	}
}
