package vm

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/llconform/llconform/vm/kernel"
	"github.com/llconform/llconform/vm/qemu"
)

// Entries booting the same kernel files the same way have one key, whatever their names
// and expectations; any setting that reaches the boot, and any other kernel, makes another.
func TestKeyOf(t *testing.T) {
	abi := 11
	dir := t.TempDir()
	image := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	k := &kernel.Kernel{Name: "pinned", BzImage: image("vmlinuz-7.3.4", "7.3.4"), ModulesDir: filepath.Join(dir, "modules")}
	pinned := kernel.Entry{Name: "pinned", Debian: &kernel.DebianSource{Package: "linux-image-7.3"}, Expect: &kernel.Expect{ABI: &abi}}
	newest := kernel.Entry{Name: "newest", Debian: &kernel.DebianSource{Newest: "linux-image-*", Suite: "sid"}, Arch: "amd64"}
	if keyOf(pinned, k) != keyOf(newest, &kernel.Kernel{Name: "newest", BzImage: k.BzImage, ModulesDir: k.ModulesDir}) {
		t.Errorf("the same package with the same settings has two keys")
	}
	other := *k
	other.BzImage = image("vmlinuz-7.3.5", "7.3.5")
	if keyOf(pinned, k) == keyOf(pinned, &other) {
		t.Errorf("another version of the package has the same key")
	}
	// A local kernel rebuilt in place between two fetches is another kernel.
	before := keyOf(pinned, k)
	image("vmlinuz-7.3.4", "7.3.4, rebuilt")
	if keyOf(pinned, k) == before {
		t.Errorf("an image rewritten in place keeps its key")
	}
	// An image that cannot be examined shares nothing.
	gone := &kernel.Kernel{BzImage: filepath.Join(dir, "missing")}
	first := keyOf(pinned, gone)
	if keyOf(pinned, gone) == first {
		t.Errorf("two keys of a missing image are equal")
	}
	for name, change := range map[string]func(*kernel.Entry){
		"cmdline": func(e *kernel.Entry) { e.Cmdline = "highres=on" },
		"cpus":    func(e *kernel.Entry) { e.CPUs = 2 },
		"memory":  func(e *kernel.Entry) { e.Memory = "2G" },
		"accel":   func(e *kernel.Entry) { e.Accel = "kvm" },
		"cpu":     func(e *kernel.Entry) { e.CPU = "max,-cx16" },
		"icount":  func(e *kernel.Entry) { e.ICount = "shift=2,sleep=off" },
		"timeout": func(e *kernel.Entry) { e.Timeout = time.Minute },
		"compat":  func(e *kernel.Entry) { e.Compat = true },
		"arch":    func(e *kernel.Entry) { e.Arch = "arm64" },
	} {
		e := pinned
		change(&e)
		if keyOf(e, k) == keyOf(pinned, k) {
			t.Errorf("a different %s has the same key", name)
		}
	}
}

// A kernel sharing a boot gets its result, keeping its own entry, kernel and fetch time,
// whether the boot ended before the sharing began or after; each ends with a Done event.
func TestShareBoot(t *testing.T) {
	var mu sync.Mutex
	var events []Event
	r := newRunner(Options{Progress: func(e Event) {
		mu.Lock()
		defer mu.Unlock()
		events = append(events, e)
	}}, nil, make([]Result, 4))
	for i, name := range []string{"pinned", "early", "late", "broken"} {
		r.results[i] = Result{Entry: kernel.Entry{Name: name}, Kernel: &kernel.Kernel{Name: name}, Timings: Timings{Fetch: time.Duration(i+1) * time.Second}}
	}
	r.shareBoot(1, 0) // before the boot ends
	if r.results[1].SameBootAs != "" {
		t.Fatalf("shared a boot that has not ended")
	}
	r.results[0].Outcome = qemu.Outcome{Class: qemu.OK, Duration: 20 * time.Second}
	r.results[0].Attempts = 1
	r.results[0].Timings.CPU = 18 * time.Second
	r.endBoot(0)
	r.shareBoot(2, 0) // after
	for _, i := range []int{1, 2} {
		got := r.results[i]
		name := []string{"", "early", "late"}[i]
		if got.SameBootAs != "pinned" || got.Entry.Name != name || got.Kernel.Name != name {
			t.Errorf("%s: shares %q as entry %q kernel %q", name, got.SameBootAs, got.Entry.Name, got.Kernel.Name)
		}
		if got.Outcome.Class != qemu.OK || got.Attempts != 1 {
			t.Errorf("%s: outcome %v after %d attempts, want the pinned kernel's", name, got.Outcome.Class, got.Attempts)
		}
		if want := (Timings{Fetch: time.Duration(i+1) * time.Second}); got.Timings != want {
			t.Errorf("%s: timings %+v, want its fetch only", name, got.Timings)
		}
	}

	// A kernel that never booted (its initrd failed) passes its error on.
	r.results[3].Err = errors.New("initramfs: disk full")
	r.endBoot(3)
	r.results = append(r.results, Result{Entry: kernel.Entry{Name: "twin"}, Kernel: &kernel.Kernel{Name: "twin"}})
	r.ended = append(r.ended, false)
	r.shareBoot(4, 3)
	if err := r.results[4].Err; err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("twin of a kernel that failed: err %v", err)
	}

	var done []string
	for _, e := range events {
		if e.Stage == Done {
			done = append(done, e.Kernel+": "+e.Message)
		}
	}
	want := []string{"early: shares the boot of pinned", "late: shares the boot of pinned", "twin: shares the boot of broken: initramfs: disk full"}
	if strings.Join(done, "\n") != strings.Join(want, "\n") {
		t.Errorf("done events:\n%s\nwant:\n%s", strings.Join(done, "\n"), strings.Join(want, "\n"))
	}
}
