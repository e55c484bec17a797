package kernel

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// testdata/bookworm-security.InRelease is Debian's own, as a mirror served it: signed with
// the keys of the keyring built into llconform.
const recordedSuite = "bookworm-security"

var recordedDate = time.Date(2026, 11, 28, 2, 53, 0, 0, time.UTC)

func debianKeys(t *testing.T) openpgp.EntityList {
	t.Helper()
	kr, _, err := loadKeyring("")
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

func TestRecordedInRelease(t *testing.T) {
	data, err := os.ReadFile("testdata/bookworm-security.InRelease")
	if err != nil {
		t.Fatal(err)
	}
	now := recordedDate.Add(time.Hour)
	r, err := verifyInRelease(data, debianKeys(t), recordedSuite, now)
	if err != nil {
		t.Fatal(err)
	}
	if r.Codename != "bookworm-security" || r.Suite != "oldstable-security" || !r.AcquireByHash || !r.Date.Equal(recordedDate) {
		t.Errorf("fields: %+v", r)
	}
	want := indexFile{Size: 2559141, SHA256: "c0704d0ae13862c8d1e777aac79009fbae8679b039a2c0b45126e3eccb470146"}
	if got := r.Files["main/binary-amd64/Packages"]; got != want {
		t.Errorf("Packages: %+v, want %+v", got, want)
	}
	if !strings.Contains(r.Signer, "Debian Security Archive Automatic Signing Key") {
		t.Errorf("signer %q", r.Signer)
	}
	if err := r.checkFresh(now); err != nil {
		t.Errorf("fresh: %v", err)
	}
	if err := r.checkFresh(time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Errorf("past Valid-Until: %v", err)
	}
	// The suite's other name is accepted; another suite's is a substitution.
	if _, err := verifyInRelease(data, debianKeys(t), "oldstable-security", now); err != nil {
		t.Errorf("by suite name: %v", err)
	}
	if _, err := verifyInRelease(data, debianKeys(t), "trixie-security", now); err == nil || !strings.Contains(err.Error(), "conflicting distribution") {
		t.Errorf("served as another suite: %v", err)
	}

	// A tampered index: one hex digit of the Packages checksum changed. The signature no
	// longer matches, and nothing of the file is believed.
	tampered := bytes.Replace(data, []byte(want.SHA256), []byte("d"+want.SHA256[1:]), 1)
	if bytes.Equal(tampered, data) {
		t.Fatal("tampering changed nothing")
	}
	if _, err := verifyInRelease(tampered, debianKeys(t), recordedSuite, now); err == nil || !strings.Contains(err.Error(), "no good signature") {
		t.Errorf("tampered InRelease: %v", err)
	}
	// Text added around the signed block is not read.
	framed := append([]byte("SHA256:\n "+strings.Repeat("0", 64)+" 1 main/binary-amd64/Packages.evil\n"), data...)
	framed = append(framed, "\nSHA256:\n 0 1 x\n"...)
	if r, err := verifyInRelease(framed, debianKeys(t), recordedSuite, now); err != nil || len(r.Files) == 0 {
		t.Errorf("framed: %v", err)
	} else if _, ok := r.Files["main/binary-amd64/Packages.evil"]; ok {
		t.Error("a line outside the signed text was read")
	}
	// Signed by no key of the keyring.
	other := newKey(t, "someone else", time.Now(), 0)
	if _, err := verifyInRelease(data, openpgp.EntityList{other}, recordedSuite, now); err == nil || !strings.Contains(err.Error(), "no good signature") {
		t.Errorf("unknown signer: %v", err)
	}
	if _, err := verifyInRelease([]byte("Suite: x\n"), debianKeys(t), recordedSuite, now); err == nil {
		t.Error("unsigned Release accepted")
	}
}

// newKey makes a signing key created at created, expiring after lifetime (0: never).
func newKey(t *testing.T, name string, created time.Time, lifetime time.Duration) *openpgp.Entity {
	t.Helper()
	cfg := &packet.Config{Time: func() time.Time { return created }, Algorithm: packet.PubKeyAlgoEdDSA,
		KeyLifetimeSecs: uint32(lifetime / time.Second)}
	e, err := openpgp.NewEntity(name, "test", "test@example.invalid", cfg)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// clearsigned signs text with every key, as Debian signs with several.
func clearsigned(t *testing.T, text string, at time.Time, keys ...*openpgp.Entity) []byte {
	t.Helper()
	var priv []*packet.PrivateKey
	for _, k := range keys {
		priv = append(priv, k.PrivateKey)
	}
	var b bytes.Buffer
	w, err := clearsign.EncodeMulti(&b, priv, &packet.Config{Time: func() time.Time { return at }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte(text)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// releaseText is a Release file for suite listing files (path -> content).
func releaseText(suite string, date, validUntil time.Time, files map[string][]byte) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Origin: Debian\nSuite: %s\nCodename: %s\nDate: %s\n", suite, suite, date.UTC().Format(time.RFC1123))
	if !validUntil.IsZero() {
		fmt.Fprintf(&b, "Valid-Until: %s\n", validUntil.UTC().Format(time.RFC1123))
	}
	b.WriteString("Acquire-By-Hash: yes\nMD5Sum:\n 00000000000000000000000000000000 1 ignored\nSHA256:\n")
	for p, c := range files {
		sum := sha256.Sum256(c)
		fmt.Fprintf(&b, " %s %8d %s\n", hex.EncodeToString(sum[:]), len(c), p)
	}
	return b.String()
}

func TestSignatures(t *testing.T) {
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	text := releaseText("forky", now, now.Add(7*24*time.Hour), map[string][]byte{"main/binary-amd64/Packages": []byte("x\n")})
	good := newKey(t, "archive key", now.Add(-24*time.Hour), 0)
	expired := newKey(t, "old archive key", now.Add(-400*24*time.Hour), 30*24*time.Hour)

	// Signed by an expired key first and a good one second: the good one counts.
	data := clearsigned(t, text, now, expired, good)
	r, err := verifyInRelease(data, openpgp.EntityList{expired, good}, "forky", now)
	if err != nil {
		t.Fatalf("expired then good: %v", err)
	}
	if !strings.Contains(r.Signer, "archive key") || strings.Contains(r.Signer, "old") {
		t.Errorf("signer %q, want the good key", r.Signer)
	}
	// Only the expired key in the keyring: refused, and the error says why.
	if _, err := verifyInRelease(data, openpgp.EntityList{expired}, "forky", now); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Errorf("expired key alone: %v", err)
	}
	// A key that is in the keyring under another fingerprint does not count.
	if _, err := verifyInRelease(clearsigned(t, text, now, newKey(t, "impostor", now, 0)), openpgp.EntityList{good}, "forky", now); err == nil {
		t.Error("impostor accepted")
	}
}

func TestParseRelease(t *testing.T) {
	for _, bad := range []string{
		"Suite: x\nSHA256:\n abc 12 main/binary-amd64/Packages\n",
		"Suite: x\nSHA256:\n " + strings.Repeat("a", 64) + " -1 p\n",
		"Suite: x\nDate: yesterday\nSHA256:\n " + strings.Repeat("a", 64) + " 1 p\n",
		"Suite: x\n",
		"not a field\n",
	} {
		if _, err := parseRelease([]byte(bad)); err == nil {
			t.Errorf("parseRelease(%q): no error", bad)
		}
	}
}

func writeKeyring(t *testing.T, keys ...*openpgp.Entity) string {
	t.Helper()
	var b bytes.Buffer
	for _, k := range keys {
		if err := k.Serialize(&b); err != nil {
			t.Fatal(err)
		}
	}
	p := filepath.Join(t.TempDir(), "keyring.gpg")
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
