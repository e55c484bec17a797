package render

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/llconform/llconform/internal/report"
	"github.com/llconform/llconform/internal/verdict"
)

// KCIDB export: KernelCI's common reporting database takes submissions in the kcidb-io JSON
// schema. We write version 4.2, the first with the MISS status that keeps harness failures
// apart from kernel failures, and use nothing added later.
//
// Mapping: one checkout for the whole result (we test kernels others built, so it carries no
// git data), one build per kernel (architecture, config name from the Debian flavour, the
// kernel's Landlock claims in misc), one test per spec with the path
// landlock.<feature>.<slug of the spec text>, plus landlock.expect.<check> for the
// expectation checks. Passed, failed and skipped specs are PASS, FAIL and SKIP; a spec that
// panicked or timed out is ERROR (the test did not complete); a suite or kernel the harness
// could not run (no report, hang, boot failure) is one MISS test at landlock.<suite> or
// landlock. A failure excused by a known issue stays FAIL with waived set.

// The kcidb-io schema version WriteKCIDB writes.
const (
	KCIDBMajor = 4
	KCIDBMinor = 2
)

// KCIDBOptions tunes WriteKCIDB.
type KCIDBOptions struct {
	// Origin names the submitting CI system: lower-case letters, digits and underscores,
	// e.g. "llconform" or "acme_kernel_qa". Required.
	Origin string
	// RunID makes this submission's object IDs unique among the origin's submissions; the
	// result's start time ("20260304T050607Z") when empty.
	RunID string
	// TreeName is the checkout's tree_name (e.g. "debian", "rhel-9"); omitted when empty.
	TreeName string
	// Architecture of every build; "x86_64" when empty.
	Architecture string
	// ArtifactURL is where the output directory is published. When set, console logs and
	// suite outputs get log_url fields: ArtifactURL joined with their path relative to Dir.
	// KCIDB wants URLs; a local path is left out.
	ArtifactURL string
	// Dir is the output directory the result's file paths are made relative to, as in
	// HTMLOptions.
	Dir string
}

var kcidbOrigin = regexp.MustCompile(`^[a-z0-9_]+$`)

// kcidbMaxExcerpt is the schema's maxLength for log_excerpt.
const kcidbMaxExcerpt = 16384

type kcidbReport struct {
	Version   kcidbVersion    `json:"version"`
	Checkouts []kcidbCheckout `json:"checkouts"`
	Builds    []kcidbBuild    `json:"builds"`
	Tests     []kcidbTest     `json:"tests"`
}

type kcidbVersion struct {
	Major int `json:"major"`
	Minor int `json:"minor"`
}

type kcidbCheckout struct {
	ID        string         `json:"id"`
	Origin    string         `json:"origin"`
	TreeName  string         `json:"tree_name,omitempty"`
	Comment   string         `json:"comment,omitempty"`
	StartTime string         `json:"start_time,omitempty"`
	Valid     bool           `json:"valid"`
	Misc      map[string]any `json:"misc,omitempty"`
}

type kcidbBuild struct {
	ID           string         `json:"id"`
	CheckoutID   string         `json:"checkout_id"`
	Origin       string         `json:"origin"`
	Comment      string         `json:"comment,omitempty"`
	StartTime    string         `json:"start_time,omitempty"`
	Architecture string         `json:"architecture"`
	ConfigName   string         `json:"config_name,omitempty"`
	LogURL       string         `json:"log_url,omitempty"`
	Valid        bool           `json:"valid"`
	Misc         map[string]any `json:"misc,omitempty"`
}

type kcidbTest struct {
	ID         string         `json:"id"`
	BuildID    string         `json:"build_id"`
	Origin     string         `json:"origin"`
	Path       string         `json:"path"`
	Comment    string         `json:"comment,omitempty"`
	Status     string         `json:"status"`
	Waived     bool           `json:"waived,omitempty"`
	StartTime  string         `json:"start_time,omitempty"`
	Duration   *float64       `json:"duration,omitempty"`
	LogURL     string         `json:"log_url,omitempty"`
	LogExcerpt string         `json:"log_excerpt,omitempty"`
	Misc       map[string]any `json:"misc,omitempty"`
}

// WriteKCIDB writes res as a KCIDB submission (see the mapping above).
func WriteKCIDB(w io.Writer, res *report.Result, opts KCIDBOptions) error {
	rep, err := buildKCIDB(res, opts)
	if err != nil {
		return fmt.Errorf("write KCIDB: %w", err)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(rep); err != nil {
		return fmt.Errorf("write KCIDB: %w", err)
	}
	return nil
}

func buildKCIDB(res *report.Result, opts KCIDBOptions) (*kcidbReport, error) {
	if !kcidbOrigin.MatchString(opts.Origin) {
		return nil, fmt.Errorf("origin %q: want lower-case letters, digits and underscores", opts.Origin)
	}
	runID := opts.RunID
	if runID == "" {
		if res.Time.IsZero() {
			return nil, fmt.Errorf("the result has no start time: give a run ID")
		}
		runID = res.Time.UTC().Format("20060102T150405Z")
	}
	arch := opts.Architecture
	if arch == "" {
		arch = "x86_64"
	}
	var start string
	if !res.Time.IsZero() {
		start = res.Time.UTC().Format(time.RFC3339)
	}
	x := &kcidbExport{opts: opts, origin: opts.Origin, start: start}
	checkout := kcidbCheckout{
		ID:        opts.Origin + ":" + runID,
		Origin:    opts.Origin,
		TreeName:  opts.TreeName,
		Comment:   "Landlock conformance run",
		StartTime: start,
		Valid:     true,
	}
	if res.Generator != "" {
		checkout.Misc = map[string]any{"generator": res.Generator}
	}
	rep := &kcidbReport{
		Version:   kcidbVersion{KCIDBMajor, KCIDBMinor},
		Checkouts: []kcidbCheckout{checkout},
		Builds:    []kcidbBuild{},
		Tests:     []kcidbTest{},
	}
	for i := range res.Runs {
		r := &res.Runs[i]
		b := kcidbBuild{
			ID:           checkout.ID + ":" + r.Kernel.Name,
			CheckoutID:   checkout.ID,
			Origin:       opts.Origin,
			Comment:      kernelLabel(r.Kernel),
			StartTime:    start,
			Architecture: arch,
			ConfigName:   kernelFlavour(r),
			LogURL:       x.url(r.ConsoleLog),
			// Fetching is our "build": only a kernel we could not obtain is an invalid one.
			Valid: r.Infra == nil || r.Infra.Kind != report.InfraFetchFailed,
			Misc:  buildMisc(r),
		}
		if b.LogURL == "" && r.Infra != nil {
			b.LogURL = x.url(r.Infra.ConsoleLog)
		}
		rep.Builds = append(rep.Builds, b)
		rep.Tests = append(rep.Tests, x.tests(r, b.ID)...)
	}
	return rep, nil
}

type kcidbExport struct {
	opts          KCIDBOptions
	origin, start string
}

func (x *kcidbExport) url(p string) string {
	if p == "" || x.opts.ArtifactURL == "" {
		return ""
	}
	rel := linkPath(p, x.opts.Dir)
	u, err := url.JoinPath(x.opts.ArtifactURL, strings.Split(rel, "/")...)
	if err != nil {
		return ""
	}
	return u
}

func buildMisc(r *report.Run) map[string]any {
	m := map[string]any{"kernel": r.Kernel.Name, "conclusion": string(r.Conclusion)}
	add := func(k, v string) {
		if v != "" {
			m[k] = v
		}
	}
	add("release", r.Kernel.Release)
	add("package", r.Kernel.Package)
	add("package_version", r.Kernel.Version)
	add("source", r.Kernel.Source)
	if i := r.Info; i != nil {
		add("release", i.Release)
		m["landlock_status"] = string(i.Status)
		m["abi"] = i.ABI
		m["errata_query"] = i.ErrataQuery
		if i.ErrataQuery {
			m["errata"] = nonNil(report.ErrataList(i.Errata))
			m["errata_bitmask"] = report.ErrataBits(i.Errata)
		}
	}
	if eff := r.EffectiveABI; eff != nil {
		m["effective_abi"] = *eff
	}
	if e := r.Expect; e != nil {
		exp := map[string]any{}
		if e.ABI != nil {
			exp["abi"] = *e.ABI
		}
		if e.Errata != nil {
			exp["errata"] = e.Errata
		}
		m["expect"] = exp
	}
	if r.Infra != nil {
		m["infra_kind"] = string(r.Infra.Kind)
	}
	return m
}

// nonNil keeps an empty errata list a list in JSON: the schema forbids nulls.
func nonNil(ns []int) []int {
	if ns == nil {
		return []int{}
	}
	return ns
}

func (x *kcidbExport) tests(r *report.Run, buildID string) []kcidbTest {
	var out []kcidbTest
	paths := map[string]int{}
	add := func(t kcidbTest) {
		// Two specs whose texts slug alike must still be two tests.
		paths[t.Path]++
		if n := paths[t.Path]; n > 1 {
			t.Path = fmt.Sprintf("%s_%d", t.Path, n)
		}
		t.ID = buildID + ":" + t.Path
		t.BuildID = buildID
		t.Origin = x.origin
		t.StartTime = x.start
		if len(t.LogExcerpt) > kcidbMaxExcerpt {
			t.LogExcerpt = t.LogExcerpt[len(t.LogExcerpt)-kcidbMaxExcerpt:]
		}
		out = append(out, t)
	}
	if r.Infra != nil {
		add(kcidbTest{
			Path:       "landlock",
			Status:     "MISS",
			Comment:    "harness: " + r.Infra.Error(),
			LogURL:     x.url(r.Infra.ConsoleLog),
			LogExcerpt: r.Infra.ConsoleTail,
			Misc:       map[string]any{"infra_kind": string(r.Infra.Kind)},
		})
	}
	for _, c := range r.Checks {
		status, comment := "PASS", c.Message
		switch {
		case c.Unverified && r.AcceptUnverified:
			// Accepted by the user: like the exit status, it no longer gates.
			status, comment = "SKIP", "unverified, accepted: "+c.Message
		case c.Unverified:
			status, comment = "FAIL", "unverified: "+c.Message
		case !c.OK:
			status = "FAIL"
		}
		add(kcidbTest{Path: "landlock.expect." + pathPart(c.Name), Status: status, Comment: comment})
	}
	for _, s := range r.Suites {
		if s.Infra != nil {
			add(kcidbTest{
				Path:    "landlock." + pathPart(s.Name),
				Status:  "MISS",
				Comment: "harness: suite " + s.Name + ": " + s.Infra.Error(),
				LogURL:  x.url(s.Output),
				Misc:    map[string]any{"infra_kind": string(s.Infra.Kind), "suite": s.Name},
			})
		}
		for _, sp := range s.Specs {
			add(x.specTest(s, sp, verdict.KnownIssuesExcuse(r)))
		}
	}
	return out
}

// specTest is one spec's test; excused says whether known issues excuse failures on the
// spec's run (verdict.KnownIssuesExcuse): only then is a known failure waived.
func (x *kcidbExport) specTest(s report.Suite, sp report.Spec, excused bool) kcidbTest {
	d := sp.Duration.Seconds()
	t := kcidbTest{Path: SpecPath(s.Name, sp), Comment: sp.Text, Duration: &d, LogURL: x.url(s.Output)}
	misc := map[string]any{"suite": s.Name, "spec_id": sp.ID}
	if sp.Feature != "" {
		misc["feature"] = sp.Feature
	}
	if sp.ABI > 0 {
		misc["abi"] = sp.ABI
	}
	if sp.Erratum > 0 {
		misc["erratum"] = sp.Erratum
	}
	if len(sp.Needs) > 0 {
		misc["needs"] = sp.Needs
	}
	switch sp.State {
	case report.Passed:
		t.Status = "PASS"
	case report.Failed:
		t.Status = "FAIL"
	case report.Skipped:
		t.Status = "SKIP"
		misc["skip_reason"] = sp.SkipReason
	default:
		t.Status = "ERROR"
	}
	if f := sp.Failure; f != nil {
		t.LogExcerpt = failureBody(f)
	}
	if sp.Known != nil {
		t.Waived = excused
		misc["known_issue"] = map[string]string{"reason": sp.Known.Reason, "link": sp.Known.Link}
	}
	t.Misc = misc
	return t
}

// kcidbMaxSlug keeps test paths readable; longer spec texts are cut and given a hash of the
// whole text, so that two long texts sharing a beginning stay apart.
const kcidbMaxSlug = 96

var nonSlug = regexp.MustCompile(`[^a-z0-9]+`)

// SpecPath is a spec's dotted KCIDB test path: "landlock.<feature>.<slug of the spec text>",
// e.g. "landlock.fs.refer.rename_across_directories_must_return_exdev", or
// "landlock.<suite>.<slug>" for a spec without a feature label. Stable as long as the
// spec's feature and text are, so results of different runs line up in KCIDB.
func SpecPath(suite string, sp report.Spec) string {
	group := sp.Feature
	if group == "" {
		group = suite
	}
	slug := strings.Trim(nonSlug.ReplaceAllString(strings.ToLower(sp.Text), "_"), "_")
	if len(slug) > kcidbMaxSlug {
		sum := sha256.Sum256([]byte(sp.Text))
		slug = strings.TrimRight(slug[:kcidbMaxSlug-9], "_") + "_" + hex.EncodeToString(sum[:4])
	}
	if slug == "" {
		slug = "unnamed"
	}
	return "landlock." + pathPart(group) + "." + slug
}

var nonPath = regexp.MustCompile(`[^.a-zA-Z0-9_-]+`)

// pathPart keeps a label's dots (they are the path's levels) and replaces anything else the
// schema's path pattern refuses.
func pathPart(s string) string {
	return strings.Trim(nonPath.ReplaceAllString(s, "_"), ".")
}

// kernelFlavour is the kernel's configuration name: the Debian flavour of its release
// ("cloud-amd64" of "6.12.107+deb13-cloud-amd64", "amd64" of "6.1.0-56-amd64"), found
// after the version and ABI parts, which start with a digit. Empty when the release has no
// such part (a local build named "6.18.0").
func kernelFlavour(r *report.Run) string {
	rel := r.Kernel.Release
	if r.Info != nil && r.Info.Release != "" {
		rel = r.Info.Release
	}
	parts := strings.Split(rel, "-")
	for i, p := range parts {
		if p != "" && (p[0] < '0' || p[0] > '9') && i > 0 {
			return strings.Join(parts[i:], "-")
		}
	}
	return ""
}
