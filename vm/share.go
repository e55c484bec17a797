package vm

import (
	"cmp"
	"fmt"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/llconform/llconform/vm/arch"
	"github.com/llconform/llconform/vm/kernel"
)

// bootKey is everything a boot depends on: the kernel's files, and every setting of its
// entry that reaches QEMU, the guest or the suites. Two entries with the same key would boot
// the same kernel the same way and run the same suites on it (a "newest" entry resolves to
// the package another entry pins); their name and what they expect matter only to the
// host, which compares each entry's claims with the shared results on its own.
type bootKey struct {
	image, modules, config string
	// imageFile is the image's file identity: a local kernel rebuilt between two entries'
	// fetches is another kernel under the same path.
	imageFile          string
	arch, cmdline      string
	cpus               int
	memory, accel, cpu string
	icount             string
	timeout            time.Duration
	compat             bool
}

// keyOf returns the boot key of entry e, whose kernel was fetched as k. The image path
// names the kernel's bits: a Debian kernel's files sit in a cache directory of their own
// per package, version and architecture, and a local kernel's are the files it names. An
// image that cannot be examined gets a key of its own.
func keyOf(e kernel.Entry, k *kernel.Kernel) bootKey {
	return bootKey{
		image: k.BzImage, imageFile: fileIdentity(k.BzImage), modules: k.ModulesDir, config: k.Config,
		arch: cmp.Or(e.Arch, arch.Default), cmdline: e.Cmdline,
		cpus: e.CPUs, memory: e.Memory, accel: e.Accel, cpu: e.CPU, icount: e.ICount,
		timeout: e.Timeout, compat: e.Compat,
	}
}

// shareBoot makes kernel i, fetched, share the boot of kernel j, which has the same boot
// key: i's result becomes j's once j's boot has ended, or at once if it has.
func (r *runner) shareBoot(i, j int) {
	r.mu.Lock()
	ended := r.ended[j]
	if !ended {
		r.sharers[j] = append(r.sharers[j], i)
	}
	r.mu.Unlock()
	msg := fmt.Sprintf("same kernel files and boot settings as %s: sharing its boot", r.results[j].Entry.Name)
	r.progress(Event{Kernel: r.results[i].Entry.Name, Stage: Fetched, Message: msg})
	if ended {
		r.copyBoot(i, j)
	}
}

// endBoot records that kernel j will not boot again, and gives its result to the kernels
// sharing its boot.
func (r *runner) endBoot(j int) {
	r.mu.Lock()
	r.ended[j] = true
	sharers := r.sharers[j]
	r.sharers[j] = nil
	r.mu.Unlock()
	for _, i := range sharers {
		r.copyBoot(i, j)
	}
}

// copyBoot gives kernel i the result of kernel j's boot. i keeps its entry, its kernel as
// fetched and the time of its fetch: the other stages of its time were j's.
func (r *runner) copyBoot(i, j int) {
	own, res := r.results[i], r.results[j]
	res.SameBootAs = res.Entry.Name
	res.Entry, res.Kernel = own.Entry, own.Kernel
	res.Timings = Timings{Fetch: own.Timings.Fetch}
	r.results[i] = res
	msg := fmt.Sprintf("shares the boot of %s", res.SameBootAs)
	if res.Err != nil {
		msg += ": " + res.Err.Error()
	}
	r.progress(Event{Kernel: own.Entry.Name, Stage: Done, Message: msg})
}

// unique makes fileIdentity's keys of files it cannot examine differ from every other key.
var unique atomic.Int64

// fileIdentity names the file at path as it is now: device, inode, size and modification
// time.
func fileIdentity(path string) string {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return fmt.Sprintf("unexamined %d: %v", unique.Add(1), err)
	}
	return fmt.Sprintf("%d:%d %d %d.%09d", st.Dev, st.Ino, st.Size, st.Mtim.Sec, st.Mtim.Nsec)
}
