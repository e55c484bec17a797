package report_test

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/llconform/llconform/internal/report"
	"github.com/llconform/llconform/internal/report/reporttest"
)

func intp(n int) *int { return &n }

func TestJSONRoundTrip(t *testing.T) {
	res := reporttest.Sample(t)
	// Derived fields are written as they are, and dropped on reading: never trusted from a
	// file (verdict.Evaluate fills them again).
	bw := &res.Runs[1]
	bw.AcceptedABI = intp(2)
	bw.EffectiveABI = intp(9)
	bw.Checks = []report.Check{{Name: "abi", OK: true, Message: "stale"}}
	bw.Features = []report.FeatureResult{{Feature: "fs.refer", Outcome: report.Works}}
	bw.Conclusion = report.ConclusionPass
	var buf bytes.Buffer
	if err := report.Encode(&buf, res); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(buf.String(), "{\n  \"schema\": 1,") {
		t.Errorf("output does not start with the schema version:\n%.80s", buf.String())
	}
	for _, want := range []string{`"effective_abi": 9`, `"conclusion": "PASS"`, `"message": "stale"`} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("Encode did not write the derived field %s", want)
		}
	}
	got, err := report.Decode(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	want := *res
	want.Schema = report.Schema
	want.Runs = append([]report.Run(nil), res.Runs...)
	want.Runs[1].EffectiveABI, want.Runs[1].Checks, want.Runs[1].Features, want.Runs[1].Conclusion = nil, nil, nil, ""
	if !reflect.DeepEqual(got, &want) {
		t.Errorf("round trip differs\ngot  %+v\nwant %+v", got, &want)
	}
	// The expectation "no errata" must survive as an empty list, not turn into "unchecked".
	res.Runs[1].Expect.Errata = []int{}
	buf.Reset()
	if err := report.Encode(&buf, res); err != nil {
		t.Fatal(err)
	}
	got, err = report.Decode(&buf)
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
		_, err := report.Decode(strings.NewReader(tt.data))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want it to contain %q", tt.name, err, tt.want)
		}
	}
}

func TestMerge(t *testing.T) {
	all := reporttest.Sample(t)
	shard := func(runs ...int) *report.Result {
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

	got, err := report.Merge(a, b)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Runs) != 4 || got.Runs[2].Kernel.Name != "bullseye" {
		t.Errorf("merged runs out of order: %d runs", len(got.Runs))
	}
	if !got.Time.Equal(b.Time) || got.Generator != "llconform test" || got.Schema != report.Schema {
		t.Errorf("merged header = %q %v %d", got.Generator, got.Time, got.Schema)
	}

	// A shard passed twice, even through a file, is harmless.
	var buf bytes.Buffer
	if err := report.Encode(&buf, a); err != nil {
		t.Fatal(err)
	}
	again, err := report.Decode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := report.Merge(a, again, b); err != nil || len(got.Runs) != 4 {
		t.Errorf("identical duplicate: err = %v", err)
	}

	changed := shard(1)
	changed.Runs[0].Kernel.Version = "6.1.158-1"
	if _, err := report.Merge(a, changed); err == nil || !strings.Contains(err.Error(), "kernel bookworm appears in two results") {
		t.Errorf("conflicting duplicate: err = %v", err)
	}
	old := shard(2)
	old.Schema = 0
	if _, err := report.Merge(a, old); err == nil || !strings.Contains(err.Error(), "schema version 0") {
		t.Errorf("schema mismatch: err = %v", err)
	}
	if _, err := report.Merge(); err == nil {
		t.Error("Merge(): no error")
	}
}
