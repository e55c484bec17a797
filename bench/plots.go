package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/llconform/llconform/bench/plot"
	"github.com/llconform/llconform/bench/result"
)

// WritePlots draws one SVG chart per swept series (cost vs depth, layers, rules) into
// dir, with one solid line per result (kernel) for the time under Landlock, its 95%
// confidence interval as error bars, and a dashed line of the same colour for the time
// without Landlock. It returns the files written.
func WritePlots(dir string, results ...*Result) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	names := lineNames(results)
	// What a nanosecond means goes on the axis when every line shares it (emulated time is
	// comparable across kernels, never with a host's); else each line's name says it.
	ylabel := "time per operation"
	if m, ok := commonTimingMode(results); ok && m != "" {
		ylabel += " (" + m + ")"
	}
	var files []string
	for _, key := range sweptSeries(results) {
		c := plot.Chart{YLabel: ylabel, YFormat: fmtNs}
		for i, r := range results {
			sc, se := find(r, key.scenario, key.series)
			if se == nil || len(se.Points) == 0 {
				continue
			}
			c.Title = fmt.Sprintf("%s: %s", sc.Title, se.Name)
			c.XLabel, c.LogX = se.X, se.LogX
			on := plot.Line{Name: names[i] + " Landlock", Color: i}
			off := plot.Line{Name: names[i] + " without", Color: i, Dashed: true}
			for _, p := range se.Points {
				s := p.On.Summary
				on.Points = append(on.Points, plot.Point{X: p.X, Y: s.Median, Lo: s.Lo, Hi: s.Hi})
				if p.Off != nil {
					off.Points = append(off.Points, plot.Point{X: p.X, Y: p.Off.Summary.Median})
				}
			}
			c.Lines = append(c.Lines, on)
			if len(off.Points) > 0 {
				c.Lines = append(c.Lines, off)
			}
		}
		if len(c.Lines) == 0 {
			continue
		}
		c.LogY = wideRange(c.Lines)
		path := filepath.Join(dir, fileName(key.scenario+"-"+key.series)+".svg")
		if err := writeChart(path, &c); err != nil {
			return files, err
		}
		files = append(files, path)
	}
	return files, nil
}

type seriesKey struct{ scenario, series string }

// sweptSeries lists the series with a numeric x found in any result, in order of first
// appearance.
func sweptSeries(results []*Result) []seriesKey {
	var keys []seriesKey
	seen := map[seriesKey]bool{}
	for _, r := range results {
		for _, sc := range r.Scenarios {
			for _, se := range sc.Series {
				k := seriesKey{sc.Name, se.Name}
				if se.X != "" && !seen[k] {
					seen[k] = true
					keys = append(keys, k)
				}
			}
		}
	}
	return keys
}

func find(r *Result, scenario, series string) (*result.Scenario, *result.Series) {
	for _, sc := range r.Scenarios {
		if sc.Name != scenario {
			continue
		}
		for _, se := range sc.Series {
			if se.Name == series {
				return sc, se
			}
		}
	}
	return nil, nil
}

// lineNames names each result by its kernel release, adding the timing mode when the
// results mix modes and a run number when a release appears twice.
// commonTimingMode returns the timing mode every result shares, and false when they differ.
func commonTimingMode(results []*Result) (string, bool) {
	mode := ""
	for i, r := range results {
		if i > 0 && r.Machine.TimingMode != mode {
			return "", false
		}
		mode = r.Machine.TimingMode
	}
	return mode, true
}

func lineNames(results []*Result) []string {
	_, sameMode := commonTimingMode(results)
	count := map[string]int{}
	for _, r := range results {
		count[r.Kernel.Release]++
	}
	names := make([]string, len(results))
	seen := map[string]int{}
	for i, r := range results {
		n := r.Kernel.Release
		if !sameMode {
			n += " (" + r.Machine.TimingMode + ")"
		}
		if count[r.Kernel.Release] > 1 {
			seen[r.Kernel.Release]++
			n += fmt.Sprintf(" #%d", seen[r.Kernel.Release])
		}
		names[i] = n
	}
	return names
}

// wideRange says whether the values span more than a factor of 30, where a linear y axis
// would flatten the small ones into the floor.
func wideRange(lines []plot.Line) bool {
	lo, hi := 0.0, 0.0
	for _, l := range lines {
		for _, p := range l.Points {
			if lo == 0 || p.Y < lo {
				lo = p.Y
			}
			hi = max(hi, p.Y)
		}
	}
	return lo > 0 && hi/lo > 30
}

func fileName(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '.':
			return r
		}
		return '-'
	}, s)
}

func writeChart(path string, c *plot.Chart) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := c.WriteSVG(f); err != nil {
		f.Close()
		return fmt.Errorf("plot %s: %w", path, err)
	}
	return f.Close()
}
