package tracefs

import (
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Line is one event line of a tracefs "trace" file:
//
//	<task>-<pid> [<cpu>] <flags> <seconds>.<micros>: <event>: <key>=<value> ...
type Line struct {
	// Task is the command name ftrace resolved for PID when the buffer was read, "<...>"
	// when its cache had lost it: only a hint, never an identity.
	Task string
	// PID is the thread id of the task in whose context the event fired.
	PID   int
	CPU   int
	Time  string
	Event string // the event's name, e.g. "landlock_create_ruleset"
	// Fields are the event's key=value pairs in the order the kernel printed them; the
	// values are raw, as printed (escaped where the event escapes them).
	Fields []Field
	// Raw is the whole line, for failure messages.
	Raw string
}

// Field is one key=value pair of an event line.
type Field struct {
	Key, Value string
}

// Value returns the raw value of key, and whether the line has it.
func (l Line) Value(key string) (string, bool) {
	for _, f := range l.Fields {
		if f.Key == key {
			return f.Value, true
		}
	}
	return "", false
}

// Get returns the raw value of key, "" where the line has none.
func (l Line) Get(key string) string {
	v, _ := l.Value(key)
	return v
}

// Keys returns the line's keys in order.
func (l Line) Keys() []string {
	keys := make([]string, len(l.Fields))
	for i, f := range l.Fields {
		keys[i] = f.Key
	}
	return keys
}

// Trace is what a "trace" or "trace_pipe" file held when it was read.
type Trace struct {
	Lines []Line
	// InBuffer and Written are the "trace" header's "entries-in-buffer/entries-written":
	// when Written exceeds InBuffer the ring buffer overwrote events.
	InBuffer, Written int
	// Dropped is the sum of the "CPU:<n> [LOST <m> EVENTS]" lines of trace_pipe.
	Dropped int
}

// Lost reports how many events the ring buffer overwrote before the trace was read: the
// trace is incomplete.
func (t Trace) Lost() int { return t.Written - t.InBuffer + t.Dropped }

// linePattern splits an event line. The task name may hold anything, dashes and spaces
// included, so it extends to the last "-<pid>" before the CPU column; the TGID column
// (option record-tgid) and the flags column (option irq-info) are optional.
var linePattern = regexp.MustCompile(`^\s*(.*)-(\d+)\s+(?:\(\s*[\d-]+\)\s+)?\[(\d+)\]\s+(?:\S+\s+)?(\d+\.\d+):\s+([A-Za-z0-9_]+):\s?(.*)$`)

var (
	entriesPattern = regexp.MustCompile(`^#\s*entries-in-buffer/entries-written:\s*(\d+)/(\d+)`)
	lostPattern    = regexp.MustCompile(`^CPU:\d+ \[LOST (\d+) EVENTS\]$`)
)

// ParseTrace parses the content of a "trace" file (the comment header, for the entry
// counts, and one Line per event) or of a "trace_pipe" (events, and a line for the events
// each CPU lost). A line that is none of these is an error, as is an event whose fields are
// not key=value pairs: the caller asked for events whose format it knows.
func ParseTrace(b []byte) (Trace, error) {
	var t Trace
	for n, raw := range strings.Split(string(bytes.TrimRight(b, "\n")), "\n") {
		if raw == "" {
			continue
		}
		if strings.HasPrefix(raw, "#") {
			if m := entriesPattern.FindStringSubmatch(raw); m != nil {
				t.InBuffer, _ = strconv.Atoi(m[1])
				t.Written, _ = strconv.Atoi(m[2])
			}
			continue
		}
		if m := lostPattern.FindStringSubmatch(raw); m != nil {
			n, _ := strconv.Atoi(m[1])
			t.Dropped += n
			continue
		}
		l, err := ParseLine(raw)
		if err != nil {
			return t, fmt.Errorf("trace line %d: %w", n+1, err)
		}
		t.Lines = append(t.Lines, l)
	}
	return t, nil
}

// ParseLine parses one event line. Values never hold a space: the events this package
// reads print numbers, names and escaped strings only, so a field list splits on spaces.
// An empty value ("scoped=") is kept as "".
func ParseLine(raw string) (Line, error) {
	m := linePattern.FindStringSubmatch(raw)
	if m == nil {
		return Line{}, fmt.Errorf("not an event line: %q", raw)
	}
	l := Line{Task: m[1], Time: m[4], Event: m[5], Raw: raw}
	l.PID, _ = strconv.Atoi(m[2])
	l.CPU, _ = strconv.Atoi(m[3])
	if m[6] == "" {
		return l, nil
	}
	for _, tok := range strings.Split(m[6], " ") {
		k, v, ok := strings.Cut(tok, "=")
		if !ok || k == "" {
			return Line{}, fmt.Errorf("%s: field %q is not key=value in %q", l.Event, tok, raw)
		}
		l.Fields = append(l.Fields, Field{Key: k, Value: v})
	}
	return l, nil
}

// TruncationMarker ends an untrusted string the kernel cut to fit its output buffer: a raw
// UTF-8 ellipsis, which escaped input can never produce (every non-ASCII input byte is
// printed in octal).
const TruncationMarker = "\u2026"

// Escape renders b the way Linux 7.3's trace events print an untrusted string (a path, a
// command name, an abstract socket name): string_escape_mem() with ESCAPE_SPACE,
// ESCAPE_SPECIAL, ESCAPE_NAP and ESCAPE_OCTAL, space, '=', quotes and backslash appended.
// Printable ASCII passes through; \f \n \r \t \v and \\ \" \a \e get their C escapes;
// every other byte (space, '=', the single quote, controls, NUL, DEL, non-ASCII) is a three-digit octal
// escape. The result never holds a space or an '=', so it cannot forge a field.
func Escape(b []byte) string {
	var sb strings.Builder
	for _, c := range b {
		sb.WriteString(escapeByte(c))
	}
	return sb.String()
}

func escapeByte(c byte) string {
	switch c {
	case '\f':
		return `\f`
	case '\n':
		return `\n`
	case '\r':
		return `\r`
	case '\t':
		return `\t`
	case '\v':
		return `\v`
	case '\\':
		return `\\`
	case '"':
		return `\"`
	case '\a':
		return `\a`
	case 0x1b:
		return `\e`
	case ' ', '=', '\'':
		return fmt.Sprintf(`\%03o`, c)
	}
	if c > ' ' && c < 0x7f {
		return string(rune(c))
	}
	return fmt.Sprintf(`\%03o`, c)
}

// EscapeUnits returns Escape(b) split into one piece per input byte, the units the kernel
// keeps whole when it truncates: a truncated string is a concatenation of a prefix of
// these, then TruncationMarker.
func EscapeUnits(b []byte) []string {
	units := make([]string, len(b))
	for i, c := range b {
		units[i] = escapeByte(c)
	}
	return units
}

// The limit of an escaped untrusted string, TRACE_UNTRUSTED_STR_OUTPUT_SIZE: three quarters
// of a trace_seq's buffer, TRACE_SEQ_BUFFER_SIZE, which is 8192 bytes less the seq_buf
// (three words), readpos and full fields of struct trace_seq on a 64-bit kernel.
const (
	traceSeqBufferSize  = 8192 - (3*8 + 8 + 4)
	untrustedOutputSize = traceSeqBufferSize - traceSeqBufferSize/4
)

// Render returns what a Linux 7.3 trace event prints for the untrusted string b: Escape(b)
// when it fits the output limit (with its terminating NUL); otherwise the longest prefix of
// whole escapes that leaves room for TruncationMarker and the NUL, then the marker.
func Render(b []byte) string {
	units := EscapeUnits(b)
	full := strings.Join(units, "")
	if len(full) < untrustedOutputSize {
		return full
	}
	room := untrustedOutputSize - len(TruncationMarker) - 1
	var sb strings.Builder
	for _, u := range units {
		if sb.Len()+len(u) > room {
			break
		}
		sb.WriteString(u)
	}
	return sb.String() + TruncationMarker
}

// Untrusted is an escaped string decoded.
type Untrusted struct {
	Bytes []byte
	// Truncated is set when the kernel cut the string and appended TruncationMarker:
	// Bytes is then a prefix of the original.
	Truncated bool
}

// cEscapes maps the letter of each C escape Escape produces to its byte.
var cEscapes = map[byte]byte{'f': '\f', 'n': '\n', 'r': '\r', 't': '\t', 'v': '\v', '\\': '\\', '"': '"', 'a': '\a', 'e': 0x1b}

// Unescape decodes an escaped value (see Escape). Anything but the escapes Escape produces
// is an error, as is a raw byte Escape would have escaped: such a value could have been
// forged by the string's owner.
func Unescape(s string) (Untrusted, error) {
	var u Untrusted
	if rest, ok := strings.CutSuffix(s, TruncationMarker); ok {
		s, u.Truncated = rest, true
	}
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			if escapeByte(c) != string(rune(c)) {
				return Untrusted{}, fmt.Errorf("unescaped byte %#02x at %d in %q", c, i, s)
			}
			out = append(out, c)
			continue
		}
		if i+1 >= len(s) {
			return Untrusted{}, fmt.Errorf("lone backslash at the end of %q", s)
		}
		if d := s[i+1]; d >= '0' && d <= '7' {
			if i+4 > len(s) {
				return Untrusted{}, fmt.Errorf("short octal escape at %d in %q", i, s)
			}
			n, err := strconv.ParseUint(s[i+1:i+4], 8, 8)
			if err != nil {
				return Untrusted{}, fmt.Errorf("bad octal escape %q at %d in %q", s[i:i+4], i, s)
			}
			out = append(out, byte(n))
			i += 3
			continue
		}
		b, ok := cEscapes[s[i+1]]
		if !ok {
			return Untrusted{}, fmt.Errorf("unknown escape %q at %d in %q", s[i:i+2], i, s)
		}
		out = append(out, b)
		i++
	}
	u.Bytes = out
	return u, nil
}
