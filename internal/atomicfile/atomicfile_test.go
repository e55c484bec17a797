package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	if err := Write(p, func(w io.Writer) error { _, err := io.WriteString(w, "one"); return err }); err != nil {
		t.Fatal(err)
	}
	// A failed write leaves the earlier file as it was, and no temporary file behind.
	boom := errors.New("boom")
	err := Write(p, func(w io.Writer) error { io.WriteString(w, "tw"); return boom })
	if !errors.Is(err, boom) {
		t.Errorf("failed write: %v, want it wrapped", err)
	}
	if b, err := os.ReadFile(p); err != nil || string(b) != "one" {
		t.Errorf("after a failed write: %q, %v; want the earlier %q", b, err, "one")
	}
	if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("mode: %v, %v; want 0644", fi.Mode(), err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("directory holds %d entries, want the file alone", len(ents))
	}
}
