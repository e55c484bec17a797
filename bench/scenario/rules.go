package scenario

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/llconform/llconform/bench/measure"
	"github.com/llconform/llconform/bench/result"
	"github.com/llconform/llconform/internal/landlock"
	"github.com/llconform/llconform/internal/sandbox"
)

// rules times what the size of a ruleset costs: the lookup of one rule among n (a
// red-black tree, so about log2 n), building the ruleset (n add_rule calls) and enforcing
// it (restrict_self copies every rule into the new domain).
var rules = Scenario{
	Name:   "Rules",
	Title:  "cost vs number of rules",
	MinABI: 1,
	Run:    runRules,
}

// restrictBatch bounds a restrict_self sample: each call needs a fresh thread, whose
// creation is not timed but takes far longer than the call on a small ruleset.
const restrictBatch = 16

func runRules(ctx context.Context, env *Env, out *result.Scenario) error {
	pathCounts := pick(env, []int{1, 10, 100, 1000, 10000, 100000}, []int{1, 100, 10000})
	portCounts := pick(env, []int{1, 16, 256, 4096, 65536}, []int{1, 256, 65536})

	pathLookup := &result.Series{Name: "path-lookup", Op: "openat(O_RDONLY) and close of a file that has its own READ_FILE rule, the middle one of n files with one rule each", X: "rules", Scale: result.Log2, LogX: true, SameOff: true}
	pathBuild := &result.Series{Name: "path-build", Op: "create_ruleset, then open(O_PATH), add_rule and close for each of n files; off: the opens and closes alone", X: "rules", Scale: result.Linear, LogX: true}
	pathRestrict := &result.Series{Name: "path-restrict", Op: "restrict_self with a ruleset of n path rules, on a fresh thread", X: "rules", Scale: result.Linear, LogX: true}
	portLookup := &result.Series{Name: "port-lookup", Op: "bind of a bound TCP socket (EINVAL after the check) to the middle one of n ports 0..n-1 with a BIND_TCP rule each", X: "rules", Scale: result.Log2, LogX: true, SameOff: true}
	portBuild := &result.Series{Name: "port-build", Op: "create_ruleset and add_rule for each of n ports, then close", X: "rules", Scale: result.Linear, LogX: true}
	portRestrict := &result.Series{Name: "port-restrict", Op: "restrict_self with a ruleset of n port rules, on a fresh thread", X: "rules", Scale: result.Linear, LogX: true}
	out.Series = []*result.Series{pathLookup, portLookup, pathBuild, portBuild, pathRestrict, portRestrict}

	if err := runPathRules(ctx, env, pathCounts, pathLookup, pathBuild, pathRestrict); err != nil {
		return err
	}
	if skip := env.skipABI(4); skip != "" {
		portLookup.Skipped, portBuild.Skipped, portRestrict.Skipped = skip, skip, skip
		return nil
	}
	return runPortRules(ctx, env, portCounts, portLookup, portBuild, portRestrict)
}

// fileSet is a directory of files f0..f(n-1), with their names ready for raw calls.
type fileSet struct {
	dirfd int
	names []*byte
}

func newFileSet(dir string, n int) (*fileSet, error) {
	if err := os.Mkdir(dir, 0o700); err != nil {
		return nil, err
	}
	dirfd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", dir, err)
	}
	fs := &fileSet{dirfd: dirfd}
	for i := range n {
		name := "f" + strconv.Itoa(i)
		p, _ := unix.BytePtrFromString(name) // no NUL in name
		fd, err := unix.Openat(dirfd, name, unix.O_CREAT|unix.O_WRONLY|unix.O_CLOEXEC, 0o600)
		if err != nil {
			unix.Close(dirfd)
			return nil, fmt.Errorf("create %s/%s: %w", dir, name, err)
		}
		unix.Close(fd)
		fs.names = append(fs.names, p)
	}
	if err := settle(dir); err != nil {
		unix.Close(dirfd)
		return nil, err
	}
	return fs, nil
}

// build creates a ruleset handling READ_FILE and WRITE_FILE with a READ_FILE rule on each
// of the first n files, or, when withRules is false, opens and closes the files alone; it
// returns the ruleset, or -1.
func (fs *fileSet) build(n int, withRules bool) (int, error) {
	rs := -1
	if withRules {
		var err error
		attr := landlock.RulesetAttr{HandledAccessFS: landlock.AccessFSReadFile | landlock.AccessFSWriteFile}
		if rs, err = landlock.CreateRuleset(&attr, landlock.RulesetAttrSizeV1, 0); err != nil {
			return -1, fmt.Errorf("create_ruleset: %w", err)
		}
	}
	for i := range n {
		fd, _, e := unix.RawSyscall6(unix.SYS_OPENAT, uintptr(fs.dirfd), uintptr(unsafe.Pointer(fs.names[i])), unix.O_PATH|unix.O_CLOEXEC, 0, 0, 0)
		if e != 0 {
			unix.Close(rs)
			return -1, fmt.Errorf("open f%d: %w", i, e)
		}
		var err error
		if withRules {
			err = landlock.AddPathBeneath(rs, landlock.PathBeneathAttr{AllowedAccess: landlock.AccessFSReadFile, ParentFd: int32(fd)}, 0)
		}
		unix.RawSyscall(unix.SYS_CLOSE, fd, 0, 0)
		if err != nil {
			unix.Close(rs)
			return -1, fmt.Errorf("add_rule f%d: %w", i, err)
		}
	}
	return rs, nil
}

// buildLoop times building (and discarding) a ruleset of n rules.
func buildLoop(build func() (int, error)) measure.Loop {
	return func(iters int) error {
		for range iters {
			rs, err := build()
			if err != nil {
				return err
			}
			unix.Close(rs) // -1 when no ruleset was built: EBADF, harmless
		}
		return nil
	}
}

// restrictTimer times restrict_self(rs), once per fresh thread.
func (e *Env) restrictTimer(rs int) measure.Timer {
	return measure.Bounded(measure.TimerFunc(func(n int) (time.Duration, error) {
		var total time.Duration
		for range n {
			err := sandbox.OnThread(func() error {
				if err := measure.Pin(e.CPU); err != nil {
					return err
				}
				if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
					return fmt.Errorf("set no_new_privs: %w", err)
				}
				t0 := e.Clock()
				err := landlock.RestrictSelf(rs, e.RestrictFlags)
				total += e.Clock() - t0
				if err != nil {
					return fmt.Errorf("restrict_self: %w", err)
				}
				return nil
			})
			if err != nil {
				return 0, err
			}
		}
		return total, nil
	}), restrictBatch)
}

// sized measures the build and restrict series for one ruleset size; off may be nil when
// a build without rules means nothing.
func (e *Env) sized(ctx context.Context, n int, build, restrict *result.Series, on, off func() (int, error)) error {
	label := "rules=" + strconv.Itoa(n)
	onT, err := e.thread(loop(buildLoop(on)))
	if err != nil {
		return err
	}
	var offT *measure.Thread
	if off != nil {
		if offT, err = e.thread(loop(buildLoop(off))); err != nil {
			closeAll(onT)
			return err
		}
		err = e.point(ctx, build, label, float64(n), offT, onT)
	} else {
		err = e.point(ctx, build, label, float64(n), nil, onT)
	}
	if cerr := closeAll(offT, onT); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	rs, err := on()
	if err != nil {
		return err
	}
	defer unix.Close(rs)
	return e.point(ctx, restrict, label, float64(n), nil, e.restrictTimer(rs))
}

func runPathRules(ctx context.Context, env *Env, counts []int, lookup, build, restrict *result.Series) error {
	fs, err := newFileSet(filepath.Join(env.Dir, "rules"), slices.Max(counts))
	if err != nil {
		return err
	}
	defer unix.Close(fs.dirfd)
	for _, n := range counts {
		rs, err := fs.build(n, true)
		if err != nil {
			return err
		}
		target := unix.BytePtrToString(fs.names[n/2])
		err = env.pair(ctx, lookup, "rules="+strconv.Itoa(n), float64(n), env.restrictFd(rs),
			loop(openLoop(fs.dirfd, target, unix.O_RDONLY, 0)),
			loop(openLoop(fs.dirfd, target, unix.O_RDONLY, 0)))
		unix.Close(rs)
		if err != nil {
			return err
		}
	}
	for _, n := range counts {
		err := env.sized(ctx, n, build, restrict,
			func() (int, error) { return fs.build(n, true) },
			func() (int, error) { return fs.build(n, false) })
		if err != nil {
			return err
		}
	}
	return nil
}

// portRuleset returns a ruleset handling BIND_TCP and CONNECT_TCP with a BIND_TCP rule on
// each of the ports 0..n-1.
func portRuleset(n int) (int, error) {
	attr := landlock.RulesetAttr{HandledAccessNet: landlock.AccessNetBindTCP | landlock.AccessNetConnectTCP}
	rs, err := landlock.CreateRuleset(&attr, landlock.RulesetAttrSizeV4, 0)
	if err != nil {
		return -1, fmt.Errorf("create_ruleset: %w", err)
	}
	for port := range n {
		if err := landlock.AddNetPort(rs, landlock.NetPortAttr{AllowedAccess: landlock.AccessNetBindTCP, Port: uint64(port)}, 0); err != nil {
			unix.Close(rs)
			return -1, fmt.Errorf("add_rule port %d: %w", port, err)
		}
	}
	return rs, nil
}

func runPortRules(ctx context.Context, env *Env, counts []int, lookup, build, restrict *result.Series) error {
	sock, _, err := socketOn(unix.SOCK_STREAM)
	if err != nil {
		return err
	}
	defer unix.Close(sock)
	for _, n := range counts {
		rs, err := portRuleset(n)
		if err != nil {
			return err
		}
		target := inet4(n / 2)
		err = env.pair(ctx, lookup, "rules="+strconv.Itoa(n), float64(n), env.restrictFd(rs),
			loop(sockLoop(unix.SYS_BIND, sock, unix.EINVAL, target)),
			loop(sockLoop(unix.SYS_BIND, sock, unix.EINVAL, target)))
		unix.Close(rs)
		if err != nil {
			return err
		}
	}
	for _, n := range counts {
		if err := env.sized(ctx, n, build, restrict, func() (int, error) { return portRuleset(n) }, nil); err != nil {
			return err
		}
	}
	return nil
}
