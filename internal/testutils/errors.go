package testutils

import "errors"

// ErrNotSupported is returned by calls that need a Linux kernel when the package runs elsewhere.
var ErrNotSupported = errors.New("not supported on this platform")
