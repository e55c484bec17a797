// Package kernel reads kernels.yaml and acquires the kernels it names:
// Debian packages (pinned, or newest matching a pattern in a suite) fetched
// through a private apt configuration and verified against the archive's
// index, or local bzImages. It also takes out of an x86 bzImage the
// uncompressed kernel QEMU boots through PVH, kept in the cache for fetched
// kernels.
package kernel

import (
	"cmp"
	"fmt"
	"os"
	"path"
	"regexp"
	"runtime"
	"strings"
	"time"

	"github.com/llconform/llconform/vm/arch"
	"github.com/llconform/llconform/vm/qemu"
)

// Defaults applied to every entry that does not set the field.
const (
	DefaultCPUs    = 1
	DefaultMemory  = "1G"
	DefaultAccel   = "auto"
	DefaultTimeout = 4 * time.Minute
)

// Entry is one kernel to test and how to boot it.
type Entry struct {
	Name string
	// Arch is the kernel's architecture (package arch): which Debian packages, QEMU and
	// guest binaries it takes.
	Arch   string
	Debian *DebianSource // exactly one of Debian and Local is set
	Local  *LocalSource

	Cmdline string // extra kernel arguments
	CPUs    int
	Memory  string // QEMU -m syntax: 1024M, 1G
	Accel   string // auto, tcg or kvm
	// CPU is the QEMU -cpu value: a model and feature switches, such as
	// "max,-cx16". QEMU 7.2's TCG can leave garbage in EFLAGS after
	// CMPXCHG16B, which crashes some kernels (Debian's 6.12.107); without
	// cx16 they fall back to code that does not use it.
	CPU string
	// ICount is QEMU's -icount value in canonical form (qemu.ParseICount), empty for
	// none: guest time then counts emulated instructions instead of following the host's
	// clock, so benchmark figures do not move with the host's load. It implies TCG.
	ICount  string
	Timeout time.Duration
	// Compat also runs every suite as a 32-bit x86 program (plan.CompatArch), through the
	// kernel's compat system call entry points, reported as a run of its own.
	Compat bool
	// Expect is passed through for the host to compare with what the
	// kernel claims; nil when not given.
	Expect *Expect
}

// DebianSource names a Debian kernel package: either pinned (Package,
// optionally Version) or the highest version of the packages whose name
// matches Newest (a glob such as "linux-image-7.3.*-cloud-amd64"), in Suite
// or in every configured suite.
type DebianSource struct {
	Package string
	Version string
	Newest  string
	Suite   string
}

// LocalSource is a kernel built or downloaded by the user.
type LocalSource struct {
	BzImage string
	Modules string // lib/modules/<release> directory, optional
	Config  string // optional
}

// Expect is what the kernel must claim.
type Expect struct {
	ABI    *int  `json:"abi,omitempty"`
	Errata []int `json:"errata,omitempty"`
	// MissingModules are modules the kernel does not have: in a certified run, the specs
	// that need one of them may skip.
	MissingModules []string `json:"missing_modules,omitempty"`
}

// moduleRE is a kernel module's name.
var moduleRE = regexp.MustCompile(`^[a-z0-9_]+$`)

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]*$`)
var memoryRE = regexp.MustCompile(`^[1-9][0-9]*[MG]?$`)

// cpuRE is a QEMU -cpu value: a model then ",+feat", ",-feat" or
// ",feat=value" switches; no spaces, so it stays one argument.
var cpuRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*(,[+-]?[A-Za-z0-9][A-Za-z0-9._-]*(=[A-Za-z0-9._-]+)?)*$`)

// ParseFile reads a kernels.yaml file.
func ParseFile(file string) ([]Entry, error) {
	c, err := ParseConfigFile(file)
	if err != nil {
		return nil, err
	}
	return c.Entries, nil
}

// ParseConfigFile reads a kernels.yaml file with its settings (ParseConfig).
func ParseConfigFile(file string) (*Config, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	return ParseConfig(path.Base(file), b)
}

func (e *Entry) setDefaults() {
	if e.CPUs == 0 {
		e.CPUs = DefaultCPUs
	}
	if e.Memory == "" {
		e.Memory = DefaultMemory
	}
	if e.Accel == "" {
		e.Accel = DefaultAccel
	}
	if e.Timeout == 0 {
		e.Timeout = DefaultTimeout
	}
	if e.Arch == "" {
		e.Arch = arch.Default
	}
	if e.CPU == "" {
		e.CPU = qemu.DefaultCPUOf(e.Arch)
	}
}

func (e *Entry) validate() error {
	if !nameRE.MatchString(e.Name) {
		return fmt.Errorf("bad name %q: use letters, digits and . _ + -", e.Name)
	}
	switch {
	case e.Debian == nil && e.Local == nil:
		return fmt.Errorf("%s: needs a source: debian or local", e.Name)
	case e.Debian != nil && e.Local != nil:
		return fmt.Errorf("%s: debian and local are exclusive", e.Name)
	}
	if d := e.Debian; d != nil {
		switch {
		case (d.Package == "") == (d.Newest == ""):
			return fmt.Errorf("%s: debian needs exactly one of package and newest", e.Name)
		case d.Version != "" && d.Package == "":
			return fmt.Errorf("%s: debian version goes with package, not newest", e.Name)
		case d.Suite != "" && d.Newest == "":
			return fmt.Errorf("%s: debian suite goes with newest (a pinned package is looked up in every suite)", e.Name)
		case d.Suite != "" && !knownSuite(d.Suite):
			return fmt.Errorf("%s: unknown suite %q (known: %s)", e.Name, d.Suite, strings.Join(Suites, ", "))
		}
		if d.Newest != "" {
			if _, err := path.Match(d.Newest, ""); err != nil {
				return fmt.Errorf("%s: bad pattern %q: %v", e.Name, d.Newest, err)
			}
		}
	}
	if l := e.Local; l != nil && l.BzImage == "" {
		return fmt.Errorf("%s: local needs bzimage", e.Name)
	}
	if e.CPUs < 0 || e.CPUs > 64 {
		return fmt.Errorf("%s: cpus %d out of range 1-64", e.Name, e.CPUs)
	}
	if e.Memory != "" && !memoryRE.MatchString(e.Memory) {
		return fmt.Errorf("%s: bad memory %q (e.g. 1G, 768M)", e.Name, e.Memory)
	}
	if e.CPU != "" && !cpuRE.MatchString(e.CPU) {
		return fmt.Errorf("%s: bad cpu %q (a QEMU -cpu value such as max or max,-cx16)", e.Name, e.CPU)
	}
	switch e.Accel {
	case "", "auto", "tcg", "kvm":
	default:
		return fmt.Errorf("%s: bad accel %q (auto, tcg or kvm)", e.Name, e.Accel)
	}
	a := cmp.Or(e.Arch, arch.Default)
	if err := arch.Check(a); err != nil {
		return fmt.Errorf("%s: %w", e.Name, err)
	}
	if e.Accel == "kvm" && !arch.Native(a) {
		return fmt.Errorf("%s: accel kvm needs an %s host (this llconform is built for %s)", e.Name, a, runtime.GOARCH)
	}
	if d := e.Debian; d != nil {
		// A package built for another architecture would boot under the wrong QEMU.
		if other := packageArch(d.Package + d.Newest); other != "" && other != a {
			return fmt.Errorf("%s: %s is an %s package, but the entry's arch is %s (set arch: %s)", e.Name, d.Package+d.Newest, other, a, other)
		}
	}
	if err := qemu.CheckICount(e.Accel, e.ICount); err != nil {
		return fmt.Errorf("%s: %w", e.Name, err)
	}
	return nil
}

// packageArch returns the architecture a kernel package's name (or pattern) ends with, as
// in linux-image-6.1.0-56-cloud-arm64; "" when it ends with none of arch.Known.
func packageArch(name string) string {
	for _, a := range arch.Known {
		if strings.HasSuffix(name, "-"+a) {
			return a
		}
	}
	return ""
}

// ParseSpec turns a command-line kernel spec into an entry with default
// boot options: "debian:<package>" or "file:<path to bzImage>".
func ParseSpec(spec string) (Entry, error) {
	kind, arg, ok := strings.Cut(spec, ":")
	if !ok || arg == "" {
		return Entry{}, fmt.Errorf("kernel spec %q: want debian:<package> or file:<bzImage>", spec)
	}
	var e Entry
	switch kind {
	case "debian":
		// The package's name says its architecture (linux-image-6.1.0-56-cloud-arm64).
		e = Entry{Name: strings.TrimPrefix(arg, "linux-image-"), Arch: packageArch(arg), Debian: &DebianSource{Package: arg}}
	case "file":
		e = Entry{Name: path.Base(arg), Local: &LocalSource{BzImage: arg}}
	default:
		return Entry{}, fmt.Errorf("kernel spec %q: unknown kind %q (want debian or file)", spec, kind)
	}
	if err := e.validate(); err != nil {
		return Entry{}, fmt.Errorf("kernel spec %q: %w", spec, err)
	}
	e.setDefaults()
	return e, nil
}
