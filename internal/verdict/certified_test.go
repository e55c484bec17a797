package verdict

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/llconform/llconform/internal/report"
)

// The skip messages below are the suites' own, as real runs recorded them.
func TestNotApplicableReason(t *testing.T) {
	expectSCTP := &report.Expect{MissingModules: []string{"sctp"}}
	noLandlock := &report.Expect{ABI: intp(0)}
	for _, tc := range []struct {
		reason string
		needs  []string
		expect *report.Expect
		cert   *report.Certification
		want   string
	}{
		{"needs root (running as uid 1000)", []string{"root"}, nil, nil, "root"},
		{"ABI 2: the log flags' rejection (EINVAL) is checked by the next spec", nil, nil, nil, "abi"},
		{"ABI 2 has no TSYNC (ABI 8): its rejection (EINVAL) is checked by the specs below", []string{"audit", "root"}, nil, nil, "abi"},
		{"Landlock ABI 2 has no audit records (ABI 7); their absence and the log flags' rejection are checked by other specs", nil, nil, nil, "abi"},
		{"ABI 7 supports LOG_NEW_EXEC_ON: its behaviour is checked by the specs above", nil, nil, nil, "abi"},
		{"a domain without fs rights needs handled_access_net (ABI 4); this kernel has ABI 2", []string{"root"}, nil, nil, "abi"},
		{"a cross-directory exchange needs REFER (ABI 2); the kernel has ABI 1", nil, nil, nil, "abi"},
		{"the kernel (ABI 3) rejects the errata query (EINVAL): it advertises no errata", nil, nil, nil, "abi"},
		// A module skip is allowed only for a module the entry says is missing.
		{"SCTP is not available: module sctp not loaded (socket() gave protocol not supported)", []string{"module:sctp"}, expectSCTP, nil, "module"},
		{"SCTP is not available: module sctp not loaded (socket() gave protocol not supported)", []string{"module:sctp"}, nil, nil, ""},
		{"SMC is not available: module smc not loaded (socket() gave address family not supported by protocol)", []string{"module:smc"}, expectSCTP, nil, ""},
		{"SMC is not available: module smc not loaded (socket() gave address family not supported by protocol)", []string{"module:smc"}, nil,
			&report.Certification{MissingModules: []string{"smc"}}, "module"},
		{"overlay filesystem unavailable: mount: no such device", []string{"root", "module:overlay"}, &report.Expect{MissingModules: []string{"overlay"}}, nil, "module"},
		// The message names the module but the spec does not need it: not this reason.
		{"SCTP is not available: module sctp not loaded (socket() gave protocol not supported)", nil, expectSCTP, nil, ""},
		{"Landlock disabled on this kernel (operation not supported)", nil, noLandlock, nil, "no-landlock"},
		{"Landlock not-built on this kernel (function not implemented)", nil, nil, nil, ""},
		{"Landlock unknown on this kernel (landlock_create_ruleset(VERSION): bad address)", nil, noLandlock, nil, ""},
		// Coverage lost to the environment: never allowed.
		{"MPTCP is disabled (net.mptcp.enabled=0): socket() gave protocol not available", nil, nil, nil, ""},
		{"audit records do not reach the suite (checked once by \"audit/pipeline\", which fails with the details)", []string{"audit"}, nil, nil, ""},
		{"no block device the runner can open (tried loop0, vda, sda, nvme0n1, ram0, zram0, vdb)", nil, nil, nil, ""},
		{"Yama ptrace_scope=3 forbids every PTRACE_ATTACH, so Landlock's decision cannot be observed", nil, nil, nil, ""},
		{"the kernel claims ABI 12, newer than the 11 llconform knows: which bits and sizes it accepts is unknown", nil, nil, nil, ""},
		{"", nil, nil, nil, ""},
	} {
		r := &report.Run{Expect: tc.expect, Certified: tc.cert}
		sp := &report.Spec{ID: "x/y", State: report.Skipped, SkipReason: tc.reason, Needs: tc.needs}
		if got := NotApplicableReason(r, sp); got != tc.want {
			t.Errorf("NotApplicableReason(%q, needs %v) = %q, want %q", tc.reason, tc.needs, got, tc.want)
		}
	}
}

func certRun(skips ...string) report.Run {
	r := report.Run{
		Kernel:      report.Kernel{Name: "k"},
		Info:        &report.KernelInfo{Release: "7.3.4", Status: report.StatusAvailable, ABI: 1},
		AcceptedABI: intp(1),
		Certified:   &report.Certification{},
	}
	s := report.Suite{Name: "fs", Specs: []report.Spec{{ID: "fs/a", Feature: "fs.x", ABI: 1, State: report.Passed,
		Verdicts: []report.Verdict{{Feature: "fs.x", ABI: 1, Outcome: report.Works, Enforced: true}}}}}
	for i, reason := range skips {
		s.Specs = append(s.Specs, report.Spec{ID: "fs/s" + string(rune('a'+i)), Feature: "fs.x", ABI: 1, State: report.Skipped, SkipReason: reason})
	}
	s.Recount()
	r.Suites = []report.Suite{s}
	return r
}

func TestCertifiedRun(t *testing.T) {
	check := func(r report.Run) (report.Conclusion, report.Check) {
		res := &report.Result{Runs: []report.Run{r}}
		Evaluate(res)
		for _, c := range res.Runs[0].Checks {
			if c.Name == CheckCertified {
				return res.Runs[0].Conclusion, c
			}
		}
		return res.Runs[0].Conclusion, report.Check{}
	}

	concl, c := check(certRun("needs root (running as uid 1000)"))
	if concl != report.ConclusionPass || !c.OK || !strings.Contains(c.Message, "root 1") {
		t.Errorf("allowed skip: %s, %+v", concl, c)
	}
	concl, c = check(certRun("needs root (running as uid 1000)", "MPTCP is disabled (net.mptcp.enabled=0): socket() gave x"))
	if concl != report.ConclusionFail || c.OK || !strings.Contains(c.Message, "fs/sb (MPTCP is disabled") {
		t.Errorf("disallowed skip: %s, %+v", concl, c)
	}
	res := &report.Result{Runs: []report.Run{certRun("MPTCP is disabled")}}
	Evaluate(res)
	if code := ExitCode(res); code != ExitFail {
		t.Errorf("exit %d, want %d", code, ExitFail)
	}

	// The same skip in an ordinary run: no check, a pass.
	r := certRun("MPTCP is disabled (net.mptcp.enabled=0): socket() gave x")
	r.Certified = nil
	if concl, c := check(r); concl != report.ConclusionPass || c.Name != "" {
		t.Errorf("ordinary run: %s, %+v", concl, c)
	}

	var many []string
	for i := 0; i < 8; i++ {
		many = append(many, "no pseudo-terminal to test: none")
	}
	_, c = check(certRun(many...))
	if !strings.Contains(c.Message, "8 specs skipped") || !strings.Contains(c.Message, "and 3 more") {
		t.Errorf("long list: %q", c.Message)
	}
}

// skipFormats are the format strings of every spec.Skip call in the suites, with the reason
// the conformance document gives for them ("" when none: such a skip fails a certified run).
// A new skip must be added here, which forces the decision: a case the kernel's ABI makes
// impossible (word it like the "abi" ones), a module or root, or coverage lost.
var skipFormats = map[string]string{
	"needs root (running as uid %d)":  "root",
	"Landlock %s on this kernel (%s)": "", // "no-landlock" only where the entry expects abi: 0
	"%s":                              "", // the audit pipeline's own reason (netlink, configuration locked)
	"%s is not available: module %s not loaded (socket() gave %v)":                                                                                                  "module",
	"overlay filesystem unavailable":                                                                                                                                "module",
	"overlay filesystem unavailable: %s":                                                                                                                            "module",
	"ABI %d supports TSYNC: %s is checked by the specs above":                                                                                                       "abi",
	"ABI %d supports %s: its behaviour is checked by the specs above":                                                                                               "abi",
	"ABI %d has no TSYNC (ABI 8): its rejection (EINVAL) is checked by the specs below":                                                                             "abi",
	"ABI %d: the log flags' rejection (EINVAL) is checked by the next spec":                                                                                         "abi",
	"Landlock ABI %d has no audit records (ABI 7); their absence and the log flags' rejection are checked by other specs":                                           "abi",
	"a cross-directory exchange needs REFER (ABI 2); the kernel has ABI %d":                                                                                         "abi",
	"the kernel (ABI %d) rejects the errata query (%s): it advertises no errata":                                                                                    "abi",
	"the kernel claims ABI %d, newer than the %d llconform knows: which bits and sizes it accepts is unknown":                                                       "",
	"%s over %s is not supported by this kernel (socket() gave %v)":                                                                                                 "",
	"%s sockets are not supported by this kernel (%v)":                                                                                                              "",
	"MPTCP is disabled (net.mptcp.enabled=0): socket() gave %v":                                                                                                     "",
	"Yama ptrace_scope=2 allows PTRACE_ATTACH only with CAP_SYS_PTRACE (running as uid %d)":                                                                         "",
	"Yama ptrace_scope=%d forbids every PTRACE_ATTACH, so Landlock's decision cannot be observed":                                                                   "",
	"audit configuration is locked (enabled=2): it cannot be disabled":                                                                                              "",
	"audit records do not reach the suite (checked once by %q, which fails with the details)":                                                                       "",
	"no %s loopback address on this machine (%v)":                                                                                                                   "",
	"no block device the runner can open (tried loop0, vda, sda, nvme0n1, ram0, zram0, vdb)":                                                                        "",
	"no pseudo-terminal to test: %s":                                                                                                                                "",
	"port %d reads the same in both byte orders":                                                                                                                    "",
	"sysfs is not mounted or offers no readable file at the usual places (beneath /sys/kernel: %q, elsewhere: %q)":                                                  "",
	"the runner already runs with no_new_privs (inherited), so a thread without it cannot be made":                                                                  "",
	"without Landlock, %s fails with %s: erratum 2 cannot be observed here":                                                                                         "",
	"without Landlock, %s fails on %s with %s: the filesystem cannot do it, so the erratum cannot be observed here":                                                 "",
	"without Landlock, %s over %s bind(port 0) fails with %s: erratum 1 cannot be observed here":                                                                    "",
	"without Landlock, %s over %s connect(port %d) fails with %s: erratum 1 cannot be observed here":                                                                "",
	"without Landlock, openat(disconnected directory, f) fails with %s: erratum 3 cannot be observed here":                                                          "",
	"Landlock ABI %d has no audit records (ABI 7): erratum 4 is checked by other specs":                                                                             "abi",
	"overlay filesystem unavailable: %v":                                                                                                                            "module",
	"the kernel has no key management (CONFIG_KEYS): keyctl is ENOSYS":                                                                                              "",
	"Yama forbids every ptrace (kernel.yama.ptrace_scope=3): Landlock is never asked":                                                                               "",
	"without Landlock, %s fails with %s: erratum 3 cannot be observed here":                                                                                         "",
	"this kernel rejects AT_EXECVE_CHECK with EINVAL, outside and inside a domain alike (the flag came with Linux 6.14): Landlock's check of it cannot be observed": "",
	"without Landlock, execveat(%s, AT_EXECVE_CHECK) fails with %s: this filesystem cannot execute":                                                                 "",
	"open_tree(OPEN_TREE_CLONE) fails with %s: no detached mount to test":                                                                                           "",
	"without Landlock, FS_IOC_GETFLAGS on a memfd fails with %s: this kernel's shmem has no file attributes":                                                        "",
	"%s variant unavailable: %v": "",
	"the kernel does not advertise the fix of erratum 1: it may restrict MPTCP like TCP, which the errata.e1.mptcp specs report": "",
	"TCP Fast Open clients are disabled here (net.ipv4.tcp_fastopen): unrestricted MPTCP sendto(MSG_FASTOPEN) gave %s":           "",
	"TCP Fast Open clients are disabled here (net.ipv4.tcp_fastopen): unrestricted sendto(MSG_FASTOPEN) gave %s":                 "",
	"without Landlock, changing the effective uid of every thread fails (%s): erratum 2 cannot be observed here":                 "",
	"Yama ptrace_scope=1 lets a child attach to its parent only with CAP_SYS_PTRACE (running as uid %d)":                         "",
	"%v": "",
	"the kernel has Landlock trace events but ABI %d: %s needs ABI %d to be exercised":     "",
	"Yama ptrace_scope=%d forbids every ptrace, so Landlock's decision cannot be observed": "",
	"Yama ptrace_scope=2 allows ptrace only with CAP_SYS_PTRACE (running as uid %d)":       "",
}

var skipCallRE = regexp.MustCompile(`\b(?:spec\.)?Skip\(\s*"((?:[^"\\]|\\.)*)"`)

// TestEverySkipClassified reads every spec.Skip call of the suites (and internal/spec's own
// helpers) and checks that its message is classified in skipFormats as the conformance
// document's reasons classify it.
func TestEverySkipClassified(t *testing.T) {
	var files []string
	for _, dir := range []string{"../../suites", "../spec"} {
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() && strings.HasSuffix(p, ".go") {
				files = append(files, p)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]bool{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range skipCallRE.FindAllStringSubmatch(string(b), -1) {
			format, err := strconv.Unquote(`"` + m[1] + `"`)
			if err != nil {
				t.Errorf("%s: %q: %v", f, m[1], err)
				continue
			}
			if strings.HasPrefix(filepath.Base(f), "spec.go") && format == "%s" {
				continue // spec.Skip's own Sprintf
			}
			seen[format] = true
			want, ok := skipFormats[format]
			if !ok {
				t.Errorf("%s: spec.Skip(%q) is not in skipFormats: decide whether a certified run allows it (see NotApplicableReasons)", f, format)
				continue
			}
			// The message as it would read, with placeholder values, in a run whose entry
			// declares every module missing, for a spec that needs them.
			msg := strings.NewReplacer("%d", "2", "%s", "x", "%v", "x", "%q", `"x"`).Replace(format)
			msg = strings.Replace(msg, "module x not loaded", "module sctp not loaded", 1)
			r := &report.Run{Expect: &report.Expect{MissingModules: []string{"sctp", "overlay"}}}
			sp := &report.Spec{State: report.Skipped, SkipReason: msg, Needs: []string{"root", "module:sctp", "module:overlay"}}
			if got := NotApplicableReason(r, sp); got != want {
				t.Errorf("%s: spec.Skip(%q): reason %q, skipFormats says %q", f, format, got, want)
			}
		}
	}
	for format := range skipFormats {
		if !seen[format] {
			t.Errorf("skipFormats lists %q, which no spec.Skip call uses any more", format)
		}
	}
}

// TestCertifiedKnownIssues: in a certified run a known issue excuses nothing. Its failure
// keeps its known mark, but the certified check fails naming the issue, the run fails and
// the broken feature caps the effective ABI; the same result outside a certified run passes.
func TestCertifiedKnownIssues(t *testing.T) {
	run := func(certified bool) *report.Result {
		r := runOf(2, 0,
			enforced("fs/a", "fs.x", 1),
			enforced("fs/c", "fs.z", 2),
			spec("fs/b", "fs.y", 2, 0, report.Failed))
		r.AcceptedABI = intp(2)
		if certified {
			r.Certified = &report.Certification{}
		}
		return &report.Result{Runs: []report.Run{*r}}
	}
	issues := []KnownIssue{{Spec: "fs/b", Kernel: "*", Reason: "half backported", Where: "k.yaml:1"}}

	ordinary := run(false)
	if _, err := ApplyKnownIssues(ordinary, issues); err != nil {
		t.Fatal(err)
	}
	Evaluate(ordinary)
	if r := ordinary.Runs[0]; r.Conclusion != report.ConclusionPass || *r.EffectiveABI != 2 || ExitCode(ordinary) != ExitPass {
		t.Fatalf("ordinary run: %s, effective ABI %d, exit %d; want PASS, 2, 0", r.Conclusion, *r.EffectiveABI, ExitCode(ordinary))
	}

	cert := run(true)
	if _, err := ApplyKnownIssues(cert, issues); err != nil {
		t.Fatal(err)
	}
	Evaluate(cert)
	r := cert.Runs[0]
	if r.Conclusion != report.ConclusionFail || ExitCode(cert) != ExitFail {
		t.Errorf("certified run: %s, exit %d; want FAIL, 1", r.Conclusion, ExitCode(cert))
	}
	if f := featureOf(t, &r, "fs.y"); f.Outcome != report.Broken || f.Known == nil {
		t.Errorf("feature %+v: want broken and still marked known", f)
	}
	if r.EffectiveABI == nil || *r.EffectiveABI != 1 {
		t.Errorf("effective ABI %v, want 1: a broken feature a certified run does not excuse caps it", r.EffectiveABI)
	}
	want := "known issue spec fs/b (k.yaml:1) is not excused in a certified run: fs/b failed, feature fs.y broken"
	if c := r.Checks[len(r.Checks)-1]; c.Name != CheckCertified || c.OK || c.Message != want {
		t.Errorf("check %+v, want %q", c, want)
	}

	// A feature issue, and a result whose marks predate Known.Issue: the reason names it.
	cert = run(true)
	if _, err := ApplyKnownIssues(cert, []KnownIssue{{Feature: "fs.y", Kernel: "*", Reason: "half backported"}}); err != nil {
		t.Fatal(err)
	}
	for i := range cert.Runs[0].Suites[0].Specs {
		if k := cert.Runs[0].Suites[0].Specs[i].Known; k != nil {
			k.Issue = ""
		}
	}
	cert.Runs[0].KnownFeatures[0].Issue = ""
	Evaluate(cert)
	want = `known issue "half backported" is not excused in a certified run: fs/b failed, feature fs.y broken`
	if c := cert.Runs[0].Checks[len(cert.Runs[0].Checks)-1]; c.OK || c.Message != want {
		t.Errorf("check %+v, want %q", c, want)
	}

	// A certified run whose skips also fail the check says both.
	cert = run(true)
	cert.Runs[0].Suites[0].Specs = append(cert.Runs[0].Suites[0].Specs,
		report.Spec{ID: "fs/d", Feature: "fs.z", ABI: 2, State: report.Skipped, SkipReason: "MPTCP is disabled"})
	if _, err := ApplyKnownIssues(cert, issues); err != nil {
		t.Fatal(err)
	}
	Evaluate(cert)
	c := cert.Runs[0].Checks[len(cert.Runs[0].Checks)-1]
	if !strings.Contains(c.Message, "1 spec skipped") || !strings.Contains(c.Message, "; known issue spec fs/b") {
		t.Errorf("check %q: want the skip and the known issue", c.Message)
	}
}
