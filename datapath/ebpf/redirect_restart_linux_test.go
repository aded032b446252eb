package ebpf_test

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	cebpf "github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"

	"github.com/eniway/eniway/datapath"
	"github.com/eniway/eniway/datapath/ebpf"
	"github.com/eniway/eniway/internal/testutils"
	"github.com/eniway/eniway/maglev"
)

// rdAttached says what of the redirect is on the interface ifindex of
// ns: TCX programs on its ingress, and clsact ingress filters.
func rdAttached(t *testing.T, ns *testutils.NetNS, ifindex int) (tcx, filters int) {
	t.Helper()
	require.NoError(t, ns.Do(func() error {
		res, err := link.QueryPrograms(link.QueryOptions{Target: ifindex, Attach: cebpf.AttachTCXIngress})
		if err != nil {
			return err
		}
		tcx = len(res.Programs)
		return nil
	}))
	h := ns.NetlinkHandle(t)
	l, err := h.LinkByIndex(ifindex)
	require.NoError(t, err)
	fs, err := h.FilterList(l, netlink.HANDLE_MIN_INGRESS)
	if err == nil {
		filters = len(fs)
	}
	return tcx, filters
}

// TestRedirectRestart replaces a pinned redirect with a new one while a
// client keeps opening TCP connections to a redirected VIP: the old
// redirect is closed (its pins, links or filter, and program stay), the
// new one takes over the redirect table and the counters from the pins,
// and its Attach swaps its program in atomically (link.Update for TCX, a
// replaced filter for clsact), so every connection reaches the proxy
// and none is refused. Remove then leaves no pin, link or filter.
func TestRedirectRestart(t *testing.T) {
	for _, mode := range []ebpf.TCMode{ebpf.TCModeTCX, ebpf.TCModeClsact} {
		t.Run(mode.String(), func(t *testing.T) {
			testutils.RequireBPF(t)
			pins := filepath.Join(testutils.BPFFS(t), "redirect")
			opts := datapath.RedirectOptions{MaxRedirects: 8, PinPath: pins}
			v := newRDNet(t, 85, "rr")
			vip := netip.MustParseAddrPort("10.96.0.10:80")
			vip6 := netip.MustParseAddrPort("[fd00:96::10]:80")
			proxy, proxy6 := netip.MustParseAddrPort("127.0.0.1:15001"), netip.MustParseAddrPort("[::1]:15001")
			want := []datapath.Redirect{
				{Frontend: datapath.Frontend{Addr: vip, Protocol: maglev.ProtocolTCP}, Proxy: proxy},
				{Frontend: datapath.Frontend{Addr: vip6, Protocol: maglev.ProtocolTCP}, Proxy: proxy6},
			}

			old := newRedirect(t, opts)
			require.NoError(t, old.Set(want...))
			require.NoError(t, v.proxy.Do(func() error { _, err := old.Attach(v.index, mode); return err }))

			// The proxy: greets each connection and waits for the
			// client to close it.
			var accepted atomic.Int64
			var serving sync.WaitGroup
			for _, a := range []netip.AddrPort{proxy, proxy6} {
				ln := v.listen(t, a)
				serving.Add(1)
				go func() {
					defer serving.Done()
					for {
						c, err := ln.Accept()
						if err != nil {
							return
						}
						accepted.Add(1)
						go func() {
							defer c.Close()
							_, _ = c.Write([]byte("x"))
							_, _ = io.Copy(io.Discard, c)
						}()
					}
				}()
				defer ln.Close()
			}

			// The client: connections one after the other, IPv4 and
			// IPv6 in turn, until told to stop.
			stop := make(chan struct{})
			var opened, failed atomic.Int64
			var firstErr atomic.Value
			clientDone := make(chan error, 1)
			go func() {
				clientDone <- v.client.Do(func() error {
					for i := 0; ; i++ {
						select {
						case <-stop:
							return nil
						default:
						}
						to := []netip.AddrPort{vip, vip6}[i%2]
						c, err := net.DialTimeout(rdNetwork(to.Addr()), to.String(), 5*time.Second)
						if err == nil {
							_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
							_, err = c.Read(make([]byte, 1))
							c.Close()
						}
						if err != nil {
							failed.Add(1)
							firstErr.CompareAndSwap(nil, err)
							time.Sleep(time.Millisecond)
							continue
						}
						opened.Add(1)
						time.Sleep(time.Millisecond)
					}
				})
			}()

			// The restart, in the middle of the connections.
			time.Sleep(150 * time.Millisecond)
			before, err := old.Counters()
			require.NoError(t, err)
			require.NoError(t, old.Close())
			time.Sleep(50 * time.Millisecond) // the old program alone
			next, err := ebpf.NewProxyRedirect(opts)
			require.NoError(t, err)
			defer func() { require.NoError(t, next.Remove()) }()
			require.Equal(t, want, next.Redirects(), "the redirects are taken over")
			var used ebpf.TCMode
			require.NoError(t, v.proxy.Do(func() error {
				var err error
				used, err = next.Attach(v.index, ebpf.TCModeAuto)
				return err
			}))
			require.Equal(t, mode, used, "attached as the earlier redirect was")
			time.Sleep(150 * time.Millisecond)
			close(stop)
			require.NoError(t, <-clientDone)

			t.Logf("%d connections, %d failed", opened.Load(), failed.Load())
			require.Zero(t, failed.Load(), "connections refused across the restart: first %v", firstErr.Load())
			require.Greater(t, opened.Load(), int64(50))
			require.Eventually(t, func() bool { return accepted.Load() == opened.Load() }, 5*time.Second, 10*time.Millisecond,
				"every connection reached the proxy")
			after, err := next.Counters()
			require.NoError(t, err)
			require.Greater(t, after.Assigned, before.Assigned, "the counters carry on")
			require.Zero(t, after.Failed)
			tcx, filters := rdAttached(t, v.proxy, v.index)
			require.Equal(t, 1, tcx+filters, "one program on the interface")

			// The new redirect is in charge.
			require.NoError(t, next.Delete(want[0].Frontend))
			_, err = v.dial(vip, time.Second)
			require.Error(t, err)

			require.NoError(t, v.proxy.Do(next.Remove))
			_, err = os.Stat(pins)
			require.ErrorIs(t, err, os.ErrNotExist, "pins left behind")
			tcx, filters = rdAttached(t, v.proxy, v.index)
			require.Zero(t, tcx, "TCX links left behind")
			require.Zero(t, filters, "filters left behind")
			_, err = v.dial(vip6, time.Second)
			require.Error(t, err, "detached")
		})
	}
}

// TestRedirectRemoveLeftovers: a redirect opened on the pins of an
// earlier one removes, with Remove, the links and filters that one left
// even when it did not attach them again; an interface attached with one
// mode cannot be taken over with the other, and pins cannot be opened
// with another MaxRedirects.
func TestRedirectRemoveLeftovers(t *testing.T) {
	testutils.RequireBPF(t)
	pins := filepath.Join(testutils.BPFFS(t), "redirect")
	opts := datapath.RedirectOptions{PinPath: pins}
	v := newRDNet(t, 86, "rl")
	// A second interface for the other mode.
	h := v.proxy.NetlinkHandle(t)
	require.NoError(t, h.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "rl-x"}, PeerName: "rl-y"}))
	other, err := h.LinkByName("rl-x")
	require.NoError(t, err)
	require.NoError(t, h.LinkSetUp(other))
	di := other.Attrs().Index

	old := newRedirect(t, opts)
	require.NoError(t, old.Set(datapath.Redirect{Frontend: datapath.Frontend{Addr: netip.MustParseAddrPort("10.96.0.10:80"), Protocol: maglev.ProtocolTCP},
		Proxy: netip.MustParseAddrPort("127.0.0.1:15001")}))
	require.NoError(t, v.proxy.Do(func() error {
		_, err := old.Attach(v.index, ebpf.TCModeTCX)
		if err == nil {
			_, err = old.Attach(di, ebpf.TCModeClsact)
		}
		return err
	}))
	require.NoError(t, old.Close())
	tcx, _ := rdAttached(t, v.proxy, v.index)
	_, filters := rdAttached(t, v.proxy, di)
	require.Equal(t, 1, tcx, "Close leaves the pinned link")
	require.Equal(t, 1, filters, "Close leaves the filter")

	_, err = ebpf.NewProxyRedirect(datapath.RedirectOptions{PinPath: pins, MaxRedirects: 16})
	require.ErrorIs(t, err, cebpf.ErrMapIncompatible, "MaxRedirects must be the pins'")
	next := newRedirect(t, opts)
	require.Len(t, next.Redirects(), 1)
	require.NoError(t, v.proxy.Do(func() error {
		_, err := next.Attach(v.index, ebpf.TCModeClsact)
		if err == nil {
			return errors.New("took over a TCX link as clsact")
		}
		_, err = next.Attach(di, ebpf.TCModeTCX)
		if err == nil {
			return errors.New("took over a clsact filter as TCX")
		}
		return nil
	}))
	require.NoError(t, v.proxy.Do(next.Remove))
	_, err = os.Stat(pins)
	require.ErrorIs(t, err, os.ErrNotExist, "pins left behind")
	tcx, filters = rdAttached(t, v.proxy, v.index)
	require.Zero(t, tcx+filters)
	tcx, filters = rdAttached(t, v.proxy, di)
	require.Zero(t, tcx+filters)
}
