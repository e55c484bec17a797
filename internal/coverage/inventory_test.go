package coverage

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/llconform/llconform/internal/spec"
)

const testTree = "testdata/linux/tools/testing/selftests/landlock"

func TestReadSelftests(t *testing.T) {
	inv, err := ReadSelftests(testTree, "")
	if err != nil {
		t.Fatal(err)
	}
	if inv.Kernel != "9.8.7-rc1" {
		t.Errorf("Kernel = %q, want the Makefile's 9.8.7-rc1", inv.Kernel)
	}
	fix := []string{"first", "second"}
	want := []Test{
		{File: "a_test", Name: "plain"},
		{File: "a_test", Name: "fix.one", Variants: fix},
		{File: "a_test", Name: "fix.two", Variants: fix},
		{File: "a_test", Name: "wrapped.three", Variants: []string{"only"}},
		{File: "a_test", Name: "fix.slow", Variants: fix},
		{File: "a_test", Name: "sig"},
		{File: "a_test", Name: "empty.four"},
		{File: "b_test", Name: "other"},
	}
	if !reflect.DeepEqual(inv.Tests, want) {
		t.Errorf("Tests =\n%+v\nwant\n%+v", inv.Tests, want)
	}
	if got := inv.Files(); !reflect.DeepEqual(got, []string{"a_test", "b_test"}) {
		t.Errorf("Files = %v", got)
	}

	inv, err = ReadSelftests(testTree, "1.2.3")
	if err != nil || inv.Kernel != "1.2.3" {
		t.Errorf("explicit version: %v, %v", inv, err)
	}
	if _, err := ReadSelftests(t.TempDir(), "1.2.3"); err == nil || !strings.Contains(err.Error(), "no *_test.c") {
		t.Errorf("empty directory: err = %v", err)
	}
	if _, err := ReadSelftests(t.TempDir(), ""); err == nil || !strings.Contains(err.Error(), "kernel version") {
		t.Errorf("outside a kernel tree: err = %v", err)
	}
}

// A macro is not expanded inside its own expansion, as in C.
func TestParseFileRecursiveMacro(t *testing.T) {
	dir := t.TempDir()
	src := "#define R TEST(r) R\nR {}\n#define A B\n#define B TEST(b) A\nA {}\n"
	if err := os.WriteFile(filepath.Join(dir, "x_test.c"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	tests, err := ParseFile(dir, "x_test.c")
	if err != nil {
		t.Fatal(err)
	}
	if want := []Test{{File: "x_test", Name: "r"}, {File: "x_test", Name: "b"}}; !reflect.DeepEqual(tests, want) {
		t.Errorf("tests = %+v, want %+v", tests, want)
	}
}

// TestParseFileErrors: whatever the parser cannot read with certainty is an error, never a
// shorter list of tests.
func TestParseFileErrors(t *testing.T) {
	cases := []struct {
		name, src, want string
	}{
		{"undefined fixture", "TEST_F(nofix, t) {}\n", "x_test.c:1: test t of fixture nofix, which the file does not define"},
		{"variant before fixture", "FIXTURE_VARIANT_ADD(f, v) {};\nFIXTURE(f) {};\n", "x_test.c:1: variant v of fixture f, which is not defined before it"},
		{"variant twice", "FIXTURE(f) {};\nFIXTURE_VARIANT_ADD(f, v) {};\nFIXTURE_VARIANT_ADD(f, v) {};\n", "x_test.c:3: variant v of fixture f defined twice"},
		{"fixture twice", "FIXTURE(f) {};\nFIXTURE(f) {};\n", "x_test.c:2: fixture f already defined at x_test.c:1"},
		{"test twice", "TEST(t) {}\n\nTEST(t) {}\n", "x_test.c:3: test t already defined at x_test.c:1"},
		{"wrong arity", "TEST_F(f) {}\n", "x_test.c:1: TEST_F takes 2 arguments, got 1"},
		{"not a name", "TEST(a b) {}\n", "x_test.c:1: TEST: argument 1 is not a name"},
		{"token pasting", "#define T(n) TEST(t_##n)\nT(x) {}\n", "x_test.c:2: macro T (defined at x_test.c:1) defines tests with # or ##"},
		{"missing include", "#include \"nowhere.h\"\n", "x_test.c:1: #include: open"},
		{"unterminated comment", "/* TEST(x)\n", "unterminated comment"},
		{"unterminated arguments", "TEST(x\n", "unterminated argument list"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "x_test.c"), []byte(c.src), 0o644); err != nil {
				t.Fatal(err)
			}
			tests, err := ParseFile(dir, "x_test.c")
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("tests %v, err = %v, want %q", tests, err, c.want)
			}
		})
	}
}

func TestInventoryRoundTrip(t *testing.T) {
	inv, err := ReadSelftests(testTree, "")
	if err != nil {
		t.Fatal(err)
	}
	data := inv.Marshal()
	if !bytes.Contains(data, []byte("\nlinux 9.8.7-rc1\na_test plain\na_test fix.one first second\n")) {
		t.Errorf("unexpected layout:\n%s", data)
	}
	back, err := ParseInventory(data, "inv.txt")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, inv) {
		t.Errorf("round trip:\n%+v\nwant\n%+v", back, inv)
	}

	for _, c := range []struct{ data, want string }{
		{"a_test plain\n", "inv.txt:1: want \"linux <version>\" before the tests"},
		{"linux 1\na_test\n", "inv.txt:2: want \"<file> <test> [variant...]\""},
		{"linux 1\na_test x y\n", "inv.txt:2: a_test:x has variants but no fixture"},
		{"linux 1\na_test f.x y-z\n", "inv.txt:2: variant \"y-z\" is not a C name"},
		{"linux 1\na_test x\n# c\na_test x\n", "inv.txt:4: a_test:x already listed on line 2"},
		{"linux 1\na_test x\nb_test y\na_test z\n", "inv.txt:4: the tests of a_test are not together"},
		{"# nothing\nlinux 1\n", "no \"linux <version>\" line or no test"},
	} {
		if _, err := ParseInventory([]byte(c.data), "inv.txt"); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseInventory(%q): err = %v, want %q", c.data, err, c.want)
		}
	}
}

// The committed inventory is the one every selftest label is checked against: its files
// are exactly those spec.Selftest accepts.
func TestCommittedInventory(t *testing.T) {
	const file = "../../docs/selftests/linux-7.3.txt"
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	inv, err := ParseInventory(data, file)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(inv.Kernel, "7.3") {
		t.Errorf("%s is of Linux %s, want 7.3", file, inv.Kernel)
	}
	if got := inv.Files(); !slices.Equal(got, spec.SelftestFiles) {
		t.Errorf("%s has the files %v; spec.SelftestFiles has %v", file, got, spec.SelftestFiles)
	}
	if !bytes.Equal(inv.Marshal(), data) {
		t.Errorf("%s is not as Marshal writes it: regenerate it", file)
	}

	// Where the kernel tree is at hand, the committed file is what the parser reads from it.
	home, _ := os.UserHomeDir()
	tree := filepath.Join(home, ".cache/llconform/lying/linux-source-7.3/tools/testing/selftests/landlock")
	if _, err := os.Stat(tree); err != nil {
		t.Skipf("no Linux 7.3 source at %s: the comparison with the parser's reading is skipped", tree)
	}
	fresh, err := ReadSelftests(tree, "")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(fresh.Marshal(), data) {
		t.Errorf("%s differs from what the parser reads in %s", file, tree)
	}
}
