package tracefs

import (
	"bytes"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/llconform/llconform/internal/landlock"
)

// testdata/landlock-7.3.4.trace and .formats were recorded from Debian's 7.3.4+deb13-cloud-amd64
// kernel (suites/trace under QEMU): lines of an instance's trace_pipe, as the suite read
// them, and the format files of the 14 events.

func recorded(t *testing.T) []Event {
	t.Helper()
	b, err := os.ReadFile("testdata/landlock-7.3.4.trace")
	if err != nil {
		t.Fatal(err)
	}
	tr, err := ParseTrace(b)
	if err != nil {
		t.Fatalf("ParseTrace: %v", err)
	}
	evs, err := LandlockEventsOf(tr)
	if err != nil {
		t.Fatalf("LandlockEventsOf: %v", err)
	}
	if len(evs) != len(tr.Lines) || len(evs) != bytes.Count(b, []byte("\n")) {
		t.Fatalf("%d events of %d lines", len(evs), len(tr.Lines))
	}
	return evs
}

func TestRecordedEvents(t *testing.T) {
	evs := recorded(t)
	seen := map[string]int{}
	for _, e := range evs {
		seen[e.Name]++
	}
	for _, ev := range LandlockEvents {
		if seen[ev.Name] == 0 {
			t.Errorf("no recorded %s line", ev.Event())
		}
	}
	find := func(name, key, val string) Event {
		t.Helper()
		for _, e := range evs {
			if e.Name == name && e.Get(key) == val {
				return e
			}
		}
		t.Fatalf("no %s with %s=%s", name, key, val)
		return Event{}
	}

	e := find("create_domain", "domain", "107877285")
	if e.Task != "trace.test" || e.PID != 100 || e.CPU != 0 || e.Time != "15.563778" {
		t.Errorf("prefix = %q %d %d %q", e.Task, e.PID, e.CPU, e.Time)
	}
	if p, _ := e.Hex("parent"); p != 0x10787726f {
		t.Errorf("parent = %x", p)
	}
	if r, err := e.Ruleset("ruleset"); err != nil || r != (Ruleset{ID: 0x10787727a, Version: 0}) || r.String() != "10787727a.0" {
		t.Errorf("ruleset = %v, %v", r, err)
	}

	// A task name with a tab: the prefix keeps it raw, the event escapes it.
	e = find("deny_ptrace", "tracee_pid", "181")
	if e.Task != "llc\ttracee\x7f" || e.PID != 181 {
		t.Errorf("task %q pid %d", e.Task, e.PID)
	}
	if u, err := e.Untrusted("tracee_comm"); err != nil || string(u.Bytes) != "llc\ttracee\x7f" || u.Truncated {
		t.Errorf("tracee_comm = %q, %v", u.Bytes, err)
	}
	e = find("deny_scope_signal", "target_pid", "142")
	if u, _ := e.Untrusted("target_comm"); string(u.Bytes) != "llc target=U\xc3\xa9" {
		t.Errorf("target_comm = %q", u.Bytes)
	}
	e = find("deny_scope_abstract_unix_socket", "peer_pid", "0")
	if u, _ := e.Untrusted("sun_path"); string(u.Bytes) != "llconform trace=\x00END" {
		t.Errorf("sun_path = %q", u.Bytes)
	}
	if u, _ := find("deny_scope_abstract_unix_socket", "sun_path", "").Untrusted("sun_path"); len(u.Bytes) != 0 {
		t.Errorf("empty sun_path = %q", u.Bytes)
	}
	e = find("deny_access_fs", "blockers", "write_file|read_file")
	if m, err := e.Mask(landlock.KindFS, "blockers"); err != nil || m != landlock.AccessFSWriteFile|landlock.AccessFSReadFile {
		t.Errorf("blockers = %#x, %v", m, err)
	}
	if ma, mi, err := e.Dev("dev"); err != nil || ma != 0 || mi != 28 {
		t.Errorf("dev = %d:%d, %v", ma, mi, err)
	}
	e = find("deny_access_net", "port", "-1")
	if p, err := e.Int("port"); err != nil || p != -1 {
		t.Errorf("port = %d, %v", p, err)
	}
	e = find("enforce_domain", "complete", "0")
	pw, err1 := e.Bool("process_wide")
	nnp, err2 := e.Bool("no_new_privs")
	if !pw || nnp || err1 != nil || err2 != nil {
		t.Errorf("a TSYNC sibling's event: process_wide %v no_new_privs %v (%v %v)", pw, nnp, err1, err2)
	}
	if _, err := (Event{Line: Line{Fields: []Field{{"b", "2"}}}}).Bool("b"); err == nil {
		t.Error("Bool took 2")
	}
	e = find("check_rule_inode", "grants", "{}")
	if g, err := e.Grants(landlock.KindFS, "grants"); err != nil || !reflect.DeepEqual(g, []uint64{0}) {
		t.Errorf("grants {} = %v, %v", g, err)
	}
	if n, err := find("free_domain", "denials", "3").Uint("denials"); err != nil || n != 3 {
		t.Errorf("denials = %d, %v", n, err)
	}
}

// The kernel's truncation of an overflowing path, as recorded: eleven levels of 240 spaces
// below /tmp/llconform-trace-660644864.
func TestRecordedTruncation(t *testing.T) {
	var e Event
	for _, ev := range recorded(t) {
		if ev.Name == "deny_access_fs" && strings.HasSuffix(ev.Get("path"), TruncationMarker) {
			e = ev
		}
	}
	if e.Name == "" {
		t.Fatal("no truncated path recorded")
	}
	path := "/tmp/llconform-trace-660644864" + strings.Repeat("/"+strings.Repeat(" ", 240), 11)
	if got, want := e.Get("path"), Render([]byte(path)); got != want {
		t.Errorf("Render differs from the kernel:\n got %d bytes\nwant %d bytes", len(want), len(got))
	}
	u, err := e.Untrusted("path")
	if err != nil || !u.Truncated || !strings.HasPrefix(path, string(u.Bytes)) || len(u.Bytes) < 1000 {
		t.Errorf("Untrusted = %d bytes, truncated %v, %v", len(u.Bytes), u.Truncated, err)
	}
	if e.Get("blockers") != "read_dir" {
		t.Errorf("blockers next to a truncated path = %q", e.Get("blockers"))
	}
}

func TestRecordedFormats(t *testing.T) {
	b, err := os.ReadFile("testdata/landlock-7.3.4.formats")
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, part := range formatFiles(b) {
		f, err := ParseFormat([]byte(part))
		if err != nil {
			t.Fatal(err)
		}
		ev, ok := LandlockEventNamed(f.Name)
		if !ok {
			t.Errorf("unknown event %s", f.Name)
			continue
		}
		seen++
		fields := make([]FormatField, len(f.Fields))
		for i, ff := range f.Fields {
			fields[i] = FormatField{Type: ff.Type, Name: ff.Name, Size: ff.Size}
		}
		if !reflect.DeepEqual(fields, ev.Struct) {
			t.Errorf("%s fields:\n got %+v\nwant %+v", f.Name, fields, ev.Struct)
		}
		if f.Print != ev.Print {
			t.Errorf("%s print %q, want %q", f.Name, f.Print, ev.Print)
		}
		var kinds []landlock.Kind
		for _, table := range f.FlagTables {
			k, err := FlagTableKind(table)
			if err != nil {
				t.Errorf("%s: %v", f.Name, err)
			} else if want := KernelFlagTable(k, landlock.MaxABI); !reflect.DeepEqual(table, want) {
				t.Errorf("%s: %s table %v, want %v", f.Name, k, table, want)
			}
			kinds = append(kinds, k)
		}
		if !reflect.DeepEqual(kinds, ev.Tables) {
			t.Errorf("%s: flag tables of %v, want %v", f.Name, kinds, ev.Tables)
		}
	}
	if seen != len(LandlockEvents) {
		t.Errorf("%d formats, want %d", seen, len(LandlockEvents))
	}
	f, _ := ParseFormat([]byte(formatFiles(b)[0]))
	if f.Name != "landlock_add_rule_net_port" || len(f.FlagTables) != 1 || len(f.FlagTables[0]) != 4 || f.FlagTables[0][3] != (FlagName{Bit: 8, Name: "connect_send_udp"}) {
		t.Errorf("flag tables of %s = %+v", f.Name, f.FlagTables)
	}
}

// formatFiles splits the recorded format files, each starting with its "name:" line.
func formatFiles(b []byte) []string {
	var out []string
	for _, part := range strings.Split(string(b), "\nname: ") {
		if !strings.HasPrefix(part, "name: ") {
			part = "name: " + part
		}
		out = append(out, part)
	}
	return out
}

func TestParseLine(t *testing.T) {
	l, err := ParseLine("   my task-name-7  (    7) [001] d..1.  12.000001: landlock_create_ruleset: ruleset=a.0 handled_fs= handled_net=bind_tcp scoped=")
	if err != nil {
		t.Fatal(err)
	}
	want := Line{Task: "my task-name", PID: 7, CPU: 1, Time: "12.000001", Event: "landlock_create_ruleset",
		Fields: []Field{{"ruleset", "a.0"}, {"handled_fs", ""}, {"handled_net", "bind_tcp"}, {"scoped", ""}}}
	want.Raw = l.Raw
	if !reflect.DeepEqual(l, want) {
		t.Errorf("ParseLine = %+v\nwant %+v", l, want)
	}
	// Without the irq-info flags column.
	if l, err := ParseLine("<...>-9 [000] 1.5: landlock_free_ruleset: ruleset=b.2"); err != nil || l.Task != "<...>" || l.Get("ruleset") != "b.2" {
		t.Errorf("ParseLine without flags = %+v, %v", l, err)
	}
	for _, bad := range []string{"", "tracee-181 [000] .....", "x-1 [000] ..... 1.0: landlock_free_ruleset: ruleset", "x-1 [000] ..... 1.0: landlock_free_ruleset: =1"} {
		if _, err := ParseLine(bad); err == nil {
			t.Errorf("ParseLine(%q) accepted", bad)
		}
	}
}

func TestParseTrace(t *testing.T) {
	tr, err := ParseTrace([]byte("# tracer: nop\n#\n# entries-in-buffer/entries-written: 1/4   #P:1\n#\n" +
		"  x-1 [000] ..... 1.0: landlock_free_ruleset: ruleset=1.0\nCPU:0 [LOST 2 EVENTS]\n"))
	if err != nil || len(tr.Lines) != 1 || tr.InBuffer != 1 || tr.Written != 4 || tr.Dropped != 2 || tr.Lost() != 5 {
		t.Errorf("ParseTrace = %+v, %v", tr, err)
	}
	if _, err := ParseTrace([]byte("garbage\n")); err == nil {
		t.Error("ParseTrace accepted a line that is no event")
	}
	// A known event whose keys are not the documented ones, in name or order.
	for _, raw := range []string{
		"x-1 [000] ..... 1.0: landlock_free_domain: denials=1 domain=a",
		"x-1 [000] ..... 1.0: landlock_free_domain: domain=a",
		"x-1 [000] ..... 1.0: landlock_free_domain: domain=a denials=1 extra=2",
	} {
		tr, err := ParseTrace([]byte(raw))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := LandlockEventsOf(tr); err == nil {
			t.Errorf("LandlockEventsOf accepted %q", raw)
		}
	}
	// Another system's or a newer kernel's events are left out.
	tr, _ = ParseTrace([]byte("x-1 [000] ..... 1.0: sched_switch: a=b\nx-1 [000] ..... 1.0: landlock_new_event: a=b\n"))
	if evs, err := LandlockEventsOf(tr); err != nil || len(evs) != 0 {
		t.Errorf("LandlockEventsOf of other events = %v, %v", evs, err)
	}
}

func TestEscape(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		// The kernel's own KUnit cases (security/landlock/trace.c).
		{"a\x00<", `a\000<`},
		{"\xe2\x80\xa6", `\342\200\246`},
		{"/\\000", `/\\000`},
		{"<too_long>", "<too_long>"},
		// Every class: C escapes, the appended characters, controls, DEL, non-ASCII.
		{"\f\n\r\t\v\\\"\a\x1b", `\f\n\r\t\v\\\"\a\e`},
		{" ='", `\040\075\047`},
		{"\x01\x7f\x80\xff", `\001\177\200\377`},
		{"az_AZ09/.-~!#$%&()*+,:;<>?@[]^`{|}", "az_AZ09/.-~!#$%&()*+,:;<>?@[]^`{|}"},
	} {
		if got := Escape([]byte(tt.in)); got != tt.want {
			t.Errorf("Escape(%q) = %s, want %s", tt.in, got, tt.want)
		}
		u, err := Unescape(tt.want)
		if err != nil || string(u.Bytes) != tt.in || u.Truncated {
			t.Errorf("Unescape(%s) = %q, %v", tt.want, u.Bytes, err)
		}
	}
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	esc := Escape(all)
	if strings.ContainsAny(esc, " =") {
		t.Errorf("Escape leaves a space or '=': %s", esc)
	}
	if u, err := Unescape(esc); err != nil || !bytes.Equal(u.Bytes, all) {
		t.Errorf("Unescape(Escape(every byte)) = %v", err)
	}
	for _, bad := range []string{"a b", "a=b", `\`, `\q`, `\04`, `\9xx`, "\xe9"} {
		if _, err := Unescape(bad); err == nil {
			t.Errorf("Unescape(%q) accepted", bad)
		}
	}
}

// Render's limits, from the kernel's KUnit cases: the output limit is 6117 bytes with the
// terminating NUL on a 64-bit kernel.
func TestRender(t *testing.T) {
	const out = untrustedOutputSize
	if out != 6117 {
		t.Fatalf("output size %d, want 6117", out)
	}
	exact := strings.Repeat("a", out-1)
	if got := Render([]byte(exact)); got != exact {
		t.Errorf("a string and its NUL exactly fitting: %d bytes", len(got))
	}
	const exactPrefix = out - 3 - 1 - 4 // room for the marker, the NUL and one \040
	short := strings.Repeat("a", exactPrefix+1) + " " + "bbbbb"
	if got, want := Render([]byte(short)), strings.Repeat("a", exactPrefix+1)+TruncationMarker; got != want {
		t.Errorf("stop before an escape that does not fit: %d bytes, want %d", len(got), len(want))
	}
	fill := strings.Repeat("a", exactPrefix) + " " + "bbbb"
	if got, want := Render([]byte(fill)), strings.Repeat("a", exactPrefix)+`\040`+TruncationMarker; got != want {
		t.Errorf("an escape exactly filling the room: %d bytes, want %d", len(got), len(want))
	}
	if u, err := Unescape(Render([]byte(fill))); err != nil || !u.Truncated || string(u.Bytes) != strings.Repeat("a", exactPrefix)+" " {
		t.Errorf("Unescape of a truncated string: %v %v", u.Truncated, err)
	}
}

func TestMasks(t *testing.T) {
	m := uint64(landlock.AccessFSReadFile | landlock.AccessFSExecute | landlock.AccessFSResolveUnix)
	if got := FormatMask(landlock.KindFS, m); got != "execute|read_file|resolve_unix" {
		t.Errorf("FormatMask = %q", got)
	}
	if got := FormatMask(landlock.KindNet, 1<<2|1<<40); got != "bind_udp|0x10000000000" {
		t.Errorf("FormatMask with an unknown bit = %q", got)
	}
	for _, s := range []string{"", "execute|read_file|resolve_unix", "refer|0x20000"} {
		n, err := ParseMask(landlock.KindFS, s)
		if err != nil || FormatMask(landlock.KindFS, n) != s {
			t.Errorf("ParseMask(%q) = %#x, %v", s, n, err)
		}
	}
	if _, err := ParseMask(landlock.KindFS, "bind_tcp"); err == nil {
		t.Error("ParseMask took a network right for a filesystem one")
	}
	if got := FormatGrants(landlock.KindFS, landlock.AccessFSReadDir, 0); got != "{read_dir,}" {
		t.Errorf("FormatGrants = %q", got)
	}
	e := Event{Line: Line{Event: "landlock_check_rule_inode", Fields: []Field{{"grants", "{read_dir,,read_dir|execute}"}, {"bad", "read_dir"}}}}
	if g, err := e.Grants(landlock.KindFS, "grants"); err != nil || !reflect.DeepEqual(g, []uint64{landlock.AccessFSReadDir, 0, landlock.AccessFSReadDir | landlock.AccessFSExecute}) {
		t.Errorf("Grants = %v, %v", g, err)
	}
	if _, err := e.Grants(landlock.KindFS, "bad"); err == nil {
		t.Error("Grants took a value without braces")
	}
	for _, k := range []landlock.Kind{landlock.KindFS, landlock.KindNet, landlock.KindScope} {
		table := KernelFlagTable(k, landlock.MaxABI)
		if kk, err := FlagTableKind(table); err != nil || kk != k {
			t.Errorf("FlagTableKind(%s table) = %s, %v", k, kk, err)
		}
	}
	if _, err := FlagTableKind([]FlagName{{1, "execute"}, {2, "bind_tcp"}}); err == nil {
		t.Error("FlagTableKind took a mixed table")
	}
}

func TestLandlockEvents(t *testing.T) {
	if len(LandlockEvents) != 14 {
		t.Errorf("%d events, want 14", len(LandlockEvents))
	}
	if got := strings.Join(LandlockEvents[9].Keys(), " "); got != "domain same_exec logged blockers dev ino path" {
		t.Errorf("deny_access_fs keys = %s", got)
	}
	if ev, ok := LandlockEventNamed("landlock_free_domain"); !ok || ev.Name != "free_domain" || ev.Event() != "landlock_free_domain" {
		t.Errorf("LandlockEventNamed = %+v, %v", ev, ok)
	}
	if InstanceName(42) != "llconform-42" {
		t.Errorf("InstanceName = %q", InstanceName(42))
	}
}
