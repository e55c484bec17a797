// Package plan is the contract between the host and the guest agent: what
// the agent must run (plan.json in the initramfs) and the names and shapes of
// the frames it sends back.
package plan

import "time"

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
	// Report is a file the suite writes (in the guest) that is sent back as
	// the frame ReportFrame(Name); empty for none.
	Report  string   `json:"report,omitempty"`
	Timeout Duration `json:"timeout,omitempty"`
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

// ConsolePrefix starts every line the agent writes to the console; the host follows the
// console for ConsolePrefix+"suite " lines to show live progress.
const ConsolePrefix = "llconform-agent: "

// Frame names.
const (
	// AgentFrame carries the agent's AgentReport (JSON).
	AgentFrame = "agent"
	// KmsgFrame carries the kernel log buffer at the end of the run.
	KmsgFrame = "kmsg"
)

// ReportFrame names the frame carrying a suite's report file.
func ReportFrame(suite string) string { return "suite/" + suite + "/report.json" }

// OutputFrame names the frame carrying a suite's combined stdout and stderr.
func OutputFrame(suite string) string { return "suite/" + suite + "/output" }

// StatusFrame names the frame carrying a suite's Status (JSON).
func StatusFrame(suite string) string { return "suite/" + suite + "/status" }

// Status is how one suite run ended.
type Status struct {
	ExitCode int    `json:"exit_code"` // -1 when killed by a signal or not started
	Signal   string `json:"signal,omitempty"`
	TimedOut bool   `json:"timed_out,omitempty"`
	// Error is set when the suite could not be started or its report could
	// not be read.
	Error      string `json:"error,omitempty"`
	DurationMS int64  `json:"duration_ms"`
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
