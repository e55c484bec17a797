package landlock

import (
	"errors"
	"fmt"
	"runtime"

	"golang.org/x/sys/unix"
)

// Feature is one element of the uAPI that an ABI version introduced: an attr field, a
// right, a scope or a flag. Its Probe asks the kernel whether it accepts the element,
// without restricting anything, so the effective ABI can be computed from behaviour alone.
type Feature struct {
	Name string // e.g. "fs.truncate", "restrict_self.tsync", "attr.scoped"
	ABI  int
	// Probe returns nil when the kernel accepts the element and the kernel's error when
	// it does not (EINVAL for an unknown bit, flag or field).
	Probe func() error
	// Rejection returns the error Probe must give on a kernel of ABI abi, below the
	// feature's: the kernel's exact answer to an element it does not know, so that a
	// backport which rejects a feature the wrong way is told from a clean absence.
	Rejection func(abi int) error
}

// Features lists every element of the uAPI, ordered by ABI.
var Features = buildFeatures()

func buildFeatures() []Feature {
	var fs []Feature
	add := func(name string, abi int, probe func() error, rejection func(int) error) {
		fs = append(fs, Feature{Name: name, ABI: abi, Probe: probe, Rejection: rejection})
	}
	handled := func(name string, abi int, attr RulesetAttr) {
		add(name, abi, handledProbe(attr), createRejection(attr))
	}
	for _, r := range FSRights {
		handled(r.String(), r.ABI, RulesetAttr{HandledAccessFS: r.Bit})
	}
	handled("attr.handled_access_net", 4, RulesetAttr{HandledAccessFS: AccessFSExecute, HandledAccessNet: AccessNetBindTCP})
	for _, r := range NetRights {
		handled(r.String(), r.ABI, RulesetAttr{HandledAccessNet: r.Bit})
	}
	// The probe's ruleset handles BIND_TCP: below ABI 4 creating it already fails.
	add("rule.net_port", 4, netPortRuleProbe, createRejection(RulesetAttr{HandledAccessNet: AccessNetBindTCP}))
	handled("attr.scoped", 6, RulesetAttr{HandledAccessFS: AccessFSExecute, Scoped: ScopeSignal})
	for _, r := range Scopes {
		handled(r.String(), r.ABI, RulesetAttr{Scoped: r.Bit})
	}
	// An unknown create_ruleset or restrict_self flag is EINVAL.
	add("create_ruleset.errata", 7, func() error { _, err := Errata(); return err }, einval)
	add("restrict_self.log_same_exec_off", 7, restrictFlagProbe(RestrictSelfLogSameExecOff), einval)
	add("restrict_self.log_new_exec_on", 7, restrictFlagProbe(RestrictSelfLogNewExecOn), einval)
	add("restrict_self.log_subdomains_off", 7, restrictFlagProbe(RestrictSelfLogSubdomainsOff), einval)
	add("restrict_self.tsync", 8, restrictFlagProbe(RestrictSelfTSync), einval)
	handled("attr.quiet_access_fs", 10, RulesetAttr{HandledAccessFS: AccessFSExecute, QuietAccessFS: AccessFSExecute})
	handled("attr.quiet_access_net", 10, RulesetAttr{HandledAccessNet: AccessNetBindTCP, QuietAccessNet: AccessNetBindTCP})
	handled("attr.quiet_scoped", 10, RulesetAttr{Scoped: ScopeSignal, QuietScoped: ScopeSignal})
	// The probe's ruleset has a quiet field: below ABI 10 creating it already fails.
	add("add_rule.quiet", 10, quietRuleProbe, createRejection(quietRuleAttr))
	add("restrict_self.no_new_privs", 11, restrictFlagProbe(RestrictSelfNoNewPrivs), einval)
	return fs
}

func einval(int) error { return unix.EINVAL }

// createRejection is the Rejection of a probe that creates a ruleset from attr, passed
// with probeSize(attr) bytes.
func createRejection(attr RulesetAttr) func(int) error {
	return func(abi int) error { return CreateRulesetErrno(attr.Bytes(), probeSize(attr), abi) }
}

// handledProbe creates a ruleset with attr, passed with the size of the ABI that
// introduced its highest non-zero field, so that an older kernel sees a layout it knows
// and rejects only the unknown bit.
func handledProbe(attr RulesetAttr) func() error {
	size := probeSize(attr)
	return func() error {
		fd, err := CreateRuleset(&attr, size, 0)
		if err != nil {
			return err
		}
		return unix.Close(fd)
	}
}

func probeSize(attr RulesetAttr) int {
	switch {
	case attr.QuietAccessFS|attr.QuietAccessNet|attr.QuietScoped != 0:
		return RulesetAttrSize
	case attr.Scoped != 0:
		return RulesetAttrSizeV6
	case attr.HandledAccessNet != 0:
		return RulesetAttrSizeV4
	}
	return RulesetAttrSizeV1
}

func netPortRuleProbe() error {
	fd, err := CreateRuleset(&RulesetAttr{HandledAccessNet: AccessNetBindTCP}, RulesetAttrSizeV4, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return AddNetPort(fd, NetPortAttr{AllowedAccess: AccessNetBindTCP, Port: 1024}, 0)
}

// quietRuleProbe adds a path rule with the QUIET flag; the kernel validates add_rule flags
// before anything else, so an unknown flag shows as EINVAL whatever the rule.
var quietRuleAttr = RulesetAttr{HandledAccessFS: AccessFSExecute, QuietAccessFS: AccessFSExecute}

func quietRuleProbe() error {
	fd, err := CreateRuleset(&quietRuleAttr, RulesetAttrSize, 0)
	if err != nil {
		return fmt.Errorf("create ruleset with quiet_access_fs: %w", err)
	}
	defer unix.Close(fd)
	dir, err := unix.Open("/", unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(dir)
	return AddPathBeneath(fd, PathBeneathAttr{AllowedAccess: AccessFSExecute, ParentFd: int32(dir)}, AddRuleQuiet)
}

// restrictFlagProbe passes flag with a closed file descriptor. The kernel checks flags
// before it looks up the ruleset, so a known flag fails with EBADF and an unknown one with
// EINVAL; nothing is ever restricted. Before ABI 11 the kernel answers EPERM to a thread
// with neither no_new_privs nor CAP_SYS_ADMIN before it looks at the flags, so the call is
// made on a throwaway thread with no_new_privs set: an unprivileged runner gets the same
// answer as root, and its own no_new_privs stays as it was.
func restrictFlagProbe(flag uint32) func() error {
	return func() error {
		fd, err := closedFd()
		if err != nil {
			return err
		}
		done := make(chan error, 1)
		go func() {
			// Never unlocked: the runtime discards the thread, and its no_new_privs
			// with it, when this goroutine exits.
			runtime.LockOSThread()
			if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
				done <- fmt.Errorf("set no_new_privs on the probe thread: %w", err)
				return
			}
			done <- RestrictSelf(fd, flag)
		}()
		err = <-done
		switch {
		case errors.Is(err, unix.EBADF):
			return nil
		case err == nil:
			return fmt.Errorf("restrict_self(closed fd %d, %#x) succeeded", fd, flag)
		}
		return err
	}
}

// closedFd returns a descriptor number that is not open: a number just closed could be
// reused by another goroutine, so a number far above any open one is chosen instead.
func closedFd() (int, error) {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("getrlimit: %w", err)
	}
	fd := int(lim.Cur) - 1
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err == nil {
		return 0, fmt.Errorf("fd %d unexpectedly open", fd)
	}
	return fd, nil
}

// EffectiveABI returns the highest ABI n such that the kernel accepts every feature of
// every ABI up to n, with the names and errors of the features that stopped it.
func EffectiveABI() (int, map[string]error) {
	rejected := map[string]error{}
	effective := MaxABI
	for _, f := range Features {
		if err := f.Probe(); err != nil {
			rejected[f.Name] = err
			effective = min(effective, f.ABI-1)
		}
	}
	return effective, rejected
}
