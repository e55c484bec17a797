package kernel

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	debdep "pault.ag/go/debian/dependency"
)

// apt drives apt-get with a private configuration under dir, so that the
// machine's own package state is never read or changed: only its sources
// (for the mirror URIs) and apt.conf.d (for proxies and the like) are used.
type apt struct {
	dir  string
	arch string // the architecture whose packages it lists (Debian's name, as in package arch)
}

func (a apt) path(elem ...string) string { return filepath.Join(append([]string{a.dir}, elem...)...) }

// setup writes the sources list and creates the state directories.
func (a apt) setup(m Mirrors) error {
	for _, d := range []string{a.path("lists", "partial"), a.path("cache", "archives", "partial")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	if err := os.WriteFile(a.path("status"), nil, 0o644); err != nil {
		return err
	}
	return os.WriteFile(a.path("sources.list"), []byte(sourcesList(m, a.arch)), 0o644)
}

func (a apt) options() []string {
	opts := []string{
		"-o", "Dir::Etc::sourcelist=" + a.path("sources.list"),
		"-o", "Dir::Etc::sourceparts=-",
		"-o", "Dir::State::Lists=" + a.path("lists"),
		"-o", "Dir::State::status=" + a.path("status"),
		"-o", "Dir::Cache=" + a.path("cache"),
		// Plain Packages files, whatever the machine's apt.conf.d says, so
		// that the index can be read without apt-cache.
		"-o", "Acquire::GzipIndexes=false",
		"-o", "Acquire::Languages=none",
		// One architecture, whatever the host's: apt then lists and downloads its
		// packages as native ones, without dpkg --add-architecture on the host.
		"-o", "APT::Architecture=" + a.arch,
		"-o", "APT::Architectures=" + a.arch,
		"-qq",
	}
	if os.Geteuid() == 0 {
		// The _apt sandbox user cannot write into a root-owned cache.
		opts = append(opts, "-o", "APT::Sandbox::User=root")
	}
	return opts
}

func (a apt) run(ctx context.Context, dir string, args ...string) error {
	what := fmt.Sprintf("apt-get %s (apt state in %s)", strings.Join(args, " "), a.dir)
	_, err := runCmd(ctx, AptTimeout, what, dir, a.dir, append(os.Environ(), "LC_ALL=C"), "apt-get", append(a.options(), args...)...)
	return err
}

func (a apt) update(ctx context.Context) error {
	// apt-get update exits 0 when a source cannot be fetched; --error-on=any
	// makes that an error, so that stale lists are known to be stale.
	if err := a.run(ctx, a.dir, "update", "--error-on=any"); err != nil {
		return err
	}
	return os.WriteFile(a.path("updated"), nil, 0o644)
}

// download fetches one exact package version into dir and returns the path.
func (a apt) download(ctx context.Context, p pkgVersion, dir string) (string, error) {
	if err := a.run(ctx, dir, "download", p.Package+"="+p.Version); err != nil {
		return "", err
	}
	debs, _ := filepath.Glob(filepath.Join(dir, "*.deb"))
	if len(debs) != 1 {
		return "", fmt.Errorf("apt-get download %s=%s: expected one .deb, found %d", p.Package, p.Version, len(debs))
	}
	return debs[0], nil
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// pkgVersion is one stanza of a Packages index.
type pkgVersion struct {
	Package  string
	Version  string
	Suite    string
	Filename string
	SHA256   string
	Size     int64
	Depends  string
}

// index holds the kernel-related packages of every suite, by name.
type index map[string][]pkgVersion

var listSuiteRE = regexp.MustCompile(`_dists_([^_]+)_main_binary-([a-z0-9]+)_Packages$`)

// loadIndex reads the Packages lists of architecture arch that apt-get update stored.
func loadIndex(listsDir, arch string) (index, error) {
	files, _ := filepath.Glob(filepath.Join(listsDir, "*_Packages"))
	idx := index{}
	for _, f := range files {
		m := listSuiteRE.FindStringSubmatch(filepath.Base(f))
		if m == nil || m[2] != arch {
			continue
		}
		pkgs, err := parsePackagesFile(f)
		if err != nil {
			return nil, err
		}
		for _, p := range pkgs {
			p.Suite = m[1]
			idx[p.Package] = append(idx[p.Package], p)
		}
	}
	if len(idx) == 0 {
		return nil, fmt.Errorf("no package lists in %s", listsDir)
	}
	return idx, nil
}

// parsePackagesFile parses the Packages file at path, mapped rather than read: the seven
// suites' lists are about 225 MB, and reading them into fresh memory took a run's first
// index load 1 s, against 0.2 s mapped (the page cache holds them).
func parsePackagesFile(path string) ([]pkgVersion, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.Size() == 0 {
		return nil, nil
	}
	b, err := unix.Mmap(int(f.Fd()), 0, int(fi.Size()), unix.PROT_READ, unix.MAP_PRIVATE)
	if err != nil {
		return nil, fmt.Errorf("map %s: %w", path, err)
	}
	defer unix.Munmap(b)
	// parsePackages copies what it keeps out of b.
	return parsePackages(b), nil
}

// parsePackages reads the stanzas of kernel packages (linux-*) from a
// Packages file. Other stanzas are skipped without being split into lines:
// the lists of seven suites are a few hundred megabytes. Ours rather than
// pault.ag/go/debian/control, which parses every stanza (10 times slower and
// 2 GB allocated on those lists) and links an OpenPGP implementation; the
// Depends field of the stanzas kept is parsed with its dependency package.
func parsePackages(b []byte) []pkgVersion {
	const kernel = "Package: linux-"
	var out []pkgVersion
	for len(b) > 0 {
		// Jump to the next stanza that starts with a kernel package: one search over the
		// other stanzas, not one per stanza (a fifth of the time over seven suites' lists).
		if !bytes.HasPrefix(b, []byte(kernel)) {
			i := bytes.Index(b, []byte("\n\n"+kernel))
			if i < 0 {
				break
			}
			b = b[i+2:]
		}
		end := bytes.Index(b, []byte("\n\n"))
		if end < 0 {
			end = len(b)
		}
		stanza := b[:end]
		b = b[min(end+2, len(b)):]
		var p pkgVersion
		for _, line := range strings.Split(string(stanza), "\n") {
			k, v, _ := strings.Cut(line, ": ")
			switch k {
			case "Package":
				p.Package = v
			case "Version":
				p.Version = v
			case "Filename":
				p.Filename = v
			case "SHA256":
				p.SHA256 = v
			case "Size":
				p.Size, _ = strconv.ParseInt(v, 10, 64)
			case "Depends":
				p.Depends = v
			}
		}
		out = append(out, p)
	}
	return out
}

// dependency is one alternative of a Depends field.
type dependency struct {
	Name    string
	Version string // set for "(= version)"
}

// parseDepends splits "a (= 1), b | c (>= 2)" into its alternatives, in
// order; only exact version constraints are kept.
func parseDepends(s string) ([]dependency, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	dep, err := debdep.Parse(s)
	if err != nil {
		return nil, err
	}
	var out []dependency
	for _, p := range dep.GetAllPossibilities() {
		d := dependency{Name: p.Name}
		if p.Version != nil && p.Version.Operator == "=" {
			d.Version = p.Version.Number
		}
		out = append(out, d)
	}
	return out, nil
}

// find returns the highest version of pkg, or of exactly version when set,
// optionally restricted to one suite.
func (idx index) find(pkg, version, suite string) (pkgVersion, bool) {
	var best pkgVersion
	found := false
	for _, p := range idx[pkg] {
		if (version != "" && p.Version != version) || (suite != "" && p.Suite != suite) {
			continue
		}
		if !found || compareVersions(p.Version, best.Version) > 0 {
			best, found = p, true
		}
	}
	return best, found
}
