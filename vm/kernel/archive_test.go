package kernel

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// tarEntry is one file of a test package: a regular file (body), a directory (dir), a
// symbolic link (link) or a hard link (hard, the target's path).
type tarEntry struct {
	name, body, link, hard string
	dir                    bool
}

func tarball(t *testing.T, entries []tarEntry) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: 0o644, ModTime: time.Unix(1700000000, 0)}
		switch {
		case e.dir:
			h.Typeflag, h.Mode = tar.TypeDir, 0o755
		case e.link != "":
			h.Typeflag, h.Linkname = tar.TypeSymlink, e.link
		case e.hard != "":
			h.Typeflag, h.Linkname = tar.TypeLink, e.hard
		default:
			h.Typeflag, h.Size = tar.TypeReg, int64(len(e.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write([]byte(e.body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// makeDeb builds a .deb (ar: debian-binary, control.tar.gz, data.tar.<comp>).
func makeDeb(t *testing.T, comp string, entries []tarEntry) []byte {
	t.Helper()
	data := tarball(t, entries)
	var cb bytes.Buffer
	switch comp {
	case "xz":
		w, err := xz.NewWriter(&cb)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data)
		w.Close()
	case "zst":
		w, err := zstd.NewWriter(&cb)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data)
		w.Close()
	case "gz":
		w := gzip.NewWriter(&cb)
		w.Write(data)
		w.Close()
	}
	var control bytes.Buffer
	gw := gzip.NewWriter(&control)
	gw.Write(tarball(t, []tarEntry{{name: "./control", body: "Package: test\n"}}))
	gw.Close()
	var b bytes.Buffer
	b.WriteString("!<arch>\n")
	member := func(name string, body []byte) {
		fmt.Fprintf(&b, "%-16s%-12d%-6d%-6d%-8s%-10d`\n", name, 1700000000, 0, 0, "100644", len(body))
		b.Write(body)
		if len(body)%2 == 1 {
			b.WriteByte('\n')
		}
	}
	member("debian-binary", []byte("2.0\n"))
	member("control.tar.gz", control.Bytes())
	member("data.tar."+comp, cb.Bytes())
	return b.Bytes()
}

const testRelease = "7.9.0-1-cloud-amd64"

func kernelEntries() []tarEntry {
	return []tarEntry{
		{name: "./", dir: true},
		{name: "./boot/", dir: true},
		{name: "./boot/vmlinuz-" + testRelease, body: "not really a kernel"},
		{name: "./boot/config-" + testRelease, body: "CONFIG_SECURITY_LANDLOCK=y\n"},
		{name: "./lib/modules/" + testRelease + "/kernel/net/sctp/sctp.ko", body: "sctp"},
		{name: "./lib/modules/" + testRelease + "/kernel/net/sctp/sctp-again.ko", hard: "./lib/modules/" + testRelease + "/kernel/net/sctp/sctp.ko"},
		{name: "./lib/modules/" + testRelease + "/build", link: "/usr/src/linux-headers-" + testRelease},
	}
}

func TestExtractDeb(t *testing.T) {
	for _, comp := range []string{"xz", "zst", "gz"} {
		t.Run(comp, func(t *testing.T) {
			dir := t.TempDir()
			deb := filepath.Join(dir, "k.deb")
			if err := os.WriteFile(deb, makeDeb(t, comp, kernelEntries()), 0o644); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(dir, "tree")
			if err := os.Mkdir(out, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := extractDeb(deb, out); err != nil {
				t.Fatal(err)
			}
			mod := filepath.Join(out, "lib/modules", testRelease, "kernel/net/sctp")
			for p, want := range map[string]string{
				filepath.Join(out, "boot/vmlinuz-"+testRelease): "not really a kernel",
				filepath.Join(mod, "sctp-again.ko"):             "sctp",
			} {
				if b, err := os.ReadFile(p); err != nil || string(b) != want {
					t.Errorf("%s: %q, %v", p, b, err)
				}
			}
			if l, err := os.Readlink(filepath.Join(out, "lib/modules", testRelease, "build")); err != nil || l != "/usr/src/linux-headers-"+testRelease {
				t.Errorf("symlink: %q, %v", l, err)
			}
			if _, err := exec.LookPath("dpkg-deb"); err == nil {
				// The same tree as dpkg-deb -x makes.
				ref := filepath.Join(dir, "ref")
				if out, err := exec.Command("dpkg-deb", "-x", deb, ref).CombinedOutput(); err != nil {
					t.Fatalf("dpkg-deb: %v\n%s", err, out)
				}
				if err := writeManifest(ref); err != nil {
					t.Fatal(err)
				}
				if err := writeManifest(out); err != nil {
					t.Fatal(err)
				}
				a, _ := os.ReadFile(filepath.Join(ref, manifestName))
				b, _ := os.ReadFile(filepath.Join(out, manifestName))
				if !bytes.Equal(a, b) {
					t.Errorf("manifests differ:\ndpkg-deb:\n%s\nllconform:\n%s", a, b)
				}
			}
		})
	}
}

func TestExtractDebRefusesEscapes(t *testing.T) {
	for name, entries := range map[string][]tarEntry{
		"dot-dot":          {{name: "./../evil", body: "x"}},
		"through symlink":  {{name: "./boot", link: "/tmp"}, {name: "./boot/evil", body: "x"}},
		"hard link out":    {{name: "./a", hard: "../../etc/passwd"}},
		"nested dot-dot":   {{name: "./a/../../evil", body: "x"}},
		"symlink dir then": {{name: "./lib", link: ".."}, {name: "./lib/evil", body: "x"}},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			deb := filepath.Join(dir, "k.deb")
			if err := os.WriteFile(deb, makeDeb(t, "gz", entries), 0o644); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(dir, "a", "tree")
			if err := os.MkdirAll(out, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := extractDeb(deb, out); err == nil {
				t.Error("no error")
			}
			for _, p := range []string{filepath.Join(dir, "a", "evil"), filepath.Join(dir, "evil")} {
				if _, err := os.Stat(p); err == nil {
					t.Errorf("%s was written", p)
				}
			}
		})
	}
	dir := t.TempDir()
	notDeb := filepath.Join(dir, "x.deb")
	os.WriteFile(notDeb, []byte("hello"), 0o644)
	if err := extractDeb(notDeb, dir); err == nil || !strings.Contains(err.Error(), "not a Debian package") {
		t.Errorf("not a deb: %v", err)
	}
}

// testMirror serves a one-suite Debian archive signed with a test key, with what tests
// tamper with.
type testMirror struct {
	mu       sync.Mutex
	files    map[string][]byte
	requests []string
}

func (m *testMirror) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.requests = append(m.requests, r.URL.Path)
	b, ok := m.files[r.URL.Path]
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Write(b)
}

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

const testSuite = "forky"

// newTestMirror returns a mirror of suite forky with one kernel package, the keyring file
// that verifies it, and the .deb's pool path.
func newTestMirror(t *testing.T, now time.Time) (*testMirror, *httptest.Server, string, string) {
	t.Helper()
	deb := makeDeb(t, "xz", kernelEntries())
	pool := "pool/main/l/linux/linux-image-" + testRelease + "_7.9.1-1_amd64.deb"
	packages := fmt.Sprintf("Package: linux-image-%s\nVersion: 7.9.1-1\nDepends: kmod\nFilename: %s\nSize: %d\nSHA256: %s\n\nPackage: zsh\nVersion: 5\n\n",
		testRelease, pool, len(deb), sum(deb))
	var gz bytes.Buffer
	gw := gzip.NewWriter(&gz)
	gw.Write([]byte(packages))
	gw.Close()
	key := newKey(t, "test archive key", now.Add(-time.Hour), 0)
	rel := releaseText(testSuite, now, now.Add(7*24*time.Hour), map[string][]byte{
		"main/binary-amd64/Packages": []byte(packages), "main/binary-amd64/Packages.gz": gz.Bytes()})
	m := &testMirror{files: map[string][]byte{
		"/debian/dists/forky/InRelease":                                           clearsigned(t, rel, now, key),
		"/debian/dists/forky/main/binary-amd64/by-hash/SHA256/" + sum(gz.Bytes()): gz.Bytes(),
		"/debian/dists/forky/main/binary-amd64/Packages.gz":                       gz.Bytes(),
		"/debian/" + pool: deb,
	}}
	srv := httptest.NewServer(m)
	t.Cleanup(srv.Close)
	return m, srv, writeKeyring(t, key), pool
}

// withSuites makes the fetcher use only suites for the test's duration.
func withSuites(t *testing.T, suites ...string) {
	old := Suites
	Suites = suites
	t.Cleanup(func() { Suites = old })
}

func TestGoFetcher(t *testing.T) {
	withSuites(t, testSuite)
	m, srv, keyring, pool := newTestMirror(t, time.Now())
	var progress []string
	f := &Fetcher{CacheDir: t.TempDir(), EtcApt: t.TempDir(), // no apt sources at all
		Mirror:   MirrorConfig{Archive: srv.URL + "/debian/", Keyring: keyring},
		Progress: func(s string) { progress = append(progress, s) }}
	e := Entry{Name: "k", Debian: &DebianSource{Package: "linux-image-" + testRelease}}
	k, err := f.Fetch(context.Background(), e)
	if err != nil {
		t.Fatalf("%v\n%s", err, strings.Join(progress, "\n"))
	}
	if k.Version != "7.9.1-1" || k.Suite != testSuite || !strings.HasSuffix(k.BzImage, "boot/vmlinuz-"+testRelease) ||
		!strings.HasSuffix(k.ModulesDir, "lib/modules/"+testRelease) {
		t.Errorf("kernel: %+v", k)
	}
	joined := strings.Join(m.requests, " ")
	if !strings.Contains(joined, "/by-hash/SHA256/") || !strings.Contains(joined, pool) {
		t.Errorf("requests: %s", joined)
	}
	if !strings.Contains(strings.Join(progress, "\n"), "Go fetcher, from the configured archive mirror") {
		t.Errorf("progress does not say which fetcher: %s", strings.Join(progress, "\n"))
	}
	if host := strings.TrimPrefix(srv.URL, "http://"); strings.Contains(strings.Join(progress, "\n"), host) {
		t.Errorf("progress names the mirror %s:\n%s", host, strings.Join(progress, "\n"))
	}

	// A second Fetcher on the same cache: the verified lists and package are reused.
	m.requests = nil
	f2 := &Fetcher{CacheDir: f.CacheDir, EtcApt: f.EtcApt, Mirror: f.Mirror}
	if _, err := f2.Fetch(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	if len(m.requests) != 0 {
		t.Errorf("fresh cache refetched %v", m.requests)
	}
}

// Every tampered part of the chain is refused: the InRelease, the Packages index, the
// package itself; and a key outside the keyring.
func TestGoFetcherRefusesTampering(t *testing.T) {
	withSuites(t, testSuite)
	e := Entry{Name: "k", Debian: &DebianSource{Package: "linux-image-" + testRelease}}
	for _, tc := range []struct {
		name   string
		tamper func(m *testMirror, pool string)
		keys   func(t *testing.T, keyring string) string
		want   string
	}{
		{"InRelease", func(m *testMirror, _ string) {
			p := "/debian/dists/forky/InRelease"
			m.files[p] = bytes.Replace(m.files[p], []byte("Origin: Debian"), []byte("Origin: Debiam"), 1)
		}, nil, "no good signature"},
		{"Packages index", func(m *testMirror, _ string) {
			var gz bytes.Buffer
			gw := gzip.NewWriter(&gz)
			gw.Write([]byte("Package: linux-image-evil\n"))
			gw.Close()
			for p := range m.files {
				if strings.Contains(p, "binary-amd64") {
					m.files[p] = gz.Bytes()
				}
			}
		}, nil, "the signed index says"},
		{"package", func(m *testMirror, pool string) {
			b := bytes.Clone(m.files["/debian/"+pool])
			b[len(b)-1] ^= 1
			m.files["/debian/"+pool] = b
		}, nil, "SHA256"},
		{"unknown key", nil, func(t *testing.T, _ string) string {
			return writeKeyring(t, newKey(t, "not the archive's", time.Now(), 0))
		}, "no good signature by a key of the Debian archive keyring"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, srv, keyring, pool := newTestMirror(t, time.Now())
			if tc.tamper != nil {
				tc.tamper(m, pool)
			}
			if tc.keys != nil {
				keyring = tc.keys(t, keyring)
			}
			f := &Fetcher{CacheDir: t.TempDir(), EtcApt: t.TempDir(), Mirror: MirrorConfig{Archive: srv.URL + "/debian", Keyring: keyring}}
			_, err := f.Fetch(context.Background(), e)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
			if matches, _ := filepath.Glob(filepath.Join(f.CacheDir, "trees", "*")); len(matches) > 0 {
				t.Errorf("something was extracted: %v", matches)
			}
		})
	}
}

// An expired Release is refused at update: with no earlier lists, nothing can be fetched.
func TestGoFetcherExpiredRelease(t *testing.T) {
	withSuites(t, testSuite)
	_, srv, keyring, _ := newTestMirror(t, time.Now().Add(-30*24*time.Hour))
	f := &Fetcher{CacheDir: t.TempDir(), EtcApt: t.TempDir(), Mirror: MirrorConfig{Archive: srv.URL + "/debian", Keyring: keyring}}
	_, err := f.Fetch(context.Background(), Entry{Name: "k", Debian: &DebianSource{Package: "linux-image-" + testRelease}})
	if err == nil || !strings.Contains(err.Error(), "expired") {
		t.Errorf("err = %v, want an expired Release", err)
	}
}

func TestFetcherNeedsAMirror(t *testing.T) {
	f := &Fetcher{CacheDir: t.TempDir(), EtcApt: t.TempDir()}
	_, err := f.Fetch(context.Background(), Entry{Name: "k", Debian: &DebianSource{Package: "linux-image-x"}})
	if err == nil || !strings.Contains(err.Error(), EnvMirror) {
		t.Errorf("err = %v, want it to name %s", err, EnvMirror)
	}
	for _, bad := range []MirrorConfig{
		{Archive: "ftp://mirror.invalid/debian"},
		{Archive: "mirror.invalid/debian"},
		{Security: "http://mirror.invalid/debian-security"},
		{Archive: "http://mirror.invalid/debian", Keyring: filepath.Join(t.TempDir(), "nope.gpg")},
	} {
		if err := bad.Check(); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
	if err := (MirrorConfig{Archive: "https://mirror.invalid/debian/"}).Check(); err != nil {
		t.Error(err)
	}
	got := MirrorConfig{Archive: "a"}.Or(MirrorConfig{Archive: "b", Security: "s", Keyring: "k"})
	if got != (MirrorConfig{Archive: "a", Security: "s", Keyring: "k"}) {
		t.Errorf("Or: %+v", got)
	}
}
