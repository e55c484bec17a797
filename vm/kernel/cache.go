package kernel

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/llconform/llconform/internal/filelock"
)

// manifestName is the file, inside an extracted tree, that lists the SHA256
// of every regular file of the tree (vmlinuz, config, modules), in
// sha256sum(1) format: `cd <tree> && sha256sum -c .llconform.sha256`.
const manifestName = ".llconform.sha256"

// errNoManifest: the tree was extracted by an llconform that recorded no checksums.
var errNoManifest = errors.New("no checksums recorded")

// lockFile takes the exclusive lock on path (created if needed), waiting while another
// process or Fetcher holds it; waiting is reported once through progress. The returned
// function releases it.
func lockFile(ctx context.Context, path string, progress func(string, ...any)) (func(), error) {
	l, err := filelock.Wait(ctx, path, func() {
		if progress != nil {
			progress("waiting for another llconform using %s", path)
		}
	})
	if err != nil {
		return nil, err
	}
	return l.Release, nil
}

func hashFile(p string) (string, error) {
	fh, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer fh.Close()
	h := sha256.New()
	if _, err := io.Copy(h, fh); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// writeManifest records the SHA256 of every regular file under tree.
func writeManifest(tree string) error {
	var lines []string
	err := filepath.WalkDir(tree, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		rel, err := filepath.Rel(tree, p)
		if err != nil || rel == manifestName {
			return err
		}
		sum, err := hashFile(p)
		if err != nil {
			return err
		}
		lines = append(lines, sum+"  "+filepath.ToSlash(rel)+"\n")
		return nil
	})
	if err != nil {
		return err
	}
	sort.Strings(lines)
	return os.WriteFile(filepath.Join(tree, manifestName), []byte(strings.Join(lines, "")), 0o644)
}

// verifyTree checks every file of tree's manifest against its SHA256. A
// tree without a manifest (extracted by an older llconform, or half
// written) fails too.
func verifyTree(tree string) error {
	fh, err := os.Open(filepath.Join(tree, manifestName))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%s: %w", tree, errNoManifest)
		}
		return err
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	n := 0
	for sc.Scan() {
		sum, rel, ok := strings.Cut(sc.Text(), "  ")
		if !ok || len(sum) != 64 || rel == "" {
			return fmt.Errorf("%s: bad line %q", manifestName, sc.Text())
		}
		got, err := hashFile(filepath.Join(tree, filepath.FromSlash(rel)))
		if err != nil {
			return err
		}
		if got != sum {
			return fmt.Errorf("%s: SHA256 %s, recorded at extraction %s", filepath.Join(tree, rel), got, sum)
		}
		n++
	}
	if err := sc.Err(); err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("%s: empty manifest", tree)
	}
	return nil
}

// removeTree removes a damaged tree: renamed aside first, so that no one
// sees a half-removed tree under its name.
func removeTree(tree string) error {
	aside, err := os.MkdirTemp(filepath.Dir(tree), ".remove-")
	if err != nil {
		return err
	}
	dst := filepath.Join(aside, "tree")
	if err := os.Rename(tree, dst); err != nil && !errors.Is(err, os.ErrNotExist) {
		os.RemoveAll(aside)
		return err
	}
	return os.RemoveAll(aside)
}
