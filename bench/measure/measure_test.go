package measure

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// fake is a timer whose operations take perOp each; it records the batches it ran.
type fake struct {
	name  string
	perOp time.Duration
	log   *[]string
	calls []int
}

func (f *fake) Time(n int) (time.Duration, error) {
	f.calls = append(f.calls, n)
	*f.log = append(*f.log, f.name)
	return time.Duration(n) * f.perOp, nil
}

func TestCalibrate(t *testing.T) {
	var log []string
	f := &fake{perOp: 300 * time.Nanosecond, log: &log}
	n, err := Calibrate(f, 10*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Duration(n) * f.perOp; d < 10*time.Millisecond || d > 15*time.Millisecond {
		t.Errorf("batch %d takes %v, want 10-15ms", n, d)
	}
	for i := 1; i < len(f.calls); i++ {
		if f.calls[i] > 100*f.calls[i-1] {
			t.Errorf("batch grew more than 100-fold: %v", f.calls)
		}
	}
	if n, _ := Calibrate(Bounded(f, 16), time.Second); n != 16 {
		t.Errorf("bounded calibration chose %d, want 16", n)
	}
}

func TestInterleaved(t *testing.T) {
	var log []string
	off := &fake{name: "off", perOp: time.Microsecond, log: &log}
	on := &fake{name: "on", perOp: 2 * time.Microsecond, log: &log}
	cfg := Config{Samples: 4, SampleTime: time.Millisecond, Warmup: time.Millisecond / 2}
	s, rounds, err := Interleaved(context.Background(), cfg, off, on)
	if err != nil {
		t.Fatal(err)
	}
	if rounds != (Rounds{Taken: 4}) {
		t.Errorf("rounds %+v without a gate, want 4 taken and none retaken", rounds)
	}
	if len(s) != 2 || len(s[0]) != 4 || len(s[1]) != 4 {
		t.Fatalf("samples %v", s)
	}
	if got := s[1][0].NsPerOp(); got != 2000 {
		t.Errorf("on arm %v ns/op, want 2000", got)
	}
	// After calibration: each round warms then times each arm, in ABBA order.
	order := log[len(log)-16:]
	want := []string{"off", "off", "on", "on", "on", "on", "off", "off", "off", "off", "on", "on", "on", "on", "off", "off"}
	for i := range want {
		if order[i] != want[i] {
			t.Fatalf("order %v, want %v", order, want)
		}
	}
	if w, b := off.calls[len(off.calls)-2], off.calls[len(off.calls)-1]; w != (b+1)/2 {
		t.Errorf("warm-up %d for a batch of %d, want half", w, b)
	}
}

func TestInterleavedStopsOnError(t *testing.T) {
	failing := TimerFunc(func(int) (time.Duration, error) { return 0, errors.New("denied") })
	if _, _, err := Interleaved(context.Background(), Config{Samples: 10, SampleTime: time.Millisecond}, failing); err == nil {
		t.Error("an arm's error was not reported")
	}
}

// readings returns a gate reference that yields vs in turn, then the last one for good.
func readings(vs ...float64) func() (float64, error) {
	return func() (float64, error) {
		v := vs[0]
		if len(vs) > 1 {
			vs = vs[1:]
		}
		return v, nil
	}
}

func TestGateRetakesSlowRounds(t *testing.T) {
	var log []string
	off := &fake{name: "off", perOp: time.Microsecond, log: &log}
	on := &fake{name: "on", perOp: 2 * time.Microsecond, log: &log}
	// Five readings per round: one awaiting full speed, then one before and one after
	// each arm's single part. Round 2 reads 20% over the fastest after the off arm: it
	// is retaken. Round 4 reads 5% over: within tolerance.
	g := &Gate{Tolerance: 0.1, Retakes: 3, Read: readings(
		100, 100, 100, 100, 100,
		100, 100, 120, 100, 100,
		100, 100, 100, 100, 100,
		100, 105, 100, 100, 100,
		100)}
	s, rounds, err := Interleaved(context.Background(), Config{Samples: 4, SampleTime: time.Millisecond, Gate: g}, off, on)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Rounds{Taken: 5, Retaken: 1}); rounds != want {
		t.Errorf("rounds %+v, want %+v", rounds, want)
	}
	if len(s[0]) != 4 || len(s[1]) != 4 {
		t.Errorf("%d and %d samples, want 4 of each", len(s[0]), len(s[1]))
	}
}

func TestGateJudgesByTheRunsFastest(t *testing.T) {
	var log []string
	f := &fake{name: "a", perOp: time.Microsecond, log: &log}
	// The first two rounds read 150, then the CPU speeds up to 100: the early rounds were
	// slow after all and are retaken, although they passed when taken.
	g := &Gate{Tolerance: 0.1, Retakes: 3, Read: readings(150, 150, 150, 150, 150, 150, 100)}
	_, rounds, err := Interleaved(context.Background(), Config{Samples: 3, SampleTime: time.Millisecond, Gate: g}, f)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Rounds{Taken: 5, Retaken: 2}); rounds != want {
		t.Errorf("rounds %+v, want %+v", rounds, want)
	}
	if g.Fastest() != 100 {
		t.Errorf("fastest %v, want 100", g.Fastest())
	}
}

func TestGateKeepsLeastSlowWhenRetakesRunOut(t *testing.T) {
	var log []string
	f := &fake{name: "a", perOp: time.Microsecond, log: &log}
	// Prime finds 100; every round then reads 130 or more, and the gate may not wait:
	// after (1+1)*3 rounds the point keeps the three least slow, and says so.
	g := &Gate{Tolerance: 0.1, Retakes: 1, Read: readings(100,
		200, 200, 200, 140, 140, 140, 130, 130, 130, 160, 160, 160, 135, 135, 135, 170, 170, 170)}
	if err := g.Prime(time.Nanosecond); err != nil {
		t.Fatal(err)
	}
	s, rounds, err := Interleaved(context.Background(), Config{Samples: 3, SampleTime: time.Millisecond, Gate: g}, f)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Rounds{Taken: 6, Retaken: 3, Slow: 3}); rounds != want {
		t.Errorf("rounds %+v, want %+v", rounds, want)
	}
	if len(s[0]) != 3 {
		t.Errorf("%d samples, want 3", len(s[0]))
	}
}

func TestGateSupport(t *testing.T) {
	// Two stray readings of 80 among many at 100: with a support of 3, full speed is 100.
	g := &Gate{Tolerance: 0.1, Support: 3, Read: readings(100, 80, 104, 100, 80, 100, 101, 100)}
	if err := g.Prime(time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if got := g.Fastest(); got != 100 {
		t.Errorf("full speed %v ns/op, want 100 (80 was read only twice)", got)
	}
	if !g.steady(109) || g.steady(111) {
		t.Error("tolerance of 10% over 100 ns/op misjudged 109 or 111")
	}
}

// script is a timer whose successive batches take the given ns per operation.
type script struct{ nsPerOp []float64 }

func (s *script) Time(n int) (time.Duration, error) {
	v := s.nsPerOp[0]
	if len(s.nsPerOp) > 1 {
		s.nsPerOp = s.nsPerOp[1:]
	}
	return time.Duration(v * float64(n)), nil
}

func TestPartsMedian(t *testing.T) {
	// One part of five ran through a burst of slowness: the sample is the median part.
	tk, err := (*Gate)(nil).take(&script{[]float64{100, 103, 190, 101, 99}}, 50, 5)
	if err != nil {
		t.Fatal(err)
	}
	smp, ok := (*Gate)(nil).judge(tk)
	if !ok || smp.N != 50 || smp.NsPerOp() != 101 {
		t.Errorf("sample %+v (%v ns/op), ok %v; want 50 operations at 101 ns/op", smp, smp.NsPerOp(), ok)
	}
}

func TestGateDropsPartsReadSlow(t *testing.T) {
	g := &Gate{Tolerance: 0.1, Read: readings(100, 100, 150, 100, 100, 100)}
	// The reading between parts 2 and 3 is slow: both parts are left out, and the
	// median is taken of parts 1, 4 and 5.
	tk, err := g.take(&script{[]float64{100, 140, 150, 102, 104}}, 50, 5)
	if err != nil {
		t.Fatal(err)
	}
	smp, ok := g.judge(tk)
	if !ok || smp.NsPerOp() != 102 {
		t.Errorf("sample %v ns/op, ok %v; want 102 ns/op", smp.NsPerOp(), ok)
	}
	// Slow readings around three parts of five leave no majority: the take is slow.
	g = &Gate{Tolerance: 0.1, Read: readings(100, 150, 100, 150, 100, 100, 100)}
	tk, err = g.take(&script{[]float64{100}}, 50, 5)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := g.judge(tk); ok {
		t.Error("a take with 3 of 5 parts read slow was judged steady")
	}
}

func TestProbe(t *testing.T) {
	p, err := NewProbe(-1, WallClock)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	v, err := p.Read()
	if err != nil || v <= 0 {
		t.Errorf("getppid read %v ns, err %v", v, err)
	}
}

func TestThread(t *testing.T) {
	if _, err := Start(-1, WallClock, func() (Loop, error) { return nil, errors.New("no") }); err == nil {
		t.Error("a failed set-up started a thread")
	}
	var setupTid, loopTid, ran int
	th, err := Start(-1, ThreadCPUClock, func() (Loop, error) {
		setupTid = unix.Gettid()
		return func(n int) error { loopTid = unix.Gettid(); ran += n; return nil }, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := th.Time(5); err != nil || ran != 5 {
		t.Errorf("Time(5): ran %d, err %v", ran, err)
	}
	if loopTid != setupTid {
		t.Errorf("set-up ran on thread %d, the loop on %d", setupTid, loopTid)
	}
	if err := th.Close(); err != nil {
		t.Error(err)
	}
	// The thread, with whatever set-up did to it, must be gone.
	task := fmt.Sprintf("/proc/self/task/%d", setupTid)
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(task); errors.Is(err, os.ErrNotExist) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("thread %d still exists after Close", setupTid)
		}
	}
}

func TestPinnedBeforeSetup(t *testing.T) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		t.Fatal(err)
	}
	cpu := -1
	for c := range len(set) * 64 {
		if set.IsSet(c) {
			cpu = c
		}
	}
	var inSetup unix.CPUSet
	th, err := Start(cpu, WallClock, func() (Loop, error) {
		return func(int) error { return nil }, unix.SchedGetaffinity(0, &inSetup)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer th.Close()
	if inSetup.Count() != 1 || !inSetup.IsSet(cpu) {
		t.Errorf("set-up ran with %d CPUs allowed, want only CPU %d", inSetup.Count(), cpu)
	}
}

func TestOtherCPUs(t *testing.T) {
	a, err := ReadCPUUse()
	if err != nil {
		t.Fatal(err)
	}
	b := a
	b.at = a.at.Add(time.Second)
	b.machine = a.machine + 1500*time.Millisecond
	b.self = a.self + time.Second
	if got := b.OtherCPUs(a); got < 0.499 || got > 0.501 {
		t.Errorf("other work %v CPUs, want 0.5", got)
	}
	// This process's exact rusage can exceed the machine's 10 ms ticks: never negative.
	b.self = a.self + 2*time.Second
	if got := b.OtherCPUs(a); got != 0 {
		t.Errorf("other work %v CPUs, want 0", got)
	}
}
