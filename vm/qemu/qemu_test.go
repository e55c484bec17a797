package qemu

import (
	"context"
	"errors"
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
	for _, tc := range []struct{ cpu, want string }{
		{"", "max,-cx16"},
		{"max", "max"},
		{"max,-cx16", "max,-cx16"},
		{"Skylake-Client", "Skylake-Client"},
	} {
		args := Config{CPU: tc.cpu, Memory: "1G"}.args("c", "s", "v")
		got := ""
		for i := range args[:len(args)-1] {
			if args[i] == "-cpu" {
				got = args[i+1]
			}
		}
		if got != tc.want {
			t.Errorf("CPU %q: -cpu %q, want %q (args %q)", tc.cpu, got, tc.want, args)
		}
	}
}

func TestMissingBinary(t *testing.T) {
	o := Boot(context.Background(), Config{Binary: "qemu-system-x86_64-nonexistent", Dir: t.TempDir(), Timeout: time.Second})
	if o.Class != QEMUFailed || !strings.Contains(o.Detail, "not found: run make deps or apt-get install qemu-system-x86") {
		t.Errorf("got %s: %s", o.Class, o.Detail)
	}
}
