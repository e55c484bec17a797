package scope

import (
	"fmt"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/sys/unix"

	"github.com/llconform/llconform/internal/landlock"
	"github.com/llconform/llconform/internal/spec"
	"github.com/llconform/llconform/suites/scope/actions"
)

// dropSysAdmin removes CAP_SYS_ADMIN from the calling thread's effective set (capset
// works per thread), so that restrict_self needs no_new_privs.
func dropSysAdmin() error { return actions.DropEffective(unix.CAP_SYS_ADMIN) }

type nnpObservation struct {
	plain, flagged error // restrict_self(fd, 0) then restrict_self(fd, NO_NEW_PRIVS)
	nnp            int
	read           error // open(/proc/self/status) afterwards
}

var _ = suite.Describe("LANDLOCK_RESTRICT_SELF_NO_NEW_PRIVS", spec.Feature("restrict_self.no_new_privs", 11), func() {
	const feature = "restrict_self.no_new_privs"
	BeforeEach(func() {
		spec.RequireLandlock()
		spec.RequireRoot()
	})

	It("MUST refuse restrict_self with EPERM without no_new_privs or CAP_SYS_ADMIN, and with the flag set no_new_privs and enforce", spec.ID("nnp.flag_sets_no_new_privs"), spec.Selftest("base_test", "restrict_self_no_new_privs"), func() {
		var o nnpObservation
		onThread(func() error {
			if err := dropSysAdmin(); err != nil {
				return err
			}
			fd, err := actions.ReadDeny()
			if err != nil {
				return fmt.Errorf("create ruleset: %w", err)
			}
			defer unix.Close(fd)
			o.plain = landlock.RestrictSelf(fd, 0)
			o.flagged = landlock.RestrictSelf(fd, landlock.RestrictSelfNoNewPrivs)
			if o.nnp, err = actions.NoNewPrivs(); err != nil {
				return err
			}
			rfd, err := unix.Open("/proc/self/status", unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err == nil {
				unix.Close(rfd)
			}
			o.read = err
			return nil
		})
		spec.ExpectErr(o.plain, unix.EPERM, "no no_new_privs, no CAP_SYS_ADMIN: restrict_self(fd, 0)")
		if spec.Supports(11) {
			spec.ExpectErr(o.flagged, nil, "no no_new_privs, no CAP_SYS_ADMIN: restrict_self(fd, NO_NEW_PRIVS)")
			Expect(o.nnp).To(Equal(1), "no_new_privs after restrict_self(fd, NO_NEW_PRIVS) succeeded")
			spec.ExpectErr(o.read, unix.EACCES, "open(/proc/self/status) under the READ_FILE-denying domain")
		} else {
			// Kernels before ABI 11 check privileges before flags, so an unprivileged
			// caller may see EPERM first; the next spec checks EINVAL as root.
			Expect(o.flagged).To(Or(Equal(unix.EPERM), Equal(unix.EINVAL)), "ABI %d: unprivileged restrict_self(fd, NO_NEW_PRIVS): got %s, want EPERM or EINVAL",
				spec.Kernel().ABI, spec.ErrnoName(o.flagged))
			Expect(o.nnp).To(Equal(0), "no_new_privs after a rejected NO_NEW_PRIVS flag")
			spec.ExpectErr(o.read, nil, "open(/proc/self/status) after every restrict_self failed")
		}
		spec.EnforcedVerdict(feature, 11)
	})

	It("MUST leave no_new_privs unset when restrict_self with NO_NEW_PRIVS fails", spec.ID("nnp.failure_leaves_unset"), spec.Selftest("base_test", "restrict_self_no_new_privs"), spec.Selftest("base_test", "restrict_self_max_layers"), func() {
		var badFd, tooDeep error
		var nnpAfterBadFd, nnpAfterTooDeep int
		onThread(func() error {
			badFd = landlock.RestrictSelf(-1, landlock.RestrictSelfNoNewPrivs)
			var err error
			if nnpAfterBadFd, err = actions.NoNewPrivs(); err != nil {
				return err
			}
			fd, err := actions.ReadDeny()
			if err != nil {
				return fmt.Errorf("create ruleset: %w", err)
			}
			defer unix.Close(fd)
			// As root, 16 layers need no no_new_privs; the 17th is one too many.
			for i := 0; i < 16; i++ {
				if err := landlock.RestrictSelf(fd, 0); err != nil {
					return fmt.Errorf("layer %d: %w", i+1, err)
				}
			}
			tooDeep = landlock.RestrictSelf(fd, landlock.RestrictSelfNoNewPrivs)
			nnpAfterTooDeep, err = actions.NoNewPrivs()
			return err
		})
		if spec.Supports(11) {
			spec.ExpectErr(badFd, unix.EBADF, "restrict_self(-1, NO_NEW_PRIVS)")
			spec.ExpectErr(tooDeep, unix.E2BIG, "restrict_self(fd, NO_NEW_PRIVS) over 16 layers")
		} else {
			spec.ExpectErr(badFd, unix.EINVAL, "ABI %d: restrict_self(-1, NO_NEW_PRIVS)", spec.Kernel().ABI)
			spec.ExpectErr(tooDeep, unix.EINVAL, "ABI %d: restrict_self(fd, NO_NEW_PRIVS) over 16 layers", spec.Kernel().ABI)
		}
		Expect(nnpAfterBadFd).To(Equal(0), "no_new_privs after restrict_self(-1, NO_NEW_PRIVS) failed")
		Expect(nnpAfterTooDeep).To(Equal(0), "no_new_privs after restrict_self(NO_NEW_PRIVS) failed over 16 layers")
		spec.FeatureVerdict(feature, 11)
	})

	It("MUST give every thread no_new_privs when combined with TSYNC", spec.Feature("restrict_self.tsync", 8), spec.ID("nnp.tsync_all_threads"), spec.Selftest("tsync_test", "multi_threaded.restrict"), func() {
		if !spec.SupportedOrRejected(feature, 11, func() {
			spec.ExpectErr(landlock.RestrictSelf(-1, landlock.RestrictSelfNoNewPrivs|landlock.RestrictSelfTSync), unix.EINVAL,
				"ABI %d: restrict_self(-1, TSYNC|NO_NEW_PRIVS)", spec.Kernel().ABI)
		}) {
			return
		}
		rep := runTSync(landlock.RestrictSelfTSync|landlock.RestrictSelfNoNewPrivs, false)
		for _, st := range append(rep.Siblings, rep.Caller) {
			Expect(st.NNP).To(Equal(1), "thread %d: no_new_privs after restrict_self(TSYNC|NO_NEW_PRIVS) without a prior prctl", st.Tid)
			Expect(st.Read).To(Equal("EACCES"), "thread %d: open(/proc/self/status) after TSYNC|NO_NEW_PRIVS enforcement", st.Tid)
		}
		// Every sibling got the domain and no_new_privs from the caller's one call.
		spec.EnforcedVerdict(feature, 11)
		spec.EnforcedVerdict("restrict_self.tsync", 8)
	})
})
