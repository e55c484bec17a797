package kernel

import (
	"errors"
	"fmt"
	"reflect"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/llconform/llconform/internal/yamlfile"
	"github.com/llconform/llconform/vm/arch"
	"github.com/llconform/llconform/vm/qemu"
)

// kernelsFile is kernels.yaml as written; Parse checks it and turns it into Entries.
type kernelsFile struct {
	Kernels      []entryYAML `yaml:"kernels"`
	DebianMirror *mirrorYAML `yaml:"debian_mirror"`
}

// mirrorYAML is the optional debian_mirror key: where to fetch Debian's kernels from on a
// host whose apt sources list no Debian archive (see MirrorConfig).
type mirrorYAML struct {
	Archive  scalar `yaml:"archive"`
	Security scalar `yaml:"security"`
	Keyring  scalar `yaml:"keyring"`
}

// Config is the content of a kernels.yaml file.
type Config struct {
	Entries []Entry
	// Mirror is the debian_mirror setting; zero when the file has none.
	Mirror MirrorConfig
}

type entryYAML struct {
	Name    scalar      `yaml:"name"`
	Arch    scalar      `yaml:"arch"`
	Debian  *debianYAML `yaml:"debian"`
	Local   *localYAML  `yaml:"local"`
	Cmdline scalar      `yaml:"cmdline"`
	CPUs    integer     `yaml:"cpus"`
	Memory  scalar      `yaml:"memory"`
	Accel   scalar      `yaml:"accel"`
	CPU     scalar      `yaml:"cpu"`
	ICount  scalar      `yaml:"icount"`
	Timeout scalar      `yaml:"timeout"`
	Compat  boolean     `yaml:"compat"`
	Expect  *expectYAML `yaml:"expect"`
}

type debianYAML struct {
	Package scalar `yaml:"package"`
	Version scalar `yaml:"version"`
	Newest  scalar `yaml:"newest"`
	Suite   scalar `yaml:"suite"`
}

type localYAML struct {
	BzImage scalar `yaml:"bzimage"`
	Modules scalar `yaml:"modules"`
	Config  scalar `yaml:"config"`
}

type expectYAML struct {
	ABI            *integer  `yaml:"abi"`
	Errata         []integer `yaml:"errata"`
	MissingModules []scalar  `yaml:"missing_modules"`
}

// scalar is a non-empty string and the line it is on, for messages about its value.
type scalar struct {
	s    string
	line int
}

func (v *scalar) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode || n.Value == "" {
		return yamlfile.TypeError(n, "expected a non-empty string")
	}
	v.s, v.line = n.Value, n.Line
	return nil
}

// integer is an int whose error message shows the value given.
type integer int

func (v *integer) UnmarshalYAML(n *yaml.Node) error {
	var i int
	if n.Kind != yaml.ScalarNode || n.Decode(&i) != nil {
		return yamlfile.TypeError(n, "expected an integer, got %q", n.Value)
	}
	*v = integer(i)
	return nil
}

// boolean is a bool whose error message shows the value given.
type boolean bool

func (v *boolean) UnmarshalYAML(n *yaml.Node) error {
	var b bool
	if n.Kind != yaml.ScalarNode || n.Decode(&b) != nil {
		return yamlfile.TypeError(n, "expected true or false, got %q", n.Value)
	}
	*v = boolean(b)
	return nil
}

var kernelsOptions = yamlfile.Options{
	Want: map[reflect.Type]string{
		reflect.TypeFor[[]entryYAML](): "kernels must be a list",
		reflect.TypeFor[[]integer]():   "errata must be a list of integers",
		reflect.TypeFor[[]scalar]():    "missing_modules must be a list of module names",
	},
	NoNull: true,
}

// Parse reads kernels.yaml content; file names it in errors, which have
// the form "kernels.yaml:12: unknown key \"expct\"". Relative local paths
// are kept as written. Anchors and aliases (&x, *x, <<: *x) work.
//
// Format:
//
//	kernels:
//	  - name: bookworm
//	    debian: {package: linux-image-6.1.0-56-cloud-amd64}
//	    expect: {abi: 2, errata: [3, 4], missing_modules: [smc]}
//	  - name: trixie-bpo
//	    debian: {newest: "linux-image-7.3.*-cloud-amd64", suite: trixie-backports}
//	    arch: amd64          # amd64 (default) or arm64: the package's architecture
//	    cpus: 1
//	    memory: 1G
//	    accel: auto          # auto, tcg or kvm
//	    cpu: max,-cx16       # QEMU -cpu value, default max
//	    timeout: 4m
//	    cmdline: audit=1
//	    icount: shift=4,sleep=off  # QEMU -icount: guest time counts instructions (TCG only)
//	    compat: true         # also run the suites as 32-bit x86 programs (x86-64 kernels)
//	  - name: mine
//	    local: {bzimage: build/bzImage, modules: build/lib/modules/7.3.0, config: build/.config}
func Parse(file string, data []byte) ([]Entry, error) {
	c, err := ParseConfig(file, data)
	if err != nil {
		return nil, err
	}
	return c.Entries, nil
}

// ParseConfig reads kernels.yaml content like Parse, with its optional debian_mirror key:
//
//	debian_mirror:
//	  archive: http://mirror.example/debian             # the directory with dists/ and pool/
//	  security: http://mirror.example/debian-security   # optional
//	  keyring: /path/to/debian-archive-keyring.gpg       # optional
//	kernels:
//	  ...
func ParseConfig(file string, data []byte) (*Config, error) {
	var f kernelsFile
	err := yamlfile.Decode(file, data, &f, kernelsOptions)
	if errors.Is(err, yamlfile.ErrEmpty) {
		return nil, fmt.Errorf("%s: empty file", file)
	}
	if err != nil {
		return nil, err
	}
	// Where the document and each entry start, for messages about a whole entry. Decode
	// accepted data, so these cannot fail.
	var doc yaml.Node
	var pos struct {
		Kernels []yaml.Node `yaml:"kernels"`
	}
	_ = yaml.Unmarshal(data, &doc)
	_ = yaml.Unmarshal(data, &pos)
	if f.Kernels == nil {
		return nil, fmt.Errorf("%s:%d: missing key \"kernels\"", file, doc.Content[0].Line)
	}
	var entries []Entry
	seen := map[string]int{}
	for i, y := range f.Kernels {
		line := pos.Kernels[i].Line
		e, err := y.entry(file, line)
		if err != nil {
			return nil, err
		}
		if first, dup := seen[e.Name]; dup {
			return nil, fmt.Errorf("%s:%d: duplicate name %q (first at line %d)", file, line, e.Name, first)
		}
		seen[e.Name] = line
		entries = append(entries, e)
	}
	c := &Config{Entries: entries}
	if m := f.DebianMirror; m != nil {
		c.Mirror = MirrorConfig{Archive: m.Archive.s, Security: m.Security.s, Keyring: m.Keyring.s}
		if err := c.Mirror.Check(); err != nil {
			line := max(m.Archive.line, m.Security.line, m.Keyring.line)
			return nil, fmt.Errorf("%s:%d: debian_mirror: %v", file, line, err)
		}
	}
	return c, nil
}

// entry checks what typed decoding cannot (values, and keys that go together) and returns
// the entry with defaults set; line is where it starts in file.
func (y entryYAML) entry(file string, line int) (Entry, error) {
	errorf := func(line int, format string, args ...any) error {
		return fmt.Errorf("%s:%d: %s", file, line, fmt.Sprintf(format, args...))
	}
	e := Entry{
		Name:    y.Name.s,
		Arch:    y.Arch.s,
		Cmdline: y.Cmdline.s,
		CPUs:    int(y.CPUs),
		Memory:  y.Memory.s,
		Accel:   y.Accel.s,
		CPU:     y.CPU.s,
		Compat:  bool(y.Compat),
	}
	if d := y.Debian; d != nil {
		e.Debian = &DebianSource{Package: d.Package.s, Version: d.Version.s, Newest: d.Newest.s, Suite: d.Suite.s}
	}
	if l := y.Local; l != nil {
		e.Local = &LocalSource{BzImage: l.BzImage.s, Modules: l.Modules.s, Config: l.Config.s}
	}
	if x := y.Expect; x != nil {
		e.Expect = &Expect{}
		if x.ABI != nil {
			abi := int(*x.ABI)
			e.Expect.ABI = &abi
		}
		// An empty list expects no errata fixed; only a missing key leaves them unchecked
		// (report.Expect tells nil from empty).
		if x.Errata != nil {
			e.Expect.Errata = make([]int, 0, len(x.Errata))
		}
		for _, n := range x.Errata {
			e.Expect.Errata = append(e.Expect.Errata, int(n))
		}
		for _, m := range x.MissingModules {
			if !moduleRE.MatchString(m.s) {
				return e, errorf(m.line, "bad module name %q in missing_modules (a module's name, such as sctp)", m.s)
			}
			e.Expect.MissingModules = append(e.Expect.MissingModules, m.s)
		}
	}
	if e.CPU != "" && !cpuRE.MatchString(e.CPU) {
		return e, errorf(y.CPU.line, "bad cpu %q (a QEMU -cpu value such as max or max,-cx16)", e.CPU)
	}
	if y.ICount.s != "" {
		c, err := qemu.ParseICount(y.ICount.s)
		if err != nil {
			return e, errorf(y.ICount.line, "%v", err)
		}
		e.ICount = c
	}
	if e.Name == "" {
		return e, errorf(line, "missing key \"name\"")
	}
	if y.Arch.s != "" {
		if err := arch.Check(y.Arch.s); err != nil {
			return e, errorf(y.Arch.line, "%s: %v", e.Name, err)
		}
	}
	if t := y.Timeout.s; t != "" {
		d, err := time.ParseDuration(t)
		if err != nil || d <= 0 {
			return e, errorf(line, "%s: bad timeout %q", e.Name, t)
		}
		e.Timeout = d
	}
	if err := e.validate(); err != nil {
		return e, errorf(line, "%v", err)
	}
	e.setDefaults()
	return e, nil
}
