package net

import (
	. "github.com/onsi/ginkgo/v2"
	"golang.org/x/sys/unix"

	"github.com/llconform/llconform/internal/sandbox"
	"github.com/llconform/llconform/internal/spec"
)

// A malformed address must get the error the network stack gives it without Landlock,
// never EACCES: Landlock validates the address before it looks up the port. Each case
// is run unrestricted first, so the spec checks both the stack's own errno and that the
// restricted call returns the same.
type badAddress struct {
	id   string // the case in spec ids
	what string
	op   string // "bind" or "connect"
	fam  ipFamily
	sa   func() []byte
	len  int
	want unix.Errno
	// selftest is the net_test TEST_F that checks the same, if any.
	selftest string
}

// storageSize is sizeof(struct sockaddr_storage), the length the selftests pass with an
// AF_UNSPEC address.
const storageSize = 128

func badAddresses() []badAddress {
	var cases []badAddress
	for _, f := range families {
		f := f
		full := func() []byte { return f.addr(1) }
		for _, op := range []string{"bind", "connect"} {
			// test_bind_and_connect() of protocol.bind and protocol.connect tries
			// addrlen 0 and one byte short of the minimum on both calls.
			st := "protocol." + op
			cases = append(cases,
				badAddress{id: "addrlen0", what: "addrlen 0", op: op, fam: f, sa: full, len: 0, want: unix.EINVAL, selftest: st},
				badAddress{id: "addrlen1", what: "addrlen 1 (no whole sa_family)", op: op, fam: f, sa: full, len: 1, want: unix.EINVAL},
				badAddress{id: "addrlen_short", what: "addrlen one byte short of the family's minimum", op: op, fam: f, sa: full, len: f.min - 1, want: unix.EINVAL, selftest: st},
			)
		}
	}
	// An IPv4 address given to an IPv6 socket.
	v4on6 := func() []byte { return ipv4.addr(1) }
	cases = append(cases,
		badAddress{id: "sockaddr_in", what: "a sockaddr_in on an IPv6 socket", op: "bind", fam: ipv6, sa: v4on6, len: ipv4.size, want: unix.EINVAL},
		badAddress{id: "sockaddr_in", what: "a sockaddr_in on an IPv6 socket", op: "connect", fam: ipv6, sa: v4on6, len: ipv4.size, want: unix.EINVAL},
		// AF_UNSPEC with a non-ANY address is refused by the IPv4 stack for bind, and
		// AF_UNSPEC with any address by the IPv6 stack. (Linux 6.7 answered EINVAL to the
		// IPv6 case, later kernels EAFNOSUPPORT like the stack; no erratum tells them
		// apart, and the 7.3 selftest asserts EAFNOSUPPORT.)
		badAddress{id: "unspec_loopback", what: "AF_UNSPEC with the loopback address", op: "bind", fam: ipv4,
			sa: func() []byte { return ipv4.addrAs(unix.AF_UNSPEC, 1) }, len: ipv4.size, want: unix.EAFNOSUPPORT, selftest: "protocol.bind_unspec"},
		badAddress{id: "unspec_loopback", what: "AF_UNSPEC with the loopback address", op: "bind", fam: ipv6,
			sa: func() []byte { return ipv6.addrAs(unix.AF_UNSPEC, 1) }, len: ipv6.size, want: unix.EAFNOSUPPORT, selftest: "protocol.bind_unspec"},
		badAddress{id: "unspec_any", what: "AF_UNSPEC with INADDR_ANY in a sockaddr_storage", op: "bind", fam: ipv6,
			sa: func() []byte { return append(any4(unix.AF_UNSPEC, 1), make([]byte, storageSize-ipv4.size)...) }, len: storageSize,
			want: unix.EAFNOSUPPORT, selftest: "protocol.bind_unspec"},
	)
	return cases
}

var _ = suite.Describe("malformed TCP addresses", func() {
	for _, c := range badAddresses() {
		c := c
		selftest := Labels{}
		if c.selftest != "" {
			selftest = spec.Selftest("net_test", c.selftest)
		}
		It("MUST keep the network stack's "+unix.ErrnoName(c.want)+" for "+c.op+"() with "+c.what+" on an "+c.fam.name+" socket, not EACCES", spec.Feature("net."+c.op+"_tcp", 4), spec.ID("tcp.badaddr."+c.op+"."+c.fam.id()+"."+c.id), selftest, func() {
			feature := "net." + c.op + "_tcp"
			if !netSupported(feature, 4, tcpRights) {
				return
			}
			call := func(fd int) error {
				if c.op == "bind" {
					return bindRaw(fd, c.sa(), c.len)
				}
				return connectRaw(fd, c.sa(), c.len)
			}
			spec.ExpectErr(call(socketFor(c.fam, unix.SOCK_STREAM, 0)), c.want, "unrestricted %s(%s) on %s", c.op, c.what, c.fam.name)
			fd := socketFor(c.fam, unix.SOCK_STREAM, 0)
			res := sandbox.Thread(sandbox.Net(tcpRights), func() error { return call(fd) })
			spec.ExpectErrno(res, c.want, "BIND_TCP|CONNECT_TCP handled, no rule: %s(%s) on %s", c.op, c.what, c.fam.name)
			spec.FeatureVerdict(feature, 4)
		})
	}

	It("MUST deny bind(AF_UNSPEC, INADDR_ANY) on an IPv4 socket like an AF_INET bind, with EACCES", spec.Feature("net.bind_tcp", 4), spec.ID("tcp.ipv4.bind.unspec_any"), spec.Selftest("net_test", "protocol.bind_unspec"), func() {
		if !netSupported("net.bind_tcp", 4, bindTCP) {
			return
		}
		// Only the denied case is checked: an allowed one would bind every interface.
		fd := socketFor(ipv4, unix.SOCK_STREAM, 0)
		res := sandbox.Thread(sandbox.Net(bindTCP), func() error { return bindRaw(fd, any4(unix.AF_UNSPEC, 0), ipv4.size) })
		spec.ExpectErrno(res, unix.EACCES, "BIND_TCP handled, no rule: bind(AF_UNSPEC, 0.0.0.0 port 0)")
		spec.EnforcedVerdict("net.bind_tcp", 4)
	})
})
