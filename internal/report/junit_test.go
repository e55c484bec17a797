package report

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestWriteJUnit(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteJUnit(&buf, sampleResult(t)); err != nil {
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
	var got junitSuites
	if err := xml.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatal(err)
	}

	var names []string
	suites := map[string]junitSuite{}
	for _, s := range got.Suites {
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
	cases := map[string]junitCase{}
	for _, c := range fs.Cases {
		if c.Classname != "fs" {
			t.Errorf("classname = %q, want fs", c.Classname)
		}
		cases[c.Name] = c
	}
	if f := cases["ioctl on a char device MUST be denied without FS_IOCTL_DEV"].Failure; f == nil ||
		f.Message != "ioctl(FIONREAD) on /dev/null: got 0, want EACCES" || !strings.Contains(f.Body, "suite_test.go:") {
		t.Errorf("failure = %+v", f)
	}
	if s := cases["link across directories MUST need FS_REFER"].Skipped; s == nil || s.Message != "needs root: running as uid 1000" {
		t.Errorf("skipped = %+v", s)
	}
	if e := cases["SCOPE_SIGNAL MUST allow signals between threads"].Error; e == nil || !strings.Contains(e.Message, "sandbox helper crashed") {
		t.Errorf("panicked spec error = %+v", e)
	}

	scope := suites["trixie/scope"]
	if c := scope.Cases[0]; c.Error == nil || c.Error.Type != string(InfraTimeout) {
		t.Errorf("suite infrastructure error case = %+v", c)
	}
	if c := suites["sid/infrastructure"].Cases[0]; c.Error == nil || c.Error.Type != string(InfraPanic) ||
		!strings.Contains(c.Error.Body, "VFS: Unable to mount root fs") {
		t.Errorf("kernel infrastructure error case = %+v", c)
	}
	if c := suites["bookworm/expectations"].Cases[0]; c.Failure == nil || c.Failure.Message != "expected ABI 3, kernel claims 2" {
		t.Errorf("expectation case = %+v", c)
	}
	if c := suites["bullseye/expectations"].Cases[0]; c.Failure == nil || c.Failure.Type != "unverified" {
		t.Errorf("unexpected lack of Landlock = %+v", c)
	}
	// The failed ioctl spec, the effective ABI it lowers, bookworm's ABI and bullseye's
	// unexpected lack of Landlock.
	if got.Tests != 26 || got.Failures != 4 || got.Errors != 5 || got.Skipped != 6 {
		t.Errorf("totals: tests %d failures %d errors %d skipped %d", got.Tests, got.Failures, got.Errors, got.Skipped)
	}
}

func TestWriteJUnitEscapes(t *testing.T) {
	res := &Result{Runs: []Run{{Kernel: Kernel{Name: "k"}, Suites: []Suite{{Name: "s", Specs: []Spec{{
		Text:    `open("<a&b>") MUST fail`,
		State:   Failed,
		Failure: &Failure{Message: "got \"]]>\" & \x1b[31mred\x1b[0m"},
	}}}}}}}
	var buf bytes.Buffer
	if err := WriteJUnit(&buf, res); err != nil {
		t.Fatal(err)
	}
	var got junitSuites
	if err := xml.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatalf("invalid XML: %v\n%s", err, buf.String())
	}
	c := got.Suites[0].Cases[0]
	if c.Name != `open("<a&b>") MUST fail` || c.Failure == nil {
		t.Errorf("case = %+v", c)
	}
}
