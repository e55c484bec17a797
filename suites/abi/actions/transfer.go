package actions

import (
	"encoding/json"
	"fmt"
	"net"
	"time"

	"golang.org/x/sys/unix"

	"github.com/llconform/llconform/internal/landlock"
	"github.com/llconform/llconform/internal/sandbox"
)

// Transfer is the action receiving a ruleset fd over SCM_RIGHTS: it restricts itself with
// it and reports a TransferResult.
const Transfer = "abi-ruleset-fd-transfer"

// TransferArgs are Transfer's arguments: the sender's socket, the directory the ruleset's
// rule allows.
func TransferArgs(sock, allowed string) []string { return []string{sock, allowed} }

// TransferResult is what the receiving helper saw, as sandbox.ErrnoCode values
// (sandbox.CodeErr turns them back into errors).
type TransferResult struct {
	Restrict, Root, Allowed int
}

// OpenDir opens path as a directory and closes it: READ_DIR is what the rulesets here handle.
func OpenDir(path string) error {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err == nil {
		unix.Close(fd)
	}
	return err
}

func init() {
	sandbox.Register(Transfer, func(args []string) ([]byte, error) {
		conn, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: args[0], Net: "unix"})
		if err != nil {
			return nil, sandbox.SetupFailed("connect to the sender", err)
		}
		defer conn.Close()
		if err := conn.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
			return nil, sandbox.SetupFailed("set a receive deadline", err)
		}
		oob := make([]byte, unix.CmsgSpace(4))
		_, oobn, _, _, err := conn.ReadMsgUnix(make([]byte, 1), oob)
		if err != nil {
			return nil, sandbox.SetupFailed("recvmsg", err)
		}
		msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err != nil || len(msgs) != 1 {
			return nil, fmt.Errorf("set-up step: %d control messages (%v), want one", len(msgs), err)
		}
		fds, err := unix.ParseUnixRights(&msgs[0])
		if err != nil || len(fds) != 1 {
			return nil, fmt.Errorf("set-up step: %d descriptors received (%v), want one", len(fds), err)
		}
		// The helper runs with no_new_privs set (an empty policy) on its locked thread.
		var res TransferResult
		res.Restrict = sandbox.ErrnoCode(landlock.RestrictSelf(fds[0], 0))
		unix.Close(fds[0])
		res.Root = sandbox.ErrnoCode(OpenDir("/"))
		res.Allowed = sandbox.ErrnoCode(OpenDir(args[1]))
		return json.Marshal(res)
	})
}
