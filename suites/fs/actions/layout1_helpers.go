package actions

import (
	"fmt"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/llconform/llconform/internal/landlock"
	"github.com/llconform/llconform/internal/sandbox"
)

func F1(dir string) string { return filepath.Join(dir, "f1") }
func F2(dir string) string { return filepath.Join(dir, "f2") }

// RulesetWith creates a ruleset handling handled with rules, for specs that enforce or
// extend one ruleset several times.
func RulesetWith(handled uint64, rs ...sandbox.PathRule) (int, error) {
	fd, err := landlock.CreateRuleset(&landlock.RulesetAttr{HandledAccessFS: handled}, landlock.RulesetAttrSizeV1, 0)
	if err != nil {
		return -1, fmt.Errorf("create_ruleset(%s): %w", Names(handled), err)
	}
	for _, r := range rs {
		if err := AddRule(fd, r.Path, r.Access); err != nil {
			unix.Close(fd)
			return -1, fmt.Errorf("add_rule(%s, %s): %w", r.Path, Names(r.Access), err)
		}
	}
	return fd, nil
}

// EnforceFd sets no_new_privs and enforces the ruleset fd on the calling (sandbox) thread.
func EnforceFd(fd int) error {
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("no_new_privs: %w", err)
	}
	return landlock.RestrictSelf(fd, 0)
}
