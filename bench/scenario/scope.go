package scenario

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/llconform/llconform/bench/measure"
	"github.com/llconform/llconform/bench/result"
	"github.com/llconform/llconform/internal/landlock"
	"github.com/llconform/llconform/internal/sandbox"
)

// scopes times the two scope checks (ABI 6) against a target outside the domain (denied)
// and inside it (allowed after the domain comparison).
var scopes = Scenario{
	Name:   "Scope",
	Title:  "signal and abstract UNIX socket scopes",
	MinABI: 6,
	Run:    runScopes,
}

// waitAction is the process-mode helper that serves as a signal target: it says it is
// ready and waits for its standard input to close.
const waitAction = "bench.wait"

func init() {
	sandbox.Register(waitAction, func([]string) ([]byte, error) {
		if _, err := fmt.Println("ready"); err != nil {
			return nil, err
		}
		_, err := io.Copy(io.Discard, os.Stdin)
		return nil, err
	})
}

func runScopes(ctx context.Context, env *Env, out *result.Scenario) error {
	signal := &result.Series{Name: "signal", Op: "kill(pid, 0) of a process outside the domain (on: EPERM) or created inside it (allowed); off targets the outside one"}
	unixSe := &result.Series{Name: "abstract-unix", Op: "connect of a datagram socket to an abstract UNIX socket created outside the domain (on: EPERM) or inside it, alternating between two so that every connect is checked"}
	out.Series = []*result.Series{signal, unixSe}
	if err := runSignal(ctx, env, signal); err != nil {
		return err
	}
	return runAbstractUnix(ctx, env, unixSe)
}

// startWaiter starts a waitAction helper from the calling thread, which it inherits the
// Landlock domain of.
func startWaiter() (*sandbox.Proc, error) {
	pr, err := sandbox.Start(sandbox.Policy{}, waitAction)
	if err != nil {
		return nil, err
	}
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(pr.Stdout).ReadString('\n')
		line <- s
	}()
	select {
	case s := <-line:
		if s == "ready\n" {
			return pr, nil
		}
	case <-time.After(10 * time.Second):
	}
	pr.Kill()
	return nil, errors.New("the process-mode helper did not start: the program must call sandbox.Main first thing in main")
}

func runSignal(ctx context.Context, env *Env, se *result.Series) error {
	outside, err := startWaiter()
	if err != nil {
		se.Skipped = err.Error()
		return nil
	}
	defer outside.Kill()
	p := sandbox.Scoped(landlock.ScopeSignal)
	off := loop(killLoop(outside.Pid(), 0))
	if err := env.pair(ctx, se, "outside", 0, env.policy(p), off, loop(killLoop(outside.Pid(), unix.EPERM))); err != nil {
		return err
	}
	var inside *sandbox.Proc
	defer func() {
		if inside != nil {
			inside.Kill()
		}
	}()
	return env.pair(ctx, se, "inside", 0, env.policy(p), off, func() (measure.Loop, error) {
		var err error
		if inside, err = startWaiter(); err != nil {
			return nil, fmt.Errorf("start a target inside the domain: %w", err)
		}
		return killLoop(inside.Pid(), 0), nil
	})
}

// abstractPair binds two datagram sockets to abstract names from the calling thread,
// which they take the domain of, and returns them with their addresses.
func abstractPair(tag string) ([]int, []sockaddr, error) {
	var fds []int
	var addrs []sockaddr
	for _, side := range []string{"a", "b"} {
		name := fmt.Sprintf("llconform-bench-%d-%s-%s", os.Getpid(), tag, side)
		fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err == nil {
			if err = unix.Bind(fd, &unix.SockaddrUnix{Name: "@" + name}); err != nil {
				unix.Close(fd)
			}
		}
		if err != nil {
			closeFds(fds)
			return nil, nil, fmt.Errorf("abstract socket %s: %w", name, err)
		}
		fds, addrs = append(fds, fd), append(addrs, abstractUnix(name))
	}
	return fds, addrs, nil
}

func closeFds(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}

func runAbstractUnix(ctx context.Context, env *Env, se *result.Series) error {
	outFds, outAddrs, err := abstractPair("outside")
	if err != nil {
		return err
	}
	defer closeFds(outFds)
	var clients []int
	defer func() { closeFds(clients) }()
	for range 2 {
		fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("client socket: %w", err)
		}
		clients = append(clients, fd)
	}
	offC, onC := clients[0], clients[1]
	p := sandbox.Scoped(landlock.ScopeAbstractUnixSocket)
	off := loop(sockLoop(unix.SYS_CONNECT, offC, 0, outAddrs...))
	if err := env.pair(ctx, se, "outside", 0, env.policy(p), off, loop(sockLoop(unix.SYS_CONNECT, onC, unix.EPERM, outAddrs...))); err != nil {
		return err
	}
	var inFds []int
	defer func() { closeFds(inFds) }()
	return env.pair(ctx, se, "inside", 0, env.policy(p), off, func() (measure.Loop, error) {
		fds, addrs, err := abstractPair("inside")
		if err != nil {
			return nil, err
		}
		inFds = fds
		return sockLoop(unix.SYS_CONNECT, onC, 0, addrs...), nil
	})
}
