// Package tracefs reads kernel trace events through tracefs without disturbing the
// machine's own tracing: it opens tracefs where it is mounted (or mounts it in a private
// mount namespace when it is not), records into a private instance
// (instances/<name>) with only the wanted events enabled and a pid filter, and parses the
// instance's text output, undoing the escaping the kernel applies to untrusted strings.
// landlock.go holds the format of Linux 7.3's Landlock events.
package tracefs

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"github.com/llconform/llconform/internal/proc"
	"golang.org/x/sys/unix"
)

// Root is where tracefs is mounted on a current system (and by the guest agent).
const Root = "/sys/kernel/tracing"

// magic is TRACEFS_MAGIC, statfs's f_type of a tracefs mount.
const magic = 0x74726163

// FS is an open tracefs. Every access goes through a directory descriptor of its root, so
// a privately mounted tracefs is reachable from every thread of the process.
type FS struct {
	root int
	// Where says how tracefs was found, for messages.
	Where string
}

// Open opens tracefs at Root when it is mounted there. Otherwise it mounts tracefs in a
// mount namespace of its own, on a thread that is then discarded, so that the machine's
// mounts are never changed; that needs CAP_SYS_ADMIN.
func Open() (*FS, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(Root, &st); err == nil && st.Type == magic {
		fd, err := unix.Open(Root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("open %s: %w", Root, err)
		}
		return &FS{root: fd, Where: Root}, nil
	}
	fd, err := mountPrivate()
	if err != nil {
		return nil, fmt.Errorf("tracefs is not mounted at %s, and mounting it privately failed: %w", Root, err)
	}
	return &FS{root: fd, Where: "mounted privately, nothing being mounted at " + Root}, nil
}

// mountPrivate mounts tracefs at Root in a new mount namespace and returns a descriptor of
// its root. The namespace belongs to a locked thread that exits afterwards; the descriptor
// keeps the mount usable.
func mountPrivate() (int, error) {
	type result struct {
		fd  int
		err error
	}
	done := make(chan result, 1)
	go func() {
		// Never unlocked: the runtime discards the thread, and its mount namespace with it.
		runtime.LockOSThread()
		fd, err := func() (int, error) {
			if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
				return -1, fmt.Errorf("unshare(CLONE_NEWNS): %w", err)
			}
			if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
				return -1, fmt.Errorf("make / private: %w", err)
			}
			if err := unix.Mount("tracefs", Root, "tracefs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
				return -1, fmt.Errorf("mount tracefs on %s: %w", Root, err)
			}
			return unix.Open(Root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		}()
		done <- result{fd, err}
	}()
	r := <-done
	return r.fd, r.err
}

// Close releases the descriptor of tracefs.
func (fs *FS) Close() error { return unix.Close(fs.root) }

func (fs *FS) open(rel string, flags int) (*os.File, error) {
	fd, err := unix.Openat(fs.root, rel, flags|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path.Join(Root, rel), Err: err}
	}
	return os.NewFile(uintptr(fd), path.Join(Root, rel)), nil
}

// ReadFile returns the content of a tracefs file, rel being relative to its root.
func (fs *FS) ReadFile(rel string) ([]byte, error) {
	f, err := fs.open(rel, unix.O_RDONLY)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

// write writes val to a tracefs file in one write(2), as tracefs wants; trunc opens it with
// O_TRUNC, which for set_event_pid and trace means "clear".
func (fs *FS) write(rel, val string, trunc bool) error {
	flags := unix.O_WRONLY
	if trunc {
		flags |= unix.O_TRUNC
	}
	f, err := fs.open(rel, flags)
	if err != nil {
		return err
	}
	if val != "" {
		if _, err := f.WriteString(val); err != nil {
			f.Close()
			return fmt.Errorf("write %q to %s: %w", val, f.Name(), err)
		}
	}
	return f.Close()
}

// Exists reports whether rel exists in tracefs.
func (fs *FS) Exists(rel string) (bool, error) {
	var st unix.Stat_t
	err := unix.Fstatat(fs.root, rel, &st, 0)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, unix.ENOENT):
		return false, nil
	}
	return false, &os.PathError{Op: "stat", Path: path.Join(Root, rel), Err: err}
}

// List returns the names of the directories in the tracefs directory rel, sorted.
func (fs *FS) List(rel string) ([]string, error) {
	f, err := fs.open(rel, unix.O_RDONLY|unix.O_DIRECTORY)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	entries, err := f.ReadDir(-1)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", f.Name(), err)
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	return names, nil
}

// AvailableEvents returns the events of system listed in available_events ("system:event"
// lines), without the system prefix.
func (fs *FS) AvailableEvents(system string) ([]string, error) {
	b, err := fs.ReadFile("available_events")
	if err != nil {
		return nil, err
	}
	var names []string
	for _, l := range strings.Split(string(b), "\n") {
		if ev, ok := strings.CutPrefix(l, system+":"); ok {
			names = append(names, ev)
		}
	}
	slices.Sort(names)
	return names, nil
}

// Format is an event's format file: its fields (without the common_* ones every event
// has) and its print format.
type Format struct {
	Name   string
	Fields []FormatField
	// Print is the format string of "print fmt:", without its quotes and arguments.
	Print string
	// FlagTables are the bit-name tables of the print arguments (__print_flags and the like,
	// "{ (1ULL << <bit>), "<name>" }"), in order: how the kernel names each bit it prints.
	FlagTables [][]FlagName
}

// FlagName is one entry of a flag table.
type FlagName struct {
	Bit  uint64
	Name string
}

var (
	flagEntry = regexp.MustCompile(`\{ \(1ULL << (\d+)\), "([^"]*)" \}`)
	// flagTable is a run of flag entries separated by ", ".
	flagTable = regexp.MustCompile(`\{ \(1ULL << \d+\), "[^"]*" \}(?:, \{ \(1ULL << \d+\), "[^"]*" \})*`)
)

// FormatField is one "field:" line of a format file.
type FormatField struct {
	Type, Name string
	Size       int
	Signed     bool
}

// EventFormat reads and parses events/<system>/<event>/format.
func (fs *FS) EventFormat(system, event string) (Format, error) {
	b, err := fs.ReadFile(path.Join("events", system, event, "format"))
	if err != nil {
		return Format{}, err
	}
	return ParseFormat(b)
}

// ParseFormat parses the content of an event's format file.
func ParseFormat(b []byte) (Format, error) {
	var f Format
	for _, l := range strings.Split(string(b), "\n") {
		l = strings.TrimSpace(l)
		switch {
		case strings.HasPrefix(l, "name:"):
			f.Name = strings.TrimSpace(strings.TrimPrefix(l, "name:"))
		case strings.HasPrefix(l, "field:"):
			ff, err := parseFormatField(l)
			if err != nil {
				return f, err
			}
			if !strings.HasPrefix(ff.Name, "common_") {
				f.Fields = append(f.Fields, ff)
			}
		case strings.HasPrefix(l, "print fmt:"):
			p, err := strconv.QuotedPrefix(strings.TrimSpace(strings.TrimPrefix(l, "print fmt:")))
			if err != nil {
				return f, fmt.Errorf("format of %s: print fmt %q: %w", f.Name, l, err)
			}
			f.Print, err = strconv.Unquote(p)
			if err != nil {
				return f, fmt.Errorf("format of %s: print fmt %q: %w", f.Name, l, err)
			}
			for _, table := range flagTable.FindAllString(l[strings.Index(l, p)+len(p):], -1) {
				var names []FlagName
				for _, m := range flagEntry.FindAllStringSubmatch(table, -1) {
					shift, _ := strconv.Atoi(m[1])
					names = append(names, FlagName{Bit: 1 << shift, Name: m[2]})
				}
				f.FlagTables = append(f.FlagTables, names)
			}
		}
	}
	if f.Name == "" || f.Print == "" {
		return f, fmt.Errorf("format file without name or print fmt: %q", b)
	}
	return f, nil
}

// parseFormatField parses "field:<type> <name>;\toffset:N;\tsize:N;\tsigned:N;".
func parseFormatField(l string) (FormatField, error) {
	var ff FormatField
	parts := strings.Split(l, ";")
	decl := strings.TrimSpace(strings.TrimPrefix(parts[0], "field:"))
	i := strings.LastIndexByte(decl, ' ')
	if i < 0 {
		return ff, fmt.Errorf("format field %q: no type and name", l)
	}
	ff.Type, ff.Name = decl[:i], decl[i+1:]
	for _, p := range parts[1:] {
		k, v, ok := strings.Cut(strings.TrimSpace(p), ":")
		if !ok {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			return ff, fmt.Errorf("format field %q: %s: %w", l, k, err)
		}
		switch k {
		case "size":
			ff.Size = n
		case "signed":
			ff.Signed = n != 0
		}
	}
	return ff, nil
}

// Instance is a private trace instance: its own ring buffer, event switches and pid filter,
// independent of the machine's top-level tracing. It is read through its trace_pipe, which
// consumes what it returns: reading the trace file instead would wait for an RCU grace
// period on every open, and clearing it on every truncation, which is slow in an emulator.
type Instance struct {
	fs   *FS
	Name string
	dir  string
	// pipe is the instance's trace_pipe, open for the instance's life, non-blocking.
	pipe int
}

// InstancePrefix starts the name of every instance this package creates for a process,
// followed by its pid (see InstanceName, RemoveStale).
const InstancePrefix = "llconform-"

// InstanceName is the instance name of process pid.
func InstanceName(pid int) string { return InstancePrefix + strconv.Itoa(pid) }

// NewInstance creates the instance name. It has no event enabled and an empty buffer.
func (fs *FS) NewInstance(name string) (*Instance, error) {
	dir := path.Join("instances", name)
	if err := unix.Mkdirat(fs.root, dir, 0o700); err != nil {
		return nil, &os.PathError{Op: "mkdir", Path: path.Join(Root, dir), Err: err}
	}
	i := &Instance{fs: fs, Name: name, dir: dir}
	fd, err := unix.Openat(fs.root, i.rel("trace_pipe"), unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		unix.Unlinkat(fs.root, dir, unix.AT_REMOVEDIR)
		return nil, &os.PathError{Op: "open", Path: path.Join(Root, i.rel("trace_pipe")), Err: err}
	}
	i.pipe = fd
	return i, nil
}

// RemoveStale removes the instances left behind by processes of this package that died
// without removing theirs (killed mid-run): those named InstancePrefix<pid> whose pid is
// not alive. It returns the names it removed.
func (fs *FS) RemoveStale() ([]string, error) {
	names, err := fs.List("instances")
	if err != nil {
		return nil, err
	}
	var removed []string
	for _, n := range names {
		s, ok := strings.CutPrefix(n, InstancePrefix)
		if !ok {
			continue
		}
		pid, err := strconv.Atoi(s)
		if err != nil || pid <= 0 || pid == os.Getpid() || proc.Alive(pid) {
			continue
		}
		if err := unix.Unlinkat(fs.root, path.Join("instances", n), unix.AT_REMOVEDIR); err != nil {
			return removed, fmt.Errorf("remove stale instance %s: %w", n, err)
		}
		removed = append(removed, n)
	}
	return removed, nil
}

func (i *Instance) rel(name string) string { return path.Join(i.dir, name) }

// Enable switches every event of system on or off.
func (i *Instance) Enable(system string, on bool) error {
	return i.fs.write(i.rel(path.Join("events", system, "enable")), onOff(on), false)
}

// EnableEvent switches one event on or off.
func (i *Instance) EnableEvent(system, event string, on bool) error {
	return i.fs.write(i.rel(path.Join("events", system, event, "enable")), onOff(on), false)
}

func onOff(on bool) string {
	if on {
		return "1"
	}
	return "0"
}

// FollowProcess makes the instance record events of this process only, and of whatever it
// starts: every current thread goes into set_event_pid and event-fork adds each task a
// listed one clones (threads the runtime starts later, helpers, their children). Threads
// started while the list is written are caught by listing again until nothing is new. The
// first list replaces whatever the filter held in one write: emptied first, the filter
// would for a moment let every task's events in.
func (i *Instance) FollowProcess() error {
	if err := i.fs.write(i.rel("options/event-fork"), "1", false); err != nil {
		return err
	}
	listed := map[string]bool{}
	for round := 0; round < 100; round++ {
		tasks, err := os.ReadDir("/proc/self/task")
		if err != nil {
			return fmt.Errorf("list own threads: %w", err)
		}
		var add []string
		for _, t := range tasks {
			if !listed[t.Name()] {
				add = append(add, t.Name())
				listed[t.Name()] = true
			}
		}
		if len(add) == 0 {
			return nil
		}
		// Without O_TRUNC, set_event_pid adds to the pids it holds.
		if err := i.fs.write(i.rel("set_event_pid"), strings.Join(add, " "), round == 0); err != nil {
			return err
		}
	}
	return errors.New("the process kept starting threads while its pids were listed")
}

// Unfollow empties the pid filter: the instance records the events of every task, such as
// those a kernel worker emits on behalf of this process.
func (i *Instance) Unfollow() error {
	return i.fs.write(i.rel("set_event_pid"), "", true)
}

// ReadRaw returns, and consumes, the text of every event the instance holds.
func (i *Instance) ReadRaw() ([]byte, error) {
	var out []byte
	buf := make([]byte, 64<<10)
	for {
		n, err := unix.Read(i.pipe, buf)
		switch {
		case errors.Is(err, unix.EAGAIN):
			return out, nil
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			return out, &os.PathError{Op: "read", Path: path.Join(Root, i.rel("trace_pipe")), Err: err}
		case n == 0:
			return out, nil
		}
		out = append(out, buf[:n]...)
	}
}

// Clear discards the events the instance holds.
func (i *Instance) Clear() error {
	_, err := i.ReadRaw()
	return err
}

// Read returns, and consumes, the instance's events, parsed.
func (i *Instance) Read() (Trace, error) {
	b, err := i.ReadRaw()
	if err != nil {
		return Trace{}, err
	}
	t, err := ParseTrace(b)
	if err != nil {
		return t, fmt.Errorf("%s: %w", i.rel("trace_pipe"), err)
	}
	return t, nil
}

// Remove switches the instance's events off, empties its pid filter and deletes it.
func (i *Instance) Remove() error {
	var errs []error
	if i.pipe >= 0 {
		if err := unix.Close(i.pipe); err != nil {
			errs = append(errs, err)
		}
		i.pipe = -1
	}
	if err := i.fs.write(i.rel("events/enable"), "0", false); err != nil {
		errs = append(errs, err)
	}
	if err := i.Unfollow(); err != nil {
		errs = append(errs, err)
	}
	if err := unix.Unlinkat(i.fs.root, i.dir, unix.AT_REMOVEDIR); err != nil {
		errs = append(errs, &os.PathError{Op: "rmdir", Path: path.Join(Root, i.dir), Err: err})
	}
	return errors.Join(errs...)
}

// Exists reports whether the instance's directory still exists.
func (i *Instance) Exists() (bool, error) { return i.fs.Exists(i.dir) }
