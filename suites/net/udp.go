package net

import (
	"fmt"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/sys/unix"

	"github.com/llconform/llconform/internal/landlock"
	"github.com/llconform/llconform/internal/sandbox"
	"github.com/llconform/llconform/internal/spec"
)

const (
	bindUDP = landlock.AccessNetBindUDP
	sendUDP = landlock.AccessNetConnectSendUDP
)

// udpRun runs action on a fresh UDP socket under p.
func udpRun(p sandbox.Policy, f ipFamily, action func(fd int) error) sandbox.Result {
	fd := socketFor(f, unix.SOCK_DGRAM, 0)
	return sandbox.Thread(p, func() error { return action(fd) })
}

var _ = suite.Describe("UDP rights", func() {
	for _, r := range []landlock.Right{landlock.NetRights[2], landlock.NetRights[3]} {
		r := r
		It("MUST accept "+r.String()+" in handled_access_net and in port rules from ABI 10, and reject it below", spec.Feature(r.Feature(), r.ABI), spec.ID("udp.attr."+r.Name), spec.Selftest("net_test", "mini.network_access_rights"), func() {
			if !netSupported(r.Feature(), r.ABI, r.Bit) {
				return
			}
			fd, err := landlock.CreateRuleset(&landlock.RulesetAttr{HandledAccessNet: r.Bit}, landlock.RulesetAttrSizeV4, 0)
			spec.ExpectErr(err, nil, "create_ruleset(handled_access_net=%s)", r)
			defer unix.Close(fd)
			err = landlock.AddNetPort(fd, landlock.NetPortAttr{AllowedAccess: r.Bit, Port: 53}, 0)
			spec.ExpectErr(err, nil, "add_rule(port 53, %s)", r)
			spec.FeatureVerdict(r.Feature(), r.ABI)
		})
	}

	for _, f := range families {
		Context(f.name, func() {
			It("MUST allow bind to a port with a BIND_UDP rule and deny other ports with EACCES", spec.Feature("net.bind_udp", 10), spec.ID("udp."+f.id()+".bind.rule"), spec.Selftest("net_test", "protocol.bind"), func() {
				if !netSupported("net.bind_udp", 10, bindUDP) {
					return
				}
				allowed, denied := reservePort(f, unix.SOCK_DGRAM), reservePort(f, unix.SOCK_DGRAM)
				p := sandbox.Net(bindUDP, sandbox.PortRule{Port: uint64(allowed), Access: bindUDP})
				for _, c := range []struct {
					port int
					want error
				}{{port: allowed, want: nil}, {port: denied, want: unix.EACCES}, {port: 0, want: unix.EACCES}} {
					fd := reuseSocket(f, unix.SOCK_DGRAM)
					res := sandbox.Thread(p, func() error { return bind(fd, f, c.port) })
					spec.ExpectErrno(res, c.want, "BIND_UDP handled, rule for port %d: bind(%s port %d)", allowed, f.name, c.port)
				}
				spec.EnforcedVerdict("net.bind_udp", 10)
			})

			It("MUST deny connect, sendto and sendmsg to a port without a CONNECT_SEND_UDP rule with EACCES", spec.Feature("net.connect_send_udp", 10), spec.ID("udp."+f.id()+".send.rule"), spec.Selftest("net_test", "protocol.connect"), spec.Selftest("net_test", "protocol.sendmsg_dgram"), func() {
				if !netSupported("net.connect_send_udp", 10, sendUDP) {
					return
				}
				srv, allowed := udpServer(f)
				_, denied := udpServer(f)
				p := sandbox.Net(sendUDP, sandbox.PortRule{Port: uint64(allowed), Access: sendUDP})
				spec.ExpectErrno(udpRun(p, f, func(fd int) error { return connect(fd, f, allowed) }), nil, "CONNECT_SEND_UDP rule for %d: connect(%d)", allowed, allowed)
				spec.ExpectErrno(udpRun(p, f, func(fd int) error { return connect(fd, f, denied) }), unix.EACCES, "CONNECT_SEND_UDP rule for %d: connect(%d)", allowed, denied)
				spec.ExpectErrno(udpRun(p, f, func(fd int) error { return sendto(fd, f, allowed) }), nil, "CONNECT_SEND_UDP rule for %d: sendto(%d)", allowed, allowed)
				expectDatagram(srv, "sendto to the allowed port")
				spec.ExpectErrno(udpRun(p, f, func(fd int) error { return sendto(fd, f, denied) }), unix.EACCES, "CONNECT_SEND_UDP rule for %d: sendto(%d)", allowed, denied)
				spec.ExpectErrno(udpRun(p, f, func(fd int) error { return sendmsgRaw(fd, []byte("x"), f.addr(denied), f.size) }), unix.EACCES,
					"CONNECT_SEND_UDP rule for %d: sendmsg(msg_name port %d)", allowed, denied)
				spec.EnforcedVerdict("net.connect_send_udp", 10)
			})

			It("MUST check an explicit destination on a connected socket, and leave sends to the preset peer and AF_UNSPEC disconnection free", spec.Feature("net.connect_send_udp", 10), spec.ID("udp."+f.id()+".connected"), spec.Selftest("net_test", "protocol.sendmsg_dgram"), spec.Selftest("net_test", "protocol.connect_unspec"), func() {
				if !netSupported("net.connect_send_udp", 10, udpRights) {
					return
				}
				srv, port := udpServer(f)
				fd := socketFor(f, unix.SOCK_DGRAM, 0)
				Expect(connect(fd, f, port)).To(Succeed(), "unrestricted UDP connect")
				deny := sandbox.Net(udpRights)
				spec.ExpectErrno(sandbox.Thread(deny, func() error { _, err := unix.Write(fd, []byte("x")); return err }), nil,
					"BIND_UDP|CONNECT_SEND_UDP handled, no rule: send without address on a socket connected before the domain")
				expectDatagram(srv, "send to the preset peer")
				spec.ExpectErrno(sandbox.Thread(deny, func() error { return sendto(fd, f, port) }), unix.EACCES,
					"BIND_UDP|CONNECT_SEND_UDP handled, no rule: sendto(explicit port %d) on a connected socket", port)
				spec.ExpectErrno(sandbox.Thread(deny, func() error { return connectRaw(fd, f.addrAs(unix.AF_UNSPEC, 0), f.size) }), nil,
					"BIND_UDP|CONNECT_SEND_UDP handled, no rule: connect(AF_UNSPEC) to dissolve the peer")
				spec.ExpectErrno(sandbox.Thread(deny, func() error { return connect(fd, f, port) }), unix.EACCES,
					"BIND_UDP|CONNECT_SEND_UDP handled, no rule: connect(port %d) again", port)
				spec.EnforcedVerdict("net.connect_send_udp", 10)
			})

			It("MUST check the implicit bind of connect and of a first send as a bind to port 0", spec.Feature("net.bind_udp", 10), spec.ID("udp."+f.id()+".autobind"), spec.Selftest("net_test", "protocol.sendmsg_dgram"), func() {
				if !netSupported("net.bind_udp", 10, bindUDP) {
					return
				}
				srv, port := udpServer(f)
				held := reservePort(f, unix.SOCK_DGRAM)
				other := sandbox.Net(bindUDP, sandbox.PortRule{Port: uint64(held), Access: bindUDP})
				spec.ExpectErrno(udpRun(other, f, func(fd int) error { return connect(fd, f, port) }), unix.EACCES,
					"BIND_UDP rule for port %d only: connect(%d) of an unbound socket (autobind)", held, port)
				spec.ExpectErrno(udpRun(other, f, func(fd int) error { return sendto(fd, f, port) }), unix.EACCES,
					"BIND_UDP rule for port %d only: first sendto(%d) of an unbound socket (autobind)", held, port)
				spec.ExpectErrno(udpRun(other, f, func(fd int) error { return connectRaw(fd, f.addrAs(unix.AF_UNSPEC, 0), f.size) }), nil,
					"BIND_UDP rule for port %d only: connect(AF_UNSPEC) of an unbound socket, which does not autobind", held)
				bound := reuseSocket(f, unix.SOCK_DGRAM)
				res := sandbox.Thread(other, func() error {
					if err := bind(bound, f, held); err != nil {
						return err
					}
					return connect(bound, f, port)
				})
				spec.ExpectErrno(res, nil, "BIND_UDP rule for port %d: bind(%d) then connect(%d)", held, held, port)
				zero := sandbox.Net(bindUDP, sandbox.PortRule{Port: 0, Access: bindUDP})
				spec.ExpectErrno(udpRun(zero, f, func(fd int) error { return sendto(fd, f, port) }), nil,
					"BIND_UDP rule for port 0: first sendto(%d) of an unbound socket", port)
				expectDatagram(srv, "first sendto with a port 0 BIND_UDP rule")
				spec.ExpectErrno(udpRun(zero, f, func(fd int) error { return connect(fd, f, port) }), nil,
					"BIND_UDP rule for port 0: connect(%d) of an unbound socket", port)
				spec.EnforcedVerdict("net.bind_udp", 10)
			})

			It("MUST NOT restrict TCP sockets when only UDP rights are handled", spec.Feature("net.bind_udp", 10), spec.ID("udp_only.tcp_free."+f.id()), spec.Selftest("net_test", "protocol.bind"), spec.Selftest("net_test", "protocol.connect"), func() {
				if !netSupported("net.bind_udp", 10, udpRights) {
					return
				}
				listener, free := tcpListener(f), reservePort(f, unix.SOCK_STREAM)
				deny := sandbox.Net(udpRights)
				spec.ExpectErrno(tcpBind(deny, f, free), nil, "BIND_UDP|CONNECT_SEND_UDP handled, no rule: TCP bind(%d)", free)
				spec.ExpectErrno(tcpConnect(deny, f, listener), nil, "BIND_UDP|CONNECT_SEND_UDP handled, no rule: TCP connect(%d)", listener)
				spec.FeatureVerdict("net.bind_udp", 10)
			})

			It("MUST NOT restrict sends on TCP sockets when UDP rights are handled, whatever address sendto names",
				spec.Feature("net.connect_send_udp", 10), spec.ID("protocol."+f.id()+".sendmsg_stream"), spec.Selftest("net_test", "protocol.sendmsg_stream"), func() {
					if !netSupported("net.connect_send_udp", 10, udpRights) {
						return
					}
					srv, port := tcpServer(f)
					other := reservePort(f, unix.SOCK_STREAM)
					client := socketFor(f, unix.SOCK_STREAM, 0)
					res := sandbox.Thread(sandbox.Net(udpRights), func() error { return streamSends(client, f, port, other) })
					spec.ExpectErrno(res, nil, "BIND_UDP|CONNECT_SEND_UDP handled, no rule: %s TCP sends", f.name)
					acceptRead(srv, "CDx", "TCP sends under a UDP policy")
					spec.FeatureVerdict("net.connect_send_udp", 10)
				})
		})
	}

	It("MUST check an IPv4 sendto to an AF_UNSPEC address as one to AF_INET", spec.Feature("net.connect_send_udp", 10), spec.ID("udp.ipv4.sendto_unspec"), spec.Selftest("net_test", "protocol.sendmsg_unspec"), func() {
		if !netSupported("net.connect_send_udp", 10, sendUDP) {
			return
		}
		srv, allowed := udpServer(ipv4)
		_, denied := udpServer(ipv4)
		p := sandbox.Net(sendUDP, sandbox.PortRule{Port: uint64(allowed), Access: sendUDP})
		spec.ExpectErrno(udpRun(p, ipv4, func(fd int) error { return sendtoRaw(fd, []byte("x"), ipv4.addrAs(unix.AF_UNSPEC, allowed), ipv4.size) }), nil,
			"CONNECT_SEND_UDP rule for %d: IPv4 sendto(AF_UNSPEC port %d)", allowed, allowed)
		expectDatagram(srv, "IPv4 sendto(AF_UNSPEC) to the allowed port")
		spec.ExpectErrno(udpRun(p, ipv4, func(fd int) error { return sendtoRaw(fd, []byte("x"), ipv4.addrAs(unix.AF_UNSPEC, denied), ipv4.size) }), unix.EACCES,
			"CONNECT_SEND_UDP rule for %d: IPv4 sendto(AF_UNSPEC port %d)", allowed, denied)
		spec.ExpectErrno(udpRun(p, ipv4, func(fd int) error { return sendtoRaw(fd, []byte("x"), ipv4.addrAs(unix.AF_UNSPEC, allowed), 2) }), unix.EINVAL,
			"CONNECT_SEND_UDP rule for %d: IPv4 sendto(AF_UNSPEC, addrlen 2)", allowed)
		spec.EnforcedVerdict("net.connect_send_udp", 10)
	})

	It("MUST deny every IPv6 sendto to an AF_UNSPEC address with EACCES when CONNECT_SEND_UDP is handled, as documented", spec.Feature("net.connect_send_udp", 10), spec.ID("udp.ipv6.sendto_unspec"), spec.Selftest("net_test", "protocol.sendmsg_unspec"), func() {
		if !netSupported("net.connect_send_udp", 10, sendUDP) {
			return
		}
		_, port := udpServer(ipv6)
		unspec := ipv6.addrAs(unix.AF_UNSPEC, port)
		// Without Landlock, IPv6 treats AF_UNSPEC as no address at all.
		spec.ExpectErr(sendtoRaw(socketFor(ipv6, unix.SOCK_DGRAM, 0), []byte("x"), unspec, ipv6.size), unix.EDESTADDRREQ, "unrestricted IPv6 sendto(AF_UNSPEC) on an unconnected socket")
		p := sandbox.Net(sendUDP, sandbox.PortRule{Port: uint64(port), Access: sendUDP})
		spec.ExpectErrno(udpRun(p, ipv6, func(fd int) error { return sendtoRaw(fd, []byte("x"), unspec, ipv6.size) }), unix.EACCES,
			"CONNECT_SEND_UDP rule for %d: IPv6 sendto(AF_UNSPEC port %d)", port, port)
		connected := socketFor(ipv6, unix.SOCK_DGRAM, 0)
		Expect(connect(connected, ipv6, port)).To(Succeed(), "unrestricted IPv6 UDP connect")
		spec.ExpectErrno(sandbox.Thread(p, func() error { return sendtoRaw(connected, []byte("x"), unspec, 2) }), unix.EACCES,
			"CONNECT_SEND_UDP rule for %d: IPv6 sendto(AF_UNSPEC, addrlen 2) on a connected socket", port)
		spec.ExpectErrno(sandbox.Thread(p, func() error { return sendtoRaw(connected, []byte("x"), nil, 0) }), nil,
			"CONNECT_SEND_UDP rule for %d: IPv6 send with a NULL address on a connected socket", port)
		spec.EnforcedVerdict("net.connect_send_udp", 10)
	})
})

// streamSends runs, on a fresh stream socket client, sends with and without an address
// before and after connecting to port: a stream socket ignores the address of a send
// (truncated, or naming port other), which goes to the peer, or fails with EPIPE before
// there is one. The peer reads "CDx".
func streamSends(client int, f ipFamily, port, other int) error {
	short := f.addr(port)[:f.min-1]
	steps := []struct {
		what string
		do   func() error
		want error
	}{
		{what: "send without address, unconnected", do: func() error { return sendtoRaw(client, []byte("A"), nil, 0) }, want: unix.EPIPE},
		{what: "sendto(truncated address), unconnected", do: func() error { return sendtoRaw(client, []byte("B"), short, len(short)) }, want: unix.EPIPE},
		{what: fmt.Sprintf("connect(port %d)", port), do: func() error { return connect(client, f, port) }, want: nil},
		{what: "send without address, connected", do: func() error { return sendtoRaw(client, []byte("C"), nil, 0) }, want: nil},
		{what: "sendto(truncated address), connected", do: func() error { return sendtoRaw(client, []byte("D"), short, len(short)) }, want: nil},
		{what: fmt.Sprintf("sendto(port %d), connected to port %d", other, port), do: func() error { return sendto(client, f, other) }, want: nil},
	}
	for _, st := range steps {
		if err := st.do(); !spec.IsErrno(err, st.want) {
			return fmt.Errorf("%s: got %s, want %s", st.what, spec.ErrnoName(err), spec.ErrnoName(st.want))
		}
	}
	return nil
}
