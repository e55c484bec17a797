package collect

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/onsi/ginkgo/v2/types"

	benchresult "github.com/llconform/llconform/bench/result"
	"github.com/llconform/llconform/internal/report"
	"github.com/llconform/llconform/vm"
	"github.com/llconform/llconform/vm/kernel"
	"github.com/llconform/llconform/vm/plan"
	"github.com/llconform/llconform/vm/qemu"
)

// ginkgoReport returns a Ginkgo JSON report of one suite whose specs end in the states
// given, each labelled with a feature and an ABI.
func ginkgoReport(t *testing.T, states ...types.SpecState) []byte {
	t.Helper()
	rep := types.Report{SuitePath: "/suites/fs", StartTime: time.Unix(1, 0), RunTime: time.Second}
	for i, st := range states {
		sr := types.SpecReport{
			LeafNodeType:   types.NodeTypeIt,
			LeafNodeText:   "open MUST be denied " + string(rune('a'+i)),
			LeafNodeLabels: []string{"fs.read_file", "abi:1"},
			State:          st,
		}
		if st == types.SpecStateFailed {
			sr.Failure = types.Failure{Message: "got 0, want EACCES"}
		}
		rep.SpecReports = append(rep.SpecReports, sr)
	}
	b, err := json.Marshal([]types.Report{rep})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func received(o plan.Outcome) plan.Received { return plan.Received{Outcome: o, Ended: true} }

func TestImportSuiteNeverPassesSilently(t *testing.T) {
	ok := ginkgoReport(t, types.SpecStatePassed)
	for _, tt := range []struct {
		name string
		o    plan.Outcome
		want report.InfraKind // empty for none
	}{
		{"passed", plan.Outcome{Report: ok}, ""},
		{"spec failed", plan.Outcome{Status: plan.Status{ExitCode: 1}, Report: ginkgoReport(t, types.SpecStateFailed)}, ""},
		{"no report", plan.Outcome{Status: plan.Status{ExitCode: 1}}, report.InfraNoReport},
		{"truncated report", plan.Outcome{Status: plan.Status{ExitCode: 0}, Report: []byte(`[{"SuitePath": "x"`)}, report.InfraTruncatedReport},
		{"timeout without report", plan.Outcome{Status: plan.Status{ExitCode: -1, TimedOut: true}}, report.InfraTimeout},
		{"timeout with truncated report", plan.Outcome{Status: plan.Status{ExitCode: -1, TimedOut: true}, Report: []byte(`[{"SuitePath": "x"`)}, report.InfraTimeout},
		{"timeout with report", plan.Outcome{Status: plan.Status{ExitCode: -1, TimedOut: true}, Report: ok}, report.InfraTimeout},
		{"killed", plan.Outcome{Status: plan.Status{ExitCode: -1, Signal: "SIGKILL"}, Report: ok}, report.InfraInterrupted},
		{"failed with no failing spec", plan.Outcome{Status: plan.Status{ExitCode: 2}, Report: ok}, report.InfraSuiteFailed},
	} {
		s := importSuite("fs", tt.o, "fs.log")
		var got report.InfraKind
		if s.Infra != nil {
			got = s.Infra.Kind
		}
		if got != tt.want {
			t.Errorf("%s: infra = %+v, want kind %q", tt.name, s.Infra, tt.want)
		}
		if s.ExitCode == nil || *s.ExitCode != tt.o.Status.ExitCode || s.Output != "fs.log" {
			t.Errorf("%s: exit code %v, output %q; want %d, fs.log", tt.name, s.ExitCode, s.Output, tt.o.Status.ExitCode)
		}
	}
}

// A suite that overran its timeout and wrote its report on SIGTERM (Ginkgo says
// "Interrupted by User") is a timeout, and the specs it had finished are kept.
func TestImportSuiteTimeoutKeepsFinishedSpecs(t *testing.T) {
	var reps []types.Report
	if err := json.Unmarshal(ginkgoReport(t, types.SpecStatePassed, types.SpecStatePassed, types.SpecStateInterrupted), &reps); err != nil {
		t.Fatal(err)
	}
	reps[0].SpecialSuiteFailureReasons = []string{"Interrupted by User"}
	b, err := json.Marshal(reps)
	if err != nil {
		t.Fatal(err)
	}
	s := importSuite("fs", plan.Outcome{Status: plan.Status{ExitCode: 1, TimedOut: true, DurationMS: 2000}, Report: b}, "fs.log")
	if s.Infra == nil || s.Infra.Kind != report.InfraTimeout {
		t.Fatalf("Infra = %+v, want kind %s", s.Infra, report.InfraTimeout)
	}
	if !strings.Contains(s.Infra.Message, "timed out after 2000ms") {
		t.Errorf("Infra.Message = %q, want it to say the suite timed out", s.Infra.Message)
	}
	if s.Counts.Passed != 2 || len(s.Specs) != 3 {
		t.Errorf("Counts = %+v with %d specs, want the 2 passed specs kept of 3", s.Counts, len(s.Specs))
	}
}

// An infrastructure error says how the suite ended and how its output ended, so that a
// reader of the report needs no log to see what went wrong.
func TestDescribeOutcome(t *testing.T) {
	o := plan.Outcome{
		Status: plan.Status{ExitCode: -1, TimedOut: true, DurationMS: 300000, Error: "report: no such file"},
		Output: []byte("a\n\nb\nc\nd\ne\nf\n\n"),
	}
	want := "suite fs: Ginkgo report is empty; timed out after 300000ms; report: no such file; output ends: b | c | d | e | f"
	if got := describeOutcome(o, errors.New("suite fs: Ginkgo report is empty")); got != want {
		t.Errorf("describeOutcome = %q\nwant %q", got, want)
	}
	if got, want := describeOutcome(plan.Outcome{Status: plan.Status{Signal: "SIGKILL", ExitCode: -1}}, nil), "killed by SIGKILL"; got != want {
		t.Errorf("describeOutcome = %q, want %q", got, want)
	}
}

func TestInfraKind(t *testing.T) {
	for c, want := range map[qemu.Class]report.InfraKind{
		qemu.Panic:           report.InfraPanic,
		qemu.Timeout:         report.InfraTimeout,
		qemu.TruncatedReport: report.InfraTruncatedReport,
		qemu.NoReport:        report.InfraNoReport,
		qemu.QEMUFailed:      report.InfraBootFailed,
	} {
		if got := InfraKind(c); got != want {
			t.Errorf("InfraKind(%s) = %s, want %s", c, got, want)
		}
	}
}

func TestMachine(t *testing.T) {
	e := kernel.Entry{CPU: "max,-cx16", CPUs: 1, Memory: "1G"}
	for _, tc := range []struct {
		r    vm.Result
		want string
	}{
		{vm.Result{Entry: e, Accel: "tcg", Attempts: 1}, "qemu tcg wall clock, cpu max,-cx16, 1 vCPU, 1G, attempt 1"},
		{vm.Result{Entry: e, Accel: "tcg", ICount: "shift=4,sleep=off", Attempts: 2}, "qemu tcg icount shift=4,sleep=off, cpu max,-cx16, 1 vCPU, 1G, attempt 2"},
		{vm.Result{Entry: e, Accel: "kvm", Attempts: 1}, "qemu kvm wall clock, cpu max,-cx16, 1 vCPU, 1G, attempt 1"},
		// The CPU the boot ran with, when vm says.
		{vm.Result{Entry: e, Accel: "tcg", CPU: "max,-cx16,-erms,-fsrm", Attempts: 1}, "qemu tcg wall clock, cpu max,-cx16,-erms,-fsrm, 1 vCPU, 1G, attempt 1"},
		{vm.Result{Entry: e, Accel: "tcg", Attempts: 1, SameBootAs: "debian-7.3"}, "qemu tcg wall clock, cpu max,-cx16, 1 vCPU, 1G, attempt 1, the boot of debian-7.3"},
	} {
		if got := Machine(tc.r); got != tc.want {
			t.Errorf("Machine = %q, want %q", got, tc.want)
		}
	}
}

func TestSource(t *testing.T) {
	for _, tc := range []struct {
		e    kernel.Entry
		want string
	}{
		{kernel.Entry{Debian: &kernel.DebianSource{Package: "linux-image-6.1.0-56-cloud-amd64"}}, "debian:linux-image-6.1.0-56-cloud-amd64"},
		{kernel.Entry{Debian: &kernel.DebianSource{Newest: "linux-image-*-cloud-amd64", Suite: "trixie-backports"}}, "debian newest linux-image-*-cloud-amd64 in trixie-backports"},
		{kernel.Entry{Local: &kernel.LocalSource{BzImage: "build/bzImage"}}, "file:build/bzImage"},
	} {
		if got := Source(tc.e); got != tc.want {
			t.Errorf("Source = %q, want %q", got, tc.want)
		}
	}
}

func entry() kernel.Entry {
	abi := 1
	return kernel.Entry{
		Name: "k", Debian: &kernel.DebianSource{Package: "linux-image-k"},
		CPU: "max,-cx16", CPUs: 1, Memory: "1G", Accel: "auto",
		Expect: &kernel.Expect{ABI: &abi, Errata: []int{1}},
	}
}

func TestKernelBooted(t *testing.T) {
	dir := t.TempDir()
	r := vm.Result{
		Entry:    entry(),
		Kernel:   &kernel.Kernel{Release: "6.1.0-k", Package: "linux-image-k", Version: "6.1-1"},
		Accel:    "tcg",
		Attempts: 1,
		Outcome:  qemu.Outcome{Class: qemu.OK, ConsoleLog: "/out/k/console.log", Warnings: []string{"WARNING: x"}},
		Guest: plan.Guest{Suites: map[string]plan.Received{
			"abi":   received(plan.Outcome{Report: ginkgoReport(t, types.SpecStatePassed, types.SpecStateSkipped), Output: []byte("abi out")}),
			"fs":    received(plan.Outcome{Status: plan.Status{ExitCode: 1}, Report: ginkgoReport(t, types.SpecStateFailed), Output: []byte("fs out")}),
			"bench": received(plan.Outcome{Report: []byte("{}")}),
		}},
	}
	run, err := Kernel(r, []string{"abi", "fs"}, dir)
	if err != nil {
		t.Fatal(err)
	}
	want := report.Kernel{Name: "k", Release: "6.1.0-k", Package: "linux-image-k", Version: "6.1-1", Source: "debian:linux-image-k",
		Machine: "qemu tcg wall clock, cpu max,-cx16, 1 vCPU, 1G, attempt 1"}
	if run.Kernel != want {
		t.Errorf("kernel = %+v\nwant %+v", run.Kernel, want)
	}
	if run.Expect == nil || *run.Expect.ABI != 1 || len(run.Expect.Errata) != 1 {
		t.Errorf("expect = %+v, want the entry's", run.Expect)
	}
	if run.Infra != nil || run.ConsoleLog != "/out/k/console.log" || len(run.KernelWarnings) != 1 {
		t.Errorf("infra %+v, console %q, warnings %q; want none, the log, the boot's warning", run.Infra, run.ConsoleLog, run.KernelWarnings)
	}
	// Only the suites asked for make the report, in that order.
	if len(run.Suites) != 2 || run.Suites[0].Name != "abi" || run.Suites[1].Name != "fs" {
		t.Fatalf("suites = %+v, want abi, fs", run.Suites)
	}
	if c := run.Suites[0].Counts; c.Passed != 1 || c.Skipped != 1 {
		t.Errorf("abi counts = %+v", c)
	}
	if fs := run.Suites[1]; fs.Counts.Failed != 1 || fs.Infra != nil || *fs.ExitCode != 1 {
		t.Errorf("fs = %+v, want one failed spec and no infrastructure error", fs)
	}
	for name, want := range map[string]string{"abi": "abi out", "fs": "fs out"} {
		out := filepath.Join(dir, name+".log")
		if b, err := os.ReadFile(out); err != nil || string(b) != want {
			t.Errorf("%s: %q, %v; want %q", out, b, err, want)
		}
	}
}

func TestKernelFailed(t *testing.T) {
	dir := t.TempDir()
	panicked := qemu.Outcome{Class: qemu.Panic, Detail: "Kernel panic - not syncing", ConsoleTail: "tail", ConsoleLog: "console.log", Warnings: []string{"Kernel panic"}}
	for _, tc := range []struct {
		name string
		r    vm.Result
		want report.InfraError
	}{
		{"not fetched", vm.Result{Entry: entry(), Err: errors.New("no such package")},
			report.InfraError{Kind: report.InfraFetchFailed, Message: "no such package"}},
		// The boot's own failure wins over the suites it left without a status, and its
		// oops goes with it rather than failing the kernel.
		{"panic", vm.Result{Entry: entry(), Attempts: 2, Outcome: panicked},
			report.InfraError{Kind: report.InfraPanic, Message: "Kernel panic - not syncing", ConsoleTail: "tail", ConsoleLog: "console.log"}},
		// A retry: the infrastructure error is the last attempt's, with its console log,
		// and names how the first ended and where its own log is.
		{"retried", vm.Result{Entry: entry(), Attempts: 2, Outcome: panicked,
			Earlier: []qemu.Outcome{{Class: qemu.Timeout, Detail: "no end frame after 2m0s; killed QEMU", ConsoleLog: "console-attempt1.log"}}},
			report.InfraError{Kind: report.InfraPanic, Message: "Kernel panic - not syncing; attempt 1: timeout no end frame after 2m0s; killed QEMU (console-attempt1.log)", ConsoleTail: "tail", ConsoleLog: "console.log"}},
		// Interrupted (SIGINT/SIGTERM): QEMU's "timeout" class for a boot killed by the
		// run's cancellation, or a fetch cut short, is an interruption, never a timeout.
		{"boot interrupted", vm.Result{Entry: entry(), Attempts: 1, Interrupted: true,
			Outcome: qemu.Outcome{Class: qemu.Timeout, Detail: "canceled: context canceled", ConsoleTail: "tail", ConsoleLog: "console.log"}},
			report.InfraError{Kind: report.InfraInterrupted, Message: "run interrupted (SIGINT/SIGTERM): timeout canceled: context canceled", ConsoleTail: "tail", ConsoleLog: "console.log"}},
		{"fetch interrupted", vm.Result{Entry: entry(), Interrupted: true, Err: errors.New("not fetched: context canceled")},
			report.InfraError{Kind: report.InfraInterrupted, Message: "run interrupted (SIGINT/SIGTERM): not fetched: context canceled"}},
		// A real overrun stays a timeout.
		{"timeout", vm.Result{Entry: entry(), Attempts: 1,
			Outcome: qemu.Outcome{Class: qemu.Timeout, Detail: "no end frame after 2m0s; killed QEMU", ConsoleLog: "console.log"}},
			report.InfraError{Kind: report.InfraTimeout, Message: "no end frame after 2m0s; killed QEMU", ConsoleLog: "console.log"}},
		// A guest that stopped before a suite's status was sent: its report, even if it
		// came, is not used.
		{"suite without status", vm.Result{Entry: entry(), Attempts: 1, Outcome: qemu.Outcome{Class: qemu.OK, ConsoleLog: "console.log"},
			Guest: plan.Guest{Suites: map[string]plan.Received{"fs": {Outcome: plan.Outcome{Report: ginkgoReport(t, types.SpecStatePassed)}}}}},
			report.InfraError{Kind: report.InfraNoReport, Message: "suite fs sent no status", ConsoleLog: "console.log"}},
	} {
		run, err := Kernel(tc.r, []string{"fs"}, dir)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if run.Infra == nil || *run.Infra != tc.want {
			t.Errorf("%s: infra = %+v\nwant %+v", tc.name, run.Infra, tc.want)
		}
		if len(run.Suites) != 0 || len(run.KernelWarnings) != 0 {
			t.Errorf("%s: suites %+v, warnings %q; want none", tc.name, run.Suites, run.KernelWarnings)
		}
	}
	// A status that arrived intact and does not decode: agent and host disagree on the
	// format, and nothing of the run can be trusted.
	bad := vm.Result{Entry: entry(), Attempts: 1, Outcome: qemu.Outcome{Class: qemu.OK},
		Guest: plan.Guest{Suites: map[string]plan.Received{"fs": {Err: errors.New("suite fs status: bad")}}}}
	if _, err := Kernel(bad, []string{"fs"}, dir); err == nil || !strings.Contains(err.Error(), "kernel k: suite fs status") {
		t.Errorf("undecodable status: %v", err)
	}
}

func TestHost(t *testing.T) {
	info := &report.KernelInfo{Release: "6.12.0", Status: report.StatusAvailable, ABI: 6}
	run, err := Host([]report.Suite{{Name: "abi", Kernel: info}, {Name: "fs"}})
	if err != nil {
		t.Fatal(err)
	}
	if run.Kernel != (report.Kernel{Name: "host", Arch: runtime.GOARCH, Source: "running kernel", Release: "6.12.0"}) || len(run.Suites) != 2 {
		t.Errorf("run = %+v", run)
	}
	other := *info
	other.Release = "6.13.0"
	if _, err := Host([]report.Suite{{Name: "abi", Kernel: info}, {Name: "fs", Kernel: &other}}); err == nil {
		t.Error("suites reporting two kernels: no error")
	}
}

func TestSuiteSavesOutput(t *testing.T) {
	dir := t.TempDir()
	s, err := Suite("fs", plan.Outcome{Report: ginkgoReport(t, types.SpecStatePassed), Output: []byte("out")}, dir)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(s.Output); err != nil || string(b) != "out" || s.Output != filepath.Join(dir, "fs.log") {
		t.Errorf("output %s: %q, %v", s.Output, b, err)
	}
	if _, err := Suite("fs", plan.Outcome{}, filepath.Join(dir, "missing")); err == nil || !strings.Contains(err.Error(), "save fs output") {
		t.Errorf("unwritable output: %v", err)
	}
}

// The guest cannot know how QEMU ran it: the host stamps the timing mode on the result it
// saves and plots.
func TestBenchTimingMode(t *testing.T) {
	sent := &benchresult.Result{
		Schema:  benchresult.Schema,
		Machine: benchresult.Machine{TimingMode: "qemu guest clock"},
		Scenarios: []*benchresult.Scenario{{Name: "PathWalk", Series: []*benchresult.Series{{Name: "rules=each", Points: []*benchresult.Point{
			{Label: "depth=1", X: 1, On: &benchresult.Arm{NsPerOp: []float64{1, 2, 3}}, Off: &benchresult.Arm{NsPerOp: []float64{1, 1, 1}}},
		}}}}},
	}
	var buf bytes.Buffer
	if err := sent.Encode(&buf); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ accel, icount, want string }{
		{"tcg", "shift=4,sleep=off", "qemu tcg icount shift=4,sleep=off"},
		{"tcg", "", "qemu tcg wall clock"},
	} {
		dir := t.TempDir()
		// The benchmark's report is used even when its status did not come back.
		r := vm.Result{Accel: tc.accel, ICount: tc.icount, Guest: plan.Guest{Suites: map[string]plan.Received{"bench": {Outcome: plan.Outcome{Report: buf.Bytes()}}}}}
		b, err := Bench(r, "bench", dir)
		if err != nil {
			t.Fatal(err)
		}
		saved, err := benchresult.ReadFile(filepath.Join(dir, "bench.json"))
		if err != nil {
			t.Fatal(err)
		}
		if b.Machine.TimingMode != tc.want || saved.Machine.TimingMode != tc.want {
			t.Errorf("%s %q: timing mode %q, saved %q; want %q", tc.accel, tc.icount, b.Machine.TimingMode, saved.Machine.TimingMode, tc.want)
		}
	}
	if _, err := Bench(vm.Result{}, "bench", t.TempDir()); err == nil || !strings.Contains(err.Error(), "no result came back") {
		t.Errorf("no report: %v", err)
	}
}

// A kernel's time splits into the host's stages, the suites' own times and the rest of the
// last boot, around the agent's ready and done events; a retry's earlier boot is apart.
func TestTimings(t *testing.T) {
	status := func(ms int64) plan.Received {
		return plan.Received{Outcome: plan.Outcome{Status: plan.Status{DurationMS: ms}}, Ended: true}
	}
	r := vm.Result{
		Attempts: 2,
		Timings: vm.Timings{Fetch: time.Second, Initramfs: 2 * time.Second, Queued: 3 * time.Second,
			Boot: 30 * time.Second, Ready: 5 * time.Second, Uptime: 3 * time.Second, Done: 19 * time.Second, CPU: 25 * time.Second},
		Outcome: qemu.Outcome{Class: qemu.OK, Duration: 20 * time.Second},
		Guest:   plan.Guest{Suites: map[string]plan.Received{"abi": status(6000), "fs": status(4000), "net": {}}},
	}
	got := Timings(r, []string{"abi", "fs", "net"})
	want := &report.Timings{Fetch: time.Second, Initramfs: 2 * time.Second, Queued: 3 * time.Second,
		Boot: 5 * time.Second, GuestUptime: 3 * time.Second,
		Suites:   []report.SuiteTime{{Name: "abi", Duration: 6 * time.Second}, {Name: "fs", Duration: 4 * time.Second}},
		Transfer: 4 * time.Second, Shutdown: time.Second, Retries: 10 * time.Second,
		Total: 33 * time.Second, CPU: 25 * time.Second}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Timings =\n%+v\nwant\n%+v", got, want)
	}

	// An agent that never got ready: the whole boot went into getting there.
	r = vm.Result{Attempts: 1, Timings: vm.Timings{Fetch: time.Second, Boot: 40 * time.Second, CPU: 39 * time.Second},
		Outcome: qemu.Outcome{Class: qemu.Timeout, Duration: 40 * time.Second}}
	got = Timings(r, []string{"abi"})
	want = &report.Timings{Fetch: time.Second, Boot: 40 * time.Second, Total: 41 * time.Second, CPU: 39 * time.Second}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("never ready: Timings =\n%+v\nwant\n%+v", got, want)
	}

	// A kernel that could not be fetched has its fetch time and nothing else.
	got = Timings(vm.Result{Err: errors.New("gone"), Timings: vm.Timings{Fetch: time.Second}}, nil)
	if want := (&report.Timings{Fetch: time.Second, Total: time.Second}); !reflect.DeepEqual(got, want) {
		t.Errorf("not fetched: Timings = %+v, want %+v", got, want)
	}

	// A kernel that shared another's boot carries that boot's outcome and suites, but its
	// time is its fetch only: the boot's stages are the other kernel's.
	shared := r
	shared.SameBootAs, shared.Timings = "debian-7.3", vm.Timings{Fetch: time.Second / 2}
	got = Timings(shared, []string{"abi"})
	if want := (&report.Timings{Fetch: time.Second / 2, Total: time.Second / 2, SharedBoot: "debian-7.3"}); !reflect.DeepEqual(got, want) {
		t.Errorf("shared boot: Timings = %+v, want %+v", got, want)
	}
}
