// Command llconform checks a Linux kernel's Landlock LSM against upstream's specification:
// on the running kernel (run), or on a matrix of real kernels booted under QEMU (matrix).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/llconform/llconform/internal/proc"
	"github.com/llconform/llconform/internal/sandbox"
)

// command is one subcommand: it parses its own flags and returns the process exit status.
type command struct {
	name, usage string
	run         func(ctx context.Context, args []string) (int, error)
}

func commands() []command {
	return []command{
		{"run", "run every suite on the running kernel, no VM", runCmd},
		{"matrix", "boot each kernel of kernels.yaml under QEMU and run every suite", matrixCmd},
		{"kernels", "list, resolve and fetch the kernels of kernels.yaml", kernelsCmd},
		{"report", "merge result files, print one, or compare two (report merge|show|diff)", reportCmd},
		{"timings", "where each kernel's time went in matrix runs, beside earlier runs'", timingsCmd},
		{"bench", "measure what Landlock costs on the running kernel", benchCmd},
		{"compare", "compare two bench results; fail on a significant slowdown", compareCmd},
		{"plot", "tabulate and plot bench results side by side, one line per kernel", plotCmd},
		{"specs", "write or check conformance.yaml, the specs' MUST statements", specsCmd},
	}
}

func main() {
	// The benchmarks re-execute this binary for their target processes.
	sandbox.Main()
	ctx, stop := interruptible()
	code, err := dispatch(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "llconform:", err)
	}
	os.Exit(code)
}

// Exit statuses besides report's pass/fail/infra ones.
const (
	exitUsage  = 64
	exitForced = 130 // a second SIGINT/SIGTERM: 128 + SIGINT, as a shell reports it
)

// forcedCleanups are what must still happen when a second signal ends the process at once:
// putting back host state the run changed.
var forcedCleanups struct {
	sync.Mutex
	fns []func()
}

// onForcedExit registers fn to run if a second signal forces the exit; the returned function
// unregisters it once the run has done the same itself.
func onForcedExit(fn func()) (unregister func()) {
	forcedCleanups.Lock()
	defer forcedCleanups.Unlock()
	i := len(forcedCleanups.fns)
	forcedCleanups.fns = append(forcedCleanups.fns, fn)
	return func() {
		forcedCleanups.Lock()
		defer forcedCleanups.Unlock()
		forcedCleanups.fns[i] = nil
	}
}

// interruptible returns a context cancelled by the first SIGINT or SIGTERM: the run then
// stops its VMs and suites, restores host state and writes what it may, within seconds. A
// second signal does not wait for that: it kills the child processes, runs the forced-exit
// clean-ups and exits with exitForced.
func interruptible() (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		sig, ok := <-sigs
		if !ok {
			return
		}
		fmt.Fprintf(os.Stderr, "\nllconform: %v: stopping every VM and suite and restoring host state; a second signal exits at once\n", sig)
		cancel()
		if sig, ok = <-sigs; !ok {
			return
		}
		fmt.Fprintf(os.Stderr, "llconform: %v again: killing child processes and exiting\n", sig)
		killChildren()
		forcedCleanups.Lock()
		for _, fn := range forcedCleanups.fns {
			if fn != nil {
				fn()
			}
		}
		os.Exit(exitForced)
	}()
	return ctx, func() { signal.Stop(sigs); close(sigs); cancel() }
}

// killChildren sends SIGKILL to every child process and to the process group it leads
// (suites run in their own group, with their helpers).
func killChildren() {
	for _, pid := range proc.Children(os.Getpid()) {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

func dispatch(ctx context.Context, args []string) (int, error) {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage()
		return exitUsage, nil
	}
	for _, c := range commands() {
		if c.name == args[0] {
			code, err := c.run(ctx, args[1:])
			if errors.Is(err, flag.ErrHelp) {
				return exitUsage, nil
			}
			return code, err
		}
	}
	usage()
	return exitUsage, fmt.Errorf("unknown command %q", args[0])
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: llconform <command> [flags]\n\ncommands:")
	for _, c := range commands() {
		fmt.Fprintf(os.Stderr, "  %-8s %s\n", c.name, c.usage)
	}
	fmt.Fprintln(os.Stderr, "\nRun llconform <command> -h for its flags.")
}
