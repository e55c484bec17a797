package report

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/onsi/ginkgo/v2/types"
)

// The testdata/ginkgo-*.json fixtures are real reports of the throwaway suite in
// testdata/ginkgosuite (never built by ./...). To regenerate them, from the module root:
//
//	go test -trimpath -c -o /tmp/fixture.test ./internal/report/testdata/ginkgosuite
//	TD=$PWD/internal/report/testdata; cd /tmp
//	./fixture.test --ginkgo.seed=1 --ginkgo.json-report=$TD/ginkgo-mixed.json
//	FIXTURE_FAIL_BEFORE_SUITE=1 ./fixture.test --ginkgo.seed=1 --ginkgo.json-report=$TD/ginkgo-beforesuite-failed.json
//	FIXTURE_SKIP_SUITE=1 ./fixture.test --ginkgo.seed=1 --ginkgo.json-report=$TD/ginkgo-suite-skipped.json
//	FIXTURE_HANG=1 ./fixture.test --ginkgo.seed=1 --ginkgo.timeout=2s --ginkgo.json-report=$TD/ginkgo-timeout.json
//
// The suite binary exits 1 for all but the skipped run: its specs fail on purpose.

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func importFixture(t *testing.T, name, suite string) Suite {
	t.Helper()
	s, err := ImportGinkgo(readFixture(t, name), suite)
	if err != nil {
		t.Fatalf("ImportGinkgo(%s): %v", name, err)
	}
	return s
}

func specByText(t *testing.T, s Suite, text string) Spec {
	t.Helper()
	for _, sp := range s.Specs {
		if sp.Text == text {
			return sp
		}
	}
	t.Fatalf("suite %s has no spec %q", s.Name, text)
	return Spec{}
}

const fixtureFile = "github.com/llconform/llconform/internal/report/testdata/ginkgosuite/suite_test.go"

func TestImportGinkgoMixed(t *testing.T) {
	s := importFixture(t, "ginkgo-mixed.json", "fs")

	wantKernel := &KernelInfo{
		Release:     "6.12.107+deb13-cloud-amd64",
		Status:      StatusAvailable,
		ABI:         6,
		Errata:      0b0111,
		ErrataQuery: true,
	}
	if !reflect.DeepEqual(s.Kernel, wantKernel) {
		t.Errorf("Kernel = %+v, want %+v", s.Kernel, wantKernel)
	}
	if s.AcceptedABI == nil || *s.AcceptedABI != 6 {
		t.Errorf("EffectiveABI = %v, want 6", s.AcceptedABI)
	}
	if s.Infra != nil {
		t.Errorf("Infra = %+v, want nil", s.Infra)
	}
	if want := (Counts{Passed: 5, Failed: 1, Skipped: 1, Infra: 1}); s.Counts != want {
		t.Errorf("Counts = %+v, want %+v", s.Counts, want)
	}
	if len(s.Specs) != 8 {
		t.Errorf("%d specs, want 8 (suite-level nodes must not count)", len(s.Specs))
	}
	if s.Duration <= 0 {
		t.Errorf("Duration = %v, want > 0", s.Duration)
	}

	trunc := specByText(t, s, "truncate ftruncate MUST be denied without FS_TRUNCATE")
	if trunc.ID != "fs/truncate ftruncate MUST be denied without FS_TRUNCATE" {
		t.Errorf("ID = %q", trunc.ID)
	}
	if trunc.State != Passed || trunc.Feature != "fs.truncate" || trunc.ABI != 3 {
		t.Errorf("container labels not applied: %+v", trunc)
	}
	if want := []Verdict{{Feature: "fs.truncate", ABI: 3, Outcome: Works}}; !reflect.DeepEqual(trunc.Verdicts, want) {
		t.Errorf("Verdicts = %+v, want %+v", trunc.Verdicts, want)
	}

	ioctl := specByText(t, s, "ioctl on a char device MUST be denied without FS_IOCTL_DEV")
	if ioctl.State != Failed || ioctl.Failure == nil ||
		ioctl.Failure.Message != "ioctl(FIONREAD) on /dev/null: got 0, want EACCES" ||
		!strings.HasPrefix(ioctl.Failure.Location, fixtureFile+":") {
		t.Errorf("failed spec = %+v, failure %+v", ioctl, ioctl.Failure)
	}

	refer := specByText(t, s, "link across directories MUST need FS_REFER")
	if refer.State != Skipped || refer.SkipReason != "needs root: running as uid 1000" || refer.Failure != nil {
		t.Errorf("skipped spec = %+v", refer)
	}
	if !reflect.DeepEqual(refer.Needs, []string{"root"}) {
		t.Errorf("Needs = %q", refer.Needs)
	}

	tcp := specByText(t, s, "NET_BIND_TCP MUST NOT restrict SCTP")
	wantTCP := []Verdict{{Feature: "net.tcp", ABI: 4, Erratum: 1, Outcome: ErratumFixed, Detail: "bind on SCTP socket allowed"}}
	if tcp.Erratum != 1 || !reflect.DeepEqual(tcp.Needs, []string{"module:sctp"}) || !reflect.DeepEqual(tcp.Verdicts, wantTCP) {
		t.Errorf("erratum spec = %+v", tcp)
	}

	signal := specByText(t, s, "SCOPE_SIGNAL MUST allow signals between threads")
	if signal.State != InfraState || signal.Failure == nil || signal.Failure.Message != "panicked: Test Panicked: sandbox helper crashed" {
		t.Errorf("panicked spec = %+v, failure %+v", signal, signal.Failure)
	}
}

func TestImportGinkgoBeforeSuiteFailed(t *testing.T) {
	s := importFixture(t, "ginkgo-beforesuite-failed.json", "fs")
	if s.Infra == nil || s.Infra.Kind != InfraSuiteSetup {
		t.Fatalf("Infra = %+v, want kind %s", s.Infra, InfraSuiteSetup)
	}
	for _, want := range []string{"BeforeSuite failed", "cannot probe Landlock: operation not permitted", "no spec ran of 8 planned"} {
		if !strings.Contains(s.Infra.Message, want) {
			t.Errorf("Infra.Message = %q, want it to contain %q", s.Infra.Message, want)
		}
	}
	if len(s.Specs) != 0 || s.Counts != (Counts{}) {
		t.Errorf("specs = %d, counts %+v; want none", len(s.Specs), s.Counts)
	}
	// The entry was attached before the failure: the kernel is still known.
	if s.Kernel == nil || s.Kernel.ABI != 6 {
		t.Errorf("Kernel = %+v, want ABI 6", s.Kernel)
	}
}

func TestImportGinkgoSuiteSkipped(t *testing.T) {
	s := importFixture(t, "ginkgo-suite-skipped.json", "fs")
	if s.Infra != nil {
		t.Errorf("Infra = %+v: a suite skipped on purpose is no infrastructure error", s.Infra)
	}
	if s.Counts != (Counts{Skipped: 8}) {
		t.Errorf("Counts = %+v, want 8 skipped", s.Counts)
	}
	for _, sp := range s.Specs {
		if !strings.Contains(sp.SkipReason, "ENOSYS") {
			t.Errorf("spec %q: SkipReason = %q, want the BeforeSuite's reason", sp.Text, sp.SkipReason)
		}
	}
}

func TestImportGinkgoTimeout(t *testing.T) {
	s := importFixture(t, "ginkgo-timeout.json", "scope")
	if s.Infra == nil || s.Infra.Kind != InfraTimeout {
		t.Fatalf("Infra = %+v, want kind %s", s.Infra, InfraTimeout)
	}
	hung := specByText(t, s, "TSYNC MUST restrict every thread")
	if hung.State != InfraState || !strings.HasPrefix(hung.Failure.Message, "timedout: ") {
		t.Errorf("timed out spec = %+v, failure %+v", hung, hung.Failure)
	}
	for _, sp := range s.Specs {
		if sp.State == Skipped && sp.SkipReason == "" {
			t.Errorf("spec %q skipped without a reason", sp.Text)
		}
	}
	ioctl := specByText(t, s, "ioctl on a char device MUST be denied without FS_IOCTL_DEV")
	if ioctl.State != Skipped || !strings.Contains(ioctl.SkipReason, "timeout") {
		t.Errorf("spec never started: %+v", ioctl)
	}
}

func TestImportGinkgoInvalid(t *testing.T) {
	mixed := readFixture(t, "ginkgo-mixed.json")
	tests := []struct {
		name, data, want string
	}{
		{"empty", "", "empty"},
		{"blank", " \n", "empty"},
		{"truncated", string(mixed[:len(mixed)/2]), "truncated"},
		{"truncated at end", string(mixed[:len(mixed)-2]) + "\n", "truncated"},
		{"not JSON", "<html>502 Bad Gateway</html>", "not valid"},
		{"wrong shape", `{"SuitePath": "/x"}`, "not valid"},
		{"no report", "[]", "holds 0 suite reports"},
		{"two reports", "[" + string(mixed[1:len(mixed)-2]) + "," + string(mixed[1:]), "holds 2 suite reports"},
		{"empty report", "[{}]", "no start time"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := ImportGinkgo([]byte(tt.data), "fs")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
			if s.Name != "" || s.Specs != nil {
				t.Errorf("got a partial suite alongside the error: %+v", s)
			}
		})
	}
	// Wherever the cut falls, a truncated report is an error, never a shorter suite.
	for n := 1; n < len(mixed)-1; n += 211 {
		if _, err := ImportGinkgo(mixed[:n], "fs"); err == nil || !strings.Contains(err.Error(), "truncated") {
			t.Fatalf("cut at %d of %d: err = %v, want truncated", n, len(mixed), err)
		}
	}
}

// reportWith builds a one-spec Ginkgo report whose It carries entry, the way an in-process
// suite would, and serialises it the way --ginkgo.json-report does.
func reportWith(t *testing.T, labels []string, entries ...types.ReportEntry) []byte {
	t.Helper()
	rep := types.Report{
		SuiteDescription: "synthetic",
		StartTime:        time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		SpecReports: types.SpecReports{{
			LeafNodeType:   types.NodeTypeIt,
			LeafNodeText:   "a spec MUST do its thing",
			LeafNodeLabels: labels,
			State:          types.SpecStatePassed,
			ReportEntries:  entries,
		}},
	}
	data, err := json.Marshal([]types.Report{rep})
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestImportGinkgoEntries(t *testing.T) {
	entry := func(name string, v any) types.ReportEntry {
		return types.ReportEntry{Name: name, Value: types.WrapEntryValue(v)}
	}
	t.Run("pointer value", func(t *testing.T) {
		v := &Verdict{Feature: "net.udp", ABI: 10, Outcome: Absent}
		s, err := ImportGinkgo(reportWith(t, []string{"net.udp", "abi:10"}, entry(EntryVerdict, v)), "net")
		if err != nil {
			t.Fatal(err)
		}
		if got := s.Specs[0].Verdicts; len(got) != 1 || got[0] != *v {
			t.Errorf("Verdicts = %+v, want %+v", got, *v)
		}
	})
	t.Run("verdict feature defaults to the spec's", func(t *testing.T) {
		s, err := ImportGinkgo(reportWith(t, []string{"fs.refer", "abi:2"}, entry(EntryVerdict, Verdict{Outcome: Works})), "fs")
		if err != nil {
			t.Fatal(err)
		}
		if got := s.Specs[0].Verdicts[0].Feature; got != "fs.refer" {
			t.Errorf("Feature = %q, want fs.refer", got)
		}
	})
	bad := []struct {
		name   string
		labels []string
		entry  types.ReportEntry
		want   string
	}{
		{"foreign struct", nil, entry(EntryVerdict, struct{ Verdict string }{"ok"}), "unknown field"},
		{"unknown outcome", nil, entry(EntryVerdict, Verdict{Feature: "fs.x", Outcome: "great"}), `unknown outcome "great"`},
		{"accepted ABI not a number", nil, entry(EntryAcceptedABI, "six"), EntryAcceptedABI},
		{"bad abi label", []string{"abi:three"}, entry("other", 1), `label "abi:three"`},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ImportGinkgo(reportWith(t, tt.labels, tt.entry), "fs")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestImportGinkgoDuplicateText(t *testing.T) {
	data := reportWith(t, nil)
	var reps []types.Report
	if err := json.Unmarshal(data, &reps); err != nil {
		t.Fatal(err)
	}
	reps[0].SpecReports = append(reps[0].SpecReports, reps[0].SpecReports[0])
	data, err := json.Marshal(reps)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ImportGinkgo(data, "abi")
	if err != nil {
		t.Fatal(err)
	}
	if s.Specs[0].ID != "abi/a spec MUST do its thing" || s.Specs[1].ID != "abi/a spec MUST do its thing #2" {
		t.Errorf("IDs = %q, %q", s.Specs[0].ID, s.Specs[1].ID)
	}
}
