package scope_test

import (
	"errors"
	"fmt"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	"golang.org/x/sys/unix"

	"github.com/llconform/llconform/internal/sandbox"
	"github.com/llconform/llconform/internal/spec"
)

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

var _ = Describe("erratum 2: signals between threads of one process", spec.Erratum(2), func() {
	It("MUST let a scoped thread signal any thread of its own process, whatever their domains, where erratum 2 is fixed", func() {
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
		var results []sent
		onThread(func() error {
			if err := enforce(scoped); err != nil {
				return err
			}
			results = []sent{
				{fmt.Sprintf("tgkill(own pid, thread %d of no domain, 0)", plain), unix.Tgkill(pid, plain, 0)},
				{fmt.Sprintf("tgkill(own pid, thread %d of another scoped domain, 0)", other), unix.Tgkill(pid, other, 0)},
				{fmt.Sprintf("tgkill(own pid, thread %d of another scoped domain, SIGUSR1)", other), unix.Tgkill(pid, other, unix.SIGUSR1)},
				{"kill(own pid, 0), whose leader has no domain", unix.Kill(pid, 0)},
			}
			return nil
		})
		fixed := true
		var seen []string
		for _, r := range results {
			if r.err != nil && !errors.Is(r.err, unix.EPERM) {
				Fail(fmt.Sprintf("SCOPE_SIGNAL thread: %s: got %s, want success (fixed) or EPERM (not fixed)", r.what, spec.ErrnoName(r.err)))
			}
			fixed = fixed && r.err == nil
			seen = append(seen, fmt.Sprintf("%s: %s", r.what, spec.ErrnoName(r.err)))
		}
		spec.ErratumVerdict(2, fixed, "thread in a SCOPE_SIGNAL domain: "+strings.Join(seen, "; "))
	})
})
