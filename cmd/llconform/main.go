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
	"syscall"

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
		{"report", "merge result files, or print one (report merge|show)", reportCmd},
		{"bench", "measure what Landlock costs on the running kernel", benchCmd},
		{"compare", "compare two bench results; fail on a significant slowdown", compareCmd},
		{"plot", "tabulate and plot bench results side by side, one line per kernel", plotCmd},
		{"specs", "write or check conformance.yaml, the specs' MUST statements", specsCmd},
	}
}

func main() {
	// The benchmarks re-execute this binary for their target processes.
	sandbox.Main()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code, err := dispatch(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "llconform:", err)
	}
	os.Exit(code)
}

// Exit statuses besides report's pass/fail/infra ones.
const exitUsage = 64

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
