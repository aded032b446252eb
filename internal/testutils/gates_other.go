//go:build !linux

package testutils

import (
	"fmt"
	"runtime"
	"testing"
)

// RequireRoot skips tb (see [SkipOrFail]): on Linux it checks for CAP_SYS_ADMIN and CAP_NET_ADMIN, elsewhere
// the tests it guards cannot run.
func RequireRoot(tb testing.TB) {
	tb.Helper()
	SkipOrFail(tb, "%s", needsLinux())
}

// KernelVersion returns [ErrNotSupported]: there is no Linux kernel to ask.
func KernelVersion() (major, minor, patch int, err error) {
	return 0, 0, 0, fmt.Errorf("read kernel version: %w", ErrNotSupported)
}

// RequireKernel skips tb (see [SkipOrFail]): there is no Linux kernel.
func RequireKernel(tb testing.TB, major, minor int) {
	tb.Helper()
	SkipOrFail(tb, "needs Linux kernel >= %d.%d: %s", major, minor, needsLinux())
}

// RequireBPF skips tb (see [SkipOrFail]): bpf(2) exists only on Linux.
func RequireBPF(tb testing.TB) {
	tb.Helper()
	SkipOrFail(tb, "%s", needsLinux())
}

func needsLinux() string {
	return fmt.Sprintf("needs Linux, running on %s: run on Linux, e.g. in a VM or container", runtime.GOOS)
}

// BPFFS skips tb (see [SkipOrFail]): bpffs exists only on Linux.
func BPFFS(tb testing.TB) string {
	tb.Helper()
	SkipOrFail(tb, "%s", needsLinux())
	return ""
}
