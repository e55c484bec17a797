package abi

import (
	"fmt"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	"golang.org/x/sys/unix"

	"github.com/llconform/llconform/internal/landlock"
	"github.com/llconform/llconform/internal/spec"
)

var _ = suite.Describe("create_ruleset flags", func() {
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
	// The queries take no attr: with one, or with a size, they are EINVAL on every ABI (on
	// ABIs below 7 ERRATA is an unknown flag, which is EINVAL too). VERSION and ERRATA
	// together are no query at all.
	const version, errata = landlock.CreateRulesetVersion, landlock.CreateRulesetErrata
	badQueries := []struct {
		id      string
		feature string
		abi     int
		what    string
		buf     []byte // nil for a NULL attr
		size    int
		flags   uint32
	}{
		{id: "create_ruleset.version.attr_size_0", feature: "create_ruleset.version", abi: 1,
			what: "VERSION with an attr and size 0", buf: attr, size: 0, flags: version},
		{id: "create_ruleset.version.null_size_8", feature: "create_ruleset.version", abi: 1,
			what: "VERSION with NULL attr and size 8", buf: nil, size: 8, flags: version},
		{id: "create_ruleset.version.attr_size_8", feature: "create_ruleset.version", abi: 1,
			what: "VERSION with an attr and size 8", buf: attr, size: 8, flags: version},
		{id: "create_ruleset.version.unknown_flag", feature: "create_ruleset.version", abi: 1,
			what: "VERSION with the unknown flag 1<<31", buf: nil, size: 0, flags: version | 1<<31},
		{id: "create_ruleset.errata.attr_size_0", feature: "create_ruleset.errata", abi: 7,
			what: "ERRATA with an attr and size 0", buf: attr, size: 0, flags: errata},
		{id: "create_ruleset.errata.null_size_8", feature: "create_ruleset.errata", abi: 7,
			what: "ERRATA with NULL attr and size 8", buf: nil, size: 8, flags: errata},
		{id: "create_ruleset.errata.attr_size_8", feature: "create_ruleset.errata", abi: 7,
			what: "ERRATA with an attr and size 8", buf: attr, size: 8, flags: errata},
		{id: "create_ruleset.errata.with_version", feature: "create_ruleset.errata", abi: 7,
			what: "VERSION|ERRATA", buf: nil, size: 0, flags: version | errata},
		{id: "create_ruleset.errata.unknown_flag", feature: "create_ruleset.errata", abi: 7,
			what: "ERRATA with the unknown flag 1<<31", buf: nil, size: 0, flags: errata | 1<<31},
	}
	for _, c := range badQueries {
		// The selftests abi_version and errata make these calls, each for its query.
		selftest := spec.Selftest("base_test", "abi_version")
		if c.feature == "create_ruleset.errata" {
			selftest = spec.Selftest("base_test", "errata")
		}
		It(fmt.Sprintf("MUST reject %s with EINVAL", c.what), spec.Feature(c.feature, c.abi), spec.ID(c.id), selftest, func() {
			// A non-nil buffer passes its address whatever the size, which is how a
			// caller passes an attr with size 0.
			_, err := landlock.CreateRulesetRaw(c.buf, c.size, c.flags)
			spec.ExpectErr(err, unix.EINVAL, "create_ruleset: %s", c.what)
			if c.feature == "create_ruleset.errata" {
				errataVerdict()
			} else {
				spec.FeatureVerdict(c.feature, c.abi)
			}
		})
	}
})

var _ = suite.Describe("create_ruleset error order", func() {
	BeforeEach(spec.RequireLandlock)

	It("MUST check an unknown flag before the attr, then a size above a page (E2BIG) or below 8 bytes (EINVAL)",
		spec.Feature("create_ruleset.error_order", 1), spec.ID("create_ruleset_checks_ordering"),
		spec.Selftest("base_test", "create_ruleset_checks_ordering"), func() {
			requireKnownABI()
			const unknown = landlock.CreateRulesetErrata << 1 // the first flag no ABI knows
			attr := attrBytes(landlock.RulesetAttr{HandledAccessFS: landlock.AccessFSReadFile}, 0)
			calls := []struct {
				what  string
				buf   []byte
				size  int
				flags uint32
				want  error
			}{
				{"NULL, 0, unknown flag", nil, 0, unknown, unix.EINVAL},
				{"attr, 0, unknown flag", attr, 0, unknown, unix.EINVAL},
				{"NULL, 8, unknown flag", nil, 8, unknown, unix.EINVAL},
				{"attr, 8, unknown flag", attr, 8, unknown, unix.EINVAL},
				{"attr, (size_t)-1, 0", attr, -1, 0, unix.E2BIG},
				{"attr, 0, 0", attr, 0, 0, unix.EINVAL},
				{"attr, 1, 0", attr, 1, 0, unix.EINVAL},
				{"attr, 8, 0", attr, 8, 0, nil},
			}
			for _, c := range calls {
				fd, err := landlock.CreateRulesetRaw(c.buf, c.size, c.flags)
				if err == nil {
					unix.Close(fd)
				}
				spec.ExpectErr(err, c.want, "create_ruleset(%s) with handled_access_fs=read_file", c.what)
			}
			spec.FeatureVerdict("create_ruleset.error_order", 1)
		})
})

var _ = suite.Describe("create_ruleset attr size", func() {
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
		// selftest marks the cases base_test's inconsistent_attr checks.
		selftest bool
	}
	cases := []sizeCase{
		{id: "null_size_8", what: "a NULL attr with size 8 (EFAULT)", build: func() ([]byte, int) { return nil, 8 }, selftest: true},
		{id: "null_size_0", what: "a NULL attr with size 0 (EFAULT)", build: func() ([]byte, int) { return nil, 0 }},
		{id: "null_size_1", what: "a NULL attr with size 1 (EFAULT)", build: func() ([]byte, int) { return nil, 1 }, selftest: true},
		{id: "size_0", what: "an attr with size 0 (EINVAL)", build: func() ([]byte, int) { return attrBytes(valid, 0), 0 }, selftest: true},
		{id: "size_1", what: "an attr with size 1 (EINVAL)", build: func() ([]byte, int) { return attrBytes(valid, 0), 1 }, selftest: true},
		{id: "size_4", what: "an attr with size 4 (EINVAL)", build: func() ([]byte, int) { return attrBytes(valid, 0), 4 }},
		{id: "size_7", what: "an attr with size 7, below the first ABI's 8 bytes (EINVAL)", build: func() ([]byte, int) { return attrBytes(valid, 0), 7 }, selftest: true},
		{id: "size_v1", what: "the first ABI's size 8 (accepted)", build: func() ([]byte, int) { return attrBytes(valid, 0), 8 }},
		{id: "size_kernel", what: "the kernel's own struct size (accepted)", needsLayout: true, build: func() ([]byte, int) {
			n := landlock.RulesetAttr{}.Size(kernelABI())
			return attrBytes(valid, n), n
		}},
		{id: "size_newest", what: "the newest known size 48 with zero unknown fields (accepted)", build: func() ([]byte, int) {
			return attrBytes(valid, 0), landlock.RulesetAttrSize
		}},
		{id: "size_64_zero_tail", what: "size 64 with a zero tail (accepted)", build: func() ([]byte, int) { return attrBytes(valid, 64), 64 }},
		{id: "size_page_zero_tail", what: "a page-size attr with a zero tail (accepted)", build: func() ([]byte, int) { return attrBytes(valid, page), page }},
		{id: "size_page_nonzero_tail", what: "a page-size attr with a non-zero last byte (E2BIG)", selftest: true, build: func() ([]byte, int) {
			b := attrBytes(valid, page)
			b[page-1] = 1
			return b, page
		}},
		{id: "nonzero_past_kernel", what: "a non-zero byte just past the kernel's own struct (E2BIG)", needsLayout: true, build: func() ([]byte, int) {
			n := landlock.RulesetAttr{}.Size(kernelABI())
			b := attrBytes(valid, n+8)
			b[n] = 1
			return b, n + 8
		}},
		{id: "size_page_plus_1", what: "a size of one page plus one byte, all zero past the struct (E2BIG)", selftest: true, build: func() ([]byte, int) {
			return attrBytes(valid, page+1), page + 1
		}},
		{id: "size_1mib", what: "a size of 1 MiB (E2BIG)", build: func() ([]byte, int) { return attrBytes(valid, 1<<20), 1 << 20 }},
	}
	for _, c := range cases {
		var selftest Labels
		if c.selftest {
			selftest = spec.Selftest("base_test", "inconsistent_attr")
		}
		It("MUST handle "+c.what, spec.Feature("create_ruleset.attr_size", 1), spec.ID("create_ruleset.attr_size."+c.id), selftest, func() {
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
	}{
		{id: "size_v1", size: landlock.RulesetAttrSizeV1},
		{id: "size_newest", size: landlock.RulesetAttrSize},
		{id: "size_page", size: page},
	} {
		size := e.size
		It(fmt.Sprintf("MUST reject an attr of size %d handling nothing with ENOMSG", size), spec.Feature("create_ruleset.empty", 1),
			spec.ID("create_ruleset.empty."+e.id), spec.Selftest("base_test", "inconsistent_attr"), func() {
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
	{name: "handled_access_fs", feature: "attr.handled_access_fs", abi: 1, kind: landlock.KindFS, end: 8,
		set: func(a *landlock.RulesetAttr, m uint64) { a.HandledAccessFS = m }},
	{name: "handled_access_net", feature: "attr.handled_access_net", abi: 4, kind: landlock.KindNet, end: 16,
		set: func(a *landlock.RulesetAttr, m uint64) { a.HandledAccessNet = m }},
	{name: "scoped", feature: "attr.scoped", abi: 6, kind: landlock.KindScope, end: 24,
		set: func(a *landlock.RulesetAttr, m uint64) { a.Scoped = m }},
	{name: "quiet_access_fs", feature: "attr.quiet_access_fs", abi: 10, kind: landlock.KindFS, end: 32, quiet: true,
		set: func(a *landlock.RulesetAttr, m uint64) { a.HandledAccessFS, a.QuietAccessFS = m, m }},
	{name: "quiet_access_net", feature: "attr.quiet_access_net", abi: 10, kind: landlock.KindNet, end: 40, quiet: true,
		set: func(a *landlock.RulesetAttr, m uint64) { a.HandledAccessNet, a.QuietAccessNet = m, m }},
	{name: "quiet_scoped", feature: "attr.quiet_scoped", abi: 10, kind: landlock.KindScope, end: 48, quiet: true,
		set: func(a *landlock.RulesetAttr, m uint64) { a.Scoped, a.QuietScoped = m, m }},
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

var _ = suite.Describe("create_ruleset attr fields", func() {
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
			spec.Feature(f.feature, f.abi), spec.ID(fmt.Sprintf("create_ruleset.attr.%s.unknown_bits", f.name)), unknownBitsSelftest[f.name], func() {
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
		// A quiet mask must be a subset of its handled mask: with the lowest right handled,
		// neither the next right nor a bit beyond every right may be quiet.
		rights := rightsOf(f.kind)
		handled := rights[0]
		for _, q := range []struct {
			selftest string // and the spec's id, with the field
			what     string
			bit      uint64
		}{
			{selftest: "invalid_quiet_bits_1", what: "a right not handled", bit: rights[1].Bit},
			{selftest: "invalid_quiet_bits_2", what: "bit 63, beyond every right,", bit: 1 << 63},
		} {
			It(fmt.Sprintf("MUST reject %s in %s with EINVAL from ABI %d (E2BIG below)", q.what, f.name, f.abi),
				spec.Feature(f.feature, f.abi), spec.ID(q.selftest+"."+f.name), spec.Selftest("base_test", q.selftest), func() {
					var attr landlock.RulesetAttr
					f.set(&attr, handled.Bit)
					var only landlock.RulesetAttr
					f.set(&only, q.bit)
					// Keep the handled mask, take the quiet mask from q.
					attr.QuietAccessFS, attr.QuietAccessNet, attr.QuietScoped = only.QuietAccessFS, only.QuietAccessNet, only.QuietScoped
					buf := attrBytes(attr, f.end)
					want := want(f.abi, unix.EINVAL, unix.E2BIG)
					spec.ExpectErr(tryCreate(buf, f.end), want, "ABI %d: create_ruleset(%s, size %d)", kernelABI(), describeAttr(attr), f.end)
					spec.FeatureVerdict(f.feature, f.abi)
				})
		}
	}

	It("MUST reject a known right combined with bit 32 of handled_access_fs with EINVAL (no 32-bit truncation)", spec.Feature("attr.handled_access_fs", 1), spec.ID("create_ruleset.attr.handled_access_fs.bit_32"), func() {
		// A kernel that truncated the mask to 32 bits would accept bit 32 + a known bit.
		attr := landlock.RulesetAttr{HandledAccessFS: landlock.AccessFSExecute | 1<<32}
		buf := attrBytes(attr, 8)
		spec.ExpectErr(tryCreate(buf, 8), unix.EINVAL, "create_ruleset(handled_access_fs=execute|1<<32, size 8)")
		spec.FeatureVerdict("attr.handled_access_fs", 1)
	})
})

// unknownBitsSelftest names the selftests that create a ruleset with each unknown bit of a
// handled field alone.
var unknownBitsSelftest = map[string]Labels{
	"handled_access_fs":  spec.Selftest("fs_test", "layout0.ruleset_with_unknown_access"),
	"handled_access_net": spec.Selftest("net_test", "mini.ruleset_with_unknown_access"),
	"scoped":             spec.Selftest("scoped_test", "ruleset_with_unknown_scope"),
}

// bitRuns collects per-bit mismatches, merging consecutive bits with the same outcome so
// that a failure reads "bits 4-63: got EINVAL, want E2BIG" rather than sixty lines.
type bitRuns []bitRun

// bitRun is a range of consecutive bits with the same outcome.
type bitRun struct {
	first, last int
	outcome     string
}

func (r *bitRuns) add(bit int, outcome string) {
	if n := len(*r); n > 0 && (*r)[n-1].last == bit-1 && (*r)[n-1].outcome == outcome {
		(*r)[n-1].last = bit
		return
	}
	*r = append(*r, bitRun{first: bit, last: bit, outcome: outcome})
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
