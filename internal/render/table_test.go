package render

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/llconform/llconform/internal/report"
	"github.com/llconform/llconform/internal/report/reporttest"
	"github.com/llconform/llconform/internal/verdict"
)

func TestWriteMatrix(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteMatrix(&buf, judged(t)); err != nil {
		t.Fatal(err)
	}
	want := `KERNEL    ARCH   ABI            ERRATA    FS         SCOPE              ABI    RESULT
trixie    amd64  6 (behaves 4)  0b0111    5/1/1 +1i  1/0/5 +2i timeout  -      FAIL
bookworm  amd64  2              0b1100    2/0/0      -                  -      MISMATCH
bullseye  amd64  not-built      no query  -          -                  1/0/0  NO-LANDLOCK
sid       amd64  ?              ?         panic      panic              panic  INFRA

suite cells: passed/failed/skipped, +Ni for specs with infrastructure errors, +Nk for known failures

trixie:
  mismatch effective-abi: kernel claims ABI 6, behaves as ABI 4: fs.ioctl_dev (ABI 5) is accepted but broken (failed: fs/ioctl on a char device MUST be denied without FS_IOCTL_DEV)
  failed fs/ioctl on a char device MUST be denied without FS_IOCTL_DEV: ioctl(FIONREAD) on /dev/null: got 0, want EACCES

bookworm:
  mismatch abi: expected ABI 3, kernel claims 2

bullseye:
  unverified landlock: Landlock is not-built on this kernel: no conformance was tested (expect: {abi: 0} makes that the expected outcome)
`
	if buf.String() != want {
		t.Errorf("matrix:\n%s\nwant:\n%s", buf.String(), want)
	}
}

func TestWriteSummary(t *testing.T) {
	res := judged(t)
	res.Runs[0].AcceptedABI = intp(5)
	verdict.Evaluate(res)
	var buf bytes.Buffer
	if err := WriteSummary(&buf, &res.Runs[0]); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{
		"Kernel:               trixie (6.12.107+deb13-cloud-amd64, debian:trixie, linux-image-6.12.107+deb13-cloud-amd64 6.12.107-1)\n",
		"Landlock:             available\n",
		"ABI:                  6\n",
		"Errata:               0b0111 [1 2 3]\n",
		"Effective ABI:        4\n",
		"Check effective-abi:  MISMATCH  kernel claims ABI 6, behaves as ABI 4: fs.ioctl_dev (ABI 5) is accepted but broken (failed: fs/ioctl on a char device MUST be denied without FS_IOCTL_DEV)\n",
		"SUITE  PASSED  FAILED  SKIPPED  INFRA  DURATION  NOTE\n",
		"fs     5       1       1        1      1ms",
		"scope  1       0       5        2      2.003s    timeout: Ginkgo: Suite Timeout Elapsed\n",
		"Failed specs:\n  fs/ioctl on a char device MUST be denied without FS_IOCTL_DEV\n      ioctl(FIONREAD) on /dev/null: got 0, want EACCES\n      at " + reporttest.FixtureFile + ":",
		"Specs with infrastructure errors:\n  fs/SCOPE_SIGNAL MUST allow signals between threads\n      panicked: Test Panicked: sandbox helper crashed\n",
		"Result: FAIL\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}

	buf.Reset()
	if err := WriteSummary(&buf, &res.Runs[3]); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"Infrastructure:  panic: kernel panic during boot\n",
		"Console log:     out/sid/console.log\n",
		"  Kernel panic - not syncing",
		"No suite reported.\n",
		"Result: INFRA\n",
	} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("summary of a failed boot lacks %q:\n%s", want, buf.String())
		}
	}
}

func TestWriteFeatures(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteFeatures(&buf, judged(t)); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{
		"FEATURE       trixie  bookworm  bullseye  sid\n",
		"fs.ioctl_dev  B!      -         -         -\n",
		"fs.truncate   W       A         -         -\n",
		"net.tcp       F       -         -         -\n",
		"  X!  erratum advertised but not fixed\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("feature table lacks %q:\n%s", want, out)
		}
	}
	for _, c := range featureCodes {
		if featureCode(report.FeatureResult{Outcome: c.outcome}) != c.code {
			t.Errorf("featureCode(%s) = %q", c.outcome, featureCode(report.FeatureResult{Outcome: c.outcome}))
		}
	}
	if len(featureCodes) != len(report.Outcomes) {
		t.Errorf("%d feature codes for %d outcomes: an outcome has no code", len(featureCodes), len(report.Outcomes))
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestWriteErrors(t *testing.T) {
	res := judged(t)
	for name, err := range map[string]error{
		"summary":  WriteSummary(failingWriter{}, &res.Runs[0]),
		"matrix":   WriteMatrix(failingWriter{}, res),
		"features": WriteFeatures(failingWriter{}, res),
		"junit":    WriteJUnit(failingWriter{}, res),
		"json":     report.Encode(failingWriter{}, res),
	} {
		if err == nil || !strings.Contains(err.Error(), "disk full") {
			t.Errorf("%s: err = %v, want the write error", name, err)
		}
	}
}

func intp(n int) *int { return &n }

// A compat run is a column of its own; one on a kernel without IA32 emulation says why it
// is not applicable, in the matrix, the summary and the HTML report.
func TestCompatRuns(t *testing.T) {
	res := judged(t)
	native := res.Runs[0]
	compat := native
	compat.Kernel.Name = report.CompatRunName(native.Kernel.Name, "386")
	compat.Compat = &report.Compat{Arch: "386", Native: native.Kernel.Name}
	na := report.Run{Kernel: res.Runs[1].Kernel, Expect: res.Runs[1].Expect,
		Compat: &report.Compat{Arch: "386", Native: res.Runs[1].Kernel.Name, NotApplicable: "the kernel does not execute 32-bit x86 programs (exec format error): built without IA32 emulation"}}
	na.Kernel.Name = report.CompatRunName(na.Kernel.Name, "386")
	res.Runs = []report.Run{native, compat, res.Runs[1], na}
	verdict.Evaluate(res)
	if n, _ := countKernels(res); n != 2 {
		t.Errorf("countKernels = %d, want 2: a compat run shares its kernel's boot", n)
	}
	var buf bytes.Buffer
	if err := WriteMatrix(&buf, res); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"\ntrixie/386    amd64  6 (behaves 4)  0b0111  5/1/1 +1i",
		"\nbookworm/386  amd64  ?              ?       -          -                  N/A\n",
		"bookworm/386:\n  not applicable: the kernel does not execute 32-bit x86 programs (exec format error): built without IA32 emulation\n",
	} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("matrix lacks %q:\n%s", want, buf.String())
		}
	}
	buf.Reset()
	if err := WriteSummary(&buf, &res.Runs[3]); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"Compat:          the suites' 386 build, through the compat system calls of bookworm's kernel\n",
		"Not applicable:  the kernel does not execute 32-bit x86 programs",
		"Result: N/A\n",
	} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, buf.String())
		}
	}
	buf.Reset()
	if err := WriteHTML(&buf, res, HTMLOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"c-na", "bookworm/386", "not applicable", "built without IA32 emulation"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("HTML report lacks %q", want)
		}
	}
}
