// Package actions holds what the scope suite's process-mode specs run in helper processes
// (internal/sandbox), linked into both the suites binary and cmd/llconform-sandbox.
package actions

import (
	"fmt"
	"io"
	"os"
	"os/signal"

	"golang.org/x/sys/unix"

	"github.com/llconform/llconform/internal/landlock"
	"github.com/llconform/llconform/internal/sandbox"
)

// The actions' names, for sandbox.Start and sandbox.Process.
const (
	WaitAction           = "wait"
	AbstractServerAction = "abstract-server"
	SetuidThreadsAction  = "setuid-threads"
	PgrpWaitAction       = "pgrp-wait"
	PgidSigioAction      = "pgid-sigio"
	ScopedPeerAction     = "scoped-peer"
	TSyncAction          = "tsync"
	TSyncCompeteAction   = "tsync-compete"
	TSyncInterruptAction = "tsync-interrupt"
	TSyncMaxLayersAction = "tsync-max-layers"
	RestrictAction       = "restrict"
)

// ReadyLine is what the wait, pgrp-wait and abstract-server actions write once in place.
const ReadyLine = "ready\n"

func init() {
	// wait: a target process. It says when its policy is in force, then blocks until
	// the spec closes its standard input.
	sandbox.Register(WaitAction, func([]string) ([]byte, error) {
		// A program started with SIGHUP ignored (under nohup, say) keeps it ignored, and the
		// target would discard the SIGHUP a spec sends it: catch it instead, so that it stays
		// pending on a stopped target as every other signal does.
		signal.Notify(make(chan os.Signal, 1), unix.SIGHUP)
		if _, err := os.Stdout.WriteString(ReadyLine); err != nil {
			return nil, err
		}
		_, err := io.Copy(io.Discard, os.Stdin)
		return nil, err
	})
}

// OtherDomain is a policy that creates a domain without scoping anything the specs look
// at: it handles one filesystem right (making block devices) that no spec exercises.
var OtherDomain = sandbox.FS(landlock.AccessFSMakeBlock)

// DropEffective removes caps from the calling thread's effective set (capset works per
// thread, so only throw-away threads and helpers may call it).
func DropEffective(caps ...int) error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capget: %w", err)
	}
	for _, c := range caps {
		data[c/32].Effective &^= 1 << (uint(c) % 32)
	}
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capset: %w", err)
	}
	return nil
}

func init() {
	// abstract-server: binds an abstract socket of every type, named after args[0] and
	// the type, under its policy, says "ready", and keeps them until its standard input
	// closes.
	sandbox.Register(AbstractServerAction, func(args []string) ([]byte, error) {
		for _, t := range UnixTypes {
			fd, err := UnixServer(t.Typ, &unix.SockaddrUnix{Name: args[0] + "-" + t.Name})
			if err != nil {
				return nil, err
			}
			defer unix.Close(fd)
		}
		if _, err := os.Stdout.WriteString(ReadyLine); err != nil {
			return nil, err
		}
		_, err := io.Copy(io.Discard, os.Stdin)
		return nil, err
	})
}

// UnixType is a UNIX socket type the specs try, with its name for messages.
type UnixType struct {
	Name string
	Typ  int
}

// UnixTypes are the socket types of abstract UNIX sockets.
var UnixTypes = []UnixType{
	{Name: "stream", Typ: unix.SOCK_STREAM},
	{Name: "dgram", Typ: unix.SOCK_DGRAM},
	{Name: "seqpacket", Typ: unix.SOCK_SEQPACKET},
}

// UnixServer creates a UNIX socket of type typ bound to sa, listening if connection-based.
func UnixServer(typ int, sa *unix.SockaddrUnix) (int, error) {
	fd, err := unix.Socket(unix.AF_UNIX, typ|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("socket: %w", err)
	}
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("bind %q: %w", sa.Name, err)
	}
	if typ != unix.SOCK_DGRAM {
		if err := unix.Listen(fd, 8); err != nil {
			unix.Close(fd)
			return -1, fmt.Errorf("listen: %w", err)
		}
	}
	return fd, nil
}

// UnixConnect connects a new socket of type typ to sa and returns connect's error.
func UnixConnect(typ int, sa *unix.SockaddrUnix) error {
	fd, err := unix.Socket(unix.AF_UNIX, typ|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return sandbox.SetupFailed("client socket(AF_UNIX)", err)
	}
	defer unix.Close(fd)
	return unix.Connect(fd, sa)
}
