package kernel

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// bootMagicOffset is where the x86 boot protocol's setup header has its "HdrS" magic
// (Documentation/arch/x86/boot.rst: the header field at 0x202).
const bootMagicOffset = 0x202

// CheckLocal checks, for an entry with a local source, that its bzImage is a non-empty
// regular file with the x86 boot protocol's "HdrS" magic, and that its modules directory and
// config, when given, exist. A mistake there is the user's, and QEMU would otherwise report
// it only after a boot attempt, in terms that read like an infrastructure error ("No such
// file or directory", "linux kernel too old"). Entries of other sources pass.
func (e Entry) CheckLocal() error {
	l := e.Local
	if l == nil {
		return nil
	}
	if err := checkBzImage(l.BzImage); err != nil {
		return fmt.Errorf("kernel %s: %w", e.Name, err)
	}
	if l.Modules != "" {
		if st, err := os.Stat(l.Modules); err != nil {
			return fmt.Errorf("kernel %s: modules: %w", e.Name, err)
		} else if !st.IsDir() {
			return fmt.Errorf("kernel %s: modules %s: not a directory", e.Name, l.Modules)
		}
	}
	if l.Config != "" {
		if st, err := os.Stat(l.Config); err != nil {
			return fmt.Errorf("kernel %s: config: %w", e.Name, err)
		} else if !st.Mode().IsRegular() {
			return fmt.Errorf("kernel %s: config %s: not a regular file", e.Name, l.Config)
		}
	}
	return nil
}

// checkBzImage says what is wrong with p as an x86 kernel image, or nil.
func checkBzImage(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return fmt.Errorf("bzImage: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("bzImage: %w", err)
	}
	switch {
	case !st.Mode().IsRegular():
		return fmt.Errorf("bzImage %s: not a regular file (%s)", p, st.Mode().Type())
	case st.Size() == 0:
		return fmt.Errorf("bzImage %s: empty file, not a kernel image", p)
	}
	magic := make([]byte, 4)
	if _, err := f.ReadAt(magic, bootMagicOffset); err != nil {
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("bzImage %s: %d bytes, too short for an x86 boot image (no setup header at offset 0x202)", p, st.Size())
		}
		return fmt.Errorf("bzImage %s: %w", p, err)
	}
	if string(magic) != "HdrS" {
		return fmt.Errorf("bzImage %s: not an x86 boot image (no \"HdrS\" boot protocol magic at offset 0x202; found %q)", p, magic)
	}
	return nil
}
