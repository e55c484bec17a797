// Package ginkgosuite is a throwaway Ginkgo suite whose JSON reports are the import fixtures
// of internal/report. It lives under testdata so that ./... never builds or runs it; see
// import_test.go for the commands that regenerate the fixtures.
package ginkgosuite

import (
	"os"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"

	"github.com/llconform/llconform/internal/report"
)

func TestFixture(t *testing.T) {
	RunSpecs(t, "fixture")
}

var _ = BeforeSuite(func() {
	AddReportEntry(report.EntryKernel, report.KernelInfo{
		Release:     "6.12.107+deb13-cloud-amd64",
		Status:      report.StatusAvailable,
		ABI:         6,
		Errata:      0b0111,
		ErrataQuery: true,
	})
	if os.Getenv("FIXTURE_FAIL_BEFORE_SUITE") != "" {
		Fail("cannot probe Landlock: operation not permitted")
	}
	if os.Getenv("FIXTURE_SKIP_SUITE") != "" {
		Skip("Landlock is not built into this kernel (ENOSYS)")
	}
})

var _ = AfterSuite(func() {})

var _ = Describe("truncate", Label("fs.truncate", "abi:3"), func() {
	It("ftruncate MUST be denied without FS_TRUNCATE", func() {
		AddReportEntry(report.EntryVerdict, report.Verdict{
			Feature: "fs.truncate",
			ABI:     3,
			Outcome: report.Works,
		})
	})
	It("O_TRUNC MUST be denied without FS_TRUNCATE", func() {})
})

var _ = It("ioctl on a char device MUST be denied without FS_IOCTL_DEV", Label("fs.ioctl_dev", "abi:5"), func() {
	Fail("ioctl(FIONREAD) on /dev/null: got 0, want EACCES")
})

var _ = It("link across directories MUST need FS_REFER", Label("fs.refer", "abi:2", "needs:root"), func() {
	Skip("needs root: running as uid 1000")
})

var _ = It("NET_BIND_TCP MUST NOT restrict SCTP", Label("net.tcp", "abi:4", "erratum:1", "needs:module:sctp"), func() {
	AddReportEntry(report.EntryVerdict, report.Verdict{
		Feature: "net.tcp",
		ABI:     4,
		Erratum: 1,
		Outcome: report.ErratumFixed,
		Detail:  "bind on SCTP socket allowed",
	})
})

var _ = It("the effective ABI MUST equal the claimed ABI", Label("abi.version", "abi:1"), func() {
	AddReportEntry(report.EntryAcceptedABI, 6)
})

var _ = It("SCOPE_SIGNAL MUST allow signals between threads", Label("scope.signal", "abi:6", "erratum:2"), func() {
	panic("sandbox helper crashed")
})

var _ = It("TSYNC MUST restrict every thread", Label("scope.tsync", "abi:8"), func(ctx SpecContext) {
	if os.Getenv("FIXTURE_HANG") != "" {
		select {
		case <-ctx.Done():
		case <-time.After(time.Minute):
		}
	}
})
