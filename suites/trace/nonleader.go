package trace

import "errors"

// ErrNonLeaderUnsupported is ForkNonLeader's error where it is not written.
var ErrNonLeaderUnsupported = errors.New("a process with a zombie leader is only written for linux/amd64, linux/386 and linux/arm64")
