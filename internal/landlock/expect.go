package landlock

import (
	"encoding/binary"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Bytes returns attr as the kernel reads it: RulesetAttrSize bytes, of which a kernel
// copies the prefix its ABI knows.
func (a RulesetAttr) Bytes() []byte {
	return append([]byte(nil), unsafe.Slice((*byte)(unsafe.Pointer(&a)), RulesetAttrSize)...)
}

// CreateRulesetErrno returns the error landlock_create_ruleset(buf, size, 0) must give on
// a kernel of ABI abi, nil for success. It follows the kernel's order of checks: a NULL
// attr (EFAULT), a size below the first ABI's struct (EINVAL) or above a page (E2BIG), a
// non-zero byte past the struct the kernel knows (E2BIG: copy_struct_from_user), an unknown
// bit in a field it knows or a quiet field that is not a subset of its handled field
// (EINVAL), and nothing handled at all (ENOMSG). buf must hold at least size bytes unless
// it is nil.
//
// Every suite that checks a feature's clean rejection below its ABI asks this one function,
// so E2BIG versus EINVAL is decided in one place.
func CreateRulesetErrno(buf []byte, size, abi int) error {
	switch {
	case buf == nil:
		return unix.EFAULT
	case size < RulesetAttrSizeV1:
		return unix.EINVAL
	case size > unix.Getpagesize():
		return unix.E2BIG
	}
	known := RulesetAttr{}.Size(abi)
	for i := known; i < size; i++ {
		if buf[i] != 0 {
			return unix.E2BIG
		}
	}
	var seen [RulesetAttrSize]byte
	copy(seen[:], buf[:min(size, known)])
	var f [6]uint64
	for i := range f {
		f[i] = binary.NativeEndian.Uint64(seen[8*i:])
	}
	fs, net, scoped := f[0], f[1], f[2]
	switch {
	case fs&^Mask(KindFS, abi) != 0, net&^Mask(KindNet, abi) != 0, scoped&^Mask(KindScope, abi) != 0:
		return unix.EINVAL
	case f[3]&^fs != 0, f[4]&^net != 0, f[5]&^scoped != 0:
		return unix.EINVAL
	case fs|net|scoped == 0:
		return unix.ENOMSG
	}
	return nil
}
