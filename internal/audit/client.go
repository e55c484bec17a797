// Package audit is llconform's audit netlink client and Landlock record parser.
//
// The client reads the kernel's audit status, turns auditing on for the duration of a run,
// and receives every record the kernel emits, with its timestamp and serial. It prefers the
// read-only multicast log group (AUDIT_NLGRP_READLOG, CAP_AUDIT_READ), which never competes
// with a running audit daemon; registering as the audit daemon is an explicit option and is
// refused by the kernel (EEXIST) while another daemon is alive. Whatever the client changed
// (the enabled flag, the daemon registration) is restored on Close, on SIGINT/SIGTERM when
// asked, and, for a run killed before it could clean up, by the next Open (see StateFile).
//
// The parser turns AUDIT_LANDLOCK_ACCESS and AUDIT_LANDLOCK_DOMAIN records into typed values
// and groups records into events by serial.
package audit

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/llconform/llconform/internal/proc"
)

// Audit message types used here (include/uapi/linux/audit.h).
const (
	TypeGet            = 1000 // AUDIT_GET
	TypeSet            = 1001 // AUDIT_SET
	TypeUser           = 1005 // AUDIT_USER: a message from user space, logged as a record
	TypeListRules      = 1013 // AUDIT_LIST_RULES
	TypeSyscall        = 1300 // AUDIT_SYSCALL
	TypeEOE            = 1320 // AUDIT_EOE: end of a multi-record event
	TypeProctitle      = 1327 // AUDIT_PROCTITLE
	TypeLandlockAccess = 1423 // AUDIT_LANDLOCK_ACCESS
	TypeLandlockDomain = 1424 // AUDIT_LANDLOCK_DOMAIN
)

// Status is struct audit_status as far as every kernel with Landlock fills it (the fields
// up to backlog_wait_time; later fields are left out and the kernel accepts the shorter
// struct).
type Status struct {
	Mask            uint32
	Enabled         uint32 // 0 off, 1 on, 2 on and locked (immutable until reboot)
	Failure         uint32
	Pid             uint32 // the registered audit daemon, 0 when none
	RateLimit       uint32
	BacklogLimit    uint32
	Lost            uint32
	Backlog         uint32
	FeatureBitmap   uint32
	BacklogWaitTime uint32
}

const statusSize = int(unsafe.Sizeof(Status{}))

// AUDIT_SET mask bits.
const (
	statusEnabled      = 0x1
	statusPid          = 0x4
	statusBacklogLimit = 0x10
)

// MinBacklog is the backlog limit Enable raises a smaller one to. The kernel's default, 64
// records, is less than a burst of a few denials makes (ACCESS, DOMAIN, SYSCALL, PROCTITLE
// and EOE each): Landlock logs without sleeping, so records past the limit are lost.
const MinBacklog = 8192

// auditNlgrpReadlog is AUDIT_NLGRP_READLOG, the multicast group every record is copied to.
const auditNlgrpReadlog = 1

// DefaultStateFile is where Open records what it changed, so that a later Open can undo the
// changes of a run that was killed before its clean-up. /run is a tmpfs everywhere the
// suites run, so a reboot forgets it together with the kernel state it describes.
const DefaultStateFile = "/run/llconform/audit-state.json"

// Options say how Open connects.
type Options struct {
	// Daemon registers the client as the audit daemon (AUDIT_SET pid) instead of joining
	// the multicast group. The kernel refuses it while another daemon is registered and
	// alive; the registration ends when the client closes.
	Daemon bool
	// RestoreOnSignal restores the audit state as soon as SIGINT or SIGTERM arrives. The
	// client does not end the process: the program's own handler (Ginkgo's, in the suites)
	// does that, and Close is then a no-op.
	RestoreOnSignal bool
	// StateFile overrides DefaultStateFile; "-" disables the crash record.
	StateFile string
	// Buffer is the receive buffer size in bytes (default 4 MiB).
	Buffer int
}

// Message is one audit record as the kernel sent it.
type Message struct {
	Type   uint16
	Time   time.Time // the record's timestamp, to the millisecond
	Serial uint64    // the event's serial: records of one event share it
	Text   string    // the record body after "audit(<time>:<serial>): "
	Raw    string    // the whole text as received
}

// Client is a connection to the kernel's audit subsystem.
type Client struct {
	opts  Options
	ctl   int      // control socket: AUDIT_GET, AUDIT_SET, AUDIT_LIST_RULES
	rx    *os.File // record socket: the multicast group, or the daemon registration
	start Status   // the status found at Open

	mu        sync.Mutex
	changed   bool // enabled flag set by this client, to put back
	prevEnab  uint32
	backlog   bool // backlog limit raised by this client, to put back
	prevLimit uint32
	daemon    bool // registered as the audit daemon
	restored  bool
	msgs      []Message
	overruns  int // receive buffer overflows: records were lost
	bad       []string
	readErr   error
	notify    chan struct{}
	sigCh     chan os.Signal
	readerEnd chan struct{}
	syncs     int
}

// ErrUnavailable wraps the reasons the audit netlink cannot be used at all: not built
// (EPROTONOSUPPORT), no privilege (EPERM), not in the initial namespaces (ECONNREFUSED).
var ErrUnavailable = errors.New("audit netlink unavailable")

// Open connects to the audit subsystem and starts receiving records. It changes nothing:
// call Enable to turn auditing on.
func Open(opts Options) (*Client, error) {
	if opts.StateFile == "" {
		opts.StateFile = DefaultStateFile
	}
	if opts.Buffer == 0 {
		opts.Buffer = 4 << 20
	}
	ctl, err := openControl()
	if err != nil {
		return nil, err
	}
	c := &Client{opts: opts, ctl: ctl, notify: make(chan struct{}), readerEnd: make(chan struct{})}
	if err := c.recoverCrashed(); err != nil {
		unix.Close(ctl)
		return nil, err
	}
	if c.start, err = c.Status(); err != nil {
		unix.Close(ctl)
		return nil, fmt.Errorf("%w: AUDIT_GET: %w", ErrUnavailable, err)
	}
	if err := c.openReceiver(); err != nil {
		unix.Close(ctl)
		return nil, err
	}
	go c.read()
	if opts.RestoreOnSignal {
		c.sigCh = make(chan os.Signal, 1)
		signal.Notify(c.sigCh, syscall.SIGINT, syscall.SIGTERM)
		go func(ch chan os.Signal) {
			if _, ok := <-ch; ok {
				_ = c.restore()
			}
		}(c.sigCh)
	}
	return c, nil
}

func (c *Client) openReceiver() error {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.NETLINK_AUDIT)
	if err != nil {
		return fmt.Errorf("%w: socket(NETLINK_AUDIT): %w", ErrUnavailable, err)
	}
	// A larger buffer than the default keeps bursts (a nested-domain spec frees 16 domains
	// at once) from overflowing it; SO_RCVBUFFORCE needs CAP_NET_ADMIN, so fall back.
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, c.opts.Buffer) != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, c.opts.Buffer)
	}
	if c.opts.Daemon {
		err = c.registerDaemon(fd)
	} else if err = unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: 1 << (auditNlgrpReadlog - 1)}); err != nil {
		err = fmt.Errorf("%w: join the audit multicast group (needs CAP_AUDIT_READ): %w", ErrUnavailable, err)
	}
	if err != nil {
		unix.Close(fd)
		return err
	}
	c.rx = os.NewFile(uintptr(fd), "audit-netlink")
	return nil
}

// registerDaemon makes fd's socket the audit daemon's. The kernel refuses (EEXIST) while
// another registered daemon is alive, so a running auditd is never displaced.
func (c *Client) registerDaemon(fd int) error {
	s := Status{Mask: statusPid, Pid: uint32(os.Getpid())}
	if err := request(fd, TypeSet, structBytes(&s), nil); err != nil {
		if errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("register as audit daemon: another daemon (pid %d) is running: %w", c.start.Pid, err)
		}
		return fmt.Errorf("register as audit daemon: %w", err)
	}
	c.mu.Lock()
	c.daemon = true
	c.mu.Unlock()
	return nil
}

// Status returns the kernel's audit status (AUDIT_GET).
func (c *Client) Status() (Status, error) { return getStatus(c.ctl) }

func getStatus(fd int) (Status, error) {
	var s Status
	err := request(fd, TypeGet, nil, func(typ uint16, payload []byte) bool {
		if typ != TypeGet {
			return false
		}
		copy(structBytes(&s), payload)
		return true
	})
	return s, err
}

// Start returns the status found when the client opened.
func (c *Client) Start() Status { return c.start }

// Enable turns auditing on if it is off and raises the backlog limit to MinBacklog if it
// is lower; Close puts both back.
func (c *Client) Enable() error {
	cur, err := c.Status()
	if err != nil {
		return fmt.Errorf("AUDIT_GET: %w", err)
	}
	if cur.BacklogLimit != 0 && cur.BacklogLimit < MinBacklog {
		c.mu.Lock()
		if !c.backlog {
			c.prevLimit, c.backlog = cur.BacklogLimit, true
			c.saveState()
		}
		err := setStatus(c.ctl, Status{Mask: statusBacklogLimit, BacklogLimit: MinBacklog})
		c.mu.Unlock()
		if err != nil {
			return fmt.Errorf("AUDIT_SET backlog_limit=%d: %w", MinBacklog, err)
		}
	}
	return c.setEnabledFrom(cur, true)
}

func setStatus(fd int, s Status) error {
	return request(fd, TypeSet, structBytes(&s), nil)
}

// SetEnabled sets the enabled flag; Close puts back the value found before the first change.
// It fails with EPERM when the configuration is locked (enabled=2) and differs.
func (c *Client) SetEnabled(on bool) error {
	cur, err := c.Status()
	if err != nil {
		return fmt.Errorf("AUDIT_GET: %w", err)
	}
	return c.setEnabledFrom(cur, on)
}

// setEnabledFrom is SetEnabled with the status already read (Enable reads it for the
// backlog limit too).
func (c *Client) setEnabledFrom(cur Status, on bool) error {
	want := uint32(0)
	if on {
		want = 1
	}
	if cur.Enabled == want || (on && cur.Enabled == 2) {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.restored {
		return errors.New("audit client already restored (closed or interrupted)")
	}
	if !c.changed {
		c.prevEnab = cur.Enabled
		c.changed = true
		c.saveState()
	}
	if err := c.setEnabled(want); err != nil {
		return fmt.Errorf("AUDIT_SET enabled=%d: %w", want, err)
	}
	return nil
}

func (c *Client) setEnabled(v uint32) error {
	s := Status{Mask: statusEnabled, Enabled: v}
	return request(c.ctl, TypeSet, structBytes(&s), nil)
}

// Rules returns the number of audit rules loaded. A rule left behind by an interrupted
// program (an exclude rule, say) can drop the records a spec waits for.
func (c *Client) Rules() (int, error) {
	n := 0
	err := request(c.ctl, TypeListRules, nil, func(typ uint16, _ []byte) bool {
		if typ == TypeListRules {
			n++
		}
		return false // the dump ends with NLMSG_DONE
	})
	return n, err
}

// Mark returns the position of the next record to arrive, for Since and Wait.
func (c *Client) Mark() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.msgs)
}

// Since returns the records received since mark.
func (c *Client) Since(mark int) []Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Message(nil), c.msgs[mark:]...)
}

// Health reports what may make records missing: receive buffer overflows, records that
// could not be read, the reader's end.
func (c *Client) Health() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	if c.overruns > 0 {
		errs = append(errs, fmt.Errorf("%d receive buffer overflows: records were lost", c.overruns))
	}
	for _, b := range c.bad {
		errs = append(errs, fmt.Errorf("unparsable record: %s", b))
	}
	if c.readErr != nil {
		errs = append(errs, c.readErr)
	}
	if s, err := c.Status(); err == nil && s.Lost != c.start.Lost {
		errs = append(errs, fmt.Errorf("the kernel lost %d records since the client opened (backlog limit %d)", s.Lost-c.start.Lost, s.BacklogLimit))
	}
	return errors.Join(errs...)
}

// Diagnose describes what decides whether records reach the client, for the message of a
// wait that timed out: the kernel's audit status now and at Open, the rules loaded, how
// the client receives, and what it received.
func (c *Client) Diagnose() string {
	var b strings.Builder
	b.WriteString("audit state: ")
	if s, err := c.Status(); err != nil {
		fmt.Fprintf(&b, "AUDIT_GET failed: %v", err)
	} else {
		fmt.Fprintf(&b, "enabled=%d (at open %d) daemon pid=%d rate_limit=%d backlog=%d/%d lost=%d (%+d since open) failure=%d",
			s.Enabled, c.start.Enabled, s.Pid, s.RateLimit, s.Backlog, s.BacklogLimit, s.Lost, int64(s.Lost)-int64(c.start.Lost), s.Failure)
	}
	if n, err := c.Rules(); err != nil {
		fmt.Fprintf(&b, "; listing rules failed: %v", err)
	} else {
		fmt.Fprintf(&b, "; %d rules loaded", n)
	}
	mode := "the read-only multicast group (AUDIT_NLGRP_READLOG)"
	c.mu.Lock()
	if c.daemon {
		mode = "registration as the audit daemon"
	}
	n := len(c.msgs)
	c.mu.Unlock()
	fmt.Fprintf(&b, "; receiving through %s; %d records received since open", mode, n)
	if err := c.Health(); err != nil {
		fmt.Fprintf(&b, "; %v", err)
	}
	return b.String()
}

// Wait waits until done, called with the records received since mark, returns true, and
// returns those records. It returns them with an error when timeout passes first.
func (c *Client) Wait(mark int, timeout time.Duration, done func([]Message) bool) ([]Message, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		c.mu.Lock()
		msgs := append([]Message(nil), c.msgs[mark:]...)
		notify, readErr := c.notify, c.readErr
		c.mu.Unlock()
		if done(msgs) {
			return msgs, nil
		}
		if readErr != nil {
			return msgs, readErr
		}
		select {
		case <-notify:
		case <-deadline.C:
			return msgs, fmt.Errorf("timed out after %v (%d records received meanwhile)", timeout, len(msgs))
		}
	}
}

// Sync makes sure every record the kernel queued before the call has been received: it
// logs a user message (AUDIT_USER, needs CAP_AUDIT_WRITE) and waits for its record, which
// the kernel's single record queue delivers after all the earlier ones. Specs that expect no
// record use it instead of sleeping.
func (c *Client) Sync(timeout time.Duration) error {
	c.mu.Lock()
	c.syncs++
	token := fmt.Sprintf("llconform-sync pid=%d n=%d", os.Getpid(), c.syncs)
	c.mu.Unlock()
	mark := c.Mark()
	if err := request(c.ctl, TypeUser, append([]byte(token), 0), nil); err != nil {
		return fmt.Errorf("send AUDIT_USER: %w", err)
	}
	quoted := "'" + token + "'"
	_, err := c.Wait(mark, timeout, func(msgs []Message) bool {
		for _, m := range msgs {
			if m.Type == TypeUser && strings.Contains(m.Text, quoted) {
				return true
			}
		}
		return false
	})
	if err != nil {
		return fmt.Errorf("wait for the AUDIT_USER record %q: %w", token, err)
	}
	return nil
}

// Close restores what the client changed and closes its sockets.
func (c *Client) Close() error {
	err := c.restore()
	if c.sigCh != nil {
		signal.Stop(c.sigCh)
		close(c.sigCh)
	}
	if c.rx != nil {
		c.rx.Close()
		<-c.readerEnd
	}
	unix.Close(c.ctl)
	return err
}

// restore puts back the backlog limit and the enabled flag and ends the daemon
// registration. It runs once, from Close or from the signal handler, whichever comes first.
func (c *Client) restore() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.restored {
		return nil
	}
	c.restored = true
	var errs []error
	if c.daemon {
		s := Status{Mask: statusPid}
		if err := request(c.ctl, TypeSet, structBytes(&s), nil); err != nil {
			errs = append(errs, fmt.Errorf("unregister audit daemon: %w", err))
		}
		c.daemon = false
	}
	if c.backlog {
		if err := setStatus(c.ctl, Status{Mask: statusBacklogLimit, BacklogLimit: c.prevLimit}); err != nil {
			errs = append(errs, fmt.Errorf("restore audit backlog_limit=%d: %w", c.prevLimit, err))
		}
		c.backlog = false
	}
	if c.changed {
		if err := c.setEnabled(c.prevEnab); err != nil {
			errs = append(errs, fmt.Errorf("restore audit enabled=%d: %w", c.prevEnab, err))
		}
		c.changed = false
	}
	if len(errs) == 0 {
		c.removeState()
	}
	return errors.Join(errs...)
}

// state is what the crash record holds: who changed the audit configuration, and what
// each changed field held before (absent when the field was not changed).
type state struct {
	Pid         int     `json:"pid"`
	PrevEnabled *uint32 `json:"prev_enabled,omitempty"`
	PrevBacklog uint32  `json:"prev_backlog_limit,omitempty"`
}

// saveState records the changes made so far, before the next one is made; it is best
// effort, as the record only helps a later run clean up after a killed one. Callers hold
// c.mu.
func (c *Client) saveState() {
	if c.opts.StateFile == "-" {
		return
	}
	st := state{Pid: os.Getpid()}
	if c.changed {
		st.PrevEnabled = &c.prevEnab
	}
	if c.backlog {
		st.PrevBacklog = c.prevLimit
	}
	b, _ := json.Marshal(st)
	if os.MkdirAll(filepath.Dir(c.opts.StateFile), 0o700) == nil {
		_ = os.WriteFile(c.opts.StateFile, b, 0o600)
	}
}

// readState reads a crash record; ok is false when there is none or it is unreadable.
func readState(path string) (st state, ok bool) {
	b, err := os.ReadFile(path)
	if err != nil || json.Unmarshal(b, &st) != nil || st.Pid <= 0 {
		return state{}, false
	}
	return st, true
}

func (c *Client) removeState() {
	if c.opts.StateFile != "-" {
		_ = os.Remove(c.opts.StateFile)
	}
}

// recoverCrashed undoes the changes recorded by a client whose process is gone: it left
// auditing on with nobody reading, which eventually stalls every process that logs, and a
// backlog limit the administrator did not choose.
func (c *Client) recoverCrashed() error {
	if c.opts.StateFile == "-" {
		return nil
	}
	st, ok := readState(c.opts.StateFile)
	if !ok {
		c.removeState()
		return nil
	}
	if st.Pid != os.Getpid() && proc.Alive(st.Pid) {
		return nil // its owner is alive and will restore it
	}
	if st.PrevBacklog != 0 {
		if err := setStatus(c.ctl, Status{Mask: statusBacklogLimit, BacklogLimit: st.PrevBacklog}); err != nil {
			return fmt.Errorf("restore audit backlog_limit=%d left by killed process %d: %w", st.PrevBacklog, st.Pid, err)
		}
	}
	if st.PrevEnabled != nil {
		if err := c.setEnabled(*st.PrevEnabled); err != nil {
			return fmt.Errorf("restore audit enabled=%d left by killed process %d: %w", *st.PrevEnabled, st.Pid, err)
		}
	}
	c.removeState()
	return nil
}

// read receives records until the socket closes.
func (c *Client) read() {
	defer close(c.readerEnd)
	rc, err := c.rx.SyscallConn()
	if err != nil {
		c.fail(err)
		return
	}
	buf := make([]byte, 1<<16)
	for {
		var n int
		var from unix.Sockaddr
		var rerr error
		err := rc.Read(func(fd uintptr) bool {
			n, from, rerr = unix.Recvfrom(int(fd), buf, 0)
			return rerr != unix.EAGAIN
		})
		if err != nil {
			if !errors.Is(err, os.ErrClosed) {
				c.fail(err)
			}
			return
		}
		if errors.Is(rerr, unix.EINTR) {
			continue
		}
		if errors.Is(rerr, unix.ENOBUFS) {
			c.mu.Lock()
			c.overruns++
			c.mu.Unlock()
			continue
		}
		if rerr != nil {
			c.fail(fmt.Errorf("receive audit records: %w", rerr))
			return
		}
		// Only the kernel (port 0) speaks for audit; anything else is ignored.
		if nl, ok := from.(*unix.SockaddrNetlink); !ok || nl.Pid != 0 {
			continue
		}
		c.deliver(buf[:n])
	}
}

func (c *Client) fail(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.readErr = fmt.Errorf("audit reader: %w", err)
	close(c.notify)
	c.notify = make(chan struct{})
}

func (c *Client) deliver(b []byte) {
	var got []Message
	var bad []string
	for len(b) >= unix.NLMSG_HDRLEN {
		l := int(binary.NativeEndian.Uint32(b[0:4]))
		typ := binary.NativeEndian.Uint16(b[4:6])
		if l < unix.NLMSG_HDRLEN || l > len(b) {
			// Audit sets nlmsg_len to the header plus text in some kernels and to the
			// whole datagram in others: take what is there.
			l = len(b)
		}
		payload := b[unix.NLMSG_HDRLEN:l]
		if typ >= TypeGet { // every audit message type; below are netlink control messages
			m, err := ParseMessage(typ, string(trimNul(payload)))
			if err != nil {
				bad = append(bad, err.Error())
			} else {
				got = append(got, m)
			}
		}
		al := (l + unix.NLMSG_ALIGNTO - 1) &^ (unix.NLMSG_ALIGNTO - 1)
		if al >= len(b) {
			break
		}
		b = b[al:]
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.msgs = append(c.msgs, got...)
	c.bad = append(c.bad, bad...)
	close(c.notify)
	c.notify = make(chan struct{})
}

func trimNul(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == 0 || b[len(b)-1] == '\n') {
		b = b[:len(b)-1]
	}
	return b
}

func structBytes(s *Status) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(s)), statusSize)
}

// request sends one message on fd with NLM_F_ACK and reads replies until the kernel's
// acknowledgement (or NLMSG_DONE), passing other replies to reply; reply returning true
// ends the exchange early, for requests whose answer comes before the acknowledgement.
func request(fd int, typ uint16, payload []byte, reply func(typ uint16, payload []byte) bool) error {
	seq := uint32(time.Now().UnixNano())
	msg := make([]byte, unix.NLMSG_HDRLEN+len(payload))
	binary.NativeEndian.PutUint32(msg[0:4], uint32(len(msg)))
	binary.NativeEndian.PutUint16(msg[4:6], typ)
	binary.NativeEndian.PutUint16(msg[6:8], unix.NLM_F_REQUEST|unix.NLM_F_ACK)
	binary.NativeEndian.PutUint32(msg[8:12], seq)
	copy(msg[unix.NLMSG_HDRLEN:], payload)
	// A socket with a receive timeout returns EINTR when a signal (the Go runtime's
	// preemption signal among them) arrives, whatever SA_RESTART says: retry.
	var err error = unix.EINTR
	for errors.Is(err, unix.EINTR) {
		err = unix.Sendto(fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK})
	}
	if err != nil {
		return fmt.Errorf("send audit request %d: %w", typ, err)
	}
	buf := make([]byte, 1<<16)
	for {
		n, from, err := unix.Recvfrom(fd, buf, 0)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("receive reply to audit request %d: %w", typ, err)
		}
		if nl, ok := from.(*unix.SockaddrNetlink); !ok || nl.Pid != 0 {
			continue
		}
		b := buf[:n]
		for len(b) >= unix.NLMSG_HDRLEN {
			l := int(binary.NativeEndian.Uint32(b[0:4]))
			rtyp := binary.NativeEndian.Uint16(b[4:6])
			rseq := binary.NativeEndian.Uint32(b[8:12])
			if l < unix.NLMSG_HDRLEN || l > len(b) {
				return fmt.Errorf("audit reply %d: bad length %d of %d", rtyp, l, len(b))
			}
			body := b[unix.NLMSG_HDRLEN:l]
			if rseq == seq || rseq == 0 {
				switch rtyp {
				case unix.NLMSG_ERROR:
					if len(body) < 4 {
						return fmt.Errorf("audit request %d: short error reply", typ)
					}
					if e := int32(binary.NativeEndian.Uint32(body[0:4])); e != 0 {
						return unix.Errno(-e)
					}
					if reply == nil {
						return nil
					}
					// The acknowledgement of a request with a separate answer may
					// come first (AUDIT_GET answers, then acknowledges, or the other
					// way round depending on the kernel): keep reading for it.
					if typ == TypeListRules {
						break
					}
					if typ != TypeGet {
						return nil
					}
				case unix.NLMSG_DONE:
					return nil
				default:
					if reply != nil && reply(rtyp, body) {
						return nil
					}
				}
			}
			al := (l + unix.NLMSG_ALIGNTO - 1) &^ (unix.NLMSG_ALIGNTO - 1)
			if al >= len(b) {
				break
			}
			b = b[al:]
		}
	}
}
