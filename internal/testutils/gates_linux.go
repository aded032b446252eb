package testutils

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// rootCaps are the capabilities RequireRoot checks: CAP_SYS_ADMIN for setns(2) and unshare(2), CAP_NET_ADMIN
// for configuring links, addresses, routes and qdiscs.
var rootCaps = []capability{
	{unix.CAP_SYS_ADMIN, "CAP_SYS_ADMIN"},
	{unix.CAP_NET_ADMIN, "CAP_NET_ADMIN"},
}

type capability struct {
	bit  int
	name string
}

// RequireRoot skips tb (see [SkipOrFail]) unless the calling thread has the effective capabilities
// CAP_SYS_ADMIN and CAP_NET_ADMIN, read with capget(2). Those are what "root" means to these tests:
// a root process without them (a default Docker container lacks CAP_SYS_ADMIN) cannot create network
// namespaces and is skipped, and a non-root process that has them is let through.
func RequireRoot(tb testing.TB) {
	tb.Helper()
	if reason := rootMissing(); reason != "" {
		SkipOrFail(tb, "%s", reason)
	}
}

// rootMissing returns why the process does not count as root for RequireRoot, or "" if it does.
func rootMissing() string {
	const howTo = "run as root or with sudo, e.g. go test -exec sudo"
	caps, err := effectiveCaps()
	if err != nil {
		return fmt.Sprintf("needs root (CAP_SYS_ADMIN, CAP_NET_ADMIN) but cannot read capabilities: %v: %s", err, howTo)
	}
	var missing []string
	for _, c := range rootCaps {
		if caps&(1<<c.bit) == 0 {
			missing = append(missing, c.name)
		}
	}
	if len(missing) == 0 {
		return ""
	}
	return fmt.Sprintf("needs root (CAP_SYS_ADMIN, CAP_NET_ADMIN), running as uid %d without %s: %s",
		os.Geteuid(), strings.Join(missing, ", "), howTo)
}

// effectiveCaps returns the effective capability set of the calling thread as a bit mask.
func effectiveCaps() (uint64, error) {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3} // Pid 0: the calling thread.
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return 0, fmt.Errorf("capget: %w", err)
	}
	return uint64(data[0].Effective) | uint64(data[1].Effective)<<32, nil
}

// KernelVersion returns the version of the running kernel, from the release field of uname(2) parsed by
// [ParseKernelRelease].
func KernelVersion() (major, minor, patch int, err error) {
	release, err := kernelRelease()
	if err != nil {
		return 0, 0, 0, err
	}
	return ParseKernelRelease(release)
}

func kernelRelease() (string, error) {
	var uts unix.Utsname
	if err := unix.Uname(&uts); err != nil {
		return "", fmt.Errorf("uname: %w", err)
	}
	return unix.ByteSliceToString(uts.Release[:]), nil
}

// RequireKernel skips tb (see [SkipOrFail]) unless the running kernel is at least major.minor. Prefer
// [RequireFeature] with a probe where one exists: distributions backport features, so a version says less
// than a probe.
func RequireKernel(tb testing.TB, major, minor int) {
	tb.Helper()
	release, err := kernelRelease()
	if err != nil {
		SkipOrFail(tb, "needs Linux kernel >= %d.%d, cannot tell the running version: %v", major, minor, err)
		return
	}
	gotMajor, gotMinor, _, err := ParseKernelRelease(release)
	if err != nil {
		SkipOrFail(tb, "needs Linux kernel >= %d.%d, cannot tell the running version: %v", major, minor, err)
		return
	}
	if gotMajor < major || gotMajor == major && gotMinor < minor {
		SkipOrFail(tb, "needs Linux kernel >= %d.%d, running %s: run on a newer kernel, e.g. in a VM",
			major, minor, release)
	}
}

// RequireBPF skips tb (see [SkipOrFail]) unless [RequireRoot] passes and the bpf(2) syscall works, probed by
// creating and closing a one-element BPF_MAP_TYPE_ARRAY map. The probe runs once per process and its result
// is reused.
func RequireBPF(tb testing.TB) {
	tb.Helper()
	if reason := rootMissing(); reason != "" {
		SkipOrFail(tb, "%s", reason)
		return
	}
	if err := bpfProbe(); err != nil {
		SkipOrFail(tb, "needs a working bpf() syscall: %v: run as root (CAP_BPF or CAP_SYS_ADMIN) "+
			"on a kernel built with CONFIG_BPF_SYSCALL=y", err)
	}
}

var bpfProbe = sync.OnceValue(probeBPF)

// probeBPF creates a BPF array map with one 4-byte element and closes it again.
func probeBPF() error {
	// The leading fields of union bpf_attr for BPF_MAP_CREATE; the kernel zero-extends a shorter attr.
	attr := struct {
		mapType    uint32
		keySize    uint32
		valueSize  uint32
		maxEntries uint32
		mapFlags   uint32
	}{
		mapType:    unix.BPF_MAP_TYPE_ARRAY,
		keySize:    4,
		valueSize:  4,
		maxEntries: 1,
	}
	fd, _, errno := unix.Syscall(unix.SYS_BPF, unix.BPF_MAP_CREATE, uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr))
	if errno != 0 {
		return fmt.Errorf("bpf(BPF_MAP_CREATE, BPF_MAP_TYPE_ARRAY): %w", errno)
	}
	if err := unix.Close(int(fd)); err != nil {
		return fmt.Errorf("close BPF map: %w", err)
	}
	return nil
}

// BPFFS mounts a private bpffs instance on a temporary directory for tb and returns the directory; the
// mount goes when tb ends. It skips tb (see [SkipOrFail]) unless [RequireRoot] passes.
func BPFFS(tb testing.TB) string {
	tb.Helper()
	RequireRoot(tb)
	dir := tb.TempDir()
	if err := unix.Mount("bpf", dir, "bpf", 0, "mode=0700"); err != nil {
		tb.Fatalf("mount a bpffs on %s: %v", dir, err)
	}
	tb.Cleanup(func() {
		if err := unix.Unmount(dir, 0); err != nil {
			tb.Errorf("unmount the bpffs on %s: %v", dir, err)
		}
	})
	return dir
}
