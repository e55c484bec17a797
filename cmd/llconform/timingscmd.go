package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/llconform/llconform/internal/atomicfile"
	"github.com/llconform/llconform/internal/render"
	"github.com/llconform/llconform/internal/report"
	"github.com/llconform/llconform/internal/verdict"
)

// timingsCmd compares the timings of matrix runs with earlier ones: the benchmark of the
// matrix's speed (make bench-matrix). Timings are measured, never gated on: the machine's
// load moves them.
func timingsCmd(_ context.Context, args []string) (int, error) {
	fs := flag.NewFlagSet("timings", flag.ContinueOnError)
	baseline := fs.String("baseline", "", "timings or result file of the runs to compare with (before a change)")
	save := fs.String("save", "", "also write the runs' timings to this file, a few kilobytes to keep as a later --baseline")
	label := fs.String("label", "", "what the runs measured, kept in --save's file (e.g. the commit)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: llconform timings [--baseline FILE] [--save FILE] [--label TEXT] RESULT...")
		fmt.Fprintln(fs.Output(), "RESULT is a matrix run's result.json or a timings file (--save).")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return exitUsage, err
	}
	if fs.NArg() == 0 {
		return exitUsage, fmt.Errorf("timings: want at least one result or timings file")
	}
	now := report.TimingsFile{Label: *label}
	for _, p := range fs.Args() {
		f, err := readTimings(p)
		if err != nil {
			return exitUsage, err
		}
		if now.Label == "" {
			now.Label = f.Label
		}
		now.Runs = append(now.Runs, f.Runs...)
	}
	var before report.TimingsFile
	if *baseline != "" {
		var err error
		if before, err = readTimings(*baseline); err != nil {
			return exitUsage, err
		}
	}
	if *save != "" {
		err := atomicfile.Write(*save, func(f io.Writer) error { return report.EncodeTimings(f, now) })
		if err != nil {
			return verdict.ExitInfra, err
		}
	}
	if err := render.WriteTimingsComparison(os.Stdout, now, before); err != nil {
		return verdict.ExitInfra, err
	}
	return 0, nil
}

func readTimings(path string) (report.TimingsFile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return report.TimingsFile{}, err
	}
	f, err := report.ReadTimings(data)
	if err != nil {
		return report.TimingsFile{}, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}
