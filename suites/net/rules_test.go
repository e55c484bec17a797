package net_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/sys/unix"

	"github.com/llconform/llconform/internal/landlock"
	"github.com/llconform/llconform/internal/sandbox"
	"github.com/llconform/llconform/internal/spec"
)

// tcpRuleset returns a ruleset handling the TCP rights, closed when the spec ends.
func tcpRuleset() int {
	GinkgoHelper()
	fd, err := landlock.CreateRuleset(&landlock.RulesetAttr{HandledAccessNet: tcpRights}, landlock.RulesetAttrSizeV4, 0)
	Expect(err).NotTo(HaveOccurred(), "create_ruleset(handled_access_net=BIND_TCP|CONNECT_TCP)")
	DeferCleanup(unix.Close, fd)
	return fd
}

var _ = Describe("net port rules", func() {
	type ruleCase struct {
		id     string // the case in spec ids
		what   string
		access uint64
		port   uint64
		want   error
	}
	cases := []ruleCase{
		{id: "max", what: "port 65535", access: bindTCP, port: 65535, want: nil},
		{id: "over_u16", what: "port 65536", access: bindTCP, port: 65536, want: unix.EINVAL},
		{id: "over_u32", what: "port 2^32+1", access: bindTCP, port: 1<<32 + 1, want: unix.EINVAL},
		{id: "no_access", what: "no access right", access: 0, port: 1024, want: unix.ENOMSG},
	}
	for _, c := range cases {
		c := c
		It("add_rule MUST return "+spec.ErrnoName(c.want)+" for a net port rule with "+c.what, spec.Feature("rule.net_port", 4), spec.ID("rule.port."+c.id), func() {
			if !netSupported("rule.net_port", 4, bindTCP) {
				return
			}
			err := landlock.AddNetPort(tcpRuleset(), landlock.NetPortAttr{AllowedAccess: c.access, Port: c.port}, 0)
			spec.ExpectErr(err, c.want, "add_rule(port %d, access %s)", c.port, spec.Bits(landlock.KindNet, c.access))
			spec.FeatureVerdict("rule.net_port", 4)
		})
	}

	It("add_rule MUST reject with EINVAL a net port rule allowing a right the ruleset does not handle", spec.Feature("rule.net_port", 4), spec.ID("rule.port.unhandled_access"), func() {
		if !netSupported("rule.net_port", 4, bindTCP) {
			return
		}
		fd, err := landlock.CreateRuleset(&landlock.RulesetAttr{HandledAccessNet: bindTCP}, landlock.RulesetAttrSizeV4, 0)
		Expect(err).NotTo(HaveOccurred(), "create_ruleset(handled_access_net=BIND_TCP)")
		defer unix.Close(fd)
		err = landlock.AddNetPort(fd, landlock.NetPortAttr{AllowedAccess: tcpRights, Port: 1024}, 0)
		spec.ExpectErr(err, unix.EINVAL, "BIND_TCP handled: add_rule(port 1024, BIND_TCP|CONNECT_TCP)")
		spec.FeatureVerdict("rule.net_port", 4)
	})

	It("create_ruleset MUST reject with EINVAL every handled_access_net bit above the kernel's ABI", spec.Feature("attr.handled_access_net", 4), spec.ID("mini.ruleset_with_unknown_access"), func() {
		if !netSupported("attr.handled_access_net", 4, bindTCP) {
			return
		}
		known := landlock.Mask(landlock.KindNet, spec.Kernel().ABI)
		for bit := uint64(1); bit != 0; bit <<= 1 {
			if bit&known != 0 {
				continue
			}
			fd, err := landlock.CreateRuleset(&landlock.RulesetAttr{HandledAccessNet: bit}, landlock.RulesetAttrSizeV4, 0)
			if err == nil {
				unix.Close(fd)
			}
			spec.ExpectErr(err, unix.EINVAL, "ABI %d: create_ruleset(handled_access_net=%#x)", spec.Kernel().ABI, bit)
		}
		spec.FeatureVerdict("attr.handled_access_net", 4)
	})

	It("MUST restrict ports in host byte order as given in the rule", spec.Feature("rule.net_port", 4), spec.ID("ipv4_tcp.port_endianness"), func() {
		if !netSupported("rule.net_port", 4, connectTCP) {
			return
		}
		// An ephemeral port that reads the same in both byte orders (1 in 256) proves
		// nothing: take another listener rather than skip.
		port := tcpListener(ipv4)
		swapped := uint64(port>>8 | (port&0xff)<<8)
		for try := 0; swapped == uint64(port) && try < 8; try++ {
			port = tcpListener(ipv4)
			swapped = uint64(port>>8 | (port&0xff)<<8)
		}
		if swapped == uint64(port) {
			spec.Skip("port %d reads the same in both byte orders", port)
		}
		p := sandbox.Net(connectTCP, sandbox.PortRule{Port: swapped, Access: connectTCP})
		spec.ExpectErrno(tcpConnect(p, ipv4, port), unix.EACCES, "CONNECT_TCP rule for byte-swapped port %d: connect(port %d)", swapped, port)
		spec.EnforcedVerdict("rule.net_port", 4)
	})
})
