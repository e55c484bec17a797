package arch

import (
	"runtime"
	"testing"
)

func TestCheck(t *testing.T) {
	for _, a := range Known {
		if err := Check(a); err != nil {
			t.Errorf("Check(%q): %v", a, err)
		}
	}
	for _, a := range []string{"", "x86_64", "aarch64", "ARM64", "i386"} {
		if err := Check(a); err == nil {
			t.Errorf("Check(%q) accepted it", a)
		}
	}
}

func TestBinary(t *testing.T) {
	if got, err := Binary("/x/bin", "/elsewhere/llconform-suites", runtime.GOARCH); err != nil || got != "/elsewhere/llconform-suites" {
		t.Errorf("native: %q, %v", got, err)
	}
	other := ARM64
	if runtime.GOARCH == ARM64 {
		other = AMD64
	}
	for p, want := range map[string]string{
		"/x/bin/suites/llconform-suites": "/x/bin/" + other + "/suites/llconform-suites",
		"/x/bin/llconform-agent":         "/x/bin/" + other + "/llconform-agent",
		"/x/bin/../bin/llconform":        "/x/bin/" + other + "/llconform",
	} {
		if got, err := Binary("/x/bin", p, other); err != nil || got != want {
			t.Errorf("Binary(/x/bin, %s, %s) = %q, %v; want %q", p, other, got, err, want)
		}
	}
	for _, p := range []string{"/x/suites/llconform-suites", "/x/binary"} {
		if got, err := Binary("/x/bin", p, other); err == nil {
			t.Errorf("Binary(/x/bin, %s, %s) = %q, want an error", p, other, got)
		}
	}
}
