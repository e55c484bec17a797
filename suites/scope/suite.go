// Package scope is the scope suite: signal and abstract unix socket scoping, ptrace restrictions
// between domains, and thread synchronisation of a domain.
//
// Its specs enter Ginkgo's tree only when the suites binary runs this suite (spec.Suite).
package scope

import "github.com/llconform/llconform/internal/spec"

var suite = spec.NewSuite("scope")
