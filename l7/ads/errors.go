package ads

import "errors"

// Sentinels wrapped by this package's errors.
var (
	// ErrInconsistent: a node's snapshot names resources it lacks (a
	// listener a route configuration that failed validation, say), so it
	// is not pushed; the node keeps the last one.
	ErrInconsistent = errors.New("snapshot not consistent")
	// ErrNotFound: no snapshot (or no resources of the type asked for)
	// for a node.
	ErrNotFound = errors.New("not found")
)
