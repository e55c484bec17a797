// Package result is the model of a benchmark run and its JSON form: the kernel and machine
// it ran on, and for every scenario, series and point the raw samples of each arm, with
// their summaries, the overhead ratio and the per-unit slope.
//
// Raw samples are kept so that another run can be compared with this one statistically
// (bench.Compare) long after the fact; the summaries are derived from them by Finish and
// are stored only for readers of the JSON.
package result

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"time"

	"github.com/llconform/llconform/bench/stats"
	"github.com/llconform/llconform/internal/landlock"
)

// Schema identifies the JSON layout; it changes when a field changes meaning.
const Schema = "llconform.bench/v1"

// Result is one benchmark run on one kernel.
type Result struct {
	Schema    string      `json:"schema"`
	Kernel    Kernel      `json:"kernel"`
	Machine   Machine     `json:"machine"`
	Config    Config      `json:"config"`
	Started   time.Time   `json:"started"`
	Seconds   float64     `json:"seconds"`
	Scenarios []*Scenario `json:"scenarios"`
}

// Kernel is what the kernel says about itself and its Landlock support: landlock.Info
// (the probe's model) less its error, its own type because bench.json has no "error" field.
type Kernel struct {
	Release     string          `json:"release"`
	Status      landlock.Status `json:"status"`
	ABI         int             `json:"abi"`
	Errata      uint64          `json:"errata"`
	ErrataQuery bool            `json:"errata_query"`
}

// KernelOf returns the benchmark's record of the probe info.
func KernelOf(info landlock.Info) Kernel {
	return Kernel{Release: info.Release, Status: info.Status, ABI: info.ABI, Errata: info.Errata, ErrataQuery: info.ErrataQuery}
}

// Machine describes where the figures come from, so that they are compared only with
// figures of the same kind.
type Machine struct {
	CPU   string `json:"cpu"`
	Cores int    `json:"cores"`
	Arch  string `json:"arch"`
	// TimingMode says what a nanosecond means: "host wall clock" on real hardware, or
	// the accelerator of a virtual machine (emulated time under TCG is not real time).
	TimingMode string `json:"timing_mode"`
	// LoadStart and LoadEnd are the 1, 5 and 15 minute load averages around the run: a
	// busy machine explains a large spread.
	LoadStart [3]float64 `json:"load_start"`
	LoadEnd   [3]float64 `json:"load_end"`
	// OtherCPUs is how many CPUs other processes kept busy on average during the run
	// (measure.CPUUse.OtherCPUs): work elsewhere on the machine slows the measuring
	// thread by tens of percent in phases of milliseconds, which no interleaving cancels,
	// so a spread far above a few percent with OtherCPUs well above 0 is the machine's.
	OtherCPUs float64 `json:"other_cpus"`
	// GetppidNs is the speed gate's fastest reading of getppid on the measuring CPU, in
	// ns: the machine's speed when it ran at its best; 0 without the gate.
	GetppidNs float64 `json:"getppid_ns,omitempty"`
	// SlowSeconds is how long the speed gate waited for slow phases to end.
	SlowSeconds float64 `json:"slow_seconds,omitempty"`
}

// Config is how the run measured.
type Config struct {
	Quick      bool    `json:"quick"`
	Samples    int     `json:"samples"`
	SampleTime float64 `json:"sample_seconds"`
	// CPU is the CPU the measuring threads were pinned to, -1 when not pinned.
	CPU int    `json:"cpu"`
	Dir string `json:"dir"`
	// SpeedGate is the speed gate's tolerance in percent, 0 when it was off.
	SpeedGate float64 `json:"speed_gate_percent"`
	// Injected is a slowdown in percent added on purpose to the Landlock arm of every
	// paired point (bench.Options.InjectSlowdown): such a run describes no kernel.
	Injected float64 `json:"injected_slowdown_percent,omitempty"`
}

// Scenario is one family of measurements, e.g. path walk vs depth.
type Scenario struct {
	Name  string `json:"name"`
	Title string `json:"title"`
	// Skipped says why the scenario did not run, e.g. "unsupported on ABI 5".
	Skipped string `json:"skipped,omitempty"`
	// Error is why the scenario stopped early; the series measured until then are kept.
	Error string `json:"error,omitempty"`
	// Notes qualify the figures, e.g. records the kernel lost during an audit scenario.
	Notes  []string  `json:"notes,omitempty"`
	Series []*Series `json:"series"`
}

// Scale is how a series' x relates to its cost, which decides the slope's unit.
type Scale string

const (
	Linear Scale = "linear" // slope in ns per unit of x
	Log2   Scale = "log2"   // slope in ns per doubling of x
)

// Series is one line of points that share an operation, e.g. depth 1..10000 with a rule
// on every directory.
type Series struct {
	Name string `json:"name"`
	// Op says what one timed operation is, in each arm.
	Op string `json:"op"`
	// X names the swept parameter ("depth", "layers", "rules"); empty when the points are
	// distinct cases rather than a sweep.
	X     string `json:"x,omitempty"`
	Scale Scale  `json:"scale,omitempty"`
	// LogX says the sweep is geometric, so plots use a logarithmic x axis.
	LogX    bool     `json:"log_x,omitempty"`
	Skipped string   `json:"skipped,omitempty"`
	Points  []*Point `json:"points"`
	// SameOff says the off arm does the same work at every x (the path walk's off open
	// does not depend on depth, unlike a ruleset build without rules, which opens n
	// files). The fit then uses each point's on/off ratio times the median off time of
	// the series, rather than the raw on time: load that shifts between points moves
	// both arms of a point alike, and so leaves the ratio, and the line, alone.
	SameOff bool `json:"same_off,omitempty"`
	// Fit is the least-squares line through the medians of the on arm (see SameOff)
	// against x or log2 x: its slope is the cost per directory level, layer or doubling
	// of rules.
	Fit *stats.Fit `json:"fit,omitempty"`
}

// SlopeUnit returns the unit of the fit's slope, e.g. "ns/depth" or "ns/log2(rules)".
func (s *Series) SlopeUnit() string {
	if s.Scale == Log2 {
		return "ns/log2(" + s.X + ")"
	}
	return "ns/" + s.X
}

// Point is one case: the same operation timed without and with Landlock.
type Point struct {
	// Label names the point within its series, e.g. "depth=100" or "bind/denied".
	Label string  `json:"label"`
	X     float64 `json:"x,omitempty"`
	// Off is the operation without Landlock (nil when that means nothing, e.g. for
	// restrict_self); On is the operation under the Landlock policy.
	Off *Arm `json:"off,omitempty"`
	On  *Arm `json:"on"`
	// Ratio summarises On/Off over the pairs of samples taken back to back.
	Ratio *stats.Summary `json:"ratio,omitempty"`
	// OtherCPUs is Machine.OtherCPUs while this point was measured.
	OtherCPUs float64 `json:"other_cpus"`
	// Retaken counts rounds of samples set aside because the CPU ran slow during them
	// (measure.Gate); Slow counts slow rounds kept all the same, for want of steady ones.
	Retaken int `json:"retaken,omitempty"`
	Slow    int `json:"slow,omitempty"`
}

// Arm is the samples of one side of a point.
type Arm struct {
	// Batch is the number of operations per sample.
	Batch   int           `json:"batch"`
	NsPerOp []float64     `json:"ns_per_op"`
	Summary stats.Summary `json:"summary"`
}

// Arms returns the point's arms by name ("off", "on"), skipping a missing Off.
func (p *Point) Arms() []NamedArm {
	var arms []NamedArm
	if p.Off != nil {
		arms = append(arms, NamedArm{"off", p.Off})
	}
	return append(arms, NamedArm{"on", p.On})
}

// NamedArm is an arm with its name.
type NamedArm struct {
	Name string
	*Arm
}

// Finish derives every summary, ratio and fit from the raw samples.
func (r *Result) Finish() {
	for _, sc := range r.Scenarios {
		for _, se := range sc.Series {
			se.finish()
		}
	}
}

func (s *Series) finish() {
	var offs []float64
	for _, p := range s.Points {
		for _, a := range p.Arms() {
			a.Summary = stats.Summarize(a.NsPerOp)
		}
		p.Ratio = nil
		if p.Off != nil {
			r := stats.Summarize(stats.Ratios(p.Off.NsPerOp, p.On.NsPerOp))
			p.Ratio = &r
			offs = append(offs, p.Off.Summary.Median)
		}
	}
	s.Fit = nil
	if s.X == "" {
		return
	}
	normalize := s.SameOff && len(offs) == len(s.Points)
	baseline := stats.Summarize(offs).Median
	var xs, ys []float64
	for _, p := range s.Points {
		x, y := p.X, p.On.Summary.Median
		if s.Scale == Log2 {
			x = math.Log2(x)
		}
		if normalize {
			y = p.Ratio.Median * baseline
		}
		xs, ys = append(xs, x), append(ys, y)
	}
	if f, err := stats.LeastSquares(xs, ys); err == nil {
		s.Fit = &f
	}
}

// Benchmark returns the benchstat name of an arm of a point, e.g.
// "PathWalk/rules=each/depth=100/landlock=on". It identifies the arm across runs.
func Benchmark(sc *Scenario, se *Series, p *Point, arm string) string {
	return fmt.Sprintf("%s/%s/%s/landlock=%s", sc.Name, se.Name, p.Label, arm)
}

// Encode writes r as indented JSON.
func (r *Result) Encode(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// Decode reads a result and recomputes its summaries from the samples, so that a file
// edited by hand or written by an older version is judged on its samples alone.
func Decode(rd io.Reader) (*Result, error) {
	data, err := io.ReadAll(rd)
	if err != nil {
		return nil, fmt.Errorf("read benchmark result: %w", err)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, fmt.Errorf("%w: empty input", ErrNotResult)
	}
	var r Result
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotResult, err)
	}
	if r.Schema != Schema {
		if r.Schema == "" {
			return nil, fmt.Errorf("%w: no schema (want %q)", ErrNotResult, Schema)
		}
		return nil, fmt.Errorf("%w: schema %q, want %q", ErrNotResult, r.Schema, Schema)
	}
	for _, sc := range r.Scenarios {
		for _, se := range sc.Series {
			for _, p := range se.Points {
				if p.On == nil {
					return nil, fmt.Errorf("%w: %s/%s/%s has no on arm", ErrNotResult, sc.Name, se.Name, p.Label)
				}
			}
		}
	}
	r.Finish()
	return &r, nil
}

// ErrNotResult is wrapped by Decode and ReadFile errors whose input is readable but is not a
// benchmark result (not JSON, another schema, a point without its on arm, a directory): a
// user error, where any other error of ReadFile is the file system's.
var ErrNotResult = errors.New("not an llconform benchmark result")

// ReadFile decodes the result stored in path.
func ReadFile(path string) (*Result, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.IsDir() {
		return nil, fmt.Errorf("%s: %w: a directory", path, ErrNotResult)
	}
	r, err := Decode(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return r, nil
}

// WriteFile stores r in path as JSON.
func (r *Result) WriteFile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := r.Encode(f); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Close()
}
