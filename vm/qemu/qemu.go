// Package qemu boots one kernel under qemu-system-x86_64 or qemu-system-aarch64, captures its
// console and report channel into files, enforces a timeout, and classifies
// how the boot ended.
//
// It execs QEMU directly rather than through hugelgupf/vmtest's qemu
// package: that package needs a pseudo-terminal console (Netflix/go-expect,
// not otherwise in our module graph) and silently takes options from
// VMTEST_* environment variables, while all we need is one command line,
// files for the serial ports, and a killable process.
package qemu

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/llconform/llconform/vm/arch"
	"github.com/llconform/llconform/vm/channel"
	"github.com/llconform/llconform/vm/plan"
)

// DefaultCPU is the emulated CPU: everything TCG offers but CMPXCHG16B. QEMU 7.2's TCG sets
// garbage in EFLAGS after that instruction (all bits but ZF come from stale state, so NT,
// TF or AC can end up set and be restored by popf/iretq); Debian's 6.12.107 double-faulted
// in SLUB's fast path in most runs. Without the feature kernels use their software
// fallback. Upstream QEMU fixed it in "target/i386: Inline cmpxchg16b" (2023).
const DefaultCPU = "max,-cx16"

// tcgLeftOut is what the default CPU also leaves out under TCG, which emulates it slowly.
// With ERMS or FSRM the kernel copies and clears memory with rep movsb and rep stosb, which
// TCG runs one byte per iteration; without them it uses rep movsq and rep stosq, eight bytes
// per iteration. In a guest, touching 256 MB of fresh memory went from 3.8 s to 0.9 s and a
// suite run's CPU time fell by about a tenth. Under KVM the hardware runs them: they stay.
const tcgLeftOut = ",-erms,-fsrm"

// CPUFor returns the -cpu value of a kernel that asks for cpu (kernels.yaml's cpu:, empty
// for the default) and runs under accel: the default CPU less what TCG emulates slowly
// under TCG, and any other CPU as it is.
func CPUFor(cpu, accel string) string {
	if cpu == "" {
		cpu = DefaultCPU
	}
	if cpu == DefaultCPU && accel != "kvm" {
		return cpu + tcgLeftOut
	}
	return cpu
}

// DefaultBinary is the QEMU executable of the default architecture, looked up in PATH.
const DefaultBinary = "qemu-system-x86_64"

// machine is how QEMU emulates one guest architecture.
type machine struct {
	binary string   // the QEMU executable
	pkg    string   // the Debian package holding it (make deps installs it)
	args   []string // the machine type, before everything else
	cpu    string   // the default -cpu
	// console is the kernel's name of the first UART, which carries the console.
	console string
	// serialChannel says whether the machine has a second UART for the agent's fallback
	// report channel (ttyS1); without one the channel is virtio-console only.
	serialChannel bool
}

// armCPU is the emulated arm64 CPU: everything TCG offers, with QEMU's own pointer
// authentication algorithm instead of the architected QARMA, which TCG computes slowly (a
// kernel built with pointer authentication signs every return address).
const armCPU = "max,pauth-impdef=on"

// machines has one entry for each of arch.Known.
var machines = map[string]machine{
	// pc is QEMU's default x86 board, named for its options: without an HPET the kernel
	// neither probes nor calibrates against one (it uses the PIT and the ACPI PM timer), which
	// took debian-7.3's instruction-counted boot to the agent from 4.53 s to 4.14 s. Nothing
	// the suites check uses it. qboot (QEMU's minimal firmware, in qemu-system-data) instead
	// of SeaBIOS: it hands the kernel (PVH or bzImage) QEMU's own ACPI tables, as SeaBIOS
	// does, without a BIOS's device set-up: QEMU's start to debian-7.3's panic at a missing
	// root, median of 6 interleaved runs, 2.19 s with SeaBIOS and 1.82 s with qboot.
	arch.AMD64: {binary: DefaultBinary, pkg: "qemu-system-x86", args: []string{"-machine", "pc,hpet=off", "-bios", "qboot.rom"}, cpu: DefaultCPU, console: "ttyS0", serialChannel: true},
	// virt is QEMU's generic arm64 board: a PL011 UART (ttyAMA0), PCI for virtio, no
	// firmware needed with -kernel (QEMU loads Debian's gzip-compressed Image itself and
	// passes the device tree). Its second UART belongs to the secure world, which the
	// kernel never sees: the report channel is virtio-console only.
	arch.ARM64: {binary: "qemu-system-aarch64", pkg: "qemu-system-arm", args: []string{"-machine", "virt"}, cpu: armCPU, console: "ttyAMA0"},
}

func machineOf(a string) machine {
	if m, ok := machines[a]; ok {
		return m
	}
	return machines[arch.Default]
}

// DefaultCPUOf returns the -cpu value of a kernel of architecture a that names none.
func DefaultCPUOf(a string) string { return machineOf(a).cpu }

// Config is one boot.
type Config struct {
	// Arch is the guest's architecture (package arch), default arch.Default: it chooses
	// QEMU's binary, machine and console.
	Arch    string
	Binary  string // default: the architecture's QEMU
	Kernel  string // bzImage
	Initrd  string // optional
	Cmdline string // appended to baseCmdline
	CPUs    int
	Memory  string // QEMU -m syntax
	Accel   string // "tcg" (single-threaded) or "kvm"
	CPU     string // QEMU -cpu value, default DefaultCPU; see CPUFor
	// ICount is the -icount value (see ParseICount), empty for none. It is passed only
	// where ICountWorks.
	ICount  string
	Timeout time.Duration
	// Dir receives console.log, the channel files and qemu.log.
	Dir string
	// OnConsole, if set, is called with each complete console line while the guest runs,
	// for live progress, and the time since QEMU's start on the clock Outcome.Duration uses.
	OnConsole func(line string, elapsed time.Duration)
}

// Class is how a boot ended. Everything but OK is an infrastructure
// error: it says nothing about what the suites test.
type Class string

// Boot classes.
const (
	OK              Class = "ok"               // end frame received
	Panic           Class = "kernel-panic"     // console shows "Kernel panic"
	Timeout         Class = "timeout"          // killed after Config.Timeout
	NoReport        Class = "no-report"        // QEMU exited, no end frame
	TruncatedReport Class = "truncated-report" // frames truncated or failing their checksum
	QEMUFailed      Class = "qemu-failed"      // QEMU missing or refused to start the guest
)

// Outcome is the result of a boot.
type Outcome struct {
	Class  Class
	Detail string // one line on why, for anything but OK
	// Report is what the channel carried, even when incomplete.
	Report channel.Result
	// Warnings holds console or kernel-log excerpts around oopses, BUGs,
	// WARNINGs and panics, even when Class is OK: the caller decides.
	Warnings    []string
	ConsoleLog  string // path of the guest console log
	ConsoleTail string // its last lines, set when Class is not OK
	Duration    time.Duration
	// CPU is the user and system CPU time QEMU used: unlike Duration, it does not grow
	// with the host's load from other processes.
	CPU     time.Duration
	Command []string
}

// baseCmdline is what every guest kernel gets after its console; a kernels.yaml cmdline
// comes after it, so an entry can turn any of these back (mitigations=auto).
//
// cryptomgr.notests=1 skips the crypto API's self-tests, which nothing llconform checks
// depends on: Debian's kernels from 6.18 on run them in kernel threads while the first
// suites run, and under TCG they cost 2 to 3 s of guest CPU per boot (an
// instruction-counted debian-7.3: boot 8.1 s to 7.2 s, the abi suite 3.7 s to 1.4 s).
//
// mitigations=off drops the CPU vulnerability mitigations (retpolines, return stack
// filling, user-pointer barriers), which guard the guest against speculation attacks on
// hardware it does not run on under TCG and sit on every syscall and context switch the
// suites make; Landlock's checks do not depend on them. debian-7.3 alone, 5 interleaved
// pairs: median 35.7 s to 28.1 s from fetch to shutdown.
//
// highres=off runs the kernel's high-resolution timers at the tick (4 ms on Debian's
// HZ=250 kernels). Go's sysmon thread sleeps 20 µs at a time while a program makes
// syscalls, and every such sleep was a timer interrupt, each a trip through QEMU's main
// loop: debian-7.3's six suites took 38,918 local timer interrupts with high resolution
// and 3,428 without, 75,370 context switches against 25,829, and QEMU's CPU time fell by
// a third (24.5 s to 16.0 s, the two run side by side). Landlock's checks do not depend on
// timer resolution; the suites' timeouts are seconds long.
//
// No kernel of the matrix warns about any of these.
const baseCmdline = "panic=-1 quiet cryptomgr.notests=1 mitigations=off highres=off"

// args returns the QEMU command line for c (without the binary).
func (c Config) args(consoleLog, serialChannel, virtioChannel string) []string {
	accel := "tcg,thread=single" // multi-threaded TCG crashed kernels that patch their own code
	if c.Accel == "kvm" {
		accel = "kvm"
	}
	m := machineOf(c.Arch)
	cpu := c.CPU
	if cpu == "" {
		cpu = m.cpu
	}
	cpu = CPUFor(cpu, c.Accel)
	cmdline := "console=" + m.console + " " + baseCmdline
	if c.Cmdline != "" {
		cmdline += " " + c.Cmdline
	}
	args := append(slices.Clone(m.args),
		"-nographic", "-no-reboot", "-monitor", "none", "-nic", "none",
		"-cpu", cpu, "-accel", accel,
		"-m", c.Memory, "-smp", strconv.Itoa(max(c.CPUs, 1)),
		"-kernel", c.Kernel, "-append", cmdline,
		"-chardev", "file,id=console,path="+consoleLog, "-serial", "chardev:console",
	)
	if m.serialChannel {
		// ttyS1: the channel for kernels without virtio_console built in.
		args = append(args, "-chardev", "file,id=report,path="+serialChannel, "-serial", "chardev:report")
	}
	args = append(args,
		"-device", "virtio-serial-pci,id=vser",
		"-chardev", "file,id=vreport,path="+virtioChannel,
		"-device", "virtserialport,bus=vser.0,chardev=vreport,name="+plan.VirtioPort,
	)
	if c.ICount != "" && ICountWorks(c.Accel) {
		args = append(args, "-icount", c.ICount)
	}
	if c.Initrd != "" {
		args = append(args, "-initrd", c.Initrd)
	}
	return args
}

// ICountWorks reports whether QEMU can count instructions (-icount) under accel: under TCG
// only, as QEMU refuses -icount with KVM. Accel is a kernels.yaml value (auto, tcg, kvm;
// empty is the default, auto), or what a boot ran under (tcg, kvm). Auto can, by choosing
// TCG (see ChooseAccel). This function, CheckICount and ChooseAccel are the one place the
// rule is written.
func ICountWorks(accel string) bool { return accel != "kvm" }

// CheckICount returns an error when icount is set for a kernel that must run under accel
// and ICountWorks does not hold.
func CheckICount(accel, icount string) error {
	if icount != "" && !ICountWorks(accel) {
		return errors.New("icount needs TCG (QEMU refuses it with accel kvm)")
	}
	return nil
}

// ChooseAccel returns the accelerator a kernel boots under: accel itself unless it is auto;
// for auto, TCG when the kernel counts instructions (icount), otherwise KVM when kvmUsable
// says it works. kvmUsable is called only when its answer matters, as finding out means a
// test boot (see KVMUsable).
func ChooseAccel(accel, icount string, kvmUsable func() bool) string {
	if accel != "auto" {
		return accel
	}
	if icount == "" && kvmUsable() {
		return "kvm"
	}
	return "tcg"
}

// MaxICountShift is the largest shift QEMU 7.2 accepts (MAX_ICOUNT_SHIFT).
const MaxICountShift = 10

// ParseICount checks an -icount value and returns it in a canonical form (options in the
// order shift, align, sleep). It accepts "shift=N" (0 to MaxICountShift: one guest
// instruction takes 2^N ns of guest time) or "shift=auto" (the rate follows the host, so
// figures are not deterministic), then optionally "align=on|off" and "sleep=on|off", with
// QEMU's rules: sleep=off (guest idle time does not follow the host) is refused with
// shift=auto or align=on, and align=on with shift=auto. A bare "N" or "auto" means
// shift=N or shift=auto. Record/replay (rr=...) is not supported.
func ParseICount(s string) (string, error) {
	if s == "" {
		return "", errors.New("empty icount value")
	}
	opts := map[string]string{}
	for i, part := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(part, "=")
		if !ok && i == 0 {
			k, v = "shift", part
		} else if !ok {
			return "", fmt.Errorf("icount %q: %q is not key=value", s, part)
		}
		if _, dup := opts[k]; dup {
			return "", fmt.Errorf("icount %q: %s given twice", s, k)
		}
		switch k {
		case "shift":
			if v != "auto" {
				n, err := strconv.Atoi(v)
				if err != nil || n < 0 || n > MaxICountShift || strconv.Itoa(n) != v {
					return "", fmt.Errorf("icount %q: shift must be auto or 0 to %d, got %q", s, MaxICountShift, v)
				}
			}
		case "align", "sleep":
			if v != "on" && v != "off" {
				return "", fmt.Errorf("icount %q: %s must be on or off, got %q", s, k, v)
			}
		case "rr", "rrfile", "rrsnapshot":
			return "", fmt.Errorf("icount %q: record/replay (%s) is not supported", s, k)
		default:
			return "", fmt.Errorf("icount %q: unknown option %q (shift, align, sleep)", s, k)
		}
		opts[k] = v
	}
	shift, align, sleep := opts["shift"], opts["align"], opts["sleep"]
	switch {
	case shift == "":
		return "", fmt.Errorf("icount %q: shift is required (shift=N or shift=auto)", s)
	case sleep == "off" && shift == "auto":
		return "", fmt.Errorf("icount %q: QEMU refuses sleep=off with shift=auto", s)
	case sleep == "off" && align == "on":
		return "", fmt.Errorf("icount %q: QEMU refuses sleep=off with align=on", s)
	case align == "on" && shift == "auto":
		return "", fmt.Errorf("icount %q: QEMU refuses align=on with shift=auto", s)
	}
	out := "shift=" + shift
	if align != "" {
		out += ",align=" + align
	}
	if sleep != "" {
		out += ",sleep=" + sleep
	}
	return out, nil
}

// ClockLabel says what a nanosecond measured in a guest booted with accel and icount
// means, for benchmark figures: "qemu kvm wall clock", "qemu tcg wall clock" or "qemu tcg
// icount shift=N,...". Under TCG without icount, guest time is host time spent emulating,
// so it moves with the host's load; with icount and a fixed shift it counts instructions.
func ClockLabel(accel, icount string) string {
	if icount != "" && ICountWorks(accel) {
		return "qemu " + accel + " icount " + icount
	}
	return "qemu " + accel + " wall clock"
}

// Boot runs one VM to completion (power-off, panic, QEMU exit or timeout).
// Failures are reported in the Outcome, never as a Go error.
func Boot(ctx context.Context, c Config) Outcome {
	m := machineOf(c.Arch)
	bin := c.Binary
	if bin == "" {
		bin = m.binary
	}
	var o Outcome
	path, err := exec.LookPath(bin)
	if err != nil {
		o.Class, o.Detail = QEMUFailed, bin+" not found: run make deps or apt-get install "+m.pkg
		return o
	}
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		o.Class, o.Detail = QEMUFailed, err.Error()
		return o
	}
	o.ConsoleLog = filepath.Join(c.Dir, "console.log")
	serialCh := filepath.Join(c.Dir, "channel-serial.bin")
	virtioCh := filepath.Join(c.Dir, "channel-virtio.bin")
	for _, f := range []string{o.ConsoleLog, serialCh, virtioCh} {
		os.Remove(f) // a stale file from an earlier run must not be read as this run's
	}
	args := c.args(o.ConsoleLog, serialCh, virtioCh)
	o.Command = append([]string{path}, args...)

	runCtx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(runCtx, path, args...)
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	// QEMU dies with llconform, even on kill -9. The parent-death signal fires when the
	// thread that forked QEMU exits, and the Go runtime ends threads it no longer needs: the
	// thread stays locked to this goroutine until QEMU has exited.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	start := time.Now()
	stop := make(chan struct{})
	followed := make(chan struct{})
	if c.OnConsole != nil {
		go func() {
			defer close(followed)
			// The elapsed time is measured from the start Duration is, so a line's time
			// never exceeds the boot's.
			follow(o.ConsoleLog, stop, func(line string) { c.OnConsole(line, time.Since(start)) })
		}()
	} else {
		close(followed)
	}
	runErr := cmd.Run()
	close(stop)
	<-followed
	o.Duration = time.Since(start)
	if ps := cmd.ProcessState; ps != nil {
		o.CPU = ps.UserTime() + ps.SystemTime()
	}
	_ = os.WriteFile(filepath.Join(c.Dir, "qemu.log"), stderr.Bytes(), 0o644)

	console, _ := os.ReadFile(o.ConsoleLog)
	o.Report = readReport(virtioCh, serialCh)
	o.Warnings = Excerpts(console)
	if kmsg, ok := o.Report.Map()[plan.KmsgFrame]; ok {
		o.Warnings = append(o.Warnings, Excerpts(kmsg)...)
	}
	o.Class, o.Detail = classify(runCtx, ctx, runErr, c.Timeout, console, stderr.Bytes(), o.Report)
	if o.Class != OK {
		o.ConsoleTail = tail(console, 40)
	}
	return o
}

// follow calls fn with each complete line appended to the file at path until stop is
// closed, then with the lines written before that. The file is QEMU's console chardev: it
// may not exist yet when following starts.
func follow(path string, stop <-chan struct{}, fn func(string)) {
	var f *os.File
	var pending []byte
	buf := make([]byte, 64<<10)
	// Often enough that the host's timing of the agent's events (see plan.Event) is off by
	// at most this, and cheap: a read of a file that did not grow.
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for done := false; !done; {
		select {
		case <-stop:
			done = true
		case <-tick.C:
		}
		if f == nil {
			var err error
			if f, err = os.Open(path); err != nil {
				continue
			}
			defer f.Close()
		}
		for {
			n, _ := f.Read(buf)
			if n == 0 {
				break
			}
			pending = append(pending, buf[:n]...)
		}
		for {
			i := bytes.IndexByte(pending, '\n')
			if i < 0 {
				break
			}
			fn(strings.TrimRight(string(pending[:i]), "\r"))
			pending = pending[i+1:]
		}
	}
}

// readReport decodes the virtio channel when the guest used it, and the
// serial one otherwise (the agent writes to exactly one of them).
func readReport(virtio, serial string) channel.Result {
	if b, err := os.ReadFile(virtio); err == nil && len(b) > 0 {
		return channel.Decode(b)
	}
	b, _ := os.ReadFile(serial)
	return channel.Decode(b)
}

func classify(runCtx, parent context.Context, runErr error, timeout time.Duration, console, stderr []byte, r channel.Result) (Class, string) {
	switch {
	case r.End && len(r.Problems) == 0:
		return OK, ""
	case r.End:
		return TruncatedReport, "report damaged: " + strings.Join(r.Problems, "; ")
	case parent.Err() != nil:
		return Timeout, "canceled: " + parent.Err().Error()
	case errors.Is(runCtx.Err(), context.DeadlineExceeded):
		return Timeout, fmt.Sprintf("no end frame after %s; killed QEMU", timeout)
	case bytes.Contains(console, []byte("Kernel panic")):
		return Panic, firstLine(console, "Kernel panic")
	case len(r.Problems) > 0:
		return TruncatedReport, strings.Join(r.Problems, "; ")
	case runErr != nil && len(console) == 0:
		// QEMU gave up before the guest printed anything: a bad
		// kernel file, a bad option, an unusable accelerator.
		return QEMUFailed, fmt.Sprintf("%v: %s", runErr, strings.TrimSpace(tail(stderr, 5)))
	case runErr != nil:
		return NoReport, fmt.Sprintf("QEMU exited (%v) without an end frame: %s", runErr, strings.TrimSpace(tail(stderr, 5)))
	default:
		return NoReport, fmt.Sprintf("guest stopped without an end frame (%d frames received)", len(r.Frames))
	}
}

var problemRE = regexp.MustCompile(`Kernel panic|BUG:|Oops|WARNING:|general protection fault|KVM internal error|watchdog: .*soft lockup|RCU stall`)

// Excerpts returns, for each line of log that signals a kernel problem, that
// line and up to 15 following ones (the trace), at most 10 excerpts.
func Excerpts(log []byte) []string {
	lines := strings.Split(string(log), "\n")
	var out []string
	for i := 0; i < len(lines) && len(out) < 10; i++ {
		if !problemRE.MatchString(lines[i]) {
			continue
		}
		end := min(i+16, len(lines))
		out = append(out, strings.TrimRight(strings.Join(lines[i:end], "\n"), "\n"))
		i = end - 1
	}
	return out
}

func firstLine(b []byte, substr string) string {
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, substr) {
			return strings.TrimSpace(l)
		}
	}
	return ""
}

func tail(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(strings.ReplaceAll(string(b), "\r", ""), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// KVMUsable reports whether kernel boots under KVM, with the reason when it
// does not. Opening /dev/kvm is not enough: a nested KVM can accept every
// ioctl and still fail in the guest's decompressor ("KVM internal error").
// So it boots the kernel without an initrd and waits for the kernel's own
// panic at the missing root file system, which takes a few seconds under a
// working KVM. A broken KVM stops the guest instead of exiting, so the probe
// costs its 10-second timeout once.
func KVMUsable(ctx context.Context, binary, kernel, dir string) (bool, string) {
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		return false, err.Error()
	}
	f.Close()
	o := Boot(ctx, Config{Binary: binary, Kernel: kernel, Accel: "kvm", CPUs: 1, Memory: "256M", Timeout: 10 * time.Second, Dir: dir})
	if o.Class == Panic {
		return true, ""
	}
	reason := o.Detail
	if w := o.Warnings; len(w) > 0 {
		reason = strings.SplitN(w[0], "\n", 2)[0]
	}
	return false, fmt.Sprintf("test boot under KVM ended as %s: %s", o.Class, reason)
}
