package kernel

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// fakeDeb builds a small .deb with dpkg-deb --build holding a vmlinuz and a module.
func fakeDeb(t *testing.T) (deb string, vmlinuz []byte) {
	t.Helper()
	if _, err := exec.LookPath("dpkg-deb"); err != nil {
		t.Skip("dpkg-deb not installed")
	}
	root := filepath.Join(t.TempDir(), "pkg")
	vmlinuz = bytes.Repeat([]byte("kernel image "), 1000)
	files := map[string][]byte{
		"DEBIAN/control":                           []byte("Package: linux-image-1.0.0-test\nVersion: 1.0-1\nArchitecture: amd64\nMaintainer: t <t@example.org>\nDescription: test\n"),
		"boot/vmlinuz-1.0.0-test":                  vmlinuz,
		"lib/modules/1.0.0-test/kernel/fs/test.ko": []byte("a module"),
		"lib/modules/1.0.0-test/modules.dep":       []byte("kernel/fs/test.ko:\n"),
	}
	for rel, b := range files {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	deb = filepath.Join(t.TempDir(), "linux-image-1.0.0-test_1.0-1_amd64.deb")
	if out, err := exec.Command("dpkg-deb", "--root-owner-group", "--build", root, deb).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb --build: %v: %s", err, out)
	}
	return deb, vmlinuz
}

func TestExtractRepairsCorruptTree(t *testing.T) {
	deb, vmlinuz := fakeDeb(t)
	for _, tc := range []struct {
		name    string
		corrupt func(t *testing.T, p string)
	}{
		{"flipped byte", func(t *testing.T, p string) {
			b, _ := os.ReadFile(p)
			b[1000] ^= 0xff
			os.WriteFile(p, b, 0o644)
		}},
		{"truncated", func(t *testing.T, p string) { os.Truncate(p, 100) }},
		{"module removed", func(t *testing.T, p string) {
			os.Remove(filepath.Join(filepath.Dir(filepath.Dir(p)), "lib/modules/1.0.0-test/kernel/fs/test.ko"))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var msgs []string
			f := &Fetcher{CacheDir: t.TempDir(), Progress: func(m string) { msgs = append(msgs, m) }}
			tree, err := f.extract(context.Background(), "k", []string{deb})
			if err != nil {
				t.Fatal(err)
			}
			img := filepath.Join(tree, "boot/vmlinuz-1.0.0-test")
			tc.corrupt(t, img)
			if err := verifyTree(tree); err == nil {
				t.Fatal("verifyTree: corruption not detected")
			}
			if _, err := f.extract(context.Background(), "k", []string{deb}); err != nil {
				t.Fatal(err)
			}
			if b, _ := os.ReadFile(img); !bytes.Equal(b, vmlinuz) {
				t.Error("vmlinuz not restored")
			}
			if err := verifyTree(tree); err != nil {
				t.Error(err)
			}
			if !strings.Contains(strings.Join(msgs, "\n"), "damaged") {
				t.Errorf("no progress message about the damage: %q", msgs)
			}
		})
	}
}

func TestExtractOldTreeWithoutManifest(t *testing.T) {
	deb, _ := fakeDeb(t)
	f := &Fetcher{CacheDir: t.TempDir()}
	tree := filepath.Join(f.CacheDir, "trees", "k")
	os.MkdirAll(filepath.Join(tree, "boot"), 0o755)
	os.WriteFile(filepath.Join(tree, "boot/vmlinuz-1.0.0-test"), []byte("truncat"), 0o644)
	if _, err := f.extract(context.Background(), "k", []string{deb}); err != nil {
		t.Fatal(err)
	}
	if err := verifyTree(tree); err != nil {
		t.Fatal(err)
	}
}

func TestExtractBadDebIsAClearError(t *testing.T) {
	if _, err := exec.LookPath("dpkg-deb"); err != nil {
		t.Skip("dpkg-deb not installed")
	}
	bad := filepath.Join(t.TempDir(), "bad.deb")
	os.WriteFile(bad, []byte("not a deb"), 0o644)
	f := &Fetcher{CacheDir: t.TempDir()}
	_, err := f.extract(context.Background(), "k", []string{bad})
	if err == nil || !strings.Contains(err.Error(), "dpkg-deb -x "+bad) {
		t.Fatalf("err = %v", err)
	}
	if _, serr := os.Stat(filepath.Join(f.CacheDir, "trees", "k")); serr == nil {
		t.Error("a tree was left behind")
	}
}

func TestExtractConcurrent(t *testing.T) {
	deb, _ := fakeDeb(t)
	cache := t.TempDir()
	var wg sync.WaitGroup
	errs := make([]error, 6)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// One Fetcher each, as two processes would have.
			f := &Fetcher{CacheDir: cache}
			_, errs[i] = f.extract(context.Background(), "k", []string{deb})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("extraction %d: %v", i, err)
		}
	}
	if err := verifyTree(filepath.Join(cache, "trees", "k")); err != nil {
		t.Error(err)
	}
}

// Without the lock (an older llconform holding none), a run finding the
// tree already installed by another keeps it.
func TestUnpackToleratesConcurrentFinish(t *testing.T) {
	deb, _ := fakeDeb(t)
	tree := filepath.Join(t.TempDir(), "trees", "k")
	var wg sync.WaitGroup
	errs := make([]error, 6)
	for i := range errs {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = unpack(context.Background(), tree, []string{deb}) }()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("unpack %d: %v", i, err)
		}
	}
	if err := verifyTree(tree); err != nil {
		t.Error(err)
	}
	left, _ := filepath.Glob(filepath.Join(filepath.Dir(tree), ".extract-*"))
	if len(left) > 0 {
		t.Errorf("temporary directories left: %v", left)
	}
}

func TestLockFileWaitsAndHonoursContext(t *testing.T) {
	p := filepath.Join(t.TempDir(), "lock")
	unlock, err := lockFile(context.Background(), p, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	waited := false
	if _, err := lockFile(ctx, p, func(string, ...any) { waited = true }); err == nil || !waited {
		t.Fatalf("second lock: err %v, waited %v", err, waited)
	}
	unlock()
	unlock2, err := lockFile(context.Background(), p, nil)
	if err != nil {
		t.Fatal(err)
	}
	unlock2()
}

func TestClassify(t *testing.T) {
	exit := exec.Command("false").Run()
	for _, tc := range []struct {
		out                   string
		err                   error
		timedOut, interrupted bool
		want                  string
	}{
		{"E: Write error - write (28: No space left on device)", exit, false, false, FailNoSpace},
		{"", syscall.ENOSPC, false, false, FailNoSpace},
		{"No space left on device", exit, true, false, FailNoSpace},
		{"E: Could not get lock /c/apt/lists/lock. It is held by process 42 (apt-get)", exit, false, false, FailLock},
		{"E: Unable to lock directory /c/apt/lists/", exit, false, false, FailLock},
		{"", exit, true, false, FailTimeout},
		{"", exit, false, true, FailInterrupted},
		{"", exit, true, true, FailInterrupted},
		{"E: Unable to locate package foo", exit, false, false, FailExit},
	} {
		if got := classify([]byte(tc.out), tc.err, tc.timedOut, tc.interrupted); got != tc.want {
			t.Errorf("classify(%q, %v, %v, %v) = %s, want %s", tc.out, tc.err, tc.timedOut, tc.interrupted, got, tc.want)
		}
	}
}

func TestRunCmdTimeout(t *testing.T) {
	start := time.Now()
	// The background sleep keeps the output pipe open: only killing the
	// whole process group ends the command.
	_, err := runCmd(context.Background(), 200*time.Millisecond, "apt-get update (test)", "", t.TempDir(), nil, "sh", "-c", "sleep 30 & sleep 30")
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %s", d)
	}
	var ce *CmdError
	if !errors.As(err, &ce) || ce.Kind != FailTimeout {
		t.Fatalf("err = %v", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "apt-get update (test): timed out after 200ms") || !strings.Contains(msg, "free on the filesystem of") {
		t.Errorf("message %q", msg)
	}
}

func TestRunCmdInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	_, err := runCmd(ctx, time.Minute, "dpkg-deb -x x.deb", "", "", nil, "sleep", "30")
	var ce *CmdError
	if !errors.As(err, &ce) || ce.Kind != FailInterrupted || !strings.Contains(err.Error(), "dpkg-deb -x x.deb: interrupted") {
		t.Fatalf("err = %v", err)
	}
}

func TestRunCmdOutputClassified(t *testing.T) {
	for script, want := range map[string]string{
		`echo "E: Write error - write (28: No space left on device)" >&2; exit 100`:     "No space left on device",
		`echo "E: Could not get lock /x/lists/lock. It is held by process 1"; exit 100`: "lock held by another process",
		`echo "E: something else"; exit 100`:                                            "exit status 100: E: something else",
		`kill -9 $$`:                                                                    "killed (signal: killed)",
	} {
		_, err := runCmd(context.Background(), time.Minute, "apt-get update", "", "", nil, "sh", "-c", script)
		if err == nil || !strings.Contains(err.Error(), "apt-get update: "+want) {
			t.Errorf("%s: err = %v, want %q", script, err, want)
		}
	}
}
