package kernel

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/ulikunitz/xz"
)

// testELF returns a minimal 64-bit ELF executable with one PT_NOTE segment holding a note
// of the given owner and type.
func testELF(owner string, noteType uint32) []byte {
	const ehsize, phsize = 64, 56
	name := append([]byte(owner), 0)
	note := binary.LittleEndian.AppendUint32(nil, uint32(len(name)))
	note = binary.LittleEndian.AppendUint32(note, 8)
	note = binary.LittleEndian.AppendUint32(note, noteType)
	note = append(note, name...)
	note = append(note, make([]byte, align4(len(name))-len(name))...)
	note = binary.LittleEndian.AppendUint64(note, 0x1000000) // the entry address
	le := binary.LittleEndian
	h := make([]byte, ehsize+phsize)
	copy(h, "\x7fELF\x02\x01\x01")
	le.PutUint16(h[16:], 2)    // ET_EXEC
	le.PutUint16(h[18:], 0x3e) // EM_X86_64
	le.PutUint32(h[20:], 1)
	le.PutUint64(h[32:], ehsize) // e_phoff
	le.PutUint16(h[52:], ehsize)
	le.PutUint16(h[54:], phsize)
	le.PutUint16(h[56:], 1) // e_phnum
	p := h[ehsize:]
	le.PutUint32(p[0:], 4)                  // PT_NOTE
	le.PutUint64(p[8:], ehsize+phsize)      // p_offset
	le.PutUint64(p[32:], uint64(len(note))) // p_filesz
	le.PutUint64(p[40:], uint64(len(note))) // p_memsz
	return append(h, note...)
}

// testBzImage wraps payload in an x86 boot image: one setup sector after the boot sector,
// the payload right after them.
func testBzImage(payload []byte) []byte {
	img := make([]byte, 2*512)
	img[setupSectsOffset] = 1
	copy(img[bootMagicOffset:], "HdrS")
	binary.LittleEndian.PutUint32(img[payloadOffsetOffset:], 0)
	binary.LittleEndian.PutUint32(img[payloadLengthOffset:], uint32(len(payload)))
	return append(img, payload...)
}

func compress(t *testing.T, format string, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	switch format {
	case "gzip":
		w := gzip.NewWriter(&b)
		w.Write(data)
		w.Close()
		return b.Bytes() // gzip's trailer already ends in the size
	case "zstd":
		w, _ := zstd.NewWriter(&b)
		w.Write(data)
		w.Close()
	case "xz":
		w, err := xz.NewWriter(&b)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data)
		w.Close()
	case "lz4":
		w := lz4.NewWriter(&b)
		if err := w.Apply(lz4.LegacyOption(true)); err != nil {
			t.Fatal(err)
		}
		w.Write(data)
		w.Close()
	default:
		b.Write(data)
	}
	return binary.LittleEndian.AppendUint32(b.Bytes(), uint32(len(data)))
}

func writeFile(t *testing.T, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "bzImage")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestExtractPVH(t *testing.T) {
	pvh := testELF("Xen", xenNotePVHEntry)
	for _, format := range []string{"zstd", "gzip", "xz", "lz4"} {
		t.Run(format, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "vmlinux")
			if err := ExtractPVH(writeFile(t, testBzImage(compress(t, format, pvh))), out); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(out)
			if err != nil || !bytes.Equal(got, pvh) {
				t.Errorf("extracted %d bytes (%v), want the %d-byte ELF image", len(got), err, len(pvh))
			}
		})
	}
}

func TestExtractPVHRefuses(t *testing.T) {
	pvh := testELF("Xen", xenNotePVHEntry)
	gz := compress(t, "gzip", pvh)
	badSize := compress(t, "zstd", pvh)
	binary.LittleEndian.PutUint32(badSize[len(badSize)-4:], uint32(len(pvh)+1))
	corrupt := compress(t, "zstd", pvh)
	corrupt[len(corrupt)/2] ^= 0xff
	for _, c := range []struct {
		name  string
		image []byte
		noPVH bool   // the image is fine, just not bootable through PVH
		want  string // in the error
	}{
		{"no PVH note", testBzImage(compress(t, "zstd", testELF("Xen", 5))), true, "no PVH entry point"},
		{"note of another owner", testBzImage(compress(t, "zstd", testELF("GNU", xenNotePVHEntry))), true, "no PVH entry point"},
		{"bzip2", testBzImage(compress(t, "none", append([]byte("BZh9"), pvh...))), true, "other than zstd, gzip, xz or LZ4"},
		{"not a boot image", append(make([]byte, 0x300), gz...), true, "not an x86 boot image"},
		{"payload past the end", testBzImage(gz)[:1024+len(gz)/2], true, "outside"},
		{"not ELF inside", testBzImage(compress(t, "zstd", []byte("just some bytes"))), true, "not ELF"},
		{"size mismatch", testBzImage(badSize), false, "the image says"},
		{"corrupt data", testBzImage(corrupt), false, "decompress the kernel"},
	} {
		t.Run(c.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "vmlinux")
			err := ExtractPVH(writeFile(t, c.image), out)
			if err == nil || errors.Is(err, ErrNoPVH) != c.noPVH || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error with %q (ErrNoPVH: %v)", err, c.want, c.noPVH)
			}
			if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a refused image left %s behind (%v)", out, err)
			}
		})
	}
}

// A fetched kernel's PVH image is taken out once, kept beside its bzImage with its
// checksum, and taken out again when it no longer matches; a local kernel's goes to the
// scratch path each time.
func TestPVHCache(t *testing.T) {
	pvh := testELF("Xen", xenNotePVHEntry)
	bz := writeFile(t, testBzImage(compress(t, "zstd", pvh)))
	scratch := filepath.Join(t.TempDir(), "vmlinux")

	local := &Kernel{BzImage: bz}
	image, temporary, err := local.PVH(scratch)
	if err != nil || image != scratch || !temporary {
		t.Fatalf("local kernel: %q, temporary %v, %v; want %q, temporary", image, temporary, err, scratch)
	}

	fetched := &Kernel{BzImage: bz, Package: "linux-image-test"}
	cached := bz + CachedPVHSuffix
	check := func(when string) {
		t.Helper()
		image, temporary, err := fetched.PVH(scratch)
		if err != nil || image != cached || temporary {
			t.Fatalf("%s: %q, temporary %v, %v; want %q, kept", when, image, temporary, err, cached)
		}
		if got, err := os.ReadFile(cached); err != nil || !bytes.Equal(got, pvh) {
			t.Fatalf("%s: cached image of %d bytes (%v), want the %d-byte ELF image", when, len(got), err, len(pvh))
		}
	}
	check("first use")
	// The bzImage is no longer read once its image is kept.
	if err := os.WriteFile(bz, []byte("not a boot image"), 0o644); err != nil {
		t.Fatal(err)
	}
	check("second use")
	// A damaged image is taken out again.
	if err := os.WriteFile(bz, testBzImage(compress(t, "zstd", pvh)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cached, pvh[:len(pvh)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	check("after damage")
}
