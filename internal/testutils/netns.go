package testutils

import "github.com/vishvananda/netns"

// NetNS is a fresh, unnamed network namespace owned by one test, created by [NewNetNS] and closed when that
// test ends. Its methods are safe for concurrent use; each [NetNS.Do] only affects the calling goroutine.
type NetNS struct {
	handle netns.NsHandle
}

// Handle returns the namespace's handle. It stays owned by ns: do not close it, and do not use it after the
// test has ended.
func (ns *NetNS) Handle() netns.NsHandle {
	return ns.handle
}

// FD returns the file descriptor of the namespace's handle, as taken by setns(2) and by netlink's
// [github.com/vishvananda/netlink.NsFd] (for moving a link into the namespace). The same ownership rules as
// for [NetNS.Handle] apply.
func (ns *NetNS) FD() int {
	return int(ns.handle)
}
