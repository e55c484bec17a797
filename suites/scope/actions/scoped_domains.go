package actions

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/llconform/llconform/internal/sandbox"
)

// The scoped-peer protocol: its last argument says whether the kernel has scopes; it
// writes PeerReady with its thread ID, waits for PeerGo, then writes its PeerSide as a
// JSON line.
const (
	PeerScopes     = "scopes"
	PeerPtraceOnly = "ptrace-only"
	PeerReady      = "ready %d\n"
	PeerGo         = "go\n"
)

// Outcome is how a result travels through JSON: the errno's name, or "success".
func Outcome(err error) string { return sandbox.ErrnoName(err) }

// PeerSide is what one process of an arrangement saw when reaching the other.
type PeerSide struct {
	Environ string `json:"environ"` // open(/proc/<tid>/environ): PTRACE_MODE_READ
	Attach  string `json:"attach"`  // PTRACE_ATTACH (P1) or PTRACE_SEIZE (P2): PTRACE_MODE_ATTACH
	Traceme string `json:"traceme"` // P2 only: PTRACE_TRACEME towards P1
	Detach  string `json:"detach"`  // P1 only, when TRACEME failed: PTRACE_DETACH of P2
	Signal  string `json:"signal"`  // tgkill(<tid>, 0)
	Self    string `json:"self"`    // tgkill(own thread, 0)
	Stream  string `json:"stream"`  // connect to the other's abstract stream socket
	Dgram   string `json:"dgram"`   // connect to the other's abstract datagram socket
}

func init() {
	// scoped-peer: P2 of a scoped_domains arrangement. args: the runner's pid, P1's
	// thread, the abstract name prefix, and "scopes" when the kernel has them. It binds its
	// abstract sockets, says "ready <tid>", waits for "go" (P1 is then in its domain and
	// has bound its own), reaches P1 every way, writes what it saw as a JSON line, and if
	// PTRACE_TRACEME succeeded stops itself for P1 to see. It ends when its input closes.
	sandbox.Register(ScopedPeerAction, func(args []string) ([]byte, error) {
		runner, err := strconv.Atoi(args[0])
		if err != nil {
			return nil, err
		}
		p1, err := strconv.Atoi(args[1])
		if err != nil {
			return nil, err
		}
		prefix, scopes := args[2], args[3] == PeerScopes
		if scopes {
			for _, s := range PeerSockets(prefix, "p2") {
				fd, err := UnixServer(s.Typ, s.SA)
				if err != nil {
					return nil, err
				}
				defer unix.Close(fd)
			}
		}
		if _, err := fmt.Fprintf(os.Stdout, PeerReady, unix.Gettid()); err != nil {
			return nil, err
		}
		in := bufio.NewReader(os.Stdin)
		if line, err := in.ReadString('\n'); err != nil || line != PeerGo {
			return nil, fmt.Errorf("waiting for go: read %q, %v", line, err)
		}
		var seen PeerSide
		if scopes {
			seen.Stream, seen.Dgram = PeerConnect(prefix, "p1")
			seen.Signal = Outcome(unix.Tgkill(runner, p1, 0))
			seen.Self = Outcome(unix.Tgkill(unix.Getpid(), unix.Gettid(), 0))
		}
		seen.Environ = Outcome(OpenEnviron(p1))
		// PTRACE_SEIZE goes through the same access check as PTRACE_ATTACH but sends no
		// SIGSTOP, so the runner's thread cannot be left stopped if this helper dies.
		seize := unix.PtraceSeize(p1)
		seen.Attach = Outcome(seize)
		if seize == nil {
			if err := releaseSeized(p1); err != nil {
				return nil, err
			}
		}
		// Once traced, any signal stops this thread until the tracer waits, and P1 waits
		// only after reading the report: signals stay blocked until P1 has detached.
		var all, old unix.Sigset_t
		for i := range all.Val {
			all.Val[i] = ^all.Val[i]
		}
		if err := unix.PthreadSigmask(unix.SIG_SETMASK, &all, &old); err != nil {
			return nil, fmt.Errorf("block signals: %w", err)
		}
		traceme := ptraceTraceme()
		seen.Traceme = Outcome(traceme)
		line, err := json.Marshal(seen)
		if err == nil {
			_, err = os.Stdout.Write(append(line, '\n'))
		}
		if err == nil && traceme == nil {
			// SIGSTOP cannot be blocked: the tracer sees this stop and detaches,
			// suppressing it.
			if err = unix.Tgkill(unix.Getpid(), unix.Gettid(), unix.SIGSTOP); err != nil {
				err = fmt.Errorf("stop for the tracer: %w", err)
			}
		}
		if merr := unix.PthreadSigmask(unix.SIG_SETMASK, &old, nil); err == nil && merr != nil {
			err = fmt.Errorf("restore the signal mask: %w", merr)
		}
		if err != nil {
			return nil, err
		}
		_, err = io.Copy(io.Discard, in)
		return nil, err
	})
}

// PeerSocket is one abstract socket of a side of an arrangement.
type PeerSocket struct {
	Typ int
	SA  *unix.SockaddrUnix
}

// PeerSockets names the abstract stream and datagram sockets of one side of an arrangement.
func PeerSockets(prefix, side string) []PeerSocket {
	return []PeerSocket{
		{Typ: unix.SOCK_STREAM, SA: &unix.SockaddrUnix{Name: prefix + "-" + side + "-stream"}},
		{Typ: unix.SOCK_DGRAM, SA: &unix.SockaddrUnix{Name: prefix + "-" + side + "-dgram"}},
	}
}

// PeerConnect connects to side's stream and datagram sockets and returns both outcomes.
func PeerConnect(prefix, side string) (stream, dgram string) {
	s := PeerSockets(prefix, side)
	return Outcome(UnixConnect(s[0].Typ, s[0].SA)), Outcome(UnixConnect(s[1].Typ, s[1].SA))
}

// OpenEnviron opens /proc/<tid>/environ, which needs PTRACE_MODE_READ on that thread. It
// first drops CAP_PERFMON and CAP_SYS_ADMIN from the calling thread: mm_access() lets
// either bypass a denied PTRACE_MODE_READ, Landlock's included.
func OpenEnviron(tid int) error {
	if err := DropEffective(unix.CAP_PERFMON, unix.CAP_SYS_ADMIN); err != nil {
		return sandbox.SetupFailed("drop CAP_PERFMON and CAP_SYS_ADMIN", err)
	}
	fd, err := unix.Open(fmt.Sprintf("/proc/%d/environ", tid), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err == nil {
		unix.Close(fd)
	}
	return err
}

// ptraceTraceme asks to be traced by the parent (the thread that started this process).
func ptraceTraceme() error {
	if _, _, e := unix.RawSyscall(unix.SYS_PTRACE, unix.PTRACE_TRACEME, 0, 0); e != 0 {
		return e
	}
	return nil
}

// PtraceDetach detaches from a stopped tracee, delivering sig (0: none).
func PtraceDetach(tid int, sig unix.Signal) error {
	_, _, e := unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_DETACH, uintptr(tid), 0, uintptr(sig), 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

// releaseSeized stops a thread seized with PTRACE_SEIZE and detaches from it. A signal
// that stopped it first is delivered on detach, so the thread loses nothing.
func releaseSeized(tid int) error {
	if err := unix.PtraceInterrupt(tid); err != nil {
		return fmt.Errorf("PTRACE_INTERRUPT %d: %w", tid, err)
	}
	var ws unix.WaitStatus
	if _, err := unix.Wait4(tid, &ws, unix.WALL, nil); err != nil {
		return fmt.Errorf("wait for the seized thread %d: %w", tid, err)
	}
	if !ws.Stopped() {
		return fmt.Errorf("seized thread %d: wait status %#x, not a stop", tid, uint32(ws))
	}
	// An event stop (status>>16 set) carries no signal; a signal-delivery stop does.
	var sig unix.Signal
	if uint32(ws)>>16 == 0 {
		sig = ws.StopSignal()
	}
	if err := PtraceDetach(tid, sig); err != nil {
		return fmt.Errorf("detach from the seized thread %d: %w", tid, err)
	}
	return nil
}
