package fs

import (
	"fmt"
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	"golang.org/x/sys/unix"

	"github.com/llconform/llconform/internal/landlock"
	"github.com/llconform/llconform/internal/sandbox"
	"github.com/llconform/llconform/internal/spec"
	"github.com/llconform/llconform/suites/fs/actions"
)

const rResolve uint64 = landlock.AccessFSResolveUnix

var resolveRight = fsRight(rResolve)

// unixClient connects a new socket of type typ to path, or for sendto sends one datagram
// to it without connecting.
func unixClient(typ int, path string, sendto bool) error {
	fd, err := unix.Socket(unix.AF_UNIX, typ|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return spec.SetupFailed("client socket(AF_UNIX)", err)
	}
	defer unix.Close(fd)
	if sendto {
		return unix.Sendto(fd, []byte("x"), 0, &unix.SockaddrUnix{Name: path})
	}
	return unix.Connect(fd, &unix.SockaddrUnix{Name: path})
}

var sockKinds = []struct {
	id     string // the spec id's part naming the kind
	name   string
	typ    int
	sendto bool
	// selftest names the kind in fs_test.c's scoped_domains tests: the server outside
	// the client's domain is their "_to_parent" case.
	selftest string
}{
	{id: "stream_connect", name: "stream connect", typ: unix.SOCK_STREAM, selftest: "unix_stream_connect"},
	{id: "seqpacket_connect", name: "seqpacket connect", typ: unix.SOCK_SEQPACKET, selftest: "unix_seqpacket_connect"},
	{id: "dgram_connect", name: "datagram connect", typ: unix.SOCK_DGRAM, selftest: "unix_dgram_connect"},
	{id: "dgram_sendto", name: "datagram sendto", typ: unix.SOCK_DGRAM, sendto: true, selftest: "unix_dgram_sendmsg"},
}

var _ = suite.Describe("pathname UNIX sockets", spec.Feature(resolveRight.Feature(), resolveRight.ABI), func() {
	BeforeEach(spec.RequireLandlock)

	for _, k := range sockKinds {
		It(fmt.Sprintf("MUST deny %s to a socket bound outside the domain with EACCES unless a rule grants RESOLVE_UNIX on its directory or on the socket", k.name), spec.ID("resolve_unix."+k.id+".denied"), selftests("scoped_domains."+k.selftest+"_to_parent", "scoped_domains."+k.selftest+"_to_parent_full"), func() {
			if !supportsOrRejected(resolveRight) {
				return
			}
			w := tree()
			sock := filepath.Join(w, "sock")
			srv, err := actions.UnixServer(k.typ, sock)
			must(err, "runner's server")
			defer unix.Close(srv)
			for _, c := range []struct {
				p    sandbox.Policy
				want error
			}{
				{p: sandbox.FS(rResolve), want: unix.EACCES},
				{p: sandbox.FS(rResolve, actions.Rule(filepath.Join(w), rResolve)), want: nil},
				{p: sandbox.FS(rResolve, actions.Rule(sock, rResolve)), want: nil},
				{p: sandbox.FS(rResolve|rRead, actions.Rule(w, rRead)), want: unix.EACCES},
			} {
				expectChecks(c.p, check{what: k.name + " to " + sock, do: func() error { return unixClient(k.typ, sock, k.sendto) }, want: c.want})
			}
			spec.EnforcedVerdict(resolveRight.Feature(), resolveRight.ABI)
		})
	}

	It("MUST allow connecting to sockets bound inside the same domain, and deny those bound in a parent domain once a nested layer handles RESOLVE_UNIX", spec.ID("resolve_unix.nested_domains"), selftests("scoped_domains.unix_stream_connect_to_parent"), func() {
		if !supportsOrRejected(resolveRight) {
			return
		}
		w := tree()
		var same, parentHandled, parentUnhandled error
		err := sandbox.OnThread(func() error {
			if err := sandbox.FS(rResolve).Enforce(); err != nil {
				return fmt.Errorf("enforce: %w", err)
			}
			srv, err := actions.UnixServer(unix.SOCK_STREAM, filepath.Join(w, "s"))
			if err != nil {
				return fmt.Errorf("server inside the domain: %w", err)
			}
			defer unix.Close(srv)
			same = unixClient(unix.SOCK_STREAM, filepath.Join(w, "s"), false)
			// A nested layer that does not handle the right leaves the server reachable.
			if err := sandbox.FS(rRead).Enforce(); err != nil {
				return fmt.Errorf("enforce a layer handling read_file: %w", err)
			}
			parentUnhandled = unixClient(unix.SOCK_STREAM, filepath.Join(w, "s"), false)
			if err := sandbox.FS(rResolve).Enforce(); err != nil {
				return fmt.Errorf("enforce a layer handling resolve_unix: %w", err)
			}
			parentHandled = unixClient(unix.SOCK_STREAM, filepath.Join(w, "s"), false)
			return nil
		})
		must(err, "run on a sandbox thread")
		spec.ExpectErr(same, nil, "resolve_unix handled: connect to a socket bound in the same domain")
		spec.ExpectErr(parentUnhandled, nil, "connect from a nested layer not handling resolve_unix to a socket bound in the parent domain")
		spec.ExpectErr(parentHandled, unix.EACCES, "connect from a nested layer handling resolve_unix to a socket bound in the parent domain")
		spec.EnforcedVerdict(resolveRight.Feature(), resolveRight.ABI)
	})

	It("MUST NOT restrict abstract sockets or socketpairs: they are scoped separately", spec.ID("resolve_unix.abstract_socketpair"), func() {
		if !supportsOrRejected(resolveRight) {
			return
		}
		name := fmt.Sprintf("@llconform-fs-%d", GinkgoRandomSeed()+int64(GinkgoParallelProcess()))
		srv, err := actions.UnixServer(unix.SOCK_STREAM, name)
		must(err, "runner's abstract server")
		defer unix.Close(srv)
		expectChecks(sandbox.FS(rResolve),
			check{what: "connect to abstract " + name, do: func() error { return unixClient(unix.SOCK_STREAM, name, false) }, want: nil},
			check{what: "socketpair", do: func() error {
				sp, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
				if err == nil {
					unix.Close(sp[0])
					unix.Close(sp[1])
				}
				return err
			}, want: nil},
		)
		spec.FeatureVerdict(resolveRight.Feature(), resolveRight.ABI)
	})

	It("MUST NOT restrict connecting to pathname sockets when RESOLVE_UNIX is unknown (below ABI 9) or not handled, even with every other right handled", spec.ID("resolve_unix.unhandled"), func() {
		w := tree()
		sock := filepath.Join(w, "sock")
		srv, err := actions.UnixServer(unix.SOCK_STREAM, sock)
		must(err, "runner's server")
		defer unix.Close(srv)
		expectChecks(sandbox.FS(allFS()&^rResolve),
			check{what: "stream connect to " + sock, do: func() error { return unixClient(unix.SOCK_STREAM, sock, false) }, want: nil})
		if !spec.Supports(resolveRight.ABI) {
			expectRightRejected(resolveRight)
		}
		spec.FeatureVerdict(resolveRight.Feature(), resolveRight.ABI)
	})
})
