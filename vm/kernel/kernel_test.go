package kernel

import (
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/llconform/llconform/vm/qemu"
)

func TestParse(t *testing.T) {
	src := `# matrix
kernels:
  - name: bookworm
    debian: {package: linux-image-6.1.0-56-cloud-amd64, version: 6.1.192-2}
    expect: {abi: 2, errata: [3, 4], missing_modules: [smc]}
  - name: trixie-bpo
    debian:
      newest: "linux-image-7.3.*-cloud-amd64"
      suite: trixie-backports
    cpus: 2
    memory: 768M
    accel: tcg
    timeout: 90s
    cmdline: audit=1
    cpu: max,-cx16
    compat: true
  - name: mine
    local: {bzimage: build/bzImage, modules: build/lib/modules/7.3.0}
`
	got, err := Parse("kernels.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	abi := 2
	want := []Entry{
		{Name: "bookworm", Arch: "amd64", Debian: &DebianSource{Package: "linux-image-6.1.0-56-cloud-amd64", Version: "6.1.192-2"},
			CPUs: 1, Memory: "1G", Accel: "auto", CPU: qemu.DefaultCPU, Timeout: DefaultTimeout, Expect: &Expect{ABI: &abi, Errata: []int{3, 4}, MissingModules: []string{"smc"}}},
		{Name: "trixie-bpo", Arch: "amd64", Debian: &DebianSource{Newest: "linux-image-7.3.*-cloud-amd64", Suite: "trixie-backports"},
			CPUs: 2, Memory: "768M", Accel: "tcg", CPU: "max,-cx16", Timeout: 90 * time.Second, Cmdline: "audit=1", Compat: true},
		{Name: "mine", Arch: "amd64", Local: &LocalSource{BzImage: "build/bzImage", Modules: "build/lib/modules/7.3.0"},
			CPUs: 1, Memory: "1G", Accel: "auto", CPU: qemu.DefaultCPU, Timeout: DefaultTimeout},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

func TestParseMirror(t *testing.T) {
	c, err := ParseConfig("kernels.yaml", []byte("debian_mirror:\n  archive: http://mirror.invalid/debian\n  security: https://mirror.invalid/debian-security/\nkernels:\n  - name: a\n    debian: {package: p}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if want := (MirrorConfig{Archive: "http://mirror.invalid/debian", Security: "https://mirror.invalid/debian-security/"}); c.Mirror != want || len(c.Entries) != 1 {
		t.Errorf("config %+v", c)
	}
	for src, want := range map[string]string{
		"debian_mirror: {archive: mirror.invalid}\nkernels:\n  - name: a\n    debian: {package: p}\n":                            `kernels.yaml:1: debian_mirror: the Debian archive mirror "mirror.invalid": want an http:// or https:// URL`,
		"debian_mirror: {archiv: http://m.invalid/d}\nkernels:\n  - name: a\n    debian: {package: p}\n":                         `kernels.yaml:1: unknown key "archiv"`,
		"debian_mirror:\n  security: http://m.invalid/d\nkernels:\n  - name: a\n    debian: {package: p}\n":                      "kernels.yaml:2: debian_mirror: a Debian security mirror or keyring is set without the archive's URI",
		"debian_mirror: {archive: http://m.invalid/d, keyring: /nonexistent}\nkernels:\n  - name: a\n    debian: {package: p}\n": "no such file",
	} {
		if _, err := ParseConfig("kernels.yaml", []byte(src)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err = %v, want %q", src, err, want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{"kernels:\n  - name: a\n    debian: {package: p}\n    expct: {abi: 1}\n", `kernels.yaml:4: unknown key "expct"`},
		{"kernel:\n  - name: a\n", `kernels.yaml:1: unknown key "kernel"`},
		{"kernels:\n  - name: a\n    debian: {package: p}\n    compat: 386\n", `kernels.yaml:4: expected true or false, got "386"`},
		{"kernels:\n  - name: a\n    debian: {package: p}\n    expect: {missing_modules: sctp}\n", "kernels.yaml:4: missing_modules must be a list of module names"},
		{"kernels:\n  - name: a\n    debian: {package: p}\n    expect: {missing_modules: [sctp, SMC.ko]}\n", `kernels.yaml:4: bad module name "SMC.ko" in missing_modules`},
		{"kernels:\n  - name: a\n    debian: {pakage: p}\n", `kernels.yaml:3: unknown key "pakage"`},
		{"kernels:\n  - name: a\n", `kernels.yaml:2: a: needs a source`},
		{"kernels:\n  - debian: {package: p}\n", `kernels.yaml:2: missing key "name"`},
		{"kernels:\n  - name: a\n    debian: {package: p, newest: q}\n", "exactly one of package and newest"},
		{"kernels:\n  - name: a\n    debian: {package: p}\n    local: {bzimage: x}\n", "exclusive"},
		{"kernels:\n  - name: a\n    debian: {newest: p, suite: jessie}\n", `kernels.yaml:2: a: unknown suite "jessie"`},
		{"kernels:\n  - name: a\n    debian: {package: p}\n    cpus: many\n", `kernels.yaml:4: expected an integer, got "many"`},
		{"kernels:\n  - name: a\n    debian: {package: p}\n    timeout: soon\n", `bad timeout "soon"`},
		{"kernels:\n  - name: a\n    debian: {package: p}\n    accel: hvf\n", `bad accel "hvf"`},
		{"kernels:\n  - name: a\n    arch: aarch64\n    debian: {package: p}\n", `kernels.yaml:3: a: unknown arch "aarch64" (known: amd64, arm64)`},
		{"kernels:\n  - name: a\n    arch: arm64\n    debian: {package: linux-image-6.1.0-56-cloud-amd64}\n", `kernels.yaml:2: a: linux-image-6.1.0-56-cloud-amd64 is an amd64 package, but the entry's arch is arm64 (set arch: amd64)`},
		{"kernels:\n  - name: a\n    debian: {newest: \"linux-image-*-cloud-arm64\", suite: sid}\n", `the entry's arch is amd64 (set arch: arm64)`},
		{"kernels:\n  - name: a\n    debian: {package: p}\n    memory: lots\n", `bad memory "lots"`},
		{"kernels:\n  - name: a\n    debian: {package: p}\n    cpu: max -cx16\n", `kernels.yaml:4: bad cpu "max -cx16"`},
		{"kernels:\n  - name: a\n    debian: {package: p}\n    cpu: max,,pcid\n", `kernels.yaml:4: bad cpu "max,,pcid"`},
		{"kernels:\n  - name: a\n    debian: {package: p}\n    cpu: \"\"\n", `kernels.yaml:4: expected a non-empty string`},
		{"kernels:\n  - name: a\n    debian: {package: p}\n    cpu: [max]\n", `kernels.yaml:4: expected a non-empty string`},
		{"kernels:\n  - name: a\n    debian: {package: p}\n    expect: {errata: 1}\n", "kernels.yaml:4: errata must be a list"},
		{"kernels:\n  - name: a\n    debian: {package: p}\n  - name: a\n    debian: {package: q}\n", `kernels.yaml:4: duplicate name "a" (first at line 2)`},
		{"kernels:\n  - name: a/b\n    debian: {package: p}\n", `bad name "a/b"`},
		{"kernels:\n  - name: a\n    name: b\n", `kernels.yaml:3: key "name" given twice`},
		{"kernels: [\n", "kernels.yaml: yaml: line"},
		{"kernels:\n  - name: a\n    debian: {package: p}\n    icount: shift=11\n", `kernels.yaml:4: icount "shift=11": shift must be auto or 0 to 10`},
		{"kernels:\n  - name: a\n    debian: {package: p}\n    icount: shift=auto,sleep=off\n", `kernels.yaml:4: icount "shift=auto,sleep=off": QEMU refuses sleep=off with shift=auto`},
		{"kernels:\n  - name: a\n    debian: {package: p}\n    icount: sleep=off\n", `kernels.yaml:4: icount "sleep=off": shift is required`},
		{"kernels:\n  - name: a\n    debian: {package: p}\n    icount: \"\"\n", `kernels.yaml:4: expected a non-empty string`},
		{"kernels:\n  - name: a\n    debian: {package: p}\n    accel: kvm\n    icount: shift=4\n", `kernels.yaml:2: a: icount needs TCG`},
		{"", "kernels.yaml: empty file"},
		{"# nothing yet\n", "kernels.yaml: empty file"},
		{"- name: a\n", "kernels.yaml:1: expected a mapping"},
		{"{}\n", `kernels.yaml:1: missing key "kernels"`},
		{"kernels:\n  name: a\n", "kernels.yaml:2: kernels must be a list"},
		{"kernels:\n  - name: a\n    debian: p\n", "kernels.yaml:3: expected a mapping"},
		{"kernels:\n  - name: a\n    debian: {package: p}\n  - x\n", "kernels.yaml:4: expected a mapping"},
		{"kernels:\n  - name: a\n    debian: {package: p}\n    expect: {abi: 2, errata: [3, x]}\n", `kernels.yaml:4: expected an integer, got "x"`},
		{"kernels:\n  - name: a\n    debian: {package: p}\n    cpus: \"2\"\n", `kernels.yaml:4: expected an integer, got "2"`},
		{"kernels:\n  - name: a\n    debian: {package: p}\n    expect: {abi: 2, abi: 3}\n", `kernels.yaml:4: key "abi" given twice`},
		// A key without a value is refused, not taken as absent (which would drop an expect:).
		{"kernels:\n", `kernels.yaml:1: key "kernels" has no value`},
		{"kernels:\n  - name: a\n    debian: {package: p}\n    expect:\n", `kernels.yaml:4: key "expect" has no value`},
		{"kernels:\n  - name: a\n    debian: {package: p}\n    expect: {abi: }\n", `kernels.yaml:4: key "abi" has no value`},
		{"kernels:\n  - name: a\n    debian: {package: p}\n    memory: ~\n", `kernels.yaml:4: key "memory" has no value`},
		{"kernels:\n  - name: a\n    debian: {package: p}\n    expect: {errata: [3, ~]}\n", `kernels.yaml:4: list item has no value`},
		// An alias to something of the wrong kind is reported where the anchor is.
		{"kernels:\n  - name: &n [a]\n    debian: {package: p}\n  - name: *n\n    debian: {package: q}\n", `kernels.yaml:2: expected a non-empty string`},
	} {
		_, err := Parse("kernels.yaml", []byte(tc.src))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err = %v, want %q", tc.src, err, tc.want)
		}
	}
}

// Several key and type errors are all reported, in line order, once each even when an
// alias repeats them.
func TestParseErrorsAll(t *testing.T) {
	src := `kernels:
  - &k
    name: a
    debian: {package: p}
    cpuz: 1
  - <<: *k
    name: b
    cpus: many
  - *k
`
	_, err := Parse("kernels.yaml", []byte(src))
	want := "kernels.yaml:5: unknown key \"cpuz\"\nkernels.yaml:8: expected an integer, got \"many\""
	if err == nil || err.Error() != want {
		t.Errorf("err = %v, want\n%s", err, want)
	}
}

// Anchors, aliases and merge keys are YAML: they work.
func TestParseAliases(t *testing.T) {
	src := `kernels:
  - &k61
    name: debian-6.1
    debian: &deb61 {package: linux-image-6.1.0-56-cloud-amd64}
    expect: {abi: 2, errata: [3, 4]}
  - <<: *k61
    name: debian-6.1-smp
    cpus: 2
  - name: debian-6.1-tcg
    debian: *deb61
    accel: tcg
  - name: debian-6.1-tcg
    debian: *deb61
`
	_, err := Parse("kernels.yaml", []byte(src))
	if err == nil || err.Error() != `kernels.yaml:12: duplicate name "debian-6.1-tcg" (first at line 9)` {
		t.Fatalf("err = %v", err)
	}
	got, err := Parse("kernels.yaml", []byte(strings.TrimSuffix(src, "  - name: debian-6.1-tcg\n    debian: *deb61\n")))
	if err != nil {
		t.Fatal(err)
	}
	abi := 2
	deb := &DebianSource{Package: "linux-image-6.1.0-56-cloud-amd64"}
	want := []Entry{
		{Name: "debian-6.1", Arch: "amd64", Debian: deb, CPUs: 1, Memory: "1G", Accel: "auto", CPU: qemu.DefaultCPU, Timeout: DefaultTimeout, Expect: &Expect{ABI: &abi, Errata: []int{3, 4}}},
		{Name: "debian-6.1-smp", Arch: "amd64", Debian: deb, CPUs: 2, Memory: "1G", Accel: "auto", CPU: qemu.DefaultCPU, Timeout: DefaultTimeout, Expect: &Expect{ABI: &abi, Errata: []int{3, 4}}},
		{Name: "debian-6.1-tcg", Arch: "amd64", Debian: deb, CPUs: 1, Memory: "1G", Accel: "tcg", CPU: qemu.DefaultCPU, Timeout: DefaultTimeout},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

// An empty errata list expects none fixed, so a kernel that claims one mismatches; only a
// missing key leaves the errata unchecked (report.Expect tells nil from empty).
// An arm64 entry gets the arm64 QEMU's default CPU; KVM is refused for a foreign
// architecture.
func TestParseArch(t *testing.T) {
	es, err := Parse("kernels.yaml", []byte("kernels:\n  - name: a\n    arch: arm64\n    debian: {package: linux-image-7.3.4+deb13-cloud-arm64}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if e := es[0]; e.Arch != "arm64" || e.CPU != qemu.DefaultCPUOf("arm64") {
		t.Errorf("got arch %q cpu %q", e.Arch, e.CPU)
	}
	foreign := "arm64"
	if runtime.GOARCH == "arm64" {
		foreign = "amd64"
	}
	_, err = Parse("kernels.yaml", []byte("kernels:\n  - name: a\n    arch: "+foreign+"\n    debian: {package: p}\n    accel: kvm\n"))
	if err == nil || !strings.Contains(err.Error(), "accel kvm needs an "+foreign+" host") {
		t.Errorf("kvm on %s: %v", foreign, err)
	}
	if e, err := ParseSpec("debian:linux-image-7.3.4+deb13-cloud-arm64"); err != nil || e.Arch != "arm64" {
		t.Errorf("ParseSpec: arch %q, %v", e.Arch, err)
	}
}

func TestParseEmptyErrata(t *testing.T) {
	got, err := Parse("kernels.yaml", []byte("kernels:\n  - name: a\n    debian: {package: p}\n    expect: {abi: 0, errata: []}\n  - name: b\n    debian: {package: p}\n    expect: {abi: 0}\n"))
	if err != nil || got[0].Expect == nil || got[0].Expect.ABI == nil || *got[0].Expect.ABI != 0 ||
		got[0].Expect.Errata == nil || len(got[0].Expect.Errata) != 0 || got[1].Expect.Errata != nil {
		t.Errorf("got %+v, %v", got, err)
	}
}

func TestParseCPU(t *testing.T) {
	for _, cpu := range []string{"max", "qemu64", "Haswell-noTSX", "Skylake-Client-v4", "max,-cx16", "max,-la57,+pcid,-fsgsbase", "EPYC,l3-cache=off"} {
		src := "kernels:\n  - name: a\n    debian: {package: p}\n    cpu: " + cpu + "\n"
		got, err := Parse("kernels.yaml", []byte(src))
		if err != nil || got[0].CPU != cpu {
			t.Errorf("cpu %q: got %+v, %v", cpu, got, err)
		}
	}
}

func TestParseICount(t *testing.T) {
	for in, want := range map[string]string{
		"shift=4,sleep=off":           "shift=4,sleep=off",
		"sleep=off,shift=4":           "shift=4,sleep=off",
		"7":                           "shift=7",
		"auto":                        "shift=auto",
		"shift=0,align=off":           "shift=0,align=off",
		"shift=6,align=on":            "shift=6,align=on",
		"shift=auto,sleep=on":         "shift=auto,sleep=on",
		"shift=10,sleep=off":          "shift=10,sleep=off",
		"shift=3,align=off,sleep=off": "shift=3,align=off,sleep=off",
	} {
		src := "kernels:\n  - name: a\n    debian: {package: p}\n    icount: " + in + "\n"
		got, err := Parse("kernels.yaml", []byte(src))
		if err != nil || got[0].ICount != want || got[0].Accel != "auto" {
			t.Errorf("icount %q: got %+v, %v; want ICount %q", in, got, err, want)
		}
	}
	got, err := Parse("kernels.yaml", []byte("kernels:\n  - name: a\n    debian: {package: p}\n"))
	if err != nil || got[0].ICount != "" {
		t.Errorf("no icount key: got %+v, %v", got, err)
	}
}

func TestParseSpec(t *testing.T) {
	e, err := ParseSpec("debian:linux-image-6.1.0-56-cloud-amd64")
	if err != nil || e.Name != "6.1.0-56-cloud-amd64" || e.Debian.Package != "linux-image-6.1.0-56-cloud-amd64" || e.Timeout != DefaultTimeout {
		t.Errorf("got %+v, %v", e, err)
	}
	e, err = ParseSpec("file:/tmp/build/bzImage")
	if err != nil || e.Name != "bzImage" || e.Local.BzImage != "/tmp/build/bzImage" || e.CPUs != 1 || e.CPU != qemu.DefaultCPU {
		t.Errorf("got %+v, %v", e, err)
	}
	for _, bad := range []string{"linux-image-6.1", "deb:x", "debian:", "file:"} {
		if _, err := ParseSpec(bad); err == nil {
			t.Errorf("ParseSpec(%q) accepted", bad)
		}
	}
}

func TestMirrors(t *testing.T) {
	deb822 := `Types: deb
# a comment
URIs: http://archive.example/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://security.example/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://third.party/apt
Suites: stable-ish
Components: main
`
	oneLine := `deb [arch=amd64 signed-by=/k.gpg] http://third.party/apt cloud-sdk main
# deb http://commented.example/debian sid main
deb http://other.example/debian trixie main
`
	m, err := pickMirrors(append(parseOneLine([]byte(oneLine)), parseDeb822([]byte(deb822))...), "test")
	if err != nil {
		t.Fatal(err)
	}
	want := Mirrors{
		Archive:  Mirror{URI: "http://other.example/debian"},
		Security: Mirror{URI: "http://security.example/debian-security", SignedBy: "/usr/share/keyrings/debian-archive-keyring.gpg"},
	}
	if m != want {
		t.Errorf("got %+v, want %+v", m, want)
	}
	m, _ = pickMirrors(parseDeb822([]byte(deb822)), "test")
	list := sourcesList(m, "arm64")
	for _, line := range []string{
		"deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg arch=arm64 target=Packages] http://archive.example/debian trixie-backports main",
		"deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg arch=arm64 target=Packages] http://security.example/debian-security bookworm-security main",
	} {
		if !strings.Contains(list, line+"\n") {
			t.Errorf("sources list lacks %q:\n%s", line, list)
		}
	}
	thirdParty := "deb [signed-by=/k.gpg] http://third.party/apt cloud-sdk main\n"
	if _, err := pickMirrors(parseOneLine([]byte(thirdParty)), "test"); err == nil {
		t.Error("no Debian source accepted")
	}
}

func TestCompareVersions(t *testing.T) {
	ordered := []string{"6.1.0~rc1-1", "6.1.0-1", "6.1.0-1+b1", "6.1.0-2", "6.1.9-1", "6.1.10-1", "6.1.10a-1", "1:5.0-1"}
	for i := range ordered {
		for j := range ordered {
			c := compareVersions(ordered[i], ordered[j])
			if (i < j && c >= 0) || (i > j && c <= 0) || (i == j && c != 0) {
				t.Errorf("compare(%s, %s) = %d", ordered[i], ordered[j], c)
			}
		}
	}
	if compareVersions("7.3.4-1~bpo13+1", "7.3.4-1") >= 0 {
		t.Error("a backport must sort before the version it backports")
	}
	// dpkg's rules: ~ before everything, even the end; letters before other characters;
	// digit runs as numbers; a missing epoch is 0.
	ordered = []string{"1.0~~", "1.0~~a", "1.0~", "1.0", "1.0a", "1.0+", "1.0.1", "1.1", "1.10", "0:2.0", "1:0.1"}
	for i := 0; i+1 < len(ordered); i++ {
		if c := compareVersions(ordered[i], ordered[i+1]); c >= 0 {
			t.Errorf("compare(%s, %s) = %d, want < 0", ordered[i], ordered[i+1], c)
		}
	}
	for _, eq := range [][2]string{{"1.01", "1.1"}, {"0:6.1.0-1", "6.1.0-1"}, {"6.1-01", "6.1-1"}} {
		if c := compareVersions(eq[0], eq[1]); c != 0 {
			t.Errorf("compare(%s, %s) = %d, want 0", eq[0], eq[1], c)
		}
	}
	// A version dpkg refuses is never the newest.
	if compareVersions("linux-6.1", "0.1") >= 0 || compareVersions("6.1 1", "0.1") >= 0 || compareVersions("0.1", "") <= 0 {
		t.Error("an invalid version must sort before valid ones")
	}
}

func TestParseDepends(t *testing.T) {
	got, err := parseDepends("dracut | initramfs-tools (>= 0.120+deb8u2), linux-base-7.3.4 (= 7.3.4-1~bpo13+1), kmod:any, libc6 (>= 2.36) [amd64]")
	want := []dependency{{Name: "dracut"}, {Name: "initramfs-tools"}, {Name: "linux-base-7.3.4", Version: "7.3.4-1~bpo13+1"}, {Name: "kmod"}, {Name: "libc6"}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("parseDepends = %+v, %v\nwant %+v", got, err, want)
	}
	if got, err := parseDepends(""); err != nil || got != nil {
		t.Errorf("no Depends: %v, %v", got, err)
	}
	if _, err := parseDepends("linux-base (= 1"); err == nil {
		t.Error("a malformed Depends was accepted")
	}
}

const packages = `Package: linux-image-7.3.4+deb13-cloud-amd64
Source: linux-signed-amd64
Version: 7.3.4-1~bpo13+1
Depends: dracut | initramfs-tools (>= 0.120+deb8u2), linux-base-7.3.4+deb13-cloud-amd64 (= 7.3.4-1~bpo13+1), linux-binary-7.3.4+deb13-cloud-amd64 (= 7.3.4-1~bpo13+1), linux-modules-7.3.4+deb13-cloud-amd64 (= 7.3.4-1~bpo13+1)
Filename: pool/main/l/linux-signed-amd64/linux-image-7.3.4+deb13-cloud-amd64_7.3.4-1~bpo13+1_amd64.deb
Size: 1928
SHA256: 4545cda1cab2f7e975e9b3ad1744b4a360092a85a793156bf48f1bdf02906cc9

Package: zsh
Version: 5.9-4

Package: linux-binary-7.3.4+deb13-cloud-amd64
Version: 7.3.4-1~bpo13+1
Depends: linux-base-7.3.4+deb13-cloud-amd64 (= 7.3.4-1~bpo13+1)
Filename: pool/main/l/linux-signed-amd64/linux-binary.deb

Package: linux-base-7.3.4+deb13-cloud-amd64
Version: 7.3.4-1~bpo13+1

Package: linux-image-7.3.2+deb13-cloud-amd64
Version: 7.3.2-1~bpo13+1
`

// A Packages file, mapped, gives the kernel stanzas wherever they are among the others, the
// first included; an empty file gives none.
func TestParsePackagesFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "Packages")
	text := "Package: adduser\nVersion: 3.134\n\n" + packages + "\nPackage: zutils\nVersion: 1\n"
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := parsePackagesFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range got {
		names = append(names, p.Package+" "+p.Version)
	}
	want := []string{"linux-image-7.3.4+deb13-cloud-amd64 7.3.4-1~bpo13+1", "linux-binary-7.3.4+deb13-cloud-amd64 7.3.4-1~bpo13+1",
		"linux-base-7.3.4+deb13-cloud-amd64 7.3.4-1~bpo13+1", "linux-image-7.3.2+deb13-cloud-amd64 7.3.2-1~bpo13+1"}
	if !reflect.DeepEqual(names, want) {
		t.Errorf("stanzas %q, want %q", names, want)
	}
	if !reflect.DeepEqual(got, parsePackages([]byte(packages))) {
		t.Errorf("the file's stanzas differ from the list's alone")
	}
	empty := filepath.Join(dir, "Empty")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := parsePackagesFile(empty); err != nil || len(got) != 0 {
		t.Errorf("empty file: %v, %v", got, err)
	}
}

func TestIndexAndClosure(t *testing.T) {
	idx := index{}
	for _, p := range parsePackages([]byte(packages)) {
		p.Suite = "trixie-backports"
		idx[p.Package] = append(idx[p.Package], p)
	}
	if _, ok := idx["zsh"]; ok {
		t.Error("non-kernel package indexed")
	}
	img := idx["linux-image-7.3.4+deb13-cloud-amd64"][0]
	if img.Size != 1928 || !strings.HasPrefix(img.SHA256, "4545cd") || !strings.HasSuffix(img.Filename, "_amd64.deb") {
		t.Errorf("stanza = %+v", img)
	}
	p, err := resolve(idx, &DebianSource{Newest: "linux-image-7.3.*-cloud-amd64", Suite: "trixie-backports"})
	if err != nil || p.Package != img.Package {
		t.Errorf("newest = %s, %v", p.Package, err)
	}
	if _, err := resolve(idx, &DebianSource{Newest: "linux-image-7.3.*-cloud-amd64", Suite: "sid"}); err == nil {
		t.Error("newest in a suite without matches succeeded")
	}
	_, err = resolve(idx, &DebianSource{Package: "linux-image-6.1.0-1-cloud-amd64"})
	if err == nil || err.Error() != "linux-image-6.1.0-1-cloud-amd64 not found in any configured Debian suite (bookworm, bookworm-security, bookworm-backports, trixie, trixie-backports, sid, bullseye)" {
		t.Errorf("err = %v", err)
	}
	pkgs, missing, err := closure(idx, img, "7.3.4+deb13-cloud-amd64")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range pkgs {
		names = append(names, p.Package)
	}
	if want := []string{"linux-image-7.3.4+deb13-cloud-amd64", "linux-base-7.3.4+deb13-cloud-amd64", "linux-binary-7.3.4+deb13-cloud-amd64"}; !reflect.DeepEqual(names, want) {
		t.Errorf("closure = %v, want %v", names, want)
	}
	if m := missing["linux-modules-7.3.4+deb13-cloud-amd64"]; !strings.Contains(m, "no longer in any configured Debian suite") {
		t.Errorf("missing = %v", missing)
	}
}
