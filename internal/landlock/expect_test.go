package landlock

import (
	"testing"

	"golang.org/x/sys/unix"
)

func TestCreateRulesetErrno(t *testing.T) {
	tail := make([]byte, 64)
	tail[RulesetAttrSize] = 1
	for _, tt := range []struct {
		name string
		buf  []byte
		size int
		abi  int
		want error
	}{
		{"NULL attr", nil, 8, 7, unix.EFAULT},
		{"size below ABI 1", RulesetAttr{HandledAccessFS: 1}.Bytes(), 4, 7, unix.EINVAL},
		{"size above a page", make([]byte, 8), 1 << 20, 7, unix.E2BIG},
		{"fs right of the ABI", RulesetAttr{HandledAccessFS: AccessFSTruncate}.Bytes(), 8, 3, nil},
		{"fs right above the ABI", RulesetAttr{HandledAccessFS: AccessFSTruncate}.Bytes(), 8, 2, unix.EINVAL},
		{"net field unknown to ABI 2", RulesetAttr{HandledAccessNet: AccessNetBindTCP}.Bytes(), 16, 2, unix.E2BIG},
		{"UDP bit below ABI 10", RulesetAttr{HandledAccessNet: AccessNetBindUDP}.Bytes(), 16, 7, unix.EINVAL},
		{"scoped field unknown to ABI 5", RulesetAttr{Scoped: ScopeSignal}.Bytes(), 24, 5, unix.E2BIG},
		{"scoped on ABI 6", RulesetAttr{Scoped: ScopeSignal}.Bytes(), 24, 6, nil},
		{"quiet field unknown to ABI 7", RulesetAttr{HandledAccessFS: 1, QuietAccessFS: 1}.Bytes(), RulesetAttrSize, 7, unix.E2BIG},
		{"quiet not a subset", RulesetAttr{HandledAccessFS: 1, QuietAccessFS: 2}.Bytes(), RulesetAttrSize, 10, unix.EINVAL},
		{"quiet subset", RulesetAttr{HandledAccessFS: 3, QuietAccessFS: 2}.Bytes(), RulesetAttrSize, 10, nil},
		{"zero tail past the struct", append(RulesetAttr{HandledAccessFS: 1}.Bytes(), make([]byte, 16)...), 64, 11, nil},
		{"non-zero tail past the struct", tail, 64, 11, unix.E2BIG},
		{"nothing handled", make([]byte, 8), 8, 7, unix.ENOMSG},
	} {
		if got := CreateRulesetErrno(tt.buf, tt.size, tt.abi); got != tt.want {
			t.Errorf("%s: CreateRulesetErrno(size %d, ABI %d) = %v, want %v", tt.name, tt.size, tt.abi, got, tt.want)
		}
	}
}
