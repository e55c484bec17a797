package outdir

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestDescribeHolder(t *testing.T) {
	for in, want := range map[string]string{
		"42\nllconform matrix --out x\n": "pid 42 (llconform matrix --out x)",
		"42\n":                           "pid 42",
		"":                               "another llconform run",
	} {
		if got := describeHolder([]byte(in)); got != want {
			t.Errorf("describeHolder(%q) = %q, want %q", in, got, want)
		}
	}
}

// boot writes a boot's console log into run d.
func boot(t *testing.T, d *Dir, name, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(d.Run, name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d.Run, name, "console.log"), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func read(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		return "error: " + err.Error()
	}
	return string(b)
}

func runs(t *testing.T, out string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(out, RunsDir))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// A run's boots are reachable as <out>/<name> once it completes; an interrupted run leaves
// them as they were, keeps its own files beside them, and the next complete run replaces
// both.
func TestPublish(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	// Before runs had their own directories, a boot's files were written in <out>/<name>.
	if err := os.MkdirAll(filepath.Join(out, "k1"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(out, "k1", "console.log"), []byte("old layout"), 0o644)

	first, err := Open(out)
	if err != nil {
		t.Fatal(err)
	}
	boot(t, first, "k1", "first k1")
	boot(t, first, "k2", "first k2")
	if err := first.Publish(true); err != nil {
		t.Fatal(err)
	}
	first.Close()
	if got := read(t, filepath.Join(out, "k1", "console.log")); got != "first k1" {
		t.Errorf("after a complete run, k1/console.log = %q", got)
	}

	interrupted, err := Open(out)
	if err != nil {
		t.Fatal(err)
	}
	if interrupted.Run == first.Run {
		t.Fatalf("two runs share %s", first.Run)
	}
	boot(t, interrupted, "k1", "interrupted k1")
	if err := interrupted.Publish(false); err != nil {
		t.Fatal(err)
	}
	interrupted.Close()
	if got := read(t, filepath.Join(out, "k1", "console.log")); got != "first k1" {
		t.Errorf("an interrupted run replaced k1/console.log: %q", got)
	}
	if got := read(t, filepath.Join(interrupted.Run, "k1", "console.log")); got != "interrupted k1" {
		t.Errorf("the interrupted run's own log: %q", got)
	}

	// A run killed before it could publish leaves a directory the next run removes.
	killed, err := Open(out)
	if err != nil {
		t.Fatal(err)
	}
	boot(t, killed, "k1", "killed")
	killed.Close()

	second, err := Open(out)
	if err != nil {
		t.Fatal(err)
	}
	boot(t, second, "k1", "second k1")
	if err := second.Publish(true); err != nil {
		t.Fatal(err)
	}
	second.Close()
	if got := read(t, filepath.Join(out, "k1", "console.log")); got != "second k1" {
		t.Errorf("after the second complete run, k1/console.log = %q", got)
	}
	if _, err := os.Lstat(filepath.Join(out, "k2")); !os.IsNotExist(err) {
		t.Errorf("k2, not in the last complete run, is still linked (%v)", err)
	}
	if got, want := runs(t, out), []string{filepath.Base(second.Run)}; !slices.Equal(got, want) {
		t.Errorf("runs = %v, want %v", got, want)
	}
}

// A directory at a boot's name that llconform did not write is never removed.
func TestPublishRefusesForeignDirectory(t *testing.T) {
	out := t.TempDir()
	os.MkdirAll(filepath.Join(out, "k1"), 0o755)
	os.WriteFile(filepath.Join(out, "k1", "thesis.tex"), []byte("mine"), 0o644)
	d, err := Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	boot(t, d, "k1", "x")
	if err := d.Publish(true); err == nil || !strings.Contains(err.Error(), "is not llconform's") {
		t.Errorf("Publish = %v, want a refusal", err)
	}
	if got := read(t, filepath.Join(out, "k1", "thesis.tex")); got != "mine" {
		t.Errorf("thesis.tex = %q", got)
	}
}
