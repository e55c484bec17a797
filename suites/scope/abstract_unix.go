package scope

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/sys/unix"

	"github.com/llconform/llconform/internal/sandbox"
	"github.com/llconform/llconform/internal/spec"
	"github.com/llconform/llconform/suites/scope/actions"
)

var abstractSeq atomic.Int64

// abstractName returns an abstract address unique to this run ("@" is the leading NUL).
func abstractName() string {
	return fmt.Sprintf("@llconform-scope-%d-%d", os.Getpid(), abstractSeq.Add(1))
}

// unixSendto sends a datagram from a new unconnected socket to sa.
func unixSendto(sa *unix.SockaddrUnix) error {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return spec.SetupFailed("client socket(AF_UNIX, SOCK_DGRAM)", err)
	}
	defer unix.Close(fd)
	return unix.Sendto(fd, []byte("x"), 0, sa)
}

// runnerServer binds an abstract server socket in the (unrestricted) runner.
func runnerServer(typ int) *unix.SockaddrUnix {
	GinkgoHelper()
	sa := &unix.SockaddrUnix{Name: abstractName()}
	fd, err := actions.UnixServer(typ, sa)
	Expect(err).NotTo(HaveOccurred(), "runner abstract server")
	DeferCleanup(unix.Close, fd)
	return sa
}

var _ = suite.Describe("SCOPE_ABSTRACT_UNIX_SOCKET", spec.Feature("scope.abstract_unix_socket", 6), func() {
	const feature = "scope.abstract_unix_socket"
	scoped := sandbox.Scoped(scopeUnix)

	for _, t := range actions.UnixTypes {
		t := t
		It("MUST deny connect to an abstract "+t.Name+" socket bound outside the domain with EPERM", spec.ID("abstract_unix."+t.Name+".outside_domain"), spec.Selftest("scoped_abstract_unix_test", "scoped_domains.connect_to_parent"), func() {
			if !scopeSupported(feature, scopeUnix) {
				return
			}
			sa := runnerServer(t.Typ)
			spec.ExpectErrno(sandbox.Thread(scoped, func() error { return actions.UnixConnect(t.Typ, sa) }), unix.EPERM,
				"SCOPE_ABSTRACT_UNIX_SOCKET: connect(%s) to an abstract socket of no domain", t.Name)
			spec.ExpectErrno(sandbox.Thread(actions.OtherDomain, func() error { return actions.UnixConnect(t.Typ, sa) }), nil,
				"domain without the scope: connect(%s) to an abstract socket of no domain", t.Name)
			spec.EnforcedVerdict(feature, 6)
		})

		It("MUST allow connect to an abstract "+t.Name+" socket bound in the same domain", spec.ID("abstract_unix."+t.Name+".same_domain"), spec.Selftest("scoped_abstract_unix_test", "scoped_domains.connect_to_parent"), func() {
			if !scopeSupported(feature, scopeUnix) {
				return
			}
			res := sandbox.Thread(scoped, func() error {
				sa := &unix.SockaddrUnix{Name: abstractName()}
				fd, err := actions.UnixServer(t.Typ, sa)
				if err != nil {
					return err
				}
				defer unix.Close(fd)
				return actions.UnixConnect(t.Typ, sa)
			})
			spec.ExpectErrno(res, nil, "SCOPE_ABSTRACT_UNIX_SOCKET: connect(%s) to an abstract socket bound in the same domain", t.Name)
			spec.FeatureVerdict(feature, 6)
		})
	}

	It("MUST deny sendto from an unconnected datagram socket to an abstract socket bound outside the domain with EPERM", spec.ID("abstract_unix.dgram.sendto_outside_domain"), spec.Selftest("scoped_abstract_unix_test", "datagram_sockets"), spec.Selftest("scoped_abstract_unix_test", "various_address_sockets.scoped_pathname_sockets"), func() {
		if !scopeSupported(feature, scopeUnix) {
			return
		}
		sa := runnerServer(unix.SOCK_DGRAM)
		spec.ExpectErrno(sandbox.Thread(scoped, func() error { return unixSendto(sa) }), unix.EPERM,
			"SCOPE_ABSTRACT_UNIX_SOCKET: sendto(dgram) to an abstract socket of no domain")
		spec.EnforcedVerdict(feature, 6)
	})

	It("MUST allow sending on sockets connected before the domain, and on unnamed socket pairs", spec.ID("abstract_unix.connected_before_domain"), spec.Selftest("scoped_abstract_unix_test", "datagram_sockets"), spec.Selftest("scoped_abstract_unix_test", "various_address_sockets.scoped_pathname_sockets"), func() {
		if !scopeSupported(feature, scopeUnix) {
			return
		}
		sa := runnerServer(unix.SOCK_DGRAM)
		connected, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(unix.Close, connected)
		Expect(unix.Connect(connected, sa)).To(Succeed(), "runner connect to its own abstract socket")
		spec.ExpectErrno(sandbox.Thread(scoped, func() error { _, err := unix.Write(connected, []byte("x")); return err }), nil,
			"SCOPE_ABSTRACT_UNIX_SOCKET: send on a datagram socket connected before the domain")
		spec.ExpectErrno(sandbox.Thread(scoped, func() error { return unix.Sendto(connected, []byte("x"), 0, sa) }), nil,
			"SCOPE_ABSTRACT_UNIX_SOCKET: sendto its own peer on a datagram socket connected before the domain")
		for _, t := range actions.UnixTypes {
			pair, err := unix.Socketpair(unix.AF_UNIX, t.Typ|unix.SOCK_CLOEXEC, 0)
			Expect(err).NotTo(HaveOccurred(), "socketpair(%s)", t.Name)
			DeferCleanup(unix.Close, pair[0])
			DeferCleanup(unix.Close, pair[1])
			spec.ExpectErrno(sandbox.Thread(scoped, func() error { _, err := unix.Write(pair[0], []byte("x")); return err }), nil,
				"SCOPE_ABSTRACT_UNIX_SOCKET: write on an unnamed %s socket pair made outside the domain", t.Name)
		}
		spec.FeatureVerdict(feature, 6)
	})

	It("MUST NOT restrict connect to a pathname socket bound outside the domain", spec.ID("abstract_unix.pathname_unrestricted"), spec.Selftest("scoped_abstract_unix_test", "various_address_sockets.scoped_pathname_sockets"), func() {
		if !scopeSupported(feature, scopeUnix) {
			return
		}
		for _, t := range actions.UnixTypes {
			sa := &unix.SockaddrUnix{Name: filepath.Join(GinkgoT().TempDir(), "sock")}
			fd, err := actions.UnixServer(t.Typ, sa)
			Expect(err).NotTo(HaveOccurred(), "runner pathname server")
			DeferCleanup(unix.Close, fd)
			spec.ExpectErrno(sandbox.Thread(scoped, func() error { return actions.UnixConnect(t.Typ, sa) }), nil,
				"SCOPE_ABSTRACT_UNIX_SOCKET: connect(%s) to a pathname socket of no domain", t.Name)
		}
		spec.FeatureVerdict(feature, 6)
	})

	It("MUST deny a nested scoped domain access to a socket of its parent domain, and allow it when only the parent is scoped", spec.ID("abstract_unix.nested.to_parent"), spec.Selftest("scoped_abstract_unix_test", "scoped_domains.connect_to_parent"), func() {
		if !scopeSupported(feature, scopeUnix) {
			return
		}
		// The server socket is created in the first layer; the client then enforces a
		// second layer on the same thread, becoming a child domain of the server's.
		through := func(outer, inner sandbox.Policy) sandbox.Result {
			var res sandbox.Result
			res.Setup = sandbox.OnThread(func() error {
				if err := enforce(outer); err != nil {
					return err
				}
				sa := &unix.SockaddrUnix{Name: abstractName()}
				fd, err := actions.UnixServer(unix.SOCK_STREAM, sa)
				if err != nil {
					return err
				}
				defer unix.Close(fd)
				if err := enforce(inner); err != nil {
					return err
				}
				res.Err = actions.UnixConnect(unix.SOCK_STREAM, sa)
				return nil
			})
			return res
		}
		spec.ExpectErrno(through(actions.OtherDomain, scoped), unix.EPERM, "server in an unscoped parent domain, client in a scoped child domain: connect")
		spec.ExpectErrno(through(scoped, actions.OtherDomain), nil, "server in a scoped parent domain, client in an unscoped child domain: connect")
		spec.ExpectErrno(through(scoped, scoped), unix.EPERM, "server in a scoped parent domain, client in a scoped child domain: connect")
		spec.EnforcedVerdict(feature, 6)
	})

	It("MUST deny connect to an abstract socket of a sibling domain with EPERM", spec.ID("abstract_unix.sibling"), spec.Selftest("scoped_abstract_unix_test", "scoped_domains.connect_to_parent"), spec.Selftest("scoped_abstract_unix_test", "scoped_domains.connect_to_child"), func() {
		if !scopeSupported(feature, scopeUnix) {
			return
		}
		sa := &unix.SockaddrUnix{Name: abstractName()}
		var server int
		onThread(func() error {
			if err := enforce(scoped); err != nil {
				return err
			}
			var err error
			server, err = actions.UnixServer(unix.SOCK_STREAM, sa)
			return err
		})
		DeferCleanup(unix.Close, server)
		spec.ExpectErrno(sandbox.Thread(scoped, func() error { return actions.UnixConnect(unix.SOCK_STREAM, sa) }), unix.EPERM,
			"SCOPE_ABSTRACT_UNIX_SOCKET: connect to an abstract socket of a sibling domain")
		spec.EnforcedVerdict(feature, 6)
	})

	It("MUST allow a scoped domain to connect to an abstract socket bound in a nested child domain", spec.ID("abstract_unix.nested.to_child"), spec.Selftest("scoped_abstract_unix_test", "scoped_domains.connect_to_child"), func() {
		if !scopeSupported(feature, scopeUnix) {
			return
		}
		var errs []error
		onThread(func() error {
			if err := enforce(scoped); err != nil {
				return err
			}
			// The helper inherits this thread's domain and adds its own layer.
			name := abstractName()
			pr, err := sandbox.Start(scoped, actions.AbstractServerAction, name)
			if err != nil {
				return err
			}
			line, err := bufio.NewReader(pr.Stdout).ReadString('\n')
			if err != nil || line != actions.ReadyLine {
				pr.Stdin.Close()
				res := pr.Wait()
				return fmt.Errorf("abstract-server not ready (read %q, %v): setup %v, error %v", line, err, res.Setup, res.Err)
			}
			for _, t := range actions.UnixTypes {
				errs = append(errs, actions.UnixConnect(t.Typ, &unix.SockaddrUnix{Name: name + "-" + t.Name}))
			}
			pr.Stdin.Close()
			if res := pr.Wait(); res.Setup != nil || res.Err != nil {
				return fmt.Errorf("abstract-server: setup %v, error %v", res.Setup, res.Err)
			}
			return nil
		})
		for i, t := range actions.UnixTypes {
			spec.ExpectErr(errs[i], nil, "SCOPE_ABSTRACT_UNIX_SOCKET: connect(%s) to an abstract socket of a nested child domain", t.Name)
		}
		spec.FeatureVerdict(feature, 6)
	})
})

// sandboxKind is what a process of the scoped_vs_unscoped matrix enforces
// (scoped_multiple_domain_variants.h).
type sandboxKind int

const (
	noSandbox    sandboxKind = iota
	scopeSandbox             // a domain scoping abstract UNIX sockets
	otherSandbox             // a domain scoping nothing
)

func (k sandboxKind) policy() sandbox.Policy {
	switch k {
	case scopeSandbox:
		return sandbox.Scoped(scopeUnix)
	case otherSandbox:
		return actions.OtherDomain
	}
	return sandbox.Policy{}
}

// vsVariant is one arrangement of a parent P1, its child P2 and grandchild P3: all is
// enforced before P2 is forked, parent by P1 afterwards, children by P2 before forking P3,
// child by P2 afterwards and grandChild by P3. P1 and P2 then bind abstract sockets and P3
// connects to both.
type vsVariant struct {
	name                                     string
	all, parent, children, child, grandChild sandboxKind
}

var scopedVsUnscoped = []vsVariant{
	{name: "deny_scoped", all: otherSandbox, children: scopeSandbox},
	{name: "all_scoped", all: scopeSandbox, children: scopeSandbox},
	{name: "allow_with_other_domain", all: otherSandbox, children: otherSandbox},
	{name: "allow_with_one_domain", parent: otherSandbox, child: scopeSandbox},
	{name: "allow_with_grand_parent_scoped", parent: scopeSandbox, child: otherSandbox},
	{name: "allow_with_parents_domain", parent: scopeSandbox, child: scopeSandbox},
	{name: "deny_with_self_and_grandparent_domain", parent: scopeSandbox, grandChild: scopeSandbox},
}

// runScopedVsUnscoped builds v's domains with threads, which cannot share a domain the way
// forked processes do. Every variant has one of two shapes that need no sharing: either
// nothing is enforced before a fork (all and children), so the three processes are three
// unrelated threads; or nothing is enforced after one (parent, child, grandChild), so each
// process's domain is a prefix of the next one's and one thread can stack them, binding
// P1's sockets, then P2's, then connecting as P3. It returns P3's connect outcomes
// (stream, datagram) to P2's sockets and to P1's.
func runScopedVsUnscoped(v vsVariant) (toChild, toParent [2]string) {
	GinkgoHelper()
	prefix := abstractName()
	bind := func(side string) error {
		for _, s := range actions.PeerSockets(prefix, side) {
			fd, err := actions.UnixServer(s.Typ, s.SA)
			if err != nil {
				return err
			}
			DeferCleanup(unix.Close, fd)
		}
		return nil
	}
	connect := func() {
		toChild[0], toChild[1] = actions.PeerConnect(prefix, "p2")
		toParent[0], toParent[1] = actions.PeerConnect(prefix, "p1")
	}
	switch {
	case v.all == noSandbox && v.children == noSandbox:
		onThread(func() error {
			if err := enforce(v.parent.policy()); err != nil {
				return err
			}
			return bind("p1")
		})
		onThread(func() error {
			if err := enforce(v.child.policy()); err != nil {
				return err
			}
			return bind("p2")
		})
		onThread(func() error {
			if err := enforce(v.grandChild.policy()); err != nil {
				return err
			}
			connect()
			return nil
		})
	case v.parent == noSandbox && v.child == noSandbox && v.grandChild == noSandbox:
		onThread(func() error {
			if err := enforce(v.all.policy()); err != nil {
				return err
			}
			if err := bind("p1"); err != nil {
				return err
			}
			if err := enforce(v.children.policy()); err != nil {
				return err
			}
			if err := bind("p2"); err != nil {
				return err
			}
			connect()
			return nil
		})
	default:
		Fail(fmt.Sprintf("scoped_vs_unscoped variant %s needs a domain shared across a fork, which threads cannot build", v.name))
	}
	return toChild, toParent
}

// outsideSocketVariant: the server binds a socket created either by the client, in the
// client's domain, and passed over SCM_RIGHTS, or by itself before entering its own.
type outsideSocketVariant struct {
	name        string
	childSocket bool
	t           actions.UnixType
}

var outsideSocketVariants = []outsideSocketVariant{
	{name: "allow_dgram_child", childSocket: true, t: actions.UnixTypes[1]},
	{name: "deny_dgram_server", childSocket: false, t: actions.UnixTypes[1]},
	{name: "allow_stream_child", childSocket: true, t: actions.UnixTypes[0]},
	{name: "deny_stream_server", childSocket: false, t: actions.UnixTypes[0]},
}

func sendFd(via, fd int) error {
	return unix.Sendmsg(via, []byte{0}, unix.UnixRights(fd), nil, 0)
}

func recvFd(via int) (int, error) {
	oob := make([]byte, unix.CmsgSpace(4))
	_, oobn, _, _, err := unix.Recvmsg(via, make([]byte, 1), oob, unix.MSG_CMSG_CLOEXEC)
	if err != nil {
		return -1, fmt.Errorf("recvmsg: %w", err)
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		return -1, fmt.Errorf("parse SCM_RIGHTS (%d messages): %v", len(msgs), err)
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		return -1, fmt.Errorf("parse SCM_RIGHTS (%d fds): %v", len(fds), err)
	}
	return fds[0], nil
}

var _ = suite.Describe("SCOPE_ABSTRACT_UNIX_SOCKET across domains", spec.Feature("scope.abstract_unix_socket", 6), func() {
	const feature = "scope.abstract_unix_socket"
	scoped := sandbox.Scoped(scopeUnix)

	for _, v := range scopedVsUnscoped {
		v := v
		canChild := v.grandChild != scopeSandbox
		canParent := canChild && v.children != scopeSandbox
		It(fmt.Sprintf("MUST let a grandchild connect to its parent's and grandparent's abstract sockets only as their scopes allow (%s)", v.name),
			spec.ID("abstract_unix.scoped_vs_unscoped."+v.name), spec.Selftest("scoped_abstract_unix_test", "scoped_vs_unscoped.unix_scoping"), func() {
				if !scopeSupported(feature, scopeUnix) {
					return
				}
				toChild, toParent := runScopedVsUnscoped(v)
				for i, t := range actions.UnixTypes[:2] {
					expectOutcome(toChild[i], allowedOr(canChild, unix.EPERM), "%s: grandchild connect(%s) to its parent's abstract socket", v.name, t.Name)
					expectOutcome(toParent[i], allowedOr(canParent, unix.EPERM), "%s: grandchild connect(%s) to its grandparent's abstract socket", v.name, t.Name)
				}
				if canChild && canParent {
					spec.FeatureVerdict(feature, 6)
				} else {
					spec.EnforcedVerdict(feature, 6)
				}
			})
	}

	for _, v := range outsideSocketVariants {
		v := v
		sentence := "MUST allow connect to an abstract %s socket that another domain bound but the client's domain created"
		if !v.childSocket {
			sentence = "MUST deny connect to an abstract %s socket created outside the client's domain, with EPERM"
		}
		It(fmt.Sprintf(sentence, v.t.Name), spec.ID("abstract_unix.outside_socket."+v.name),
			spec.Selftest("scoped_abstract_unix_test", "outside_socket.socket_with_different_domain"), func() {
				if !scopeSupported(feature, scopeUnix) {
					return
				}
				client, server := startWorker(), startWorker()
				defer client.stop()
				defer server.stop()
				sa := &unix.SockaddrUnix{Name: abstractName()}
				fd := -1
				Expect(client.run(func() error { return enforce(scoped) })).To(Succeed(), "client domain")
				if v.childSocket {
					pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
					Expect(err).NotTo(HaveOccurred(), "socketpair for SCM_RIGHTS")
					DeferCleanup(unix.Close, pair[0])
					DeferCleanup(unix.Close, pair[1])
					Expect(client.run(func() error {
						s, err := unix.Socket(unix.AF_UNIX, v.t.Typ|unix.SOCK_CLOEXEC, 0)
						if err != nil {
							return fmt.Errorf("socket: %w", err)
						}
						defer unix.Close(s)
						return sendFd(pair[0], s)
					})).To(Succeed(), "client creates the %s socket and sends it", v.t.Name)
					Expect(server.run(func() error {
						var err error
						fd, err = recvFd(pair[1])
						return err
					})).To(Succeed(), "server receives the socket")
				} else {
					Expect(server.run(func() error {
						var err error
						fd, err = unix.Socket(unix.AF_UNIX, v.t.Typ|unix.SOCK_CLOEXEC, 0)
						return err
					})).To(Succeed(), "server creates the %s socket", v.t.Name)
				}
				DeferCleanup(unix.Close, fd)
				Expect(server.run(func() error {
					if err := enforce(scoped); err != nil {
						return err
					}
					if err := unix.Bind(fd, sa); err != nil {
						return fmt.Errorf("bind: %w", err)
					}
					if v.t.Typ == unix.SOCK_STREAM {
						return unix.Listen(fd, 8)
					}
					return nil
				})).To(Succeed(), "server domain, bind and listen")
				var connectErr error
				Expect(client.run(func() error { connectErr = actions.UnixConnect(v.t.Typ, sa); return nil })).To(Succeed())
				if v.childSocket {
					spec.ExpectErr(connectErr, nil, "SCOPE_ABSTRACT_UNIX_SOCKET: connect(%s) to a socket the client's domain created, bound by a server in another domain", v.t.Name)
					spec.FeatureVerdict(feature, 6)
				} else {
					spec.ExpectErr(connectErr, unix.EPERM, "SCOPE_ABSTRACT_UNIX_SOCKET: connect(%s) to a socket created outside any domain, bound by a server in another domain", v.t.Name)
					spec.EnforcedVerdict(feature, 6)
				}
			})
	}

	It("MUST deny a scoped domain connecting or sending its inherited abstract sockets to their own addresses, with EPERM", spec.ID("abstract_unix.self_connect"),
		spec.Selftest("scoped_abstract_unix_test", "self_connect"), func() {
			if !scopeSupported(feature, scopeUnix) {
				return
			}
			bound := func() (int, *unix.SockaddrUnix) {
				sa := &unix.SockaddrUnix{Name: abstractName()}
				fd, err := actions.UnixServer(unix.SOCK_DGRAM, sa)
				Expect(err).NotTo(HaveOccurred(), "runner datagram socket")
				DeferCleanup(unix.Close, fd)
				return fd, sa
			}
			connected, connectedSa := bound()
			unconnected, unconnectedSa := bound()
			var errs [3]error
			onThread(func() error {
				if err := enforce(scoped); err != nil {
					return err
				}
				errs[0] = unix.Connect(connected, connectedSa)
				errs[1] = unix.Sendto(connected, []byte("x"), 0, connectedSa)
				errs[2] = unix.Sendto(unconnected, []byte("x"), 0, unconnectedSa)
				return nil
			})
			spec.ExpectErr(errs[0], unix.EPERM, "SCOPE_ABSTRACT_UNIX_SOCKET: connect a datagram socket bound outside the domain to its own address")
			spec.ExpectErr(errs[1], unix.EPERM, "SCOPE_ABSTRACT_UNIX_SOCKET: sendto from that socket to its own address")
			spec.ExpectErr(errs[2], unix.EPERM, "SCOPE_ABSTRACT_UNIX_SOCKET: sendto from another socket bound outside the domain to its own address")
			spec.EnforcedVerdict(feature, 6)
		})
})
