package render

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/llconform/llconform/internal/report"
)

// timedResult is a matrix run of four kernels; k4's boot took far longer than the others'.
func timedResult() *report.Result {
	s := time.Second
	res := &report.Result{Timings: &report.RunTimings{Wall: 75 * s, Jobs: 2, CPUs: 2, LoadStart: 0.5, LoadEnd: 1.5}}
	for i, boot := range []time.Duration{8 * s, 9 * s, 10 * s, 40 * s} {
		tm := &report.Timings{Fetch: s / 2, Initramfs: s / 10, Boot: boot,
			Suites:   []report.SuiteTime{{Name: "abi", Duration: 3 * s}, {Name: "fs", Duration: 4 * s}},
			Transfer: s / 5, Shutdown: s / 10, CPU: boot + 6*s}
		tm.Total = tm.Fetch + tm.Initramfs + tm.Boot + 7*s + tm.Transfer + tm.Shutdown
		res.Runs = append(res.Runs, report.Run{Kernel: report.Kernel{Name: "k" + string(rune('1'+i))}, Timings: tm})
	}
	return res
}

func TestWriteTimings(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteTimings(&buf, timedResult()); err != nil {
		t.Fatal(err)
	}
	want := `TIMINGS  ARCH   FETCH  INITRAMFS  QUEUED  BOOT   ABI   FS    TRANSFER  SHUTDOWN  RETRIES  TOTAL  CPU
k1       amd64  0.5s   0.1s       0.0s    8.0s   3.0s  4.0s  0.2s      0.1s      0.0s     15.9s  14.0s
k2       amd64  0.5s   0.1s       0.0s    9.0s   3.0s  4.0s  0.2s      0.1s      0.0s     16.9s  15.0s
k3       amd64  0.5s   0.1s       0.0s    10.0s  3.0s  4.0s  0.2s      0.1s      0.0s     17.9s  16.0s
k4       amd64  0.5s   0.1s       0.0s    40.0s  3.0s  4.0s  0.2s      0.1s      0.0s     47.9s  46.0s  SLOW

stages: host wall clock, but the suites' (guest clock); boot is QEMU's start to the guest agent's; total is every stage but queued; CPU is QEMU's
wall 75.0s for 4 kernels, 2 VMs at once on 2 CPUs, load average 0.5 at the start, 1.5 at the end
k4: SLOW: 47.9s total, 2.8x the median kernel's 17.4s; most of it in boot: 40.0s against a median of 9.5s
`
	if buf.String() != want {
		t.Errorf("timings:\n%s\nwant:\n%s", buf.String(), want)
	}

	// A host run has no timings: nothing is written.
	buf.Reset()
	if err := WriteTimings(&buf, &report.Result{Runs: []report.Run{{Kernel: report.Kernel{Name: "host"}}}}); err != nil || buf.Len() != 0 {
		t.Errorf("host run: %q, %v; want nothing", buf.String(), err)
	}
}

// A kernel that shared another's boot has its fetch only, says whose boot it shared, and
// counts neither in the median nor as slow; the run line says how many kernels booted.
func TestWriteTimingsSharedBoot(t *testing.T) {
	res := timedResult()
	res.Runs = append(res.Runs, report.Run{Kernel: report.Kernel{Name: "k5"},
		Timings: &report.Timings{Fetch: time.Second / 5, Total: time.Second / 5, SharedBoot: "k2"}})
	var buf bytes.Buffer
	if err := WriteTimings(&buf, res); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{
		"k5       amd64  0.2s   -          -       -      -     -     -         -         -        0.2s   0.0s   shares the boot of k2\n",
		"wall 75.0s for 5 kernels, 1 of them sharing another's boot, 2 VMs at once",
		// The median of the four booted kernels, as without k5.
		"k4: SLOW: 47.9s total, 2.8x the median kernel's 17.4s",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("timings lack %q:\n%s", want, out)
		}
	}
	buf.Reset()
	if err := WriteHTML(&buf, res, HTMLOptions{}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "shares the boot of k2") {
		t.Errorf("HTML timings do not say whose boot k5 shared")
	}
}

// The HTML report has the same table, the slow kernel's row and stage marked.
func TestHTMLTimings(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteHTML(&buf, timedResult(), HTMLOptions{}); err != nil {
		t.Fatal(err)
	}
	html := buf.String()
	for _, want := range []string{`<h2 id="timings">Timings</h2>`, `<tr class="slow">`, `<td class="worst">40.0s</td>`,
		"SLOW: 47.9s total", "This run: wall 75.0s for 4 kernels"} {
		if !strings.Contains(html, want) {
			t.Errorf("HTML lacks %q", want)
		}
	}
	if strings.Count(html, `class="worst"`) != 1 {
		t.Errorf("want exactly one worst stage marked")
	}
}

func TestWriteTimingsComparison(t *testing.T) {
	before := report.TimingsFile{Label: "before", Runs: []report.TimedRun{report.Timed(timedResult()), report.Timed(timedResult())}}
	faster := timedResult()
	faster.Timings.Wall = 30 * time.Second
	for _, r := range faster.Runs {
		r.Timings.Boot /= 2
		r.Timings.Total /= 2
		r.Timings.CPU /= 2
	}
	now := report.TimingsFile{Label: "now", Runs: []report.TimedRun{report.Timed(faster)}}
	var buf bytes.Buffer
	if err := WriteTimingsComparison(&buf, now, before); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{
		"Median of 1 run (now), each beside the median of 2 runs before (before): now / before, in seconds",
		"k4      0.5 / 0.5  0.1 / 0.1",
		"20.0 / 40.0",
		"wall, whole matrix     30.0s / 30.0s / 30.0s  75.0s / 75.0s / 75.0s  0.40x",
		"now 0.5→1.5",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("comparison lacks %q:\n%s", want, out)
		}
	}
	if err := WriteTimingsComparison(&buf, report.TimingsFile{}, before); err == nil {
		t.Error("no runs: want an error")
	}

	// A kernel that shared another's boot now is labelled so: its total is its fetch alone.
	faster.Runs[3].Timings = &report.Timings{Fetch: time.Second / 2, Total: time.Second / 2, SharedBoot: "k2"}
	now = report.TimingsFile{Runs: []report.TimedRun{report.Timed(faster)}}
	buf.Reset()
	if err := WriteTimingsComparison(&buf, now, before); err != nil {
		t.Fatal(err)
	}
	out = buf.String()
	for _, want := range []string{"k4 (k2's boot)  0.5 / 0.5  - / 0.1", "(X's boot): the kernel had the same files and boot settings as X"} {
		if !strings.Contains(out, want) {
			t.Errorf("comparison lacks %q:\n%s", want, out)
		}
	}
}
