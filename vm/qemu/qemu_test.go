package qemu

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/llconform/llconform/vm/channel"
)

func TestClassify(t *testing.T) {
	bg := context.Background()
	expired, cancel := context.WithTimeout(bg, -time.Second)
	defer cancel()
	exit1 := errors.New("exit status 1")
	for _, tc := range []struct {
		name    string
		run     context.Context
		err     error
		console string
		report  channel.Result
		want    Class
	}{
		{"ok", bg, nil, "", channel.Result{End: true}, OK},
		{"ok despite panic at power-off", bg, nil, "Kernel panic - not syncing", channel.Result{End: true}, OK},
		{"damaged", bg, nil, "", channel.Result{End: true, Problems: []string{"x: checksum mismatch"}}, TruncatedReport},
		{"timeout", expired, nil, "", channel.Result{}, Timeout},
		{"panic", bg, nil, "[ 1.0] Kernel panic - not syncing: Attempted to kill init!", channel.Result{}, Panic},
		{"truncated", bg, nil, "", channel.Result{Problems: []string{"kmsg: truncated"}}, TruncatedReport},
		{"qemu refused", bg, exit1, "", channel.Result{}, QEMUFailed},
		{"qemu died", bg, exit1, "booting", channel.Result{}, NoReport},
		{"no report", bg, nil, "booting", channel.Result{}, NoReport},
	} {
		got, detail := classify(tc.run, bg, tc.err, time.Second, []byte(tc.console), nil, tc.report)
		if got != tc.want {
			t.Errorf("%s: got %s (%s), want %s", tc.name, got, detail, tc.want)
		}
	}
}

func TestExcerpts(t *testing.T) {
	log := "a\nb\n[ 2.1] WARNING: CPU: 0 PID: 1 at fs/x.c:10 f+0x1/0x2\nCall Trace:\n f\n" + strings.Repeat("x\n", 30) + "BUG: kernel NULL pointer dereference\n"
	got := Excerpts([]byte(log))
	if len(got) != 2 || !strings.HasPrefix(got[0], "[ 2.1] WARNING") || !strings.Contains(got[0], "Call Trace") || !strings.HasPrefix(got[1], "BUG:") {
		t.Errorf("got %q", got)
	}
}

func TestArgsCPU(t *testing.T) {
	for _, tc := range []struct{ cpu, accel, want string }{
		{"", "tcg", "max,-cx16,-erms,-fsrm"},
		{"max,-cx16", "tcg", "max,-cx16,-erms,-fsrm"},
		{"", "kvm", "max,-cx16"},
		{"max,-cx16", "kvm", "max,-cx16"},
		{"max", "tcg", "max"},
		{"Skylake-Client", "tcg", "Skylake-Client"},
	} {
		args := Config{CPU: tc.cpu, Accel: tc.accel, Memory: "1G"}.args("c", "s", "v")
		got := ""
		for i := range args[:len(args)-1] {
			if args[i] == "-cpu" {
				got = args[i+1]
			}
		}
		if got != tc.want {
			t.Errorf("CPU %q under %s: -cpu %q, want %q (args %q)", tc.cpu, tc.accel, got, tc.want, args)
		}
	}
}

// An arm64 guest boots on the virt machine with its console on the PL011 and no second
// UART for the report channel; an amd64 guest boots on pc without an HPET, with qboot,
// and has both serial ports.
func TestArgsArch(t *testing.T) {
	arm := strings.Join(Config{Arch: "arm64", Accel: "tcg", Memory: "1G"}.args("c", "s", "v"), " ")
	for _, want := range []string{"-machine virt ", "-cpu " + armCPU + " ", "console=ttyAMA0 ", "virtio-serial-pci"} {
		if !strings.Contains(arm, want) {
			t.Errorf("arm64 args lack %q: %s", want, arm)
		}
	}
	if strings.Contains(arm, "path=s ") {
		t.Errorf("arm64 args have the serial channel: %s", arm)
	}
	x86 := strings.Join(Config{Accel: "tcg", Memory: "1G"}.args("c", "s", "v"), " ")
	for _, want := range []string{"-machine pc,hpet=off -bios qboot.rom ", "console=ttyS0 ", "file,id=report,path=s "} {
		if !strings.Contains(x86, want) {
			t.Errorf("amd64 args lack %q: %s", want, x86)
		}
	}
}

func TestParseICount(t *testing.T) {
	for in, want := range map[string]string{
		"shift=4": "shift=4", "4": "shift=4", "auto": "shift=auto", "shift=0": "shift=0",
		"sleep=off,shift=7":           "shift=7,sleep=off",
		"align=off,sleep=off,shift=3": "shift=3,align=off,sleep=off",
		"shift=5,align=on,sleep=on":   "shift=5,align=on,sleep=on",
		"shift=auto,align=off":        "shift=auto,align=off",
	} {
		if got, err := ParseICount(in); err != nil || got != want {
			t.Errorf("ParseICount(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for in, want := range map[string]string{
		"":                           "empty",
		"shift=11":                   "0 to 10",
		"shift=-1":                   "0 to 10",
		"shift=04":                   "0 to 10",
		"shift=fast":                 "0 to 10",
		"11":                         "0 to 10",
		"sleep=off":                  "shift is required",
		"shift=4,sleep=maybe":        "sleep must be on or off",
		"shift=4,align=1":            "align must be on or off",
		"shift=4,shift=5":            "shift given twice",
		"shift=4,speed=2":            `unknown option "speed"`,
		"shift=4,off":                `"off" is not key=value`,
		"shift=auto,sleep=off":       "sleep=off with shift=auto",
		"shift=4,align=on,sleep=off": "sleep=off with align=on",
		"shift=auto,align=on":        "align=on with shift=auto",
		"shift=4,rr=record":          "record/replay (rr) is not supported",
	} {
		got, err := ParseICount(in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseICount(%q) = %q, %v; want an error containing %q", in, got, err, want)
		}
	}
}

func TestArgsICount(t *testing.T) {
	for _, tc := range []struct {
		accel, icount string
		want          []string // after -icount, nil for absent
	}{
		{"tcg", "", nil},
		{"tcg", "shift=4,sleep=off", []string{"shift=4,sleep=off"}},
		{"", "shift=auto", []string{"shift=auto"}},
		{"kvm", "shift=4", nil}, // QEMU refuses -icount with KVM
	} {
		args := Config{Accel: tc.accel, ICount: tc.icount, Memory: "1G"}.args("c", "s", "v")
		var got []string
		for i, a := range args {
			if a == "-icount" && i+1 < len(args) {
				got = append(got, args[i+1])
			}
		}
		if strings.Join(got, " ") != strings.Join(tc.want, " ") || (got == nil) != (tc.want == nil) {
			t.Errorf("accel %q icount %q: -icount %q, want %q (args %q)", tc.accel, tc.icount, got, tc.want, args)
		}
		if i := indexOf(args, "-accel"); tc.icount != "" && tc.accel != "kvm" && args[i+1] != "tcg,thread=single" {
			t.Errorf("icount needs single-threaded TCG, got -accel %q", args[i+1])
		}
	}
}

func indexOf(l []string, s string) int {
	for i, x := range l {
		if x == s {
			return i
		}
	}
	return -1
}

func TestClockLabel(t *testing.T) {
	for _, tc := range []struct{ accel, icount, want string }{
		{"tcg", "", "qemu tcg wall clock"},
		{"tcg", "shift=4,sleep=off", "qemu tcg icount shift=4,sleep=off"},
		{"kvm", "", "qemu kvm wall clock"},
		{"kvm", "shift=4", "qemu kvm wall clock"},
	} {
		if got := ClockLabel(tc.accel, tc.icount); got != tc.want {
			t.Errorf("ClockLabel(%q, %q) = %q, want %q", tc.accel, tc.icount, got, tc.want)
		}
	}
}

func TestMissingBinary(t *testing.T) {
	o := Boot(context.Background(), Config{Binary: "qemu-system-x86_64-nonexistent", Dir: t.TempDir(), Timeout: time.Second})
	if o.Class != QEMUFailed || !strings.Contains(o.Detail, "not found: run make deps or apt-get install qemu-system-x86") {
		t.Errorf("got %s: %s", o.Class, o.Detail)
	}
}

func TestFollowConsole(t *testing.T) {
	path := filepath.Join(t.TempDir(), "console.log")
	stop := make(chan struct{})
	lines := make(chan string, 10)
	done := make(chan struct{})
	go func() {
		defer close(done)
		follow(path, stop, func(l string) { lines <- l })
	}()
	// The file appears after following started, and its last line is completed later.
	if err := os.WriteFile(path, []byte("booting\r\nsuite abi: st"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := <-lines; got != "booting" {
		t.Errorf("first line = %q, want %q", got, "booting")
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("art\nunfinished")
	f.Close()
	close(stop)
	<-done
	close(lines)
	var rest []string
	for l := range lines {
		rest = append(rest, l)
	}
	if len(rest) != 1 || rest[0] != "suite abi: start" {
		t.Errorf("later lines = %q, want [\"suite abi: start\"] (no partial line)", rest)
	}
}

// QEMU counts instructions under TCG only: a kvm kernel with icount is refused, auto picks
// TCG for it without probing KVM.
func TestICountNeedsTCG(t *testing.T) {
	for _, tc := range []struct {
		accel, icount string
		err           bool
	}{
		{"kvm", "shift=2", true}, {"kvm", "", false}, {"tcg", "shift=2", false}, {"auto", "shift=2", false}, {"", "shift=2", false},
	} {
		if err := CheckICount(tc.accel, tc.icount); (err != nil) != tc.err {
			t.Errorf("CheckICount(%q, %q) = %v, want error %v", tc.accel, tc.icount, err, tc.err)
		}
	}
	for _, tc := range []struct {
		accel, icount string
		kvm           bool
		want          string
		probed        bool
	}{
		{"tcg", "", true, "tcg", false},
		{"kvm", "", false, "kvm", false},
		{"auto", "", true, "kvm", true},
		{"auto", "", false, "tcg", true},
		{"auto", "shift=2", true, "tcg", false},
	} {
		probed := false
		got := ChooseAccel(tc.accel, tc.icount, func() bool { probed = true; return tc.kvm })
		if got != tc.want || probed != tc.probed {
			t.Errorf("ChooseAccel(%q, %q, KVM works %v) = %q, probed %v; want %q, probed %v", tc.accel, tc.icount, tc.kvm, got, probed, tc.want, tc.probed)
		}
	}
}
