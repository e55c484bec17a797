package main

import (
	"errors"
	"flag"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// The CI examples of docs/ are checked here, in make test: they parse, have the shape their
// engine needs (a sharded job, a gate job, the mirror setting), and their llconform commands
// are the ones the README documents, with flags llconform accepts.

// commandRE finds an llconform command (a subcommand first: not go build's -o bin/llconform)
// in a shell line, up to an operator or a comment.
var commandRE = regexp.MustCompile(`bin/llconform [a-z][^|;&#\n]*`)

// normalize makes a command comparable between the CI engines and the README: the shard
// number, however each engine spells it, becomes $SHARD; quotes go.
func normalize(cmd string) string {
	cmd = strings.NewReplacer("${{ matrix.shard }}", "$SHARD", "${SHARD}", "$SHARD", `"`, "", "'", "").Replace(cmd)
	return strings.Join(strings.Fields(cmd), " ")
}

func commandsIn(t *testing.T, scripts []string) []string {
	t.Helper()
	var out []string
	for _, s := range scripts {
		for _, m := range commandRE.FindAllString(s, -1) {
			out = append(out, normalize(m))
		}
	}
	return out
}

// readmeCommands are the bin/llconform lines of the README's code blocks.
func readmeCommands(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	inBlock := false
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "```") {
			inBlock = !inBlock
			continue
		}
		if inBlock && strings.HasPrefix(line, "bin/llconform ") {
			cmd, _, _ := strings.Cut(line, "  #")
			out = append(out, normalize(cmd))
		}
	}
	return out
}

// checkFlags runs a CI command's arguments through llconform's own flag parsing. A command
// without positional arguments gets -h last, so that a valid one stops at the help instead
// of running; the others stop at their missing input files. Either way, an unknown flag or a
// bad flag value shows as such.
func checkFlags(t *testing.T, cmd string) {
	t.Helper()
	args := strings.Fields(strings.ReplaceAll(strings.TrimPrefix(cmd, "bin/llconform "), "$SHARD", "1"))
	if args[0] == "matrix" || args[0] == "run" {
		args = append(args, "-h")
	}
	code, err := dispatch(t.Context(), args)
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		msg := err.Error()
		for _, bad := range []string{"flag provided but not defined", "invalid value", "unexpected arguments", "unknown command", "want a subcommand"} {
			if strings.Contains(msg, bad) {
				t.Errorf("%s: %v", cmd, err)
			}
		}
	}
	if code == exitUsage && err != nil && strings.Contains(err.Error(), "flag") {
		t.Errorf("%s: exit %d: %v", cmd, code, err)
	}
}

func TestGitHubActionsExample(t *testing.T) {
	// The keys a workflow may have where this one uses them: KnownFields refuses a typo
	// (GitHub would reject the file, or silently ignore the key).
	var wf struct {
		Name string            `yaml:"name"`
		On   map[string]any    `yaml:"on"`
		Env  map[string]string `yaml:"env"`
		Jobs map[string]struct {
			RunsOn      string            `yaml:"runs-on"`
			Needs       any               `yaml:"needs"`
			If          string            `yaml:"if"`
			Permissions map[string]string `yaml:"permissions"`
			Env         map[string]string `yaml:"env"`
			Strategy    struct {
				FailFast bool             `yaml:"fail-fast"`
				Matrix   map[string][]int `yaml:"matrix"`
			} `yaml:"strategy"`
			Steps []struct {
				ID   string            `yaml:"id"`
				Name string            `yaml:"name"`
				Uses string            `yaml:"uses"`
				Run  string            `yaml:"run"`
				If   string            `yaml:"if"`
				Env  map[string]string `yaml:"env"`
				With map[string]any    `yaml:"with"`
			} `yaml:"steps"`
		} `yaml:"jobs"`
	}
	b, err := os.ReadFile("../../docs/github-actions-matrix.yml")
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(&wf); err != nil {
		t.Fatalf("docs/github-actions-matrix.yml: %v", err)
	}
	for _, ev := range []string{"push", "pull_request"} {
		if _, ok := wf.On[ev]; !ok {
			t.Errorf("the workflow does not run on %s", ev)
		}
	}
	if !strings.Contains(wf.Env["LLCONFORM_DEBIAN_MIRROR"], "vars.LLCONFORM_DEBIAN_MIRROR") {
		t.Errorf("LLCONFORM_DEBIAN_MIRROR is not set from the repository variable: %q", wf.Env["LLCONFORM_DEBIAN_MIRROR"])
	}
	shard, gate := wf.Jobs["shard"], wf.Jobs["gate"]
	if shard.RunsOn != "ubuntu-latest" || gate.RunsOn != "ubuntu-latest" {
		t.Errorf("runs-on: %q, %q, want ubuntu-latest", shard.RunsOn, gate.RunsOn)
	}
	if n := len(shard.Strategy.Matrix["shard"]); n != 3 {
		t.Errorf("shard matrix has %d entries, want 3 (the commands say /3)", n)
	}
	if gate.Needs != "shard" {
		t.Errorf("gate needs %v, want shard", gate.Needs)
	}
	var scripts []string
	for _, j := range []string{"shard", "gate"} {
		for _, s := range wf.Jobs[j].Steps {
			if s.Uses == "" && s.Run == "" {
				t.Errorf("job %s: step %q neither uses an action nor runs a command", j, s.Name)
			}
			scripts = append(scripts, s.Run)
		}
	}
	checkCommands(t, "docs/github-actions-matrix.yml", commandsIn(t, scripts))
}

func TestGitLabCIExample(t *testing.T) {
	b, err := os.ReadFile("../../docs/gitlab-ci.yml")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("docs/gitlab-ci.yml: %v", err)
	}
	type job struct {
		Stage    string `yaml:"stage"`
		Needs    []string
		Parallel struct {
			Matrix []map[string][]string `yaml:"matrix"`
		} `yaml:"parallel"`
		Script    []string       `yaml:"script"`
		Artifacts map[string]any `yaml:"artifacts"`
	}
	var stages []string
	if n, ok := doc["stages"]; !ok || n.Decode(&stages) != nil {
		t.Fatal("no stages list")
	}
	jobs := map[string]job{}
	for _, name := range []string{"matrix", "gate"} {
		n, ok := doc[name]
		if !ok {
			t.Fatalf("no job %q", name)
		}
		var j job
		if err := n.Decode(&j); err != nil {
			t.Fatalf("job %s: %v", name, err)
		}
		if !slices.Contains(stages, j.Stage) {
			t.Errorf("job %s: stage %q is not in stages %v", name, j.Stage, stages)
		}
		if len(j.Artifacts) == 0 {
			t.Errorf("job %s keeps no artifacts", name)
		}
		jobs[name] = j
	}
	if m := jobs["matrix"].Parallel.Matrix; len(m) != 1 || len(m[0]["SHARD"]) != 3 {
		t.Errorf("parallel:matrix = %v, want SHARD with 3 values (the commands say /3)", m)
	}
	if !slices.Equal(jobs["gate"].Needs, []string{"matrix"}) {
		t.Errorf("gate needs %v, want [matrix]", jobs["gate"].Needs)
	}
	if !strings.Contains(string(b), "LLCONFORM_DEBIAN_MIRROR") {
		t.Error("the example does not say how to set the Debian mirror")
	}
	var scripts []string
	for _, j := range jobs {
		scripts = append(scripts, j.Script...)
	}
	checkCommands(t, "docs/gitlab-ci.yml", commandsIn(t, scripts))
}

// checkCommands: the example runs matrix, report merge and report diff, each exactly as the
// README documents it, with flags that parse.
func checkCommands(t *testing.T, file string, cmds []string) {
	t.Helper()
	readme := readmeCommands(t)
	for _, want := range []string{"bin/llconform matrix ", "bin/llconform report merge ", "bin/llconform report diff "} {
		if !slices.ContainsFunc(cmds, func(c string) bool { return strings.HasPrefix(c, want) }) {
			t.Errorf("%s does not run %q", file, strings.TrimSpace(want))
		}
	}
	for _, c := range cmds {
		if !slices.Contains(readme, c) {
			t.Errorf("%s runs %q, which the README does not document (README commands: %q)", file, c, readme)
		}
		checkFlags(t, c)
	}
}
