package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/llconform/llconform/internal/atomicfile"
	"github.com/llconform/llconform/internal/render"
	"github.com/llconform/llconform/internal/report"
	"github.com/llconform/llconform/internal/verdict"
)

func reportCmd(_ context.Context, args []string) (int, error) {
	if len(args) == 0 {
		return exitUsage, fmt.Errorf("report: want a subcommand: merge -o OUT FILE..., show FILE, or diff BASE NEW")
	}
	switch args[0] {
	case "merge":
		fs := flag.NewFlagSet("report merge", flag.ContinueOnError)
		out := fs.String("o", "", "merged result file to write (required)")
		if err := fs.Parse(args[1:]); err != nil {
			return exitUsage, err
		}
		if *out == "" || fs.NArg() == 0 {
			return exitUsage, fmt.Errorf("report merge: want -o OUT and at least one result file")
		}
		if err := checkOutputPath(*out); err != nil {
			return exitUsage, fmt.Errorf("report merge: -o: %w", err)
		}
		var results []*report.Result
		for _, p := range fs.Args() {
			r, err := readResult(p)
			if err != nil {
				return exitUsage, err // a file named on the command line: the user's to fix
			}
			results = append(results, r)
		}
		merged, err := report.Merge(results...)
		if err != nil {
			return verdict.ExitInfra, err
		}
		verdict.Evaluate(merged)
		if err := atomicfile.Write(*out, func(f io.Writer) error { return report.Encode(f, merged) }); err != nil {
			return verdict.ExitInfra, err
		}
		return verdict.ExitCode(merged), printMatrix(merged)
	case "diff":
		return reportDiff(args[1:])
	case "show":
		if len(args) != 2 {
			return exitUsage, fmt.Errorf("report show: want one result file")
		}
		r, err := readResult(args[1])
		if err != nil {
			return exitUsage, err
		}
		verdict.Evaluate(r)
		return verdict.ExitCode(r), printMatrix(r)
	}
	return exitUsage, fmt.Errorf("report: unknown subcommand %q (want merge, show or diff)", args[0])
}

func readResult(path string) (*report.Result, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read result: %w", err)
	}
	defer f.Close()
	r, err := report.Decode(f)
	if err != nil {
		return nil, fmt.Errorf("%s: not an llconform result: %w", path, err)
	}
	return r, nil
}

// printMatrix prints the kernel matrix and the feature table.
func printMatrix(res *report.Result) error {
	if err := render.WriteMatrix(os.Stdout, res); err != nil {
		return err
	}
	fmt.Println()
	if err := render.WriteFeatures(os.Stdout, res); err != nil {
		return err
	}
	if slices.ContainsFunc(res.Runs, func(r report.Run) bool { return r.Timings != nil }) {
		fmt.Println()
	}
	return render.WriteTimings(os.Stdout, res)
}
