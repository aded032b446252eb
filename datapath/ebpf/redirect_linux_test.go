package ebpf_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/eniway/eniway/datapath"
	"github.com/eniway/eniway/datapath/datapathtest"
	"github.com/eniway/eniway/datapath/ebpf"
	"github.com/eniway/eniway/internal/testutils"
	"github.com/eniway/eniway/maglev"
)

// rdFrontends are the prefixes the redirect tests' frontends are in,
// delivered locally in the proxy's namespace.
var rdFrontends = []netip.Prefix{netip.MustParsePrefix(datapathtest.RedirectFrontends4), netip.MustParsePrefix(datapathtest.RedirectFrontends6)}

// rdSysctl writes value to the sysctl at path (under /proc/sys/net) in ns.
func rdSysctl(t *testing.T, ns *testutils.NetNS, path, value string) {
	t.Helper()
	require.NoError(t, ns.Do(func() error { return os.WriteFile("/proc/sys/net/"+path, []byte(value), 0o644) }))
}

// ipNet is p as netlink takes it.
func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// rdLocalRoutes delivers the frontends locally in ns ("ip route add local
// 10.96.0.0/16 dev lo", and the same for IPv6).
func rdLocalRoutes(t *testing.T, ns *testutils.NetNS) {
	t.Helper()
	h := ns.NetlinkHandle(t)
	lo, err := h.LinkByName("lo")
	require.NoError(t, err)
	for _, p := range rdFrontends {
		require.NoError(t, h.RouteAdd(&netlink.Route{Dst: ipNet(p), LinkIndex: lo.Attrs().Index,
			Type: unix.RTN_LOCAL, Table: unix.RT_TABLE_LOCAL, Scope: unix.RT_SCOPE_HOST}), "local route %s", p)
	}
}

// rdNet is a client namespace and a proxy namespace joined by a veth pair
// (10.N.1.1 and fd00:N::1 on the client's end, 10.N.1.2 and fd00:N::2 on
// the proxy's), where the frontends are delivered locally in the proxy's
// and routed there from the client's.
type rdNet struct {
	client, proxy *testutils.NetNS
	// index is the proxy's end, where the redirect is attached.
	index int
	// proxy4 and proxy6 are the proxy's end's addresses.
	proxy4, proxy6 netip.Addr
}

func newRDNet(t *testing.T, n byte, prefix string) *rdNet {
	t.Helper()
	v := &rdNet{client: testutils.NewNetNS(t), proxy: testutils.NewNetNS(t)}
	cn, pn := prefix+"-c", prefix+"-p"
	hc, hp := v.client.NetlinkHandle(t), v.proxy.NetlinkHandle(t)
	for _, ns := range []*testutils.NetNS{v.client, v.proxy} {
		rdSysctl(t, ns, "ipv6/conf/all/disable_ipv6", "0")
	}
	require.NoError(t, hc.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: cn}, PeerName: pn, PeerNamespace: netlink.NsFd(v.proxy.FD())}))
	addr := func(host byte) []netip.Prefix {
		return []netip.Prefix{netip.PrefixFrom(netip.AddrFrom4([4]byte{10, n, 1, host}), 24),
			netip.PrefixFrom(netip.AddrFrom16([16]byte{0xfd, 0, 0, n, 15: host}), 64)}
	}
	lc, err := hc.LinkByName(cn)
	require.NoError(t, err)
	lp, err := hp.LinkByName(pn)
	require.NoError(t, err)
	v.index = lp.Attrs().Index
	for _, side := range []struct {
		h        *netlink.Handle
		l, peer  netlink.Link
		addrs    []netip.Prefix
		peerAddr []netip.Prefix
	}{{hc, lc, lp, addr(1), addr(2)}, {hp, lp, lc, addr(2), addr(1)}} {
		for _, a := range side.addrs {
			// No duplicate address detection: usable at once.
			require.NoError(t, side.h.AddrAdd(side.l, &netlink.Addr{IPNet: ipNet(a), Flags: unix.IFA_F_NODAD}))
		}
		// Permanent neighbour entries: no neighbour discovery (nor its
		// timing) in the way of the first connection.
		for _, a := range side.peerAddr {
			require.NoError(t, side.h.NeighAdd(&netlink.Neigh{LinkIndex: side.l.Attrs().Index, State: netlink.NUD_PERMANENT,
				IP: a.Addr().AsSlice(), HardwareAddr: side.peer.Attrs().HardwareAddr}))
		}
		require.NoError(t, side.h.LinkSetUp(side.l))
	}
	testutils.WaitOperUp(t, hc, lc.Attrs().Name)
	testutils.WaitOperUp(t, hp, lp.Attrs().Name)
	v.proxy4, v.proxy6 = addr(2)[0].Addr(), addr(2)[1].Addr()
	rdLocalRoutes(t, v.proxy)
	for i, p := range rdFrontends {
		gw := []netip.Addr{v.proxy4, v.proxy6}[i]
		require.NoError(t, hc.RouteAdd(&netlink.Route{Dst: ipNet(p), Gw: gw.AsSlice()}), "route %s", p)
	}
	return v
}

// listen makes a listener bound to addr in the proxy's namespace, closed
// when the test ends.
func (v *rdNet) listen(t *testing.T, addr netip.AddrPort) *net.TCPListener {
	t.Helper()
	var ln *net.TCPListener
	require.NoError(t, v.proxy.Do(func() error {
		var err error
		ln, err = net.ListenTCP(rdNetwork(addr.Addr()), net.TCPAddrFromAddrPort(addr))
		return err
	}))
	t.Cleanup(func() { ln.Close() })
	return ln
}

// dial connects from the client's namespace to addr.
func (v *rdNet) dial(addr netip.AddrPort, timeout time.Duration) (net.Conn, error) {
	var c net.Conn
	err := v.client.Do(func() error {
		var err error
		c, err = net.DialTimeout(rdNetwork(addr.Addr()), addr.String(), timeout)
		return err
	})
	return c, err
}

// rdNetwork is the network of a socket bound to a: tcp4 or tcp6 (an IPv6
// socket that does not take IPv4).
func rdNetwork(a netip.Addr) string {
	if a.Is4() {
		return "tcp4"
	}
	return "tcp6"
}

func newRedirect(t *testing.T, opts datapath.RedirectOptions) *ebpf.ProxyRedirect {
	t.Helper()
	testutils.RequireBPF(t)
	r, err := ebpf.NewProxyRedirect(opts)
	require.NoError(t, err)
	return r
}

func nextEvent(t *testing.T, st datapath.RedirectEventStream) datapath.RedirectEvent {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	e, err := st.Next(ctx)
	require.NoError(t, err)
	return e
}

// TestProxyRedirect connects from a client namespace to frontend VIPs
// that nothing in the proxy's namespace listens on, over IPv4 and IPv6:
// the redirect at TC ingress hands each connection to the proxy's
// listener (on 127.0.0.1, on ::1, on the namespace's own IPv6 address),
// whose accepted socket has the VIP as its local address. The event
// stream reports each new connection once, and a connection that finds
// no proxy listening. With TCX and with a clsact filter.
func TestProxyRedirect(t *testing.T) {
	for _, mode := range []ebpf.TCMode{ebpf.TCModeTCX, ebpf.TCModeClsact} {
		t.Run(mode.String(), func(t *testing.T) {
			r := newRedirect(t, datapath.RedirectOptions{MaxRedirects: 8})
			defer func() { require.NoError(t, r.Close()) }()
			v := newRDNet(t, 83, "rd")
			require.NoError(t, v.proxy.Do(func() error {
				used, err := r.Attach(v.index, mode)
				if err == nil && used != mode {
					err = errors.New("attached as " + used.String())
				}
				return err
			}))
			st, err := r.Events()
			require.NoError(t, err)
			defer st.Close()

			for _, c := range []struct {
				name  string
				vip   netip.AddrPort
				proxy netip.AddrPort
			}{
				{"IPv4 to 127.0.0.1", netip.MustParseAddrPort("10.96.0.10:80"), netip.MustParseAddrPort("127.0.0.1:15001")},
				{"IPv6 to ::1", netip.MustParseAddrPort("[fd00:96::10]:80"), netip.MustParseAddrPort("[::1]:15001")},
				{"IPv6 to the namespace's address", netip.MustParseAddrPort("[fd00:96::11]:8080"), netip.AddrPortFrom(v.proxy6, 15002)},
			} {
				t.Log(c.name)
				fe := datapath.Frontend{Addr: c.vip, Protocol: maglev.ProtocolTCP}
				ln := v.listen(t, c.proxy)
				require.NoError(t, r.Set(datapath.Redirect{Frontend: fe, Proxy: c.proxy}))

				accepted := make(chan net.Addr, 1)
				go func() {
					c, err := ln.Accept()
					if err != nil {
						close(accepted)
						return
					}
					defer c.Close()
					accepted <- c.LocalAddr()
					_, _ = c.Write([]byte("proxied\n"))
				}()
				conn, err := v.dial(c.vip, 5*time.Second)
				require.NoError(t, err, c.name)
				client := conn.LocalAddr().(*net.TCPAddr).AddrPort()
				_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
				buf := make([]byte, 16)
				n, err := conn.Read(buf)
				conn.Close()
				require.NoError(t, err, c.name)
				require.Equal(t, "proxied\n", string(buf[:n]), c.name)
				local, ok := <-accepted
				require.True(t, ok, c.name)
				require.Equal(t, c.vip.String(), local.String(), "%s: the proxy's socket has the frontend as its local address", c.name)
				e := nextEvent(t, st)
				require.Equal(t, v.index, e.Ifindex)
				require.Equal(t, datapath.RedirectEvent{Kind: datapath.RedirectEventNewConnection, Client: client, Frontend: fe, Proxy: c.proxy},
					datapath.RedirectEvent{Kind: e.Kind, Client: e.Client, Frontend: e.Frontend, Proxy: e.Proxy}, c.name)

				// With no proxy listening, the stack answers as without
				// the redirect.
				require.NoError(t, ln.Close())
				_, err = v.dial(c.vip, 5*time.Second)
				require.ErrorIs(t, err, unix.ECONNREFUSED, c.name)
				e = nextEvent(t, st)
				require.Equal(t, datapath.RedirectEventNoProxy, e.Kind, c.name)
				require.Equal(t, fe, e.Frontend, c.name)

				// Without the redirect, nothing listens on the VIP.
				require.NoError(t, r.Delete(fe))
				_, err = v.dial(c.vip, 5*time.Second)
				require.ErrorIs(t, err, unix.ECONNREFUSED, c.name)
			}
			ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
			defer cancel()
			e, err := st.Next(ctx)
			require.ErrorIs(t, err, context.DeadlineExceeded, "no more decisions: %+v", e)
			c, err := r.Counters()
			require.NoError(t, err)
			require.NotZero(t, c.Assigned)
			require.Equal(t, uint64(3), c.NoProxy)
			require.NotZero(t, c.Passed)
			require.Zero(t, c.Failed)
			require.Zero(t, c.EventsLost)
		})
	}
}

// rdHarness runs the conformance suite's packets through the kernel: the
// redirect attached (TCX) to one end of a veth pair, frames sent into
// the other with a packet socket, the listeners in the namespace, whose
// routes take the suite's clients back out to a neighbour that is not
// there. The other end has no addresses and IPv6 off, so the program sees
// nothing but the suite's frames.
type rdHarness struct {
	ns     *testutils.NetNS
	index  int // the program's end
	mac    net.HardwareAddr
	inject int // the other end
	fd     int // the packet socket
}

func newRDHarness(t *testing.T) *rdHarness {
	t.Helper()
	h := &rdHarness{ns: testutils.NewNetNS(t)}
	nh := h.ns.NetlinkHandle(t)
	rdSysctl(t, h.ns, "ipv6/conf/all/disable_ipv6", "0")
	require.NoError(t, nh.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "rdh0"}, PeerName: "rdh1"}))
	rdSysctl(t, h.ns, "ipv6/conf/rdh1/disable_ipv6", "1")
	prog, err := nh.LinkByName("rdh0")
	require.NoError(t, err)
	inject, err := nh.LinkByName("rdh1")
	require.NoError(t, err)
	h.index, h.mac, h.inject = prog.Attrs().Index, prog.Attrs().HardwareAddr, inject.Attrs().Index
	nowhere := net.HardwareAddr{0x02, 0, 0, 0, 0, 0x99}
	for _, x := range []struct{ addr, gw netip.Prefix }{
		{netip.MustParsePrefix("10.84.0.1/24"), netip.MustParsePrefix("10.84.0.2/32")},
		{netip.MustParsePrefix("fd00:84::1/64"), netip.MustParsePrefix("fd00:84::2/128")},
	} {
		require.NoError(t, nh.AddrAdd(prog, &netlink.Addr{IPNet: ipNet(x.addr), Flags: unix.IFA_F_NODAD}))
		require.NoError(t, nh.NeighAdd(&netlink.Neigh{LinkIndex: h.index, State: netlink.NUD_PERMANENT, IP: x.gw.Addr().AsSlice(), HardwareAddr: nowhere}))
	}
	require.NoError(t, nh.LinkSetUp(prog))
	require.NoError(t, nh.LinkSetUp(inject))
	testutils.WaitOperUp(t, nh, prog.Attrs().Name, inject.Attrs().Name)
	for _, gw := range []string{"10.84.0.2", "fd00:84::2"} {
		a := netip.MustParseAddr(gw)
		require.NoError(t, nh.RouteAdd(&netlink.Route{Dst: ipNet(netip.PrefixFrom(a, 0).Masked()), Gw: a.AsSlice(), LinkIndex: h.index}))
	}
	rdLocalRoutes(t, h.ns)
	require.NoError(t, h.ns.Do(func() error {
		var err error
		h.fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, 0) // sends only
		return err
	}))
	t.Cleanup(func() { unix.Close(h.fd) })
	return h
}

func (h *rdHarness) harness() datapathtest.RedirectHarness {
	return datapathtest.RedirectHarness{
		Open: func(t *testing.T, opts datapath.RedirectOptions) datapathtest.RedirectBackend {
			r := newRedirect(t, opts)
			require.NoError(t, h.ns.Do(func() error { _, err := r.Attach(h.index, ebpf.TCModeTCX); return err }))
			return r
		},
		Listen: func(t *testing.T, _ datapathtest.RedirectBackend, addr netip.AddrPort) func() {
			var ln *net.TCPListener
			require.NoError(t, h.ns.Do(func() error {
				var err error
				ln, err = net.ListenTCP(rdNetwork(addr.Addr()), net.TCPAddrFromAddrPort(addr))
				return err
			}))
			t.Cleanup(func() { ln.Close() })
			return func() { ln.Close() }
		},
		Deliver: func(t *testing.T, r datapathtest.RedirectBackend, frame []byte) {
			before, err := r.Counters()
			require.NoError(t, err)
			frame = append([]byte(nil), frame...)
			copy(frame[0:6], h.mac)
			require.NoError(t, unix.Sendto(h.fd, frame, 0, &unix.SockaddrLinklayer{Ifindex: h.inject}))
			deadline := time.Now().Add(5 * time.Second)
			for {
				c, err := r.Counters()
				require.NoError(t, err)
				seen := c.Passed + c.Assigned + c.NoProxy + c.Failed - (before.Passed + before.Assigned + before.NoProxy + before.Failed)
				if seen == 1 {
					return
				}
				require.Zero(t, seen, "the program saw other packets")
				require.True(t, time.Now().Before(deadline), "the program did not see the frame")
				time.Sleep(time.Millisecond)
			}
		},
		Ifindex: h.index,
	}
}

// TestRedirectConformance runs the conformance suite on the kernel
// backend with real packets: see rdHarness.
func TestRedirectConformance(t *testing.T) {
	testutils.RequireBPF(t)
	h := newRDHarness(t)
	datapathtest.RunRedirect(t, h.harness())
}

// TestRedirectTestPacket runs frames through the program with
// BPF_PROG_TEST_RUN, in a namespace with listeners: outside TC ingress
// the kernel refuses every assignment, so a packet that finds the
// proxy's listener is dropped and reported as failed, while the other
// decisions are as at ingress; VLAN tags and IPv6 extension headers are
// read as the fake reads them.
func TestRedirectTestPacket(t *testing.T) {
	testutils.RequireBPF(t)
	testutils.RunInNetNS(t, func(t *testing.T) {
		r := newRedirect(t, datapath.RedirectOptions{})
		defer func() { require.NoError(t, r.Close()) }()
		fe := datapath.Frontend{Addr: netip.MustParseAddrPort("10.96.0.10:80"), Protocol: maglev.ProtocolTCP}
		fe6 := datapath.Frontend{Addr: netip.MustParseAddrPort("[fd00:96::10]:80"), Protocol: maglev.ProtocolTCP}
		lonely := datapath.Frontend{Addr: netip.MustParseAddrPort("10.96.0.11:80"), Protocol: maglev.ProtocolTCP}
		p4, p6, p0 := netip.MustParseAddrPort("127.0.0.1:15001"), netip.MustParseAddrPort("[::1]:15001"), netip.MustParseAddrPort("127.0.0.1:15009")
		require.NoError(t, r.Set(datapath.Redirect{Frontend: fe, Proxy: p4}, datapath.Redirect{Frontend: fe6, Proxy: p6}, datapath.Redirect{Frontend: lonely, Proxy: p0}))
		for _, a := range []netip.AddrPort{p4, p6} {
			ln, err := net.ListenTCP(rdNetwork(a.Addr()), net.TCPAddrFromAddrPort(a))
			require.NoError(t, err)
			defer ln.Close()
		}
		st, err := r.Events()
		require.NoError(t, err)
		defer st.Close()
		client, client6 := netip.MustParseAddrPort("192.0.2.1:40000"), netip.MustParseAddrPort("[2001:db8:2::1]:40000")
		tcp4 := datapathtest.Flow4(datapathtest.ProtoTCP, client, fe.Addr)
		tcp6 := datapathtest.Flow6(datapathtest.ProtoTCP, client6, fe6.Addr)
		var want datapath.RedirectCounters
		for _, c := range []struct {
			name    string
			frame   []byte
			verdict datapath.Verdict
			count   *uint64
			event   datapath.RedirectEventKind
			fe      datapath.Frontend
		}{
			{"IPv4 to the listener", tcp4, datapath.VerdictDrop, &want.Failed, datapath.RedirectEventFailed, fe},
			{"IPv4 in VLAN tags", datapathtest.VLAN(datapathtest.VLAN(tcp4, datapathtest.EtherTypeVLAN, 7), datapathtest.EtherTypeQinQ, 8), datapath.VerdictDrop, &want.Failed, datapath.RedirectEventFailed, fe},
			{"IPv4 without a listener", datapathtest.Flow4(datapathtest.ProtoTCP, client, lonely.Addr), datapath.VerdictPass, &want.NoProxy, datapath.RedirectEventNoProxy, lonely},
			{"IPv4 cut short", tcp4[:14+20+10], datapath.VerdictPass, &want.Passed, 0, fe},
			{"IPv6 to the listener", tcp6, datapath.VerdictDrop, &want.Failed, datapath.RedirectEventFailed, fe6},
			{"IPv6 past four options headers", datapathtest.WithIPv6ExtHeaders(tcp6, datapathtest.IPv6HopByHop, datapathtest.IPv6DestOpts, datapathtest.IPv6DestOpts, datapathtest.IPv6DestOpts),
				datapath.VerdictDrop, &want.Failed, datapath.RedirectEventFailed, fe6},
			{"IPv6 past five: passed", datapathtest.WithIPv6ExtHeaders(tcp6, datapathtest.IPv6HopByHop, datapathtest.IPv6DestOpts, datapathtest.IPv6DestOpts, datapathtest.IPv6DestOpts, datapathtest.IPv6DestOpts),
				datapath.VerdictPass, &want.Passed, 0, fe6},
			{"IPv6 UDP", datapathtest.Flow6(datapathtest.ProtoUDP, client6, fe6.Addr), datapath.VerdictPass, &want.Passed, 0, fe6},
			{"IPv6 cut short", tcp6[:14+40+10], datapath.VerdictPass, &want.Passed, 0, fe6},
			{"ARP", datapathtest.Ethernet(datapathtest.EtherTypeARP, make([]byte, 28)), datapath.VerdictPass, &want.Passed, 0, fe},
		} {
			verdict, err := r.TestPacket(c.frame)
			require.NoError(t, err, c.name)
			require.Equal(t, c.verdict, verdict, c.name)
			*c.count++
			got, err := r.Counters()
			require.NoError(t, err)
			require.Equal(t, want, got, c.name)
			if c.event != 0 {
				e := nextEvent(t, st)
				require.Equal(t, c.event, e.Kind, c.name)
				require.Equal(t, c.fe, e.Frontend, c.name)
				require.Equal(t, c.fe.Addr.Addr().Is4(), e.Client.Addr().Is4(), c.name)
			}
		}
	})
}

// TestRedirectOptions: options out of range are refused before anything
// is loaded, with the field named.
func TestRedirectOptions(t *testing.T) {
	for _, c := range []struct {
		opts  datapath.RedirectOptions
		field string
	}{
		{datapath.RedirectOptions{MaxRedirects: -1}, "MaxRedirects"},
		{datapath.RedirectOptions{EventBuffer: 1000}, "EventBuffer"},
		{datapath.RedirectOptions{EventBuffer: 1024}, "EventBuffer"},
	} {
		_, err := ebpf.NewProxyRedirect(c.opts)
		require.ErrorIs(t, err, datapath.ErrInvalidOptions, fmt.Sprint(c.opts))
		var oe *datapath.OptionsError
		require.True(t, errors.As(err, &oe))
		require.Equal(t, c.field, oe.Field)
	}
}
