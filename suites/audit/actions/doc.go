// Package actions holds what the audit suite's process-mode specs run in helper processes
// (internal/sandbox), linked into both the suites binary and cmd/llconform-sandbox.
package actions
