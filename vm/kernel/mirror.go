package kernel

import (
	"fmt"
	"net/url"
	"os"
	"strings"
)

// Environment variables that configure the Debian mirror, for hosts whose apt sources list
// no Debian archive (an Ubuntu CI runner, a Fedora workstation). llconform names no mirror
// itself: the user or the CI configuration chooses one.
const (
	EnvMirror         = "LLCONFORM_DEBIAN_MIRROR"          // the Debian archive's URI (the directory holding dists/ and pool/)
	EnvSecurityMirror = "LLCONFORM_DEBIAN_SECURITY_MIRROR" // the security archive's URI, optional
	EnvKeyring        = "LLCONFORM_DEBIAN_KEYRING"         // an OpenPGP keyring file, optional
	// EnvAptSources replaces /etc/apt as the directory whose apt sources give the mirror when
	// none is set; an empty directory makes a Debian host behave as one without Debian sources.
	EnvAptSources = "LLCONFORM_APT_SOURCES"
)

// MirrorConfig is a Debian mirror setting: from a flag, the environment or kernels.yaml
// (debian_mirror:). With Archive set, kernels are fetched and verified in Go, without
// apt-get; an empty setting leaves the choice to the machine's apt sources.
type MirrorConfig struct {
	// Archive is the URI of a Debian archive mirror: the directory with dists/ and pool/.
	Archive string `json:"archive,omitempty"`
	// Security is the URI of a Debian security archive mirror; without it the -security
	// suites are not used.
	Security string `json:"security,omitempty"`
	// Keyring is an OpenPGP keyring file to check the archive's signatures with; empty: the
	// Debian archive keyring built into llconform.
	Keyring string `json:"keyring,omitempty"`
}

// MirrorFromEnv reads the LLCONFORM_DEBIAN_* variables.
func MirrorFromEnv() MirrorConfig {
	return MirrorConfig{Archive: os.Getenv(EnvMirror), Security: os.Getenv(EnvSecurityMirror), Keyring: os.Getenv(EnvKeyring)}
}

// Or returns m with its empty fields taken from fallback: a flag over the environment over
// kernels.yaml.
func (m MirrorConfig) Or(fallback MirrorConfig) MirrorConfig {
	if m.Archive == "" {
		m.Archive = fallback.Archive
	}
	if m.Security == "" {
		m.Security = fallback.Security
	}
	if m.Keyring == "" {
		m.Keyring = fallback.Keyring
	}
	return m
}

// IsZero says whether nothing is set.
func (m MirrorConfig) IsZero() bool { return m == MirrorConfig{} }

// Check refuses a setting the fetcher could only fail on: URIs must be absolute http or
// https URLs, a security mirror or a keyring needs an archive, a keyring must be readable.
func (m MirrorConfig) Check() error {
	if m.Archive == "" && (m.Security != "" || m.Keyring != "") {
		return fmt.Errorf("a Debian security mirror or keyring is set without the archive's URI (%s, --debian-mirror or debian_mirror: {archive: URI})", EnvMirror)
	}
	for what, u := range map[string]string{"archive": m.Archive, "security archive": m.Security} {
		if u == "" {
			continue
		}
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			return fmt.Errorf("the Debian %s mirror %q: want an http:// or https:// URL of the directory holding dists/ and pool/", what, u)
		}
	}
	if m.Keyring != "" {
		if _, _, err := loadKeyring(m.Keyring); err != nil {
			return fmt.Errorf("the Debian mirror's %w", err)
		}
	}
	return nil
}

func (m MirrorConfig) mirrors() Mirrors {
	return Mirrors{
		Archive:  Mirror{URI: strings.TrimSuffix(m.Archive, "/"), SignedBy: m.Keyring},
		Security: Mirror{URI: strings.TrimSuffix(m.Security, "/"), SignedBy: m.Keyring},
	}
}
