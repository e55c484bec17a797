package channel

import (
	"bytes"
	"strings"
	"testing"
)

func encode(t *testing.T, frames []Frame, end bool) []byte {
	t.Helper()
	var b bytes.Buffer
	w := NewWriter(&b)
	for _, f := range frames {
		if err := w.Send(f.Name, f.Payload); err != nil {
			t.Fatal(err)
		}
	}
	if end {
		if err := w.End(); err != nil {
			t.Fatal(err)
		}
	}
	return b.Bytes()
}

var sample = []Frame{
	{"suite/abi/report.json", []byte(`{"ok":true}`)},
	{"suite/abi/output", []byte("line 1\n@@LLCF1 fake 3 00\nline 3\n")},
	{"empty", nil},
	{"kmsg", bytes.Repeat([]byte{0, 1, 2, 0xff, '\n'}, 1000)},
}

func TestRoundTripWithNoise(t *testing.T) {
	data := append([]byte("SeaBIOS noise\r\n[    0.000000] Linux version\n"), encode(t, sample, true)...)
	data = append(data, "trailing garbage"...)
	r := Decode(data)
	if !r.End || len(r.Problems) != 0 {
		t.Fatalf("End=%v Problems=%v", r.End, r.Problems)
	}
	if len(r.Frames) != len(sample) {
		t.Fatalf("got %d frames, want %d", len(r.Frames), len(sample))
	}
	for i, f := range r.Frames {
		if f.Name != sample[i].Name || !bytes.Equal(f.Payload, sample[i].Payload) {
			t.Errorf("frame %d: got %q (%d bytes), want %q", i, f.Name, len(f.Payload), sample[i].Name)
		}
	}
}

func TestTruncation(t *testing.T) {
	data := encode(t, sample, true)
	// Cut inside the last payload: the earlier frames survive, the cut one
	// is reported, and the end frame is missing.
	cut := bytes.LastIndex(data, []byte("@@LLCF1 kmsg")) + 200
	r := Decode(data[:cut])
	if r.End {
		t.Error("End reported on a truncated stream")
	}
	if len(r.Frames) != 3 {
		t.Errorf("got %d frames, want 3", len(r.Frames))
	}
	if len(r.Problems) != 1 || !strings.Contains(r.Problems[0], "kmsg: truncated") {
		t.Errorf("Problems = %q", r.Problems)
	}
}

func TestBitFlip(t *testing.T) {
	data := encode(t, sample, true)
	i := bytes.Index(data, []byte(`{"ok":true}`))
	data[i+2] ^= 0x04
	r := Decode(data)
	if !r.End {
		t.Error("end frame lost after a flipped payload bit")
	}
	for _, f := range r.Frames {
		if f.Name == "suite/abi/report.json" {
			t.Fatal("corrupted frame accepted")
		}
	}
	if len(r.Frames) != 3 || len(r.Problems) != 1 || !strings.Contains(r.Problems[0], "checksum mismatch") {
		t.Errorf("frames=%d problems=%q", len(r.Frames), r.Problems)
	}
}

func TestBitFlipInLength(t *testing.T) {
	data := encode(t, sample[:1], true)
	// "11" -> "19": the payload now looks longer than it is.
	i := bytes.Index(data, []byte(" 11 "))
	data[i+2] = '9'
	r := Decode(data)
	if len(r.Frames) != 0 || len(r.Problems) == 0 {
		t.Errorf("frames=%d problems=%q", len(r.Frames), r.Problems)
	}
}

func TestMissingEnd(t *testing.T) {
	r := Decode(encode(t, sample, false))
	if r.End {
		t.Error("End without an end frame")
	}
	if len(r.Frames) != len(sample) || len(r.Problems) != 0 {
		t.Errorf("frames=%d problems=%q", len(r.Frames), r.Problems)
	}
}

func TestBadNames(t *testing.T) {
	w := NewWriter(&bytes.Buffer{})
	for _, n := range []string{"", "a b", "a\nb", strings.Repeat("x", 256)} {
		if err := w.Send(n, nil); err == nil {
			t.Errorf("Send(%q) accepted", n)
		}
	}
}
