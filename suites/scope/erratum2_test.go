package scope_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/sys/unix"

	"github.com/llconform/llconform/internal/sandbox"
	"github.com/llconform/llconform/internal/spec"
)

// setuidReport is what the setuid-threads helper saw, each step as an outcome name.
type setuidReport struct {
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
	sandbox.Register("setuid-threads", func(args []string) ([]byte, error) {
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
		var rep setuidReport
		rep.NoDomain = outcome(euidRoundTrip(ctrlUID))
		if err := otherDomain.Enforce(); err != nil {
			return nil, err
		}
		rep.Unscoped = outcome(euidRoundTrip(ctrlUID))
		if err := sandbox.Scoped(scopeSignal).Enforce(); err != nil {
			return nil, err
		}
		// Where the scope stops signals between threads, the runtime would wait forever
		// for the threads it could not signal: setuid is tried only if it can finish.
		rep.Signals = outcome(signalEveryThread())
		if rep.Signals == outcome(nil) {
			rep.Setuid = outcome(unix.Setuid(newUID))
			if rep.Stale, err = staleThreads(func(u [4]int) bool { return u == [4]int{newUID, newUID, newUID, newUID} }); err != nil {
				return nil, err
			}
			ask <- struct{}{}
			rep.Sibling = <-uid
		}
		return json.Marshal(rep)
	})
}

// errStaleThreads is what setuid gives where it leaves a thread with its old uid.
var errStaleThreads = errors.New("some threads kept their old uid")

// parkedThread starts a thread of the runner that first enforces p (if it has layers)
// and then waits; it returns the thread's ID and a function ending it.
func parkedThread(p sandbox.Policy) (int, func(), error) {
	tid := make(chan int, 1)
	fail := make(chan error, 1)
	release := make(chan struct{})
	go func() {
		fail <- sandbox.OnThread(func() error {
			if len(p.Layers) > 0 {
				if err := enforce(p); err != nil {
					return err
				}
			}
			tid <- unix.Gettid()
			<-release
			return nil
		})
	}()
	select {
	case t := <-tid:
		return t, func() { close(release); <-fail }, nil
	case err := <-fail:
		return 0, nil, fmt.Errorf("parked thread: %w", err)
	}
}

// threadSignals sends, from the calling thread, signal 0 and SIGUSR1 to the parked
// threads plain (no domain) and other (a scoped domain of its own), and signal 0 to the
// whole process, whose leader has no domain.
func threadSignals(pid, plain, other int) []sent {
	return []sent{
		{what: fmt.Sprintf("tgkill(own pid, thread %d of no domain, 0)", plain), err: unix.Tgkill(pid, plain, 0)},
		{what: fmt.Sprintf("tgkill(own pid, thread %d of another scoped domain, 0)", other), err: unix.Tgkill(pid, other, 0)},
		{what: fmt.Sprintf("tgkill(own pid, thread %d of another scoped domain, SIGUSR1)", other), err: unix.Tgkill(pid, other, unix.SIGUSR1)},
		{what: "kill(own pid, 0), whose leader has no domain", err: unix.Kill(pid, 0)},
	}
}

var _ = Describe("erratum 2: signals between threads of one process", spec.Erratum(2), func() {
	It("MUST let a scoped thread signal any thread of its own process, whatever their domains, where erratum 2 is fixed", spec.ID("errata.e2.same_process_threads"), spec.Selftest("scoped_signal_test", "signal_scoping_thread_before"), func() {
		if !scopeSupported("scope.signal", scopeSignal) {
			return
		}
		scoped := sandbox.Scoped(scopeSignal)
		plain, endPlain, err := parkedThread(sandbox.Policy{})
		if err != nil {
			Fail(err.Error())
		}
		defer endPlain()
		other, endOther, err := parkedThread(scoped)
		if err != nil {
			Fail(err.Error())
		}
		defer endOther()
		pid := unix.Getpid()

		// Control outside Landlock: the runner's own thread, in no domain, reaches
		// every target, or the threads cannot be observed here.
		for _, r := range threadSignals(pid, plain, other) {
			if r.err != nil {
				spec.Skip("without Landlock, %s fails with %s: erratum 2 cannot be observed here", r.what, spec.ErrnoName(r.err))
			}
		}
		// Control in a domain that scopes nothing: signals stay free on every kernel,
		// fixed or not, so a denial here is a Landlock defect, not the erratum.
		var unscoped []sent
		onThread(func() error {
			if err := enforce(otherDomain); err != nil {
				return err
			}
			unscoped = threadSignals(pid, plain, other)
			return nil
		})
		for _, r := range unscoped {
			spec.ExpectErr(r.err, nil, "thread in a domain handling fs.make_block and no scope: %s", r.what)
		}

		var results []sent
		onThread(func() error {
			if err := enforce(scoped); err != nil {
				return err
			}
			results = threadSignals(pid, plain, other)
			return nil
		})
		if len(results) == 0 {
			Fail("the scoped thread recorded no signal")
		}
		// Fixed: every signal allowed. Unfixed: every one denied with EPERM, since the
		// sender's domain does not cover the target's (none, a sibling, the leader's
		// none). Anything else is neither kernel.
		obs := make([]spec.Observation, len(results))
		for i, r := range results {
			obs[i] = spec.Observation{What: r.what, Seen: r.err, Fixed: nil, Unfixed: unix.EPERM}
		}
		kind, detail := spec.ClassifyErratum(obs)
		spec.ErratumVerdict(2, kind, "thread in a SCOPE_SIGNAL domain: "+detail)
	})
})

var _ = Describe("erratum 2: set*id across threads", spec.Erratum(2), func() {
	It("MUST let setuid() from a thread scoping signals reach every thread of the process, where erratum 2 is fixed",
		spec.ID("errata.e2.signal_scoping_thread_setuid"), spec.Needs("root"), spec.Selftest("scoped_signal_test", "signal_scoping_thread_setuid"), func() {
			if !scopeSupported("scope.signal", scopeSignal) {
				return
			}
			spec.RequireRoot()
			const newUID, ctrlUID = 1, 2
			pr, err := sandbox.Start(sandbox.Policy{}, "setuid-threads", strconv.Itoa(newUID), strconv.Itoa(ctrlUID))
			Expect(err).NotTo(HaveOccurred(), "start setuid-threads")
			done := make(chan sandbox.Result, 1)
			go func() { done <- pr.Wait() }()
			var res sandbox.Result
			select {
			case res = <-done:
			case <-time.After(30 * time.Second):
				_ = unix.Kill(pr.Pid(), unix.SIGKILL)
				<-done
				Fail("setuid-threads did not finish in 30s: a set*id call waited for a thread it could not signal")
			}
			spec.ExpectErrno(res, nil, "setuid-threads helper")
			var rep setuidReport
			Expect(json.Unmarshal(res.Data, &rep)).To(Succeed(), "setuid-threads report")
			if rep.NoDomain != outcome(nil) {
				spec.Skip("without Landlock, changing the effective uid of every thread fails (%s): erratum 2 cannot be observed here", rep.NoDomain)
			}
			Expect(rep.Unscoped).To(Equal(outcome(nil)), "in a domain handling fs.make_block and no scope: changing the effective uid of every thread")
			obs := []spec.Observation{{What: "scoped thread tgkill(every thread of its process, 0)", Seen: errFromOutcome(rep.Signals), Fixed: nil, Unfixed: unix.EPERM}}
			if rep.Signals == outcome(nil) {
				var seen error = errFromOutcome(rep.Setuid)
				if seen == nil && (len(rep.Stale) > 0 || rep.Sibling != newUID) {
					seen = fmt.Errorf("%w: %s; sibling getuid %d", errStaleThreads, strings.Join(rep.Stale, "; "), rep.Sibling)
				}
				obs = append(obs, spec.Observation{What: fmt.Sprintf("scoped thread setuid(%d), every thread's uids", newUID), Seen: seen, Fixed: nil, Unfixed: errStaleThreads})
			}
			kind, detail := spec.ClassifyErratum(obs)
			spec.ErratumVerdict(2, kind, "thread in a SCOPE_SIGNAL domain: "+detail)
		})
})
