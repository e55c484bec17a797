package actions

import (
	"encoding/json"
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/llconform/llconform/internal/landlock"
	"github.com/llconform/llconform/internal/sandbox"
)

// TSync is the action making the restrict_self calls of TSyncCases, in order, and reporting
// their errnos as a JSON list (0 for success). The TSYNC cases run in one helper process: a
// TSYNC call that succeeds (or one that a faulty kernel wrongly accepts) restricts every
// thread of its process.
const TSync = "abi-restrict-tsync"

// TSyncCase is one restrict_self call with TSYNC.
type TSyncCase struct {
	ID    string // appended to "restrict_self.tsync."
	What  string
	FD    int // -1, or tsyncRuleset for a fresh ruleset
	Flags uint32
	Want  error // from ABI 8; below, TSYNC is unknown (EINVAL)
}

const tsyncRuleset = -2

// TSyncCases are the calls TSync makes.
var TSyncCases = []TSyncCase{
	{ID: "unknown_flag", What: "TSYNC with an unknown flag (EINVAL)",
		FD: tsyncRuleset, Flags: landlock.RestrictSelfTSync | 1<<31, Want: unix.EINVAL},
	{ID: "minus_1", What: "TSYNC with -1 alone (EBADF)",
		FD: -1, Flags: landlock.RestrictSelfTSync, Want: unix.EBADF},
	{ID: "ruleset", What: "TSYNC with a ruleset (accepted)",
		FD: tsyncRuleset, Flags: landlock.RestrictSelfTSync, Want: nil},
	{ID: "minus_1_log_subdomains_off", What: "TSYNC|LOG_SUBDOMAINS_OFF with -1 (accepted)",
		FD: -1, Flags: landlock.RestrictSelfTSync | landlock.RestrictSelfLogSubdomainsOff, Want: nil},
	{ID: "ruleset_log_same_exec_off", What: "TSYNC|LOG_SAME_EXEC_OFF with a ruleset (accepted)",
		FD: tsyncRuleset, Flags: landlock.RestrictSelfTSync | landlock.RestrictSelfLogSameExecOff, Want: nil},
}

func init() {
	sandbox.Register(TSync, func([]string) ([]byte, error) {
		errnos := make([]int, len(TSyncCases))
		for i, c := range TSyncCases {
			fd := c.FD
			if fd == tsyncRuleset {
				attr := landlock.RulesetAttr{HandledAccessFS: landlock.AccessFSMakeBlock}
				rs, err := landlock.CreateRuleset(&attr, landlock.RulesetAttrSize, 0)
				if err != nil {
					return nil, fmt.Errorf("create ruleset: %w", err)
				}
				defer unix.Close(rs)
				fd = rs
			}
			var errno unix.Errno
			switch err := landlock.RestrictSelf(fd, c.Flags); {
			case errors.As(err, &errno):
				errnos[i] = int(errno)
			case err != nil:
				// Not a syscall's answer: a harness failure, never a success.
				return nil, fmt.Errorf("restrict_self(%s): %w", c.What, err)
			}
		}
		return json.Marshal(errnos)
	})
}
