package report

import (
	"fmt"
	"math/bits"
	"strconv"
	"strings"
)

// ErrataList turns an errata bitmask into erratum numbers, ascending.
func ErrataList(mask uint64) []int {
	var out []int
	for mask != 0 {
		b := bits.TrailingZeros64(mask)
		out = append(out, b+1)
		mask &^= 1 << b
	}
	return out
}

// ErrataBits renders an errata bitmask in binary, at least four digits wide ("0b0111"), the
// way the kernel documentation and LANDLOCK.md write it.
func ErrataBits(mask uint64) string {
	return fmt.Sprintf("0b%04b", mask)
}

// FormatErrata renders a kernel's errata as "0b0111 [1 2 3]", or "no query" when the kernel
// rejects the errata query, which is not the same as claiming none fixed.
func FormatErrata(k KernelInfo) string {
	if !k.ErrataQuery {
		return "no query"
	}
	return ErrataBits(k.Errata) + " " + FormatList(ErrataList(k.Errata))
}

// FormatList renders numbers as "[1 2 3]", the way errata are listed in messages.
func FormatList(ns []int) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = strconv.Itoa(n)
	}
	return "[" + strings.Join(s, " ") + "]"
}

// FirstLine is the first non-blank line of a multi-line message (a kernel log excerpt, a
// Gomega failure), for one-line summaries.
func FirstLine(s string) string {
	first, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return first
}
