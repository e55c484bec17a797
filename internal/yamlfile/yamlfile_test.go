package yamlfile

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

type inner struct {
	A string `yaml:"a"`
	N int    `yaml:"n"`
}

type outer struct {
	Items []inner `yaml:"items"`
	Named inner   `yaml:"named"`
	Odd   odd     `yaml:"odd"`
}

// odd refuses every value, the way a type with its own checks reports one.
type odd struct{}

func (odd) UnmarshalYAML(n *yaml.Node) error { return TypeError(n, "odd %q", n.Value) }

func TestDecode(t *testing.T) {
	var got outer
	src := "# comment\nitems:\n  - &i {a: x, n: 1}\n  - *i\n  - <<: *i\n    n: 2\nnamed: {a: y}\n"
	if err := Decode("f.yaml", []byte(src), &got, Options{}); err != nil {
		t.Fatal(err)
	}
	want := outer{Items: []inner{{"x", 1}, {"x", 1}, {"x", 2}}, Named: inner{A: "y"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestDecodeErrors(t *testing.T) {
	slices := Options{Want: map[reflect.Type]string{reflect.TypeFor[[]inner](): "items must be a list"}}
	for _, tc := range []struct {
		name, src string
		opts      Options
		want      string
	}{
		{"unknown key", "items:\n  - a: x\n    b: y\n", Options{}, `f.yaml:3: unknown key "b"`},
		{"unknown key with hint", "named: {c: 1}\n", Options{KeyHint: "want one of a, n"}, `f.yaml:1: unknown key "c" (want one of a, n)`},
		{"twice", "named:\n  a: x\n  a: y\n", Options{}, `f.yaml:3: key "a" given twice`},
		{"not a mapping", "named: x\n", Options{}, "f.yaml:1: expected a mapping"},
		{"top not a mapping", "- x\n", Options{}, "f.yaml:1: expected a mapping"},
		{"not a list", "items: x\n", Options{}, "f.yaml:1: expected a list"},
		{"not a list, wanted", "items: {a: x}\n", slices, "f.yaml:1: items must be a list"},
		{"not a string", "named: {a: [x]}\n", Options{}, "f.yaml:1: expected a string"},
		{"not an integer", "named: {n: many}\n", Options{}, "f.yaml:1: expected an integer"},
		{"own check", "odd: 7\n", Options{}, `f.yaml:1: odd "7"`},
		{"syntax", "named: [x\n", Options{}, "f.yaml: yaml: line 1:"},
		{"null", "named:\n  a:\n", Options{NoNull: true}, `f.yaml:2: key "a" has no value`},
		{"null item", "items: [~]\n", Options{NoNull: true}, "f.yaml:1: list item has no value"},
		{"all, in line order, once", "items:\n  - &i {a: x, z: 1}\n  - *i\nnamed: {n: x, b: 2}\nodd: 1\n", Options{},
			"f.yaml:2: unknown key \"z\"\nf.yaml:4: expected an integer\nf.yaml:4: unknown key \"b\"\nf.yaml:5: odd \"1\""},
	} {
		var v outer
		err := Decode("f.yaml", []byte(tc.src), &v, tc.opts)
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestDecodeNull(t *testing.T) {
	var v outer
	if err := Decode("f.yaml", []byte("named:\n  a: ~\n  n:\n"), &v, Options{}); err != nil || v.Named != (inner{}) {
		t.Errorf("without NoNull a key without a value is absent: %+v, %v", v, err)
	}
}

func TestDecodeEmpty(t *testing.T) {
	for _, src := range []string{"", "\n", "# only a comment\n"} {
		var v outer
		if err := Decode("f.yaml", []byte(src), &v, Options{}); !errors.Is(err, ErrEmpty) {
			t.Errorf("%q: err = %v, want ErrEmpty", src, err)
		}
	}
}

func TestDecodeList(t *testing.T) {
	list, lines, err := DecodeList[inner]("f.yaml", []byte("# two entries\n- a: x\n  n: 1\n\n- a: y\n"), Options{})
	if err != nil || len(list) != 2 || list[1].A != "y" || !reflect.DeepEqual(lines, []int{2, 5}) {
		t.Errorf("DecodeList = %+v, %v, %v; want two entries starting on lines 2 and 5", list, lines, err)
	}
	if list, lines, err := DecodeList[inner]("f.yaml", []byte("# nothing\n"), Options{}); err != nil || list != nil || lines != nil {
		t.Errorf("empty file: %v, %v, %v; want an empty list", list, lines, err)
	}
	if _, _, err := DecodeList[inner]("f.yaml", []byte("- b: x\n"), Options{}); err == nil || !strings.HasPrefix(err.Error(), "f.yaml:1:") {
		t.Errorf("unknown key: %v, want an error at f.yaml:1", err)
	}
}
