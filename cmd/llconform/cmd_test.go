package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const testKernels = `kernels:
  - name: a
    debian: {package: linux-image-a}
  - name: b
    debian: {package: linux-image-b}
  - name: c
    debian: {package: linux-image-c}
  - name: d
    debian: {package: linux-image-d}
`

func names(t *testing.T, m matrixFlags) []string {
	t.Helper()
	entries, err := m.entries()
	if err != nil {
		t.Fatalf("entries(%+v): %v", m, err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name)
	}
	return out
}

func TestMatrixSelection(t *testing.T) {
	file := filepath.Join(t.TempDir(), "kernels.yaml")
	if err := os.WriteFile(file, []byte(testKernels), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(names(t, matrixFlags{kernels: file, only: "d,b"}), ","); got != "b,d" {
		t.Errorf("--only d,b = %s, want b,d (file order)", got)
	}
	// The shards of a list must cover it exactly once, whatever n; a shard past the
	// number of kernels is empty, not an error.
	for n := 1; n <= 5; n++ {
		var all []string
		for i := 1; i <= n; i++ {
			m := matrixFlags{kernels: file, shard: fmt.Sprintf("%d/%d", i, n)}
			entries, err := m.entries()
			if err != nil {
				t.Fatalf("shard %d/%d: %v", i, n, err)
			}
			for _, e := range entries {
				all = append(all, e.Name)
			}
		}
		if len(all) != 4 || strings.Count(strings.Join(all, ","), ",") != 3 {
			t.Errorf("shards of %d cover %v, want each of a b c d once", n, all)
		}
	}
	for _, bad := range []matrixFlags{
		{kernels: file, only: "a,nope"},
		{kernels: file, shard: "0/2"},
		{kernels: file, shard: "3/2"},
		{kernels: file, shard: "x"},
		{adhoc: stringList{"ftp:foo"}},
	} {
		if _, err := bad.entries(); err == nil {
			t.Errorf("entries(%+v) succeeded, want an error", bad)
		}
	}
}
