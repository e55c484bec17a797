package scenario

import (
	"context"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/llconform/llconform/bench/result"
	"github.com/llconform/llconform/internal/landlock"
	"github.com/llconform/llconform/internal/sandbox"
)

// layers times an open under 0 to 16 nested domains (the kernel's limit), each with the
// same rule, on an access every layer allows (the walk stops at the rule) and on one every
// layer denies (the walk goes to the root, tracking every layer's mask).
var layers = Scenario{
	Name:   "Layers",
	Title:  "cost vs number of nested domains",
	MinABI: 1,
	Run:    runLayers,
}

func runLayers(ctx context.Context, env *Env, out *result.Scenario) error {
	counts := pick(env, []int{0, 1, 2, 3, 4, 6, 8, 10, 12, 14, 16}, []int{0, 1, 2, 4, 8, 16})
	dir, dirfd, err := fileDir(env, "layers")
	if err != nil {
		return err
	}
	defer unix.Close(dirfd)

	layer := sandbox.FS(landlock.AccessFSReadFile|landlock.AccessFSWriteFile,
		sandbox.PathRule{Path: dir, Access: landlock.AccessFSReadFile})
	allowed := &result.Series{Name: "allowed", Op: "openat(O_RDONLY) and close of a file beneath a rule granting READ_FILE in every layer", X: "layers", Scale: result.Linear, SameOff: true}
	denied := &result.Series{Name: "denied", Op: "openat(O_WRONLY) of a file no layer grants WRITE_FILE: on is denied (EACCES) from 1 layer up, off succeeds (and closes)", X: "layers", Scale: result.Linear, SameOff: true}
	out.Series = []*result.Series{allowed, denied}
	for _, n := range counts {
		var p sandbox.Policy
		for range n {
			p = p.Then(layer)
		}
		label := "layers=" + strconv.Itoa(n)
		err := env.pair(ctx, allowed, label, float64(n), env.policy(p),
			loop(openLoop(dirfd, "f", unix.O_RDONLY, 0)),
			loop(openLoop(dirfd, "f", unix.O_RDONLY, 0)))
		if err != nil {
			return err
		}
		want := unix.EACCES
		if n == 0 {
			want = 0
		}
		err = env.pair(ctx, denied, label, float64(n), env.policy(p),
			loop(openLoop(dirfd, "f", unix.O_WRONLY, 0)),
			loop(openLoop(dirfd, "f", unix.O_WRONLY, want)))
		if err != nil {
			return err
		}
	}
	return nil
}
