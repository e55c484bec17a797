// Package channel frames the guest agent's reports over one byte stream (a
// serial port or virtio-console port whose host side is a file).
//
// A frame is a text header followed by the raw payload:
//
//	"\n@@LLCF1 <name> <length> <sha256 hex>\n" <payload> "\n"
//
// The header is plain text so that the reader can find it again after
// console noise; the length and checksum let it reject a truncated or
// corrupted payload instead of half-parsing it. A frame named "end" tells the
// host that the agent finished sending.
package channel

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"strconv"
	"strings"
)

const (
	magic = "@@LLCF1 "
	// EndName is the name of the frame that closes a stream.
	EndName = "end"
	// MaxPayload bounds a frame so that a corrupted length cannot make the
	// reader wait for (or allocate) gigabytes.
	MaxPayload = 1 << 30
	maxName    = 255
)

// Frame is one named payload.
type Frame struct {
	Name    string
	Payload []byte
}

// Writer sends frames to an underlying stream.
type Writer struct {
	w io.Writer
}

// NewWriter returns a Writer on w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: w} }

// Send writes one frame. Names must be non-empty, without whitespace, at
// most 255 bytes.
func (w *Writer) Send(name string, payload []byte) error {
	if err := checkName(name); err != nil {
		return err
	}
	if len(payload) > MaxPayload {
		return fmt.Errorf("frame %s: payload of %d bytes exceeds %d", name, len(payload), MaxPayload)
	}
	sum := sha256.Sum256(payload)
	hdr := fmt.Sprintf("\n%s%s %d %s\n", magic, name, len(payload), hex.EncodeToString(sum[:]))
	// One buffer, one write: a frame is never interleaved with another
	// writer's bytes on the same stream.
	buf := make([]byte, 0, len(hdr)+len(payload)+1)
	buf = append(buf, hdr...)
	buf = append(buf, payload...)
	buf = append(buf, '\n')
	if _, err := w.w.Write(buf); err != nil {
		return fmt.Errorf("send frame %s: %w", name, err)
	}
	return nil
}

// End sends the end frame.
func (w *Writer) End() error { return w.Send(EndName, nil) }

func checkName(name string) error {
	if name == "" || len(name) > maxName || strings.ContainsAny(name, " \t\r\n") {
		return fmt.Errorf("invalid frame name %q", name)
	}
	return nil
}

// Result is what Decode found in a stream.
type Result struct {
	// Frames holds every frame whose checksum matched, in stream order,
	// without the end frame.
	Frames []Frame
	// End reports whether the end frame was received.
	End bool
	// Problems describes every frame that was rejected (bad header,
	// truncated, checksum mismatch). Empty for a clean stream.
	Problems []string
}

// Map returns the frames by name; a later frame with the same name wins.
func (r Result) Map() map[string][]byte {
	m := make(map[string][]byte, len(r.Frames))
	for _, f := range r.Frames {
		m[f.Name] = f.Payload
	}
	return m
}

// Decode parses a complete stream. Bytes outside frames are ignored. A frame
// that fails its checksum is rejected and reported; decoding resumes after
// its header so that the frames that follow are still found.
func Decode(data []byte) Result {
	var res Result
	pos := 0
	for {
		i := bytes.Index(data[pos:], []byte(magic))
		if i < 0 {
			return res
		}
		start := pos + i
		nl := bytes.IndexByte(data[start:], '\n')
		if nl < 0 {
			res.Problems = append(res.Problems, fmt.Sprintf("offset %d: truncated frame header", start))
			return res
		}
		hdrEnd := start + nl + 1
		pos = hdrEnd
		name, n, sum, err := parseHeader(string(data[start+len(magic) : start+nl]))
		if err != nil {
			res.Problems = append(res.Problems, fmt.Sprintf("offset %d: %v", start, err))
			continue
		}
		if len(data)-hdrEnd < n+1 {
			// Keep scanning: a corrupted length field can make an intact
			// frame look truncated, and later frames may still be whole.
			res.Problems = append(res.Problems, fmt.Sprintf("frame %s: truncated: %d of %d bytes", name, max(len(data)-hdrEnd, 0), n))
			continue
		}
		payload := data[hdrEnd : hdrEnd+n]
		if got := sha256.Sum256(payload); got != sum {
			res.Problems = append(res.Problems, fmt.Sprintf("frame %s: checksum mismatch (%d bytes)", name, n))
			continue
		}
		pos = hdrEnd + n + 1
		if name == EndName {
			res.End = true
			continue
		}
		res.Frames = append(res.Frames, Frame{Name: name, Payload: bytes.Clone(payload)})
	}
}

func parseHeader(h string) (name string, n int, sum [sha256.Size]byte, err error) {
	f := strings.Split(strings.TrimSuffix(h, "\r"), " ")
	if len(f) != 3 {
		return "", 0, sum, fmt.Errorf("malformed frame header %q", h)
	}
	name = f[0]
	if err := checkName(name); err != nil {
		return "", 0, sum, err
	}
	n, err = strconv.Atoi(f[1])
	if err != nil || n < 0 || n > MaxPayload {
		return "", 0, sum, fmt.Errorf("frame %s: bad length %q", name, f[1])
	}
	b, err := hex.DecodeString(f[2])
	if err != nil || len(b) != sha256.Size {
		return "", 0, sum, fmt.Errorf("frame %s: bad checksum field %q", name, f[2])
	}
	copy(sum[:], b)
	return name, n, sum, nil
}
