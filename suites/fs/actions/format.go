package actions

import (
	"fmt"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/llconform/llconform/internal/landlock"
	"github.com/llconform/llconform/internal/sandbox"
)

// Names formats an fs mask for failure messages.
func Names(mask uint64) string { return sandbox.Bits(landlock.KindFS, mask) }

// RulesText formats rules for failure messages.
func RulesText(rs []sandbox.PathRule) string {
	if len(rs) == 0 {
		return "no rule"
	}
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = fmt.Sprintf("%s:%s", r.Path, Names(r.Access))
	}
	return strings.Join(parts, " ")
}

// PolicyText describes a policy for failure messages: per layer, handled rights and rules.
func PolicyText(p sandbox.Policy) string {
	parts := make([]string, len(p.Layers))
	for i, l := range p.Layers {
		parts[i] = fmt.Sprintf("layer %d handles %s with %s", i+1, Names(l.Attr.HandledAccessFS), RulesText(l.Paths))
	}
	return strings.Join(parts, "; ")
}

// WaitText describes how a child ended.
func WaitText(ws unix.WaitStatus) string {
	switch {
	case ws.Exited():
		return fmt.Sprintf("exit status %d", ws.ExitStatus())
	case ws.Signaled():
		return fmt.Sprintf("signal %v", ws.Signal())
	}
	return fmt.Sprintf("wait status %#x", uint32(ws))
}
