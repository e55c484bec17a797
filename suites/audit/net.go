package audit

import (
	"encoding/binary"
	"fmt"
	"os"
	"unsafe"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/sys/unix"

	"github.com/llconform/llconform/internal/audit"
	"github.com/llconform/llconform/internal/landlock"
	"github.com/llconform/llconform/internal/sandbox"
	"github.com/llconform/llconform/internal/spec"
)

// inetFamily is an address family of the net records, with its loopback address as the
// kernel logs it (%pI4, %pI6c).
type inetFamily struct {
	name   string // "IPv4"
	id     string // in spec ids: "ipv4"
	domain int
	loop   string
}

var (
	ipv4 = inetFamily{name: "IPv4", id: "ipv4", domain: unix.AF_INET, loop: "127.0.0.1"}
	ipv6 = inetFamily{name: "IPv6", id: "ipv6", domain: unix.AF_INET6, loop: "::1"}
)

// addr returns the family's loopback address with port.
func (f inetFamily) addr(port int) unix.Sockaddr {
	if f.domain == unix.AF_INET6 {
		return &unix.SockaddrInet6{Port: port, Addr: [16]byte{15: 1}}
	}
	return &unix.SockaddrInet4{Port: port, Addr: [4]byte{127, 0, 0, 1}}
}

// netOp is the operation a net record names.
type netOp string

const (
	opBind    netOp = "bind"
	opConnect netOp = "connect"
)

// netVariant is one variant of net_test's audit fixture: a family and a transport.
type netVariant struct {
	fam        inetFamily
	proto      string // "tcp" or "udp"
	typ        int
	bind, conn uint64
	abi        int // the ABI of the rights: 4 (TCP) or 10 (UDP)
}

var netVariants = []netVariant{
	{fam: ipv4, proto: "tcp", typ: unix.SOCK_STREAM, bind: landlock.AccessNetBindTCP, conn: landlock.AccessNetConnectTCP, abi: 4},
	{fam: ipv4, proto: "udp", typ: unix.SOCK_DGRAM, bind: landlock.AccessNetBindUDP, conn: landlock.AccessNetConnectSendUDP, abi: 10},
	{fam: ipv6, proto: "tcp", typ: unix.SOCK_STREAM, bind: landlock.AccessNetBindTCP, conn: landlock.AccessNetConnectTCP, abi: 4},
	{fam: ipv6, proto: "udp", typ: unix.SOCK_DGRAM, bind: landlock.AccessNetBindUDP, conn: landlock.AccessNetConnectSendUDP, abi: 10},
}

// id is the variant's name in net_test: "ipv4_tcp".
func (v netVariant) id() string { return v.fam.id + "_" + v.proto }

func (v netVariant) String() string { return v.fam.name + " " + v.proto }

// right returns the right op needs and its blocker name.
func (v netVariant) right(op netOp) (uint64, string) {
	r := v.conn
	if op == opBind {
		r = v.bind
	}
	return r, landlock.Names(landlock.KindNet, r)
}

// auditABI is the ABI from which the variant's records exist: audit came with ABI 7.
func (v netVariant) auditABI() int { return max(v.abi, 7) }

// sock returns an action running op on a fresh socket of the variant.
func (v netVariant) sock(op func(fd int) error) func() error { return sockOp(v.fam, v.typ, op) }

// do runs op on fd towards port on the loopback address.
func (v netVariant) do(op netOp, fd, port int) error {
	if op == opBind {
		return unix.Bind(fd, v.fam.addr(port))
	}
	return unix.Connect(fd, v.fam.addr(port))
}

// blockerCase is op denied to port, no rule, as an ACCESS records case; its rejection
// check also serves the other net record specs of the variant below their ABI.
func (v netVariant) blockerCase(op netOp, port int) blockerCase {
	right, blocker := v.right(op)
	check := expectBind(v.fam, port)
	st := "audit.bind"
	if op == opConnect {
		check, st = expectConnect(v.fam, port), "audit.connect"
	}
	return blockerCase{
		blocker: blocker, abi: v.abi,
		policy: func(string) sandbox.Policy { return sandbox.Net(right) },
		act: func(string) (func() error, func(audit.Access)) {
			return v.sock(func(fd int) error { return v.do(op, fd, port) }), check
		},
		want:      unix.EACCES,
		selftests: [][2]string{{"net_test", st}},
	}
}

// reserveNetPort returns a loopback port of the variant that stays free for the spec: an
// unrestricted socket with SO_REUSEPORT holds it without listening, so that a sandboxed
// socket that also sets SO_REUSEPORT can bind it.
func reserveNetPort(v netVariant) int {
	GinkgoHelper()
	fd, err := unix.Socket(v.fam.domain, v.typ|unix.SOCK_CLOEXEC, 0)
	Expect(err).NotTo(HaveOccurred(), "socket(%s)", v)
	DeferCleanup(unix.Close, fd)
	Expect(unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)).To(Succeed(), "SO_REUSEPORT")
	Expect(unix.Bind(fd, v.fam.addr(0))).To(Succeed(), "unrestricted bind(%s loopback, port 0)", v)
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

// sendtoRaw sends one byte to the sa bytes, unchecked, so that an AF_UNSPEC address (which
// unix.Sockaddr cannot express) reaches the kernel.
func sendtoRaw(fd int, sa []byte) error {
	b := []byte{'x'}
	_, _, e := unix.Syscall6(unix.SYS_SENDTO, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), 1, unix.MSG_NOSIGNAL,
		uintptr(unsafe.Pointer(&sa[0])), uintptr(len(sa)))
	if e != 0 {
		return e
	}
	return nil
}

// unspecAddr is a sockaddr_in for loopback:port whose sa_family is AF_UNSPEC: IPv4 sockets
// send to it as to AF_INET, IPv6 sockets see no address at all.
func unspecAddr(port int) []byte {
	b := make([]byte, unix.SizeofSockaddrInet4)
	binary.NativeEndian.PutUint16(b[0:], unix.AF_UNSPEC)
	binary.BigEndian.PutUint16(b[2:], uint16(port))
	copy(b[4:8], []byte{127, 0, 0, 1})
	return b
}

// netSupported starts a net record spec of feature (ABI abi): on a kernel below abi it
// checks that the variant's rights are rejected, or that their denials emit no Landlock
// record below ABI 7, and returns nil; otherwise it opens the audit session.
func netSupported(v netVariant, feature string, abi int) *env {
	GinkgoHelper()
	if !spec.SupportedOrRejected(feature, abi, func() { expectBlockerAbsent(v.blockerCase(opConnect, testPort)) }) {
		return nil
	}
	return openAudit()
}

// runnerDenials returns the spec's ACCESS records (thread mode: the runner's) and fails with the
// records when their number is not n.
func runnerDenials(l *audit.Log, n int, what string) []audit.Access {
	GinkgoHelper()
	as := deniedBy(l, os.Getpid())
	Expect(as).To(HaveLen(n), "ACCESS records: %s\nrecords:\n%s", what, dump(l))
	return as
}

var _ = suite.Describe("net records", func() {
	for _, v := range netVariants {
		if v.proto != "udp" {
			continue
		}
		It(fmt.Sprintf("MUST log the implicit bind of a %s connect to an allowed port as a net.bind_udp denial", v),
			spec.Feature("audit.net.bind_udp", 10), spec.Needs("audit", "root"), spec.ID("net.audit."+v.id()+".connect.autobind"),
			spec.Selftest("net_test", "audit.connect"), func() {
				e := netSupported(v, "audit.net.bind_udp", 10)
				if e == nil {
					return
				}
				p := sandbox.Net(v.bind|v.conn, sandbox.PortRule{Port: testPort, Access: v.conn})
				res := sandbox.Thread(p, v.sock(func(fd int) error { return v.do(opConnect, fd, testPort) }))
				spec.ExpectErrno(res, unix.EACCES, "BIND_UDP|CONNECT_SEND_UDP handled, CONNECT_SEND_UDP rule for port %d: %s connect(%d) of an unbound socket", testPort, v, testPort)
				l := e.log()
				a := runnerDenials(l, 1, "the implicit bind")[0]
				Expect(a.BlockerList()).To(Equal("net.bind_udp"), "blockers= of the implicit bind")
				Expect(a.DAddr).To(BeEmpty(), "daddr= in the record of a bind\nrecords:\n%s", dump(l))
				expectAllocated(l, a.Domain, os.Getpid())
				spec.EnforcedVerdict("audit.net.bind_udp", 10)
			})

		It(fmt.Sprintf("MUST log a %s sendto denied by CONNECT_SEND_UDP, by its implicit bind, and to an AF_UNSPEC address, each once", v),
			spec.Feature("audit.net.connect_send_udp", 10), spec.Needs("audit", "root"), spec.ID("net.audit."+v.id()+".sendmsg"),
			spec.Selftest("net_test", "audit.sendmsg"), func() {
				e := netSupported(v, "audit.net.connect_send_udp", 10)
				if e == nil {
					return
				}
				allowed, denied := testPort+1, testPort
				p := sandbox.Net(v.bind|v.conn, sandbox.PortRule{Port: uint64(allowed), Access: v.conn})
				res := sandbox.Thread(p, v.sock(func(fd int) error {
					for _, st := range []struct {
						what string
						do   func() error
					}{
						{what: fmt.Sprintf("sendto(port %d, no rule)", denied), do: func() error { return unix.Sendto(fd, []byte{'x'}, unix.MSG_NOSIGNAL, v.fam.addr(denied)) }},
						{what: fmt.Sprintf("sendto(port %d, allowed) of an unbound socket", allowed), do: func() error { return unix.Sendto(fd, []byte{'x'}, unix.MSG_NOSIGNAL, v.fam.addr(allowed)) }},
						{what: fmt.Sprintf("sendto(AF_UNSPEC, port %d)", denied), do: func() error { return sendtoRaw(fd, unspecAddr(denied)) }},
					} {
						if err := st.do(); err != unix.EACCES {
							return fmt.Errorf("%s: got %s, want EACCES", st.what, spec.ErrnoName(err))
						}
					}
					return nil
				}))
				spec.ExpectErrno(res, nil, "BIND_UDP|CONNECT_SEND_UDP handled, CONNECT_SEND_UDP rule for port %d: three %s sends", allowed, v)
				l := e.log()
				as := runnerDenials(l, 3, "the denied send, the implicit bind and the AF_UNSPEC send")
				Expect(as[0].BlockerList()).To(Equal("net.connect_send_udp"), "blockers= of the denied send")
				expectConnect(v.fam, denied)(as[0])
				Expect(as[1].BlockerList()).To(Equal("net.bind_udp"), "blockers= of the implicit bind of a send to an allowed port")
				Expect(as[2].BlockerList()).To(Equal("net.connect_send_udp"), "blockers= of the send to an AF_UNSPEC address")
				for i, a := range as {
					Expect(a.Domain).To(Equal(as[0].Domain), "domain= of record %d", i+1)
				}
				expectAllocated(l, as[0].Domain, os.Getpid())
				expectAllocatedWithFirstDenial(l, as[0].Domain)
				spec.EnforcedVerdict("audit.net.connect_send_udp", 10)
			})
	}

	for _, v := range netVariants {
		_, blocker := v.right(opConnect)
		feature := "audit." + blocker
		It(fmt.Sprintf("MUST name the local address and port of a bound %s socket in the record of its denied connect", v),
			spec.Feature(feature, v.auditABI()), spec.Needs("audit", "root"), spec.ID("net.audit."+v.id()+".connect_bound"),
			spec.Selftest("net_test", "audit.connect_bound"), func() {
				e := netSupported(v, feature, v.auditABI())
				if e == nil {
					return
				}
				local := reserveNetPort(v)
				p := sandbox.Net(v.bind|v.conn, sandbox.PortRule{Port: uint64(local), Access: v.bind})
				res := sandbox.Thread(p, v.sock(func(fd int) error {
					if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
						return spec.SetupFailed("SO_REUSEPORT", err)
					}
					if err := v.do(opBind, fd, local); err != nil {
						return fmt.Errorf("bind(port %d, allowed): %s", local, spec.ErrnoName(err))
					}
					return v.do(opConnect, fd, testPort)
				}))
				spec.ExpectErrno(res, unix.EACCES, "%s handled, bind rule for port %d: %s bind(%d), then connect(%d)",
					spec.Bits(landlock.KindNet, v.bind|v.conn), local, v, local, testPort)
				l := e.log()
				a := runnerDenials(l, 1, "the denied connect of a bound socket")[0]
				Expect(a.BlockerList()).To(Equal(blocker), "blockers=")
				Expect(a.Order).To(Equal([]string{"domain", "blockers", "laddr", "lport", "daddr", "dest"}),
					"fields of the record, in order (laddr=/lport= of the bound socket, then daddr=/dest=)\nrecords:\n%s", dump(l))
				Expect(a.Other["laddr"]).To(Equal(v.fam.loop), "laddr=")
				Expect(a.Other["lport"]).To(Equal(fmt.Sprint(local)), "lport=")
				Expect(a.DAddr).To(Equal(v.fam.loop), "daddr=")
				Expect(a.Dest).To(Equal(testPort), "dest=")
				expectAllocated(l, a.Domain, os.Getpid())
				spec.EnforcedVerdict(feature, v.auditABI())
			})
	}

	for _, v := range netVariants {
		_, blocker := v.right(opConnect)
		bindRight, _ := v.right(opBind)
		It(fmt.Sprintf("MUST log a %s connect denied by a layer that quiets only bind, and not one whose youngest denying layer quiets connect", v),
			spec.Feature("audit.quiet_access_net", 10), spec.Needs("audit", "root"), spec.ID("net.audit."+v.id()+".connect_quiet_bind"),
			spec.Selftest("net_test", "audit.connect_quiet_bind"), func() {
				e := requireQuiet("audit.quiet_access_net", landlock.RulesetAttr{HandledAccessNet: v.bind | v.conn, QuietAccessNet: bindRight})
				if e == nil {
					return
				}
				layer := func(quiet uint64) sandbox.Policy {
					return sandbox.Policy{Layers: []sandbox.Layer{{
						Attr:  landlock.RulesetAttr{HandledAccessNet: v.bind | v.conn, QuietAccessNet: quiet},
						Ports: []sandbox.PortRule{{Port: testPort, Access: 0, Flags: landlock.AddRuleQuiet}},
					}}}
				}
				connect := v.sock(func(fd int) error { return v.do(opConnect, fd, testPort) })
				quietBind := layer(v.bind)
				spec.ExpectErrno(sandbox.Thread(quietBind, connect), unix.EACCES, "one layer quieting %s on port %d: %s connect(%d)",
					spec.Bits(landlock.KindNet, v.bind), testPort, v, testPort)
				spec.ExpectErrno(sandbox.Thread(quietBind.Then(layer(v.conn)), connect), unix.EACCES, "a second layer quieting %s on port %d: %s connect(%d)",
					spec.Bits(landlock.KindNet, v.conn), testPort, v, testPort)
				l := e.log()
				a := runnerDenials(l, 1, "only the connect denied by the layer that quiets bind")[0]
				Expect(a.BlockerList()).To(Equal(blocker), "blockers=")
				expectConnect(v.fam, testPort)(a)
				Expect(l.AllocatedBy(os.Getpid())).To(Equal([]audit.DomainID{a.Domain}), "domains logged: only the first thread's")
				spec.EnforcedVerdict("audit.quiet_access_net", 10)
			})
	}
})
