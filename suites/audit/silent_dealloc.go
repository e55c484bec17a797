package audit

import (
	"encoding/json"
	"fmt"
	"os"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/sys/unix"

	"github.com/llconform/llconform/internal/audit"
	"github.com/llconform/llconform/internal/landlock"
	"github.com/llconform/llconform/internal/sandbox"
	"github.com/llconform/llconform/internal/spec"
	"github.com/llconform/llconform/suites/audit/actions"
)

// The silent variants of audit_test's audit_flags.signal also require that a domain whose
// denials were all kept out of the log is never logged at its deallocation. Absence needs a
// point in the record stream after which the record can no longer come, without waiting out
// a timeout: the deallocation of a logged parent domain. A domain's hierarchy holds a
// reference to its parent's, and landlock_put_hierarchy() frees a hierarchy, logs it, and
// only then drops that reference; so the parent's deallocation record is queued after the
// child's would have been (in the same loop, or in a later one that saw the count the child
// dropped), and the audit queue keeps that order. Once the parent's record has arrived, the
// child's has too, or never will. The silent domain is the youngest layer, where its
// denials are decided exactly as in the selftest's single-layer domain.

var _ = suite.Describe("deallocation of domains that logged nothing", func() {
	type silentCase struct {
		id    string // the selftest's variant
		flags uint32
		quiet uint64
	}
	for _, c := range []silentCase{
		{id: "same_exec_off", flags: sameExecOff},
		{id: "signal_quieted", quiet: landlock.ScopeSignal},
	} {
		feature, abi := flagFeature(c.flags), 7
		if c.quiet != 0 {
			feature, abi = "audit.quiet_scoped", 10
		}
		attr := landlock.RulesetAttr{Scoped: landlock.ScopeSignal, QuietScoped: c.quiet}
		It(fmt.Sprintf("MUST NOT log the deallocation of a domain with %s and quiet_scoped=%s whose two denied signals were not logged",
			flagName(c.flags), spec.Bits(landlock.KindScope, c.quiet)),
			spec.Feature(feature, abi), spec.Needs("audit", "root"), spec.ID("audit_flags."+c.id+".signal.no_deallocation"), spec.Selftest("audit_test", "audit_flags.signal"), func() {
				var e *env
				if c.quiet != 0 {
					if e = requireQuiet(feature, attr); e == nil {
						return
					}
				} else {
					e = requireAuditABI()
				}
				me := os.Getpid()
				pr := startHelper(sandbox.Scoped(landlock.ScopeSignal), actions.SilentNested, actions.SilentNestedArgs(me, c.flags, c.quiet)...)
				pid := pr.Pid()
				res := pr.Wait()
				Expect(res.Setup).NotTo(HaveOccurred(), "helper setup")
				Expect(res.Err).NotTo(HaveOccurred(), "helper")
				var got actions.StepResults
				Expect(json.Unmarshal(res.Data, &got)).To(Succeed())
				expectErrnos(got, unix.EPERM, 0, unix.EPERM, unix.EPERM)

				l := e.log()
				ids := deniedSignals(l, pid)
				Expect(ids).To(HaveLen(1), "logged denials: the parent domain's one, not the silent domain's two\nrecords:\n%s", dump(l))
				parent := ids[0]
				Expect(l.AllocatedBy(pid)).To(Equal([]audit.DomainID{parent}), "domains logged: the parent only\nrecords:\n%s", dump(l))
				e.waitDeallocated(parent, 1)
				// One more marker, for records of other CPUs queued meanwhile.
				l = e.log()
				// Domain ids only grow: the silent domain's is above its parent's, while
				// older domains (of earlier specs, freed now) are below.
				stray := l.Domains(func(d audit.Domain) bool { return d.Status == audit.Deallocated && d.ID > parent })
				Expect(stray).To(BeEmpty(), "deallocation records of domains younger than the parent %v, which can only be the silent one\nrecords:\n%s", parent, dump(l))
				spec.EnforcedVerdict(feature, abi)
			})
	}
})
