package main

import (
	"bytes"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/llconform/llconform/internal/report"
	"github.com/llconform/llconform/vm"
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
		{matrixFlags{kernels: file, icount: "shift=4"}, "--icount: kernel k: icount needs TCG (QEMU refuses it with accel kvm)"},
	} {
		if _, err := tc.m.entries(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("entries(--icount %q) = %v, want %q", tc.m.icount, err, tc.want)
		}
	}
}

// The progress lines show each suite's end with its place in the plan, and nothing for
// its start.
func TestProgress(t *testing.T) {
	var buf bytes.Buffer
	p := newProgress(2)
	p.w = &buf
	p.event(vm.Event{Kernel: "debian-6.1", Stage: vm.Booting, Message: "attempt 1, tcg"})
	p.event(vm.Event{Kernel: "debian-6.1", Stage: vm.Ready, Message: "agent up, guest uptime 4.2s", Duration: 9 * time.Second})
	p.event(vm.Event{Kernel: "debian-6.1", Stage: vm.Running, Suite: &plan.Event{Suite: "abi", N: 1, Of: 5}})
	p.event(vm.Event{Kernel: "debian-6.1", Stage: vm.Running, Duration: 7538 * time.Millisecond,
		Suite: &plan.Event{Suite: "abi", N: 1, Of: 5, Status: &plan.Status{ExitCode: 0, DurationMS: 7538}}})
	p.event(vm.Event{Kernel: "debian-6.1", Stage: vm.Running, Duration: 5 * time.Minute,
		Suite: &plan.Event{Suite: "fs", N: 2, Of: 5, Status: &plan.Status{ExitCode: -1, TimedOut: true, DurationMS: 300000}}})
	p.event(vm.Event{Kernel: "debian-6.1", Stage: vm.Done, Message: "ok", Duration: 39 * time.Second,
		Timings: &vm.Timings{Fetch: time.Second, Initramfs: 300 * time.Millisecond, Ready: 9 * time.Second, CPU: 30 * time.Second}})
	want := []string{
		"debian-6.1     booting  attempt 1, tcg",
		"debian-6.1     ready    agent up, guest uptime 4.2s (9s)",
		"debian-6.1     running  suite 1/5 abi: exit status 0 (7.5s)",
		"debian-6.1     running  suite 2/5 fs: timed out after 300000ms (5m0s)",
		"debian-6.1     done     ok [fetch 1s, initramfs 300ms, queued 0s, boot to agent 9s, suites and transfer 30s, QEMU CPU 30s] (39s)",
	}
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != len(want) {
		t.Fatalf("lines:\n%s\nwant %d", buf.String(), len(want))
	}
	for i, l := range lines {
		done := "0/2"
		if i == 4 {
			done = "1/2"
		}
		if _, rest, _ := strings.Cut(l, "] "); !strings.Contains(l, " "+done+"] ") || rest != want[i] {
			t.Errorf("line %d = %q, want [time %s] %q", i, l, done, want[i])
		}
	}
}

// The boot order comes from the last run's QEMU CPU times; a kernel that shared another's
// boot takes that boot's time, as it is as long if it boots on its own next.
func TestLastCPU(t *testing.T) {
	res := &report.Result{Timings: &report.RunTimings{Wall: time.Minute}, Runs: []report.Run{
		{Kernel: report.Kernel{Name: "pinned"}, Timings: &report.Timings{CPU: 14 * time.Second}},
		{Kernel: report.Kernel{Name: "short"}, Timings: &report.Timings{CPU: 4 * time.Second}},
		{Kernel: report.Kernel{Name: "newest"}, Timings: &report.Timings{Fetch: time.Second, SharedBoot: "pinned"}},
	}}
	var buf bytes.Buffer
	if err := report.Encode(&buf, res); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "result.json")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	got := lastCPU(path)
	want := map[string]time.Duration{"pinned": 14 * time.Second, "short": 4 * time.Second, "newest": 14 * time.Second}
	if !maps.Equal(got, want) {
		t.Errorf("lastCPU = %v, want %v", got, want)
	}
	if got := lastCPU(filepath.Join(t.TempDir(), "none.json")); got != nil {
		t.Errorf("no earlier result: %v, want nil", got)
	}
}
