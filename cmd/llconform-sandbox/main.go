// Command llconform-sandbox is the helper process the suites' process-mode specs run their
// actions in (internal/sandbox): it links every suite's actions package and little else, so
// it starts much faster than a suite binary in a TCG guest. The suites start it; it is not
// meant to be run by hand.
package main

import (
	"fmt"
	"os"

	"github.com/llconform/llconform/internal/sandbox"
	_ "github.com/llconform/llconform/suites/abi/actions"
	_ "github.com/llconform/llconform/suites/audit/actions"
	_ "github.com/llconform/llconform/suites/fs/actions"
	_ "github.com/llconform/llconform/suites/scope/actions"
	_ "github.com/llconform/llconform/suites/trace/actions"
)

func main() {
	sandbox.Main()
	fmt.Fprintf(os.Stderr, "%s: the suites start it for their process-mode specs; it is not meant to be run by hand\n", sandbox.HelperName)
	os.Exit(64)
}
