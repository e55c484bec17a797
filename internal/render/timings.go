package render

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/llconform/llconform/internal/report"
)

// slowFactor is how many times the median kernel's total time a kernel must take to be
// called slow.
const slowFactor = 1.5

// minSlowExcess keeps a kernel that is only a few seconds over a short median from being
// called slow.
const minSlowExcess = 5 * time.Second

// slowNotes says, per kernel index of runs, why a kernel was slow: its total is more than
// slowFactor times the median of the run's kernels, and the note names the stage that took
// the most time over that stage's median. Kernels that are not slow have no entry.
func slowNotes(runs []report.Run) map[int]string {
	var totals []time.Duration
	for _, r := range runs {
		if booted(r) {
			totals = append(totals, r.Timings.Total)
		}
	}
	if len(totals) < 3 {
		return nil // too few kernels for a median to say what is usual
	}
	medTotal := median(totals)
	stageMedian := map[string]time.Duration{}
	stageValues := map[string][]time.Duration{}
	for _, r := range runs {
		if booted(r) {
			for _, s := range r.Timings.Stages() {
				stageValues[s.Name] = append(stageValues[s.Name], s.Duration)
			}
		}
	}
	for name, v := range stageValues {
		stageMedian[name] = median(v)
	}
	notes := map[int]string{}
	for i, r := range runs {
		t := r.Timings
		if !booted(r) || float64(t.Total) <= slowFactor*float64(medTotal) || t.Total-medTotal < minSlowExcess {
			continue
		}
		var worst report.Stage
		var excess time.Duration
		for _, s := range t.Stages() {
			if s.Name == "queued" {
				continue // not part of the total: waiting for a VM is the other kernels' doing
			}
			if d := s.Duration - stageMedian[s.Name]; d > excess {
				worst, excess = s, d
			}
		}
		note := fmt.Sprintf("SLOW: %s total, %.1fx the median kernel's %s", secs(t.Total), float64(t.Total)/float64(medTotal), secs(medTotal))
		if excess > 0 {
			note += fmt.Sprintf("; most of it in %s: %s against a median of %s", worst.Name, secs(worst.Duration), secs(stageMedian[worst.Name]))
		}
		notes[i] = note
	}
	return notes
}

// booted says whether run r has timings of a boot of its own (not another's it shared).
func booted(r report.Run) bool { return r.Timings != nil && r.Timings.SharedBoot == "" }

// median returns the median of v (the mean of the middle two for an even count); 0 for none.
func median(v []time.Duration) time.Duration {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// secs writes a duration the way the timing tables do: "12.3s", "0.4s", "2m05s".
func secs(d time.Duration) string {
	if d >= 100*time.Second {
		m := int(d / time.Minute)
		return fmt.Sprintf("%dm%02.0fs", m, (d - time.Duration(m)*time.Minute).Seconds())
	}
	return fmt.Sprintf("%.1fs", d.Seconds())
}

// WriteTimings writes where each kernel's time went in a matrix run: one row per kernel with
// its fetch, initramfs, time queued for a VM, boot to the agent, each suite, the transfer of
// the reports and power-off, earlier boots of a retry, the total (all but the queue) and
// QEMU's CPU time, then the run's wall time and the machine's load. A kernel much slower
// than the others is marked SLOW, naming the stage that made it so. It writes nothing for a
// result without timings (a host run).
func WriteTimings(w io.Writer, res *report.Result) error {
	if !slices.ContainsFunc(res.Runs, func(r report.Run) bool { return r.Timings != nil }) {
		return nil
	}
	names := report.StageNames([]report.TimedRun{report.Timed(res)})
	t := newTable()
	header := []string{"TIMINGS", "ARCH"}
	for _, n := range names {
		header = append(header, strings.ToUpper(n))
	}
	slow := slowNotes(res.Runs)
	t.row(append(header, "TOTAL", "CPU")...)
	for i, r := range res.Runs {
		if r.Timings == nil {
			continue
		}
		row := []string{r.Kernel.Name, r.Kernel.Architecture()}
		for _, n := range names {
			row = append(row, stageCell(*r.Timings, n))
		}
		row = append(row, secs(r.Timings.Total), secs(r.Timings.CPU))
		switch {
		case r.Timings.SharedBoot != "":
			row = append(row, "shares the boot of "+r.Timings.SharedBoot)
		case slow[i] != "":
			row = append(row, "SLOW")
		}
		t.row(row...)
	}
	t.line("\nstages: host wall clock, but the suites' (guest clock); boot is QEMU's start to the guest agent's; total is every stage but queued; CPU is QEMU's")
	if rt := res.Timings; rt != nil {
		kernels, boots := countKernels(res)
		t.line("%s", runLine(rt, kernels, boots))
	}
	for i := range res.Runs {
		if note := slow[i]; note != "" {
			t.line("%s: %s", res.Runs[i].Kernel.Name, note)
		}
	}
	return t.writeTo(w)
}

func stageCell(t report.Timings, name string) string {
	d, ok := t.StageDuration(name)
	if !ok {
		return "-"
	}
	return secs(d)
}

// countKernels counts the kernels of res (a compat run shares its kernel's boot), and those
// that booted rather than share another kernel's boot.
func countKernels(res *report.Result) (kernels, boots int) {
	for _, r := range res.Runs {
		if r.Compat != nil {
			continue
		}
		kernels++
		if r.Timings == nil || r.Timings.SharedBoot == "" {
			boots++
		}
	}
	return kernels, boots
}

// runLine says how long a run took and how loaded the machine was.
func runLine(rt *report.RunTimings, kernels, boots int) string {
	what := fmt.Sprintf("%d kernels", kernels)
	if boots != kernels {
		what += fmt.Sprintf(", %d of them sharing another's boot", kernels-boots)
	}
	return fmt.Sprintf("wall %s for %s, %d VMs at once on %d CPUs, load average %.1f at the start, %.1f at the end",
		secs(rt.Wall), what, rt.Jobs, rt.CPUs, rt.LoadStart, rt.LoadEnd)
}

// WriteTimingsComparison writes the timings of several runs of the same matrix (now), and
// beside each figure the same figure of other runs (before; none when it has no runs): per
// kernel and stage the median over the runs, then per kernel the total and CPU time, and
// the run's wall time, CPU time and load, as min, median and max.
func WriteTimingsComparison(w io.Writer, now, before report.TimingsFile) error {
	if len(now.Runs) == 0 {
		return fmt.Errorf("timings: no runs to show")
	}
	hasBefore := len(before.Runs) > 0
	names := report.StageNames(append(slices.Clone(now.Runs), before.Runs...))
	kernels := kernelNames(now.Runs)
	for _, k := range kernelNames(before.Runs) {
		if !slices.Contains(kernels, k) {
			kernels = append(kernels, k)
		}
	}
	t := newTable()
	title := fmt.Sprintf("Median of %d run%s", len(now.Runs), plural(len(now.Runs)))
	if now.Label != "" {
		title += " (" + now.Label + ")"
	}
	if hasBefore {
		title += fmt.Sprintf(", each beside the median of %d run%s before", len(before.Runs), plural(len(before.Runs)))
		if before.Label != "" {
			title += " (" + before.Label + ")"
		}
		title += ": now / before, in seconds"
	}
	t.line("%s", title)
	header := []string{"KERNEL"}
	for _, n := range names {
		header = append(header, strings.ToUpper(n))
	}
	t.row(append(header, "TOTAL", "CPU")...)
	shared := false
	for _, k := range kernels {
		label := k
		if x := sharedBoot(now.Runs, k); x != "" {
			label, shared = fmt.Sprintf("%s (%s's boot)", k, x), true
		}
		row := []string{label}
		for _, n := range append(slices.Clone(names), "total", "cpu") {
			cell := medianCell(now.Runs, k, n)
			if hasBefore {
				cell += " / " + medianCell(before.Runs, k, n)
			}
			row = append(row, cell)
		}
		t.row(row...)
	}
	if shared {
		t.line("(X's boot): the kernel had the same files and boot settings as X in the runs now, and")
		t.line("shared X's boot; its own time was its fetch.")
	}
	t.line("")
	t.line("Per kernel total (every stage but queued) and the whole run, min / median / max:")
	header = []string{"", "NOW"}
	if hasBefore {
		header = append(header, "BEFORE", "CHANGE")
	}
	t.row(header...)
	addRow := func(label string, nowV, beforeV []time.Duration) {
		row := []string{label, spread(nowV)}
		if hasBefore {
			row = append(row, spread(beforeV), change(nowV, beforeV))
		}
		t.row(row...)
	}
	for _, k := range kernels {
		addRow(k, kernelValues(now.Runs, k, "total"), kernelValues(before.Runs, k, "total"))
	}
	addRow("sum of kernel totals", runValues(now.Runs, sumOf("total")), runValues(before.Runs, sumOf("total")))
	addRow("QEMU CPU, all kernels", runValues(now.Runs, sumOf("cpu")), runValues(before.Runs, sumOf("cpu")))
	addRow("wall, whole matrix", runValues(now.Runs, wallOf), runValues(before.Runs, wallOf))
	t.line("")
	t.line("load average (1 min) at each run's start and end: now %s", loads(now.Runs))
	if hasBefore {
		t.line("                                                before %s", loads(before.Runs))
	}
	return t.writeTo(w)
}

func kernelNames(runs []report.TimedRun) []string {
	var names []string
	for _, r := range runs {
		for _, k := range r.Kernels {
			if !slices.Contains(names, k.Name) {
				names = append(names, k.Name)
			}
		}
	}
	return names
}

// sharedBoot returns the kernel whose boot kernel shared in one of runs, "" if it booted in
// each.
func sharedBoot(runs []report.TimedRun, kernel string) string {
	for _, r := range runs {
		for _, k := range r.Kernels {
			if k.Name == kernel && k.Timings.SharedBoot != "" {
				return k.Timings.SharedBoot
			}
		}
	}
	return ""
}

// value returns a kernel's figure: a stage's duration, "total" or "cpu".
func value(t report.Timings, name string) (time.Duration, bool) {
	switch name {
	case "total":
		return t.Total, true
	case "cpu":
		return t.CPU, true
	}
	return t.StageDuration(name)
}

func kernelValues(runs []report.TimedRun, kernel, name string) []time.Duration {
	var v []time.Duration
	for _, r := range runs {
		for _, k := range r.Kernels {
			if k.Name != kernel {
				continue
			}
			if d, ok := value(k.Timings, name); ok {
				v = append(v, d)
			}
		}
	}
	return v
}

func medianCell(runs []report.TimedRun, kernel, name string) string {
	v := kernelValues(runs, kernel, name)
	if len(v) == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f", median(v).Seconds())
}

func runValues(runs []report.TimedRun, f func(report.TimedRun) (time.Duration, bool)) []time.Duration {
	var v []time.Duration
	for _, r := range runs {
		if d, ok := f(r); ok {
			v = append(v, d)
		}
	}
	return v
}

func sumOf(name string) func(report.TimedRun) (time.Duration, bool) {
	return func(r report.TimedRun) (time.Duration, bool) {
		var sum time.Duration
		for _, k := range r.Kernels {
			d, _ := value(k.Timings, name)
			sum += d
		}
		return sum, len(r.Kernels) > 0
	}
}

func wallOf(r report.TimedRun) (time.Duration, bool) {
	if r.Timings == nil {
		return 0, false
	}
	return r.Timings.Wall, true
}

// spread is "min / median / max" of v, "-" for none.
func spread(v []time.Duration) string {
	if len(v) == 0 {
		return "-"
	}
	return fmt.Sprintf("%s / %s / %s", secs(slices.Min(v)), secs(median(v)), secs(slices.Max(v)))
}

// change is the ratio of the medians, now over before: "0.45x".
func change(now, before []time.Duration) string {
	if len(now) == 0 || len(before) == 0 || median(before) == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fx", float64(median(now))/float64(median(before)))
}

func loads(runs []report.TimedRun) string {
	var parts []string
	for _, r := range runs {
		if r.Timings == nil {
			parts = append(parts, "?")
			continue
		}
		parts = append(parts, fmt.Sprintf("%.1f→%.1f", r.Timings.LoadStart, r.Timings.LoadEnd))
	}
	return strings.Join(parts, ", ")
}
