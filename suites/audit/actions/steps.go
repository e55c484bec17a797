package actions

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/llconform/llconform/internal/landlock"
	"github.com/llconform/llconform/internal/sandbox"
)

// Steps is the action running a list of Steps (StepsArgs) and reporting their
// StepResults.
const Steps = "audit-steps"

// StepsArgs encodes steps as Steps' arguments.
func StepsArgs(steps ...Step) ([]string, error) {
	b, err := json.Marshal(steps)
	if err != nil {
		return nil, fmt.Errorf("encode steps: %w", err)
	}
	return []string{string(b)}, nil
}

// Step is one thing a process-mode helper does, in order, after its policy is enforced:
// the specs about log flags and inheritance need denials interleaved with restrict_self,
// synchronisation with the runner, fork and execve.
type Step struct {
	Op   string   `json:"op"`
	Args []string `json:"args,omitempty"`
	Sub  []Step   `json:"sub,omitempty"` // the steps of the executed program ("exec")
}

// Kill sends signal 0 to pid.
func Kill(pid int) Step { return Step{Op: "kill", Args: []string{strconv.Itoa(pid)}} }

// Restrict enforces one more layer scoping signals, with restrict_self flags.
func Restrict(flags uint32) Step {
	return Step{Op: "restrict", Args: []string{strconv.FormatUint(uint64(flags), 10)}}
}

// RestrictNoRuleset calls restrict_self(-1, flags).
func RestrictNoRuleset(flags uint32) Step {
	return Step{Op: "restrict-1", Args: []string{strconv.FormatUint(uint64(flags), 10)}}
}

// RestrictReadDir enforces one more layer handling READ_DIR without any rule, so that
// opening any directory is a denial.
func RestrictReadDir() Step { return Step{Op: "restrict-readdir"} }

// OpenDir opens path as a directory and closes it.
func OpenDir(path string) Step { return Step{Op: "opendir", Args: []string{path}} }

// Sync writes a line to the runner and waits for one back.
var Sync = Step{Op: "sync"}

// ForkKill forks a child that only sends signal 0 to pid (a Go program can run nothing
// but raw system calls in a forked child) and reports its errno.
func ForkKill(pid int) Step { return Step{Op: "fork-kill", Args: []string{strconv.Itoa(pid)}} }

// ForkRestrictKill forks a child that enforces one more signal-scoping layer and then
// sends signal 0 to pid; the ruleset is created before the fork.
func ForkRestrictKill(pid int) Step {
	return Step{Op: "fork-restrict-kill", Args: []string{strconv.Itoa(pid)}}
}

// ThreadKill runs, on a second thread of the helper that ends afterwards, a
// signal-scoping domain and signal 0 to pid, and reports the errno of the signal.
func ThreadKill(pid int) Step { return Step{Op: "thread-kill", Args: []string{strconv.Itoa(pid)}} }

// Exec executes the program running the steps again (sandbox.Executable()) as a helper
// running sub (fork + execve).
func Exec(sub ...Step) Step { return Step{Op: "exec", Sub: sub} }

// StepResults are the errnos of the steps, in order, the executed program's included
// where an "exec" step was; 0 is success.
type StepResults []int

func init() {
	sandbox.Register(Steps, func(args []string) ([]byte, error) {
		var steps []Step
		if err := json.Unmarshal([]byte(args[0]), &steps); err != nil {
			return nil, fmt.Errorf("decode steps: %w", err)
		}
		res, err := runSteps(steps)
		if err != nil {
			return nil, err
		}
		return json.Marshal(res)
	})
}

func runSteps(steps []Step) (StepResults, error) {
	var res StepResults
	in := bufio.NewReader(os.Stdin)
	for _, s := range steps {
		switch s.Op {
		case "kill":
			pid, err := pidArg(s)
			if err != nil {
				return res, err
			}
			res = append(res, sandbox.ErrnoCode(unix.Kill(pid, 0)))
		case "restrict":
			flags, err := flagsArg(s)
			if err != nil {
				return res, err
			}
			res = append(res, sandbox.ErrnoCode(restrictSignal(flags)))
		case "restrict-readdir":
			res = append(res, sandbox.ErrnoCode(restrictReadDirLayer()))
		case "opendir":
			if len(s.Args) != 1 || s.Args[0] == "" {
				return res, fmt.Errorf("step %s: want one path argument, got %q", s.Op, s.Args)
			}
			fd, err := unix.Open(s.Args[0], unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
			if err == nil {
				unix.Close(fd)
			}
			res = append(res, sandbox.ErrnoCode(err))
		case "restrict-1":
			flags, err := flagsArg(s)
			if err != nil {
				return res, err
			}
			res = append(res, sandbox.ErrnoCode(landlock.RestrictSelf(-1, flags)))
		case "sync":
			if _, err := os.Stdout.WriteString("s\n"); err != nil {
				return res, fmt.Errorf("sync: %w", err)
			}
			if _, err := in.ReadString('\n'); err != nil {
				return res, fmt.Errorf("sync: %w", err)
			}
		case "fork-kill":
			pid, err := pidArg(s)
			if err != nil {
				return res, err
			}
			e, err := forkChild(-1, pid)
			if err != nil {
				return res, err
			}
			res = append(res, e)
		case "fork-restrict-kill":
			pid, err := pidArg(s)
			if err != nil {
				return res, err
			}
			fd, err := landlock.CreateRuleset(&landlock.RulesetAttr{Scoped: landlock.ScopeSignal}, landlock.RulesetAttrSizeV6, 0)
			if err != nil {
				return res, fmt.Errorf("create ruleset before fork: %w", err)
			}
			e, err := forkChild(fd, pid)
			unix.Close(fd)
			if err != nil {
				return res, err
			}
			res = append(res, e)
		case "thread-kill":
			pid, err := pidArg(s)
			if err != nil {
				return res, err
			}
			e, err := threadKill(pid)
			if err != nil {
				return res, err
			}
			res = append(res, e)
		case "exec":
			args, err := StepsArgs(s.Sub...)
			if err != nil {
				return res, fmt.Errorf("exec: %w", err)
			}
			// sandbox.Process executes sandbox.Executable(), the program running these
			// steps: the helper binary, or the suites binary where there is none.
			r := sandbox.Process(sandbox.Policy{}, Steps, args...)
			if r.Setup != nil || r.Err != nil {
				return res, fmt.Errorf("exec: %v %v", r.Setup, r.Err)
			}
			var sub StepResults
			if err := json.Unmarshal(r.Data, &sub); err != nil {
				return res, fmt.Errorf("exec: decode results: %w", err)
			}
			res = append(res, sub...)
		default:
			return res, fmt.Errorf("unknown step %q", s.Op)
		}
	}
	return res, nil
}

// pidArg and flagsArg read a step's argument. A step the runner built wrongly fails the
// helper: kill(0, 0) or flags 0 in its place would prove nothing.
func pidArg(s Step) (int, error) {
	if len(s.Args) != 1 {
		return 0, fmt.Errorf("step %s: want one pid argument, got %q", s.Op, s.Args)
	}
	pid, err := strconv.Atoi(s.Args[0])
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("step %s: bad pid %q: %v", s.Op, s.Args[0], err)
	}
	return pid, nil
}

func flagsArg(s Step) (uint32, error) {
	if len(s.Args) != 1 {
		return 0, fmt.Errorf("step %s: want one flags argument, got %q", s.Op, s.Args)
	}
	flags, err := strconv.ParseUint(s.Args[0], 10, 32)
	if err != nil {
		return 0, fmt.Errorf("step %s: bad flags %q: %w", s.Op, s.Args[0], err)
	}
	return uint32(flags), nil
}

// restrictSignal enforces a layer that scopes signals, so that signal 0 to any process
// outside the domain is a denial.
func restrictSignal(flags uint32) error {
	fd, err := landlock.CreateRuleset(&landlock.RulesetAttr{Scoped: landlock.ScopeSignal}, landlock.RulesetAttrSizeV6, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return landlock.RestrictSelf(fd, flags)
}

// restrictReadDirLayer enforces a layer handling READ_DIR with no rule.
func restrictReadDirLayer() error {
	fd, err := landlock.CreateRuleset(&landlock.RulesetAttr{HandledAccessFS: landlock.AccessFSReadDir}, landlock.RulesetAttrSizeV1, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return landlock.RestrictSelf(fd, 0)
}

// threadKill enforces a signal-scoping domain on a new thread, which is not the thread
// group leader, sends signal 0 to pid from it and returns the errno; the thread ends with
// its goroutine, locked and never unlocked, and its domain with it.
func threadKill(pid int) (int, error) {
	type out struct {
		errno int
		err   error
	}
	done := make(chan out, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the runtime ends the thread with the goroutine
		if unix.Gettid() == unix.Getpid() {
			done <- out{err: errors.New("thread-kill: the new goroutine runs on the main thread")}
			return
		}
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			done <- out{err: fmt.Errorf("thread-kill: no_new_privs: %w", err)}
			return
		}
		if err := restrictSignal(0); err != nil {
			done <- out{err: fmt.Errorf("thread-kill: restrict_self: %w", err)}
			return
		}
		done <- out{errno: sandbox.ErrnoCode(unix.Kill(pid, 0))}
	}()
	o := <-done
	return o.errno, o.err
}

// forkChild forks with a raw clone; the child enforces rulesetFd if it is not -1, sends
// signal 0 to pid and exits with the errno as its status (restrict_self failing exits with
// 100 + errno). Nothing but raw system calls may run in the child.
func forkChild(rulesetFd, pid int) (int, error) {
	child, _, e := unix.RawSyscall6(unix.SYS_CLONE, uintptr(unix.SIGCHLD), 0, 0, 0, 0, 0)
	if e != 0 {
		return 0, fmt.Errorf("clone: %w", e)
	}
	if child == 0 {
		if rulesetFd >= 0 {
			if _, _, re := unix.RawSyscall(unix.SYS_LANDLOCK_RESTRICT_SELF, uintptr(rulesetFd), 0, 0); re != 0 {
				unix.RawSyscall(unix.SYS_EXIT_GROUP, 100+uintptr(re), 0, 0)
			}
		}
		_, _, ke := unix.RawSyscall(unix.SYS_KILL, uintptr(pid), 0, 0)
		unix.RawSyscall(unix.SYS_EXIT_GROUP, uintptr(ke), 0, 0)
	}
	var ws unix.WaitStatus
	if _, err := unix.Wait4(int(child), &ws, 0, nil); err != nil {
		return 0, fmt.Errorf("wait for forked child: %w", err)
	}
	if !ws.Exited() {
		return 0, fmt.Errorf("forked child ended with %v", ws)
	}
	return ws.ExitStatus(), nil
}
