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
}

// Features lists every element of the uAPI, ordered by ABI.
var Features = buildFeatures()

func buildFeatures() []Feature {
	var fs []Feature
	add := func(name string, abi int, probe func() error) {
		fs = append(fs, Feature{Name: name, ABI: abi, Probe: probe})
	}
	for _, r := range FSRights {
		add(r.String(), r.ABI, handledProbe(RulesetAttr{HandledAccessFS: r.Bit}))
	}
	add("attr.handled_access_net", 4, handledProbe(RulesetAttr{HandledAccessFS: AccessFSExecute, HandledAccessNet: AccessNetBindTCP}))
	for _, r := range NetRights {
		add(r.String(), r.ABI, handledProbe(RulesetAttr{HandledAccessNet: r.Bit}))
	}
	add("rule.net_port", 4, netPortRuleProbe)
	add("attr.scoped", 6, handledProbe(RulesetAttr{HandledAccessFS: AccessFSExecute, Scoped: ScopeSignal}))
	for _, r := range Scopes {
		add(r.String(), r.ABI, handledProbe(RulesetAttr{Scoped: r.Bit}))
	}
	add("create_ruleset.errata", 7, func() error { _, err := Errata(); return err })
	add("restrict_self.log_same_exec_off", 7, restrictFlagProbe(RestrictSelfLogSameExecOff))
	add("restrict_self.log_new_exec_on", 7, restrictFlagProbe(RestrictSelfLogNewExecOn))
	add("restrict_self.log_subdomains_off", 7, restrictFlagProbe(RestrictSelfLogSubdomainsOff))
	add("restrict_self.tsync", 8, restrictFlagProbe(RestrictSelfTSync))
	add("attr.quiet_access_fs", 10, handledProbe(RulesetAttr{HandledAccessFS: AccessFSExecute, QuietAccessFS: AccessFSExecute}))
	add("attr.quiet_access_net", 10, handledProbe(RulesetAttr{HandledAccessNet: AccessNetBindTCP, QuietAccessNet: AccessNetBindTCP}))
	add("attr.quiet_scoped", 10, handledProbe(RulesetAttr{Scoped: ScopeSignal, QuietScoped: ScopeSignal}))
	add("add_rule.quiet", 10, quietRuleProbe)
	add("restrict_self.no_new_privs", 11, restrictFlagProbe(RestrictSelfNoNewPrivs))
	return fs
}

// handledProbe creates a ruleset with attr, passed with the size of the ABI that
// introduced its highest non-zero field, so that an older kernel sees a layout it knows
// and rejects only the unknown bit.
func handledProbe(attr RulesetAttr) func() error {
	size := RulesetAttrSizeV1
	switch {
	case attr.QuietAccessFS|attr.QuietAccessNet|attr.QuietScoped != 0:
		size = RulesetAttrSize
	case attr.Scoped != 0:
		size = RulesetAttrSizeV6
	case attr.HandledAccessNet != 0:
		size = RulesetAttrSizeV4
	}
	return func() error {
		fd, err := CreateRuleset(&attr, size, 0)
		if err != nil {
			return err
		}
		return unix.Close(fd)
	}
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
func quietRuleProbe() error {
	fd, err := CreateRuleset(&RulesetAttr{HandledAccessFS: AccessFSExecute, QuietAccessFS: AccessFSExecute}, RulesetAttrSize, 0)
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
