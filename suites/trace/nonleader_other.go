//go:build !(linux && (amd64 || 386 || arm64))

package trace

import (
	"fmt"
	"runtime"
)

// ForkNonLeader needs hand-written system calls, written for linux/amd64, linux/386 and linux/arm64 only.
func ForkNonLeader(fd int) (pid, status int, err error) {
	return 0, 0, fmt.Errorf("%w on %s/%s", ErrNonLeaderUnsupported, runtime.GOOS, runtime.GOARCH)
}
