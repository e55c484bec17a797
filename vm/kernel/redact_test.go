package kernel

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

func TestRedact(t *testing.T) {
	m := Mirrors{Archive: Mirror{URI: "http://mirror.test/debian"}, Security: Mirror{URI: "http://mirror.test/debian-security/"}}
	for in, want := range map[string]string{
		"sid: http://mirror.test/debian/dists/sid/InRelease: expired":               "sid: <archive mirror>/dists/sid/InRelease: expired",
		"http://mirror.test/debian-security/dists/bookworm-security/InRelease":      "<security mirror>/dists/bookworm-security/InRelease",
		`Get "http://mirror.test:80/x": dial tcp: lookup mirror.test: no such host`: `Get "http://<mirror host>:80/x": dial tcp: lookup <mirror host>: no such host`,
		"nothing to hide": "nothing to hide",
	} {
		if got := m.redact(in); got != want {
			t.Errorf("redact(%q) = %q, want %q", in, got, want)
		}
	}
	if got := (Mirrors{}).redact("http://x/debian"); got != "http://x/debian" {
		t.Errorf("no mirrors: %q", got)
	}
	err := m.redactErr(fmt.Errorf("http://mirror.test/debian/pool/a.deb: %w", context.Canceled))
	if err.Error() != "<archive mirror>/pool/a.deb: context canceled" || !errors.Is(err, context.Canceled) {
		t.Errorf("redactErr: %v (still context.Canceled: %v)", err, errors.Is(err, context.Canceled))
	}
	if err := m.redactErr(nil); err != nil {
		t.Errorf("redactErr(nil) = %v", err)
	}
}
