package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/onsi/ginkgo/v2/types"

	"github.com/llconform/llconform/internal/report"
	"github.com/llconform/llconform/vm/plan"
)

// defaultSuiteDir is bin/suites beside the llconform binary, where make build puts them.
func defaultSuiteDir() string { return filepath.Join(binDir(), "suites") }

// defaultCompatSuiteDir is where make build writes the suites' 32-bit builds:
// bin/386/suites beside bin/suites.
func defaultCompatSuiteDir() string {
	return filepath.Join(filepath.Dir(defaultSuiteDir()), plan.CompatArch, "suites")
}

// findCompatSuites returns the native suites run from the 32-bit build of the suites binary
// in dir, which make build compiles from the same packages. It is not run to list its
// suites: the host need not run 32-bit programs to boot a compat kernel.
func findCompatSuites(dir string, native []plan.Binary) ([]plan.Binary, error) {
	path, err := filepath.Abs(filepath.Join(dir, plan.SuitesName))
	if err != nil {
		return nil, err
	}
	if fi, err := os.Stat(path); err != nil || !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("32-bit suites: no %s: run make build", path)
	}
	bins := slices.Clone(native)
	for i := range bins {
		bins[i].Path = path
	}
	return bins, nil
}

// filters are the Ginkgo selection flags passed through to every suite.
type filters struct {
	label, focus string
}

// expand turns the label filter into Ginkgo's syntax (see expandLabelFilter) and checks
// that Ginkgo can parse it and the focus regexp, so that a typo is a usage error before
// any suite runs or kernel boots, not a failure of every suite of every kernel.
func (f *filters) expand() error {
	orig := f.label
	label, err := expandLabelFilter(f.label)
	if err != nil {
		return err
	}
	if label != "" {
		if _, err := types.ParseLabelFilter(label); err != nil {
			return fmt.Errorf("--label-filter %q: %s", orig, ginkgoErrorText(err))
		}
	}
	if f.focus != "" {
		if _, err := regexp.Compile(f.focus); err != nil {
			return fmt.Errorf("--focus %q: %w", f.focus, err)
		}
	}
	f.label = label
	return nil
}

// ginkgoMarkup is Ginkgo's formatter markup ({{red}}, {{/}}) and the ANSI escapes it
// renders to.
var ginkgoMarkup = regexp.MustCompile(`\{\{[a-z/-]*\}\}|\x1b\[[0-9;]*m`)

// ginkgoErrorText is a Ginkgo error as one plain line: its message without colours, the
// heading, the echoed input and the documentation link.
func ginkgoErrorText(err error) string {
	msg := err.Error()
	var ge types.GinkgoError
	if errors.As(err, &ge) && ge.Message != "" {
		msg = ge.Message
		// The message echoes the input with the error position marked, then the reason.
		if i := strings.LastIndex(msg, "\n"); i >= 0 {
			msg = msg[i+1:]
		}
	}
	msg = ginkgoMarkup.ReplaceAllString(msg, "")
	return strings.Join(strings.Fields(msg), " ")
}

// args returns the arguments of a suite binary that writes its report to file.
func (f filters) args(file string) []string {
	args := []string{"-test.v", "--ginkgo.no-color", "-" + report.SuiteReportFlag + "=" + file}
	if f.label != "" {
		args = append(args, "--ginkgo.label-filter="+f.label)
	}
	if f.focus != "" {
		args = append(args, "--ginkgo.focus="+f.focus)
	}
	return args
}

// binDir is the directory of the llconform binary, where make build puts the guest binaries
// (bin/): those of another architecture are under its <arch>/ (vm/arch.Binary).
func binDir() string {
	exe, err := os.Executable()
	if err != nil {
		return "."
	}
	return filepath.Dir(exe)
}
