package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/llconform/llconform/internal/atomicfile"
	"github.com/llconform/llconform/internal/conformance"
	"github.com/llconform/llconform/internal/coverage"
	"github.com/llconform/llconform/vm/plan"
)

func specsCmd(ctx context.Context, args []string) (int, error) {
	fs := flag.NewFlagSet("specs", flag.ContinueOnError)
	suiteDir := fs.String("suites", defaultSuiteDir(), "directory of the compiled suite binaries (<name>.test)")
	out := fs.String("o", "", "write the conformance document to this file (default: standard output)")
	check := fs.String("check", "", "compare the generated document with this committed file and fail on any difference")
	cov := fs.String("coverage", "", "also write the selftest coverage document to this file (with --check: compare it)")
	selftests := fs.String("selftests", "docs/selftests/linux-7.3.txt", "the inventory of the kernel's Landlock selftests")
	gaps := fs.String("gaps", "docs/selftest-gaps.yaml", "the reasons of the selftests the specs do not, or only partly, cover")
	from := fs.String("selftests-from", "", "regenerate the --selftests inventory from this directory (<linux>/tools/testing/selftests/landlock), then go on only if -o, --check or --coverage is given")
	kernel := fs.String("selftests-kernel", "", "with --selftests-from: the kernel version (default: read from the tree's Makefile)")
	todo := fs.Bool("gaps-todo", false, "print, as gaps file entries to fill in, the selftests with neither a covering spec nor a reason, and exit")
	if err := fs.Parse(args); err != nil {
		return exitUsage, err
	}
	if fs.NArg() > 0 {
		return exitUsage, fmt.Errorf("unexpected arguments %v", fs.Args())
	}
	if *out != "" && *check != "" {
		return exitUsage, fmt.Errorf("-o and --check exclude each other")
	}
	// The committed files a check compares with, read before the suites' dry runs.
	for flag, path := range map[string]string{"--check": *check, "--selftests": *selftests, "--gaps": *gaps} {
		if path == "" || (flag == "--selftests" && *from != "") {
			continue
		}
		if _, err := os.Stat(path); err != nil && (flag == "--check" || *cov != "" || *todo) {
			return exitUsage, fmt.Errorf("%s: %w", flag, err)
		}
	}
	if *from != "" {
		inv, err := coverage.ReadSelftests(*from, *kernel)
		if err != nil {
			return 1, err
		}
		data := inv.Marshal()
		if err := atomicfile.Write(*selftests, func(f io.Writer) error { _, err := f.Write(data); return err }); err != nil {
			return 1, err
		}
		fmt.Fprintf(os.Stderr, "wrote %s: %d selftests of Linux %s\n", *selftests, len(inv.Tests), inv.Kernel)
		if *out == "" && *check == "" && *cov == "" && !*todo {
			return 0, nil
		}
	}
	binaries, err := plan.FindSuites(ctx, *suiteDir)
	if err != nil {
		return 1, err
	}
	var all []conformance.Spec
	var labelled []coverage.Spec
	for _, b := range binaries {
		data, err := conformance.DryRun(ctx, b.Path, b.Command()...)
		if err != nil {
			return 1, fmt.Errorf("suite %s: %w", b.Name, err)
		}
		specs, err := conformance.FromDryRun(b.Name, data)
		if err != nil {
			return 1, fmt.Errorf("suite %s: %w", b.Name, err)
		}
		all = append(all, specs...)
		cs, err := coverage.FromDryRun(b.Name, data)
		if err != nil {
			return 1, err
		}
		labelled = append(labelled, cs...)
	}
	if *todo || *cov != "" {
		return coverageCmd(labelled, *cov, *selftests, *gaps, *check != "", *todo, func() (int, error) {
			return conformanceCmd(all, *out, *check)
		})
	}
	return conformanceCmd(all, *out, *check)
}

// conformanceCmd writes conformance.yaml, or checks the committed one.
func conformanceCmd(all []conformance.Spec, out, check string) (int, error) {
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
	if check != "" {
		committed, err := os.ReadFile(check)
		if err != nil {
			return 1, err
		}
		if err := conformance.Check(committed, data); err != nil {
			return 1, fmt.Errorf("%s is out of date (regenerate with make conformance and review the change):\n%w", check, err)
		}
		fmt.Fprintf(os.Stderr, "%s matches the suites: %d specs\n", check, len(all))
		return 0, nil
	}
	if out == "" {
		_, err := os.Stdout.Write(data)
		return 0, err
	}
	if err := atomicfile.Write(out, func(f io.Writer) error { _, err := f.Write(data); return err }); err != nil {
		return 1, err
	}
	fmt.Fprintf(os.Stderr, "wrote %s: %d specs\n", out, len(all))
	return 0, nil
}

// coverageCmd builds the selftest coverage document from the labelled specs, the inventory
// and the gaps file. With todo it prints the gaps entries to fill in and stops. Otherwise it
// runs conformance (so that both documents are written or checked in one go) and writes the
// document, or with check compares it with the committed one. Coverage problems fail the
// command after the document is written, so that it can be read while they are fixed.
func coverageCmd(labelled []coverage.Spec, file, selftests, gapsFile string, check, todo bool, conformance func() (int, error)) (int, error) {
	data, err := os.ReadFile(selftests)
	if err != nil {
		return 1, fmt.Errorf("selftest inventory: %w", err)
	}
	inv, err := coverage.ParseInventory(data, selftests)
	if err != nil {
		return 1, err
	}
	gdata, err := os.ReadFile(gapsFile)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return 1, err
	}
	gaps, err := coverage.ParseGaps(gdata, gapsFile)
	if err != nil {
		return 1, err
	}
	cov, problems := coverage.Build(inv, labelled, gaps, selftests, gapsFile)
	if todo {
		entries := cov.Todo()
		if _, err := os.Stdout.Write(entries); err != nil {
			return 1, err
		}
		fmt.Fprintf(os.Stderr, "%d selftest(s) without a covering spec or a reason; complete the entries above and add them to %s\n",
			countMissing(problems), gapsFile)
		return 0, nil
	}
	code, confErr := conformance()
	doc := cov.Markdown()
	var covErr error
	if check {
		committed, err := os.ReadFile(file)
		switch {
		case err != nil:
			covErr = err
		default:
			covErr = coverage.Check(committed, doc, file)
		}
	} else if err := atomicfile.Write(file, func(f io.Writer) error { _, err := f.Write(doc); return err }); err != nil {
		covErr = err
	} else {
		fmt.Fprintf(os.Stderr, "wrote %s: %d selftests of Linux %s, %d specs labelled\n", file, len(inv.Tests), inv.Kernel, len(labelled))
	}
	if err := errors.Join(confErr, covErr, coverage.Err(problems, gapsFile)); err != nil {
		return 1, err
	}
	if check {
		fmt.Fprintf(os.Stderr, "%s matches the suites' selftest labels\n", file)
	}
	return code, nil
}

func countMissing(problems []coverage.Problem) int {
	n := 0
	for _, p := range problems {
		if p.Missing {
			n++
		}
	}
	return n
}
