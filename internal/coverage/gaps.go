package coverage

import (
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/llconform/llconform/internal/yamlfile"
)

// Status says how far the specs cover a selftest.
type Status string

const (
	// Covered: at least one spec is labelled with the selftest and the gaps file has no
	// entry for it.
	Covered Status = "covered"
	// Partial: specs are labelled with the selftest, and the gaps file says what of it they
	// do not check.
	Partial Status = "partial"
	// Not: no spec is labelled with the selftest, and the gaps file says why.
	Not Status = "not"
	// Missing: no spec and no reason; it fails the check.
	Missing Status = "missing"
)

// Gap is one entry of the gaps file: a selftest the specs do not, or only partly, cover.
type Gap struct {
	// Selftest is "<file>:<test>", as in the inventory.
	Selftest string
	// Status is Not or Partial.
	Status Status
	// Reason says what the specs lack: what the selftest needs that the suites cannot do,
	// and what would make it runnable.
	Reason string
	// Where is "file:line" of the entry.
	Where string
}

// gapYAML is one entry as written. Its keys are the only ones an entry may have.
type gapYAML struct {
	Selftest string `yaml:"selftest"`
	Status   string `yaml:"status"`
	Reason   string `yaml:"reason"`
}

var gapsOptions = yamlfile.Options{
	Want: map[reflect.Type]string{
		reflect.TypeFor[[]gapYAML](): "want a list of gaps",
		reflect.TypeFor[gapYAML]():   "want a mapping with selftest, status, reason",
		reflect.TypeFor[string]():    "want a string",
	},
	KeyHint: "want one of selftest, status, reason",
	NoNull:  true,
}

// ParseGaps reads the gaps file: a YAML list of {selftest: "<file>:<test>", status: not |
// partial, reason: ...}. file names it in errors ("docs/selftest-gaps.yaml:12: ..."). An
// empty file has no gaps. Whether each selftest exists is Build's business, which knows
// the inventory.
func ParseGaps(data []byte, file string) ([]Gap, error) {
	list, lines, err := yamlfile.DecodeList[gapYAML](file, data, gapsOptions)
	if err != nil {
		return nil, err
	}
	var out []Gap
	var errs []error
	seen := map[string]string{}
	for i, y := range list {
		g := Gap{Selftest: y.Selftest, Status: Status(y.Status), Reason: strings.TrimSpace(y.Reason),
			Where: fmt.Sprintf("%s:%d", file, lines[i])}
		switch {
		case g.Selftest == "":
			errs = append(errs, fmt.Errorf("%s: no selftest", g.Where))
		case g.Status != Not && g.Status != Partial:
			errs = append(errs, fmt.Errorf("%s: %s: status %q: want not or partial", g.Where, g.Selftest, y.Status))
		case g.Reason == "":
			errs = append(errs, fmt.Errorf("%s: %s: no reason: say what a spec would need to cover it", g.Where, g.Selftest))
		case seen[g.Selftest] != "":
			errs = append(errs, fmt.Errorf("%s: %s already has an entry at %s", g.Where, g.Selftest, seen[g.Selftest]))
		default:
			seen[g.Selftest] = g.Where
			out = append(out, g)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}
