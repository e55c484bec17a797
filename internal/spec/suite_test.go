package spec

import (
	"go/build"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// Every folder of suites/ is a suite: the suites binary must link it, or its specs never
// run and nothing says so.
func TestSuitesBinaryLinksEverySuite(t *testing.T) {
	bin, err := build.ImportDir("../../suites", 0)
	if err != nil {
		t.Fatal(err)
	}
	dirs, err := os.ReadDir("../../suites")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, d := range dirs {
		if !d.IsDir() {
			continue
		}
		n++
		if p := "github.com/llconform/llconform/suites/" + d.Name(); !slices.Contains(bin.XTestImports, p) {
			t.Errorf("suites/suites_test.go does not import %s: its specs are not in the suites binary", p)
		}
		if _, err := os.Stat(filepath.Join("../../suites", d.Name(), "suite.go")); err != nil {
			t.Errorf("suites/%s has no suite.go registering it (spec.NewSuite): %v", d.Name(), err)
		}
	}
	if n == 0 {
		t.Error("no suite folder found")
	}
}
