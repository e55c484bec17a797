package actions

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/llconform/llconform/internal/landlock"
	"github.com/llconform/llconform/internal/sandbox"
)

// SetuidReport is what the setuid-threads helper saw, each step as an outcome name.
type SetuidReport struct {
	NoDomain string   `json:"no_domain"` // control, no domain: euid round trip on every thread
	Unscoped string   `json:"unscoped"`  // control, domain scoping nothing: the same
	Signals  string   `json:"signals"`   // scoped thread: tgkill(every other thread, 0)
	Setuid   string   `json:"setuid"`    // scoped thread: setuid(new uid), when signals passed
	Stale    []string `json:"stale"`     // threads whose uids are not all the new one afterwards
	Sibling  int      `json:"sibling"`   // getuid() on a thread started before any domain
}

// threadUIDs returns, for every thread of this process, its real, effective, saved and
// filesystem uids.
func threadUIDs() (map[string][4]int, error) {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return nil, err
	}
	uids := map[string][4]int{}
	for _, t := range tasks {
		status, err := os.ReadFile("/proc/self/task/" + t.Name() + "/status")
		if errors.Is(err, os.ErrNotExist) {
			continue // the thread ended
		}
		if err != nil {
			return nil, err
		}
		for _, line := range strings.Split(string(status), "\n") {
			if v, ok := strings.CutPrefix(line, "Uid:"); ok {
				var u [4]int
				if _, err := fmt.Sscan(v, &u[0], &u[1], &u[2], &u[3]); err != nil {
					return nil, fmt.Errorf("thread %s: parse Uid %q: %w", t.Name(), v, err)
				}
				uids[t.Name()] = u
			}
		}
	}
	return uids, nil
}

// staleThreads lists the threads whose uids fail ok.
func staleThreads(ok func([4]int) bool) ([]string, error) {
	uids, err := threadUIDs()
	if err != nil {
		return nil, err
	}
	var stale []string
	for tid, u := range uids {
		if !ok(u) {
			stale = append(stale, fmt.Sprintf("thread %s uids %v", tid, u))
		}
	}
	return stale, nil
}

// euidRoundTrip sets every thread's effective uid to uid and back to 0, the way the Go
// runtime does for any set*id call: a signal to each thread, which runs the syscall.
func euidRoundTrip(uid int) error {
	for _, want := range []int{uid, 0} {
		if err := syscall.Setresuid(-1, want, -1); err != nil {
			return err
		}
		stale, err := staleThreads(func(u [4]int) bool { return u[1] == want })
		if err != nil {
			return err
		}
		if len(stale) > 0 {
			return fmt.Errorf("effective uid %d not on every thread: %s", want, strings.Join(stale, "; "))
		}
	}
	return nil
}

// signalEveryThread sends signal 0 from the calling thread to every other thread.
func signalEveryThread() error {
	uids, err := threadUIDs()
	if err != nil {
		return err
	}
	for tid := range uids {
		n, _ := strconv.Atoi(tid)
		if err := unix.Tgkill(unix.Getpid(), n, 0); err != nil {
			return err
		}
	}
	return nil
}

func init() {
	// setuid-threads: with a sibling thread started first, changes the effective uid of
	// every thread to args[1] and back without a domain, then in a domain scoping nothing,
	// then enforces SCOPE_SIGNAL on the calling thread and, if it may signal every
	// thread, sets the uid of the whole process to args[0].
	sandbox.Register(SetuidThreadsAction, func(args []string) ([]byte, error) {
		newUID, err := strconv.Atoi(args[0])
		if err != nil {
			return nil, err
		}
		ctrlUID, err := strconv.Atoi(args[1])
		if err != nil {
			return nil, err
		}
		ask, uid := make(chan struct{}), make(chan int)
		go func() {
			runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
			uid <- unix.Getuid()
			for range ask {
				uid <- unix.Getuid()
			}
		}()
		<-uid
		defer close(ask)
		var rep SetuidReport
		rep.NoDomain = Outcome(euidRoundTrip(ctrlUID))
		if err := OtherDomain.Enforce(); err != nil {
			return nil, err
		}
		rep.Unscoped = Outcome(euidRoundTrip(ctrlUID))
		if err := sandbox.Scoped(landlock.ScopeSignal).Enforce(); err != nil {
			return nil, err
		}
		// Where the scope stops signals between threads, the runtime would wait forever
		// for the threads it could not signal: setuid is tried only if it can finish.
		rep.Signals = Outcome(signalEveryThread())
		if rep.Signals == Outcome(nil) {
			rep.Setuid = Outcome(unix.Setuid(newUID))
			if rep.Stale, err = staleThreads(func(u [4]int) bool { return u == [4]int{newUID, newUID, newUID, newUID} }); err != nil {
				return nil, err
			}
			ask <- struct{}{}
			rep.Sibling = <-uid
		}
		return json.Marshal(rep)
	})
}
