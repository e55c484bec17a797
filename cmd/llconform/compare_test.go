package main

import (
	"context"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/llconform/llconform/internal/verdict"
)

// A file compare cannot read as a bench result is a usage error, never exit 1, which means
// a significant slowdown.
func TestCompareUnreadable(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, data, want string
	}{
		{"not JSON", "hello\n", "not an llconform benchmark result: invalid character"},
		{"other JSON", `{"hello": 1}`, `not an llconform benchmark result: no schema (want "llconform.bench/v1")`},
		{"conformance result", `{"schema": 1, "runs": []}`, "not an llconform benchmark result: json: cannot unmarshal number"},
		{"other schema", `{"schema": "llconform.bench/v9"}`, `not an llconform benchmark result: schema "llconform.bench/v9"`},
		{"empty", "", "not an llconform benchmark result: empty input"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := writeTemp(t, dir, strings.ReplaceAll(tc.name, " ", "-")+".json", []byte(tc.data))
			for _, args := range [][]string{{p, p}, {"--gate", "on", p, p}} {
				code, err := compareCmd(context.Background(), args)
				if code != exitUsage || err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), p) {
					t.Errorf("compare %v = %d, %v; want %d and an error naming the file with %q", args, code, err, exitUsage, tc.want)
				}
			}
			if code, err := plotCmd(context.Background(), []string{p}); code != exitUsage || err == nil {
				t.Errorf("plot %s = %d, %v; want %d", p, code, err, exitUsage)
			}
		})
	}
	for _, args := range [][]string{{filepath.Join(dir, "missing.json"), filepath.Join(dir, "missing.json")}, {dir, dir}} {
		if code, err := compareCmd(context.Background(), args); code != exitUsage || err == nil {
			t.Errorf("compare %v = %d, %v; want %d", args, code, err, exitUsage)
		}
	}
	// Any other failure to read is the machine's.
	eio := fmt.Errorf("read benchmark result: %w", &fs.PathError{Op: "read", Path: "x", Err: syscall.EIO})
	if got := readResultStatus(eio); got != verdict.ExitInfra {
		t.Errorf("readResultStatus(EIO) = %d, want %d", got, verdict.ExitInfra)
	}
}
