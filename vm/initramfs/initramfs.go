// Package initramfs writes the guest's initramfs as newc cpio archives with
// u-root's pkg/cpio (no cpio binary needed): a base archive shared by every
// kernel (agent as /init, plan, the suites binary and helper, a skeleton root) and a
// per-kernel modules archive. The kernel unpacks concatenated archives in
// order, so a kernel's initrd is the base followed by its modules archive.
package initramfs

import (
	"debug/elf"
	"fmt"
	"io"
	"os"

	"github.com/u-root/u-root/pkg/cpio"

	"github.com/llconform/llconform/vm/plan"
)

// File is a host file to place in the archive.
type File struct {
	Src  string // host path
	Dest string // absolute path in the guest
}

// SuiteDir is where the suites binary and its helper go in the guest.
const SuiteDir = "/suites"

// WriteBase writes the base archive: the agent as /init, the plan at
// plan.Path and the given files (suite binaries). Executables must be
// statically linked, since the guest has no libc.
func WriteBase(w io.Writer, agent string, planJSON []byte, files []File) error {
	recs := []cpio.Record{
		cpio.Directory("dev", 0o755),
		cpio.Directory("proc", 0o555),
		cpio.Directory("sys", 0o555),
		cpio.Directory("tmp", 0o1777),
		cpio.Directory("run", 0o755),
		cpio.Directory("etc", 0o755),
		cpio.Directory("lib/modules", 0o755),
		cpio.Directory(SuiteDir[1:], 0o755),
		// The kernel opens /dev/console for init's stdio before any
		// devtmpfs is mounted, so the node must be in the archive.
		cpio.CharDev("dev/console", 0o600, 5, 1),
		cpio.StaticFile("etc/passwd", "root:x:0:0:root:/tmp:/bin/false\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n", 0o644),
		cpio.StaticFile("etc/group", "root:x:0:\nnogroup:x:65534:\n", 0o644),
		cpio.StaticFile("etc/hosts", "127.0.0.1\tlocalhost\n::1\tlocalhost\n", 0o644),
		cpio.StaticFile(plan.Path[1:], string(planJSON), 0o644),
	}
	srcs := append([]File{{Src: agent, Dest: "/init"}}, files...)
	for _, f := range srcs {
		exe, rec, err := openStaticExecutable(f.Src, f.Dest[1:])
		if err != nil {
			return err
		}
		defer exe.Close()
		recs = append(recs, rec)
	}
	return writeArchive(w, recs)
}

// openStaticExecutable opens src and returns it with its record as dest, which reads from
// it as the archive is written: copying the binaries (20 MB) into memory first took the
// default matrix's base archive 0.6 s, against 15 ms, before the first boot of every run.
func openStaticExecutable(src, dest string) (*os.File, cpio.Record, error) {
	f, err := os.Open(src)
	if err != nil {
		return nil, cpio.Record{}, err
	}
	fi, err := f.Stat()
	if err == nil {
		err = checkStatic(f)
	}
	if err != nil {
		f.Close()
		return nil, cpio.Record{}, err
	}
	return f, cpio.Record{ReaderAt: f, Info: cpio.Info{Name: dest, Mode: cpio.S_IFREG | 0o755, FileSize: uint64(fi.Size())}}, nil
}

// checkStatic rejects dynamically linked ELF files: in the guest they would
// fail with a confusing "no such file or directory".
func checkStatic(f *os.File) error {
	e, err := elf.NewFile(f)
	if err != nil {
		return fmt.Errorf("%s: %w", f.Name(), err)
	}
	for _, prog := range e.Progs {
		if prog.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked: build it with CGO_ENABLED=0", f.Name())
		}
	}
	return nil
}

// writeArchive writes records in order with u-root's WriteRecordsAndDirs, which precedes
// each record with whichever of its parent directories is not yet in the archive (the
// kernel does not create missing parents) and refuses a path written twice, then the
// trailer. Records are made reproducible: no times, owners or devices of the host.
func writeArchive(w io.Writer, recs []cpio.Record) error {
	rw := cpio.NewDedupWriter(parentDirs{cpio.Newc.Writer(w)})
	for _, r := range recs {
		if err := cpio.WriteRecordsAndDirs(rw, []cpio.Record{cpio.MakeReproducible(r)}); err != nil {
			return fmt.Errorf("write cpio: %w", err)
		}
	}
	if err := cpio.WriteTrailer(rw); err != nil {
		return fmt.Errorf("write cpio trailer: %w", err)
	}
	return nil
}

// parentDirs adjusts the parent directories WriteRecordsAndDirs makes to what the guest has
// always had: it leaves out "." (the parent of a top-level file, which would chmod the
// guest's root directory) and gives the others mode 0755 rather than 0777.
type parentDirs struct{ cpio.RecordWriter }

func (p parentDirs) WriteRecord(r cpio.Record) error {
	if r.Name == "." {
		return nil
	}
	if r.Mode == cpio.S_IFDIR|0o777 {
		r.Mode = cpio.S_IFDIR | 0o755
	}
	return p.RecordWriter.WriteRecord(r)
}
