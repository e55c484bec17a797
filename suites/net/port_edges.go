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

// The ports at the edges of a rule's range: 0 for UDP (port_specific.bind_connect_zero's
// UDP variants) and 65535 (mini.tcp_port_overflow's enforcement).

var _ = suite.Describe("ports 0 and 65535", func() {
	for _, f := range families {
		f := f
		It(fmt.Sprintf("MUST treat a UDP port 0 rule as the right to bind an ephemeral port and to connect to port 0, and nothing else (%s)", f.name),
			spec.Feature("net.bind_udp", 10), spec.ID("port_specific.bind_connect_zero.udp."+f.id()), spec.Selftest("net_test", "port_specific.bind_connect_zero"), func() {
				if !netSupported("net.bind_udp", 10, udpRights) {
					return
				}
				// Control outside Landlock: a UDP socket may connect to port 0.
				spec.ExpectErr(connect(socketFor(f, unix.SOCK_DGRAM, 0), f, 0), nil, "unrestricted %s UDP connect(port 0)", f.name)
				server, client := socketFor(f, unix.SOCK_DGRAM, 0), socketFor(f, unix.SOCK_DGRAM, 0)
				zero := sandbox.Net(udpRights, sandbox.PortRule{Port: 0, Access: udpRights})
				const rules = "BIND_UDP|CONNECT_SEND_UDP rule for port 0"
				spec.ExpectErrno(sandbox.Thread(zero, func() error { return bind(server, f, 0) }), nil, "%s: bind(%s port 0)", rules, f.name)
				port := localPort(server)
				Expect(port).NotTo(BeZero(), "the port bind(0) picked")
				// The client's implicit bind is to port 0 too, which the rule allows.
				spec.ExpectErrno(sandbox.Thread(zero, func() error { return connect(client, f, 0) }), nil, "%s: connect(%s port 0) of an unbound socket", rules, f.name)
				spec.ExpectErrno(sandbox.Thread(zero, func() error { return connect(client, f, port) }), unix.EACCES, "%s: connect(%s port %d, the bound one)", rules, f.name, port)
				spec.EnforcedVerdict("net.bind_udp", 10)
			})
	}

	It("MUST enforce rules on port 65535, added among rejected ones past it: bind and connect there allowed, elsewhere denied with EACCES",
		spec.Feature("rule.net_port", 4), spec.Needs("root"), spec.ID("mini.tcp_port_overflow"), spec.Selftest("net_test", "mini.tcp_port_overflow"), func() {
			if !netSupported("rule.net_port", 4, tcpRights) {
				return
			}
			spec.RequireRoot()
			// Fixed ports: the spec runs in a network namespace of its own (inNetns).
			const denied, maxPort = 1024, 65535
			err := inNetns(func() error {
				// The selftest's ruleset: BIND_TCP then CONNECT_TCP on 65535, each a rule of
				// its own, interleaved with ports past 65535 that add_rule must reject without
				// touching the ruleset.
				fd, err := landlock.CreateRuleset(&landlock.RulesetAttr{HandledAccessNet: tcpRights}, landlock.RulesetAttrSizeV4, 0)
				if err != nil {
					return spec.SetupFailed("create_ruleset(BIND_TCP|CONNECT_TCP)", err)
				}
				defer unix.Close(fd)
				for _, r := range []struct {
					port   uint64
					access uint64
					want   error
				}{
					{maxPort, bindTCP, nil}, {1 << 16, bindTCP, unix.EINVAL}, {1<<16 + 1, bindTCP, unix.EINVAL}, {1 << 32, bindTCP, unix.EINVAL},
					{maxPort, connectTCP, nil}, {1<<32 + 1, bindTCP, unix.EINVAL},
				} {
					err := landlock.AddNetPort(fd, landlock.NetPortAttr{AllowedAccess: r.access, Port: r.port}, 0)
					if !spec.IsErrno(err, r.want) {
						return fmt.Errorf("add_rule(port %d, %s): got %s, want %s", r.port, spec.Bits(landlock.KindNet, r.access), spec.ErrnoName(err), spec.ErrnoName(r.want))
					}
				}
				if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
					return spec.SetupFailed("no_new_privs", err)
				}
				if err := landlock.RestrictSelf(fd, 0); err != nil {
					return spec.SetupFailed("restrict_self", err)
				}
				var steps []seqStep
				for _, c := range []struct {
					port  int
					allow bool
				}{{denied, false}, {maxPort, true}} {
					st, cleanup := bindAndConnectSteps(c.port, c.allow)
					defer cleanup()
					steps = append(steps, st...)
				}
				return runSeq(steps)
			})
			spec.ExpectErr(err, nil, "BIND_TCP|CONNECT_TCP handled, BIND_TCP and CONNECT_TCP rules for port %d, in a fresh network namespace", maxPort)
			spec.EnforcedVerdict("rule.net_port", 4)
		})
})

// seqStep is one system call of a sequence run on one thread, and what it must give.
type seqStep struct {
	what string
	do   func() error
	want error
}

// runSeq runs steps in order and returns the first that did not give what it must, as an
// error that is no errno: a failed step must not pass for an expected errno.
func runSeq(steps []seqStep) error {
	for _, st := range steps {
		if err := st.do(); !spec.IsErrno(err, st.want) {
			return fmt.Errorf("%s: got %s, want %s", st.what, spec.ErrnoName(err), spec.ErrnoName(st.want))
		}
	}
	return nil
}

// bindAndConnectSteps are test_bind_and_connect()'s on an IPv4 TCP port, on the calling
// thread: malformed lengths keep EINVAL, then bind and connect are denied with EACCES, or
// allowed (a connect without a listener is refused, one with a listener carries data).
// The returned cleanup closes what a failed step left open.
func bindAndConnectSteps(port int, allow bool) ([]seqStep, func()) {
	f := ipv4
	sa := f.addr(port)
	var deny, refused error = unix.EACCES, unix.EACCES
	if allow {
		deny, refused = nil, unix.ECONNREFUSED
	}
	var s, c, srv, peer int
	sock := func(dst *int) func() error {
		return func() error {
			fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				return spec.SetupFailed("socket(AF_INET, SOCK_STREAM)", err)
			}
			*dst = fd
			return nil
		}
	}
	closeFd := func(fd *int) func() error {
		return func() error {
			if *fd > 0 {
				unix.Close(*fd)
			}
			*fd = 0
			return nil
		}
	}
	cleanup := func() {
		for _, fd := range []*int{&s, &c, &srv, &peer} {
			_ = closeFd(fd)()
		}
	}
	p := fmt.Sprintf("port %d: ", port)
	steps := []seqStep{
		{what: p + "socket", do: sock(&s)},
		{what: p + "bind(addrlen 0)", do: func() error { return bindRaw(s, sa, 0) }, want: unix.EINVAL},
		{what: p + "bind(addrlen 15)", do: func() error { return bindRaw(s, sa, f.min-1) }, want: unix.EINVAL},
		{what: p + "bind", do: func() error { return bindRaw(s, sa, f.size) }, want: deny},
		{what: p + "close", do: closeFd(&s)},
		{what: p + "socket", do: sock(&c)},
		{what: p + "connect(addrlen 0)", do: func() error { return connectRaw(c, sa, 0) }, want: unix.EINVAL},
		{what: p + "connect(addrlen 15)", do: func() error { return connectRaw(c, sa, f.min-1) }, want: unix.EINVAL},
		{what: p + "connect without a listener", do: func() error { return connectRaw(c, sa, f.size) }, want: refused},
		{what: p + "close", do: closeFd(&c)},
		{what: p + "server socket", do: sock(&srv)},
		{what: p + "bind the server", do: func() error { return bindRaw(srv, sa, f.size) }, want: deny},
	}
	if !allow {
		return append(steps,
			seqStep{what: p + "client socket", do: sock(&c)},
			seqStep{what: p + "connect", do: func() error { return connectRaw(c, sa, f.size) }, want: unix.EACCES},
		), cleanup
	}
	return append(steps,
		seqStep{what: p + "listen", do: func() error { return unix.Listen(srv, 4) }},
		seqStep{what: p + "client socket", do: sock(&c)},
		seqStep{what: p + "connect", do: func() error { return connectRaw(c, sa, f.size) }},
		seqStep{what: p + "write", do: func() error { _, err := unix.Write(c, []byte(".")); return err }},
		seqStep{what: p + "accept", do: func() (err error) { peer, _, err = unix.Accept4(srv, unix.SOCK_CLOEXEC); return err }},
		seqStep{what: p + "read what the client wrote", do: func() error {
			buf := make([]byte, 1)
			n, err := unix.Read(peer, buf)
			if err != nil || n != 1 || buf[0] != '.' {
				return fmt.Errorf("read %q, %s", buf[:max(n, 0)], spec.ErrnoName(err))
			}
			return nil
		}},
	), cleanup
}
