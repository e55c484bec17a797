package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/llconform/llconform/internal/outdir"
	"github.com/llconform/llconform/internal/report"
	"github.com/llconform/llconform/internal/verdict"
)

// lockHolderEnv makes TestLockHolderProcess, run as a child, hold the lock of the
// directory it names until its stdin closes.
const lockHolderEnv = "LLCONFORM_TEST_LOCK_DIR"

// TestLockHolderProcess is the child of TestOutputLock: another llconform process
// holding an output directory.
func TestLockHolderProcess(t *testing.T) {
	dir := os.Getenv(lockHolderEnv)
	if dir == "" {
		t.Skip("helper process of TestOutputLock")
	}
	l, err := outdir.Open(dir)
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	defer l.Close()
	fmt.Println("locked")
	_, _ = io.Copy(io.Discard, os.Stdin)
}

// holdLock starts a child process holding dir's lock and returns it once it holds it.
func holdLock(t *testing.T, dir string) *exec.Cmd {
	t.Helper()
	child := exec.Command(os.Args[0], "-test.run=^TestLockHolderProcess$")
	child.Env = append(os.Environ(), lockHolderEnv+"="+dir)
	stdin, err := child.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); _ = child.Process.Kill(); _ = child.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "locked\n" {
		t.Fatalf("lock holder: %q, %v", line, err)
	}
	return child
}

// TestOutputLock: a second run on an output directory another live process holds is
// refused with a message naming the directory and the holder, exit 64 for run and matrix;
// once the holder is killed, the lock is free again (no stale lock).
func TestOutputLock(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	child := holdLock(t, dir)

	_, err := outdir.Open(dir)
	var inUse *outdir.InUseError
	if !errors.As(err, &inUse) {
		t.Fatalf("second lock: %v, want an outdir.InUseError", err)
	}
	want := fmt.Sprintf("output directory %s is in use by pid %d (", dir, child.Process.Pid)
	if !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), "-test.run=^TestLockHolderProcess$)") {
		t.Errorf("second lock: %q, want it to start %q and name the holder's command", err, want)
	}

	kernels := filepath.Join(t.TempDir(), "kernels.yaml")
	if err := os.WriteFile(kernels, []byte(testKernels), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"matrix", "--kernels", kernels, "--only", "a", "--out", dir},
		{"run", "--suites", t.TempDir(), "--out", dir},
	} {
		code, err := dispatch(context.Background(), args)
		if code != exitUsage || err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%s: exit %d, %v; want %d and %q...", args[0], code, err, exitUsage, want)
		}
	}

	// A killed holder leaves no stale lock.
	if err := child.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = child.Wait()
	l, err := outdir.Open(dir)
	if err != nil {
		t.Fatalf("lock after the holder was killed: %v", err)
	}
	defer l.Close()
	b, err := os.ReadFile(filepath.Join(dir, outdir.LockName))
	if err != nil || !strings.HasPrefix(string(b), fmt.Sprintf("%d\n", os.Getpid())) {
		t.Errorf("lock file %q, %v; want this process's pid first", b, err)
	}
}

// TestResultFileNames: an interrupted run writes its partial result beside, never over,
// the files of a complete one.
func TestResultFileNames(t *testing.T) {
	if got := strings.Join(resultFileNames(false), ","); got != "result.json,junit.xml,report.html" {
		t.Errorf("complete run writes %s", got)
	}
	if got := strings.Join(resultFileNames(true), ","); got != "result.interrupted.json" {
		t.Errorf("interrupted run writes %s, want result.interrupted.json alone", got)
	}
}

// TestFinishInterruptedKeepsResult: an interrupted run leaves a complete earlier result as
// it was, writes result.interrupted.json and never exits 0; a complete run then removes
// the stale partial result.
func TestFinishInterruptedKeepsResult(t *testing.T) {
	dir := t.TempDir()
	for _, name := range resultFileNames(false) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("earlier "+name), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	res := &report.Result{Generator: generator, Runs: []report.Run{{Kernel: report.Kernel{Name: "k"},
		Infra: &report.InfraError{Kind: report.InfraInterrupted, Message: "run interrupted"}}}}
	o := outputs{dir: dir, interrupted: true, jsonPath: filepath.Join(dir, "also.json")}
	code, err := o.finish(res, func(*report.Result) error { return nil })
	if err != nil || code != verdict.ExitInfra {
		t.Fatalf("finish: %d, %v; want %d", code, err, verdict.ExitInfra)
	}
	for _, name := range resultFileNames(false) {
		if b, err := os.ReadFile(filepath.Join(dir, name)); err != nil || string(b) != "earlier "+name {
			t.Errorf("%s: %q, %v; want the earlier run's", name, b, err)
		}
	}
	if _, err := os.Stat(o.jsonPath); !os.IsNotExist(err) {
		t.Errorf("--json written for an interrupted run (%v)", err)
	}
	f, err := os.Open(filepath.Join(dir, interruptedResultJSON))
	if err != nil {
		t.Fatal(err)
	}
	got, err := report.Decode(f)
	f.Close()
	if err != nil || len(got.Runs) != 1 || got.Runs[0].Infra == nil || got.Runs[0].Infra.Kind != report.InfraInterrupted {
		t.Fatalf("partial result: %+v, %v; want the interrupted run", got, err)
	}

	o.interrupted = false
	if _, err := o.finish(res, func(*report.Result) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, interruptedResultJSON)); !os.IsNotExist(err) {
		t.Errorf("complete run left result.interrupted.json (%v)", err)
	}
}
