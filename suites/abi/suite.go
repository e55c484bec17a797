// Package abi is the abi suite: the Landlock system calls' contract (the ABI version, each syscall's
// argument checks and errnos, the flags, the ruleset fd) and the rejection of whatever the
// kernel's ABI does not have.
//
// Its specs enter Ginkgo's tree only when the suites binary runs this suite (spec.Suite).
package abi

import "github.com/llconform/llconform/internal/spec"

var suite = spec.NewSuite("abi")
