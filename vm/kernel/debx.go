package kernel

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// extractDeb unpacks the data archive of a .deb into dir, as dpkg-deb -x does, for a host
// without dpkg: a .deb is an ar archive whose data.tar member (xz, zstd, gzip or plain)
// holds the files. Regular files, directories, symbolic and hard links are created; no
// entry may leave dir, either by its name or through a symbolic link extracted before it.
func extractDeb(deb, dir string) error {
	f, err := os.Open(deb)
	if err != nil {
		return err
	}
	defer f.Close()
	name, data, err := findDataMember(bufio.NewReader(f))
	if err != nil {
		return fmt.Errorf("%s: %w", deb, err)
	}
	var r io.Reader
	switch {
	case strings.HasSuffix(name, ".xz"):
		x, err := xz.NewReader(data)
		if err != nil {
			return fmt.Errorf("%s: %s: %w", deb, name, err)
		}
		r = x
	case strings.HasSuffix(name, ".zst"):
		z, err := zstd.NewReader(data)
		if err != nil {
			return fmt.Errorf("%s: %s: %w", deb, name, err)
		}
		defer z.Close()
		r = z
	case strings.HasSuffix(name, ".gz"):
		g, err := gzip.NewReader(data)
		if err != nil {
			return fmt.Errorf("%s: %s: %w", deb, name, err)
		}
		r = g
	case name == "data.tar":
		r = data
	default:
		return fmt.Errorf("%s: unsupported data member %s", deb, name)
	}
	if err := extractTar(tar.NewReader(r), dir); err != nil {
		return fmt.Errorf("%s: %s: %w", deb, name, err)
	}
	return nil
}

// findDataMember reads the ar archive up to its data.tar* member and returns the member's
// name and content.
func findDataMember(r *bufio.Reader) (string, io.Reader, error) {
	magic := make([]byte, 8)
	if _, err := io.ReadFull(r, magic); err != nil || string(magic) != "!<arch>\n" {
		return "", nil, errors.New("not a Debian package (no ar archive magic)")
	}
	for {
		hdr := make([]byte, 60)
		if _, err := io.ReadFull(r, hdr); err != nil {
			if errors.Is(err, io.EOF) {
				return "", nil, errors.New("no data.tar member")
			}
			return "", nil, fmt.Errorf("ar header: %w", err)
		}
		if string(hdr[58:60]) != "`\n" {
			return "", nil, errors.New("bad ar member header")
		}
		name := strings.TrimSuffix(strings.TrimSpace(string(hdr[0:16])), "/")
		size, err := strconv.ParseInt(strings.TrimSpace(string(hdr[48:58])), 10, 64)
		if err != nil || size < 0 {
			return "", nil, fmt.Errorf("ar member %s: bad size %q", name, hdr[48:58])
		}
		if strings.HasPrefix(name, "data.tar") {
			return name, io.LimitReader(r, size), nil
		}
		// Members are padded to an even size.
		if _, err := io.CopyN(io.Discard, r, size+size%2); err != nil {
			return "", nil, fmt.Errorf("ar member %s: %w", name, err)
		}
	}
}

// extractTar writes the entries of tr under dir.
func extractTar(tr *tar.Reader, dir string) error {
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		rel, err := entryPath(h.Name)
		if err != nil {
			return err
		}
		if rel == "" {
			continue // "./"
		}
		dst := filepath.Join(dir, rel)
		if err := noLinkAbove(dir, rel); err != nil {
			return err
		}
		mode := fs.FileMode(h.Mode).Perm()
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(dst, 0o755); err != nil {
				return err
			}
			if err := os.Chmod(dst, mode|0o700); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				return err
			}
			os.Remove(dst)
			out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, mode|0o600)
			if err != nil {
				return err
			}
			if _, err := io.Copy(out, tr); err != nil {
				out.Close()
				return err
			}
			if err := out.Close(); err != nil {
				return err
			}
		case tar.TypeSymlink:
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				return err
			}
			os.Remove(dst)
			if err := os.Symlink(h.Linkname, dst); err != nil {
				return err
			}
		case tar.TypeLink:
			target, err := entryPath(h.Linkname)
			if err != nil || target == "" {
				return fmt.Errorf("%s: bad hard link target %q", h.Name, h.Linkname)
			}
			if err := noLinkAbove(dir, target); err != nil {
				return err
			}
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				return err
			}
			os.Remove(dst)
			if err := os.Link(filepath.Join(dir, target), dst); err != nil {
				return err
			}
		default:
			// Device nodes and FIFOs have no place in a kernel package: skip, as an
			// unprivileged dpkg-deb -x would fail to create them.
		}
	}
}

// entryPath cleans a tar entry's name to a relative path inside the archive's root, or
// refuses it.
func entryPath(name string) (string, error) {
	for _, part := range strings.Split(name, "/") {
		if part == ".." {
			return "", fmt.Errorf("entry %q leaves the archive's root", name)
		}
	}
	return strings.TrimPrefix(path.Clean("/"+name), "/"), nil
}

// noLinkAbove refuses to write rel under dir when a directory on its way is a symbolic
// link: following it could write outside dir.
func noLinkAbove(dir, rel string) error {
	parts := strings.Split(filepath.Dir(rel), string(filepath.Separator))
	p := dir
	for _, part := range parts {
		if part == "." || part == "" {
			continue
		}
		p = filepath.Join(p, part)
		st, err := os.Lstat(p)
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if st.Mode()&os.ModeSymlink != 0 {
			return fmt.Errorf("entry %q goes through the symbolic link %s", rel, p)
		}
	}
	return nil
}
