package coverage

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// This file reads the tests out of a kselftest harness C file. It does not preprocess C:
// it tokenizes the file, follows #include "x.h" of files in the same directory (where the
// Landlock selftests keep shared fixture variants, e.g. scoped_base_variants.h), expands
// the file's own macros whose body defines tests, fixtures or variants, and records every
// harness definition made at file scope (outside braces). Conditional compilation is not
// evaluated: the selftests use it only for fallback constants.

// harnessMacros are the kselftest harness definitions the parser reads, with their arity.
// Their own #define (kselftest_harness.h, or an alias such as common.h's TEST_F_FORK) is
// never expanded: the harness's meaning of each is known.
var harnessMacros = map[string]int{
	"TEST":                1, // TEST(name)
	"TEST_SIGNAL":         2, // TEST_SIGNAL(name, signal)
	"TEST_F":              2, // TEST_F(fixture, name)
	"TEST_F_FORK":         2, // Landlock's common.h alias of TEST_F
	"TEST_F_SIGNAL":       3, // TEST_F_SIGNAL(fixture, name, signal)
	"TEST_F_TIMEOUT":      3, // TEST_F_TIMEOUT(fixture, name, timeout)
	"FIXTURE":             1, // FIXTURE(fixture)
	"FIXTURE_VARIANT_ADD": 2, // FIXTURE_VARIANT_ADD(fixture, variant)
}

type tokKind int

const (
	tokIdent tokKind = iota
	tokPunct
	tokOther     // numbers, string and character literals
	tokDirective // a whole preprocessor line; text holds it without the '#'
)

type token struct {
	kind tokKind
	text string
	file string
	line int
	// space is set when whitespace precedes the token: it tells "#define F(x)" (a
	// function-like macro) from "#define F (x)".
	space bool
	// hide names the macros whose expansion produced the token: as in C, a macro is not
	// expanded again inside its own expansion.
	hide []string
}

func (t token) pos() string { return fmt.Sprintf("%s:%d", t.file, t.line) }

// lex splits C source into tokens, dropping comments. A preprocessor line, continuations
// included, becomes one tokDirective token.
func lex(file string, src []byte) ([]token, error) {
	var out []token
	line := 1
	lineStart := true
	space := false
	for i := 0; i < len(src); {
		c := src[i]
		switch {
		case c == '\n':
			line++
			i++
			lineStart, space = true, true
		case c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v':
			i++
			space = true
		case c == '\\' && i+1 < len(src) && src[i+1] == '\n':
			i += 2
			line++
			space = true
		case c == '/' && i+1 < len(src) && src[i+1] == '/':
			for i < len(src) && src[i] != '\n' {
				i++
			}
		case c == '/' && i+1 < len(src) && src[i+1] == '*':
			end := strings.Index(string(src[i+2:]), "*/")
			if end < 0 {
				return nil, fmt.Errorf("%s:%d: unterminated comment", file, line)
			}
			line += strings.Count(string(src[i:i+2+end+2]), "\n")
			i += 2 + end + 2
			space = true
		case c == '#' && lineStart:
			// The directive runs to the first newline not escaped by a backslash; comments
			// inside it are dropped (they may span lines).
			start := line
			var b strings.Builder
			i++
			for i < len(src) && src[i] != '\n' {
				switch {
				case src[i] == '\\' && i+1 < len(src) && src[i+1] == '\n':
					b.WriteByte(' ')
					i += 2
					line++
				case src[i] == '/' && i+1 < len(src) && src[i+1] == '*':
					end := strings.Index(string(src[i+2:]), "*/")
					if end < 0 {
						return nil, fmt.Errorf("%s:%d: unterminated comment", file, line)
					}
					line += strings.Count(string(src[i:i+2+end+2]), "\n")
					i += 2 + end + 2
					b.WriteByte(' ')
				case src[i] == '/' && i+1 < len(src) && src[i+1] == '/':
					for i < len(src) && src[i] != '\n' {
						i++
					}
				default:
					b.WriteByte(src[i])
					i++
				}
			}
			out = append(out, token{kind: tokDirective, text: b.String(), file: file, line: start})
			space = true
		case c == '"' || c == '\'':
			j := i + 1
			for j < len(src) && src[j] != c {
				if src[j] == '\\' {
					j++
				}
				if j < len(src) && src[j] == '\n' {
					return nil, fmt.Errorf("%s:%d: unterminated literal", file, line)
				}
				j++
			}
			if j >= len(src) {
				return nil, fmt.Errorf("%s:%d: unterminated literal", file, line)
			}
			out = append(out, token{kind: tokOther, text: string(src[i : j+1]), file: file, line: line, space: space})
			i = j + 1
			lineStart, space = false, false
		case isIdentStart(c):
			j := i
			for j < len(src) && isIdentChar(src[j]) {
				j++
			}
			out = append(out, token{kind: tokIdent, text: string(src[i:j]), file: file, line: line, space: space})
			i = j
			lineStart, space = false, false
		case c >= '0' && c <= '9':
			j := i
			for j < len(src) && (isIdentChar(src[j]) || src[j] == '.') {
				j++
			}
			out = append(out, token{kind: tokOther, text: string(src[i:j]), file: file, line: line, space: space})
			i = j
			lineStart, space = false, false
		default:
			out = append(out, token{kind: tokPunct, text: string(c), file: file, line: line, space: space})
			i++
			lineStart, space = false, false
		}
	}
	return out, nil
}

func isIdentStart(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func isIdentChar(c byte) bool { return isIdentStart(c) || c >= '0' && c <= '9' }

// macro is a #define of the file being parsed.
type macro struct {
	name     string
	function bool
	params   []string
	body     []token
	at       string // where it is defined
}

// parseDefine reads the tokens of "define NAME[(params)] body".
func parseDefine(d token) (macro, error) {
	toks, err := lex(d.file, []byte(d.text))
	if err != nil {
		return macro{}, err
	}
	for i := range toks {
		toks[i].line += d.line - 1
	}
	// toks[0] is "define".
	if len(toks) < 2 || toks[1].kind != tokIdent {
		return macro{}, fmt.Errorf("%s: #define without a name", d.pos())
	}
	m := macro{name: toks[1].text, at: d.pos()}
	rest := toks[2:]
	if len(rest) > 0 && rest[0].text == "(" && !rest[0].space {
		m.function = true
		i := 1
		for ; i < len(rest) && rest[i].text != ")"; i++ {
			switch t := rest[i]; {
			case t.kind == tokIdent:
				m.params = append(m.params, t.text)
			case t.text == ".":
				if !slices.Contains(m.params, "__VA_ARGS__") {
					m.params = append(m.params, "__VA_ARGS__")
				}
			case t.text != ",":
				return macro{}, fmt.Errorf("%s: #define %s: unexpected %q in the parameters", d.pos(), m.name, t.text)
			}
		}
		if i == len(rest) {
			return macro{}, fmt.Errorf("%s: #define %s: unterminated parameter list", d.pos(), m.name)
		}
		rest = rest[i+1:]
	}
	m.body = rest
	return m, nil
}

// parsedTest is a test as defined in the source, before variants are attached.
type parsedTest struct {
	fixture, name string
	at            string
}

// unit is the state of one translation unit: a *_test.c file and what it includes.
type unit struct {
	dir      string
	included map[string]bool
	macros   map[string]macro
	fixtures map[string]string // fixture -> where it is defined
	variants map[string][]string
	tests    []parsedTest
	// stack holds the token sources, innermost (a macro expansion, an include) last.
	stack      [][]token
	expansions int
}

// maxExpansions bounds macro expansion, as a guard: the hide sets already stop recursion.
const maxExpansions = 10000

// ParseFile returns the tests of one selftest file, dir/name: every TEST, TEST_SIGNAL,
// TEST_F, TEST_F_FORK, TEST_F_SIGNAL and TEST_F_TIMEOUT in source order, each TEST_F-like
// one named "fixture.test" with the variants its fixture has in the file (FIXTURE_VARIANT_ADD,
// including those of included headers), in source order. A test of an undefined fixture, a
// variant of one, a test defined twice and a macro that defines tests in a way the parser
// does not expand (token pasting, stringizing) are errors.
func ParseFile(dir, name string) ([]Test, error) {
	u := &unit{dir: dir, included: map[string]bool{name: true}, macros: map[string]macro{},
		fixtures: map[string]string{}, variants: map[string][]string{}}
	toks, err := u.read(name)
	if err != nil {
		return nil, err
	}
	u.stack = [][]token{toks}
	if err := u.run(); err != nil {
		return nil, err
	}
	file := strings.TrimSuffix(name, ".c")
	var out []Test
	seen := map[string]string{}
	for _, t := range u.tests {
		test := Test{File: file, Name: t.name}
		if t.fixture != "" {
			if _, ok := u.fixtures[t.fixture]; !ok {
				return nil, fmt.Errorf("%s: test %s of fixture %s, which the file does not define", t.at, t.name, t.fixture)
			}
			test.Name = t.fixture + "." + t.name
			test.Variants = u.variants[t.fixture]
		}
		if prev, dup := seen[test.Name]; dup {
			return nil, fmt.Errorf("%s: test %s already defined at %s", t.at, test.Name, prev)
		}
		seen[test.Name] = t.at
		out = append(out, test)
	}
	return out, nil
}

func (u *unit) read(name string) ([]token, error) {
	src, err := os.ReadFile(filepath.Join(u.dir, name))
	if err != nil {
		return nil, err
	}
	return lex(name, src)
}

// next pops the next token from the innermost source that has one.
func (u *unit) next() (token, bool) {
	for len(u.stack) > 0 {
		top := u.stack[len(u.stack)-1]
		if len(top) > 0 {
			u.stack[len(u.stack)-1] = top[1:]
			return top[0], true
		}
		u.stack = u.stack[:len(u.stack)-1]
	}
	return token{}, false
}

// peek returns the next token without taking it.
func (u *unit) peek() (token, bool) {
	for i := len(u.stack) - 1; i >= 0; i-- {
		if len(u.stack[i]) > 0 {
			return u.stack[i][0], true
		}
	}
	return token{}, false
}

func (u *unit) push(toks []token) {
	if len(toks) > 0 {
		u.stack = append(u.stack, toks)
	}
}

func (u *unit) run() error {
	depth := 0
	for {
		t, ok := u.next()
		if !ok {
			return nil
		}
		switch {
		case t.kind == tokDirective:
			if err := u.directive(t); err != nil {
				return err
			}
		case t.text == "{":
			depth++
		case t.text == "}":
			depth--
		case t.kind != tokIdent || depth != 0:
		case harnessMacros[t.text] > 0:
			if err := u.harness(t); err != nil {
				return err
			}
		default:
			if m, ok := u.macros[t.text]; ok && !slices.Contains(t.hide, m.name) && u.definesTests(m, map[string]bool{}) {
				if err := u.expand(m, t); err != nil {
					return err
				}
			}
		}
	}
}

func (u *unit) directive(d token) error {
	fields := strings.Fields(d.text)
	if len(fields) == 0 {
		return nil
	}
	switch fields[0] {
	case "include":
		inc := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(d.text), "include"))
		// Only "x.h" of the selftest directory itself: <...> and "../..." headers, and
		// those found in the parent directory (tools/testing/selftests), are the libc's
		// and the kselftest harness's, which define no tests.
		if len(inc) < 2 || inc[0] != '"' {
			return nil
		}
		name := strings.Trim(inc, `"`)
		if strings.Contains(name, "/") || u.included[name] {
			return nil
		}
		u.included[name] = true
		toks, err := u.read(name)
		if errors.Is(err, fs.ErrNotExist) {
			if _, perr := os.Stat(filepath.Join(u.dir, "..", name)); perr == nil {
				return nil
			}
		}
		if err != nil {
			return fmt.Errorf("%s: #include: %w", d.pos(), err)
		}
		u.push(toks)
	case "define":
		m, err := parseDefine(d)
		if err != nil {
			return err
		}
		if harnessMacros[m.name] == 0 {
			u.macros[m.name] = m
		}
	case "undef":
		if len(fields) > 1 {
			delete(u.macros, fields[1])
		}
	}
	return nil
}

// definesTests reports whether expanding m can define a test, a fixture or a variant.
func (u *unit) definesTests(m macro, seen map[string]bool) bool {
	if seen[m.name] {
		return false
	}
	seen[m.name] = true
	for _, t := range m.body {
		if t.kind != tokIdent {
			continue
		}
		if harnessMacros[t.text] > 0 {
			return true
		}
		if inner, ok := u.macros[t.text]; ok && u.definesTests(inner, seen) {
			return true
		}
	}
	return false
}

// args reads a parenthesised, comma-separated argument list after a macro name.
func (u *unit) args(name token) ([][]token, error) {
	open, ok := u.next()
	if !ok || open.text != "(" {
		return nil, fmt.Errorf("%s: %s without arguments", name.pos(), name.text)
	}
	var out [][]token
	var cur []token
	depth := 0
	for {
		t, ok := u.next()
		if !ok {
			return nil, fmt.Errorf("%s: %s: unterminated argument list", name.pos(), name.text)
		}
		switch {
		case t.kind == tokDirective:
			return nil, fmt.Errorf("%s: %s: a preprocessor line inside the arguments", t.pos(), name.text)
		case t.text == "(" || t.text == "[" || t.text == "{":
			depth++
		case (t.text == ")" || t.text == "]" || t.text == "}") && depth > 0:
			depth--
		case t.text == ")":
			return append(out, cur), nil
		case t.text == "," && depth == 0:
			out = append(out, cur)
			cur = nil
			continue
		}
		cur = append(cur, t)
	}
}

// harness records one harness definition.
func (u *unit) harness(name token) error {
	if p, ok := u.peek(); !ok || p.text != "(" {
		return nil // the bare identifier, e.g. in an expression: not a definition
	}
	args, err := u.args(name)
	if err != nil {
		return err
	}
	if want := harnessMacros[name.text]; len(args) != want {
		return fmt.Errorf("%s: %s takes %d arguments, got %d", name.pos(), name.text, want, len(args))
	}
	ids := make([]string, len(args))
	for i, a := range args {
		if len(a) != 1 || a[0].kind != tokIdent {
			if i >= 2 {
				continue // a signal number or timeout: any expression
			}
			return fmt.Errorf("%s: %s: argument %d is not a name", name.pos(), name.text, i+1)
		}
		ids[i] = a[0].text
	}
	switch name.text {
	case "TEST", "TEST_SIGNAL":
		u.tests = append(u.tests, parsedTest{name: ids[0], at: name.pos()})
	case "FIXTURE":
		if prev, dup := u.fixtures[ids[0]]; dup {
			return fmt.Errorf("%s: fixture %s already defined at %s", name.pos(), ids[0], prev)
		}
		u.fixtures[ids[0]] = name.pos()
	case "FIXTURE_VARIANT_ADD":
		if _, ok := u.fixtures[ids[0]]; !ok {
			return fmt.Errorf("%s: variant %s of fixture %s, which is not defined before it", name.pos(), ids[1], ids[0])
		}
		if slices.Contains(u.variants[ids[0]], ids[1]) {
			return fmt.Errorf("%s: variant %s of fixture %s defined twice", name.pos(), ids[1], ids[0])
		}
		u.variants[ids[0]] = append(u.variants[ids[0]], ids[1])
	default: // TEST_F and its kin
		u.tests = append(u.tests, parsedTest{fixture: ids[0], name: ids[1], at: name.pos()})
	}
	return nil
}

// expand replaces an invocation of m by its body, arguments substituted.
func (u *unit) expand(m macro, name token) error {
	u.expansions++
	if u.expansions > maxExpansions {
		return fmt.Errorf("%s: macro %s: expansion does not end (recursive macro?)", name.pos(), m.name)
	}
	for _, t := range m.body {
		if t.text == "#" {
			return fmt.Errorf("%s: macro %s (defined at %s) defines tests with # or ##, which the parser does not expand",
				name.pos(), m.name, m.at)
		}
	}
	if !m.function {
		u.push(relocate(m.body, name, m.name))
		return nil
	}
	if p, ok := u.peek(); !ok || p.text != "(" {
		return nil // a function-like macro's name alone is not an invocation
	}
	args, err := u.args(name)
	if err != nil {
		return err
	}
	if len(args) == 1 && len(args[0]) == 0 && len(m.params) == 0 {
		args = nil
	}
	if len(args) != len(m.params) && !slices.Contains(m.params, "__VA_ARGS__") {
		return fmt.Errorf("%s: macro %s takes %d arguments, got %d", name.pos(), m.name, len(m.params), len(args))
	}
	var out []token
	for _, t := range m.body {
		i := slices.Index(m.params, t.text)
		if t.kind != tokIdent || i < 0 {
			out = append(out, t)
			continue
		}
		if t.text == "__VA_ARGS__" {
			for j, a := range args[min(i, len(args)):] {
				if j > 0 {
					out = append(out, token{kind: tokPunct, text: ","})
				}
				out = append(out, a...)
			}
			continue
		}
		out = append(out, args[i]...)
	}
	u.push(relocate(out, name, m.name))
	return nil
}

// relocate places an expansion at its invocation, so that errors and test positions name
// the line that uses the macro, and hides the macros being expanded from its tokens.
func relocate(toks []token, at token, m string) []token {
	hide := append(slices.Clip(at.hide), m)
	out := slices.Clone(toks)
	for i := range out {
		out[i].file, out[i].line = at.file, at.line
		out[i].hide = append(slices.Clip(out[i].hide), hide...)
	}
	return out
}
