package audit

import (
	"context"
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/llconform/llconform/internal/filelock"
	"github.com/llconform/llconform/internal/proc"
)

// Snapshot is the audit configuration a run may change: the suites' clients turn auditing
// on, raise the backlog limit and may register as the audit daemon, and put everything back
// when they end. A suite killed at a timeout or by an interrupted run never gets to, so the
// process that starts the suites takes a snapshot first and restores it after the last
// suite, whatever happened to them.
type Snapshot struct {
	Enabled      uint32
	BacklogLimit uint32
	Pid          uint32 // the registered audit daemon, 0 for none

	stateFile string
}

// TakeSnapshot reads the audit configuration. Its error wraps ErrUnavailable where the
// audit netlink cannot be used at all (then there is nothing a run could change either).
func TakeSnapshot() (Snapshot, error) {
	fd, err := openControl()
	if err != nil {
		return Snapshot{}, err
	}
	defer unix.Close(fd)
	s, err := getStatus(fd)
	if err != nil {
		return Snapshot{}, fmt.Errorf("%w: AUDIT_GET: %w", ErrUnavailable, err)
	}
	return Snapshot{Enabled: s.Enabled, BacklogLimit: s.BacklogLimit, Pid: s.Pid, stateFile: DefaultStateFile}, nil
}

// Restore puts back each field that differs from the snapshot and returns what it changed
// ("enabled 1 -> 0"). A daemon registration is ended only when its process is gone: a live
// one is somebody's auditd. The crash record of a dead client is removed, as its changes are
// undone.
func (s Snapshot) Restore() ([]string, error) {
	fd, err := openControl()
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	cur, err := getStatus(fd)
	if err != nil {
		return nil, fmt.Errorf("AUDIT_GET: %w", err)
	}
	var changed []string
	var errs []error
	set := func(field string, from, to uint32, st Status) {
		if err := setStatus(fd, st); err != nil {
			errs = append(errs, fmt.Errorf("restore audit %s=%d: %w", field, to, err))
			return
		}
		changed = append(changed, fmt.Sprintf("%s %d -> %d", field, from, to))
	}
	if cur.Pid != s.Pid && cur.Pid != 0 && !proc.Alive(int(cur.Pid)) {
		set("pid", cur.Pid, 0, Status{Mask: statusPid})
	}
	if cur.BacklogLimit != s.BacklogLimit {
		set("backlog_limit", cur.BacklogLimit, s.BacklogLimit, Status{Mask: statusBacklogLimit, BacklogLimit: s.BacklogLimit})
	}
	if cur.Enabled != s.Enabled {
		set("enabled", cur.Enabled, s.Enabled, Status{Mask: statusEnabled, Enabled: s.Enabled})
	}
	if len(errs) == 0 {
		s.removeDeadRecord()
	}
	return changed, errors.Join(errs...)
}

// removeDeadRecord removes the crash record of a client whose process is gone.
func (s Snapshot) removeDeadRecord() {
	if s.stateFile == "" {
		return
	}
	st, ok := readState(s.stateFile)
	if ok && st.Pid != os.Getpid() && proc.Alive(st.Pid) {
		return // a live client (another run) will restore it
	}
	_ = os.Remove(s.stateFile)
}

func openControl() (int, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_AUDIT)
	if err != nil {
		return -1, fmt.Errorf("%w: socket(NETLINK_AUDIT): %w", ErrUnavailable, err)
	}
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Sec: 5}); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("set control socket timeout: %w", err)
	}
	return fd, nil
}

// HostLockFile serialises the processes that change this host's audit configuration: two
// host runs (or a run and a benchmark) would each restore the other's changes and read the
// other's records. It lives in /run, like the crash record.
const HostLockFile = "/run/llconform/host-audit.lock"

// LockHost takes HostLockFile, waiting while another process holds it (onWait is called
// once, then) until ctx ends.
func LockHost(ctx context.Context, onWait func()) (*filelock.Lock, error) {
	l, err := filelock.Wait(ctx, HostLockFile, onWait)
	if err != nil {
		return nil, fmt.Errorf("lock the host audit configuration (%s): %w", HostLockFile, err)
	}
	return l, nil
}
