package render

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/llconform/llconform/internal/report"
	"github.com/llconform/llconform/internal/verdict"

	"github.com/onsi/ginkgo/v2/reporters"
)

func TestWriteJUnit(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteJUnit(&buf, judged(t)); err != nil {
		t.Fatal(err)
	}
	// Well-formed all the way through, not only up to the first element decoded.
	dec := xml.NewDecoder(bytes.NewReader(buf.Bytes()))
	for {
		if _, err := dec.Token(); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("invalid XML: %v\n%s", err, buf.String())
		}
	}
	var got reporters.JUnitTestSuites
	if err := xml.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatal(err)
	}

	var names []string
	suites := map[string]reporters.JUnitTestSuite{}
	for _, s := range got.TestSuites {
		names = append(names, s.Name)
		suites[s.Name] = s
	}
	wantNames := "trixie/expectations trixie/fs trixie/scope bookworm/expectations bookworm/fs bullseye/expectations bullseye/abi sid/infrastructure"
	if strings.Join(names, " ") != wantNames {
		t.Errorf("testsuites = %s\nwant         %s", strings.Join(names, " "), wantNames)
	}

	fs := suites["trixie/fs"]
	if fs.Tests != 8 || fs.Failures != 1 || fs.Errors != 1 || fs.Skipped != 1 {
		t.Errorf("trixie/fs counts: tests %d failures %d errors %d skipped %d", fs.Tests, fs.Failures, fs.Errors, fs.Skipped)
	}
	cases := map[string]reporters.JUnitTestCase{}
	for _, c := range fs.TestCases {
		if c.Classname != "fs" {
			t.Errorf("classname = %q, want fs", c.Classname)
		}
		cases[c.Name] = c
	}
	if f := cases["ioctl on a char device MUST be denied without FS_IOCTL_DEV"].Failure; f == nil ||
		f.Message != "ioctl(FIONREAD) on /dev/null: got 0, want EACCES" || !strings.Contains(f.Description, "suite_test.go:") {
		t.Errorf("failure = %+v", f)
	}
	if s := cases["link across directories MUST need FS_REFER"].Skipped; s == nil || s.Message != "needs root: running as uid 1000" {
		t.Errorf("skipped = %+v", s)
	}
	if e := cases["SCOPE_SIGNAL MUST allow signals between threads"].Error; e == nil || !strings.Contains(e.Message, "sandbox helper crashed") {
		t.Errorf("panicked spec error = %+v", e)
	}

	scope := suites["trixie/scope"]
	if c := scope.TestCases[0]; c.Error == nil || c.Error.Type != string(report.InfraTimeout) {
		t.Errorf("suite infrastructure error case = %+v", c)
	}
	if c := suites["sid/infrastructure"].TestCases[0]; c.Error == nil || c.Error.Type != string(report.InfraPanic) ||
		!strings.Contains(c.Error.Description, "VFS: Unable to mount root fs") {
		t.Errorf("kernel infrastructure error case = %+v", c)
	}
	if c := suites["bookworm/expectations"].TestCases[0]; c.Failure == nil || c.Failure.Message != "expected ABI 3, kernel claims 2" {
		t.Errorf("expectation case = %+v", c)
	}
	if c := suites["bullseye/expectations"].TestCases[0]; c.Failure == nil || c.Failure.Type != "unverified" {
		t.Errorf("unexpected lack of Landlock = %+v", c)
	}
	// The failed ioctl spec, the effective ABI it lowers, bookworm's ABI and bullseye's
	// unexpected lack of Landlock.
	// Ginkgo's model counts skipped specs as disabled at the top.
	if got.Tests != 26 || got.Failures != 4 || got.Errors != 5 || got.Disabled != 6 {
		t.Errorf("totals: tests %d failures %d errors %d disabled %d", got.Tests, got.Failures, got.Errors, got.Disabled)
	}
	var ms int64
	for _, s := range got.TestSuites {
		if s.Tests != len(s.TestCases) {
			t.Errorf("%s: tests %d, %d testcases", s.Name, s.Tests, len(s.TestCases))
		}
		ms += int64(s.Time*1000 + 0.5)
	}
	if want := float64(ms) / 1000; got.Time != want {
		t.Errorf("total time %v, want the sum of the suites' %v", got.Time, want)
	}
}

// Times are seconds with millisecond precision, written as the shortest decimal (Ginkgo's
// model holds them as float64).
func TestWriteJUnitTimes(t *testing.T) {
	res := &report.Result{Time: time.Date(2026, 11, 29, 20, 8, 15, 0, time.FixedZone("CET", 3600)), Runs: []report.Run{{Kernel: report.Kernel{Name: "k"}, Suites: []report.Suite{{
		Name: "s", Duration: 3066400 * time.Microsecond, Specs: []report.Spec{
			{Text: "a", State: report.Passed, Duration: 57 * time.Millisecond},
			{Text: "b", State: report.Passed, Duration: 1500 * time.Millisecond},
			{Text: "c", State: report.Passed, Duration: 400 * time.Microsecond},
		}}}}}}
	verdict.Evaluate(res)
	var buf bytes.Buffer
	if err := WriteJUnit(&buf, res); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`time="3.066" timestamp="2026-11-29T19:08:15"`,
		`<testcase name="a" classname="s" status="passed" time="0.057">`,
		`<testcase name="b" classname="s" status="passed" time="1.5">`,
		`<testcase name="c" classname="s" status="passed" time="0">`,
	} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("JUnit lacks %s:\n%s", want, buf.String())
		}
	}
}

func TestWriteJUnitEscapes(t *testing.T) {
	res := &report.Result{Runs: []report.Run{{Kernel: report.Kernel{Name: "k"}, Suites: []report.Suite{{Name: "s", Specs: []report.Spec{{
		Text:    `open("<a&b>") MUST fail`,
		State:   report.Failed,
		Failure: &report.Failure{Message: "got \"]]>\" & \x1b[31mred\x1b[0m"},
	}}}}}}}
	verdict.Evaluate(res)
	var buf bytes.Buffer
	if err := WriteJUnit(&buf, res); err != nil {
		t.Fatal(err)
	}
	var got reporters.JUnitTestSuites
	if err := xml.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatalf("invalid XML: %v\n%s", err, buf.String())
	}
	c := got.TestSuites[0].TestCases[0]
	if c.Name != `open("<a&b>") MUST fail` || c.Failure == nil {
		t.Errorf("case = %+v", c)
	}
}
