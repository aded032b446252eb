// Package e2e holds no library code: its tests run eniway's packages
// together along the traffic path, on the kernel, in network namespaces
// they create (as root; they skip otherwise, and fail under
// ENIWAY_REQUIRE_PRIVILEGED).
package e2e
