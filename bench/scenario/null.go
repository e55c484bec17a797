package scenario

import (
	"context"
	"os"

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
// vCPU's speed (getppid has been seen at 126-135 ns and at about 210 ns, in phases of a
// millisecond to minutes, with no steal time and no other process in the guest), which
// the speed gate (measure.Gate) keeps out of the samples as far as it can.
var null = Scenario{
	Name:   "Null",
	Title:  "noise floor: getppid, which Landlock does not check",
	MinABI: 1,
	Run:    runNull,
}

func runNull(ctx context.Context, env *Env, out *result.Scenario) error {
	se := &result.Series{Name: "getppid", Op: "getppid(): off on an unrestricted thread, on under a domain handling READ_FILE; the kernel path is the same"}
	out.Series = []*result.Series{se}
	l := measure.GetppidLoop(os.Getppid())
	return env.pair(ctx, se, "getppid", 0, env.policy(sandbox.FS(landlock.AccessFSReadFile)), loop(l), loop(l))
}
