package initramfs

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/u-root/u-root/pkg/cpio"
	"github.com/ulikunitz/xz"
)

func TestResolve(t *testing.T) {
	deps := map[string][]string{
		"sctp":           {"libcrc32c", "udp_tunnel", "ip6_udp_tunnel"},
		"libcrc32c":      nil,
		"udp_tunnel":     nil,
		"ip6_udp_tunnel": {"udp_tunnel"},
		"smc":            {"ib_core"},
		"overlay":        nil,
		"ib_core":        nil,
		"virtio_console": nil,
	}
	lookup := func(n string) ([]string, bool, error) {
		d, ok := deps[n]
		return d, ok, nil
	}
	order, missing, err := Resolve([]string{"sctp", "overlay", "smc", "nope", "ip6-udp-tunnel"}, lookup)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"libcrc32c", "udp_tunnel", "ip6_udp_tunnel", "sctp", "overlay", "ib_core", "smc"}
	if !reflect.DeepEqual(order, want) {
		t.Errorf("order = %v, want %v", order, want)
	}
	if !reflect.DeepEqual(missing, []string{"nope"}) {
		t.Errorf("missing = %v", missing)
	}
}

func TestResolveCycle(t *testing.T) {
	deps := map[string][]string{"a": {"b"}, "b": {"c"}, "c": {"a"}}
	_, _, err := Resolve([]string{"a"}, func(n string) ([]string, bool, error) { return deps[n], true, nil })
	if err == nil || !strings.Contains(err.Error(), "a -> b -> c -> a") {
		t.Errorf("err = %v", err)
	}
}

func TestParseDepends(t *testing.T) {
	info := []byte("license=GPL\x00depends=libcrc32c,udp_tunnel\x00intree=Y\x00name=sctp\x00")
	if got := parseDepends(info); !reflect.DeepEqual(got, []string{"libcrc32c", "udp_tunnel"}) {
		t.Errorf("got %v", got)
	}
	if got := parseDepends([]byte("depends=\x00name=overlay\x00")); got != nil {
		t.Errorf("got %v, want none", got)
	}
}

// TestWriteBase checks the archive the kernel will unpack: parents before
// children, the agent at /init, and a trailer that ends on a 4-byte
// boundary so that a second archive can follow.
func TestWriteBase(t *testing.T) {
	exe := filepath.Join(t.TempDir(), "suite")
	cmd := exec.Command("go", "build", "-o", exe, "../testdata/suite")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	var b bytes.Buffer
	if err := WriteBase(&b, exe, []byte(`{"suites":[]}`), []File{{Src: exe, Dest: "/suites/x.test"}}); err != nil {
		t.Fatal(err)
	}
	if b.Len()%4 != 0 {
		t.Errorf("archive length %d not a multiple of 4", b.Len())
	}
	recs, err := cpio.ReadAllRecords(cpio.Newc.Reader(bytes.NewReader(b.Bytes())))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, r := range recs {
		if d := filepath.Dir(r.Name); d != "." && !seen[d] {
			t.Errorf("%s before its parent %s", r.Name, d)
		}
		seen[r.Name] = true
	}
	for _, n := range []string{"init", "suites/x.test", "llconform/plan.json", "dev/console", "etc/passwd"} {
		if !seen[n] {
			t.Errorf("%s missing", n)
		}
	}
	// The executables are read from their files as the archive is written: whole.
	want, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if r.Name != "init" && r.Name != "suites/x.test" {
			continue
		}
		got, err := io.ReadAll(io.NewSectionReader(r.ReaderAt, 0, int64(r.FileSize)))
		if err != nil || !bytes.Equal(got, want) || r.Mode != cpio.S_IFREG|0o755 {
			t.Errorf("%s: %d bytes, mode %o, %v; want the %d bytes of %s, mode %o", r.Name, len(got), r.Mode, err, len(want), exe, cpio.S_IFREG|0o755)
		}
	}
	// Parents made for the records are 0755 and "." is not one of them: it would chmod the
	// guest's root directory.
	modes := map[string]uint64{}
	for _, r := range recs {
		modes[r.Name] = r.Mode
	}
	if _, ok := modes["."]; ok {
		t.Error(`"." in the archive`)
	}
	for name, want := range map[string]uint64{"llconform": 0o755, "lib": 0o755, "lib/modules": 0o755, "tmp": 0o1777, "proc": 0o555} {
		if got := modes[name]; got != cpio.S_IFDIR|want {
			t.Errorf("%s: mode %o, want %o", name, got, cpio.S_IFDIR|want)
		}
	}
}

func TestWriteArchive(t *testing.T) {
	var b bytes.Buffer
	err := writeArchive(&b, []cpio.Record{
		cpio.StaticFile("a/b/c", "x", 0o644),
		cpio.Directory("d", 0o700),
		cpio.StaticFile("/d/e", "y", 0o600),
	})
	if err != nil {
		t.Fatal(err)
	}
	recs, err := cpio.ReadAllRecords(cpio.Newc.Reader(bytes.NewReader(b.Bytes())))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range recs {
		got = append(got, fmt.Sprintf("%s %o", r.Name, r.Mode))
	}
	want := []string{"a 40755", "a/b 40755", "a/b/c 100644", "d 40700", "d/e 100600"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("archive = %v, want %v", got, want)
	}
	err = writeArchive(&bytes.Buffer{}, []cpio.Record{cpio.StaticFile("s/x", "1", 0o755), cpio.StaticFile("/s/x", "2", 0o755)})
	if err == nil || !strings.Contains(err.Error(), `"s/x" already in the archive`) {
		t.Errorf("a file written twice: err = %v", err)
	}
}

// readModule decompresses what Debian ships: plain, xz (up to 7.x) and zstd modules.
func TestReadModule(t *testing.T) {
	dir := t.TempDir()
	elf := bytes.Repeat([]byte("\x7fELF module "), 1000)
	var x, z, g bytes.Buffer
	xw, err := xz.NewWriter(&x)
	if err != nil {
		t.Fatal(err)
	}
	zw, err := zstd.NewWriter(&z)
	if err != nil {
		t.Fatal(err)
	}
	gw := gzip.NewWriter(&g)
	for _, w := range []io.WriteCloser{xw, zw, gw} {
		if _, err := w.Write(elf); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	for name, b := range map[string][]byte{"m.ko": elf, "m.ko.xz": x.Bytes(), "m.ko.zst": z.Bytes(), "m.ko.gz": g.Bytes()} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := readModule(p)
		if err != nil || !bytes.Equal(got, elf) {
			t.Errorf("%s: %d bytes, %v", name, len(got), err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "bad.ko.xz"), []byte("not xz"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := readModule(filepath.Join(dir, "bad.ko.xz")); err == nil || !strings.Contains(err.Error(), "decompress") {
		t.Errorf("corrupt module: err = %v", err)
	}
}

func TestRejectDynamic(t *testing.T) {
	const dyn = "/bin/sh"
	if _, err := os.Stat(dyn); err != nil {
		t.Skip(dyn + " not found")
	}
	err := WriteBase(&bytes.Buffer{}, dyn, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "dynamically linked") {
		t.Errorf("err = %v", err)
	}
}
