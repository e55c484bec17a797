// Package audit is the audit suite: the audit records of Landlock's denials and domains, read from
// the audit netlink socket, and the flags that silence them.
//
// Its specs enter Ginkgo's tree only when the suites binary runs this suite (spec.Suite).
package audit

import "github.com/llconform/llconform/internal/spec"

var suite = spec.NewSuite("audit")
