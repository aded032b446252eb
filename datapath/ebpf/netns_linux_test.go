package ebpf_test

import (
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"

	"github.com/eniway/eniway/datapath"
	"github.com/eniway/eniway/internal/testutils"
)

// veth is a veth pair between two fresh namespaces, client and server,
// with an IPv4 and an IPv6 address on each end.
type veth struct {
	client, server         *testutils.NetNS
	serverIndex            int
	client4, server4       netip.Addr
	client4b               netip.Addr // a second client address
	client6, server6       netip.Addr
	clientName, serverName string
}

func newVeth(t *testing.T) *veth {
	t.Helper()
	v := &veth{client: testutils.NewNetNS(t), server: testutils.NewNetNS(t), clientName: "pf-client", serverName: "pf-server",
		client4: netip.MustParseAddr("10.77.0.1"), server4: netip.MustParseAddr("10.77.0.2"), client4b: netip.MustParseAddr("10.77.0.3"),
		client6: netip.MustParseAddr("fd00:77::1"), server6: netip.MustParseAddr("fd00:77::2")}
	hc, hs := v.client.NetlinkHandle(t), v.server.NetlinkHandle(t)
	require.NoError(t, hc.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: v.clientName}, PeerName: v.serverName,
		PeerNamespace: netlink.NsFd(v.server.FD())}))
	lc, err := hc.LinkByName(v.clientName)
	require.NoError(t, err)
	ls, err := hs.LinkByName(v.serverName)
	require.NoError(t, err)
	// Permanent neighbour entries: no ARP or neighbour discovery (nor
	// its timing) in the way of the first datagram.
	for _, n := range []struct {
		h    *netlink.Handle
		on   netlink.Link
		peer netlink.Link
		ips  []netip.Addr
	}{{hc, lc, ls, []netip.Addr{v.server4, v.server6}}, {hs, ls, lc, []netip.Addr{v.client4, v.client6}}} {
		for _, ip := range n.ips {
			require.NoError(t, n.h.NeighAdd(&netlink.Neigh{LinkIndex: n.on.Attrs().Index, State: netlink.NUD_PERMANENT,
				IP: ip.AsSlice(), HardwareAddr: n.peer.Attrs().HardwareAddr}))
		}
	}
	for _, side := range []struct {
		h      *netlink.Handle
		name   string
		a4, a6 netip.Addr
	}{{hc, v.clientName, v.client4, v.client6}, {hs, v.serverName, v.server4, v.server6}} {
		l, err := side.h.LinkByName(side.name)
		require.NoError(t, err)
		addrs := []netip.Prefix{netip.PrefixFrom(side.a4, 24), netip.PrefixFrom(side.a6, 64)}
		if side.name == v.clientName {
			addrs = append(addrs, netip.PrefixFrom(v.client4b, 24))
		}
		for _, a := range addrs {
			require.NoError(t, side.h.AddrAdd(l, &netlink.Addr{
				IPNet: &net.IPNet{IP: a.Addr().AsSlice(), Mask: net.CIDRMask(a.Bits(), a.Addr().BitLen())},
				Flags: 0x2, // IFA_F_NODAD: usable at once
			}))
		}
		require.NoError(t, side.h.LinkSetUp(l))
		if side.name == v.serverName {
			v.serverIndex = l.Attrs().Index
		}
	}
	testutils.WaitOperUp(t, hc, v.clientName)
	testutils.WaitOperUp(t, hs, v.serverName)
	return v
}

// sendUDP sends n datagrams from the client to the server's address dst
// and returns how many the server received within a short wait.
func (v *veth) sendUDP(t *testing.T, dst netip.Addr, n int) int {
	t.Helper()
	var srv *net.UDPConn
	require.NoError(t, v.server.Do(func() error {
		var err error
		srv, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(dst, 0)))
		return err
	}))
	defer srv.Close()
	require.NoError(t, v.client.Do(func() error {
		c, err := net.DialUDP("udp", nil, srv.LocalAddr().(*net.UDPAddr))
		if err != nil {
			return err
		}
		defer c.Close()
		for i := range n {
			if _, err := fmt.Fprintf(c, "datagram %d", i); err != nil {
				return err
			}
		}
		return nil
	}))
	got := 0
	buf := make([]byte, 64)
	for {
		require.NoError(t, srv.SetReadDeadline(time.Now().Add(300*time.Millisecond)))
		if _, err := srv.Read(buf); err != nil {
			return got
		}
		got++
	}
}

// TestPrefilterOnVeth runs the prefilter on the server end of a veth
// pair, natively and in generic mode: UDP from the client arrives until
// its source is denied, and the counters count the dropped datagrams.
func TestPrefilterOnVeth(t *testing.T) {
	for _, mode := range []datapath.XDPMode{datapath.XDPModeAuto, datapath.XDPModeGeneric} {
		t.Run(mode.String(), func(t *testing.T) {
			p := newPrefilter(t, datapath.PrefilterOptions{})
			defer func() { require.NoError(t, p.Close()) }()
			v := newVeth(t)
			var used datapath.XDPMode
			require.NoError(t, v.server.Do(func() error {
				var err error
				used, err = p.Attach(v.serverIndex, mode)
				return err
			}))
			want := mode
			if mode == datapath.XDPModeAuto {
				want = datapath.XDPModeNative // veth takes native XDP
			}
			require.Equal(t, want, used)

			const n = 20
			require.Equal(t, n, v.sendUDP(t, v.server4, n), "nothing denied yet")
			require.Equal(t, n, v.sendUDP(t, v.server6, n), "nothing denied yet")
			_, err := p.Update(datapath.PrefilterBatch{Insert: []netip.Prefix{
				netip.MustParsePrefix("10.77.0.0/24"), netip.MustParsePrefix("fd00:77::1/128"),
			}})
			require.NoError(t, err)
			before, err := p.Counters()
			require.NoError(t, err)
			require.Zero(t, v.sendUDP(t, v.server4, n), "IPv4 source denied")
			require.Zero(t, v.sendUDP(t, v.server6, n), "IPv6 source denied")
			after, err := p.Counters()
			require.NoError(t, err)
			require.GreaterOrEqual(t, after.DroppedIPv4-before.DroppedIPv4, uint64(n))
			require.GreaterOrEqual(t, after.DroppedIPv6-before.DroppedIPv6, uint64(n))

			// Detached, traffic flows again.
			require.NoError(t, p.Detach(v.serverIndex))
			require.Equal(t, n, v.sendUDP(t, v.server4, n), "detached")
		})
	}
}
