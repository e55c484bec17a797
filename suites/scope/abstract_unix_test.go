package scope_test

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/sys/unix"

	"github.com/llconform/llconform/internal/sandbox"
	"github.com/llconform/llconform/internal/spec"
)

func init() {
	// abstract-server: binds an abstract socket of every type, named after args[0] and
	// the type, under its policy, says "ready", and keeps them until its standard input
	// closes.
	sandbox.Register("abstract-server", func(args []string) ([]byte, error) {
		for _, t := range unixTypes {
			fd, err := unixServer(t.typ, &unix.SockaddrUnix{Name: args[0] + "-" + t.name})
			if err != nil {
				return nil, err
			}
			defer unix.Close(fd)
		}
		if _, err := os.Stdout.WriteString("ready\n"); err != nil {
			return nil, err
		}
		_, err := io.Copy(io.Discard, os.Stdin)
		return nil, err
	})
}

type unixType struct {
	name string
	typ  int
}

var unixTypes = []unixType{
	{name: "stream", typ: unix.SOCK_STREAM},
	{name: "dgram", typ: unix.SOCK_DGRAM},
	{name: "seqpacket", typ: unix.SOCK_SEQPACKET},
}

var abstractSeq atomic.Int64

// abstractName returns an abstract address unique to this run ("@" is the leading NUL).
func abstractName() string {
	return fmt.Sprintf("@llconform-scope-%d-%d", os.Getpid(), abstractSeq.Add(1))
}

// unixServer creates a UNIX socket of type typ bound to sa, listening if connection-based.
func unixServer(typ int, sa *unix.SockaddrUnix) (int, error) {
	fd, err := unix.Socket(unix.AF_UNIX, typ|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("socket: %w", err)
	}
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("bind %q: %w", sa.Name, err)
	}
	if typ != unix.SOCK_DGRAM {
		if err := unix.Listen(fd, 8); err != nil {
			unix.Close(fd)
			return -1, fmt.Errorf("listen: %w", err)
		}
	}
	return fd, nil
}

// unixConnect connects a new socket of type typ to sa and returns connect's error.
func unixConnect(typ int, sa *unix.SockaddrUnix) error {
	fd, err := unix.Socket(unix.AF_UNIX, typ|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return spec.SetupFailed("client socket(AF_UNIX)", err)
	}
	defer unix.Close(fd)
	return unix.Connect(fd, sa)
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
	fd, err := unixServer(typ, sa)
	Expect(err).NotTo(HaveOccurred(), "runner abstract server")
	DeferCleanup(unix.Close, fd)
	return sa
}

var _ = Describe("SCOPE_ABSTRACT_UNIX_SOCKET", spec.Feature("scope.abstract_unix_socket", 6), func() {
	const feature = "scope.abstract_unix_socket"
	scoped := sandbox.Scoped(scopeUnix)

	for _, t := range unixTypes {
		t := t
		It("MUST deny connect to an abstract "+t.name+" socket bound outside the domain with EPERM", spec.ID("abstract_unix."+t.name+".outside_domain"), func() {
			if !scopeSupported(feature, scopeUnix) {
				return
			}
			sa := runnerServer(t.typ)
			spec.ExpectErrno(sandbox.Thread(scoped, func() error { return unixConnect(t.typ, sa) }), unix.EPERM,
				"SCOPE_ABSTRACT_UNIX_SOCKET: connect(%s) to an abstract socket of no domain", t.name)
			spec.ExpectErrno(sandbox.Thread(otherDomain, func() error { return unixConnect(t.typ, sa) }), nil,
				"domain without the scope: connect(%s) to an abstract socket of no domain", t.name)
			spec.EnforcedVerdict(feature, 6)
		})

		It("MUST allow connect to an abstract "+t.name+" socket bound in the same domain", spec.ID("abstract_unix."+t.name+".same_domain"), func() {
			if !scopeSupported(feature, scopeUnix) {
				return
			}
			res := sandbox.Thread(scoped, func() error {
				sa := &unix.SockaddrUnix{Name: abstractName()}
				fd, err := unixServer(t.typ, sa)
				if err != nil {
					return err
				}
				defer unix.Close(fd)
				return unixConnect(t.typ, sa)
			})
			spec.ExpectErrno(res, nil, "SCOPE_ABSTRACT_UNIX_SOCKET: connect(%s) to an abstract socket bound in the same domain", t.name)
			spec.FeatureVerdict(feature, 6)
		})
	}

	It("MUST deny sendto from an unconnected datagram socket to an abstract socket bound outside the domain with EPERM", spec.ID("abstract_unix.dgram.sendto_outside_domain"), func() {
		if !scopeSupported(feature, scopeUnix) {
			return
		}
		sa := runnerServer(unix.SOCK_DGRAM)
		spec.ExpectErrno(sandbox.Thread(scoped, func() error { return unixSendto(sa) }), unix.EPERM,
			"SCOPE_ABSTRACT_UNIX_SOCKET: sendto(dgram) to an abstract socket of no domain")
		spec.EnforcedVerdict(feature, 6)
	})

	It("MUST allow sending on sockets connected before the domain, and on unnamed socket pairs", spec.ID("abstract_unix.connected_before_domain"), func() {
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
		for _, t := range unixTypes {
			pair, err := unix.Socketpair(unix.AF_UNIX, t.typ|unix.SOCK_CLOEXEC, 0)
			Expect(err).NotTo(HaveOccurred(), "socketpair(%s)", t.name)
			DeferCleanup(unix.Close, pair[0])
			DeferCleanup(unix.Close, pair[1])
			spec.ExpectErrno(sandbox.Thread(scoped, func() error { _, err := unix.Write(pair[0], []byte("x")); return err }), nil,
				"SCOPE_ABSTRACT_UNIX_SOCKET: write on an unnamed %s socket pair made outside the domain", t.name)
		}
		spec.FeatureVerdict(feature, 6)
	})

	It("MUST NOT restrict connect to a pathname socket bound outside the domain", spec.ID("abstract_unix.pathname_unrestricted"), func() {
		if !scopeSupported(feature, scopeUnix) {
			return
		}
		for _, t := range unixTypes {
			sa := &unix.SockaddrUnix{Name: filepath.Join(GinkgoT().TempDir(), "sock")}
			fd, err := unixServer(t.typ, sa)
			Expect(err).NotTo(HaveOccurred(), "runner pathname server")
			DeferCleanup(unix.Close, fd)
			spec.ExpectErrno(sandbox.Thread(scoped, func() error { return unixConnect(t.typ, sa) }), nil,
				"SCOPE_ABSTRACT_UNIX_SOCKET: connect(%s) to a pathname socket of no domain", t.name)
		}
		spec.FeatureVerdict(feature, 6)
	})

	It("MUST deny a nested scoped domain access to a socket of its parent domain, and allow it when only the parent is scoped", spec.ID("abstract_unix.nested.to_parent"), func() {
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
				fd, err := unixServer(unix.SOCK_STREAM, sa)
				if err != nil {
					return err
				}
				defer unix.Close(fd)
				if err := enforce(inner); err != nil {
					return err
				}
				res.Err = unixConnect(unix.SOCK_STREAM, sa)
				return nil
			})
			return res
		}
		spec.ExpectErrno(through(otherDomain, scoped), unix.EPERM, "server in an unscoped parent domain, client in a scoped child domain: connect")
		spec.ExpectErrno(through(scoped, otherDomain), nil, "server in a scoped parent domain, client in an unscoped child domain: connect")
		spec.ExpectErrno(through(scoped, scoped), unix.EPERM, "server in a scoped parent domain, client in a scoped child domain: connect")
		spec.EnforcedVerdict(feature, 6)
	})

	It("MUST deny connect to an abstract socket of a sibling domain with EPERM", spec.ID("abstract_unix.sibling"), func() {
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
			server, err = unixServer(unix.SOCK_STREAM, sa)
			return err
		})
		DeferCleanup(unix.Close, server)
		spec.ExpectErrno(sandbox.Thread(scoped, func() error { return unixConnect(unix.SOCK_STREAM, sa) }), unix.EPERM,
			"SCOPE_ABSTRACT_UNIX_SOCKET: connect to an abstract socket of a sibling domain")
		spec.EnforcedVerdict(feature, 6)
	})

	It("MUST allow a scoped domain to connect to an abstract socket bound in a nested child domain", spec.ID("abstract_unix.nested.to_child"), func() {
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
			pr, err := sandbox.Start(scoped, "abstract-server", name)
			if err != nil {
				return err
			}
			line, err := bufio.NewReader(pr.Stdout).ReadString('\n')
			if err != nil || line != "ready\n" {
				pr.Stdin.Close()
				res := pr.Wait()
				return fmt.Errorf("abstract-server not ready (read %q, %v): setup %v, error %v", line, err, res.Setup, res.Err)
			}
			for _, t := range unixTypes {
				errs = append(errs, unixConnect(t.typ, &unix.SockaddrUnix{Name: name + "-" + t.name}))
			}
			pr.Stdin.Close()
			if res := pr.Wait(); res.Setup != nil || res.Err != nil {
				return fmt.Errorf("abstract-server: setup %v, error %v", res.Setup, res.Err)
			}
			return nil
		})
		for i, t := range unixTypes {
			spec.ExpectErr(errs[i], nil, "SCOPE_ABSTRACT_UNIX_SOCKET: connect(%s) to an abstract socket of a nested child domain", t.name)
		}
		spec.FeatureVerdict(feature, 6)
	})
})
