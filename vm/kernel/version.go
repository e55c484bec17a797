package kernel

import (
	"strings"
)

// compareVersions orders two Debian package versions as dpkg does
// ([epoch:]upstream[-revision]): negative when a < b, 0 when equal, positive
// when a > b.
func compareVersions(a, b string) int {
	ea, ua, ra := splitVersion(a)
	eb, ub, rb := splitVersion(b)
	if c := compareNum(ea, eb); c != 0 {
		return c
	}
	if c := compareFragment(ua, ub); c != 0 {
		return c
	}
	return compareFragment(ra, rb)
}

func splitVersion(v string) (epoch, upstream, revision string) {
	epoch = "0"
	if e, rest, ok := strings.Cut(v, ":"); ok {
		epoch, v = e, rest
	}
	if i := strings.LastIndex(v, "-"); i >= 0 {
		return epoch, v[:i], v[i+1:]
	}
	return epoch, v, ""
}

// compareFragment is dpkg's verrevcmp: alternate non-digit runs, compared
// character by character with '~' before everything (even the end) and
// letters before other characters, and digit runs, compared as numbers.
func compareFragment(a, b string) int {
	for a != "" || b != "" {
		var na, nb string
		na, a = splitRun(a, false)
		nb, b = splitRun(b, false)
		for i := 0; i < len(na) || i < len(nb); i++ {
			if c := order(at(na, i)) - order(at(nb, i)); c != 0 {
				return c
			}
		}
		na, a = splitRun(a, true)
		nb, b = splitRun(b, true)
		if c := compareNum(na, nb); c != 0 {
			return c
		}
	}
	return 0
}

func at(s string, i int) int {
	if i < len(s) {
		return int(s[i])
	}
	return 0
}

func order(c int) int {
	switch {
	case c == 0:
		return 0
	case c == '~':
		return -1
	case c >= '0' && c <= '9':
		return 0
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		return c
	default:
		return c + 256
	}
}

func splitRun(s string, digits bool) (run, rest string) {
	i := 0
	for i < len(s) && (s[i] >= '0' && s[i] <= '9') == digits {
		i++
	}
	return s[:i], s[i:]
}

func compareNum(a, b string) int {
	a, b = strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
	if len(a) != len(b) {
		return len(a) - len(b)
	}
	return strings.Compare(a, b)
}
