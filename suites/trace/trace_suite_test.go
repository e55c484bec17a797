package trace_test

import (
	"testing"

	"github.com/llconform/llconform/internal/spec"
)

func TestMain(m *testing.M) { spec.Main(m) }

func TestTrace(t *testing.T) { spec.RunSuite(t, "trace") }
