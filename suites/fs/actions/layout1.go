package actions

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/llconform/llconform/internal/sandbox"
)

// FtruncVariant is one variant of the kernel's ftruncate fixture: what the domain of the
// process that opens the file handles and grants. The specs add what the open and a later
// ftruncate by another, unrestricted, process give.
type FtruncVariant struct {
	Name             string `json:"name"`
	Handled, Allowed uint64
}

const (
	FtruncSenderAction = "fs-ftruncate-sender"
	UnixServersAction  = "fs-resolve-unix-servers"
)

func init() {
	// The sender opens path O_WRONLY once per variant, each time on a thread of its own
	// restricted by the variant's domain, and sends the open's errno and the descriptor
	// (SCM_RIGHTS) over the runner's abstract socket: the runner, in another process
	// and in no domain, then truncates through it.
	sandbox.Register(FtruncSenderAction, func(args []string) ([]byte, error) {
		var vs []FtruncVariant
		if err := json.Unmarshal([]byte(args[2]), &vs); err != nil {
			return nil, fmt.Errorf("decode variants: %w", err)
		}
		sock, err := unix.Socket(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("socket: %w", err)
		}
		defer unix.Close(sock)
		if err := unix.Connect(sock, &unix.SockaddrUnix{Name: args[0]}); err != nil {
			return nil, fmt.Errorf("connect to the runner's %s: %w", args[0], err)
		}
		for _, v := range vs {
			p := sandbox.FS(v.Handled, Rule(args[1], v.Allowed))
			res := sandbox.Thread(p, func() error {
				fd, err := unix.Open(args[1], unix.O_WRONLY|unix.O_CLOEXEC, 0)
				msg := binary.LittleEndian.AppendUint32(nil, uint32(ErrnoOf(err)))
				if err != nil {
					return unix.Sendmsg(sock, msg, nil, nil, 0)
				}
				defer unix.Close(fd)
				return unix.Sendmsg(sock, msg, unix.UnixRights(fd), nil, 0)
			})
			if res.Setup != nil || res.Err != nil {
				return nil, fmt.Errorf("variant %s: setup %v, send %v", v.Name, res.Setup, res.Err)
			}
		}
		return nil, nil
	})
	// The servers bind a stream, a seqpacket and a datagram pathname socket in args[0]
	// inside the helper's domain, say so, and keep them until the spec closes stdin.
	sandbox.Register(UnixServersAction, func(args []string) ([]byte, error) {
		for _, k := range []struct {
			typ  int
			Name string
		}{{unix.SOCK_STREAM, "stream"}, {unix.SOCK_SEQPACKET, "seqpacket"}, {unix.SOCK_DGRAM, "dgram"}} {
			fd, err := UnixServer(k.typ, filepath.Join(args[0], k.Name))
			if err != nil {
				return nil, err
			}
			defer unix.Close(fd)
		}
		if _, err := os.Stdout.WriteString("ready\n"); err != nil {
			return nil, err
		}
		_, err := io.Copy(io.Discard, os.Stdin)
		return nil, err
	})
}

// recvFtruncResults receives one message per variant from the sender: the open's errno

// UnixServer binds a socket of type typ at path (listening unless datagram) and returns it.
func UnixServer(typ int, path string) (int, error) {
	fd, err := unix.Socket(unix.AF_UNIX, typ|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("bind %s: %w", path, err)
	}
	if typ != unix.SOCK_DGRAM {
		if err := unix.Listen(fd, 8); err != nil {
			unix.Close(fd)
			return -1, fmt.Errorf("listen %s: %w", path, err)
		}
	}
	return fd, nil
}
