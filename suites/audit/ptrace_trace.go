package audit

import (
	"encoding/json"
	"errors"
	"os"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/sys/unix"

	"github.com/llconform/llconform/internal/sandbox"
	"github.com/llconform/llconform/internal/spec"
	"github.com/llconform/llconform/suites/audit/actions"
)

// ptrace_test's audit.trace: a parent enforces a domain after forking an unrestricted
// child; the child's PTRACE_TRACEME (the parent would become its tracer) and the parent's
// PTRACE_ATTACH of the child are both denied and logged against the parent's domain, with
// the child as opid.

// requireYamaAllowsPtrace skips where Yama forbids every ptrace (scope 3): it denies first,
// and Landlock is never asked. Lower scopes let root's PTRACE_TRACEME and a parent's
// PTRACE_ATTACH through.
func requireYamaAllowsPtrace() {
	b, err := os.ReadFile("/proc/sys/kernel/yama/ptrace_scope")
	if errors.Is(err, os.ErrNotExist) {
		return
	}
	Expect(err).NotTo(HaveOccurred(), "read the Yama ptrace scope")
	if strings.TrimSpace(string(b)) == "3" {
		spec.Skip("Yama forbids every ptrace (kernel.yama.ptrace_scope=3): Landlock is never asked")
	}
}

var _ = suite.Describe("ACCESS records of ptrace between a parent and its child", func() {
	It("MUST log a PTRACE_TRACEME that the tracer's domain denies against that domain, with the requesting child as opid, and the tracer's PTRACE_ATTACH of it",
		spec.Feature(auditFeature("ptrace"), 7), spec.Needs("audit", "root"), spec.ID("audit.trace"), spec.Selftest("ptrace_test", "audit.trace"), func() {
			e := requireAuditABI()
			requireYamaAllowsPtrace()
			pr := startHelper(sandbox.Policy{}, actions.PtraceTrace)
			pid := pr.Pid()
			res := pr.Wait()
			Expect(res.Setup).NotTo(HaveOccurred(), "helper setup")
			Expect(res.Err).NotTo(HaveOccurred(), "helper")
			var r actions.TraceResult
			Expect(json.Unmarshal(res.Data, &r)).To(Succeed())
			spec.ExpectErr(errnoErr(r.Traceme), unix.EPERM, "PTRACE_TRACEME by an unrestricted child whose parent is in a domain")
			spec.ExpectErr(errnoErr(r.Detach), unix.ESRCH, "the parent's PTRACE_DETACH of that child, which must not be its tracee")
			spec.ExpectErr(errnoErr(r.Attach), unix.EPERM, "the parent's PTRACE_ATTACH of that child, from its domain")

			l := e.log()
			ids := l.AllocatedBy(pid)
			Expect(ids).To(HaveLen(1), "domains logged as allocated by the parent\nrecords:\n%s", dump(l))
			dom := ids[0]
			expectAllocated(l, dom, pid)
			// The first denial is the child's: the parent's domain is logged with it.
			expectAllocatedWithFirstDenial(l, dom)
			Expect(l.AllocatedBy(r.Child)).To(BeEmpty(), "domains logged as allocated by the child, which has none")
			type denial struct {
				opid, by int
			}
			var got []denial
			for _, ev := range l.Events {
				for _, a := range ev.Access {
					p, ok := ev.Pid()
					if a.Domain != dom && !(ok && (p == r.Child || p == pid)) {
						continue
					}
					Expect(a.Domain).To(Equal(dom), "domain= of a denial of the parent or the child: the parent's\nrecords:\n%s", dump(l))
					Expect(a.BlockerList()).To(Equal("ptrace"), "blockers=")
					expectFields(a, "opid", "ocomm")
					Expect(a.OComm).NotTo(BeNil(), "ocomm= field")
					Expect(a.OComm.Value).To(Equal(helperComm(pid)), "ocomm= (the child is a fork of the helper)")
					if !ok {
						p = 0
					}
					got = append(got, denial{opid: a.OPid, by: p})
				}
			}
			// A task created while auditing is on has an audit context, so each denial's
			// event names the denied caller: the child, then the parent.
			want := []denial{{opid: r.Child, by: r.Child}, {opid: r.Child, by: pid}}
			Expect(got).To(Equal(want), "ACCESS records (opid, pid of the denied call): PTRACE_TRACEME by the child %d, then PTRACE_ATTACH by the parent %d\nrecords:\n%s",
				r.Child, pid, dump(l))
			spec.EnforcedVerdict(auditFeature("ptrace"), 7)
		})
})

// errnoErr turns a helper's errno number back into an error, nil for 0.
func errnoErr(n int) error {
	if n == 0 {
		return nil
	}
	return unix.Errno(n)
}
