package render

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/llconform/llconform/internal/diff"
	"github.com/llconform/llconform/internal/report"
	"github.com/llconform/llconform/internal/verdict"
)

// HTMLOptions tunes WriteHTML.
type HTMLOptions struct {
	// Title heads the page; "llconform report" when empty.
	Title string
	// Dir is the directory the HTML file will be written to. File paths in the result
	// (suite outputs, console logs) are linked relative to it, so the report and its logs can
	// be moved or archived together. Empty: paths are linked as they are.
	Dir string
	// Plots are SVG figures (benchmark plots) shown in their own section, in this order.
	Plots []Plot
	// Comparison, when set, is shown as a "Compared with" section: what changed since a
	// baseline result (llconform report diff --html).
	Comparison *diff.Diff
}

// Plot is one inline SVG figure.
type Plot struct {
	Title string
	// SVG is a complete <svg> element, optionally preceded by an XML declaration. It is
	// inserted as is: it must come from llconform's own plotting, never from a suite.
	SVG string
}

//go:embed html.tmpl
var htmlSource string

var htmlTemplate = template.Must(template.New("report").Parse(htmlSource))

// WriteHTML writes res as one self-contained HTML page (inline CSS, no script, no external
// asset), for people: a kernel x suite matrix, a colour-coded kernel x feature matrix with
// its legend, optional plots, and per kernel a collapsible drill-down to failed and known
// failing specs with their messages, infrastructure errors with the console tail, skip
// reasons, expectation checks and links to the log files.
func WriteHTML(w io.Writer, res *report.Result, opts HTMLOptions) error {
	page, err := buildPage(res, opts)
	if err != nil {
		return fmt.Errorf("write HTML: %w", err)
	}
	if err := htmlTemplate.Execute(w, page); err != nil {
		return fmt.Errorf("write HTML: %w", err)
	}
	return nil
}

type htmlPage struct {
	Title, Generator, Time string
	Verdict                string
	VerdictClass           string
	Tallies                []htmlTally
	Suites                 []string
	Kernels                []htmlKernel
	FeatureKernels         []htmlKernel // the kernels that have a feature column
	FeatureCols            int          // columns of the feature table
	FeatureGroups          []htmlFeatureGroup
	Legend                 []htmlLegend
	Plots                  []htmlPlot
	Notices                []report.Notice
	Comparison             *htmlComparison
	Timings                *htmlTimings // nil for a result without timings
}

// htmlTimings is where each kernel's time went (see WriteTimings).
type htmlTimings struct {
	Stages []string
	Rows   []htmlTimingRow
	Run    string // the run's wall time and the machine's load
}

type htmlTimingRow struct {
	Name, Anchor string
	Cells        []htmlTimingCell
	Total, CPU   string
	Slow         string // why the kernel is slow; empty when it is not
	Shared       string // the kernel whose boot this one shared; empty when it booted
}

type htmlTimingCell struct {
	Value string
	Worst bool // the stage the slow note names
}

type htmlTally struct {
	Conclusion string
	Class      string
	N          int
}

type htmlKernel struct {
	Name, Anchor   string
	Facts          []htmlFact
	Conclusion     string
	Class          string
	ABI, Effective string
	ABIMismatch    bool
	Errata         string // bitmask and list: "0b0111 [1 2 3]"
	ErrataBits     string // bitmask alone, for the matrix
	Checks         []report.Check
	Mismatches     []report.Check // the checks that failed
	ChecksTitle    string         // every check's message, one a line
	SuiteCells     []htmlSuiteCell
	Infra          *report.InfraError
	ConsoleLog     string // link
	Open           bool
	Suites         []htmlSuite
	Failed         []htmlSpec
	Known          []htmlSpec
	KnownExcused   bool // known issues excuse failures on this run (not a certified one)
	InfraSpecs     []htmlSpec
	Skipped        []htmlSkipGroup
	NSkipped       int
	Features       []htmlFeature
	Notices        []report.Notice
}

type htmlFact struct{ Name, Value string }

type htmlSuiteCell struct {
	Missing          bool
	Kind             string // infrastructure kind of a suite that has no specs, or of the kernel
	P, F, S, I, K    int
	SuiteInfra       string
	HasInfra, HasAny bool
}

type htmlSuite struct {
	Name     string
	Counts   report.Counts
	Duration string
	Exit     string
	Output   string // link
	Infra    *report.InfraError
}

type htmlSpec struct {
	ID, Tags, Message, Location string
	Known                       *report.Known
}

type htmlSkipGroup struct {
	Reason string
	Specs  []string
}

type htmlFeature struct {
	report.FeatureResult
	Code, Class string
}

type htmlFeatureGroup struct {
	Name string
	Rows []htmlFeatureRow
}

type htmlFeatureRow struct {
	Feature string
	Intro   string // "ABI 3", "ABI 4, erratum 1"
	Cells   []htmlCell
}

type htmlCell struct {
	Code, Class, Title, Anchor string
}

type htmlLegend struct{ Code, Class, Meaning string }

type htmlPlot struct {
	Title, Anchor string
	SVG           template.HTML
}

// outcomeClass is the CSS class of a feature outcome's cell.
func outcomeClass(f report.FeatureResult) string {
	if f.Known != nil {
		return "o-known"
	}
	switch f.Outcome {
	case report.Works, report.ErratumFixed:
		return "o-works"
	case report.Absent:
		return "o-absent"
	case report.Broken, report.ErratumAdvertisedNotFixed, report.ErratumFixedNotAdvertised:
		return "o-broken"
	case report.ErratumNotFixedAdvertised:
		return "o-notfixed"
	case report.ErratumFixedNoQuery:
		return "o-unadvertised"
	case report.NotApplicable:
		return "o-na"
	}
	return "o-unknown"
}

func conclusionClass(c report.Conclusion) string {
	if c == report.ConclusionNotApplicable {
		return "c-na" // "N/A" makes no class name
	}
	return "c-" + strings.ToLower(string(c))
}

func buildPage(res *report.Result, opts HTMLOptions) (*htmlPage, error) {
	p := &htmlPage{Title: opts.Title, Generator: res.Generator, Comparison: buildComparison(opts.Comparison)}
	if p.Title == "" {
		p.Title = "llconform report"
	}
	if !res.Time.IsZero() {
		p.Time = res.Time.UTC().Format(time.DateTime + " UTC")
	}
	switch verdict.ExitCode(res) {
	case verdict.ExitPass:
		p.Verdict, p.VerdictClass = "pass: every kernel conforms", conclusionClass(report.ConclusionPass)
	case verdict.ExitFail:
		p.Verdict, p.VerdictClass = "fail: a kernel failed or mismatched its expectations", conclusionClass(report.ConclusionFail)
	case verdict.ExitUnverified:
		p.Verdict, p.VerdictClass = "unverified: a kernel's claim could not be checked, or nothing was tested", conclusionClass(report.ConclusionUnverified)
	default:
		p.Verdict, p.VerdictClass = "incomplete: something could not be tested", conclusionClass(report.ConclusionInfra)
	}
	for _, r := range res.Runs {
		for _, s := range r.Suites {
			if !slices.Contains(p.Suites, s.Name) {
				p.Suites = append(p.Suites, s.Name)
			}
		}
	}
	tally := map[report.Conclusion]int{}
	features := map[string]*htmlFeatureRow{}
	var featureNames []string
	for i := range res.Runs {
		r := &res.Runs[i]
		k := buildKernel(r, i, p.Suites, opts.Dir)
		tally[r.Conclusion]++
		p.Kernels = append(p.Kernels, k)
		p.Notices = append(p.Notices, r.Notices...)
	}
	for i, k := range p.Kernels {
		for _, f := range k.Features {
			row := features[f.Feature]
			if row == nil {
				row = &htmlFeatureRow{Feature: f.Feature, Cells: make([]htmlCell, len(p.Kernels))}
				features[f.Feature] = row
				featureNames = append(featureNames, f.Feature)
			}
			if row.Intro == "" {
				row.Intro = featureIntro(f.FeatureResult)
			}
			row.Cells[i] = htmlCell{Code: f.Code, Class: f.Class, Title: featureTitle(k.Name, f), Anchor: k.Anchor}
		}
	}
	// Kernels that ran nothing have no feature column: a column of dashes says nothing.
	keep := make([]bool, len(p.Kernels))
	for i, k := range p.Kernels {
		keep[i] = len(k.Features) > 0
		if keep[i] {
			p.FeatureKernels = append(p.FeatureKernels, k)
		}
	}
	p.FeatureCols = 2 + len(p.FeatureKernels)
	slices.Sort(featureNames)
	for _, name := range featureNames {
		row := features[name]
		var cells []htmlCell
		for i, c := range row.Cells {
			if !keep[i] {
				continue
			}
			if c.Code == "" {
				c = htmlCell{Code: "–", Class: "o-untested", Title: p.Kernels[i].Name + ": not tested on this kernel"}
			}
			cells = append(cells, c)
		}
		row.Cells = cells
		group, _, _ := strings.Cut(name, ".")
		if n := len(p.FeatureGroups); n == 0 || p.FeatureGroups[n-1].Name != group {
			p.FeatureGroups = append(p.FeatureGroups, htmlFeatureGroup{Name: group})
		}
		g := &p.FeatureGroups[len(p.FeatureGroups)-1]
		g.Rows = append(g.Rows, *row)
	}
	for _, c := range report.Conclusions {
		if tally[c] > 0 {
			p.Tallies = append(p.Tallies, htmlTally{string(c), conclusionClass(c), tally[c]})
		}
	}
	for _, c := range featureCodes {
		p.Legend = append(p.Legend, htmlLegend{c.code, outcomeClass(report.FeatureResult{Outcome: c.outcome}), c.meaning})
	}
	p.Legend = append(p.Legend,
		htmlLegend{"Bk Xk", "o-known", "broken or advertised-not-fixed, excused by a known issue (except in a certified run)"},
		htmlLegend{"–", "o-untested", "not tested on this kernel"})
	p.Timings = buildTimings(res, p.Kernels)
	for i, pl := range opts.Plots {
		svg, err := checkSVG(pl.SVG)
		if err != nil {
			return nil, fmt.Errorf("plot %q: %w", pl.Title, err)
		}
		p.Plots = append(p.Plots, htmlPlot{Title: pl.Title, Anchor: fmt.Sprintf("plot-%d", i+1), SVG: template.HTML(svg)})
	}
	return p, nil
}

var xmlPrologue = regexp.MustCompile(`^\s*(<\?xml[^>]*\?>\s*)?(<!DOCTYPE[^>]*>\s*)?`)

// checkSVG strips what may precede an <svg> element in a file and refuses anything that is
// not one, so a wrong argument (a path, a PNG) fails loudly rather than rendering as junk.
func checkSVG(s string) (string, error) {
	s = xmlPrologue.ReplaceAllString(s, "")
	if !strings.HasPrefix(s, "<svg") || !strings.HasSuffix(strings.TrimSpace(s), "</svg>") {
		return "", fmt.Errorf("not an <svg> element")
	}
	return s, nil
}

func buildKernel(r *report.Run, i int, suites []string, dir string) htmlKernel {
	c := r.Conclusion
	k := htmlKernel{
		Name:         r.Kernel.Name,
		Anchor:       fmt.Sprintf("kernel-%d", i+1),
		Conclusion:   string(c),
		Class:        conclusionClass(c),
		ABI:          "?",
		Errata:       "?",
		ErrataBits:   "?",
		Checks:       r.Checks,
		Infra:        r.Infra,
		Open:         c != report.ConclusionPass && c != report.ConclusionNoLandlock && c != report.ConclusionNotApplicable,
		Notices:      r.Notices,
		KnownExcused: verdict.KnownIssuesExcuse(r),
	}
	var titles []string
	for _, c := range k.Checks {
		if !c.OK {
			k.Mismatches = append(k.Mismatches, c)
		}
		titles = append(titles, c.Name+": "+c.Message)
	}
	k.ChecksTitle = strings.Join(titles, "\n")
	for _, f := range []htmlFact{
		{"arch", r.Kernel.Architecture()},
		{"release", r.Kernel.Release},
		{"package", strings.TrimSpace(r.Kernel.Package + " " + r.Kernel.Version)},
		{"source", r.Kernel.Source},
		{"machine", r.Kernel.Machine},
		{"compat", compatText(r.Compat)},
		{"not applicable", notApplicable(r.Compat)},
	} {
		if f.Value != "" {
			k.Facts = append(k.Facts, f)
		}
	}
	if r.Info != nil {
		if r.Kernel.Release == "" || r.Info.Release != r.Kernel.Release {
			k.Facts = append(k.Facts, htmlFact{"uname -r", r.Info.Release})
		}
		status := string(r.Info.Status)
		if r.Info.Error != "" {
			status += " (" + r.Info.Error + ")"
		}
		k.Facts = append(k.Facts, htmlFact{"Landlock", status})
		k.ABI, k.Errata, k.ErrataBits = fmt.Sprint(r.Info.ABI), report.FormatErrata(*r.Info), errataCell(r)
		if r.Info.Status != report.StatusAvailable {
			k.ABI = string(r.Info.Status)
		}
	}
	if eff := r.EffectiveABI; eff != nil {
		k.Effective = fmt.Sprint(*eff)
		k.ABIMismatch = r.Info != nil && *eff != verdict.VerifiableABI(*r.Info)
	}
	if r.Infra != nil {
		k.ConsoleLog = linkPath(r.Infra.ConsoleLog, dir)
	}
	if r.ConsoleLog != "" {
		k.ConsoleLog = linkPath(r.ConsoleLog, dir)
	}
	for _, name := range suites {
		k.SuiteCells = append(k.SuiteCells, suiteHTMLCell(r, name))
	}
	skipped := map[string]int{}
	for _, s := range r.Suites {
		hs := htmlSuite{Name: s.Name, Counts: s.Counts, Duration: duration(s.Duration), Output: linkPath(s.Output, dir), Infra: s.Infra}
		if s.ExitCode != nil {
			hs.Exit = fmt.Sprint(*s.ExitCode)
		}
		k.Suites = append(k.Suites, hs)
		for _, sp := range s.Specs {
			switch {
			case sp.State == report.Failed && sp.Known != nil:
				k.Known = append(k.Known, specHTML(sp))
			case sp.State == report.Failed:
				k.Failed = append(k.Failed, specHTML(sp))
			case sp.State == report.InfraState:
				k.InfraSpecs = append(k.InfraSpecs, specHTML(sp))
			case sp.State == report.Skipped:
				j, ok := skipped[sp.SkipReason]
				if !ok {
					j = len(k.Skipped)
					skipped[sp.SkipReason] = j
					reason := sp.SkipReason
					if reason == "" {
						reason = "no reason given"
					}
					k.Skipped = append(k.Skipped, htmlSkipGroup{Reason: reason})
				}
				k.Skipped[j].Specs = append(k.Skipped[j].Specs, sp.ID)
				k.NSkipped++
			}
		}
	}
	for _, f := range r.Features {
		k.Features = append(k.Features, htmlFeature{FeatureResult: f, Code: featureCode(f), Class: outcomeClass(f)})
	}
	return k
}

func suiteHTMLCell(r *report.Run, name string) htmlSuiteCell {
	i := slices.IndexFunc(r.Suites, func(s report.Suite) bool { return s.Name == name })
	if i < 0 {
		if r.Infra != nil {
			return htmlSuiteCell{Kind: string(r.Infra.Kind)}
		}
		return htmlSuiteCell{Missing: true}
	}
	s := r.Suites[i]
	if s.Infra != nil && len(s.Specs) == 0 {
		return htmlSuiteCell{Kind: string(s.Infra.Kind)}
	}
	c := htmlSuiteCell{P: s.Counts.Passed, F: s.Counts.Failed, S: s.Counts.Skipped, I: s.Counts.Infra, K: s.Counts.Known, HasAny: true}
	if s.Infra != nil {
		c.SuiteInfra = string(s.Infra.Kind)
	}
	return c
}

func specHTML(sp report.Spec) htmlSpec {
	h := htmlSpec{ID: sp.ID, Known: sp.Known}
	var tags []string
	if sp.Feature != "" {
		tags = append(tags, sp.Feature)
	}
	if sp.ABI > 0 {
		tags = append(tags, fmt.Sprintf("ABI %d", sp.ABI))
	}
	if sp.Erratum > 0 {
		tags = append(tags, fmt.Sprintf("erratum %d", sp.Erratum))
	}
	for _, n := range sp.Needs {
		tags = append(tags, "needs "+n)
	}
	h.Tags = strings.Join(tags, " · ")
	if sp.Failure != nil {
		h.Message = strings.TrimRight(sp.Failure.Message, "\n")
		h.Location = sp.Failure.Location
	}
	return h
}

func featureIntro(f report.FeatureResult) string {
	var parts []string
	if f.ABI > 0 {
		parts = append(parts, fmt.Sprintf("ABI %d", f.ABI))
	}
	if f.Erratum > 0 {
		parts = append(parts, fmt.Sprintf("erratum %d", f.Erratum))
	}
	return strings.Join(parts, ", ")
}

// featureTitle is a cell's tooltip: what a reader hovering a colour wants before clicking.
func featureTitle(kernel string, f htmlFeature) string {
	t := fmt.Sprintf("%s on %s: %s", f.Feature, kernel, f.Outcome)
	if f.Detail != "" {
		t += "\n" + f.Detail
	}
	if f.Known != nil {
		t += "\nknown issue: " + knownText(f.Known)
	}
	return t
}

// linkPath turns a file path from the result into a link relative to dir (see HTMLOptions).
func linkPath(p, dir string) string {
	if p == "" {
		return ""
	}
	if dir != "" {
		ap, err1 := filepath.Abs(p)
		ad, err2 := filepath.Abs(dir)
		if err1 == nil && err2 == nil {
			if rel, err := filepath.Rel(ad, ap); err == nil {
				p = rel
			}
		}
	}
	// A path is not a URL: '#', '?' and spaces must be escaped to reach the file.
	return (&url.URL{Path: filepath.ToSlash(p)}).String()
}

// buildTimings lays out the timings table; nil when no kernel has timings.
func buildTimings(res *report.Result, kernels []htmlKernel) *htmlTimings {
	if !slices.ContainsFunc(res.Runs, func(r report.Run) bool { return r.Timings != nil }) {
		return nil
	}
	ht := &htmlTimings{Stages: report.StageNames([]report.TimedRun{report.Timed(res)})}
	if rt := res.Timings; rt != nil {
		kernels, boots := countKernels(res)
		ht.Run = runLine(rt, kernels, boots)
	}
	slow := slowNotes(res.Runs)
	for i, r := range res.Runs {
		if r.Timings == nil {
			continue
		}
		row := htmlTimingRow{Name: r.Kernel.Name, Anchor: kernels[i].Anchor, Total: secs(r.Timings.Total), CPU: secs(r.Timings.CPU), Slow: slow[i], Shared: r.Timings.SharedBoot}
		for _, n := range ht.Stages {
			row.Cells = append(row.Cells, htmlTimingCell{Value: stageCell(*r.Timings, n), Worst: row.Slow != "" && strings.Contains(row.Slow, "in "+n+":")})
		}
		ht.Rows = append(ht.Rows, row)
	}
	return ht
}

// compatText says how a compat run's suites ran, for its facts; "" for a native run.
func compatText(c *report.Compat) string {
	if c == nil {
		return ""
	}
	return fmt.Sprintf("the suites' %s build, through the compat system calls of %s's kernel", c.Arch, c.Native)
}

func notApplicable(c *report.Compat) string {
	if c == nil {
		return ""
	}
	return c.NotApplicable
}
