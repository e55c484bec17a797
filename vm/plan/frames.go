package plan

import (
	"encoding/json"
	"fmt"

	"github.com/llconform/llconform/vm/channel"
)

// SuiteFrames returns the frames that carry one suite's outcome to the host, in the order to
// send them: the report first, as it is what the host needs most if the guest dies while
// sending the rest, then the output, then the status, which therefore says that everything
// before it arrived. A suite without a report sends no report frame.
func SuiteFrames(suite string, o Outcome) ([]channel.Frame, error) {
	status, err := json.Marshal(o.Status)
	if err != nil {
		return nil, fmt.Errorf("encode suite %s status: %w", suite, err)
	}
	var frames []channel.Frame
	if o.Report != nil {
		frames = append(frames, channel.Frame{Name: suiteFrame(suite, reportPart), Payload: o.Report})
	}
	return append(frames,
		channel.Frame{Name: suiteFrame(suite, outputPart), Payload: o.Output},
		channel.Frame{Name: suiteFrame(suite, statusPart), Payload: status},
	), nil
}

// Guest is what came back from one boot, decoded from its frames.
type Guest struct {
	// Agent is the agent's set-up report; nil when none arrived (or it did not decode).
	Agent *AgentReport
	// Kmsg is the kernel log the agent read at the end; nil when it did not arrive.
	Kmsg []byte
	// Suites holds, by suite name, each suite that sent any frame.
	Suites map[string]Received
}

// Received is what came back of one suite's run. A guest that dies while sending leaves the
// later frames of SuiteFrames missing: Report is nil when no report arrived, and Ended is
// false until the status has.
type Received struct {
	Outcome
	// Ended reports whether the status arrived, and with it everything the suite sent.
	Ended bool
	// Err is set when the status arrived intact but did not decode (an agent built from
	// another version of this package); Ended is then false.
	Err error
}

// Decode puts the frames of one boot back together. Of frames with the same name the later
// wins: the agent sends its set-up report twice, early and again at the end. Frames of no
// known name are ignored.
func Decode(frames []channel.Frame) Guest {
	g := Guest{Suites: map[string]Received{}}
	for _, f := range frames {
		switch f.Name {
		case AgentFrame:
			var a AgentReport
			if json.Unmarshal(f.Payload, &a) == nil {
				g.Agent = &a
			}
			continue
		case KmsgFrame:
			g.Kmsg = f.Payload
			continue
		}
		name, part, ok := splitSuiteFrame(f.Name)
		if !ok {
			continue
		}
		r := g.Suites[name]
		switch part {
		case reportPart:
			r.Report = f.Payload
		case outputPart:
			r.Output = f.Payload
		case statusPart:
			r.Status, r.Ended, r.Err = Status{}, true, nil
			if err := json.Unmarshal(f.Payload, &r.Status); err != nil {
				r.Ended, r.Err = false, fmt.Errorf("suite %s status: %w", name, err)
			}
		default:
			continue
		}
		g.Suites[name] = r
	}
	return g
}
