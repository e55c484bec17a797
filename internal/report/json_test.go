package report

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
	"time"
)

// sampleResult is a four-kernel matrix: trixie from the real Ginkgo fixtures (failures, a
// panic, a suite timeout), bookworm with an expectation mismatch, bullseye without Landlock,
// sid that panicked at boot.
func sampleResult(t *testing.T) *Result {
	t.Helper()
	res := &Result{
		Schema:    Schema,
		Generator: "llconform test",
		Time:      time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC),
	}

	trixie := Run{
		Kernel: Kernel{Name: "trixie", Release: "6.12.107+deb13-cloud-amd64", Package: "linux-image-6.12.107+deb13-cloud-amd64",
			Version: "6.12.107-1", Source: "debian:trixie"},
		Expect: &Expect{ABI: intp(6), Errata: []int{1, 2, 3}},
	}
	fs := importFixture(t, "ginkgo-mixed.json", "fs")
	fs.ExitCode = intp(1)
	fs.Output = "out/trixie/fs.log"
	scope := importFixture(t, "ginkgo-timeout.json", "scope")
	for _, s := range []Suite{fs, scope} {
		if err := trixie.AddSuite(s); err != nil {
			t.Fatal(err)
		}
	}

	bookworm := Run{Kernel: Kernel{Name: "bookworm", Source: "debian:bookworm"}, Expect: &Expect{ABI: intp(3)}}
	bw := Suite{
		Name: "fs",
		Specs: []Spec{
			{ID: "fs/REFER MUST be handled", Text: "REFER MUST be handled", Labels: []string{"fs.refer", "abi:2"},
				Feature: "fs.refer", ABI: 2, State: Passed, Duration: 3 * time.Millisecond},
			{ID: "fs/TRUNCATE MUST be rejected", Text: "TRUNCATE MUST be rejected", Labels: []string{"fs.truncate", "abi:3"},
				Feature: "fs.truncate", ABI: 3, State: Passed, Duration: time.Millisecond},
		},
		Duration: 1500 * time.Millisecond,
		ExitCode: intp(0),
		Kernel:   &KernelInfo{Release: "6.1.0-56-cloud-amd64", Status: StatusAvailable, ABI: 2, Errata: 0b1100, ErrataQuery: true},
	}
	bw.count()
	if err := bookworm.AddSuite(bw); err != nil {
		t.Fatal(err)
	}

	bullseye := Run{Kernel: Kernel{Name: "bullseye"}}
	bl := Suite{
		Name:   "abi",
		Specs:  []Spec{{ID: "abi/version MUST be ENOSYS", Text: "version MUST be ENOSYS", State: Passed}},
		Kernel: &KernelInfo{Release: "5.10.0-32-cloud-amd64", Status: StatusNotBuilt, Error: "function not implemented"},
	}
	bl.count()
	if err := bullseye.AddSuite(bl); err != nil {
		t.Fatal(err)
	}

	sid := Run{
		Kernel: Kernel{Name: "sid"},
		Infra: &InfraError{Kind: InfraPanic, Message: "kernel panic during boot",
			ConsoleTail: "Kernel panic - not syncing: VFS: Unable to mount root fs", ConsoleLog: "out/sid/console.log"},
	}
	res.Runs = []Run{trixie, bookworm, bullseye, sid}
	return res
}

func TestJSONRoundTrip(t *testing.T) {
	res := sampleResult(t)
	var buf bytes.Buffer
	if err := Encode(&buf, res); err != nil {
		t.Fatal(err)
	}
	if res.Runs[0].Features != nil || res.Runs[0].Checks != nil {
		t.Error("Encode modified its argument")
	}
	if !strings.HasPrefix(buf.String(), "{\n  \"schema\": 1,") {
		t.Errorf("output does not start with the schema version:\n%.80s", buf.String())
	}
	got, err := Decode(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	want := *res
	want.Runs = append([]Run(nil), res.Runs...)
	for i := range want.Runs {
		want.Runs[i].Checks = CheckExpect(&want.Runs[i])
		want.Runs[i].Features = EvaluateFeatures(&want.Runs[i])
		want.Runs[i].EffectiveABI = EffectiveABI(&want.Runs[i])
	}
	if !reflect.DeepEqual(got, &want) {
		t.Errorf("round trip differs\ngot  %+v\nwant %+v", got, &want)
	}
	// The expectation "no errata" must survive as an empty list, not turn into "unchecked".
	res.Runs[1].Expect.Errata = []int{}
	buf.Reset()
	if err := Encode(&buf, res); err != nil {
		t.Fatal(err)
	}
	got, err = Decode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if e := got.Runs[1].Expect.Errata; e == nil || len(e) != 0 {
		t.Errorf("empty errata expectation decoded as %#v", e)
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct{ name, data, want string }{
		{"empty", "", "empty input"},
		{"future schema", `{"schema": 2, "runs": []}`, "schema version 2, this llconform reads version 1"},
		{"no schema", `{"runs": []}`, "no schema version"},
		{"not JSON", `schema: 1`, "decode result"},
		{"truncated", `{"schema": 1, "runs": [{"kernel": {"name": "x"`, "decode result"},
		{"wrong type", `{"schema": 1, "runs": {}}`, "decode result"},
	}
	for _, tt := range tests {
		_, err := Decode(strings.NewReader(tt.data))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want it to contain %q", tt.name, err, tt.want)
		}
	}
}

func TestMerge(t *testing.T) {
	all := sampleResult(t)
	shard := func(runs ...int) *Result {
		r := *all
		r.Runs = nil
		for _, i := range runs {
			r.Runs = append(r.Runs, all.Runs[i])
		}
		return &r
	}
	a, b := shard(0, 1), shard(2, 3)
	b.Time = all.Time.Add(-time.Hour)
	b.Generator = "other"

	got, err := Merge(a, b)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Runs) != 4 || got.Runs[2].Kernel.Name != "bullseye" {
		t.Errorf("merged runs out of order: %d runs", len(got.Runs))
	}
	if !got.Time.Equal(b.Time) || got.Generator != "llconform test" || got.Schema != Schema {
		t.Errorf("merged header = %q %v %d", got.Generator, got.Time, got.Schema)
	}

	// A shard passed twice, even through a file, is harmless.
	var buf bytes.Buffer
	if err := Encode(&buf, a); err != nil {
		t.Fatal(err)
	}
	again, err := Decode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := Merge(a, again, b); err != nil || len(got.Runs) != 4 {
		t.Errorf("identical duplicate: err = %v", err)
	}

	changed := shard(1)
	changed.Runs[0].Kernel.Version = "6.1.158-1"
	if _, err := Merge(a, changed); err == nil || !strings.Contains(err.Error(), "kernel bookworm appears in two results") {
		t.Errorf("conflicting duplicate: err = %v", err)
	}
	old := shard(2)
	old.Schema = 0
	if _, err := Merge(a, old); err == nil || !strings.Contains(err.Error(), "schema version 0") {
		t.Errorf("schema mismatch: err = %v", err)
	}
	if _, err := Merge(); err == nil {
		t.Error("Merge(): no error")
	}
}
