//go:build !linux

package testutils

import (
	"fmt"
	"testing"

	"github.com/vishvananda/netlink"
)

// NewNetNS skips tb (see [SkipOrFail]) and returns nil: network namespaces exist only on Linux.
func NewNetNS(tb testing.TB) *NetNS {
	tb.Helper()
	SkipOrFail(tb, "%s", needsLinux())
	return nil
}

// Do returns [ErrNotSupported] without calling fn: network namespaces exist only on Linux.
func (ns *NetNS) Do(fn func() error) error {
	return fmt.Errorf("enter network namespace: %w", ErrNotSupported)
}

// NetlinkHandle skips tb (see [SkipOrFail]) and returns nil: netlink exists only on Linux.
func (ns *NetNS) NetlinkHandle(tb testing.TB) *netlink.Handle {
	tb.Helper()
	SkipOrFail(tb, "%s", needsLinux())
	return nil
}

// RunInNetNS skips t (see [SkipOrFail]) without calling fn: network namespaces exist only on Linux.
func RunInNetNS(t *testing.T, fn func(t *testing.T)) {
	t.Helper()
	SkipOrFail(t, "%s", needsLinux())
}
