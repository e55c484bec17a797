package main

import (
	"os"
	"path/filepath"
)

// defaultSuiteDir is bin/suites beside the llconform binary, where make build puts them.
func defaultSuiteDir() string {
	exe, err := os.Executable()
	if err != nil {
		return "suites"
	}
	return filepath.Join(filepath.Dir(exe), "suites")
}

// filters are the Ginkgo selection flags passed through to every suite.
type filters struct {
	label, focus string
}

// expand turns the label filter into Ginkgo's syntax (see expandLabelFilter).
func (f *filters) expand() error {
	var err error
	f.label, err = expandLabelFilter(f.label)
	return err
}

// args returns the arguments of a suite binary that writes its Ginkgo report to report.
func (f filters) args(report string) []string {
	args := []string{"-test.v", "--ginkgo.no-color", "--ginkgo.json-report=" + report}
	if f.label != "" {
		args = append(args, "--ginkgo.label-filter="+f.label)
	}
	if f.focus != "" {
		args = append(args, "--ginkgo.focus="+f.focus)
	}
	return args
}
