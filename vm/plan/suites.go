package plan

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/llconform/llconform/internal/sandbox"
)

// SuitesName is the one binary that holds every suite: make build compiles the folders of
// suites/ into bin/suites/llconform-suites, which runs one suite per process.
const SuitesName = "llconform-suites"

// The suites binary's own flags: SuiteFlag selects the suite a process runs, ListFlag
// prints the names of the suites the binary holds.
const (
	SuiteFlag = "llconform.suite"
	ListFlag  = "llconform.list"
)

// CompatArch is the GOARCH of the suites' 32-bit build, which make build writes to
// bin/386/suites: run on a 64-bit x86 kernel, those binaries reach the kernel through its
// compat (32-bit) system call entry points.
const CompatArch = "386"

// CompatName names the 32-bit build of suite in a plan, where both builds run: the names of
// a plan's suites are unique, and make file names in the guest.
func CompatName(suite string) string { return suite + "-" + CompatArch }

// Binary is one compiled suite: the suites binary at Path, run for the suite Name.
type Binary struct {
	Name string // the suite's folder name: abi, fs...
	Path string
}

// Command returns the arguments that run the suite, SuiteFlag selecting it, followed by extra.
func (b Binary) Command(extra ...string) []string {
	return append([]string{"-" + SuiteFlag + "=" + b.Name}, extra...)
}

// FindSuites returns every suite of the suites binary in dir, in the order they run
// (SortSuites). The binary is the one list of suites (it prints them with ListFlag): whatever
// make build compiled runs, so a new suite folder cannot be built and then silently left out.
func FindSuites(ctx context.Context, dir string) ([]Binary, error) {
	// Absolute: a suite runs with its output directory as working directory.
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, SuitesName)
	if fi, err := os.Stat(path); err != nil || !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("no suites binary %s: run make build", path)
	}
	out, err := exec.CommandContext(ctx, path, "-"+ListFlag).Output()
	if err != nil {
		return nil, fmt.Errorf("list the suites of %s: %w", path, err)
	}
	names := strings.Fields(string(out))
	if len(names) == 0 {
		return nil, fmt.Errorf("%s holds no suite", path)
	}
	SortSuites(names)
	bins := make([]Binary, len(names))
	for i, n := range names {
		bins[i] = Binary{Name: n, Path: path}
	}
	return bins, nil
}

// FindHelper returns the sandbox helper binary make build puts beside the suites in dir,
// which the guest must carry beside them, and "" when there is none (the suites then start
// themselves as helpers).
func FindHelper(dir string) string {
	p, err := filepath.Abs(filepath.Join(dir, sandbox.HelperName))
	if err != nil {
		return ""
	}
	if fi, err := os.Stat(p); err != nil || !fi.Mode().IsRegular() {
		return ""
	}
	return p
}

// Suites that must run first or last; the others run in between in name order.
const (
	// firstSuite checks the syscall contract every other suite relies on: when it fails,
	// its failures come first.
	firstSuite = "abi"
	// lastSuite changes the kernel's audit state while it runs (audit rules, the log
	// flags' records), which no other suite must see.
	lastSuite = "audit"
)

// SortSuites sorts suite names into the order they run: abi first, audit last, the others
// by name. Only these two have a place of their own, so a new suite needs no list updated.
func SortSuites(names []string) {
	rank := func(n string) int {
		switch n {
		case firstSuite:
			return 0
		case lastSuite:
			return 2
		}
		return 1
	}
	slices.SortFunc(names, func(a, b string) int {
		if ra, rb := rank(a), rank(b); ra != rb {
			return ra - rb
		}
		return strings.Compare(a, b)
	})
}
