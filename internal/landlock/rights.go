package landlock

import (
	"fmt"
	"strings"
)

// Filesystem access rights (handled_access_fs, allowed_access of path-beneath rules).
const (
	AccessFSExecute     = 1 << 0
	AccessFSWriteFile   = 1 << 1
	AccessFSReadFile    = 1 << 2
	AccessFSReadDir     = 1 << 3
	AccessFSRemoveDir   = 1 << 4
	AccessFSRemoveFile  = 1 << 5
	AccessFSMakeChar    = 1 << 6
	AccessFSMakeDir     = 1 << 7
	AccessFSMakeReg     = 1 << 8
	AccessFSMakeSock    = 1 << 9
	AccessFSMakeFifo    = 1 << 10
	AccessFSMakeBlock   = 1 << 11
	AccessFSMakeSym     = 1 << 12
	AccessFSRefer       = 1 << 13 // ABI 2
	AccessFSTruncate    = 1 << 14 // ABI 3
	AccessFSIoctlDev    = 1 << 15 // ABI 5
	AccessFSResolveUnix = 1 << 16 // ABI 9
)

// Network access rights (handled_access_net, allowed_access of net-port rules).
const (
	AccessNetBindTCP        = 1 << 0 // ABI 4
	AccessNetConnectTCP     = 1 << 1 // ABI 4
	AccessNetBindUDP        = 1 << 2 // ABI 10
	AccessNetConnectSendUDP = 1 << 3 // ABI 10
)

// Scopes (scoped).
const (
	ScopeAbstractUnixSocket = 1 << 0 // ABI 6
	ScopeSignal             = 1 << 1 // ABI 6
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
