package trace

import (
	"encoding/binary"
	"fmt"
	"unsafe"

	. "github.com/onsi/ginkgo/v2"
	"golang.org/x/sys/unix"

	"github.com/llconform/llconform/internal/landlock"
	"github.com/llconform/llconform/internal/sandbox"
	"github.com/llconform/llconform/internal/spec"
	"github.com/llconform/llconform/suites/trace/actions"
)

// The network specs run in a network namespace of their own (privateNet), so their fixed
// ports are free.
const port = 4242

const (
	bindTCP        = landlock.AccessNetBindTCP
	connectTCP     = landlock.AccessNetConnectTCP
	bindUDP        = landlock.AccessNetBindUDP
	connectSendUDP = landlock.AccessNetConnectSendUDP
)

// sockaddr lays out a loopback address of family domain with port, its sa_family set to
// family (AF_UNSPEC for some specs), as the kernel reads it.
func sockaddr(domain, family, port int) []byte {
	size := unix.SizeofSockaddrInet4
	if domain == unix.AF_INET6 {
		size = unix.SizeofSockaddrInet6
	}
	b := make([]byte, size)
	binary.NativeEndian.PutUint16(b[0:], uint16(family))
	binary.BigEndian.PutUint16(b[2:], uint16(port))
	if domain == unix.AF_INET {
		copy(b[4:8], []byte{127, 0, 0, 1})
	} else {
		b[23] = 1 // ::1
	}
	return b
}

// netOp is an operation on a fresh socket, with the raw address bytes and length.
type netOp struct {
	name          string // "bind", "connect" or "sendto"
	domain, typ   int
	addr          []byte
	addrLen       int
	wantErr       error
	describeValue string
}

func (o netOp) run() error {
	fd, err := unix.Socket(o.domain, o.typ|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return spec.SetupFailed("socket", err)
	}
	defer unix.Close(fd)
	p := uintptr(unsafe.Pointer(&o.addr[0]))
	var e unix.Errno
	switch o.name {
	case "bind":
		_, _, e = unix.Syscall(unix.SYS_BIND, uintptr(fd), p, uintptr(o.addrLen))
	case "connect":
		_, _, e = unix.Syscall(unix.SYS_CONNECT, uintptr(fd), p, uintptr(o.addrLen))
	case "sendto":
		msg := []byte("A")
		_, _, e = unix.Syscall6(unix.SYS_SENDTO, uintptr(fd), uintptr(unsafe.Pointer(&msg[0])), 1, unix.MSG_NOSIGNAL, p, uintptr(o.addrLen))
	}
	return expectErr(actions.ErrnoErr(e), o.wantErr, "%s", o.describeValue)
}

var _ = suite.Describe("landlock_check_rule_net_port", func() {
	It("MUST fire once for the port rule that allows an access, with the domain, the request, the port in host byte order and the grants",
		spec.ID("trace_net_check_rule.check_rule_net_fields"), feature("trace.check_rule_net_port", 4),
		spec.Selftest("net_test", "trace_net_check_rule.check_rule_net_fields"), func() {
			if !requireEvents("trace.check_rule_net_port", 4) {
				return
			}
			onThread(func() error {
				if err := privateNet(); err != nil {
					return err
				}
				if err := enforce(sandbox.Net(bindTCP, sandbox.PortRule{Port: port, Access: bindTCP})); err != nil {
					return err
				}
				return netOp{name: "bind", domain: unix.AF_INET, typ: unix.SOCK_STREAM, addr: sockaddr(unix.AF_INET, unix.AF_INET, port),
					addrLen: unix.SizeofSockaddrInet4, describeValue: fmt.Sprintf("bind(127.0.0.1:%d) with a BIND_TCP rule on it", port)}.run()
			})
			evs := readEvents()
			d := evs.oneDomain("restrict_self")
			e := evs.one("check_rule_net_port", "an allowed bind to port %d", port)
			expectFields(e, "the port rule matched", "domain", id(d), "access_request", "bind_tcp", "port", fmt.Sprint(port), "grants", "{bind_tcp}")
			evs.count("deny_access_net", 0, "an allowed bind")
			works("trace.check_rule_net_port", 4)
		})
})

var _ = suite.Describe("landlock_deny_access_net", func() {
	type netCase struct {
		id       string
		refs     []selftestRef
		abi      int
		what     string
		sandbox  bool
		handled  uint64
		ruled    bool // a rule allows the handled rights on port
		op       netOp
		denied   bool
		blockers uint64
		port     int // the port the event must print
	}
	v4, v6 := unix.AF_INET, unix.AF_INET6
	bindOp := func(domain, typ, p int) netOp {
		return netOp{name: "bind", domain: domain, typ: typ, addr: sockaddr(domain, domain, p), addrLen: len(sockaddr(domain, domain, p)),
			describeValue: fmt.Sprintf("bind(port %d)", p)}
	}
	for _, c := range []netCase{
		{id: "trace_net.deny_access_net_bind.unsandboxed", refs: []selftestRef{{"net_test", "trace_net.deny_access_net_bind"}}, abi: 4,
			what: "MUST NOT fire, nor any other event, for a bind outside any domain", op: bindOp(v4, unix.SOCK_STREAM, port)},
		{id: "trace_net.deny_access_net_bind.bind_allowed", refs: []selftestRef{{"net_test", "trace_net.deny_access_net_bind"}}, abi: 4,
			what: "MUST NOT fire for a bind a rule allows", sandbox: true, handled: bindTCP, ruled: true, op: bindOp(v4, unix.SOCK_STREAM, port)},
		{id: "trace_net.deny_access_net_bind.bind_denied", refs: []selftestRef{{"net_test", "trace_net.deny_access_net_bind"}, {"net_test", "trace_net_address.deny_access_net"}}, abi: 4,
			what: "MUST fire once for a denied TCP bind to a port without a rule", sandbox: true, handled: bindTCP, ruled: true, op: bindOp(v4, unix.SOCK_STREAM, port+1),
			denied: true, blockers: bindTCP, port: port + 1},
		{id: "deny_access_net.ipv4_tcp_connect", abi: 4, what: "MUST fire once for a denied TCP connect", sandbox: true, handled: connectTCP,
			op:     netOp{name: "connect", domain: v4, typ: unix.SOCK_STREAM, addr: sockaddr(v4, v4, port), addrLen: unix.SizeofSockaddrInet4, describeValue: "connect(127.0.0.1)"},
			denied: true, blockers: connectTCP, port: port},
		{id: "trace_net_address.deny_access_net.ipv4_udp_bind_zero", refs: []selftestRef{{"net_test", "trace_net_address.deny_access_net"}}, abi: 10,
			what: "MUST fire once for a denied explicit UDP bind to port 0, printing port 0", sandbox: true, handled: bindUDP, op: bindOp(v4, unix.SOCK_DGRAM, 0),
			denied: true, blockers: bindUDP, port: 0},
		{id: "trace_net_address.deny_access_net.ipv6_udp_autobind", refs: []selftestRef{{"net_test", "trace_net_address.deny_access_net"}}, abi: 10,
			what: "MUST fire once for the denied implicit bind of an unbound UDP socket's send, as a bind to port 0", sandbox: true, handled: bindUDP,
			op:     netOp{name: "sendto", domain: v6, typ: unix.SOCK_DGRAM, addr: sockaddr(v6, v6, port), addrLen: unix.SizeofSockaddrInet6, describeValue: "sendto([::1]) from an unbound socket"},
			denied: true, blockers: bindUDP, port: 0},
		{id: "trace_net_address.deny_access_net.ipv6_unspec_udp_send_min", refs: []selftestRef{{"net_test", "trace_net_address.deny_access_net"}}, abi: 10,
			what: "MUST fire once for a denied send to a family-only AF_UNSPEC address, printing port -1", sandbox: true, handled: connectSendUDP,
			op:     netOp{name: "sendto", domain: v6, typ: unix.SOCK_DGRAM, addr: sockaddr(v6, unix.AF_UNSPEC, port), addrLen: 2, describeValue: "sendto(AF_UNSPEC, 2 bytes)"},
			denied: true, blockers: connectSendUDP, port: -1},
	} {
		text := c.what
		if c.denied {
			text += ", with the denying domain, same_exec=1, logged=1, the blockers and the port in host byte order"
		}
		It(text, spec.ID(c.id), feature("trace.deny_access_net", c.abi), selftests(c.refs...), func() {
			if !requireEvents("trace.deny_access_net", c.abi) {
				return
			}
			op := c.op
			if c.denied {
				op.wantErr = unix.EACCES
			}
			onThread(func() error {
				if err := privateNet(); err != nil {
					return err
				}
				if c.sandbox {
					var rules []sandbox.PortRule
					if c.ruled {
						rules = append(rules, sandbox.PortRule{Port: port, Access: c.handled})
					}
					if err := enforce(sandbox.Net(c.handled, rules...)); err != nil {
						return err
					}
				}
				return op.run()
			})
			evs := readEvents()
			if !c.sandbox {
				if len(evs) != 0 {
					Fail(fmt.Sprintf("Landlock events for a bind outside any domain:\n%s", evs))
				}
				works("trace.deny_access_net", c.abi)
				return
			}
			d := evs.oneDomain("restrict_self")
			if !c.denied {
				evs.count("deny_access_net", 0, "%s, allowed", op.describeValue)
				works("trace.deny_access_net", c.abi)
				return
			}
			e := evs.one("deny_access_net", "%s, denied", op.describeValue)
			expectFields(e, op.describeValue, "domain", id(d), "same_exec", "1", "logged", "1", "blockers", netMask(c.blockers), "port", fmt.Sprint(c.port))
			works("trace.deny_access_net", c.abi)
		})
	}
})
