package initramfs

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"debug/elf"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/klauspost/compress/zstd"
	"github.com/u-root/u-root/pkg/cpio"
	"github.com/ulikunitz/xz"

	"github.com/llconform/llconform/vm/plan"
)

// Modules is what WriteModules put in the archive.
type Modules struct {
	// Order lists the modules written, dependencies first: the agent loads
	// them in this order.
	Order []string
	// Builtin lists wanted modules that are built into the kernel.
	Builtin []string
	// Missing lists wanted modules, or their dependencies, that are neither
	// built in nor in the modules directory.
	Missing []string
}

// WriteModules writes an archive holding the wanted modules and everything
// they depend on, decompressed, under /lib/modules/<release>/, with the load
// order in plan.ModulesList. Dependencies are read from each module's
// .modinfo "depends=" field rather than from modules.dep, because Debian's
// packages do not ship modules.dep (depmod builds it at install time).
func WriteModules(w io.Writer, modulesDir, release string, wanted []string) (Modules, error) {
	files, err := indexModules(modulesDir)
	if err != nil {
		return Modules{}, err
	}
	builtin := readBuiltin(filepath.Join(modulesDir, "modules.builtin"))
	content := map[string][]byte{}
	lookup := func(name string) ([]string, bool, error) {
		if builtin[name] {
			return nil, true, nil
		}
		p, ok := files[name]
		if !ok {
			return nil, false, nil
		}
		b, err := readModule(p)
		if err != nil {
			return nil, false, err
		}
		deps, err := modinfoDepends(b)
		if err != nil {
			return nil, false, fmt.Errorf("%s: %w", p, err)
		}
		content[name] = b
		return deps, true, nil
	}
	order, missing, err := Resolve(wanted, lookup)
	if err != nil {
		return Modules{}, err
	}
	var res Modules
	res.Missing = missing
	dir := path.Join("lib/modules", release)
	var recs []cpio.Record
	for _, name := range order {
		b, ok := content[name]
		if !ok { // built in
			if contains(wanted, name) {
				res.Builtin = append(res.Builtin, name)
			}
			continue
		}
		res.Order = append(res.Order, name)
		recs = append(recs, cpio.StaticRecord(b, cpio.Info{Name: path.Join(dir, name+".ko"), Mode: cpio.S_IFREG | 0o644}))
	}
	var list strings.Builder
	for _, name := range res.Order {
		list.WriteString(name + ".ko\n")
	}
	recs = append(recs, cpio.StaticFile(path.Join(dir, plan.ModulesList), list.String(), 0o644))
	return res, writeArchive(w, recs)
}

func contains(list []string, name string) bool {
	for _, s := range list {
		if normalize(s) == name {
			return true
		}
	}
	return false
}

// Resolve orders the wanted modules and their dependencies so that every
// module comes after the modules it depends on. lookup reports a module's
// dependencies and whether it exists. Unknown modules are returned in
// missing and left out of order; a module that needs a missing one is still
// listed (loading it will fail in the guest and be reported there).
func Resolve(wanted []string, lookup func(name string) (deps []string, found bool, err error)) (order, missing []string, err error) {
	const (
		visiting = 1
		done     = 2
	)
	state := map[string]int{}
	var visit func(name string, chain []string) error
	visit = func(name string, chain []string) error {
		switch state[name] {
		case done:
			return nil
		case visiting:
			return fmt.Errorf("module dependency cycle: %s -> %s", strings.Join(chain, " -> "), name)
		}
		state[name] = visiting
		deps, found, err := lookup(name)
		if err != nil {
			return fmt.Errorf("module %s: %w", name, err)
		}
		if !found {
			state[name] = done
			missing = append(missing, name)
			return nil
		}
		for _, d := range deps {
			if err := visit(normalize(d), append(chain, name)); err != nil {
				return err
			}
		}
		state[name] = done
		order = append(order, name)
		return nil
	}
	for _, w := range wanted {
		if err := visit(normalize(w), nil); err != nil {
			return nil, nil, err
		}
	}
	return order, missing, nil
}

// normalize maps a module or file name to the kernel's module name: "-"
// and "_" are interchangeable in module names.
func normalize(name string) string {
	return strings.ReplaceAll(name, "-", "_")
}

var moduleExts = []string{".ko", ".ko.xz", ".ko.zst", ".ko.gz"}

func moduleName(file string) (string, bool) {
	for _, ext := range moduleExts {
		if strings.HasSuffix(file, ext) {
			return normalize(strings.TrimSuffix(file, ext)), true
		}
	}
	return "", false
}

func indexModules(dir string) (map[string]string, error) {
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if name, ok := moduleName(d.Name()); ok && !d.IsDir() {
			files[name] = p
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("index modules: %w", err)
	}
	return files, nil
}

// readBuiltin reads modules.builtin (paths such as kernel/fs/ext4/ext4.ko);
// a missing file means nothing is known to be built in.
func readBuiltin(p string) map[string]bool {
	m := map[string]bool{}
	f, err := os.Open(p)
	if err != nil {
		return m
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if name, ok := moduleName(path.Base(strings.TrimSpace(sc.Text()))); ok {
			m[name] = true
		}
	}
	return m
}

// readModule returns a module's ELF image, decompressed: the guest's
// finit_module may lack the kernel's in-kernel decompression support.
func readModule(p string) ([]byte, error) {
	// Read whole, as the decompressors read a byte at a time: reading from the file itself
	// cost a matrix's kernel over 300,000 one-byte reads, the biggest part of its
	// initramfs stage, beside the running VMs.
	raw, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	src := bytes.NewReader(raw)
	var r io.Reader = src
	switch {
	case strings.HasSuffix(p, ".xz"):
		r, err = xz.NewReader(src)
	case strings.HasSuffix(p, ".zst"):
		var d *zstd.Decoder
		d, err = zstd.NewReader(src)
		if err == nil {
			defer d.Close()
			r = d
		}
	case strings.HasSuffix(p, ".gz"):
		r, err = gzip.NewReader(src)
	}
	if err != nil {
		return nil, fmt.Errorf("decompress %s: %w", p, err)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("decompress %s: %w", p, err)
	}
	return b, nil
}

func modinfoDepends(ko []byte) ([]string, error) {
	f, err := elf.NewFile(bytes.NewReader(ko))
	if err != nil {
		return nil, err
	}
	sec := f.Section(".modinfo")
	if sec == nil {
		return nil, fmt.Errorf("no .modinfo section")
	}
	data, err := sec.Data()
	if err != nil {
		return nil, err
	}
	return parseDepends(data), nil
}

// parseDepends extracts "depends=a,b" from a .modinfo section: NUL
// separated key=value strings.
func parseDepends(modinfo []byte) []string {
	for _, kv := range bytes.Split(modinfo, []byte{0}) {
		if v, ok := bytes.CutPrefix(kv, []byte("depends=")); ok {
			var deps []string
			for _, d := range strings.Split(string(v), ",") {
				if d != "" {
					deps = append(deps, d)
				}
			}
			return deps
		}
	}
	return nil
}
