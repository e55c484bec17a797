package tracefs

import (
	"errors"
	"os"
	"os/exec"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
)

// openForTest opens tracefs, or skips: it takes root, and a kernel with tracefs.
func openForTest(t *testing.T) *FS {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("tracefs needs root")
	}
	fs, err := Open()
	if err != nil {
		t.Skipf("no tracefs here: %v", err)
	}
	t.Cleanup(func() { fs.Close() })
	return fs
}

// An instance records the events of this process, threads started later included, and of
// no other; it is gone after Remove. The task events are in every kernel with tracing.
func TestInstance(t *testing.T) {
	fs := openForTest(t)
	if ok, err := fs.Exists("events/task/task_newtask"); err != nil || !ok {
		t.Skipf("no task_newtask event: %v", err)
	}
	name := InstanceName(os.Getpid())
	inst, err := fs.NewInstance(name)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := inst.Remove(); err != nil {
			t.Errorf("Remove: %v", err)
		}
		if ok, err := inst.Exists(); err != nil || ok {
			t.Errorf("instance %s still there after Remove (%v)", name, err)
		}
	}()
	// A process started before the filter is set is not followed: what it starts after
	// must not be recorded. The event is enabled once the filter is set: before, the
	// instance would record the machine's every task (other tests' QEMUs).
	other := exec.Command("/bin/sh", "-c", "read x; /bin/true & wait")
	otherIn, err := other.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Start(); err != nil {
		t.Skipf("no /bin/sh: %v", err)
	}
	if err := inst.FollowProcess(); err != nil {
		t.Fatal(err)
	}
	if err := inst.EnableEvent("task", "task_newtask", true); err != nil {
		t.Fatal(err)
	}
	otherIn.Write([]byte("go\n"))
	if err := other.Wait(); err != nil {
		t.Fatal(err)
	}
	// A process this one starts, and the one that starts: both recorded, and nothing
	// of the machine's other processes.
	sh := exec.Command("/bin/sh", "-c", "/bin/true & wait")
	if err := sh.Run(); err != nil {
		t.Skipf("no /bin/sh: %v", err)
	}
	tr, err := inst.Read()
	if err != nil {
		t.Fatal(err)
	}
	if tr.Lost() != 0 {
		t.Errorf("lost %d events", tr.Lost())
	}
	mine := map[int]bool{}
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range tasks {
		n, _ := strconv.Atoi(task.Name())
		mine[n] = true
	}
	byMe, byShell := 0, 0
	for _, l := range tr.Lines {
		switch {
		case l.Event != "task_newtask":
			t.Errorf("event %s: only task_newtask is enabled", l.Event)
		case l.PID == sh.Process.Pid:
			byShell++
		case mine[l.PID]:
			byMe++
		default:
			t.Errorf("an event of task %d, neither this process's nor its child's: %s", l.PID, l.Raw)
		}
	}
	if byMe < 1 || byShell != 1 {
		t.Errorf("%d events by this process (want 1 at least), %d by the shell (want 1):\n%+v", byMe, byShell, tr.Lines)
	}
	// Read consumed them.
	if tr, err := inst.Read(); err != nil || len(tr.Lines) != 0 {
		t.Errorf("second Read = %d lines, %v", len(tr.Lines), err)
	}
}

// RemoveStale removes the instances of dead processes, and only those.
func TestRemoveStale(t *testing.T) {
	fs := openForTest(t)
	cmd := exec.Command("/bin/true")
	if err := cmd.Run(); err != nil {
		t.Skipf("no /bin/true: %v", err)
	}
	dead := cmd.Process.Pid
	if !errors.Is(unix.Kill(dead, 0), unix.ESRCH) {
		t.Skipf("pid %d already reused", dead)
	}
	stale, err := fs.NewInstance(InstanceName(dead))
	if err != nil {
		t.Fatal(err)
	}
	alive, err := fs.NewInstance(InstanceName(os.Getppid()))
	if err != nil {
		stale.Remove()
		t.Fatal(err)
	}
	defer alive.Remove()
	// A stale instance may hold an open trace_pipe only in its dead process.
	unix.Close(stale.pipe)
	removed, err := fs.RemoveStale()
	if err != nil || len(removed) != 1 || removed[0] != InstanceName(dead) {
		t.Errorf("RemoveStale = %v, %v; want [%s]", removed, err, InstanceName(dead))
	}
	if ok, _ := stale.Exists(); ok {
		stale.pipe = -1
		stale.Remove()
		t.Error("the dead process's instance is still there")
	}
	if ok, _ := alive.Exists(); !ok {
		t.Errorf("the instance of live pid %s was removed", strconv.Itoa(os.Getppid()))
	}
}
