package main

import (
	"flag"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/llconform/llconform/internal/report"
	"github.com/llconform/llconform/internal/verdict"
)

// Exit statuses in bisect mode, git bisect run's convention: 0 good, 1-124 and 126-127 bad,
// 125 cannot be tested (skip this commit), 128 or more aborts the bisection.
const (
	bisectGood  = 0
	bisectBad   = 1
	bisectSkip  = 125
	bisectAbort = 128
)

// gateFlags are the CI gating modes run and matrix share: --bisect changes the exit status,
// --certified what a skip means.
type gateFlags struct {
	bisect    bool
	certified bool
	// missing is --missing-modules: modules declared absent for every kernel of the run.
	missing string
}

func (g *gateFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&g.bisect, "bisect", false,
		"exit as git bisect run expects: 0 good (pass), 1 bad (a failure or mismatch), 125 skip (an infrastructure error, "+
			"an unverified claim or no Landlock: the commit cannot be judged), 128 abort (bad input, interrupted)")
	fs.BoolVar(&g.certified, "certified", false,
		"certified conformance: a spec may skip only as not applicable for a reason conformance.yaml lists "+
			"(no root, a module the kernels.yaml entry lists in expect: {missing_modules}, the kernel's ABI); any other skip fails the run, "+
			"and known issues excuse no failure (they stay marked known). "+
			"Recorded in the result; refuses --label-filter and --focus")
	fs.StringVar(&g.missing, "missing-modules", "", "with --certified: comma-separated kernel modules known to be absent on every kernel of the run (e.g. sctp,smc)")
}

var moduleNameRE = regexp.MustCompile(`^[a-z0-9_]+$`)

// check refuses what cannot make a certified run: a run that filters specs out has not run
// the conformance suite.
func (g gateFlags) check(f filters) error {
	if !g.certified {
		if g.missing != "" {
			return fmt.Errorf("--missing-modules goes with --certified")
		}
		return nil
	}
	if f.label != "" || f.focus != "" {
		return fmt.Errorf("--certified runs every spec: it cannot be combined with --label-filter or --focus")
	}
	for _, m := range g.modules() {
		if !moduleNameRE.MatchString(m) {
			return fmt.Errorf("--missing-modules: bad module name %q", m)
		}
	}
	return nil
}

func (g gateFlags) modules() []string {
	if g.missing == "" {
		return nil
	}
	return strings.Split(g.missing, ",")
}

// apply records the mode on every run of res, before it is judged.
func (g gateFlags) apply(res *report.Result) {
	if !g.certified {
		return
	}
	for i := range res.Runs {
		res.Runs[i].Certified = &report.Certification{MissingModules: slices.Clone(g.modules())}
	}
}

// exit turns the command's exit status into git bisect run's in bisect mode.
func (g gateFlags) exit(code int, interrupted bool) int {
	if !g.bisect {
		return code
	}
	return bisectCode(code, interrupted)
}

// bisectCode maps llconform's exit statuses to git bisect run's. Only a definite verdict is
// good or bad: a kernel that did not boot, hung, or whose claims could not be verified says
// nothing about the commit (skip). A usage error or an interruption stops the bisection:
// counting them as bad would send it the wrong way.
func bisectCode(code int, interrupted bool) int {
	if interrupted {
		return bisectAbort
	}
	switch code {
	case verdict.ExitPass:
		return bisectGood
	case verdict.ExitFail:
		return bisectBad
	case verdict.ExitInfra, verdict.ExitUnverified:
		return bisectSkip
	}
	return bisectAbort
}
