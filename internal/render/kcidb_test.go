package render

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/llconform/llconform/internal/report"
)

// validateKCIDB checks a submission against the rules of the kcidb-io v4.2 schema that do
// not need a JSON Schema validator: the version, required fields, ID and origin patterns,
// unique IDs per object type, links between objects, the status enum, test path pattern,
// log excerpt length, no nulls and no unknown fields.
func validateKCIDB(data []byte) []string {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		return []string{err.Error()}
	}
	originRe := regexp.MustCompile(`^[a-z0-9_]+$`)
	idRe := regexp.MustCompile(`^[a-z0-9_]+:.*$`)
	pathRe := regexp.MustCompile(`^[.a-zA-Z0-9_-]*$`)
	archRe := regexp.MustCompile(`^[a-z0-9_]*$`)
	allowed := map[string][]string{
		"":          {"version", "checkouts", "builds", "tests", "issues", "incidents"},
		"checkouts": {"id", "origin", "tree_name", "git_repository_url", "git_commit_hash", "git_commit_name", "git_repository_branch", "patchset_files", "patchset_hash", "message_id", "comment", "start_time", "contacts", "log_url", "log_excerpt", "valid", "misc"},
		"builds":    {"checkout_id", "id", "origin", "comment", "start_time", "duration", "architecture", "command", "compiler", "input_files", "output_files", "config_name", "config_url", "log_url", "log_excerpt", "valid", "misc"},
		"tests":     {"build_id", "id", "origin", "environment", "path", "comment", "log_url", "log_excerpt", "status", "waived", "start_time", "duration", "output_files", "misc"},
	}
	required := map[string][]string{"checkouts": {"id", "origin"}, "builds": {"checkout_id", "id", "origin"}, "tests": {"build_id", "id", "origin"}}
	var noNull func(where string, v any)
	noNull = func(where string, v any) {
		switch v := v.(type) {
		case nil:
			bad("%s: null", where)
		case map[string]any:
			for k, e := range v {
				noNull(where+"."+k, e)
			}
		case []any:
			for i, e := range v {
				noNull(fmt.Sprintf("%s[%d]", where, i), e)
			}
		}
	}
	noNull("$", doc)
	for k := range doc {
		if !contains(allowed[""], k) {
			bad("unknown top-level property %q", k)
		}
	}
	ver, _ := doc["version"].(map[string]any)
	if ver == nil || ver["major"] != float64(4) || ver["minor"] == nil || ver["minor"].(float64) > 5 {
		bad("version = %v, want major 4, minor at most 5", doc["version"])
	}
	ids := map[string]map[string]bool{}
	for _, kind := range []string{"checkouts", "builds", "tests"} {
		ids[kind] = map[string]bool{}
		list, _ := doc[kind].([]any)
		for i, o := range list {
			obj, ok := o.(map[string]any)
			if !ok {
				bad("%s[%d]: not an object", kind, i)
				continue
			}
			for k := range obj {
				if !contains(allowed[kind], k) {
					bad("%s[%d]: unknown property %q", kind, i, k)
				}
			}
			for _, k := range required[kind] {
				if _, ok := obj[k]; !ok {
					bad("%s[%d]: missing %q", kind, i, k)
				}
			}
			id, _ := obj["id"].(string)
			if !idRe.MatchString(id) || ids[kind][id] {
				bad("%s[%d]: id %q malformed or repeated", kind, i, id)
			}
			ids[kind][id] = true
			origin, _ := obj["origin"].(string)
			if !originRe.MatchString(origin) || !strings.HasPrefix(id, origin+":") {
				bad("%s[%d]: origin %q does not match id %q", kind, i, origin, id)
			}
			if m, ok := obj["misc"]; ok {
				if _, ok := m.(map[string]any); !ok {
					bad("%s[%d]: misc is not an object", kind, i)
				}
			}
			if e, ok := obj["log_excerpt"].(string); ok && len(e) > 16384 {
				bad("%s[%d]: log_excerpt of %d characters", kind, i, len(e))
			}
			for _, k := range []string{"log_url", "config_url"} {
				if u, ok := obj[k].(string); ok && !regexp.MustCompile(`^[a-z][a-z0-9+.-]*:`).MatchString(u) {
					bad("%s[%d]: %s %q is not an absolute URI", kind, i, k, u)
				}
			}
			switch kind {
			case "builds":
				if !ids["checkouts"][obj["checkout_id"].(string)] {
					bad("builds[%d]: unknown checkout %v", i, obj["checkout_id"])
				}
				if a, _ := obj["architecture"].(string); !archRe.MatchString(a) {
					bad("builds[%d]: architecture %q", i, a)
				}
			case "tests":
				if !ids["builds"][obj["build_id"].(string)] {
					bad("tests[%d]: unknown build %v", i, obj["build_id"])
				}
				if p, _ := obj["path"].(string); !pathRe.MatchString(p) {
					bad("tests[%d]: path %q", i, p)
				}
				if s, _ := obj["status"].(string); !contains([]string{"FAIL", "ERROR", "MISS", "PASS", "DONE", "SKIP"}, s) {
					bad("tests[%d]: status %q", i, s)
				}
			}
		}
	}
	return problems
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

func kcidbTests(t *testing.T, data []byte) map[string]map[string]any {
	t.Helper()
	var doc struct {
		Tests []map[string]any `json:"tests"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]any{}
	for _, tt := range doc.Tests {
		out[tt["id"].(string)] = tt
	}
	return out
}

func TestWriteKCIDB(t *testing.T) {
	res := htmlResult(t)
	var buf bytes.Buffer
	if err := WriteKCIDB(&buf, res, KCIDBOptions{Origin: "llconform", TreeName: "debian", ArtifactURL: "https://ci.example.org/job/42/", Dir: "out"}); err != nil {
		t.Fatal(err)
	}
	if problems := validateKCIDB(buf.Bytes()); len(problems) > 0 {
		t.Fatalf("invalid KCIDB submission:\n%s", strings.Join(problems, "\n"))
	}
	var doc struct {
		Version   map[string]int   `json:"version"`
		Checkouts []map[string]any `json:"checkouts"`
		Builds    []map[string]any `json:"builds"`
	}
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Version["major"] != 4 || doc.Version["minor"] != 2 || len(doc.Checkouts) != 1 || len(doc.Builds) != 4 {
		t.Fatalf("version %v, %d checkouts, %d builds", doc.Version, len(doc.Checkouts), len(doc.Builds))
	}
	if c := doc.Checkouts[0]; c["id"] != "llconform:20260304T050607Z" || c["tree_name"] != "debian" {
		t.Errorf("checkout = %v", c)
	}
	b := doc.Builds[0]
	misc := b["misc"].(map[string]any)
	if b["id"] != "llconform:20260304T050607Z:trixie" || b["architecture"] != "x86_64" || b["config_name"] != "cloud-amd64" ||
		b["log_url"] != "https://ci.example.org/job/42/trixie/console.log" || b["valid"] != true ||
		misc["abi"] != float64(6) || misc["errata_bitmask"] != "0b0111" || fmt.Sprint(misc["errata"]) != "[1 2 3]" ||
		misc["conclusion"] != "FAIL" || misc["package"] != "linux-image-6.12.107+deb13-cloud-amd64" {
		t.Errorf("build = %v", b)
	}
	if m := doc.Builds[2]["misc"].(map[string]any); m["landlock_status"] != "not-built" || m["errata_query"] != false {
		t.Errorf("bullseye build misc = %v", m)
	}

	tests := kcidbTests(t, buf.Bytes())
	trixie := "llconform:20260304T050607Z:trixie:"
	want := map[string]string{
		trixie + "landlock.fs.truncate.truncate_ftruncate_must_be_denied_without_fs_truncate":       "PASS",
		trixie + "landlock.fs.ioctl_dev.ioctl_on_a_char_device_must_be_denied_without_fs_ioctl_dev": "FAIL",
		trixie + "landlock.fs.refer.link_across_directories_must_need_fs_refer":                     "SKIP",
		trixie + "landlock.scope.signal.scope_signal_must_allow_signals_between_threads":            "ERROR",
		trixie + "landlock.scope":                                 "MISS", // the scope suite timed out
		trixie + "landlock.expect.abi":                            "PASS",
		"llconform:20260304T050607Z:bookworm:landlock.expect.abi": "FAIL",
		"llconform:20260304T050607Z:sid:landlock":                 "MISS", // kernel panic at boot
	}
	for id, status := range want {
		tt, ok := tests[id]
		if !ok {
			t.Errorf("no test %s", id)
			continue
		}
		if tt["status"] != status {
			t.Errorf("%s: status %v, want %s", id, tt["status"], status)
		}
	}
	known := tests[trixie+"landlock.fs.ioctl_dev.ioctl_on_a_char_device_must_be_denied_without_fs_ioctl_dev"]
	if known["waived"] != true || !strings.Contains(known["log_excerpt"].(string), "got 0, want EACCES") ||
		known["log_url"] != "https://ci.example.org/job/42/trixie/fs.log" ||
		known["misc"].(map[string]any)["known_issue"].(map[string]any)["reason"] != "IOCTL_DEV half-backported" {
		t.Errorf("known failure = %v", known)
	}
	if sid := tests["llconform:20260304T050607Z:sid:landlock"]; !strings.Contains(sid["log_excerpt"].(string), "VFS: Unable to mount root fs") {
		t.Errorf("kernel harness failure = %v", sid)
	}
	// Without an artifact URL, local paths are not URLs: no log_url at all.
	buf.Reset()
	if err := WriteKCIDB(&buf, res, KCIDBOptions{Origin: "qa", RunID: "r1"}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), "log_url") || len(validateKCIDB(buf.Bytes())) > 0 {
		t.Errorf("submission without artifact URL has log_url or is invalid: %v", validateKCIDB(buf.Bytes()))
	}
}

func TestWriteKCIDBErrors(t *testing.T) {
	res := judged(t)
	for _, o := range []string{"", "LLconform", "ll-conform", "a:b"} {
		if err := WriteKCIDB(&bytes.Buffer{}, res, KCIDBOptions{Origin: o}); err == nil || !strings.Contains(err.Error(), "origin") {
			t.Errorf("origin %q: err = %v", o, err)
		}
	}
	if err := WriteKCIDB(&bytes.Buffer{}, &report.Result{}, KCIDBOptions{Origin: "x"}); err == nil || !strings.Contains(err.Error(), "run ID") {
		t.Errorf("no time, no run ID: err = %v", err)
	}
	if err := WriteKCIDB(failingWriter{}, res, KCIDBOptions{Origin: "x"}); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("write error: err = %v", err)
	}
}

func TestSpecPath(t *testing.T) {
	long := strings.Repeat("pathname UNIX sockets MUST deny connect ", 5)
	for _, tt := range []struct {
		suite string
		sp    report.Spec
		want  string
	}{
		{"fs", report.Spec{Feature: "fs.refer", Text: "REFER: rename across directories MUST return EXDEV"}, "landlock.fs.refer.refer_rename_across_directories_must_return_exdev"},
		{"abi", report.Spec{Text: "version MUST be ENOSYS"}, "landlock.abi.version_must_be_enosys"},
		{"x", report.Spec{Feature: "fs.x", Text: "«»"}, "landlock.fs.x.unnamed"},
	} {
		if got := SpecPath(tt.suite, tt.sp); got != tt.want {
			t.Errorf("SpecPath(%q) = %q, want %q", tt.sp.Text, got, tt.want)
		}
	}
	// A long text is cut, and a hash of the whole text keeps texts with a common beginning apart.
	cut := regexp.MustCompile(`^landlock\.fs\.resolve_unix\.pathname_unix_sockets_must_deny_connect_[a-z_]+[a-z]_[0-9a-f]{8}$`)
	if got := SpecPath("fs", report.Spec{Feature: "fs.resolve_unix", Text: long}); !cut.MatchString(got) {
		t.Errorf("SpecPath(long) = %q", got)
	}
	a := SpecPath("fs", report.Spec{Text: long + "EACCES"})
	b := SpecPath("fs", report.Spec{Text: long + "EPERM"})
	if a == b || len(a) > len("landlock.fs.")+kcidbMaxSlug {
		t.Errorf("long texts: %q and %q", a, b)
	}
}

func TestKernelFlavour(t *testing.T) {
	for rel, want := range map[string]string{
		"6.12.107+deb13-cloud-amd64": "cloud-amd64",
		"6.1.0-56-cloud-amd64":       "cloud-amd64",
		"6.1.0-56-amd64":             "amd64",
		"6.18.0":                     "",
		"":                           "",
	} {
		if got := kernelFlavour(&report.Run{Kernel: report.Kernel{Release: rel}}); got != want {
			t.Errorf("kernelFlavour(%q) = %q, want %q", rel, got, want)
		}
	}
	r := &report.Run{Kernel: report.Kernel{Release: "6.1.0-56-amd64"}, Info: &report.KernelInfo{Release: "6.1.0-56-rt-amd64"}}
	if got := kernelFlavour(r); got != "rt-amd64" {
		t.Errorf("the kernel's own uname -r must win: %q", got)
	}
}
