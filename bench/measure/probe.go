package measure

import (
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// Probe times batches of getppid on a thread of its own, pinned to the measuring CPU: the
// cheapest system call, which no LSM checks, so its cost follows the CPU's speed alone.
type Probe struct {
	t     *Thread
	batch int
}

// probeTime is the length of one probe reading: long enough to average over the
// scheduler tick and timer resolution, short enough to add little to a 10 ms sample.
const probeTime = 100 * time.Microsecond

// NewProbe starts a probe on cpu (-1: unpinned), timed with clock.
func NewProbe(cpu int, clock Clock) (*Probe, error) {
	t, err := Start(cpu, clock, func() (Loop, error) { return GetppidLoop(os.Getppid()), nil })
	if err != nil {
		return nil, fmt.Errorf("start the speed probe: %w", err)
	}
	n, err := Calibrate(t, probeTime)
	if err != nil {
		t.Close()
		return nil, fmt.Errorf("calibrate the speed probe: %w", err)
	}
	return &Probe{t: t, batch: n}, nil
}

// Read returns the cost of getppid now, in ns.
func (p *Probe) Read() (float64, error) {
	d, err := p.t.Time(p.batch)
	if err != nil {
		return 0, err
	}
	return Sample{N: p.batch, Elapsed: d}.NsPerOp(), nil
}

// Close ends the probe's thread.
func (p *Probe) Close() error { return p.t.Close() }

// GetppidLoop calls getppid, expecting ppid: the cheapest system call there is, checked
// like every timed operation.
func GetppidLoop(ppid int) Loop {
	return func(n int) error {
		for range n {
			if r, _, _ := unix.RawSyscall(unix.SYS_GETPPID, 0, 0, 0); int(r) != ppid {
				return fmt.Errorf("getppid: got %d, want %d", r, ppid)
			}
		}
		return nil
	}
}
