package kernel

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The committed keyring is what keyring/README.md says it is: its checksum and its keys.
func TestKeyringProvenance(t *testing.T) {
	doc, err := os.ReadFile("keyring/README.md")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(debianKeyring)
	if !strings.Contains(string(doc), "sha256  "+hex.EncodeToString(sum[:])) {
		t.Errorf("keyring/README.md does not give the keyring's SHA256 %x", sum)
	}
	var documented []string
	fpr := regexp.MustCompile(`^    ([0-9A-F]{40})  (.+)$`)
	sc := bufio.NewScanner(strings.NewReader(string(doc)))
	for sc.Scan() {
		if m := fpr.FindStringSubmatch(sc.Text()); m != nil {
			documented = append(documented, m[1]+" "+m[2])
		}
	}
	kr, _, err := loadKeyring("")
	if err != nil {
		t.Fatal(err)
	}
	got := fingerprints(kr)
	slices.Sort(got)
	slices.Sort(documented)
	if !slices.Equal(got, documented) {
		t.Errorf("keys:\n%s\nkeyring/README.md lists:\n%s", strings.Join(got, "\n"), strings.Join(documented, "\n"))
	}
}

// On a host with Debian's keyring package, the committed copy has the same keys: a newer
// host keyring means Debian added (or removed) keys, and the copy must follow.
func TestKeyringMatchesHost(t *testing.T) {
	if _, err := os.Stat(HostKeyring); err != nil {
		t.Skipf("no %s on this host (not Debian or Ubuntu, or no debian-archive-keyring): nothing to compare with", HostKeyring)
	}
	host, _, err := loadKeyring(HostKeyring)
	if err != nil {
		t.Fatal(err)
	}
	ours, _, err := loadKeyring("")
	if err != nil {
		t.Fatal(err)
	}
	h, o := fingerprints(host), fingerprints(ours)
	slices.Sort(h)
	slices.Sort(o)
	if !slices.Equal(h, o) {
		t.Errorf("the committed keyring (vm/kernel/keyring) differs from the host's %s: update it (see keyring/README.md)\nhost:\n%s\ncommitted:\n%s",
			HostKeyring, strings.Join(h, "\n"), strings.Join(o, "\n"))
	}
}
