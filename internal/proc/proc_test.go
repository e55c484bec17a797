package proc

import (
	"os"
	"os/exec"
	"slices"
	"testing"
	"time"
)

func TestAliveAndChildren(t *testing.T) {
	if !Alive(os.Getpid()) {
		t.Error("this process is not alive")
	}
	c := exec.Command("sleep", "60")
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	pid := c.Process.Pid
	if !Alive(pid) || !slices.Contains(Children(os.Getpid()), pid) {
		t.Errorf("running child %d: alive %v, children %v", pid, Alive(pid), Children(os.Getpid()))
	}
	// Killed but not reaped: a zombie, which kill(pid, 0) still finds.
	if err := c.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	for range 1000 {
		if !Alive(pid) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if Alive(pid) {
		t.Errorf("killed child %d (a zombie until reaped) counts as alive", pid)
	}
	_ = c.Wait()
	if Alive(pid) || Alive(0) || Alive(-1) {
		t.Error("a reaped child, pid 0 or pid -1 counts as alive")
	}
}
