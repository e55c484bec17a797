package actions

import (
	"encoding/json"
	"fmt"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/llconform/llconform/internal/landlock"
	"github.com/llconform/llconform/internal/sandbox"
)

// SilentNested runs under a logged parent domain (the policy): it signals the runner
// (SilentNestedArgs), enforces a signal-scoping child domain with restrict_self flags and
// quiet_scoped, and signals the runner twice more. It returns the errnos of the four calls
// as StepResults.
const SilentNested = "audit-silent-nested"

// SilentNestedArgs encodes SilentNested's arguments: the pid to signal, the child domain's
// restrict_self flags and quiet_scoped.
func SilentNestedArgs(pid int, flags uint32, quiet uint64) []string {
	return []string{strconv.Itoa(pid), strconv.FormatUint(uint64(flags), 10), strconv.FormatUint(quiet, 10)}
}

func init() {
	sandbox.Register(SilentNested, func(args []string) ([]byte, error) {
		if len(args) != 3 {
			return nil, fmt.Errorf("want pid, flags and quiet_scoped, got %q", args)
		}
		pid, err := strconv.Atoi(args[0])
		if err != nil || pid <= 0 {
			return nil, fmt.Errorf("bad pid %q", args[0])
		}
		flags, err := strconv.ParseUint(args[1], 10, 32)
		if err != nil {
			return nil, fmt.Errorf("bad flags %q: %w", args[1], err)
		}
		quiet, err := strconv.ParseUint(args[2], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("bad quiet_scoped %q: %w", args[2], err)
		}
		res := StepResults{sandbox.ErrnoCode(unix.Kill(pid, 0))}
		res = append(res, sandbox.ErrnoCode(restrictScoped(uint32(flags), quiet)))
		res = append(res, sandbox.ErrnoCode(unix.Kill(pid, 0)), sandbox.ErrnoCode(unix.Kill(pid, 0)))
		return json.Marshal(res)
	})
}

// restrictScoped enforces one more layer scoping signals, with quiet_scoped and flags.
func restrictScoped(flags uint32, quiet uint64) error {
	fd, err := landlock.CreateRuleset(&landlock.RulesetAttr{Scoped: landlock.ScopeSignal, QuietScoped: quiet}, landlock.RulesetAttrSize, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return landlock.RestrictSelf(fd, flags)
}
