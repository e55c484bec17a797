package measure

import (
	"fmt"
	"math"
	"os"
	"time"
)

// Inflate returns a loop that costs about 1+by times what l costs per operation, by
// calling getppid after each batch as many times as that takes. It exists to check the
// comparison of results: a run with an injected slowdown made of real system calls, which
// the machine's speed changes slow down as much as the operation itself, must be flagged
// against a run without.
//
// It must run on the thread that will run the loop, after that thread's set-up: it times
// l and getppid there, taking the fastest of several short batches of each so that a slow
// phase of the CPU during the calibration does not skew the proportion.
func Inflate(l Loop, by float64, clock Clock) (Loop, error) {
	if by <= 0 {
		return l, nil
	}
	g := GetppidLoop(os.Getppid())
	opNs, err := fastestNs(l, clock)
	if err != nil {
		return nil, fmt.Errorf("inflate: time the operation: %w", err)
	}
	callNs, err := fastestNs(g, clock)
	if err != nil {
		return nil, fmt.Errorf("inflate: time getppid: %w", err)
	}
	perOp := by * opNs / callNs
	return func(n int) error {
		if err := l(n); err != nil {
			return err
		}
		return g(int(math.Round(float64(n) * perOp)))
	}, nil
}

// fastestNs returns the lowest ns/op of 9 batches of about 2 ms of l.
func fastestNs(l Loop, clock Clock) (float64, error) {
	t := TimerFunc(func(n int) (time.Duration, error) {
		t0 := clock()
		err := l(n)
		return clock() - t0, err
	})
	n, err := Calibrate(t, 2*time.Millisecond)
	if err != nil {
		return 0, err
	}
	best := math.Inf(1)
	for range 9 {
		d, err := t.Time(n)
		if err != nil {
			return 0, err
		}
		best = min(best, Sample{N: n, Elapsed: d}.NsPerOp())
	}
	return best, nil
}
