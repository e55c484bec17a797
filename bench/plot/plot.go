// Package plot draws line charts as standalone SVG, written by hand so that the project
// needs no plotting library and the files open in any browser or HTML report.
package plot

import (
	"fmt"
	"html"
	"io"
	"math"
	"strconv"
	"strings"
)

// Chart is a line chart.
type Chart struct {
	Title          string
	XLabel, YLabel string
	// LogX and LogY use base-10 logarithmic axes; every value on such an axis must be
	// positive.
	LogX, LogY bool
	Lines      []Line
	// YFormat renders a y tick; nil renders the number.
	YFormat func(float64) string
}

// Line is one series of points.
type Line struct {
	Name   string
	Points []Point
	// Color indexes the palette; lines of one kernel share it.
	Color int
	// Dashed draws a secondary line, e.g. a baseline without Landlock.
	Dashed bool
}

// Point is a value with an optional error bar from Lo to Hi (both zero: none).
type Point struct {
	X, Y, Lo, Hi float64
}

// palette is colour-blind friendly (Okabe-Ito).
var palette = []string{"#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"}

// Layout, in SVG user units.
const (
	width   = 900
	height  = 460
	left    = 80
	right   = 360 // room for the legend: kernel releases are long
	top     = 44
	bottom  = 64
	plotW   = width - left - right
	plotH   = height - top - bottom
	legendX = width - right + 16
)

// axis maps data values to pixels.
type axis struct {
	log      bool
	min, max float64 // in data units, or log10 of them
	pixels   float64
}

func newAxis(values []float64, log bool, pixels float64) (axis, error) {
	a := axis{log: log, min: math.Inf(1), max: math.Inf(-1), pixels: pixels}
	for _, v := range values {
		if log {
			if v <= 0 {
				return a, fmt.Errorf("plot: value %g on a logarithmic axis", v)
			}
			v = math.Log10(v)
		}
		a.min, a.max = min(a.min, v), max(a.max, v)
	}
	if len(values) == 0 {
		a.min, a.max = 0, 1
	}
	if log {
		// Whole decades, so that the ticks fall on the ends.
		a.min, a.max = math.Floor(a.min), math.Ceil(a.max)
	} else {
		step := niceStep(a.max - min(a.min, 0))
		a.min = math.Floor(min(a.min, 0)/step) * step
		a.max = math.Ceil(a.max/step) * step
	}
	if a.max <= a.min {
		a.max = a.min + 1
	}
	return a, nil
}

// niceStep returns a tick spacing of 1, 2 or 5 times a power of ten giving about five
// intervals over span.
func niceStep(span float64) float64 {
	if span <= 0 {
		return 1
	}
	raw := span / 5
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if raw <= m*mag {
			return m * mag
		}
	}
	return 10 * mag
}

// pos returns the distance in pixels of v from the axis' origin.
func (a axis) pos(v float64) float64 {
	if a.log {
		v = math.Log10(v)
	}
	return (v - a.min) / (a.max - a.min) * a.pixels
}

// ticks returns the tick values: decades on a log axis, nice steps on a linear one.
func (a axis) ticks() []float64 {
	var t []float64
	if a.log {
		for e := a.min; e <= a.max+1e-9; e++ {
			t = append(t, math.Pow(10, e))
		}
		return t
	}
	step := niceStep(a.max - a.min)
	for v := a.min; v <= a.max+step/1e6; v += step {
		t = append(t, v)
	}
	return t
}

// Number renders v compactly with an SI suffix: 1, 10, 1k, 100k, 1M.
func Number(v float64) string {
	for _, s := range []struct {
		f float64
		p string
	}{{1e9, "G"}, {1e6, "M"}, {1e3, "k"}} {
		if math.Abs(v) >= s.f {
			return strconv.FormatFloat(v/s.f, 'g', 3, 64) + s.p
		}
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}

// WriteSVG renders the chart.
func (c *Chart) WriteSVG(w io.Writer) error {
	var xs, ys []float64
	for _, l := range c.Lines {
		for _, p := range l.Points {
			xs = append(xs, p.X)
			ys = append(ys, p.Y)
			if p.Lo != 0 || p.Hi != 0 {
				ys = append(ys, p.Lo, p.Hi)
			}
		}
	}
	ax, err := newAxis(xs, c.LogX, plotW)
	if err != nil {
		return fmt.Errorf("x axis: %w", err)
	}
	ay, err := newAxis(ys, c.LogY, plotH)
	if err != nil {
		return fmt.Errorf("y axis: %w", err)
	}
	yfmt := c.YFormat
	if yfmt == nil {
		yfmt = Number
	}
	px := func(v float64) float64 { return left + ax.pos(v) }
	py := func(v float64) float64 { return top + plotH - ay.pos(v) }

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", width, height, width, height)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", width, height)
	fmt.Fprintf(&b, `<text x="%d" y="24" font-size="15" font-weight="bold">%s</text>`+"\n", left, esc(c.Title))
	for _, t := range ax.ticks() {
		x := px(t)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#ddd"/>`+"\n", x, top, x, top+plotH)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", x, top+plotH+18, esc(Number(t)))
	}
	for _, t := range ay.ticks() {
		y := py(t)
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>`+"\n", left, y, left+plotW, y)
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end" dominant-baseline="middle">%s</text>`+"\n", left-6, y, esc(yfmt(t)))
	}
	fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#333"/>`+"\n", left, top, plotW, plotH)
	fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle">%s</text>`+"\n", left+plotW/2, height-18, esc(c.XLabel+scaleNote(c.LogX)))
	fmt.Fprintf(&b, `<text transform="translate(18 %d) rotate(-90)" text-anchor="middle">%s</text>`+"\n", top+plotH/2, esc(c.YLabel+scaleNote(c.LogY)))

	for i, l := range c.Lines {
		color := palette[l.Color%len(palette)]
		dash := ""
		if l.Dashed {
			dash = ` stroke-dasharray="6 4"`
		}
		var pts []string
		for _, p := range l.Points {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", px(p.X), py(p.Y)))
		}
		fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="2"%s/>`+"\n", strings.Join(pts, " "), color, dash)
		for _, p := range l.Points {
			if p.Lo != 0 || p.Hi != 0 {
				fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s"/>`+"\n", px(p.X), py(p.Lo), px(p.X), py(p.Hi), color)
			}
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>`+"\n", px(p.X), py(p.Y), color)
		}
		ly := top + 8 + 20*i
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2"%s/>`+"\n", legendX, ly, legendX+24, ly, color, dash)
		fmt.Fprintf(&b, `<text x="%d" y="%d" dominant-baseline="middle">%s</text>`+"\n", legendX+30, ly, esc(l.Name))
	}
	b.WriteString("</svg>\n")
	_, err = io.WriteString(w, b.String())
	return err
}

func scaleNote(log bool) string {
	if log {
		return " (log scale)"
	}
	return ""
}

func esc(s string) string { return html.EscapeString(s) }
