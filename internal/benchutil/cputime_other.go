//go:build !unix

package benchutil

import "time"

// CPUTime reports false: process CPU time is read with getrusage, which
// only Unix systems have.
func CPUTime() (time.Duration, bool) { return 0, false }
