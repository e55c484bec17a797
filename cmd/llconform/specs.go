package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/llconform/llconform/internal/conformance"
	"github.com/llconform/llconform/vm/plan"
)

func specsCmd(ctx context.Context, args []string) (int, error) {
	fs := flag.NewFlagSet("specs", flag.ContinueOnError)
	suiteDir := fs.String("suites", defaultSuiteDir(), "directory of the compiled suite binaries (<name>.test)")
	out := fs.String("o", "", "write the conformance document to this file (default: standard output)")
	check := fs.String("check", "", "compare the generated document with this committed file and fail on any difference")
	if err := fs.Parse(args); err != nil {
		return exitUsage, err
	}
	binaries, err := plan.FindSuites(*suiteDir)
	if err != nil {
		return 1, err
	}
	var all []conformance.Spec
	for _, b := range binaries {
		data, err := conformance.DryRun(ctx, b.Path)
		if err != nil {
			return 1, fmt.Errorf("suite %s: %w", b.Name, err)
		}
		specs, err := conformance.FromDryRun(b.Name, data)
		if err != nil {
			return 1, fmt.Errorf("suite %s: %w", b.Name, err)
		}
		all = append(all, specs...)
	}
	if problems := conformance.Lint(all); len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintln(os.Stderr, p)
		}
		return 1, fmt.Errorf("%d specs break the conventions (MUST statement, feature and abi:N labels)", len(problems))
	}
	doc, err := conformance.New(all)
	if err != nil {
		return 1, err
	}
	data, err := doc.Marshal()
	if err != nil {
		return 1, err
	}
	if *check != "" {
		committed, err := os.ReadFile(*check)
		if err != nil {
			return 1, err
		}
		if err := conformance.Check(committed, data); err != nil {
			return 1, fmt.Errorf("%s is out of date (regenerate with make conformance and review the change):\n%w", *check, err)
		}
		fmt.Fprintf(os.Stderr, "%s matches the suites: %d specs\n", *check, len(all))
		return 0, nil
	}
	if *out == "" {
		_, err := os.Stdout.Write(data)
		return 0, err
	}
	if err := writeFile(*out, func(f *os.File) error { _, err := f.Write(data); return err }); err != nil {
		return 1, err
	}
	fmt.Fprintf(os.Stderr, "wrote %s: %d specs\n", *out, len(all))
	return 0, nil
}
