package abi_test

import (
	"fmt"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	"golang.org/x/sys/unix"

	"github.com/llconform/llconform/internal/landlock"
	"github.com/llconform/llconform/internal/spec"
)

var _ = Describe("create_ruleset flags", func() {
	BeforeEach(spec.RequireLandlock)

	// Bits 0 (VERSION) and 1 (ERRATA) are the only flags; every other bit is checked alone,
	// both in the query form (NULL, 0) and with a valid attr.
	for bit := 2; bit < 32; bit++ {
		flag := uint32(1) << bit
		It(fmt.Sprintf("MUST reject the unknown flag 1<<%d with EINVAL", bit), spec.Feature("create_ruleset.flags", 1), spec.ID(fmt.Sprintf("create_ruleset.flags.bit_%d", bit)), func() {
			requireKnownABI()
			_, err := landlock.CreateRulesetRaw(nil, 0, flag)
			spec.ExpectErr(err, unix.EINVAL, "create_ruleset(NULL, 0, %#x)", flag)
			attr := landlock.RulesetAttr{HandledAccessFS: landlock.AccessFSExecute}
			fd, err := landlock.CreateRuleset(&attr, landlock.RulesetAttrSizeV1, flag)
			if err == nil {
				unix.Close(fd)
			}
			spec.ExpectErr(err, unix.EINVAL, "create_ruleset(handled_access_fs=execute, 8, %#x)", flag)
			spec.FeatureVerdict("create_ruleset.flags", 1)
		})
	}

	attr := attrBytes(landlock.RulesetAttr{HandledAccessFS: landlock.AccessFSExecute}, 0)
	type query struct {
		what  string
		buf   []byte
		size  int
		flags uint32
	}
	// The queries take no attr: with one, or with a size, they are EINVAL on every ABI (on
	// ABIs below 7 ERRATA is an unknown flag, which is EINVAL too). VERSION and ERRATA
	// together are no query at all.
	badQueries := []struct {
		id      string
		feature string
		abi     int
		q       query
	}{
		{"create_ruleset.version.attr_size_0", "create_ruleset.version", 1, query{"VERSION with an attr and size 0", attr, 0, landlock.CreateRulesetVersion}},
		{"create_ruleset.version.null_size_8", "create_ruleset.version", 1, query{"VERSION with NULL attr and size 8", nil, 8, landlock.CreateRulesetVersion}},
		{"create_ruleset.version.attr_size_8", "create_ruleset.version", 1, query{"VERSION with an attr and size 8", attr, 8, landlock.CreateRulesetVersion}},
		{"create_ruleset.errata.attr_size_0", "create_ruleset.errata", 7, query{"ERRATA with an attr and size 0", attr, 0, landlock.CreateRulesetErrata}},
		{"create_ruleset.errata.null_size_8", "create_ruleset.errata", 7, query{"ERRATA with NULL attr and size 8", nil, 8, landlock.CreateRulesetErrata}},
		{"create_ruleset.errata.attr_size_8", "create_ruleset.errata", 7, query{"ERRATA with an attr and size 8", attr, 8, landlock.CreateRulesetErrata}},
		{"create_ruleset.errata.with_version", "create_ruleset.errata", 7, query{"VERSION|ERRATA", nil, 0, landlock.CreateRulesetVersion | landlock.CreateRulesetErrata}},
	}
	for _, c := range badQueries {
		It(fmt.Sprintf("MUST reject %s with EINVAL", c.q.what), spec.Feature(c.feature, c.abi), spec.ID(c.id), func() {
			// A non-nil buffer passes its address whatever the size, which is how a
			// caller passes an attr with size 0.
			_, err := landlock.CreateRulesetRaw(c.q.buf, c.q.size, c.q.flags)
			spec.ExpectErr(err, unix.EINVAL, "create_ruleset: %s", c.q.what)
			if c.feature == "create_ruleset.errata" {
				errataVerdict()
			} else {
				spec.FeatureVerdict(c.feature, c.abi)
			}
		})
	}
})

var _ = Describe("create_ruleset attr size", func() {
	BeforeEach(spec.RequireLandlock)
	page := unix.Getpagesize()
	valid := landlock.RulesetAttr{HandledAccessFS: landlock.AccessFSExecute}

	type sizeCase struct {
		id   string // appended to "create_ruleset.attr_size."
		what string
		// build returns the buffer (nil for a NULL attr) and the size passed.
		build func() ([]byte, int)
		// needsLayout marks cases that rely on knowing the kernel's struct size.
		needsLayout bool
	}
	cases := []sizeCase{
		{"null_size_8", "a NULL attr with size 8 (EFAULT)", func() ([]byte, int) { return nil, 8 }, false},
		{"null_size_0", "a NULL attr with size 0 (EFAULT)", func() ([]byte, int) { return nil, 0 }, false},
		{"size_0", "an attr with size 0 (EINVAL)", func() ([]byte, int) { return attrBytes(valid, 0), 0 }, false},
		{"size_1", "an attr with size 1 (EINVAL)", func() ([]byte, int) { return attrBytes(valid, 0), 1 }, false},
		{"size_4", "an attr with size 4 (EINVAL)", func() ([]byte, int) { return attrBytes(valid, 0), 4 }, false},
		{"size_7", "an attr with size 7, below the first ABI's 8 bytes (EINVAL)", func() ([]byte, int) { return attrBytes(valid, 0), 7 }, false},
		{"size_v1", "the first ABI's size 8 (accepted)", func() ([]byte, int) { return attrBytes(valid, 0), 8 }, false},
		{"size_kernel", "the kernel's own struct size (accepted)", func() ([]byte, int) {
			n := landlock.RulesetAttr{}.Size(kernelABI())
			return attrBytes(valid, n), n
		}, true},
		{"size_newest", "the newest known size 48 with zero unknown fields (accepted)", func() ([]byte, int) {
			return attrBytes(valid, 0), landlock.RulesetAttrSize
		}, false},
		{"size_64_zero_tail", "size 64 with a zero tail (accepted)", func() ([]byte, int) { return attrBytes(valid, 64), 64 }, false},
		{"size_page_zero_tail", "a page-size attr with a zero tail (accepted)", func() ([]byte, int) { return attrBytes(valid, page), page }, false},
		{"size_page_nonzero_tail", "a page-size attr with a non-zero last byte (E2BIG)", func() ([]byte, int) {
			b := attrBytes(valid, page)
			b[page-1] = 1
			return b, page
		}, false},
		{"nonzero_past_kernel", "a non-zero byte just past the kernel's own struct (E2BIG)", func() ([]byte, int) {
			n := landlock.RulesetAttr{}.Size(kernelABI())
			b := attrBytes(valid, n+8)
			b[n] = 1
			return b, n + 8
		}, true},
		{"size_page_plus_1", "a size of one page plus one byte, all zero past the struct (E2BIG)", func() ([]byte, int) {
			return attrBytes(valid, page+1), page + 1
		}, false},
		{"size_1mib", "a size of 1 MiB (E2BIG)", func() ([]byte, int) { return attrBytes(valid, 1<<20), 1 << 20 }, false},
	}
	for _, c := range cases {
		It("MUST handle "+c.what, spec.Feature("create_ruleset.attr_size", 1), spec.ID("create_ruleset.attr_size."+c.id), func() {
			if c.needsLayout {
				requireKnownABI()
			}
			buf, size := c.build()
			expected := landlock.CreateRulesetErrno(buf, size, kernelABI())
			spec.ExpectErr(tryCreate(buf, size), expected, "create_ruleset(%s, size %d) on ABI %d", describeBuf(buf), size, kernelABI())
			spec.FeatureVerdict("create_ruleset.attr_size", 1)
		})
	}

	// The ids name the sizes, which differ between architectures (the page size).
	for _, e := range []struct {
		id   string
		size int
	}{{"size_v1", landlock.RulesetAttrSizeV1}, {"size_newest", landlock.RulesetAttrSize}, {"size_page", page}} {
		size := e.size
		It(fmt.Sprintf("MUST reject an attr of size %d handling nothing with ENOMSG", size), spec.Feature("create_ruleset.empty", 1),
			spec.ID("create_ruleset.empty."+e.id), func() {
				spec.ExpectErr(tryCreate(attrBytes(landlock.RulesetAttr{}, size), size), unix.ENOMSG, "create_ruleset(empty attr, size %d)", size)
				spec.FeatureVerdict("create_ruleset.empty", 1)
			})
	}
})

func describeBuf(buf []byte) string {
	if buf == nil {
		return "NULL"
	}
	return "handled_access_fs=execute"
}

// attrField is one mask field of struct landlock_ruleset_attr.
type attrField struct {
	name    string
	feature string
	abi     int // the ABI that added the field
	kind    landlock.Kind
	end     int // offset of the field's end: the smallest size that carries it
	quiet   bool
	// set puts mask in the field (and, for a quiet field, in its handled field too, which
	// it must be a subset of).
	set func(a *landlock.RulesetAttr, mask uint64)
}

var attrFieldsTable = []attrField{
	{"handled_access_fs", "attr.handled_access_fs", 1, landlock.KindFS, 8, false,
		func(a *landlock.RulesetAttr, m uint64) { a.HandledAccessFS = m }},
	{"handled_access_net", "attr.handled_access_net", 4, landlock.KindNet, 16, false,
		func(a *landlock.RulesetAttr, m uint64) { a.HandledAccessNet = m }},
	{"scoped", "attr.scoped", 6, landlock.KindScope, 24, false,
		func(a *landlock.RulesetAttr, m uint64) { a.Scoped = m }},
	{"quiet_access_fs", "attr.quiet_access_fs", 10, landlock.KindFS, 32, true,
		func(a *landlock.RulesetAttr, m uint64) { a.HandledAccessFS, a.QuietAccessFS = m, m }},
	{"quiet_access_net", "attr.quiet_access_net", 10, landlock.KindNet, 40, true,
		func(a *landlock.RulesetAttr, m uint64) { a.HandledAccessNet, a.QuietAccessNet = m, m }},
	{"quiet_scoped", "attr.quiet_scoped", 10, landlock.KindScope, 48, true,
		func(a *landlock.RulesetAttr, m uint64) { a.Scoped, a.QuietScoped = m, m }},
}

func rightsOf(k landlock.Kind) []landlock.Right {
	switch k {
	case landlock.KindFS:
		return landlock.FSRights
	case landlock.KindNet:
		return landlock.NetRights
	default:
		return landlock.Scopes
	}
}

var _ = Describe("create_ruleset attr fields", func() {
	BeforeEach(spec.RequireLandlock)

	for _, f := range attrFieldsTable {
		// Each right alone in the field, passed with the size of the ABI that added the
		// field: accepted where the kernel has both the field and the right; EINVAL where
		// it has the field but not the right; E2BIG where the field lies past the
		// kernel's struct (copy_struct_from_user sees a non-zero unknown tail).
		for _, r := range rightsOf(f.kind) {
			feature, abi := r.Feature(), r.ABI
			if f.quiet {
				feature, abi = f.feature, max(f.abi, r.ABI)
			}
			It(fmt.Sprintf("MUST accept %s alone in %s from ABI %d and reject it below", r, f.name, max(f.abi, r.ABI)),
				spec.Feature(feature, abi), spec.ID(fmt.Sprintf("create_ruleset.attr.%s.%s", f.name, r.Name)), func() {
					var attr landlock.RulesetAttr
					f.set(&attr, r.Bit)
					buf := attrBytes(attr, f.end)
					spec.ExpectErr(tryCreate(buf, f.end), landlock.CreateRulesetErrno(buf, f.end, kernelABI()),
						"ABI %d: create_ruleset(%s, size %d)", kernelABI(), describeAttr(attr), f.end)
					if f.quiet {
						spec.FeatureVerdict(f.feature, f.abi)
					} else {
						spec.FeatureVerdict(r.Feature(), r.ABI)
					}
				})
		}

		// Every bit above the rights llconform knows, each alone.
		below := ""
		if f.abi > 1 {
			below = fmt.Sprintf(", or E2BIG below ABI %d", f.abi)
		}
		It(fmt.Sprintf("MUST reject every bit of %s beyond the known rights, each alone (EINVAL%s)", f.name, below),
			spec.Feature(f.feature, f.abi), spec.ID(fmt.Sprintf("create_ruleset.attr.%s.unknown_bits", f.name)), func() {
				requireKnownABI()
				var wrong bitRuns
				for b := 0; b < 64; b++ {
					bit := uint64(1) << b
					if bit&landlock.Mask(f.kind, landlock.MaxABI) != 0 {
						continue
					}
					var attr landlock.RulesetAttr
					f.set(&attr, bit)
					buf := attrBytes(attr, f.end)
					want, got := landlock.CreateRulesetErrno(buf, f.end, kernelABI()), tryCreate(buf, f.end)
					if spec.ErrnoName(want) != spec.ErrnoName(got) {
						wrong.add(b, fmt.Sprintf("got %s, want %s", spec.ErrnoName(got), spec.ErrnoName(want)))
					}
				}
				if len(wrong) > 0 {
					Fail(fmt.Sprintf("ABI %d: create_ruleset with one unknown bit in %s (size %d): %s",
						kernelABI(), f.name, f.end, wrong))
				}
				spec.FeatureVerdict(f.feature, f.abi)
			})

		if !f.quiet {
			continue
		}
		// A quiet mask must be a subset of its handled mask: the lowest right handled
		// and the next one quiet.
		rights := rightsOf(f.kind)
		handled, quiet := rights[0], rights[1]
		It(fmt.Sprintf("MUST reject %s not a subset of its handled mask with EINVAL from ABI %d (E2BIG below)", f.name, f.abi),
			spec.Feature(f.feature, f.abi), spec.ID("invalid_quiet_bits_1."+f.name), func() {
				var attr landlock.RulesetAttr
				f.set(&attr, handled.Bit)
				var only landlock.RulesetAttr
				f.set(&only, quiet.Bit)
				// Keep the handled mask, take the quiet mask from the second right.
				attr.QuietAccessFS, attr.QuietAccessNet, attr.QuietScoped = only.QuietAccessFS, only.QuietAccessNet, only.QuietScoped
				buf := attrBytes(attr, f.end)
				want := want(f.abi, unix.EINVAL, unix.E2BIG)
				spec.ExpectErr(tryCreate(buf, f.end), want, "ABI %d: create_ruleset(%s, size %d)", kernelABI(), describeAttr(attr), f.end)
				spec.FeatureVerdict(f.feature, f.abi)
			})
	}

	It("MUST reject a known right combined with bit 32 of handled_access_fs with EINVAL (no 32-bit truncation)", spec.Feature("attr.handled_access_fs", 1), spec.ID("create_ruleset.attr.handled_access_fs.bit_32"), func() {
		// A kernel that truncated the mask to 32 bits would accept bit 32 + a known bit.
		attr := landlock.RulesetAttr{HandledAccessFS: landlock.AccessFSExecute | 1<<32}
		buf := attrBytes(attr, 8)
		spec.ExpectErr(tryCreate(buf, 8), unix.EINVAL, "create_ruleset(handled_access_fs=execute|1<<32, size 8)")
		spec.FeatureVerdict("attr.handled_access_fs", 1)
	})
})

// bitRuns collects per-bit mismatches, merging consecutive bits with the same outcome so
// that a failure reads "bits 4-63: got EINVAL, want E2BIG" rather than sixty lines.
type bitRuns []struct {
	first, last int
	outcome     string
}

func (r *bitRuns) add(bit int, outcome string) {
	if n := len(*r); n > 0 && (*r)[n-1].last == bit-1 && (*r)[n-1].outcome == outcome {
		(*r)[n-1].last = bit
		return
	}
	*r = append(*r, struct {
		first, last int
		outcome     string
	}{bit, bit, outcome})
}

func (r bitRuns) String() string {
	parts := make([]string, len(r))
	for i, run := range r {
		if run.first == run.last {
			parts[i] = fmt.Sprintf("bit %d: %s", run.first, run.outcome)
		} else {
			parts[i] = fmt.Sprintf("bits %d-%d: %s", run.first, run.last, run.outcome)
		}
	}
	return strings.Join(parts, "; ")
}
