package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/llconform/llconform/internal/report"
	"github.com/llconform/llconform/internal/verdict"
)

func writeTemp(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// Every bad input is a usage error (64) found before any work: the suites directory of
// these runs does not exist, so a run that went on to look for its suites, download or boot
// would end with exit 2 instead.
func TestBadInputsBeforeWork(t *testing.T) {
	dir := t.TempDir()
	kernels := writeTemp(t, dir, "kernels.yaml", []byte(testKernels))
	badKnown := writeTemp(t, dir, "bad-known.yaml", []byte("not: [valid\n"))
	typoKnown := writeTemp(t, dir, "typo-known.yaml", []byte("- spec: abi/x\n  kernal: '*'\n  reason: r\n"))
	empty := writeTemp(t, dir, "empty.bzImage", nil)
	random := writeTemp(t, dir, "random.gz", []byte("\x1f\x8b\x08\x00"+strings.Repeat("\xa5\x5a", 600)))
	notResult := writeTemp(t, dir, "not-a-result.json", []byte(`{"kernels": []}`))
	noSuites := filepath.Join(dir, "no-suites")
	out := filepath.Join(dir, "out")
	for _, tc := range []struct {
		name string
		cmd  func(context.Context, []string) (int, error)
		args []string
		want string
	}{
		{"run known-issues syntax", runCmd, []string{"--known-issues", badKnown}, "--known-issues: "},
		{"run known-issues key", runCmd, []string{"--known-issues", typoKnown}, `unknown key "kernal"`},
		{"run known-issues missing", runCmd, []string{"--known-issues", filepath.Join(dir, "nope.yaml")}, "no such file"},
		{"run label filter", runCmd, []string{"--label-filter", "((("}, `--label-filter "(((": Mismatched '('`},
		{"run focus", runCmd, []string{"--focus", "fs("}, `--focus "fs("`},
		{"matrix known-issues", matrixCmd, []string{"--kernels", kernels, "--known-issues", badKnown}, "--known-issues: "},
		{"matrix label filter", matrixCmd, []string{"--kernels", kernels, "--label-filter", "((("}, `--label-filter "(((": Mismatched '('`},
		{"matrix label filter abi", matrixCmd, []string{"--kernels", kernels, "--label-filter", "abi<=2 &&"}, `--label-filter "abi<=2 &&": Unexpected EOF`},
		{"matrix shard suffix", matrixCmd, []string{"--kernels", kernels, "--shard", "1/3x"}, `--shard "1/3x"`},
		{"matrix empty bzImage", matrixCmd, []string{"--kernel", "file:" + empty}, "empty.bzImage: empty file, not a kernel image"},
		{"matrix random bzImage", matrixCmd, []string{"--kernel", "file:" + random}, `not an x86 boot image (no "HdrS" boot protocol magic at offset 0x202`},
		{"matrix missing bzImage", matrixCmd, []string{"--kernel", "file:" + filepath.Join(dir, "nope")}, "no such file"},
		{"run timeout", runCmd, []string{"--timeout", "-1s"}, "--timeout -1s: want a positive duration"},
		{"run json dir", runCmd, []string{"--json", filepath.Join(dir, "nope", "r.json")}, "--json: cannot write"},
		{"run json is a directory", runCmd, []string{"--json", dir}, "is a directory"},
		{"matrix jobs", matrixCmd, []string{"--kernels", kernels, "--jobs", "0"}, "--jobs 0: want at least 1"},
		{"matrix suite timeout", matrixCmd, []string{"--kernels", kernels, "--suite-timeout", "0"}, "--suite-timeout 0s: want a positive duration"},
		{"matrix kcidb dir", matrixCmd, []string{"--kernels", kernels, "--kcidb", filepath.Join(dir, "nope", "k.json")}, "--kcidb: cannot write"},
		{"matrix bench scenarios", matrixCmd, []string{"--kernels", kernels, "--bench", "--bench-scenarios", "Nope"}, `--bench-scenarios: bench: no scenario "Nope"`},
		{"matrix cache", matrixCmd, []string{"--kernels", kernels, "--cache", filepath.Join(empty, "cache")}, "--cache: mkdir"},
		{"run baseline missing", runCmd, []string{"--baseline", filepath.Join(dir, "nope.json")}, "--baseline: read result: open"},
		{"run baseline not a result", runCmd, []string{"--baseline", notResult}, "--baseline: " + notResult + ": not an llconform result"},
		{"run gate without baseline", runCmd, []string{"--gate", "skip"}, "--gate goes with --baseline"},
		{"matrix baseline missing", matrixCmd, []string{"--kernels", kernels, "--baseline", filepath.Join(dir, "nope.json")}, "--baseline: read result: open"},
		{"matrix baseline directory", matrixCmd, []string{"--kernels", kernels, "--baseline", dir}, "--baseline: " + dir + ": not an llconform result"},
		{"matrix baseline not a result", matrixCmd, []string{"--kernels", kernels, "--baseline", notResult}, "not an llconform result"},
		{"matrix baseline bad gate", matrixCmd, []string{"--kernels", kernels, "--baseline", notResult, "--gate", "speed"}, `--gate: unknown class "speed"`},
		{"matrix kernel named runs", matrixCmd, []string{"--kernels", writeTemp(t, dir, "runs.yaml", []byte("kernels:\n  - name: runs\n    local: {bzimage: /x}\n"))}, `kernel name "runs" is reserved`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"--suites", noSuites, "--out", out}, tc.args...)
			code, err := tc.cmd(context.Background(), args)
			if code != exitUsage || err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%v = %d, %v; want %d, an error containing %q", args, code, err, exitUsage, tc.want)
			}
			if err != nil && strings.ContainsAny(err.Error(), "\x1b{}") {
				t.Errorf("error has colour codes or markup: %q", err)
			}
		})
	}
	if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused run created %s (%v)", out, err)
	}
}

func TestFilterValidation(t *testing.T) {
	for _, tc := range []struct {
		f    filters
		want string // empty: valid
	}{
		{filters{label: "fs && abi<=2"}, ""},
		{filters{label: "!needs:root && (net || scope)"}, ""},
		{filters{focus: "truncate|ioctl"}, ""},
		{filters{label: "((("}, `--label-filter "(((": Mismatched '(' - could not find matching ')'.`},
		{filters{label: "fs ||| net"}, `--label-filter "fs ||| net": Invalid token '|'. Did you mean '||'?`},
		{filters{label: "fs &&"}, `--label-filter "fs &&": Unexpected EOF.`},
		{filters{label: "abi<0"}, "selects no ABI"},
		{filters{focus: "["}, `--focus "[": error parsing regexp`},
	} {
		err := tc.f.expand()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("expand(%+v) = %v, want valid", tc.f, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("expand(%+v) = %v, want %q", tc.f, err, tc.want)
		case err != nil && strings.ContainsAny(err.Error(), "\x1b{}\n"):
			t.Errorf("expand(%+v) = %q: not one plain line", tc.f, err)
		}
	}
}

func TestParseShard(t *testing.T) {
	for _, tc := range []struct {
		in   string
		i, n int
	}{{"1/1", 1, 1}, {"2/3", 2, 3}, {"3/3", 3, 3}, {"10/12", 10, 12}} {
		i, n, err := parseShard(tc.in)
		if err != nil || i != tc.i || n != tc.n {
			t.Errorf("parseShard(%q) = %d, %d, %v; want %d, %d", tc.in, i, n, err, tc.i, tc.n)
		}
	}
	for _, bad := range []string{"", "1/3x", "x1/3", "1/3/", "1/ 3", " 1/3", "1 /3", "+1/3", "-1/3", "1/-3",
		"0/2", "3/2", "0/0", "1/0", "1", "1/", "/3", "1.0/3", "1/3\n", "1:3", "99999999999999999999/99999999999999999999"} {
		if i, n, err := parseShard(bad); err == nil {
			t.Errorf("parseShard(%q) = %d, %d, want an error", bad, i, n)
		} else if !strings.Contains(err.Error(), "want i/n") {
			t.Errorf("parseShard(%q): %v, want it to say the syntax", bad, err)
		}
	}
}

// A shard past the number of kernels exits 0 with a result that has no run, which report
// merge takes beside the other shards' results.
func TestEmptyShard(t *testing.T) {
	dir := t.TempDir()
	kernels := writeTemp(t, dir, "kernels.yaml", []byte(testKernels))
	out := filepath.Join(dir, "shard6")
	code, err := matrixCmd(context.Background(), []string{"--kernels", kernels, "--suites", filepath.Join(dir, "no-suites"), "--shard", "6/6", "--out", out})
	if code != verdict.ExitPass || err != nil {
		t.Fatalf("matrix --shard 6/6 of 4 kernels = %d, %v; want 0, nil", code, err)
	}
	f, err := os.Open(filepath.Join(out, "result.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := report.Decode(f)
	if err != nil {
		t.Fatalf("empty shard's result.json: %v", err)
	}
	if len(res.Runs) != 0 {
		t.Errorf("empty shard's result has %d runs", len(res.Runs))
	}
	other := &report.Result{Schema: report.Schema, Generator: generator, Runs: []report.Run{{Kernel: report.Kernel{Name: "a"}}}}
	if merged, err := report.Merge(other, res); err != nil || len(merged.Runs) != 1 {
		t.Errorf("merge with the empty shard = %v, %v; want the other shard's one run", merged, err)
	}
}

// A bench option it would refuse is a usage error found before any measurement (which takes
// seconds at least), not the exit status 1 of a failed measurement.
func TestBenchBadInputs(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--scenarios", "Nope"}, `no scenario "Nope"`},
		{[]string{"--cpu", "x"}, `CPU "x" is not auto, none or a CPU number`},
		{[]string{"--samples", "3"}, "3 samples, need at least 10"},
		{[]string{"--speed-gate", "-1"}, "speed gate -1%"},
		{[]string{"--inject-slowdown", "-5"}, "injected slowdown -5%"},
		{[]string{"extra"}, `unexpected arguments ["extra"]`},
	} {
		code, err := benchCmd(context.Background(), append([]string{"--out", out}, tc.args...))
		if code != exitUsage || err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("bench %v = %d, %v; want %d, an error containing %q", tc.args, code, err, exitUsage, tc.want)
		}
	}
	if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused bench created %s (%v)", out, err)
	}
}

// The other commands' inputs: a file named on the command line that is missing or not
// what the command reads is a usage error, as is an argument a command does not take.
func TestOtherCommandsBadInputs(t *testing.T) {
	dir := t.TempDir()
	bad := writeTemp(t, dir, "bad.json", []byte("{"))
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"report", "show", filepath.Join(dir, "nope.json")}, "no such file"},
		{[]string{"report", "show", bad}, "not an llconform result"},
		{[]string{"report", "merge", "-o", filepath.Join(dir, "m.json"), bad}, "not an llconform result"},
		{[]string{"report", "merge", "-o", filepath.Join(dir, "nope", "m.json"), bad}, "-o: cannot write"},
		{[]string{"kernels", "extra"}, `unexpected arguments ["extra"]`},
		{[]string{"specs", "--check", filepath.Join(dir, "nope.yaml")}, "--check: stat"},
		{[]string{"specs", "extra"}, "unexpected arguments [extra]"},
	} {
		code, err := dispatch(context.Background(), tc.args)
		if code != exitUsage || err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v = %d, %v; want %d, an error containing %q", tc.args, code, err, exitUsage, tc.want)
		}
	}
}
