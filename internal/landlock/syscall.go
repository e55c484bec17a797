package landlock

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// Syscall numbers, flags and rule types come from x/sys where it has them, so that they
// are written down once, by the kernel's own headers; the few it lacks are ours, and say so.
const (
	sysCreateRuleset = unix.SYS_LANDLOCK_CREATE_RULESET
	sysAddRule       = unix.SYS_LANDLOCK_ADD_RULE
	sysRestrictSelf  = unix.SYS_LANDLOCK_RESTRICT_SELF
)

// create_ruleset flags.
const (
	CreateRulesetVersion = unix.LANDLOCK_CREATE_RULESET_VERSION
	CreateRulesetErrata  = unix.LANDLOCK_CREATE_RULESET_ERRATA // ABI 7, backported
)

// Rule types for add_rule.
const (
	RulePathBeneath = unix.LANDLOCK_RULE_PATH_BENEATH
	// RuleNetPort is LANDLOCK_RULE_NET_PORT (ABI 4), which x/sys lacks.
	RuleNetPort = 2
)

// add_rule flags.
const (
	AddRuleQuiet = unix.LANDLOCK_ADD_RULE_QUIET // ABI 10
)

// restrict_self flags.
const (
	RestrictSelfLogSameExecOff   = unix.LANDLOCK_RESTRICT_SELF_LOG_SAME_EXEC_OFF  // ABI 7
	RestrictSelfLogNewExecOn     = unix.LANDLOCK_RESTRICT_SELF_LOG_NEW_EXEC_ON    // ABI 7
	RestrictSelfLogSubdomainsOff = unix.LANDLOCK_RESTRICT_SELF_LOG_SUBDOMAINS_OFF // ABI 7
	RestrictSelfTSync            = unix.LANDLOCK_RESTRICT_SELF_TSYNC              // ABI 8
	// RestrictSelfNoNewPrivs is LANDLOCK_RESTRICT_SELF_NO_NEW_PRIVS (ABI 11), which x/sys lacks.
	RestrictSelfNoNewPrivs = 1 << 4
)

// RulesetAttr is struct landlock_ruleset_attr in its largest (ABI 10) form. The kernel
// reads only as many bytes as the caller passes, so older layouts are prefixes of this one:
// use Size with the ABI whose layout is wanted.
type RulesetAttr struct {
	HandledAccessFS  uint64
	HandledAccessNet uint64 // ABI 4
	Scoped           uint64 // ABI 6
	QuietAccessFS    uint64 // ABI 10
	QuietAccessNet   uint64 // ABI 10
	QuietScoped      uint64 // ABI 10
}

// Sizes of struct landlock_ruleset_attr as each ABI defined it.
const (
	RulesetAttrSizeV1 = 8  // handled_access_fs
	RulesetAttrSizeV4 = 16 // + handled_access_net
	RulesetAttrSizeV6 = 24 // + scoped
	RulesetAttrSize   = int(unsafe.Sizeof(RulesetAttr{}))
)

// Size returns the size of the ruleset attr as ABI abi laid it out.
func (RulesetAttr) Size(abi int) int {
	switch {
	case abi >= 10:
		return RulesetAttrSize
	case abi >= 6:
		return RulesetAttrSizeV6
	case abi >= 4:
		return RulesetAttrSizeV4
	default:
		return RulesetAttrSizeV1
	}
}

// PathBeneathAttr is struct landlock_path_beneath_attr. The kernel declares it packed: 12
// bytes, with ParentFd unaligned, so it is marshalled by hand rather than passed as a Go
// struct (which would be padded to 16).
type PathBeneathAttr struct {
	AllowedAccess uint64
	ParentFd      int32
}

func (a PathBeneathAttr) bytes() [12]byte {
	var b [12]byte
	*(*uint64)(unsafe.Pointer(&b[0])) = a.AllowedAccess
	*(*int32)(unsafe.Pointer(&b[8])) = a.ParentFd
	return b
}

// NetPortAttr is struct landlock_net_port_attr.
type NetPortAttr struct {
	AllowedAccess uint64
	Port          uint64
}

// The kernel's attr layouts are the same for 32- and 64-bit programs (all fields are u64,
// or packed): a build for an architecture whose Go layout differed fails here rather than
// passing the kernel shifted fields (a negative constant has no uint).
const (
	_ = uint(RulesetAttrSize - 48)
	_ = uint(48 - RulesetAttrSize)
	_ = uint(unsafe.Sizeof(NetPortAttr{}) - 16)
	_ = uint(16 - unsafe.Sizeof(NetPortAttr{}))
)

// CreateRuleset calls landlock_create_ruleset with attr laid out in its first size bytes.
// size may exceed RulesetAttrSize: the extra bytes are zero, which is what a newer program
// compiled against a larger struct would pass.
func CreateRuleset(attr *RulesetAttr, size int, flags uint32) (int, error) {
	if attr == nil {
		return CreateRulesetRaw(nil, size, flags)
	}
	buf := make([]byte, max(size, RulesetAttrSize))
	copy(buf, unsafe.Slice((*byte)(unsafe.Pointer(attr)), RulesetAttrSize))
	return CreateRulesetRaw(buf, size, flags)
}

// CreateRulesetRaw passes buf (which may be nil) and size to the kernel unchecked, for specs
// about malformed arguments. size may be smaller or larger than len(buf) only when buf is
// nil.
func CreateRulesetRaw(buf []byte, size int, flags uint32) (int, error) {
	var p unsafe.Pointer
	if len(buf) > 0 {
		p = unsafe.Pointer(&buf[0])
	}
	fd, _, errno := unix.Syscall(sysCreateRuleset, uintptr(p), uintptr(size), uintptr(flags))
	if errno != 0 {
		return -1, errno
	}
	return int(fd), nil
}

// Version returns the kernel's Landlock ABI version.
func Version() (int, error) {
	v, err := CreateRulesetRaw(nil, 0, CreateRulesetVersion)
	return v, err
}

// Errata returns the bitmask of fixed errata (bit N-1 for erratum N).
func Errata() (uint64, error) {
	v, err := CreateRulesetRaw(nil, 0, CreateRulesetErrata)
	if err != nil {
		return 0, err
	}
	return uint64(v), nil
}

// AddPathBeneath adds a path-beneath rule.
func AddPathBeneath(rulesetFd int, attr PathBeneathAttr, flags uint32) error {
	b := attr.bytes()
	return AddRuleRaw(rulesetFd, RulePathBeneath, unsafe.Pointer(&b[0]), flags)
}

// AddNetPort adds a network port rule.
func AddNetPort(rulesetFd int, attr NetPortAttr, flags uint32) error {
	return AddRuleRaw(rulesetFd, RuleNetPort, unsafe.Pointer(&attr), flags)
}

// AddRuleRaw calls landlock_add_rule with an arbitrary rule type and attr pointer.
func AddRuleRaw(rulesetFd int, ruleType int, attr unsafe.Pointer, flags uint32) error {
	_, _, errno := unix.Syscall6(sysAddRule, uintptr(rulesetFd), uintptr(ruleType), uintptr(attr), uintptr(flags), 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}

// RestrictSelf calls landlock_restrict_self. rulesetFd may be -1 with flags that need no
// ruleset (LOG_SUBDOMAINS_OFF). It restricts the calling thread only, unless flags has
// RestrictSelfTSync: callers must lock the goroutine to its thread.
func RestrictSelf(rulesetFd int, flags uint32) error {
	_, _, errno := unix.Syscall(sysRestrictSelf, uintptr(rulesetFd), uintptr(flags), 0)
	if errno != 0 {
		return errno
	}
	return nil
}
