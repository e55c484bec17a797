package main

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/llconform/llconform/"

// Every suite's actions must be in the helper, and only actions packages register them:
// an action registered in a suite package itself exists in the suite binary but not in the
// helper, which Start prefers, so its specs would fail with "unknown action".
func TestHelperLinksEveryActionsPackage(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "main.go", nil, parser.ImportsOnly)
	if err != nil {
		t.Fatal(err)
	}
	imported := map[string]bool{}
	for _, imp := range f.Imports {
		p, _ := strconv.Unquote(imp.Path.Value)
		imported[p] = true
	}
	dirs, err := filepath.Glob("../../suites/*/actions")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		p := module + strings.TrimPrefix(filepath.ToSlash(d), "../../")
		if !imported[p] {
			t.Errorf("main.go does not import %s: its actions are missing from the helper", p)
		}
	}
	tests, err := filepath.Glob("../../suites/*/*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, tf := range tests {
		b, err := os.ReadFile(tf)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), "sandbox.Register(") {
			t.Errorf("%s registers a sandbox action: move it to the suite's actions package", strings.TrimPrefix(tf, "../../"))
		}
	}
}
