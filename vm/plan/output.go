package plan

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// maxOutput caps a suite's captured output so that a runaway suite cannot exhaust memory
// (in the guest, all of it is RAM).
const maxOutput = 32 << 20

// trimEvery is how often outputFile frees what a suite wrote past its cap.
const trimEvery = time.Second

// outputFile collects a suite's combined stdout and stderr in an unlinked temporary file,
// not through a pipe. A pipe wakes the runner at every write of the suite, several per spec,
// and in a TCG guest each wake-up is a switch to the agent's address space and back, at each
// of which QEMU flushes its whole software TLB: debian-7.3's abi suite, 336 specs, woke the
// agent about 1150 times and ran 0.3 to 0.9 s longer (four interleaved runs).
//
// It keeps the first max bytes. What lies beyond is punched out of the file once every
// trimEvery, so that memory stays bounded while the suite writes on (where the file system
// cannot punch holes, on a host disk, the file keeps it all until the run ends).
type outputFile struct {
	f     *os.File
	max   int64
	stop  chan struct{}
	done  chan struct{}
	close sync.Once
}

func newOutputFile(dir, name string, max int64) (*outputFile, error) {
	f, err := os.CreateTemp(dir, "llconform-"+name+"-output-")
	if err != nil {
		return nil, fmt.Errorf("output file: %w", err)
	}
	// Unlinked at once: the open file is all there is, gone with the last descriptor.
	if err := os.Remove(f.Name()); err != nil {
		f.Close()
		return nil, fmt.Errorf("output file: %w", err)
	}
	o := &outputFile{f: f, max: max, stop: make(chan struct{}), done: make(chan struct{})}
	go o.trimLoop()
	return o, nil
}

func (o *outputFile) trimLoop() {
	defer close(o.done)
	t := time.NewTicker(trimEvery)
	defer t.Stop()
	for {
		select {
		case <-o.stop:
			return
		case <-t.C:
			o.trim()
		}
	}
}

// trim frees the file's blocks past max; its size, what the suite wrote, stays.
func (o *outputFile) trim() {
	fi, err := o.f.Stat()
	if err != nil || fi.Size() <= o.max {
		return
	}
	_ = unix.Fallocate(int(o.f.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, o.max, fi.Size()-o.max)
}

// Bytes returns what was kept, with a note of what was dropped. Call it once the suite has
// ended: what a helper it left behind writes afterwards is not read.
func (o *outputFile) Bytes() []byte {
	fi, err := o.f.Stat()
	if err != nil {
		return fmt.Appendf(nil, "[read output: %v]\n", err)
	}
	kept := min(fi.Size(), o.max)
	buf := make([]byte, kept)
	n, err := o.f.ReadAt(buf, 0)
	buf = buf[:n]
	if err != nil && !errors.Is(err, io.EOF) {
		buf = fmt.Appendf(buf, "\n[read output: %v]\n", err)
	}
	if dropped := fi.Size() - kept; dropped > 0 {
		buf = fmt.Appendf(buf, "\n[%d bytes of output dropped]\n", dropped)
	}
	return buf
}

// Close stops the trimming and closes the file.
func (o *outputFile) Close() {
	o.close.Do(func() {
		close(o.stop)
		<-o.done
		o.f.Close()
	})
}
