// Package landlock is llconform's view of the Landlock uAPI: the three raw syscalls, the
// attribute structs of every ABI, the rights, scopes and flags, the table of which ABI
// introduced what, the errata table, and a probe of the running kernel.
//
// It deliberately wraps nothing: callers get the kernel's errno unchanged, because the
// suites exist to check exactly which errno the kernel returns.
package landlock
