package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
)

// Encode writes res as indented JSON with Schema set; res itself is not modified. It writes
// the derived fields of each run (Checks, Features, EffectiveABI, Conclusion) as they are:
// evaluate the result first (verdict.Evaluate), so that the file agrees with its own data.
func Encode(w io.Writer, res *Result) error {
	out := *res
	out.Schema = Schema
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(&out); err != nil {
		return fmt.Errorf("encode result: %w", err)
	}
	return nil
}

// Decode reads a result file. A schema version other than Schema is an error: an older
// llconform must not misread a newer file, nor a newer one guess at an older layout.
//
// The derived fields of each run (Checks, Features, EffectiveABI, Conclusion) are dropped:
// they are never trusted from a file, which an older llconform or a hand edit may have
// written. Evaluate the result again (verdict.Evaluate) before reading them.
func Decode(r io.Reader) (*Result, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read result: %w", err)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, fmt.Errorf("decode result: empty input")
	}
	var head struct {
		Schema *int `json:"schema"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, fmt.Errorf("decode result: %w", err)
	}
	switch {
	case head.Schema == nil:
		return nil, fmt.Errorf("decode result: no schema version: not an llconform result")
	case *head.Schema != Schema:
		return nil, fmt.Errorf("decode result: schema version %d, this llconform reads version %d", *head.Schema, Schema)
	}
	var res Result
	if err := json.Unmarshal(data, &res); err != nil {
		return nil, fmt.Errorf("decode result: %w", err)
	}
	for i := range res.Runs {
		// Files written before accepted_abi existed kept the accepted ABI in effective_abi.
		if r := &res.Runs[i]; r.AcceptedABI == nil && r.EffectiveABI != nil {
			abi := *r.EffectiveABI
			r.AcceptedABI = &abi
		}
		res.Runs[i].clearDerived()
	}
	return &res, nil
}

// Merge joins results (shards of a matrix, or a host run and VM runs) into one, keeping the
// runs in argument order. The same kernel name in two results is an error unless both runs are
// identical, which happens when a shard's file is passed twice. The merged result takes the
// first generator and the earliest time.
func Merge(results ...*Result) (*Result, error) {
	if len(results) == 0 {
		return nil, fmt.Errorf("merge: no results")
	}
	out := &Result{Schema: Schema, Generator: results[0].Generator, Time: results[0].Time}
	seen := map[string]int{}
	for i, res := range results {
		if res.Schema != Schema {
			return nil, fmt.Errorf("merge: result %d has schema version %d, want %d", i+1, res.Schema, Schema)
		}
		if res.Time.Before(out.Time) {
			out.Time = res.Time
		}
		for _, r := range res.Runs {
			j, dup := seen[r.Kernel.Name]
			if !dup {
				seen[r.Kernel.Name] = len(out.Runs)
				out.Runs = append(out.Runs, r)
				continue
			}
			same, err := sameRun(out.Runs[j], r)
			if err != nil {
				return nil, fmt.Errorf("merge: kernel %s: %w", r.Kernel.Name, err)
			}
			if !same {
				return nil, fmt.Errorf("merge: kernel %s appears in two results with different contents", r.Kernel.Name)
			}
		}
	}
	return out, nil
}

// clearDerived drops what evaluating the run fills in (see Run.Conclusion).
func (r *Run) clearDerived() {
	r.Checks, r.Features, r.EffectiveABI, r.Conclusion = nil, nil, nil, ""
}

// sameRun compares runs by their JSON form, which ignores what JSON does not keep (monotonic
// clock readings, time zones' pointer identity) and the derived fields.
func sameRun(a, b Run) (bool, error) {
	a.clearDerived()
	b.clearDerived()
	ja, err := json.Marshal(a)
	if err != nil {
		return false, err
	}
	jb, err := json.Marshal(b)
	if err != nil {
		return false, err
	}
	return slices.Equal(ja, jb), nil
}
