package scenario

import (
	"context"
	"fmt"
	"time"

	"golang.org/x/sys/unix"

	"github.com/llconform/llconform/bench/measure"
	"github.com/llconform/llconform/bench/result"
	"github.com/llconform/llconform/internal/audit"
	"github.com/llconform/llconform/internal/landlock"
	"github.com/llconform/llconform/internal/sandbox"
)

// auditing times a denial with and without its audit record (ABI 7). Both arms run under
// the same one-layer domain; only the logging differs: the off arm's domain was enforced
// with LOG_SAME_EXEC_OFF, the on arm's with the default, while audit is enabled and every
// record is read from the audit multicast group.
var auditing = Scenario{
	Name:   "Audit",
	Title:  "denial cost with audit logging on and off",
	MinABI: 7,
	Run:    runAudit,
}

// auditBatch bounds a sample of logged denials. A denial queues about four records
// (Landlock access, syscall, proctitle, end of event); past the kernel's backlog limit
// (64 by default) records are dropped, and a dropped record costs less than a delivered
// one. So samples are small and the backlog is drained before each.
const auditBatch = 8

func runAudit(ctx context.Context, env *Env, out *result.Scenario) error {
	se := &result.Series{Name: "denial", Op: fmt.Sprintf("openat(O_WRONLY) denied by one layer, in batches of %d with the audit backlog drained in between; off: domain with LOG_SAME_EXEC_OFF (no record), on: default logging, audit enabled, records read", auditBatch)}
	out.Series = []*result.Series{se}
	c, err := audit.Open(audit.Options{})
	if err != nil {
		se.Skipped = err.Error()
		return nil
	}
	defer c.Close()
	if err := c.Enable(); err != nil {
		se.Skipped = fmt.Sprintf("enable audit: %v", err)
		return nil
	}
	start, err := c.Status()
	if err != nil {
		return fmt.Errorf("audit status: %w", err)
	}
	mark := c.Mark()

	dir, dirfd, err := fileDir(env, "audit")
	if err != nil {
		return err
	}
	defer unix.Close(dirfd)

	p := sandbox.FS(landlock.AccessFSReadFile|landlock.AccessFSWriteFile,
		sandbox.PathRule{Path: dir, Access: landlock.AccessFSReadFile})
	denied := openLoop(dirfd, "f", unix.O_WRONLY, unix.EACCES)
	// Same layer, without its records, whatever flags the caller gave env.
	quiet := sandbox.Policy{Layers: []sandbox.Layer{p.Layers[0]}}
	quiet.Layers[0].RestrictFlags = landlock.RestrictSelfLogSameExecOff
	offT, err := env.thread(func() (measure.Loop, error) {
		if err := quiet.Enforce(); err != nil {
			return nil, fmt.Errorf("enforce: %w", err)
		}
		return denied, nil
	})
	if err != nil {
		return err
	}
	onT, err := env.thread(func() (measure.Loop, error) {
		if err := p.Enforce(); err != nil {
			return nil, fmt.Errorf("enforce: %w", err)
		}
		return denied, nil
	})
	if err != nil {
		closeAll(offT)
		return err
	}
	drained := func(t measure.Timer) measure.Timer {
		return measure.Bounded(measure.TimerFunc(func(n int) (time.Duration, error) {
			if err := drain(c); err != nil {
				return 0, err
			}
			return t.Time(n)
		}), auditBatch)
	}
	err = env.point(ctx, se, "open/denied", 0, drained(offT), drained(onT))
	if cerr := closeAll(offT, onT); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}

	// The records must have been produced and not lost, or the on arm measured
	// something else.
	if err := drain(c); err != nil {
		return err
	}
	time.Sleep(100 * time.Millisecond) // the multicast copy trails the backlog
	records := 0
	for _, m := range c.Since(mark) {
		if m.Type == audit.TypeLandlockAccess {
			records++
		}
	}
	if records == 0 {
		return fmt.Errorf("no Landlock access record received while logging denials")
	}
	end, err := c.Status()
	if err != nil {
		return fmt.Errorf("audit status: %w", err)
	}
	out.Notes = append(out.Notes, fmt.Sprintf("%d Landlock access records read; the kernel lost %d records during the run (backlog limit %d)", records, end.Lost-start.Lost, end.BacklogLimit))
	return nil
}

// drain waits until the kernel's audit backlog is empty.
func drain(c *audit.Client) error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		s, err := c.Status()
		if err != nil {
			return fmt.Errorf("audit status: %w", err)
		}
		if s.Backlog == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the audit backlog stays at %d records", s.Backlog)
		}
		time.Sleep(time.Millisecond)
	}
}
