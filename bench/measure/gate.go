package measure

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// Gate keeps samples taken while the measuring CPU ran slow out of a point's figures.
//
// A virtual CPU does not run at one speed: on the 2-vCPU Firecracker guests this project
// is developed on, getppid takes 130 ns in some phases and 200 ns in others, phases that
// last from a millisecond to minutes while the guest is idle (no steal time, no
// other process), most likely another tenant on the physical core. Such a phase slows
// whatever runs in it, the kernel path measured included, in CPU time as much as in wall
// time, so interleaving cancels it in the on/off ratio but not in either arm: samples
// from both phases make a spread of 20-30% that has nothing to do with the kernel.
//
// The gate reads a reference operation (Read, normally a Probe on the measuring CPU)
// before each round of samples, waiting for a slow phase to end, and between the parts of
// each sample (Config.Parts). A reading more than Tolerance over the CPU's full speed (see
// Support) marks a slow phase: the parts on either side of it do not count, and an arm
// whose sample has no majority of counted parts makes its round slow. A slow round is
// retaken; all arms of a round are kept or retaken together, so the pairs behind the
// ratio stay back to back. The point reports how many rounds were retaken, and how many
// slow ones it had to keep when retakes ran out.
type Gate struct {
	// Read returns the current cost of the reference operation, in ns/op.
	Read func() (float64, error)
	// Tolerance is how much slower than full speed a reading may be, as a fraction (0.1
	// is 10%).
	Tolerance float64
	// Retakes bounds the rounds of a point to (1+Retakes)*Samples, so that a machine
	// slow for good still finishes; slow rounds then fill the gap, least slow first.
	Retakes int
	// RetakeTime, when positive, also ends a point's retakes once its rounds have taken
	// that long: rounds of a third of a second (a ruleset of 100,000 rules) would
	// otherwise retake for half a minute on a machine slow for minutes.
	RetakeTime time.Duration
	// Wait is how long, in all, the gate may wait before rounds for a slow phase to end,
	// polling the reference: cheaper than retaking round after round through a phase of
	// seconds. Once it is spent, rounds are taken at once and judged after.
	Wait time.Duration
	// Support is how many readings must be at least as fast as the full speed the gate
	// judges by: the Support-th fastest reading of the run is that speed, so that a few
	// stray readings faster than the CPU ever runs for long (getppid at 120 ns three
	// times in 200,000 readings, against thousands at 126-129 ns) do not set a bar that
	// the CPU's real full speed fails. 0 or 1 judges by the fastest reading.
	Support int
	waited  time.Duration
	lowest  []float64 // the Support fastest readings so far, ascending
}

// Waited returns how long the gate has waited for slow phases to end.
func (g *Gate) Waited() time.Duration { return g.waited }

// pollInterval is how often a waiting gate reads its reference.
const pollInterval = 5 * time.Millisecond

// await returns once the reference reads at full speed, or the wait budget is spent.
func (g *Gate) await(ctx context.Context) error {
	for {
		v, err := g.read()
		if err != nil {
			return err
		}
		if g.steady(v) || g.waited >= g.Wait {
			return nil
		}
		t0 := time.Now()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pollInterval):
		}
		g.waited += time.Since(t0)
	}
}

// Prime reads the reference for d, so that full speed is known before the first round: a
// run that starts in a slow phase would otherwise accept its first rounds.
func (g *Gate) Prime(d time.Duration) error {
	for end := time.Now().Add(d); time.Now().Before(end); {
		if _, err := g.read(); err != nil {
			return err
		}
	}
	return nil
}

// Fastest returns the CPU's full speed so far, as the cost of the reference in ns/op:
// the Support-th lowest reading, or the highest of fewer; 0 before any.
func (g *Gate) Fastest() float64 {
	if len(g.lowest) == 0 {
		return 0
	}
	return g.lowest[len(g.lowest)-1]
}

func (g *Gate) read() (float64, error) {
	v, err := g.Read()
	if err != nil {
		return 0, fmt.Errorf("speed reference: %w", err)
	}
	keep := max(g.Support, 1)
	if len(g.lowest) < keep || v < g.lowest[len(g.lowest)-1] {
		i, _ := slices.BinarySearch(g.lowest, v)
		g.lowest = slices.Insert(g.lowest, i, v)
		if len(g.lowest) > keep {
			g.lowest = g.lowest[:keep]
		}
	}
	return v, nil
}

// steady says whether a reading was taken at full speed.
func (g *Gate) steady(reading float64) bool {
	return reading <= (1+g.Tolerance)*g.Fastest()
}

// take is one arm's sample as taken: the time of each part of its operations, and with
// a gate, the readings around them (readings[k] before part k, readings[k+1] after it).
type take struct {
	each     int
	parts    []time.Duration
	readings []float64
}

// judge returns the sample as the median of its parts taken at full speed, that is with
// steady readings on both sides, and whether a majority of the parts were: a burst of
// slowness inside a part that the readings missed then moves one part of several, not the
// median. Without a gate every part counts.
func (g *Gate) judge(t take) (Sample, bool) {
	var clean []time.Duration
	for k, d := range t.parts {
		if g == nil || g.steady(t.readings[k]) && g.steady(t.readings[k+1]) {
			clean = append(clean, d)
		}
	}
	if 2*len(clean) <= len(t.parts) {
		return Sample{}, false
	}
	slices.Sort(clean)
	mid := clean[len(clean)/2]
	if len(clean)%2 == 0 {
		mid = (clean[len(clean)/2-1] + mid) / 2
	}
	n := len(t.parts)
	return Sample{N: t.each * n, Elapsed: mid * time.Duration(n)}, true
}

// round is one take of every arm.
type round struct {
	takes   []take
	slowest float64 // the slowest reading during the round, 0 without a gate
}

// judgeRound returns the round's samples, and whether every arm's was taken at full
// speed.
func (g *Gate) judgeRound(r round) ([]Sample, bool) {
	out := make([]Sample, len(r.takes))
	steady := true
	for i, t := range r.takes {
		var ok bool
		out[i], ok = g.judge(t)
		if !ok {
			// Too few parts ran at full speed: fall back on all of them, for a round kept
			// when retakes run out.
			out[i], _ = (*Gate)(nil).judge(t)
			steady = false
		}
	}
	return out, steady
}

// take times a batch of n in parts sub-batches (fewer when n is smaller, one for a
// Bounded timer), with a reading of g before and after each part when g is not nil.
func (g *Gate) take(t Timer, n, parts int) (take, error) {
	if _, ok := t.(bounded); ok || parts < 1 {
		parts = 1
	}
	parts = min(parts, n)
	tk := take{each: n / parts}
	read := func() error {
		if g == nil {
			return nil
		}
		v, err := g.read()
		tk.readings = append(tk.readings, v)
		return err
	}
	if err := read(); err != nil {
		return tk, err
	}
	for range parts {
		d, err := t.Time(tk.each)
		if err != nil {
			return tk, err
		}
		tk.parts = append(tk.parts, d)
		if err := read(); err != nil {
			return tk, err
		}
	}
	return tk, nil
}
