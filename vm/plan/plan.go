// Package plan is the contract between the host and the guest agent: what
// the agent must run (plan.json in the initramfs), the frames it sends back
// and how they decode (SuiteFrames, Decode), and the progress events it
// writes on the console (Event). Suite.Run runs a suite binary the same way
// in the guest and on the host, and FindSuites finds the compiled suites and
// the order they run in.
package plan

import (
	"fmt"
	"strings"
	"time"
)

// Path is where the plan sits in the initramfs.
const Path = "/llconform/plan.json"

// ModulesList is the name of the load-order file inside /lib/modules/<release>/:
// one module file name per line, dependencies first.
const ModulesList = "load-order"

// Plan is what the agent runs, in order.
type Plan struct {
	Suites []Suite           `json:"suites"`
	Env    map[string]string `json:"env,omitempty"`
}

// Suite is one binary to run in the guest.
type Suite struct {
	Name string   `json:"name"`
	Path string   `json:"path"` // in the guest
	Args []string `json:"args,omitempty"`
	// Report is a file the suite writes (in the guest) whose contents are sent back as
	// the Outcome's Report; empty for none.
	Report  string   `json:"report,omitempty"`
	Timeout Duration `json:"timeout,omitempty"`
	// TempDir is where the suite's private temporary directory is made (default
	// os.TempDir()): a run that may exit without waiting for its suites removes it itself.
	TempDir string `json:"-"`
	// grace replaces KillGrace, for tests.
	grace time.Duration
}

// Duration is a time.Duration that reads and writes as "5m30s" in JSON.
type Duration time.Duration

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	*d = Duration(v)
	return err
}

// ConsolePrefix starts every line the agent logs to the console (set-up problems, module
// loads), for a reader of console.log.
const ConsolePrefix = "llconform-agent: "

// VirtioPort is the name of the virtio-console port that carries the frames: the host
// names its virtserialport so, and the agent looks for a port of that name.
const VirtioPort = "llconform"

// Frame names. A suite's outcome travels as three frames (see SuiteFrames); Decode puts it
// back together, so that nothing else needs these names.
const (
	// AgentFrame carries the agent's AgentReport (JSON).
	AgentFrame = "agent"
	// KmsgFrame carries the kernel log buffer at the end of the run.
	KmsgFrame = "kmsg"
)

// A suite's frames are named suite/<suite>/<part>, the parts being these.
const (
	reportPart = "report.json" // the suite's report file
	outputPart = "output"      // its combined stdout and stderr
	statusPart = "status"      // its Status (JSON)
)

func suiteFrame(suite, part string) string { return "suite/" + suite + "/" + part }

// splitSuiteFrame returns the suite and the part a suite frame's name carries ("abi" and
// "status" for "suite/abi/status"); ok is false for any other frame.
func splitSuiteFrame(frame string) (suite, part string, ok bool) {
	rest, ok := strings.CutPrefix(frame, "suite/")
	if !ok {
		return "", "", false
	}
	i := strings.LastIndexByte(rest, '/')
	if i <= 0 {
		return "", "", false
	}
	return rest[:i], rest[i+1:], true
}

// Status is how one suite run ended.
type Status struct {
	ExitCode int    `json:"exit_code"`        // -1 when killed by a signal or not started
	Signal   string `json:"signal,omitempty"` // "SIGKILL"
	TimedOut bool   `json:"timed_out,omitempty"`
	// NotExecutable is set when the kernel refused to execute the binary (ENOEXEC): not a
	// format it runs, such as a 32-bit x86 program on a kernel without IA32 emulation.
	NotExecutable bool `json:"not_executable,omitempty"`
	// Error is set when the suite could not be started or its report could
	// not be read.
	Error      string `json:"error,omitempty"`
	DurationMS int64  `json:"duration_ms"`
}

// String says how the suite ended, for people: "exit status 1", "timed out after 300000ms"
// or "killed by killed", then the Error if any.
func (s Status) String() string {
	var msg string
	switch {
	case s.TimedOut:
		msg = fmt.Sprintf("timed out after %dms", s.DurationMS)
	case s.Signal != "":
		msg = "killed by " + s.Signal
	default:
		msg = fmt.Sprintf("exit status %d", s.ExitCode)
	}
	if s.Error != "" {
		msg += "; " + s.Error
	}
	return msg
}

// AgentReport is what the agent saw while setting up the guest.
type AgentReport struct {
	// Problems lists failed optional steps ("mount tracefs: ENODEV").
	Problems []string `json:"problems,omitempty"`
	// Modules lists each module load attempt in order.
	Modules []Module `json:"modules,omitempty"`
	// Channel is the device the frames are written to.
	Channel string `json:"channel"`
	Release string `json:"release"`
}

// Module is the result of loading one module.
type Module struct {
	Name  string `json:"name"`
	Error string `json:"error,omitempty"`
}
