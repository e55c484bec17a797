package plot

import (
	"encoding/xml"
	"io"
	"strings"
	"testing"
)

func TestWriteSVG(t *testing.T) {
	c := Chart{
		Title: "path walk", XLabel: "depth", YLabel: "ns/op", LogX: true, LogY: true,
		Lines: []Line{
			{Name: "6.18 on", Points: []Point{{1, 1000, 900, 1100}, {10, 1700, 0, 0}, {10000, 1e6, 0, 0}}},
			{Name: "6.18 off <baseline>", Dashed: true, Points: []Point{{1, 850, 0, 0}, {10000, 870, 0, 0}}},
		},
	}
	var b strings.Builder
	if err := c.WriteSVG(&b); err != nil {
		t.Fatal(err)
	}
	svg := b.String()
	// Well-formed XML, with the legend's text escaped.
	d := xml.NewDecoder(strings.NewReader(svg))
	for {
		if _, err := d.Token(); err != nil {
			if err != io.EOF {
				t.Fatalf("not well-formed: %v\n%s", err, svg)
			}
			break
		}
	}
	for _, want := range []string{"depth (log scale)", "10k", "&lt;baseline&gt;", "stroke-dasharray", "<polyline"} {
		if !strings.Contains(svg, want) {
			t.Errorf("SVG lacks %q", want)
		}
	}
	bad := Chart{LogY: true, Lines: []Line{{Points: []Point{{1, 0, 0, 0}}}}}
	if err := bad.WriteSVG(&b); err == nil {
		t.Error("a zero on a log axis was accepted")
	}
}

func TestAxisTicks(t *testing.T) {
	a, err := newAxis([]float64{0, 16}, false, 100)
	if err != nil {
		t.Fatal(err)
	}
	if got := a.ticks(); len(got) < 4 || got[0] != 0 || got[len(got)-1] < 16 {
		t.Errorf("linear ticks %v do not cover 0..16", got)
	}
	l, err := newAxis([]float64{3, 20000}, true, 100)
	if err != nil {
		t.Fatal(err)
	}
	if got := l.ticks(); len(got) != 6 || got[0] != 1 || got[5] != 1e5 {
		t.Errorf("log ticks %v, want 1..100000", got)
	}
}
