package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/llconform/llconform/internal/atomicfile"
	"github.com/llconform/llconform/internal/diff"
	"github.com/llconform/llconform/internal/render"
	"github.com/llconform/llconform/internal/report"
	"github.com/llconform/llconform/internal/verdict"
)

// Exit statuses of report diff.
const (
	exitNoRegression = 0
	exitRegression   = 1
)

// pairList is the repeatable --pair NEW=BASE flag.
type pairList map[string]string

func (p pairList) String() string {
	var s []string
	for n, b := range p {
		s = append(s, n+"="+b)
	}
	return strings.Join(s, ",")
}

func (p pairList) Set(v string) error {
	n, b, ok := strings.Cut(v, "=")
	if !ok || n == "" || b == "" {
		return fmt.Errorf("want NEW=BASE kernel names, got %q", v)
	}
	if _, dup := p[n]; dup {
		return fmt.Errorf("kernel %q paired twice", n)
	}
	p[n] = b
	return nil
}

// reportDiff is `llconform report diff BASE.json NEW.json`: what changed, per kernel, and
// exit 1 when a change the gate counts is a regression.
func reportDiff(args []string) (int, error) {
	fs := flag.NewFlagSet("report diff", flag.ContinueOnError)
	gate := fs.String("gate", "default", "what counts as a regression: "+gateHelp())
	format := fs.String("format", "text", "what to print: text (a table), markdown or json")
	markdown := fs.String("markdown", "", "also write the markdown summary (for a pull-request comment) to this file")
	html := fs.String("html", "", "also write NEW's HTML report with a \"compared with BASE\" section to this file")
	jsonOut := fs.String("json", "", "also write the diff as JSON to this file")
	known := fs.String("known-issues", "", "apply this known-issues file to both results before comparing (default: the marks each result carries)")
	pairs := pairList{}
	fs.Var(pairs, "pair", "compare NEW's kernel with BASE's kernel of another name: NEW=BASE, repeatable (a backport against its upstream kernel)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: llconform report diff [flags] BASE.json NEW.json\n\nExit status: 0 no regression, 1 a regression under --gate, 64 bad input.\n\nflags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return exitUsage, err
	}
	if fs.NArg() != 2 {
		return exitUsage, fmt.Errorf("report diff: want two result files, BASE and NEW (got %d arguments)", fs.NArg())
	}
	classes, err := diff.ParseGate(*gate)
	if err != nil {
		return exitUsage, err
	}
	switch *format {
	case "text", "markdown", "json":
	default:
		return exitUsage, fmt.Errorf("--format %q: want text, markdown or json", *format)
	}
	for flagName, p := range map[string]string{"--markdown": *markdown, "--html": *html, "--json": *jsonOut} {
		if p != "" {
			if err := checkOutputPath(p); err != nil {
				return exitUsage, fmt.Errorf("%s: %w", flagName, err)
			}
		}
	}
	var issues []verdict.KnownIssue
	if *known != "" {
		if issues, err = verdict.ReadKnownIssues(*known); err != nil {
			return exitUsage, fmt.Errorf("--known-issues: %w", err)
		}
	}
	baseFile, newFile := fs.Arg(0), fs.Arg(1)
	var results [2]*report.Result
	for i, p := range []string{baseFile, newFile} {
		r, err := readResult(p)
		if err != nil {
			return exitUsage, err
		}
		if *known != "" {
			if _, err := verdict.ApplyKnownIssues(r, issues); err != nil {
				return verdict.ExitInfra, err
			}
		}
		verdict.Evaluate(r)
		results[i] = r
	}
	d, err := diff.Compare(results[0], results[1], diff.Options{BaseFile: baseFile, NewFile: newFile, Pairs: pairs})
	if err != nil {
		return exitUsage, err
	}
	d.Gate(classes)

	if *markdown != "" {
		if err := atomicfile.Write(*markdown, func(f io.Writer) error { return render.WriteDiffMarkdown(f, d) }); err != nil {
			return verdict.ExitInfra, err
		}
	}
	if *jsonOut != "" {
		if err := atomicfile.Write(*jsonOut, func(f io.Writer) error { return encodeJSON(f, d) }); err != nil {
			return verdict.ExitInfra, err
		}
	}
	if *html != "" {
		dir, err := filepath.Abs(filepath.Dir(*html))
		if err != nil {
			return verdict.ExitInfra, err
		}
		opts := render.HTMLOptions{Dir: dir, Comparison: d, Title: "llconform report: " + filepath.Base(filepath.Dir(newFile))}
		if err := atomicfile.Write(*html, func(f io.Writer) error { return render.WriteHTML(f, results[1], opts) }); err != nil {
			return verdict.ExitInfra, err
		}
	}
	switch *format {
	case "markdown":
		err = render.WriteDiffMarkdown(os.Stdout, d)
	case "json":
		err = encodeJSON(os.Stdout, d)
	default:
		err = render.WriteDiff(os.Stdout, d)
	}
	if err != nil {
		return verdict.ExitInfra, err
	}
	if d.Regressions() > 0 {
		return exitRegression, nil
	}
	return exitNoRegression, nil
}

func encodeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func classNames() string { return joinClasses(diff.Classes) }

func joinClasses(cs []diff.Class) string {
	var s []string
	for _, c := range cs {
		s = append(s, string(c))
	}
	return strings.Join(s, ",")
}
