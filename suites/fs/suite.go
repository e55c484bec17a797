// Package fs is the fs suite: the filesystem access rights (each right, rule hierarchy, refer,
// truncate, ioctl, the mount and namespace cases) and the filesystem errata.
//
// Its specs enter Ginkgo's tree only when the suites binary runs this suite (spec.Suite).
package fs

import "github.com/llconform/llconform/internal/spec"

var suite = spec.NewSuite("fs")
