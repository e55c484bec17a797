package kernel

import (
	"bytes"
	_ "embed"
	"fmt"
	"os"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
)

// debianKeyring is Debian's archive keyring, the trust anchor of the Go fetcher on a host
// that has none: a copy of /usr/share/keyrings/debian-archive-keyring.gpg from the
// debian-archive-keyring package (see keyring/README.md for its provenance, its keys and
// why it is committed rather than fetched). TestKeyringMatchesHost compares it with the
// host's copy when there is one.
//
//go:embed keyring/debian-archive-keyring.gpg
var debianKeyring []byte

// HostKeyring is where a Debian or Ubuntu host's debian-archive-keyring package installs
// the keyring.
const HostKeyring = "/usr/share/keyrings/debian-archive-keyring.gpg"

// loadKeyring reads an OpenPGP keyring, binary or ASCII-armored; "" is the embedded copy.
func loadKeyring(file string) (openpgp.EntityList, string, error) {
	data, what := debianKeyring, "the Debian archive keyring built into llconform"
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, "", fmt.Errorf("keyring: %w", err)
		}
		data, what = b, file
	}
	var kr openpgp.EntityList
	var err error
	if bytes.HasPrefix(bytes.TrimSpace(data), []byte("-----BEGIN PGP")) {
		kr, err = openpgp.ReadArmoredKeyRing(bytes.NewReader(data))
	} else {
		kr, err = openpgp.ReadKeyRing(bytes.NewReader(data))
	}
	if err != nil {
		return nil, "", fmt.Errorf("keyring %s: %w", what, err)
	}
	if len(kr) == 0 {
		return nil, "", fmt.Errorf("keyring %s: no keys", what)
	}
	return kr, what, nil
}

// fingerprints lists the primary keys of a keyring, one "FINGERPRINT name" each (the user
// id's name, without its address).
func fingerprints(kr openpgp.EntityList) []string {
	var out []string
	for _, e := range kr {
		out = append(out, strings.TrimSpace(fmt.Sprintf("%X %s", e.PrimaryKey.Fingerprint, keyName(e))))
	}
	return out
}
