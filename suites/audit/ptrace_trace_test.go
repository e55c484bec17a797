package audit_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"unsafe"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/sys/unix"

	"github.com/llconform/llconform/internal/landlock"
	"github.com/llconform/llconform/internal/sandbox"
	"github.com/llconform/llconform/internal/spec"
)

// ptrace_test's audit.trace: a parent enforces a domain after forking an unrestricted
// child; the child's PTRACE_TRACEME (the parent would become its tracer) and the parent's
// PTRACE_ATTACH of the child are both denied and logged against the parent's domain, with
// the child as opid.

// traceResult is what the audit-ptrace-trace helper saw: its child's pid and the errnos of
// the child's PTRACE_TRACEME, then of the parent's PTRACE_DETACH and PTRACE_ATTACH of it.
type traceResult struct {
	Child   int `json:"child"`
	Traceme int `json:"traceme"`
	Detach  int `json:"detach"`
	Attach  int `json:"attach"`
}

func init() {
	sandbox.Register("audit-ptrace-trace", func([]string) ([]byte, error) {
		r, err := ptraceTrace()
		if err != nil {
			return nil, err
		}
		return json.Marshal(r)
	})
}

// ptraceTrace runs in a helper started without a domain, on its locked main thread: that
// thread forks the child, so it is the child's parent, the tracer PTRACE_TRACEME names,
// and then enforces a domain, which only it has.
func ptraceTrace() (traceResult, error) {
	var r traceResult
	var toChild, fromChild [2]int
	if err := unix.Pipe2(toChild[:], unix.O_CLOEXEC); err != nil {
		return r, fmt.Errorf("pipe: %w", err)
	}
	defer unix.Close(toChild[1])
	if err := unix.Pipe2(fromChild[:], unix.O_CLOEXEC); err != nil {
		return r, fmt.Errorf("pipe: %w", err)
	}
	defer unix.Close(fromChild[0])
	// Everything the child touches is ready before the fork.
	buf := make([]byte, 1)
	bufp := uintptr(unsafe.Pointer(&buf[0]))
	rd, wr := uintptr(toChild[0]), uintptr(fromChild[1])
	child, _, e := unix.RawSyscall6(unix.SYS_CLONE, uintptr(unix.SIGCHLD), 0, 0, 0, 0, 0)
	if e != 0 {
		return r, fmt.Errorf("clone: %w", e)
	}
	if child == 0 {
		// A copy of one thread of a Go program: nothing but raw system calls. It waits
		// for its parent's domain, asks to be traced, reports the errno and waits for the
		// parent's own ptrace calls before it exits.
		if n, _, _ := unix.RawSyscall(unix.SYS_READ, rd, bufp, 1); n != 1 {
			unix.RawSyscall(unix.SYS_EXIT_GROUP, 90, 0, 0)
		}
		_, _, te := unix.RawSyscall6(unix.SYS_PTRACE, unix.PTRACE_TRACEME, 0, 0, 0, 0, 0)
		buf[0] = byte(te)
		unix.RawSyscall(unix.SYS_WRITE, wr, bufp, 1)
		unix.RawSyscall(unix.SYS_READ, rd, bufp, 1)
		unix.RawSyscall(unix.SYS_EXIT_GROUP, 0, 0, 0)
	}
	r.Child = int(child)
	unix.Close(toChild[0])
	unix.Close(fromChild[1])
	reap := func() error {
		var ws unix.WaitStatus
		if _, err := unix.Wait4(r.Child, &ws, unix.WALL, nil); err != nil {
			return fmt.Errorf("wait for the child: %w", err)
		}
		if !ws.Exited() || ws.ExitStatus() != 0 {
			return fmt.Errorf("the child ended with %v", ws)
		}
		return nil
	}
	if err := ptraceDomain(); err != nil {
		_ = unix.Kill(r.Child, unix.SIGKILL)
		_ = reap()
		return r, err
	}
	if _, err := unix.Write(toChild[1], []byte(".")); err != nil {
		return r, fmt.Errorf("release the child: %w", err)
	}
	got := make([]byte, 1)
	if n, err := unix.Read(fromChild[0], got); err != nil || n != 1 {
		return r, fmt.Errorf("read the child's PTRACE_TRACEME errno: %d bytes, %v", n, err)
	}
	r.Traceme = int(got[0])
	r.Detach = errnoOf(unix.PtraceDetach(r.Child))
	err := unix.PtraceAttach(r.Child)
	r.Attach = errnoOf(err)
	if err == nil {
		// Wrongly allowed: the child is stopped and traced; it has nothing left to prove.
		_ = unix.Kill(r.Child, unix.SIGKILL)
		_ = reap()
		return r, nil
	}
	if _, err := unix.Write(toChild[1], []byte(".")); err != nil {
		return r, fmt.Errorf("release the child: %w", err)
	}
	runtime.KeepAlive(buf)
	return r, reap()
}

// ptraceDomain enforces, on the calling thread, the selftest's domain: one handling
// MAKE_BLOCK, which has nothing to do with ptrace but makes a domain all the same.
func ptraceDomain() error {
	fd, err := landlock.CreateRuleset(&landlock.RulesetAttr{HandledAccessFS: landlock.AccessFSMakeBlock}, landlock.RulesetAttrSizeV1, 0)
	if err != nil {
		return fmt.Errorf("create_ruleset: %w", err)
	}
	defer unix.Close(fd)
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("no_new_privs: %w", err)
	}
	if err := landlock.RestrictSelf(fd, 0); err != nil {
		return fmt.Errorf("restrict_self: %w", err)
	}
	return nil
}

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

var _ = Describe("ACCESS records of ptrace between a parent and its child", func() {
	It("MUST log a PTRACE_TRACEME that the tracer's domain denies against that domain, with the requesting child as opid, and the tracer's PTRACE_ATTACH of it",
		spec.Feature(auditFeature("ptrace"), 7), spec.Needs("audit", "root"), spec.ID("audit.trace"), spec.Selftest("ptrace_test", "audit.trace"), func() {
			e := requireAuditABI()
			requireYamaAllowsPtrace()
			pr, err := sandbox.Start(sandbox.Policy{}, "audit-ptrace-trace")
			Expect(err).NotTo(HaveOccurred(), "start helper")
			DeferCleanup(pr.Kill)
			pid := pr.Pid()
			res := pr.Wait()
			Expect(res.Setup).NotTo(HaveOccurred(), "helper setup")
			Expect(res.Err).NotTo(HaveOccurred(), "helper")
			var r traceResult
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
					Expect(a.OComm.Value).To(Equal(commOf(os.Getpid())), "ocomm= (the child runs the test binary)")
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
