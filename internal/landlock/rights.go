package landlock

import (
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// Filesystem access rights (handled_access_fs, allowed_access of path-beneath rules).
const (
	AccessFSExecute     = unix.LANDLOCK_ACCESS_FS_EXECUTE
	AccessFSWriteFile   = unix.LANDLOCK_ACCESS_FS_WRITE_FILE
	AccessFSReadFile    = unix.LANDLOCK_ACCESS_FS_READ_FILE
	AccessFSReadDir     = unix.LANDLOCK_ACCESS_FS_READ_DIR
	AccessFSRemoveDir   = unix.LANDLOCK_ACCESS_FS_REMOVE_DIR
	AccessFSRemoveFile  = unix.LANDLOCK_ACCESS_FS_REMOVE_FILE
	AccessFSMakeChar    = unix.LANDLOCK_ACCESS_FS_MAKE_CHAR
	AccessFSMakeDir     = unix.LANDLOCK_ACCESS_FS_MAKE_DIR
	AccessFSMakeReg     = unix.LANDLOCK_ACCESS_FS_MAKE_REG
	AccessFSMakeSock    = unix.LANDLOCK_ACCESS_FS_MAKE_SOCK
	AccessFSMakeFifo    = unix.LANDLOCK_ACCESS_FS_MAKE_FIFO
	AccessFSMakeBlock   = unix.LANDLOCK_ACCESS_FS_MAKE_BLOCK
	AccessFSMakeSym     = unix.LANDLOCK_ACCESS_FS_MAKE_SYM
	AccessFSRefer       = unix.LANDLOCK_ACCESS_FS_REFER        // ABI 2
	AccessFSTruncate    = unix.LANDLOCK_ACCESS_FS_TRUNCATE     // ABI 3
	AccessFSIoctlDev    = unix.LANDLOCK_ACCESS_FS_IOCTL_DEV    // ABI 5
	AccessFSResolveUnix = unix.LANDLOCK_ACCESS_FS_RESOLVE_UNIX // ABI 9
)

// Network access rights (handled_access_net, allowed_access of net-port rules).
const (
	AccessNetBindTCP        = unix.LANDLOCK_ACCESS_NET_BIND_TCP         // ABI 4
	AccessNetConnectTCP     = unix.LANDLOCK_ACCESS_NET_CONNECT_TCP      // ABI 4
	AccessNetBindUDP        = unix.LANDLOCK_ACCESS_NET_BIND_UDP         // ABI 10
	AccessNetConnectSendUDP = unix.LANDLOCK_ACCESS_NET_CONNECT_SEND_UDP // ABI 10
)

// Scopes (scoped).
const (
	ScopeAbstractUnixSocket = unix.LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET // ABI 6
	ScopeSignal             = unix.LANDLOCK_SCOPE_SIGNAL               // ABI 6
)

// AccessFSFileRights are the rights that make sense on a file; a path-beneath rule whose
// parent is not a directory may only carry these (EINVAL otherwise).
const AccessFSFileRights = AccessFSExecute | AccessFSWriteFile | AccessFSReadFile |
	AccessFSTruncate | AccessFSIoctlDev | AccessFSResolveUnix

// Right names one bit of one kind, as the audit blockers name it (fs.read_file, net.bind_tcp,
// scope.signal).
type Right struct {
	Kind Kind
	Bit  uint64
	Name string // without the kind prefix: "read_file"
	ABI  int    // the ABI that introduced it
}

// Kind is the family of a right: which attr field handles it.
type Kind string

const (
	KindFS    Kind = "fs"
	KindNet   Kind = "net"
	KindScope Kind = "scope"
)

// String returns the audit-style name, e.g. "fs.read_file".
func (r Right) String() string { return string(r.Kind) + "." + r.Name }

// Feature returns the spec label of the right's feature, e.g. "fs.read_file".
func (r Right) Feature() string { return r.String() }

// FSRights lists every filesystem right in bit order.
var FSRights = []Right{
	{KindFS, AccessFSExecute, "execute", 1},
	{KindFS, AccessFSWriteFile, "write_file", 1},
	{KindFS, AccessFSReadFile, "read_file", 1},
	{KindFS, AccessFSReadDir, "read_dir", 1},
	{KindFS, AccessFSRemoveDir, "remove_dir", 1},
	{KindFS, AccessFSRemoveFile, "remove_file", 1},
	{KindFS, AccessFSMakeChar, "make_char", 1},
	{KindFS, AccessFSMakeDir, "make_dir", 1},
	{KindFS, AccessFSMakeReg, "make_reg", 1},
	{KindFS, AccessFSMakeSock, "make_sock", 1},
	{KindFS, AccessFSMakeFifo, "make_fifo", 1},
	{KindFS, AccessFSMakeBlock, "make_block", 1},
	{KindFS, AccessFSMakeSym, "make_sym", 1},
	{KindFS, AccessFSRefer, "refer", 2},
	{KindFS, AccessFSTruncate, "truncate", 3},
	{KindFS, AccessFSIoctlDev, "ioctl_dev", 5},
	{KindFS, AccessFSResolveUnix, "resolve_unix", 9},
}

// NetRights lists every network right in bit order.
var NetRights = []Right{
	{KindNet, AccessNetBindTCP, "bind_tcp", 4},
	{KindNet, AccessNetConnectTCP, "connect_tcp", 4},
	{KindNet, AccessNetBindUDP, "bind_udp", 10},
	{KindNet, AccessNetConnectSendUDP, "connect_send_udp", 10},
}

// Scopes lists every scope in bit order.
var Scopes = []Right{
	{KindScope, ScopeAbstractUnixSocket, "abstract_unix_socket", 6},
	{KindScope, ScopeSignal, "signal", 6},
}

// AllRights lists FSRights, NetRights and Scopes.
func AllRights() []Right {
	all := make([]Right, 0, len(FSRights)+len(NetRights)+len(Scopes))
	all = append(all, FSRights...)
	all = append(all, NetRights...)
	return append(all, Scopes...)
}

// Mask returns the union of the bits of rights of kind k introduced at or below abi.
func Mask(k Kind, abi int) uint64 {
	var m uint64
	for _, r := range AllRights() {
		if r.Kind == k && r.ABI <= abi {
			m |= r.Bit
		}
	}
	return m
}

// Names returns the audit-style names of the bits set in mask, in bit order, joined by
// commas as the audit blockers field lists them. Unknown bits are shown in hex.
func Names(k Kind, mask uint64) string {
	var names []string
	for _, r := range AllRights() {
		if r.Kind == k && mask&r.Bit != 0 {
			names = append(names, r.String())
			mask &^= r.Bit
		}
	}
	if mask != 0 {
		names = append(names, fmt.Sprintf("%s.%#x", k, mask))
	}
	return strings.Join(names, ",")
}
