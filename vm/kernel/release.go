package kernel

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// release is a verified InRelease file: the signed index of one suite of a Debian archive,
// which gives the size and SHA256 of every index file (Packages) of the suite.
type release struct {
	Suite, Codename string
	Date            time.Time
	ValidUntil      time.Time // zero when the file sets none
	AcquireByHash   bool
	// Files maps a path under dists/<suite>/ to its size and SHA256.
	Files map[string]indexFile
	// Signer describes the key whose signature was accepted.
	Signer string
}

type indexFile struct {
	Size   int64
	SHA256 string
}

// verifyInRelease checks that data is a clearsigned InRelease file with at least one good
// signature by a key of keyring, valid (neither expired nor revoked) at now, and that it is
// the Release file of suite (its Suite or Codename field), and returns what it says. Only
// the signed text is read: anything before or after the signed block is ignored, as apt
// does. Valid-Until is not checked here (see checkFresh): an index already verified and
// cached stays usable offline after it.
func verifyInRelease(data []byte, keyring openpgp.EntityList, suite string, now time.Time) (*release, error) {
	block, _ := clearsign.Decode(data)
	if block == nil {
		return nil, errors.New("not a clearsigned InRelease file")
	}
	signer, err := checkSignatures(block, keyring, now)
	if err != nil {
		return nil, err
	}
	// block.Bytes is exactly what the signature covers (dash-unescaped, CRLF line ends):
	// parse that, never the raw file.
	r, err := parseRelease(bytes.ReplaceAll(block.Bytes, []byte("\r\n"), []byte("\n")))
	if err != nil {
		return nil, err
	}
	r.Signer = signer
	if r.Suite != suite && r.Codename != suite {
		// A validly signed Release of another suite served under this one's name: apt's
		// "conflicting distribution" (a downgrade or substitution).
		return nil, fmt.Errorf("InRelease of dists/%s is the Release file of %s (%s): conflicting distribution", suite, r.Codename, r.Suite)
	}
	return r, nil
}

// checkSignatures verifies each signature packet of block on its own and returns the first
// good one's key. openpgp.CheckDetachedSignature stops at the first signature whose issuer
// is in the keyring and fails if that key has expired, while Debian signs with several keys
// (old and new release keys) so that an expired one must not hide a good one.
func checkSignatures(block *clearsign.Block, keyring openpgp.EntityList, now time.Time) (string, error) {
	if block.ArmoredSignature == nil {
		return "", errors.New("InRelease has no signature")
	}
	sigData, err := io.ReadAll(block.ArmoredSignature.Body)
	if err != nil {
		return "", fmt.Errorf("InRelease signature: %w", err)
	}
	config := &packet.Config{Time: func() time.Time { return now }}
	var errs []string
	rd := bytes.NewReader(sigData)
	for rd.Len() > 0 {
		start := int(rd.Size()) - rd.Len()
		p, err := packet.Read(rd)
		if err != nil {
			return "", fmt.Errorf("InRelease signature: %w", err)
		}
		sig, ok := p.(*packet.Signature)
		if !ok {
			return "", fmt.Errorf("InRelease signature: unexpected %T packet", p)
		}
		raw := sigData[start : int(rd.Size())-rd.Len()]
		issuer := "unknown issuer"
		if sig.IssuerKeyId != nil {
			issuer = fmt.Sprintf("key %016X", *sig.IssuerKeyId)
		}
		_, signer, err := openpgp.VerifyDetachedSignature(keyring, bytes.NewReader(block.Bytes), bytes.NewReader(raw), config)
		if err == nil {
			return describeKey(signer), nil
		}
		errs = append(errs, fmt.Sprintf("%s: %v", issuer, err))
	}
	if len(errs) == 0 {
		return "", errors.New("InRelease has no signature")
	}
	return "", fmt.Errorf("no good signature by a key of the Debian archive keyring (%s)", strings.Join(errs, "; "))
}

// describeKey names a key by its fingerprint and its user id's name and comment (without
// the address).
func describeKey(e *openpgp.Entity) string {
	if name := keyName(e); name != "" {
		return fmt.Sprintf("%X (%s)", e.PrimaryKey.Fingerprint, name)
	}
	return fmt.Sprintf("%X", e.PrimaryKey.Fingerprint)
}

func keyName(e *openpgp.Entity) string {
	for _, id := range e.Identities {
		if u := id.UserId; u != nil && u.Name != "" {
			if u.Comment != "" {
				return u.Name + " (" + u.Comment + ")"
			}
			return u.Name
		}
		return id.Name
	}
	return ""
}

// parseRelease reads the fields of a Release file that fetching needs. Unknown fields are
// ignored; a malformed checksum line is an error.
func parseRelease(b []byte) (*release, error) {
	r := &release{Files: map[string]indexFile{}}
	var field string
	for _, line := range strings.Split(string(b), "\n") {
		if line == "" {
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			if field != "SHA256" {
				continue
			}
			f := strings.Fields(line)
			if len(f) != 3 || len(f[0]) != 64 {
				return nil, fmt.Errorf("release file: bad SHA256 line %q", strings.TrimSpace(line))
			}
			size, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil || size < 0 {
				return nil, fmt.Errorf("release file: bad size in %q", strings.TrimSpace(line))
			}
			r.Files[f[2]] = indexFile{Size: size, SHA256: strings.ToLower(f[0])}
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("release file: bad line %q", line)
		}
		field, v = k, strings.TrimSpace(v)
		switch k {
		case "Suite":
			r.Suite = v
		case "Codename":
			r.Codename = v
		case "Acquire-By-Hash":
			r.AcquireByHash = v == "yes"
		case "Date", "Valid-Until":
			t, err := parseReleaseDate(v)
			if err != nil {
				return nil, fmt.Errorf("release file: %s: %w", k, err)
			}
			if k == "Date" {
				r.Date = t
			} else {
				r.ValidUntil = t
			}
		}
	}
	if len(r.Files) == 0 {
		return nil, errors.New("release file lists no SHA256 checksums")
	}
	return r, nil
}

// parseReleaseDate reads a Release date: RFC 1123 with a numeric zone or "UTC".
func parseReleaseDate(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC1123Z, time.RFC1123, "Mon, 2 Jan 2006 15:04:05 MST", "Mon, 2 Jan 2006 15:04:05 -0700"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("bad date %q", s)
}

// checkFresh refuses a Release file past its Valid-Until (an old, validly signed index
// replayed by a mirror), as apt does when it updates.
func (r *release) checkFresh(now time.Time) error {
	if !r.ValidUntil.IsZero() && now.After(r.ValidUntil) {
		return fmt.Errorf("the Release file of %s expired at %s (Valid-Until): the mirror serves an outdated index", r.Codename, r.ValidUntil.UTC().Format(time.RFC1123))
	}
	return nil
}
