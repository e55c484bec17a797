package landlock

import (
	"errors"
	"testing"

	"golang.org/x/sys/unix"
)

// Every feature is rejected by every older kernel, with the errno of the kernel's first
// failing check: E2BIG for a field the kernel's struct does not have yet, EINVAL for an
// unknown bit or flag in a field it has.
func TestFeatureRejection(t *testing.T) {
	cases := []struct {
		feature string
		abi     int
		want    error
	}{
		{"fs.truncate", 2, unix.EINVAL},
		{"fs.resolve_unix", 8, unix.EINVAL},
		{"attr.handled_access_net", 3, unix.E2BIG},
		{"net.bind_tcp", 3, unix.E2BIG},
		{"net.bind_udp", 9, unix.EINVAL},
		{"rule.net_port", 1, unix.E2BIG},
		{"attr.scoped", 5, unix.E2BIG},
		{"scope.signal", 4, unix.E2BIG},
		{"create_ruleset.errata", 6, unix.EINVAL},
		{"restrict_self.tsync", 7, unix.EINVAL},
		{"attr.quiet_access_net", 9, unix.E2BIG},
		{"add_rule.quiet", 7, unix.E2BIG},
		{"restrict_self.no_new_privs", 10, unix.EINVAL},
	}
	byName := map[string]Feature{}
	for _, f := range Features {
		byName[f.Name] = f
		for abi := 1; abi < f.ABI; abi++ {
			if err := f.Rejection(abi); !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.E2BIG) {
				t.Errorf("%s (ABI %d) on ABI %d: rejection %v, want EINVAL or E2BIG", f.Name, f.ABI, abi, err)
			}
		}
	}
	for _, c := range cases {
		f, ok := byName[c.feature]
		if !ok {
			t.Fatalf("no feature %s", c.feature)
		}
		if got := f.Rejection(c.abi); !errors.Is(got, c.want) {
			t.Errorf("%s on ABI %d: rejection %v, want %v", c.feature, c.abi, got, c.want)
		}
	}
}
