package kernel

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"debug/elf"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/ulikunitz/xz"

	"github.com/llconform/llconform/internal/atomicfile"
)

// Offsets in the x86 boot protocol's setup header (Documentation/arch/x86/boot.rst).
const (
	setupSectsOffset    = 0x1f1 // 1 byte: 512-byte sectors of real-mode setup after the boot sector (0 means 4)
	payloadOffsetOffset = 0x248 // 4 bytes, protocol 2.08+: where the compressed kernel starts, after the setup
	payloadLengthOffset = 0x24c // 4 bytes: its length
)

// xenNotePVHEntry is XEN_ELFNOTE_PHYS32_ENTRY: a vmlinux that carries it can be started by
// QEMU through the PVH boot protocol, without the bzImage's decompressor.
const xenNotePVHEntry = 18

// ErrNoPVH says that a bzImage cannot be booted through PVH: its kernel is compressed in a
// way ExtractPVH does not decode (bzip2, LZMA, LZO), or has no PVH entry point (a kernel built without
// CONFIG_PVH). The caller boots the bzImage itself.
var ErrNoPVH = errors.New("no PVH-bootable kernel inside")

// CachedPVHSuffix names a fetched kernel's PVH image, kept beside its bzImage in the
// cache; its SHA256 is beside it, in a file named with sumSuffix added.
const CachedPVHSuffix = ".pvh"

const sumSuffix = ".sha256"

// PVH returns the image of k to boot through PVH (ExtractPVH), and whether it is
// temporary, to be removed after the boot. A fetched kernel's is taken out once and kept
// beside its bzImage in the cache, with its SHA256, checked on every use like the rest of
// the extracted tree (a damaged one is taken out again): taking it out costs 0.6 to 1.2 s
// of host CPU, which a matrix would otherwise spend again on every kernel of every run,
// beside the running VMs. A local kernel's is written to scratch for this run only, as
// its bzImage may be rebuilt between runs.
func (k *Kernel) PVH(scratch string) (image string, temporary bool, err error) {
	if k.Package == "" {
		return scratch, true, ExtractPVH(k.BzImage, scratch)
	}
	image = k.BzImage + CachedPVHSuffix
	if want, err := os.ReadFile(image + sumSuffix); err == nil {
		if got, err := hashFile(image); err == nil && got == string(want) {
			return image, false, nil
		}
	}
	vmlinux, err := pvhKernel(k.BzImage)
	if err != nil {
		return "", false, err
	}
	sum := sha256.Sum256(vmlinux)
	// The image first: a run sharing the cache that reads the new image with the old
	// checksum, or none, takes it out again; neither file is ever seen half-written.
	if err := atomicfile.Write(image, bytesOf(vmlinux)); err != nil {
		return "", false, err
	}
	if err := atomicfile.Write(image+sumSuffix, bytesOf([]byte(hex.EncodeToString(sum[:])))); err != nil {
		return "", false, err
	}
	return image, false, nil
}

// ExtractPVH writes the uncompressed kernel (vmlinux) inside the x86 bzImage at bzImage to
// out, for QEMU to start through its PVH entry point. Under TCG the bzImage's own
// decompressor costs 1 to 2 s of every boot (a Debian kernel is 14 MB of zstd unpacking to
// 62 MB); on the host it takes a tenth of a second. An image that cannot be booted so gives
// an error wrapping ErrNoPVH.
func ExtractPVH(bzImage, out string) error {
	vmlinux, err := pvhKernel(bzImage)
	if err != nil {
		return err
	}
	return atomicfile.Write(out, bytesOf(vmlinux))
}

// bytesOf is an atomicfile.Write callback that writes b.
func bytesOf(b []byte) func(io.Writer) error {
	return func(w io.Writer) error { _, err := w.Write(b); return err }
}

// pvhKernel returns the uncompressed kernel inside bzImage, checked to have a PVH entry
// point.
func pvhKernel(bzImage string) ([]byte, error) {
	img, err := os.ReadFile(bzImage)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", bzImage, err)
	}
	vmlinux, err := decompressPayload(img)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", bzImage, err)
	}
	if err := checkPVHEntry(vmlinux); err != nil {
		return nil, fmt.Errorf("%s: %w", bzImage, err)
	}
	return vmlinux, nil
}

// decompressPayload returns the kernel a bzImage carries, uncompressed. The payload ends in
// the uncompressed size (4 bytes, little-endian): gzip's own trailer, appended by the
// kernel's build to the other formats. It is checked against what came out.
func decompressPayload(img []byte) ([]byte, error) {
	if len(img) < payloadLengthOffset+4 || string(img[bootMagicOffset:bootMagicOffset+4]) != "HdrS" {
		return nil, fmt.Errorf("not an x86 boot image: %w", ErrNoPVH)
	}
	setup := int(img[setupSectsOffset])
	if setup == 0 {
		setup = 4
	}
	start := (setup+1)*512 + int(binary.LittleEndian.Uint32(img[payloadOffsetOffset:]))
	n := int(binary.LittleEndian.Uint32(img[payloadLengthOffset:]))
	if n < 8 || start+n > len(img) {
		return nil, fmt.Errorf("payload at %d, %d bytes, outside the %d-byte image: %w", start, n, len(img), ErrNoPVH)
	}
	payload := img[start : start+n]
	data, size := payload[:n-4], int(binary.LittleEndian.Uint32(payload[n-4:]))
	var out []byte
	var err error
	switch {
	case bytes.HasPrefix(data, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		var d *zstd.Decoder
		if d, err = zstd.NewReader(nil, zstd.WithDecoderMaxMemory(1<<30)); err == nil {
			out, err = d.DecodeAll(data, make([]byte, 0, size))
			d.Close()
		}
	case bytes.HasPrefix(data, []byte{0x1f, 0x8b}):
		var r *gzip.Reader
		if r, err = gzip.NewReader(bytes.NewReader(payload)); err == nil {
			out, err = readSized(r, size)
		}
	case bytes.HasPrefix(data, []byte{0xfd, '7', 'z', 'X', 'Z', 0}):
		var r *xz.Reader
		if r, err = xz.NewReader(bytes.NewReader(data)); err == nil {
			out, err = readSized(r, size)
		}
	case bytes.HasPrefix(data, []byte{0x02, 0x21, 0x4c, 0x18}): // the legacy LZ4 frame of Debian's kernels up to 6.1
		out, err = readSized(lz4.NewReader(bytes.NewReader(data)), size)
	default:
		return nil, fmt.Errorf("kernel compressed with a format other than zstd, gzip, xz or LZ4 (magic % x): %w", data[:min(len(data), 6)], ErrNoPVH)
	}
	if err != nil {
		return nil, fmt.Errorf("decompress the kernel: %w", err)
	}
	if len(out) != size {
		return nil, fmt.Errorf("decompressed kernel is %d bytes, the image says %d", len(out), size)
	}
	return out, nil
}

func readSized(r io.Reader, size int) ([]byte, error) {
	var b bytes.Buffer
	b.Grow(size)
	_, err := b.ReadFrom(r)
	return b.Bytes(), err
}

// checkPVHEntry says whether vmlinux is an ELF image with a Xen PHYS32_ENTRY note.
func checkPVHEntry(vmlinux []byte) error {
	f, err := elf.NewFile(bytes.NewReader(vmlinux))
	if err != nil {
		return fmt.Errorf("decompressed kernel is not ELF (%v): %w", err, ErrNoPVH)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type != elf.PT_NOTE {
			continue
		}
		notes, err := io.ReadAll(p.Open())
		if err != nil {
			return fmt.Errorf("read the kernel's notes: %w", err)
		}
		for len(notes) >= 12 {
			namesz, descsz, typ := f.ByteOrder.Uint32(notes), f.ByteOrder.Uint32(notes[4:]), f.ByteOrder.Uint32(notes[8:])
			name := notes[12:min(len(notes), 12+int(namesz))]
			if string(bytes.TrimRight(name, "\x00")) == "Xen" && typ == xenNotePVHEntry {
				return nil
			}
			next := 12 + align4(int(namesz)) + align4(int(descsz))
			if next <= 0 || next > len(notes) {
				break
			}
			notes = notes[next:]
		}
	}
	return fmt.Errorf("kernel has no PVH entry point (built without CONFIG_PVH): %w", ErrNoPVH)
}

func align4(n int) int { return (n + 3) &^ 3 }
