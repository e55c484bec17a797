// Package net is the net suite: the TCP port rights (bind, connect), across protocols, address
// families and port edges, and the net erratum.
//
// Its specs enter Ginkgo's tree only when the suites binary runs this suite (spec.Suite).
package net

import "github.com/llconform/llconform/internal/spec"

var suite = spec.NewSuite("net")
