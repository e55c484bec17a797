package audit

import (
	"encoding/hex"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// headerRe matches the stamp every record starts with: "audit(<sec>.<msec>:<serial>): ".
var headerRe = regexp.MustCompile(`^audit\(([0-9]+)\.([0-9]{3}):([0-9]+)\): `)

// ParseMessage splits a record's text into its stamp and body.
func ParseMessage(typ uint16, text string) (Message, error) {
	m := headerRe.FindStringSubmatch(text)
	if m == nil {
		return Message{}, fmt.Errorf("record type %d without an audit(time:serial) stamp: %q", typ, text)
	}
	sec, err1 := strconv.ParseInt(m[1], 10, 64)
	msec, err2 := strconv.ParseInt(m[2], 10, 64)
	serial, err3 := strconv.ParseUint(m[3], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return Message{}, fmt.Errorf("record type %d: bad stamp in %q", typ, text)
	}
	return Message{
		Type:   typ,
		Time:   time.Unix(sec, msec*int64(time.Millisecond)),
		Serial: serial,
		Text:   text[len(m[0]):],
		Raw:    text,
	}, nil
}

// Field is one name=value pair of a record.
type Field struct {
	Name string
	// Value is the value as written: with its quotes, or hex-encoded.
	Value string
}

// Fields splits a record body into its name=value pairs, in order. Values are either
// double-quoted (with no quote inside: audit hex-encodes strings that would need one) or
// bare tokens; a name appearing twice is an error.
func Fields(body string) ([]Field, error) {
	var fields []Field
	seen := map[string]bool{}
	rest := body
	for rest != "" {
		eq := strings.IndexByte(rest, '=')
		if eq <= 0 {
			return nil, fmt.Errorf("expected name=value at %q", rest)
		}
		name := rest[:eq]
		if strings.ContainsAny(name, " \"") {
			return nil, fmt.Errorf("bad field name %q", name)
		}
		rest = rest[eq+1:]
		var val string
		if strings.HasPrefix(rest, `"`) {
			end := strings.IndexByte(rest[1:], '"')
			if end < 0 {
				return nil, fmt.Errorf("field %s: unterminated quoted value", name)
			}
			val, rest = rest[:end+2], rest[end+2:]
		} else {
			end := strings.IndexByte(rest, ' ')
			if end < 0 {
				end = len(rest)
			}
			val, rest = rest[:end], rest[end:]
		}
		if rest != "" {
			if rest[0] != ' ' || len(rest) == 1 || rest[1] == ' ' {
				return nil, fmt.Errorf("field %s: expected one space after the value, got %q", name, rest)
			}
			rest = rest[1:]
		}
		if seen[name] {
			return nil, fmt.Errorf("field %s appears twice", name)
		}
		seen[name] = true
		fields = append(fields, Field{Name: name, Value: val})
	}
	return fields, nil
}

// Str is a string the kernel logged with audit_log_untrustedstring: quoted when it is
// printable ASCII without a quote or space, hex-encoded (upper case) otherwise.
type Str struct {
	Value string
	Hex   bool // it was hex-encoded
}

func (s Str) String() string { return s.Value }

var upperHex = regexp.MustCompile(`^(?:[0-9A-F]{2})+$`)

// ParseUntrusted decodes a value written by audit_log_untrustedstring (or audit_log_n_hex,
// or audit_log_d_path, whose errors are bare "<no_memory>" and "<too_long>").
func ParseUntrusted(v string) (Str, error) {
	switch {
	case len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"':
		s := v[1 : len(v)-1]
		for i := 0; i < len(s); i++ {
			if s[i] < 0x21 || s[i] > 0x7e || s[i] == '"' {
				return Str{}, fmt.Errorf("quoted value %s holds byte %#x that audit hex-encodes", v, s[i])
			}
		}
		return Str{Value: s}, nil
	case v == "<no_memory>" || v == "<too_long>":
		return Str{Value: v}, nil
	case upperHex.MatchString(v):
		b, _ := hex.DecodeString(v)
		return Str{Value: string(b), Hex: true}, nil
	}
	return Str{}, fmt.Errorf("value %s is neither quoted nor upper-case hex", v)
}

// needsHex says whether audit would hex-encode s.
func needsHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e || s[i] == '"' {
			return true
		}
	}
	return false
}

// Encoded returns s as audit_log_untrustedstring would write it.
func Encoded(s string) string {
	if needsHex(s) {
		return strings.ToUpper(hex.EncodeToString([]byte(s)))
	}
	return `"` + s + `"`
}
