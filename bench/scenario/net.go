package scenario

import (
	"context"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/llconform/llconform/bench/result"
	"github.com/llconform/llconform/internal/landlock"
	"github.com/llconform/llconform/internal/sandbox"
)

// network times Landlock's socket hooks on loopback. Landlock checks bind and connect
// before the protocol does, so calling them again on a socket that is already bound
// (EINVAL) or connected (EISCONN) runs the whole check on every iteration without socket
// set-up and teardown drowning it.
var network = Scenario{
	Name:   "Net",
	Title:  "TCP and UDP bind/connect on loopback",
	MinABI: 4,
	Run:    runNet,
}

// deniedPort is a port no rule names; nothing ever binds or connects to it, the kernel
// refuses first.
const deniedPort = 9

func runNet(ctx context.Context, env *Env, out *result.Scenario) error {
	tcp := &result.Series{Name: "tcp", Op: "bind on a bound socket (EINVAL after the check), connect on a connected one (EISCONN after the check); denied: EACCES"}
	udp := &result.Series{Name: "udp", Op: "bind on a bound socket (EINVAL after the check), connect (re-targets the socket); denied: EACCES"}
	out.Series = []*result.Series{tcp, udp}
	if err := runTCP(ctx, env, tcp); err != nil {
		return err
	}
	if udp.Skipped = env.skipABI(10); udp.Skipped != "" {
		return nil
	}
	return runUDP(ctx, env, udp)
}

// socketOn returns a socket of type typ bound to 127.0.0.1 on an ephemeral port, and that
// port.
func socketOn(typ int) (int, int, error) {
	fd, err := unix.Socket(unix.AF_INET, typ|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, 0, fmt.Errorf("socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		unix.Close(fd)
		return -1, 0, fmt.Errorf("bind 127.0.0.1:0: %w", err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		unix.Close(fd)
		return -1, 0, fmt.Errorf("getsockname: %w", err)
	}
	return fd, sa.(*unix.SockaddrInet4).Port, nil
}

func runTCP(ctx context.Context, env *Env, se *result.Series) error {
	listener, lport, err := socketOn(unix.SOCK_STREAM)
	if err != nil {
		return fmt.Errorf("tcp listener: %w", err)
	}
	defer unix.Close(listener)
	if err := unix.Listen(listener, 1); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	bound, bport, err := socketOn(unix.SOCK_STREAM)
	if err != nil {
		return fmt.Errorf("tcp socket to rebind: %w", err)
	}
	defer unix.Close(bound)
	conn, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	defer unix.Close(conn)
	if err := unix.Connect(conn, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}, Port: lport}); err != nil {
		return fmt.Errorf("connect to the listener: %w", err)
	}
	peer, _, err := unix.Accept4(listener, unix.SOCK_CLOEXEC)
	if err != nil {
		return fmt.Errorf("accept: %w", err)
	}
	defer unix.Close(peer)

	p := sandbox.Net(landlock.AccessNetBindTCP|landlock.AccessNetConnectTCP,
		sandbox.PortRule{Port: uint64(bport), Access: landlock.AccessNetBindTCP},
		sandbox.PortRule{Port: uint64(lport), Access: landlock.AccessNetConnectTCP})
	return env.sockCases(ctx, se, p, []sockCase{
		{"bind/allowed", unix.SYS_BIND, bound, bport, unix.EINVAL, unix.EINVAL},
		{"bind/denied", unix.SYS_BIND, bound, deniedPort, unix.EINVAL, unix.EACCES},
		{"connect/allowed", unix.SYS_CONNECT, conn, lport, unix.EISCONN, unix.EISCONN},
		{"connect/denied", unix.SYS_CONNECT, conn, deniedPort, unix.EISCONN, unix.EACCES},
	})
}

func runUDP(ctx context.Context, env *Env, se *result.Series) error {
	sock, port, err := socketOn(unix.SOCK_DGRAM)
	if err != nil {
		return fmt.Errorf("udp socket: %w", err)
	}
	defer unix.Close(sock)
	server, sport, err := socketOn(unix.SOCK_DGRAM)
	if err != nil {
		return fmt.Errorf("udp server socket: %w", err)
	}
	defer unix.Close(server)

	p := sandbox.Net(landlock.AccessNetBindUDP|landlock.AccessNetConnectSendUDP,
		sandbox.PortRule{Port: uint64(port), Access: landlock.AccessNetBindUDP},
		sandbox.PortRule{Port: uint64(sport), Access: landlock.AccessNetConnectSendUDP})
	return env.sockCases(ctx, se, p, []sockCase{
		{"bind/allowed", unix.SYS_BIND, sock, port, unix.EINVAL, unix.EINVAL},
		{"bind/denied", unix.SYS_BIND, sock, deniedPort, unix.EINVAL, unix.EACCES},
		{"connect/allowed", unix.SYS_CONNECT, sock, sport, 0, 0},
		{"connect/denied", unix.SYS_CONNECT, sock, deniedPort, 0, unix.EACCES},
	})
}

// sockCase is one bind or connect to 127.0.0.1:port on fd, with the outcome expected
// without and with the policy.
type sockCase struct {
	label   string
	call    uintptr
	fd      int
	port    int
	off, on unix.Errno
}

func (e *Env) sockCases(ctx context.Context, se *result.Series, p sandbox.Policy, cases []sockCase) error {
	for _, c := range cases {
		err := e.pair(ctx, se, c.label, 0, e.policy(p),
			loop(sockLoop(c.call, c.fd, c.off, inet4(c.port))),
			loop(sockLoop(c.call, c.fd, c.on, inet4(c.port))))
		if err != nil {
			return err
		}
	}
	return nil
}
