package plan

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A suite that overruns its timeout gets SIGTERM first, so that it can write its report
// (Ginkgo does so with the specs that finished), and the report comes back.
func TestRunTimeoutTermsFirst(t *testing.T) {
	dir := t.TempDir()
	rep := filepath.Join(dir, "report.json")
	script := `trap 'echo partial > ` + rep + `; exit 1' TERM; echo started; sleep 30 & wait`
	s := Suite{Name: "slow", Path: "/bin/sh", Args: []string{"-c", script}, Report: rep, Timeout: Duration(500 * time.Millisecond), grace: 5 * time.Second}
	start := time.Now()
	o := s.Run(context.Background(), dir, nil)
	if !o.Status.TimedOut {
		t.Errorf("Status = %+v, want TimedOut", o.Status)
	}
	if string(o.Report) != "partial\n" {
		t.Errorf("Report = %q, want the one written on SIGTERM (status %s, output %q)", o.Report, o.Status, o.Output)
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("took %s: the suite ended on SIGTERM, no need to wait for SIGKILL", d)
	}
}

// A suite that ignores SIGTERM is killed, with its helpers, after the grace period.
func TestRunTimeoutKillsAfterGrace(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "helper.pid")
	script := `trap '' TERM; sh -c 'trap "" TERM; echo $$ > ` + pidFile + `; sleep 30' & sleep 30; wait`
	s := Suite{Name: "stuck", Path: "/bin/sh", Args: []string{"-c", script}, Timeout: Duration(500 * time.Millisecond), grace: time.Second}
	start := time.Now()
	o := s.Run(context.Background(), dir, nil)
	if d := time.Since(start); d < time.Second || d > 8*time.Second {
		t.Errorf("took %s, want about the timeout plus the grace period", d)
	}
	if !o.Status.TimedOut || o.Status.Signal != "SIGKILL" {
		t.Errorf("Status = %+v, want timed out and killed", o.Status)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid := strings.TrimSpace(string(b))
	time.Sleep(100 * time.Millisecond)
	if alive(pid) {
		t.Errorf("helper %s outlived the suite", pid)
	}
}

// alive reports whether the process exists and is not a zombie.
func alive(pid string) bool {
	stat, err := os.ReadFile(filepath.Join("/proc", pid, "stat"))
	if err != nil {
		return false
	}
	_, rest, _ := strings.Cut(string(stat), ") ")
	return !strings.HasPrefix(rest, "Z")
}
