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
	s, err := Interleaved(context.Background(), cfg, off, on)
	if err != nil {
		t.Fatal(err)
	}
	if len(s) != 2 || len(s[0]) != 4 || len(s[1]) != 4 {
		t.Fatalf("samples %v", s)
	}
	if got := s[1][0].NsPerOp(); got != 2000 {
		t.Errorf("on arm %v ns/op, want 2000", got)
	}
	// After calibration: each round warms then times each arm, in ABBA order.
	rounds := log[len(log)-16:]
	want := []string{"off", "off", "on", "on", "on", "on", "off", "off", "off", "off", "on", "on", "on", "on", "off", "off"}
	for i := range want {
		if rounds[i] != want[i] {
			t.Fatalf("order %v, want %v", rounds, want)
		}
	}
	if w, b := off.calls[len(off.calls)-2], off.calls[len(off.calls)-1]; w != (b+1)/2 {
		t.Errorf("warm-up %d for a batch of %d, want half", w, b)
	}
}

func TestInterleavedStopsOnError(t *testing.T) {
	failing := TimerFunc(func(int) (time.Duration, error) { return 0, errors.New("denied") })
	if _, err := Interleaved(context.Background(), Config{Samples: 10, SampleTime: time.Millisecond}, failing); err == nil {
		t.Error("an arm's error was not reported")
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
