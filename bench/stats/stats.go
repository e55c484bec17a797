// Package stats summarises benchmark samples and tests two sets of samples for a change.
//
// Centres and confidence intervals are benchstat's (golang.org/x/perf/benchmath): the
// median with a distribution-free interval, because benchmark timings are not normal.
// Change detection pairs benchmath's Mann-Whitney U test with the 0-day/LKP rule that the
// min-max ranges of the two sides must not overlap, so that a p-value made small by many
// tight samples does not flag a shift that the spread of either side already covers.
package stats

import (
	"errors"
	"math"
	"slices"

	"golang.org/x/perf/benchmath"
)

// Confidence is the level of every confidence interval reported.
const Confidence = 0.95

// Summary describes one sample of ns/op values.
type Summary struct {
	N      int     `json:"n"`
	Median float64 `json:"median"`
	// Lo and Hi bound the median's confidence interval at Confidence. With too few values
	// for one (benchmath needs at least 6 at 95%) they are the minimum and maximum, the
	// widest interval the sample supports, so that they stay finite for JSON.
	Lo     float64 `json:"lo"`
	Hi     float64 `json:"hi"`
	Mean   float64 `json:"mean"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
	Stddev float64 `json:"stddev"`
	// CV is the coefficient of variation, Stddev/Mean: the run-to-run spread.
	CV float64 `json:"cv"`
}

// Summarize returns the summary of values; it does not modify values.
func Summarize(values []float64) Summary {
	if len(values) == 0 {
		return Summary{}
	}
	sorted := slices.Clone(values)
	sample := benchmath.NewSample(sorted, &benchmath.DefaultThresholds) // sorts sorted
	ci := benchmath.AssumeNothing.Summary(sample, Confidence)
	s := Summary{
		N:      len(sorted),
		Median: ci.Center,
		Lo:     ci.Lo,
		Hi:     ci.Hi,
		Min:    sorted[0],
		Max:    sorted[len(sorted)-1],
	}
	if math.IsInf(s.Lo, 0) || math.IsInf(s.Hi, 0) {
		s.Lo, s.Hi = s.Min, s.Max
	}
	for _, v := range sorted {
		s.Mean += v
	}
	s.Mean /= float64(len(sorted))
	if len(sorted) > 1 {
		var ss float64
		for _, v := range sorted {
			ss += (v - s.Mean) * (v - s.Mean)
		}
		s.Stddev = math.Sqrt(ss / float64(len(sorted)-1))
	}
	if s.Mean != 0 {
		s.CV = s.Stddev / s.Mean
	}
	return s
}

// CIPercent returns the half-width of the confidence interval as a percentage of the
// median (the larger side), as benchstat prints it.
func (s Summary) CIPercent() float64 {
	if s.Median == 0 {
		return 0
	}
	return 100 * max(s.Hi/s.Median-1, 1-s.Lo/s.Median)
}

// Ratios returns on[i]/off[i] for each pair of samples taken back to back. Interleaved
// pairs share whatever the machine was doing at the time, so their ratio is steadier than
// the ratio of two medians.
func Ratios(off, on []float64) []float64 {
	n := min(len(off), len(on))
	r := make([]float64, 0, n)
	for i := range n {
		if off[i] > 0 {
			r = append(r, on[i]/off[i])
		}
	}
	return r
}

// Fit is a least-squares line y = Intercept + Slope*x.
type Fit struct {
	Slope     float64 `json:"slope"`
	Intercept float64 `json:"intercept"`
	// R2 is the coefficient of determination: 1 when the points lie on the line.
	R2 float64 `json:"r2"`
	N  int     `json:"n"`
}

// LeastSquares fits a line through the points (x[i], y[i]).
func LeastSquares(x, y []float64) (Fit, error) {
	if len(x) != len(y) {
		return Fit{}, errors.New("least squares: x and y differ in length")
	}
	n := float64(len(x))
	if len(x) < 2 {
		return Fit{}, errors.New("least squares: need at least two points")
	}
	var mx, my float64
	for i := range x {
		mx += x[i]
		my += y[i]
	}
	mx /= n
	my /= n
	var sxx, sxy, syy float64
	for i := range x {
		dx, dy := x[i]-mx, y[i]-my
		sxx += dx * dx
		sxy += dx * dy
		syy += dy * dy
	}
	if sxx == 0 {
		return Fit{}, errors.New("least squares: all x are equal")
	}
	f := Fit{Slope: sxy / sxx, N: len(x)}
	f.Intercept = my - f.Slope*mx
	if syy > 0 {
		f.R2 = sxy * sxy / (sxx * syy)
	} else {
		f.R2 = 1
	}
	return f, nil
}

// Change is the verdict on two samples of the same benchmark.
type Change struct {
	Old, New Summary
	// P is the Mann-Whitney U test's p-value.
	P float64
	// Significant is P < alpha.
	Significant bool
	// Overlap says whether the min-max ranges of the two samples overlap.
	Overlap bool
	// Delta is the change of the median in percent, positive when New is larger.
	Delta float64
}

// Flagged reports whether the change is real by both rules: significant and with
// disjoint ranges.
func (c Change) Flagged() bool { return c.Significant && !c.Overlap }

// Compare tests whether old and new come from different distributions at level alpha.
func Compare(old, new []float64, alpha float64) Change {
	th := benchmath.Thresholds{CompareAlpha: alpha}
	so := benchmath.NewSample(slices.Clone(old), &th)
	sn := benchmath.NewSample(slices.Clone(new), &th)
	cmp := benchmath.AssumeNothing.Compare(so, sn)
	c := Change{
		Old:         Summarize(old),
		New:         Summarize(new),
		P:           cmp.P,
		Significant: cmp.P < alpha,
	}
	c.Overlap = len(old) == 0 || len(new) == 0 || (c.Old.Min <= c.New.Max && c.New.Min <= c.Old.Max)
	if c.Old.Median != 0 {
		c.Delta = 100 * (c.New.Median/c.Old.Median - 1)
	}
	return c
}
