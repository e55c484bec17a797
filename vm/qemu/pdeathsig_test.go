package qemu

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// bootChildEnv makes the test binary, re-executed by TestQEMUDiesWithRunner, boot a
// stand-in QEMU through Boot and wait.
const bootChildEnv = "LLCONFORM_TEST_BOOT_CHILD"

func TestMain(m *testing.M) {
	if dir := os.Getenv(bootChildEnv); dir != "" {
		bootChild(dir)
		return
	}
	os.Exit(m.Run())
}

// bootChild boots the stand-in from a goroutine other than main's, with the runtime free
// to end idle threads, as a VM worker of vm.Run does, then lingers.
func bootChild(dir string) {
	go Boot(context.Background(), Config{Binary: filepath.Join(dir, "qemu"), Dir: dir, Timeout: time.Minute})
	for {
		// Goroutines that lock and exit their thread make the runtime end threads.
		done := make(chan struct{})
		go func() { runtime.LockOSThread(); close(done) }()
		<-done
		time.Sleep(10 * time.Millisecond)
	}
}

// kill -9 of llconform must not leave QEMU running: a child process boots a stand-in QEMU
// through Boot, the child is killed with SIGKILL, and the stand-in must die with it.
func TestQEMUDiesWithRunner(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "qemu.pid")
	stand := "#!/bin/sh\necho $$ > " + pidFile + ".tmp && mv " + pidFile + ".tmp " + pidFile + "\nexec sleep 120\n"
	if err := os.WriteFile(filepath.Join(dir, "qemu"), []byte(stand), 0o755); err != nil {
		t.Fatal(err)
	}
	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), bootChildEnv+"="+dir)
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	defer child.Process.Kill()
	var pid string
	for deadline := time.Now().Add(10 * time.Second); pid == ""; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the stand-in QEMU did not start")
		}
		if b, err := os.ReadFile(pidFile); err == nil {
			pid = strings.TrimSpace(string(b))
		}
	}
	// Let the child's runtime end idle threads for a while: QEMU must survive that.
	time.Sleep(500 * time.Millisecond)
	if !alive(pid) {
		t.Fatalf("the stand-in QEMU %s died while its runner lived", pid)
	}
	if err := child.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = child.Wait()
	for deadline := time.Now().Add(5 * time.Second); alive(pid); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			syscall.Kill(atoi(pid), syscall.SIGKILL)
			t.Fatalf("the stand-in QEMU %s outlived its runner killed with SIGKILL", pid)
		}
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

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}
