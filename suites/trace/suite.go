// Package trace is the trace suite: Landlock's tracepoints in tracefs, each fired for the operation
// it names, with the fields the kernel documents, and not for allowed accesses.
//
// Its specs enter Ginkgo's tree only when the suites binary runs this suite (spec.Suite).
package trace

import "github.com/llconform/llconform/internal/spec"

var suite = spec.NewSuite("trace")
