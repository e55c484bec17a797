package tracefs

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/llconform/llconform/internal/landlock"
)

// LandlockSystem is the tracefs event system of Landlock's events (events/landlock).
const LandlockSystem = "landlock"

// LandlockEvent is one Landlock trace event as Linux 7.3 documents it in
// include/trace/events/landlock.h: its TP_STRUCT__entry fields and its TP_printk format.
type LandlockEvent struct {
	// Name is the event without the "landlock_" prefix of its tracefs name, e.g.
	// "create_ruleset".
	Name string
	// Struct are the record's fields in order, as the event's format file lists them
	// (type, name and size; dynamic strings and arrays are "__data_loc" words).
	Struct []FormatField
	// Print is the TP_printk format string.
	Print string
	// Tables are the kinds of rights the flag tables of the print arguments name, in order
	// (see Format.FlagTables): each masks field prints its bits with one.
	Tables []landlock.Kind
}

// Event returns the event's tracefs name, e.g. "landlock_create_ruleset".
func (e LandlockEvent) Event() string { return "landlock_" + e.Name }

// Keys returns the keys the event prints, in order, read from Print.
func (e LandlockEvent) Keys() []string {
	var keys []string
	for _, tok := range strings.Split(e.Print, " ") {
		if k, _, ok := strings.Cut(tok, "="); ok {
			keys = append(keys, k)
		}
	}
	return keys
}

func field(typ, name string, size int) FormatField {
	return FormatField{Type: typ, Name: name, Size: size}
}

// Field types of the Landlock events on a 64-bit kernel.
func u64(name string) FormatField     { return field("u64", name, 8) }
func s64(name string) FormatField     { return field("s64", name, 8) }
func mask(name string) FormatField    { return field("access_mask_t", name, 4) }
func boolf(name string) FormatField   { return field("bool", name, 1) }
func pid(name string) FormatField     { return field("pid_t", name, 4) }
func dev(name string) FormatField     { return field("dev_t", name, 4) }
func ino(name string) FormatField     { return field("ino_t", name, 8) }
func str(name string) FormatField     { return field("__data_loc char[]", name, 4) }
func blocker(name string) FormatField { return field("enum landlock_request_type", name, 4) }

// LandlockEvents are the 14 Landlock events of Linux 7.3, in the order of the header.
var LandlockEvents = []LandlockEvent{
	{Name: "create_ruleset",
		Struct: []FormatField{u64("ruleset_id"), u64("ruleset_version"), mask("handled_fs"), mask("handled_net"), mask("scoped")},
		Print:  "ruleset=%llx.%llu handled_fs=%s handled_net=%s scoped=%s",
		Tables: []landlock.Kind{landlock.KindFS, landlock.KindNet, landlock.KindScope}},
	{Name: "free_ruleset",
		Struct: []FormatField{u64("ruleset_id"), u64("ruleset_version")},
		Print:  "ruleset=%llx.%llu"},
	{Name: "add_rule_path_beneath",
		Struct: []FormatField{u64("ruleset_id"), u64("ruleset_version"), mask("access_rights"), dev("dev"), ino("ino"), str("pathname")},
		Print:  "ruleset=%llx.%llu access_rights=%s dev=%u:%u ino=%lu path=%s",
		Tables: []landlock.Kind{landlock.KindFS}},
	{Name: "add_rule_net_port",
		Struct: []FormatField{u64("ruleset_id"), u64("ruleset_version"), mask("access_rights"), u64("port")},
		Print:  "ruleset=%llx.%llu access_rights=%s port=%llu",
		Tables: []landlock.Kind{landlock.KindNet}},
	{Name: "create_domain",
		Struct: []FormatField{u64("domain_id"), u64("parent_id"), u64("ruleset_id"), u64("ruleset_version")},
		Print:  "domain=%llx parent=%llx ruleset=%llx.%llu"},
	{Name: "enforce_domain",
		Struct: []FormatField{u64("domain_id"), boolf("complete"), boolf("process_wide"), boolf("no_new_privs")},
		Print:  "domain=%llx complete=%d process_wide=%d no_new_privs=%d"},
	{Name: "free_domain",
		Struct: []FormatField{u64("domain_id"), u64("denials")},
		Print:  "domain=%llx denials=%llu"},
	{Name: "check_rule_inode",
		Struct: []FormatField{u64("domain_id"), mask("access_request"), dev("dev"), ino("ino"), field("__data_loc access_mask_t[]", "grants", 4)},
		Print:  "domain=%llx access_request=%s dev=%u:%u ino=%lu grants=%s",
		Tables: []landlock.Kind{landlock.KindFS, landlock.KindFS}},
	{Name: "check_rule_net_port",
		Struct: []FormatField{u64("domain_id"), mask("access_request"), u64("port"), field("__data_loc access_mask_t[]", "grants", 4)},
		Print:  "domain=%llx access_request=%s port=%llu grants=%s",
		Tables: []landlock.Kind{landlock.KindNet, landlock.KindNet}},
	{Name: "deny_access_fs",
		Struct: []FormatField{u64("domain_id"), boolf("same_exec"), boolf("logged"), blocker("blockers_type"), mask("blockers_access"), dev("dev"), ino("ino"), str("pathname")},
		Print:  "domain=%llx same_exec=%d logged=%d blockers=%s dev=%u:%u ino=%lu path=%s",
		Tables: []landlock.Kind{landlock.KindFS}},
	{Name: "deny_access_net",
		Struct: []FormatField{u64("domain_id"), boolf("same_exec"), boolf("logged"), blocker("blockers_type"), mask("blockers_access"), s64("port")},
		Print:  "domain=%llx same_exec=%d logged=%d blockers=%s port=%lld",
		Tables: []landlock.Kind{landlock.KindNet}},
	{Name: "deny_ptrace",
		Struct: []FormatField{u64("domain_id"), boolf("same_exec"), boolf("logged"), u64("tracee_domain_id"), pid("tracee_pid"), str("tracee_comm")},
		Print:  "domain=%llx same_exec=%d logged=%d tracee_domain=%llx tracee_pid=%d tracee_comm=%s"},
	{Name: "deny_scope_signal",
		Struct: []FormatField{u64("domain_id"), boolf("same_exec"), boolf("logged"), u64("target_domain_id"), pid("target_pid"), str("target_comm")},
		Print:  "domain=%llx same_exec=%d logged=%d target_domain=%llx target_pid=%d target_comm=%s"},
	{Name: "deny_scope_abstract_unix_socket",
		Struct: []FormatField{u64("domain_id"), boolf("same_exec"), boolf("logged"), u64("peer_domain_id"), pid("peer_pid"), str("sun_path")},
		Print:  "domain=%llx same_exec=%d logged=%d peer_domain=%llx peer_pid=%d sun_path=%s"},
}

// LandlockEventNamed returns the event whose short or tracefs name is name.
func LandlockEventNamed(name string) (LandlockEvent, bool) {
	name = strings.TrimPrefix(name, "landlock_")
	i := slices.IndexFunc(LandlockEvents, func(e LandlockEvent) bool { return e.Name == name })
	if i < 0 {
		return LandlockEvent{}, false
	}
	return LandlockEvents[i], true
}

// Event is a Landlock event line whose keys are those its format documents, in order.
type Event struct {
	Line
	// Name is the short name, e.g. "deny_access_fs".
	Name string
}

// LandlockEventsOf returns the Landlock events of t, in order. A line of a known Landlock
// event whose keys differ from the documented ones, in name or order, is an error naming
// both; lines of other events (a newer kernel's) are left out.
func LandlockEventsOf(t Trace) ([]Event, error) {
	var out []Event
	for _, l := range t.Lines {
		if !strings.HasPrefix(l.Event, "landlock_") {
			continue
		}
		spec, ok := LandlockEventNamed(l.Event)
		if !ok {
			continue
		}
		if got, want := l.Keys(), spec.Keys(); !slices.Equal(got, want) {
			return out, fmt.Errorf("%s prints keys %s, want %s: %s", l.Event, strings.Join(got, " "), strings.Join(want, " "), l.Raw)
		}
		out = append(out, Event{Line: l, Name: spec.Name})
	}
	return out, nil
}

// Hex parses a %llx value.
func (e Event) Hex(key string) (uint64, error) {
	v := e.Get(key)
	n, err := strconv.ParseUint(v, 16, 64)
	if err != nil {
		return 0, fmt.Errorf("%s %s=%q: not hexadecimal", e.Event, key, v)
	}
	return n, nil
}

// Uint parses an unsigned decimal value.
func (e Event) Uint(key string) (uint64, error) {
	v := e.Get(key)
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s %s=%q: not an unsigned decimal", e.Event, key, v)
	}
	return n, nil
}

// Int parses a signed decimal value.
func (e Event) Int(key string) (int64, error) {
	v := e.Get(key)
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s %s=%q: not a decimal", e.Event, key, v)
	}
	return n, nil
}

// Bool parses a %d bool: "0" or "1".
func (e Event) Bool(key string) (bool, error) {
	switch v := e.Get(key); v {
	case "0":
		return false, nil
	case "1":
		return true, nil
	default:
		return false, fmt.Errorf("%s %s=%q: not 0 or 1", e.Event, key, v)
	}
}

// Ruleset is a ruleset reference, "<hex id>.<decimal version>".
type Ruleset struct {
	ID, Version uint64
}

func (r Ruleset) String() string { return fmt.Sprintf("%x.%d", r.ID, r.Version) }

// Ruleset parses a ruleset reference.
func (e Event) Ruleset(key string) (Ruleset, error) {
	v := e.Get(key)
	id, ver, ok := strings.Cut(v, ".")
	var r Ruleset
	var err1, err2 error
	r.ID, err1 = strconv.ParseUint(id, 16, 64)
	r.Version, err2 = strconv.ParseUint(ver, 10, 64)
	if !ok || err1 != nil || err2 != nil {
		return Ruleset{}, fmt.Errorf("%s %s=%q: not <hex id>.<version>", e.Event, key, v)
	}
	return r, nil
}

// Dev parses a "<major>:<minor>" device number.
func (e Event) Dev(key string) (major, minor uint32, err error) {
	v := e.Get(key)
	a, b, ok := strings.Cut(v, ":")
	ma, err1 := strconv.ParseUint(a, 10, 32)
	mi, err2 := strconv.ParseUint(b, 10, 32)
	if !ok || err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("%s %s=%q: not <major>:<minor>", e.Event, key, v)
	}
	return uint32(ma), uint32(mi), nil
}

// Untrusted decodes an escaped string value (see Unescape).
func (e Event) Untrusted(key string) (Untrusted, error) {
	u, err := Unescape(e.Get(key))
	if err != nil {
		return u, fmt.Errorf("%s %s: %w", e.Event, key, err)
	}
	return u, nil
}

// Mask parses a mask of kind k printed as names joined by "|" (__print_flags): "" is 0, a
// trailing hexadecimal part holds the bits without a name.
func (e Event) Mask(k landlock.Kind, key string) (uint64, error) {
	m, err := ParseMask(k, e.Get(key))
	if err != nil {
		return 0, fmt.Errorf("%s %s: %w", e.Event, key, err)
	}
	return m, nil
}

// Grants parses a per-layer mask array, "{<mask>,<mask>,...}", outermost layer first.
func (e Event) Grants(k landlock.Kind, key string) ([]uint64, error) {
	v := e.Get(key)
	if len(v) < 2 || v[0] != '{' || v[len(v)-1] != '}' {
		return nil, fmt.Errorf("%s %s=%q: not {<layer>,...}", e.Event, key, v)
	}
	inner := v[1 : len(v)-1]
	var out []uint64
	for _, part := range strings.Split(inner, ",") {
		m, err := ParseMask(k, part)
		if err != nil {
			return nil, fmt.Errorf("%s %s=%q: %w", e.Event, key, v, err)
		}
		out = append(out, m)
	}
	return out, nil
}

func rightsOf(k landlock.Kind) []landlock.Right {
	var rs []landlock.Right
	for _, r := range landlock.AllRights() {
		if r.Kind == k {
			rs = append(rs, r)
		}
	}
	return rs
}

// FormatMask renders mask of kind k as the Landlock events print it: the names of its bits
// in bit order joined by "|", the bits without a name last in hexadecimal, "" for 0.
func FormatMask(k landlock.Kind, mask uint64) string {
	var names []string
	for _, r := range rightsOf(k) {
		if mask&r.Bit != 0 {
			names = append(names, r.Name)
			mask &^= r.Bit
		}
	}
	if mask != 0 {
		names = append(names, fmt.Sprintf("0x%x", mask))
	}
	return strings.Join(names, "|")
}

// FormatGrants renders per-layer masks as the check_rule events print them.
func FormatGrants(k landlock.Kind, layers ...uint64) string {
	parts := make([]string, len(layers))
	for i, m := range layers {
		parts[i] = FormatMask(k, m)
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// ParseMask parses what FormatMask renders.
func ParseMask(k landlock.Kind, s string) (uint64, error) {
	if s == "" {
		return 0, nil
	}
	var m uint64
	for _, name := range strings.Split(s, "|") {
		if hex, ok := strings.CutPrefix(name, "0x"); ok {
			n, err := strconv.ParseUint(hex, 16, 64)
			if err != nil {
				return 0, fmt.Errorf("bad bits %q in %q", name, s)
			}
			m |= n
			continue
		}
		i := slices.IndexFunc(rightsOf(k), func(r landlock.Right) bool { return r.Name == name })
		if i < 0 {
			return 0, fmt.Errorf("unknown %s right %q in %q", k, name, s)
		}
		m |= rightsOf(k)[i].Bit
	}
	return m, nil
}

// KernelFlagTable is the table a kernel of ABI abi prints the rights of kind k with: every
// right it knows, in bit order.
func KernelFlagTable(k landlock.Kind, abi int) []FlagName {
	var t []FlagName
	for _, r := range rightsOf(k) {
		if r.ABI <= abi {
			t = append(t, FlagName{Bit: r.Bit, Name: r.Name})
		}
	}
	return t
}

// FlagTableKind says which kind of rights a flag table of a Landlock event names: that of
// its first name. Names of several kinds, or a name of none, are an error.
func FlagTableKind(table []FlagName) (landlock.Kind, error) {
	var kind landlock.Kind
	for _, f := range table {
		i := slices.IndexFunc(landlock.AllRights(), func(r landlock.Right) bool { return r.Name == f.Name })
		if i < 0 {
			return "", fmt.Errorf("flag table %v: %q names no right", table, f.Name)
		}
		k := landlock.AllRights()[i].Kind
		if kind != "" && k != kind {
			return "", fmt.Errorf("flag table %v: names of %s and %s rights", table, kind, k)
		}
		kind = k
	}
	if kind == "" {
		return "", fmt.Errorf("empty flag table")
	}
	return kind, nil
}
