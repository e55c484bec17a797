// Package measure times batches of operations and takes interleaved samples of several
// arms (typically without and with Landlock), so that drift in the machine's load lands
// on every arm alike.
//
// An arm that needs a Landlock domain runs on a Thread: a goroutine locked to a fresh OS
// thread (sandbox.OnThread) that is set up once, restricted once, and then serves timing
// requests until it is closed, when the runtime discards it. The runner's own threads are
// never restricted.
//
// A Gate, reading a Probe on the measuring CPU, keeps samples taken while that CPU ran
// slow (a virtual CPU changes speed with its host's load) out of the figures.
package measure

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/llconform/llconform/internal/sandbox"
)

// Loop runs an operation n times on the calling thread and returns an error as soon as one
// operation has an unexpected outcome: a benchmark of an allowed access that was denied
// measures the wrong kernel path.
type Loop func(n int) error

// Timer times n operations.
type Timer interface {
	Time(n int) (time.Duration, error)
}

// TimerFunc adapts a function to Timer, for arms that cannot run on one persistent
// thread (restrict_self, which can only be timed once per thread).
type TimerFunc func(n int) (time.Duration, error)

// Time calls f.
func (f TimerFunc) Time(n int) (time.Duration, error) { return f(n) }

// Bounded caps the batch size of a timer whose operations are expensive to set up outside
// the timed region (a fresh thread per restrict_self), so that a sample of a cheap
// operation does not spend seconds in set-up.
func Bounded(t Timer, maxBatch int) Timer { return bounded{t, maxBatch} }

type bounded struct {
	Timer
	max int
}

// Thread is a locked OS thread that runs one Loop on request.
type Thread struct {
	req  chan int
	resp chan timing
	done chan error
}

type timing struct {
	d   time.Duration
	err error
}

// Clock reads a time on the calling thread.
type Clock func() time.Duration

// start is the origin of WallClock, so that its readings fit a Duration.
var start = time.Now()

// WallClock is monotonic wall-clock time: what a program waits for, including any time
// the thread spends preempted by other work on the machine.
func WallClock() time.Duration { return time.Since(start) }

// ThreadCPUClock is the calling thread's CPU time, user and system: what fs_bench
// measures (with times(2)). It leaves out time the thread spends preempted, so a busy
// machine disturbs it far less; it costs a system call per reading, once per batch.
func ThreadCPUClock() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		panic("clock_gettime(CLOCK_THREAD_CPUTIME_ID): " + err.Error()) // in every Linux since 2.6.12
	}
	return time.Duration(ts.Nano())
}

// Start starts a thread, pins it to cpu when cpu >= 0, and runs setup on it; batches are
// timed with clock. Setup
// prepares the thread (enforces a Landlock policy, opens what the loop needs) and returns
// the loop; whatever it changes stays on that thread, which is discarded by Close.
func Start(cpu int, clock Clock, setup func() (Loop, error)) (*Thread, error) {
	t := &Thread{req: make(chan int), resp: make(chan timing), done: make(chan error, 1)}
	ready := make(chan error, 1)
	go func() {
		t.done <- sandbox.OnThread(func() error {
			if err := Pin(cpu); err != nil {
				ready <- err
				return nil
			}
			loop, err := setup()
			ready <- err
			if err != nil {
				return nil
			}
			for n := range t.req {
				t0 := clock()
				err := loop(n)
				t.resp <- timing{clock() - t0, err}
			}
			return nil
		})
	}()
	if err := <-ready; err != nil {
		close(t.req)
		<-t.done
		return nil, err
	}
	return t, nil
}

// Pin binds the calling thread to cpu, when cpu >= 0: a thread that migrates between
// CPUs mid-sample pays for cold caches in some samples and not others.
func Pin(cpu int) error {
	if cpu < 0 {
		return nil
	}
	var set unix.CPUSet
	set.Set(cpu)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		return fmt.Errorf("pin thread to CPU %d: %w", cpu, err)
	}
	// Read the mask back: a cpuset cgroup can narrow what sched_setaffinity was given
	// without failing it, and a thread believed pinned would then migrate unseen.
	var got unix.CPUSet
	if err := unix.SchedGetaffinity(0, &got); err != nil {
		return fmt.Errorf("read the affinity of the pinned thread: %w", err)
	}
	if got.Count() != 1 || !got.IsSet(cpu) {
		return fmt.Errorf("pin thread to CPU %d: affinity is %d CPUs after sched_setaffinity", cpu, got.Count())
	}
	return nil
}

// CPUUse is a reading of the CPU time the whole machine and this process have used, to
// tell how much of the machine other work took while something was measured.
type CPUUse struct {
	at      time.Time
	machine time.Duration // busy time of every CPU, from /proc/stat
	self    time.Duration // this process's user and system time, exited threads included
}

// ReadCPUUse reads the machine's and the process's CPU time so far.
func ReadCPUUse() (CPUUse, error) {
	u := CPUUse{at: time.Now()}
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return u, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	// cpu user nice system idle iowait irq softirq steal ...: busy is user, nice, system,
	// irq and softirq. Steal is time the hypervisor gave the vCPU to someone else, which
	// no process of this machine used.
	if len(f) < 8 || f[0] != "cpu" {
		return u, fmt.Errorf("/proc/stat: unexpected first line %q", line)
	}
	var ticks int64
	for _, i := range []int{1, 2, 3, 6, 7} {
		v, err := strconv.ParseInt(f[i], 10, 64)
		if err != nil {
			return u, fmt.Errorf("/proc/stat: %w", err)
		}
		ticks += v
	}
	u.machine = time.Duration(ticks) * (time.Second / userHZ)
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		return u, fmt.Errorf("getrusage: %w", err)
	}
	u.self = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	return u, nil
}

// userHZ is the unit of /proc/stat, USER_HZ, which Linux fixes at 100 for user space.
const userHZ = 100

// OtherCPUs returns how many CPUs other processes kept busy, on average, between the
// reading since and u: 0 on an idle machine, 1 when something else ran flat out on one
// CPU. Such work slows the measuring thread even on another CPU, where it shares caches,
// memory bandwidth or (on a virtual machine) a physical core with it: on a 2-vCPU VM, a
// getppid loop pinned to CPU 1 takes 137 ns alone and 150-300 ns, changing within
// milliseconds, while an emulator runs on CPU 0, in CPU time as much as in wall-clock
// time. No choice of clock or interleaving removes that, so it is measured and reported.
// The figure has the 10 ms resolution of /proc/stat.
func (u CPUUse) OtherCPUs(since CPUUse) float64 {
	wall := u.at.Sub(since.at)
	if wall <= 0 {
		return 0
	}
	other := (u.machine - since.machine) - (u.self - since.self)
	return max(0, float64(other)/float64(wall))
}

// Time runs the loop n times on the thread and returns how long it took.
func (t *Thread) Time(n int) (time.Duration, error) {
	t.req <- n
	r := <-t.resp
	return r.d, r.err
}

// Close ends the thread; the runtime discards it with whatever domain it had.
func (t *Thread) Close() error {
	close(t.req)
	return <-t.done
}

// Config says how much to measure.
type Config struct {
	// Samples is the number of samples taken of each arm.
	Samples int
	// SampleTime is the target duration of one sample: the batch size is chosen so that a
	// batch takes about this long, which averages out timer resolution and short
	// interruptions.
	SampleTime time.Duration
	// Warmup is how long each arm runs untimed before each of its samples. Right after
	// another arm ran (or the CPU idled), the first few milliseconds of a loop run
	// measurably slower: at depth 10000 the first denied open takes 3 times the steady
	// state. Without a warm-up, interleaving would time that ramp in some samples and
	// not others.
	Warmup time.Duration
	// Parts splits a sample into consecutive sub-batches and takes the median of their
	// times: a burst of slowness shorter than a part (a host interrupt, a millisecond of
	// a busy hyperthread sibling) then moves one part rather than the sample. 0 or 1
	// times each sample in one batch; so does a Bounded timer, whose batches are few
	// operations.
	Parts int
	// Gate, when not nil, retakes rounds during which the CPU ran slow; see Gate.
	Gate *Gate
}

// Sample is one timed batch: N operations took Elapsed.
type Sample struct {
	N       int
	Elapsed time.Duration
}

// NsPerOp returns the sample's time per operation in nanoseconds.
func (s Sample) NsPerOp() float64 { return float64(s.Elapsed.Nanoseconds()) / float64(s.N) }

// maxBatch bounds a batch whatever the calibration says, so that a timer broken into
// returning zero cannot make a run endless.
const maxBatch = 1 << 30

// Calibrate returns the batch size at which t takes about target, in the way testing.B
// grows b.N: time a batch, predict, overshoot a little, never grow more than 100-fold.
func Calibrate(t Timer, target time.Duration) (int, error) {
	limit := maxBatch
	if b, ok := t.(bounded); ok {
		limit = b.max
	}
	n := 1
	for {
		d, err := t.Time(n)
		if err != nil {
			return 0, err
		}
		if d >= target || n >= limit {
			return n, nil
		}
		next := 100 * n
		if d > 0 {
			next = min(next, int(float64(n)*1.2*float64(target)/float64(d)))
		}
		n = min(max(next, n+1), limit)
	}
}

// Rounds says how a point's rounds went.
type Rounds struct {
	// Taken is every round timed; Retaken the rounds set aside as slow; Slow the slow
	// rounds kept for want of steady ones within the gate's retakes.
	Taken, Retaken, Slow int
}

// Interleaved calibrates each timer, then takes cfg.Samples samples of each, alternating
// the order of the arms on every round (ABBA...), so that a trend in the machine's speed
// affects every arm equally. It returns the samples per timer, and how the rounds went.
func Interleaved(ctx context.Context, cfg Config, timers ...Timer) ([][]Sample, Rounds, error) {
	var rs Rounds
	if cfg.Samples < 1 || cfg.SampleTime <= 0 {
		return nil, rs, errors.New("measure: need at least one sample of positive duration")
	}
	batch := make([]int, len(timers))
	for i, t := range timers {
		n, err := Calibrate(t, cfg.SampleTime)
		if err != nil {
			return nil, rs, fmt.Errorf("calibrate arm %d: %w", i, err)
		}
		batch[i] = n
	}
	warm := make([]int, len(timers))
	for i, n := range batch {
		warm[i] = int(math.Ceil(float64(n) * float64(cfg.Warmup) / float64(cfg.SampleTime)))
		if n == 1 {
			// One operation fills the sample time (a ruleset of 100,000 rules takes a third
			// of a second to build): it warms the caches it needs itself, and a warm-up
			// would double the point's time.
			warm[i] = 0
		}
	}
	g := cfg.Gate
	limit := cfg.Samples
	if g != nil {
		limit *= 1 + g.Retakes
	}
	var rounds []round
	steady := func() int {
		n := 0
		for _, r := range rounds {
			if _, ok := g.judgeRound(r); ok {
				n++
			}
		}
		return n
	}
	start := time.Now()
	for s := 0; s < limit && steady() < cfg.Samples; s++ {
		if err := ctx.Err(); err != nil {
			return nil, rs, err
		}
		if g != nil && g.RetakeTime > 0 && s >= cfg.Samples && time.Since(start) > g.RetakeTime {
			break
		}
		if g != nil {
			if err := g.await(ctx); err != nil {
				return nil, rs, err
			}
		}
		r := round{takes: make([]take, len(timers))}
		for k := range timers {
			i := k
			if s%2 == 1 {
				i = len(timers) - 1 - k
			}
			if warm[i] > 0 {
				if _, err := timers[i].Time(warm[i]); err != nil {
					return nil, rs, fmt.Errorf("arm %d, warm-up %d: %w", i, s, err)
				}
			}
			t, err := g.take(timers[i], batch[i], cfg.Parts)
			if err != nil {
				return nil, rs, fmt.Errorf("arm %d, sample %d: %w", i, s, err)
			}
			r.takes[i] = t
			for _, v := range t.readings {
				r.slowest = max(r.slowest, v)
			}
		}
		rounds = append(rounds, r)
	}
	// Judge every round by the full speed of the whole run so far, which may have risen
	// since the round was taken; keep the steady rounds in the order taken, then
	// the least slow of the others if too few were steady.
	rs.Taken = len(rounds)
	var kept [][]Sample
	var slow []round
	for _, r := range rounds {
		if smp, ok := g.judgeRound(r); ok && len(kept) < cfg.Samples {
			kept = append(kept, smp)
		} else if !ok {
			slow = append(slow, r)
		}
	}
	if len(kept) < cfg.Samples {
		slices.SortStableFunc(slow, func(a, b round) int { return cmp.Compare(a.slowest, b.slowest) })
		rs.Slow = min(cfg.Samples-len(kept), len(slow))
		for _, r := range slow[:rs.Slow] {
			smp, _ := g.judgeRound(r)
			kept = append(kept, smp)
		}
	}
	rs.Retaken = rs.Taken - len(kept)
	out := make([][]Sample, len(timers))
	for _, smp := range kept {
		for i := range smp {
			out[i] = append(out[i], smp[i])
		}
	}
	return out, rs, nil
}
