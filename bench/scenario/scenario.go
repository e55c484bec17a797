// Package scenario defines what llconform benchmarks: each scenario builds its fixtures
// (directory trees, rulesets, sockets, helper processes), times one kernel operation
// without and with Landlock on dedicated threads, and records the samples in a
// result.Scenario.
//
// Every timed operation is one or two raw system calls whose outcome is checked on every
// iteration, so that a figure always belongs to the kernel path it is labelled with (an
// "allowed" open that was denied stops the run with an error instead of measuring the
// wrong thing).
package scenario

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"time"

	"golang.org/x/sys/unix"

	"github.com/llconform/llconform/bench/measure"
	"github.com/llconform/llconform/bench/result"
	"github.com/llconform/llconform/internal/landlock"
	"github.com/llconform/llconform/internal/sandbox"
)

// Scenario is one family of measurements.
type Scenario struct {
	Name  string
	Title string
	// MinABI is the lowest Landlock ABI that has what the scenario measures.
	MinABI int
	Run    func(ctx context.Context, env *Env, out *result.Scenario) error
}

// All returns every scenario in the order they run: the noise floor, then the cheap and
// most-watched first.
func All() []Scenario {
	return []Scenario{null, pathWalk, layers, network, scopes, rules, auditing}
}

// Env is what scenarios share.
type Env struct {
	Kernel landlock.Info
	// Dir is a scratch directory that the caller removes afterwards.
	Dir string
	// CPU pins measuring threads; -1 leaves them to the scheduler.
	CPU   int
	Clock measure.Clock
	Quick bool
	// RestrictFlags go to every restrict_self: LOG_SAME_EXEC_OFF from ABI 7 on, so that
	// denials cost the same whether or not someone enabled audit on the machine (logging
	// a denial costs microseconds; the audit scenario measures it on purpose).
	RestrictFlags uint32
	Measure       measure.Config
	// Inflate slows the on arm of every pair by this fraction with extra system calls
	// (measure.Inflate), to check that a comparison catches a slowdown; 0 in any real run.
	Inflate float64
	// Log receives one progress line per point; may be io.Discard.
	Log io.Writer
}

// thread starts a measuring thread; see measure.Start.
func (e *Env) thread(setup func() (measure.Loop, error)) (*measure.Thread, error) {
	return measure.Start(e.CPU, e.Clock, setup)
}

// point measures on, and off when it is not nil, interleaved, and appends the point to se.
func (e *Env) point(ctx context.Context, se *result.Series, label string, x float64, off, on measure.Timer) error {
	timers := []measure.Timer{on}
	if off != nil {
		timers = []measure.Timer{off, on}
	}
	// Collect garbage now rather than in the middle of a sample.
	runtime.GC()
	start := time.Now()
	use0, useErr := measure.ReadCPUUse()
	samples, rounds, err := measure.Interleaved(ctx, e.Measure, timers...)
	if err != nil {
		return fmt.Errorf("%s %s: %w", se.Name, label, err)
	}
	p := &result.Point{Label: label, X: x, On: arm(samples[len(samples)-1]), Retaken: rounds.Retaken, Slow: rounds.Slow}
	if use1, err := measure.ReadCPUUse(); err == nil && useErr == nil {
		p.OtherCPUs = use1.OtherCPUs(use0)
	}
	if off != nil {
		p.Off = arm(samples[0])
	}
	se.Points = append(se.Points, p)
	fmt.Fprintf(e.Log, "  %-14s %-22s %s (%.1fs, %d rounds retaken as slow, other work %.2f CPUs)\n", se.Name, label, brief(p), time.Since(start).Seconds(), p.Retaken, p.OtherCPUs)
	return nil
}

func arm(samples []measure.Sample) *result.Arm {
	a := &result.Arm{Batch: samples[0].N}
	for _, s := range samples {
		a.NsPerOp = append(a.NsPerOp, s.NsPerOp())
	}
	return a
}

// brief is a progress figure: the fastest sample of each arm, which needs no statistics.
func brief(p *result.Point) string {
	fastest := func(a *result.Arm) float64 {
		m := a.NsPerOp[0]
		for _, v := range a.NsPerOp {
			m = min(m, v)
		}
		return m
	}
	if p.Off == nil {
		return fmt.Sprintf("on %.0f ns/op", fastest(p.On))
	}
	return fmt.Sprintf("off %.0f, on %.0f ns/op", fastest(p.Off), fastest(p.On))
}

// closeAll closes measuring threads, keeping the first error.
func closeAll(ts ...*measure.Thread) error {
	var first error
	for _, t := range ts {
		if t == nil {
			continue
		}
		if err := t.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// pair starts an unrestricted thread running off and a thread restricted by enforce
// running on (inflated by e.Inflate), measures them as one point and ends both threads.
func (e *Env) pair(ctx context.Context, se *result.Series, label string, x float64, enforce func() error, off, on func() (measure.Loop, error)) error {
	offT, err := e.thread(off)
	if err != nil {
		return fmt.Errorf("%s %s: set up the unrestricted thread: %w", se.Name, label, err)
	}
	onT, err := e.thread(func() (measure.Loop, error) {
		if err := enforce(); err != nil {
			return nil, fmt.Errorf("enforce: %w", err)
		}
		l, err := on()
		if err != nil {
			return nil, err
		}
		return measure.Inflate(l, e.Inflate, e.Clock)
	})
	if err != nil {
		closeAll(offT)
		return fmt.Errorf("%s %s: set up the restricted thread: %w", se.Name, label, err)
	}
	err = e.point(ctx, se, label, x, offT, onT)
	if cerr := closeAll(offT, onT); err == nil {
		err = cerr
	}
	return err
}

// restrictFd returns an enforce function that restricts the calling thread with an
// already-built ruleset, for rulesets too large or deep to describe by path.
func (e *Env) restrictFd(rulesetFd int) func() error {
	return func() error {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return fmt.Errorf("set no_new_privs: %w", err)
		}
		if err := landlock.RestrictSelf(rulesetFd, e.RestrictFlags); err != nil {
			return fmt.Errorf("restrict_self(flags %#x): %w", e.RestrictFlags, err)
		}
		return nil
	}
}

// policy returns an enforce function for a sandbox policy, with e.RestrictFlags on every
// layer.
func (e *Env) policy(p sandbox.Policy) func() error {
	p.Layers = slices.Clone(p.Layers)
	for i := range p.Layers {
		p.Layers[i].RestrictFlags |= e.RestrictFlags
	}
	return p.Enforce
}

// settle writes back what building the fixtures under dir dirtied, before anything is
// timed. The 10,000 nested directories of the path walk leave about 50 MB of dirty
// metadata, which the kernel's flusher writes back within the next 5 to 30 seconds,
// journal commits included: without settle, that lands on the first points measured (and
// on the unrestricted path-walk arm, whose O_TRUNC joins the journal) and not on the
// others.
func settle(dir string) error {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("settle %s: %w", dir, err)
	}
	defer unix.Close(fd)
	if err := unix.Syncfs(fd); err != nil {
		return fmt.Errorf("syncfs %s: %w", dir, err)
	}
	return nil
}

// loop returns a constant loop as a setup function, for threads that need no
// preparation beyond their restriction.
func loop(l measure.Loop) func() (measure.Loop, error) {
	return func() (measure.Loop, error) { return l, nil }
}

// skipABI returns why a feature of ABI need cannot be measured on this kernel, or "".
func (e *Env) skipABI(need int) string {
	if e.Kernel.ABI < need {
		return fmt.Sprintf("unsupported on ABI %d (needs ABI %d)", e.Kernel.ABI, need)
	}
	return ""
}

// pick returns quick in quick mode and full otherwise.
func pick[T any](e *Env, full, quick T) T {
	if e.Quick {
		return quick
	}
	return full
}

// fileDir creates env.Dir/name holding one empty file, f, and returns the directory and an
// O_PATH descriptor of it for openat loops; the caller closes the descriptor.
func fileDir(env *Env, name string) (string, int, error) {
	dir := filepath.Join(env.Dir, name)
	if err := os.Mkdir(dir, 0o700); err != nil {
		return "", -1, err
	}
	if err := os.WriteFile(filepath.Join(dir, "f"), nil, 0o600); err != nil {
		return "", -1, err
	}
	dirfd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", -1, fmt.Errorf("open %s: %w", dir, err)
	}
	return dir, dirfd, nil
}
