// Command agent is the guest's /init. It prepares a minimal system (mounts,
// loopback, modules), runs the suites listed in the plan, streams
// their reports to the host over the report channel, and powers off.
//
// As PID 1 it must never exit (the kernel panics when init exits): every
// failure is recorded and sent, a panic is recovered, and the agent always
// ends in power-off, or sleeps forever if even that fails.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/llconform/llconform/vm/channel"
	"github.com/llconform/llconform/vm/plan"
)

// serialFallback is the channel when no virtio-console port shows up: the second 8250
// UART, which the host connects to a file as QEMU's second -serial.
const serialFallback = "/dev/ttyS1"

type agent struct {
	report plan.AgentReport
	out    *os.File
	ch     *channel.Writer
}

func main() {
	if os.Getpid() != 1 {
		// Mounting and powering off are only right inside the VM.
		fmt.Fprintln(os.Stderr, "agent: must run as PID 1 inside the test VM")
		os.Exit(2)
	}
	a := &agent{}
	a.guard("run", a.run)
	a.guard("finish", a.finish)
	halt()
}

// guard runs f and turns a panic into a recorded problem.
func (a *agent) guard(what string, f func()) {
	defer func() {
		if r := recover(); r != nil {
			a.problem("%s: panic: %v\n%s", what, r, debug.Stack())
		}
	}()
	f()
}

func (a *agent) problem(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	a.report.Problems = append(a.report.Problems, msg)
	logf("%s", msg)
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stdout, plan.ConsolePrefix+format+"\n", args...)
}

func (a *agent) run() {
	a.mount()
	a.loopback()
	a.loadModules()
	a.openChannel()
	var u unix.Utsname
	if err := unix.Uname(&u); err == nil {
		a.report.Release = unix.ByteSliceToString(u.Release[:])
	}
	// Send the set-up report early: if a suite crashes the kernel, the host
	// still learns what the guest looked like.
	a.sendJSON(plan.AgentFrame, a.report)

	p, err := readPlan()
	if err != nil {
		a.problem("%v", err)
		return
	}
	fmt.Println(plan.Event{Agent: plan.AgentReady, UptimeMS: uptimeMS()}.Line())
	for i, s := range p.Suites {
		a.runSuite(s, plan.Event{Suite: s.Name, N: i + 1, Of: len(p.Suites)}, p.Env)
	}
}

// finish sends what is left and the end frame. It runs even after a panic.
func (a *agent) finish() {
	if a.ch == nil {
		a.openChannel()
	}
	a.sendJSON(plan.AgentFrame, a.report)
	a.send(plan.KmsgFrame, kmsg())
	a.send(channel.EndName, nil)
	if a.out != nil {
		drain(a.out)
		a.out.Close()
	}
	fmt.Println(plan.Event{Agent: plan.AgentDone}.Line())
}

// uptimeMS is the time since the kernel started (CLOCK_BOOTTIME), in milliseconds.
func uptimeMS() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		return 0
	}
	return ts.Nano() / int64(time.Millisecond)
}

func (a *agent) send(name string, payload []byte) {
	if a.ch == nil {
		return
	}
	if err := a.ch.Send(name, payload); err != nil {
		logf("%v", err)
	}
}

func (a *agent) sendJSON(name string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		a.problem("encode %s: %v", name, err)
		return
	}
	a.send(name, b)
}

func (a *agent) mount() {
	const nosuid, nodev = unix.MS_NOSUID, unix.MS_NODEV
	mounts := []struct {
		fstype, target string
		flags          uintptr
		optional       bool
		data           string
	}{
		{"proc", "/proc", nosuid | nodev, false, ""},
		{"sysfs", "/sys", nosuid | nodev, false, ""},
		{"devtmpfs", "/dev", nosuid, false, ""},
		// Pseudo-terminals need a devpts instance; its own ptmx node is usable only with a
		// ptmxmode.
		{"devpts", "/dev/pts", nosuid | unix.MS_NOEXEC, true, "ptmxmode=0666,mode=0620"},
		{"tmpfs", "/tmp", nosuid | nodev, false, ""},
		{"tmpfs", "/run", nosuid | nodev, false, ""},
		{"securityfs", "/sys/kernel/security", nosuid | nodev, true, ""},
		{"tracefs", "/sys/kernel/tracing", nosuid | nodev, true, ""},
	}
	for _, m := range mounts {
		if err := os.MkdirAll(m.target, 0o755); err != nil {
			a.problem("mkdir %s: %v", m.target, err)
			continue
		}
		if err := unix.Mount(m.fstype, m.target, m.fstype, m.flags, m.data); err != nil {
			kind := "mount"
			if m.optional {
				kind = "optional mount"
			}
			a.problem("%s %s on %s: %v", kind, m.fstype, m.target, err)
		}
	}
}

// loopback brings lo up; the kernel then assigns 127.0.0.1 and ::1 itself.
func (a *agent) loopback() {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		a.problem("loopback: socket: %v", err)
		return
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		a.problem("loopback: %v", err)
		return
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		a.problem("loopback: get flags: %v", err)
		return
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		a.problem("loopback: set up: %v", err)
	}
}

func (a *agent) loadModules() {
	lists, _ := filepath.Glob(filepath.Join("/lib/modules/*", plan.ModulesList))
	for _, list := range lists {
		b, err := os.ReadFile(list)
		if err != nil {
			a.problem("modules: %v", err)
			continue
		}
		dir := filepath.Dir(list)
		for _, name := range strings.Fields(string(b)) {
			m := plan.Module{Name: strings.TrimSuffix(name, ".ko")}
			if err := loadModule(filepath.Join(dir, name)); err != nil {
				m.Error = err.Error()
				logf("load module %s: %v", name, err)
			}
			a.report.Modules = append(a.report.Modules, m)
		}
	}
}

func loadModule(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	err = unix.FinitModule(int(f.Fd()), "", 0)
	if errors.Is(err, unix.EEXIST) {
		return nil
	}
	return err
}

// openChannel prefers the virtio-console port the host named, and falls back
// to the second 8250 UART, which every Debian cloud kernel has built in
// (virtio_console is a module there up to 6.18).
func (a *agent) openChannel() {
	dev := findVirtioPort()
	if dev == "" {
		dev = serialFallback
	}
	f, err := os.OpenFile(dev, os.O_WRONLY|unix.O_NOCTTY, 0)
	if err != nil {
		a.problem("open channel %s: %v", dev, err)
		return
	}
	if dev == serialFallback {
		if err := makeRaw(int(f.Fd())); err != nil {
			a.problem("channel %s: raw mode: %v", dev, err)
		}
	}
	a.report.Channel = dev
	a.out = f
	a.ch = channel.NewWriter(f)
	logf("report channel: %s", dev)
}

func findVirtioPort() string {
	if _, err := os.Stat("/sys/class/virtio-ports"); err != nil {
		return ""
	}
	// The driver adds ports from a workqueue as the host announces them, so
	// a port may appear shortly after the driver itself.
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		names, _ := filepath.Glob("/sys/class/virtio-ports/*/name")
		for _, n := range names {
			b, err := os.ReadFile(n)
			if err == nil && strings.TrimSpace(string(b)) == plan.VirtioPort {
				return "/dev/" + filepath.Base(filepath.Dir(n))
			}
		}
	}
	return ""
}

// makeRaw turns off every translation (newline mapping above all) so that
// frames cross the UART byte for byte.
func makeRaw(fd int) error {
	t, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return err
	}
	t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	t.Oflag &^= unix.OPOST
	t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	t.Cflag &^= unix.CSIZE | unix.PARENB | unix.CBAUD
	t.Cflag |= unix.CS8 | unix.B115200
	return unix.IoctlSetTermios(fd, unix.TCSETS, t)
}

// drain waits until a tty has sent everything (tcdrain); other devices
// return an error that does not matter.
func drain(f *os.File) {
	_ = unix.IoctlSetInt(int(f.Fd()), unix.TCSBRK, 1)
	_ = f.Sync()
}

func readPlan() (plan.Plan, error) {
	var p plan.Plan
	b, err := os.ReadFile(plan.Path)
	if err != nil {
		return p, fmt.Errorf("read plan: %w", err)
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return p, fmt.Errorf("parse plan %s: %w", plan.Path, err)
	}
	return p, nil
}

// runSuite runs one suite, ev saying which of the plan, and sends its outcome. Its start and
// end go to the console as progress events, which the host shows while the guest runs.
func (a *agent) runSuite(s plan.Suite, ev plan.Event, env map[string]string) {
	fmt.Println(ev.Line())
	vars := []string{"PATH=/suites:/usr/bin:/bin", "HOME=/tmp", "TMPDIR=/tmp"}
	for k, v := range env {
		vars = append(vars, k+"="+v)
	}
	o := s.Run(context.Background(), "/tmp", vars)
	ev.Status = &o.Status
	fmt.Println(ev.Line())
	frames, err := plan.SuiteFrames(s.Name, o)
	if err != nil {
		a.problem("%v", err)
		return
	}
	for _, f := range frames {
		a.send(f.Name, f.Payload)
	}
}

func kmsg() []byte {
	n, err := unix.Klogctl(unix.SYSLOG_ACTION_SIZE_BUFFER, nil)
	if err != nil || n <= 0 {
		n = 1 << 20
	}
	buf := make([]byte, n)
	m, err := unix.Klogctl(unix.SYSLOG_ACTION_READ_ALL, buf)
	if err != nil {
		return []byte("read kernel log: " + err.Error())
	}
	return buf[:m]
}

func halt() {
	unix.Sync()
	err := unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
	logf("power off: %v", err)
	for {
		time.Sleep(time.Hour)
	}
}
