package net

import (
	"fmt"

	. "github.com/onsi/ginkgo/v2"
	"golang.org/x/sys/unix"

	"github.com/llconform/llconform/internal/landlock"
	"github.com/llconform/llconform/internal/sandbox"
	"github.com/llconform/llconform/internal/spec"
)

// inNetns runs fn on a fresh thread, discarded afterwards, that has its own network
// namespace with the loopback interface up: specs that need fixed ports (1023, 1024) cannot
// collide there with anything else on the machine, and the namespace's
// ip_unprivileged_port_start is the default 1024 whatever the machine's is.
func inNetns(fn func() error) error {
	return sandbox.OnThread(func() error {
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			return spec.SetupFailed("unshare(CLONE_NEWNET)", err)
		}
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return spec.SetupFailed("socket to bring lo up", err)
		}
		defer unix.Close(fd)
		ifr, err := unix.NewIfreq("lo")
		if err != nil {
			return fmt.Errorf("ifreq for lo: %w", err)
		}
		if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
			return spec.SetupFailed("SIOCGIFFLAGS(lo)", err)
		}
		ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
		if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
			return spec.SetupFailed("SIOCSIFFLAGS(lo, IFF_UP)", err)
		}
		return fn()
	})
}

// setBindService raises or drops CAP_NET_BIND_SERVICE in the calling thread's effective
// set; it stays in the permitted set, so it can be raised again.
func setBindService(on bool) error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return spec.SetupFailed("capget", err)
	}
	const bit = 1 << unix.CAP_NET_BIND_SERVICE
	if data[0].Permitted&bit == 0 {
		return spec.SetupFailed("CAP_NET_BIND_SERVICE is not permitted", unix.EPERM)
	}
	if on {
		data[0].Effective |= bit
	} else {
		data[0].Effective &^= bit
	}
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return spec.SetupFailed("capset", err)
	}
	return nil
}

var _ = suite.Describe("ports below 1024", func() {
	type protoCase struct {
		name       string // in spec ids and messages: "tcp" or "udp"
		typ        int
		bind, conn uint64
		feature    string
		abi        int
	}
	protos := []protoCase{
		{name: "tcp", typ: unix.SOCK_STREAM, bind: bindTCP, conn: connectTCP, feature: "net.bind_tcp", abi: 4},
		{name: "udp", typ: unix.SOCK_DGRAM, bind: bindUDP, conn: sendUDP, feature: "net.bind_udp", abi: 10},
	}
	for _, pc := range protos {
		for _, f := range families {
			pc, f := pc, f
			It(fmt.Sprintf("MUST allow %s bind and connect on ports 1023 and 1024 by rule, keep the system's CAP_NET_BIND_SERVICE check below 1024, and deny port 1022 without a rule even with the capability", f.name+" "+pc.name),
				spec.Feature(pc.feature, pc.abi), spec.Needs("root"), spec.ID("port_specific.bind_connect_1023."+pc.name+"."+f.id()),
				spec.Selftest("net_test", "port_specific.bind_connect_1023"), func() {
					if !netSupported(pc.feature, pc.abi, pc.bind|pc.conn) {
						return
					}
					spec.RequireRoot()
					rights := pc.bind | pc.conn
					// The client's own port: UDP checks a connect's implicit bind, so the
					// client binds this one, allowed, first (as the selftest's cli1).
					const clientPort = 4096
					ports := []sandbox.PortRule{{Port: 1023, Access: rights}, {Port: 1024, Access: rights}}
					if pc.typ == unix.SOCK_DGRAM {
						ports = append(ports, sandbox.PortRule{Port: clientPort, Access: pc.bind})
					}
					p := sandbox.Policy{Layers: []sandbox.Layer{{Attr: landlock.RulesetAttr{HandledAccessNet: rights}, Ports: ports}}}
					rules := fmt.Sprintf("%s handled, rules for ports 1023 and 1024 (and %d, bind only, for UDP)", spec.Bits(landlock.KindNet, rights), clientPort)
					err := inNetns(func() error {
						type step struct {
							what string
							do   func() error
							want error
						}
						var server, client, other int
						sock := func(dst *int) func() error {
							return func() error {
								fd, err := unix.Socket(f.domain, pc.typ|unix.SOCK_CLOEXEC, 0)
								*dst = fd
								if err != nil {
									return spec.SetupFailed(fmt.Sprintf("socket(%s, %s)", f.name, pc.name), err)
								}
								return nil
							}
						}
						listen := func() error {
							if pc.typ == unix.SOCK_STREAM {
								return unix.Listen(server, 4)
							}
							return nil
						}
						clientBind := func() error {
							if pc.typ == unix.SOCK_DGRAM {
								return bind(client, f, clientPort)
							}
							return nil
						}
						closeAll := func() error {
							for _, fd := range []int{server, client, other} {
								if fd > 0 {
									unix.Close(fd)
								}
							}
							server, client, other = 0, 0, 0
							return nil
						}
						steps := []step{
							{what: "enforce the policy", do: p.Enforce},
							{what: "drop CAP_NET_BIND_SERVICE", do: func() error { return setBindService(false) }},
							{what: "server socket", do: sock(&server)},
							{what: "bind(port 1023) without CAP_NET_BIND_SERVICE (the system denies)", do: func() error { return bind(server, f, 1023) }, want: unix.EACCES},
							{what: "raise CAP_NET_BIND_SERVICE", do: func() error { return setBindService(true) }},
							{what: "bind(port 1023) with CAP_NET_BIND_SERVICE", do: func() error { return bind(server, f, 1023) }},
							{what: "socket for port 1022", do: sock(&other)},
							{what: "bind(port 1022, no rule) with CAP_NET_BIND_SERVICE (Landlock denies)", do: func() error { return bind(other, f, 1022) }, want: unix.EACCES},
							{what: "drop CAP_NET_BIND_SERVICE again", do: func() error { return setBindService(false) }},
							{what: "listen on port 1023", do: listen},
							{what: "client socket", do: sock(&client)},
							{what: fmt.Sprintf("client bind(port %d) (UDP only)", clientPort), do: clientBind},
							{what: "connect(port 1023)", do: func() error { return connect(client, f, 1023) }},
							{what: "close the sockets", do: closeAll},
							{what: "server socket", do: sock(&server)},
							{what: "bind(port 1024)", do: func() error { return bind(server, f, 1024) }},
							{what: "listen on port 1024", do: listen},
							{what: "client socket", do: sock(&client)},
							{what: fmt.Sprintf("client bind(port %d) (UDP only)", clientPort), do: clientBind},
							{what: "connect(port 1024)", do: func() error { return connect(client, f, 1024) }},
							{what: "close the sockets", do: closeAll},
						}
						defer closeAll()
						for _, st := range steps {
							if err := st.do(); !spec.IsErrno(err, st.want) {
								// %v: a failed step must not pass for an expected errno.
								return fmt.Errorf("%s: got %v, want %s", st.what, spec.ErrnoName(err), spec.ErrnoName(st.want))
							}
						}
						return nil
					})
					spec.ExpectErr(err, nil, "%s, in a fresh network namespace: %s", rules, f.name+" "+pc.name)
					spec.EnforcedVerdict(pc.feature, pc.abi)
				})
		}
	}
})
