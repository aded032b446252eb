package testutils

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// fallbackTunnels are the devices tunnel modules (sit, ipip, ip_gre, ip6_tunnel, ...) add to every new
// namespace unless net.core.fb_tunnels_only_for_init_net is set. They are down and carry nothing.
var fallbackTunnels = []string{
	"erspan0", "gre0", "gretap0", "ip6_vti0", "ip6gre0", "ip6tnl0", "ip_vti0", "sit0", "tunl0",
}

// hostNetNS returns a handle to the namespace of the process's main thread, where every unlocked thread
// should be.
func hostNetNS(t *testing.T) netns.NsHandle {
	t.Helper()
	host, err := netns.GetFromPid(os.Getpid())
	require.NoError(t, err)
	t.Cleanup(func() { host.Close() })
	return host
}

// currentNetNS returns a handle to the namespace of the calling thread.
func currentNetNS(t *testing.T) netns.NsHandle {
	t.Helper()
	cur, err := netns.Get()
	require.NoError(t, err)
	t.Cleanup(func() { cur.Close() })
	return cur
}

// requireOnlyLoopback checks that links, as listed in a fresh namespace, are an up lo plus at most some
// fallback tunnel devices that are down.
func requireOnlyLoopback(t *testing.T, links []netlink.Link) {
	t.Helper()
	var sawLo bool
	for _, l := range links {
		attrs := l.Attrs()
		if attrs.Name == "lo" {
			sawLo = true
			require.NotZero(t, attrs.Flags&net.FlagUp, "lo is down")
			continue
		}
		require.Contains(t, fallbackTunnels, attrs.Name, "unexpected link in a fresh namespace")
		require.Zero(t, attrs.Flags&net.FlagUp, "fallback device %s is up", attrs.Name)
	}
	require.True(t, sawLo, "no lo in the namespace")
}

func TestNewNetNS(t *testing.T) {
	host := hostNetNS(t)
	ns := NewNetNS(t)

	require.True(t, ns.Handle().IsOpen())
	require.Equal(t, int(ns.Handle()), ns.FD())
	require.False(t, ns.Handle().Equal(host), "new namespace is the host's")
	require.NotEqual(t, host.UniqueId(), ns.Handle().UniqueId())
	var hostStat, nsStat unix.Stat_t
	require.NoError(t, unix.Fstat(int(host), &hostStat))
	require.NoError(t, unix.Fstat(ns.FD(), &nsStat))
	require.NotEqual(t, hostStat.Ino, nsStat.Ino)

	// The creating thread is not left in the namespace.
	runtime.LockOSThread()
	require.True(t, currentNetNS(t).Equal(host))
	runtime.UnlockOSThread()

	links, err := ns.NetlinkHandle(t).LinkList()
	require.NoError(t, err)
	requireOnlyLoopback(t, links)
	var linkNames []string
	for _, l := range links {
		linkNames = append(linkNames, l.Attrs().Name)
	}

	// A port listening in the host namespace, for checking that the namespace does not see it.
	hostLn, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer hostLn.Close()

	runtime.LockOSThread() // So the checks below see the thread Do used.
	defer runtime.UnlockOSThread()
	tid := unix.Gettid()

	err = ns.Do(func() error {
		require.Equal(t, tid, unix.Gettid())
		require.True(t, currentNetNS(t).Equal(ns.Handle()), "Do did not enter the namespace")

		ifaces, err := net.Interfaces()
		require.NoError(t, err)
		var ifaceNames []string
		for _, iface := range ifaces {
			ifaceNames = append(ifaceNames, iface.Name)
		}
		require.ElementsMatch(t, linkNames, ifaceNames)

		_, err = net.Dial("tcp", hostLn.Addr().String())
		require.ErrorIs(t, err, syscall.ECONNREFUSED, "host listener reachable from the namespace")

		requireTCPEcho(t, "127.0.0.1:0", "")
		return nil
	})
	require.NoError(t, err)

	require.Equal(t, tid, unix.Gettid())
	require.True(t, currentNetNS(t).Equal(host), "Do left the thread in the namespace")
}

// requireTCPEcho listens on listenAddr, connects to the listener (from the calling thread's namespace) and
// sends a message through. If wantRemote is not empty, the accepted connection must come from it.
func requireTCPEcho(t *testing.T, listenAddr, wantRemote string) {
	t.Helper()
	ln, err := net.Listen("tcp", listenAddr)
	require.NoError(t, err)
	defer ln.Close()
	c, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
	require.NoError(t, err)
	defer c.Close()
	s, err := ln.Accept()
	require.NoError(t, err)
	defer s.Close()
	if wantRemote != "" {
		require.Equal(t, wantRemote, s.RemoteAddr().(*net.TCPAddr).IP.String())
	}
	_, err = c.Write([]byte("ping"))
	require.NoError(t, err)
	buf := make([]byte, 4)
	_, err = io.ReadFull(s, buf)
	require.NoError(t, err)
	require.Equal(t, "ping", string(buf))
}

func TestNetNSDoRestores(t *testing.T) {
	host := hostNetNS(t)
	ns := NewNetNS(t)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	t.Run("error", func(t *testing.T) {
		errFn := errors.New("fn failed")
		err := ns.Do(func() error { return errFn })
		require.ErrorIs(t, err, errFn)
	})

	t.Run("panic", func(t *testing.T) {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		require.PanicsWithValue(t, "boom", func() {
			_ = ns.Do(func() error { panic("boom") })
		})
		require.True(t, currentNetNS(t).Equal(host), "Do left the thread in the namespace after a panic")
	})

	t.Run("goexit", func(t *testing.T) {
		// t.FailNow ends the goroutine with runtime.Goexit; Do's deferred switch back runs before the
		// deferred check here.
		restored := make(chan bool)
		go func() {
			runtime.LockOSThread() // Never unlocked: the thread goes away with the goroutine.
			defer func() {
				cur, err := netns.Get()
				restored <- err == nil && cur.Equal(host)
				cur.Close()
			}()
			_ = ns.Do(func() error {
				runtime.Goexit()
				return nil
			})
		}()
		require.True(t, <-restored, "Do left the thread in the namespace after Goexit")
	})

	t.Run("nested", func(t *testing.T) {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		other := NewNetNS(t)
		err := ns.Do(func() error {
			err := other.Do(func() error {
				require.True(t, currentNetNS(t).Equal(other.Handle()))
				return nil
			})
			require.NoError(t, err)
			require.True(t, currentNetNS(t).Equal(ns.Handle()), "inner Do did not return to the outer namespace")
			return nil
		})
		require.NoError(t, err)
		require.True(t, currentNetNS(t).Equal(host))
	})

	require.True(t, currentNetNS(t).Equal(host))
}

// addr converts a prefix to a netlink address.
func addr(p netip.Prefix) *netlink.Addr {
	return &netlink.Addr{IPNet: &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}}
}

func TestNetNSVeth(t *testing.T) {
	nsA, nsB := NewNetNS(t), NewNetNS(t)
	hA, hB := nsA.NetlinkHandle(t), nsB.NetlinkHandle(t)
	addrA, addrB := netip.MustParsePrefix("10.99.0.1/30"), netip.MustParsePrefix("10.99.0.2/30")

	// Created through A's handle with its peer placed straight into B.
	require.NoError(t, hA.LinkAdd(&netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: "veth-a"},
		PeerName:      "veth-b",
		PeerNamespace: netlink.NsFd(nsB.FD()),
	}))
	for _, side := range []struct {
		h    *netlink.Handle
		name string
		addr netip.Prefix
	}{
		{hA, "veth-a", addrA},
		{hB, "veth-b", addrB},
	} {
		link, err := side.h.LinkByName(side.name)
		require.NoError(t, err)
		require.NoError(t, side.h.AddrAdd(link, addr(side.addr)))
		require.NoError(t, side.h.LinkSetUp(link))
	}
	// Neither end leaked into the other namespace (or the host's).
	_, err := hA.LinkByName("veth-b")
	require.Error(t, err)
	_, err = netlink.LinkByName("veth-a")
	require.Error(t, err)

	var ln net.Listener
	require.NoError(t, nsA.Do(func() error {
		var err error
		ln, err = net.Listen("tcp", netip.AddrPortFrom(addrA.Addr(), 0).String())
		return err
	}))
	defer ln.Close()

	// The listener's socket lives in A however it is used, so a plain goroutine may accept on it.
	type accepted struct {
		remote string
		msg    string
		err    error
	}
	done := make(chan accepted, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- accepted{err: err}
			return
		}
		defer c.Close()
		buf := make([]byte, 4)
		_, err = io.ReadFull(c, buf)
		done <- accepted{remote: c.RemoteAddr().(*net.TCPAddr).IP.String(), msg: string(buf), err: err}
	}()

	// The dialling socket must be created inside B.
	require.NoError(t, nsB.Do(func() error {
		d := net.Dialer{Timeout: 10 * time.Second}
		c, err := d.DialContext(t.Context(), "tcp", ln.Addr().String())
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Write([]byte("ping"))
		return err
	}))

	got := <-done
	require.NoError(t, got.err)
	require.Equal(t, addrB.Addr().String(), got.remote)
	require.Equal(t, "ping", got.msg)
}

func TestRunInNetNS(t *testing.T) {
	host := hostNetNS(t)
	RunInNetNS(t, func(t *testing.T) {
		cur := currentNetNS(t)
		require.False(t, cur.Equal(host), "not in a new namespace")

		ifaces, err := net.Interfaces()
		require.NoError(t, err)
		require.True(t, slices.ContainsFunc(ifaces, func(i net.Interface) bool {
			return i.Name == "lo" && i.Flags&net.FlagUp != 0
		}), "no up lo in %v", ifaces)
		for _, iface := range ifaces {
			if iface.Name != "lo" {
				require.Contains(t, fallbackTunnels, iface.Name)
			}
		}

		requireTCPEcho(t, "127.0.0.1:0", "127.0.0.1")

		// Goroutines started here run on other threads, in the host namespace.
		inHost := make(chan bool)
		go func() {
			h, err := netns.Get()
			inHost <- err == nil && h.Equal(host)
			h.Close()
		}()
		require.True(t, <-inHost, "a goroutine started inside RunInNetNS ran in the namespace")
	})

	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	require.True(t, currentNetNS(t).Equal(host), "RunInNetNS left the thread in the namespace")
}
