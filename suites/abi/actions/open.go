package actions

import (
	"os"

	"github.com/llconform/llconform/internal/sandbox"
)

// Open is the action that opens the file args[0] for reading and closes it; its error is
// the open's.
const Open = "open"

func init() {
	sandbox.Register(Open, func(args []string) ([]byte, error) {
		f, err := os.Open(args[0])
		if err != nil {
			return nil, err
		}
		return nil, f.Close()
	})
}
