package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	benchresult "github.com/llconform/llconform/bench/result"
	"github.com/llconform/llconform/vm"
	"github.com/llconform/llconform/vm/kernel"
	"github.com/llconform/llconform/vm/plan"
)

func TestMatrixICount(t *testing.T) {
	file := filepath.Join(t.TempDir(), "kernels.yaml")
	src := testKernels + "  - name: e\n    debian: {package: linux-image-e}\n    icount: shift=6\n" +
		"  - name: k\n    debian: {package: linux-image-k}\n    accel: kvm\n"
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	icounts := func(m matrixFlags) string {
		t.Helper()
		entries, err := m.entries()
		if err != nil {
			t.Fatalf("entries(%+v): %v", m, err)
		}
		var out []string
		for _, e := range entries {
			out = append(out, e.Name+"="+e.ICount)
		}
		return strings.Join(out, " ")
	}
	if got := icounts(matrixFlags{kernels: file, only: "a,e"}); got != "a= e=shift=6" {
		t.Errorf("no --icount: %s, want each kernel's own key", got)
	}
	if got := icounts(matrixFlags{kernels: file, only: "a,e", icount: "sleep=off,shift=4"}); got != "a=shift=4,sleep=off e=shift=4,sleep=off" {
		t.Errorf("--icount sleep=off,shift=4: %s, want every kernel in canonical form", got)
	}
	if got := icounts(matrixFlags{kernels: file, only: "a,e", icount: "off"}); got != "a= e=" {
		t.Errorf("--icount off: %s, want none", got)
	}
	if got := icounts(matrixFlags{kernels: file, only: "a,e,k", bench: true}); got != "a="+benchICount+" e=shift=6 k=" {
		t.Errorf("--bench: %s, want %s where the kernel sets none, kvm kernels left alone", got, benchICount)
	}
	if got := icounts(matrixFlags{kernels: file, only: "a,e", bench: true, icount: "off"}); got != "a= e=" {
		t.Errorf("--bench --icount off: %s, want wall clock everywhere", got)
	}
	for _, tc := range []struct {
		m    matrixFlags
		want string
	}{
		{matrixFlags{kernels: file, icount: "shift=auto,sleep=off"}, "--icount: icount \"shift=auto,sleep=off\": QEMU refuses sleep=off with shift=auto"},
		{matrixFlags{kernels: file, icount: "fast"}, "--icount: icount \"fast\": shift must be auto or 0 to 10"},
		{matrixFlags{kernels: file, icount: "shift=4"}, "--icount: kernel k has accel kvm"},
	} {
		if _, err := tc.m.entries(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("entries(--icount %q) = %v, want %q", tc.m.icount, err, tc.want)
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
	} {
		if got := machine(tc.r); got != tc.want {
			t.Errorf("machine = %q, want %q", got, tc.want)
		}
	}
}

// The guest cannot know how QEMU ran it: the host stamps the timing mode on the result it
// saves and plots.
func TestGuestBenchTimingMode(t *testing.T) {
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
		r := vm.Result{Accel: tc.accel, ICount: tc.icount, Frames: map[string][]byte{plan.ReportFrame(benchSuite): buf.Bytes()}}
		b, err := guestBench(r, dir)
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
	if _, err := guestBench(vm.Result{}, t.TempDir()); err == nil || !strings.Contains(err.Error(), "no result came back") {
		t.Errorf("no frame: %v", err)
	}
}
