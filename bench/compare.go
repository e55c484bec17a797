package bench

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/llconform/llconform/bench/stats"
)

// CompareOptions say when a change counts.
type CompareOptions struct {
	// Alpha is the U test's significance level (default 0.05).
	Alpha float64
	// Threshold is the slowdown, in percent of the old median, past which a flagged
	// change of a gated metric fails the comparison (default 5).
	Threshold float64
	// Gate lists the metrics that can fail it: "on" (time under Landlock), "off" (time
	// without) and "ratio" (on/off, the default). Interleaved pairs share the machine's
	// state, so the ratio cancels load and machine speed, which shift whole runs by tens
	// of percent on a shared host (two runs of one kernel there flagged 11 of 86 "on"
	// metrics and 1 of 70 ratios); it also cancels a change of the kernel's path outside
	// Landlock, which is not Landlock's cost. Points without an off arm (ruleset build,
	// restrict_self) have no ratio: they gate only when "on" is listed.
	Gate []string
}

// Comparison is the outcome of comparing two results, benchmark by benchmark.
type Comparison struct {
	Old, New string // Header of each result
	Rows     []Row
	// OnlyOld and OnlyNew name benchmarks present on one side only.
	OnlyOld, OnlyNew []string
	// Warnings say why the two results may not be comparable at all.
	Warnings []string
	Options  CompareOptions
}

// Row compares one metric of one benchmark.
type Row struct {
	// Benchmark is "Scenario/series/point", Metric "off", "on" or "ratio".
	Benchmark, Metric string
	stats.Change
	// Regression is a flagged slowdown past the threshold of a gated metric.
	Regression bool
}

// Compare tests every metric present in both results. A change is flagged only when the
// Mann-Whitney U test finds it significant at opts.Alpha and the min-max ranges of the two
// samples do not overlap. The exit status is 1 when a gated metric regressed past
// opts.Threshold, 0 otherwise.
func Compare(old, new *Result, opts CompareOptions) (*Comparison, int) {
	if opts.Alpha == 0 {
		opts.Alpha = 0.05
	}
	if opts.Threshold == 0 {
		opts.Threshold = 5
	}
	if len(opts.Gate) == 0 {
		opts.Gate = []string{"ratio"}
	}
	c := &Comparison{Old: Header(old), New: Header(new), Options: opts}
	if old.Machine.TimingMode != new.Machine.TimingMode {
		c.Warnings = append(c.Warnings, fmt.Sprintf("timing modes differ: %q vs %q", old.Machine.TimingMode, new.Machine.TimingMode))
	}
	if old.Machine.CPU != new.Machine.CPU {
		c.Warnings = append(c.Warnings, fmt.Sprintf("CPUs differ: %q vs %q", old.Machine.CPU, new.Machine.CPU))
	}
	for _, side := range []struct {
		name string
		r    *Result
	}{{"old", old}, {"new", new}} {
		if inj := side.r.Config.Injected; inj > 0 {
			c.Warnings = append(c.Warnings, fmt.Sprintf("the %s run has a slowdown of %g%% injected into its Landlock arms on purpose", side.name, inj))
		}
		if busy(side.r) {
			c.Warnings = append(c.Warnings, fmt.Sprintf("the %s run shared the machine with other work (%.2f CPUs busy): its spread may hide a change or its load fake one", side.name, side.r.Machine.OtherCPUs))
		}
	}
	oldM, newM := metrics(old), metrics(new)
	status := 0
	for _, m := range newM {
		o := find2(oldM, m.bench, m.metric)
		if o == nil {
			c.OnlyNew = appendOnce(c.OnlyNew, m.bench)
			continue
		}
		row := Row{Benchmark: m.bench, Metric: m.metric, Change: stats.Compare(o.values, m.values, opts.Alpha)}
		row.Regression = row.Flagged() && row.Delta > opts.Threshold && slices.Contains(opts.Gate, m.metric)
		if row.Regression {
			status = 1
		}
		c.Rows = append(c.Rows, row)
	}
	for _, m := range oldM {
		if find2(newM, m.bench, m.metric) == nil {
			c.OnlyOld = appendOnce(c.OnlyOld, m.bench)
		}
	}
	return c, status
}

type metric struct {
	bench, metric string
	values        []float64
}

// metrics lists the samples of every arm of r, and the per-pair ratios.
func metrics(r *Result) []metric {
	var ms []metric
	for _, sc := range r.Scenarios {
		for _, se := range sc.Series {
			for _, p := range se.Points {
				name := sc.Name + "/" + se.Name + "/" + p.Label
				for _, a := range p.Arms() {
					ms = append(ms, metric{name, a.Name, a.NsPerOp})
				}
				if p.Off != nil {
					ms = append(ms, metric{name, "ratio", stats.Ratios(p.Off.NsPerOp, p.On.NsPerOp)})
				}
			}
		}
	}
	return ms
}

func find2(ms []metric, bench, name string) *metric {
	for i := range ms {
		if ms[i].bench == bench && ms[i].metric == name {
			return &ms[i]
		}
	}
	return nil
}

func appendOnce(s []string, v string) []string {
	if slices.Contains(s, v) {
		return s
	}
	return append(s, v)
}

// Write prints the comparison: every row with both medians, the change, the p-value and
// the verdict; then what could not be compared.
func (c *Comparison) Write(w io.Writer) error {
	bw := &errWriter{w: w}
	fmt.Fprintf(bw, "old: %s\nnew: %s\n", c.Old, c.New)
	for _, warn := range c.Warnings {
		fmt.Fprintf(bw, "warning: %s\n", warn)
	}
	fmt.Fprintf(bw, "flagged: U test p < %g and disjoint min-max ranges; fails: flagged %s more than %+g%%\n\n",
		c.Options.Alpha, strings.Join(c.Options.Gate, ", "), c.Options.Threshold)
	tw := tabwriter.NewWriter(bw, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "benchmark\tmetric\told\tnew\tdelta\tp\tverdict")
	for _, r := range c.Rows {
		verdict := "~"
		switch {
		case r.Regression:
			verdict = "REGRESSION"
		case r.Flagged():
			verdict = "changed"
		case r.Significant:
			verdict = "~ (ranges overlap)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%+.1f%%\t%.3f\t%s\n", r.Benchmark, r.Metric,
			fmtMetric(r.Metric, r.Old.Median), fmtMetric(r.Metric, r.New.Median), r.Delta, r.P, verdict)
	}
	tw.Flush()
	for _, b := range c.OnlyOld {
		fmt.Fprintf(bw, "only in old: %s\n", b)
	}
	for _, b := range c.OnlyNew {
		fmt.Fprintf(bw, "only in new: %s\n", b)
	}
	return bw.err
}

func fmtMetric(metric string, v float64) string {
	if metric == "ratio" {
		return fmt.Sprintf("%.3fx", v)
	}
	return fmtNs(v)
}
