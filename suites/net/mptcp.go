package net

import (
	"errors"
	"fmt"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/sys/unix"

	"github.com/llconform/llconform/internal/sandbox"
	"github.com/llconform/llconform/internal/spec"
)

// The MPTCP variants of net_test's protocol.tcp_fastopen and protocol.sendmsg_stream: an
// MPTCP socket is no TCP socket to Landlock (sk_is_tcp), so neither CONNECT_TCP's check of a
// connecting send nor a UDP policy may touch it. Bind and connect are erratum 1's specs.

func mptcp(f ipFamily) streamProtocol {
	return streamProtocol{name: "MPTCP", fam: f, domain: f.domain, proto: unix.IPPROTO_MPTCP}
}

// mptcpServer returns an unrestricted MPTCP listener on the loopback address and its port,
// or skips the spec where MPTCP is unavailable.
func mptcpServer(f ipFamily) (int, int) {
	GinkgoHelper()
	fd := mptcp(f).socket()
	port := bindLoopback(fd, f)
	Expect(unix.Listen(fd, 16)).To(Succeed(), "MPTCP listen")
	return fd, port
}

// mptcpUnspecSteps are protocol.bind_unspec's and protocol.connect_unspec's for an MPTCP
// socket of family f under a policy that denies every TCP port: MPTCP is not TCP, so only
// the stack's own answers come back. client is connected to port before the domain.
func mptcpUnspecSteps(f ipFamily, bound func() int, client, port int) []seqStep {
	unspecAny := append(any4(unix.AF_UNSPEC, 0), make([]byte, storageSize-ipv4.size)...)
	unspecLoop := append(ipv4.addrAs(unix.AF_UNSPEC, 0), make([]byte, storageSize-ipv4.size)...)
	// An IPv4 socket takes AF_UNSPEC with INADDR_ANY for AF_INET; an IPv6 one refuses it.
	var anyWant error = unix.EAFNOSUPPORT
	if f.domain == unix.AF_INET {
		anyWant = nil
	}
	return []seqStep{
		{what: "bind_unspec: bind(AF_UNSPEC, addrlen 1)", do: func() error { return bindRaw(bound(), unspecAny, 1) }, want: unix.EINVAL},
		{what: "bind_unspec: bind(AF_UNSPEC INADDR_ANY port 0)", do: func() error { return bindRaw(bound(), unspecAny, len(unspecAny)) }, want: anyWant},
		{what: "bind_unspec: bind(AF_UNSPEC loopback port 0)", do: func() error { return bindRaw(bound(), unspecLoop, len(unspecLoop)) }, want: unix.EAFNOSUPPORT},
		{what: "connect_unspec: connect again", do: func() error { return connect(client, f, port) }, want: unix.EISCONN},
		{what: "connect_unspec: connect(AF_UNSPEC INADDR_ANY) to disconnect", do: func() error { return connectRaw(client, unspecAny, len(unspecAny)) }},
		{what: fmt.Sprintf("connect_unspec: reconnect to port %d", port), do: func() error { return connect(client, f, port) }},
		{what: "connect_unspec: connect(AF_UNSPEC, addrlen 1)", do: func() error { return connectRaw(client, unspecAny, 1) }, want: unix.EINVAL},
		{what: "connect_unspec: connect(AF_UNSPEC, sa_family only) to disconnect", do: func() error { return connectRaw(client, unspecAny, 2) }},
	}
}

var _ = suite.Describe("MPTCP sockets under TCP and UDP policies", func() {
	for _, f := range families {
		f := f
		It(fmt.Sprintf("MUST leave %s MPTCP sockets alone under a TCP policy denying every port: AF_UNSPEC binds, disconnections and reconnections give the stack's own results", f.name),
			spec.Feature("net.bind_tcp", 4), spec.ID("protocol."+f.id()+".mptcp.unspec"),
			spec.Selftest("net_test", "protocol.bind_unspec"), spec.Selftest("net_test", "protocol.connect_unspec"), func() {
				if !netSupported("net.bind_tcp", 4, tcpRights) {
					return
				}
				if !spec.Kernel().Fixed(1) {
					spec.Skip("the kernel does not advertise the fix of erratum 1: it may restrict MPTCP like TCP, which the errata.e1.mptcp specs report")
				}
				_, port := mptcpServer(f)
				round := func(p sandbox.Policy, what string) {
					GinkgoHelper()
					client := mptcp(f).socket()
					Expect(connect(client, f, port)).To(Succeed(), "unrestricted MPTCP connect(port %d)", port)
					// A fresh socket for each bind, made before the domain.
					var binds []int
					for range 3 {
						binds = append(binds, mptcp(f).socket())
					}
					next := func() int { fd := binds[0]; binds = binds[1:]; return fd }
					steps := mptcpUnspecSteps(f, next, client, port)
					spec.ExpectErrno(sandbox.Thread(p, func() error { return runSeq(steps) }), nil, "%s: %s MPTCP", what, f.name)
				}
				round(sandbox.Policy{}, "without Landlock")
				round(sandbox.Net(tcpRights), "BIND_TCP|CONNECT_TCP handled, no rule")
				spec.FeatureVerdict("net.bind_tcp", 4)
			})

		It(fmt.Sprintf("MUST NOT check an %s MPTCP sendto with MSG_FASTOPEN against CONNECT_TCP", f.name),
			spec.Feature("net.connect_tcp", 4), spec.ID("protocol."+f.id()+".mptcp.tcp_fastopen"), spec.Selftest("net_test", "protocol.tcp_fastopen"), func() {
				if !netSupported("net.connect_tcp", 4, connectTCP) {
					return
				}
				srv, port := mptcpServer(f)
				// Control outside Landlock: Fast Open clients may be disabled by sysctl.
				err := sendtoFlags(mptcp(f).socket(), []byte("A"), f.addr(port), f.size, unix.MSG_FASTOPEN)
				if errors.Is(err, unix.EOPNOTSUPP) {
					spec.Skip("TCP Fast Open clients are disabled here (net.ipv4.tcp_fastopen): unrestricted MPTCP sendto(MSG_FASTOPEN) gave %s", spec.ErrnoName(err))
				}
				spec.ExpectErr(err, nil, "unrestricted %s MPTCP sendto(port %d, MSG_FASTOPEN)", f.name, port)
				acceptRead(srv, "A", "unrestricted MPTCP sendto(MSG_FASTOPEN)")

				deny := sandbox.Net(connectTCP)
				fastOpen := func(data string, to []byte) sandbox.Result {
					fd := mptcp(f).socket()
					return sandbox.Thread(deny, func() error { return sendtoFlags(fd, []byte(data), to, len(to), unix.MSG_FASTOPEN) })
				}
				// Without an address there is nothing to connect to: the stack's own EINVAL.
				spec.ExpectErrno(fastOpen("", nil), unix.EINVAL, "CONNECT_TCP handled, no rule: %s MPTCP sendto(no address, MSG_FASTOPEN)", f.name)
				spec.ExpectErrno(fastOpen("B", f.addr(port)), nil, "CONNECT_TCP handled, no rule: %s MPTCP sendto(port %d, MSG_FASTOPEN)", f.name, port)
				acceptRead(srv, "B", "MPTCP sendto(MSG_FASTOPEN) under a CONNECT_TCP policy")
				spec.FeatureVerdict("net.connect_tcp", 4)
			})

		It(fmt.Sprintf("MUST NOT restrict sends on %s MPTCP sockets when UDP rights are handled, whatever address sendto names", f.name),
			spec.Feature("net.connect_send_udp", 10), spec.ID("protocol."+f.id()+".mptcp.sendmsg_stream"), spec.Selftest("net_test", "protocol.sendmsg_stream"), func() {
				if !netSupported("net.connect_send_udp", 10, udpRights) {
					return
				}
				srv, port := mptcpServer(f)
				_, other := mptcpServer(f)
				client := mptcp(f).socket()
				// Like TCP, MPTCP ignores the address of a send.
				res := sandbox.Thread(sandbox.Net(udpRights), func() error { return streamSends(client, f, port, other) })
				spec.ExpectErrno(res, nil, "BIND_UDP|CONNECT_SEND_UDP handled, no rule: %s MPTCP sends", f.name)
				acceptRead(srv, "CDx", "MPTCP sends under a UDP policy")
				spec.FeatureVerdict("net.connect_send_udp", 10)
			})
	}
})
