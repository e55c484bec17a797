package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"time"
)

// TimingsSchema is the version of the timings file format (TimingsFile).
const TimingsSchema = 1

// TimingsFile holds the timings of matrix runs without their specs: a few kilobytes that a
// benchmark keeps as the figures to compare with, where the results would weigh megabytes.
type TimingsFile struct {
	Schema int `json:"timings_schema"`
	// Label says what the runs measured, e.g. "before: 15460ee".
	Label string     `json:"label,omitempty"`
	Runs  []TimedRun `json:"runs"`
}

// TimedRun is the timings of one matrix run.
type TimedRun struct {
	Time      time.Time       `json:"time"`
	Generator string          `json:"generator,omitempty"`
	Timings   *RunTimings     `json:"timings,omitempty"`
	Kernels   []KernelTimings `json:"kernels"`
}

// KernelTimings is one kernel's timings in a run.
type KernelTimings struct {
	Name    string  `json:"name"`
	Timings Timings `json:"timings"`
}

// Timed returns the timings of res: its run's and each kernel's that has them.
func Timed(res *Result) TimedRun {
	t := TimedRun{Time: res.Time, Generator: res.Generator, Timings: res.Timings}
	for _, r := range res.Runs {
		if r.Timings != nil {
			t.Kernels = append(t.Kernels, KernelTimings{Name: r.Kernel.Name, Timings: *r.Timings})
		}
	}
	return t
}

// EncodeTimings writes f as indented JSON with its schema set.
func EncodeTimings(w io.Writer, f TimingsFile) error {
	f.Schema = TimingsSchema
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(f); err != nil {
		return fmt.Errorf("encode timings: %w", err)
	}
	return nil
}

// ReadTimings reads the timings of matrix runs from data: a timings file (TimingsFile) or a
// result file (Decode), whose timings it takes. A result without timings (a host run, or one
// written before they existed) is an error: it has nothing to compare.
func ReadTimings(data []byte) (TimingsFile, error) {
	var head struct {
		Timings *int `json:"timings_schema"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return TimingsFile{}, fmt.Errorf("decode timings: %w", err)
	}
	if head.Timings != nil {
		if *head.Timings != TimingsSchema {
			return TimingsFile{}, fmt.Errorf("decode timings: schema version %d, this llconform reads version %d", *head.Timings, TimingsSchema)
		}
		var f TimingsFile
		if err := json.Unmarshal(data, &f); err != nil {
			return TimingsFile{}, fmt.Errorf("decode timings: %w", err)
		}
		return f, nil
	}
	res, err := Decode(bytes.NewReader(data))
	if err != nil {
		return TimingsFile{}, err
	}
	t := Timed(res)
	if t.Timings == nil || len(t.Kernels) == 0 {
		return TimingsFile{}, fmt.Errorf("result has no timings: not a matrix run of this llconform")
	}
	return TimingsFile{Runs: []TimedRun{t}}, nil
}

// Stages returns the names of a kernel's timed stages, in the order they happen: fetch,
// initramfs, queued, boot, each suite, transfer, shutdown, retries. Suites are named by
// suite; the others are fixed words. A kernel that shared another's boot has fetch only.
func (t Timings) Stages() []Stage {
	if t.SharedBoot != "" {
		return []Stage{{"fetch", t.Fetch}}
	}
	stages := []Stage{{"fetch", t.Fetch}, {"initramfs", t.Initramfs}, {"queued", t.Queued}, {"boot", t.Boot}}
	for _, s := range t.Suites {
		stages = append(stages, Stage(s))
	}
	return append(stages, Stage{"transfer", t.Transfer}, Stage{"shutdown", t.Shutdown}, Stage{"retries", t.Retries})
}

// Stage is one stage of a kernel's time.
type Stage struct {
	Name     string
	Duration time.Duration
}

// StageNames returns the stage names of every kernel in runs, in the order they happen, the
// suites in the order they first appear.
func StageNames(runs []TimedRun) []string {
	var suites []string
	for _, r := range runs {
		for _, k := range r.Kernels {
			for _, s := range k.Timings.Suites {
				if !slices.Contains(suites, s.Name) {
					suites = append(suites, s.Name)
				}
			}
		}
	}
	names := []string{"fetch", "initramfs", "queued", "boot"}
	names = append(names, suites...)
	return append(names, "transfer", "shutdown", "retries")
}

// StageDuration returns the duration of the stage called name, and whether t has it.
func (t Timings) StageDuration(name string) (time.Duration, bool) {
	for _, s := range t.Stages() {
		if s.Name == name {
			return s.Duration, true
		}
	}
	return 0, false
}
