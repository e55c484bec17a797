package scope

import (
	. "github.com/onsi/ginkgo/v2"
	"golang.org/x/sys/unix"

	"github.com/llconform/llconform/internal/landlock"
	"github.com/llconform/llconform/internal/spec"
)

var _ = suite.Describe("the scoped attribute", func() {
	for _, r := range landlock.Scopes {
		r := r
		It("create_ruleset MUST accept "+r.String()+" from ABI 6 and reject the scoped field below it", spec.Feature(r.Feature(), r.ABI), spec.ID("attr.scoped."+r.Name), func() {
			if !scopeSupported(r.Feature(), r.Bit) {
				return
			}
			fd, err := landlock.CreateRuleset(&landlock.RulesetAttr{Scoped: r.Bit}, landlock.RulesetAttrSizeV6, 0)
			spec.ExpectErr(err, nil, "create_ruleset(scoped=%s, 24-byte attr)", r)
			if err == nil {
				unix.Close(fd)
			}
			spec.FeatureVerdict(r.Feature(), r.ABI)
		})
	}

	It("create_ruleset MUST reject every unknown scoped bit with EINVAL", spec.Feature("attr.scoped", 6), spec.ID("ruleset_with_unknown_scope"), spec.Selftest("scoped_test", "ruleset_with_unknown_scope"), func() {
		if !scopeSupported("attr.scoped", landlock.ScopeSignal) {
			return
		}
		known := landlock.Mask(landlock.KindScope, spec.Kernel().ABI)
		for bit := uint64(1); bit != 0; bit <<= 1 {
			if bit&known != 0 {
				continue
			}
			fd, err := landlock.CreateRuleset(&landlock.RulesetAttr{Scoped: bit}, landlock.RulesetAttrSizeV6, 0)
			if err == nil {
				unix.Close(fd)
			}
			spec.ExpectErr(err, unix.EINVAL, "create_ruleset(scoped=%#x)", bit)
		}
		spec.FeatureVerdict("attr.scoped", 6)
	})
})
