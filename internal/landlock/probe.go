package landlock

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// Status says whether Landlock can be used at all. Its values are the words result.json
// records.
type Status string

const (
	Available Status = "available"
	NotBuilt  Status = "not-built" // ENOSYS: the kernel has no Landlock (CONFIG_SECURITY_LANDLOCK=n)
	Disabled  Status = "disabled"  // EOPNOTSUPP: built in but not enabled at boot (lsm=)
	Unknown   Status = "unknown"   // the version query failed some other way
)

func (s Status) String() string { return string(s) }

// Info is what the kernel says about itself and its Landlock support. It is the one model
// of the probe: suites attach it to their reports as is (report.KernelInfo is this type),
// so its JSON form is part of result.json.
type Info struct {
	Release string `json:"release"`
	Status  Status `json:"status"`
	ABI     int    `json:"abi"`
	// Errata is the bitmask from LANDLOCK_CREATE_RULESET_ERRATA: bit N-1 set means
	// erratum N is fixed. Zero where the query is unsupported.
	Errata uint64 `json:"errata"`
	// ErrataQuery is false where the kernel rejects LANDLOCK_CREATE_RULESET_ERRATA (pre-ABI-7
	// kernels without the backport), so "no errata query" is not confused with "queried,
	// nothing fixed".
	ErrataQuery bool `json:"errata_query"`
	// Error is the version query's error when Status is not Available.
	Error string `json:"error,omitempty"`
}

// Probe asks the running kernel for its release, Landlock ABI version and errata.
func Probe() Info {
	info := Info{Release: release()}
	abi, err := Version()
	switch {
	case errors.Is(err, unix.ENOSYS):
		info.Status, info.Error = NotBuilt, err.Error()
	case errors.Is(err, unix.EOPNOTSUPP):
		info.Status, info.Error = Disabled, err.Error()
	case err != nil:
		info.Status, info.Error = Unknown, fmt.Sprintf("landlock_create_ruleset(VERSION): %v", err)
	default:
		info.Status, info.ABI = Available, abi
		if e, err := Errata(); err == nil {
			info.Errata, info.ErrataQuery = e, true
		}
	}
	return info
}

// release returns the kernel's release (uname -r), "unknown" if uname fails.
func release() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "unknown"
	}
	return unix.ByteSliceToString(u.Release[:])
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
