package ebpf_test

import (
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
	"github.com/eniway/eniway/internal/testutils"
	"github.com/eniway/eniway/maglev"
)

// vethPair adds a veth pair between a (name an, address aa) and b (bn, ba),
// both /24, and brings both ends up; it returns b's end's index.
func vethPair(t *testing.T, a, b *testutils.NetNS, an, bn string, aa, ba netip.Addr) int {
	t.Helper()
	ha, hb := a.NetlinkHandle(t), b.NetlinkHandle(t)
	require.NoError(t, ha.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: an}, PeerName: bn, PeerNamespace: netlink.NsFd(b.FD())}))
	index := 0
	for _, side := range []struct {
		h    *netlink.Handle
		name string
		addr netip.Addr
	}{{ha, an, aa}, {hb, bn, ba}} {
		l, err := side.h.LinkByName(side.name)
		require.NoError(t, err)
		require.NoError(t, side.h.AddrAdd(l, &netlink.Addr{IPNet: &net.IPNet{IP: side.addr.AsSlice(), Mask: net.CIDRMask(24, 32)}}))
		require.NoError(t, side.h.LinkSetUp(l))
		index = l.Attrs().Index
	}
	testutils.WaitOperUp(t, ha, an)
	testutils.WaitOperUp(t, hb, bn)
	return index
}

// routed is three namespaces: a client (10.N.1.1) and backends
// (10.N.2.10 and 10.N.2.11 on one interface) on either side of a router
// (10.N.1.2 and 10.N.2.1) that forwards between them, for N = net; in
// IPv6 the same in fd00:N:1::/64 and fd00:N:2::/64 (see addr6).
type routed struct {
	client, router, backend *testutils.NetNS
	// clientSide and backendSide are the router's interfaces; backendLink
	// is the backends' interface.
	clientSide, backendSide int
	backendLink             netlink.Link
}

func newRouted(t *testing.T, n byte, prefix string) *routed {
	t.Helper()
	r := &routed{client: testutils.NewNetNS(t), router: testutils.NewNetNS(t), backend: testutils.NewNetNS(t)}
	a := func(c, d byte) netip.Addr { return netip.AddrFrom4([4]byte{10, n, c, d}) }
	r.clientSide = vethPair(t, r.client, r.router, prefix+"-c", prefix+"-r1", a(1, 1), a(1, 2))
	r.backendSide = vethPair(t, r.backend, r.router, prefix+"-b", prefix+"-r2", a(2, 10), a(2, 1))
	hb := r.backend.NetlinkHandle(t)
	var err error
	r.backendLink, err = hb.LinkByName(prefix + "-b")
	require.NoError(t, err)
	require.NoError(t, hb.AddrAdd(r.backendLink, &netlink.Addr{IPNet: &net.IPNet{IP: a(2, 11).AsSlice(), Mask: net.CIDRMask(24, 32)}}))
	for ns, gw := range map[*testutils.NetNS]netip.Addr{r.client: a(1, 2), r.backend: a(2, 1)} {
		require.NoError(t, ns.NetlinkHandle(t).RouteAdd(&netlink.Route{Dst: &net.IPNet{IP: net.IP{0, 0, 0, 0}, Mask: net.CIDRMask(0, 32)}, Gw: gw.AsSlice()}))
	}
	require.NoError(t, r.router.Do(func() error { return os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1"), 0o644) }))
	// IPv6, without duplicate address detection's wait.
	for _, x := range []struct {
		ns   *testutils.NetNS
		link string
		addr []netip.Addr
		gw   netip.Addr
	}{
		{r.client, prefix + "-c", []netip.Addr{addr6(n, 1, 1)}, addr6(n, 1, 2)},
		{r.router, prefix + "-r1", []netip.Addr{addr6(n, 1, 2)}, netip.Addr{}},
		{r.router, prefix + "-r2", []netip.Addr{addr6(n, 2, 1)}, netip.Addr{}},
		{r.backend, prefix + "-b", []netip.Addr{addr6(n, 2, 10), addr6(n, 2, 11)}, addr6(n, 2, 1)},
	} {
		h := x.ns.NetlinkHandle(t)
		l, err := h.LinkByName(x.link)
		require.NoError(t, err)
		for _, a := range x.addr {
			require.NoError(t, h.AddrAdd(l, &netlink.Addr{IPNet: &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(64, 128)}, Flags: unix.IFA_F_NODAD}))
		}
		if x.gw.IsValid() {
			require.NoError(t, h.RouteAdd(&netlink.Route{Dst: &net.IPNet{IP: net.IPv6zero, Mask: net.CIDRMask(0, 128)}, Gw: x.gw.AsSlice()}))
		}
	}
	require.NoError(t, r.router.Do(func() error {
		return os.WriteFile("/proc/sys/net/ipv6/conf/all/forwarding", []byte("1"), 0o644)
	}))
	return r
}

// addr6 is fd00:n:c::d, the IPv6 twin of routed's 10.n.c.d.
func addr6(n, c, d byte) netip.Addr {
	return netip.AddrFrom16([16]byte{0xfd, 0, 0, n, 0, c, 15: d})
}

// datagram is what a UDP backend got: from whom, on which address.
type datagram struct {
	backend netip.AddrPort
	from    netip.AddrPort
}

// udpBackends listens on each backend address of svc in ns, until the
// test ends, and reports every datagram.
func udpBackends(t *testing.T, ns *testutils.NetNS, svc datapath.Service) <-chan datagram {
	t.Helper()
	received := make(chan datagram, 100)
	for _, b := range svc.Backends {
		var c *net.UDPConn
		require.NoError(t, ns.Do(func() error {
			var err error
			c, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(b.Addr))
			return err
		}))
		t.Cleanup(func() { c.Close() })
		go func() {
			buf := make([]byte, 64)
			for {
				_, from, err := c.ReadFromUDPAddrPort(buf)
				if err != nil {
					return
				}
				received <- datagram{backend: b.Addr, from: from}
			}
		}()
	}
	return received
}

// TestLBOnVeth sends UDP from a client namespace to a service VIP through
// a router namespace whose client-facing interface runs the XDP load
// balancer: each flow arrives at the backend, in a third namespace, that
// the service's Maglev table gives it.
func TestLBOnVeth(t *testing.T) {
	l := newLB(t, datapath.LBOptions{MaxServices: 4})
	defer func() { require.NoError(t, l.Close()) }()
	r := newRouted(t, 81, "lb")
	client, router, backend, lbIndex := r.client, r.router, r.backend, r.clientSide

	vip := netip.MustParseAddrPort("10.96.0.10:53")
	svc := datapath.Service{Frontend: datapath.Frontend{Addr: vip, Protocol: maglev.ProtocolUDP}, Backends: []datapath.LBBackend{
		{Addr: netip.MustParseAddrPort("10.81.2.10:5353"), Weight: 1}, {Addr: netip.MustParseAddrPort("10.81.2.11:5353"), Weight: 1}}}
	require.NoError(t, l.Upsert(svc))
	var mode datapath.XDPMode
	require.NoError(t, router.Do(func() error {
		var err error
		mode, err = l.Attach(lbIndex, datapath.XDPModeAuto)
		return err
	}))
	require.Equal(t, datapath.XDPModeNative, mode)

	received := udpBackends(t, backend, svc)

	const flows = 20
	want := map[netip.AddrPort]netip.AddrPort{}
	require.NoError(t, client.Do(func() error {
		for i := range flows {
			src := netip.AddrPortFrom(netip.MustParseAddr("10.81.1.1"), uint16(20000+i))
			c, err := net.DialUDP("udp", net.UDPAddrFromAddrPort(src), net.UDPAddrFromAddrPort(vip))
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(c, "flow %d", i)
			c.Close()
			if err != nil {
				return err
			}
			want[src] = datapathtest.ExpectedBackend(t, maglev.Config{}, svc, src)
		}
		return nil
	}))
	per := map[netip.AddrPort]int{}
	for range flows {
		select {
		case g := <-received:
			require.Equal(t, want[g.from], g.backend, "flow from %s", g.from)
			per[g.backend]++
		case <-time.After(5 * time.Second):
			t.Fatalf("%d of %d datagrams arrived", len(per), flows)
		}
	}
	require.Len(t, per, 2, "both backends get flows")
	c, err := l.Counters()
	require.NoError(t, err)
	require.Equal(t, uint64(flows), c.Forwarded)
}

// TestLBTCPOnVeth opens TCP connections, over IPv4 and over IPv6, from a
// client namespace to a service VIP through a router whose client-facing
// interface runs the load balancer and whose backend-facing interface
// runs its reply program: each connection is served by the backend Maglev
// gives it, and the client sees only the VIP.
func TestLBTCPOnVeth(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		t.Run(map[bool]string{false: "IPv4", true: "IPv6"}[v6], func(t *testing.T) { testLBTCPOnVeth(t, v6) })
	}
}

func testLBTCPOnVeth(t *testing.T, v6 bool) {
	l := newLB(t, datapath.LBOptions{MaxServices: 4})
	defer func() { require.NoError(t, l.Close()) }()
	n := byte(82)
	if v6 {
		n = 86
	}
	r := newRouted(t, n, fmt.Sprintf("tc%d", n))
	client, router, backend, lbIndex, replyIndex := r.client, r.router, r.backend, r.clientSide, r.backendSide

	vip := netip.MustParseAddrPort("10.96.0.10:80")
	b := func(d byte) netip.Addr { return netip.AddrFrom4([4]byte{10, n, 2, d}) }
	clientAddr := netip.AddrFrom4([4]byte{10, n, 1, 1})
	if v6 {
		vip = netip.MustParseAddrPort("[fd00:96::10]:80")
		b = func(d byte) netip.Addr { return addr6(n, 2, d) }
		clientAddr = addr6(n, 1, 1)
	}
	svc := datapath.Service{Frontend: datapath.Frontend{Addr: vip, Protocol: maglev.ProtocolTCP}, Backends: []datapath.LBBackend{
		{Addr: netip.AddrPortFrom(b(10), 8080), Weight: 1}, {Addr: netip.AddrPortFrom(b(11), 8080), Weight: 1}}}
	require.NoError(t, l.Upsert(svc))
	require.NoError(t, router.Do(func() error {
		if _, err := l.Attach(lbIndex, datapath.XDPModeAuto); err != nil {
			return err
		}
		_, err := l.AttachReplies(replyIndex, datapath.XDPModeAuto)
		return err
	}))

	// Each backend answers with its own address.
	for _, b := range svc.Backends {
		var ln net.Listener
		require.NoError(t, backend.Do(func() error {
			var err error
			ln, err = net.Listen("tcp", b.Addr.String())
			return err
		}))
		defer ln.Close()
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				_, _ = c.Write([]byte(b.Addr.String() + "\n"))
				_ = c.Close()
			}
		}()
	}

	per := map[string]int{}
	for i := range 10 {
		src := netip.AddrPortFrom(clientAddr, uint16(30000+i))
		var answer string
		var remote net.Addr
		require.NoError(t, client.Do(func() error {
			d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: net.TCPAddrFromAddrPort(src)}
			c, err := d.Dial("tcp", vip.String())
			if err != nil {
				return err
			}
			defer c.Close()
			remote = c.RemoteAddr()
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			buf := make([]byte, 64)
			n, err := c.Read(buf)
			answer = string(buf[:n])
			return err
		}), "connection %d", i)
		require.Equal(t, vip.String(), remote.String(), "the client sees the VIP")
		want := datapathtest.ExpectedBackend(t, maglev.Config{}, svc, src)
		require.Equal(t, want.String()+"\n", answer, "connection from %s", src)
		per[answer]++
	}
	require.Len(t, per, 2, "both backends serve")
	c, err := l.Counters()
	require.NoError(t, err)
	require.Equal(t, uint64(10), c.Forwarded)
	require.NotZero(t, c.Established)
	require.NotZero(t, c.Replies)
}

// TestLBDSROnVeth opens TCP connections to a DSR service through a router
// running the load balancer: each SYN and every later packet goes to the
// Maglev backend inside IPIP, the backend (which owns the VIP on its
// loopback device and runs the decapsulation program) answers the client
// directly, and the router never sees a reply it has to translate. The
// load balancer hands the IPIP packets to the router's stack (which must
// accept its own address as their source), or with DSRRedirect sends them
// out of the backends' interface itself (the router knows the backends'
// MAC addresses: permanent neighbour entries).
func TestLBDSROnVeth(t *testing.T) {
	for _, redirect := range []bool{false, true} {
		t.Run(map[bool]string{false: "stack", true: "redirect"}[redirect], func(t *testing.T) { testLBDSROnVeth(t, redirect) })
	}
}

func testLBDSROnVeth(t *testing.T, redirect bool) {
	r := newRouted(t, 84, "ds")
	client, router, backend, lbIndex, bl := r.client, r.router, r.backend, r.clientSide, r.backendLink
	hb := backend.NetlinkHandle(t)
	l := newLB(t, datapath.LBOptions{MaxServices: 4, DSRSource: netip.MustParseAddr("10.84.2.1"), DSRRedirect: redirect})
	defer func() { require.NoError(t, l.Close()) }()
	// The backend owns the VIP and takes IPIP.
	lo, err := hb.LinkByName("lo")
	require.NoError(t, err)
	require.NoError(t, hb.AddrAdd(lo, &netlink.Addr{IPNet: &net.IPNet{IP: net.IP{10, 96, 0, 20}, Mask: net.CIDRMask(32, 32)}}))
	// This kernel has no IPIP device (CONFIG_NET_IPIP): the backend
	// unwraps with the load balancer's decapsulation program.
	node := newLB(t, datapath.LBOptions{MaxServices: 1})
	defer func() { require.NoError(t, node.Close()) }()
	require.NoError(t, backend.Do(func() error { _, err := node.AttachDSRDecap(bl.Attrs().Index, datapath.XDPModeAuto); return err }))

	vip := netip.MustParseAddrPort("10.96.0.20:80")
	svc := datapath.Service{Frontend: datapath.Frontend{Addr: vip, Protocol: maglev.ProtocolTCP}, Mode: datapath.LBModeDSR,
		Backends: []datapath.LBBackend{{Addr: netip.MustParseAddrPort("10.84.2.10:80"), Weight: 1}, {Addr: netip.MustParseAddrPort("10.84.2.11:80"), Weight: 1}}}
	require.NoError(t, l.Upsert(svc))
	if redirect {
		// Whole checksums from the client, as from a NIC: a redirected
		// frame loses the note that they are left to the receiver.
		testutils.SetTxChecksumming(t, client, "ds-c", false)
		hr := router.NetlinkHandle(t)
		for _, b := range svc.Backends {
			require.NoError(t, hr.NeighAdd(&netlink.Neigh{LinkIndex: r.backendSide, State: netlink.NUD_PERMANENT,
				IP: b.Addr.Addr().AsSlice(), HardwareAddr: bl.Attrs().HardwareAddr}))
		}
	} else {
		// The load balancer passes the IPIP packet, whose source is the
		// router's own address, to the router's stack, which must accept it.
		require.NoError(t, router.Do(func() error {
			return os.WriteFile("/proc/sys/net/ipv4/conf/ds-r1/accept_local", []byte("1"), 0o644)
		}))
	}
	require.NoError(t, router.Do(func() error { _, err := l.Attach(lbIndex, datapath.XDPModeAuto); return err }))

	// One listener on the VIP answers every connection; which backend
	// address each was sent to, the tracked flows tell.
	var ln net.Listener
	require.NoError(t, backend.Do(func() error {
		var err error
		ln, err = net.Listen("tcp", vip.String())
		return err
	}))
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = c.Write([]byte("dsr\n"))
			_ = c.Close()
		}
	}()
	for i := range 6 {
		src := netip.AddrPortFrom(netip.MustParseAddr("10.84.1.1"), uint16(31000+i))
		var answer string
		require.NoError(t, client.Do(func() error {
			d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: net.TCPAddrFromAddrPort(src)}
			c, err := d.Dial("tcp", vip.String())
			if err != nil {
				return err
			}
			defer c.Close()
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			buf := make([]byte, 16)
			n, err := c.Read(buf)
			answer = string(buf[:n])
			return err
		}), "connection %d", i)
		require.Equal(t, "dsr\n", answer)
	}
	flows, err := l.Conntrack()
	require.NoError(t, err)
	require.Len(t, flows, 6)
	per := map[netip.AddrPort]int{}
	for _, f := range flows {
		require.Equal(t, datapathtest.ExpectedBackend(t, maglev.Config{}, svc, f.Client), f.Backend)
		per[f.Backend]++
	}
	require.Len(t, per, 2, "both backends take flows")
	c, err := l.Counters()
	require.NoError(t, err)
	require.Equal(t, uint64(6), c.Forwarded)
	require.Zero(t, c.Replies, "replies go to the client directly")
	if redirect {
		require.Equal(t, c.Forwarded+c.Established, c.Redirected, "every DSR packet sent out by the program")
	} else {
		require.Zero(t, c.Redirected)
	}
	d, err := node.Counters()
	require.NoError(t, err)
	require.NotZero(t, d.Decapsulated)
}

// TestPrefilterChainsLB runs the prefilter and the load balancer on one
// interface, the prefilter attached and the load balancer chained behind
// it: UDP from a denied source is dropped, UDP from an allowed one reaches
// the backend Maglev gives it, and without the chain nothing is balanced.
func TestPrefilterChainsLB(t *testing.T) {
	r := newRouted(t, 88, "pc")
	hc := r.client.NetlinkHandle(t)
	cl, err := hc.LinkByName("pc-c")
	require.NoError(t, err)
	allowed, denied := netip.MustParseAddr("10.88.1.1"), netip.MustParseAddr("10.88.1.3")
	require.NoError(t, hc.AddrAdd(cl, &netlink.Addr{IPNet: &net.IPNet{IP: denied.AsSlice(), Mask: net.CIDRMask(24, 32)}}))

	p := newPrefilter(t, datapath.PrefilterOptions{MaxEntries: 16})
	defer func() { require.NoError(t, p.Close()) }()
	_, err = p.Update(datapath.PrefilterBatch{Insert: []netip.Prefix{netip.PrefixFrom(denied, 32)}})
	require.NoError(t, err)
	l := newLB(t, datapath.LBOptions{MaxServices: 4})
	defer func() { require.NoError(t, l.Close()) }()
	vip := netip.MustParseAddrPort("10.96.0.10:53")
	svc := datapath.Service{Frontend: datapath.Frontend{Addr: vip, Protocol: maglev.ProtocolUDP}, Backends: []datapath.LBBackend{
		{Addr: netip.MustParseAddrPort("10.88.2.10:5353"), Weight: 1}, {Addr: netip.MustParseAddrPort("10.88.2.11:5353"), Weight: 1}}}
	require.NoError(t, l.Upsert(svc))
	require.NoError(t, p.Chain(l.Program()))
	require.NoError(t, r.router.Do(func() error { _, err := p.Attach(r.clientSide, datapath.XDPModeAuto); return err }))

	got := udpBackends(t, r.backend, svc)
	send := func(src netip.Addr, port uint16) {
		require.NoError(t, r.client.Do(func() error {
			c, err := net.DialUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(src, port)), net.UDPAddrFromAddrPort(vip))
			if err != nil {
				return err
			}
			defer c.Close()
			_, err = c.Write([]byte("chained"))
			return err
		}))
	}
	const flows = 20
	for i := range flows {
		send(denied, uint16(21000+i))
		send(allowed, uint16(22000+i))
	}
	for range flows {
		select {
		case g := <-got:
			require.Equal(t, allowed, g.from.Addr(), "only the allowed source gets through")
			require.Equal(t, datapathtest.ExpectedBackend(t, maglev.Config{}, svc, g.from), g.backend, "flow from %s", g.from)
		case <-time.After(5 * time.Second):
			t.Fatal("datagrams of allowed flows did not arrive")
		}
	}
	select {
	case g := <-got:
		t.Fatalf("a datagram from %s arrived", g.from)
	case <-time.After(300 * time.Millisecond):
	}
	pc, err := p.Counters()
	require.NoError(t, err)
	require.Equal(t, uint64(flows), pc.DroppedIPv4)
	lc, err := l.Counters()
	require.NoError(t, err)
	require.Equal(t, uint64(flows), lc.Forwarded)

	// Unchained, the VIP is not balanced: the router has no route to it.
	require.NoError(t, p.Chain(nil))
	send(allowed, 23000)
	select {
	case g := <-got:
		t.Fatalf("unchained, a datagram from %s reached %s", g.from, g.backend)
	case <-time.After(300 * time.Millisecond):
	}
}
