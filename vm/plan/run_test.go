package plan

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
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

// A binary the kernel cannot execute (ENOEXEC: an unknown format, or a 32-bit program on a
// kernel without IA32 emulation) is told apart from one that failed to start otherwise.
func TestRunNotExecutable(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.test")
	if err := os.WriteFile(bad, []byte("\x7fELF\x09garbage"), 0o755); err != nil {
		t.Fatal(err)
	}
	o := Suite{Name: "bad", Path: bad}.Run(context.Background(), dir, nil)
	if !o.Status.NotExecutable || o.Status.ExitCode != -1 {
		t.Errorf("Status = %+v, want NotExecutable and exit code -1", o.Status)
	}
	o = Suite{Name: "missing", Path: filepath.Join(dir, "missing.test")}.Run(context.Background(), dir, nil)
	if o.Status.NotExecutable || o.Status.Error == "" {
		t.Errorf("missing binary: Status = %+v, want an Error and not NotExecutable", o.Status)
	}
}

// The suite's standard output and error come back together, in the order written.
func TestRunOutput(t *testing.T) {
	dir := t.TempDir()
	s := Suite{Name: "talk", Path: "/bin/sh", Args: []string{"-c", "echo one; echo two >&2; echo three"}, TempDir: dir}
	o := s.Run(context.Background(), dir, nil)
	if o.Status.ExitCode != 0 || string(o.Output) != "one\ntwo\nthree\n" {
		t.Errorf("Status %+v, Output %q, want exit 0 and the three lines in order", o.Status, o.Output)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "llconform-talk-*")); len(left) != 0 {
		t.Errorf("left behind: %v", left)
	}
}

// Output past the cap is dropped and counted, and its blocks are freed while the suite
// still writes.
func TestOutputFileCap(t *testing.T) {
	const max = 4096
	o, err := newOutputFile(t.TempDir(), "loud", max)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	data := []byte(strings.Repeat("a", max) + strings.Repeat("b", 64*max))
	if _, err := o.f.Write(data); err != nil {
		t.Fatal(err)
	}
	o.trim()
	var st unix.Stat_t
	if err := unix.Fstat(int(o.f.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	if st.Size != int64(len(data)) {
		t.Errorf("size %d after trimming, want %d (what was written)", st.Size, len(data))
	}
	if used := st.Blocks * 512; used > 4*max {
		t.Errorf("%d bytes still allocated after trimming, want at most %d", used, 4*max)
	}
	want := strings.Repeat("a", max) + "\n[262144 bytes of output dropped]\n"
	if got := string(o.Bytes()); got != want {
		t.Errorf("Bytes() = %.40q... (%d bytes), want the first %d bytes and the count dropped", got, len(got), max)
	}
}

// A suite runs in its own TMPDIR, with GOGC at gogc unless the caller set one.
func TestRunEnv(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		env      []string
		wantGOGC string
	}{
		{env: []string{"TMPDIR=/elsewhere"}, wantGOGC: gogc},
		{env: []string{"GOGC=50"}, wantGOGC: "50"},
	} {
		s := Suite{Name: "env", Path: "/bin/sh", Args: []string{"-c", `echo "$GOGC $TMPDIR"`}, TempDir: dir}
		o := s.Run(context.Background(), dir, c.env)
		gotGOGC, tmp, _ := strings.Cut(strings.TrimSpace(string(o.Output)), " ")
		if gotGOGC != c.wantGOGC {
			t.Errorf("env %q: GOGC %q, want %q", c.env, gotGOGC, c.wantGOGC)
		}
		if !strings.HasPrefix(tmp, filepath.Join(dir, "llconform-env-")) {
			t.Errorf("env %q: TMPDIR %q, want the suite's own directory in %s", c.env, tmp, dir)
		}
	}
}
