package kernel

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ulikunitz/xz"

	"github.com/llconform/llconform/internal/atomicfile"
)

// packageSource is where package lists and packages come from: apt-get with a private
// configuration (aptSource), or Go's HTTP client and OpenPGP verification (archiveSource).
// Both keep their state in dir(): the lists, the "updated" stamp and the lock.
type packageSource interface {
	describe() string
	dir() string
	prepare() error
	update(ctx context.Context) error
	load() (index, error)
	download(ctx context.Context, p pkgVersion, dir string) (string, error)
}

// aptSource drives apt-get (see apt), on a host whose apt sources list a Debian archive.
type aptSource struct {
	a       apt
	mirrors Mirrors
}

func (s aptSource) describe() string { return "apt-get, mirror from the apt sources" }
func (s aptSource) dir() string      { return s.a.dir }
func (s aptSource) prepare() error {
	if err := s.a.setup(s.mirrors); err != nil {
		return fmt.Errorf("apt configuration: %w", err)
	}
	return nil
}
func (s aptSource) update(ctx context.Context) error { return s.a.update(ctx) }
func (s aptSource) load() (index, error)             { return loadIndex(s.a.path("lists"), s.a.arch) }
func (s aptSource) download(ctx context.Context, p pkgVersion, dir string) (string, error) {
	return s.a.download(ctx, p, dir)
}

// archiveSource fetches from a Debian mirror over HTTP and verifies in Go what apt would:
// each suite's InRelease is signed by a key of the Debian archive keyring (and, when
// fetched, not past its Valid-Until), each Packages index has the size and SHA256 the
// signed InRelease gives, and each package the size and SHA256 its Packages stanza gives
// (Fetcher.deb). It needs neither apt-get nor the host's apt configuration.
type archiveSource struct {
	mirrors  Mirrors
	arch     string // the architecture whose Packages indexes it fetches
	keyring  openpgp.EntityList
	keyName  string
	root     string
	client   *http.Client
	progress func(format string, args ...any)
	now      func() time.Time
}

// Limits on what a mirror may send: more than any real file of its kind.
const (
	maxInRelease = 16 << 20
	maxPackages  = 1 << 30
)

func newArchiveSource(m Mirrors, arch, keyringFile, root string, progress func(string, ...any)) (*archiveSource, error) {
	kr, name, err := loadKeyring(keyringFile)
	if err != nil {
		return nil, err
	}
	return &archiveSource{mirrors: m, arch: arch, keyring: kr, keyName: name, root: root, progress: progress,
		client: &http.Client{Transport: http.DefaultTransport}, now: time.Now}, nil
}

func (s *archiveSource) describe() string {
	d := "Go fetcher, from the configured archive mirror"
	if s.mirrors.Security.URI != "" {
		d += " and security mirror"
	}
	return d + ", signatures checked with " + s.keyName
}

func (s *archiveSource) dir() string { return s.root }
func (s *archiveSource) lists(elem ...string) string {
	return filepath.Join(append([]string{s.root, "lists"}, elem...)...)
}
func (s *archiveSource) prepare() error { return os.MkdirAll(s.lists(), 0o755) }

// mirrorOf returns the mirror serving suite, "" when none is configured.
func (s *archiveSource) mirrorOf(suite string) string {
	if strings.HasSuffix(suite, "-security") {
		return s.mirrors.Security.URI
	}
	return s.mirrors.Archive.URI
}

// The files of a suite in the lists directory; names end as apt's do, so that loadIndex
// recognises them.
func (s *archiveSource) listName(suite, what string) string {
	if what == "InRelease" {
		return "debian_dists_" + suite + "_InRelease"
	}
	return "debian_dists_" + suite + "_main_binary-" + s.arch + "_Packages"
}

// update fetches and verifies the InRelease and Packages index of every suite; a Packages
// file already present with the checksum the new InRelease gives is kept. A suite that
// fails keeps its earlier lists, if any, and the others are still updated; the error names
// every suite that failed, and the lists are not marked fresh (apt-get update --error-on=any
// does the same).
func (s *archiveSource) update(ctx context.Context) error {
	var errs []error
	for _, suite := range Suites {
		if s.mirrorOf(suite) == "" {
			continue
		}
		if err := s.updateSuite(ctx, suite); err != nil {
			if ctx.Err() != nil {
				return err
			}
			errs = append(errs, fmt.Errorf("%s: %w", suite, err))
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	return os.WriteFile(filepath.Join(s.root, "updated"), nil, 0o644)
}

// packagesPath is the Packages index of the source's architecture, as InRelease names it.
func (s *archiveSource) packagesPath() string { return "main/binary-" + s.arch + "/Packages" }

func (s *archiveSource) updateSuite(ctx context.Context, suite string) error {
	base := s.mirrorOf(suite) + "/dists/" + suite + "/"
	inRelease, err := s.get(ctx, base+"InRelease", maxInRelease)
	if err != nil {
		return err
	}
	rel, err := verifyInRelease(inRelease, s.keyring, suite, s.now())
	if err != nil {
		return fmt.Errorf("%sInRelease: %w", base, err)
	}
	if err := rel.checkFresh(s.now()); err != nil {
		return fmt.Errorf("%sInRelease: %w", base, err)
	}
	want, ok := rel.Files[s.packagesPath()]
	if !ok {
		return fmt.Errorf("%sInRelease lists no %s", base, s.packagesPath())
	}
	dst := s.lists(s.listName(suite, "Packages"))
	if checkFile(dst, want) == nil {
		s.progress("package list %s unchanged (signed by %s)", suite, rel.Signer)
		return os.WriteFile(s.lists(s.listName(suite, "InRelease")), inRelease, 0o644)
	}
	var name string
	var comp indexFile
	for _, ext := range []string{".gz", ".xz"} {
		if f, ok := rel.Files[s.packagesPath()+ext]; ok {
			name, comp = s.packagesPath()+ext, f
			break
		}
	}
	if name == "" {
		return fmt.Errorf("%sInRelease lists no compressed %s (.gz or .xz)", base, s.packagesPath())
	}
	urls := []string{base + name}
	if rel.AcquireByHash {
		// by-hash names the content: no race with a mirror update between InRelease and
		// the index, as apt does.
		urls = []string{base + path.Dir(name) + "/by-hash/SHA256/" + comp.SHA256, base + name}
	}
	s.progress("fetching package list %s (%.1f MB, signed by %s)", suite, float64(comp.Size)/(1<<20), rel.Signer)
	tmp, err := os.CreateTemp(s.lists(), ".packages-")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	var lastErr error
	for _, u := range urls {
		if _, err := tmp.Seek(0, io.SeekStart); err != nil {
			return err
		}
		if err := tmp.Truncate(0); err != nil {
			return err
		}
		if lastErr = s.getTo(ctx, u, tmp, comp); lastErr == nil {
			break
		}
	}
	if lastErr != nil {
		return lastErr
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return err
	}
	if err := atomicfile.Write(dst, func(w io.Writer) error { return decompress(name, tmp, w, want) }); err != nil {
		return fmt.Errorf("%s%s: %w", base, name, err)
	}
	return os.WriteFile(s.lists(s.listName(suite, "InRelease")), inRelease, 0o644)
}

// decompress writes the decompression of r to w and checks it against want (size, SHA256).
func decompress(name string, r io.Reader, w io.Writer, want indexFile) error {
	var dr io.Reader
	switch {
	case strings.HasSuffix(name, ".gz"):
		gz, err := gzip.NewReader(r)
		if err != nil {
			return err
		}
		dr = gz
	case strings.HasSuffix(name, ".xz"):
		x, err := xz.NewReader(r)
		if err != nil {
			return err
		}
		dr = x
	default:
		dr = r
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(w, h), io.LimitReader(dr, want.Size+1))
	if err != nil {
		return fmt.Errorf("decompress: %w", err)
	}
	return checkSum(n, hex.EncodeToString(h.Sum(nil)), want)
}

func checkSum(size int64, sum string, want indexFile) error {
	switch {
	case size != want.Size:
		return fmt.Errorf("%d bytes, the signed index says %d", size, want.Size)
	case sum != want.SHA256:
		return fmt.Errorf("SHA256 %s, the signed index says %s", sum, want.SHA256)
	}
	return nil
}

// checkFile checks a file against its size and SHA256.
func checkFile(p string, want indexFile) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, io.LimitReader(f, want.Size+1))
	if err != nil {
		return err
	}
	return checkSum(n, hex.EncodeToString(h.Sum(nil)), want)
}

// load reads the lists that update stored, verifying each again: the InRelease signature
// (not its Valid-Until: stale lists stay usable offline, as apt's do) and each Packages
// file's size and SHA256. A suite never fetched is left out, as apt leaves out a source
// whose update failed; a damaged one is an error.
func (s *archiveSource) load() (index, error) {
	idx := index{}
	for _, suite := range Suites {
		if s.mirrorOf(suite) == "" {
			continue
		}
		inRelease, err := os.ReadFile(s.lists(s.listName(suite, "InRelease")))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		rel, err := verifyInRelease(inRelease, s.keyring, suite, s.now())
		if err != nil {
			return nil, fmt.Errorf("stored InRelease of %s: %w", suite, err)
		}
		p := s.lists(s.listName(suite, "Packages"))
		want := rel.Files[s.packagesPath()]
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(b)
		if err := checkSum(int64(len(b)), hex.EncodeToString(sum[:]), want); err != nil {
			return nil, fmt.Errorf("stored package list of %s: %w", suite, err)
		}
		for _, pv := range parsePackages(b) {
			pv.Suite = suite
			idx[pv.Package] = append(idx[pv.Package], pv)
		}
	}
	if len(idx) == 0 {
		return nil, fmt.Errorf("no package lists in %s", s.lists())
	}
	return idx, nil
}

// download fetches one package from the mirror of its suite into dir. Fetcher.deb checks it
// against its Packages stanza.
func (s *archiveSource) download(ctx context.Context, p pkgVersion, dir string) (string, error) {
	mirror := s.mirrorOf(p.Suite)
	if mirror == "" {
		return "", fmt.Errorf("no mirror configured for suite %s", p.Suite)
	}
	if p.Filename == "" || strings.Contains(p.Filename, "..") || strings.HasPrefix(p.Filename, "/") {
		return "", fmt.Errorf("%s %s: bad Filename %q in the package list", p.Package, p.Version, p.Filename)
	}
	dst := filepath.Join(dir, path.Base(p.Filename))
	f, err := os.Create(dst)
	if err != nil {
		return "", err
	}
	defer f.Close()
	if err := s.getTo(ctx, mirror+"/"+p.Filename, f, indexFile{Size: p.Size, SHA256: p.SHA256}); err != nil {
		return "", err
	}
	return dst, f.Close()
}

// get fetches a small file whole.
func (s *archiveSource) get(ctx context.Context, u string, limit int64) ([]byte, error) {
	var b bytes.Buffer
	if err := s.fetch(ctx, u, &b, limit); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// getTo fetches u into w and checks its size and SHA256 against want.
func (s *archiveSource) getTo(ctx context.Context, u string, w io.Writer, want indexFile) error {
	h := sha256.New()
	cw := &countWriter{w: io.MultiWriter(w, h)}
	if err := s.fetch(ctx, u, cw, want.Size+1); err != nil {
		return err
	}
	if err := checkSum(cw.n, hex.EncodeToString(h.Sum(nil)), want); err != nil {
		return fmt.Errorf("%s: %w", u, err)
	}
	return nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// fetch GETs u into w, at most limit bytes, under AptTimeout.
func (s *archiveSource) fetch(ctx context.Context, u string, w io.Writer, limit int64) error {
	ctx, cancel := context.WithTimeout(ctx, AptTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", "llconform")
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	n, err := io.Copy(w, io.LimitReader(resp.Body, limit))
	if err != nil {
		if ctx.Err() != nil && errors.Is(context.Cause(ctx), context.DeadlineExceeded) {
			return fmt.Errorf("GET %s: timed out after %s", u, AptTimeout)
		}
		return fmt.Errorf("GET %s: %w", u, err)
	}
	if n >= limit {
		return fmt.Errorf("GET %s: larger than expected (%d bytes or more)", u, limit)
	}
	return nil
}
