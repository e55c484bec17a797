package fs

import (
	"os"
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	"golang.org/x/sys/unix"

	"github.com/llconform/llconform/internal/sandbox"
	"github.com/llconform/llconform/internal/spec"
	"github.com/llconform/llconform/suites/fs/actions"
)

// move is one rename or exchange step of a sequence, with paths relative to the spec's
// tree. Steps run in order in one domain and may change the tree for the steps after them.
type move struct {
	exchange bool
	from, to string
	want     error
}

func mv(from, to string, want error) move { return move{from: from, to: to, want: want} }
func xchg(a, b string, want error) move   { return move{exchange: true, from: a, to: b, want: want} }

// movesIn turns steps into checks on the tree rooted at w.
func movesIn(w string, steps []move) []check {
	checks := make([]check, len(steps))
	for i, s := range steps {
		from, to := filepath.Join(w, s.from), filepath.Join(w, s.to)
		if s.exchange {
			checks[i] = exchanged(from, to, s.want)
		} else {
			checks[i] = renamed(from, to, s.want)
		}
	}
	return checks
}

// referOrder is refer_denied_by_default2..4 of the kernel selftests: two layers, exactly
// one of which handles REFER, in either order and with the other layer's rule matching a
// parent of the moved files or not. The layer that does not handle REFER denies every
// reparenting, whatever the other layer allows.
type referOrder struct {
	selftest string
	it       string
	// first and second are the layers; firstWant is what reparenting gives under the
	// first layer alone.
	first, second func(a, x string) sandbox.Policy
	firstWant     error
}

func referOnly(dir string) sandbox.Policy { return sandbox.FS(rRefer, actions.Rule(dir, rRefer)) }
func execOnly(dir string) sandbox.Policy  { return sandbox.FS(rExec, actions.Rule(dir, rExec)) }

var referOrders = []referOrder{
	{
		selftest:  "refer_denied_by_default2",
		it:        "MUST deny reparenting with EXDEV under a first layer that handles only EXECUTE (rule on the parent), and keep denying it after a second layer granting REFER",
		first:     func(a, _ string) sandbox.Policy { return execOnly(a) },
		second:    func(a, _ string) sandbox.Policy { return referOnly(a) },
		firstWant: unix.EXDEV,
	},
	{
		selftest:  "refer_denied_by_default3",
		it:        "MUST allow reparenting under a layer granting REFER, and deny it with EXDEV once a layer handling only EXECUTE (rule on an unrelated directory) is added",
		first:     func(a, _ string) sandbox.Policy { return referOnly(a) },
		second:    func(_, x string) sandbox.Policy { return execOnly(x) },
		firstWant: nil,
	},
	{
		selftest:  "refer_denied_by_default4",
		it:        "MUST deny reparenting with EXDEV under a first layer that handles only EXECUTE (rule on an unrelated directory), and keep denying it after a second layer granting REFER",
		first:     func(_, x string) sandbox.Policy { return execOnly(x) },
		second:    func(a, _ string) sandbox.Policy { return referOnly(a) },
		firstWant: unix.EXDEV,
	},
}

// The layers of the reparent_exdev_layers_* selftests, on the tree of exdevTree:
// layer 1 handles MAKE_REG and REFER, granting REFER on a/b and x/y and MAKE_REG on their
// subdirectories a/b/c and x/y/z; layer 2 handles MAKE_DIR, granted on x/y/z only (and
// does not handle REFER).
func exdevLayer1(w string) sandbox.Policy {
	return sandbox.FS(rMakeReg|rRefer,
		actions.Rule(filepath.Join(w, "a/b"), rRefer),
		actions.Rule(filepath.Join(w, "a/b/c"), rMakeReg),
		actions.Rule(filepath.Join(w, "x/y"), rRefer),
		actions.Rule(filepath.Join(w, "x/y/z"), rMakeReg),
	)
}

func exdevLayer2(w string) sandbox.Policy {
	return sandbox.FS(rMakeDir, actions.Rule(filepath.Join(w, "x/y/z"), rMakeDir))
}

// exdevTree is a/{f1,f2} a/b/{f1,f2} a/b/c/{f1,f2} and the same under x/y/z.
func exdevTree() string {
	GinkgoHelper()
	var entries []string
	for _, d := range []string{"a", "a/b", "a/b/c", "x", "x/y", "x/y/z"} {
		entries = append(entries, d+"/f1", d+"/f2")
	}
	return tree(entries...)
}

// exdevCase is one reparent_exdev_layers_* selftest: the tree is adjusted, then steps run
// under layer 1 alone, then further steps (on the tree the first ones left) under both.
type exdevCase struct {
	selftest string
	it       string
	// gone are files removed and dirs files replaced by empty directories before enforcing.
	gone, dirs []string
	layer1     []move
	both       []move
}

var exdevCases = []exdevCase{
	{
		selftest: "reparent_exdev_layers_rename1",
		it:       "MUST allow moving a directory or file that gains no handled right, then deny it with EACCES (MAKE_DIR) or EXDEV (gain, or a layer not handling REFER) once a MAKE_DIR layer is added",
		gone:     []string{"x/y/f1", "x/y/z/f1"},
		layer1: []move{
			// a/b/c holds MAKE_REG itself: beneath x/y it loses it, beneath x/y/z it
			// gains nothing new.
			mv("a/b/c", "x/y/f1", nil),
			mv("x/y/f1", "a/b/c", nil),
			mv("a/b/c", "x/y/z/f1", nil),
			mv("x/y/z/f1", "a/b/c", nil),
			// MAKE_REG applies to directories only, so a file cannot gain it.
			mv("a/b/c/f1", "x/y/z/f1", nil),
		},
		both: []move{
			// x/y does not grant MAKE_DIR to create a directory there.
			mv("a/b/c", "x/y/f1", unix.EACCES),
			// Beneath x/y/z the directory would gain MAKE_DIR.
			mv("a/b/c", "x/y/z/f1", unix.EXDEV),
			// Layer 2 does not handle REFER, so it denies every reparenting.
			mv("a/b/c/f2", "x/y/z/f1", unix.EXDEV),
		},
	},
	{
		selftest: "reparent_exdev_layers_rename2",
		it:       "MUST put EACCES before EXDEV: a destination without MAKE_REG gives EACCES, a source without REFER EXDEV, until a MAKE_DIR layer also denies the directory's creation",
		layer1: []move{
			// x/y lacks MAKE_REG: EACCES although a lacks REFER as well.
			mv("a/f1", "x/y/f1", unix.EACCES),
			mv("a/b/f1", "x/y/f1", unix.EACCES),
			// x/y/z grants MAKE_REG, a lacks REFER.
			mv("a/f1", "x/y/z/f1", unix.EXDEV),
			mv("a/b/f1", "x/y/z/f1", nil),
			// Directories need no MAKE_REG: only the missing REFER on their parent counts.
			mv("a", "x/y/f1", unix.EXDEV),
			mv("a/b", "x/y/f1", unix.EXDEV),
		},
		both: []move{
			mv("a/f1", "x/y/f1", unix.EACCES),
			mv("a/b/f2", "x/y/f1", unix.EACCES),
			mv("a/f1", "x/y/z/f1", unix.EXDEV),
			mv("a/b/f2", "x/y/z/f1", unix.EXDEV),
			// Now MAKE_DIR is denied beneath x/y: EACCES wins over the missing REFER.
			mv("a", "x/y/f1", unix.EACCES),
			mv("a/b", "x/y/f1", unix.EACCES),
		},
	},
	{
		selftest: "reparent_exdev_layers_exchange1",
		it:       "MUST check both directions of an exchange: EACCES before EXDEV, EXDEV for a directory gaining rights, success for equal or lost rights, and EACCES once a MAKE_DIR layer is added",
		dirs:     []string{"a/b/f1", "x/y/z/f2"},
		layer1: []move{
			// a/f1 would land in x/y/z without REFER on a, and x/y/z/f1 in a without
			// MAKE_REG: EACCES in both orders.
			xchg("a/f1", "x/y/z/f1", unix.EACCES),
			xchg("x/y/z/f1", "a/f1", unix.EACCES),
			// The directory a/b/f1 would gain MAKE_REG beneath x/y/z.
			xchg("a/b/f1", "x/y/z/f2", unix.EXDEV),
			xchg("x/y/z/f2", "a/b/f1", unix.EXDEV),
			// Same rights on both sides.
			xchg("a/b/c", "x/y/z", nil),
			xchg("x/y/z", "a/b/c", nil),
			// x/y/z carries its own MAKE_REG rule, so it loses nothing beneath a/b.
			xchg("x/y/z", "a/b/f1", nil),
			xchg("a/b/f1", "x/y/z", nil),
			// The file x/y/f1 cannot gain MAKE_REG and the directory x/y/z/f2 only
			// loses it.
			xchg("x/y/f1", "x/y/z/f2", nil),
			// Back again: the directory would gain MAKE_REG and x/y denies creating
			// the file.
			xchg("x/y/z/f2", "x/y/f1", unix.EACCES),
			xchg("x/y/f1", "x/y/z/f2", unix.EACCES),
		},
		both: []move{
			xchg("a/f1", "x/y/z/f1", unix.EACCES),
			xchg("x/y/z/f1", "a/f1", unix.EACCES),
			// MAKE_DIR is granted on neither a/b nor x/y.
			xchg("a/b/f1", "x/y/z/f2", unix.EACCES),
			xchg("x/y/z/f2", "a/b/f1", unix.EACCES),
			xchg("a/b/c", "x/y/z", unix.EACCES),
			xchg("x/y/z", "a/b/c", unix.EACCES),
			xchg("x/y/z", "a/b/f1", unix.EACCES),
			xchg("a/b/f1", "x/y/z", unix.EACCES),
		},
	},
	{
		selftest: "reparent_exdev_layers_exchange2",
		it:       "MUST deny with EACCES, in both argument orders, exchanging a file with a directory across a parent lacking MAKE_REG and MAKE_DIR under two layers",
		dirs:     []string{"x/y/z/f2"},
		both: []move{
			xchg("x/y/f1", "x/y/z/f2", unix.EACCES),
			xchg("x/y/z/f2", "x/y/f1", unix.EACCES),
		},
	},
	{
		selftest: "reparent_exdev_layers_exchange3",
		it:       "MUST allow exchanging a directory with a file when the directory only loses rights, and deny the exchange back with EACCES in both argument orders",
		dirs:     []string{"x/y/z/f2"},
		layer1: []move{
			xchg("x/y/z/f2", "x/y/f1", nil),
			xchg("x/y/f1", "x/y/z/f2", unix.EACCES),
			xchg("x/y/z/f2", "x/y/f1", unix.EACCES),
		},
	},
}

var _ = suite.Describe("REFER across layers", func() {
	BeforeEach(spec.RequireLandlock)

	for _, c := range referOrders {
		It(c.it+" ("+c.selftest+")", spec.Feature(referRight.Feature(), 2), spec.ID("layout1."+c.selftest), selftests("layout1."+c.selftest), func() {
			if !supportsOrRejected(referRight) {
				return
			}
			w := tree("a/f1", "a/f2", "a/b/f2", "x/")
			a, x := filepath.Join(w, "a"), filepath.Join(w, "x")
			first := c.first(a, x)
			steps := []move{mv("a/f1", "a/b/f1", c.firstWant)}
			if c.firstWant == nil {
				steps = append(steps, mv("a/b/f1", "a/f1", nil))
			}
			steps = append(steps, xchg("a/f2", "a/b/f2", c.firstWant), xchg("a/b/f2", "a/f2", c.firstWant))
			expectChecks(first, movesIn(w, steps)...)
			expectChecks(first.Then(c.second(a, x)), movesIn(w, []move{
				mv("a/f1", "a/b/f1", unix.EXDEV),
				xchg("a/f2", "a/b/f2", unix.EXDEV),
				xchg("a/b/f2", "a/f2", unix.EXDEV),
			})...)
			spec.EnforcedVerdict(referRight.Feature(), 2)
		})
	}

	for _, c := range exdevCases {
		It(c.it+" ("+c.selftest+")", spec.Feature(referRight.Feature(), 2), spec.ID("layout1."+c.selftest), selftests("layout1."+c.selftest), func() {
			if !supportsOrRejected(referRight) {
				return
			}
			w := exdevTree()
			for _, p := range c.gone {
				must(os.Remove(filepath.Join(w, p)), "remove %s", p)
			}
			for _, p := range c.dirs {
				must(os.Remove(filepath.Join(w, p)), "remove %s", p)
				must(os.Mkdir(filepath.Join(w, p), 0o755), "mkdir %s", p)
			}
			l1 := exdevLayer1(w)
			if len(c.layer1) > 0 {
				expectChecks(l1, movesIn(w, c.layer1)...)
			}
			if len(c.both) > 0 {
				expectChecks(l1.Then(exdevLayer2(w)), movesIn(w, c.both)...)
			}
			spec.EnforcedVerdict(referRight.Feature(), 2)
		})
	}
})
