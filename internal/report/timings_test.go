package report

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
	"time"
)

// The timings of a result read the same from the result file and from a timings file, and a
// result without timings is refused.
func TestReadTimings(t *testing.T) {
	res := &Result{Time: time.Unix(100, 0).UTC(), Generator: "llconform",
		Timings: &RunTimings{Wall: time.Minute, Jobs: 2, CPUs: 2, LoadStart: 1, LoadEnd: 2},
		Runs: []Run{
			{Kernel: Kernel{Name: "a"}, Timings: &Timings{Fetch: time.Second, Boot: 5 * time.Second,
				Suites: []SuiteTime{{Name: "abi", Duration: 3 * time.Second}}, Total: 9 * time.Second, CPU: 8 * time.Second}},
			{Kernel: Kernel{Name: "b"}}, // no timings: left out
		}}
	var buf bytes.Buffer
	if err := Encode(&buf, res); err != nil {
		t.Fatal(err)
	}
	fromResult, err := ReadTimings(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if len(fromResult.Runs) != 1 || len(fromResult.Runs[0].Kernels) != 1 || fromResult.Runs[0].Kernels[0].Name != "a" {
		t.Fatalf("from result: %+v", fromResult)
	}
	fromResult.Label = "before"
	buf.Reset()
	if err := EncodeTimings(&buf, fromResult); err != nil {
		t.Fatal(err)
	}
	fromFile, err := ReadTimings(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	fromResult.Schema = TimingsSchema
	if !reflect.DeepEqual(fromFile, fromResult) {
		t.Errorf("round trip:\n%+v\nwant\n%+v", fromFile, fromResult)
	}
	if got := StageNames(fromFile.Runs); !reflect.DeepEqual(got, []string{"fetch", "initramfs", "queued", "boot", "abi", "transfer", "shutdown", "retries"}) {
		t.Errorf("stages %v", got)
	}

	res.Timings, res.Runs[0].Timings = nil, nil
	buf.Reset()
	if err := Encode(&buf, res); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadTimings(buf.Bytes()); err == nil || !strings.Contains(err.Error(), "no timings") {
		t.Errorf("result without timings: %v", err)
	}
	if _, err := ReadTimings([]byte(`{"timings_schema": 9, "runs": []}`)); err == nil || !strings.Contains(err.Error(), "schema version 9") {
		t.Errorf("future timings file: %v", err)
	}
}
