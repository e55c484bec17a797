package vm

import (
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/u-root/u-root/pkg/cpio"

	"github.com/llconform/llconform/vm/kernel"
	"github.com/llconform/llconform/vm/plan"
)

// Only the kernels whose entry asks for compat boot an initrd with the 32-bit suites, run
// after the native ones.
func TestCompatInitrd(t *testing.T) {
	dir := t.TempDir()
	// Any static binary will do as agent and suite.
	bin := filepath.Join(dir, "suite")
	cmd := exec.Command("go", "build", "-o", bin, "./testdata/suite")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	o := Options{Agent: bin, OutDir: dir,
		Suites:       []Suite{{Name: "abi", Binary: bin}},
		CompatSuites: []Suite{{Name: plan.CompatName("abi"), Binary: bin}}}
	base, err := writeBase(o, "initrd-base.cpio", o.Suites)
	if err != nil {
		t.Fatal(err)
	}
	compat, err := writeBase(o, "initrd-base-compat.cpio", slices.Concat(o.Suites, o.CompatSuites))
	if err != nil {
		t.Fatal(err)
	}
	r := newRunner(o, base, nil)
	r.compatBase = compat
	for _, tc := range []struct {
		compat bool
		want   []string
	}{{false, []string{"abi"}}, {true, []string{"abi", "abi-386"}}} {
		path, _, err := r.initrd(dir, kernel.Entry{Name: "k", Compat: tc.compat}, &kernel.Kernel{})
		if err != nil {
			t.Fatal(err)
		}
		if got := planSuites(t, path); !slices.Equal(got, tc.want) {
			t.Errorf("compat %v: plan runs %q, want %q", tc.compat, got, tc.want)
		}
	}
}

// planSuites returns the names of the suites in the plan of the initrd at path.
func planSuites(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := cpio.ReadAllRecords(cpio.Newc.Reader(f))
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range recs {
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
