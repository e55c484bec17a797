package kernel

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/llconform/llconform/vm/arch"
)

// Kernel is an acquired kernel, ready to boot.
type Kernel struct {
	Name    string // the entry's name
	Arch    string // the entry's architecture (package arch)
	Release string // uname -r, e.g. 6.1.0-56-cloud-amd64; "" when unknown
	Package string // Debian package, "" for a local kernel
	Version string // Debian version
	Suite   string // the suite the package was found in
	BzImage string
	// ModulesDir is the lib/modules/<release> directory, "" when
	// unavailable; ModulesUnavailable then says why.
	ModulesDir         string
	ModulesUnavailable string
	Config             string // kernel .config, "" when unknown
}

// DefaultCacheDir is $XDG_CACHE_HOME/llconform or ~/.cache/llconform.
func DefaultCacheDir() (string, error) {
	d, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(d, "llconform"), nil
}

// Fetcher acquires kernels into a cache directory. Its methods may be called
// from several goroutines; fetches run one at a time.
type Fetcher struct {
	CacheDir string // must be set; see DefaultCacheDir
	// EtcApt is where the machine's apt sources are read; default $LLCONFORM_APT_SOURCES,
	// else /etc/apt.
	EtcApt string
	// Refresh forces apt-get update; otherwise the lists are refreshed
	// when older than MaxAge (default 24h).
	Refresh bool
	MaxAge  time.Duration
	// Progress, if set, receives lines such as "fetching X (26 MB)".
	Progress func(msg string)
	// Mirror, when its Archive is set, makes the Fetcher download from that Debian mirror
	// and verify in Go (signatures against Debian's archive keyring, sizes and checksums
	// against the signed indexes), without apt-get or the host's apt sources. Without it,
	// the mirror comes from the apt sources under EtcApt, through apt-get when the host has
	// it, else through the same Go code.
	Mirror MirrorConfig

	mu sync.Mutex
	// arches holds, by architecture, where its packages come from and their lists: each
	// architecture's lists are fetched only when one of its kernels is.
	arches map[string]*archLists
}

// archLists is one architecture's package source and lists, loaded once per Fetcher.
type archLists struct {
	src      packageSource
	idx      index
	idxErr   error
	idxReady bool
}

// lists returns architecture a's state, creating it.
func (f *Fetcher) lists(a string) *archLists {
	if f.arches == nil {
		f.arches = map[string]*archLists{}
	}
	l, ok := f.arches[a]
	if !ok {
		l = &archLists{}
		f.arches[a] = l
	}
	return l
}

// stateDir is the cache directory of architecture a's lists under name: name itself for
// the default architecture (the directory an older llconform used), name-<a> for others.
func (f *Fetcher) stateDir(name, a string) string {
	if a != arch.Default {
		name += "-" + a
	}
	return filepath.Join(f.CacheDir, name)
}

func (f *Fetcher) progress(format string, args ...any) {
	if f.Progress != nil {
		f.Progress(fmt.Sprintf(format, args...))
	}
}

func (f *Fetcher) apt(a string) apt { return apt{dir: f.stateDir("apt", a), arch: a} }

// source chooses where the packages of architecture a come from, once: a configured mirror
// through the Go fetcher; else the apt sources' Debian mirror, through apt-get when it is
// installed and the Go fetcher otherwise.
func (f *Fetcher) source(a string) (packageSource, error) {
	l := f.lists(a)
	if l.src != nil {
		return l.src, nil
	}
	s, err := f.newSource(a)
	if err != nil {
		return nil, err
	}
	l.src = s
	return s, nil
}

func (f *Fetcher) newSource(a string) (packageSource, error) {
	if err := f.Mirror.Check(); err != nil {
		return nil, err
	}
	goDir := f.stateDir("debian", a)
	if f.Mirror.Archive != "" {
		m := f.Mirror.mirrors()
		s, err := newArchiveSource(m, a, f.Mirror.Keyring, goDir, m.redactProgress(f.progress))
		if err != nil {
			return nil, err
		}
		return redacting{s, m}, nil
	}
	etc := f.EtcApt
	if etc == "" {
		etc = os.Getenv(EnvAptSources)
	}
	if etc == "" {
		etc = "/etc/apt"
	}
	mirrors, err := ReadMirrors(etc)
	if err != nil {
		return nil, fmt.Errorf("%w: set a Debian mirror (%s, --debian-mirror, or debian_mirror: {archive: URI} in kernels.yaml)", err, EnvMirror)
	}
	if _, err := exec.LookPath("apt-get"); err == nil {
		return redacting{aptSource{a: f.apt(a), mirrors: mirrors}, mirrors}, nil
	}
	keyring := mirrors.Archive.SignedBy
	if keyring != "" {
		if _, err := os.Stat(keyring); err != nil {
			keyring = "" // a keyring the apt sources name but the host lacks: use ours
		}
	}
	s, err := newArchiveSource(mirrors, a, keyring, goDir, mirrors.redactProgress(f.progress))
	if err != nil {
		return nil, err
	}
	return redacting{s, mirrors}, nil
}

// Fetch acquires the entry's kernel: for a Debian entry it resolves the
// package, downloads and verifies it and its kernel dependencies (offline
// when the cache already has them), and extracts them.
func (f *Fetcher) Fetch(ctx context.Context, e Entry) (*Kernel, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.CacheDir == "" {
		return nil, errors.New("kernel.Fetcher: no cache directory")
	}
	var k *Kernel
	var err error
	switch {
	case e.Local != nil:
		k, err = local(e)
	case e.Debian != nil:
		k, err = f.debian(ctx, e)
	default:
		err = errors.New("entry has no source")
	}
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", e.Name, err)
	}
	return k, nil
}

func local(e Entry) (*Kernel, error) {
	l := e.Local
	k := &Kernel{Name: e.Name, Arch: cmp.Or(e.Arch, arch.Default), BzImage: l.BzImage, ModulesDir: l.Modules, Config: l.Config}
	if err := e.CheckLocal(); err != nil {
		return nil, err
	}
	k.Release = bzImageRelease(l.BzImage)
	if l.Modules == "" {
		k.ModulesUnavailable = "no modules directory given"
	} else if _, err := os.Stat(l.Modules); err != nil {
		return nil, err
	} else if k.Release == "" {
		k.Release = filepath.Base(l.Modules)
	}
	return k, nil
}

// bzImageRelease reads the kernel version string that the x86 boot
// protocol header points to ("6.1.0-56-cloud-amd64 (debian-kernel@...) #1 ...").
func bzImageRelease(p string) string {
	f, err := os.Open(p)
	if err != nil {
		return ""
	}
	defer f.Close()
	hdr := make([]byte, 0x210)
	if _, err := io.ReadFull(f, hdr); err != nil || string(hdr[0x202:0x206]) != "HdrS" {
		return ""
	}
	off := int64(hdr[0x20e]) | int64(hdr[0x20f])<<8
	buf := make([]byte, 256)
	n, _ := f.ReadAt(buf, off+0x200)
	s, _, _ := strings.Cut(string(buf[:n]), " ")
	s, _, _ = strings.Cut(s, "\x00")
	return s
}

// index loads the package lists of architecture a once per Fetcher, updating them when
// missing or stale. A failed update with lists present falls back to them.
func (f *Fetcher) index(ctx context.Context, a string) (index, error) {
	l := f.lists(a)
	if l.idxReady {
		return l.idx, l.idxErr
	}
	l.idx, l.idxErr = f.loadIndex(ctx, a)
	l.idxReady = true
	return l.idx, l.idxErr
}

func (f *Fetcher) loadIndex(ctx context.Context, a string) (index, error) {
	src, err := f.source(a)
	if err != nil {
		return nil, err
	}
	// One state per source and cache: two runs must not update it at once.
	if err := os.MkdirAll(src.dir(), 0o755); err != nil {
		return nil, err
	}
	unlock, err := lockFile(ctx, filepath.Join(src.dir(), "llconform.lock"), f.progress)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if err := src.prepare(); err != nil {
		return nil, err
	}
	maxAge := f.MaxAge
	if maxAge == 0 {
		maxAge = 24 * time.Hour
	}
	st, err := os.Stat(filepath.Join(src.dir(), "updated"))
	fresh := !f.Refresh && err == nil && time.Since(st.ModTime()) <= maxAge
	if fresh {
		idx, err := src.load()
		if err == nil {
			return idx, nil
		}
		f.progress("package lists unusable, fetching them again: %v", err)
	}
	f.progress("updating %s package lists (%s) with %s", a, strings.Join(Suites, ", "), src.describe())
	if err := src.update(ctx); err != nil {
		if idx, lerr := src.load(); lerr == nil {
			f.progress("using stale package lists: %v", err)
			return idx, nil
		}
		return nil, err
	}
	return src.load()
}

func (f *Fetcher) debian(ctx context.Context, e Entry) (*Kernel, error) {
	d := e.Debian
	a := cmp.Or(e.Arch, arch.Default)
	idx, err := f.index(ctx, a)
	if err != nil {
		// Offline: a pinned kernel fetched before can still be used.
		if k, rerr := f.readRecord(e); rerr == nil {
			f.progress("cached %s %s (package lists unavailable: %v)", k.Package, k.Version, err)
			return k, nil
		}
		return nil, err
	}
	root, err := resolve(idx, d)
	if err != nil {
		return nil, err
	}
	release := strings.TrimPrefix(root.Package, "linux-image-")
	k := &Kernel{Name: e.Name, Arch: a, Release: release, Package: root.Package, Version: root.Version, Suite: root.Suite}

	pkgs, missing, err := closure(idx, root, release)
	if err != nil {
		return nil, err
	}
	var debs []string
	for _, p := range pkgs {
		deb, err := f.deb(ctx, p, a)
		if err != nil {
			return nil, err
		}
		debs = append(debs, deb)
	}
	tree, err := f.extract(ctx, strings.TrimSuffix(filepath.Base(debs[0]), ".deb"), debs)
	if err != nil {
		return nil, err
	}
	k.BzImage = findIn(tree, "boot/vmlinuz-"+release, "usr/lib/modules/"+release+"/vmlinuz")
	if k.BzImage == "" {
		if m, ok := missing["linux-binary-"+release]; ok {
			return nil, fmt.Errorf("%s %s: kernel image unavailable: %s", root.Package, root.Version, m)
		}
		return nil, fmt.Errorf("%s %s: no vmlinuz in the package or its dependencies", root.Package, root.Version)
	}
	k.Config = findIn(tree, "boot/config-"+release, "usr/lib/modules/"+release+"/config")
	k.ModulesDir = findIn(tree, "lib/modules/"+release+"/kernel", "usr/lib/modules/"+release+"/kernel")
	if k.ModulesDir != "" {
		k.ModulesDir = filepath.Dir(k.ModulesDir)
	} else if m, ok := missing["linux-modules-"+release]; ok {
		k.ModulesUnavailable = m
	} else {
		k.ModulesUnavailable = "no modules in " + root.Package
	}
	if err := f.writeRecord(k); err != nil {
		return nil, err
	}
	return k, nil
}

// releasePkgRE matches the package of one kernel release (linux-image-6.1.0-56-cloud-amd64,
// linux-image-7.3.4+deb13-cloud-amd64), not a metapackage that follows a series
// (linux-image-6.12-cloud-amd64, linux-image-cloud-amd64): "newest" must pick a kernel whose
// release the report can name, and a metapackage's version is not the kernel's.
var releasePkgRE = regexp.MustCompile(`^linux-(image|binary)-[0-9]+\.[0-9]+\.[0-9]+[-+]`)

func resolve(idx index, d *DebianSource) (pkgVersion, error) {
	if d.Package != "" {
		p, ok := idx.find(d.Package, d.Version, "")
		if ok {
			return p, nil
		}
		if d.Version != "" && len(idx[d.Package]) > 0 {
			var have []string
			for _, p := range idx[d.Package] {
				have = append(have, p.Version+" ("+p.Suite+")")
			}
			return p, fmt.Errorf("%s version %s not found; available: %s", d.Package, d.Version, strings.Join(have, ", "))
		}
		return p, fmt.Errorf("%s not found in any configured Debian suite (%s)", d.Package, strings.Join(Suites, ", "))
	}
	var best pkgVersion
	found := false
	names := make([]string, 0, len(idx))
	for name := range idx {
		names = append(names, name)
	}
	sort.Strings(names) // deterministic choice between equal versions
	for _, name := range names {
		if ok, _ := path.Match(d.Newest, name); !ok || !releasePkgRE.MatchString(name) {
			continue
		}
		if p, ok := idx.find(name, "", d.Suite); ok && (!found || compareVersions(p.Version, best.Version) > 0) {
			best, found = p, true
		}
	}
	if !found {
		where := "any configured Debian suite"
		if d.Suite != "" {
			where = d.Suite
		}
		return best, fmt.Errorf("no package matching %q in %s", d.Newest, where)
	}
	return best, nil
}

// closure returns root and the packages of the same kernel release it
// depends on (from 6.19 on, linux-image-<rel> is a metapackage over
// linux-binary-<rel>, linux-modules-<rel> and linux-base-<rel>). Packages
// the index no longer has are returned in missing with the reason.
func closure(idx index, root pkgVersion, release string) (pkgs []pkgVersion, missing map[string]string, err error) {
	missing = map[string]string{}
	seen := map[string]bool{root.Package: true}
	queue := []pkgVersion{root}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		pkgs = append(pkgs, p)
		deps, err := parseDepends(p.Depends)
		if err != nil {
			return nil, nil, fmt.Errorf("%s %s: Depends: %w", p.Package, p.Version, err)
		}
		for _, dep := range deps {
			if seen[dep.Name] || !strings.HasPrefix(dep.Name, "linux-") || !strings.HasSuffix(dep.Name, "-"+release) {
				continue
			}
			seen[dep.Name] = true
			q, ok := idx.find(dep.Name, dep.Version, "")
			if !ok {
				missing[dep.Name] = fmt.Sprintf("%s (= %s) is no longer in any configured Debian suite", dep.Name, dep.Version)
				continue
			}
			queue = append(queue, q)
		}
	}
	return pkgs, missing, nil
}

func findIn(tree string, rels ...string) string {
	for _, rel := range rels {
		p := filepath.Join(tree, rel)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// deb returns the verified .deb of p (of architecture a) from the cache, downloading
// it when absent or damaged. A download that fails verification is retried once.
func (f *Fetcher) deb(ctx context.Context, p pkgVersion, a string) (string, error) {
	dir := filepath.Join(f.CacheDir, "debs")
	dst := filepath.Join(dir, path.Base(p.Filename))
	if err := verify(dst, p); err == nil {
		f.progress("cached %s %s", p.Package, p.Version)
		return dst, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		f.progress("cached %s %s is damaged, fetching it again: %v", p.Package, p.Version, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	src, err := f.source(a)
	if err != nil {
		return "", err
	}
	unlock, err := lockFile(ctx, filepath.Join(src.dir(), "llconform.lock"), f.progress)
	if err != nil {
		return "", err
	}
	defer unlock()
	if verify(dst, p) == nil { // another run fetched it meanwhile
		return dst, nil
	}
	var lastErr error
	for attempt := 0; attempt < 2; attempt++ {
		os.Remove(dst)
		f.progress("fetching %s %s from %s (%.1f MB)", p.Package, p.Version, p.Suite, float64(p.Size)/(1<<20))
		tmp, err := os.MkdirTemp(dir, "download-")
		if err != nil {
			return "", err
		}
		got, err := src.download(ctx, p, tmp)
		if err == nil {
			err = os.Rename(got, dst)
		}
		os.RemoveAll(tmp)
		if err == nil {
			if err = verify(dst, p); err == nil {
				return dst, nil
			}
			os.Remove(dst)
		}
		lastErr = err
		if ctx.Err() != nil {
			break
		}
	}
	return "", fmt.Errorf("%s %s: %w", p.Package, p.Version, lastErr)
}

// verify checks a .deb against the size and SHA256 of the signed index.
func verify(file string, p pkgVersion) error {
	fh, err := os.Open(file)
	if err != nil {
		return err
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return err
	}
	if p.Size > 0 && st.Size() != p.Size {
		return fmt.Errorf("%s: %d bytes, index says %d (partial download?)", file, st.Size(), p.Size)
	}
	h := sha256.New()
	if _, err := io.Copy(h, fh); err != nil {
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != p.SHA256 {
		return fmt.Errorf("%s: SHA256 %s, index says %s", file, got, p.SHA256)
	}
	return nil
}

// extract unpacks the packages of one kernel once, together, into
// trees/<name>, as dpkg would install them: from 6.19 on, the image, config,
// modules.builtin and modules come from different packages but belong in one
// lib/modules/<release> directory. The final rename makes a half-extracted
// tree impossible to mistake for a complete one. The SHA256 of every file is
// recorded at extraction and checked on every use; a damaged tree is
// extracted again, once, from the (verified) packages.
func (f *Fetcher) extract(ctx context.Context, name string, debs []string) (string, error) {
	tree := filepath.Join(f.CacheDir, "trees", name)
	unlock, err := lockFile(ctx, filepath.Join(f.CacheDir, "locks", name+".lock"), f.progress)
	if err != nil {
		return "", err
	}
	defer unlock()
	if _, err := os.Stat(tree); err == nil {
		verr := verifyTree(tree)
		if verr == nil {
			return tree, nil
		}
		if errors.Is(verr, errNoManifest) {
			f.progress("extracted %s has no checksums (an older llconform's), extracting it again", name)
		} else {
			f.progress("extracted %s is damaged, extracting it again: %v", name, verr)
		}
		if err := removeTree(tree); err != nil {
			return "", fmt.Errorf("remove damaged %s: %w", tree, err)
		}
	}
	if err := unpack(ctx, tree, debs); err != nil {
		return "", err
	}
	if err := verifyTree(tree); err != nil {
		return "", fmt.Errorf("%s: fails verification right after extraction (disk or memory fault?): %w", tree, err)
	}
	return tree, nil
}

// unpack extracts debs into a temporary directory beside tree, records the
// manifest and renames it to tree. When another run got there first with a
// tree that verifies, that one is kept.
func unpack(ctx context.Context, tree string, debs []string) error {
	if err := os.MkdirAll(filepath.Dir(tree), 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(tree), ".extract-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp) // a no-op once renamed
	// dpkg-deb where the host has it (every Debian and Ubuntu host); llconform's own
	// extraction elsewhere.
	_, lookErr := exec.LookPath("dpkg-deb")
	for _, deb := range debs {
		if lookErr != nil {
			if err := extractDeb(deb, tmp); err != nil {
				return err
			}
			continue
		}
		if _, err := runCmd(ctx, DpkgTimeout, "dpkg-deb -x "+deb, "", filepath.Dir(tree), nil, "dpkg-deb", "-x", deb, tmp); err != nil {
			return err
		}
	}
	if err := writeManifest(tmp); err != nil {
		return fmt.Errorf("record the checksums of %s: %w", tree, err)
	}
	if err := os.Rename(tmp, tree); err != nil {
		if verifyTree(tree) == nil {
			return nil
		}
		return fmt.Errorf("install extracted %s: %w", tree, err)
	}
	return nil
}

// The record lets a pinned kernel fetched before be used without network.
func (f *Fetcher) recordPath(pkg string) string {
	return filepath.Join(f.CacheDir, "kernels", pkg+".json")
}

func (f *Fetcher) writeRecord(k *Kernel) error {
	b, err := json.MarshalIndent(k, "", "  ")
	if err != nil {
		return err
	}
	p := f.recordPath(k.Package)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return os.WriteFile(p, b, 0o644)
}

func (f *Fetcher) readRecord(e Entry) (*Kernel, error) {
	d := e.Debian
	if d.Package == "" {
		return nil, errors.New("newest-in-suite needs the package lists")
	}
	b, err := os.ReadFile(f.recordPath(d.Package))
	if err != nil {
		return nil, err
	}
	var k Kernel
	if err := json.Unmarshal(b, &k); err != nil {
		return nil, err
	}
	if d.Version != "" && k.Version != d.Version {
		return nil, fmt.Errorf("cached %s is version %s, not %s", d.Package, k.Version, d.Version)
	}
	if _, err := os.Stat(k.BzImage); err != nil {
		return nil, err
	}
	trees := filepath.Join(f.CacheDir, "trees")
	if rel, err := filepath.Rel(trees, k.BzImage); err == nil && !strings.HasPrefix(rel, "..") {
		tree := filepath.Join(trees, strings.Split(filepath.ToSlash(rel), "/")[0])
		if err := verifyTree(tree); err != nil {
			return nil, fmt.Errorf("cached %s is damaged and cannot be extracted again without the package lists: %w", d.Package, err)
		}
	}
	k.Name, k.Arch = e.Name, cmp.Or(e.Arch, arch.Default)
	return &k, nil
}
