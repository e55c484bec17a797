package conformance

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// The testdata/*-dryrun.json.gz fixtures are real dry-run reports of the suites, gzipped
// (the JSON is verbose). To regenerate them, from the module root:
//
//	go test -c -o /tmp/llconform-suites ./suites
//	for s in abi fs; do
//	  /tmp/llconform-suites -llconform.suite=$s --ginkgo.dry-run --ginkgo.seed=1 --ginkgo.json-report=/tmp/$s.json
//	  gzip -9 -n -c /tmp/$s.json > internal/conformance/testdata/$s-dryrun.json.gz
//	done

func fixture(t *testing.T, suite string) []byte {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", suite+"-dryrun.json.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func fixtureSpecs(t *testing.T) []Spec {
	t.Helper()
	var all []Spec
	for _, s := range []string{"fs", "abi"} {
		specs, err := FromDryRun(s, fixture(t, s))
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, specs...)
	}
	return all
}

func TestFromDryRun(t *testing.T) {
	abi, err := FromDryRun("abi", fixture(t, "abi"))
	if err != nil {
		t.Fatal(err)
	}
	fs, err := FromDryRun("fs", fixture(t, "fs"))
	if err != nil {
		t.Fatal(err)
	}
	if len(abi) != 313 || len(fs) != 111 {
		t.Errorf("%d abi specs, %d fs specs; want 313 and 111 as in the dry runs", len(abi), len(fs))
	}
	want := Spec{
		ID:        "fs/errata.e4.whiteout_mknod",
		Suite:     "fs",
		Feature:   "fs.whiteout",
		ABI:       1,
		Erratum:   4,
		Needs:     []string{"root"},
		Statement: "erratum 4: whiteouts MUST guard whiteout creation (mknod S_IFCHR 0:0, renameat2 RENAME_WHITEOUT) with MAKE_REG, not MAKE_CHAR, where erratum 4 is advertised",
	}
	i := slices.IndexFunc(fs, func(s Spec) bool { return s.ID == want.ID })
	if i < 0 {
		t.Fatalf("no spec %q", want.ID)
	}
	if !reflect.DeepEqual(fs[i], want) {
		t.Errorf("spec = %+v\nwant   %+v", fs[i], want)
	}

	if _, err := FromDryRun("fs", []byte("[")); err == nil || !strings.Contains(err.Error(), "conformance: suite fs") {
		t.Errorf("broken report: err = %v", err)
	}
}

func TestDocument(t *testing.T) {
	specs := fixtureSpecs(t)
	d, err := New(specs)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.IsSortedFunc(d.Specs, func(a, b Spec) int { return strings.Compare(a.ID, b.ID) }) || d.Specs[0].Suite != "abi" {
		t.Error("specs not sorted by ID")
	}
	out, err := d.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	// Deterministic: the input order does not matter.
	slices.Reverse(specs)
	d2, err := New(specs)
	if err != nil {
		t.Fatal(err)
	}
	out2, err := d2.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, out2) {
		t.Error("the same specs in another order render differently")
	}
	if !strings.HasPrefix(string(out), "# conformance.yaml: ") || !strings.Contains(string(out), "\nspecs:\n  - id: abi/") {
		t.Errorf("unexpected layout:\n%.400s", out)
	}
	if !strings.Contains(string(out), "    erratum: 4\n    needs:\n      - root\n") {
		t.Errorf("erratum and needs not rendered:\n%.400s", out)
	}
	back, err := Parse(out)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, d) {
		t.Error("Parse(Marshal(d)) differs from d")
	}

	if _, err := New(append(specs, specs[0])); err == nil || !strings.Contains(err.Error(), "appears twice") {
		t.Errorf("duplicate ID: err = %v", err)
	}
	if _, err := Parse([]byte("specs:\n  - id: x\n    stament: typo\n")); err == nil || !strings.Contains(err.Error(), "stament") {
		t.Errorf("unknown field: err = %v", err)
	}
}

func TestCheck(t *testing.T) {
	d, err := New(fixtureSpecs(t))
	if err != nil {
		t.Fatal(err)
	}
	committed, err := d.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if err := Check(committed, committed); err != nil {
		t.Errorf("identical files: %v", err)
	}

	changed := &Document{Specs: slices.Clone(d.Specs), NotApplicable: d.NotApplicable}
	added := Spec{ID: "fs/zzz MUST be new", Suite: "fs", Feature: "fs.new", ABI: 12, Statement: "zzz MUST be new"}
	removed := changed.Specs[0]
	changed.Specs = append(changed.Specs[1:], added)
	changed.Specs[0].ABI = 5
	changed.Specs[0].Statement = "changed MUST"
	changed.Specs[1].Needs = []string{"root"}
	generated, err := changed.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	err = Check(committed, generated)
	if err == nil {
		t.Fatal("no error for a changed specification")
	}
	msg := err.Error()
	for _, want := range []string{
		"conformance.yaml is out of date (4 differences); regenerate it and review:\n",
		"\n- " + removed.ID + "\n",
		fmt.Sprintf("\n~ %s: abi %d -> 5; statement %q -> \"changed MUST\"\n", d.Specs[1].ID, d.Specs[1].ABI, d.Specs[1].Statement),
		"\n~ " + d.Specs[2].ID + ": needs [] -> [root]",
		"\n+ fs/zzz MUST be new (feature fs.new, ABI 12)",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("Check message lacks %q:\n%s", want, msg)
		}
	}

	// A change of the reasons a certified run accepts is a change of the specification too.
	fewer := &Document{Specs: d.Specs, NotApplicable: d.NotApplicable[1:]}
	generated, err = fewer.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if err := Check(committed, generated); err == nil || !strings.Contains(err.Error(), "~ not_applicable: ") {
		t.Errorf("not_applicable changed: err = %v", err)
	}

	reformatted := bytes.Replace(committed, []byte("# conformance.yaml"), []byte("#  conformance.yaml"), 1)
	if err := Check(reformatted, committed); err == nil || !strings.Contains(err.Error(), "same specs, different formatting") {
		t.Errorf("formatting only: err = %v", err)
	}
	if err := Check([]byte("specs: ["), committed); err == nil || !strings.Contains(err.Error(), "committed conformance: parse") {
		t.Errorf("broken committed file: err = %v", err)
	}
}

func TestLint(t *testing.T) {
	if problems := Lint(fixtureSpecs(t)); len(problems) != 0 {
		t.Errorf("the abi and fs suites break the conventions: %v", problems)
	}
	got := Lint([]Spec{
		{ID: "scope/ptrace MUST deny", Suite: "scope", Statement: "ptrace MUST deny", ABI: 1},
		{ID: "fs/x should work", Suite: "fs", Statement: "x should work", Feature: "fs.x", ABI: 1},
		{ID: "fs/y MUST", Suite: "fs", Statement: "y MUST", Feature: "fs.y"},
		{ID: "fs/ok MUST", Suite: "fs", Statement: "ok MUST", Feature: "fs.ok", ABI: 3},
		{ID: "fs/dup #2", Suite: "fs", Statement: "dup MUST", Feature: "fs.dup", ABI: 1},
		{ID: "fs/good", Suite: "fs", Statement: "good MUST", Feature: "fs.good", ABI: 1},
	})
	want := []string{
		`scope/ptrace MUST deny: no feature label (a dotted name such as "fs.truncate")`,
		`scope/ptrace MUST deny: no stable id (spec.ID)`,
		`fs/x should work: statement has no "MUST"`,
		`fs/x should work: no stable id (spec.ID)`,
		`fs/y MUST: no "abi:N" label`,
		`fs/y MUST: no stable id (spec.ID)`,
		`fs/ok MUST: no stable id (spec.ID)`,
		`fs/dup #2: id used by another spec of the suite`,
	}
	var strs []string
	for _, p := range got {
		strs = append(strs, p.String())
	}
	if !reflect.DeepEqual(strs, want) {
		t.Errorf("Lint =\n%s\nwant\n%s", strings.Join(strs, "\n"), strings.Join(want, "\n"))
	}
}

func TestDryRun(t *testing.T) {
	dir := t.TempDir()
	// A stand-in suites binary: writes a report where Ginkgo would, after checking the flags.
	bin := filepath.Join(dir, "fake")
	script := `#!/bin/sh
[ "$1" = -llconform.suite=fs ] && [ "$2" = --ginkgo.dry-run ] && [ "$3" = --ginkgo.seed=1 ] || { echo "bad flags: $*"; exit 3; }
cp "` + filepath.Join(dir, "report.json") + `" "${4#--ginkgo.json-report=}"
`
	if err := os.WriteFile(filepath.Join(dir, "report.json"), fixture(t, "fs"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	data, err := DryRun(context.Background(), bin, "-llconform.suite=fs")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data, fixture(t, "fs")) {
		t.Error("DryRun did not return the report the binary wrote")
	}

	failing := filepath.Join(dir, "failing")
	if err := os.WriteFile(failing, []byte("#!/bin/sh\necho 'panic: no suite here'\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := DryRun(context.Background(), failing); err == nil || !strings.Contains(err.Error(), "panic: no suite here") {
		t.Errorf("failing binary: err = %v", err)
	}
}
