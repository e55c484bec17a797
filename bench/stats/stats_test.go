package stats

import (
	"math"
	"math/rand/v2"
	"testing"
)

// noisy returns n samples around centre with a relative spread cv, and, with probability
// outliers, a sample 30% slow, as a busy machine produces when it preempts a batch.
func noisy(r *rand.Rand, n int, centre, cv, outliers float64) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = centre * (1 + cv*r.NormFloat64())
		if r.Float64() < outliers {
			v[i] *= 1.3
		}
	}
	return v
}

func TestSummarize(t *testing.T) {
	s := Summarize([]float64{5, 1, 4, 2, 3, 6, 7, 8, 9, 10})
	if s.N != 10 || s.Min != 1 || s.Max != 10 || s.Mean != 5.5 || s.Median != 5.5 {
		t.Fatalf("summary %+v", s)
	}
	if s.Lo > s.Median || s.Hi < s.Median || math.IsInf(s.Lo, 0) {
		t.Errorf("confidence interval [%v, %v] does not hold the median %v", s.Lo, s.Hi, s.Median)
	}
	if want := math.Sqrt(82.5/9) / 5.5; math.Abs(s.CV-want) > 1e-12 {
		t.Errorf("CV %v, want %v", s.CV, want)
	}
}

func TestLeastSquares(t *testing.T) {
	x := []float64{1, 10, 100, 1000}
	y := make([]float64, len(x))
	for i := range x {
		y[i] = 800 + 55*x[i]
	}
	f, err := LeastSquares(x, y)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(f.Slope-55) > 1e-9 || math.Abs(f.Intercept-800) > 1e-6 || math.Abs(f.R2-1) > 1e-12 {
		t.Errorf("fit %+v, want slope 55, intercept 800, R2 1", f)
	}
	if _, err := LeastSquares([]float64{3, 3}, []float64{1, 2}); err == nil {
		t.Error("a fit over equal x succeeded")
	}
}

func TestCompareIdenticalRunsNotFlagged(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	a := noisy(r, 20, 5400, 0.03, 0)
	if c := Compare(a, a, 0.05); c.Flagged() || c.Significant {
		t.Errorf("the same samples twice were flagged: %+v", c)
	}
	// Two runs of one unchanged kernel: the U test alone fires in about alpha of the
	// trials, with the range rule it must not.
	flagged := 0
	for i := range 400 {
		outliers := float64(i%2) * 0.05
		if Compare(noisy(r, 20, 5400, 0.03, outliers), noisy(r, 20, 5400, 0.03, outliers), 0.05).Flagged() {
			flagged++
		}
	}
	if flagged > 0 {
		t.Errorf("%d of 400 pairs of identical runs flagged", flagged)
	}
}

func TestCompareSlowdownFlagged(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	missed := 0
	for range 200 {
		old := noisy(r, 20, 5400, 0.01, 0)
		c := Compare(old, noisy(r, 20, 5400*1.10, 0.01, 0), 0.05)
		if !c.Flagged() {
			missed++
			continue
		}
		if c.Delta < 5 || c.Delta > 15 {
			t.Errorf("delta %.1f%%, want about +10%%", c.Delta)
		}
	}
	// The range rule is what limits detection: 20 samples spread over about +-2.5 CV, so
	// a 10% step is caught reliably only below about 1.5% CV (at 2% it misses about one
	// time in ten).
	if missed > 2 {
		t.Errorf("an injected 10%% slowdown was missed in %d of 200 trials", missed)
	}
}

func TestCompareOverlapVetoes(t *testing.T) {
	// Significant by the U test, yet one outlier on each side bridges the ranges.
	old := []float64{100, 101, 102, 100, 101, 102, 100, 101, 102, 130}
	new := []float64{110, 111, 112, 110, 111, 112, 110, 111, 112, 99}
	c := Compare(old, new, 0.05)
	if !c.Significant || !c.Overlap || c.Flagged() {
		t.Errorf("want significant, overlapping, not flagged: %+v", c)
	}
}

func TestRatios(t *testing.T) {
	r := Ratios([]float64{2, 4, 0}, []float64{3, 4, 1, 9})
	if len(r) != 2 || r[0] != 1.5 || r[1] != 1 {
		t.Errorf("ratios %v, want [1.5 1]", r)
	}
}
