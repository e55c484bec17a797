package abi

import (
	"errors"
	"fmt"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/sys/unix"

	"github.com/llconform/llconform/internal/landlock"
	"github.com/llconform/llconform/internal/report"
	"github.com/llconform/llconform/internal/spec"
)

var _ = suite.Describe("Landlock presence", func() {
	// The one spec that runs on every kernel: where Landlock is missing or disabled it
	// checks that the absence is reported the same way by all three syscalls, and where it
	// is present that none of them claims otherwise.
	It("MUST answer all three syscalls consistently: ENOSYS when not built, EOPNOTSUPP when disabled, neither when available",
		spec.Feature("abi.version", 1), spec.ID("presence.syscalls_consistent"), func() {
			k := spec.Kernel()
			var versionErr, createErr, addErr, restrictErr error
			_, versionErr = landlock.Version()
			fd, err := landlock.CreateRuleset(&landlock.RulesetAttr{HandledAccessFS: landlock.AccessFSExecute}, landlock.RulesetAttrSizeV1, 0)
			if err == nil {
				unix.Close(fd)
			}
			createErr = err
			attr := landlock.PathBeneathAttr{AllowedAccess: landlock.AccessFSExecute, ParentFd: -1}
			addErr = landlock.AddPathBeneath(-1, attr, 0)
			// restrict_self(-1, 0) cannot enforce anything on a working kernel, but a thread
			// is thrown away anyway in case one wrongly does.
			onThread(func() error {
				if err := setNoNewPrivs(); err != nil {
					return err
				}
				restrictErr = landlock.RestrictSelf(-1, 0)
				return nil
			})
			calls := []struct {
				name string
				err  error
			}{
				{name: "create_ruleset(NULL, 0, VERSION)", err: versionErr},
				{name: "create_ruleset(handled_access_fs=execute, 8, 0)", err: createErr},
				{name: "add_rule(-1, PATH_BENEATH, ...)", err: addErr},
				{name: "restrict_self(-1, 0)", err: restrictErr},
			}
			switch k.Status {
			case landlock.NotBuilt, landlock.Disabled:
				absent := unix.ENOSYS
				if k.Status == landlock.Disabled {
					absent = unix.EOPNOTSUPP
				}
				for _, c := range calls {
					spec.ExpectErr(c.err, absent, "Landlock %s: %s", k.Status, c.name)
				}
				spec.Verdict(report.Verdict{Feature: "abi.version", ABI: 1, Outcome: report.Absent,
					Detail: fmt.Sprintf("Landlock %s: all three syscalls return %s", k.Status, spec.ErrnoName(absent))})
			case landlock.Available:
				for _, c := range calls {
					if errors.Is(c.err, unix.ENOSYS) || errors.Is(c.err, unix.EOPNOTSUPP) {
						Fail(fmt.Sprintf("Landlock available (ABI %d) but %s returned %s", k.ABI, c.name, spec.ErrnoName(c.err)))
					}
				}
				spec.ExpectErr(createErr, nil, "Landlock available: create_ruleset(handled_access_fs=execute, 8, 0)")
				spec.ExpectErr(addErr, unix.EBADF, "Landlock available: add_rule(-1, PATH_BENEATH, execute)")
				spec.ExpectErr(restrictErr, unix.EBADF, "Landlock available: restrict_self(-1, 0)")
				spec.FeatureVerdict("abi.version", 1)
			default:
				Fail(fmt.Sprintf("the version query failed with neither ENOSYS nor EOPNOTSUPP: %s", k.Error))
			}
		})

	It("MUST report an ABI version of at least 1, the same on every query", spec.Feature("abi.version", 1), spec.ID("presence.version"), spec.Selftest("base_test", "abi_version"), func() {
		spec.RequireLandlock()
		for range 3 {
			v, err := landlock.Version()
			spec.ExpectErr(err, nil, "create_ruleset(NULL, 0, VERSION)")
			Expect(v).To(BeNumerically(">=", 1), "ABI version")
			Expect(v).To(Equal(spec.Kernel().ABI), "ABI version differs between queries")
		}
		spec.FeatureVerdict("abi.version", 1)
	})

	It("MUST accept the errata query from ABI 7 (below, EINVAL unless backported)", spec.Feature("create_ruleset.errata", 7), spec.ID("presence.errata"), spec.Selftest("base_test", "errata"), func() {
		spec.RequireLandlock()
		errata, err := landlock.Errata()
		switch {
		case spec.Supports(7):
			spec.ExpectErr(err, nil, "ABI %d: create_ruleset(NULL, 0, ERRATA)", kernelABI())
		case err != nil:
			// Not backported: the flag must be rejected like any unknown flag.
			spec.ExpectErr(err, unix.EINVAL, "ABI %d without the errata backport: create_ruleset(NULL, 0, ERRATA)", kernelABI())
		}
		if err == nil {
			again, err := landlock.Errata()
			spec.ExpectErr(err, nil, "second errata query")
			Expect(again).To(Equal(errata), "errata bitmask differs between queries")
			Expect(errata).To(Equal(spec.Kernel().Errata), "errata bitmask differs from the suite's probe")
		}
		errataVerdict()
	})

	// Bits llconform does not know are the report's business: an unverified claim
	// (package verdict's known-claims check), never a pass.
	It("MUST advertise only errata that apply to its ABI",
		spec.Feature("create_ruleset.errata", 7), spec.ID("presence.errata_abi"), func() {
			spec.RequireLandlock()
			errata, err := landlock.Errata()
			if err != nil {
				spec.Skip("the kernel (ABI %d) rejects the errata query (%s): it advertises no errata", kernelABI(), spec.ErrnoName(err))
			}
			for _, e := range landlock.ErrataTable {
				bit := uint64(1) << (e.ID - 1)
				// The kernel's compute_errata() skips an erratum whose ABI is above its
				// own: advertising one is a backport gone wrong.
				if errata&bit != 0 && e.ABI > kernelABI() {
					Fail(fmt.Sprintf("erratum %d (%s) advertised on ABI %d, but it applies from ABI %d", e.ID, e.Feature, kernelABI(), e.ABI))
				}
			}
			errataVerdict()
		})
})
