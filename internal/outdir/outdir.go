// Package outdir is a run's output directory: one live run at a time, every file of a
// boot (or of a host run) in a directory of that run's own, and names that point at the
// last complete run, so that an interrupted run never overwrites a complete one's files.
//
// Layout of an output directory:
//
//	.llconform.lock        held by the live run: its pid and command line
//	runs/<id>/<name>/      the files of one boot (console.log, suite outputs, initrd...)
//	<name> -> runs/<id>/<name>   for each boot of the last complete run
//	result.json ...        written by the caller; result.interrupted.json beside them
package outdir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/llconform/llconform/internal/filelock"
)

// LockName is the file in an output directory that a run holds an exclusive lock on for as
// long as it lives: two runs writing into one directory read each other's console and
// channel files and report wrong results, so the second one is refused.
const LockName = ".llconform.lock"

// RunsDir holds one directory per run; a boot may not take its name.
const RunsDir = "runs"

// InUseError is Open's error when another live run holds the directory.
type InUseError struct {
	Dir, Holder string // Holder: "pid N (llconform matrix ...)"
}

func (e *InUseError) Error() string {
	return fmt.Sprintf("output directory %s is in use by %s", e.Dir, e.Holder)
}

// Dir is an output directory held by this run.
type Dir struct {
	Path string // absolute
	Run  string // absolute path of this run's directory, runs/<id>
	lock *filelock.Lock
}

// Open makes path absolute, creates it if needed, takes its lock without waiting and creates
// this run's directory under runs/. When another process holds the lock, the error is an
// *InUseError naming the directory and the holder.
func Open(path string) (*Dir, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, fmt.Errorf("create output directory: %w", err)
	}
	lockPath := filepath.Join(abs, LockName)
	l, err := filelock.TryLock(lockPath)
	if errors.Is(err, filelock.ErrHeld) {
		holder, _ := os.ReadFile(lockPath)
		return nil, &InUseError{Dir: abs, Holder: describeHolder(holder)}
	}
	if err != nil {
		return nil, fmt.Errorf("lock output directory %s: %w", abs, err)
	}
	// Ours now: say who holds it, for the message of the next run that tries.
	cmd := append([]string{filepath.Base(os.Args[0])}, os.Args[1:]...)
	content := fmt.Sprintf("%d\n%s\n", os.Getpid(), strings.Join(cmd, " "))
	if err := l.File().Truncate(0); err == nil {
		_, _ = l.File().WriteAt([]byte(content), 0)
	}
	d := &Dir{Path: abs, lock: l}
	if d.Run, err = newRun(filepath.Join(abs, RunsDir)); err != nil {
		l.Release()
		return nil, err
	}
	return d, nil
}

// newRun creates runs/<UTC time>[-n], a name that sorts by start time.
func newRun(runs string) (string, error) {
	if err := os.MkdirAll(runs, 0o755); err != nil {
		return "", fmt.Errorf("create %s: %w", runs, err)
	}
	base := time.Now().UTC().Format("20060102T150405Z")
	for n := 0; ; n++ {
		name := base
		if n > 0 {
			name += "-" + strconv.Itoa(n)
		}
		p := filepath.Join(runs, name)
		err := os.Mkdir(p, 0o755)
		if err == nil {
			return p, nil
		}
		if !errors.Is(err, os.ErrExist) {
			return "", fmt.Errorf("create run directory: %w", err)
		}
	}
}

// Close releases the lock.
func (d *Dir) Close() { d.lock.Release() }

// Publish ends the run. A complete run's boots become the directory's: each <name> links to
// runs/<id>/<name>, and every other run's files go (the result files the caller writes now
// describe this run alone). An interrupted run changes no link: its files stay in
// runs/<id> beside the last complete run's, which stay too; older interrupted runs go.
// Runs killed before they could publish are removed either way.
func (d *Dir) Publish(complete bool) error {
	keep := map[string]bool{filepath.Base(d.Run): true}
	if complete {
		boots, err := os.ReadDir(d.Run)
		if err != nil {
			return fmt.Errorf("publish run: %w", err)
		}
		for _, b := range boots {
			if b.IsDir() {
				if err := d.link(b.Name()); err != nil {
					return err
				}
			}
		}
	}
	// The runs the links point at stay; links to removed runs go.
	entries, err := os.ReadDir(d.Path)
	if err != nil {
		return fmt.Errorf("publish run: %w", err)
	}
	for _, e := range entries {
		p := filepath.Join(d.Path, e.Name())
		run, ok := d.linkedRun(p)
		if !ok {
			continue
		}
		if !complete || run == filepath.Base(d.Run) {
			keep[run] = true
			continue
		}
		_ = os.Remove(p) // a boot of an earlier run that this complete run does not have
	}
	runs, err := os.ReadDir(filepath.Join(d.Path, RunsDir))
	if err != nil {
		return fmt.Errorf("publish run: %w", err)
	}
	var errs []error
	for _, r := range runs {
		if !keep[r.Name()] {
			if err := os.RemoveAll(filepath.Join(d.Path, RunsDir, r.Name())); err != nil {
				errs = append(errs, fmt.Errorf("remove an earlier run's files: %w", err))
			}
		}
	}
	return errors.Join(errs...)
}

// link points <name> at this run's runs/<id>/<name>, replacing an earlier link atomically.
// A real directory there (written by llconform before runs had their own directories) is
// replaced when it holds nothing but logs and reports, and refused otherwise.
func (d *Dir) link(name string) error {
	dst := filepath.Join(d.Path, name)
	if fi, err := os.Lstat(dst); err == nil && fi.Mode()&os.ModeSymlink == 0 {
		if !fi.IsDir() || !onlyRunFiles(dst) {
			return fmt.Errorf("publish run: %s exists and is not llconform's: move it away", dst)
		}
		if err := os.RemoveAll(dst); err != nil {
			return fmt.Errorf("publish run: %w", err)
		}
	}
	target := filepath.Join(RunsDir, filepath.Base(d.Run), name)
	tmp := filepath.Join(d.Path, ".link-"+name)
	os.Remove(tmp)
	if err := os.Symlink(target, tmp); err != nil {
		return fmt.Errorf("publish run: %w", err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("publish run: %w", err)
	}
	return nil
}

// linkedRun returns the run a boot link at p points into, if p is such a link.
func (d *Dir) linkedRun(p string) (string, bool) {
	target, err := os.Readlink(p)
	if err != nil {
		return "", false
	}
	parts := strings.Split(filepath.ToSlash(target), "/")
	if len(parts) != 3 || parts[0] != RunsDir {
		return "", false
	}
	return parts[1], true
}

// onlyRunFiles reports whether dir holds only the kinds of file a boot writes.
func onlyRunFiles(dir string) bool {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, e := range entries {
		switch filepath.Ext(e.Name()) {
		case ".log", ".json", ".bin", ".cpio", ".xml", ".html", ".svg", ".txt":
		default:
			return false
		}
	}
	return true
}

// describeHolder turns a lock file's contents (pid, newline, command line) into "pid N
// (command)"; a holder that has not written it yet is "another llconform run".
func describeHolder(b []byte) string {
	pidLine, cmd, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(pidLine))
	if err != nil {
		return "another llconform run"
	}
	if cmd = strings.TrimSpace(cmd); cmd == "" {
		return fmt.Sprintf("pid %d", pid)
	}
	return fmt.Sprintf("pid %d (%s)", pid, cmd)
}
