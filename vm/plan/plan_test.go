package plan

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/llconform/llconform/vm/channel"
)

// What the agent sends comes back as the same outcome, through the channel's framing.
func TestSuiteFramesRoundTrip(t *testing.T) {
	var stream bytes.Buffer
	w := channel.NewWriter(&stream)
	send := func(name string, payload []byte) {
		t.Helper()
		if err := w.Send(name, payload); err != nil {
			t.Fatal(err)
		}
	}
	send(AgentFrame, []byte(`{"channel":"/dev/vport0p1","release":"early"}`))
	outcomes := map[string]Outcome{
		"abi": {Status: Status{ExitCode: 1, DurationMS: 7538}, Report: []byte(`[{"x":1}]`), Output: []byte("out\n")},
		// No report file: no report frame, and Report stays nil.
		"fs": {Status: Status{ExitCode: -1, TimedOut: true, Error: "report: missing"}, Output: []byte{}},
		// An empty report file is not a missing one.
		"net": {Status: Status{}, Report: []byte{}, Output: []byte("x")},
	}
	for _, name := range []string{"abi", "fs", "net"} {
		frames, err := SuiteFrames(name, outcomes[name])
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range frames {
			send(f.Name, f.Payload)
		}
	}
	send(AgentFrame, []byte(`{"channel":"/dev/vport0p1","release":"6.1.0"}`))
	send(KmsgFrame, []byte("Linux version 6.1"))
	if err := w.End(); err != nil {
		t.Fatal(err)
	}

	g := Decode(channel.Decode(stream.Bytes()).Frames)
	if g.Agent == nil || g.Agent.Release != "6.1.0" {
		t.Errorf("agent = %+v, want the later report", g.Agent)
	}
	if string(g.Kmsg) != "Linux version 6.1" {
		t.Errorf("kmsg = %q", g.Kmsg)
	}
	if len(g.Suites) != len(outcomes) {
		t.Errorf("suites = %v, want %d", g.Suites, len(outcomes))
	}
	for name, want := range outcomes {
		got := g.Suites[name]
		if !got.Ended || got.Err != nil || !reflect.DeepEqual(got.Outcome, want) {
			t.Errorf("%s = %+v\nwant %+v, ended", name, got, want)
		}
		if (got.Report == nil) != (want.Report == nil) {
			t.Errorf("%s: report nil %v, want %v", name, got.Report == nil, want.Report == nil)
		}
	}
}

// A guest that dies while sending leaves a suite half-reported: what came is kept, and the
// suite is not Ended. A status that does not decode is an error, not a zero status.
func TestDecodePartial(t *testing.T) {
	frames, err := SuiteFrames("abi", Outcome{Report: []byte("r"), Output: []byte("o")})
	if err != nil {
		t.Fatal(err)
	}
	g := Decode(frames[:1])
	if got := g.Suites["abi"]; got.Ended || string(got.Report) != "r" || got.Output != nil {
		t.Errorf("report only: %+v", got)
	}
	g = Decode([]channel.Frame{{Name: suiteFrame("abi", statusPart), Payload: []byte("{")}, {Name: "suite/x"}, {Name: "other"}})
	if got := g.Suites["abi"]; got.Ended || got.Err == nil || !strings.Contains(got.Err.Error(), "suite abi status") {
		t.Errorf("bad status: %+v", got)
	}
	if len(g.Suites) != 1 || g.Agent != nil || g.Kmsg != nil {
		t.Errorf("unknown frames decoded: %+v", g)
	}
}

func TestEvents(t *testing.T) {
	for _, e := range []Event{
		{Suite: "abi", N: 1, Of: 5},
		{Suite: "audit", N: 5, Of: 5, Status: &Status{ExitCode: -1, Signal: "SIGKILL", DurationMS: 12}},
		{Agent: AgentReady, UptimeMS: 4210},
		{Agent: AgentDone},
	} {
		line := e.Line()
		if strings.Contains(line, "\n") || !strings.HasPrefix(line, EventPrefix) {
			t.Errorf("line %q: want one line starting with %q", line, EventPrefix)
		}
		got, ok := ParseEvent(line)
		if !ok || !reflect.DeepEqual(got, e) {
			t.Errorf("ParseEvent(%q) = %+v, %v; want %+v", line, got, ok, e)
		}
		// Kernel text before the event on the same line does not lose it.
		if got, ok := ParseEvent("[   12.5] random: crng init done" + line); !ok || got.Suite != e.Suite || got.Agent != e.Agent {
			t.Errorf("event after kernel text: %+v, %v", got, ok)
		}
	}
	for _, line := range []string{
		"", "llconform-agent: report channel: /dev/vport0p1", "[    0.0] Linux version 6.1",
		EventPrefix + `{"suite":"abi","n":1`, // garbled
		EventPrefix + `{}`,
		EventPrefix + `{"agent":"ready","suite":"abi"}`,
	} {
		if e, ok := ParseEvent(line); ok {
			t.Errorf("ParseEvent(%q) = %+v, want none", line, e)
		}
	}
}

func TestStatusString(t *testing.T) {
	for _, tc := range []struct {
		s    Status
		want string
	}{
		{Status{}, "exit status 0"},
		{Status{ExitCode: 1, Error: "report: missing"}, "exit status 1; report: missing"},
		{Status{ExitCode: -1, TimedOut: true, Signal: "SIGKILL", DurationMS: 300000}, "timed out after 300000ms"},
		{Status{ExitCode: -1, Signal: "SIGKILL"}, "killed by SIGKILL"},
	} {
		if got := tc.s.String(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.s, got, tc.want)
		}
	}
}

func TestSortSuites(t *testing.T) {
	names := []string{"scope", "audit", "trace", "net", "abi", "fs"}
	SortSuites(names)
	if want := []string{"abi", "fs", "net", "scope", "trace", "audit"}; !slices.Equal(names, want) {
		t.Errorf("order %v, want %v", names, want)
	}
}

// Every suite the suites binary holds runs, in their order, each selected by its flag: a
// new suite needs no list updated.
func TestFindSuites(t *testing.T) {
	dir := t.TempDir()
	// A stand-in binary that lists its suites as the real one does, and only when asked.
	script := "#!/bin/sh\n[ \"$1\" = -" + ListFlag + " ] || exit 2\nprintf 'audit\\nabi\\nnew\\nfs\\n'\n"
	if err := os.WriteFile(filepath.Join(dir, SuitesName), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	bins, err := FindSuites(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, b := range bins {
		got = append(got, b.Name)
		if b.Path != filepath.Join(dir, SuitesName) {
			t.Errorf("%s: path %s", b.Name, b.Path)
		}
		if args := b.Command("-x"); !slices.Equal(args, []string{"-" + SuiteFlag + "=" + b.Name, "-x"}) {
			t.Errorf("%s: command %q", b.Name, args)
		}
	}
	if want := []string{"abi", "fs", "new", "audit"}; !slices.Equal(got, want) {
		t.Errorf("suites %v, want %v", got, want)
	}
	// A relative directory gives absolute paths: suites run in another working directory.
	t.Chdir(filepath.Dir(dir))
	rel, err := FindSuites(context.Background(), filepath.Base(dir))
	if err != nil || rel[0].Path != filepath.Join(dir, SuitesName) {
		t.Errorf("FindSuites(%q) = %+v, %v; want absolute paths", filepath.Base(dir), rel, err)
	}
	if _, err := FindSuites(context.Background(), t.TempDir()); err == nil || !strings.Contains(err.Error(), "run make build") {
		t.Errorf("empty directory: %v", err)
	}
	// A binary that cannot list its suites is an error, not an empty run.
	if err := os.WriteFile(filepath.Join(dir, SuitesName), []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := FindSuites(context.Background(), dir); err == nil || !strings.Contains(err.Error(), "holds no suite") {
		t.Errorf("binary with no suites: %v", err)
	}
}
