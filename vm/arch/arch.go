// Package arch names the guest architectures llconform boots and where their binaries are.
// An architecture's name is at once Debian's (linux-image-*-cloud-arm64, binary-arm64) and
// Go's (GOARCH=arm64): the two agree for every architecture listed here.
package arch

import (
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
)

// The architectures a kernels.yaml entry can name (arch:).
const (
	AMD64 = "amd64"
	ARM64 = "arm64"
)

// Default is the architecture of an entry that names none.
const Default = AMD64

// Known lists every architecture, Default first.
var Known = []string{AMD64, ARM64}

// Check refuses an architecture llconform cannot boot.
func Check(a string) error {
	for _, k := range Known {
		if a == k {
			return nil
		}
	}
	return fmt.Errorf("unknown arch %q (known: %s)", a, strings.Join(Known, ", "))
}

// Native reports whether a is the architecture llconform itself was built for: its guests
// can use KVM, and its guest binaries are the ones make build writes for the host.
func Native(a string) bool { return a == runtime.GOARCH }

// Binary returns where make build puts the build for a of the guest binary whose host
// build is at p, in binDir (bin): p itself for the native architecture, else
// binDir/<a>/<p relative to binDir> (bin/suites/llconform-suites becomes bin/arm64/suites/llconform-suites,
// bin/llconform-agent bin/arm64/llconform-agent). A p outside binDir has no build for
// another architecture.
func Binary(binDir, p, a string) (string, error) {
	if Native(a) {
		return p, nil
	}
	rel, err := filepath.Rel(binDir, p)
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return "", fmt.Errorf("%s is not in %s, where the %s builds of the guest binaries are looked up (%s/%s)", p, binDir, a, binDir, a)
	}
	return filepath.Join(binDir, a, rel), nil
}
