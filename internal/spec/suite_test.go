package spec

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// Every folder of suites/ is a suite: the suites binary must link it, or its specs never
// run and nothing says so.
func TestSuitesBinaryLinksEverySuite(t *testing.T) {
	const module = "github.com/llconform/llconform/"
	f, err := parser.ParseFile(token.NewFileSet(), "../../suites/suites_test.go", nil, parser.ImportsOnly)
	if err != nil {
		t.Fatal(err)
	}
	imported := map[string]bool{}
	for _, imp := range f.Imports {
		p, _ := strconv.Unquote(imp.Path.Value)
		imported[p] = true
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
		if p := module + "suites/" + d.Name(); !imported[p] {
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
