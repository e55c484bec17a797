package render

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/llconform/llconform/internal/report"
	"github.com/llconform/llconform/internal/report/reporttest"
	"github.com/llconform/llconform/internal/verdict"
)

// judged is the sample matrix, evaluated as the CLI does before writing anything.
func judged(t *testing.T) *report.Result {
	t.Helper()
	res := reporttest.Sample(t)
	verdict.Evaluate(res)
	return res
}

const testSVG = `<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="200" height="60"><rect width="120" height="20" fill="#0072b2"/><text x="4" y="40">path walk</text></svg>`

// htmlResult is the sample matrix with a known issue on trixie and a notice on bookworm.
func htmlResult(t *testing.T) *report.Result {
	t.Helper()
	res := judged(t)
	res.Runs[0].ConsoleLog = "out/trixie/console.log"
	// A failure message with markup must come out as text.
	fs := &res.Runs[0].Suites[0]
	fs.Specs = append(fs.Specs, report.Spec{
		ID: "fs/open(\"<b>x</b>\") MUST fail", Text: "open(\"<b>x</b>\") MUST fail", Feature: "fs.read_file", ABI: 1,
		State: report.Failed, Failure: &report.Failure{Message: "open: got <script>alert(1)</script>, want EACCES"},
	})
	if _, err := verdict.ApplyKnownIssues(res, []verdict.KnownIssue{
		{Spec: reporttest.IoctlSpec, Kernel: "trixie", Reason: "IOCTL_DEV half-backported", Link: "https://bugs.example.org/7"},
		{Feature: "fs.refer", Kernel: "bookworm", Reason: "REFER regression", Link: "https://bugs.example.org/8"},
	}); err != nil {
		t.Fatal(err)
	}
	verdict.Evaluate(res)
	return res
}

func renderHTML(t *testing.T, res *report.Result, opts HTMLOptions) string {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteHTML(&buf, res, opts); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

func TestWriteHTML(t *testing.T) {
	out := renderHTML(t, htmlResult(t), HTMLOptions{Dir: "out", Plots: []Plot{{Title: "Path walk <depth>", SVG: testSVG}}})
	for _, want := range []string{
		"<title>llconform report</title>",
		`<meta name="generator" content="llconform test">`,
		"run started 2026-03-04 05:06:07 UTC",
		`fail: a kernel failed or mismatched its expectations`,
		// Kernel matrix: conclusion, ABI, errata, counts with known and infra, infra kinds.
		`id="kernel-matrix"`,
		`<a href="#kernel-1">trixie</a><span class="sub">6.12.107&#43;deb13-cloud-amd64</span>`,
		`<span class="badge c-fail">FAIL</span>`,
		`<span class="badge c-mismatch">MISMATCH</span>`,
		`<span class="badge c-no-landlock">NO-LANDLOCK</span>`,
		`<td class="mono" title="0b0111 [1 2 3]">0b0111</td>`,
		`<td class="mono" title="no query">no query</td>`,
		`<td title="abi: ABI 6, as expected`,
		// A failing fs.read_file spec: the kernel behaves as no ABI at all.
		`behaves as ABI 0: fs.read_file (ABI 1) is accepted but broken`,
		`<span class="extra kn" title="failures excused by a known issue">+1 known</span>`,
		`<span class="extra i" title="specs with infrastructure errors">+2 infra</span><span class="kind">timeout</span>`,
		`<span class="kind" title="kernel panic during boot">panic</span>`,
		`<span class="warn" title="expected ABI 3, kernel claims 2">✗ abi</span>`,
		// Feature matrix with colours, known marks and tooltips, and its legend.
		`id="feature-matrix"`,
		`<td class="o o-known" title="fs.ioctl_dev on trixie: broken`,
		"known issue: IOCTL_DEV half-backported (https://bugs.example.org/7)",
		`<td class="o o-broken" title="fs.read_file on trixie: broken`,
		`<td class="o o-works" title="fs.truncate on trixie: works"><a href="#kernel-1">W</a></td>`,
		`<td class="o o-absent" title="fs.truncate on bookworm: correctly-absent"><a href="#kernel-2">A</a></td>`,
		`<td class="o o-na" title="fs.refer on trixie: not-applicable`,
		`<td class="o o-unknown"`,
		`<td class="o o-untested" title="bookworm: not tested on this kernel">–</td>`,
		`<li><span class="sw o-broken">X!</span> erratum advertised but not fixed</li>`,
		// Plots, inline, without their XML prologue.
		`<figcaption>Path walk &lt;depth&gt;</figcaption><svg xmlns="http://www.w3.org/2000/svg"`,
		// Drill-down: open for failing kernels, closed for passing ones.
		`<details class="kernel" id="kernel-1" open>`,
		`<details class="kernel" id="kernel-3">`,
		`<dt>console log</dt><dd><a href="trixie/console.log">trixie/console.log</a></dd>`,
		`<a href="trixie/fs.log">trixie/fs.log</a>`,
		`<div class="spec failed"><div class="id">fs/open(&#34;&lt;b&gt;x&lt;/b&gt;&#34;) MUST fail</div>`,
		`<pre>open: got &lt;script&gt;alert(1)&lt;/script&gt;, want EACCES</pre>`,
		`<div class="spec known"><div class="id">` + reporttest.IoctlSpec + `</div>`,
		`known issue: IOCTL_DEV half-backported — <a href="https://bugs.example.org/7">`,
		`<pre>ioctl(FIONREAD) on /dev/null: got 0, want EACCES</pre>`,
		`<h3>Specs with infrastructure errors</h3>`,
		"panicked: Test Panicked: sandbox helper crashed",
		"<summary>needs root: running as uid 1000 <span class=\"muted\">(2)</span></summary>",
		`<h3>Infrastructure error: panic</h3>`,
		`<pre>Kernel panic - not syncing: VFS: Unable to mount root fs</pre>`,
		`<dd><a href="sid/console.log">sid/console.log</a></dd>`,
		`<b>NOTICE</b> known issue &#34;REFER regression&#34; no longer fails on bookworm`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("HTML lacks %q", want)
		}
	}
	// Self-contained: nothing fetched from elsewhere, no script.
	for _, bad := range []string{"<script", "<link", " src=", "@import", "url("} {
		if strings.Contains(out, bad) {
			t.Errorf("HTML contains %q: the page must stand alone", bad)
		}
	}
	// Kernels that ran nothing get no feature column.
	if strings.Contains(out, `<th class="kcol"><div>sid</div></th>`) {
		t.Error("sid, which ran no suite, has a feature column")
	}
}

func TestWriteHTMLOptions(t *testing.T) {
	res := &report.Result{Runs: []report.Run{{Kernel: report.Kernel{Name: "k"}, Suites: []report.Suite{{Name: "s", Output: "logs/a b#1.log"}}}}}
	out := renderHTML(t, res, HTMLOptions{Title: "Backport gate"})
	for _, want := range []string{"<h1>Backport gate</h1>", `<a href="logs/a%20b%231.log">`, "No kernel reported any feature."} {
		if !strings.Contains(out, want) {
			t.Errorf("HTML lacks %q", want)
		}
	}
	if err := WriteHTML(&bytes.Buffer{}, res, HTMLOptions{Plots: []Plot{{Title: "x", SVG: "plot.png"}}}); err == nil ||
		!strings.Contains(err.Error(), `plot "x": not an <svg> element`) {
		t.Errorf("non-SVG plot: err = %v", err)
	}
	if err := WriteHTML(failingWriter{}, res, HTMLOptions{}); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("write error: err = %v", err)
	}
}

func TestLinkPath(t *testing.T) {
	abs, err := filepath.Abs("out/x/console.log")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ path, dir, want string }{
		{"", "out", ""},
		{"out/x/fs.log", "", "out/x/fs.log"},
		{"out/x/fs.log", "out", "x/fs.log"},
		{abs, "out", "x/console.log"},
		{"logs/fs.log", "out/html", "../../logs/fs.log"},
		{"a:b.log", "", "./a:b.log"},
	} {
		if got := linkPath(tt.path, tt.dir); got != tt.want {
			t.Errorf("linkPath(%q, %q) = %q, want %q", tt.path, tt.dir, got, tt.want)
		}
	}
}

// chromiumFlags keep a headless Chromium from touching the network or a profile, and let it
// run as root (CI and the VM runs are root).
var chromiumFlags = []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
	"--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars"}

// TestHTMLInBrowser renders the report in Debian's Chromium: the DOM it builds must hold both
// matrices, and it takes a screenshot for a person to look at (kept at
// $LLCONFORM_HTML_SCREENSHOT when set).
func TestHTMLInBrowser(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium is not installed (apt-get install chromium; `make test` installs it): cannot check the HTML report in a browser")
	}
	dir := t.TempDir()
	page := filepath.Join(dir, "report.html")
	f, err := os.Create(page)
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteHTML(f, htmlResult(t), HTMLOptions{Dir: dir, Plots: []Plot{{Title: "Path walk", SVG: testSVG}}}); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) []byte {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		profile := t.TempDir()
		args = append(append(append([]string(nil), chromiumFlags...), "--user-data-dir="+profile), args...)
		cmd := exec.CommandContext(ctx, chromium, append(args, "file://"+page)...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("chromium %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
		}
		return out
	}

	dom := string(run("--dump-dom"))
	for _, want := range []string{`id="kernel-matrix"`, `id="feature-matrix"`, ">trixie</a>", `class="o o-known"`, "<svg"} {
		if !strings.Contains(dom, want) {
			t.Errorf("rendered DOM lacks %q", want)
		}
	}

	shot := os.Getenv("LLCONFORM_HTML_SCREENSHOT")
	if shot == "" {
		shot = filepath.Join(dir, "report.png")
	} else if shot, err = filepath.Abs(shot); err != nil {
		t.Fatal(err)
	}
	run("--screenshot="+shot, "--window-size=1400,1000")
	png, err := os.ReadFile(shot)
	if err != nil {
		t.Fatalf("no screenshot: %v", err)
	}
	if len(png) < 10_000 || !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) {
		t.Errorf("screenshot %s is not a PNG of a rendered page (%d bytes)", shot, len(png))
	}
	t.Logf("screenshot: %s", shot)
}
