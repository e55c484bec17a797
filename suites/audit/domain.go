package audit

import (
	"fmt"
	"os"
	"slices"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/sys/unix"

	"github.com/llconform/llconform/internal/audit"
	"github.com/llconform/llconform/internal/landlock"
	"github.com/llconform/llconform/internal/sandbox"
	"github.com/llconform/llconform/internal/spec"
	"github.com/llconform/llconform/suites/audit/actions"
)

var _ = suite.Describe("DOMAIN records", func() {
	It("MUST log a domain once, with its first denial, and log its deallocation with the exact number of denials",
		spec.Feature("audit.domain", 7), spec.Needs("audit", "root"), spec.ID("domain.first_denial_and_deallocation"), func() {
			e := requireAuditABI()
			me := os.Getpid()
			pid, res := runHelper(sandbox.Scoped(landlock.ScopeSignal), actions.Kill(me), actions.Kill(me), actions.Kill(me))
			expectErrnos(res, unix.EPERM, unix.EPERM, unix.EPERM)
			l := e.log()
			ours := signalsTo(l, me)
			Expect(ours).To(HaveLen(3), "ACCESS records of three denied signals\nrecords:\n%s", dump(l))
			id := ours[0].Domain
			for i, a := range ours {
				Expect(a.Domain).To(Equal(id), "domain= of denial %d", i+1)
			}
			expectAllocated(l, id, pid)
			expectAllocatedWithFirstDenial(l, id)
			e.waitDeallocated(id, 3)
			spec.EnforcedVerdict("audit.domain", 7)
		})

	It("MUST NOT log a domain that never denied anything", spec.Feature("audit.domain", 7), spec.Needs("audit", "root"), spec.ID("domain.no_denial_unlogged"), func() {
		e := requireAuditABI()
		// The helper is restricted and only does what its domain allows.
		pid, res := runHelper(sandbox.Scoped(landlock.ScopeSignal), actions.Restrict(0))
		expectErrnos(res, 0)
		l := e.log()
		Expect(l.AllocatedBy(pid)).To(BeEmpty(), "allocated records of domains that never denied\nrecords:\n%s", dump(l))
		Expect(deniedBy(l, pid)).To(BeEmpty(), "ACCESS records of a helper that was never denied")
		spec.FeatureVerdict("audit.domain", 7)
	})

	It("MUST NOT log allowed accesses", spec.Feature("audit.domain", 7), spec.Needs("audit", "root"), spec.ID("domain.allowed_unlogged"), func() {
		e := requireAuditABI()
		f := fileIn(e.dir, "f")
		p := sandbox.FS(landlock.AccessFSReadFile|landlock.AccessFSReadDir,
			sandbox.PathRule{Path: e.dir, Access: landlock.AccessFSReadFile | landlock.AccessFSReadDir})
		res := sandbox.Thread(p, func() error {
			if err := openClose(f, unix.O_RDONLY); err != nil {
				return err
			}
			return openClose(e.dir, unix.O_RDONLY|unix.O_DIRECTORY)
		})
		spec.ExpectErrno(res, nil, "READ_FILE|READ_DIR allowed beneath %s: open file and directory", e.dir)
		l := e.log()
		Expect(deniedBy(l, os.Getpid())).To(BeEmpty(), "ACCESS records of allowed accesses\nrecords:\n%s", dump(l))
		Expect(l.AllocatedBy(os.Getpid())).To(BeEmpty(), "allocated records of a domain that allowed everything")
		spec.FeatureVerdict("audit.domain", 7)
	})

	It("MUST log nothing while audit is disabled, yet count those denials in the deallocated record",
		spec.Feature("audit.domain", 7), spec.Needs("audit", "root"), spec.ID("domain.audit_disabled_counted"), func() {
			e := requireAuditABI()
			if e.c.Start().Enabled == 2 {
				spec.Skip("audit configuration is locked (enabled=2): it cannot be disabled")
			}
			me := os.Getpid()
			h := startSteps(sandbox.Scoped(landlock.ScopeSignal), actions.Sync, actions.Kill(me), actions.Sync, actions.Kill(me))
			h.reached()
			Expect(e.c.SetEnabled(false)).To(Succeed(), "disable audit")
			h.resume()
			h.reached() // the first signal was denied while audit was off
			Expect(e.c.SetEnabled(true)).To(Succeed(), "enable audit again")
			h.resume()
			expectErrnos(h.wait(), unix.EPERM, unix.EPERM)
			l := e.log()
			ours := signalsTo(l, me)
			Expect(ours).To(HaveLen(1), "ACCESS records: only the denial made while audit was on\nrecords:\n%s", dump(l))
			expectAllocated(l, ours[0].Domain, h.p.Pid())
			e.waitDeallocated(ours[0].Domain, 2)
			spec.EnforcedVerdict("audit.domain", 7)
		})

	It("MUST give nested domains unique ids of at least 2^32, increasing with a random step, and name the youngest domain in each denial",
		spec.Feature("audit.domain_id", 7), spec.Needs("audit", "root"), spec.ID("audit.layers"), spec.Selftest("audit_test", "audit.layers"), func() {
			e := requireAuditABI()
			me := os.Getpid()
			// Sixteen layers (the maximum), a denial in each: every denial is the
			// youngest layer's, since each layer scopes signals.
			var steps []actions.Step
			var want []unix.Errno
			for range 16 {
				steps = append(steps, actions.Restrict(0), actions.Kill(me))
				want = append(want, 0, unix.EPERM)
			}
			steps = append(steps, actions.Restrict(0))
			want = append(want, unix.E2BIG)
			pid, res := runHelper(sandbox.Policy{}, steps...)
			expectErrnos(res, want...)
			l := e.log()
			ours := signalsTo(l, me)
			Expect(ours).To(HaveLen(16), "ACCESS records, one per layer\nrecords:\n%s", dump(l))
			var ids []audit.DomainID
			for _, a := range ours {
				ids = append(ids, a.Domain)
				expectAllocated(l, a.Domain, pid)
			}
			Expect(l.AllocatedBy(pid)).To(Equal(ids), "allocated records, in denial order")
			steps16 := map[uint64]bool{}
			for i, id := range ids {
				Expect(uint64(id)).To(BeNumerically(">=", uint64(1)<<32), "domain id %v", id)
				if i > 0 {
					Expect(id).To(BeNumerically(">", ids[i-1]), "domain %d id %v after %v: ids increase with nesting", i+1, id, ids[i-1])
					steps16[uint64(id-ids[i-1])] = true
				}
			}
			Expect(len(steps16)).To(BeNumerically(">", 1), "steps between 16 domain ids %v: all equal, not random", ids)
			l = e.waitLog("16 deallocated records", func(l *audit.Log) bool {
				for _, id := range ids {
					if _, ok := l.Deallocated(id); !ok {
						return false
					}
				}
				return true
			})
			for _, id := range ids {
				e.waitDeallocated(id, 1)
			}
			// The last reference to the innermost domain frees the chain of its
			// ancestors in one walk, innermost first.
			var freed []audit.DomainID
			for _, d := range l.Domains(func(d audit.Domain) bool { return d.Status == audit.Deallocated && slices.Contains(ids, d.ID) }) {
				freed = append(freed, d.ID)
			}
			lifo := slices.Clone(ids)
			slices.Reverse(lifo)
			Expect(freed).To(Equal(lifo), "order of the deallocated records: innermost domain first\nrecords:\n%s", dump(l))
			spec.EnforcedVerdict("audit.domain_id", 7)
		})

	It("MUST name the youngest layer that denies, with only that layer's missing rights",
		spec.Feature("audit.domain_id", 7), spec.Needs("audit", "root"), spec.ID("domain.youngest_denying_layer"), func() {
			e := requireAuditABI()
			f := fileIn(e.dir, "f")
			outer := sandbox.FS(landlock.AccessFSReadFile)
			inner := sandbox.FS(landlock.AccessFSWriteFile)
			res := sandbox.Thread(outer.Then(inner), func() error {
				for _, flags := range []int{unix.O_RDONLY, unix.O_WRONLY, unix.O_RDWR} {
					if err := openClose(f, flags); err != unix.EACCES {
						return fmt.Errorf("open(%s, %#x): got %v, want EACCES", f, flags, err)
					}
				}
				return nil
			})
			spec.ExpectErrno(res, nil, "outer layer handles READ_FILE, inner WRITE_FILE: three opens denied")
			l := e.log()
			ours := deniedBy(l, os.Getpid())
			Expect(ours).To(HaveLen(3), "ACCESS records of three denied opens\nrecords:\n%s", dump(l))
			got := []string{ours[0].BlockerList(), ours[1].BlockerList(), ours[2].BlockerList()}
			Expect(got).To(Equal([]string{"fs.read_file", "fs.write_file", "fs.write_file"}),
				"blockers of O_RDONLY (outer), O_WRONLY (inner), O_RDWR (both: the inner, youngest, one)")
			outerID, innerID := ours[0].Domain, ours[1].Domain
			Expect(innerID).To(BeNumerically(">", outerID), "the inner domain is younger")
			Expect(ours[2].Domain).To(Equal(innerID), "O_RDWR denied by both layers names the youngest")
			Expect(l.AllocatedBy(os.Getpid())).To(Equal([]audit.DomainID{outerID, innerID}), "each denying layer logged once")
			for _, a := range ours {
				expectFile(f)(a)
			}
			spec.EnforcedVerdict("audit.domain_id", 7)
		})

	It("MUST give domains of different processes different ids", spec.Feature("audit.domain_id", 7), spec.Needs("audit", "root"), spec.ID("domain.id_per_process"), func() {
		e := requireAuditABI()
		me := os.Getpid()
		p1, r1 := runHelper(sandbox.Scoped(landlock.ScopeSignal), actions.Kill(me))
		p2, r2 := runHelper(sandbox.Scoped(landlock.ScopeSignal), actions.Kill(me))
		expectErrnos(append(r1, r2...), unix.EPERM, unix.EPERM)
		l := e.log()
		a1, a2 := l.AllocatedBy(p1), l.AllocatedBy(p2)
		Expect(a1).To(HaveLen(1), "domains of helper %d\nrecords:\n%s", p1, dump(l))
		Expect(a2).To(HaveLen(1), "domains of helper %d\nrecords:\n%s", p2, dump(l))
		Expect(a2[0]).NotTo(Equal(a1[0]), "two processes' domains share an id")
		Expect(slices.Contains(l.AllocatedBy(p2), a1[0])).To(BeFalse())
		spec.EnforcedVerdict("audit.domain_id", 7)
	})

	It("MUST log the thread group's pid, not the thread's, as the creator of a domain a second thread enforced, and log its deallocation when that thread ends",
		spec.Feature("audit.domain", 7), spec.Needs("audit", "root"), spec.ID("audit.thread"), spec.Selftest("audit_test", "audit.thread"), func() {
			e := requireAuditABI()
			me := os.Getpid()
			h := startSteps(sandbox.Policy{}, actions.ThreadKill(me), actions.Sync)
			// The helper's second thread has enforced its domain, been denied and ended;
			// the helper itself lives on until resumed, so that the deallocation can only
			// come from the thread's end.
			h.reached()
			pid := h.p.Pid()
			l := e.log()
			ids := signalDenials(l, pid, me)
			Expect(ids).To(HaveLen(1), "logged denials of the helper's second thread\nrecords:\n%s", dump(l))
			expectAllocated(l, ids[0], pid)
			e.waitDeallocated(ids[0], 1)
			h.resume()
			expectErrnos(h.wait(), unix.EPERM)
			spec.EnforcedVerdict("audit.domain", 7)
		})
})
