// Package proc answers what llconform asks of /proc about other processes: whether one is
// still running, and which are a process's children. Both serve the clean-up of host state
// after a suite or a whole run was killed.
package proc

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// stat returns the fields of /proc/<pid>/stat after the command name: state first, then
// the parent's pid. The name may hold spaces and parentheses, so it is cut at the last ')'.
func stat(pid int) ([]string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	return strings.Fields(string(b[i+1:])), nil
}

// Alive reports whether process pid exists and is not a zombie: a killed child that its
// parent has not reaped yet still answers kill(pid, 0), but holds nothing any more.
func Alive(pid int) bool {
	if pid <= 0 || unix.Kill(pid, 0) != nil {
		return false
	}
	f, err := stat(pid)
	if err != nil {
		return true // no procfs: trust kill
	}
	return len(f) == 0 || f[0] != "Z"
}

// Children returns the pids of the processes whose parent is pid.
func Children(pid int) []int {
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	var kids []int
	for _, p := range stats {
		child, err := strconv.Atoi(filepath.Base(filepath.Dir(p)))
		if err != nil {
			continue
		}
		if f, err := stat(child); err == nil && len(f) > 1 && f[1] == strconv.Itoa(pid) {
			kids = append(kids, child)
		}
	}
	return kids
}
