package testutils

import (
	"errors"
	"fmt"
	"runtime"
	"testing"
	"time"
	"unsafe"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// NewNetNS creates a fresh, unnamed network namespace with an up loopback device, and registers a cleanup on
// tb that closes it; the kernel destroys it, with every device in it, once nothing else refers to it (see the
// package documentation). It skips tb unless [RequireRoot] passes.
//
// The calling goroutine's thread is moved into the namespace only briefly, to create it and bring lo up, and
// is back in its original namespace when NewNetNS returns.
func NewNetNS(tb testing.TB) *NetNS {
	tb.Helper()
	if reason := rootMissing(); reason != "" {
		SkipOrFail(tb, "%s", reason)
		return nil
	}
	ns, err := newNetNS()
	if err != nil {
		tb.Fatalf("create network namespace: %v", err)
		return nil
	}
	tb.Cleanup(func() {
		if err := ns.handle.Close(); err != nil {
			tb.Errorf("close network namespace: %v", err)
		}
	})
	return ns
}

func newNetNS() (*NetNS, error) {
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("get current network namespace: %w", err)
	}
	defer orig.Close()
	if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
		// The thread did not move.
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("unshare(CLONE_NEWNET): %w", err)
	}

	handle, err := netns.Get()
	if err == nil {
		if err = setLoopbackUp(); err != nil {
			handle.Close()
		}
	}

	if rerr := netns.Set(orig); rerr != nil {
		// Stay locked: the runtime discards the thread when this goroutine exits.
		if err == nil {
			handle.Close()
		}
		return nil, fmt.Errorf("restore network namespace %s (OS thread left locked): %w", orig, rerr)
	}
	runtime.UnlockOSThread()
	if err != nil {
		return nil, fmt.Errorf("set up new network namespace: %w", err)
	}
	return &NetNS{handle: handle}, nil
}

// setLoopbackUp brings lo up in the namespace of the calling thread.
func setLoopbackUp() error {
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("open netlink socket: %w", err)
	}
	defer h.Close()
	lo, err := h.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("find lo: %w", err)
	}
	if err := h.LinkSetUp(lo); err != nil {
		return fmt.Errorf("set lo up: %w", err)
	}
	return nil
}

// Do runs fn on the calling goroutine, locked to its OS thread and with the thread switched into ns, then
// switches the thread back and unlocks it, and returns fn's error. Switching back also happens when fn panics
// or calls runtime.Goexit (t.FailNow, require), so fn may use the test's t. Calls may nest, also across
// namespaces.
//
// Only the calling goroutine is in ns: goroutines fn starts are not, and sockets fn creates stay in ns after
// Do returns (see the package documentation).
//
// If switching back fails, Do returns an error and leaves the goroutine locked to the thread, which the
// runtime then discards when the goroutine exits instead of reusing it in the wrong namespace; end the test
// (t.Fatal) on any error that is not fn's own.
func (ns *NetNS) Do(fn func() error) (err error) {
	exit, err := enter(ns.handle)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, exit()) }()
	return fn()
}

// NetlinkHandle returns a netlink handle whose sockets live in ns, and registers a cleanup on tb that closes
// it. Requests through it configure ns from any goroutine, with no thread switching.
//
// The handle holds sockets for netlink's default families (route, xfrm, netfilter). netlink sends a request
// for any other family from a temporary socket in the calling thread's namespace, that is, not in ns.
func (ns *NetNS) NetlinkHandle(tb testing.TB) *netlink.Handle {
	tb.Helper()
	h, err := netlink.NewHandleAt(ns.handle)
	if err != nil {
		tb.Fatalf("open netlink handle in network namespace %s: %v", ns.handle, err)
		return nil
	}
	tb.Cleanup(h.Close)
	return h
}

// RunInNetNS runs fn(t) inside a fresh network namespace from [NewNetNS] (so it skips like [RequireRoot]), on
// the calling goroutine locked to its OS thread, and afterwards switches the thread back and unlocks it, also
// when fn fails the test.
//
// Only fn's own goroutine is in the namespace. Everything fn starts on another goroutine is not: subtests of
// t.Run, servers, helpers that start goroutines. (t.Parallel in fn itself is fine: fn keeps its thread.) For
// tests that need more than one goroutine in the namespace, or more than one namespace, use [NewNetNS] and
// [NetNS.Do] in each goroutine.
func RunInNetNS(t *testing.T, fn func(t *testing.T)) {
	t.Helper()
	ns := NewNetNS(t)
	if ns == nil {
		return
	}
	exit, err := enter(ns.handle)
	if err != nil {
		t.Fatalf("run in network namespace: %v", err)
		return
	}
	defer func() {
		if err := exit(); err != nil {
			t.Errorf("run in network namespace: %v", err)
		}
	}()
	fn(t)
}

// enter locks the calling goroutine to its OS thread and switches the thread into target. The returned exit
// switches the thread back and unlocks it; if switching back fails, exit returns an error and leaves the
// thread locked, so that the runtime discards it when the goroutine exits.
func enter(target netns.NsHandle) (exit func() error, err error) {
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("get current network namespace: %w", err)
	}
	if err := netns.Set(target); err != nil {
		// setns failed, so the thread did not move.
		orig.Close()
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("enter network namespace %s: %w", target, err)
	}
	return func() error {
		defer orig.Close()
		if err := netns.Set(orig); err != nil {
			return fmt.Errorf("restore network namespace %s (OS thread left locked): %w", orig, err)
		}
		runtime.UnlockOSThread()
		return nil
	}, nil
}

// WaitOperUp waits, up to 5 seconds, until each named link of the namespace h works in reports operational
// state up, and fails tb otherwise. A veth end set up with its peer up carries packets only once the kernel's
// link watcher has given it a queueing discipline, a moment later; packets sent before are dropped.
func WaitOperUp(tb testing.TB, h *netlink.Handle, names ...string) {
	tb.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for _, name := range names {
		for {
			l, err := h.LinkByName(name)
			if err != nil {
				tb.Fatalf("link %s: %v", name, err)
				return
			}
			if l.Attrs().OperState == netlink.OperUp {
				break
			}
			if time.Now().After(deadline) {
				tb.Fatalf("link %s: operational state %s, not up, after 5 s", name, l.Attrs().OperState)
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// SetTxChecksumming turns transmit checksum offload of the named link of ns on or off (ethtool -K name tx
// on|off). A veth sends locally made TCP and UDP packets with their checksums left to the receiver
// (CHECKSUM_PARTIAL); a program that sends such a packet on with XDP_REDIRECT drops that note, and the
// receiver then finds the checksum wrong. With offload off, packets leave with whole checksums, as they
// arrive from a NIC.
func SetTxChecksumming(tb testing.TB, ns *NetNS, name string, on bool) {
	tb.Helper()
	err := ns.Do(func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		// struct ethtool_value, and struct ifreq with ifr_data pointing at it.
		value := &struct{ cmd, data uint32 }{cmd: unix.ETHTOOL_STXCSUM}
		if on {
			value.data = 1
		}
		var ifr struct {
			name [unix.IFNAMSIZ]byte
			data unsafe.Pointer
			_    [16]byte
		}
		copy(ifr.name[:], name)
		ifr.data = unsafe.Pointer(value)
		if _, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr))); errno != 0 {
			return errno
		}
		return nil
	})
	if err != nil {
		tb.Fatalf("link %s: set tx checksumming %v: %v", name, on, err)
	}
}
