package kernel

import "testing"

func TestNewestSkipsSeriesMetapackages(t *testing.T) {
	idx := index{}
	for _, p := range []pkgVersion{
		{Package: "linux-image-6.1.0-56-cloud-amd64", Version: "6.1.192-2", Suite: "bookworm-security"},
		// Metapackages carry higher versions than the release packages they follow.
		{Package: "linux-image-6.12-cloud-amd64", Version: "6.12.117-1~deb12u1", Suite: "bookworm-security"},
		{Package: "linux-image-cloud-amd64", Version: "6.1.192-2", Suite: "bookworm-security"},
	} {
		idx[p.Package] = append(idx[p.Package], p)
	}
	p, err := resolve(idx, &DebianSource{Newest: "linux-image-*cloud-amd64", Suite: "bookworm-security"})
	if err != nil || p.Package != "linux-image-6.1.0-56-cloud-amd64" {
		t.Errorf("newest = %q, %v; want linux-image-6.1.0-56-cloud-amd64", p.Package, err)
	}
}
