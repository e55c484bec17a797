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

// Event is the agent's live progress: a suite of the plan starting or ending.
type Event struct {
	Suite string `json:"suite"`
	// N is the suite's position in the plan, from 1, of Of suites.
	N  int `json:"n"`
	Of int `json:"of"`
	// Status is how the suite ended; nil when it starts.
	Status *Status `json:"status,omitempty"`
}

// Line returns the console line that carries e, without its newline.
func (e Event) Line() string {
	b, _ := json.Marshal(e) // strings, integers and a bool: encoding cannot fail
	return EventPrefix + string(b)
}

// ParseEvent returns the event a console line carries. It is false for any other line (the
// kernel's messages, the agent's log lines) and for an event the console garbled. The event
// may come after other text on its line: the kernel can print while the agent writes.
func ParseEvent(line string) (Event, bool) {
	_, js, ok := strings.Cut(line, EventPrefix)
	if !ok {
		return Event{}, false
	}
	var e Event
	if err := json.Unmarshal([]byte(js), &e); err != nil || e.Suite == "" {
		return Event{}, false
	}
	return e, true
}
