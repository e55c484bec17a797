package net_test

import (
	"errors"
	"fmt"

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
			streamProtocol{"MPTCP", f, f.domain, unix.IPPROTO_MPTCP, "", tcpListener},
			streamProtocol{"SCTP", f, f.domain, unix.IPPROTO_SCTP, "sctp", sctpListener},
			streamProtocol{"SMC", f, unix.AF_SMC, smcProto, "smc", tcpListener},
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

var _ = Describe("erratum 1: TCP rights restrict only TCP", func() {
	for _, p := range streamProtocols() {
		p := p
		needs := Labels{}
		if p.needs != "" {
			needs = spec.Needs("module:" + p.needs)
		}
		It(fmt.Sprintf("MUST NOT restrict %s %s stream sockets with TCP rights where erratum 1 is fixed", p.fam.name, p.name), spec.Erratum(1), needs, func() {
			if !netSupported("net.bind_tcp", 4, tcpRights) {
				return
			}
			// Unrestricted control: both operations work without Landlock, so a failure
			// under the policy below can only come from the TCP rights.
			probe := p.socket() // skips the spec first if the protocol is missing
			port := p.listener(p.fam)
			spec.ExpectErr(bind(probe, p.fam, 0), nil, "unrestricted %s %s bind(port 0)", p.name, p.fam.name)
			spec.ExpectErr(connect(p.socket(), p.fam, port), nil, "unrestricted %s %s connect(port %d)", p.name, p.fam.name, port)

			bindFd, connFd := p.socket(), p.socket()
			deny := sandbox.Net(tcpRights)
			// Port 0 needs no reservation, and no rule allows it.
			bindRes := sandbox.Thread(deny, func() error { return bind(bindFd, p.fam, 0) })
			connRes := sandbox.Thread(deny, func() error { return connect(connFd, p.fam, port) })
			Expect(bindRes.Setup).NotTo(HaveOccurred(), "sandbox setup")
			Expect(connRes.Setup).NotTo(HaveOccurred(), "sandbox setup")
			// Unfixed kernels deny with EACCES, or with EINVAL where the socket's family is
			// not the address's (AF_SMC): any error counts as the erratum not fixed.
			fixed := bindRes.Err == nil && connRes.Err == nil
			spec.ErratumVerdict(1, fixed, fmt.Sprintf("%s over %s under BIND_TCP|CONNECT_TCP with no rule: bind(port 0) gave %s, connect(port %d) gave %s",
				p.name, p.fam.name, spec.ErrnoName(bindRes.Err), port, spec.ErrnoName(connRes.Err)))
		})
	}
})
