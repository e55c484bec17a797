package scenario

import (
	"context"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/llconform/llconform/bench/measure"
	"github.com/llconform/llconform/bench/result"
	"github.com/llconform/llconform/internal/landlock"
	"github.com/llconform/llconform/internal/sandbox"
)

// null is the noise floor of a run: getppid, which no LSM checks, timed like every other
// point, on an unrestricted thread and on a thread under a Landlock domain. Both arms run
// the same kernel path, so the true ratio is 1 and whatever spread the point shows comes
// from the machine and the harness, not from Landlock: no other point can be expected to
// be steadier, and a comparison that flags this point flags noise. On a virtual machine
// the floor can be large although the guest is idle: the host's other work changes the
// vCPU's speed (getppid has been seen at 133 ns and at 200-245 ns, in phases of tens of
// milliseconds, with no steal time and no other process in the guest).
var null = Scenario{
	Name:   "Null",
	Title:  "noise floor: getppid, which Landlock does not check",
	MinABI: 1,
	Run:    runNull,
}

func runNull(ctx context.Context, env *Env, out *result.Scenario) error {
	se := &result.Series{Name: "getppid", Op: "getppid(): off on an unrestricted thread, on under a domain handling READ_FILE; the kernel path is the same"}
	out.Series = []*result.Series{se}
	l := getppidLoop(os.Getppid())
	return env.pair(ctx, se, "getppid", 0, env.policy(sandbox.FS(landlock.AccessFSReadFile)), loop(l), loop(l))
}

// getppidLoop calls getppid, expecting ppid: the cheapest system call there is, checked
// like every timed operation.
func getppidLoop(ppid int) measure.Loop {
	return func(n int) error {
		for range n {
			if r, _, _ := unix.RawSyscall(unix.SYS_GETPPID, 0, 0, 0); int(r) != ppid {
				return fmt.Errorf("getppid: got %d, want %d", r, ppid)
			}
		}
		return nil
	}
}
