package actions

import (
	"encoding/json"
	"fmt"
	"runtime"
	"strconv"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/llconform/llconform/internal/landlock"
	"github.com/llconform/llconform/internal/sandbox"
)

// The tsync action's second argument: set no_new_privs before the call, or keep it unset.
const (
	TSyncNoNewPrivs   = "nnp"
	TSyncKeepNewPrivs = "keep"
)

// ThreadState is what one thread of a helper observes of its own restrictions.
type ThreadState struct {
	Tid  int    `json:"tid"`
	Read string `json:"read"` // open(/proc/self/status) result: "success" or errno name
	NNP  int    `json:"nnp"`  // -1 when it could not be read
	// NNPErr is why no_new_privs could not be read: a state with it proves nothing.
	NNPErr string `json:"nnp_err,omitempty"`
}

func observe() ThreadState {
	st := ThreadState{Tid: unix.Gettid()}
	fd, err := unix.Open("/proc/self/status", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err == nil {
		unix.Close(fd)
	}
	st.Read = sandbox.ErrnoName(err)
	if st.NNP, err = NoNewPrivs(); err != nil {
		st.NNPErr = err.Error()
	}
	return st
}

// idleThreads are threads of a helper that wait and report their state on request.
type idleThreads []chan chan ThreadState

func startIdle(n int) idleThreads {
	t := make(idleThreads, n)
	for i := range t {
		t[i] = make(chan chan ThreadState)
		started := make(chan struct{})
		go func(ask chan chan ThreadState) {
			runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
			close(started)
			for reply := range ask {
				reply <- observe()
			}
		}(t[i])
		<-started
	}
	return t
}

func (t idleThreads) observe() []ThreadState {
	out := make([]ThreadState, len(t))
	reply := make(chan ThreadState)
	for i, ask := range t {
		ask <- reply
		out[i] = <-reply
	}
	return out
}

func (t idleThreads) stop() {
	for _, ask := range t {
		close(ask)
	}
}

// RaceReport is what the tsync-compete and tsync-interrupt helpers saw.
type RaceReport struct {
	Calls   []string      `json:"calls"`   // restrict_self outcome of each calling thread
	Threads []ThreadState `json:"threads"` // every thread that took part, afterwards
	Signals int64         `json:"signals"` // signals sent to the caller during the call
}

// TSyncInterruptThreads is the selftest's number of idle threads: enough that the
// siblings cannot all prepare their credentials in one wave, so that the caller's wait
// for them can be interrupted.
const TSyncInterruptThreads = 200

type TSyncReport struct {
	Siblings []ThreadState `json:"siblings"` // after the call; the first had an earlier domain
	Caller   ThreadState   `json:"caller"`
	Before   []ThreadState `json:"before"`
}

// ReadDeny is a ruleset that denies reading files, which every thread can probe.
func ReadDeny() (int, error) {
	return landlock.CreateRuleset(&landlock.RulesetAttr{HandledAccessFS: landlock.AccessFSReadFile}, landlock.RulesetAttrSizeV1, 0)
}

func init() {
	// tsync: args are restrict_self flags and whether to set no_new_privs first. Three
	// sibling threads are started beforehand, the first with a domain of its own; the
	// calling thread then enforces a READ_FILE-denying ruleset with the flags, and every
	// thread reports what it can still do. It runs with KeepNewPrivs: as root it needs no
	// no_new_privs, so the specs can watch it propagate.
	sandbox.Register(TSyncAction, func(args []string) ([]byte, error) {
		flags, err := strconv.ParseUint(args[0], 0, 32)
		if err != nil {
			return nil, err
		}
		type sibling struct {
			ask   chan struct{}
			state chan ThreadState
		}
		sibs := make([]sibling, 3)
		for i := range sibs {
			s := sibling{ask: make(chan struct{}), state: make(chan ThreadState)}
			sibs[i] = s
			ready := make(chan error)
			go func(first bool) {
				runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
				if first {
					fd, err := landlock.CreateRuleset(&landlock.RulesetAttr{HandledAccessFS: landlock.AccessFSMakeBlock}, landlock.RulesetAttrSizeV1, 0)
					if err == nil {
						err = landlock.RestrictSelf(fd, 0)
						unix.Close(fd)
					}
					ready <- err
				} else {
					ready <- nil
				}
				for range s.ask {
					s.state <- observe()
				}
			}(i == 0)
			if err := <-ready; err != nil {
				return nil, fmt.Errorf("earlier domain on a sibling: %w", err)
			}
		}
		ask := func() []ThreadState {
			var out []ThreadState
			for _, s := range sibs {
				s.ask <- struct{}{}
				out = append(out, <-s.state)
			}
			return out
		}
		rep := TSyncReport{Before: ask()}
		if args[1] == TSyncNoNewPrivs {
			if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
				return nil, err
			}
		}
		fd, err := ReadDeny()
		if err != nil {
			return nil, fmt.Errorf("create ruleset: %w", err)
		}
		restrictErr := landlock.RestrictSelf(fd, uint32(flags))
		unix.Close(fd)
		rep.Siblings, rep.Caller = ask(), observe()
		data, err := json.Marshal(rep)
		if err != nil {
			return nil, err
		}
		return data, restrictErr
	})
	// tsync-compete: two threads call restrict_self(READ_FILE ruleset, TSYNC) at once;
	// two idle siblings and the calling thread report their state afterwards.
	sandbox.Register(TSyncCompeteAction, func([]string) ([]byte, error) {
		fd, err := ReadDeny()
		if err != nil {
			return nil, fmt.Errorf("create ruleset: %w", err)
		}
		defer unix.Close(fd)
		start := make(chan struct{})
		results := make([]chan error, 2)
		siblings := startIdle(2)
		defer siblings.stop()
		for i := range results {
			results[i] = make(chan error, 1)
			go func(done chan error) {
				// The racer runs on a thread of its own and leaves it restricted.
				runtime.LockOSThread()
				<-start
				done <- landlock.RestrictSelf(fd, landlock.RestrictSelfTSync)
			}(results[i])
		}
		close(start)
		var rep RaceReport
		for _, r := range results {
			rep.Calls = append(rep.Calls, sandbox.ErrnoName(<-r))
		}
		rep.Threads = append(siblings.observe(), observe())
		return json.Marshal(rep)
	})
	// tsync-interrupt: with idle sibling threads, the calling thread enforces a READ_FILE
	// ruleset with TSYNC while another thread keeps sending it SIGUSR1, which the Go
	// runtime catches and ignores.
	sandbox.Register(TSyncInterruptAction, func([]string) ([]byte, error) {
		fd, err := ReadDeny()
		if err != nil {
			return nil, fmt.Errorf("create ruleset: %w", err)
		}
		defer unix.Close(fd)
		idle := startIdle(TSyncInterruptThreads)
		defer idle.stop()
		var stop atomic.Bool
		var sent atomic.Int64
		pid, caller := unix.Getpid(), unix.Gettid()
		signaler := make(chan struct{})
		go func() {
			runtime.LockOSThread()
			defer close(signaler)
			for !stop.Load() {
				if unix.Tgkill(pid, caller, unix.SIGUSR1) == nil {
					sent.Add(1)
				}
			}
		}()
		for sent.Load() == 0 {
			runtime.Gosched()
		}
		call := landlock.RestrictSelf(fd, landlock.RestrictSelfTSync)
		stop.Store(true)
		<-signaler
		rep := RaceReport{Calls: []string{sandbox.ErrnoName(call)}, Signals: sent.Load()}
		rep.Threads = append(idle.observe(), observe())
		return json.Marshal(rep)
	})
	// tsync-max-layers: the calling thread enforces 16 layers, then calls restrict_self
	// with TSYNC|NO_NEW_PRIVS, one layer too many; two siblings report their state.
	sandbox.Register(TSyncMaxLayersAction, func([]string) ([]byte, error) {
		siblings := startIdle(2)
		defer siblings.stop()
		layer, err := landlock.CreateRuleset(&landlock.RulesetAttr{HandledAccessFS: landlock.AccessFSMakeBlock}, landlock.RulesetAttrSizeV1, 0)
		if err != nil {
			return nil, fmt.Errorf("create ruleset: %w", err)
		}
		defer unix.Close(layer)
		for i := 0; i < 16; i++ {
			if err := landlock.RestrictSelf(layer, 0); err != nil {
				return nil, fmt.Errorf("layer %d: %w", i+1, err)
			}
		}
		fd, err := ReadDeny()
		if err != nil {
			return nil, fmt.Errorf("create ruleset: %w", err)
		}
		defer unix.Close(fd)
		call := landlock.RestrictSelf(fd, landlock.RestrictSelfTSync|landlock.RestrictSelfNoNewPrivs)
		rep := RaceReport{Calls: []string{sandbox.ErrnoName(call)}}
		rep.Threads = append(siblings.observe(), observe())
		return json.Marshal(rep)
	})
	// restrict: calls restrict_self with ruleset fd args[0] and each of the flag sets
	// that follow, in order, and reports each errno: these calls would change every
	// thread of the runner if they succeeded.
	sandbox.Register(RestrictAction, func(args []string) ([]byte, error) {
		fd, err := strconv.Atoi(args[0])
		if err != nil {
			return nil, err
		}
		var seen []string
		for _, a := range args[1:] {
			flags, err := strconv.ParseUint(a, 0, 32)
			if err != nil {
				return nil, err
			}
			seen = append(seen, sandbox.ErrnoName(landlock.RestrictSelf(fd, uint32(flags))))
		}
		return json.Marshal(seen)
	})
}

// NoNewPrivs reads the calling thread's no_new_privs (0 or 1).
func NoNewPrivs() (int, error) {
	v, err := unix.PrctlRetInt(unix.PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0)
	if err != nil {
		return -1, fmt.Errorf("prctl(PR_GET_NO_NEW_PRIVS): %w", err)
	}
	return v, nil
}
