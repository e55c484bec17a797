package plan

import (
	"encoding/json"
	"strings"
)

// EventPrefix introduces a progress event on the console: the agent writes each Event as
// one line, EventPrefix then the event in JSON, and the host follows the console to show
// live progress. The frames cannot serve: the host reads the report channel only once the
// guest has stopped.
const EventPrefix = "llconform-event: "

// Event is the agent's live progress: the agent ready (set up, before the first suite), a
// suite of the plan starting or ending, and the agent done (every frame sent). The host
// times each stage of a boot by when it sees these lines.
type Event struct {
	// Agent is AgentReady or AgentDone on the agent's own events, empty on a suite's.
	Agent string `json:"agent,omitempty"`
	// UptimeMS is the guest's uptime at AgentReady: the kernel's boot, the unpacking of the
	// initramfs and the agent's set-up, in guest time.
	UptimeMS int64 `json:"uptime_ms,omitempty"`
	// Suite names the suite of a suite's event.
	Suite string `json:"suite,omitempty"`
	// N is the suite's position in the plan, from 1, of Of suites.
	N  int `json:"n"`
	Of int `json:"of"`
	// Status is how the suite ended; nil when it starts.
	Status *Status `json:"status,omitempty"`
}

// The agent's own events.
const (
	AgentReady = "ready" // set up (mounts, modules, report channel): the suites start
	AgentDone  = "done"  // every frame sent: the guest powers off
)

// Line returns the console line that carries e, without its newline.
func (e Event) Line() string {
	b, _ := json.Marshal(e) // strings, integers and a bool: encoding cannot fail
	return EventPrefix + string(b)
}

// ParseEvent returns the event a console line carries. It is false for any other line (the
// kernel's messages, the agent's log lines) and for an event the console garbled (one that
// names neither a suite nor an agent stage, or both). The event
// may come after other text on its line: the kernel can print while the agent writes.
func ParseEvent(line string) (Event, bool) {
	_, js, ok := strings.Cut(line, EventPrefix)
	if !ok {
		return Event{}, false
	}
	var e Event
	if err := json.Unmarshal([]byte(js), &e); err != nil || (e.Suite == "") == (e.Agent == "") {
		return Event{}, false
	}
	return e, true
}
