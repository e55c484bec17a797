package spec

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/onsi/ginkgo/v2/reporters"
	"github.com/onsi/ginkgo/v2/types"

	"github.com/llconform/llconform/internal/report"
)

// The compact report reads back exactly as Ginkgo's own JSON report does, smaller.
func TestWriteReportImportsLikeGinkgos(t *testing.T) {
	start := time.Date(2026, 11, 30, 1, 0, 0, 0, time.UTC)
	loc := types.CodeLocation{FileName: "x_test.go", LineNumber: 7}
	events := types.SpecEvents{{SpecEventType: types.SpecEventByStart, Message: "open the file", CodeLocation: loc, Duration: time.Millisecond}}
	r := types.Report{SuiteDescription: "llconform x", SuiteSucceeded: false, StartTime: start, EndTime: start.Add(time.Second), RunTime: time.Second,
		PreRunStats:                types.PreRunStats{TotalSpecs: 5, SpecsThatWillRun: 4},
		SpecialSuiteFailureReasons: []string{"Interrupted by User"},
		SpecReports: types.SpecReports{
			{LeafNodeType: types.NodeTypeBeforeSuite, State: types.SpecStatePassed, StartTime: start, EndTime: start,
				ReportEntries: types.ReportEntries{{Name: report.EntryKernel, Value: types.WrapEntryValue(report.KernelInfo{Release: "7.3.4", ABI: 11})}}},
			{ContainerHierarchyTexts: []string{"read"}, ContainerHierarchyLabels: [][]string{{"fs"}}, ContainerHierarchyLocations: []types.CodeLocation{loc},
				LeafNodeType: types.NodeTypeIt, LeafNodeText: "MUST deny", LeafNodeLabels: []string{"fs.read_file", "abi:1", "id:x.deny"}, LeafNodeLocation: loc,
				State: types.SpecStatePassed, StartTime: start, EndTime: start.Add(time.Millisecond), RunTime: time.Millisecond, SpecEvents: events,
				ReportEntries: types.ReportEntries{{Name: report.EntryVerdict, Value: types.WrapEntryValue(report.Verdict{Feature: "fs.read_file", ABI: 1, Outcome: report.Works})}}},
			{LeafNodeType: types.NodeTypeIt, LeafNodeText: "MUST allow", LeafNodeLabels: []string{"fs.read_file", "fs", "abi:1", "id:x.allow"},
				State: types.SpecStateFailed, Failure: types.Failure{Message: "open: got EACCES, want success", Location: loc}, SpecEvents: events},
			{LeafNodeType: types.NodeTypeIt, LeafNodeText: "MUST skip", LeafNodeLabels: []string{"net", "abi:4", "id:x.skip"},
				State: types.SpecStateSkipped, Failure: types.Failure{Message: "ABI 3 has no network rights", Location: loc}},
			{LeafNodeType: types.NodeTypeIt, LeafNodeText: "MUST not panic", LeafNodeLabels: []string{"net", "abi:4", "id:x.panic"},
				State: types.SpecStatePanicked, Failure: types.Failure{Message: "Test Panicked", ForwardedPanic: "nil map", Location: loc}},
			{LeafNodeType: types.NodeTypeIt, LeafNodeText: "MUST not run", LeafNodeLabels: []string{"id:x.never"}, State: types.SpecStateSkipped},
		}}
	dir := t.TempDir()
	ginkgoFile, ours := filepath.Join(dir, "ginkgo.json"), filepath.Join(dir, "ours.json")
	if err := reporters.GenerateJSONReport(r, ginkgoFile); err != nil {
		t.Fatal(err)
	}
	if err := writeReport(ours, r); err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(ginkgoFile)
	b, _ := os.ReadFile(ours)
	want, err := report.ImportGinkgo(a, "x")
	if err != nil {
		t.Fatal(err)
	}
	got, err := report.ImportGinkgo(b, "x")
	if err != nil {
		t.Fatal(err)
	}
	if len(want.Specs) != 5 || want.Kernel == nil || want.Kernel.ABI != 11 || want.Specs[1].Failure == nil || len(want.Specs[0].Verdicts) != 1 ||
		want.Infra == nil || want.Specs[2].SkipReason == "" || want.Specs[0].Text != "read MUST deny" {
		t.Fatalf("Ginkgo's report imported as %+v: the fixture lost what it is for", want)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("imported compact report:\n%+v\nwant, as from Ginkgo's:\n%+v", got, want)
	}
	if len(b) >= len(a) || bytes.Contains(b, []byte("open the file")) {
		t.Errorf("compact report: %d bytes against %d, spec events in it: %v", len(b), len(a), bytes.Contains(b, []byte("open the file")))
	}
	if len(r.SpecReports[1].SpecEvents) != 1 {
		t.Error("writeReport changed the caller's report")
	}
}
