// Package yamlfile decodes the YAML files people write for llconform (kernels.yaml, the
// known-issues file) into Go structs with gopkg.in/yaml.v3, strictly: a key the struct has no
// field for, a key given twice and a value of the wrong kind are errors, and every error names
// the file and the line, as in `kernels.yaml:12: unknown key "expct"`. Anchors, aliases and
// merge keys (<<) work as YAML defines them.
package yamlfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"sort"
	"strconv"

	"gopkg.in/yaml.v3"
)

// ErrEmpty is returned for a file that holds no YAML document: nothing, or only comments.
var ErrEmpty = errors.New("empty file")

// Options adjust the messages and the strictness of Decode.
type Options struct {
	// Want says, by the Go type a node was to fill, what to say when the node is of another
	// kind: "kernels must be a list" for []entry. Without an entry a struct wants "expected a
	// mapping", a slice "expected a list", a string "expected a string" and an integer
	// "expected an integer".
	Want map[reflect.Type]string
	// KeyHint follows the message of an unknown key in parentheses, e.g. "want one of spec,
	// feature, kernel".
	KeyHint string
	// NoNull refuses a key or list item without a value (`memory:`, `memory: ~`), which
	// typed decoding would otherwise take as absent.
	NoNull bool
}

// Decode decodes the first YAML document of data into v, a pointer to a struct or slice.
// Errors name file: a syntax error is "file: yaml: line N: ...", every other error is
// "file:N: message", all of them in line order, joined. A type whose UnmarshalYAML returns
// a *yaml.TypeError with "line N: message" strings gets them reported the same way.
// Decode returns ErrEmpty when data holds no document.
func Decode(file string, data []byte, v any, opts Options) error {
	// The nodes tell an empty file and keys without a value, which typed decoding cannot.
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	if len(doc.Content) == 0 {
		return ErrEmpty
	}
	var errs []lineError
	if opts.NoNull {
		errs = nulls(doc.Content[0])
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	err := dec.Decode(v)
	var te *yaml.TypeError
	switch {
	case errors.Is(err, io.EOF):
		return ErrEmpty
	case errors.As(err, &te):
		types := typesOf(reflect.TypeOf(v), map[string]reflect.Type{})
		for _, s := range te.Errors {
			errs = append(errs, translate(s, types, opts))
		}
	case err != nil:
		return fmt.Errorf("%s: %w", file, err)
	}
	if len(errs) == 0 {
		return nil
	}
	sort.SliceStable(errs, func(i, j int) bool { return errs[i].line < errs[j].line })
	var out []error
	seen := map[lineError]bool{} // a node reached through several aliases fails once
	for _, e := range errs {
		switch {
		case seen[e]:
		case e.line == 0:
			out = append(out, fmt.Errorf("%s: %s", file, e.msg))
		default:
			out = append(out, fmt.Errorf("%s:%d: %s", file, e.line, e.msg))
		}
		seen[e] = true
	}
	return errors.Join(out...)
}

// TypeError is what an UnmarshalYAML method returns to report a bad value at node n in the
// same form as the decoder's own errors.
func TypeError(n *yaml.Node, format string, args ...any) error {
	return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %s", n.Line, fmt.Sprintf(format, args...))}}
}

type lineError struct {
	line int // 0 when unknown
	msg  string
}

// The messages of yaml.v3's decoder (decode.go), which name the line but speak of Go fields
// and types rather than of the file's keys.
var (
	lineRE     = regexp.MustCompile(`^line (\d+): (.*)$`)
	unknownRE  = regexp.MustCompile(`^field (.*) not found in type \S+$`)
	twiceRE    = regexp.MustCompile(`^(?:mapping key "(.*)" already defined at line \d+|field (.*) already set in type \S+)$`)
	mismatchRE = regexp.MustCompile("^cannot unmarshal !!\\w+(?: `.*`)? into (\\S+)$")
)

func translate(s string, types map[string]reflect.Type, opts Options) lineError {
	m := lineRE.FindStringSubmatch(s)
	if m == nil {
		return lineError{msg: s}
	}
	line, _ := strconv.Atoi(m[1])
	msg := m[2]
	if k := unknownRE.FindStringSubmatch(msg); k != nil {
		msg = fmt.Sprintf("unknown key %q", k[1])
		if opts.KeyHint != "" {
			msg += " (" + opts.KeyHint + ")"
		}
	} else if k := twiceRE.FindStringSubmatch(msg); k != nil {
		msg = fmt.Sprintf("key %q given twice", k[1]+k[2])
	} else if k := mismatchRE.FindStringSubmatch(msg); k != nil {
		msg = want(types[k[1]], opts, msg)
	}
	return lineError{line, msg}
}

func want(t reflect.Type, opts Options, fallback string) string {
	if t == nil {
		return fallback
	}
	if w, ok := opts.Want[t]; ok {
		return w
	}
	switch t.Kind() {
	case reflect.Struct:
		return "expected a mapping"
	case reflect.Slice:
		return "expected a list"
	case reflect.String:
		return "expected a string"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "expected an integer"
	}
	return fallback
}

// typesOf maps the names yaml.v3 gives the types in its messages (reflect's String) to the
// types themselves, for every type reachable from t.
func typesOf(t reflect.Type, seen map[string]reflect.Type) map[string]reflect.Type {
	if _, ok := seen[t.String()]; ok {
		return seen
	}
	seen[t.String()] = t
	switch t.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Array, reflect.Map:
		typesOf(t.Elem(), seen)
	case reflect.Struct:
		for i := range t.NumField() {
			typesOf(t.Field(i).Type, seen)
		}
	}
	return seen
}

// nulls reports the keys and list items under n that have no value. Aliases are not
// followed: their anchor is checked where it is defined.
func nulls(n *yaml.Node) []lineError {
	var out []lineError
	isNull := func(v *yaml.Node) bool { return v.Kind == yaml.ScalarNode && v.ShortTag() == "!!null" }
	switch n.Kind {
	case yaml.SequenceNode:
		for _, v := range n.Content {
			if isNull(v) {
				out = append(out, lineError{v.Line, "list item has no value"})
			}
			out = append(out, nulls(v)...)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if isNull(v) {
				out = append(out, lineError{k.Line, fmt.Sprintf("key %q has no value", k.Value)})
			}
			out = append(out, nulls(v)...)
		}
	}
	return out
}

// DecodeList decodes a file holding a YAML list, as Decode does, and returns with it the line
// where each entry starts, for messages that point at one. A file with no document is an
// empty list.
func DecodeList[T any](file string, data []byte, opts Options) ([]T, []int, error) {
	var list []T
	err := Decode(file, data, &list, opts)
	if errors.Is(err, ErrEmpty) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	// Decode accepted data, so this cannot fail.
	var nodes []yaml.Node
	_ = yaml.Unmarshal(data, &nodes)
	lines := make([]int, len(list))
	for i := range lines {
		if i < len(nodes) {
			lines[i] = nodes[i].Line
		}
	}
	return list, lines, nil
}
