package net

import (
	"fmt"
	"os"
	"path/filepath"

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

var _ = suite.Describe("net port rules", func() {
	type ruleCase struct {
		id       string // the case in spec ids
		what     string
		access   uint64
		port     uint64
		want     error
		selftest string // the net_test TEST_F that checks the same
	}
	cases := []ruleCase{
		{id: "max", what: "port 65535", access: bindTCP, port: 65535, want: nil, selftest: "mini.tcp_port_overflow"},
		{id: "over_u16", what: "port 65536", access: bindTCP, port: 65536, want: unix.EINVAL, selftest: "mini.tcp_port_overflow"},
		{id: "over_u32", what: "port 2^32+1", access: bindTCP, port: 1<<32 + 1, want: unix.EINVAL, selftest: "mini.tcp_port_overflow"},
		{id: "no_access", what: "no access right", access: 0, port: 1024, want: unix.ENOMSG, selftest: "mini.inval"},
	}
	for _, c := range cases {
		c := c
		It("add_rule MUST return "+spec.ErrnoName(c.want)+" for a net port rule with "+c.what, spec.Feature("rule.net_port", 4), spec.ID("rule.port."+c.id), spec.Selftest("net_test", c.selftest), func() {
			if !netSupported("rule.net_port", 4, bindTCP) {
				return
			}
			err := landlock.AddNetPort(tcpRuleset(), landlock.NetPortAttr{AllowedAccess: c.access, Port: c.port}, 0)
			spec.ExpectErr(err, c.want, "add_rule(port %d, access %s)", c.port, spec.Bits(landlock.KindNet, c.access))
			spec.FeatureVerdict("rule.net_port", 4)
		})
	}

	It("add_rule MUST reject with EINVAL a net port rule allowing a right the ruleset does not handle", spec.Feature("rule.net_port", 4), spec.ID("rule.port.unhandled_access"), spec.Selftest("net_test", "mini.inval"), func() {
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

	It("add_rule MUST reject with EINVAL a net port rule allowing any right the ruleset does not handle, known or not",
		spec.Feature("rule.net_port", 4), spec.ID("mini.rule_with_unhandled_access"),
		spec.Selftest("net_test", "mini.rule_with_unhandled_access"), spec.Selftest("net_test", "mini.rule_with_unknown_access"), func() {
			if !netSupported("rule.net_port", 4, bindTCP) {
				return
			}
			known := landlock.Mask(landlock.KindNet, spec.Kernel().ABI)
			for _, handled := range []uint64{bindTCP, known} {
				fd, err := landlock.CreateRuleset(&landlock.RulesetAttr{HandledAccessNet: handled}, landlock.RulesetAttrSizeV4, 0)
				Expect(err).NotTo(HaveOccurred(), "create_ruleset(handled_access_net=%s)", spec.Bits(landlock.KindNet, handled))
				DeferCleanup(unix.Close, fd)
				for bit := uint64(1); bit != 0; bit <<= 1 {
					want := error(unix.EINVAL)
					if bit&handled != 0 {
						want = nil
					}
					err := landlock.AddNetPort(fd, landlock.NetPortAttr{AllowedAccess: bit, Port: 1024}, 0)
					spec.ExpectErr(err, want, "handled_access_net=%s: add_rule(port 1024, allowed_access=%#x)", spec.Bits(landlock.KindNet, handled), bit)
				}
			}
			spec.FeatureVerdict("rule.net_port", 4)
		})

	It("MUST enforce the fs and the net rights of one ruleset together", spec.Feature("net.bind_tcp", 4), spec.ID("ipv4_tcp.with_fs"), spec.Selftest("net_test", "ipv4_tcp.with_fs"), func() {
		if !netSupported("net.bind_tcp", 4, bindTCP) {
			return
		}
		dir := GinkgoT().TempDir()
		sub := filepath.Join(dir, "allowed")
		Expect(os.Mkdir(sub, 0o755)).To(Succeed())
		allowed, denied := reservePort(ipv4, unix.SOCK_STREAM), reservePort(ipv4, unix.SOCK_STREAM)
		p := sandbox.Policy{Layers: []sandbox.Layer{{
			Attr:  landlock.RulesetAttr{HandledAccessFS: landlock.AccessFSReadDir, HandledAccessNet: bindTCP},
			Paths: []sandbox.PathRule{{Path: sub, Access: landlock.AccessFSReadDir}},
			Ports: []sandbox.PortRule{{Port: uint64(allowed), Access: bindTCP}},
		}}}
		openDir := func(path string) func() error {
			return func() error {
				fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
				if err == nil {
					unix.Close(fd)
				}
				return err
			}
		}
		const rules = "READ_DIR|BIND_TCP handled, READ_DIR rule beneath %s, BIND_TCP rule for port %d: %s"
		spec.ExpectErrno(sandbox.Thread(p, openDir(sub)), nil, rules, sub, allowed, "open(the rule's directory)")
		spec.ExpectErrno(sandbox.Thread(p, openDir(dir)), unix.EACCES, rules, sub, allowed, "open(its parent)")
		spec.ExpectErrno(tcpBind(p, ipv4, allowed), nil, rules, sub, allowed, fmt.Sprintf("bind(port %d)", allowed))
		spec.ExpectErrno(tcpBind(p, ipv4, denied), unix.EACCES, rules, sub, allowed, fmt.Sprintf("bind(port %d)", denied))
		spec.EnforcedVerdict("net.bind_tcp", 4)
	})

	It("create_ruleset MUST reject with EINVAL every handled_access_net bit above the kernel's ABI", spec.Feature("attr.handled_access_net", 4), spec.ID("mini.ruleset_with_unknown_access"), spec.Selftest("net_test", "mini.ruleset_with_unknown_access"), func() {
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

	It("MUST restrict ports in host byte order as given in the rule", spec.Feature("rule.net_port", 4), spec.ID("ipv4_tcp.port_endianness"), spec.Selftest("net_test", "ipv4_tcp.port_endianness"), func() {
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
