package fs

import (
	"fmt"
	"strings"

	. "github.com/onsi/ginkgo/v2"

	"github.com/llconform/llconform/internal/spec"
	"github.com/llconform/llconform/suites/fs/actions"
)

// The layout4_disconnected_leafs and layout5_disconnected_branch selftests: directories
// opened through bind mounts and then moved out of the mounts' sources (disconnected),
// with one ruleset per variant, a read, a rename and an exchange between two disconnected
// directories, and a rename within one. The helper (selftest_gaps_mountns_test.go) runs
// them; these tables say what each variant grants and what a kernel gives.
//
// The selftests' expectations are those of a kernel with erratum 3 fixed, whose walk from
// a disconnected directory goes on from the mount's root once it reaches the root of the
// filesystem. A kernel without the fix stops there. That changes the read and the
// same-directory rename, which walk from the disconnected directory itself, where the
// variant's rights come only from beyond that point (the mount's root and above); for
// layout5 it also changes the rename and the exchange, whose walk from the first mount's
// root crosses the disconnected branch of the second. Variants where both kernels agree
// are plain REFER specs; the others are erratum 3 specs.

var _ = suite.Describe("kernel selftest gaps: disconnected directories", spec.Needs("root"), func() {
	BeforeEach(func() {
		spec.RequireLandlock()
		spec.RequireRoot()
	})

	for _, fx := range actions.DisconnFixtures {
		short := strings.SplitN(fx.Fixture, "_", 2)[0]
		for _, v := range fx.Variants {
			scenario := short + "/" + v.Name
			run := func() (seen [4]error, what string) {
				GinkgoHelper()
				gaps.require(scenario)
				for ctl, want := range fx.Controls {
					if got := gaps.seen(scenario + "/" + ctl); !spec.IsErrno(got, want) {
						Fail(fmt.Sprintf("set-up: %s without a domain: got %s, want %s", ctl, spec.ErrnoName(got), spec.ErrnoName(want)))
					}
				}
				for op, name := range actions.DisconnOps {
					seen[op] = gaps.seen(scenario + "/" + name)
				}
				return seen, fmt.Sprintf("%s handled, rules %s", actions.Names(actions.DisconnHandled), v.RulesText())
			}
			id := spec.ID(fx.Fixture + ".read_rename_exchange." + v.Name)
			label := spec.Selftest("fs_test", fx.Fixture+".read_rename_exchange")
			if !v.Distinguishes() {
				It(fmt.Sprintf("MUST give %s (read, rename, exchange, same-directory rename) through disconnected directories, variant %s", errnoList(v.Want), v.Name),
					spec.Feature(referRight.Feature(), 2), id, label, func() {
						if !supportsOrRejected(referRight) {
							return
						}
						seen, what := run()
						for op := range actions.DisconnOps {
							spec.ExpectErr(seen[op], v.Want[op], "%s, variant %s: %s: %s", fx.Fixture, v.Name, what, fx.OpText[op])
						}
						spec.EnforcedVerdict(referRight.Feature(), 2)
					})
				continue
			}
			It(fmt.Sprintf("MUST give %s (read, rename, exchange, same-directory rename) through disconnected directories, variant %s, where erratum 3 is advertised", errnoList(v.Want), v.Name),
				spec.Erratum(3), id, label, func() {
					if !supportsOrRejected(referRight) {
						return
					}
					seen, what := run()
					obs := make([]spec.Observation, len(actions.DisconnOps))
					for op := range actions.DisconnOps {
						obs[op] = spec.Observation{What: fx.OpText[op], Seen: seen[op], Fixed: v.Want[op], Unfixed: v.UnfixedWant(op)}
					}
					kind, detail := spec.ClassifyErratum(obs)
					spec.ErratumVerdict(3, kind, fmt.Sprintf("%s, variant %s: %s: %s", fx.Fixture, v.Name, what, detail))
				})
		}
	}
})

func errnoList(errs [4]error) string {
	parts := make([]string, len(errs))
	for i, e := range errs {
		parts[i] = spec.ErrnoName(e)
	}
	return strings.Join(parts, "/")
}
