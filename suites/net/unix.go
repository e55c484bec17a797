package net

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/sys/unix"

	"github.com/llconform/llconform/internal/sandbox"
	"github.com/llconform/llconform/internal/spec"
)

// The AF_UNIX variants of net_test's protocol fixture: Landlock's port rights are about TCP
// and UDP, so under a policy handling them (with no rule at all, the strictest) every bind,
// connect and send of a UNIX socket, well formed or not, must give what the socket layer
// gives without Landlock. Each spec runs the same steps twice, first on an unrestricted
// thread (which pins down the socket layer's answers on this kernel) and then under the
// policy, each time on fresh names.

// unixAddrKind is how a UNIX socket address is named.
type unixAddrKind struct {
	id string // "abstract" or "pathname", in spec ids
	// addr returns the sockaddr_un of name n, unique under base, as the kernel reads it.
	addr func(base, n string) []byte
}

var unixAddrKinds = []unixAddrKind{
	// The selftests' own kind: a leading NUL and no terminating one (SUN_LEN).
	{id: "abstract", addr: func(base, n string) []byte {
		return sockaddrUnix("\x00llconform-net-" + filepath.Base(base) + "-" + n)
	}},
	{id: "pathname", addr: func(base, n string) []byte { return sockaddrUnix(filepath.Join(base, n) + "\x00") }},
}

// sockaddrUnix lays out a sockaddr_un with exactly path's bytes after sun_family.
func sockaddrUnix(path string) []byte {
	b := make([]byte, 2+len(path))
	binary.NativeEndian.PutUint16(b, unix.AF_UNIX)
	copy(b[2:], path)
	return b
}

// unixFamilyLen is offsetof(struct sockaddr_un, sun_path): the selftests' "minimal"
// address length, which bind() takes as a request to autobind and connect() rejects.
const unixFamilyLen = 2

// unixStep is one system call of the selftests' AF_UNIX variants and what it must give.
type unixStep struct {
	selftest string // the protocol test it comes from
	what     string
	do       func() error
	want     error
}

// unixRound holds one round's sockets: those opened before the domain, by unixSteps, and
// those the steps open under it; close closes them all.
type unixRound struct {
	typ int
	fds []int
}

func (r *unixRound) socket(flags int) (int, error) {
	fd, err := unix.Socket(unix.AF_UNIX, r.typ|unix.SOCK_CLOEXEC|flags, 0)
	if err != nil {
		return -1, spec.SetupFailed("socket(AF_UNIX)", err)
	}
	r.fds = append(r.fds, fd)
	return fd, nil
}

func (r *unixRound) close() {
	for _, fd := range r.fds {
		unix.Close(fd)
	}
	r.fds = nil
}

// server opens a socket bound to sa, listening if it is a stream one; a listener never
// blocks, so that a connection that did not come fails a step instead of hanging it.
func (r *unixRound) server(sa []byte) (int, error) {
	fd, err := r.socket(unix.SOCK_NONBLOCK)
	if err != nil {
		return -1, err
	}
	if err := bindRaw(fd, sa, len(sa)); err != nil {
		return -1, spec.SetupFailed("bind of a server", err)
	}
	if r.typ == unix.SOCK_STREAM {
		if err := unix.Listen(fd, 8); err != nil {
			return -1, spec.SetupFailed("listen", err)
		}
	}
	return fd, nil
}

// expectRecv reads what a step sent: UNIX sockets deliver before the send returns, so the
// read never waits. Its failure is no errno, so that it can never pass for an expected one.
func expectRecv(fd int, want string) error {
	buf := make([]byte, len(want)+1)
	// A raw recvfrom without a source address: an unnamed sender has none to decode.
	got, _, e := unix.Syscall6(unix.SYS_RECVFROM, uintptr(fd), ptr(buf), uintptr(len(buf)), unix.MSG_DONTWAIT, 0, 0)
	if e != 0 {
		return fmt.Errorf("the peer received nothing: recv gave %s", spec.ErrnoName(e))
	}
	n := int(got)
	if string(buf[:n]) != want {
		return fmt.Errorf("the peer received %q, want %q", buf[:n], want)
	}
	return nil
}

// acceptOne accepts the pending connection on a listener; it fails rather than waits.
func (r *unixRound) acceptOne(listener int) (int, error) {
	fd, _, err := unix.Accept4(listener, unix.SOCK_CLOEXEC)
	if err != nil {
		return -1, fmt.Errorf("no pending connection: accept gave %s", spec.ErrnoName(err))
	}
	r.fds = append(r.fds, fd)
	return fd, nil
}

// unixSteps prepares, unrestricted, what the selftests set up before their domain (servers
// and clients connected before it) and returns the steps to run afterwards, under the
// domain or not. name gives the round's addresses.
func unixSteps(r *unixRound, name func(n string) []byte) []unixStep {
	GinkgoHelper()
	stream := r.typ == unix.SOCK_STREAM
	// streamOr picks what a step gives on a stream socket and on a datagram one.
	streamOr := func(s, d error) error {
		if stream {
			return s
		}
		return d
	}
	must := func(fd int, err error) int {
		GinkgoHelper()
		Expect(err).NotTo(HaveOccurred(), "unrestricted set-up of AF_UNIX sockets")
		return fd
	}
	// AF_UNSPEC addresses as the selftests lay them out: a sockaddr_in in a
	// sockaddr_storage, with INADDR_ANY or the loopback address.
	unspecAny := append(any4(unix.AF_UNSPEC, 1024), make([]byte, storageSize-ipv4.size)...)
	unspecLoop := append(ipv4.addrAs(unix.AF_UNSPEC, 1024), make([]byte, storageSize-ipv4.size)...)

	aBind, aConn, aFast := name("bind"), name("conn"), name("fast")
	must(r.server(aConn))
	preConn := must(r.socket(0))
	Expect(connectRaw(preConn, aConn, len(aConn))).To(Succeed(), "unrestricted connect of an AF_UNIX client")
	fastSrv := must(r.server(aFast))

	var s, c, srv, acc int
	open := func(dst *int) func() error {
		return func() (err error) { *dst, err = r.socket(0); return err }
	}
	steps := []unixStep{
		// test_bind_and_connect() of protocol.bind and protocol.connect.
		{selftest: "protocol.bind", what: "socket", do: open(&s)},
		{selftest: "protocol.bind", what: "bind(addrlen 0)", do: func() error { return bindRaw(s, aBind, 0) }, want: unix.EINVAL},
		{selftest: "protocol.bind", what: "bind(addrlen 1)", do: func() error { return bindRaw(s, aBind, unixFamilyLen-1) }, want: unix.EINVAL},
		{selftest: "protocol.bind", what: "bind(sun_family only), an autobind", do: func() error { return bindRaw(s, aBind, unixFamilyLen) }},
		{selftest: "protocol.connect", what: "socket", do: open(&c)},
		{selftest: "protocol.connect", what: "connect(addrlen 0)", do: func() error { return connectRaw(c, aBind, 0) }, want: unix.EINVAL},
		{selftest: "protocol.connect", what: "connect(addrlen 1)", do: func() error { return connectRaw(c, aBind, unixFamilyLen-1) }, want: unix.EINVAL},
		{selftest: "protocol.connect", what: "connect(sun_family only)", do: func() error { return connectRaw(c, aBind, unixFamilyLen) }, want: unix.EINVAL},
		{selftest: "protocol.bind", what: "socket", do: func() (err error) { srv, err = r.socket(unix.SOCK_NONBLOCK); return err }},
		{selftest: "protocol.bind", what: "bind", do: func() error { return bindRaw(srv, aBind, len(aBind)) }},
		{selftest: "protocol.bind", what: "listen (stream only)", do: func() error {
			if stream {
				return unix.Listen(srv, 8)
			}
			return nil
		}},
		{selftest: "protocol.connect", what: "connect to it", do: func() error { return connectRaw(c, aBind, len(aBind)) }},
		{selftest: "protocol.connect", what: "write to it", do: func() error { _, err := unix.Write(c, []byte(".")); return err }},
		{selftest: "protocol.connect", what: "receive the write", do: func() (err error) {
			acc = srv
			if stream {
				if acc, err = r.acceptOne(srv); err != nil {
					return err
				}
			}
			return expectRecv(acc, ".")
		}},

		{selftest: "protocol.bind_unspec", what: "socket", do: open(&s)},
		{selftest: "protocol.bind_unspec", what: "bind(AF_UNSPEC, addrlen 1)", do: func() error { return bindRaw(s, unspecAny, 1) }, want: unix.EINVAL},
		{selftest: "protocol.bind_unspec", what: "bind(AF_UNSPEC INADDR_ANY)", do: func() error { return bindRaw(s, unspecAny, len(unspecAny)) }, want: unix.EINVAL},
		{selftest: "protocol.bind_unspec", what: "bind(AF_UNSPEC loopback)", do: func() error { return bindRaw(s, unspecLoop, len(unspecLoop)) }, want: unix.EINVAL},

		// A client connected before the domain: a datagram one changes or dissolves its
		// peer, a stream one stays connected.
		{selftest: "protocol.connect_unspec", what: "connect again, connected before the domain", do: func() error { return connectRaw(preConn, aConn, len(aConn)) },
			want: streamOr(unix.EISCONN, nil)},
		{selftest: "protocol.connect_unspec", what: "connect(AF_UNSPEC INADDR_ANY) to disconnect", do: func() error { return connectRaw(preConn, unspecAny, len(unspecAny)) },
			want: streamOr(unix.EINVAL, nil)},
		{selftest: "protocol.connect_unspec", what: "connect to reconnect", do: func() error { return connectRaw(preConn, aConn, len(aConn)) },
			want: streamOr(unix.EISCONN, nil)},
		{selftest: "protocol.connect_unspec", what: "connect(AF_UNSPEC, addrlen 1)", do: func() error { return connectRaw(preConn, unspecAny, 1) }, want: unix.EINVAL},
		{selftest: "protocol.connect_unspec", what: "connect(AF_UNSPEC, sa_family only) to disconnect", do: func() error { return connectRaw(preConn, unspecAny, 2) },
			want: streamOr(unix.EINVAL, nil)},

		{selftest: "protocol.tcp_fastopen", what: "socket", do: open(&c)},
		{selftest: "protocol.tcp_fastopen", what: "sendto(no address, MSG_FASTOPEN)", do: func() error { return sendtoFlags(c, nil, nil, 0, unix.MSG_FASTOPEN) }, want: unix.ENOTCONN},
		{selftest: "protocol.tcp_fastopen", what: "sendto(the server, MSG_FASTOPEN)", do: func() error { return sendtoFlags(c, []byte("A"), aFast, len(aFast), unix.MSG_FASTOPEN) },
			want: streamOr(unix.EOPNOTSUPP, nil)},
	}
	if !stream {
		steps = append(steps, unixStep{selftest: "protocol.tcp_fastopen", what: "receive the datagram", do: func() error { return expectRecv(fastSrv, "A") }})
		return append(steps, unixDgramSteps(r, name, must)...)
	}
	return append(steps, unixStreamSteps(r, name, must)...)
}

// unixStreamSteps are protocol.sendmsg_stream's: a stream socket ignores no address it is
// given, it refuses one.
func unixStreamSteps(r *unixRound, name func(string) []byte, must func(int, error) int) []unixStep {
	GinkgoHelper()
	a0, a1 := name("send0"), name("send1")
	srv0 := must(r.server(a0))
	must(r.server(a1))
	var c, acc int
	const st = "protocol.sendmsg_stream"
	return []unixStep{
		{selftest: st, what: "socket", do: func() (err error) { c, err = r.socket(0); return err }},
		{selftest: st, what: "send without address, unconnected", do: func() error { return sendtoRaw(c, []byte("A"), nil, 0) }, want: unix.ENOTCONN},
		{selftest: st, what: "sendto(truncated address), unconnected", do: func() error { return sendtoRaw(c, []byte("B"), a0, unixFamilyLen-1) }, want: unix.EOPNOTSUPP},
		{selftest: st, what: "connect", do: func() error { return connectRaw(c, a0, len(a0)) }},
		{selftest: st, what: "accept", do: func() (err error) { acc, err = r.acceptOne(srv0); return err }},
		{selftest: st, what: "send without address, connected", do: func() error { return sendtoRaw(c, []byte("C"), nil, 0) }},
		{selftest: st, what: "receive it", do: func() error { return expectRecv(acc, "C") }},
		{selftest: st, what: "sendto(truncated address), connected", do: func() error { return sendtoRaw(c, []byte("D"), a0, unixFamilyLen-1) }, want: unix.EISCONN},
		{selftest: st, what: "sendto(another server), connected", do: func() error { return sendtoRaw(c, []byte("E"), a1, len(a1)) }, want: unix.EISCONN},
	}
}

// unixDgramSteps are protocol.sendmsg_dgram's and protocol.sendmsg_unspec's.
func unixDgramSteps(r *unixRound, name func(string) []byte, must func(int, error) int) []unixStep {
	GinkgoHelper()
	a0, a1 := name("send0"), name("send1")
	srv0, srv1 := must(r.server(a0)), must(r.server(a1))
	pre := must(r.socket(0))
	Expect(connectRaw(pre, a0, len(a0))).To(Succeed(), "unrestricted connect of an AF_UNIX datagram client")
	unspec0 := append(ipv4.addrAs(unix.AF_UNSPEC, 1024), make([]byte, storageSize-ipv4.size)...)
	unspec1 := append(ipv4.addrAs(unix.AF_UNSPEC, 4096), make([]byte, storageSize-ipv4.size)...)
	var c, u int
	const dg, us = "protocol.sendmsg_dgram", "protocol.sendmsg_unspec"
	// sends are what test_sendmsg() checks of one client towards one server: a truncated
	// address is refused, a full one delivers.
	sends := func(client *int, who string) []unixStep {
		var out []unixStep
		for _, t := range []struct {
			sa  []byte
			srv int
			n   string
		}{{a0, srv0, "server 0"}, {a1, srv1, "server 1"}} {
			t := t
			out = append(out,
				unixStep{selftest: dg, what: who + ": sendto(" + t.n + ", truncated address)", do: func() error { return sendtoRaw(*client, []byte("A"), t.sa, unixFamilyLen-1) }, want: unix.EINVAL},
				unixStep{selftest: dg, what: who + ": sendto(" + t.n + ")", do: func() error { return sendtoRaw(*client, []byte("B"), t.sa, len(t.sa)) }},
				unixStep{selftest: dg, what: who + ": receive it on " + t.n, do: func() error { return expectRecv(t.srv, "B") }},
			)
		}
		return out
	}
	steps := []unixStep{
		{selftest: dg, what: "send without address, connected before the domain", do: func() error { return sendtoRaw(pre, []byte("B"), nil, 0) }},
		{selftest: dg, what: "receive it", do: func() error { return expectRecv(srv0, "B") }},
	}
	steps = append(steps, sends(&pre, "connected before the domain")...)
	steps = append(steps,
		unixStep{selftest: dg, what: "socket", do: func() (err error) { c, err = r.socket(0); return err }},
		unixStep{selftest: dg, what: "send without address, unconnected", do: func() error { return sendtoRaw(c, []byte("B"), nil, 0) }, want: unix.ENOTCONN},
	)
	steps = append(steps, sends(&c, "unconnected")...)
	return append(steps,
		unixStep{selftest: us, what: "socket", do: func() (err error) { u, err = r.socket(0); return err }},
		unixStep{selftest: us, what: "sendto(AF_UNSPEC, addrlen 1)", do: func() error { return sendtoRaw(u, []byte("A"), unspec0, 1) }, want: unix.EINVAL},
		unixStep{selftest: us, what: "sendto(AF_UNSPEC loopback port 1024)", do: func() error { return sendtoRaw(u, []byte("B"), unspec0, len(unspec0)) }, want: unix.EINVAL},
		unixStep{selftest: us, what: "sendto(AF_UNSPEC loopback port 4096)", do: func() error { return sendtoRaw(u, []byte("C"), unspec1, len(unspec1)) }, want: unix.EINVAL},
		unixStep{selftest: us, what: "connect to server 0", do: func() error { return connectRaw(u, a0, len(a0)) }},
		unixStep{selftest: us, what: "sendto(AF_UNSPEC, sa_family only), connected", do: func() error { return sendtoRaw(u, []byte("D"), unspec0, 2) }, want: unix.EINVAL},
	)
}

// runUnixSteps runs steps in order (runSeq), naming each with its selftest.
func runUnixSteps(steps []unixStep) error {
	seq := make([]seqStep, len(steps))
	for i, st := range steps {
		seq[i] = seqStep{what: st.selftest + ": " + st.what, do: st.do, want: st.want}
	}
	return runSeq(seq)
}

var _ = suite.Describe("AF_UNIX sockets under TCP and UDP policies", func() {
	type unixPolicy struct {
		sandbox string // the selftest variant's prefix
		name    string // for messages
		rights  uint64
		feature string
		abi     int
	}
	policies := []unixPolicy{
		{sandbox: "tcp_sandbox", name: "BIND_TCP|CONNECT_TCP", rights: tcpRights, feature: "net.bind_tcp", abi: 4},
		{sandbox: "udp_sandbox", name: "BIND_UDP|CONNECT_SEND_UDP", rights: udpRights, feature: "net.bind_udp", abi: 10},
	}
	types := []struct {
		variant string // the selftest variant's suffix
		typ     int
	}{{variant: "unix_stream", typ: unix.SOCK_STREAM}, {variant: "unix_datagram", typ: unix.SOCK_DGRAM}}
	for _, pol := range policies {
		for _, t := range types {
			for _, kind := range unixAddrKinds {
				pol, t, kind := pol, t, kind
				labels := Labels{}
				tests := []string{"protocol.bind", "protocol.connect", "protocol.bind_unspec", "protocol.connect_unspec", "protocol.tcp_fastopen"}
				if t.typ == unix.SOCK_STREAM {
					tests = append(tests, "protocol.sendmsg_stream")
				} else {
					tests = append(tests, "protocol.sendmsg_dgram", "protocol.sendmsg_unspec")
				}
				for _, st := range tests {
					labels = append(labels, spec.Selftest("net_test", st)...)
				}
				It(fmt.Sprintf("MUST leave %s sockets with %s addresses alone under a %s policy with no rule: bind, connect, sends and AF_UNSPEC give the socket layer's own results",
					t.variant, kind.id, pol.name), spec.Feature(pol.feature, pol.abi), spec.ID("protocol."+pol.sandbox+"_with_"+t.variant+"."+kind.id), labels, func() {
					if !netSupported(pol.feature, pol.abi, pol.rights) {
						return
					}
					base, err := os.MkdirTemp("", "llc-net-")
					Expect(err).NotTo(HaveOccurred())
					DeferCleanup(os.RemoveAll, base)
					round := func(prefix string, p sandbox.Policy) sandbox.Result {
						GinkgoHelper()
						r := &unixRound{typ: t.typ}
						defer r.close()
						steps := unixSteps(r, func(n string) []byte { return kind.addr(base, prefix+n) })
						return sandbox.Thread(p, func() error { return runUnixSteps(steps) })
					}
					spec.ExpectErrno(round("free-", sandbox.Policy{}), nil, "without Landlock, %s sockets with %s addresses", t.variant, kind.id)
					spec.ExpectErrno(round("ll-", sandbox.Net(pol.rights)), nil, "%s handled, no rule: %s sockets with %s addresses", pol.name, t.variant, kind.id)
					spec.FeatureVerdict(pol.feature, pol.abi)
				})
			}
		}
	}
})
