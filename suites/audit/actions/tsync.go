package actions

import (
	"encoding/json"
	"fmt"
	"runtime"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/llconform/llconform/internal/landlock"
	"github.com/llconform/llconform/internal/sandbox"
)

// TSync mirrors the kernel selftests log_subdomains_off_tsync and
// tsync_override_log_subdomains_off: a sibling thread optionally sets LOG_SUBDOMAINS_OFF,
// enforces a signal-scoping domain and signals a first target; the calling thread then
// calls restrict_self with a ruleset or -1 and flags which include TSYNC; the sibling
// stacks one more domain from the same ruleset and signals a second target (TSyncArgs). It
// reports a TSyncRun. TSYNC changes every thread of the process, hence a helper process.
const TSync = "audit-tsync"

// RestrictCall calls restrict_self once, with a fresh ruleset or -1 and flags (RestrictArgs),
// and reports its errno name: with TSYNC, a call the kernel wrongly accepted would restrict
// every thread of the process.
const RestrictCall = "audit-restrict"

// The arguments' words: the sibling sets LOG_SUBDOMAINS_OFF; the call passes a ruleset.
const (
	mute        = "mute"
	withRuleset = "ruleset"
)

func word(b bool, yes, no string) string {
	if b {
		return yes
	}
	return no
}

// TSyncArgs encodes TSync's arguments: whether the sibling mutes its domains first,
// whether the caller passes a ruleset rather than -1, the caller's flags, and the targets
// the sibling signals before and after the call.
func TSyncArgs(muted, ruleset bool, flags uint32, target1, target2 int) []string {
	return []string{word(muted, mute, "log"), word(ruleset, withRuleset, "-1"),
		strconv.FormatUint(uint64(flags), 10), strconv.Itoa(target1), strconv.Itoa(target2)}
}

// RestrictArgs encodes RestrictCall's arguments: whether it passes a fresh ruleset rather
// than -1, and the flags.
func RestrictArgs(ruleset bool, flags uint32) []string {
	return []string{word(ruleset, withRuleset, "-1"), strconv.FormatUint(uint64(flags), 10)}
}

// TSyncRun is what the TSync helper's threads saw, as errno names ("success").
type TSyncRun struct {
	Mute      string `json:"mute,omitempty"` // sibling: restrict_self(-1, LOG_SUBDOMAINS_OFF), if asked
	Restrict1 string `json:"restrict1"`      // sibling: its first domain
	Deny1     string `json:"deny1"`          // sibling: kill(target1, 0) in it
	TSync     string `json:"tsync"`          // caller: restrict_self with TSYNC
	Restrict2 string `json:"restrict2"`      // sibling: a domain stacked after the TSYNC call
	Deny2     string `json:"deny2"`          // sibling: kill(target2, 0) in it
}

// onSibling runs functions on one dedicated thread of the helper, so that what it
// enforces stays on that thread and the TSYNC call happens on another.
type onSibling chan func()

func startSibling() onSibling {
	s := make(onSibling)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		for f := range s {
			f()
		}
	}()
	return s
}

func (s onSibling) do(f func()) {
	done := make(chan struct{})
	s <- func() { f(); close(done) }
	<-done
}

func init() {
	sandbox.Register(TSync, func(args []string) ([]byte, error) {
		flags, err := strconv.ParseUint(args[2], 10, 32)
		if err != nil {
			return nil, fmt.Errorf("flags: %w", err)
		}
		target1, err1 := strconv.Atoi(args[3])
		target2, err2 := strconv.Atoi(args[4])
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("targets %q %q: %v %v", args[3], args[4], err1, err2)
		}
		fd, err := landlock.CreateRuleset(&landlock.RulesetAttr{Scoped: landlock.ScopeSignal}, landlock.RulesetAttrSizeV6, 0)
		if err != nil {
			return nil, fmt.Errorf("create signal-scoping ruleset: %w", err)
		}
		defer unix.Close(fd)
		var run TSyncRun
		sib := startSibling()
		defer close(sib)
		var setupErr error
		sib.do(func() {
			// no_new_privs is per thread: set it on the sibling as on the caller.
			if setupErr = unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); setupErr != nil {
				return
			}
			if args[0] == mute {
				run.Mute = sandbox.ErrnoName(landlock.RestrictSelf(-1, landlock.RestrictSelfLogSubdomainsOff))
			}
			run.Restrict1 = sandbox.ErrnoName(landlock.RestrictSelf(fd, 0))
			run.Deny1 = sandbox.ErrnoName(unix.Kill(target1, 0))
		})
		if setupErr != nil {
			return nil, fmt.Errorf("sibling: set no_new_privs: %w", setupErr)
		}
		callerFd := -1
		if args[1] == withRuleset {
			callerFd = fd
		}
		run.TSync = sandbox.ErrnoName(landlock.RestrictSelf(callerFd, uint32(flags)))
		sib.do(func() {
			run.Restrict2 = sandbox.ErrnoName(landlock.RestrictSelf(fd, 0))
			run.Deny2 = sandbox.ErrnoName(unix.Kill(target2, 0))
		})
		return json.Marshal(run)
	})
	sandbox.Register(RestrictCall, func(args []string) ([]byte, error) {
		flags, err := strconv.ParseUint(args[1], 10, 32)
		if err != nil {
			return nil, fmt.Errorf("flags: %w", err)
		}
		fd := -1
		if args[0] == withRuleset {
			// A filesystem ruleset exists from ABI 1 on, so the call reaches the flags check.
			fd, err = landlock.CreateRuleset(&landlock.RulesetAttr{HandledAccessFS: landlock.AccessFSReadFile}, landlock.RulesetAttrSizeV1, 0)
			if err != nil {
				return nil, fmt.Errorf("create ruleset: %w", err)
			}
			defer unix.Close(fd)
		}
		return json.Marshal(sandbox.ErrnoName(landlock.RestrictSelf(fd, uint32(flags))))
	})
}
