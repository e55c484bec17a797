package spec

import (
	"flag"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/ginkgo/v2/types"
	"github.com/onsi/gomega"

	"github.com/llconform/llconform/internal/report"
	"github.com/llconform/llconform/internal/sandbox"
	"github.com/llconform/llconform/vm/plan"
)

// Suite is one suite's specs. Every suite is linked into one binary (bin/suites/
// llconform-suites), so that a TCG guest translates the Go runtime, Ginkgo and Gomega once
// rather than once per suite; a suite's containers therefore enter Ginkgo's tree only when
// the binary runs that suite, and its report holds its own specs only.
type Suite struct {
	name       string
	containers []func()
	afterSuite []func()
}

// suites are the registered suites by name.
var suites = map[string]*Suite{}

// NewSuite registers the suite name; each suite package calls it once, when it initialises.
func NewSuite(name string) *Suite {
	if _, dup := suites[name]; dup {
		panic("spec: two suites named " + name) // two packages claim one name: a build defect
	}
	s := &Suite{name: name}
	suites[name] = s
	return s
}

// Describe is Ginkgo's top-level Describe, deferred until the binary runs this suite. Its
// code location is the caller's, as Ginkgo's own would be.
func (s *Suite) Describe(text string, args ...any) bool {
	loc := types.NewCodeLocation(1)
	s.containers = append(s.containers, func() { ginkgo.Describe(text, append([]any{loc}, args...)...) })
	return true
}

// AfterSuite is Ginkgo's AfterSuite for this suite, which Ginkgo allows once per binary.
func (s *Suite) AfterSuite(body func()) bool {
	s.afterSuite = append(s.afterSuite, body)
	return true
}

var (
	// suiteFlag selects the suite the binary runs (plan.SuiteFlag).
	suiteFlag = flag.String(plan.SuiteFlag, "", "the suite to run")
	// listFlag lists the suites the binary holds (plan.ListFlag).
	listFlag = flag.Bool(plan.ListFlag, false, "print the names of the suites this binary holds, one per line, and exit")
	// reportFile is where the suite writes its report for llconform (report.SuiteReportFlag).
	reportFile = flag.String(report.SuiteReportFlag, "", "write the suite's report (Ginkgo's JSON report schema, only the fields llconform reads) to this file")
)

// Main is the suites binary's TestMain: it serves process-mode sandbox helpers, lists the
// suites, or runs the tests (Run).
func Main(m *testing.M) {
	sandbox.Main()
	flag.Parse()
	if *listFlag {
		for _, n := range names() {
			fmt.Println(n)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// names returns the suites' names, sorted.
func names() []string { return slices.Sorted(maps.Keys(suites)) }

// Run runs the selected suite's specs, recording the kernel probe in the report first.
func Run(t *testing.T) {
	s, ok := suites[*suiteFlag]
	if !ok {
		t.Fatalf("-%s=%q: not a suite of this binary, which holds %s", plan.SuiteFlag, *suiteFlag, strings.Join(names(), ", "))
	}
	gomega.RegisterFailHandler(ginkgo.Fail)
	for _, c := range s.containers {
		c()
	}
	ginkgo.BeforeSuite(func() {
		ginkgo.AddReportEntry(report.EntryKernel, Kernel(), ginkgo.ReportEntryVisibilityNever)
	})
	if len(s.afterSuite) > 0 {
		ginkgo.AfterSuite(func() {
			for _, f := range s.afterSuite {
				f()
			}
		})
	}
	ginkgo.ReportAfterSuite("llconform report", func(r ginkgo.Report) {
		if *reportFile == "" {
			return
		}
		gomega.Expect(writeReport(*reportFile, r)).To(gomega.Succeed(), "write the suite's report")
	})
	ginkgo.RunSpecs(t, "llconform "+s.name)
}
