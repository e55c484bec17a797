package scenario

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/llconform/llconform/bench/result"
	"github.com/llconform/llconform/internal/landlock"
)

// pathWalk is the kernel's own fs_bench (tools/testing/selftests/landlock/fs_bench.c): D
// nested directories, a denied openat(O_CREAT) in the deepest, so that Landlock walks the
// path up to the root looking for a rule that grants MAKE_REG. fs_bench puts a rule on
// every directory; the second series has one rule, on the top directory, which separates
// the cost of the walk from that of the rule lookups along it.
var pathWalk = Scenario{
	Name:   "PathWalk",
	Title:  "path walk vs directory depth",
	MinABI: 1,
	Run:    runPathWalk,
}

// The ruleset of fs_bench handles IOCTL_DEV|WRITE_FILE|MAKE_REG and grants IOCTL_DEV; the
// denied request is MAKE_REG whichever right the rules grant, so EXECUTE (ABI 1) stands
// in for IOCTL_DEV (ABI 5) and every kernel runs the same ruleset.
const (
	walkHandled = landlock.AccessFSExecute | landlock.AccessFSWriteFile | landlock.AccessFSMakeReg
	walkGranted = landlock.AccessFSExecute
)

// The file fs_bench opens, and the one the unrestricted arm opens instead: once created, a
// file would turn the restricted arm's MAKE_REG check into a WRITE_FILE check.
const (
	walkDenied = "file.txt"
	walkOff    = "file-off.txt"
)

func runPathWalk(ctx context.Context, env *Env, out *result.Scenario) error {
	depths := pick(env, []int{1, 10, 100, 1000, 10000}, []int{1, 10, 100, 1000})
	base := filepath.Join(env.Dir, "pathwalk")
	if err := os.Mkdir(base, 0o700); err != nil {
		return err
	}
	ch, err := buildChain(base, depths)
	if err != nil {
		return err
	}
	defer func() {
		if err := ch.remove(); err != nil {
			fmt.Fprintf(env.Log, "  %v (left to the scratch directory's removal)\n", err)
		}
	}()
	if err := settle(base); err != nil {
		return err
	}

	op := "openat(deepest, O_CREAT|O_TRUNC|O_WRONLY): off succeeds (and closes), on is denied (EACCES)"
	each := &result.Series{Name: "rules=each", Op: op + "; a rule on every directory", X: "depth", Scale: result.Linear, LogX: true, SameOff: true}
	top := &result.Series{Name: "rules=top", Op: op + "; one rule, on the top directory", X: "depth", Scale: result.Linear, LogX: true, SameOff: true}
	out.Series = []*result.Series{each, top}
	for _, d := range depths {
		for _, se := range out.Series {
			ruleDepth := 1
			if se == each {
				ruleDepth = d
			}
			rs, err := ch.ruleset(ruleDepth)
			if err != nil {
				return err
			}
			deep := ch.fds[d]
			err = env.pair(ctx, se, "depth="+strconv.Itoa(d), float64(d), env.restrictFd(rs),
				loop(openLoop(deep, walkOff, unix.O_CREAT|unix.O_TRUNC|unix.O_WRONLY, 0)),
				loop(openLoop(deep, walkDenied, unix.O_CREAT|unix.O_TRUNC|unix.O_WRONLY, unix.EACCES)))
			unix.Close(rs)
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// chain is a line of nested directories named "d" under base, with O_PATH descriptors of
// the directories at the depths measured.
type chain struct {
	base  string
	depth int
	fds   map[int]int
}

// buildChain creates max(depths) nested directories. Everything goes through descriptors:
// at depth 10000 the path is far beyond PATH_MAX.
func buildChain(base string, depths []int) (*chain, error) {
	ch := &chain{base: base, fds: map[int]int{}}
	cur, err := unix.Open(base, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", base, err)
	}
	for ch.depth < slices.Max(depths) {
		if err := unix.Mkdirat(cur, "d", 0o700); err != nil {
			unix.Close(cur)
			return nil, errors.Join(fmt.Errorf("mkdir at depth %d: %w", ch.depth+1, err), ch.remove())
		}
		ch.depth++
		next, err := unix.Openat(cur, "d", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if !slices.Contains(depths, ch.depth-1) {
			unix.Close(cur)
		}
		if err != nil {
			return nil, errors.Join(fmt.Errorf("open directory at depth %d: %w", ch.depth, err), ch.remove())
		}
		cur = next
		if slices.Contains(depths, ch.depth) {
			ch.fds[ch.depth] = cur
		}
	}
	return ch, nil
}

// ruleset returns a new ruleset with a rule on each of the top n directories.
func (ch *chain) ruleset(n int) (int, error) {
	rs, err := landlock.CreateRuleset(&landlock.RulesetAttr{HandledAccessFS: walkHandled}, landlock.RulesetAttrSizeV1, 0)
	if err != nil {
		return -1, fmt.Errorf("create_ruleset: %w", err)
	}
	cur, err := unix.Open(ch.base, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		unix.Close(rs)
		return -1, fmt.Errorf("open %s: %w", ch.base, err)
	}
	for i := 1; i <= n && err == nil; i++ {
		var next int
		if next, err = unix.Openat(cur, "d", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err != nil {
			err = fmt.Errorf("open directory at depth %d: %w", i, err)
			break
		}
		unix.Close(cur)
		cur = next
		if err = landlock.AddPathBeneath(rs, landlock.PathBeneathAttr{AllowedAccess: walkGranted, ParentFd: int32(cur)}, 0); err != nil {
			err = fmt.Errorf("add_rule at depth %d: %w", i, err)
		}
	}
	unix.Close(cur)
	if err != nil {
		unix.Close(rs)
		return -1, err
	}
	return rs, nil
}

// remove deletes the chain from the bottom up, as fs_bench does; the scratch directory's
// own removal would do it too, but recursively and by path.
func (ch *chain) remove() error {
	var errs []error
	for d, fd := range ch.fds {
		if err := unix.Unlinkat(fd, walkOff, 0); err != nil && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("remove %s at depth %d: %w", walkOff, d, err))
		}
		unix.Close(fd)
	}
	ch.fds = nil
	fd, err := unix.Open(ch.base, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	for i := 1; i < ch.depth && err == nil; i++ {
		var next int
		next, err = unix.Openat(fd, "d", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		unix.Close(fd)
		fd = next
	}
	for i := ch.depth; i > 0 && err == nil; i-- {
		if err = unix.Unlinkat(fd, "d", unix.AT_REMOVEDIR); err != nil {
			break
		}
		var up int
		up, err = unix.Openat(fd, "..", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		unix.Close(fd)
		fd = up
	}
	if err != nil {
		return errors.Join(append(errs, fmt.Errorf("remove the directory chain under %s: %w", ch.base, err))...)
	}
	unix.Close(fd)
	return errors.Join(errs...)
}
