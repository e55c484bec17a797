package net

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/sys/unix"

	"github.com/llconform/llconform/internal/sandbox"
	"github.com/llconform/llconform/internal/spec"
)

var _ = suite.Describe("sockets that TCP rights do not cover", func() {
	for _, f := range families {
		f := f
		// On ABI 4 to 9 UDP has no right at all: a TCP-only policy must leave it alone.
		It("MUST NOT restrict "+f.name+" UDP bind, connect or sendto when only TCP rights are handled", spec.Feature("net.bind_tcp", 4), spec.ID("tcp_only.udp_free."+f.id()), spec.Selftest("net_test", "protocol.bind"), spec.Selftest("net_test", "protocol.connect"), spec.Selftest("net_test", "protocol.sendmsg_dgram"), func() {
			if !netSupported("net.bind_tcp", 4, tcpRights) {
				return
			}
			srv, port := udpServer(f)
			free := reservePort(f, unix.SOCK_DGRAM)
			deny := sandbox.Net(tcpRights)
			b := reuseSocket(f, unix.SOCK_DGRAM)
			spec.ExpectErrno(sandbox.Thread(deny, func() error { return bind(b, f, free) }), nil, "BIND_TCP|CONNECT_TCP handled, no rule: UDP bind(port %d)", free)
			c := socketFor(f, unix.SOCK_DGRAM, 0)
			spec.ExpectErrno(sandbox.Thread(deny, func() error { return connect(c, f, port) }), nil, "BIND_TCP|CONNECT_TCP handled, no rule: UDP connect(port %d)", port)
			s := socketFor(f, unix.SOCK_DGRAM, 0)
			spec.ExpectErrno(sandbox.Thread(deny, func() error { return sendto(s, f, port) }), nil, "BIND_TCP|CONNECT_TCP handled, no rule: UDP sendto(port %d)", port)
			expectDatagram(srv, "UDP sendto under a TCP-only policy")
			spec.FeatureVerdict("net.bind_tcp", 4)
		})
	}

	It("MUST NOT restrict AF_UNIX sockets given inet addresses: they keep EINVAL", spec.Feature("net.bind_tcp", 4), spec.ID("ipv4.from_unix_to_inet"), spec.Selftest("net_test", "ipv4.from_unix_to_inet"), func() {
		if !netSupported("net.bind_tcp", 4, tcpRights) {
			return
		}
		for _, typ := range []int{unix.SOCK_STREAM, unix.SOCK_DGRAM} {
			fd, err := unix.Socket(unix.AF_UNIX, typ|unix.SOCK_CLOEXEC, 0)
			Expect(err).NotTo(HaveOccurred(), "socket(AF_UNIX)")
			DeferCleanup(unix.Close, fd)
			res := sandbox.Thread(sandbox.Net(tcpRights), func() error { return bind(fd, ipv4, 1) })
			spec.ExpectErrno(res, unix.EINVAL, "BIND_TCP|CONNECT_TCP handled: bind(AF_UNIX type %d, sockaddr_in)", typ)
			res = sandbox.Thread(sandbox.Net(tcpRights), func() error { return connect(fd, ipv4, 1) })
			spec.ExpectErrno(res, unix.EINVAL, "BIND_TCP|CONNECT_TCP handled: connect(AF_UNIX type %d, sockaddr_in)", typ)
		}
		spec.FeatureVerdict("net.bind_tcp", 4)
	})
})
