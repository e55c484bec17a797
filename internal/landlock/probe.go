package landlock

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// Status says whether Landlock can be used at all.
type Status int

const (
	Available Status = iota
	NotBuilt         // ENOSYS: the kernel has no Landlock (CONFIG_SECURITY_LANDLOCK=n)
	Disabled         // EOPNOTSUPP: built in but not enabled at boot (lsm=)
	Unknown          // the version query failed some other way
)

func (s Status) String() string {
	switch s {
	case Available:
		return "available"
	case NotBuilt:
		return "not-built"
	case Disabled:
		return "disabled"
	default:
		return "unknown"
	}
}

// Info is what the kernel says about its own Landlock support.
type Info struct {
	Status Status
	ABI    int
	// Errata is the fixed-errata bitmask; meaningful only when ErrataQuery is true.
	Errata uint64
	// ErrataQuery is false where the kernel rejects LANDLOCK_CREATE_RULESET_ERRATA, so
	// "no errata query" is not confused with "queried, nothing fixed".
	ErrataQuery bool
	// Err is the version query's error when Status is not Available.
	Err error
}

// Probe asks the running kernel for its ABI version and errata.
func Probe() Info {
	abi, err := Version()
	switch {
	case errors.Is(err, unix.ENOSYS):
		return Info{Status: NotBuilt, Err: err}
	case errors.Is(err, unix.EOPNOTSUPP):
		return Info{Status: Disabled, Err: err}
	case err != nil:
		return Info{Status: Unknown, Err: fmt.Errorf("landlock_create_ruleset(VERSION): %w", err)}
	}
	info := Info{Status: Available, ABI: abi}
	if e, err := Errata(); err == nil {
		info.Errata, info.ErrataQuery = e, true
	}
	return info
}

// Fixed reports whether the kernel advertises the fix of erratum n.
func (i Info) Fixed(n int) bool {
	return i.ErrataQuery && n >= 1 && n <= 64 && i.Errata&(1<<(n-1)) != 0
}

// Erratum is one entry of the Landlock errata table.
type Erratum struct {
	ID int
	// ABI is the first ABI the erratum applies to: kernels below it cannot have the bug.
	ABI     int
	Feature string
	Summary string
}

// ErrataTable lists every erratum the suites know about, in ID order.
var ErrataTable = []Erratum{
	{1, 4, "net.tcp", "TCP rights restrict only TCP, not other IPv4/IPv6 stream protocols (MPTCP, SCTP, SMC)"},
	{2, 6, "scope.signal_threads", "any thread may signal any thread of its own process, whatever their domains"},
	{3, 1, "fs.disconnected_dir", "disconnected directories are checked against both hierarchies, no widening"},
	{4, 1, "fs.whiteout", "whiteout creation needs MAKE_REG, not MAKE_CHAR"},
}

// MaxABI is the highest ABI this package knows the layout and semantics of.
const MaxABI = 11
