package main

import (
	"flag"
	"fmt"

	"github.com/llconform/llconform/vm/kernel"
)

// mirrorFlags are the Debian mirror settings of matrix and kernels, for hosts whose apt
// sources list no Debian archive. A flag wins over the environment (LLCONFORM_DEBIAN_*),
// which wins over kernels.yaml's debian_mirror; with none of them, the apt sources' mirror
// is used.
type mirrorFlags struct {
	kernel.MirrorConfig
}

func (m *mirrorFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&m.Archive, "debian-mirror", "", "Debian archive mirror URL (the directory with dists/ and pool/): fetch and verify kernels in Go, without apt-get "+
		"(default: $"+kernel.EnvMirror+", else kernels.yaml's debian_mirror, else the machine's apt sources)")
	fs.StringVar(&m.Security, "debian-security-mirror", "", "Debian security archive mirror URL (default: $"+kernel.EnvSecurityMirror+", else kernels.yaml's debian_mirror)")
	fs.StringVar(&m.Keyring, "debian-keyring", "", "OpenPGP keyring that signs the mirror (default: $"+kernel.EnvKeyring+", else the Debian archive keyring built into llconform)")
}

// resolve returns the mirror setting in force: the flags, then the environment, then the
// debian_mirror key of kernelsFile when it is read (readFile).
func (m mirrorFlags) resolve(kernelsFile string, readFile bool) (kernel.MirrorConfig, error) {
	c := m.MirrorConfig.Or(kernel.MirrorFromEnv())
	if readFile {
		cfg, err := kernel.ParseConfigFile(kernelsFile)
		if err != nil {
			return c, err
		}
		c = c.Or(cfg.Mirror)
	}
	if err := c.Check(); err != nil {
		return c, fmt.Errorf("mirror setting: %w", err)
	}
	return c, nil
}
