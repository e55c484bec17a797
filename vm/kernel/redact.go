package kernel

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// llconform never prints a mirror's address: it uses the one the machine's apt sources or
// the user configured, and its messages and errors name it by its role instead. A fetch
// error may carry the URL it failed on (HTTP errors, apt-get's output), so whatever a package
// source says goes through redact.

// Names that stand for a mirror in messages.
const (
	archiveMirrorName  = "<archive mirror>"
	securityMirrorName = "<security mirror>"
	mirrorHostName     = "<mirror host>"
)

// redact replaces the mirrors' URIs, then their bare host names, in s.
func (m Mirrors) redact(s string) string {
	var pairs []string
	// The security URI first: it often extends the archive's ("…/debian-security").
	for _, u := range []struct{ uri, name string }{{m.Security.URI, securityMirrorName}, {m.Archive.URI, archiveMirrorName}} {
		if u.uri != "" {
			pairs = append(pairs, strings.TrimSuffix(u.uri, "/"), u.name)
		}
	}
	for _, uri := range []string{m.Security.URI, m.Archive.URI} {
		if p, err := url.Parse(uri); err == nil && p.Host != "" {
			pairs = append(pairs, p.Host, mirrorHostName)
		}
	}
	if len(pairs) == 0 {
		return s
	}
	return strings.NewReplacer(pairs...).Replace(s)
}

// redactProgress returns progress with the mirrors redacted from every message.
func (m Mirrors) redactProgress(progress func(string, ...any)) func(string, ...any) {
	return func(format string, args ...any) {
		progress("%s", m.redact(fmt.Sprintf(format, args...)))
	}
}

// redactedError is an error whose message names no mirror; it still unwraps to the original
// (context.Canceled stays recognisable).
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

func (m Mirrors) redactErr(err error) error {
	if err == nil {
		return nil
	}
	msg := m.redact(err.Error())
	if msg == err.Error() {
		return err
	}
	var re *redactedError
	if errors.As(err, &re) {
		err = re.err
	}
	return &redactedError{msg: msg, err: err}
}

// redacting is a package source whose descriptions and errors name no mirror.
type redacting struct {
	src packageSource
	m   Mirrors
}

func (r redacting) describe() string { return r.m.redact(r.src.describe()) }
func (r redacting) dir() string      { return r.src.dir() }
func (r redacting) prepare() error   { return r.m.redactErr(r.src.prepare()) }
func (r redacting) update(ctx context.Context) error {
	return r.m.redactErr(r.src.update(ctx))
}
func (r redacting) load() (index, error) {
	idx, err := r.src.load()
	return idx, r.m.redactErr(err)
}
func (r redacting) download(ctx context.Context, p pkgVersion, dir string) (string, error) {
	path, err := r.src.download(ctx, p, dir)
	return path, r.m.redactErr(err)
}
