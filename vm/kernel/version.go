package kernel

import (
	"strings"

	"pault.ag/go/debian/version"
)

// compareVersions orders two Debian package versions as dpkg does
// ([epoch:]upstream[-revision]): negative when a < b, 0 when equal, positive
// when a > b. A version dpkg would refuse sorts before every valid one, so
// that it is never picked as the newest.
func compareVersions(a, b string) int {
	va, errA := version.Parse(a)
	vb, errB := version.Parse(b)
	switch {
	case errA != nil && errB != nil:
		return strings.Compare(a, b)
	case errA != nil:
		return -1
	case errB != nil:
		return 1
	}
	return version.Compare(va, vb)
}
