package audit

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/sys/unix"

	"github.com/llconform/llconform/internal/audit"
	"github.com/llconform/llconform/internal/sandbox"
	"github.com/llconform/llconform/internal/spec"
	"github.com/llconform/llconform/suites/audit/actions"
)

// recordTimeout bounds a wait for a record that must come, once checkPipeline has shown
// that records arrive at all. Records arrive within milliseconds, even in TCG guests (20-50
// times slower than the host); a deallocation record also waits for an RCU grace period and
// a work queue.
const recordTimeout = 10 * time.Second

// pipelineTimeout bounds checkPipeline's one wait.
const pipelineTimeout = 10 * time.Second

// pipeline is what checkPipeline found, once per process.
var pipeline struct {
	once sync.Once
	skip string // set when the environment cannot audit: every audit spec skips with it
	err  error  // set when records do not arrive: one spec fails with it, the others skip
	by   string // the spec that ran the check
	// c is the suite's one audit client, open from the check to the end of the suite: each
	// spec reads the records after its own mark. Opening a socket and writing and removing
	// the crash record for each of 160 specs cost tens of milliseconds each under TCG.
	c *audit.Client
}

// The audit state is put back once, when the suite ends, passed, failed or interrupted
// (RestoreOnSignal and the crash record cover a killed suite).
var _ = suite.AfterSuite(func() {
	if pipeline.c != nil {
		Expect(pipeline.c.Close()).To(Succeed(), "restore the audit state")
		pipeline.c = nil
	}
})

// checkPipeline checks once that the audit path the specs read works end to end: open the
// netlink, enable auditing, log a user message and receive its record. Without it, every
// spec of a run whose records never arrive would wait out its own timeout and fail with
// the same symptom, far past the suite's time budget.
func checkPipeline() {
	pipeline.by = CurrentSpecReport().FullText()
	c, err := audit.Open(audit.Options{RestoreOnSignal: true})
	if errors.Is(err, audit.ErrUnavailable) {
		pipeline.skip = fmt.Sprintf("audit netlink unavailable: %v", err)
		return
	}
	if err != nil {
		pipeline.err = fmt.Errorf("open the audit netlink: %w", err)
		return
	}
	defer func() {
		if pipeline.skip == "" && pipeline.err == nil {
			pipeline.c = c
			return
		}
		if err := c.Close(); err != nil && pipeline.err == nil {
			pipeline.err = fmt.Errorf("restore the audit state: %w", err)
		}
	}()
	if err := c.Enable(); err != nil {
		if errors.Is(err, unix.EPERM) {
			pipeline.skip = fmt.Sprintf("cannot enable audit (configuration locked or no CAP_AUDIT_CONTROL): %v", err)
		} else {
			pipeline.err = fmt.Errorf("enable audit: %w", err)
		}
		return
	}
	if err := c.Sync(pipelineTimeout); err != nil {
		pipeline.err = fmt.Errorf("%w\n%s", err, c.Diagnose())
	}
}

// requirePipeline skips or fails the spec when checkPipeline found the audit path unusable.
// A broken path fails one spec, the one that ran the check, with the details; the others
// skip at once, naming it.
func requirePipeline() {
	GinkgoHelper()
	ran := false
	pipeline.once.Do(func() {
		ran = true
		checkPipeline()
	})
	switch {
	case pipeline.skip != "":
		spec.Skip("%s", pipeline.skip)
	case pipeline.err != nil && ran:
		Fail(fmt.Sprintf("audit records do not reach the suite, so no audit spec can run; they skip without waiting: %v", pipeline.err))
	case pipeline.err != nil:
		spec.Skip("audit records do not reach the suite (checked once by %q, which fails with the details)", pipeline.by)
	}
}

// env is one spec's audit session: the client, the position in the record stream where the
// spec started, and a private directory.
type env struct {
	c    *audit.Client
	mark int
	dir  string
}

// openAudit gives the spec an audit session with auditing enabled, on the suite's client:
// the spec sees the records that arrive after it started. Specs skip, saying why, where the
// audit netlink cannot be used.
func openAudit() *env {
	GinkgoHelper()
	spec.RequireLandlock()
	spec.RequireRoot()
	requirePipeline()
	c := pipeline.c
	// Enabled again for every spec: one that disabled auditing and failed before turning
	// it back on must not silence the next ones.
	Expect(c.Enable()).To(Succeed(), "enable audit")
	if c.Start().Enabled == 0 {
		// Off between specs, as the suite found it: records a spec's domains cause after
		// it ended (deallocations, from a work queue) must not land among the next spec's.
		DeferCleanup(func() {
			Expect(c.SetEnabled(false)).To(Succeed(), "disable audit after the spec")
		})
	}
	return &env{c: c, mark: c.Mark(), dir: tempDir()}
}

// tempDir returns a fresh directory whose path audit quotes rather than hex-encodes
// (GinkgoT().TempDir() names contain characters that are fine, but keep it explicit).
func tempDir() string {
	GinkgoHelper()
	d, err := os.MkdirTemp("", "llconform-audit-")
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(os.RemoveAll, d)
	return d
}

// log waits until every record queued so far has arrived and returns the spec's records.
func (e *env) log() *audit.Log {
	GinkgoHelper()
	if err := e.c.Sync(recordTimeout); err != nil {
		Fail(fmt.Sprintf("synchronise with the audit queue: %v\n%s", err, e.c.Diagnose()))
	}
	l, err := audit.NewLog(e.c.Since(e.mark))
	Expect(err).NotTo(HaveOccurred(), "parse the Landlock records")
	return l
}

// waitLog waits until done holds on the spec's records, for records the kernel emits
// asynchronously (domain deallocation, from a work queue after the last user is gone).
func (e *env) waitLog(what string, done func(*audit.Log) bool) *audit.Log {
	GinkgoHelper()
	var last *audit.Log
	var perr error
	var g audit.Grouper
	parsed := 0
	_, err := e.c.Wait(e.mark, recordTimeout, func(msgs []audit.Message) bool {
		if perr = g.Add(msgs[parsed:]); perr != nil {
			return true
		}
		parsed = len(msgs)
		last = g.Log()
		return done(last)
	})
	Expect(perr).NotTo(HaveOccurred(), "parse the Landlock records")
	if err != nil {
		Fail(fmt.Sprintf("wait for %s: %v\n%s\nrecords:\n%s", what, err, e.c.Diagnose(), dump(last)))
	}
	return last
}

// dump renders a log's Landlock events for failure messages.
func dump(l *audit.Log) string {
	if l == nil {
		return "(none)"
	}
	var b strings.Builder
	for _, ev := range l.Events {
		for _, m := range ev.Records {
			if m.Type == audit.TypeLandlockAccess || m.Type == audit.TypeLandlockDomain {
				fmt.Fprintf(&b, "  %d %s\n", m.Type, m.Raw)
			}
		}
	}
	if b.Len() == 0 {
		return "  (no Landlock record)"
	}
	return b.String()
}

// helper is a process-mode helper started with audit steps, with its line-based sync.
type helper struct {
	p   *sandbox.Proc
	out *bufio.Reader
}

func startSteps(p sandbox.Policy, steps ...actions.Step) *helper {
	GinkgoHelper()
	args, err := actions.StepsArgs(steps...)
	Expect(err).NotTo(HaveOccurred())
	pr := startHelper(p, actions.Steps, args...)
	return &helper{p: pr, out: bufio.NewReader(pr.Stdout)}
}

// helperPids holds the helpers the running spec started, whose comm= and ocomm= the
// kernel logs (helperComm).
var helperPids = map[int]bool{}

// startHelper starts action in a helper process under p, to be killed when the spec ends.
func startHelper(p sandbox.Policy, action string, args ...string) *sandbox.Proc {
	GinkgoHelper()
	pr, err := sandbox.Start(p, action, args...)
	Expect(err).NotTo(HaveOccurred(), "start helper %s", action)
	DeferCleanup(pr.Kill)
	pid := pr.Pid()
	helperPids[pid] = true
	DeferCleanup(func() { delete(helperPids, pid) })
	return pr
}

// helperComm returns the comm of the helper pid, which the spec started: the one execve
// gave it. Not read from /proc/<pid>/comm: right after the start, the child may still
// carry its parent's comm (execve closes the descriptor Start waits on before it renames
// the task), and a reaped helper has none.
func helperComm(pid int) string {
	GinkgoHelper()
	Expect(helperPids[pid]).To(BeTrue(), "pid %d is no helper the spec started", pid)
	return execComm(helperExe())
}

// execComm is the comm the kernel gives a task that executed path: the file's base name,
// cut to TASK_COMM_LEN-1 bytes.
func execComm(path string) string {
	const taskCommLen = 16
	b := filepath.Base(path)
	if len(b) > taskCommLen-1 {
		b = b[:taskCommLen-1]
	}
	return b
}

// reached waits for the helper's next sync step.
func (h *helper) reached() {
	GinkgoHelper()
	_, err := h.out.ReadString('\n')
	Expect(err).NotTo(HaveOccurred(), "helper did not reach its sync step")
}

// resume lets the helper past its sync step.
func (h *helper) resume() {
	GinkgoHelper()
	_, err := h.p.Stdin.Write([]byte("\n"))
	Expect(err).NotTo(HaveOccurred(), "resume helper")
}

func (h *helper) wait() actions.StepResults {
	GinkgoHelper()
	res := h.p.Wait()
	Expect(res.Setup).NotTo(HaveOccurred(), "helper setup")
	Expect(res.Err).NotTo(HaveOccurred(), "helper steps")
	var out actions.StepResults
	Expect(json.Unmarshal(res.Data, &out)).To(Succeed())
	return out
}

// runSteps runs steps in a fresh helper under p and returns the helper's pid and results.
func runHelper(p sandbox.Policy, steps ...actions.Step) (int, actions.StepResults) {
	GinkgoHelper()
	h := startSteps(p, steps...)
	return h.p.Pid(), h.wait()
}

// expectErrnos checks a helper's step results, naming each step.
func expectErrnos(got actions.StepResults, want ...unix.Errno) {
	GinkgoHelper()
	Expect(got).To(HaveLen(len(want)), "number of step results")
	for i, w := range want {
		var err error
		if got[i] != 0 {
			err = unix.Errno(got[i])
		}
		var we error
		if w != 0 {
			we = w
		}
		spec.ExpectErr(err, we, "step %d", i+1)
	}
}

// selfExe is what the kernel logs as exe= for the test binary's process.
func selfExe() string {
	GinkgoHelper()
	exe, err := os.Readlink("/proc/self/exe")
	Expect(err).NotTo(HaveOccurred())
	return exe
}

// helperExe is what the kernel logs as exe= for the helper processes: the program
// sandbox.Start runs.
func helperExe() string {
	GinkgoHelper()
	exe, err := sandbox.Executable()
	Expect(err).NotTo(HaveOccurred())
	return exe
}

// commOf returns a process's comm as the kernel logs it.
func commOf(pid int) string {
	GinkgoHelper()
	b, err := os.ReadFile(filepath.Join("/proc", fmt.Sprint(pid), "comm"))
	Expect(err).NotTo(HaveOccurred())
	return strings.TrimSuffix(string(b), "\n")
}

// expectAllocated checks that domain id was logged once as allocated by pid, the test
// binary's process or a helper the spec started, with that process's fields, and returns
// its record.
func expectAllocated(l *audit.Log, id audit.DomainID, pid int) audit.Domain {
	GinkgoHelper()
	ds := l.Domains(func(d audit.Domain) bool { return d.ID == id && d.Status == audit.Allocated })
	Expect(ds).To(HaveLen(1), "allocated records of domain %v\nrecords:\n%s", id, dump(l))
	d := ds[0]
	Expect(d.Mode).To(Equal("enforcing"), "mode of domain %v", id)
	Expect(d.Pid).To(Equal(pid), "pid= of domain %v (the thread group that called restrict_self)", id)
	Expect(d.UID).To(Equal(uint32(os.Getuid())), "uid= of domain %v", id)
	var exe, comm string
	if pid == os.Getpid() {
		exe, comm = selfExe(), commOf(pid)
	} else {
		exe, comm = helperExe(), helperComm(pid)
	}
	Expect(d.Exe.Value).To(Equal(exe), "exe= of domain %v", id)
	Expect(d.Comm.Value).To(Equal(comm), "comm= of domain %v", id)
	return d
}

// expectAllocatedWithFirstDenial checks that domain id was logged with, not after, its
// first denial (see audit.Log.DomainWithFirstDenial).
func expectAllocatedWithFirstDenial(l *audit.Log, id audit.DomainID) {
	GinkgoHelper()
	if err := l.DomainWithFirstDenial(id); err != nil {
		Fail(fmt.Sprintf("%v\nrecords:\n%s", err, dump(l)))
	}
}

// waitDeallocated waits for domain id's deallocated record and checks its denial count.
func (e *env) waitDeallocated(id audit.DomainID, denials uint64) {
	GinkgoHelper()
	l := e.waitLog(fmt.Sprintf("the deallocated record of domain %v", id), func(l *audit.Log) bool {
		_, ok := l.Deallocated(id)
		return ok
	})
	d, ok := l.Deallocated(id)
	Expect(ok).To(BeTrue(), "deallocated record of domain %v", id)
	Expect(d.Denials).To(Equal(denials), "denials= of deallocated domain %v", id)
	Expect(l.Domains(func(x audit.Domain) bool { return x.ID == id && x.Status == audit.Deallocated })).To(HaveLen(1),
		"deallocated records of domain %v", id)
}

// signalsTo returns the scope.signal ACCESS records naming pid as the target.
func signalsTo(l *audit.Log, pid int) []audit.Access {
	return l.Accesses(func(_ *audit.Event, a audit.Access) bool {
		return a.BlockerList() == "scope.signal" && a.OPid == pid
	})
}
