package bench

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/llconform/llconform/bench/result"
	"github.com/llconform/llconform/internal/landlock"
	"github.com/llconform/llconform/internal/sandbox"
)

func TestMain(m *testing.M) {
	sandbox.Main() // the scope scenario's helper processes re-execute this binary
	os.Exit(m.Run())
}

// synthetic returns a result with a path-walk series whose samples come from r: ns/op
// about base*(1+depth/10) under Landlock, scaled by slow, and base without.
func synthetic(r *rand.Rand, slow float64) *Result {
	se := &result.Series{Name: "rules=each", X: "depth", Scale: result.Linear, LogX: true, SameOff: true}
	for _, d := range []float64{1, 10, 100} {
		off, on := &result.Arm{Batch: 1000}, &result.Arm{Batch: 100}
		for range 20 {
			off.NsPerOp = append(off.NsPerOp, 850*(1+0.01*r.NormFloat64()))
			on.NsPerOp = append(on.NsPerOp, slow*850*(1+d/10)*(1+0.01*r.NormFloat64()))
		}
		se.Points = append(se.Points, &result.Point{Label: "depth=" + strconv.FormatFloat(d, 'f', -1, 64), X: d, Off: off, On: on})
	}
	res := &Result{
		Schema:    result.Schema,
		Kernel:    result.Kernel{Release: "7.3.4", Status: "available", ABI: 11, Errata: 0xf, ErrataQuery: true},
		Machine:   result.Machine{CPU: "test CPU", Cores: 2, Arch: "amd64", TimingMode: HostTiming},
		Config:    result.Config{Samples: 20, SampleTime: 0.01, CPU: 1},
		Scenarios: []*result.Scenario{{Name: "PathWalk", Title: "path walk vs directory depth", Series: []*result.Series{se}}},
	}
	res.Finish()
	return res
}

func TestCompareIdenticalRuns(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	c, status := Compare(synthetic(r, 1), synthetic(r, 1), CompareOptions{})
	if status != 0 {
		t.Errorf("two runs of the same kernel failed the comparison")
	}
	for _, row := range c.Rows {
		if row.Flagged() {
			t.Errorf("%s %s flagged between identical runs: %+v", row.Benchmark, row.Metric, row.Change)
		}
	}
	if len(c.Rows) != 9 {
		t.Errorf("%d rows, want 3 points x (off, on, ratio)", len(c.Rows))
	}
}

func TestCompareInjectedSlowdown(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	c, status := Compare(synthetic(r, 1), synthetic(r, 1.10), CompareOptions{Threshold: 5})
	if status != 1 {
		t.Fatalf("a 10%% slowdown under Landlock passed the comparison")
	}
	for _, row := range c.Rows {
		wantFlag := row.Metric != "off"
		if row.Flagged() != wantFlag {
			t.Errorf("%s %s: flagged %v, want %v (%+v)", row.Benchmark, row.Metric, row.Flagged(), wantFlag, row.Change)
		}
		if row.Regression != (row.Metric == "ratio") {
			t.Errorf("%s %s: regression %v; by default only the ratio gates", row.Benchmark, row.Metric, row.Regression)
		}
	}
	// A machine 20% slower overall moves both arms: with the default gate it is no
	// regression of Landlock; gating on the on arm catches it.
	slowMachine := synthetic(r, 1.2)
	for _, p := range slowMachine.Scenarios[0].Series[0].Points {
		for i := range p.Off.NsPerOp {
			p.Off.NsPerOp[i] *= 1.2
		}
	}
	slowMachine.Finish()
	if _, status := Compare(synthetic(r, 1), slowMachine, CompareOptions{}); status != 0 {
		t.Errorf("a uniformly slower machine failed the default (ratio) gate")
	}
	if _, status := Compare(synthetic(r, 1), slowMachine, CompareOptions{Gate: []string{"on"}}); status != 1 {
		t.Errorf("a uniformly slower machine passed the on gate")
	}
	if _, status := Compare(synthetic(r, 1), synthetic(r, 1.10), CompareOptions{Threshold: 15}); status != 0 {
		t.Errorf("a 10%% slowdown failed a 15%% threshold")
	}
	var out bytes.Buffer
	if err := c.Write(&out); err != nil || !strings.Contains(out.String(), "REGRESSION") {
		t.Errorf("comparison text lacks the regression (err %v):\n%s", err, out.String())
	}
}

func TestOutputs(t *testing.T) {
	res := synthetic(rand.New(rand.NewPCG(1, 1)), 1)
	var js bytes.Buffer
	if err := res.Encode(&js); err != nil {
		t.Fatal(err)
	}
	back, err := result.Decode(&js)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := back.Scenarios[0].Series[0].Points[2].On.Summary.Median, res.Scenarios[0].Series[0].Points[2].On.Summary.Median; got != want {
		t.Errorf("median after a JSON round trip %v, want %v", got, want)
	}
	if f := back.Scenarios[0].Series[0].Fit; f == nil || f.Slope < 80 || f.Slope > 90 {
		t.Errorf("slope %+v, want about 85 ns/depth", f)
	}

	var bs bytes.Buffer
	if err := WriteBenchstat(&bs, res); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(bs.String(), "\nkernel: 7.3.4\n") ||
		!strings.Contains(bs.String(), "\nBenchmarkPathWalk/rules=each/depth=100/landlock=on\t100\t") {
		t.Errorf("benchstat text:\n%s", bs.String())
	}
	if n := strings.Count(bs.String(), " ns/op\n"); n != 3*2*20 {
		t.Errorf("%d sample lines, want 120", n)
	}

	var tab bytes.Buffer
	if err := WriteTable(&tab, res); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(tab.String(), "ns/depth") || !strings.Contains(tab.String(), "PathWalk   ns/op") {
		t.Errorf("table:\n%s", tab.String())
	}

	dir := t.TempDir()
	other := synthetic(rand.New(rand.NewPCG(2, 2)), 1.5)
	other.Kernel.Release = "6.18.44"
	files, err := WritePlots(dir, res, other)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 1 || filepath.Base(files[0]) != "PathWalk-rules-each.svg" {
		t.Fatalf("plots %v", files)
	}
	svg, _ := os.ReadFile(files[0])
	for _, want := range []string{"7.3.4 Landlock", "6.18.44 without", "depth (log scale)", "time per operation (" + res.Machine.TimingMode + ")"} {
		if !bytes.Contains(svg, []byte(want)) {
			t.Errorf("plot lacks %q", want)
		}
	}

	// One column per kernel: the slope (about 85 and 127.5 ns per level) and the overhead
	// at depth 100 (11x and 16.5x).
	var slopes bytes.Buffer
	if err := WriteSlopes(&slopes, []string{"new", "old"}, res, other); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(slopes.String(), "\n")
	if len(lines) < 4 {
		t.Fatalf("slopes table:\n%s", slopes.String())
	}
	row, over := strings.Fields(lines[2]), strings.Fields(lines[3])
	if len(row) != 4 || row[0] != "PathWalk/rules=each" || row[1] != "ns/depth" || len(over) != 5 || over[2] != "depth=100" {
		t.Fatalf("slopes table:\n%s", slopes.String())
	}
	num := func(s string) float64 { v, _ := strconv.ParseFloat(strings.TrimSuffix(s, "x"), 64); return v }
	if a, b := num(row[2]), num(row[3]); a < 80 || a > 90 || b < 120 || b > 135 {
		t.Errorf("slopes %v and %v, want about 85 and 127.5:\n%s", a, b, slopes.String())
	}
	if a, b := num(over[3]), num(over[4]); a < 10.8 || a > 11.2 || b < 16.2 || b > 16.8 {
		t.Errorf("overheads %v and %v, want about 11x and 16.5x:\n%s", a, b, slopes.String())
	}
}

// TestRunSmoke runs two cheap scenarios briefly on the running kernel: the harness, the
// restricted threads and (from ABI 6) the helper processes work end to end.
func TestRunSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("measures the running kernel")
	}
	if info := landlock.Probe(); info.Status != landlock.Available {
		t.Skipf("Landlock %s on this kernel", info.Status)
	}
	res, err := Run(context.Background(), Options{Quick: true, SampleTime: 200 * time.Microsecond, Scenarios: []string{"layers", "scope"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, sc := range res.Scenarios {
		if sc.Skipped != "" {
			continue
		}
		for _, se := range sc.Series {
			if se.Skipped != "" {
				t.Errorf("%s/%s skipped: %s", sc.Name, se.Name, se.Skipped)
			}
			for _, p := range se.Points {
				if len(p.On.NsPerOp) != minSamples || p.Off == nil || p.Ratio == nil {
					t.Errorf("%s/%s/%s: incomplete point %+v", sc.Name, se.Name, p.Label, p)
				}
			}
		}
	}
	if res.Machine.TimingMode != HostTiming || res.Kernel.ABI == 0 {
		t.Errorf("result header %+v %+v", res.Kernel, res.Machine)
	}
}
