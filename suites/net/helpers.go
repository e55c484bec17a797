package net

import (
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"unsafe"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/sys/unix"

	"github.com/llconform/llconform/internal/landlock"
	"github.com/llconform/llconform/internal/spec"
)

// Every socket of this suite lives on the loopback interface: servers bind 127.0.0.1 or
// ::1 only, on ports the kernel picks (port 0), so that specs never collide with each
// other or with anything else running on the machine.

// ipFamily describes one address family and how to build its loopback addresses as raw
// bytes, so that specs can pass truncated lengths and wrong families to the kernel.
type ipFamily struct {
	name   string
	domain int
	// size is the length of a full sockaddr; min is the shortest length the kernel
	// accepts for the family (sizeof(sockaddr_in), SIN6_LEN_RFC2133).
	size, min int
	loop      []byte
}

var (
	ipv4 = ipFamily{name: "IPv4", domain: unix.AF_INET, size: unix.SizeofSockaddrInet4, min: unix.SizeofSockaddrInet4, loop: []byte{127, 0, 0, 1}}
	ipv6 = ipFamily{name: "IPv6", domain: unix.AF_INET6, size: unix.SizeofSockaddrInet6, min: 24,
		loop: []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}}
	families = []ipFamily{ipv4, ipv6}
)

// id is the family's name as it appears in spec ids: "ipv4" or "ipv6".
func (f ipFamily) id() string { return strings.ToLower(f.name) }

// addr returns the family's loopback address with port, as the kernel reads it.
func (f ipFamily) addr(port int) []byte { return f.addrAs(f.domain, port) }

// addrAs returns the loopback address laid out for f but with sa_family set to family,
// e.g. AF_UNSPEC.
func (f ipFamily) addrAs(family, port int) []byte {
	b := make([]byte, f.size)
	binary.NativeEndian.PutUint16(b[0:], uint16(family))
	binary.BigEndian.PutUint16(b[2:], uint16(port))
	if f.domain == unix.AF_INET {
		copy(b[4:8], f.loop)
	} else {
		copy(b[8:24], f.loop)
	}
	return b
}

// any4 returns an IPv4 address INADDR_ANY:port with sa_family set to family.
func any4(family, port int) []byte {
	b := make([]byte, unix.SizeofSockaddrInet4)
	binary.NativeEndian.PutUint16(b[0:], uint16(family))
	binary.BigEndian.PutUint16(b[2:], uint16(port))
	return b
}

func ptr(b []byte) uintptr {
	if len(b) == 0 {
		return 0
	}
	return uintptr(unsafe.Pointer(&b[0]))
}

func errnoOf(e unix.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}

// bindRaw, connectRaw and sendtoRaw pass sa and its length to the kernel unchecked.
func bindRaw(fd int, sa []byte, n int) error {
	_, _, e := unix.Syscall(unix.SYS_BIND, uintptr(fd), ptr(sa), uintptr(n))
	return errnoOf(e)
}

func connectRaw(fd int, sa []byte, n int) error {
	_, _, e := unix.Syscall(unix.SYS_CONNECT, uintptr(fd), ptr(sa), uintptr(n))
	return errnoOf(e)
}

func sendtoRaw(fd int, data []byte, sa []byte, n int) error {
	return sendtoFlags(fd, data, sa, n, 0)
}

// sendtoFlags is sendtoRaw with more flags than MSG_NOSIGNAL, e.g. MSG_FASTOPEN. A send
// that returns fewer bytes than given is reported as EINTR, like the kernel's selftests do:
// it is neither a success nor a denial.
func sendtoFlags(fd int, data []byte, sa []byte, n int, flags int) error {
	send := func() error {
		sent, _, e := unix.Syscall6(unix.SYS_SENDTO, uintptr(fd), ptr(data), uintptr(len(data)), uintptr(flags|unix.MSG_NOSIGNAL), ptr(sa), uintptr(n))
		if e == 0 && int(sent) != len(data) {
			return unix.EINTR
		}
		return errnoOf(e)
	}
	if flags&unix.MSG_FASTOPEN != 0 {
		return withSignalsBlocked(send)
	}
	return send()
}

// withSignalsBlocked runs fn with its thread's signals blocked. A blocking sendto with
// MSG_FASTOPEN waits for the connection inside the call; a signal then (the Go runtime's
// preemption SIGURG, sent at any time) makes the kernel restart the call, and a restarted
// MPTCP fast open fails with EINVAL on a socket already connecting: 22 of 300 runs of the
// MPTCP fast-open specs under a SIGURG storm, and once in about 150 kernel runs of the
// matrix, where it failed the control outside Landlock. The selftests, in C, take no signal
// there. Process-directed signals go to other threads meanwhile; a preemption request
// waits until fn returns.
func withSignalsBlocked(fn func() error) error {
	runtime.LockOSThread()
	var all, old unix.Sigset_t
	for i := range all.Val {
		all.Val[i] = ^all.Val[i]
	}
	if err := unix.PthreadSigmask(unix.SIG_BLOCK, &all, &old); err != nil {
		runtime.UnlockOSThread()
		return spec.SetupFailed("block signals around sendto(MSG_FASTOPEN)", err)
	}
	err := fn()
	// A thread whose mask could not be put back stays locked: it ends with its goroutine,
	// and no other goroutine runs on it with every signal blocked.
	if unix.PthreadSigmask(unix.SIG_SETMASK, &old, nil) == nil {
		runtime.UnlockOSThread()
	}
	return err
}

func sendmsgRaw(fd int, data []byte, sa []byte, n int) error {
	iov := unix.Iovec{Base: &data[0]}
	iov.SetLen(len(data))
	msg := unix.Msghdr{Iov: &iov, Iovlen: 1}
	if len(sa) > 0 {
		msg.Name = &sa[0]
		msg.Namelen = uint32(n)
	}
	_, _, e := unix.Syscall(unix.SYS_SENDMSG, uintptr(fd), uintptr(unsafe.Pointer(&msg)), unix.MSG_NOSIGNAL)
	return errnoOf(e)
}

// Convenience forms with the full address length.
func bind(fd int, f ipFamily, port int) error    { return bindRaw(fd, f.addr(port), f.size) }
func connect(fd int, f ipFamily, port int) error { return connectRaw(fd, f.addr(port), f.size) }
func sendto(fd int, f ipFamily, port int) error {
	return sendtoRaw(fd, []byte("x"), f.addr(port), f.size)
}

// socketFor creates a socket closed when the spec ends. It skips the spec when the family
// itself is missing (no IPv6 in the kernel).
func socketFor(f ipFamily, typ, proto int) int {
	GinkgoHelper()
	fd, err := unix.Socket(f.domain, typ|unix.SOCK_CLOEXEC, proto)
	if errors.Is(err, unix.EAFNOSUPPORT) {
		spec.Skip("%s sockets are not supported by this kernel (%v)", f.name, err)
	}
	Expect(err).NotTo(HaveOccurred(), "socket(%s, type %d, proto %d)", f.name, typ, proto)
	DeferCleanup(unix.Close, fd)
	return fd
}

// reuseSocket creates a socket with SO_REUSEPORT set, so that it can bind a port that a
// reservation socket holds.
func reuseSocket(f ipFamily, typ int) int {
	GinkgoHelper()
	fd := socketFor(f, typ, 0)
	Expect(unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)).To(Succeed(), "SO_REUSEPORT")
	return fd
}

// localPort returns the port fd is bound to.
func localPort(fd int) int {
	GinkgoHelper()
	sa, err := unix.Getsockname(fd)
	Expect(err).NotTo(HaveOccurred(), "getsockname")
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return a.Port
	case *unix.SockaddrInet6:
		return a.Port
	}
	Fail("getsockname: not an inet address")
	return 0
}

// bindLoopback binds fd to the family's loopback address on an ephemeral port, without
// any Landlock restriction, and returns the port.
func bindLoopback(fd int, f ipFamily) int {
	GinkgoHelper()
	err := bind(fd, f, 0)
	if errors.Is(err, unix.EADDRNOTAVAIL) {
		spec.Skip("no %s loopback address on this machine (%v)", f.name, err)
	}
	Expect(err).NotTo(HaveOccurred(), "unrestricted bind(%s loopback, port 0)", f.name)
	return localPort(fd)
}

// reservePort returns a loopback port that stays free for the spec: a socket with
// SO_REUSEPORT holds it without listening, so only sockets that also set SO_REUSEPORT
// (reuseSocket) may bind it.
func reservePort(f ipFamily, typ int) int {
	GinkgoHelper()
	return bindLoopback(reuseSocket(f, typ), f)
}

// tcpListener returns the port of an unrestricted TCP listener on the loopback address.
func tcpListener(f ipFamily) int {
	GinkgoHelper()
	_, port := tcpServer(f)
	return port
}

// tcpServer returns an unrestricted TCP listener on the loopback address and its port.
func tcpServer(f ipFamily) (int, int) {
	GinkgoHelper()
	fd := socketFor(f, unix.SOCK_STREAM, 0)
	port := bindLoopback(fd, f)
	Expect(unix.Listen(fd, 16)).To(Succeed(), "listen")
	return fd, port
}

// acceptRead accepts the next connection on listener and reads want from it, proving
// that a connection Landlock allowed really carried its data.
func acceptRead(listener int, want string, what string) {
	GinkgoHelper()
	c, _, err := unix.Accept4(listener, unix.SOCK_CLOEXEC)
	spec.ExpectErr(err, nil, "%s: accept on the server", what)
	defer unix.Close(c)
	// A bound on the wait: the bytes were sent before accept returned.
	tv := unix.Timeval{Sec: 10}
	Expect(unix.SetsockoptTimeval(c, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)).To(Succeed(), "SO_RCVTIMEO")
	got := make([]byte, 0, len(want))
	buf := make([]byte, len(want))
	for len(got) < len(want) {
		n, err := unix.Read(c, buf[:len(want)-len(got)])
		if err != nil || n == 0 {
			Fail(fmt.Sprintf("%s: read %q of %q on the server, then %s", what, got, want, spec.ErrnoName(err)))
		}
		got = append(got, buf[:n]...)
	}
	Expect(string(got)).To(Equal(want), "%s: bytes received by the server", what)
}

// udpServer returns an unrestricted UDP socket bound to the loopback address, and its port.
func udpServer(f ipFamily) (int, int) {
	GinkgoHelper()
	fd := socketFor(f, unix.SOCK_DGRAM, 0)
	// A bound on the wait for a datagram that should have arrived: a spec that fails
	// fails within this time instead of hanging, and one that passes never waits for it.
	tv := unix.Timeval{Sec: 10}
	Expect(unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)).To(Succeed(), "SO_RCVTIMEO")
	return fd, bindLoopback(fd, f)
}

// expectDatagram checks that a datagram is waiting on fd, proving that a send which
// Landlock allowed really went out.
func expectDatagram(fd int, what string) {
	GinkgoHelper()
	buf := make([]byte, 16)
	_, _, err := unix.Recvfrom(fd, buf, 0)
	spec.ExpectErr(err, nil, "%s: datagram received by the server", what)
}

// tcpAndUDP lists the TCP and UDP rights by ABI.
const (
	tcpRights = landlock.AccessNetBindTCP | landlock.AccessNetConnectTCP
	udpRights = landlock.AccessNetBindUDP | landlock.AccessNetConnectSendUDP
)

// netSupported starts a behaviour spec of a net feature (spec.SupportedOrRejected): true
// where the kernel's ABI includes abi; below it, it checks that the kernel cleanly rejects
// the feature's bits (expectNetRejected), records the feature as correctly absent and
// returns false: the caller then stops.
func netSupported(feature string, abi int, bits uint64) bool {
	GinkgoHelper()
	return spec.SupportedOrRejected(feature, abi, func() { expectNetRejected(bits) })
}

// expectNetRejected checks that the kernel refuses to handle the net rights bits: E2BIG
// below ABI 4, whose struct has no net field, EINVAL for an unknown bit from ABI 4 on (see
// landlock.CreateRulesetErrno), and EINVAL for an unknown bit in a rule's allowed_access.
func expectNetRejected(bits uint64) {
	GinkgoHelper()
	abi := spec.Kernel().ABI
	attr := landlock.RulesetAttr{HandledAccessNet: bits}
	want := landlock.CreateRulesetErrno(attr.Bytes(), landlock.RulesetAttrSizeV4, abi)
	fd, err := landlock.CreateRuleset(&attr, landlock.RulesetAttrSizeV4, 0)
	if err == nil {
		unix.Close(fd)
	}
	spec.ExpectErr(err, want, "ABI %d: create_ruleset(handled_access_net=%s, 16-byte attr)", abi, spec.Bits(landlock.KindNet, bits))
	if abi < 4 {
		// Without a net field, no ruleset can handle a port; the rule type itself is
		// unknown, whatever the ruleset.
		fd, err := landlock.CreateRuleset(&landlock.RulesetAttr{HandledAccessFS: landlock.AccessFSExecute}, landlock.RulesetAttrSizeV1, 0)
		Expect(err).NotTo(HaveOccurred(), "create_ruleset(handled_access_fs=execute)")
		defer unix.Close(fd)
		err = landlock.AddNetPort(fd, landlock.NetPortAttr{AllowedAccess: bits, Port: 1024}, 0)
		spec.ExpectErr(err, unix.EINVAL, "ABI %d: add_rule(LANDLOCK_RULE_NET_PORT) on an fs ruleset", abi)
		return
	}
	known := landlock.Mask(landlock.KindNet, abi)
	fd, err = landlock.CreateRuleset(&landlock.RulesetAttr{HandledAccessNet: known}, landlock.RulesetAttrSizeV4, 0)
	Expect(err).NotTo(HaveOccurred(), "create_ruleset(handled_access_net=%s)", spec.Bits(landlock.KindNet, known))
	defer unix.Close(fd)
	err = landlock.AddNetPort(fd, landlock.NetPortAttr{AllowedAccess: bits, Port: 1024}, 0)
	spec.ExpectErr(err, unix.EINVAL, "ABI %d: add_rule(port 1024, allowed_access=%s)", abi, spec.Bits(landlock.KindNet, bits))
}
