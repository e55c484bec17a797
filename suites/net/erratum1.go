package net

import (
	"errors"
	"fmt"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/sys/unix"

	"github.com/llconform/llconform/internal/sandbox"
	"github.com/llconform/llconform/internal/spec"
)

// smcProtoSMC and smcProtoSMC6 are the AF_SMC protocol numbers selecting IPv4 and IPv6.
const (
	smcProtoSMC  = 0
	smcProtoSMC6 = 1
)

// streamProtocol is an IPv4/IPv6 stream protocol other than TCP, which TCP rights must not
// restrict once erratum 1 is fixed.
type streamProtocol struct {
	name   string
	fam    ipFamily
	domain int // the socket's address family: f.domain, or AF_SMC
	proto  int
	needs  string // module label, empty when built in
	// listener creates an unrestricted listener the sandboxed client may connect to.
	listener func(f ipFamily) int
}

func streamProtocols() []streamProtocol {
	var ps []streamProtocol
	for _, f := range families {
		smcProto := smcProtoSMC
		if f.domain == unix.AF_INET6 {
			smcProto = smcProtoSMC6
		}
		ps = append(ps,
			streamProtocol{name: "MPTCP", fam: f, domain: f.domain, proto: unix.IPPROTO_MPTCP, needs: "", listener: tcpListener},
			streamProtocol{name: "SCTP", fam: f, domain: f.domain, proto: unix.IPPROTO_SCTP, needs: "sctp", listener: sctpListener},
			streamProtocol{name: "SMC", fam: f, domain: unix.AF_SMC, proto: smcProto, needs: "smc", listener: tcpListener},
		)
	}
	return ps
}

// sctpListener returns the port of an unrestricted SCTP one-to-one listener on loopback.
func sctpListener(f ipFamily) int {
	GinkgoHelper()
	fd, err := unix.Socket(f.domain, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, unix.IPPROTO_SCTP)
	Expect(err).NotTo(HaveOccurred(), "socket(%s, SOCK_STREAM, IPPROTO_SCTP)", f.name)
	DeferCleanup(unix.Close, fd)
	port := bindLoopback(fd, f)
	Expect(unix.Listen(fd, 4)).To(Succeed(), "SCTP listen")
	return port
}

// protocolSocket opens a socket of p, or skips the spec saying why the protocol is missing.
func (p streamProtocol) socket() int {
	GinkgoHelper()
	fd, err := unix.Socket(p.domain, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, p.proto)
	switch {
	case err == nil:
		DeferCleanup(unix.Close, fd)
		return fd
	case p.proto == unix.IPPROTO_MPTCP && errors.Is(err, unix.ENOPROTOOPT):
		spec.Skip("MPTCP is disabled (net.mptcp.enabled=0): socket() gave %v", err)
	case p.needs != "" && (errors.Is(err, unix.EPROTONOSUPPORT) || errors.Is(err, unix.EAFNOSUPPORT) || errors.Is(err, unix.ESOCKTNOSUPPORT)):
		spec.Skip("%s is not available: module %s not loaded (socket() gave %v)", p.name, p.needs, err)
	case errors.Is(err, unix.EPROTONOSUPPORT) || errors.Is(err, unix.EAFNOSUPPORT):
		spec.Skip("%s over %s is not supported by this kernel (socket() gave %v)", p.name, p.fam.name, err)
	}
	Fail(fmt.Sprintf("socket(%d, SOCK_STREAM, %d) for %s: %v", p.domain, p.proto, p.name, err))
	return -1
}

// erratum1Expect is what a kernel gives, for one stream protocol, under a domain handling
// BIND_TCP|CONNECT_TCP: bind(port 0) and connect(port) with no rule, then the same with
// rules allowing both rights on port 0 and on the connected port (a domain granting
// every handled right).
type erratum1Expect struct {
	denyBind, denyConnect, grantBind, grantConnect error
}

// erratum1Observations pairs what was seen with what the fixed kernel (success everywhere)
// and the unfixed one give, for spec.ClassifyErratum.
func erratum1Observations(seen, unfixed erratum1Expect, port int) []spec.Observation {
	bind, conn := "bind(port 0)", fmt.Sprintf("connect(port %d)", port)
	return []spec.Observation{
		{What: "no rule: " + bind, Seen: seen.denyBind, Fixed: nil, Unfixed: unfixed.denyBind},
		{What: "no rule: " + conn, Seen: seen.denyConnect, Fixed: nil, Unfixed: unfixed.denyConnect},
		{What: "rules for both ports: " + bind, Seen: seen.grantBind, Fixed: nil, Unfixed: unfixed.grantBind},
		{What: "rules for both ports: " + conn, Seen: seen.grantConnect, Fixed: nil, Unfixed: unfixed.grantConnect},
	}
}

// erratum1Unfixed is what a kernel without the fix gives. Before the fix,
// current_check_access_socket() restricted every socket of type SOCK_STREAM: for a
// socket whose family is the address's (MPTCP, SCTP over AF_INET/AF_INET6) it looked the
// port up like TCP's, so EACCES without a rule and success with one, for bind and connect
// alike; for an AF_SMC socket, whose family is never the address's AF_INET/AF_INET6, it
// returned EINVAL ("sa_family consistency") before looking at any rule, with or without
// one. The fixed kernel (sk_is_tcp()) leaves all of them alone: success everywhere.
func erratum1Unfixed(p streamProtocol) erratum1Expect {
	if p.domain == unix.AF_SMC {
		return erratum1Expect{denyBind: unix.EINVAL, denyConnect: unix.EINVAL, grantBind: unix.EINVAL, grantConnect: unix.EINVAL}
	}
	return erratum1Expect{denyBind: unix.EACCES, denyConnect: unix.EACCES, grantBind: nil, grantConnect: nil}
}

var _ = suite.Describe("erratum 1: TCP rights restrict only TCP", func() {
	for _, p := range streamProtocols() {
		p := p
		labels := Labels{}
		if p.needs != "" {
			labels = spec.Needs("module:" + p.needs)
		}
		// net_test's protocol fixture has MPTCP variants under a TCP policy; SCTP and SMC
		// have no selftest.
		if p.proto == unix.IPPROTO_MPTCP {
			labels = append(labels, spec.Selftest("net_test", "protocol.bind")...)
			labels = append(labels, spec.Selftest("net_test", "protocol.connect")...)
		}
		It(fmt.Sprintf("MUST NOT restrict %s %s stream sockets with TCP rights where erratum 1 is fixed", p.fam.name, p.name), spec.Erratum(1), labels, spec.ID(fmt.Sprintf("errata.e1.%s.%s", strings.ToLower(p.name), p.fam.id())), func() {
			if !netSupported("net.bind_tcp", 4, tcpRights) {
				return
			}
			// Control outside Landlock: both operations work without any domain, or the
			// protocol cannot be observed here (the spec skips, saying why).
			probe := p.socket() // skips the spec first if the protocol is missing
			port := p.listener(p.fam)
			if err := bind(probe, p.fam, 0); err != nil {
				spec.Skip("without Landlock, %s over %s bind(port 0) fails with %s: erratum 1 cannot be observed here", p.name, p.fam.name, spec.ErrnoName(err))
			}
			if err := connect(p.socket(), p.fam, port); err != nil {
				spec.Skip("without Landlock, %s over %s connect(port %d) fails with %s: erratum 1 cannot be observed here", p.name, p.fam.name, port, spec.ErrnoName(err))
			}

			deny := sandbox.Net(tcpRights)
			// Port 0 needs no reservation, and only the grant policy has a rule for it.
			grant := sandbox.Net(tcpRights,
				sandbox.PortRule{Port: 0, Access: tcpRights},
				sandbox.PortRule{Port: uint64(port), Access: tcpRights})
			run := func(pol sandbox.Policy, rules string) (bindErr, connErr error) {
				GinkgoHelper()
				bindFd, connFd := p.socket(), p.socket()
				bindRes := sandbox.Thread(pol, func() error { return bind(bindFd, p.fam, 0) })
				connRes := sandbox.Thread(pol, func() error { return connect(connFd, p.fam, port) })
				Expect(bindRes.Setup).NotTo(HaveOccurred(), "sandbox setup: BIND_TCP|CONNECT_TCP handled, %s", rules)
				Expect(connRes.Setup).NotTo(HaveOccurred(), "sandbox setup: BIND_TCP|CONNECT_TCP handled, %s", rules)
				return bindRes.Err, connRes.Err
			}
			var seen erratum1Expect
			grantRules := fmt.Sprintf("rules allowing BIND_TCP|CONNECT_TCP on ports 0 and %d", port)
			seen.denyBind, seen.denyConnect = run(deny, "no rule")
			seen.grantBind, seen.grantConnect = run(grant, grantRules)
			unfixed := erratum1Unfixed(p)
			// A domain granting every right it handles must allow an inet socket on any
			// kernel, fixed or not: a denial there is a Landlock defect, not the erratum.
			if unfixed.grantBind == nil {
				spec.ExpectErr(seen.grantBind, nil, "BIND_TCP|CONNECT_TCP handled, %s: %s %s bind(port 0)", grantRules, p.name, p.fam.name)
				spec.ExpectErr(seen.grantConnect, nil, "BIND_TCP|CONNECT_TCP handled, %s: %s %s connect(port %d)", grantRules, p.name, p.fam.name, port)
			}
			kind, detail := spec.ClassifyErratum(erratum1Observations(seen, unfixed, port))
			spec.ErratumVerdict(1, kind, fmt.Sprintf("%s over %s, BIND_TCP|CONNECT_TCP handled (rules for both ports: BIND_TCP|CONNECT_TCP on ports 0 and %d): %s",
				p.name, p.fam.name, port, detail))
		})
	}
})
