package initramfs

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/u-root/u-root/pkg/cpio"
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
