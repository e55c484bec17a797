package scope

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/sys/unix"

	"github.com/llconform/llconform/internal/sandbox"
	"github.com/llconform/llconform/internal/spec"
	"github.com/llconform/llconform/suites/scope/actions"
)

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

var _ = suite.Describe("erratum 2: signals between threads of one process", spec.Erratum(2), func() {
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
			if err := enforce(actions.OtherDomain); err != nil {
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

var _ = suite.Describe("erratum 2: set*id across threads", spec.Erratum(2), func() {
	It("MUST let setuid() from a thread scoping signals reach every thread of the process, where erratum 2 is fixed",
		spec.ID("errata.e2.signal_scoping_thread_setuid"), spec.Needs("root"), spec.Selftest("scoped_signal_test", "signal_scoping_thread_setuid"), func() {
			if !scopeSupported("scope.signal", scopeSignal) {
				return
			}
			spec.RequireRoot()
			const newUID, ctrlUID = 1, 2
			pr, err := sandbox.Start(sandbox.Policy{}, actions.SetuidThreadsAction, strconv.Itoa(newUID), strconv.Itoa(ctrlUID))
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
			var rep actions.SetuidReport
			Expect(json.Unmarshal(res.Data, &rep)).To(Succeed(), "setuid-threads report")
			if rep.NoDomain != actions.Outcome(nil) {
				spec.Skip("without Landlock, changing the effective uid of every thread fails (%s): erratum 2 cannot be observed here", rep.NoDomain)
			}
			Expect(rep.Unscoped).To(Equal(actions.Outcome(nil)), "in a domain handling fs.make_block and no scope: changing the effective uid of every thread")
			obs := []spec.Observation{{What: "scoped thread tgkill(every thread of its process, 0)", Seen: errFromOutcome(rep.Signals), Fixed: nil, Unfixed: unix.EPERM}}
			if rep.Signals == actions.Outcome(nil) {
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
