package scenario

import (
	"encoding/binary"
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/llconform/llconform/bench/measure"
)

// The loops below call the kernel with RawSyscall: a measuring thread is dedicated to its
// loop and none of these calls sleeps for long, so telling the Go scheduler about each
// call (Syscall's entersyscall/exitsyscall) would only add its own cost to every figure.

// errnoName renders an expected or seen errno, 0 being success.
func errnoName(e unix.Errno) string {
	if e == 0 {
		return "success"
	}
	return unix.ErrnoName(e)
}

func unexpected(call string, got, want unix.Errno) error {
	return fmt.Errorf("%s: got %s, want %s", call, errnoName(got), errnoName(want))
}

// openLoop opens name relative to dirfd with flags, expecting want, and closes what it
// opened.
func openLoop(dirfd int, name string, flags int, want unix.Errno) measure.Loop {
	p, err := unix.BytePtrFromString(name)
	if err != nil {
		return func(int) error { return err }
	}
	flags |= unix.O_CLOEXEC
	return func(n int) error {
		for range n {
			fd, _, e := unix.RawSyscall6(unix.SYS_OPENAT, uintptr(dirfd), uintptr(unsafe.Pointer(p)), uintptr(flags), 0o600, 0, 0)
			if e != want {
				if e == 0 {
					unix.Close(int(fd))
				}
				return unexpected("openat "+name, e, want)
			}
			if e == 0 {
				unix.RawSyscall(unix.SYS_CLOSE, fd, 0, 0)
			}
		}
		return nil
	}
}

// sockaddr is a socket address in the kernel's layout.
type sockaddr []byte

// inet4 returns the sockaddr_in of 127.0.0.1:port.
func inet4(port int) sockaddr {
	b := make([]byte, unix.SizeofSockaddrInet4)
	binary.NativeEndian.PutUint16(b[0:], unix.AF_INET)
	binary.BigEndian.PutUint16(b[2:], uint16(port))
	copy(b[4:], []byte{127, 0, 0, 1})
	return b
}

// abstractUnix returns the sockaddr_un of an abstract name, of the exact length that
// makes the kernel take the name without trailing zeros.
func abstractUnix(name string) sockaddr {
	b := make([]byte, 2+1+len(name))
	binary.NativeEndian.PutUint16(b[0:], unix.AF_UNIX)
	copy(b[3:], name)
	return b
}

// sockLoop calls bind or connect (call) on fd with the addresses in turn, expecting want.
// Several addresses serve datagram connects, which the kernel short-cuts when the peer
// does not change.
func sockLoop(call uintptr, fd int, want unix.Errno, addrs ...sockaddr) measure.Loop {
	name := map[uintptr]string{unix.SYS_BIND: "bind", unix.SYS_CONNECT: "connect"}[call]
	return func(n int) error {
		for i := range n {
			a := addrs[i%len(addrs)]
			_, _, e := unix.RawSyscall(call, uintptr(fd), uintptr(unsafe.Pointer(&a[0])), uintptr(len(a)))
			if e != want {
				return unexpected(name, e, want)
			}
		}
		return nil
	}
}

// killLoop sends signal 0 to pid: the kernel runs every permission check, Landlock's
// included, and delivers nothing.
func killLoop(pid int, want unix.Errno) measure.Loop {
	return func(n int) error {
		for range n {
			if _, _, e := unix.RawSyscall(unix.SYS_KILL, uintptr(pid), 0, 0); e != want {
				return unexpected(fmt.Sprintf("kill(%d, 0)", pid), e, want)
			}
		}
		return nil
	}
}
