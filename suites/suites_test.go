// The suites binary: make build compiles this package (go test -c) into
// bin/suites/llconform-suites, which holds every suite and runs the one its -llconform.suite
// flag names (spec.Main). One binary rather than one per suite: a TCG guest translates the
// code a binary shares with the others (the Go runtime, Ginkgo, Gomega) once per guest
// instead of once per suite.
package suites_test

import (
	"testing"

	"github.com/llconform/llconform/internal/spec"
	_ "github.com/llconform/llconform/suites/abi"
	_ "github.com/llconform/llconform/suites/audit"
	_ "github.com/llconform/llconform/suites/fs"
	_ "github.com/llconform/llconform/suites/net"
	_ "github.com/llconform/llconform/suites/scope"
	_ "github.com/llconform/llconform/suites/trace"
)

func TestMain(m *testing.M) { spec.Main(m) }

func TestSuite(t *testing.T) { spec.Run(t) }
