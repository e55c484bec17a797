package vm

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/u-root/u-root/pkg/cpio"

	"github.com/llconform/llconform/vm/kernel"
	"github.com/llconform/llconform/vm/plan"
)

// Only the kernels whose entry asks for compat boot an initrd with the 32-bit suites, run
// after the native ones.
func TestCompatInitrd(t *testing.T) {
	dir := t.TempDir()
	// Any static binary will do as agent, suites binary and helper.
	bin := filepath.Join(dir, plan.SuitesName)
	cmd := exec.Command("go", "build", "-o", bin, "./testdata/suite")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	helper := filepath.Join(dir, "helper")
	if err := os.Link(bin, helper); err != nil {
		t.Fatal(err)
	}
	// Two suites of one binary: the guest carries it once.
	o := Options{Agent: bin, OutDir: dir,
		Suites: []Suite{{Name: "abi", Binary: bin}, {Name: "fs", Binary: bin}}, Helper: helper,
		CompatSuites: []Suite{{Name: plan.CompatName("abi"), Binary: bin}, {Name: plan.CompatName("fs"), Binary: bin}}, CompatHelper: helper}
	bases := map[string]string{}
	for _, e := range []kernel.Entry{{Name: "k"}, {Name: "k", Compat: true}} {
		base, err := writeBase(o, "amd64", e.Compat)
		if err != nil {
			t.Fatal(err)
		}
		bases[baseKey(e)] = base
	}
	r := newRunner(o, bases, nil)
	for _, tc := range []struct {
		compat bool
		want   []string
		files  []string
	}{
		{false, []string{"abi", "fs"}, []string{"suites/llconform-suites", "suites/helper"}},
		// The 32-bit suites have their own binary and helper beside them.
		{true, []string{"abi", "fs", "abi-386", "fs-386"}, []string{"suites/llconform-suites", "suites/helper", "suites/386/llconform-suites", "suites/386/helper"}},
	} {
		path, _, err := r.initrd(dir, kernel.Entry{Name: "k", Compat: tc.compat}, &kernel.Kernel{})
		if err != nil {
			t.Fatal(err)
		}
		if got := planSuites(t, path); !slices.Equal(got, tc.want) {
			t.Errorf("compat %v: plan runs %q, want %q", tc.compat, got, tc.want)
		}
		if got := archiveFiles(t, path, "suites/"); !slices.Equal(got, tc.files) {
			t.Errorf("compat %v: initrd holds %q, want %q", tc.compat, got, tc.files)
		}
	}
}

// readInitrd returns the records of the initrd at path.
func readInitrd(t *testing.T, path string) []cpio.Record {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// In memory: the records read their contents through the reader afterwards.
	recs, err := cpio.ReadAllRecords(cpio.Newc.Reader(bytes.NewReader(b)))
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// archiveFiles returns the regular files of the initrd at path whose names start with prefix.
func archiveFiles(t *testing.T, path, prefix string) []string {
	t.Helper()
	var names []string
	for _, rec := range readInitrd(t, path) {
		if strings.HasPrefix(rec.Name, prefix) && rec.Mode&cpio.S_IFMT == cpio.S_IFREG {
			names = append(names, rec.Name)
		}
	}
	return names
}

// planSuites returns the names of the suites in the plan of the initrd at path.
func planSuites(t *testing.T, path string) []string {
	t.Helper()
	for _, rec := range readInitrd(t, path) {
		if "/"+rec.Name != plan.Path {
			continue
		}
		b, err := io.ReadAll(io.NewSectionReader(rec.ReaderAt, 0, int64(rec.FileSize)))
		if err != nil {
			t.Fatal(err)
		}
		var p plan.Plan
		if err := json.Unmarshal(b, &p); err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, s := range p.Suites {
			names = append(names, s.Name)
		}
		return names
	}
	t.Fatalf("%s has no %s", path, plan.Path)
	return nil
}
