package bench

import (
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/llconform/llconform/bench/result"
)

// Header returns one line naming what the figures of r come from.
func Header(r *Result) string {
	k, m, c := r.Kernel, r.Machine, r.Config
	errata := "no errata query"
	if k.ErrataQuery {
		errata = fmt.Sprintf("errata %#b", k.Errata)
	}
	pin := "not pinned"
	if c.CPU >= 0 {
		pin = fmt.Sprintf("pinned to CPU %d", c.CPU)
	}
	gate := "no speed gate"
	if c.SpeedGate > 0 {
		gate = fmt.Sprintf("speed gate %g%% over getppid's best %s", c.SpeedGate, fmtNs(m.GetppidNs))
	}
	if c.Injected > 0 {
		gate += fmt.Sprintf("; %g%% SLOWDOWN INJECTED into Landlock arms", c.Injected)
	}
	return fmt.Sprintf("kernel %s (Landlock %s, ABI %d, %s); %s, %d cores, %s; load %.2f -> %.2f, other work %.2f CPUs; %d samples of %s per arm, %s, %s",
		k.Release, k.Status, k.ABI, errata, m.CPU, m.Cores, m.TimingMode,
		m.LoadStart[0], m.LoadEnd[0], m.OtherCPUs, c.Samples, fmtSeconds(c.SampleTime), pin, gate)
}

// WriteTable writes r for a terminal: per point the median ns/op of each arm with its 95%
// confidence interval, the overhead ratio, and the spread (CV) of each arm; per series the
// slope; and at the end the largest CV of each scenario.
func WriteTable(w io.Writer, r *Result) error {
	bw := &errWriter{w: w}
	fmt.Fprintln(bw, Header(r))
	for _, sc := range r.Scenarios {
		fmt.Fprintf(bw, "\n%s: %s\n", sc.Name, sc.Title)
		if sc.Skipped != "" {
			fmt.Fprintf(bw, "  skipped: %s\n", sc.Skipped)
		}
		if sc.Error != "" {
			fmt.Fprintf(bw, "  error: %s\n", sc.Error)
		}
		for _, n := range sc.Notes {
			fmt.Fprintf(bw, "  note: %s\n", n)
		}
		for _, se := range sc.Series {
			fmt.Fprintf(bw, "  %s: %s\n", se.Name, se.Op)
			if se.Skipped != "" {
				fmt.Fprintf(bw, "    skipped: %s\n", se.Skipped)
				continue
			}
			tw := tabwriter.NewWriter(bw, 0, 0, 2, ' ', tabwriter.AlignRight)
			fmt.Fprintln(tw, "    \toff ns/op\t\ton ns/op\t\toverhead\tCV off\tCV on\tretaken\tother work\t")
			for _, p := range se.Points {
				off, offCI, cvOff, ratio := "-", "", "-", "-"
				if p.Off != nil {
					off, offCI, cvOff = fmtNs(p.Off.Summary.Median), ci(p.Off), pct(p.Off.Summary.CV)
				}
				if p.Ratio != nil {
					ratio = fmt.Sprintf("%.2fx", p.Ratio.Median)
				}
				retaken := strconv.Itoa(p.Retaken)
				if p.Slow > 0 {
					retaken += fmt.Sprintf(" (%d slow kept)", p.Slow)
				}
				fmt.Fprintf(tw, "    %s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.2f\t\n", p.Label, off, offCI,
					fmtNs(p.On.Summary.Median), ci(p.On), ratio, cvOff, pct(p.On.Summary.CV), retaken, p.OtherCPUs)
			}
			tw.Flush()
			if se.Fit != nil {
				fmt.Fprintf(bw, "    slope %.4g %s (R2 %.3f)\n", se.Fit.Slope, se.SlopeUnit(), se.Fit.R2)
			}
		}
	}
	// A slow drift of the machine moves both arms of a pair alike, which the ratio
	// cancels; other work on the machine does not: it slows the measuring thread in phases
	// of milliseconds (see measure.CPUUse.OtherCPUs), and then both spreads are large.
	fmt.Fprintln(bw, "\nspread per scenario: CV of ns/op over every arm, and of the on/off ratio over every point (largest, median):")
	slowRun := false
	for _, sc := range r.Scenarios {
		arms, ratios := scenarioCVs(sc)
		if len(arms) == 0 {
			continue
		}
		fmt.Fprintf(bw, "  %-10s ns/op %6s %6s", sc.Name, pct(slices.Max(arms)), pct(median(arms)))
		if len(ratios) > 0 {
			fmt.Fprintf(bw, "   ratio %6s %6s", pct(slices.Max(ratios)), pct(median(ratios)))
		}
		if slow, all := slowPoints(sc); slow > 0 {
			fmt.Fprintf(bw, "   (%d of %d points kept slow rounds)", slow, all)
			slowRun = true
		}
		fmt.Fprintln(bw)
	}
	if slowRun {
		fmt.Fprintf(bw, "note: the CPU ran slow for longer than the speed gate could wait or retake (its best getppid: %s); points that kept slow rounds mix its speeds, and their spread is the machine's: rerun on a quieter machine to compare them\n", fmtNs(r.Machine.GetppidNs))
	}
	if busy(r) {
		fmt.Fprintf(bw, "note: other processes kept %.2f CPUs busy during the run (column \"other work\"): their load, not the harness, makes most of such spread; measure on an idle machine for figures to compare\n", r.Machine.OtherCPUs)
	}
	return bw.err
}

// busyCPUs is the average CPU use of other processes past which a run counts as shared
// with other work: a few percent of one CPU is the machine's own housekeeping.
const busyCPUs = 0.1

func busy(r *Result) bool { return r.Machine.OtherCPUs > busyCPUs }

// scenarioCVs returns the CV of every arm of sc, and of every ratio.
func scenarioCVs(sc *result.Scenario) (arms, ratios []float64) {
	for _, se := range sc.Series {
		for _, p := range se.Points {
			for _, a := range p.Arms() {
				arms = append(arms, a.Summary.CV)
			}
			if p.Ratio != nil {
				ratios = append(ratios, p.Ratio.CV)
			}
		}
	}
	return arms, ratios
}

// slowPoints counts the points of sc that kept slow rounds, and all its points.
func slowPoints(sc *result.Scenario) (slow, all int) {
	for _, se := range sc.Series {
		for _, p := range se.Points {
			all++
			if p.Slow > 0 {
				slow++
			}
		}
	}
	return slow, all
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// WriteBenchstat writes every sample of r in the Go benchmark format, one line per sample,
// with the kernel and timing mode as configuration keys, so that benchstat compares runs
// (benchstat old.txt new.txt) and splits arms (benchstat -col /landlock run.txt).
func WriteBenchstat(w io.Writer, r *Result) error {
	bw := &errWriter{w: w}
	fmt.Fprintf(bw, "goos: linux\ngoarch: %s\npkg: github.com/llconform/llconform/bench\ncpu: %s\n", r.Machine.Arch, r.Machine.CPU)
	fmt.Fprintf(bw, "kernel: %s\nlandlock-abi: %d\ntiming: %s\n", r.Kernel.Release, r.Kernel.ABI, r.Machine.TimingMode)
	for _, sc := range r.Scenarios {
		for _, se := range sc.Series {
			for _, p := range se.Points {
				for _, a := range p.Arms() {
					name := "Benchmark" + result.Benchmark(sc, se, p, a.Name)
					for _, v := range a.NsPerOp {
						fmt.Fprintf(bw, "%s\t%d\t%.2f ns/op\n", name, a.Batch, v)
					}
				}
			}
		}
	}
	return bw.err
}

// errWriter keeps the first write error, so that formatting code stays linear.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}

func ci(a *result.Arm) string { return fmt.Sprintf("±%.0f%%", a.Summary.CIPercent()) }

func pct(v float64) string { return fmt.Sprintf("%.1f%%", 100*v) }

// fmtNs renders nanoseconds with a unit that keeps three significant digits.
func fmtNs(ns float64) string {
	a := math.Abs(ns)
	switch {
	case a >= 1e9:
		return fmt.Sprintf("%.3gs", ns/1e9)
	case a >= 1e6:
		return fmt.Sprintf("%.3gms", ns/1e6)
	case a >= 1e3:
		return fmt.Sprintf("%.3gus", ns/1e3)
	default:
		return fmt.Sprintf("%.3gns", ns)
	}
}

func fmtSeconds(s float64) string { return fmtNs(s * 1e9) }

// WriteSlopes writes one table across results (kernels), one row per swept series: the
// slope of the time under Landlock per unit of x, then the overhead ratio at the largest
// x. names label the columns; nil names each result by its kernel release.
func WriteSlopes(w io.Writer, names []string, results ...*Result) error {
	if names == nil {
		names = lineNames(results)
	}
	bw := &errWriter{w: w}
	modes := map[string]bool{}
	for _, r := range results {
		modes[r.Machine.TimingMode] = true
	}
	fmt.Fprintf(bw, "benchmark slopes (%s): cost under Landlock per unit, and overhead at the largest x\n", strings.Join(slices.Sorted(maps.Keys(modes)), "; "))
	tw := tabwriter.NewWriter(bw, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "SERIES\tUNIT\t%s\t\n", strings.Join(names, "\t"))
	for _, key := range sweptSeries(results) {
		slopes, overheads := make([]string, len(results)), make([]string, len(results))
		unit := ""
		var labels []string
		for i, r := range results {
			slopes[i], overheads[i] = "-", "-"
			_, se := find(r, key.scenario, key.series)
			if se == nil || len(se.Points) == 0 {
				continue
			}
			unit = se.SlopeUnit()
			if se.Fit != nil {
				slopes[i] = fmt.Sprintf("%.4g", se.Fit.Slope)
			}
			p := se.Points[len(se.Points)-1]
			if p.Ratio != nil {
				overheads[i] = fmt.Sprintf("%.2fx", p.Ratio.Median)
				labels = append(labels, p.Label)
			}
		}
		// Results measured over different sweeps (a quick run stops at a smaller x) name
		// their own largest x.
		last := ""
		if len(labels) > 0 {
			last = labels[0]
		}
		if slices.ContainsFunc(labels, func(l string) bool { return l != last }) {
			last = "the largest x"
			for i, r := range results {
				if _, se := find(r, key.scenario, key.series); se != nil && len(se.Points) > 0 && overheads[i] != "-" {
					overheads[i] += " (" + se.Points[len(se.Points)-1].Label + ")"
				}
			}
		}
		fmt.Fprintf(tw, "%s/%s\t%s\t%s\t\n", key.scenario, key.series, unit, strings.Join(slopes, "\t"))
		if len(labels) > 0 {
			fmt.Fprintf(tw, "  overhead at %s\t\t%s\t\n", last, strings.Join(overheads, "\t"))
		}
	}
	tw.Flush()
	return bw.err
}
