// Package reporttest builds sample results for the tests of the packages that judge and
// render them (verdict, render), from the real Ginkgo reports in internal/report/testdata
// (see internal/report/ginkgo_test.go for how they are made).
package reporttest

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/llconform/llconform/internal/report"
)

// FixtureFile is the source file of the fixture suite, as the Ginkgo reports name it.
const FixtureFile = "github.com/llconform/llconform/internal/report/testdata/ginkgosuite/suite_test.go"

// testdata is internal/report/testdata, wherever the test that asks runs.
func testdata(t *testing.T) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("reporttest: cannot locate its own source")
	}
	return filepath.Join(filepath.Dir(file), "..", "testdata")
}

// ImportFixture imports the Ginkgo report testdata/name as suite.
func ImportFixture(t *testing.T, name, suite string) report.Suite {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(testdata(t), name))
	if err != nil {
		t.Fatal(err)
	}
	s, err := report.ImportGinkgo(data, suite)
	if err != nil {
		t.Fatalf("ImportGinkgo(%s): %v", name, err)
	}
	return s
}

// SpecByText returns the spec of s whose full text is text.
func SpecByText(t *testing.T, s report.Suite, text string) report.Spec {
	t.Helper()
	for _, sp := range s.Specs {
		if sp.Text == text {
			return sp
		}
	}
	t.Fatalf("suite %s has no spec %q", s.Name, text)
	return report.Spec{}
}

func intp(n int) *int { return &n }

// Sample is a four-kernel matrix: trixie from the real Ginkgo fixtures (failures, a
// panic, a suite timeout), bookworm with an expectation mismatch, bullseye without Landlock,
// sid that panicked at boot.
func Sample(t *testing.T) *report.Result {
	t.Helper()
	res := &report.Result{
		Schema:    report.Schema,
		Generator: "llconform test",
		Time:      time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC),
	}

	trixie := report.Run{
		Kernel: report.Kernel{Name: "trixie", Release: "6.12.107+deb13-cloud-amd64", Package: "linux-image-6.12.107+deb13-cloud-amd64",
			Version: "6.12.107-1", Source: "debian:trixie"},
		Expect: &report.Expect{ABI: intp(6), Errata: []int{1, 2, 3}},
	}
	fs := ImportFixture(t, "ginkgo-mixed.json", "fs")
	fs.ExitCode = intp(1)
	fs.Output = "out/trixie/fs.log"
	scope := ImportFixture(t, "ginkgo-timeout.json", "scope")
	for _, s := range []report.Suite{fs, scope} {
		if err := trixie.AddSuite(s); err != nil {
			t.Fatal(err)
		}
	}

	bookworm := report.Run{Kernel: report.Kernel{Name: "bookworm", Source: "debian:bookworm"}, Expect: &report.Expect{ABI: intp(3)}}
	bw := report.Suite{
		Name: "fs",
		Specs: []report.Spec{
			{ID: "fs/REFER MUST be handled", Text: "REFER MUST be handled", Labels: []string{"fs.refer", "abi:2"},
				Feature: "fs.refer", ABI: 2, State: report.Passed, Duration: 3 * time.Millisecond},
			{ID: "fs/TRUNCATE MUST be rejected", Text: "TRUNCATE MUST be rejected", Labels: []string{"fs.truncate", "abi:3"},
				Feature: "fs.truncate", ABI: 3, State: report.Passed, Duration: time.Millisecond},
		},
		Duration: 1500 * time.Millisecond,
		ExitCode: intp(0),
		Kernel:   &report.KernelInfo{Release: "6.1.0-56-cloud-amd64", Status: report.StatusAvailable, ABI: 2, Errata: 0b1100, ErrataQuery: true},
	}
	bw.Recount()
	if err := bookworm.AddSuite(bw); err != nil {
		t.Fatal(err)
	}

	bullseye := report.Run{Kernel: report.Kernel{Name: "bullseye"}}
	bl := report.Suite{
		Name:   "abi",
		Specs:  []report.Spec{{ID: "abi/version MUST be ENOSYS", Text: "version MUST be ENOSYS", State: report.Passed}},
		Kernel: &report.KernelInfo{Release: "5.10.0-32-cloud-amd64", Status: report.StatusNotBuilt, Error: "function not implemented"},
	}
	bl.Recount()
	if err := bullseye.AddSuite(bl); err != nil {
		t.Fatal(err)
	}

	sid := report.Run{
		Kernel: report.Kernel{Name: "sid"},
		Infra: &report.InfraError{Kind: report.InfraPanic, Message: "kernel panic during boot",
			ConsoleTail: "Kernel panic - not syncing: VFS: Unable to mount root fs", ConsoleLog: "out/sid/console.log"},
	}
	res.Runs = []report.Run{trixie, bookworm, bullseye, sid}
	return res
}

// IoctlSpec is the ID of the spec that fails in the fixture's fs suite (feature
// fs.ioctl_dev), the one known-issue tests excuse.
const IoctlSpec = "fs/ioctl on a char device MUST be denied without FS_IOCTL_DEV"
