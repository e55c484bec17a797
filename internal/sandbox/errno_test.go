package sandbox

import (
	"errors"
	"fmt"
	"testing"

	"golang.org/x/sys/unix"
)

func TestErrnoCodeRoundTrip(t *testing.T) {
	for _, c := range []struct {
		err  error
		code int
		back error
	}{
		{nil, 0, nil},
		{unix.EACCES, int(unix.EACCES), unix.EACCES},
		{fmt.Errorf("open: %w", unix.EXDEV), int(unix.EXDEV), unix.EXDEV},
		// Never taken for an errno, nor for success.
		{errors.New("short read"), -1, errors.New("an error that is no errno")},
	} {
		if got := ErrnoCode(c.err); got != c.code {
			t.Errorf("ErrnoCode(%v) = %d, want %d", c.err, got, c.code)
		}
		back := CodeErr(c.code)
		if (back == nil) != (c.back == nil) || (back != nil && back.Error() != c.back.Error()) {
			t.Errorf("CodeErr(%d) = %v, want %v", c.code, back, c.back)
		}
	}
}
