package audit

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// hostAudit skips unless the audit configuration of this host can be changed, and puts the
// original back at the end of the test.
func hostAudit(t *testing.T) Snapshot {
	t.Helper()
	if testing.Short() {
		t.Skip("changes the host's audit configuration: skipped with -short")
	}
	if os.Getuid() != 0 {
		t.Skip("needs root: changes the host's audit configuration (make test runs as root in CI)")
	}
	orig, err := TakeSnapshot()
	if err != nil {
		t.Skipf("audit netlink unusable here: %v", err)
	}
	// Other packages' tests (and host runs) change the same configuration.
	lock, err := LockHost(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if orig, err = TakeSnapshot(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := orig.Restore(); err != nil {
			t.Errorf("put back the original audit state: %v", err)
		}
		lock.Release()
	})
	return orig
}

// deadPid returns the pid of a process that has exited.
func deadPid(t *testing.T) int {
	t.Helper()
	c := exec.Command("true")
	if err := c.Run(); err != nil {
		t.Fatal(err)
	}
	return c.Process.Pid
}

// A client killed after changing both fields left a crash record; the next client to open
// puts back both the enabled flag and the backlog limit, and removes the record.
func TestCrashRecordRestoresBacklog(t *testing.T) {
	orig := hostAudit(t)
	before := Snapshot{Enabled: 0, BacklogLimit: 64, Pid: orig.Pid}
	if _, err := (Snapshot{Enabled: 1, BacklogLimit: MinBacklog, Pid: orig.Pid}).Restore(); err != nil {
		t.Fatal(err)
	}
	record := filepath.Join(t.TempDir(), "audit-state.json")
	prev := before.Enabled
	b, _ := json.Marshal(state{Pid: deadPid(t), PrevEnabled: &prev, PrevBacklog: before.BacklogLimit})
	if err := os.WriteFile(record, b, 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Open(Options{StateFile: record})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := c.Status()
	if err != nil {
		t.Fatal(err)
	}
	if s.Enabled != before.Enabled || s.BacklogLimit != before.BacklogLimit {
		t.Errorf("after recovery: enabled=%d backlog_limit=%d; want %d and %d", s.Enabled, s.BacklogLimit, before.Enabled, before.BacklogLimit)
	}
	if _, err := os.Stat(record); !os.IsNotExist(err) {
		t.Errorf("crash record still there (%v)", err)
	}
}

// Enable records both changes before making them, so that a kill at any point leaves a
// record of everything changed.
func TestEnableRecordsBothChanges(t *testing.T) {
	orig := hostAudit(t)
	if _, err := (Snapshot{Enabled: 0, BacklogLimit: 64, Pid: orig.Pid}).Restore(); err != nil {
		t.Fatal(err)
	}
	record := filepath.Join(t.TempDir(), "audit-state.json")
	c, err := Open(Options{StateFile: record})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Enable(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(record)
	var st state
	if err != nil || json.Unmarshal(b, &st) != nil || st.PrevEnabled == nil || *st.PrevEnabled != 0 || st.PrevBacklog != 64 || st.Pid != os.Getpid() {
		t.Errorf("crash record %s (%v); want pid %d, prev_enabled 0, prev_backlog_limit 64", b, err, os.Getpid())
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if s, _ := TakeSnapshot(); s.Enabled != 0 || s.BacklogLimit != 64 {
		t.Errorf("after Close: %+v, want enabled 0 and backlog_limit 64", s)
	}
	if _, err := os.Stat(record); !os.IsNotExist(err) {
		t.Errorf("crash record left after Close (%v)", err)
	}
}
