package audit

import (
	"os"
	"strings"
	"testing"
)

// loadCapture reads testdata/host-6.18.txt: records captured on a 6.18 kernel (ABI 7), one
// per line as "<type> <text as received>".
func loadCapture(t *testing.T) []Message {
	t.Helper()
	return loadFile(t, "testdata/host-6.18.txt")
}

func loadFile(t *testing.T, name string) []Message {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	var msgs []Message
	for _, line := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		typ, text, _ := strings.Cut(line, " ")
		var n uint16
		for _, c := range typ {
			n = n*10 + uint16(c-'0')
		}
		m, err := ParseMessage(n, text)
		if err != nil {
			t.Fatalf("capture line %q: %v", line, err)
		}
		msgs = append(msgs, m)
	}
	return msgs
}

func TestParseMessageStamp(t *testing.T) {
	m, err := ParseMessage(TypeLandlockDomain, "audit(1767225600.042:17): domain=1a status=deallocated denials=0")
	if err != nil {
		t.Fatal(err)
	}
	if m.Serial != 17 || m.Time.Unix() != 1767225600 || m.Time.Nanosecond() != 42_000_000 || m.Text != "domain=1a status=deallocated denials=0" {
		t.Errorf("got %+v", m)
	}
	for _, bad := range []string{
		"domain=1a status=deallocated denials=0",
		"audit(1767225600:17): domain=1a",
		"audit(1767225600.42:17): domain=1a",
		"audit(1767225600.042:): domain=1a",
		"audit(1767225600.042:17):domain=1a",
	} {
		if _, err := ParseMessage(TypeLandlockDomain, bad); err == nil {
			t.Errorf("ParseMessage(%q) accepted a bad stamp", bad)
		}
	}
}

func TestUntrusted(t *testing.T) {
	for _, c := range []struct {
		in   string
		want string
		hex  bool
		bad  bool
	}{
		{`"/etc/passwd"`, "/etc/passwd", false, false},
		{`""`, "", false, false},
		{`2F746D702F6120622263`, `/tmp/a b"c`, true, false},
		{`<too_long>`, "<too_long>", false, false},
		{`2f746d70`, "", false, true},        // audit writes upper-case hex
		{`2F7`, "", false, true},             // odd length
		{`"a b"`, "", false, true},           // a space is hex-encoded, never quoted
		{`/etc/passwd`, "", false, true},     // neither quoted nor hex
		{`"unterminated`, "", false, true},   // no closing quote
		{"\"tab\there\"", "", false, true},   // control byte inside quotes
		{"\"caf\xc3\xa9\"", "", false, true}, // non-ASCII inside quotes
	} {
		s, err := ParseUntrusted(c.in)
		if c.bad {
			if err == nil {
				t.Errorf("ParseUntrusted(%s) = %+v, want an error", c.in, s)
			}
			continue
		}
		if err != nil || s.Value != c.want || s.Hex != c.hex {
			t.Errorf("ParseUntrusted(%s) = %+v, %v; want %q hex=%v", c.in, s, err, c.want, c.hex)
		}
		if got := Encoded(s.Value); c.in != "<too_long>" && got != c.in {
			t.Errorf("Encoded(%q) = %s, want %s", s.Value, got, c.in)
		}
	}
}

func TestFields(t *testing.T) {
	f, err := Fields(`domain=1 blockers=fs.read_file path="/a" ino=3`)
	if err != nil || len(f) != 4 || f[2].Value != `"/a"` {
		t.Fatalf("Fields = %+v, %v", f, err)
	}
	for _, bad := range []string{
		`domain=1  blockers=x`,
		`domain=1 domain=2`,
		`domain=1 blockers`,
		`=1`,
		`domain=1 `,
		`path="/a"ino=3`,
	} {
		if f, err := Fields(bad); err == nil {
			t.Errorf("Fields(%q) = %+v, want an error", bad, f)
		}
	}
}

func TestParseAccess(t *testing.T) {
	for _, c := range []struct {
		body  string
		check func(Access) bool
	}{
		{`domain=14558c507 blockers=fs.write_file,fs.read_file path="/etc/passwd" dev="vda" ino=737`, func(a Access) bool {
			return a.Domain == 0x14558c507 && a.BlockerList() == "fs.write_file,fs.read_file" &&
				a.Path.Value == "/etc/passwd" && a.Dev.Value == "vda" && a.HasIno && a.Ino == 737
		}},
		// Field order beyond domain and blockers is free.
		{`domain=1a blockers=fs.read_file ino=5 dev="tmpfs" path="/x"`, func(a Access) bool {
			return a.Ino == 5 && a.Dev.Value == "tmpfs" && a.Path.Value == "/x" && a.Order[2] == "ino"
		}},
		{`domain=1a blockers=scope.signal opid=4242 ocomm="audit.test"`, func(a Access) bool {
			return a.OPid == 4242 && a.OComm.Value == "audit.test"
		}},
		{`domain=1a blockers=ptrace opid=1 ocomm=612062`, func(a Access) bool {
			return a.Blockers[0] == "ptrace" && a.OComm.Value == "a b" && a.OComm.Hex
		}},
		{`domain=1a blockers=net.bind_tcp saddr=127.0.0.1 src=4242`, func(a Access) bool {
			return a.SAddr == "127.0.0.1" && a.Src == 4242
		}},
		{`domain=1a blockers=net.connect_tcp daddr=::1 dest=80`, func(a Access) bool {
			return a.DAddr == "::1" && a.Dest == 80
		}},
		{`domain=1a blockers=scope.abstract_unix_socket path=006C6C`, func(a Access) bool {
			return a.Path.Value == "\x00ll" && a.Path.Hex
		}},
		{`domain=1a blockers=fs.ioctl_dev path="/dev/null" dev="devtmpfs" ino=4 ioctlcmd=0x5401`, func(a Access) bool {
			return a.IoctlCmd == "0x5401"
		}},
		{`domain=1a blockers=fs.change_topology name="/" dev="tmpfs" ino=1`, func(a Access) bool {
			return a.Name.Value == "/"
		}},
		{`domain=1a blockers=fs.read_file future=yes`, func(a Access) bool { return a.Other["future"] == "yes" }},
	} {
		a, err := ParseAccess(c.body)
		if err != nil {
			t.Errorf("ParseAccess(%q): %v", c.body, err)
			continue
		}
		if !c.check(a) {
			t.Errorf("ParseAccess(%q) = %+v", c.body, a)
		}
	}
	for _, bad := range []string{
		`blockers=fs.read_file domain=1a`,                 // domain first
		`domain=1A blockers=fs.read_file`,                 // lower-case hex
		`domain=0x1a blockers=fs.read_file`,               // no prefix
		`domain=0 blockers=fs.read_file`,                  // never zero
		`domain=1a blockers=fs.read_file,`,                // empty blocker
		`domain=1a blockers=FS.read_file`,                 // bad blocker
		`domain=1a blockers=fs.read_file path=/etc`,       // unquoted path
		`domain=1a blockers=fs.read_file ino=-1`,          // bad number
		`domain=1a blockers=fs.read_file ino=007`,         // leading zeros
		`domain=1a blockers=net.bind_tcp saddr=localhost`, // not an address
		`domain=1a blockers=net.bind_tcp src=70000`,       // not a port
		`domain=1a blockers=scope.signal opid=1 opid=2`,   // duplicate
		`domain=11111111111111111 blockers=fs.read_file`,  // wider than 64 bits
	} {
		if a, err := ParseAccess(bad); err == nil {
			t.Errorf("ParseAccess(%q) = %+v, want an error", bad, a)
		}
	}
}

func TestParseDomain(t *testing.T) {
	d, err := ParseDomain(`domain=14558c507 status=allocated mode=enforcing pid=22896 uid=0 exe="/tmp/ws-audit/denybin" comm="denybin"`)
	if err != nil || d.ID != 0x14558c507 || d.Status != Allocated || d.Mode != "enforcing" || d.Pid != 22896 || d.UID != 0 || d.Exe.Value != "/tmp/ws-audit/denybin" || d.Comm.Value != "denybin" {
		t.Errorf("allocated: %+v, %v", d, err)
	}
	// Any order after domain and status; hex-encoded exe.
	d, err = ParseDomain(`domain=2b status=allocated comm="x" exe=2F6120622F78 uid=1000 pid=7 mode=enforcing`)
	if err != nil || d.Exe.Value != "/a b/x" || d.UID != 1000 {
		t.Errorf("allocated, reordered: %+v, %v", d, err)
	}
	d, err = ParseDomain(`domain=14558c507 status=deallocated denials=2`)
	if err != nil || d.Status != Deallocated || d.Denials != 2 {
		t.Errorf("deallocated: %+v, %v", d, err)
	}
	for _, bad := range []string{
		`domain=1a status=allocated mode=enforcing pid=1 uid=0 exe="/x"`,                    // no comm
		`domain=1a status=allocated mode=enforcing pid=1 uid=0 exe="/x" comm="x" denials=1`, // extra
		`domain=1a status=deallocated denials=1 pid=1`,                                      // extra
		`domain=1a status=deallocated`,                                                      // no count
		`domain=1a status=freed denials=1`,                                                  // unknown status
		`status=deallocated domain=1a denials=1`,                                            // order
		`domain=1a status=allocated mode=enforcing pid=1 uid=0 exe=/x comm="x"`,             // unquoted exe
		`domain=1a status=allocated mode=Enforcing pid=1 uid=0 exe="/x" comm="x"`,           // mode word
		`domain=1a status=allocated mode=enforcing pid=1 uid=4294967296 exe="/x" comm="x"`,  // uid range
		`domain=1a status=deallocated denials=-1`,                                           // count
	} {
		if d, err := ParseDomain(bad); err == nil {
			t.Errorf("ParseDomain(%q) = %+v, want an error", bad, d)
		}
	}
}

func TestGroupCapture(t *testing.T) {
	msgs := loadCapture(t)
	log, err := NewLog(msgs)
	if err != nil {
		t.Fatal(err)
	}
	if len(log.Events) != 3 {
		t.Fatalf("got %d events, want 3 (two denials, one deallocation)", len(log.Events))
	}
	first := log.Events[0]
	if len(first.Access) != 1 || len(first.Domains) != 1 || first.Syscall == nil || first.Proctitle == "" {
		t.Fatalf("first event: %+v", first)
	}
	if pid, ok := first.Pid(); !ok || pid != first.Domains[0].Pid {
		t.Errorf("first event pid %d/%v, domain record pid %d", pid, ok, first.Domains[0].Pid)
	}
	if first.Proctitle != "/tmp/ws-audit/denybin\x00fs\x000" {
		t.Errorf("proctitle %q", first.Proctitle)
	}
	if len(log.Events[1].Domains) != 0 {
		t.Errorf("second denial of a domain logged its domain again: %+v", log.Events[1].Domains)
	}
	id := first.Access[0].Domain
	if got := log.AllocatedBy(first.Domains[0].Pid); len(got) != 1 || got[0] != id {
		t.Errorf("AllocatedBy = %v, want [%v]", got, id)
	}
	if got := log.OfDomain(id); len(got) != 2 || got[1].Path.Value != `/tmp/a b"c` {
		t.Errorf("OfDomain = %+v", got)
	}
	if d, ok := log.Deallocated(id); !ok || d.Denials != 2 {
		t.Errorf("Deallocated = %+v, %v", d, ok)
	}
	// Grouping does not depend on arrival order.
	rev := append([]Message(nil), msgs...)
	for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
		rev[i], rev[j] = rev[j], rev[i]
	}
	log2, err := NewLog(rev)
	if err != nil || len(log2.Events) != 3 || log2.Events[0].Serial != first.Serial {
		t.Errorf("reversed: %v", err)
	}
	// A malformed Landlock record is an error, not a skipped line.
	bad := append(msgs, Message{Type: TypeLandlockAccess, Serial: 9, Text: "domain=zz blockers=fs.read_file"})
	if _, err := NewLog(bad); err == nil {
		t.Error("NewLog accepted a malformed ACCESS record")
	}
}

// A Grouper fed the stream in pieces, one record at a time, ends with what Group makes of
// all of it.
func TestGrouperIncremental(t *testing.T) {
	msgs := loadCapture(t)
	whole, err := NewLog(msgs)
	if err != nil {
		t.Fatal(err)
	}
	var g Grouper
	for i := range msgs {
		if err := g.Add(msgs[i : i+1]); err != nil {
			t.Fatal(err)
		}
	}
	got := g.Log()
	if len(got.Events) != len(whole.Events) {
		t.Fatalf("%d events, want %d", len(got.Events), len(whole.Events))
	}
	for i, e := range got.Events {
		w := whole.Events[i]
		if e.Serial != w.Serial || len(e.Records) != len(w.Records) || len(e.Access) != len(w.Access) || len(e.Domains) != len(w.Domains) || e.Proctitle != w.Proctitle {
			t.Errorf("event %d: %+v, want %+v", i, e, w)
		}
	}
}

func TestDomainWithFirstDenial(t *testing.T) {
	without := func(msgs []Message, drop func(Message) bool) []Message {
		var out []Message
		for _, m := range msgs {
			if !drop(m) {
				out = append(out, m)
			}
		}
		return out
	}
	isAllocated := func(m Message) bool {
		return m.Type == TypeLandlockDomain && strings.Contains(m.Text, "status=allocated")
	}
	host := loadCapture(t)
	guest := loadFile(t, "testdata/guest-7.3-nocontext.txt")
	// The host's denying task had an audit context: one event. Restamped with a serial of
	// its own, the allocated record no longer belongs to the event its SYSCALL record closes.
	restamped := append([]Message(nil), host...)
	for i, m := range restamped {
		if isAllocated(m) {
			restamped[i].Serial = 100
		}
	}
	// In the guest the two records of a domain's first denial follow each other.
	swapped := append([]Message(nil), guest[:2]...)
	swapped[0].Serial, swapped[1].Serial = swapped[1].Serial, swapped[0].Serial
	// A deallocation logged from the work queue between the two records of a denial, and
	// a denial of another domain there instead.
	dealloc := Message{Type: TypeLandlockDomain, Text: "domain=1888d5b00 status=deallocated denials=1"}
	otherDenial := Message{Type: TypeLandlockAccess, Text: "domain=1888d5b01 blockers=scope.signal opid=1 ocomm=\"init\""}
	interleave := func(m Message) []Message {
		out := []Message{guest[0], m}
		out[1].Serial = guest[0].Serial + 1
		for _, g := range guest[1:] {
			g.Serial++
			out = append(out, g)
		}
		return out
	}
	for _, c := range []struct {
		name string
		msgs []Message
		id   DomainID
		ok   bool
	}{
		{"guest, a deallocation in between", interleave(dealloc), 0x1888d5b9a, true},
		{"guest, another denial in between", interleave(otherDenial), 0x1888d5b9a, false},
		{"host, one event", host, 0x14558c695, true},
		{"host, allocated record stamped apart", restamped, 0x14558c695, false},
		{"host, no allocated record", without(host, isAllocated), 0x14558c695, false},
		{"guest, consecutive records", guest, 0x1888d5b9a, true},
		{"guest, second domain", guest, 0x1888d5b9e, true},
		{"guest, allocated record before the denial", swapped, 0x1888d5b9a, false},
		{"guest, no allocated record", without(guest, isAllocated), 0x1888d5b9a, false},
		{"unknown domain", guest, 0x1234, false},
	} {
		l, err := NewLog(c.msgs)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if err := l.DomainWithFirstDenial(c.id); (err == nil) != c.ok {
			t.Errorf("%s: DomainWithFirstDenial(%v) = %v, want ok=%v", c.name, c.id, err, c.ok)
		}
	}
}
