package kernel

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Suites are the Debian suites the private apt configuration lists.
var Suites = []string{"bookworm", "bookworm-security", "bookworm-backports", "trixie", "trixie-backports", "sid", "bullseye"}

func knownSuite(s string) bool {
	for _, k := range Suites {
		if k == s {
			return true
		}
	}
	return false
}

// Mirror is an apt source's URI and the keyring that signs it.
type Mirror struct {
	URI      string
	SignedBy string
}

// Mirrors are the machine's Debian archive and security archive.
type Mirrors struct {
	Archive  Mirror
	Security Mirror // zero when the machine lists no security archive
}

// debianCodenames recognise a Debian source among third-party ones.
var debianCodenames = []string{"buster", "bullseye", "bookworm", "trixie", "forky", "duke", "sid",
	"stable", "testing", "unstable", "oldstable", "oldoldstable", "experimental"}

type source struct {
	uris     []string
	suites   []string
	signedBy string
}

// ReadMirrors finds the Debian archive and security archive URIs in the
// machine's apt sources (etcApt is normally /etc/apt): deb822 files in
// sources.list.d/*.sources and one-line entries in sources.list and
// sources.list.d/*.list. The project never names a mirror itself: it uses
// whatever the machine is configured with.
func ReadMirrors(etcApt string) (Mirrors, error) {
	var srcs []source
	files, _ := filepath.Glob(filepath.Join(etcApt, "sources.list.d", "*.sources"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return Mirrors{}, err
		}
		srcs = append(srcs, parseDeb822(b)...)
	}
	lists, _ := filepath.Glob(filepath.Join(etcApt, "sources.list.d", "*.list"))
	for _, f := range append([]string{filepath.Join(etcApt, "sources.list")}, lists...) {
		b, err := os.ReadFile(f)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return Mirrors{}, err
		}
		srcs = append(srcs, parseOneLine(b)...)
	}
	return pickMirrors(srcs, etcApt)
}

func pickMirrors(srcs []source, where string) (Mirrors, error) {
	var m Mirrors
	for _, s := range srcs {
		for _, suite := range s.suites {
			base, _, _ := strings.Cut(strings.TrimSuffix(suite, "/updates"), "-")
			if !contains(debianCodenames, base) || len(s.uris) == 0 {
				continue
			}
			mirror := Mirror{URI: strings.TrimSuffix(s.uris[0], "/"), SignedBy: s.signedBy}
			if strings.HasSuffix(suite, "-security") || strings.HasSuffix(suite, "/updates") {
				if m.Security.URI == "" {
					m.Security = mirror
				}
			} else if m.Archive.URI == "" {
				m.Archive = mirror
			}
		}
	}
	if m.Archive.URI == "" {
		return m, fmt.Errorf("no Debian archive found in the apt sources under %s", where)
	}
	return m, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// parseDeb822 reads the enabled "Types: deb" stanzas of a .sources file. Ours, not
// pault.ag/go/debian/control's: that parser pulls in an OpenPGP library for what is a
// few keys of a few stanzas.
func parseDeb822(b []byte) []source {
	var out []source
	for _, stanza := range bytes.Split(bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n")), []byte("\n\n")) {
		fields := map[string]string{}
		var last string
		for _, line := range strings.Split(string(stanza), "\n") {
			switch {
			case strings.HasPrefix(line, "#"), strings.TrimSpace(line) == "":
			case line[0] == ' ' || line[0] == '\t': // continuation
				if last != "" {
					fields[last] += " " + strings.TrimSpace(line)
				}
			default:
				k, v, ok := strings.Cut(line, ":")
				if !ok {
					continue
				}
				last = strings.ToLower(strings.TrimSpace(k))
				fields[last] = strings.TrimSpace(v)
			}
		}
		if !contains(strings.Fields(fields["types"]), "deb") || strings.EqualFold(fields["enabled"], "no") {
			continue
		}
		signedBy := fields["signed-by"]
		if strings.Contains(signedBy, "BEGIN PGP") {
			// An inline key cannot be passed on in a one-line entry.
			signedBy = ""
		}
		out = append(out, source{uris: strings.Fields(fields["uris"]), suites: strings.Fields(fields["suites"]), signedBy: signedBy})
	}
	return out
}

// parseOneLine reads "deb [options] uri suite components..." lines.
func parseOneLine(b []byte) []source {
	var out []source
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		f := strings.Fields(line)
		if len(f) < 3 || f[0] != "deb" {
			continue
		}
		var s source
		f = f[1:]
		if strings.HasPrefix(f[0], "[") {
			// Options end at the first field ending in "]".
			for len(f) > 0 {
				opt := strings.Trim(f[0], "[]")
				if v, ok := strings.CutPrefix(opt, "signed-by="); ok {
					s.signedBy = v
				}
				end := strings.HasSuffix(f[0], "]")
				f = f[1:]
				if end {
					break
				}
			}
		}
		if len(f) < 2 {
			continue
		}
		s.uris, s.suites = []string{f[0]}, []string{f[1]}
		out = append(out, s)
	}
	return out
}

// sourcesList renders the private apt configuration's sources: every suite
// in Suites, main only, Packages indexes of architecture arch only (no translations, no
// DEP-11).
func sourcesList(m Mirrors, arch string) string {
	var b strings.Builder
	for _, suite := range Suites {
		mirror := m.Archive
		if strings.HasSuffix(suite, "-security") {
			if m.Security.URI == "" {
				continue
			}
			mirror = m.Security
		}
		opts := "arch=" + arch + " target=Packages"
		if mirror.SignedBy != "" {
			opts = "signed-by=" + mirror.SignedBy + " " + opts
		}
		fmt.Fprintf(&b, "deb [%s] %s %s main\n", opts, mirror.URI, suite)
	}
	return b.String()
}
