// Command suite stands in for a suite binary in the vm integration test: it
// prints its kernel release and writes a small report file.
package main

import (
	"flag"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

func main() {
	report := flag.String("report", "", "file to write the report to")
	flag.Parse()
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	release := unix.ByteSliceToString(u.Release[:])
	fmt.Println("suite running on", release)
	if err := os.WriteFile(*report, fmt.Appendf(nil, `{"release":%q}`, release), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
