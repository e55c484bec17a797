package kernel

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckLocal(t *testing.T) {
	dir := t.TempDir()
	file := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	boot := make([]byte, 0x400)
	copy(boot[0x202:], "HdrS")
	good := file("bzImage", boot)
	config := file("config", []byte("CONFIG_SECURITY_LANDLOCK=y\n"))
	notBoot := make([]byte, 0x400)
	copy(notBoot, "\x1f\x8b\x08\x00")
	for _, tc := range []struct {
		name string
		l    LocalSource
		want string // empty: accepted
	}{
		{"boot image", LocalSource{BzImage: good}, ""},
		{"with modules and config", LocalSource{BzImage: good, Modules: dir, Config: config}, ""},
		{"empty", LocalSource{BzImage: file("empty", nil)}, "empty: empty file, not a kernel image"},
		{"gzip data", LocalSource{BzImage: file("random.gz", notBoot)}, `random.gz: not an x86 boot image (no "HdrS" boot protocol magic at offset 0x202; found "\x00\x00\x00\x00")`},
		{"short", LocalSource{BzImage: file("short", []byte("MZ"))}, "short: 2 bytes, too short for an x86 boot image"},
		{"missing", LocalSource{BzImage: filepath.Join(dir, "nope")}, "nope: no such file or directory"},
		{"directory", LocalSource{BzImage: dir}, "not a regular file"},
		{"modules missing", LocalSource{BzImage: good, Modules: filepath.Join(dir, "mods")}, "modules: stat"},
		{"modules a file", LocalSource{BzImage: good, Modules: config}, "not a directory"},
		{"config missing", LocalSource{BzImage: good, Config: filepath.Join(dir, "nocfg")}, "config: stat"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := tc.l
			err := Entry{Name: "k", Local: &l}.CheckLocal()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("CheckLocal = %v, want nil", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "kernel k: ")):
				t.Errorf("CheckLocal = %v, want %q", err, tc.want)
			}
		})
	}
	if err := (Entry{Name: "d", Debian: &DebianSource{Package: "p"}}).CheckLocal(); err != nil {
		t.Errorf("CheckLocal of a Debian entry = %v", err)
	}
}
